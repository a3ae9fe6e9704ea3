//! `rx --mode afxdp`: xvs's own XDP steering program on the device (native, or generic
//! when the driver refuses) and one AF_XDP socket per rx queue on a shared UMEM. One
//! thread polls every queue, checks every frame (`stats::RxCounters`) and hands the
//! frames back to the fill rings.
//!
//! The steering program is attached through a BPF link owned by `XdpProgram`: it is
//! detached when that is dropped, which happens on every way out of `run` (deadline,
//! count, Ctrl-C, error).

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use xvs::io::umem::{Desc, FramePool};
use xvs::io::xdp::{rx_queues, XdpMode, XdpProgram};
use xvs::io::xsk::{XskQueue, FILL_TARGET, POOL_RESERVE};

use super::stats::{rate, RxCounters, RxReport};
use super::RxConfig;

const BURST: usize = 64;
/// Empty polling rounds before the sink sleeps in poll(2).
const IDLE_ROUNDS: u32 = 1024;
const IDLE_POLL_MS: i32 = 10;

fn attach(dev: &str) -> Result<XdpProgram> {
    match XdpProgram::attach(dev, XdpMode::Native) {
        Ok(p) => Ok(p),
        Err(e) => {
            eprintln!("xvs-pktgen: native XDP on {dev} failed ({e:#}); using generic XDP");
            XdpProgram::attach(dev, XdpMode::Generic)
        }
    }
}

pub fn run(cfg: &RxConfig, stop: &AtomicBool) -> Result<RxReport> {
    if let Some(c) = cfg.cpu {
        super::pin(c)?;
    }
    xvs::io::xdp::ensure_bpffs();
    let nq = rx_queues(&cfg.dev)?;
    let mut scratch: Vec<Desc> = Vec::with_capacity(FILL_TARGET as usize);
    let (mut pool, mut queues) = super::retry_bind(|| {
        let pool = FramePool::new(nq * (FILL_TARGET + 256) + POOL_RESERVE as u32 + 1024)?;
        let queues = (0..nq)
            .map(|q| XskQueue::open(&pool.umem, &cfg.dev, q, q as u16 + 1))
            .collect::<Result<Vec<_>>>()?;
        Ok((pool, queues))
    })?;
    for x in queues.iter_mut() {
        x.refill(&mut pool, &mut scratch);
    }
    let prog = attach(&cfg.dev)?;
    for x in &queues {
        prog.register(x.queue, x.fd())
            .context("registering the sink's sockets")?;
    }

    let mut c = RxCounters::new();
    let mut descs = vec![Desc::default(); BURST];
    let mut pfds: Vec<libc::pollfd> = queues
        .iter()
        .map(|x| libc::pollfd {
            fd: x.fd(),
            events: libc::POLLIN,
            revents: 0,
        })
        .collect();
    let start = Instant::now();
    let deadline = cfg.duration.map(|d| start + d);
    let mut next_report = start + Duration::from_secs(1);
    let mut last_reported = (0u64, 0u64); // (received, signed)
    let mut idle = 0u32;
    loop {
        let mut got = 0;
        let mut signed = false;
        for x in queues.iter_mut() {
            let n = x.rx_burst(&mut pool, &mut descs);
            for d in &descs[..n] {
                // SAFETY: the frame came off this socket's rx ring; we only read it
                // before it goes back to the pool.
                let data = unsafe { pool.umem.frame(d) };
                signed |= c.record(data);
            }
            for d in &descs[..n] {
                pool.free(*d);
            }
            got += n;
            x.refill(&mut pool, &mut scratch);
        }
        let now = Instant::now();
        if signed {
            c.seen_at(now);
        }
        if got == 0 {
            idle += 1;
            if idle >= IDLE_ROUNDS {
                for x in queues.iter_mut() {
                    x.fill_kick();
                }
                // SAFETY: pfds is a valid array of pollfd for the duration of the call.
                unsafe { libc::poll(pfds.as_mut_ptr(), pfds.len() as libc::nfds_t, IDLE_POLL_MS) };
            }
        } else {
            idle = 0;
        }
        if stop.load(Ordering::Relaxed)
            || deadline.is_some_and(|d| now >= d)
            || cfg.count.is_some_and(|n| c.signed() >= n)
        {
            break;
        }
        if now >= next_report {
            if !cfg.quiet {
                eprintln!(
                    "rx {}: {:.3} Mpps ({} frames/s of ours), valid {}, other {}, lost {}",
                    cfg.dev,
                    (c.received - last_reported.0) as f64 / 1e6,
                    c.signed() - last_reported.1,
                    c.valid,
                    c.other,
                    c.lost
                );
            }
            last_reported = (c.received, c.signed());
            next_report += Duration::from_secs(1);
        }
    }
    let wall = start.elapsed();
    for x in &queues {
        prog.unregister(x.queue);
    }
    let xdp = prog.mode.as_str();
    drop(queues);
    drop(prog); // closes the BPF link: the program is detached here

    let window = c.first.zip(c.last).map(|(f, l)| l - f);
    let (seconds, mpps) = rate(c.signed(), window, wall);
    Ok(RxReport {
        mode: "afxdp",
        dev: cfg.dev.clone(),
        xdp,
        queues: nq,
        received: c.received,
        bytes: c.bytes,
        valid: c.valid,
        other: c.other,
        lost: Some(c.lost),
        reordered: Some(c.reordered),
        bad_ip_csum: Some(c.bad_ip_csum),
        bad_udp_csum: Some(c.bad_udp_csum),
        restarts: Some(c.restarts),
        flows_seen: Some(c.flows_seen()),
        per_flow: cfg.flows.map(|n| c.per_flow(n)),
        seconds,
        wall_seconds: wall.as_secs_f64(),
        mpps,
    })
}
