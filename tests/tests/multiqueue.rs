//! Multi-queue ports served by several workers: each worker owns one rx queue of every
//! port (and its own tx socket on every port), so any worker sends to any port
//! without a shared lock.

use std::process::Command;

use xvs_tools::netlab::{bin, wait_for, Vm, Xvsd};

fn pmd_per_worker(stats: &str) -> Vec<u64> {
    stats
        .lines()
        .filter_map(|l| l.trim().strip_prefix("packets received: "))
        .map(|v| v.trim().parse().unwrap())
        .collect()
}

#[test]
fn two_workers_two_queues() {
    let x = Xvsd::start(&["--cpus", "0,1"]).unwrap();
    let a = Vm::new_mq("10.91.0.1/24", "02:00:00:00:91:01", 2).unwrap();
    let b = Vm::new_mq("10.91.0.2/24", "02:00:00:00:91:02", 2).unwrap();
    x.ctl(&["add-br", "br0"]).unwrap();
    x.ctl(&["add-port", "br0", &a.host, "ofport=1"]).unwrap();
    x.ctl(&["add-port", "br0", &b.host, "ofport=2"]).unwrap();
    assert!(x.ctl(&["show"]).unwrap().contains("queues=2"));
    assert_eq!(a.ns.ping(&b.ip, 3, 0.05).unwrap(), 3);
    // Generated traffic on each tx queue of A lands on the same-numbered rx queue of
    // A's switch port, i.e. on a different worker each.
    for q in ["0", "1"] {
        let out = Command::new("ip")
            .args(["netns", "exec", &a.ns.name])
            .arg(bin("xvs-pktgen"))
            .args(["tx", "--dev", "eth0", "--queue", q, "--src-mac", &a.mac, "--dst-mac", &b.mac, "--src-ip", &a.ip, "--dst-ip", &b.ip])
            .args(["--count", "2000", "--rate", "20000"])
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    }
    assert!(
        wait_for(std::time::Duration::from_secs(3), || {
            let per = pmd_per_worker(&x.ctl(&["pmd-stats"]).unwrap());
            per.len() == 2 && per.iter().all(|&n| n >= 2000)
        }),
        "{}",
        x.ctl(&["pmd-stats"]).unwrap()
    );
    // And everything A's port received went out of B's port.
    let ports = x.ctl(&["dump-ports", "br0", &b.host]).unwrap();
    let tx: u64 = ports.split("tx pkts=").nth(1).unwrap().split(',').next().unwrap().parse().unwrap();
    assert!(tx >= 4003, "{ports}");
    // A port with fewer queues than workers is refused with advice.
    let c = Vm::new("10.91.0.3/24", "02:00:00:00:91:03").unwrap();
    let e = x.ctl(&["add-port", "br0", &c.host]).unwrap_err().to_string();
    assert!(e.contains("rx queue") && e.contains("ethtool -L"), "{e}");
}
