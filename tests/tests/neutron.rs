//! Neutron's OVS-agent pipeline on real namespaces: br-int (VM access ports on local
//! VLANs) joined to br-tun by a patch pair, with the agent's flows: ARP responder
//! (table 21), learning from tunnels (table 10 learn -> table 20), flooding per
//! network (table 22).
//!
//! xvs has no tunnel ports yet, so br-tun's "tunnel" is a veth to a namespace playing
//! the remote side, and decapsulation is stood in for by one flow
//! (`in_port=<tunnel>,actions=set_tunnel:0x64,resubmit(,4)`): every other flow is the
//! agent's own.

use std::time::Duration;

use xvs_tools::netlab::{rule_counters, wait_for, Vm, Xvsd};

const TUN: u32 = 2; // the tunnel stand-in on br-tun
const VNI: &str = "0x64";

fn br_int_flows() -> &'static str {
    "table=0,priority=65535,vlan_tci=0x0fff/0x1fff,actions=drop
table=0,priority=0,actions=resubmit(,60)
table=23,priority=0,actions=drop
table=24,priority=0,actions=drop
table=60,priority=3,actions=NORMAL
"
}

fn br_tun_flows() -> String {
    format!(
        "table=0,priority=1,in_port=1,actions=resubmit(,2)
table=0,priority=1,in_port={TUN},actions=set_tunnel:{VNI},resubmit(,4)
table=0,priority=0,actions=drop
table=2,priority=1,arp,dl_dst=ff:ff:ff:ff:ff:ff,actions=resubmit(,21)
table=2,priority=0,dl_dst=00:00:00:00:00:00/01:00:00:00:00:00,actions=resubmit(,20)
table=2,priority=0,dl_dst=01:00:00:00:00:00/01:00:00:00:00:00,actions=resubmit(,22)
table=4,priority=1,tun_id={VNI},actions=mod_vlan_vid:1,resubmit(,10)
table=4,priority=0,actions=drop
table=10,priority=1,actions=learn(table=20,hard_timeout=300,priority=1,cookie=0x1234,NXM_OF_VLAN_TCI[0..11],NXM_OF_ETH_DST[]=NXM_OF_ETH_SRC[],load:0->NXM_OF_VLAN_TCI[],load:NXM_NX_TUN_ID[]->NXM_NX_TUN_ID[],output:NXM_OF_IN_PORT[]),output:1
table=20,priority=0,actions=resubmit(,22)
table=21,priority=1,arp,dl_vlan=1,arp_tpa=10.0.1.50,actions=move:NXM_OF_ETH_SRC[]->NXM_OF_ETH_DST[],mod_dl_src:fa:16:3e:aa:bb:cc,load:0x2->NXM_OF_ARP_OP[],move:NXM_NX_ARP_SHA[]->NXM_NX_ARP_THA[],move:NXM_OF_ARP_SPA[]->NXM_OF_ARP_TPA[],load:0xfa163eaabbcc->NXM_NX_ARP_SHA[],load:0xa000132->NXM_OF_ARP_SPA[],IN_PORT
table=21,priority=0,actions=resubmit(,22)
table=22,priority=1,dl_vlan=1,actions=strip_vlan,set_tunnel:{VNI},output:{TUN}
table=22,priority=0,actions=drop
"
    )
}

struct Node {
    x: Xvsd,
    vm1: Vm,
    vm2: Vm,
    remote: Vm,
}

fn build() -> Node {
    let x = Xvsd::start(&[]).unwrap();
    let vm1 = Vm::new("10.0.1.11/24", "fa:16:3e:00:00:11").unwrap();
    let vm2 = Vm::new("10.0.2.12/24", "fa:16:3e:00:00:12").unwrap();
    let remote = Vm::new("10.0.1.60/24", "fa:16:3e:00:00:60").unwrap();
    x.ctl(&["add-br", "br-int", "fail_mode=secure"]).unwrap();
    x.ctl(&["add-br", "br-tun", "fail_mode=secure"]).unwrap();
    x.ctl(&["add-port", "br-int", "patch-tun", "type=patch", "options:peer=patch-int", "ofport=1"]).unwrap();
    x.ctl(&["add-port", "br-tun", "patch-int", "type=patch", "options:peer=patch-tun", "ofport=1"]).unwrap();
    // Two VMs on different networks: local VLANs 1 and 2, as the agent tags them.
    x.ctl(&["add-port", "br-int", &vm1.host, "tag=1", "ofport=10"]).unwrap();
    x.ctl(&["add-port", "br-int", &vm2.host, "tag=2", "ofport=11"]).unwrap();
    x.ctl(&["add-port", "br-tun", &remote.host, &format!("ofport={TUN}")]).unwrap();
    x.ctl_input(&["add-flows", "br-int"], Some(br_int_flows())).unwrap();
    x.ctl_input(&["add-flows", "br-tun"], Some(&br_tun_flows())).unwrap();
    Node { x, vm1, vm2, remote }
}

