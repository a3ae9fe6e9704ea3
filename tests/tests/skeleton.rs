//! Functional tests of the walking skeleton: xvsd forwarding real frames between veth
//! pairs in network namespaces, flows installed through the control socket.
//!
//! Every test builds its own namespaces, veths and xvsd, and tears them down on drop.

use std::io::Write;
use std::os::unix::net::UnixStream;
use std::time::Duration;

use xvs_tools::netlab::{rule_counters, wait_for, Vm, Xvsd};

const MAC_A: &str = "02:00:00:00:0a:01";
const MAC_B: &str = "02:00:00:00:0a:02";

/// Two VMs on bridge br0 (ports 1 and 2). `secure` bridges start without flows.
fn two_vms(x: &Xvsd, secure: bool, net: u8) -> (Vm, Vm) {
    let a = Vm::new(&format!("10.{net}.0.1/24"), MAC_A).unwrap();
    let b = Vm::new(&format!("10.{net}.0.2/24"), MAC_B).unwrap();
    if secure {
        x.ctl(&["add-br", "br0", "fail_mode=secure"]).unwrap();
    } else {
        x.ctl(&["add-br", "br0"]).unwrap();
    }
    x.ctl(&["add-port", "br0", &a.host, "ofport=1"]).unwrap();
    x.ctl(&["add-port", "br0", &b.host, "ofport=2"]).unwrap();
    (a, b)
}

#[test]
fn ping_through_explicit_output_flows() {
    let x = Xvsd::start(&[]).unwrap();
    let (a, b) = two_vms(&x, true, 51);
    // Nothing is forwarded before flows exist (secure bridge, empty tables).
    assert_eq!(a.ns.ping(&b.ip, 2, 0.2).unwrap(), 0);
    x.ctl(&["add-flow", "br0", "in_port=1,actions=output:2"]).unwrap();
    x.ctl(&["add-flow", "br0", "in_port=2,actions=output:1"]).unwrap();
    assert_eq!(a.ns.ping(&b.ip, 5, 0.1).unwrap(), 5, "{}", x.log());
    assert_eq!(b.ns.ping(&a.ip, 3, 0.1).unwrap(), 3);
}

#[test]
fn ping_through_normal() {
    let x = Xvsd::start(&[]).unwrap();
    let (a, b) = two_vms(&x, false, 52);
    // A standalone bridge starts with OVS's default flow.
    let flows = x.ctl(&["dump-flows", "br0"]).unwrap();
    assert!(flows.contains("priority=0 actions=NORMAL"), "{flows}");
    assert_eq!(a.ns.ping(&b.ip, 5, 0.1).unwrap(), 5, "{}", x.log());
    // Both MACs were learned on the right ports.
    let fdb = x.ctl(&["fdb-show", "br0"]).unwrap();
    assert!(fdb.lines().any(|l| l.contains(MAC_A) && l.trim_start().starts_with('1')), "{fdb}");
    assert!(fdb.lines().any(|l| l.contains(MAC_B) && l.trim_start().starts_with('2')), "{fdb}");
}

#[test]
fn dump_flows_counters_match_packets_sent() {
    let x = Xvsd::start(&[]).unwrap();
    let (a, b) = two_vms(&x, true, 53);
    // Static neighbours: the only frames on the wire are the pings.
    a.neigh(&b.ip, MAC_B).unwrap();
    b.neigh(&a.ip, MAC_A).unwrap();
    x.ctl_input(
        &["add-flows", "br0"],
        Some("priority=10,icmp,in_port=1 actions=output:2\npriority=10,icmp,in_port=2 actions=output:1\npriority=0 actions=drop\n"),
    )
    .unwrap();
    assert_eq!(a.ns.ping(&b.ip, 7, 0.05).unwrap(), 7);
    let dump = x.ctl(&["dump-flows", "br0"]).unwrap();
    // 7 echo requests and 7 replies of 98 bytes (14 Ethernet + 20 IPv4 + 8 ICMP + 56).
    assert_eq!(rule_counters(&dump, "icmp,in_port=1"), Some((7, 686)), "{dump}");
    assert_eq!(rule_counters(&dump, "icmp,in_port=2"), Some((7, 686)), "{dump}");
    assert_eq!(rule_counters(&dump, "priority=0"), Some((0, 0)), "{dump}");
    let ports = x.ctl(&["dump-ports", "br0"]).unwrap();
    assert!(ports.contains("rx pkts=7, bytes=686"), "{ports}");
    assert!(ports.contains("tx pkts=7, bytes=686"), "{ports}");
}

