//! Traffic checks on a built lab: pings between every pair of VMs of a network (across
//! hosts too), isolation between networks (also when their addresses overlap), a TCP
//! transfer with a checksum compared on both sides, ARP anti-spoofing, and optionally a
//! burst of generated traffic.

use std::process::{Command, Stdio};
use std::time::Duration;

use anyhow::{Context, Result};

use super::deploy::Lab;
use super::interrupted;
use crate::netlab::{rule_counters, wait_for};

/// The result of one check.
#[derive(Debug, Clone)]
pub struct Check {
    pub name: String,
    pub ok: bool,
    pub detail: String,
}

/// The MAC `ns` resolved for `ip`, if any.
fn neighbour(lab: &Lab, vm: usize, ip: &str) -> Option<String> {
    let out = lab.vms[vm].exec(&["ip", "neigh", "show", ip, "dev", "eth0"]).ok()?;
    let mut it = out.split_whitespace();
    it.find(|w| *w == "lladdr")?;
    it.next().map(|s| s.to_string())
}

fn host_of(lab: &Lab, vm: usize) -> &str {
    &lab.topo.hosts[lab.topo.vms[vm].host].name
}

/// Ping between every pair of VMs on the same network (one direction per pair: the
/// replies cover the other).
pub fn connectivity(lab: &Lab, say: &mut dyn FnMut(String)) -> Result<Vec<Check>> {
    let t = &lab.topo;
    let mut out = Vec::new();
    for (n, net) in t.networks.iter().enumerate() {
        let vms: Vec<usize> = t.vms_on(n).map(|(i, _)| i).collect();
        for (k, &a) in vms.iter().enumerate() {
            for &b in &vms[k + 1..] {
                interrupted()?;
                let (va, vb) = (&t.vms[a], &t.vms[b]);
                let got = lab.vms[a].ping(&vb.ip.to_string(), 3, 0.2)?;
                let name = format!("ping {} -> {} ({}, {} {} {})", va.name, vb.name, vb.ip, net.name, net.kind.as_str(), net.seg);
                let detail = format!("{}/3 replies, {} -> {}", got, host_of(lab, a), host_of(lab, b));
                say(format!("  {name}: {detail}"));
                out.push(Check { name, ok: got >= 2, detail });
            }
        }
    }
    Ok(out)
}

/// VMs of different networks must not reach each other. The sender gets an on-link
/// route to the other VM's address (so the ping is an ARP on its own segment, which
/// would be answered if the networks leaked into each other); when the sender's own
/// network has a VM with that address (overlapping ranges), the ping must be answered
/// by that VM, never by the other network's.
pub fn isolation(lab: &Lab, say: &mut dyn FnMut(String)) -> Result<Vec<Check>> {
    let t = &lab.topo;
    let mut out = Vec::new();
    for a in 0..t.vms.len() {
        for b in a + 1..t.vms.len() {
            let (va, vb) = (&t.vms[a], &t.vms[b]);
            if va.network == vb.network {
                continue;
            }
            interrupted()?;
            let ip = vb.ip.to_string();
            if va.ip == vb.ip {
                // The sender has that address itself: a ping would never leave it.
                say(format!("  ({} and {} share {ip}: nothing to ping between them)", va.name, vb.name));
                continue;
            }
            let twin = t.vms.iter().find(|v| v.network == va.network && v.ip == vb.ip);
            let name = format!("isolation {} ({}) -/-> {} ({})", va.name, t.networks[va.network].name, vb.name, t.networks[vb.network].name);
            let check = match twin {
                Some(twin) => {
                    let got = lab.vms[a].ping(&ip, 2, 0.2)?;
                    let mac = neighbour(lab, a, &ip).unwrap_or_default();
                    let ok = got >= 1 && mac == twin.mac_str();
                    let detail = format!("{ip} is also {} on the same network: {got}/2 replies, answered by {mac} ({} is {})", twin.name, vb.name, vb.mac_str());
                    Check { name, ok, detail }
                }
                None => {
                    let (na, nb) = (&lab.vms[a], &lab.vms[b]);
                    let (ra, rb) = (format!("{}/32", vb.ip), format!("{}/32", va.ip));
                    na.exec(&["ip", "route", "replace", &ra, "dev", "eth0"])?;
                    nb.exec(&["ip", "route", "replace", &rb, "dev", "eth0"])?;
                    let got = na.ping(&ip, 2, 0.2);
                    let _ = na.exec(&["ip", "route", "del", &ra, "dev", "eth0"]);
                    let _ = nb.exec(&["ip", "route", "del", &rb, "dev", "eth0"]);
                    let got = got?;
                    Check { name, ok: got == 0, detail: format!("{got}/2 replies from {ip} (on-link)") }
                }
            };
            say(format!("  {}: {}{}", check.name, check.detail, if check.ok { "" } else { "  <-- LEAK" }));
            out.push(check);
        }
    }
    Ok(out)
}

/// Two VMs of one network on different hosts (the first such pair), if any.
pub fn cross_host_pair(lab: &Lab) -> Option<(usize, usize)> {
    let t = &lab.topo;
    for n in 0..t.networks.len() {
        let vms: Vec<usize> = t.vms_on(n).map(|(i, _)| i).collect();
        for &a in &vms {
            if let Some(&b) = vms.iter().find(|&&b| t.vms[b].host != t.vms[a].host) {
                return Some((a, b));
            }
        }
    }
    None
}

