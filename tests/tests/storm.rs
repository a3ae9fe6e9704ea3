//! Upcall storms: traffic that matches nothing costs one upcall (it installs a drop
//! megaflow), and traffic that keeps creating megaflows is held to the input port's
//! upcall budget, counted, while the control socket keeps answering.

use std::process::Command;

use xvs_tools::netlab::{bin, Vm, Xvsd};

fn pktgen_tx(vm: &Vm, dst: &Vm, flows: u32, rate: u32, seconds: u32) {
    let out = Command::new("ip")
        .args(["netns", "exec", &vm.ns.name])
        .arg(bin("xvs-pktgen"))
        .args(["tx", "--dev", "eth0", "--src-mac", &vm.mac, "--dst-mac", &dst.mac, "--src-ip", &vm.ip, "--dst-ip", &dst.ip])
        .args(["--flows", &flows.to_string(), "--rate", &rate.to_string(), "--seconds", &seconds.to_string()])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
}

fn pmd_value(stats: &str, key: &str) -> u64 {
    let i = stats.find(key).unwrap_or_else(|| panic!("no {key} in {stats}")) + key.len();
    stats[i..].trim_start().split(|c: char| !c.is_ascii_digit()).next().unwrap().parse().unwrap()
}

#[test]
fn traffic_matching_nothing_costs_one_upcall() {
    let x = Xvsd::start(&[]).unwrap();
    let a = Vm::new("10.81.0.1/24", "02:00:00:00:81:01").unwrap();
    let b = Vm::new("10.81.0.2/24", "02:00:00:00:81:02").unwrap();
    x.ctl(&["add-br", "br0", "fail_mode=secure"]).unwrap(); // no flows at all
    x.ctl(&["add-port", "br0", &a.host, "ofport=1"]).unwrap();
    x.ctl(&["add-port", "br0", &b.host, "ofport=2"]).unwrap();
    pktgen_tx(&a, &b, 5000, 20000, 1);
    let s = x.ctl(&["pmd-stats"]).unwrap();
    assert!(pmd_value(&s, "packets received:") >= 5000, "{s}");
    assert_eq!(pmd_value(&s, "misses (upcalls):"), 1, "{s}");
    assert_eq!(pmd_value(&s, "megaflows:"), 1, "{s}");
    let mf = x.ctl(&["dump-megaflows"]).unwrap();
    assert!(mf.contains("actions:drop"), "{mf}");
}

#[test]
fn upcall_budget_holds_a_flow_flood_and_control_stays_responsive() {
    let x = Xvsd::start(&["--upcall-rate", "1000"]).unwrap();
    let a = Vm::new("10.82.0.1/24", "02:00:00:00:82:01").unwrap();
    let b = Vm::new("10.82.0.2/24", "02:00:00:00:82:02").unwrap();
    x.ctl(&["add-br", "br0", "fail_mode=secure"]).unwrap();
    x.ctl(&["add-port", "br0", &a.host, "ofport=1"]).unwrap();
    x.ctl(&["add-port", "br0", &b.host, "ofport=2"]).unwrap();
    // Every UDP port is its own megaflow: the actions read all of tp_dst (a match
    // alone would not do: the classifier un-wildcards only the bits it needs).
    x.ctl_input(&["add-flows", "br0"], Some("priority=10,udp,tp_dst=5000,actions=drop\npriority=1,udp,actions=move:NXM_OF_UDP_DST[]->NXM_NX_REG0[0..15],output:2\n")).unwrap();
    let sock = x.socket.clone();
    let ctl = std::thread::spawn(move || {
        // Flow-mods keep working while the storm runs.
        let mut ok = 0;
        for i in 0..20 {
            let r = xvs::control::proto::call(
                &sock,
                &xvs::control::proto::Request { args: vec!["add-flow".into(), "br0".into(), format!("priority=20,tcp,tp_dst={},actions=drop", 1000 + i)], input: None },
                Some(std::time::Duration::from_secs(5)),
            );
            if r.is_ok_and(|r| r.ok) {
                ok += 1;
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        ok
    });
    pktgen_tx(&a, &b, 20000, 20000, 2);
    assert_eq!(ctl.join().unwrap(), 20, "flow-mods failed during the storm");
    let s = x.ctl(&["pmd-stats"]).unwrap();
    let misses = pmd_value(&s, "misses (upcalls):");
    // ~2.5 s of storm at 1000 upcalls/s, in 100 ms windows.
    assert!(misses <= 3500, "{s}");
    assert!(s.contains("upcall_rate_limited="), "{s}");
    assert_eq!(x.ctl(&["dump-flows", "br0", "tcp"]).unwrap().lines().count(), 20);
}
