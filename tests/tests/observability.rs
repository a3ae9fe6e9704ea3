//! Observability: pcap capture of a port's frames, and the Prometheus endpoint.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use xvs_tools::netlab::{Vm, Xvsd};

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

fn scrape(port: u16) -> String {
    let mut c = TcpStream::connect(("127.0.0.1", port)).unwrap();
    c.write_all(b"GET /metrics HTTP/1.0\r\n\r\n").unwrap();
    let mut s = String::new();
    c.read_to_string(&mut s).unwrap();
    s
}

fn two_vms(x: &Xvsd) -> (Vm, Vm) {
    let a = Vm::new("10.71.0.1/24", "02:00:00:00:71:01").unwrap();
    let b = Vm::new("10.71.0.2/24", "02:00:00:00:71:02").unwrap();
    x.ctl(&["add-br", "br0"]).unwrap();
    x.ctl(&["add-port", "br0", &a.host, "ofport=1"]).unwrap();
    x.ctl(&["add-port", "br0", &b.host, "ofport=2"]).unwrap();
    (a, b)
}

#[test]
fn capture_writes_a_pcap_tcpdump_reads() {
    let x = Xvsd::start(&[]).unwrap();
    let (a, b) = two_vms(&x);
    a.neigh(&b.ip, &b.mac).unwrap();
    b.neigh(&a.ip, &a.mac).unwrap();
    let file = x.dir.join("cap.pcap");
    let file_s = file.display().to_string();
    let host = a.host.clone();
    let sock = x.socket.clone();
    // The capture runs in the background (the control socket stays usable).
    let t = std::thread::spawn(move || {
        let out = std::process::Command::new(xvs_tools::netlab::bin("xvsctl"))
            .args(["--socket", &sock.display().to_string(), "capture", &host, "--count", "6", "--seconds", "10", &file_s])
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr)
    });
    std::thread::sleep(Duration::from_millis(300));
    assert!(x.ctl(&["show"]).is_ok(), "control socket blocked by the capture");
    assert_eq!(a.ns.ping(&b.ip, 3, 0.1).unwrap(), 3);
    let said = t.join().unwrap();
    assert!(said.contains("6 frames (3 received, 3 sent)"), "{said}");
    let dump = std::process::Command::new("tcpdump").args(["-n", "-e", "-r"]).arg(&file).output().unwrap();
    let text = String::from_utf8_lossy(&dump.stdout);
    assert_eq!(text.matches("ICMP echo request").count(), 3, "{text}");
    assert_eq!(text.matches("ICMP echo reply").count(), 3, "{text}");
    // Errors are clear.
    let e = x.ctl(&["capture", "nosuch", "/tmp/x.pcap"]).unwrap_err().to_string();
    assert!(e.contains("no port named nosuch"), "{e}");
}

