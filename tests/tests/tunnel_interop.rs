//! Interop with real tunnel peers: xvs's native tunneling (br-phy with the underlay
//! address on its LOCAL netdev, the uplink an AF_XDP port, as in Open vSwitch's
//! userspace-tunneling guide with xvsctl in place of ovs-vsctl) against
//!
//! 1. the Linux kernel's VXLAN device in another namespace, and
//! 2. Open vSwitch 3.1's own userspace (`netdev`) datapath in another namespace, as a
//!    VXLAN and a GRE peer (this kernel has no GRE module; OVS's userspace GRE needs none).
//!
//! Ping and TCP (with SHA-256 compared on both sides) in both directions. Each test owns
//! its namespaces (unique names; the veths live only inside them), its xvsd and OVS
//! processes and temp dirs, and removes all of it on drop, also when it panics. Missing
//! root or a missing peer program is a failure, not a skip.

use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use xvs_tools::netlab::{is_root, rule_counters, sh, tcp_transfer, unique, veth_between, wait_for, xvsd_in_netns, Netns, TcpTimeouts, Xvsd};

const PORT: u16 = 5001;

fn require(progs: &[&str]) {
    assert!(is_root(), "tunnel interop tests need root (namespaces, veths, AF_XDP)");
    for p in progs {
        let found = ["/usr/sbin", "/usr/bin", "/sbin", "/bin", "/usr/local/sbin", "/usr/local/bin"].iter().any(|d| Path::new(d).join(p).is_file());
        assert!(found, "{p} is not installed: the interop peer is missing (this test must not pass without it)");
    }
}

/// A VM namespace with eth0 (veth to `port` in the switch's namespace), MTU 1450,
/// full checksums (AF_XDP moves bytes, it does not finish offloaded checksums).
fn vm(sw: &Netns, port: &str, ip_cidr: &str) -> Netns {
    let ns = Netns::new("xiv").unwrap();
    veth_between(sw, port, &ns, "eth0").unwrap();
    ns.exec(&["ip", "link", "set", "eth0", "mtu", "1450"]).unwrap();
    ns.exec(&["ip", "addr", "add", ip_cidr, "dev", "eth0"]).unwrap();
    ns.exec(&["ethtool", "-K", "eth0", "tx", "off"]).unwrap();
    ns
}

/// Ping until one reply (the first packets are dropped while next hops are resolved),
/// then `count` pings that must all come back.
fn assert_ping(from: &Netns, to: &str, what: &str, diag: &dyn Fn() -> String) {
    let t0 = Instant::now();
    let up = wait_for(Duration::from_secs(20), || from.ping(to, 1, 0.2).unwrap_or(0) == 1);
    assert!(up, "{what}: no ping reply from {to} within 20 s\n{}", diag());
    let n = from.ping(to, 5, 0.2).unwrap();
    assert_eq!(n, 5, "{what}: {n} of 5 pings to {to} answered\n{}", diag());
    eprintln!("  ping {what}: ok (first reply after {:.1} s)", t0.elapsed().as_secs_f64());
}

/// Send `bytes` over TCP from namespace `from` to `to_ip` (server in `to`); both sides
/// print size and SHA-256, which must match. Returns the seconds it took.
fn assert_tcp(from: &Netns, to: &Netns, to_ip: &str, bytes: usize, what: &str, diag: &dyn Fn() -> String) -> f64 {
    let t0 = Instant::now();
    let timeouts = TcpTimeouts { accept: 60, io: 30, total: 90, retry: 0.2 };
    let r = tcp_transfer(from, to, to_ip, PORT, bytes, timeouts).unwrap_or_else(|e| panic!("{what}: {e:#}"));
    assert!(
        r.ok(),
        "{what}: TCP transfer of {bytes} bytes failed: sent [{}] received [{}] {}\n{}",
        r.sent,
        r.received,
        r.client_stderr,
        diag()
    );
    let s = t0.elapsed().as_secs_f64();
    eprintln!("  tcp {what}: {bytes} bytes in {s:.1} s, sha256 {} on both sides", r.sha256());
    s
}

fn ctl(x: &Xvsd, args: &[&str]) -> String {
    x.ctl(args).unwrap_or_else(|e| panic!("xvsctl {}: {e:#}", args.join(" ")))
}

