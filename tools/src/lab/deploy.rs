//! Building a lab on this machine: the underlay namespace with its Linux bridges, one
//! namespace per host with its own xvsd, one per VM, the veths between them, and the
//! bridges, ports and flows of every xvsd. A [`Lab`] owns all of it: dropping it (at the
//! end, on an error half-way, after a signal) stops the daemons and deletes the
//! namespaces and the run directory.

use std::fmt;
use std::path::Path;

use anyhow::{anyhow, bail, Context, Result};

use super::flows;
use super::interrupted;
use super::plan::{self, HostPlan, UPLINK_PHYS, UPLINK_TUN};
use super::rundir::RunDir;
use super::topology::Topology;
use crate::netlab::{sh, Netns, Xvsd};

/// Bridges of the underlay namespace: the tunnel segment and the VLAN physnet.
pub const UNDERLAY_BR: &str = "underlay";
pub const PHYSNET_BR: &str = "physnet";

/// The datapath cannot do what the lab file asks yet (tunnel ports, the br-phy
/// netdev). The lab was torn down; the list says what is missing, per host.
#[derive(Debug)]
pub struct MissingDatapath {
    /// The lab's prefix (its namespaces were `<prefix>-*`; all are gone).
    pub prefix: String,
    pub missing: Vec<String>,
}

impl fmt::Display for MissingDatapath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "this xvsd cannot build the lab's tunnel networks yet:")?;
        for m in &self.missing {
            writeln!(f, "  - {m}")?;
        }
        write!(f, "Everything the lab created was removed. VLAN networks work today (labs/vlan.toml).")
    }
}

impl std::error::Error for MissingDatapath {}

pub struct HostRt {
    pub ns: Netns,
    pub xvsd: Option<Xvsd>,
}

impl HostRt {
    pub fn xvsd(&self) -> &Xvsd {
        self.xvsd.as_ref().expect("xvsd running")
    }
}

pub struct Lab {
    pub topo: Topology,
    pub plans: Vec<HostPlan>,
    pub hosts: Vec<HostRt>,
    /// One namespace per VM, in the topology's order.
    pub vms: Vec<Netns>,
    pub underlay: Option<Netns>,
    pub run: RunDir,
}

impl Drop for Lab {
    fn drop(&mut self) {
        for h in &mut self.hosts {
            if let Some(mut x) = h.xvsd.take() {
                x.stop();
            }
        }
        self.vms.clear();
        self.hosts.clear();
        self.underlay = None;
    }
}

fn ctl(x: &Xvsd, host: &str, args: &[String]) -> Result<String> {
    let a: Vec<&str> = args.iter().map(|s| s.as_str()).collect();
    x.ctl(&a).with_context(|| format!("{host}: xvsctl {}", args.join(" ")))
}

/// Start xvsd inside `ns` with its control socket in `dir` (reachable from the root
/// namespace, since the filesystem is shared).
fn start_xvsd(ns: &Netns, dir: &Path, frames: u32) -> Result<Xvsd> {
    crate::netlab::xvsd_in_netns_with(ns, dir, frames)
}

/// UMEM frames for a host's xvsd: every AF_XDP socket (each bridge's LOCAL port, the
/// uplinks, the VM ports) keeps up to `FILL_TARGET` (512) frames on its fill ring and
/// the pool holds 512 back, and frames on the fill ring of an idle port never come
/// back: with too few frames the ports added last (the VMs') get an empty fill ring
/// and the kernel drops what they receive. Room for all of them and some slack.
pub fn umem_frames(p: &HostPlan) -> u32 {
    let bridges = 1 + 2 * p.has_tunnel as u32 + p.has_vlan as u32;
    let sockets = bridges + p.has_tunnel as u32 + p.has_vlan as u32 + p.vm_ports.len() as u32;
    ((sockets + 1) * 512 + 1024).next_power_of_two().max(4096)
}

/// A veth pair created directly in two namespaces (no name ever exists in the root
/// namespace, so parallel labs cannot collide), both ends up.
fn veth(a_ns: &Netns, a: &str, b_ns: &Netns, b: &str) -> Result<()> {
    sh(&["ip", "link", "add", a, "netns", &a_ns.name, "type", "veth", "peer", "name", b, "netns", &b_ns.name])?;
    a_ns.exec(&["ip", "link", "set", a, "up"])?;
    b_ns.exec(&["ip", "link", "set", b, "up"])?;
    Ok(())
}