/// Send `bytes` over TCP from VM `a` to VM `b`; both sides print size and SHA-256.
pub fn tcp(lab: &Lab, a: usize, b: usize, bytes: usize, say: &mut dyn FnMut(String)) -> Result<Check> {
    let t = &lab.topo;
    let (va, vb) = (&t.vms[a], &t.vms[b]);
    let timeouts = crate::netlab::TcpTimeouts { accept: 20, io: 20, total: 30, retry: 0.1 };
    let r = crate::netlab::tcp_transfer(&lab.vms[a], &lab.vms[b], &vb.ip.to_string(), 5001, bytes, timeouts)
        .with_context(|| format!("TCP to {}", vb.name))?;
    let ok = r.ok();
    let name = format!("tcp {} -> {} ({} -> {}), {} bytes", va.name, vb.name, host_of(lab, a), host_of(lab, b), bytes);
    let detail = if ok {
        format!("sha256 {} on both sides", r.sha256())
    } else {
        format!("sent [{}] received [{}] {}", r.sent, r.received, r.client_stderr)
    };
    say(format!("  {name}: {detail}"));
    Ok(Check { name, ok, detail })
}

/// A VM sends ARPs claiming a neighbour's address: br-int table 24 must drop them.
pub fn spoof(lab: &Lab, say: &mut dyn FnMut(String)) -> Result<Option<Check>> {
    let t = &lab.topo;
    let Some((a, b)) = (0..t.vms.len()).find_map(|a| (0..t.vms.len()).find(|&b| b != a && t.vms[b].network == t.vms[a].network).map(|b| (a, b))) else {
        return Ok(None);
    };
    let (va, vb) = (&t.vms[a], &t.vms[b]);
    let x = lab.hosts[va.host].xvsd();
    let count = || -> u64 {
        x.ctl(&["dump-flows", "br-int", "table=24,priority=0"]).ok().and_then(|d| rule_counters(&d, "priority=0")).map_or(0, |c| c.0)
    };
    let before = count();
    let mut f = vec![0xffu8; 6];
    f.extend(va.mac);
    f.extend([0x08, 0x06, 0, 1, 8, 0, 6, 4, 0, 1]);
    f.extend(va.mac);
    f.extend(vb.ip.octets());
    f.extend([0; 6]);
    f.extend(vb.ip.octets());
    let hex = f.iter().map(|b| format!("{b:02x}")).collect::<String>();
    let py = format!(
        "import socket\ns=socket.socket(socket.AF_PACKET,socket.SOCK_RAW)\ns.bind(('eth0',0))\nfor i in range(3):\n    s.send(bytes.fromhex('{hex}'))\n"
    );
    lab.vms[a].exec(&["python3", "-c", &py])?;
    let mut n = 0;
    wait_for(Duration::from_secs(2), || {
        n = count().saturating_sub(before);
        n >= 3
    });
    let name = format!("arp spoofing {} claims {} ({})", va.name, vb.ip, vb.name);
    let detail = format!("br-int table 24 drop rule counted {n} of 3 ARPs");
    say(format!("  {name}: {detail}"));
    Ok(Some(Check { name, ok: n >= 3, detail }))
}

/// A burst from VM `a` to VM `b` with xvs-pktgen (AF_XDP in both namespaces), paced at
/// `rate` packets per second: the switches, the generator and the sink share the CPUs.
pub fn burst(lab: &Lab, a: usize, b: usize, seconds: u32, say: &mut dyn FnMut(String)) -> Result<Check> {
    let (flows, rate) = (100u32, 100_000u64);
    let pktgen = crate::netlab::bin_dir().join("xvs-pktgen");
    let (va, vb) = (&lab.topo.vms[a], &lab.topo.vms[b]);
    let mut sink = Command::new("ip")
        .args(["netns", "exec", &lab.vms[b].name])
        .arg(&pktgen)
        .args(["rx", "--dev", "eth0", "--seconds", &(seconds + 3).to_string(), "--flows", &flows.to_string(), "--json"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()?;
    std::thread::sleep(Duration::from_millis(1000));
    let tx = Command::new("ip")
        .args(["netns", "exec", &lab.vms[a].name])
        .arg(&pktgen)
        .args(["tx", "--dev", "eth0", "--src-mac", &va.mac_str(), "--dst-mac", &vb.mac_str()])
        .args(["--src-ip", &va.ip.to_string(), "--dst-ip", &vb.ip.to_string()])
        .args(["--flows", &flows.to_string(), "--seconds", &seconds.to_string(), "--rate", &rate.to_string(), "--json"])
        .output()?;
    let _ = wait_for(Duration::from_secs(seconds as u64 + 6), || matches!(sink.try_wait(), Ok(Some(_))));
    let _ = sink.kill();
    let rx = sink.wait_with_output()?;
    let name = format!("burst {} -> {}, {flows} UDP flows, {seconds}s at {rate} pps", va.name, vb.name);
    if !tx.status.success() {
        let detail = format!("xvs-pktgen tx failed: {}", String::from_utf8_lossy(&tx.stderr).trim());
        say(format!("  {name}: {detail}"));
        return Ok(Check { name, ok: false, detail });
    }
    let txj: serde_json::Value = serde_json::from_slice(&tx.stdout).unwrap_or(serde_json::Value::Null);
    let rxj: serde_json::Value = serde_json::from_slice(&rx.stdout).unwrap_or(serde_json::Value::Null);
    let detail = format!(
        "sent {} ({:.3} Mpps), received {} valid, lost {}",
        txj["packets"],
        txj["mpps"].as_f64().unwrap_or(0.0),
        rxj["valid"],
        rxj["lost"]
    );
    say(format!("  {name}: {detail}"));
    Ok(Check { name, ok: true, detail })
}