/// xvsd's tunnel views, for failure messages.
fn xvs_diag(x: &Xvsd) -> String {
    let mut s = String::from("--- xvsd state ---\n");
    for c in [&["tnl-route-show"][..], &["tnl-neigh-show"], &["tnl-ports-show"], &["dump-megaflows"], &["pmd-stats"], &["dump-flows", "br-tun"]] {
        s += &format!("$ xvsctl {}\n{}\n", c.join(" "), x.ctl(c).unwrap_or_else(|e| format!("error: {e:#}")));
    }
    s += &format!("--- xvsd log (tail) ---\n{}\n", tail(&x.log(), 30));
    s
}

fn tail(s: &str, n: usize) -> String {
    let v: Vec<&str> = s.lines().collect();
    v[v.len().saturating_sub(n)..].join("\n")
}

/// One xvsd in its own namespace with br-phy (LOCAL netdev `br-phy` holding `underlay`,
/// the uplink `uplink` as an AF_XDP port) and br-tun (fail_mode=secure).
fn xvs_host(h: &Netns, underlay_cidr: &str) -> Xvsd {
    let dir = std::env::temp_dir().join(unique("xvs-interop-"));
    let x = xvsd_in_netns(h, &dir).unwrap();
    ctl(&x, &["add-br", "br-phy"]);
    ctl(&x, &["add-port", "br-phy", "uplink", "ofport=1"]);
    assert!(h.exec(&["ip", "link", "show", "br-phy"]).is_ok(), "add-br br-phy made no br-phy netdev");
    h.exec(&["ip", "addr", "add", underlay_cidr, "dev", "br-phy"]).unwrap();
    h.exec(&["ip", "link", "set", "br-phy", "up"]).unwrap();
    ctl(&x, &["add-br", "br-tun", "fail_mode=secure"]);
    x
}

/// Nothing of ours is left: the namespaces are gone, the processes are reaped, the
/// temp dirs removed.
fn assert_gone(namespaces: &[String], pids: &[u32], dirs: &[PathBuf]) {
    let list = sh(&["ip", "netns", "list"]).unwrap_or_default();
    for n in namespaces {
        assert!(!list.lines().any(|l| l.split_whitespace().next() == Some(n)), "namespace {n} left behind");
    }
    for p in pids {
        assert!(!Path::new(&format!("/proc/{p}")).exists(), "process {p} left behind");
    }
    for d in dirs {
        assert!(!d.exists(), "{} left behind", d.display());
    }
}

// ---------------------------------------------------------------------------------
// 1. The Linux kernel's VXLAN device as the peer.

struct KernelLab {
    x: Option<Xvsd>,
    h: Option<Netns>,
    k: Option<Netns>,
    v: Option<Netns>,
}

impl Drop for KernelLab {
    fn drop(&mut self) {
        // xvsd first (a clean stop removes its internal ports), then the namespaces
        // (which takes the veths with them).
        if let Some(mut x) = self.x.take() {
            x.stop();
        }
        self.v = None;
        self.k = None;
        self.h = None;
    }
}

