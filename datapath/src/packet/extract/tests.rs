//! Tests for `extract`: literal frames for each convention, then property tests
//! against etherparse and against arbitrary input.

use super::*;
use crate::flow::key::DP_WORDS;
use crate::packet::testgen::{frame_spec, FrameSpec, L3, L4};

fn cat(parts: &[&[u8]]) -> Vec<u8> {
    parts.concat()
}

fn run(frame: &[u8]) -> (Result<Offsets, Malformed>, FlowKey) {
    // Start from garbage to prove every word is overwritten.
    let mut k = FlowKey::ALL_ONES;
    let r = extract(frame, 7, &mut k);
    (r, k)
}

fn ok(frame: &[u8]) -> (Offsets, FlowKey) {
    let (r, k) = run(frame);
    (r.expect("frame should parse"), k)
}

fn err(frame: &[u8]) -> Malformed {
    run(frame).0.expect_err("frame should be malformed")
}

const ETH_IP4: [u8; 14] = [
    0x00, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88, 0x99, 0xaa, 0xbb, 0x08, 0x00,
];
const ETH_IP6: [u8; 14] = [
    0x00, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88, 0x99, 0xaa, 0xbb, 0x86, 0xdd,
];
const ETH_ARP: [u8; 14] = [
    0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02, 0x00, 0x00, 0x00, 0x00, 0x01, 0x08, 0x06,
];
const ETH_VLAN: [u8; 14] = [
    0x00, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88, 0x99, 0xaa, 0xbb, 0x81, 0x00,
];
const DST: u64 = 0x0011_2233_4455;
const SRC: u64 = 0x6677_8899_aabb;

// 192.168.1.1 -> 192.168.1.2, TOS 0xb8, TTL 64, UDP, total length 32 (8 UDP + 4 data).
const IP4_UDP: [u8; 20] = [
    0x45, 0xb8, 0x00, 0x20, 0x12, 0x34, 0x00, 0x00, 0x40, 0x11, 0xcc, 0xcc, 192, 168, 1, 1, 192,
    168, 1, 2,
];
// 1234 -> 5678, length 12.
const UDP: [u8; 12] = [
    0x04, 0xd2, 0x16, 0x2e, 0x00, 0x0c, 0x00, 0x00, 0xde, 0xad, 0xbe, 0xef,
];

#[test]
fn udp_ipv4_with_padding() {
    let f = cat(&[&ETH_IP4, &IP4_UDP, &UDP, &[0u8; 14]]);
    assert_eq!(f.len(), 60);
    let (o, k) = ok(&f);
    assert_eq!(o, Offsets { l3: 14, l4: 34 });
    let mut e = FlowKey::ZERO;
    e.w[word::META] = 7;
    e.w[word::DL_DST_TCI] = DST << 16;
    e.w[word::DL_SRC_TYPE] = SRC << 16 | 0x0800;
    e.w[word::NW_ADDRS] = 0xc0a8_0101_c0a8_0102;
    e.w[word::NW_L4] = 17 << 56 | 0xb8 << 48 | 64 << 40 | 1234 << 16 | 5678;
    assert_eq!(k, e);
    assert_eq!(k.in_port(), 7);
    assert_eq!(k.recirc_id(), 0);
}

#[test]
fn tcp_ipv4_vlan_with_ip_options() {
    // PCP 5, DEI set, VID 100; IHL 6 (4 bytes of NOP options); TCP SYN|ACK|NS.
    let tag = [0xb0, 0x64, 0x08, 0x00];
    let ip = [
        0x46, 0x00, 0x00, 0x2c, 0, 0, 0x40, 0x00, 0x3f, 0x06, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2, 1, 1,
        1, 1,
    ];
    let tcp = [
        0x00, 0x50, 0xc3, 0x50, 0, 0, 0, 1, 0, 0, 0, 0, 0x51, 0x12, 0xff, 0xff, 0, 0, 0, 0,
    ];
    let f = cat(&[&ETH_VLAN, &tag, &ip, &tcp]);
    let (o, k) = ok(&f);
    assert_eq!(o, Offsets { l3: 18, l4: 42 });
    // DEI is replaced by "tag present".
    assert_eq!(k.vlan_tci(), 0xb064);
    assert_eq!(k.dl_type(), 0x0800);
    assert_eq!(k.w[word::NW_ADDRS], 0x0a00_0001_0a00_0002);
    // DF alone is not a fragment.
    assert_eq!(k.w[word::NW_L4], 6 << 56 | 63 << 40 | 80 << 16 | 50000);
    assert_eq!(k.w[word::ARP_SHA], 0x112);
}

