//! Native tunneling in translation, without a kernel: a VM port on br-tun, a vxlan and
//! a gre port, br-phy whose internal port carries the underlay address, routes and a
//! neighbour given directly. Encapsulation emits tnl_push + the underlay's output and
//! produces the right bytes; a VXLAN packet to our address pops and its inner packet
//! enters br-tun from the tunnel port; misses are named drops.

use std::net::Ipv4Addr;
use std::sync::Arc;

use xvs::exec::Sent;
use xvs::flow::parse::{parse_flow, ParseMode};
use xvs::flow::{Field, FlowKey};
use xvs::odp::DpAction;
use xvs::ofproto::{Ofproto, PortKind, PortRequest};
use xvs::packet::buf::PacketMut;
use xvs::packet::extract;
use xvs::port::{OdpPort, TunnelProto};
use xvs::route::{Route, RouteTable};
use xvs::xlate::{translate, XlateError};

const PHY_MAC: [u8; 6] = [0x02, 0x00, 0x00, 0x00, 0x00, 0x01];
const PEER_MAC: [u8; 6] = [0x02, 0x00, 0x00, 0x00, 0x00, 0x02];

fn opts(kv: &[(&str, &str)]) -> std::collections::BTreeMap<String, String> {
    kv.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
}

/// (ofproto, VM dp port, uplink dp port)
fn setup() -> (Ofproto, OdpPort, OdpPort) {
    let mut o = Ofproto::new();
    o.add_bridge("br-tun", true).unwrap();
    o.add_bridge("br-phy", false).unwrap();
    let vm = o.add_port("br-tun", PortRequest { name: "vm1".into(), ofport: Some(1), ..Default::default() }).unwrap();
    for (name, ty, ofport) in [("vxlan-0a000002", "vxlan", 2), ("gre-0a000002", "gre", 3)] {
        let (kind, _) = PortKind::parse(Some(ty), &opts(&[("remote_ip", "10.0.0.2"), ("key", "flow")])).unwrap();
        o.add_port("br-tun", PortRequest { name: name.into(), ofport: Some(ofport), kind: Some(kind), ..Default::default() }).unwrap();
    }
    o.add_port("br-phy", PortRequest { name: "br-phy".into(), ofport: Some(0xfffe), kind: Some(PortKind::Internal), mac: Some(PHY_MAC), ..Default::default() })
        .unwrap();
    let up = o.add_port("br-phy", PortRequest { name: "uplink".into(), ofport: Some(1), ..Default::default() }).unwrap();
    let names = o.bridge("br-tun").unwrap();
    let flows = [
        "table=0,priority=10,in_port=1,dl_dst=fa:16:3e:00:00:02,actions=set_tunnel:0x64,output:2",
        "table=0,priority=10,in_port=1,dl_dst=fa:16:3e:00:00:03,actions=set_tunnel:0xc8,output:3",
        "table=0,priority=5,in_port=1,actions=set_tunnel:0x64,output:2,set_tunnel:0xc8,output:3",
        "table=0,priority=10,in_port=2,tun_id=0x64,actions=output:1",
    ];
    let specs: Vec<_> = flows.iter().map(|f| parse_flow(f, ParseMode::Add, &names.port_names()).unwrap()).collect();
    o.add_flows("br-tun", &specs).unwrap();
    o.net.routes.store(Arc::new(RouteTable {
        routes: vec![Route { dst: "10.0.0.0".parse().unwrap(), plen: 24, gateway: None, dev: "br-phy".into(), src: None, priority: 0 }],
        addrs: vec![("br-phy".into(), "10.0.0.1".parse().unwrap(), 24)],
        links: [("br-phy".to_string(), (PHY_MAC, 1500))].into_iter().collect(),
    }));
    (o, vm.dp_port.unwrap(), up.dp_port.unwrap())
}

