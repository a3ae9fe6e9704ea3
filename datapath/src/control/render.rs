//! Text output of `show`, `dump-ports`, `pmd-stats` and `dump-megaflows`.

use std::fmt::Write;

use anyhow::{anyhow, Result};

use crate::daemon::Datapath;
use crate::ofproto::PortKind;
use crate::pmd::stats::DropReason;
use crate::pmd::worker::MegaflowDump;

/// Like `ovs-vsctl show`, plus what only a datapath knows (dp port, XDP mode, queues).
pub fn show(dp: &Datapath) -> String {
    let mut s = String::new();
    for b in dp.ofproto.bridges.values() {
        let _ = writeln!(s, "Bridge {}", b.name);
        if b.fail_secure {
            let _ = writeln!(s, "    fail_mode: secure");
        }
        for p in b.ports.values() {
            let _ = writeln!(s, "    Port {}", p.name);
            if let Some(t) = p.tag {
                let _ = writeln!(s, "        tag: {t}");
            }
            if !p.trunks.is_empty() {
                let _ = writeln!(s, "        trunks: {:?}", p.trunks);
            }
            if let Some(m) = p.vlan_mode {
                let _ = writeln!(s, "        vlan_mode: {}", m.name());
            }
            let _ = writeln!(s, "        Interface {}", p.name);
            match &p.kind {
                PortKind::Afxdp => {
                    let _ = writeln!(s, "            type: afxdp");
                    let _ = writeln!(s, "            ofport: {}", p.ofport);
                    if let Some(i) = p.dp_port.and_then(|d| dp.inactive.get(&d)) {
                        let _ = writeln!(s, "            error: \"{}\" (retried every 5s)", i.error);
                    }
                    if let Some(d) = p.dp_port.and_then(|d| dp.ports.get(&d)) {
                        let zc = d.queues.iter().any(|q| q.2);
                        let _ = writeln!(
                            s,
                            "            status: {{xdp-mode={}, queues={}, zero-copy={}, dp_port={}, steer=\"{}\"}}",
                            d.xdp.mode.as_str(),
                            d.queues.len(),
                            zc,
                            d.dp_port,
                            d.xdp.steering.describe()
                        );
                    }
                }
                kind => {
                    let _ = writeln!(s, "            type: {}", kind.type_name());
                    let _ = writeln!(s, "            ofport: {}", p.ofport);
                    let o = kind.options();
                    if !o.is_empty() {
                        let o: Vec<String> = o.iter().map(|(k, v)| format!("{k}={v}")).collect();
                        let _ = writeln!(s, "            options: {{{}}}", o.join(", "));
                    }
                    if let Some(d) = p.dp_port.filter(|_| kind.is_tunnel()) {
                        let _ = writeln!(s, "            dp_port: {d}");
                    }
                }
            }
        }
    }
    s
}

/// Like `ovs-ofctl dump-ports`, counters summed over workers.
pub fn dump_ports(dp: &Datapath, br: Option<&str>, port: Option<&str>) -> Result<String> {
    let bridges: Vec<_> = match br {
        Some(name) => vec![dp.ofproto.bridge(name)?],
        None => dp.ofproto.bridges.values().collect(),
    };
    let mut s = String::new();
    for b in bridges {
        let ports: Vec<_> = b.ports.values().filter(|p| port.is_none_or(|n| p.name == n)).collect();
        if let Some(n) = port {
            if ports.is_empty() {
                return Err(anyhow!("bridge {} has no port named {n}", b.name));
            }
        }
        let _ = writeln!(s, "{}: {} ports", b.name, ports.len());
        for p in ports {
            let Some(d) = p.dp_port else {
                let _ = writeln!(s, "  port {:>2} ({}): patch, no datapath counters", p.ofport, p.name);
                continue;
            };
            let c = dp.port_counters(d);
            let _ = writeln!(
                s,
                "  port {:>2} ({}): rx pkts={}, bytes={}, drop={}\n           tx pkts={}, bytes={}, drop={}",
                p.ofport, p.name, c.rx_packets, c.rx_bytes, c.rx_dropped, c.tx_packets, c.tx_bytes, c.tx_dropped
            );
            if let Some(port) = dp.ports.get(&d) {
                let _ = writeln!(
                    s,
                    "           xdp: mode={} queues={} passed_to_kernel={}",
                    port.xdp.mode.as_str(),
                    port.queues.len(),
                    port.xdp.passed()
                );
            }
        }
    }
    Ok(s)
}