#[test]
fn ipv4_fragments() {
    // First fragment: MF set, offset 0 -> ports parsed, FRAG_ANY.
    let mut ip = IP4_UDP;
    ip[6] = 0x20;
    let (o, k) = ok(&cat(&[&ETH_IP4, &ip, &UDP]));
    assert_eq!(o.l4, 34);
    assert_eq!(
        k.w[word::NW_L4],
        17 << 56 | 0xb8 << 48 | 64 << 40 | 1 << 32 | 1234 << 16 | 5678
    );
    // Later fragment: offset 185, and only 4 payload bytes: not a UDP header, not an error.
    ip[6] = 0x00;
    ip[7] = 0xb9;
    ip[3] = 24;
    let (o, k) = ok(&cat(&[&ETH_IP4, &ip, &UDP[..4]]));
    assert_eq!(o, Offsets { l3: 14, l4: 0 });
    assert_eq!(k.w[word::NW_L4], 17 << 56 | 0xb8 << 48 | 64 << 40 | 3 << 32);
}

#[test]
fn icmpv4() {
    let mut ip = IP4_UDP;
    ip[9] = 1;
    ip[3] = 28;
    let icmp = [3, 4, 0, 0, 0, 0, 0x05, 0xdc];
    let (o, k) = ok(&cat(&[&ETH_IP4, &ip, &icmp]));
    assert_eq!(o.l4, 34);
    assert_eq!(k.w[word::NW_L4] & 0xffff_ffff, 3 << 16 | 4);
    assert_eq!(k.nw_proto(), 1);
}

const ARP_REQ: [u8; 28] = [
    0x00, 0x01, 0x08, 0x00, 0x06, 0x04, 0x00, 0x01, // eth/ipv4 request
    0x02, 0x00, 0x00, 0x00, 0x00, 0x01, 10, 0, 0, 1, // sha, spa
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 10, 0, 0, 2, // tha, tpa
];

#[test]
fn arp() {
    let (o, k) = ok(&cat(&[&ETH_ARP, &ARP_REQ, &[0u8; 18]]));
    assert_eq!(o, Offsets { l3: 14, l4: 0 });
    let mut e = FlowKey::ZERO;
    e.w[word::META] = 7;
    e.w[word::DL_DST_TCI] = 0xffff_ffff_ffff << 16;
    e.w[word::DL_SRC_TYPE] = 0x0200_0000_0001 << 16 | 0x0806;
    e.w[word::NW_ADDRS] = 0x0a00_0001_0a00_0002;
    e.w[word::NW_L4] = 1 << 56;
    e.w[word::ARP_SHA] = 0x0200_0000_0001 << 16;
    assert_eq!(k, e);

    // RARP, a reply with a target address.
    let mut eth = ETH_ARP;
    eth[12..14].copy_from_slice(&[0x80, 0x35]);
    let mut a = ARP_REQ;
    a[7] = 2;
    a[18..24].copy_from_slice(&[0x02, 0, 0, 0, 0, 0x09]);
    let (_, k) = ok(&cat(&[&eth, &a]));
    assert_eq!(k.dl_type(), 0x8035);
    assert_eq!(k.nw_proto(), 2);
    assert_eq!(k.w[word::ARP_THA], 0x0200_0000_0009 << 16);

    // An opcode that does not fit the 8-bit field is left out; addresses stay.
    let mut a = ARP_REQ;
    a[6] = 1;
    let (_, k) = ok(&cat(&[&ETH_ARP, &a]));
    assert_eq!(k.nw_proto(), 0);
    assert_eq!(k.w[word::NW_ADDRS], 0x0a00_0001_0a00_0002);

    // Not Ethernet/IPv4: no ARP fields at all.
    let mut a = ARP_REQ;
    a[1] = 6;
    let (_, k) = ok(&cat(&[&ETH_ARP, &a]));
    assert_eq!(&k.w[3..DP_WORDS], &[0; DP_WORDS - 3]);

    assert_eq!(err(&cat(&[&ETH_ARP, &ARP_REQ[..27]])), Malformed::Arp);
}

