//! xvsd: the xvs datapath daemon.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use clap::Parser;

use xvs::control::proto::DEFAULT_SOCKET;
use xvs::control::server::Server;
use xvs::daemon::{DaemonConfig, Datapath};
use xvs::pmd::worker::{PollMode, Upcall};

#[derive(Parser, Debug)]
#[command(name = "xvsd", version, about = "xvs: userspace virtual switch on AF_XDP")]
struct Args {
    /// Control socket path.
    #[arg(long, default_value = DEFAULT_SOCKET)]
    socket: PathBuf,
    /// CPUs for the poll-mode workers, one worker pinned per CPU (e.g. "1" or "2,3" or
    /// "1-3"). Default: one unpinned worker.
    #[arg(long)]
    cpus: Option<String>,
    /// busy: workers spin on their rings (lowest latency, 100% of their CPUs).
    /// adaptive: workers sleep in poll(2) after a short idle spell (shared machines).
    #[arg(long, default_value = "busy")]
    poll: String,
    /// UMEM frames (4 KiB each) per worker.
    #[arg(long, default_value_t = xvs::io::umem::DEFAULT_FRAMES)]
    frames: u32,
    /// Exact-match cache entries per worker (0 disables the EMC).
    #[arg(long)]
    emc_entries: Option<usize>,
    /// A megaflow hit enters the EMC with probability 1/N (default 100, as Open
    /// vSwitch's emc-insert-inv-prob; 1 = always).
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..))]
    emc_insert_inv_prob: Option<u32>,
    /// Where bridges, ports and flows are saved (and restored from at start).
    #[arg(long, default_value = "/var/lib/xvs/state.json")]
    state_file: PathBuf,
    /// Neither restore nor save state.
    #[arg(long)]
    no_state: bool,
    /// Cache misses each input port may translate per second, per worker (0: no limit).
    #[arg(long, default_value_t = xvs::daemon::DEFAULT_UPCALL_RATE)]
    upcall_rate: u32,
    /// Serve Prometheus metrics at http://ADDR/metrics (loopback only; off by default).
    #[arg(long)]
    metrics_addr: Option<std::net::SocketAddr>,
}

fn parse_cpus(s: &str) -> Result<Vec<usize>> {
    let mut v = Vec::new();
    for part in s.split(',').filter(|p| !p.is_empty()) {
        match part.split_once('-') {
            Some((a, b)) => {
                let (a, b): (usize, usize) = (a.trim().parse()?, b.trim().parse()?);
                if a > b {
                    bail!("bad CPU range {part}");
                }
                v.extend(a..=b);
            }
            None => v.push(part.trim().parse().with_context(|| format!("bad CPU '{part}'"))?),
        }
    }
    // All CPUs of the machine, not just those of our current affinity mask (taskset).
    let n = unsafe { libc::sysconf(libc::_SC_NPROCESSORS_CONF) }.max(1) as usize;
    if let Some(c) = v.iter().find(|&&c| c >= n) {
        bail!("CPU {c} does not exist (this machine has {n})");
    }
    Ok(v)
}

/// Write the state file if the configuration changed (serialized under the lock,
/// written outside it).
fn save_if_dirty(dp: &Mutex<Datapath>, path: Option<&std::path::Path>) {
    let Some(path) = path else { return };
    let st = {
        let mut d = dp.lock().unwrap_or_else(|p| p.into_inner());
        if !d.dirty {
            return;
        }
        d.dirty = false;
        xvs::persist::capture(&d.ofproto)
    };
    if let Err(e) = xvs::persist::save(path, &st) {
        tracing::error!("saving state: {e:#}");
        dp.lock().unwrap_or_else(|p| p.into_inner()).dirty = true;
    }
}

fn main() -> Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()))
        .with_writer(std::io::stderr)
        .init();
    let args = Args::parse();
    let cpus = match &args.cpus {
        Some(s) => parse_cpus(s)?,
        None => vec![],
    };
    let poll = match args.poll.as_str() {
        "busy" => PollMode::Busy,
        "adaptive" | "idle-backoff" => PollMode::Adaptive,
        p => bail!("unknown --poll mode '{p}' (busy, adaptive)"),
    };
    let server = Server::bind(&args.socket)?;
    let config = DaemonConfig { cpus, poll, frames_per_worker: args.frames, emc_entries: args.emc_entries, emc_insert_inv_prob: args.emc_insert_inv_prob, upcall_rate: args.upcall_rate };
    let (mut dp, upcalls) = Datapath::start(config)?;
    let state_file = (!args.no_state).then(|| args.state_file.clone());
    if let Some(path) = &state_file {
        if let Some(st) = xvs::persist::load(path)? {
            dp.restore(&st).with_context(|| format!("restoring {}", path.display()))?;
            let flows: usize = st.bridges.iter().map(|b| b.flows.len()).sum();
            tracing::info!("restored {} bridge(s) and {flows} flow(s) from {}", st.bridges.len(), path.display());
        }
    }
    let dp = Arc::new(Mutex::new(dp));
    let stop = Arc::new(AtomicBool::new(false));
    for sig in [signal_hook::consts::SIGTERM, signal_hook::consts::SIGINT] {
        signal_hook::flag::register(sig, stop.clone())?;
    }

    // The control-plane loop: apply flows learned by workers, expire timeouts.
    let bg = {
        let dp = dp.clone();
        let stop = stop.clone();
        std::thread::Builder::new().name("xvs-main".into()).spawn(move || {
            let mut last_tick = Instant::now();
            let mut last_save = Instant::now();
            while !stop.load(Ordering::Relaxed) {
                if let Ok(u) = upcalls.recv_timeout(Duration::from_millis(100)) {
                    let mut d = dp.lock().unwrap_or_else(|p| p.into_inner());
                    let mut next = Some(u);
                    // Drain what else is waiting while we hold the lock.
                    while let Some(u) = next.take().or_else(|| upcalls.try_recv().ok()) {
                        match u {
                            Upcall::Learned(b, specs) => d.apply_learned(b, specs),
                            Upcall::NeighMiss(m) => d.neigh_miss(m),
                        }
                    }
                }
                if last_tick.elapsed() >= Duration::from_secs(1) {
                    last_tick = Instant::now();
                    dp.lock().unwrap_or_else(|p| p.into_inner()).tick();
                }
                // At most one save a second: learned flows can change tables often.
                if last_save.elapsed() >= Duration::from_secs(1) {
                    last_save = Instant::now();
                    save_if_dirty(&dp, state_file.as_deref());
                }
            }
            save_if_dirty(&dp, state_file.as_deref());
        })?
    };

    let metrics = match args.metrics_addr {
        Some(a) => Some(xvs::control::metrics::serve(a, dp.clone(), stop.clone())?),
        None => None,
    };
    tracing::info!("xvsd {} listening on {}", env!("CARGO_PKG_VERSION"), args.socket.display());
    server.run(dp.clone(), stop.clone());
    tracing::info!("shutting down");
    let _ = bg.join();
    if let Some(m) = metrics {
        let _ = m.join();
    }
    dp.lock().unwrap_or_else(|p| p.into_inner()).shutdown();
    Ok(())
}
