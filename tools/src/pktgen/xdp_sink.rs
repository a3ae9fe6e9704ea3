//! `rx --mode xdp`: bpf/xvs_sink.bpf.c on the device counts frames, bytes and frames
//! with our signature per CPU and drops everything. This thread samples the counters
//! every few milliseconds: the rate is taken between the first and the last sample in
//! which our frame count moved, which excludes the idle time before and after.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::Result;

use super::bpf;
use super::stats::{rate, RxReport};
use super::RxConfig;

const SAMPLE: Duration = Duration::from_millis(5);

pub fn run(cfg: &RxConfig, stop: &AtomicBool) -> Result<RxReport> {
    if let Some(c) = cfg.cpu {
        super::pin(c)?;
    }
    let ifindex = xvs::io::xdp::ifindex(&cfg.dev)?;
    let nq = xvs::io::xdp::rx_queues(&cfg.dev)?;
    let obj = bpf::load(bpf::SINK_OBJ, "sink")?;
    let prog = bpf::prog(&obj, "xvs_sink")?;
    let counters = bpf::map(&obj, "sink_counters")?;
    // Mirrors struct xvs_sink_counters: packets, bytes, signed_frames.
    let read = || bpf::percpu_sum::<3>(&counters, 0);
    let (link, xdp) = bpf::attach_xdp_any(&prog, ifindex, &cfg.dev)?;

    let start = Instant::now();
    let deadline = cfg.duration.map(|d| start + d);
    let mut next_report = start + Duration::from_secs(1);
    let mut last = [0u64; 3];
    let mut reported = [0u64; 3];
    // (time, signed count) of the first and the last sample in which `signed` grew.
    let mut first: Option<(Instant, u64)> = None;
    let mut latest: Option<(Instant, u64)> = None;
    loop {
        std::thread::sleep(SAMPLE);
        let now = Instant::now();
        let v = read()?;
        if v[2] > last[2] {
            if first.is_none() {
                first = Some((now, v[2]));
            }
            latest = Some((now, v[2]));
        }
        last = v;
        if stop.load(Ordering::Relaxed)
            || deadline.is_some_and(|d| now >= d)
            || cfg.count.is_some_and(|n| v[2] >= n)
        {
            break;
        }
        if now >= next_report {
            if !cfg.quiet {
                eprintln!(
                    "rx {}: {:.3} Mpps ({} frames/s of ours), total {}",
                    cfg.dev,
                    (v[0] - reported[0]) as f64 / 1e6,
                    v[2] - reported[2],
                    v[0]
                );
            }
            reported = v;
            next_report += Duration::from_secs(1);
        }
    }
    let wall = start.elapsed();
    drop(link); // detaches the program
    let [packets, bytes, signed] = read()?;

    // Frames counted after the first sample, over the time to the last sample that
    // saw new frames; with fewer than two such samples, everything over the wall time.
    let (seconds, mpps) = match (first, latest) {
        (Some((t0, n0)), Some((t1, n1))) if t1 > t0 => rate(n1 - n0, Some(t1 - t0), wall),
        _ => rate(signed, None, wall),
    };
    Ok(RxReport {
        mode: "xdp",
        dev: cfg.dev.clone(),
        xdp,
        queues: nq,
        received: packets,
        bytes,
        valid: signed,
        other: packets - signed,
        lost: None,
        reordered: None,
        bad_ip_csum: None,
        bad_udp_csum: None,
        restarts: None,
        flows_seen: None,
        per_flow: None,
        seconds,
        wall_seconds: wall.as_secs_f64(),
        mpps,
    })
}