// fe80::1 -> ff02::1:ff00:2, hop limit 255.
const IP6_SRC: [u8; 16] = [0xfe, 0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1];
const IP6_DST: [u8; 16] = [0xff, 0x02, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0xff, 0, 0, 2];

fn ip6_hdr(tc_hi: u8, plen: u16, nh: u8) -> Vec<u8> {
    let p = plen.to_be_bytes();
    cat(&[
        &[0x60 | (tc_hi >> 4), tc_hi << 4, 0, 0, p[0], p[1], nh, 255],
        &IP6_SRC,
        &IP6_DST,
    ])
}

#[test]
fn ipv6_neighbor_solicitation() {
    let target = [0xfe, 0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2];
    let icmp = cat(&[
        &[135, 0, 0, 0, 0, 0, 0, 0],
        &target,
        &[1, 1, 0x02, 0, 0, 0, 0, 0x01],
    ]);
    let f = cat(&[&ETH_IP6, &ip6_hdr(0, 32, 58), &icmp]);
    let (o, k) = ok(&f);
    assert_eq!(o, Offsets { l3: 14, l4: 54 });
    let mut e = FlowKey::ZERO;
    e.w[word::META] = 7;
    e.w[word::DL_DST_TCI] = DST << 16;
    e.w[word::DL_SRC_TYPE] = SRC << 16 | 0x86dd;
    e.w[word::NW_L4] = 58 << 56 | 255 << 40 | 135 << 16;
    e.w[word::ARP_SHA] = 0x0200_0000_0001 << 16;
    e.w[word::IPV6_SRC] = 0xfe80_0000_0000_0000;
    e.w[word::IPV6_SRC + 1] = 1;
    e.w[word::IPV6_DST] = 0xff02_0000_0000_0000;
    e.w[word::IPV6_DST + 1] = 0x0000_0001_ff00_0002;
    e.w[word::ND_TARGET] = 0xfe80_0000_0000_0000;
    e.w[word::ND_TARGET + 1] = 2;
    assert_eq!(k, e);
}

#[test]
fn ipv6_neighbor_advertisement_and_bad_options() {
    let target = [0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 9];
    let na = cat(&[
        &[136, 0, 0, 0, 0x60, 0, 0, 0],
        &target,
        &[2, 1, 0x02, 0, 0, 0, 0, 0x09],
    ]);
    let (_, k) = ok(&cat(&[&ETH_IP6, &ip6_hdr(0, 32, 58), &na]));
    assert_eq!(k.w[word::ARP_THA], 0x0200_0000_0009 << 16);
    assert_eq!(k.w[word::ARP_SHA], 0);
    assert_eq!(k.w[word::ND_TARGET], 0x2001_0db8_0000_0000);
    // The same option twice voids all ND fields, but type/code stay.
    let dup = cat(&[&na, &[2, 1, 1, 1, 1, 1, 1, 1]]);
    let (_, k) = ok(&cat(&[&ETH_IP6, &ip6_hdr(0, 40, 58), &dup]));
    assert_eq!(
        (
            k.w[word::ARP_THA],
            k.w[word::ND_TARGET],
            k.w[word::ND_TARGET + 1]
        ),
        (0, 0, 0)
    );
    assert_eq!(k.w[word::NW_L4] & 0xffff_ffff, 136 << 16);
    // Too short for the target: type/code only.
    let (_, k) = ok(&cat(&[&ETH_IP6, &ip6_hdr(0, 12, 58), &na[..12]]));
    assert_eq!(k.w[word::ND_TARGET], 0);
    assert_eq!(k.w[word::NW_L4] & 0xffff_ffff, 136 << 16);
    // Code != 0 is not ND.
    let mut bad = na.clone();
    bad[1] = 1;
    let (_, k) = ok(&cat(&[&ETH_IP6, &ip6_hdr(0, 32, 58), &bad]));
    assert_eq!((k.w[word::ARP_THA], k.w[word::ND_TARGET]), (0, 0));
}

