//! Watching the underlay: `tcpdump -w` on a wire of the lab (a port of the underlay
//! Linux bridge: AF_XDP ports show tcpdump nothing), and the outer headers of the
//! tunnel packets it saw, decoded by tshark with checksum validation on.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use anyhow::{bail, Context, Result};

use crate::netlab::Netns;

/// A running `tcpdump -w`; stopped (and reaped) on drop if not before.
pub struct Capture {
    child: Option<Child>,
    pub file: PathBuf,
}

impl Capture {
    /// Capture every frame matching the pcap `filter` on `dev` in `ns` into `file`
    /// (whole frames); returns once tcpdump is listening.
    pub fn start(ns: &Netns, dev: &str, filter: &str, file: &Path) -> Result<Capture> {
        let mut child = Command::new("ip")
            .args(["netns", "exec", &ns.name, "tcpdump", "-i", dev, "-n", "-U", "-s", "0", "-w"])
            .arg(file)
            .args(filter.split_whitespace())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .context("starting tcpdump")?;
        let err = child.stderr.take().context("tcpdump stderr")?;
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for l in BufReader::new(err).lines().map_while(|l| l.ok()) {
                if tx.send(l).is_err() {
                    break;
                }
            }
        });
        let mut cap = Capture { child: Some(child), file: file.to_path_buf() };
        let mut seen = String::new();
        loop {
            match rx.recv_timeout(Duration::from_secs(10)) {
                Ok(l) if l.contains("listening on") => return Ok(cap),
                Ok(l) => seen.push_str(&format!("{l}\n")),
                Err(_) => {
                    cap.stop();
                    bail!("tcpdump on {dev} in {} did not start: {seen}", ns.name);
                }
            }
        }
    }

    /// Stop tcpdump (SIGINT: it flushes the file) and wait for it.
    pub fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            // SAFETY: signalling our own child by pid (`ip netns exec` execs tcpdump).
            unsafe { libc::kill(c.id() as i32, libc::SIGINT) };
            for _ in 0..50 {
                if matches!(c.try_wait(), Ok(Some(_))) {
                    return;
                }
                std::thread::sleep(Duration::from_millis(100));
            }
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl Drop for Capture {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Checksum verdicts as tshark gives them (`*.checksum.status`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Csum {
    Good,
    Bad,
    /// Not checked (not enabled, or the frame was cut short).
    Unverified,
    /// The field says "no checksum" (a UDP checksum of zero).
    NotPresent,
    Other,
}

impl Csum {
    fn parse(s: &str) -> Csum {
        match s.trim() {
            "1" | "Good" => Csum::Good,
            "0" | "Bad" => Csum::Bad,
            "2" | "Unverified" => Csum::Unverified,
            "3" | "Not present" | "Not Present" => Csum::NotPresent,
            _ => Csum::Other,
        }
    }
}

/// The outer headers of one tunnel packet.
#[derive(Debug, Clone)]
pub struct Outer {
    pub frame: u64,
    pub src: String,
    pub dst: String,
    pub df: bool,
    pub ip_csum: Csum,
    /// VXLAN: the outer UDP checksum (value and verdict).
    pub udp_csum: Option<(u16, Csum)>,
    pub vni: Option<u32>,
    pub gre_key: Option<u32>,
    /// Length of the outer IPv4 datagram.
    pub ip_len: u32,
}

fn num(s: &str) -> Option<u64> {
    let s = s.trim();
    if let Some(h) = s.strip_prefix("0x") {
        u64::from_str_radix(h, 16).ok()
    } else {
        s.parse().ok()
    }
}

const FIELDS: &[&str] =
    &["frame.number", "ip.src", "ip.dst", "ip.flags.df", "ip.checksum.status", "ip.len", "udp.checksum", "udp.checksum.status", "vxlan.vni", "gre.key"];

/// The VXLAN and GRE packets in `pcap`, decoded by tshark with IPv4 and UDP checksum
/// validation on (first occurrence of every field: the outer headers).
pub fn tunnel_packets(pcap: &Path) -> Result<Vec<Outer>> {
    let mut cmd = Command::new("tshark");
    cmd.arg("-r").arg(pcap);
    cmd.args(["-n", "-o", "udp.check_checksum:TRUE", "-o", "ip.check_checksum:TRUE", "-Y", "vxlan || gre", "-T", "fields"]);
    cmd.args(["-E", "occurrence=f", "-E", "separator=/t"]);
    for f in FIELDS {
        cmd.args(["-e", f]);
    }
    let out = cmd.output().context("running tshark (apt-get install tshark)")?;
    if !out.status.success() {
        bail!("tshark -r {} failed: {}", pcap.display(), String::from_utf8_lossy(&out.stderr).trim());
    }
    let mut v = Vec::new();
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        let c: Vec<&str> = line.split('\t').collect();
        if c.len() < FIELDS.len() {
            continue;
        }
        let udp = if c[6].trim().is_empty() { None } else { Some((num(c[6]).unwrap_or(0) as u16, Csum::parse(c[7]))) };
        v.push(Outer {
            frame: num(c[0]).unwrap_or(0),
            src: c[1].to_string(),
            dst: c[2].to_string(),
            df: matches!(c[3].trim(), "1" | "True" | "true"),
            ip_csum: Csum::parse(c[4]),
            ip_len: num(c[5]).unwrap_or(0) as u32,
            udp_csum: udp,
            vni: num(c[8]).map(|x| x as u32),
            gre_key: num(c[9]).map(|x| x as u32),
        });
    }
    Ok(v)
}
