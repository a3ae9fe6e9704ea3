//! `tx --mode xdp`: the fast generator. BPF_PROG_RUN with BPF_F_TEST_XDP_LIVE_FRAMES
//! runs bpf/xvs_gen.bpf.c on frames initialised from the template; the program stamps
//! each frame and redirects it out of the device (ndo_xdp_xmit: no skb, no socket), so
//! one core makes several Mpps.
//!
//! Every BPF_PROG_RUN call costs a fixed ~25 ms of setup and teardown here (the CPU
//! idles through it), so the generator makes one long call and a monitor thread ends
//! it with a signal (EINTR) at the deadline, on Ctrl-C, or when the program's frame
//! limit is reached; the frames sent are read from the program's own counter. Pacing
//! (--rate) also happens in the program (see bpf/xvs_gen.bpf.c).
//!
//! The program's flow/sequence state is per CPU, so the thread is pinned (to --cpu, or
//! to the CPU it starts on) to keep every flow's sequence numbers in one counter.
//!
//! veth caveat: a veth only accepts redirected XDP frames when its peer has NAPI
//! enabled (an XDP program attached, or GRO on); otherwise the frames are dropped
//! silently and only the sink notices.

use std::os::fd::{AsFd, AsRawFd, RawFd};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};

use super::bpf;
use super::frame::Template;
use super::stats::TxReport;
use super::TxConfig;

/// Iterations per BPF_PROG_RUN call; a call normally ends earlier, by a signal.
const MAX_REPEAT: u64 = 1 << 30;
/// Frames the kernel redirects before flushing (the `batch_size` of the test run).
const KERNEL_BATCH: u32 = 64;
/// How often the monitor thread looks at the clock, the stop flag and the counters.
const TICK: Duration = Duration::from_millis(2);
/// size of struct xvs_gen_state.
const STATE_SIZE: usize = 32;

/// Mirrors `struct xvs_gen_cfg` in bpf/xvs_gen.bpf.c.
struct GenCfg {
    ifindex: u32,
    nflows: u32,
    port_base: u32,
    csum_base: u32,
    limit: u64,
    gap_ps: u64,
    burst_ps: u64,
    t0_ns: u64,
    /// Where the inner frame starts (0, or 50 behind VXLAN headers).
    inner_off: u32,
}

impl GenCfg {
    fn bytes(&self) -> Vec<u8> {
        let mut v = Vec::with_capacity(56);
        for x in [self.ifindex, self.nflows, self.port_base, self.csum_base] {
            v.extend_from_slice(&x.to_ne_bytes());
        }
        for x in [self.limit, self.gap_ps, self.burst_ps, self.t0_ns] {
            v.extend_from_slice(&x.to_ne_bytes());
        }
        for x in [self.inner_off, 0] {
            v.extend_from_slice(&x.to_ne_bytes());
        }
        v
    }
}

/// CLOCK_MONOTONIC in ns: the clock of bpf_ktime_get_ns().
fn monotonic_ns() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

/// Frames sent so far: the first u64 of struct xvs_gen_state, summed over CPUs.
fn sent(state_fd: RawFd) -> Result<u64> {
    Ok(bpf::percpu_sum_fd::<1>(state_fd, 0, STATE_SIZE)?[0])
}

/// Pacing parameters for `rate` pps: (gap, catch-up allowance) in picoseconds.
fn pacing(rate: u64) -> (u64, u64) {
    if rate == 0 {
        return (0, 0);
    }
    let gap = (1_000_000_000_000 / rate).max(1);
    // Catch up at most 64 frames or 200 us behind schedule, whichever is more.
    (gap, (64 * gap).max(200_000_000))
}

struct Shared {
    stop: Arc<AtomicBool>,
    /// Set by the monitor: the run is over.
    done: AtomicBool,
    /// Set by the generator when it left its loop (the monitor stops signalling).
    finished: AtomicBool,
}

/// The monitor thread: decides when the run ends and interrupts the generator's
/// BPF_PROG_RUN with SIGUSR1 until it has noticed.
fn monitor(
    sh: &Shared,
    gen: libc::pthread_t,
    deadline: Option<Instant>,
    count: Option<u64>,
    state_fd: RawFd,
) {
    loop {
        if sh.finished.load(Ordering::Acquire) {
            return;
        }
        let now = Instant::now();
        let end = sh.done.load(Ordering::Relaxed)
            || sh.stop.load(Ordering::Relaxed)
            || deadline.is_some_and(|d| now >= d)
            || count.is_some_and(|c| sent(state_fd).map_or(true, |s| s >= c));
        if end {
            sh.done.store(true, Ordering::Release);
            // SAFETY: `gen` is the thread that runs the scope this thread lives in; it
            // outlives us. SIGUSR1 has a (no-op) handler installed.
            unsafe { libc::pthread_kill(gen, libc::SIGUSR1) };
            std::thread::sleep(TICK);
            continue;
        }
        let nap = deadline.map_or(TICK, |d| d.saturating_duration_since(now).min(TICK));
        std::thread::sleep(nap);
    }
}