impl Lab {
    /// Build everything the topology describes. `say` gets progress lines.
    pub fn build(topo: Topology, say: &mut dyn FnMut(String)) -> Result<Lab> {
        let plans = plan::plan(&topo);
        let run = RunDir::create()?;
        let prefix = run.prefix.clone();
        let mut lab = Lab { topo, plans, hosts: Vec::new(), vms: Vec::new(), underlay: None, run };
        say(format!("lab {prefix}: run directory {}", lab.run.path.display()));

        // The underlay: Linux bridges in a namespace of their own.
        let u = Netns::named(&format!("{prefix}_underlay"))?;
        for br in [UNDERLAY_BR, PHYSNET_BR] {
            u.exec(&["ip", "link", "add", br, "type", "bridge"])?;
            u.exec(&["ip", "link", "set", br, "up"])?;
        }
        lab.underlay = Some(u);
        interrupted()?;

        // Hosts: a namespace, uplinks, an xvsd with its bridges.
        for (h, p) in lab.plans.clone().iter().enumerate() {
            let name = lab.topo.hosts[h].name.clone();
            let ns = Netns::named(&format!("{prefix}-{name}"))?;
            let u = lab.underlay.as_ref().unwrap();
            if p.has_tunnel {
                let wire = format!("t-{name}");
                veth(u, &wire, &ns, UPLINK_TUN)?;
                u.exec(&["ip", "link", "set", &wire, "master", UNDERLAY_BR])?;
            }
            if p.has_vlan {
                let wire = format!("p-{name}");
                veth(u, &wire, &ns, UPLINK_PHYS)?;
                u.exec(&["ip", "link", "set", &wire, "master", PHYSNET_BR])?;
                // AF_XDP sees the bytes of a frame: a VLAN tag kept aside as offload
                // metadata by the sending veth would be invisible to xvsd, so the
                // "switch" puts tags in the frames it sends (as a NIC on a wire does).
                u.exec(&["ethtool", "-K", &wire, "txvlan", "off"])?;
            }
            lab.hosts.push(HostRt { ns, xvsd: None });
            let x = start_xvsd(&lab.hosts[h].ns, &lab.run.host_dir(&name), umem_frames(p)).with_context(|| format!("host {name}"))?;
            lab.hosts[h].xvsd = Some(x);
            for c in p.bridge_commands() {
                ctl(lab.hosts[h].xvsd(), &name, &c)?;
            }
            say(format!("  host {name:<12} netns {:<24} xvsd {}", lab.hosts[h].ns.name, lab.hosts[h].xvsd().socket.display()));
            interrupted()?;
        }

        // Tunnel underlay and tunnel ports: what the datapath may not have yet.
        let mut missing = Vec::new();
        for (h, p) in lab.plans.iter().enumerate() {
            if !p.has_tunnel {
                continue;
            }
            let (hr, host) = (&lab.hosts[h], &lab.topo.hosts[h]);
            let x = hr.xvsd();
            for c in p.underlay_commands() {
                if let Err(e) = ctl(x, &host.name, &c) {
                    missing.push(format!("host {}: `xvsctl {}`: {}", host.name, c.join(" "), e.root_cause()));
                }
            }
            if hr.ns.exec(&["ip", "link", "show", "br-phy"]).is_err() {
                missing.push(format!(
                    "host {}: `add-br br-phy` made no kernel netdev named br-phy (the bridge's LOCAL internal port), \
                     so the underlay address {}/{} has nowhere to live",
                    host.name, host.underlay_ip, lab.topo.underlay.len
                ));
            } else {
                hr.ns.exec(&["ip", "addr", "add", &format!("{}/{}", host.underlay_ip, lab.topo.underlay.len), "dev", "br-phy"])?;
                hr.ns.exec(&["ip", "link", "set", "br-phy", "up"])?;
            }
            let mut failed = 0;
            for c in p.tunnel_commands() {
                if let Err(e) = ctl(x, &host.name, &c) {
                    if failed == 0 {
                        missing.push(format!("host {}: tunnel port not accepted: `xvsctl {}`: {}", host.name, c.join(" "), e.root_cause()));
                    }
                    failed += 1;
                }
            }
            if failed > 1 {
                missing.push(format!("host {}: {} more tunnel port(s) failed the same way", host.name, failed - 1));
            }
        }
        if !missing.is_empty() {
            return Err(anyhow!(MissingDatapath { prefix, missing }));
        }
        interrupted()?;

        // VMs: a namespace each, eth0 inside, its peer a br-int access port on the host.
        for (i, vm) in lab.topo.vms.clone().iter().enumerate() {
            let ns = Netns::named(&format!("{prefix}-{}", vm.name))?;
            let net = &lab.topo.networks[vm.network];
            let p = &lab.plans[vm.host];
            let vp = p.vm_ports.iter().find(|vp| vp.vm == i).expect("planned port");
            let hr = &lab.hosts[vm.host];
            veth(&hr.ns, &vp.port, &ns, "eth0")?;
            ns.exec(&["ip", "link", "set", "eth0", "down"])?;
            ns.exec(&["ip", "link", "set", "eth0", "address", &vm.mac_str()])?;
            ns.exec(&["ip", "addr", "add", &format!("{}/{}", vm.ip, net.cidr.len), "dev", "eth0"])?;
            ns.exec(&["ip", "link", "set", "eth0", "up"])?;
            // Complete checksums: AF_XDP moves bytes, it does not finish offloaded ones.
            ns.exec(&["ethtool", "-K", "eth0", "tx", "off"])?;
            match net.gateway {
                Some(gw) => ns.exec(&["ip", "route", "add", "default", "via", &gw.to_string()])?,
                None => ns.exec(&["ip", "route", "add", "default", "dev", "eth0"])?,
            };
            ctl(hr.xvsd(), &lab.topo.hosts[vm.host].name, &p.vm_port_command(vp))?;
            lab.vms.push(ns);
            interrupted()?;
        }

        // Flows, as the agent installs them.
        for (h, p) in lab.plans.iter().enumerate() {
            let x = lab.hosts[h].xvsd();
            let name = &lab.topo.hosts[h].name;
            let mut sets = vec![("br-int", flows::br_int(&lab.topo, p))];
            if p.has_vlan {
                sets.push(("br-phys", flows::br_phys(&lab.topo, p)));
            }
            if p.has_tunnel {
                sets.push(("br-tun", flows::br_tun(&lab.topo, p)));
            }
            for (br, text) in sets {
                x.ctl_input(&["add-flows", br], Some(&text)).with_context(|| format!("{name}: add-flows {br}"))?;
            }
        }
        Ok(lab)
    }

