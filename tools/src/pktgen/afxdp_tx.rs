//! `tx --mode afxdp`: one AF_XDP socket on (dev, queue), no XDP program. Every UMEM
//! frame holds a copy of the template from the start; each loop reaps completions,
//! takes a batch of free frames, stamps flow, sequence number and UDP checksum into
//! them, puts them on the tx ring and kicks the kernel (sendto in copy mode).

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::{anyhow, Result};
use xvs::io::umem::{Desc, FramePool, DATA_OFFSET, FRAME_SIZE};
use xvs::io::xsk::XskQueue;

use super::frame::Template;
use super::pace::TokenBucket;
use super::stats::TxReport;
use super::TxConfig;

/// UMEM frames: room for a full tx ring (2048) plus as much again in flight.
const N_FRAMES: u32 = 4096;
/// Owner tag of our socket's frames in the pool.
const SOCK_ID: u16 = 1;
/// How long to wait for outstanding completions at the end.
const DRAIN: Duration = Duration::from_secs(1);

pub fn run(cfg: &TxConfig, stop: &AtomicBool) -> Result<TxReport> {
    if let Some(c) = cfg.cpu {
        super::pin(c)?;
    }
    let tpl = Template::new(&cfg.spec)?;
    let len = tpl.bytes.len();
    let nflows = cfg.spec.flows;
    let (mut pool, mut q) = super::retry_bind(|| {
        let pool = FramePool::new(N_FRAMES)?;
        let q = XskQueue::open(&pool.umem, &cfg.dev, cfg.queue, SOCK_ID)?;
        Ok((pool, q))
    })?;

    // Every frame starts as a copy of the template; later only the variable fields
    // are rewritten.
    if len > (FRAME_SIZE - DATA_OFFSET) as usize {
        return Err(anyhow!("frame too small for {len} bytes"));
    }
    let mut descs: Vec<Desc> = Vec::with_capacity(N_FRAMES as usize);
    pool.alloc_n(N_FRAMES as usize, &mut descs);
    for d in descs.iter_mut() {
        d.len = len as u32;
        // SAFETY: a free frame of this UMEM, not on any ring.
        unsafe { pool.umem.frame_mut(d) }.copy_from_slice(&tpl.bytes);
    }
    for d in descs.drain(..) {
        pool.free(d);
    }

    let batch = if cfg.rate > 0 {
        TokenBucket::batch_for(cfg.rate, cfg.batch as u64) as usize
    } else {
        cfg.batch
    };
    let mut bucket = (cfg.rate > 0).then(|| TokenBucket::new(cfg.rate, 2 * batch as u64));
    let mut scratch = vec![Desc::default(); 256];
    let (mut flow, mut seq) = (0u32, 0u64);
    let mut queued = 0u64;
    let mut completed = 0u64;
    let start = Instant::now();
    let deadline = cfg.duration.map(|d| start + d);

    loop {
        completed += q.complete(&mut pool, &mut scratch) as u64;
        if stop.load(Ordering::Relaxed) || deadline.is_some_and(|d| Instant::now() >= d) {
            break;
        }
        let mut want = batch as u64;
        if let Some(c) = cfg.count {
            if queued >= c {
                break;
            }
            want = want.min(c - queued);
        }
        if let Some(b) = bucket.as_mut() {
            let g = b.grant(want);
            if g == 0 {
                q.tx_kick();
                b.wait(want, stop);
                continue;
            }
            want = g;
        }
        pool.alloc_n(want as usize, &mut descs);
        if descs.is_empty() {
            // Every frame is in flight: let the kernel catch up.
            if let Some(b) = bucket.as_mut() {
                b.refund(want);
            }
            q.tx_kick();
            continue;
        }
        let (mut f, mut s) = (flow, seq);
        for d in descs.iter_mut() {
            // SAFETY: frames just taken from the free pool; nothing else uses them until
            // they are put on the tx ring below.
            d.len = len as u32;
            tpl.stamp(unsafe { pool.umem.frame_mut(d) }, f, s);
            f += 1;
            if f == nflows {
                f = 0;
                s += 1;
            }
        }
        let n = q.tx_burst(&mut pool, &descs);
        // Frames the ring did not take go back; their (flow, seq) are stamped again
        // into whatever frames the next batch gets.
        for d in &descs[n..] {
            pool.free(*d);
        }
        if let Some(b) = bucket.as_mut() {
            b.refund(want - n as u64);
        }
        let adv = flow as u64 + n as u64;
        seq += adv / nflows as u64;
        flow = (adv % nflows as u64) as u32;
        queued += n as u64;
        q.tx_kick();
    }

    // Let the kernel finish what is on the ring.
    let t = Instant::now();
    while q.tx_held > 0 && t.elapsed() < DRAIN {
        q.tx_kick();
        let n = q.complete(&mut pool, &mut scratch);
        completed += n as u64;
        if n == 0 {
            std::thread::sleep(Duration::from_micros(50));
        }
    }
    let elapsed = start.elapsed();
    let stats = q.kernel_stats();
    let zero_copy = q.zero_copy;
    drop(q);

    let secs = elapsed.as_secs_f64();
    Ok(TxReport {
        mode: "afxdp",
        dev: cfg.dev.clone(),
        queue: Some(cfg.queue),
        packets: completed,
        bytes: completed * len as u64,
        seconds: secs,
        mpps: if secs > 0.0 {
            completed as f64 / secs / 1e6
        } else {
            0.0
        },
        flows: nflows,
        size: len,
        rate: cfg.rate,
        cpu: cfg.cpu,
        tx_invalid: stats.map(|s| s[3]),
        zero_copy: Some(zero_copy),
    })
}
