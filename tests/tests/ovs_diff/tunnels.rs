//! Native tunneling against Open vSwitch: VXLAN and GRE ports on a Neutron-like
//! br-tun (with br-int behind a patch), routed through br-phy, whose LOCAL/internal
//! port holds the local endpoint 10.0.0.1/24, with static neighbours.
//!
//! Cases: outputs to tunnel ports after `set_tunnel`, `set_field:->tun_id`,
//! `load:->NXM_NX_TUN_ID[]`, with fixed keys and `remote_ip=flow` with
//! `set_field:->tun_dst` (also to a neighbour nobody knows, to no route, with no
//! tun_dst at all); floods to several tunnels (clones); the Neutron tables 20/22;
//! packets arriving on tunnel ports matched on tun_id/tun_src/tun_dst (OVS maps the
//! tunnel metadata to the port as a received packet would); outer packets to the
//! local endpoint on br-phy (tnl_pop).

use std::net::Ipv4Addr;

use super::harness::{BridgeDef, Diff, PortDef, Underlay};
use super::packet::{mac, Mac, Pkt, L3, L4};
use super::scenarios::{arp_req, ip, ipv4, tcp, udp, BCAST};

pub const PHY_MAC: &str = "02:00:00:00:00:fe";
pub const LOCAL_IP: &str = "10.0.0.1";

/// Tunnel ports of br-tun: (name, ofport, type, options).
const TUNNELS: &[(&str, u32, &str, &[(&str, &str)])] = &[
    ("vxflow", 10, "vxlan", &[("remote_ip", "flow"), ("key", "flow")]),
    ("vx2", 11, "vxlan", &[("remote_ip", "10.0.0.2"), ("key", "flow")]),
    ("vx3", 12, "vxlan", &[("remote_ip", "10.0.0.3"), ("key", "flow")]),
    ("vxfix", 13, "vxlan", &[("remote_ip", "10.0.0.4"), ("key", "0x99")]),
    ("gre3", 14, "gre", &[("remote_ip", "10.0.0.3"), ("key", "flow")]),
    ("gre5", 15, "gre", &[("remote_ip", "10.0.0.5")]),
    (
        "vxopt",
        16,
        "vxlan",
        &[
            ("remote_ip", "10.0.0.6"),
            ("in_key", "0x5"),
            ("out_key", "0x55"),
            ("tos", "32"),
            ("ttl", "10"),
            ("df_default", "false"),
        ],
    ),
];

fn bridges() -> Vec<BridgeDef> {
    let mut tun = vec![
        PortDef::patch("patch-int", 1, "patch-tun"),
        PortDef::plain("p1", 2),
        PortDef::plain("p2", 3),
    ];
    for (n, of, ty, o) in TUNNELS {
        tun.push(PortDef::tunnel(n, *of, ty, o));
    }
    vec![
        BridgeDef {
            name: "br-int".into(),
            ports: vec![
                PortDef::access("vm1", 1, 1),
                PortDef::access("vm2", 2, 1),
                PortDef::access("vm3", 3, 2),
                PortDef::patch("patch-tun", 9, "patch-int"),
            ],
        },
        BridgeDef {
            name: "br-tun".into(),
            ports: tun,
        },
        BridgeDef {
            name: "br-phy".into(),
            ports: vec![PortDef::plain("up1", 1)],
        },
    ]
}

pub fn underlay() -> Underlay {
    Underlay {
        bridge: "br-phy".into(),
        mac: mac(PHY_MAC),
        ip: ip(LOCAL_IP),
        plen: 24,
        // 10.0.0.7 has no neighbour entry; 10.9.9.9 has no route.
        neigh: (2..=6)
            .map(|i| (Ipv4Addr::new(10, 0, 0, i), [0xaa, 0x55, 0, 0, 0, i]))
            .collect(),
    }
}