#[test]
fn ipv6_extension_headers_and_fragments() {
    // Traffic class 0xb8; hop-by-hop (8) -> fragment (first, M) -> UDP.
    let hbh = [44, 0, 1, 4, 0, 0, 0, 0];
    let frag = [17, 0, 0x00, 0x01, 0, 0, 0, 5];
    let f = cat(&[&ETH_IP6, &ip6_hdr(0xb8, 28, 0), &hbh, &frag, &UDP]);
    let (o, k) = ok(&f);
    assert_eq!(o, Offsets { l3: 14, l4: 70 });
    assert_eq!(
        k.w[word::NW_L4],
        17 << 56 | 0xb8 << 48 | 255 << 40 | 1 << 32 | 1234 << 16 | 5678
    );

    // Later fragment: nw_proto is 44 (as OVS), no L4 fields, no l4 offset.
    let frag = [17, 0, 0x00, 0x10, 0, 0, 0, 5];
    let f = cat(&[&ETH_IP6, &ip6_hdr(0, 20, 0), &hbh, &frag, &UDP[..4]]);
    let (o, k) = ok(&f);
    assert_eq!(o, Offsets { l3: 14, l4: 0 });
    assert_eq!(k.w[word::NW_L4], 44 << 56 | 255 << 40 | 3 << 32);

    // Unknown next header (e.g. ESP 50) ends the walk.
    let f = cat(&[&ETH_IP6, &ip6_hdr(0, 8, 50), &[0u8; 8]]);
    let (o, k) = ok(&f);
    assert_eq!(o.l4, 54);
    assert_eq!(k.nw_proto(), 50);
}

#[test]
fn link_layer_oddities() {
    // 802.3 length field.
    let mut eth = ETH_IP4;
    eth[12..14].copy_from_slice(&[0x00, 0x26]);
    let (o, k) = ok(&cat(&[&eth, &[0xaa, 0xaa, 0x03], &[0u8; 43]]));
    assert_eq!(k.dl_type(), 0x05ff);
    assert_eq!(o, Offsets { l3: 14, l4: 0 });
    // Double tag (802.1ad outer, 802.1Q inner): both are parsed, as in Open vSwitch.
    let mut eth = ETH_VLAN;
    eth[12..14].copy_from_slice(&[0x88, 0xa8]);
    let (o, k) = ok(&cat(&[
        &eth,
        &[0x00, 0x0a, 0x81, 0x00, 0x00, 0x14, 0x08, 0x00],
        &IP4_UDP,
        &UDP,
    ]));
    assert_eq!(k.vlan_tci(), 0x100a);
    assert_eq!(k.vlan_tci2(), 0x1014);
    assert_eq!(k.dl_type(), 0x0800);
    assert_eq!(o, Offsets { l3: 22, l4: 42 });
    // A third tag is not parsed: dl_type is its TPID.
    let (o, k) = ok(&cat(&[
        &eth,
        &[0x00, 0x0a, 0x81, 0x00, 0x00, 0x14, 0x81, 0x00, 0x00, 0x1e, 0x08, 0x00],
        &IP4_UDP,
        &UDP,
    ]));
    assert_eq!((k.vlan_tci(), k.vlan_tci2(), k.dl_type()), (0x100a, 0x1014, 0x8100));
    assert_eq!(o, Offsets { l3: 22, l4: 0 });
    assert_eq!(k.w[word::NW_L4], 0);
    // Tagged frame whose inner type is an 802.3 length.
    let (_, k) = ok(&cat(&[&ETH_VLAN, &[0x00, 0x0a, 0x00, 0x10], &[0u8; 16]]));
    assert_eq!(k.dl_type(), 0x05ff);
    // Unknown ethertype: L2 only.
    let mut eth = ETH_IP4;
    eth[12..14].copy_from_slice(&[0x88, 0xcc]);
    let (o, k) = ok(&eth);
    assert_eq!(o, Offsets { l3: 14, l4: 0 });
    assert_eq!(k.dl_type(), 0x88cc);
}

