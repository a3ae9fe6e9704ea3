//! xvs-lab: a Neutron ML2/OVS deployment in network namespaces, read from a TOML file.
//!
//! ```text
//!   vm --eth0~tap<vm>--+ br-int ==patch== br-tun (vxlan-/gre- tunnel ports)
//!                      |   \\==patch== br-phys -- ul-phys ~~ physnet  (Linux bridge)
//!                      |               br-phy  -- ul-tun  ~~ underlay (Linux bridge)
//!   one namespace per host, its own xvsd inside; one per VM; the two Linux bridges
//!   in the underlay namespace
//! ```
//! The file says what exists (see `labs/*.toml` and [`spec`]); [`topology`] checks it,
//! [`plan`] derives per-host local VLANs, port numbers and tunnel ports, [`flows`]
//! writes the Neutron agent's flows, [`deploy`] builds it all (and removes it on drop),
//! [`checks`] sends traffic, [`report`] prints the switches' counters, [`rundir`]
//! keeps track of what a lab made (and cleans up after a killed one).

pub mod capture;
pub mod checks;
pub mod deploy;
pub mod flows;
pub mod plan;
pub mod report;
pub mod rundir;
pub mod spec;
pub mod topology;

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use anyhow::{bail, Context, Result};

pub use checks::Check;
pub use deploy::{Lab, MissingDatapath};
pub use topology::{SpecError, Topology};

/// The lab run without a file: two compute hosts and a network node, a VXLAN and a
/// GRE network.
pub const DEFAULT_LAB: &str = include_str!("../../../labs/default.toml");

/// Bytes sent by the TCP check.
pub const TCP_BYTES: usize = 2 * 1024 * 1024;

static STOP: OnceLock<Arc<AtomicBool>> = OnceLock::new();

/// Catch SIGINT, SIGTERM and SIGHUP: the lab stops after the step under way and removes
/// everything it made.
pub fn install_signal_handlers() -> Result<()> {
    let flag = STOP.get_or_init(|| Arc::new(AtomicBool::new(false))).clone();
    for sig in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM, signal_hook::consts::SIGHUP] {
        signal_hook::flag::register(sig, flag.clone())?;
    }
    Ok(())
}

pub fn stop_requested() -> bool {
    STOP.get().is_some_and(|f| f.load(Ordering::Relaxed))
}

/// Err if a signal asked the lab to stop.
pub fn interrupted() -> Result<()> {
    if stop_requested() {
        bail!("interrupted by a signal");
    }
    Ok(())
}

/// Read a lab file (`None`: the embedded default).
pub fn load(path: Option<&Path>) -> Result<Topology> {
    match path {
        None => Ok(Topology::parse(DEFAULT_LAB, "default lab (labs/default.toml)")?),
        Some(p) => {
            let text = std::fs::read_to_string(p).with_context(|| format!("reading {}", p.display()))?;
            Ok(Topology::parse(&text, &p.display().to_string())?)
        }
    }
}

#[derive(Debug, Clone, Default)]
pub struct Options {
    /// Seconds of generated traffic (xvs-pktgen); 0 skips it.
    pub burst: u32,
    /// Leave the lab up after the checks until a signal.
    pub keep: bool,
}

/// What a lab run found.
#[derive(Debug, Clone)]
pub struct Outcome {
    pub prefix: String,
    pub checks: Vec<Check>,
    pub report: String,
}

impl Outcome {
    pub fn failed(&self) -> Vec<&Check> {
        self.checks.iter().filter(|c| !c.ok).collect()
    }
}