const BR_TUN_FLOWS: &[&str] = &[
    // From p1: one kind of tunnel output per destination MAC.
    "table=0,priority=10,in_port=2,dl_dst=02:00:00:00:01:02,actions=set_tunnel:0x64,output:11",
    "table=0,priority=10,in_port=2,dl_dst=02:00:00:00:01:03,actions=set_field:0x1234->tun_id,output:12",
    "table=0,priority=10,in_port=2,dl_dst=02:00:00:00:01:04,actions=load:0xabcdef->NXM_NX_TUN_ID[],output:14",
    "table=0,priority=10,in_port=2,dl_dst=02:00:00:00:01:05,actions=output:13",
    "table=0,priority=10,in_port=2,dl_dst=02:00:00:00:01:06,actions=set_tunnel:0x7,set_field:10.0.0.4->tun_dst,output:10",
    "table=0,priority=10,in_port=2,dl_dst=02:00:00:00:01:07,actions=set_tunnel:0x7,set_field:10.0.0.7->tun_dst,output:10",
    "table=0,priority=10,in_port=2,dl_dst=02:00:00:00:01:08,actions=set_tunnel:0x7,set_field:10.9.9.9->tun_dst,output:10",
    "table=0,priority=10,in_port=2,dl_dst=02:00:00:00:01:09,actions=output:10",
    "table=0,priority=10,in_port=2,dl_dst=02:00:00:00:01:0a,actions=set_tunnel:0x5,output:16",
    "table=0,priority=10,in_port=2,dl_dst=02:00:00:00:01:0b,actions=set_tunnel:0x5,output:15",
    "table=0,priority=10,in_port=2,dl_dst=02:00:00:00:01:0c,actions=set_tunnel:0x5,output:11,mod_dl_dst:02:00:00:00:00:99,output:3",
    "table=0,priority=10,in_port=2,dl_dst=02:00:00:00:01:0d,actions=set_tunnel:0x5,output:11,set_tunnel:0x6,output:12,output:14,output:3",
    "table=0,priority=10,in_port=2,dl_dst=02:00:00:00:01:0e,actions=set_tunnel:0x5,mod_nw_dst:10.1.1.1,output:11,mod_nw_dst:10.2.2.2,output:12",
    "table=0,priority=10,in_port=2,dl_dst=02:00:00:00:01:0f,actions=set_tunnel:0xffffffff,output:11",
    "table=0,priority=10,in_port=2,dl_dst=02:00:00:00:01:10,actions=set_tunnel:0x123456789,output:14",
    "table=0,priority=10,in_port=2,dl_dst=02:00:00:00:01:11,actions=set_tunnel:0x5,output:11,output:11",
    "table=0,priority=10,in_port=2,dl_dst=02:00:00:00:01:12,actions=set_tunnel:0x5,set_field:10.0.0.2->tun_dst,output:10,output:11",
    "table=0,priority=10,in_port=2,dl_dst=02:00:00:00:01:13,actions=set_field:10.0.0.3->tun_dst,set_tunnel:0x9,output:10,output:12,output:14",
    "table=0,priority=10,in_port=2,dl_dst=02:00:00:00:01:14,actions=set_tunnel:0x5,output:11,output:2",
    "table=0,priority=10,in_port=2,dl_dst=02:00:00:00:01:15,actions=set_tunnel:0x5,set_field:10.0.0.1->tun_dst,output:10",
    "table=0,priority=10,in_port=2,dl_dst=02:00:00:00:01:16,actions=set_tunnel:0x5,output:11,mod_vlan_vid:7,output:12",
    "table=0,priority=10,in_port=2,dl_dst=02:00:00:00:01:17,actions=set_tunnel:0x5,output:13,output:16,output:15,output:10",
    "table=0,priority=10,in_port=2,dl_dst=02:00:00:00:01:18,actions=set_tunnel:0x5,output:11,resubmit(,30)",
    "table=30,priority=1,actions=set_tunnel:0x31,output:12",
    "table=0,priority=9,in_port=2,actions=resubmit(,2)",
    // Arriving on tunnel ports.
    "table=0,priority=10,in_port=10,tun_src=10.0.0.9,actions=output:3",
    "table=0,priority=11,in_port=10,tun_id=0x42,actions=set_field:10.0.0.3->tun_dst,output:10",
    "table=0,priority=10,in_port=13,actions=output:2",
    "table=0,priority=10,in_port=15,tun_id=0,actions=output:2",
    "table=0,priority=10,in_port=16,actions=output:3",
    "table=0,priority=11,in_port=11,tun_id=0x65,actions=set_tunnel:0x66,output:12",
    "table=0,priority=11,in_port=12,tun_src=10.0.0.3,tun_id=0x1234,actions=output:3",
    "table=0,priority=11,in_port=11,tun_dst=10.0.0.1,tun_id=0x99,actions=output:2,output:3",
    "table=0,priority=11,tun_id=0x77,actions=output:2",
    "table=0,priority=11,in_port=12,tun_id=0x5/0xff,actions=output:12,output:11",
    // Neutron's br-tun (tables 0, 2, 4, 10, 20, 22).
    "table=0,priority=1,in_port=1,actions=resubmit(,2)",
    "table=0,priority=1,in_port=11,actions=resubmit(,4)",
    "table=0,priority=1,in_port=12,actions=resubmit(,4)",
    "table=0,priority=1,in_port=14,actions=resubmit(,4)",
    "table=0,priority=0,actions=drop",
    "table=2,priority=0,dl_dst=00:00:00:00:00:00/01:00:00:00:00:00,actions=resubmit(,20)",
    "table=2,priority=0,dl_dst=01:00:00:00:00:00/01:00:00:00:00:00,actions=resubmit(,22)",
    "table=4,priority=1,tun_id=0x64,actions=mod_vlan_vid:1,resubmit(,10)",
    "table=4,priority=1,tun_id=0xc8,actions=mod_vlan_vid:2,resubmit(,10)",
    "table=4,priority=0,actions=drop",
    "table=10,priority=1,actions=output:1",
    "table=20,priority=2,dl_vlan=1,dl_dst=fa:16:3e:00:00:12,actions=strip_vlan,load:0x64->NXM_NX_TUN_ID[],output:11",
    "table=20,priority=2,dl_vlan=1,dl_dst=fa:16:3e:00:00:13,actions=strip_vlan,load:0x64->NXM_NX_TUN_ID[],output:12",
    "table=20,priority=2,dl_vlan=2,dl_dst=fa:16:3e:00:00:23,actions=strip_vlan,set_field:0xc8->tun_id,output:14",
    "table=20,priority=0,actions=resubmit(,22)",
    "table=22,priority=1,dl_vlan=1,actions=strip_vlan,set_tunnel:0x64,output:11,output:12,output:14",
    "table=22,priority=1,dl_vlan=2,actions=strip_vlan,set_tunnel:0xc8,output:12,output:14",
    "table=22,priority=0,actions=drop",
];

