//! Prometheus metrics in the text exposition format, on a loopback HTTP endpoint that
//! exists only when configured (`xvsd --metrics-addr 127.0.0.1:9477`).
//!
//! Counters come from what workers publish (they publish when idle and every ~100 ms
//! under load), so a scrape never stops a worker.

use std::fmt::Write as _;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{bail, Context, Result};

use crate::daemon::Datapath;
use crate::pmd::stats::DropReason;

fn metric(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
}

/// Render every metric.
pub fn render(dp: &Datapath) -> String {
    let mut s = String::new();
    let ports: Vec<(String, String, u32)> = dp
        .ofproto
        .bridges
        .values()
        .flat_map(|b| b.ports.values().filter_map(move |p| p.dp_port.map(|d| (b.name.clone(), p.name.clone(), d.0))))
        .collect();
    let counters: Vec<_> = ports.iter().map(|(b, p, d)| (b, p, dp.port_counters(crate::port::OdpPort(*d)))).collect();
    type Get = fn(&crate::pmd::stats::PortCounters) -> u64;
    let port_metrics: [(&str, &str, Get); 6] = [
        ("xvs_port_rx_packets_total", "frames received on the port", |c| c.rx_packets),
        ("xvs_port_rx_bytes_total", "bytes received on the port", |c| c.rx_bytes),
        ("xvs_port_tx_packets_total", "frames sent on the port", |c| c.tx_packets),
        ("xvs_port_tx_bytes_total", "bytes sent on the port", |c| c.tx_bytes),
        ("xvs_port_rx_dropped_total", "frames received on the port and dropped (any reason)", |c| c.rx_dropped),
        ("xvs_port_tx_dropped_total", "frames that could not be queued for transmission on the port", |c| c.tx_dropped),
    ];
    for (name, help, get) in port_metrics {
        metric(&mut s, name, "counter", help);
        for (b, p, c) in &counters {
            let _ = writeln!(s, "{name}{{bridge=\"{b}\",port=\"{p}\"}} {}", get(c));
        }
    }
    metric(&mut s, "xvs_port_up", "gauge", "1 when the port's netdev is open, 0 while it is retried");
    for (b, p, d) in &ports {
        let _ = writeln!(s, "xvs_port_up{{bridge=\"{b}\",port=\"{p}\"}} {}", u8::from(!dp.inactive.contains_key(&crate::port::OdpPort(*d))));
    }
    metric(&mut s, "xvs_flows", "gauge", "OpenFlow rules installed, per bridge");
    for b in dp.ofproto.bridges.values() {
        let _ = writeln!(s, "xvs_flows{{bridge=\"{}\"}} {}", b.name, b.n_rules());
    }

    let pmds: Vec<_> = dp.workers.iter().map(|w| (w.shared.id, w.shared.stats.pmd(), &w.shared.stats)).collect();
    type GetP = fn(&crate::pmd::stats::PmdCounters) -> u64;
    let worker_metrics: [(&str, &str, GetP); 11] = [
        ("xvs_worker_packets_total", "frames received by the worker", |c| c.packets),
        ("xvs_worker_batches_total", "rx batches processed", |c| c.batches),
        ("xvs_worker_port_megaflow_hits_total", "lookups answered by an in_port-only megaflow", |c| c.port_hits),
        ("xvs_worker_emc_hits_total", "exact-match cache hits", |c| c.emc_hits),
        ("xvs_worker_megaflow_hits_total", "megaflow cache hits", |c| c.megaflow_hits),
        ("xvs_worker_upcalls_total", "cache misses translated by the slow path", |c| c.misses),
        ("xvs_worker_revalidated_total", "stale megaflows re-translated", |c| c.revalidated),
        ("xvs_worker_revalidation_removed_total", "stale megaflows removed because their re-translation differed", |c| c.revalidation_removed),
        ("xvs_worker_revalidation_marked_total", "megaflows marked stale by targeted revalidation (a MAC they consulted changed)", |c| c.reval_marked),
        ("xvs_worker_revalidation_full_total", "full revalidations: new snapshot, MAC table flushed, change-log overrun", |c| c.reval_full),
        ("xvs_worker_revalidation_overruns_total", "change-log overruns (fell back to a full revalidation)", |c| c.reval_overruns),
    ];
    for (name, help, get) in worker_metrics {
        metric(&mut s, name, "counter", help);
        for (id, c, _) in &pmds {
            let _ = writeln!(s, "{name}{{worker=\"{id}\"}} {}", get(c));
        }
    }
    let secs = |ticks: u64| crate::pmd::tsc::to_ns(ticks) as f64 / 1e9;
    metric(&mut s, "xvs_worker_busy_seconds_total", "counter", "time in loop iterations that handled packets");
    for (id, c, _) in &pmds {
        let _ = writeln!(s, "xvs_worker_busy_seconds_total{{worker=\"{id}\"}} {:.6}", secs(c.busy_ticks));
    }
    metric(&mut s, "xvs_worker_idle_seconds_total", "counter", "time in loop iterations that found nothing");
    for (id, c, _) in &pmds {
        let _ = writeln!(s, "xvs_worker_idle_seconds_total{{worker=\"{id}\"}} {:.6}", secs(c.idle_ticks));
    }
    metric(&mut s, "xvs_worker_upcall_seconds_total", "counter", "time spent translating cache misses");
    for (id, c, _) in &pmds {
        let _ = writeln!(s, "xvs_worker_upcall_seconds_total{{worker=\"{id}\"}} {:.6}", secs(c.upcall_ticks));
    }
    metric(&mut s, "xvs_worker_revalidation_seconds_total", "counter", "time spent marking and re-translating stale megaflows");
    for (id, c, _) in &pmds {
        let _ = writeln!(s, "xvs_worker_revalidation_seconds_total{{worker=\"{id}\"}} {:.6}", secs(c.reval_ticks));
    }
    metric(&mut s, "xvs_worker_megaflows", "gauge", "megaflows in the worker's cache");
    for (id, _, st) in &pmds {
        let _ = writeln!(s, "xvs_worker_megaflows{{worker=\"{id}\"}} {}", st.megaflows.load(Ordering::Relaxed));
    }
    metric(&mut s, "xvs_worker_umem_free_frames", "gauge", "UMEM frames free in the worker's pool");
    for (id, _, st) in &pmds {
        let _ = writeln!(s, "xvs_worker_umem_free_frames{{worker=\"{id}\"}} {}", st.frames_free.load(Ordering::Relaxed));
    }
    metric(&mut s, "xvs_drops_total", "counter", "dropped packets by reason");
    for (id, c, _) in &pmds {
        for r in DropReason::ALL {
            let _ = writeln!(s, "xvs_drops_total{{worker=\"{id}\",reason=\"{}\"}} {}", r.name(), c.drops[*r as usize]);
        }
    }
    s
}