#[test]
fn malformed_frames() {
    assert_eq!(err(&ETH_IP4[..13]), Malformed::Runt);
    assert_eq!(err(&[]), Malformed::Runt);
    assert_eq!(err(&ETH_VLAN), Malformed::Vlan);
    assert_eq!(err(&cat(&[&ETH_VLAN, &[0, 1, 8]])), Malformed::Vlan);
    // The Ethernet fields are still in the key of a malformed frame.
    let (_, k) = run(&ETH_VLAN);
    assert_eq!(k.dl_type(), 0x8100);
    assert_eq!(k.w[word::DL_DST_TCI], DST << 16);

    let good = cat(&[&ETH_IP4, &IP4_UDP, &UDP]);
    assert!(run(&good).0.is_ok());
    assert_eq!(err(&good[..33]), Malformed::Ipv4); // header cut
    assert_eq!(err(&good[..45]), Malformed::Ipv4); // total_len beyond frame
    let mut f = good.clone();
    f[14] = 0x65; // version 6
    assert_eq!(err(&f), Malformed::Ipv4);
    f[14] = 0x44; // ihl 4
    assert_eq!(err(&f), Malformed::Ipv4);
    f[14] = 0x4f; // ihl 15: 60 bytes > total_len
    assert_eq!(err(&f), Malformed::Ipv4);
    let mut f = good.clone();
    f[17] = 19; // total_len < header
    assert_eq!(err(&f), Malformed::Ipv4);

    // UDP cut by total_len, even though padding makes the bytes present.
    let mut ip = IP4_UDP;
    ip[3] = 24;
    assert_eq!(err(&cat(&[&ETH_IP4, &ip, &UDP, &[0u8; 20]])), Malformed::L4);
    // TCP with 19 bytes.
    ip[9] = 6;
    ip[3] = 39;
    assert_eq!(err(&cat(&[&ETH_IP4, &ip, &[0u8; 19]])), Malformed::L4);
    // ICMP with 7.
    ip[9] = 1;
    ip[3] = 27;
    assert_eq!(err(&cat(&[&ETH_IP4, &ip, &[0u8; 7]])), Malformed::L4);

    let v6 = cat(&[&ETH_IP6, &ip6_hdr(0, 12, 17), &UDP]);
    assert!(run(&v6).0.is_ok());
    assert_eq!(err(&v6[..53]), Malformed::Ipv6); // header cut
    assert_eq!(err(&v6[..65]), Malformed::Ipv6); // payload_len beyond frame
    let mut f = v6.clone();
    f[14] = 0x40;
    assert_eq!(err(&f), Malformed::Ipv6); // version 4
                                          // Hop-by-hop header claiming 16 bytes in an 8-byte payload.
    assert_eq!(
        err(&cat(&[
            &ETH_IP6,
            &ip6_hdr(0, 8, 0),
            &[17, 1, 0, 0, 0, 0, 0, 0]
        ])),
        Malformed::Ipv6
    );
    // ICMPv6 with 7 bytes.
    assert_eq!(
        err(&cat(&[&ETH_IP6, &ip6_hdr(0, 7, 58), &[0u8; 7]])),
        Malformed::L4
    );
}

#[test]
fn malformed_names() {
    let names: Vec<_> = Malformed::ALL.iter().map(|m| m.name()).collect();
    assert_eq!(
        names,
        ["runt", "bad_vlan", "bad_arp", "bad_ipv4", "bad_ipv6", "bad_l4"]
    );
    assert_eq!(Malformed::L4.to_string(), "bad_l4");
}

// ---- property tests ----

use etherparse::{
    Icmpv4Slice, Icmpv6Slice, Ipv6ExtensionSlice, LinkSlice, NetSlice, SlicedPacket,
    TcpHeaderSlice, UdpHeaderSlice, VlanSlice,
};
use proptest::prelude::*;

fn nw(proto: u8, tos: u8, ttl: u8, frag: u8) -> u64 {
    (proto as u64) << 56 | (tos as u64) << 48 | (ttl as u64) << 40 | (frag as u64) << 32
}