#[test]
fn kernel_vxlan_peer_exchanges_ping_and_tcp() {
    require(&["ip", "ethtool", "python3"]);
    let t0 = Instant::now();
    let mut lab = KernelLab { x: None, h: None, k: None, v: None };
    lab.h = Some(Netns::new("xih").unwrap());
    lab.k = Some(Netns::new("xik").unwrap());
    let (h, k) = (lab.h.as_ref().unwrap(), lab.k.as_ref().unwrap());
    veth_between(h, "uplink", k, "eth0").unwrap();

    // The kernel VTEP.
    k.exec(&["ip", "addr", "add", "192.168.50.2/24", "dev", "eth0"]).unwrap();
    k.exec(&["ethtool", "-K", "eth0", "tx", "off"]).unwrap();
    k.exec(&["ip", "link", "add", "vx0", "type", "vxlan", "id", "100", "remote", "192.168.50.1", "local", "192.168.50.2", "dstport", "4789"]).unwrap();
    k.exec(&["ip", "link", "set", "vx0", "mtu", "1450"]).unwrap();
    k.exec(&["ip", "addr", "add", "10.10.0.2/24", "dev", "vx0"]).unwrap();
    k.exec(&["ethtool", "-K", "vx0", "tx", "off"]).unwrap();
    k.exec(&["ip", "link", "set", "vx0", "up"]).unwrap();

    // xvs: br-phy underlay, br-tun with the VM and the VXLAN port.
    lab.x = Some(xvs_host(h, "192.168.50.1/24"));
    lab.v = Some(vm(h, "vm1", "10.10.0.1/24"));
    let (x, v) = (lab.x.as_ref().unwrap(), lab.v.as_ref().unwrap());
    ctl(x, &["add-port", "br-tun", "vm1", "ofport=1"]);
    ctl(
        x,
        &[
            "add-port", "br-tun", "vxlan-c0a83202", "type=vxlan", "ofport=2", "options:remote_ip=192.168.50.2",
            "options:local_ip=192.168.50.1", "options:key=100",
        ],
    );
    ctl(x, &["add-flow", "br-tun", "table=0,priority=10,in_port=1,actions=set_tunnel:100,output:2"]);
    ctl(x, &["add-flow", "br-tun", "table=0,priority=10,in_port=2,tun_id=100,actions=output:1"]);
    ctl(x, &["add-flow", "br-tun", "table=0,priority=0,actions=drop"]);
    let diag = || {
        let kern = format!(
            "--- kernel peer ---\n{}\n{}\n{}",
            k.exec(&["ip", "-s", "link", "show"]).unwrap_or_default(),
            k.exec(&["ip", "neigh"]).unwrap_or_default(),
            k.exec(&["bridge", "fdb", "show", "dev", "vx0"]).unwrap_or_default()
        );
        format!("{}{kern}", xvs_diag(x))
    };
    let setup = t0.elapsed().as_secs_f64();

    assert_ping(v, "10.10.0.2", "xvs VM -> kernel vxlan", &diag);
    assert_ping(k, "10.10.0.1", "kernel vxlan -> xvs VM", &diag);
    let mb10 = 10 << 20;
    let t_out = assert_tcp(v, k, "10.10.0.2", mb10, "xvs VM -> kernel vxlan", &diag);
    let t_in = assert_tcp(k, v, "10.10.0.1", mb10, "kernel vxlan -> xvs VM", &diag);

    // The traffic went through xvs's native tunneling.
    let mf = ctl(x, &["dump-megaflows"]);
    assert!(
        mf.lines().any(|l| l.contains("tnl_push(") && l.contains("dst=192.168.50.2") && l.contains("dst=4789") && l.contains("vni=0x64")),
        "no VXLAN tnl_push (vni 0x64 to 192.168.50.2:4789) in dump-megaflows:\n{}",
        diag()
    );
    assert!(mf.contains("tnl_pop("), "no tnl_pop in dump-megaflows:\n{}", diag());
    let xn = rule_counters(&ctl(x, &["dump-flows", "br-tun"]), "tun_id=0x64").map_or(0, |c| c.0);
    assert!(xn >= 5000, "decapsulation rule tun_id=0x64 matched only {xn} packets\n{}", diag());
    let neigh = ctl(x, &["tnl-neigh-show"]);
    assert!(neigh.contains("192.168.50.2"), "tnl-neigh-show lacks the kernel VTEP 192.168.50.2:\n{neigh}");
    let route = ctl(x, &["tnl-route-show"]);
    assert!(route.contains("192.168.50"), "tnl-route-show lacks the underlay route:\n{route}");
    // The kernel device decapsulated and encapsulated what we saw (its counters).
    let vx = k.exec(&["cat", "/sys/class/net/vx0/statistics/rx_packets", "/sys/class/net/vx0/statistics/tx_packets"]).unwrap();
    let c: Vec<u64> = vx.split_whitespace().map(|s| s.parse().unwrap()).collect();
    assert!(c[0] > 5000 && c[1] > 5000, "kernel vx0 rx/tx packets {c:?}: too few for 2 x 10 MB");
    eprintln!("{}", ctl(x, &["pmd-stats"]));

    let names: Vec<String> = [&lab.h, &lab.k, &lab.v].iter().map(|n| n.as_ref().unwrap().name.clone()).collect();
    let pid = x.child.id();
    let dir = x.dir.clone();
    drop(lab);
    assert_gone(&names, &[pid], &[dir]);
    eprintln!(
        "kernel vxlan interop: setup {setup:.1} s, tcp out {t_out:.1} s, tcp in {t_in:.1} s, total {:.1} s",
        t0.elapsed().as_secs_f64()
    );
}