pub fn run(cfg: &TxConfig, stop: &Arc<AtomicBool>) -> Result<TxReport> {
    let tpl = Template::new(&cfg.spec)?;
    let ifindex = xvs::io::xdp::ifindex(&cfg.dev)?;
    let obj = bpf::load(bpf::GEN_OBJ, "generator")?;
    let prog = bpf::prog(&obj, "xvs_gen")?;
    let (gap_ps, burst_ps) = pacing(cfg.rate);
    let gen_cfg = GenCfg {
        ifindex,
        nflows: cfg.spec.flows,
        port_base: cfg.spec.dst_port as u32,
        csum_base: tpl.csum_base as u32,
        limit: cfg.count.unwrap_or(0),
        gap_ps,
        burst_ps,
        t0_ns: monotonic_ns(),
        inner_off: tpl.inner_off as u32,
    };
    bpf::put(&bpf::map(&obj, "gen_cfg")?, 0, &gen_cfg.bytes())?;
    let state_fd = bpf::map(&obj, "gen_state")?.as_fd().as_raw_fd();
    // A handler, so that SIGUSR1 interrupts the run instead of killing the process.
    signal_hook::flag::register(libc::SIGUSR1, Arc::new(AtomicBool::new(false)))
        .context("installing the SIGUSR1 handler")?;

    let mut opts = libbpf_sys::bpf_test_run_opts {
        sz: std::mem::size_of::<libbpf_sys::bpf_test_run_opts>() as _,
        data_in: tpl.bytes.as_ptr().cast(),
        data_size_in: tpl.bytes.len() as u32,
        flags: libbpf_sys::BPF_F_TEST_XDP_LIVE_FRAMES,
        batch_size: KERNEL_BATCH,
        ..Default::default()
    };
    let prog_fd = prog.as_fd().as_raw_fd();
    let sh = Shared {
        stop: Arc::clone(stop),
        done: AtomicBool::new(false),
        finished: AtomicBool::new(false),
    };
    // SAFETY: plain libc call.
    let me = unsafe { libc::pthread_self() };

    let start = Instant::now();
    let deadline = cfg.duration.map(|d| start + d);
    // The monitor only needs the counter when the program, not `repeat`, ends the run.
    let watch_count = if cfg.rate > 0 { cfg.count } else { None };
    let (result, cpu, elapsed) = std::thread::scope(|s| {
        s.spawn(|| monitor(&sh, me, deadline, watch_count, state_fd));
        // Pin after spawning, so the monitor does not inherit the pinning.
        let cpu = cfg.cpu.or_else(super::current_cpu);
        let result = (|| -> Result<()> {
            if let Some(c) = cpu {
                super::pin(c)?;
            }
            loop {
                if sh.done.load(Ordering::Acquire) || stop.load(Ordering::Relaxed) {
                    return Ok(());
                }
                let mut repeat = MAX_REPEAT;
                if let Some(c) = cfg.count {
                    let n = sent(state_fd)?;
                    if n >= c {
                        return Ok(());
                    }
                    if cfg.rate == 0 {
                        repeat = repeat.min(c - n);
                    }
                }
                opts.repeat = repeat as i32;
                // SAFETY: opts points at the template, alive for the call; no output
                // buffers.
                let r = unsafe { libbpf_sys::bpf_prog_test_run_opts(prog_fd, &mut opts) };
                if r < 0 {
                    let err = std::io::Error::from_raw_os_error(-r);
                    match -r {
                        libc::EINTR | libc::EAGAIN => continue,
                        libc::EINVAL | libc::EOPNOTSUPP => {
                            bail!(
                                "BPF_PROG_RUN with live frames on {}: {err} (needs kernel >= 5.18)",
                                cfg.dev
                            )
                        }
                        _ => return Err(err).context("BPF_PROG_RUN"),
                    }
                }
            }
        })();
        let elapsed = start.elapsed();
        sh.done.store(true, Ordering::Release);
        sh.finished.store(true, Ordering::Release);
        (result, cpu, elapsed)
    });
    result?;
    let sent = sent(state_fd)?;
    let secs = elapsed.as_secs_f64();
    let len = tpl.bytes.len();
    Ok(TxReport {
        mode: "xdp",
        dev: cfg.dev.clone(),
        queue: None,
        packets: sent,
        bytes: sent * len as u64,
        seconds: secs,
        mpps: if secs > 0.0 {
            sent as f64 / secs / 1e6
        } else {
            0.0
        },
        flows: cfg.spec.flows,
        size: len,
        rate: cfg.rate,
        cpu,
        tx_invalid: None,
        zero_copy: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cfg_layout() {
        let c = GenCfg {
            ifindex: 1,
            nflows: 2,
            port_base: 3,
            csum_base: 4,
            limit: 5,
            gap_ps: 6,
            burst_ps: 7,
            t0_ns: 8,
            inner_off: 9,
        };
        let b = c.bytes();
        assert_eq!(b.len(), 56);
        assert_eq!(u32::from_ne_bytes(b[48..52].try_into().unwrap()), 9);
        assert_eq!(u32::from_ne_bytes(b[12..16].try_into().unwrap()), 4);
        assert_eq!(u64::from_ne_bytes(b[16..24].try_into().unwrap()), 5);
        assert_eq!(u64::from_ne_bytes(b[40..48].try_into().unwrap()), 8);
    }

    #[test]
    fn pacing_params() {
        assert_eq!(pacing(0), (0, 0));
        assert_eq!(pacing(1_000_000), (1_000_000, 200_000_000));
        assert_eq!(pacing(100), (10_000_000_000, 640_000_000_000));
    }
}