const VM: &str = "fa:16:3e:00:00:01";

fn m(s: &str) -> Mac {
    mac(s)
}

/// A frame from tunnel port `ofport` of br-tun with tunnel id `id`.
fn from_tunnel(ofport: u32, id: u64, dst: Mac, l4: L4) -> Pkt {
    let mut p = ipv4(
        "br-tun",
        ofport,
        m("fa:16:3e:00:00:12"),
        dst,
        ip("192.168.1.12"),
        ip("192.168.1.1"),
        l4,
    );
    p.tun_id = Some(id);
    p
}

/// Build the scenario; run every case; return the Diff (with its tally).
pub fn run() -> Result<Diff, String> {
    let mut d = Diff::with_underlay("tunnels", bridges(), Some(underlay()))?;
    let tun: Vec<String> = BR_TUN_FLOWS.iter().map(|s| s.to_string()).collect();
    d.set_flows(&[
        ("br-int", vec!["actions=NORMAL".into()]),
        ("br-tun", tun),
        ("br-phy", vec!["actions=NORMAL".into()]),
    ])?;

    // (a) Outputs to tunnel ports from p1, one destination MAC per flow.
    let src = m("02:00:00:00:00:01");
    for last in 0x02..=0x18u8 {
        let dst = [2, 0, 0, 0, 1, last];
        for (what, l4) in [("udp", udp(1000 + last as u16, 2000)), ("tcp", tcp(80))] {
            let p = ipv4("br-tun", 2, src, dst, ip("1.1.1.1"), ip("2.2.2.2"), l4);
            d.case(&format!("p1 to ..:01:{last:02x} ({what})"), &p);
        }
    }
    // A tagged frame keeps its tag inside the tunnel; an ARP broadcast.
    let mut p = ipv4("br-tun", 2, src, [2, 0, 0, 0, 1, 2], ip("1.1.1.1"), ip("2.2.2.2"), udp(1, 2));
    p.vlan = Some((5, 3));
    d.case("p1 tagged to vx2", &p);
    // The outer TOS takes the inner ECN bits (CE becomes ECT(0)), also with a fixed
    // tos option (vxopt): xvs once left them out.
    for (last, tos) in [(0x02u8, 0x03u8), (0x02, 0xb9), (0x0a, 0x02), (0x0a, 0x03), (0x0b, 0x01)] {
        let mut p = ipv4("br-tun", 2, src, [2, 0, 0, 0, 1, last], ip("1.1.1.1"), ip("2.2.2.2"), udp(1, 2));
        if let L3::Ipv4 { tos: t, .. } = &mut p.l3 {
            *t = tos;
        }
        d.case(&format!("p1 to ..:01:{last:02x} with TOS {tos:#04x} (ECN)"), &p);
    }
    let mut p = arp_req("br-tun", 2, src, ip("1.1.1.1"), ip("1.1.1.2"));
    p.dst = [2, 0, 0, 0, 1, 0x0d];
    d.case("p1 ARP to the flood of tunnels", &p);

    // (c) Neutron: VMs on br-int (VLAN 1 and 2), unicast by table 20 and floods by
    // table 22 through the patch.
    for (inp, dst, label) in [
        (1, "fa:16:3e:00:00:12", "vm1 unicast to vx2 (table 20)"),
        (1, "fa:16:3e:00:00:13", "vm1 unicast to vx3 (table 20)"),
        (3, "fa:16:3e:00:00:23", "vm3 unicast to gre3 (table 20)"),
        (1, "fa:16:3e:00:00:99", "vm1 unknown unicast (table 22)"),
        (3, "fa:16:3e:00:00:98", "vm3 unknown unicast (table 22)"),
    ] {
        let p = ipv4("br-int", inp, m(VM), m(dst), ip("192.168.1.1"), ip("192.168.1.2"), tcp(22));
        d.case(label, &p);
    }
    for inp in [1, 2, 3] {
        let p = arp_req("br-int", inp, m(VM), ip("192.168.1.1"), ip("192.168.1.9"));
        d.case(&format!("vm{inp} ARP broadcast (table 22)"), &p);
    }
    let mut p = ipv4("br-int", 1, m(VM), BCAST, ip("192.168.1.1"), ip("192.168.1.255"), udp(68, 67));
    p.l3 = L3::Ipv4 {
        src: ip("0.0.0.0"),
        dst: ip("255.255.255.255"),
        tos: 0x10,
        ttl: 1,
        l4: udp(68, 67),
    };
    d.case("vm1 DHCP broadcast (table 22)", &p);

    // (b) Arriving on tunnel ports: (in_port the tunnel should map to, tun_id,
    // remote, destination MAC).
    let local = ip(LOCAL_IP);
    let arrivals: &[(u32, u64, &str, &str, &str)] = &[
        (11, 0x64, "10.0.0.2", VM, "vx2 VNI 100 -> VLAN 1 -> br-int"),
        (11, 0x64, "10.0.0.2", "ff:ff:ff:ff:ff:ff", "vx2 VNI 100 broadcast"),
        (11, 0xc8, "10.0.0.2", VM, "vx2 VNI 200 -> VLAN 2"),
        (11, 0x123, "10.0.0.2", VM, "vx2 unknown VNI"),
        (11, 0x65, "10.0.0.2", VM, "vx2 to vx3 (tunnel to tunnel)"),
        (11, 0x99, "10.0.0.2", VM, "vx2 tun_dst match"),
        (12, 0x1234, "10.0.0.3", VM, "vx3 tun_src+tun_id match"),
        (12, 0x305, "10.0.0.3", VM, "vx3 masked tun_id, back out"),
        (14, 0xc8, "10.0.0.3", VM, "gre3 key 200"),
        (14, 0x77, "10.0.0.3", VM, "gre3 tun_id without in_port"),
        (13, 0x99, "10.0.0.4", VM, "vxfix in_key"),
        (13, 0x98, "10.0.0.4", VM, "vxfix other key (to the flow port)"),
        (10, 0x7, "10.0.0.9", VM, "vxflow from an unknown remote"),
        (10, 0x42, "10.0.0.9", VM, "vxflow reflect to tun_dst"),
        (10, 0x77, "10.0.0.8", VM, "vxflow tun_id without in_port"),
        (15, 0, "10.0.0.5", VM, "gre5 without key"),
        (16, 0x5, "10.0.0.6", VM, "vxopt in_key"),
    ];
    for (inp, id, remote, dst, label) in arrivals {
        let p = from_tunnel(*inp, *id, m(dst), udp(5000, 53));
        d.case_tunnel(label, &p, ip(remote), local);
    }

    // Outer packets on the underlay: to the local endpoint (popped), to it but
    // another port, to another address.
    let peer = [0xaa, 0x55, 0, 0, 0, 2];
    let phy = m(PHY_MAC);
    for (l4, to, label) in [
        (udp(40000, 4789), LOCAL_IP, "VXLAN to the local endpoint"),
        (L4::Other(47), LOCAL_IP, "GRE to the local endpoint"),
        (udp(40000, 53), LOCAL_IP, "UDP/53 to the local endpoint"),
        (udp(40000, 4790), LOCAL_IP, "UDP/4790 to the local endpoint"),
        (tcp(4789), LOCAL_IP, "TCP/4789 to the local endpoint"),
    ] {
        let p = ipv4("br-phy", 1, peer, phy, ip("10.0.0.2"), ip(to), l4);
        d.case(label, &p);
    }
    Ok(d)
}
