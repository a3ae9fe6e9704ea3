//! The default lab: a small Neutron ML2/OVS deployment with VLAN tenant networks,
//! built from network namespaces and one xvsd per host.
//!
//! ```text
//!            compute1 (xvsd)              compute2 (xvsd)            network (xvsd)
//!   vm-a1 --+ br-int                vm-a2 --+ br-int              qrouter --+ br-int
//!   vm-b1 --+   | patch             vm-b2 --+   | patch        (qr-a, qr-b)  | patch
//!             br-phys                       br-phys                       br-phys
//!               |  uplink                     |  uplink                     | uplink
//!               +-------------------- physnet (a plain L2 switch) ----------+
//! ```
//! Network A is VLAN 101 on the wire, network B VLAN 102. Every host maps them to its
//! own local VLANs (they differ between hosts on purpose) with the flows the Neutron
//! OVS agent installs: br-int table 0 translates the wire VLAN to the local one coming
//! in from br-phys, br-phys table 0 translates back going out; VM ports are access
//! ports tagged with the local VLAN, guarded by the agent's ARP/MAC anti-spoofing
//! tables 24 and 25; table 60 hands everything else to NORMAL. The router is a
//! namespace on the network node (the legacy L3 agent's qrouter), so traffic between
//! the two networks crosses hosts twice.

use std::fmt::Write as _;
use std::process::Command;
use std::time::Duration;

use anyhow::{bail, Context, Result};

use crate::netlab::{sh_quiet, unique, veth_into, wait_for, Netns, Vm, Xvsd};

pub const VLAN_A: u16 = 101;
pub const VLAN_B: u16 = 102;

/// Ofports used by the agent-style flows.
const INT_PATCH: u32 = 1; // int-br-phys on br-int
const PHY_PATCH: u32 = 1; // phy-br-phys on br-phys
const UPLINK: u32 = 2; // the physical NIC on br-phys

pub struct Host {
    pub name: &'static str,
    pub xvsd: Xvsd,
    /// Local VLAN ids of networks A and B on this host.
    pub lvid: (u16, u16),
    pub uplink: String,
}

pub struct VmPort {
    pub vm: Vm,
    pub name: &'static str,
    pub host: usize,
    pub ofport: u32,
}

pub struct Lab {
    pub physnet: Netns,
    pub hosts: Vec<Host>,
    pub vms: Vec<VmPort>,
    pub router: Netns,
    router_ports: Vec<String>,
    pub report: String,
}

impl Drop for Lab {
    fn drop(&mut self) {
        for p in &self.router_ports {
            sh_quiet(&["ip", "link", "del", p]);
        }
        for h in &self.hosts {
            sh_quiet(&["ip", "link", "del", &h.uplink]);
        }
    }
}

fn say(report: &mut String, s: impl AsRef<str>) {
    println!("{}", s.as_ref());
    let _ = writeln!(report, "{}", s.as_ref());
}

/// Flows of br-int as the OVS agent writes them for a host (VLAN networks, ARP/MAC
/// anti-spoofing on VM ports).
fn br_int_flows(lvid: (u16, u16), vms: &[(u32, &str, &str)]) -> String {
    let mut f = String::new();
    let _ = writeln!(f, "table=0,priority=65535,vlan_tci=0x0fff/0x1fff,actions=drop");
    let _ = writeln!(f, "table=0,priority=3,in_port={INT_PATCH},dl_vlan={VLAN_A},actions=mod_vlan_vid:{},resubmit(,60)", lvid.0);
    let _ = writeln!(f, "table=0,priority=3,in_port={INT_PATCH},dl_vlan={VLAN_B},actions=mod_vlan_vid:{},resubmit(,60)", lvid.1);
    let _ = writeln!(f, "table=0,priority=2,in_port={INT_PATCH},actions=drop");
    for (ofport, mac, ip) in vms {
        let _ = writeln!(f, "table=0,priority=10,arp,in_port={ofport},actions=resubmit(,24)");
        let _ = writeln!(f, "table=0,priority=9,in_port={ofport},actions=resubmit(,25)");
        let _ = writeln!(f, "table=24,priority=2,arp,in_port={ofport},arp_spa={ip},actions=resubmit(,25)");
        let _ = writeln!(f, "table=25,priority=2,in_port={ofport},dl_src={mac},actions=resubmit(,60)");
    }
    let _ = writeln!(f, "table=0,priority=0,actions=resubmit(,60)");
    let _ = writeln!(f, "table=23,priority=0,actions=drop");
    let _ = writeln!(f, "table=24,priority=0,actions=drop");
    let _ = writeln!(f, "table=25,priority=0,actions=drop");
    let _ = writeln!(f, "table=60,priority=3,actions=NORMAL");
    f
}