/// tx packet count of a port in `dump-ports BR PORT` output.
fn tx_packets(x: &Xvsd, port: &str) -> u64 {
    let s = x.ctl(&["dump-ports", "br0", port]).unwrap();
    let i = s.find("tx pkts=").unwrap() + 8;
    s[i..].split(',').next().unwrap().parse().unwrap()
}

#[test]
fn flow_mod_takes_effect_while_traffic_runs() {
    let x = Xvsd::start(&[]).unwrap();
    let (a, b) = two_vms(&x, true, 54);
    a.neigh(&b.ip, MAC_B).unwrap();
    b.neigh(&a.ip, MAC_A).unwrap();
    x.ctl(&["add-flow", "br0", "in_port=1,actions=output:2"]).unwrap();
    x.ctl(&["add-flow", "br0", "in_port=2,actions=output:1"]).unwrap();
    // Background traffic: 50 pings a second for 6 seconds.
    let mut ping = a.ns.spawn(&["ping", "-n", "-q", "-i", "0.02", "-w", "6", &b.ip]).unwrap();
    assert!(wait_for(Duration::from_secs(3), || tx_packets(&x, &b.host) >= 10), "traffic never flowed: {}", x.log());

    x.ctl(&["mod-flows", "br0", "in_port=1,actions=drop"]).unwrap();
    std::thread::sleep(Duration::from_millis(200));
    let stopped_at = tx_packets(&x, &b.host);
    std::thread::sleep(Duration::from_millis(800));
    assert_eq!(tx_packets(&x, &b.host), stopped_at, "frames still forwarded after the flow-mod to drop");

    x.ctl(&["mod-flows", "br0", "in_port=1,actions=output:2"]).unwrap();
    assert!(
        wait_for(Duration::from_secs(3), || tx_packets(&x, &b.host) >= stopped_at + 10),
        "forwarding did not resume after the flow-mod back to output"
    );
    let _ = ping.kill();
    let _ = ping.wait();
    // The drop period was counted against the rule that dropped (now modified, same
    // counters), so the rule saw more packets than port 2 transmitted.
    let dump = x.ctl(&["dump-flows", "br0"]).unwrap();
    let (rule_pkts, _) = rule_counters(&dump, "in_port=1").unwrap();
    assert!(rule_pkts > tx_packets(&x, &b.host), "{dump}");
}

fn mac_bytes(m: &str) -> Vec<u8> {
    m.split(':').map(|x| u8::from_str_radix(x, 16).unwrap()).collect()
}

fn ip_bytes(ip: &str) -> Vec<u8> {
    ip.parse::<std::net::Ipv4Addr>().unwrap().octets().to_vec()
}

/// An ARP request "who has `tpa`, tell `spa`" from `sha`, broadcast, optionally tagged.
fn arp_request(sha: &str, spa: &str, tpa: &str, vlan: Option<u16>) -> Vec<u8> {
    let mut f = vec![0xff; 6];
    f.extend(mac_bytes(sha));
    if let Some(v) = vlan {
        f.extend([0x81, 0x00]);
        f.extend(v.to_be_bytes());
    }
    f.extend([0x08, 0x06, 0, 1, 8, 0, 6, 4, 0, 1]);
    f.extend(mac_bytes(sha));
    f.extend(ip_bytes(spa));
    f.extend([0; 6]);
    f.extend(ip_bytes(tpa));
    f
}