/// Transport fields as etherparse reads them.
fn expect_l4(k: &mut FlowKey, proto: u8, data: &[u8], v6: bool, spec: &FrameSpec) {
    match proto {
        6 => {
            let t = TcpHeaderSlice::from_slice(data).unwrap();
            k.w[word::NW_L4] |= (t.source_port() as u64) << 16 | t.destination_port() as u64;
            let bits = [
                t.fin(),
                t.syn(),
                t.rst(),
                t.psh(),
                t.ack(),
                t.urg(),
                t.ece(),
                t.cwr(),
                t.ns(),
            ];
            k.w[word::ARP_SHA] = bits.iter().enumerate().map(|(i, &b)| (b as u64) << i).sum();
        }
        17 => {
            let u = UdpHeaderSlice::from_slice(data).unwrap();
            k.w[word::NW_L4] |= (u.source_port() as u64) << 16 | u.destination_port() as u64;
        }
        1 if !v6 => {
            let i = Icmpv4Slice::from_slice(data).unwrap();
            k.w[word::NW_L4] |= (i.type_u8() as u64) << 16 | i.code_u8() as u64;
        }
        58 if v6 => {
            let i = Icmpv6Slice::from_slice(data).unwrap();
            k.w[word::NW_L4] |= (i.type_u8() as u64) << 16 | i.code_u8() as u64;
            let l4 = match &spec.l3 {
                L3::Ipv6 { l4, .. } => l4,
                _ => unreachable!(),
            };
            // etherparse has no ND parser: the generator's values are the truth.
            if let L4::Nd {
                target, sll, tll, ..
            } = l4
            {
                k.w[word::ND_TARGET] = u64::from_be_bytes(target[..8].try_into().unwrap());
                k.w[word::ND_TARGET + 1] = u64::from_be_bytes(target[8..].try_into().unwrap());
                k.w[word::ARP_SHA] = sll.map_or(0, |m| mac_to_u64(m) << 16);
                k.w[word::ARP_THA] = tll.map_or(0, |m| mac_to_u64(m) << 16);
            }
        }
        _ => {}
    }
}