// ---------------------------------------------------------------------------------
// 2. Open vSwitch 3.1's userspace datapath as the peer (VXLAN and GRE).

const SCHEMA: &str = "/usr/share/openvswitch/vswitch.ovsschema";

/// A private ovsdb-server + ovs-vswitchd running inside namespace `ns` (so OVS reads
/// that namespace's routes and creates its bridges' tap devices there), everything in
/// a temp dir; stopped, reaped and removed on drop. The daemons also die with the test
/// process (PR_SET_PDEATHSIG; `ip netns exec` execs them, so the pdeathsig holds).
struct Ovs {
    dir: PathBuf,
    ns: String,
    ovsdb: Option<Child>,
    vswitchd: Option<Child>,
}

impl Ovs {
    fn start(ns: &Netns) -> Ovs {
        let dir = std::env::temp_dir().join(unique("xvs-interop-ovs-"));
        std::fs::create_dir_all(&dir).unwrap();
        let mut o = Ovs { dir, ns: ns.name.clone(), ovsdb: None, vswitchd: None };
        let d = o.dir.display().to_string();
        let db = format!("{d}/conf.db");
        o.run("ovsdb-tool", &["create", &db, SCHEMA]).unwrap();
        o.ovsdb = Some(o.spawn(
            "ovsdb-server",
            &[
                &db,
                &format!("--remote=punix:{d}/db.sock"),
                &format!("--unixctl={d}/ovsdb-server.ctl"),
                &format!("--pidfile={d}/ovsdb-server.pid"),
                &format!("--log-file={d}/ovsdb-server.log"),
                "-vconsole:off",
                "--no-chdir",
            ],
        ));
        o.wait_path("db.sock");
        o.vsctl(&["--no-wait", "init"]).unwrap();
        o.vswitchd = Some(o.spawn(
            "ovs-vswitchd",
            &[
                &format!("unix:{d}/db.sock"),
                // No kernel openvswitch module here: only the userspace datapath.
                "--disable-system",
                &format!("--unixctl={d}/vswitchd.ctl"),
                &format!("--pidfile={d}/ovs-vswitchd.pid"),
                &format!("--log-file={d}/ovs-vswitchd.log"),
                "-vconsole:off",
                "--no-chdir",
            ],
        ));
        o.wait_path("vswitchd.ctl");
        o
    }

    fn cmd(&self, bin: &str) -> Command {
        let mut c = Command::new("ip");
        c.args(["netns", "exec", &self.ns, bin]);
        for var in ["OVS_RUNDIR", "OVS_LOGDIR", "OVS_DBDIR", "OVS_SYSCONFDIR"] {
            c.env(var, &self.dir);
        }
        c.current_dir(&self.dir);
        c
    }