fn inner_frame(dst_last: u8) -> Vec<u8> {
    // fa:16:3e:00:00:01 -> fa:16:3e:00:00:0X, IPv4 UDP 10.1.0.1:1000 -> 10.1.0.2:2000.
    let mut f = vec![0xfa, 0x16, 0x3e, 0, 0, dst_last, 0xfa, 0x16, 0x3e, 0, 0, 1, 0x08, 0x00];
    let ip = [0x45, 0, 0, 28, 0, 0, 0x40, 0, 64, 17, 0, 0, 10, 1, 0, 1, 10, 1, 0, 2];
    f.extend_from_slice(&ip);
    let c = xvs::packet::checksum::checksum(&f[14..34]);
    f[24..26].copy_from_slice(&c.to_be_bytes());
    f.extend_from_slice(&[0x03, 0xe8, 0x07, 0xd0, 0, 8, 0, 0]);
    f.resize(60, 0);
    f
}

fn key_of(frame: &[u8], in_port: OdpPort) -> FlowKey {
    let mut k = FlowKey::ZERO;
    extract(frame, in_port.0, &mut k).unwrap();
    k
}

/// Run actions on a frame as the datapath does (with headroom); returns (port, bytes)
/// per output, tunnel pops as port 1000 + their vport.
fn run(frame: &[u8], acts: &[DpAction]) -> Vec<(OdpPort, Vec<u8>)> {
    let mut sent = Vec::new();
    xvs::exec::run_frame(frame, acts, &mut sent).unwrap();
    sent.into_iter()
        .map(|s| match s {
            Sent::Output(p, b) => (p, b),
            Sent::Pop(v, b) => (OdpPort(1000 + v.0), b),
        })
        .collect()
}

#[test]
fn encapsulation_goes_through_the_underlay_bridge() {
    let (o, vm, up) = setup();
    o.net.neigh.set("br-phy", "10.0.0.2".parse().unwrap(), PEER_MAC);
    let p = Arc::new({
        let mut o = o;
        o.snapshot()
    });
    let f = inner_frame(2);
    let out = translate(&p, &key_of(&f, vm));
    assert!(out.error.is_none(), "{:?}", out.error_detail);
    // The unicast case ends with the encapsulation: no clone, pushed in place.
    assert!(matches!(out.actions.first(), Some(DpAction::TnlPush(_))), "{:?}", out.actions);
    assert_eq!(out.actions.last(), Some(&DpAction::Output(up)));
    let sent = run(&f, &out.actions);
    assert_eq!(sent.len(), 1);
    let (port, bytes) = &sent[0];
    assert_eq!(*port, up);
    assert_eq!(bytes.len(), f.len() + 50);
    assert_eq!(&bytes[..6], &PEER_MAC);
    assert_eq!(&bytes[6..12], &PHY_MAC);
    assert_eq!(&bytes[26..34], &[10, 0, 0, 1, 10, 0, 0, 2]);
    assert_eq!(&bytes[42..50], &[0x08, 0, 0, 0, 0, 0, 0x64, 0], "VNI 100");
    assert_eq!(&bytes[50..], &f[..]);
    // The megaflow does not depend on the outer header's fields: only on what the
    // inner packet was matched on.
    assert_eq!(out.mask.w[xvs::flow::key::word::NW_ADDRS], 0);
    // The GRE port: key 200, IP protocol 47, 42 bytes.
    let f3 = inner_frame(3);
    let out = translate(&p, &key_of(&f3, vm));
    let sent = run(&f3, &out.actions);
    assert_eq!(sent[0].1.len(), f3.len() + 42);
    assert_eq!(sent[0].1[23], 47);
    assert_eq!(&sent[0].1[34..42], &[0x20, 0, 0x65, 0x58, 0, 0, 0, 0xc8]);
}

#[test]
fn flooding_to_two_tunnels_clones_the_first() {
    let (mut o, vm, up) = setup();
    o.net.neigh.set("br-phy", "10.0.0.2".parse().unwrap(), PEER_MAC);
    let p = o.snapshot();
    let f = inner_frame(9);
    let out = translate(&p, &key_of(&f, vm));
    assert!(matches!(out.actions[0], DpAction::Clone(_)), "{:?}", out.actions);
    let sent = run(&f, &out.actions);
    let lens: Vec<(OdpPort, usize)> = sent.iter().map(|(p, b)| (*p, b.len())).collect();
    assert_eq!(lens, vec![(up, 110), (up, 102)], "one VXLAN and one GRE copy of the same inner frame");
}