/// The key and offsets OVS conventions give for a frame, from etherparse's reading of
/// it (ARP and ND, which etherparse does not parse, from the generator's spec).
fn expected(frame: &[u8], spec: &FrameSpec) -> (FlowKey, Offsets) {
    let p = SlicedPacket::from_ethernet(frame).expect("etherparse parses generated frames");
    let mut k = FlowKey::ZERO;
    k.w[word::META] = 7;
    let Some(LinkSlice::Ethernet2(eth)) = &p.link else {
        panic!("no ethernet")
    };
    k.set_dl_dst(eth.destination());
    k.set_dl_src(eth.source());
    let mut dl_type = eth.ether_type().0;
    let mut l3 = 14u16;
    match &p.vlan {
        None => {}
        Some(VlanSlice::SingleVlan(v)) => {
            let tci = (v.priority_code_point().value() as u16) << 13
                | 0x1000
                | v.vlan_identifier().value();
            k.set_vlan_tci(tci);
            dl_type = v.ether_type().0;
            l3 = 18;
        }
        Some(VlanSlice::DoubleVlan(_)) => panic!("not generated"),
    }
    if dl_type < 0x600 {
        dl_type = 0x05ff;
    }
    k.w[word::DL_SRC_TYPE] |= dl_type as u64;
    let mut l4 = 0u16;
    match &p.net {
        Some(NetSlice::Ipv4(ip)) => {
            let h = ip.header();
            k.w[word::NW_ADDRS] = (u32::from_be_bytes(h.source()) as u64) << 32
                | u32::from_be_bytes(h.destination()) as u64;
            let off = h.fragments_offset().value();
            let mut frag = 0;
            if h.more_fragments() || off != 0 {
                frag = FRAG_ANY | if off != 0 { FRAG_LATER } else { 0 };
            }
            let tos = h.dcp().value() << 2 | h.ecn().value();
            let proto = h.protocol().0;
            k.w[word::NW_L4] = nw(proto, tos, h.ttl(), frag);
            if frag & FRAG_LATER == 0 {
                l4 = l3 + h.slice().len() as u16;
                expect_l4(&mut k, proto, ip.payload().payload, false, spec);
            }
        }
        Some(NetSlice::Ipv6(ip)) => {
            let h = ip.header();
            let (s, d) = (h.source(), h.destination());
            k.w[word::IPV6_SRC] = u64::from_be_bytes(s[..8].try_into().unwrap());
            k.w[word::IPV6_SRC + 1] = u64::from_be_bytes(s[8..].try_into().unwrap());
            k.w[word::IPV6_DST] = u64::from_be_bytes(d[..8].try_into().unwrap());
            k.w[word::IPV6_DST + 1] = u64::from_be_bytes(d[8..].try_into().unwrap());
            let mut frag = 0;
            for e in ip.extensions().clone() {
                if let Ipv6ExtensionSlice::Fragment(f) = e {
                    // etherparse decodes this field in its own layout; read it per RFC.
                    let (off, more) = crate::packet::testgen::rfc_fragment_bits(f.slice());
                    if more || off != 0 {
                        frag = FRAG_ANY | if off != 0 { FRAG_LATER } else { 0 };
                    }
                }
            }
            let later = frag & FRAG_LATER != 0;
            let proto = if later { 44 } else { ip.payload().ip_number.0 };
            k.w[word::NW_L4] = nw(proto, h.traffic_class(), h.hop_limit(), frag);
            if !later {
                l4 = l3 + 40 + ip.extensions().slice().len() as u16;
                expect_l4(&mut k, proto, ip.payload().payload, true, spec);
            }
        }
        None => {
            if let L3::Arp {
                eth_ipv4: true,
                op,
                sha,
                spa,
                tha,
                tpa,
                ..
            } = &spec.l3
            {
                if *op <= 0xff {
                    k.w[word::NW_L4] = (*op as u64) << 56;
                }
                k.w[word::NW_ADDRS] =
                    (u32::from_be_bytes(*spa) as u64) << 32 | u32::from_be_bytes(*tpa) as u64;
                k.w[word::ARP_SHA] = mac_to_u64(*sha) << 16;
                k.w[word::ARP_THA] = mac_to_u64(*tha) << 16;
            }
        }
    }
    (k, Offsets { l3, l4 })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    /// Every field of every generated frame matches etherparse's reading.
    #[test]
    fn matches_etherparse(spec in frame_spec(true)) {
        let f = spec.build();
        let (want_key, want_ofs) = expected(&f, &spec);
        let mut k = FlowKey::ALL_ONES;
        let got = extract(&f, 7, &mut k);
        prop_assert_eq!(got, Ok(want_ofs));
        prop_assert_eq!(k, want_key);
    }

    /// Arbitrary bytes never panic, and offsets stay inside the frame.
    #[test]
    fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..256)) {
        check_sane(&bytes);
    }

    /// Valid frames with damaged bytes and cut at any length never panic.
    #[test]
    fn damaged_frames_never_panic(
        spec in frame_spec(true),
        cut in any::<prop::sample::Index>(),
        damage in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 0..4),
    ) {
        let mut f = spec.build();
        for (i, b) in damage {
            let i = i.index(f.len());
            f[i] = b;
        }
        let len = cut.index(f.len() + 1);
        check_sane(&f[..len]);
    }
}

fn check_sane(f: &[u8]) {
    let mut k = FlowKey::ALL_ONES;
    match extract(f, 3, &mut k) {
        Ok(o) => {
            assert!(o.l3 as usize <= f.len() && o.l4 as usize <= f.len());
            assert!(o.l4 == 0 || o.l4 >= o.l3);
        }
        Err(m) => assert!(!m.name().is_empty()),
    }
    assert_eq!(k.in_port(), 3);
    assert!(k.w[DP_WORDS..].iter().all(|&w| w == 0));
}

/// Every prefix of every kind of valid frame: no panic, and a prefix that cuts into
/// the headers extract reads is reported, not misparsed as something shorter.
#[test]
fn every_truncation_of_literal_frames() {
    let frames = [
        cat(&[&ETH_IP4, &IP4_UDP, &UDP]),
        cat(&[&ETH_ARP, &ARP_REQ]),
        cat(&[&ETH_IP6, &ip6_hdr(0, 12, 17), &UDP]),
    ];
    for f in &frames {
        for len in 0..f.len() {
            let (r, _) = run(&f[..len]);
            assert!(r.is_err(), "prefix of {len} bytes parsed");
        }
        assert!(run(f).0.is_ok());
    }
}