/// Per-worker counters, like `ovs-appctl dpif-netdev/pmd-stats-show`.
pub fn pmd_stats(dp: &Datapath) -> String {
    let mut s = String::new();
    for w in &dp.workers {
        let c = w.shared.stats.pmd();
        let cpu = w.shared.cpu.map(|c| c.to_string()).unwrap_or_else(|| "unpinned".into());
        let lookups = c.port_hits + c.emc_hits + c.megaflow_hits + c.misses;
        let per = |n: u64, d: u64| if d == 0 { 0.0 } else { n as f64 / d as f64 };
        let to_ns = crate::pmd::tsc::to_ns;
        let total_ticks = c.busy_ticks + c.idle_ticks;
        let _ = writeln!(s, "pmd worker {} (cpu {cpu}):", w.shared.id);
        let _ = writeln!(s, "  packets received: {}", c.packets);
        let _ = writeln!(s, "  batches: {} (avg {:.1} packets/batch)", c.batches, per(c.packets, c.batches));
        let _ = writeln!(s, "  in_port-only megaflow hits: {} ({:.1}%)", c.port_hits, 100.0 * per(c.port_hits, lookups));
        let _ = writeln!(s, "  emc hits: {} ({:.1}%)", c.emc_hits, 100.0 * per(c.emc_hits, lookups));
        let _ = writeln!(
            s,
            "  megaflow hits: {} ({:.1}%, avg subtable lookups per megaflow probe: {:.2})",
            c.megaflow_hits,
            100.0 * per(c.megaflow_hits, lookups),
            per(c.subtable_probes, c.megaflow_hits + c.misses)
        );
        let _ = writeln!(s, "  misses (upcalls): {} (avg {:.1} us per upcall)", c.misses, per(to_ns(c.upcall_ticks), c.misses) / 1000.0);
        let _ = writeln!(
            s,
            "  revalidation: {} megaflows re-translated ({} removed, avg {:.1} us, {:.3} ms in all), {} marked by changed MACs, {} full revalidations ({} change-log overruns)",
            c.revalidated,
            c.revalidation_removed,
            per(to_ns(c.reval_ticks), c.revalidated) / 1000.0,
            to_ns(c.reval_ticks) as f64 / 1e6,
            c.reval_marked,
            c.reval_full,
            c.reval_overruns
        );
        let _ = writeln!(s, "  megaflows: {}", w.shared.stats.megaflows.load(std::sync::atomic::Ordering::Relaxed));
        let _ = writeln!(
            s,
            "  busy: {:.1}% of {:.3}s, {:.0} cycles ({:.1} ns) per packet (processing incl. rx/tx syscalls)",
            100.0 * per(c.busy_ticks, total_ticks),
            to_ns(total_ticks) as f64 / 1e9,
            per(c.busy_ticks, c.packets),
            per(to_ns(c.busy_ticks), c.packets)
        );
        let _ = writeln!(s, "  idle sleeps: {}", c.sleeps);
        let free = w.shared.stats.frames_free.load(std::sync::atomic::Ordering::Relaxed);
        let held = w.shared.stats.frames_in_kernel.load(std::sync::atomic::Ordering::Relaxed);
        let total = w.shared.stats.frames_total.load(std::sync::atomic::Ordering::Relaxed);
        let _ = writeln!(s, "  umem frames: {free} free, {held} on kernel rings, {total} total");
        let drops: Vec<String> = DropReason::ALL
            .iter()
            .filter(|r| c.drops[**r as usize] > 0)
            .map(|r| format!("{}={}", r.name(), c.drops[*r as usize]))
            .collect();
        let _ = writeln!(s, "  drops: {}", if drops.is_empty() { "none".to_string() } else { drops.join(", ") });
    }
    s
}

/// Like `ovs-appctl dpctl/dump-flows`.
pub fn megaflows(v: &[MegaflowDump]) -> String {
    let mut s = String::new();
    for m in v {
        let key = if m.key.is_empty() { "<all>".to_string() } else { m.key.clone() };
        let _ = writeln!(
            s,
            "worker {}: {key}, packets:{}, bytes:{}, used:{:.3}s, actions:{}",
            m.worker, m.packets, m.bytes, m.used_secs, m.actions
        );
    }
    s
}

/// `tnl-route-show`: the routes native tunneling uses (Open vSwitch's ovs/route/show).
pub fn tnl_routes(dp: &Datapath) -> String {
    let t = dp.ofproto.net.routes.load();
    let mut s = String::from("Route Table:\n");
    for r in &t.routes {
        let gw = r.gateway.map(|g| format!(" gw {g}")).unwrap_or_default();
        let src = r.src.map(|x| format!(" SRC {x}")).unwrap_or_default();
        let _ = writeln!(s, "Cached: {}/{} dev {}{gw}{src}", r.dst, r.plen, r.dev);
    }
    for (dev, ip, plen) in &t.addrs {
        let _ = writeln!(s, "Address: {ip}/{plen} dev {dev}");
    }
    s
}

/// `tnl-neigh-show`: the neighbour table (Open vSwitch's tnl/neigh/show).
pub fn tnl_neigh(dp: &Datapath) -> String {
    let mut s = format!("{:<24} {:<17} {}\n", "IP", "MAC", "Bridge");
    for (ip, mac, br, age, fixed) in dp.ofproto.net.neigh.dump() {
        let kind = if fixed { " (static)" } else { "" };
        let _ = writeln!(s, "{:<24} {:<17} {br}  age {age}s{kind}", ip.to_string(), crate::flow::key::fmt_mac(mac));
    }
    let _ = writeln!(s, "ARP requests sent: {}, pending: {}, given up: {}", dp.resolver.requests_sent, dp.resolver.pending(), dp.resolver.gave_up);
    s
}

/// `tnl-ports-show`: tunnel ports and the datapath vport each receives on.
pub fn tnl_ports(dp: &Datapath) -> String {
    let mut s = String::new();
    for (v, (d, n)) in &dp.ofproto.vports {
        let name = match v.proto {
            crate::port::TunnelProto::Vxlan => format!("vxlan_sys_{}", v.dst_port),
            crate::port::TunnelProto::Gre => "gre_sys".to_string(),
        };
        let _ = writeln!(s, "{name} (dp_port {d}, {n} port(s)):");
        for b in dp.ofproto.bridges.values() {
            for p in b.ports.values() {
                if let PortKind::Tunnel(t) = &p.kind {
                    if t.vport() == *v {
                        let o: Vec<String> = p.kind.options().iter().map(|(k, v)| format!("{k}={v}")).collect();
                        let _ = writeln!(s, "  {} on {} (ofport {}): {}", p.name, b.name, p.ofport, o.join(", "));
                    }
                }
            }
        }
    }
    s
}