/// Serve `GET /metrics` on `addr` (loopback only) until `stop` is set.
pub fn serve(addr: SocketAddr, dp: Arc<Mutex<Datapath>>, stop: Arc<AtomicBool>) -> Result<std::thread::JoinHandle<()>> {
    if !addr.ip().is_loopback() {
        bail!("the metrics endpoint only listens on loopback addresses (got {addr})");
    }
    let l = TcpListener::bind(addr).with_context(|| format!("binding the metrics endpoint {addr}"))?;
    l.set_nonblocking(true)?;
    Ok(std::thread::Builder::new().name("xvs-metrics".into()).spawn(move || {
        while !stop.load(Ordering::Relaxed) {
            match l.accept() {
                Ok((c, _)) => answer(c, &dp),
                Err(_) => std::thread::sleep(Duration::from_millis(50)),
            }
        }
    })?)
}

fn answer(mut c: TcpStream, dp: &Mutex<Datapath>) {
    let _ = c.set_nonblocking(false);
    let _ = c.set_read_timeout(Some(Duration::from_secs(2)));
    let mut buf = [0u8; 2048];
    let n = c.read(&mut buf).unwrap_or(0);
    let req = String::from_utf8_lossy(&buf[..n]);
    let (status, body) = if req.starts_with("GET /metrics") {
        let d = dp.lock().unwrap_or_else(|p| p.into_inner());
        ("200 OK", render(&d))
    } else {
        ("404 Not Found", "try /metrics\n".to_string())
    };
    let _ = write!(
        c,
        "HTTP/1.1 {status}\r\nContent-Type: text/plain; version=0.0.4\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
}