#[test]
fn missing_neighbour_and_route_are_named_drops() {
    let (mut o, vm, _) = setup();
    let p = o.snapshot();
    let out = translate(&p, &key_of(&inner_frame(2), vm));
    assert_eq!(out.error, Some(XlateError::TnlNeighMiss));
    // The drop depends on that neighbour: learning it revalidates this megaflow.
    assert!(out.deps.contains(xvs::cache::tags::Tag::neigh("10.0.0.2".parse().unwrap())));
    assert_eq!(out.neigh_misses.len(), 1);
    assert_eq!(out.neigh_misses[0].dst_ip, "10.0.0.2".parse::<Ipv4Addr>().unwrap());
    assert_eq!(out.neigh_misses[0].src_mac, PHY_MAC);
    o.net.routes.store(Arc::new(RouteTable::default()));
    let p = o.snapshot();
    let out = translate(&p, &key_of(&inner_frame(2), vm));
    assert_eq!(out.error, Some(XlateError::TnlNoRoute));
}

#[test]
fn decapsulation_pops_and_the_inner_packet_enters_from_the_tunnel_port() {
    let (mut o, vm, up) = setup();
    o.net.neigh.set("br-phy", "10.0.0.2".parse().unwrap(), PEER_MAC);
    let p = o.snapshot();
    // Build what the peer sends: encapsulate a frame towards us by swapping roles.
    let inner = inner_frame(1);
    let hdr = xvs::packet::tunnel::TnlHeader::build(&xvs::packet::tunnel::TnlParams {
        proto: TunnelProto::Vxlan,
        eth_dst: PHY_MAC,
        eth_src: PEER_MAC,
        ip_src: "10.0.0.2".parse().unwrap(),
        ip_dst: "10.0.0.1".parse().unwrap(),
        tos: 0,
        ttl: 64,
        df: true,
        key: 0x64,
        with_key: true,
        udp_dst: 4789,
        csum: false,
    });
    let mut buf = vec![0u8; 512];
    buf[256..256 + inner.len()].copy_from_slice(&inner);
    let mut pkt = PacketMut::with_headroom(&mut buf, 256, inner.len()).unwrap();
    hdr.push(&mut pkt, 40000).unwrap();
    let outer = pkt.data().to_vec();
    let out = translate(&p, &key_of(&outer, up));
    let vport = *p.vports.keys().next().unwrap();
    assert!(out.actions.contains(&DpAction::TnlPop(vport)), "{:?}", out.actions);
    // Second pass: the datapath pops and re-extracts with the tunnel metadata.
    let mut b = outer.clone();
    let n = b.len();
    let mut pk = PacketMut::with_headroom(&mut b, 0, n).unwrap();
    let md = xvs::packet::tunnel::pop(&mut pk, TunnelProto::Vxlan, 4789).unwrap();
    let mut k2 = key_of(pk.data(), vport);
    Field::TunId.set(&mut k2, md.tun_id as u128);
    Field::TunSrc.set(&mut k2, u32::from(md.src) as u128);
    Field::TunDst.set(&mut k2, u32::from(md.dst) as u128);
    let out2 = translate(&p, &k2);
    assert_eq!(out2.actions, vec![DpAction::Output(vm)]);
    // key=flow ports take every VNI: an unknown one is dropped by the flows (as the
    // agent's table 4 does). A packet from a remote no port names is a named drop.
    Field::TunId.set(&mut k2, 0x99);
    let out3 = translate(&p, &k2);
    assert_eq!((out3.error, out3.actions.len()), (None, 0));
    Field::TunSrc.set(&mut k2, u32::from("10.0.0.99".parse::<Ipv4Addr>().unwrap()) as u128);
    let out4 = translate(&p, &k2);
    assert_eq!(out4.error, Some(XlateError::TnlNoPort));
    // Traffic from the peer refreshed (here: confirmed) its neighbour entry.
    assert_eq!(p.net.neigh.lookup("10.0.0.2".parse().unwrap()), Some(PEER_MAC));
}