#[test]
fn tagged_ports_behave_like_ovs_access_ports() {
    let x = Xvsd::start(&[]).unwrap();
    x.ctl(&["add-br", "br0"]).unwrap(); // standalone: priority=0 actions=NORMAL
    let a = Vm::new("10.55.0.1/24", "02:00:00:00:0b:01").unwrap();
    let b = Vm::new("10.55.0.2/24", "02:00:00:00:0b:02").unwrap();
    let c = Vm::new("10.55.0.3/24", "02:00:00:00:0b:03").unwrap();
    let t = Vm::new("10.56.0.9/24", "02:00:00:00:0b:09").unwrap();
    x.ctl(&["add-port", "br0", &a.host, "tag=100", "ofport=1"]).unwrap();
    x.ctl(&["add-port", "br0", &b.host, "tag=100", "ofport=2"]).unwrap();
    x.ctl(&["add-port", "br0", &c.host, "tag=200", "ofport=3"]).unwrap();
    x.ctl(&["add-port", "br0", &t.host, "ofport=4"]).unwrap(); // trunk: all VLANs

    // Same access VLAN: connected. Different access VLAN: isolated.
    assert_eq!(a.ns.ping(&b.ip, 3, 0.1).unwrap(), 3, "{}", x.log());
    assert_eq!(a.ns.ping(&c.ip, 2, 0.1).unwrap(), 0);

    // A broadcast from access port 100 reaches the trunk tagged 100, and never the
    // VLAN 200 port.
    let on_trunk = t.capture("arp", 1, 5).unwrap();
    let on_c = c.capture("arp", 1, 3).unwrap();
    a.send_raw(&[arp_request(&a.mac, &a.ip, "10.55.0.77", None)]).unwrap();
    let seen = on_trunk.finish();
    assert!(seen.contains("vlan 100") && seen.contains("10.55.0.77"), "trunk saw: {seen}");
    let seen_c = on_c.finish();
    assert!(!seen_c.contains("10.55.0.77"), "VLAN 200 port saw VLAN 100 traffic: {seen_c}");

    // A frame tagged 100 from the trunk reaches access port 100 untagged; A's answer
    // goes back to the trunk tagged 100.
    let reply = t.capture("vlan and arp", 1, 5).unwrap();
    t.send_raw(&[arp_request(&t.mac, "10.55.0.4", &a.ip, Some(100))]).unwrap();
    let seen = reply.finish();
    assert!(seen.contains("vlan 100") && seen.contains(&format!("Reply {} is-at 02:00:00:00:0b:01", a.ip)), "trunk saw: {seen}");
    let fdb = x.ctl(&["fdb-show", "br0"]).unwrap();
    assert!(fdb.lines().any(|l| l.contains("02:00:00:00:0b:09") && l.split_whitespace().take(2).eq(["4", "100"])), "{fdb}");

    // A frame carrying an 802.1Q tag that enters an access port is dropped, as in OVS.
    let before = x.ctl(&["dump-ports", "br0", &a.host]).unwrap();
    assert!(before.contains("drop=0"), "{before}");
    a.send_raw(&[arp_request(&a.mac, &a.ip, &b.ip, Some(100))]).unwrap();
    assert!(wait_for(Duration::from_secs(2), || x.ctl(&["dump-ports", "br0", &a.host]).unwrap().contains("rx pkts=") && x.ctl(&["dump-ports", "br0", &a.host]).unwrap().contains("drop=1")));
    let trace = x.ctl(&["trace", "br0", "in_port=1,dl_vlan=100,dl_src=02:00:00:00:0b:01,dl_dst=ff:ff:ff:ff:ff:ff"]).unwrap();
    assert!(trace.contains("access port"), "{trace}");
}

/// Ethernet header A -> B with `ethertype`, followed by `rest`.
fn frame(ethertype: u16, rest: &[u8]) -> Vec<u8> {
    let mut f = vec![2, 0, 0, 0, 0x0a, 2, 2, 0, 0, 0, 0x0a, 1];
    f.extend_from_slice(&ethertype.to_be_bytes());
    f.extend_from_slice(rest);
    f
}

/// An IPv4 header (no options) with the given first byte, total length and protocol.
fn ipv4(vihl: u8, total_len: u16, proto: u8) -> Vec<u8> {
    let mut h = vec![vihl, 0];
    h.extend_from_slice(&total_len.to_be_bytes());
    h.extend_from_slice(&[0, 0, 0, 0, 64, proto, 0, 0, 10, 58, 0, 1, 10, 58, 0, 2]);
    h
}

