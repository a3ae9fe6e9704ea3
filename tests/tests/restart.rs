//! Restarts: xvsd saves bridges, ports and flows and restores them when it starts
//! again, so a crash (kill -9) followed by a restart forwards the same way with no
//! manual step. Counters restart at zero (documented in persist.rs and the README).
//! Also the Neutron agent's cookie-based resync.

use std::time::Duration;

use xvs_tools::netlab::{rule_counters, wait_for, Vm, Xvsd};

const FLOWS: &str = "cookie=0xa1,priority=10,icmp,in_port=1,actions=output:2
cookie=0xa1,priority=10,icmp,in_port=2,actions=output:1
cookie=0xa1,priority=5,arp,actions=NORMAL
cookie=0xa1,table=0,priority=0,actions=drop
";

/// The flows of a dump without counters and durations, sorted.
fn flow_set(dump: &str) -> Vec<String> {
    let mut v: Vec<String> = dump
        .lines()
        .map(|l| {
            l.split(", ")
                .filter(|f| !["duration=", "n_packets=", "n_bytes=", "idle_age=", "hard_age="].iter().any(|k| f.trim_start().starts_with(k)))
                .collect::<Vec<_>>()
                .join(", ")
        })
        .collect();
    v.sort();
    v
}

#[test]
fn kill_9_and_restart_resumes_forwarding_with_the_same_flows() {
    let mut x1 = Xvsd::start(&[]).unwrap();
    let a = Vm::new("10.61.0.1/24", "02:00:00:00:61:01").unwrap();
    let b = Vm::new("10.61.0.2/24", "02:00:00:00:61:02").unwrap();
    x1.ctl(&["add-br", "br0", "fail_mode=secure"]).unwrap();
    x1.ctl(&["add-port", "br0", &a.host, "ofport=1", "options:xdp-mode=native"]).unwrap();
    x1.ctl(&["add-port", "br0", &b.host, "ofport=2"]).unwrap();
    x1.ctl_input(&["add-flows", "br0"], Some(FLOWS)).unwrap();
    assert_eq!(a.ns.ping(&b.ip, 3, 0.05).unwrap(), 3);
    let before = flow_set(&x1.ctl(&["dump-flows", "br0"]).unwrap());
    let state = x1.dir.join("state.json");
    assert!(
        wait_for(Duration::from_secs(3), || std::fs::read_to_string(&state).is_ok_and(|s| s.contains("in_port=2"))),
        "state file not written"
    );

    // Traffic keeps flowing while xvsd dies and comes back.
    let ping = a.ns.spawn(&["ping", "-n", "-q", "-i", "0.05", "-w", "6", &b.ip]).unwrap();
    std::thread::sleep(Duration::from_millis(500));
    x1.kill9();
    x1.keep_dir = true;
    let dir = x1.dir.clone();
    drop(x1);
    let x2 = Xvsd::start_in(&dir, &[]).unwrap();

    // Same bridges, ports and flows; counters start again from zero.
    let show = x2.ctl(&["show"]).unwrap();
    assert!(show.contains(&a.host) && show.contains(&b.host) && show.contains("fail_mode: secure"), "{show}");
    assert_eq!(flow_set(&x2.ctl(&["dump-flows", "br0"]).unwrap()), before);
    assert!(wait_for(Duration::from_secs(3), || a.ns.ping(&b.ip, 1, 0.1).unwrap_or(0) == 1), "no forwarding after restart: {}", x2.log());
    let out = ping.wait_with_output().unwrap();
    let summary = String::from_utf8_lossy(&out.stdout);
    assert!(summary.contains("received"), "{summary}");
    let dump = x2.ctl(&["dump-flows", "br0"]).unwrap();
    let (n, _) = rule_counters(&dump, "icmp,in_port=1").unwrap();
    assert!(n >= 1, "the restored flow carries the traffic: {dump}");
    assert_eq!(a.ns.ping(&b.ip, 3, 0.05).unwrap(), 3);
}

#[test]
fn missing_netdev_at_restore_is_kept_and_retried() {
    let mut x1 = Xvsd::start(&[]).unwrap();
    let a = Vm::new("10.62.0.1/24", "02:00:00:00:62:01").unwrap();
    let b = Vm::new("10.62.0.2/24", "02:00:00:00:62:02").unwrap();
    x1.ctl(&["add-br", "br0"]).unwrap();
    x1.ctl(&["add-port", "br0", &a.host, "ofport=1"]).unwrap();
    x1.ctl(&["add-port", "br0", &b.host, "ofport=2"]).unwrap();
    let state = x1.dir.join("state.json");
    assert!(wait_for(Duration::from_secs(3), || std::fs::read_to_string(&state).is_ok_and(|s| s.contains(&b.host))));
    x1.kill9();
    x1.keep_dir = true;
    let dir = x1.dir.clone();
    drop(x1);
    // B's NIC disappears while xvsd is down, then comes back after the restart.
    let b_mac = b.mac.clone();
    let b_host = b.host.clone();
    drop(b);
    let x2 = Xvsd::start_in(&dir, &[]).unwrap();
    let show = x2.ctl(&["show"]).unwrap();
    assert!(show.contains(&b_host) && show.contains("error:"), "{show}");
    let b = Vm::in_ns(xvs_tools::netlab::Netns::new("xtn").unwrap(), &b_host, "10.62.0.2/24", &b_mac).unwrap();
    assert!(
        wait_for(Duration::from_secs(12), || a.ns.ping(&b.ip, 1, 0.1).unwrap_or(0) == 1),
        "the port did not come back: {}",
        x2.ctl(&["show"]).unwrap()
    );
    assert!(!x2.ctl(&["show"]).unwrap().contains("error:"));
}

#[test]
fn cookie_based_resync_as_the_neutron_agent_does_it() {
    let x = Xvsd::start(&[]).unwrap();
    let a = Vm::new("10.63.0.1/24", "02:00:00:00:63:01").unwrap();
    let b = Vm::new("10.63.0.2/24", "02:00:00:00:63:02").unwrap();
    x.ctl(&["add-br", "br0", "fail_mode=secure"]).unwrap();
    x.ctl(&["add-port", "br0", &a.host, "ofport=1"]).unwrap();
    x.ctl(&["add-port", "br0", &b.host, "ofport=2"]).unwrap();
    // Flows of the previous agent run (cookie 0xa1).
    x.ctl_input(&["add-flows", "br0"], Some(FLOWS)).unwrap();
    x.ctl(&["add-flow", "br0", "cookie=0xa1,priority=20,in_port=1,tcp,actions=drop"]).unwrap();
    // The new run re-installs what it wants with its own cookie...
    let new = FLOWS.replace("0xa1", "0xb2");
    x.ctl_input(&["add-flows", "br0"], Some(&new)).unwrap();
    let old = x.ctl(&["dump-flows", "br0", "cookie=0xa1/-1"]).unwrap();
    assert_eq!(old.lines().count(), 1, "identical flows were replaced by the new run's: {old}");
    // ...then deletes what is left with the old cookie.
    x.ctl(&["del-flows", "br0", "cookie=0xa1/-1"]).unwrap();
    let all = x.ctl(&["dump-flows", "br0"]).unwrap();
    assert_eq!(all.lines().count(), 4, "{all}");
    assert!(all.lines().all(|l| l.contains("cookie=0xb2")), "{all}");
    assert_eq!(a.ns.ping(&b.ip, 3, 0.05).unwrap(), 3);
}