/// The MAC the VM's kernel resolved for `ip`, if any.
fn neighbour(vm: &Vm, ip: &str) -> Option<String> {
    let out = vm.ns.exec(&["ip", "neigh", "show", ip]).ok()?;
    let mut it = out.split_whitespace();
    it.find(|w| *w == "lladdr")?;
    it.next().map(|s| s.to_string())
}

#[test]
fn arp_responder_answers_in_the_namespace() {
    let n = build();
    let on_tunnel = n.remote.capture("arp", 1, 3).unwrap();
    // VM1 asks for 10.0.1.50, a VM "on another host": br-int floods the request over
    // the patch, br-tun table 21 turns it into a reply sent back IN_PORT.
    let _ = n.vm1.ns.ping("10.0.1.50", 1, 0.2);
    assert!(
        wait_for(Duration::from_secs(2), || neighbour(&n.vm1, "10.0.1.50").as_deref() == Some("fa:16:3e:aa:bb:cc")),
        "VM1 has no ARP answer: {:?}\n{}",
        n.vm1.ns.exec(&["ip", "neigh"]),
        n.x.ctl(&["dump-flows", "br-tun"]).unwrap()
    );
    let dump = n.x.ctl(&["dump-flows", "br-tun", "table=21"]).unwrap();
    let (pkts, _) = rule_counters(&dump, "arp_tpa=10.0.1.50").unwrap();
    assert!(pkts >= 1, "{dump}");
    // The request never went out on the tunnel: the responder answered it locally.
    let seen = on_tunnel.finish();
    assert!(!seen.contains("10.0.1.50"), "ARP leaked to the tunnel: {seen}");
}

#[test]
fn learn_creates_table_20_flows_and_traffic_uses_them() {
    let n = build();
    let cap = n.remote.capture("icmp", 2, 5).unwrap();
    // The remote VM pings VM1: its frames come in on the tunnel, table 10 learns its
    // MAC into table 20, and VM1's replies find their way back through that flow.
    assert_eq!(n.remote.ns.ping(&n.vm1.ip, 3, 0.1).unwrap(), 3, "{}", n.x.ctl(&["dump-flows", "br-tun"]).unwrap());
    let seen = cap.finish();
    // VM1's replies reach the "tunnel" untagged (load:0->NXM_OF_VLAN_TCI[]).
    assert!(seen.contains("ICMP echo reply") && !seen.contains("vlan"), "remote saw: {seen}");
    let t20 = n.x.ctl(&["dump-flows", "br-tun", "table=20"]).unwrap();
    let learned = t20
        .lines()
        .find(|l| l.contains("dl_dst=fa:16:3e:00:00:60"))
        .unwrap_or_else(|| panic!("no learned flow in table 20:\n{t20}"));
    assert!(learned.contains("cookie=0x1234"), "{learned}");
    assert!(learned.contains("hard_timeout=300"), "{learned}");
    assert!(learned.contains("priority=1,vlan_tci=0x0001/0x0fff"), "{learned}");
    assert!(learned.contains("actions=load:0->NXM_OF_VLAN_TCI[],load:0x64->NXM_NX_TUN_ID[],output:2"), "{learned}");
    // Learned flows are installed by the control thread right after the upcall that
    // learned them (Open vSwitch installs them inside the upcall), so the very first
    // reply may still take the flood path; the later ones use the learned flow.
    let (pkts, _) = rule_counters(learned, "").unwrap();
    assert!(pkts >= 2, "the learned flow carried no replies: {learned}");
}

#[test]
fn local_vlans_keep_networks_apart() {
    let n = build();
    // VM2 (local VLAN 2) has no flood flow in table 22 and cannot reach the remote.
    assert_eq!(n.vm2.ns.ping(&n.remote.ip, 2, 0.1).unwrap_or(0), 0);
    // VM1 (local VLAN 1) can, and the two VMs never see each other's broadcasts.
    let cap = n.vm2.capture("arp", 1, 3).unwrap();
    assert_eq!(n.vm1.ns.ping(&n.remote.ip, 2, 0.1).unwrap(), 2);
    assert!(!cap.finish().contains("10.0.1."), "VLAN 1 broadcast reached VLAN 2");
    // One megaflow per direction carries br-int -> patch -> br-tun in one pass: VM1's
    // unicast to the remote leaves on the remote's datapath port directly.
    let show = n.x.ctl(&["show"]).unwrap();
    let dp = show
        .split(&format!("Interface {}", n.remote.host))
        .nth(1)
        .and_then(|s| s.split("dp_port=").nth(1))
        .and_then(|s| s.split(|c: char| !c.is_ascii_digit()).next())
        .expect("remote's dp_port in show")
        .to_string();
    let mf = n.x.ctl(&["dump-megaflows"]).unwrap();
    assert!(mf.lines().any(|l| l.contains("dl_dst=fa:16:3e:00:00:60") && (l.ends_with(&format!("actions:{dp}")) || l.contains(&format!(",{dp}")))), "{mf}");
}