#[test]
fn malformed_frames_are_counted_and_dropped() {
    let x = Xvsd::start(&[]).unwrap();
    let (a, b) = two_vms(&x, false, 58);
    let mut tcp_cut = ipv4(0x45, 26, 6);
    tcp_cut.extend_from_slice(&[0, 1, 0, 2, 0, 0]);
    let frames = [
        // IPv4 ethertype and nothing after the Ethernet header.
        frame(0x0800, &[]),
        // IPv4 header cut after 10 bytes.
        frame(0x0800, &ipv4(0x45, 20, 17)[..10]),
        // IPv4 with IHL 3 (a header shorter than the minimum).
        frame(0x0800, &ipv4(0x43, 20, 17)),
        // IPv4/TCP with only 6 bytes of TCP header.
        frame(0x0800, &tcp_cut),
        // ARP cut short.
        frame(0x0806, &[0, 1, 8, 0, 6, 4, 0, 1]),
        // 802.1Q tag cut short.
        frame(0x8100, &[0]),
    ];
    a.send_raw(&frames).unwrap();
    let expect = ["bad_ipv4=3", "bad_l4=1", "bad_arp=1", "bad_vlan=1"];
    assert!(
        wait_for(Duration::from_secs(3), || {
            let s = x.ctl(&["pmd-stats"]).unwrap();
            expect.iter().all(|k| s.contains(k))
        }),
        "{}",
        x.ctl(&["pmd-stats"]).unwrap()
    );
    let ports = x.ctl(&["dump-ports", "br0", &a.host]).unwrap();
    assert!(ports.contains("drop=6"), "{ports}");
    // Still forwarding.
    assert!(x.alive());
    assert_eq!(a.ns.ping(&b.ip, 3, 0.1).unwrap(), 3);
}

#[test]
fn bad_flows_are_rejected_whole_with_position() {
    let x = Xvsd::start(&[]).unwrap();
    let (_a, _b) = two_vms(&x, true, 59);
    let e = x.ctl(&["add-flow", "br0", "in_port=1,nw_dest=10.0.0.1,actions=drop"]).unwrap_err().to_string();
    assert!(e.contains("nw_dest") && e.contains("column 11"), "{e}");
    let e = x.ctl(&["add-flow", "br0", "in_port=1,actions=output:2,frobnicate"]).unwrap_err().to_string();
    assert!(e.contains("frobnicate"), "{e}");
    // A file with one bad line: nothing from it is applied.
    let e = x
        .ctl_input(&["add-flows", "br0"], Some("in_port=1,actions=output:2\nin_port=2,actions=output:99999999999\nin_port=2,actions=output:1\n"))
        .unwrap_err()
        .to_string();
    assert!(e.contains("line 2"), "{e}");
    assert_eq!(x.ctl(&["dump-flows", "br0"]).unwrap(), "");
    // Unknown bridge, port, netdev.
    let e = x.ctl(&["add-flow", "nosuchbr", "actions=drop"]).unwrap_err().to_string();
    assert!(e.contains("no bridge named nosuchbr"), "{e}");
    let e = x.ctl(&["del-port", "br0", "nosuchport"]).unwrap_err().to_string();
    assert!(e.contains("nosuchport"), "{e}");
    let e = x.ctl(&["add-port", "br0", "nosuchdev0"]).unwrap_err().to_string();
    assert!(e.contains("nosuchdev0"), "{e}");
    assert!(!x.ctl(&["show"]).unwrap().contains("nosuchdev0"));
    // The real CLI reports errors on stderr with a non-zero exit.
    let out = x.xvsctl(&["add-flow", "br0", "in_port=1,actions=bogus_action"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("bogus_action"));
}

#[test]
fn client_dropping_mid_command_does_not_disturb_xvsd() {
    let x = Xvsd::start(&[]).unwrap();
    let (a, b) = two_vms(&x, false, 60);
    assert_eq!(a.ns.ping(&b.ip, 2, 0.1).unwrap(), 2);
    // Half a request, then hang up.
    {
        let mut s = UnixStream::connect(&x.socket).unwrap();
        s.write_all(br#"{"args":["add-br","brhalf"#).unwrap();
    }
    // Connect and leave without a word.
    drop(UnixStream::connect(&x.socket).unwrap());
    // A big add-flows request cut off before its end.
    {
        let mut s = UnixStream::connect(&x.socket).unwrap();
        let mut body = String::from(r#"{"args":["add-flows","br0"],"input":""#);
        for i in 0..20000 {
            body.push_str(&format!("priority=5,in_port=1,tp_dst={i},tcp,actions=drop\\n"));
        }
        s.write_all(body.as_bytes()).unwrap();
    }
    // Garbage.
    {
        let mut s = UnixStream::connect(&x.socket).unwrap();
        s.write_all(b"\x00\xffnot json\n").unwrap();
    }
    std::thread::sleep(Duration::from_millis(300));
    assert!(x.alive());
    assert!(!x.ctl(&["list-br"]).unwrap().contains("brhalf"));
    assert_eq!(x.ctl(&["dump-flows", "br0"]).unwrap().lines().count(), 1);
    assert_eq!(a.ns.ping(&b.ip, 3, 0.1).unwrap(), 3);
}