    fn spawn(&self, bin: &str, args: &[&str]) -> Child {
        let mut c = self.cmd(bin);
        c.args(args).stdin(Stdio::null()).stdout(Stdio::null());
        c.stderr(std::fs::File::create(self.dir.join(format!("{bin}.stderr"))).unwrap());
        // SAFETY: prctl is async-signal-safe; nothing else runs between fork and exec.
        unsafe {
            c.pre_exec(|| {
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL as libc::c_ulong, 0, 0, 0);
                Ok(())
            });
        }
        c.spawn().unwrap_or_else(|e| panic!("spawn {bin}: {e}"))
    }

    fn wait_path(&mut self, name: &str) {
        let p = self.dir.join(name);
        let t0 = Instant::now();
        while !p.exists() {
            assert!(t0.elapsed() < Duration::from_secs(20), "OVS: {} did not appear\n{}", p.display(), self.log());
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    fn run(&self, bin: &str, args: &[&str]) -> Result<String, String> {
        let out = self.cmd(bin).args(args).stdin(Stdio::null()).output().map_err(|e| format!("{bin}: {e}"))?;
        if out.status.success() {
            Ok(String::from_utf8_lossy(&out.stdout).into_owned())
        } else {
            Err(format!("{bin} {}: {}", args.join(" "), String::from_utf8_lossy(&out.stderr).trim()))
        }
    }

    fn vsctl(&self, args: &[&str]) -> Result<String, String> {
        let db = format!("--db=unix:{}/db.sock", self.dir.display());
        let mut a = vec![db.as_str(), "--timeout=30"];
        a.extend_from_slice(args);
        self.run("ovs-vsctl", &a)
    }

    fn appctl(&self, args: &[&str]) -> Result<String, String> {
        let t = format!("--target={}/vswitchd.ctl", self.dir.display());
        let mut a = vec![t.as_str(), "--timeout=30"];
        a.extend_from_slice(args);
        self.run("ovs-appctl", &a)
    }

    fn ofctl(&self, args: &[&str]) -> Result<String, String> {
        self.run("ovs-ofctl", args)
    }

    fn log(&self) -> String {
        tail(&std::fs::read_to_string(self.dir.join("ovs-vswitchd.log")).unwrap_or_default(), 30)
    }

    fn diag(&self) -> String {
        let mut s = String::from("--- OVS peer ---\n");
        for c in [&["ovs/route/show"][..], &["tnl/neigh/show"], &["tnl/ports/show"], &["dpctl/dump-flows"], &["dpif/show"]] {
            s += &format!("$ ovs-appctl {}\n{}\n", c.join(" "), self.appctl(c).unwrap_or_else(|e| e));
        }
        s += &format!("$ ovs-ofctl dump-flows br-tun\n{}\n", self.ofctl(&["dump-flows", "br-tun"]).unwrap_or_else(|e| e));
        s += &format!("--- ovs-vswitchd.log (tail) ---\n{}\n", self.log());
        s
    }

    fn pids(&self) -> Vec<u32> {
        [&self.ovsdb, &self.vswitchd].iter().filter_map(|c| c.as_ref().map(|c| c.id())).collect()
    }
}

impl Drop for Ovs {
    fn drop(&mut self) {
        for c in [self.vswitchd.take(), self.ovsdb.take()].into_iter().flatten() {
            let mut c = c;
            unsafe {
                libc::kill(c.id() as i32, libc::SIGTERM);
            }
            let t0 = Instant::now();
            while t0.elapsed() < Duration::from_secs(5) {
                if let Ok(Some(_)) = c.try_wait() {
                    break;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            let _ = c.kill();
            let _ = c.wait();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

struct OvsLab {
    x: Option<Xvsd>,
    ovs: Option<Ovs>,
    nss: Vec<Netns>,
}

impl Drop for OvsLab {
    fn drop(&mut self) {
        if let Some(mut x) = self.x.take() {
            x.stop();
        }
        self.ovs = None;
        self.nss.clear();
    }
}

#[test]
fn ovs_userspace_peer_over_vxlan_and_gre() {
    require(&["ip", "ethtool", "python3", "ovsdb-server", "ovs-vswitchd", "ovsdb-tool", "ovs-vsctl", "ovs-ofctl", "ovs-appctl"]);
    assert!(Path::new(SCHEMA).exists(), "{SCHEMA} missing (Debian package openvswitch-common)");
    let t0 = Instant::now();
    let mut lab = OvsLab { x: None, ovs: None, nss: Vec::new() };
    // 0: xvs host, 1: OVS host, 2/3: VMs behind xvs (VXLAN, GRE), 4/5: VMs behind OVS.
    lab.nss.push(Netns::new("xih").unwrap());
    lab.nss.push(Netns::new("xio").unwrap());
    let (h, o) = (&lab.nss[0], &lab.nss[1]);
    veth_between(h, "uplink", o, "uplink").unwrap();
    o.exec(&["ethtool", "-K", "uplink", "tx", "off"]).unwrap();

    lab.x = Some(xvs_host(h, "192.168.50.1/24"));
    let vx1 = vm(h, "vmvx", "10.20.0.1/24");
    let vg1 = vm(h, "vmgre", "10.30.0.1/24");
    let o = &lab.nss[1];
    let vx2 = vm(o, "vmvx", "10.20.0.2/24");
    let vg2 = vm(o, "vmgre", "10.30.0.2/24");
    lab.nss.extend([vx1, vg1, vx2, vg2]);

    // xvs side: VXLAN ofport 2 and GRE ofport 4, key=flow; the VMs on 1 and 3.
    let x = lab.x.as_ref().unwrap();
    ctl(x, &["add-port", "br-tun", "vmvx", "ofport=1"]);
    ctl(x, &["add-port", "br-tun", "vmgre", "ofport=3"]);
    for (name, ty, of) in [("vxlan-c0a83203", "vxlan", "2"), ("gre-c0a83203", "gre", "4")] {
        ctl(
            x,
            &[
                "add-port", "br-tun", name, &format!("type={ty}"), &format!("ofport={of}"), "options:remote_ip=192.168.50.3",
                "options:local_ip=192.168.50.1", "options:key=flow",
            ],
        );
    }
    let flows = [
        "table=0,priority=10,in_port=1,actions=set_tunnel:100,output:2",
        "table=0,priority=10,in_port=2,tun_id=100,actions=output:1",
        "table=0,priority=10,in_port=3,actions=set_tunnel:200,output:4",
        "table=0,priority=10,in_port=4,tun_id=200,actions=output:3",
        "table=0,priority=0,actions=drop",
    ];
    for f in flows {
        ctl(x, &["add-flow", "br-tun", f]);
    }

    // OVS side, per its userspace-tunneling guide: br-phy (netdev) with 192.168.50.3 on
    // its LOCAL port, the uplink a `system` port (AF_PACKET); br-tun with the tunnels.
    lab.ovs = Some(Ovs::start(&lab.nss[1]));
    let ovs = lab.ovs.as_ref().unwrap();
    let o = &lab.nss[1];
    ovs.vsctl(&["add-br", "br-phy", "--", "set", "bridge", "br-phy", "datapath_type=netdev", "--", "add-port", "br-phy", "uplink"]).unwrap();
    assert!(
        wait_for(Duration::from_secs(10), || o.exec(&["ip", "link", "show", "br-phy"]).is_ok()),
        "OVS made no br-phy tap in its namespace\n{}",
        ovs.log()
    );
    o.exec(&["ip", "addr", "add", "192.168.50.3/24", "dev", "br-phy"]).unwrap();
    o.exec(&["ip", "link", "set", "br-phy", "up"]).unwrap();
    ovs.vsctl(&[
        "add-br", "br-tun", "--", "set", "bridge", "br-tun", "datapath_type=netdev", "fail_mode=secure",
        "--", "add-port", "br-tun", "vmvx", "--", "set", "interface", "vmvx", "ofport_request=1",
        "--", "add-port", "br-tun", "vxlan0", "--", "set", "interface", "vxlan0", "type=vxlan", "ofport_request=2",
        "options:remote_ip=192.168.50.1", "options:local_ip=192.168.50.3", "options:key=flow",
        "--", "add-port", "br-tun", "vmgre", "--", "set", "interface", "vmgre", "ofport_request=3",
        "--", "add-port", "br-tun", "gre0", "--", "set", "interface", "gre0", "type=gre", "ofport_request=4",
        "options:remote_ip=192.168.50.1", "options:local_ip=192.168.50.3", "options:key=flow",
    ])
    .unwrap();
    for f in flows {
        ovs.ofctl(&["add-flow", "br-tun", f]).unwrap();
    }
    // OVS reads the routes of its namespace; wait until it knows the underlay subnet.
    let routed = wait_for(Duration::from_secs(10), || ovs.appctl(&["ovs/route/show"]).unwrap_or_default().contains("192.168.50.0/24"));
    assert!(routed, "OVS has no route to the underlay\n{}", ovs.diag());
    let setup = t0.elapsed().as_secs_f64();

    let diag = || format!("{}{}", xvs_diag(x), ovs.diag());
    let (vx1, vg1, vx2, vg2) = (&lab.nss[2], &lab.nss[3], &lab.nss[4], &lab.nss[5]);
    assert_ping(vx1, "10.20.0.2", "vxlan: xvs VM -> OVS VM", &diag);
    assert_ping(vx2, "10.20.0.1", "vxlan: OVS VM -> xvs VM", &diag);
    assert_ping(vg1, "10.30.0.2", "gre: xvs VM -> OVS VM", &diag);
    assert_ping(vg2, "10.30.0.1", "gre: OVS VM -> xvs VM", &diag);
    let mb2 = 2 << 20;
    let mut times = Vec::new();
    times.push(assert_tcp(vx1, vx2, "10.20.0.2", mb2, "vxlan: xvs VM -> OVS VM", &diag));
    times.push(assert_tcp(vx2, vx1, "10.20.0.1", mb2, "vxlan: OVS VM -> xvs VM", &diag));
    // Checked right after each tunnel's transfers (megaflows expire when idle): xvs
    // encapsulated towards OVS's VTEP with the flow's key and decapsulated.
    let mf = ctl(x, &["dump-megaflows"]);
    assert!(
        mf.lines().any(|l| l.contains("tnl_push(") && l.contains("dst=192.168.50.3") && l.contains("vxlan(") && l.contains("vni=0x64")),
        "no VXLAN tnl_push (vni 0x64 to 192.168.50.3) in dump-megaflows:\n{}",
        diag()
    );
    assert!(mf.contains("tnl_pop("), "no tnl_pop in dump-megaflows:\n{}", diag());
    times.push(assert_tcp(vg1, vg2, "10.30.0.2", mb2, "gre: xvs VM -> OVS VM", &diag));
    times.push(assert_tcp(vg2, vg1, "10.30.0.1", mb2, "gre: OVS VM -> xvs VM", &diag));
    let mf = ctl(x, &["dump-megaflows"]);
    assert!(
        mf.lines().any(|l| l.contains("tnl_push(") && l.contains("dst=192.168.50.3") && l.contains("gre(") && l.contains("key=0xc8")),
        "no GRE tnl_push (key 0xc8 to 192.168.50.3) in dump-megaflows:\n{}",
        diag()
    );
    assert!(mf.contains("tnl_pop("), "no tnl_pop in dump-megaflows:\n{}", diag());

    // Each side's decapsulation rule matched the transfers (2 MB is ~1450 segments of
    // 1410 bytes, besides the pings): xvs's and OVS's OpenFlow counters.
    for (needle, what) in [("tun_id=0x64", "vxlan"), ("tun_id=0xc8", "gre")] {
        let xn = rule_counters(&ctl(x, &["dump-flows", "br-tun"]), needle).map_or(0, |c| c.0);
        let mut on = 0;
        wait_for(Duration::from_secs(5), || {
            on = ovs.ofctl(&["--no-names", "dump-flows", "br-tun"]).ok().and_then(|d| rule_counters(&d, needle)).map_or(0, |c| c.0);
            on >= 1000
        });
        eprintln!("  {what}: decapsulation rule {needle} matched {xn} packets in xvs, {on} in OVS");
        assert!(xn >= 1000 && on >= 1000, "{what}: rule {needle} counted {xn} packets in xvs, {on} in OVS\n{}", diag());
    }
    let neigh = ctl(x, &["tnl-neigh-show"]);
    assert!(neigh.contains("192.168.50.3"), "tnl-neigh-show lacks OVS's VTEP 192.168.50.3:\n{neigh}");
    let ovs_neigh = ovs.appctl(&["tnl/neigh/show"]).unwrap();
    assert!(ovs_neigh.contains("192.168.50.1"), "OVS's tnl/neigh/show lacks xvs's VTEP:\n{ovs_neigh}");
    eprintln!("{}", ctl(x, &["pmd-stats"]));

    let names: Vec<String> = lab.nss.iter().map(|n| n.name.clone()).collect();
    let mut pids = ovs.pids();
    pids.push(x.child.id());
    let dirs = vec![x.dir.clone(), ovs.dir.clone()];
    drop(lab);
    assert_gone(&names, &pids, &dirs);
    eprintln!("ovs interop: setup {setup:.1} s, tcp {times:.1?} s, total {:.1} s", t0.elapsed().as_secs_f64());
}