/// A patch port has no frames of its own: the capture shows packets as they cross
/// it, with the rewrites made before (here the local VLAN br-int adds), in both
/// directions, and forwarding is unchanged while it runs.
#[test]
fn capture_on_a_patch_port_shows_the_crossing_frames() {
    let x = Xvsd::start(&[]).unwrap();
    let a = Vm::new("10.72.0.1/24", "02:00:00:00:72:01").unwrap();
    let b = Vm::new("10.72.0.2/24", "02:00:00:00:72:02").unwrap();
    a.neigh(&b.ip, &b.mac).unwrap();
    b.neigh(&a.ip, &a.mac).unwrap();
    x.ctl(&["add-br", "br-int", "fail_mode=secure"]).unwrap();
    x.ctl(&["add-br", "br-tun", "fail_mode=secure"]).unwrap();
    x.ctl(&["add-port", "br-int", &a.host, "ofport=1"]).unwrap();
    x.ctl(&["add-port", "br-tun", &b.host, "ofport=1"]).unwrap();
    x.ctl(&["add-port", "br-int", "patch-tun", "ofport=2", "type=patch", "options:peer=patch-int"]).unwrap();
    x.ctl(&["add-port", "br-tun", "patch-int", "ofport=2", "type=patch", "options:peer=patch-tun"]).unwrap();
    let int_flows = "in_port=1,actions=mod_vlan_vid:7,output:2\nin_port=2,dl_vlan=7,actions=strip_vlan,output:1\n";
    let tun_flows = "in_port=2,dl_vlan=7,actions=strip_vlan,output:1\nin_port=1,actions=mod_vlan_vid:7,output:2\n";
    x.ctl_input(&["add-flows", "br-int"], Some(int_flows)).unwrap();
    x.ctl_input(&["add-flows", "br-tun"], Some(tun_flows)).unwrap();
    // Warm the megaflows first: the capture must reach flows cached before it began.
    assert_eq!(a.ns.ping(&b.ip, 2, 0.1).unwrap(), 2);
    let file = x.dir.join("patch.pcap");
    let file_s = file.display().to_string();
    let sock = x.socket.clone();
    let t = std::thread::spawn(move || {
        let out = std::process::Command::new(xvs_tools::netlab::bin("xvsctl"))
            .args(["--socket", &sock.display().to_string(), "capture", "patch-tun", "--count", "6", "--seconds", "10", &file_s])
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr)
    });
    std::thread::sleep(Duration::from_millis(300));
    let e = x.ctl(&["capture", "patch-tun", "/tmp/x.pcap"]).unwrap_err().to_string();
    assert!(e.contains("already running on patch-tun"), "{e}");
    assert_eq!(a.ns.ping(&b.ip, 3, 0.1).unwrap(), 3);
    let said = t.join().unwrap();
    assert!(said.contains("6 frames (3 received, 3 sent)"), "{said}");
    let dump = std::process::Command::new("tcpdump").args(["-n", "-e", "-r"]).arg(&file).output().unwrap();
    let text = String::from_utf8_lossy(&dump.stdout);
    // Requests leave br-int through patch-tun, replies enter it there; all tagged.
    assert_eq!(text.matches("vlan 7").count(), 6, "{text}");
    assert_eq!(text.matches("ICMP echo request").count(), 3, "{text}");
    assert_eq!(text.matches("ICMP echo reply").count(), 3, "{text}");
    // After the capture the taps are gone (from megaflows as they are revalidated)
    // and forwarding goes on.
    assert_eq!(a.ns.ping(&b.ip, 2, 0.1).unwrap(), 2);
    assert!(!x.ctl(&["dump-megaflows"]).unwrap().contains("tap("));
}

#[test]
fn prometheus_metrics_on_loopback() {
    let port = free_port();
    let addr = format!("127.0.0.1:{port}");
    let x = Xvsd::start(&["--metrics-addr", &addr]).unwrap();
    let (a, b) = two_vms(&x);
    a.neigh(&b.ip, &b.mac).unwrap();
    b.neigh(&a.ip, &a.mac).unwrap();
    assert_eq!(a.ns.ping(&b.ip, 4, 0.05).unwrap(), 4);
    std::thread::sleep(Duration::from_millis(300));
    let m = scrape(port);
    assert!(m.starts_with("HTTP/1.1 200 OK"), "{m}");
    let line = format!("xvs_port_rx_packets_total{{bridge=\"br0\",port=\"{}\"}} 4", a.host);
    assert!(m.contains(&line), "missing {line} in\n{m}");
    assert!(m.contains("# TYPE xvs_drops_total counter"));
    assert!(m.contains("xvs_drops_total{worker=\"0\",reason=\"bad_ipv4\"} 0"));
    assert!(m.contains("xvs_flows{bridge=\"br0\"} 1"));
    // Only loopback is allowed.
    let r = Xvsd::start(&["--metrics-addr", "0.0.0.0:9999"]);
    assert!(r.is_err_and(|e| e.to_string().contains("loopback")));
}