    pub fn prefix(&self) -> &str {
        &self.run.prefix
    }

    pub fn vm_index(&self, name: &str) -> Option<usize> {
        self.topo.vms.iter().position(|v| v.name == name)
    }

    /// The bridges a host has, in the order the report shows them.
    pub fn bridges(&self, h: usize) -> Vec<&'static str> {
        let p = &self.plans[h];
        let mut v = vec!["br-int"];
        if p.has_tunnel {
            v.push("br-tun");
            v.push("br-phy");
        }
        if p.has_vlan {
            v.push("br-phys");
        }
        v
    }
}

/// Running commands in a built lab, by the names the lab file uses (for tests and
/// exploration): `"underlay"`, a host's name, or a VM's name.
impl Lab {
    pub fn host_index(&self, name: &str) -> Option<usize> {
        self.topo.hosts.iter().position(|h| h.name == name)
    }

    /// The underlay namespace (the Linux bridges `underlay` and `physnet`).
    pub fn underlay_ns(&self) -> &Netns {
        self.underlay.as_ref().expect("lab has an underlay")
    }

    /// The namespace called `name` in the lab file: `"underlay"`, a host or a VM.
    pub fn ns(&self, name: &str) -> Result<&Netns> {
        if name == "underlay" {
            return Ok(self.underlay_ns());
        }
        if let Some(h) = self.host_index(name) {
            return Ok(&self.hosts[h].ns);
        }
        if let Some(v) = self.vm_index(name) {
            return Ok(&self.vms[v]);
        }
        bail!("lab {} has no host or VM named '{name}'", self.prefix())
    }

    /// Run a command in namespace `name` (see [`Lab::ns`]); Err with its stderr if it fails.
    pub fn exec(&self, name: &str, args: &[&str]) -> Result<String> {
        self.ns(name)?.exec(args)
    }

    /// `xvsctl ARGS` against host `host`'s xvsd.
    pub fn xvsctl(&self, host: &str, args: &[&str]) -> Result<String> {
        let h = self.host_index(host).ok_or_else(|| anyhow!("lab {} has no host named '{host}'", self.prefix()))?;
        self.hosts[h].xvsd().ctl(args).with_context(|| format!("{host}: xvsctl {}", args.join(" ")))
    }

    /// The underlay namespace's end of host `host`'s tunnel uplink veth (a port of the
    /// `underlay` Linux bridge; its peer is `ul-tun` on the host's br-phy).
    pub fn underlay_wire(&self, host: &str) -> String {
        format!("t-{host}")
    }

    /// The MAC address of interface `dev` in namespace `ns`.
    pub fn mac_of(&self, ns: &str, dev: &str) -> Result<[u8; 6]> {
        let out = self.exec(ns, &["cat", &format!("/sys/class/net/{dev}/address")])?;
        parse_mac(out.trim()).ok_or_else(|| anyhow!("{ns}: {dev} has no MAC address ({out})"))
    }
}

/// "aa:bb:cc:dd:ee:ff" -> bytes.
pub fn parse_mac(s: &str) -> Option<[u8; 6]> {
    let v: Vec<u8> = s.split(':').map(|x| u8::from_str_radix(x, 16)).collect::<Result<_, _>>().ok()?;
    v.try_into().ok()
}

/// The drop counters in `xvsctl pmd-stats` output (`drops: reason=N, ...`), summed
/// over the workers.
pub fn parse_drops(pmd_stats: &str) -> std::collections::BTreeMap<String, u64> {
    let mut m = std::collections::BTreeMap::new();
    for l in pmd_stats.lines() {
        let Some(rest) = l.trim().strip_prefix("drops:") else { continue };
        for item in rest.split(',') {
            if let Some((k, v)) = item.trim().split_once('=') {
                *m.entry(k.to_string()).or_insert(0) += v.trim().parse::<u64>().unwrap_or(0);
            }
        }
    }
    m
}

impl Lab {
    /// Host `host`'s drop counters by reason (see [`parse_drops`]).
    pub fn drops(&self, host: &str) -> Result<std::collections::BTreeMap<String, u64>> {
        Ok(parse_drops(&self.xvsctl(host, &["pmd-stats"])?))
    }
}