/// Build the lab, run the checks, print the report, tear it all down. Errors are
/// setup failures (including [`MissingDatapath`]); failed checks are in the outcome.
pub fn run(topo: Topology, opts: &Options) -> Result<Outcome> {
    install_signal_handlers()?;
    let mut report = String::new();
    let mut say = |s: String| {
        println!("{s}");
        report.push_str(&s);
        report.push('\n');
    };
    let t = &topo;
    say(format!(
        "== xvs lab: {} host(s), {} network(s) [{}], {} VM(s) ==",
        t.hosts.len(),
        t.networks.len(),
        t.networks.iter().map(|n| format!("{} {} {} {}", n.name, n.kind.as_str(), n.seg, n.cidr)).collect::<Vec<_>>().join(", "),
        t.vms.len()
    ));
    let lab = Lab::build(topo, &mut say)?;
    let prefix = lab.prefix().to_string();
    let mut checks = Vec::new();
    say("\n== connectivity ==".into());
    checks.extend(checks::connectivity(&lab, &mut say)?);
    say("\n== isolation ==".into());
    checks.extend(checks::isolation(&lab, &mut say)?);
    say("\n== tcp, anti-spoofing ==".into());
    let pair = checks::cross_host_pair(&lab);
    match pair {
        Some((a, b)) => checks.push(checks::tcp(&lab, a, b, TCP_BYTES, &mut say)?),
        None => say("  (no two VMs of one network on different hosts: no TCP check)".into()),
    }
    checks.extend(checks::spoof(&lab, &mut say)?);
    if let (true, Some((a, b))) = (opts.burst > 0, pair) {
        interrupted()?;
        checks.push(checks::burst(&lab, a, b, opts.burst, &mut say)?);
    }
    say(report::summary(&lab));
    let failed = checks.iter().filter(|c| !c.ok).count();
    say(format!("\n== {} checks, {} failed ==", checks.len(), failed));
    if opts.keep {
        println!("\nThe lab stays up; explore it with e.g.");
        for (h, host) in lab.topo.hosts.iter().enumerate() {
            println!("  xvsctl --socket {} dump-flows br-int    # {}", lab.hosts[h].xvsd().socket.display(), host.name);
        }
        if let Some(v) = lab.topo.vms.first() {
            println!("  ip netns exec {} ping ...              # {}", lab.vms[0].name, v.name);
        }
        println!("Ctrl-C (or SIGTERM/SIGHUP) tears it down.");
        while !stop_requested() {
            std::thread::sleep(Duration::from_millis(200));
        }
    }
    drop(lab);
    Ok(Outcome { prefix, checks, report })
}

/// Build the lab a topology describes and hand it over (progress lines go to stdout):
/// run commands in it with [`Lab::exec`] and [`Lab::xvsctl`], traffic checks from
/// [`checks`]; dropping it (also while a test panics) stops every xvsd and removes the
/// namespaces, veths and run directory.
pub fn build(topo: Topology) -> Result<Lab> {
    Lab::build(topo, &mut |s: String| println!("{s}"))
}

/// Print the plan (local VLANs, control commands, flows) without building anything.
pub fn dry_run(topo: &Topology) -> String {
    let mut out = String::new();
    for p in plan::plan(topo) {
        let h = &topo.hosts[p.host];
        out.push_str(&format!("== {} ({:?}, underlay {}) ==\n", h.name, h.role, h.underlay_ip));
        for (n, l) in &p.lvids {
            out.push_str(&format!("# network {} -> local VLAN {l}\n", topo.networks[*n].name));
        }
        let mut cmds = p.bridge_commands();
        cmds.extend(p.underlay_commands());
        cmds.extend(p.tunnel_commands());
        cmds.extend(p.vm_ports.iter().map(|v| p.vm_port_command(v)));
        for c in cmds {
            out.push_str(&format!("xvsctl {}\n", c.join(" ")));
        }
        let mut sets = vec![("br-int", flows::br_int(topo, &p))];
        if p.has_vlan {
            sets.push(("br-phys", flows::br_phys(topo, &p)));
        }
        if p.has_tunnel {
            sets.push(("br-tun", flows::br_tun(topo, &p)));
        }
        for (br, f) in sets {
            out.push_str(&format!("xvsctl add-flows {br} - <<EOF\n{f}EOF\n"));
        }
    }
    out
}

#[cfg(test)]
mod tests;
