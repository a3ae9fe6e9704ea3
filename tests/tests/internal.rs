//! Internal ports: a bridge's LOCAL port and `type=internal` ports are kernel netdevs
//! a namespace can take (as Neutron's qdhcp/qrouter namespaces take tap/qr- ports),
//! reachable through the bridge (NORMAL reaches them), with working TCP; deleting the
//! bridge removes them; the LOCAL port cannot be deleted on its own.

use std::time::Duration;

use xvs_tools::netlab::{is_root, sh, unique, wait_for, Netns, Vm, Xvsd};

fn exists(dev: &str) -> bool {
    std::path::Path::new(&format!("/sys/class/net/{dev}")).exists()
}

/// Move netdev `dev` into `ns` and give it an address.
fn take(ns: &Netns, dev: &str, ip: &str) {
    sh(&["ip", "link", "set", dev, "netns", &ns.name]).unwrap();
    ns.exec(&["ip", "addr", "add", ip, "dev", dev]).unwrap();
    ns.exec(&["ip", "link", "set", dev, "up"]).unwrap();
}

#[test]
fn local_and_internal_ports_serve_namespaces() {
    assert!(is_root(), "needs root (namespaces, veths, AF_XDP)");
    let x = Xvsd::start(&[]).unwrap();
    let br = unique("xbr");
    let tap = unique("xtp");
    x.ctl(&["add-br", &br]).unwrap(); // standalone: NORMAL
    assert!(exists(&br), "add-br makes the LOCAL netdev named after the bridge");
    x.ctl(&["add-port", &br, &tap, "type=internal"]).unwrap();
    let show = x.ctl(&["show"]).unwrap();
    assert!(show.contains(&format!("Interface {br}\n            type: internal\n            ofport: 65534")), "{show}");
    let err = x.ctl(&["del-port", &br, &br]).unwrap_err().to_string();
    assert!(err.contains("local port"), "{err}");

    let vm = Vm::new("10.77.0.2/24", "02:00:00:77:00:02").unwrap();
    x.ctl(&["add-port", &br, &vm.host]).unwrap();
    // A "qrouter" namespace takes the LOCAL port, a "qdhcp" one the internal port.
    let qr = Netns::new("xqr").unwrap();
    let qd = Netns::new("xqd").unwrap();
    take(&qr, &br, "10.77.0.1/24");
    take(&qd, &tap, "10.77.0.3/24");
    assert_eq!(vm.ns.ping("10.77.0.1", 3, 0.1).unwrap(), 3, "VM -> LOCAL port\n{}", x.ctl(&["dump-megaflows"]).unwrap());
    assert_eq!(vm.ns.ping("10.77.0.3", 3, 0.1).unwrap(), 3, "VM -> internal port");
    assert_eq!(qr.ping("10.77.0.3", 3, 0.1).unwrap(), 3, "LOCAL -> internal port, both through the bridge");

    // TCP from the namespace that holds an internal port (its checksums must be
    // complete: xvs turned tx offload off on the netdev).
    let srv = qd.spawn(&["python3", "-c", "import socket\ns=socket.socket()\ns.setsockopt(socket.SOL_SOCKET,socket.SO_REUSEADDR,1)\ns.bind(('10.77.0.3',5001))\ns.listen(1)\nc,_=s.accept()\nn=0\nwhile True:\n    d=c.recv(65536)\n    if not d: break\n    n+=len(d)\nprint(n)\n"]).unwrap();
    std::thread::sleep(Duration::from_millis(300));
    vm.ns
        .exec(&["python3", "-c", "import socket\ns=socket.create_connection(('10.77.0.3',5001),timeout=10)\ns.sendall(b'x'*1000000)\ns.close()\n"])
        .unwrap();
    let out = srv.wait_with_output().unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "1000000", "TCP through the internal port");

    // Deleting the bridge removes both netdevs, also from the namespaces they are in.
    x.ctl(&["del-br", &br]).unwrap();
    assert!(wait_for(Duration::from_secs(2), || qr.exec(&["ip", "link", "show", &br]).is_err()), "LOCAL netdev still in its namespace");
    assert!(qd.exec(&["ip", "link", "show", &tap]).is_err(), "internal netdev still in its namespace");
}
