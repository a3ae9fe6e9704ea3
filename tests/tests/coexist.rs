//! A NIC shared with the host: xvs takes only the traffic it owns (tunnel packets to
//! the host's tunnel address) and the host keeps everything else — here a long-lived
//! TCP session, like SSH or the agent's RPC, that must survive xvs attaching to the
//! NIC and keep working while tunnel traffic flows through xvs.

use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, UdpSocket};
use std::process::{Command, Stdio};
use std::time::Duration;

use xvs_tools::netlab::{sh, sh_quiet, unique, veth_into, Netns, Vm, Xvsd};

/// The host's NIC: `nic` in the root namespace with 10.99.x.1, its link partner in a
/// namespace playing the rest of the network (10.99.x.2).
struct SharedNic {
    nic: String,
    remote: Netns,
}

impl Drop for SharedNic {
    fn drop(&mut self) {
        sh_quiet(&["ip", "link", "del", &self.nic]);
    }
}

const CLIENT: &str = r#"
import socket, sys, time
s = socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=2)
f = s.makefile("rw")
ok = 0
for i in range(int(sys.argv[3])):
    f.write("line %d\n" % i); f.flush()
    if f.readline().strip() == "line %d" % i:
        ok += 1
    time.sleep(0.05)
print(ok)
"#;

const BLAST: &str = r#"
import socket, sys, time
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
for i in range(int(sys.argv[3])):
    s.sendto(b"vxlan-ish %d" % i, (sys.argv[1], int(sys.argv[2])))
    time.sleep(0.005)
"#;

#[test]
fn host_tcp_session_survives_while_tunnel_traffic_goes_through_xvs() {
    let remote = Netns::new("xtc").unwrap();
    let nic = unique("xtnic");
    let shared = {
        // Build the pair with the host end in the root namespace (10.99.0.1).
        veth_into(&remote, &nic, "eth0", "02:00:00:00:99:02", "10.99.0.2/24").unwrap();
        sh(&["ip", "addr", "add", "10.99.0.1/24", "dev", &nic]).unwrap();
        sh(&["ethtool", "-K", &nic, "tx", "off"]).unwrap();
        SharedNic { nic, remote }
    };
    // The host's own service on the shared NIC's address.
    let server = TcpListener::bind("10.99.0.1:0").unwrap();
    let port = server.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for c in server.incoming().flatten() {
            std::thread::spawn(move || {
                let mut w = c.try_clone().unwrap();
                for line in BufReader::new(c).lines().map_while(Result::ok) {
                    if writeln!(w, "{line}").is_err() {
                        break;
                    }
                }
            });
        }
    });
    // A host socket on the tunnel port: it must not see the tunnel traffic xvs owns.
    let host_udp = UdpSocket::bind("10.99.0.1:4789").unwrap();
    host_udp.set_nonblocking(true).unwrap();

    // The session starts before xvs takes the NIC and lasts through it.
    let session = Command::new("ip")
        .args(["netns", "exec", &shared.remote.name, "python3", "-c", CLIENT, "10.99.0.1", &port.to_string(), "80"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(500));

    let x = Xvsd::start(&[]).unwrap();
    let vm = Vm::new("10.98.0.5/24", "02:00:00:00:98:05").unwrap();
    x.ctl(&["add-br", "br0", "fail_mode=secure"]).unwrap();
    x.ctl(&["add-port", "br0", &shared.nic, "ofport=1", "options:steer=shared", "options:local_ip=10.99.0.1"]).unwrap();
    x.ctl(&["add-port", "br0", &vm.host, "ofport=2"]).unwrap();
    // Stand-in for tunnel handling: xvs hands the tunnel packets to the VM port.
    x.ctl(&["add-flow", "br0", "priority=10,in_port=1,udp,tp_dst=4789,actions=output:2"]).unwrap();
    x.ctl(&["add-flow", "br0", "priority=0,actions=drop"]).unwrap();
    assert!(x.ctl(&["show"]).unwrap().contains("steer=\"shared: tunnels to 10.99.0.1"), "{}", x.ctl(&["show"]).unwrap());

    let cap = vm.capture("udp port 4789", 100, 8).unwrap();
    let blast = shared.remote.exec(&["python3", "-c", BLAST, "10.99.0.1", "4789", "100"]);
    assert!(blast.is_ok(), "{blast:?}");
    let seen = cap.finish();
    assert_eq!(seen.lines().filter(|l| l.contains("10.99.0.2") && l.contains("4789")).count(), 100, "VM saw:\n{seen}");

    let out = session.wait_with_output().unwrap();
    let echoed: u32 = String::from_utf8_lossy(&out.stdout).trim().parse().unwrap_or_else(|_| panic!("session failed: {}", String::from_utf8_lossy(&out.stderr)));
    assert_eq!(echoed, 80, "the host's TCP session lost lines while xvs served the NIC");
    let mut buf = [0u8; 64];
    assert!(host_udp.recv(&mut buf).is_err(), "tunnel traffic leaked to the host stack");
    // Non-owned frames are counted as passed to the kernel.
    let ports = x.ctl(&["dump-ports", "br0", &shared.nic]).unwrap();
    assert!(ports.contains("rx pkts=100,"), "{ports}");
    let passed: u64 = ports.split("passed_to_kernel=").nth(1).unwrap().trim().parse().unwrap();
    assert!(passed > 0, "{ports}");
}

#[test]
fn steering_options_are_validated() {
    let x = Xvsd::start(&[]).unwrap();
    let vm = Vm::new("10.97.0.5/24", "02:00:00:00:97:05").unwrap();
    x.ctl(&["add-br", "br0"]).unwrap();
    let e = x.ctl(&["add-port", "br0", &vm.host, "options:steer=shared"]).unwrap_err().to_string();
    assert!(e.contains("needs something to steer"), "{e}");
    let e = x.ctl(&["add-port", "br0", &vm.host, "options:steer=shared", "options:local_ip=300.1.1.1"]).unwrap_err().to_string();
    assert!(e.contains("invalid local_ip"), "{e}");
    let e = x.ctl(&["add-port", "br0", &vm.host, "options:local_ip=10.0.0.1"]).unwrap_err().to_string();
    assert!(e.contains("steer=shared"), "{e}");
    assert!(!x.ctl(&["show"]).unwrap().contains(&vm.host));
}
