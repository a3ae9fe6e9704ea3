//! `xvsctl capture PORT [--count N] [--seconds S] FILE.pcap`: copy the frames a port
//! receives and sends into a pcap file (readable by tcpdump/tshark).
//!
//! Workers copy frames only while a capture runs, and never wait for it: a capture
//! that cannot keep up misses frames, forwarding does not slow down. The datapath lock
//! is held only to switch the capture on and off, not while frames are collected.
//!
//! A patch port has no frames of its own: while it is captured, translation puts a
//! tap (`DpAction::Tap`) where packets cross it, so the capture shows each frame as
//! it leaves the bridge through the port (sent) or enters the bridge through it
//! (received), with every rewrite made before that point.

use std::io::Write;
use std::path::Path;
use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{anyhow, bail, Context, Result};
use crossbeam_channel::{bounded, Sender};

use crate::daemon::Datapath;
use crate::pmd::worker::{CapturedFrame, WorkerMsg, MAX_TAPS};

/// Parse the arguments after `capture`.
fn parse(args: &[String]) -> Result<(String, usize, Duration, String)> {
    let mut port = None;
    let mut file = None;
    let mut count = 100usize;
    let mut secs = 10.0f64;
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--count" => count = it.next().ok_or_else(|| anyhow!("--count needs a number"))?.parse().map_err(|_| anyhow!("bad --count"))?,
            "--seconds" => secs = it.next().ok_or_else(|| anyhow!("--seconds needs a number"))?.parse().map_err(|_| anyhow!("bad --seconds"))?,
            x if port.is_none() => port = Some(x.to_string()),
            x if file.is_none() => file = Some(x.to_string()),
            x => bail!("unexpected argument '{x}'"),
        }
    }
    let (Some(port), Some(file)) = (port, file) else {
        bail!("usage: capture PORT [--count N] [--seconds S] FILE.pcap");
    };
    if count == 0 || count > 1_000_000 {
        bail!("--count must be 1..1000000");
    }
    if !(0.0..=3600.0).contains(&secs) {
        bail!("--seconds must be 0..3600");
    }
    if !Path::new(&file).is_absolute() {
        bail!("the capture file must be an absolute path (xvsctl makes it absolute)");
    }
    Ok((port, count, Duration::from_secs_f64(secs), file))
}

/// Where a capture takes its frames from.
#[derive(Clone, Copy)]
enum Source {
    /// A datapath port: the worker copies what it receives and sends.
    Port(u32),
    /// A patch port: translation adds a `DpAction::Tap` where packets cross it.
    Tap(u16),
}

/// Switch the capture on (`to` Some) or off in every worker and, for a patch port,
/// in the pipeline (a published change: cached megaflows pick the tap up or drop it).
fn switch(d: &mut Datapath, port: &str, src: Source, to: Option<Sender<CapturedFrame>>) -> Result<()> {
    match src {
        Source::Port(dp_port) => {
            for w in 0..d.workers.len() {
                d.ask(w, |reply| WorkerMsg::Capture { dp_port, to: to.clone(), reply })?;
            }
        }
        Source::Tap(id) => {
            let on = to.is_some();
            // Workers get the channel before packets can carry the tap, and lose it
            // only after the pipeline stopped adding it.
            if on {
                for w in 0..d.workers.len() {
                    d.ask(w, |reply| WorkerMsg::CaptureTap { id, to: to.clone(), reply })?;
                }
                d.ofproto.taps.insert(port.to_string(), id);
            } else {
                d.ofproto.taps.remove(port);
            }
            d.publish();
            if !on {
                for w in 0..d.workers.len() {
                    d.ask(w, |reply| WorkerMsg::CaptureTap { id, to: None, reply })?;
                }
            }
        }
    }
    Ok(())
}

pub fn run(dp: &Mutex<Datapath>, args: &[String]) -> Result<String> {
    let (port, count, dur, file) = parse(args)?;
    let (tx, rx) = bounded::<CapturedFrame>(8192);
    let src = {
        let mut d = dp.lock().unwrap_or_else(|p| p.into_inner());
        let (_, p) = d.ofproto.find_port(&port).ok_or_else(|| anyhow!("no port named {port}"))?;
        let src = match p.dp_port {
            Some(dpp) => Source::Port(dpp.0),
            None => {
                if d.ofproto.taps.contains_key(&port) {
                    bail!("a capture is already running on {port}");
                }
                let id = (0..MAX_TAPS as u16)
                    .find(|i| !d.ofproto.taps.values().any(|t| t == i))
                    .ok_or_else(|| anyhow!("{MAX_TAPS} captures on patch ports are already running"))?;
                Source::Tap(id)
            }
        };
        if let Err(e) = switch(&mut d, &port, src, Some(tx.clone())) {
            let _ = switch(&mut d, &port, src, None);
            return Err(e);
        }
        src
    };
    drop(tx);
    let wall0 = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default();
    let mono0 = crate::clock::now_ns();
    let deadline = Instant::now() + dur;
    let mut frames = Vec::new();
    while frames.len() < count {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            break;
        }
        match rx.recv_timeout(left) {
            Ok(f) => frames.push(f),
            Err(_) => break,
        }
    }
    {
        let mut d = dp.lock().unwrap_or_else(|p| p.into_inner());
        let _ = switch(&mut d, &port, src, None);
    }
    write_pcap(Path::new(&file), &frames, wall0, mono0)?;
    let n_rx = frames.iter().filter(|f| f.rx).count();
    Ok(format!("{} frames ({} received, {} sent) on {port} written to {file}\n", frames.len(), n_rx, frames.len() - n_rx))
}

/// Classic pcap (microsecond timestamps, Ethernet link type).
fn write_pcap(path: &Path, frames: &[CapturedFrame], wall0: Duration, mono0: u64) -> Result<()> {
    let mut out = Vec::with_capacity(24 + frames.iter().map(|f| 16 + f.data.len()).sum::<usize>());
    out.extend_from_slice(&0xa1b2_c3d4u32.to_le_bytes());
    out.extend_from_slice(&2u16.to_le_bytes());
    out.extend_from_slice(&4u16.to_le_bytes());
    out.extend_from_slice(&0i32.to_le_bytes()); // thiszone
    out.extend_from_slice(&0u32.to_le_bytes()); // sigfigs
    out.extend_from_slice(&65535u32.to_le_bytes()); // snaplen
    out.extend_from_slice(&1u32.to_le_bytes()); // LINKTYPE_ETHERNET
    for f in frames {
        let t = wall0 + Duration::from_nanos(f.ts_ns.saturating_sub(mono0));
        out.extend_from_slice(&(t.as_secs() as u32).to_le_bytes());
        out.extend_from_slice(&t.subsec_micros().to_le_bytes());
        out.extend_from_slice(&(f.data.len() as u32).to_le_bytes());
        out.extend_from_slice(&(f.data.len() as u32).to_le_bytes());
        out.extend_from_slice(&f.data);
    }
    let mut file = std::fs::File::create(path).with_context(|| format!("creating {}", path.display()))?;
    file.write_all(&out)?;
    Ok(())
}
