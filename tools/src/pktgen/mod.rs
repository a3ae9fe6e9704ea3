//! xvs-pktgen: traffic generator and sink for benchmarks and functional checks.
//!
//! * `afxdp_tx`: an AF_XDP socket sending pre-built frames from a UMEM (any netdev).
//! * `xdp_tx`: BPF_PROG_RUN with live frames running bpf/xvs_gen.bpf.c (several Mpps).
//! * `sink`: AF_XDP sink on every rx queue that checks each frame's signature.
//! * `xdp_sink`: bpf/xvs_sink.bpf.c counting and dropping in XDP.
//!
//! Frames carry a signature (see `frame`) so the sink can tell generated frames from
//! noise, and count per-flow loss and reordering.

pub mod afxdp_tx;
pub mod bpf;
pub mod frame;
pub mod pace;
pub mod sink;
pub mod stats;
pub mod xdp_sink;
pub mod xdp_tx;

use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{anyhow, bail, Context, Result};

use frame::FrameSpec;

/// Which engine a subcommand uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Mode {
    /// AF_XDP socket (copy or zero-copy, whatever the driver does).
    Afxdp,
    /// A BPF program: BPF_PROG_RUN live frames for tx, an XDP counter for rx.
    Xdp,
}

impl Mode {
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Afxdp => "afxdp",
            Mode::Xdp => "xdp",
        }
    }
}

/// Generator settings.
#[derive(Clone, Debug)]
pub struct TxConfig {
    pub dev: String,
    pub queue: u32,
    pub spec: FrameSpec,
    pub duration: Option<Duration>,
    pub count: Option<u64>,
    /// Packets per second, 0 = unlimited.
    pub rate: u64,
    /// Frames per tx ring submission (AF_XDP).
    pub batch: usize,
    pub cpu: Option<usize>,
}

/// Sink settings.
#[derive(Clone, Debug)]
pub struct RxConfig {
    pub dev: String,
    pub duration: Option<Duration>,
    /// Stop after this many frames with our signature.
    pub count: Option<u64>,
    /// Report per-flow counts for flows 0..N.
    pub flows: Option<u32>,
    pub cpu: Option<usize>,
    /// No progress lines on stderr.
    pub quiet: bool,
}

/// A flag set by SIGINT and SIGTERM. The loops poll it and return normally, so every
/// XDP link and AF_XDP socket is dropped (and detached) before the summary is printed.
pub fn stop_flag() -> Result<Arc<AtomicBool>> {
    let stop = Arc::new(AtomicBool::new(false));
    for sig in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        signal_hook::flag::register(sig, Arc::clone(&stop))
            .context("installing the signal handler")?;
    }
    Ok(stop)
}

/// Retry `f` for a while: binding an AF_XDP socket to a queue fails (EBUSY) until the
/// kernel has finished releasing the previous socket on it, which it does in deferred
/// work shortly after that socket's process exits.
pub fn retry_bind<T>(mut f: impl FnMut() -> Result<T>) -> Result<T> {
    const TRIES: u32 = 60;
    let mut tries = 0;
    loop {
        match f() {
            Ok(v) => return Ok(v),
            Err(e) if tries + 1 < TRIES => {
                tries += 1;
                if tries == 1 && std::env::var_os("XVS_PKTGEN_DEBUG").is_some() {
                    eprintln!("xvs-pktgen: {e:#}; retrying");
                }
                std::thread::sleep(Duration::from_millis(25));
            }
            Err(e) => {
                return Err(e.context(
                    "the previous AF_XDP socket on the queue may still be held (another program?)",
                ))
            }
        }
    }
}

/// Pin the calling thread to `cpu`.
pub fn pin(cpu: usize) -> Result<()> {
    if !core_affinity::set_for_current(core_affinity::CoreId { id: cpu }) {
        bail!("cannot pin to CPU {cpu}");
    }
    Ok(())
}

/// The CPU the calling thread runs on now.
pub fn current_cpu() -> Option<usize> {
    let c = unsafe { libc::sched_getcpu() };
    (c >= 0).then_some(c as usize)
}

/// "aa:bb:cc:dd:ee:ff" (or with '-').
pub fn parse_mac(s: &str) -> Result<[u8; 6]> {
    let parts: Vec<&str> = s.split([':', '-']).collect();
    if parts.len() != 6 {
        bail!("bad MAC address '{s}'");
    }
    let mut mac = [0u8; 6];
    for (m, p) in mac.iter_mut().zip(parts) {
        if p.is_empty() || p.len() > 2 {
            bail!("bad MAC address '{s}'");
        }
        *m = u8::from_str_radix(p, 16).map_err(|_| anyhow!("bad MAC address '{s}'"))?;
    }
    Ok(mac)
}

pub fn format_mac(m: &[u8; 6]) -> String {
    format!(
        "{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}",
        m[0], m[1], m[2], m[3], m[4], m[5]
    )
}

/// The hardware address of a netdev (from sysfs).
pub fn if_mac(dev: &str) -> Result<[u8; 6]> {
    let path = format!("/sys/class/net/{dev}/address");
    let s = std::fs::read_to_string(&path).with_context(|| format!("reading {path}"))?;
    parse_mac(s.trim())
}

/// A run id for the IPv4 identification field: differs between generator runs.
pub fn run_id() -> u16 {
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    let x = (t as u64) ^ ((std::process::id() as u64) << 20);
    let x = x.wrapping_mul(0x9e37_79b9_7f4a_7c15);
    (x >> 48) as u16
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn macs() {
        assert_eq!(
            parse_mac("02:00:0a:ff:00:01").unwrap(),
            [2, 0, 0xa, 0xff, 0, 1]
        );
        assert_eq!(
            parse_mac("02-00-0A-FF-00-01").unwrap(),
            [2, 0, 0xa, 0xff, 0, 1]
        );
        assert!(parse_mac("02:00:0a:ff:00").is_err());
        assert!(parse_mac("02:00:0a:ff:00:001").is_err());
        assert!(parse_mac("02:00:0a:ff:00:zz").is_err());
        assert_eq!(format_mac(&[2, 0, 0xa, 0xff, 0, 1]), "02:00:0a:ff:00:01");
    }
}