/// Flows of br-phys: local VLAN -> wire VLAN going out, NORMAL otherwise.
fn br_phys_flows(lvid: (u16, u16)) -> String {
    format!(
        "table=0,priority=4,in_port={PHY_PATCH},dl_vlan={},actions=mod_vlan_vid:{VLAN_A},NORMAL\n\
         table=0,priority=4,in_port={PHY_PATCH},dl_vlan={},actions=mod_vlan_vid:{VLAN_B},NORMAL\n\
         table=0,priority=2,in_port={PHY_PATCH},actions=drop\n\
         table=0,priority=0,actions=NORMAL\n",
        lvid.0, lvid.1
    )
}

impl Lab {
    /// Build the deployment. Everything is removed when the `Lab` is dropped.
    pub fn build() -> Result<Lab> {
        let mut report = String::new();
        let physnet = Netns::new("xl-phys-")?;
        physnet.exec(&["ip", "link", "add", "sw0", "type", "bridge"])?;
        physnet.exec(&["ip", "link", "set", "sw0", "up"])?;
        let specs: [(&'static str, (u16, u16)); 3] = [("compute1", (1, 2)), ("compute2", (2, 1)), ("network", (1, 3))];
        let mut hosts = Vec::new();
        for (name, lvid) in specs {
            let xvsd = Xvsd::start(&[]).with_context(|| format!("starting xvsd for {name}"))?;
            let uplink = unique("xlu");
            let wire = format!("up-{name}");
            veth_into(&physnet, &uplink, &wire, &format!("02:fe:00:00:00:{:02x}", hosts.len() + 1), "")?;
            physnet.exec(&["ip", "link", "set", &wire, "master", "sw0"])?;
            // AF_XDP sees the bytes of a frame: a VLAN tag kept aside as offload
            // metadata by the sending veth would be invisible to xvsd, so the "switch"
            // must put tags in the frames it sends (as a real NIC on the wire does).
            physnet.exec(&["ethtool", "-K", &wire, "txvlan", "off"])?;
            let c = |a: &[&str]| xvsd.ctl(a).map(|_| ()).with_context(|| format!("{name}: {}", a.join(" ")));
            c(&["add-br", "br-int", "fail_mode=secure"])?;
            c(&["add-br", "br-phys", "fail_mode=secure"])?;
            c(&["add-port", "br-int", "int-br-phys", "type=patch", "options:peer=phy-br-phys", &format!("ofport={INT_PATCH}")])?;
            c(&["add-port", "br-phys", "phy-br-phys", "type=patch", "options:peer=int-br-phys", &format!("ofport={PHY_PATCH}")])?;
            c(&["add-port", "br-phys", &uplink, &format!("ofport={UPLINK}")])?;
            xvsd.ctl_input(&["add-flows", "br-phys"], Some(&br_phys_flows(lvid)))?;
            hosts.push(Host { name, xvsd, lvid, uplink });
        }
        // VMs: (name, host, network, ip, mac)
        let vm_specs: [(&'static str, usize, char, &str, &str); 4] = [
            ("vm-a1", 0, 'a', "10.1.0.11", "fa:16:3e:00:0a:11"),
            ("vm-b1", 0, 'b', "10.2.0.21", "fa:16:3e:00:0b:21"),
            ("vm-a2", 1, 'a', "10.1.0.12", "fa:16:3e:00:0a:12"),
            ("vm-b2", 1, 'b', "10.2.0.22", "fa:16:3e:00:0b:22"),
        ];
        let mut vms = Vec::new();
        for (i, (name, h, net, ip, mac)) in vm_specs.iter().enumerate() {
            let ns = Netns::new(&format!("xl-{name}-"))?;
            let vm = Vm::in_ns(ns, &unique("xlv"), &format!("{ip}/24"), mac)?;
            let gw = if *net == 'a' { "10.1.0.1" } else { "10.2.0.1" };
            vm.ns.exec(&["ip", "route", "add", "default", "via", gw])?;
            let host = &hosts[*h];
            let tag = if *net == 'a' { host.lvid.0 } else { host.lvid.1 };
            let ofport = 10 + i as u32;
            host.xvsd.ctl(&["add-port", "br-int", &vm.host, &format!("tag={tag}"), &format!("ofport={ofport}")])?;
            vms.push(VmPort { vm, name, host: *h, ofport });
        }
        // The router: one namespace on the network node, a leg in each network.
        let router = Netns::new("xl-qrouter-")?;
        router.exec(&["sysctl", "-qw", "net.ipv4.ip_forward=1"])?;
        let net = &hosts[2];
        let mut router_ports = Vec::new();
        for (leg, ip, mac, tag, ofport) in [("qr-a", "10.1.0.1/24", "fa:16:3e:00:01:01", net.lvid.0, 20), ("qr-b", "10.2.0.1/24", "fa:16:3e:00:02:01", net.lvid.1, 21)] {
            let host_end = unique("xlr");
            veth_into(&router, &host_end, leg, mac, ip)?;
            net.xvsd.ctl(&["add-port", "br-int", &host_end, &format!("tag={tag}"), &format!("ofport={ofport}")])?;
            router_ports.push(host_end);
        }
        for (hi, host) in hosts.iter().enumerate() {
            let mine: Vec<(u32, &str, &str)> =
                vms.iter().filter(|v| v.host == hi).map(|v| (v.ofport, v.vm.mac.as_str(), v.vm.ip.as_str())).collect();
            host.xvsd.ctl_input(&["add-flows", "br-int"], Some(&br_int_flows(host.lvid, &mine)))?;
        }
        say(&mut report, "== xvs lab: Neutron ML2/OVS, VLAN tenant networks, legacy router on the network node ==");
        for h in &hosts {
            let vms_here: Vec<String> = vms.iter().filter(|v| hosts[v.host].name == h.name).map(|v| format!("{} ({})", v.name, v.vm.ip)).collect();
            let extra = if h.name == "network" { "qrouter (10.1.0.1, 10.2.0.1)".to_string() } else { vms_here.join(", ") };
            say(&mut report, format!("  {:<9} xvsd {:<40} local VLANs: A={} B={}   {extra}", h.name, h.xvsd.socket.display(), h.lvid.0, h.lvid.1));
        }
        say(&mut report, format!("  wire: network A = VLAN {VLAN_A}, network B = VLAN {VLAN_B}, hosts joined by a Linux bridge in netns {}", physnet.name));
        Ok(Lab { physnet, hosts, vms, router, router_ports, report })
    }

    pub fn vm(&self, name: &str) -> &VmPort {
        self.vms.iter().find(|v| v.name == name).expect("vm exists")
    }

    fn host_of(&self, vm: &str) -> &Host {
        &self.hosts[self.vm(vm).host]
    }

    /// Ping between two VMs; returns replies received.
    pub fn ping(&mut self, from: &str, to: &str, what: &str) -> Result<u32> {
        let dst = self.vm(to).vm.ip.clone();
        let n = self.vm(from).vm.ns.ping(&dst, 5, 0.05)?;
        let line = format!("  ping {from} -> {to} ({dst}), {what}: {n}/5 replies");
        say(&mut self.report, line);
        Ok(n)
    }

    /// ARP claiming another VM's address: the anti-spoofing table must drop it.
    pub fn spoof(&mut self, from: &str, claimed_ip: &str) -> Result<u64> {
        let v = &self.vm(from).vm;
        let mut f = vec![0xffu8; 6];
        let mac: Vec<u8> = v.mac.split(':').map(|x| u8::from_str_radix(x, 16).unwrap()).collect();
        f.extend(&mac);
        f.extend([0x08, 0x06, 0, 1, 8, 0, 6, 4, 0, 1]);
        f.extend(&mac);
        f.extend(claimed_ip.parse::<std::net::Ipv4Addr>()?.octets());
        f.extend([0; 6]);
        f.extend("10.1.0.12".parse::<std::net::Ipv4Addr>()?.octets());
        v.send_raw(&[f.clone(), f.clone(), f])?;
        std::thread::sleep(Duration::from_millis(200));
        let dump = self.host_of(from).xvsd.ctl(&["dump-flows", "br-int", "table=24,priority=0"])?;
        let n = crate::netlab::rule_counters(&dump, "priority=0").map(|c| c.0).unwrap_or(0);
        let line = format!("  {from} sends 3 ARPs claiming {claimed_ip}: br-int table 24 drop rule counted {n} packet(s)");
        say(&mut self.report, line);
        Ok(n)
    }

    /// A burst from one VM to another with xvs-pktgen (AF_XDP in both namespaces), at
    /// `rate` packets per second (three switches, a generator and a sink share the
    /// machine's CPUs, so the lab paces its traffic rather than measure a maximum).
    pub fn burst(&mut self, from: &str, to: &str, seconds: u32, flows: u32, rate: u64) -> Result<()> {
        let pktgen = crate::netlab::bin("xvs-pktgen");
        let (src, dst) = (&self.vm(from).vm, &self.vm(to).vm);
        let mut sink = Command::new("ip")
            .args(["netns", "exec", &dst.ns.name])
            .arg(&pktgen)
            .args(["rx", "--dev", "eth0", "--seconds", &(seconds + 3).to_string(), "--flows", &flows.to_string(), "--json"])
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()?;
        std::thread::sleep(Duration::from_millis(1000));
        let tx = Command::new("ip")
            .args(["netns", "exec", &src.ns.name])
            .arg(&pktgen)
            .args(["tx", "--dev", "eth0", "--src-mac", &src.mac, "--dst-mac", &dst.mac, "--src-ip", &src.ip, "--dst-ip", &dst.ip])
            .args(["--flows", &flows.to_string(), "--seconds", &seconds.to_string(), "--rate", &rate.to_string(), "--json"])
            .output()?;
        let rx = {
            let _ = wait_for(Duration::from_secs(seconds as u64 + 6), || matches!(sink.try_wait(), Ok(Some(_))));
            let _ = sink.kill();
            sink.wait_with_output()?
        };
        if !tx.status.success() {
            bail!("xvs-pktgen tx failed: {}", String::from_utf8_lossy(&tx.stderr));
        }
        let txj: serde_json::Value = serde_json::from_slice(&tx.stdout).context("xvs-pktgen tx output")?;
        let rxj: serde_json::Value = serde_json::from_slice(&rx.stdout).unwrap_or(serde_json::Value::Null);
        let line = format!(
            "  burst {from} -> {to}, {flows} UDP flows, {seconds}s at {rate} pps: sent {} ({:.3} Mpps), received {} valid, lost {}",
            txj["packets"],
            txj["mpps"].as_f64().unwrap_or(0.0),
            rxj["valid"],
            rxj["lost"]
        );
        say(&mut self.report, line);
        Ok(())
    }

    /// Print what every switch did: flows with traffic, megaflows, worker counters.
    pub fn summarize(&mut self) -> Result<()> {
        for i in 0..self.hosts.len() {
            let h = &self.hosts[i];
            let mut out = format!("\n== {} ==\n", h.name);
            for br in ["br-int", "br-phys"] {
                let dump = h.xvsd.ctl(&["dump-flows", br])?;
                let _ = writeln!(out, "-- {br}: flows that saw packets --");
                for l in dump.lines().filter(|l| !l.contains("n_packets=0,")) {
                    let _ = writeln!(out, "{l}");
                }
            }
            let mf = h.xvsd.ctl(&["dump-megaflows"])?;
            let _ = writeln!(out, "-- megaflows ({}) --", mf.lines().count());
            for l in mf.lines().take(12) {
                let _ = writeln!(out, "{l}");
            }
            let pmd = h.xvsd.ctl(&["pmd-stats"])?;
            let _ = writeln!(out, "-- pmd-stats --\n{}", pmd.trim_end());
            say(&mut self.report, out.trim_end());
        }
        Ok(())
    }
}

/// Run the default lab end to end; returns an error if the deployment misbehaves
/// (a ping that must work fails, isolation or anti-spoofing does not hold).
pub fn run_default(burst_secs: u32, keep: bool) -> Result<()> {
    // Ctrl-C / SIGTERM stop the lab between steps, and it is torn down properly.
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    for sig in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        signal_hook::flag::register(sig, stop.clone())?;
    }
    let stopped = || stop.load(std::sync::atomic::Ordering::Relaxed);
    let mut lab = Lab::build()?;
    println!("\n== traffic ==");
    let mut bad = Vec::new();
    let mut expect = |ok: bool, what: &str| {
        if !ok {
            bad.push(what.to_string());
        }
    };
    let n = lab.ping("vm-a1", "vm-a2", "network A across hosts (VLAN 101 on the wire)")?;
    expect(n >= 4, "vm-a1 -> vm-a2");
    let n = lab.ping("vm-b2", "vm-b1", "network B across hosts (VLAN 102 on the wire)")?;
    expect(n >= 4, "vm-b2 -> vm-b1");
    if stopped() {
        bail!("interrupted");
    }
    let n = lab.ping("vm-a1", "vm-b1", "A -> B on one host, routed by the network node")?;
    expect(n >= 4, "vm-a1 -> vm-b1 (routed)");
    let n = lab.ping("vm-a2", "vm-b1", "A -> B across hosts, routed by the network node")?;
    expect(n >= 4, "vm-a2 -> vm-b1 (routed)");
    let dropped = lab.spoof("vm-a1", "10.1.0.12")?;
    expect(dropped >= 3, "ARP spoofing dropped by table 24");
    if burst_secs > 0 && !stopped() {
        lab.burst("vm-a1", "vm-a2", burst_secs, 100, 100_000)?;
    }
    lab.summarize()?;
    if keep {
        println!("\nThe lab stays up; explore it with e.g.");
        for h in &lab.hosts {
            println!("  xvsctl --socket {} dump-flows br-int    # {}", h.xvsd.socket.display(), h.name);
        }
        println!("  ip netns exec {} ping 10.2.0.22", lab.vm("vm-a1").vm.ns.name);
        println!("Press Ctrl-C to tear it down.");
        while !stopped() {
            std::thread::sleep(Duration::from_millis(200));
        }
    }
    drop(lab);
    if bad.is_empty() {
        println!("\nlab: all checks passed");
        Ok(())
    } else {
        bail!("lab checks failed: {}", bad.join(", "))
    }
}
