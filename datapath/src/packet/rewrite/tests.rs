//! Tests for the rewrites: literal frames whose checksums are recomputed from scratch
//! after each edit, then property tests on etherparse-built frames (checksums checked
//! by etherparse; the rewritten frame must extract to the key the edits predict) and
//! on garbage (no panic, and a failed rewrite leaves the packet alone).

use super::*;
use crate::flow::key::{word, FlowKey};
use crate::packet::checksum::{add, checksum, pseudo_v4, pseudo_v6, sum};
use crate::packet::extract::extract;
use crate::packet::testgen::ip_frame_spec;

fn be16(d: &[u8], at: usize) -> u16 {
    u16::from_be_bytes([d[at], d[at + 1]])
}

/// Positions and from-scratch values of every checksum in a literal test frame
/// (Ethernet, optional tag, IPv4 or IPv6 without extension headers, TCP/UDP/ICMPv6).
fn checksums(f: &[u8]) -> Vec<(usize, u16)> {
    let l3 = if ethertype::is_vlan(be16(f, 12)) {
        18
    } else {
        14
    };
    let mut out = Vec::new();
    let (proto, l4, end, pseudo) = match be16(f, l3 - 2) {
        ethertype::IPV4 => {
            let hl = (f[l3] & 0x0f) as usize * 4;
            let mut h = f[l3..l3 + hl].to_vec();
            h[10..12].fill(0);
            out.push((l3 + 10, checksum(&h)));
            let end = l3 + be16(f, l3 + 2) as usize;
            let len = (end - l3 - hl) as u16;
            let ph = pseudo_v4(
                f[l3 + 12..l3 + 16].try_into().unwrap(),
                f[l3 + 16..l3 + 20].try_into().unwrap(),
                f[l3 + 9],
                len,
            );
            (f[l3 + 9], l3 + hl, end, ph)
        }
        ethertype::IPV6 => {
            let end = l3 + 40 + be16(f, l3 + 4) as usize;
            let src: [u8; 16] = f[l3 + 8..l3 + 24].try_into().unwrap();
            let dst: [u8; 16] = f[l3 + 24..l3 + 40].try_into().unwrap();
            (
                f[l3 + 6],
                l3 + 40,
                end,
                pseudo_v6(&src, &dst, f[l3 + 6], (end - l3 - 40) as u32),
            )
        }
        _ => return out,
    };
    let at = match proto {
        6 => 16,
        17 => 6,
        58 => 2,
        _ => return out,
    };
    let mut seg = f[l4..end].to_vec();
    if proto == 17 && be16(&seg, at) == 0 {
        return out; // no checksum
    }
    seg[at..at + 2].fill(0);
    let mut c = !add(pseudo, sum(&seg));
    if proto == 17 && c == 0 {
        c = 0xffff;
    }
    out.push((l4 + at, c));
    out
}

fn fill_checksums(f: &mut [u8]) {
    for (at, c) in checksums(f) {
        f[at..at + 2].copy_from_slice(&c.to_be_bytes());
    }
}

fn assert_checksums(f: &[u8]) {
    let all = checksums(f);
    assert!(!all.is_empty());
    for (at, c) in all {
        assert_eq!(be16(f, at), c, "checksum at {at}");
    }
}

const ETH4: [u8; 14] = [2, 0, 0, 0, 0, 1, 2, 0, 0, 0, 0, 2, 0x08, 0x00];
const ETH6: [u8; 14] = [2, 0, 0, 0, 0, 1, 2, 0, 0, 0, 0, 2, 0x86, 0xdd];

/// TCP/IPv4 with IP options, payload, and 6 bytes of padding, with room to grow.
fn tcp4() -> (Vec<u8>, usize) {
    let ip = [
        0x46, 0x00, 0x00, 0x2e, 0x00, 0x01, 0x40, 0x00, 0x40, 0x06, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2,
        1, 1, 1, 1,
    ];
    let tcp = [
        0x9c, 0x40, 0x00, 0x50, 0, 0, 0, 1, 0, 0, 0, 0, 0x50, 0x18, 0x10, 0x00, 0, 0, 0, 0, b'h',
        b'i',
    ];
    let mut f = [&ETH4[..], &ip, &tcp, &[0u8; 6]].concat();
    fill_checksums(&mut f);
    let len = f.len();
    f.extend_from_slice(&[0xee; 8]);
    (f, len)
}

fn udp4(csum: bool) -> Vec<u8> {
    let ip = [
        0x45, 0x00, 0x00, 0x1f, 0, 0, 0, 0, 64, 17, 0, 0, 192, 168, 0, 1, 192, 168, 0, 2,
    ];
    let udp = [
        0x00, 0x35, 0x30, 0x39, 0x00, 0x0b, 0x00, 0x01, b'a', b'b', b'c',
    ];
    let mut f = [&ETH4[..], &ip, &udp].concat();
    fill_checksums(&mut f);
    if !csum {
        f[40..42].fill(0);
    }
    f
}

fn icmp6() -> Vec<u8> {
    let mut ip = vec![0x60, 0, 0, 0, 0, 12, 58, 64];
    ip.extend_from_slice(&[0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]);
    ip.extend_from_slice(&[0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2]);
    let icmp = [128, 0, 0, 0, 0x12, 0x34, 0, 1, 1, 2, 3, 4];
    let mut f = [&ETH6[..], &ip, &icmp].concat();
    fill_checksums(&mut f);
    f
}

fn ofs_of(f: &[u8]) -> Offsets {
    let mut k = FlowKey::ZERO;
    extract(f, 1, &mut k).unwrap()
}

#[test]
fn ipv4_address_rewrites_fix_ip_and_tcp_checksums() {
    let (mut f, len) = tcp4();
    assert_checksums(&f[..len]);
    let mut p = PacketMut::new(&mut f, len).unwrap();
    let ofs = ofs_of(p.data());
    set_ipv4_src(&mut p, ofs, Ipv4Addr::new(172, 16, 5, 4)).unwrap();
    assert_checksums(p.data());
    set_ipv4_dst(&mut p, ofs, Ipv4Addr::new(255, 255, 255, 255)).unwrap();
    assert_checksums(p.data());
    set_ipv4_ttl(&mut p, ofs, 1).unwrap();
    set_ipv4_tos(&mut p, ofs, 0xb9).unwrap();
    assert_checksums(p.data());
    set_tp_src(&mut p, ofs, 1).unwrap();
    set_tp_dst(&mut p, ofs, 0xffff).unwrap();
    assert_checksums(p.data());
    let d = p.data();
    assert_eq!(&d[26..34], &[172, 16, 5, 4, 255, 255, 255, 255]);
    assert_eq!((d[15], d[22]), (0xb9, 1));
    assert_eq!(&d[38..42], &[0, 1, 0xff, 0xff]);
    // Padding untouched.
    assert_eq!(&d[len - 6..], &[0; 6]);
}

#[test]
fn udp_checksums() {
    let mut f = udp4(true);
    let len = f.len();
    let mut p = PacketMut::new(&mut f, len).unwrap();
    let ofs = ofs_of(p.data());
    set_ipv4_src(&mut p, ofs, Ipv4Addr::new(10, 9, 8, 7)).unwrap();
    set_tp_dst(&mut p, ofs, 53).unwrap();
    assert_checksums(p.data());

    // An absent UDP checksum stays absent.
    let mut f = udp4(false);
    let mut p = PacketMut::new(&mut f, len).unwrap();
    set_ipv4_dst(&mut p, ofs, Ipv4Addr::new(10, 9, 8, 7)).unwrap();
    set_tp_src(&mut p, ofs, 9).unwrap();
    assert_eq!(be16(p.data(), 40), 0);
    assert_checksums(p.data());

    // A checksum that would become 0 is sent as 0xffff: pick the new port that makes
    // the from-scratch sum come out as 0.
    let mut f = udp4(true);
    let mut p = PacketMut::new(&mut f, len).unwrap();
    let c = be16(p.data(), 40);
    let port = be16(p.data(), 34);
    // New checksum = !(!c + !port + new) = 0 when new = !(!c + !port) in 1's complement.
    let new_port = !add(!c, !port);
    set_tp_src(&mut p, ofs, new_port).unwrap();
    assert_eq!(be16(p.data(), 40), 0xffff);
    assert_checksums(p.data());
}

#[test]
fn ipv6_address_rewrites_fix_icmpv6() {
    let mut f = icmp6();
    let len = f.len();
    let mut p = PacketMut::new(&mut f, len).unwrap();
    let ofs = ofs_of(p.data());
    set_ipv6_src(&mut p, ofs, "fe80::1234:5678".parse().unwrap()).unwrap();
    assert_checksums(p.data());
    set_ipv6_dst(&mut p, ofs, "ff02::1".parse().unwrap()).unwrap();
    assert_checksums(p.data());
    set_ipv6_hop_limit(&mut p, ofs, 255).unwrap();
    set_ipv6_tclass(&mut p, ofs, 0xab).unwrap();
    assert_checksums(p.data());
    assert_eq!(&p.data()[14..16], &[0x6a, 0xb0]);
    assert_eq!(p.data()[21], 255);
    // ICMPv6 has no ports.
    assert_eq!(set_tp_src(&mut p, ofs, 1), Err(RewriteError::NoHeader));
    // Nor is it IPv4.
    assert_eq!(set_ipv4_ttl(&mut p, ofs, 1), Err(RewriteError::NoHeader));
}

#[test]
fn vlan_push_set_pop() {
    let (mut f, len) = tcp4();
    let orig = f[..len].to_vec();
    let mut p = PacketMut::new(&mut f, len).unwrap();
    let mut ofs = ofs_of(p.data());
    assert_eq!(pop_vlan(&mut p, &mut ofs), Err(RewriteError::NoHeader));
    assert_eq!(set_vlan_tci(&mut p, 0x1005), Err(RewriteError::NoHeader));
    push_vlan(&mut p, &mut ofs, 0x8100, 0x1000 | 0xa064).unwrap();
    assert_eq!(p.len(), len + 4);
    assert_eq!(ofs, Offsets { l3: 18, l4: 42 });
    // The "present" bit is not written to the wire.
    assert_eq!(&p.data()[12..18], &[0x81, 0x00, 0xa0, 0x64, 0x08, 0x00]);
    let mut k = FlowKey::ZERO;
    assert_eq!(extract(p.data(), 1, &mut k), Ok(ofs));
    assert_eq!(k.vlan_tci(), 0xb064);
    // Offsets still point at the headers: rewrites through them work and stay valid.
    set_ipv4_src(&mut p, ofs, Ipv4Addr::new(1, 2, 3, 4)).unwrap();
    assert_checksums(p.data());
    set_vlan_tci(&mut p, 0x1fff).unwrap();
    assert_eq!(&p.data()[14..16], &[0x0f, 0xff]);
    // QinQ: push an outer 802.1ad tag.
    push_vlan(&mut p, &mut ofs, 0x88a8, 0x0001).unwrap();
    assert_eq!(
        &p.data()[12..20],
        &[0x88, 0xa8, 0x00, 0x01, 0x81, 0x00, 0x0f, 0xff]
    );
    assert_eq!(ofs, Offsets { l3: 22, l4: 46 });
    pop_vlan(&mut p, &mut ofs).unwrap();
    pop_vlan(&mut p, &mut ofs).unwrap();
    assert_eq!(ofs, Offsets { l3: 14, l4: 38 });
    set_ipv4_src(&mut p, ofs, Ipv4Addr::new(10, 0, 0, 1)).unwrap();
    assert_eq!(p.data(), &orig[..]);
    // No room: the frame buffer had 8 spare bytes.
    push_vlan(&mut p, &mut ofs, 0x8100, 1).unwrap();
    push_vlan(&mut p, &mut ofs, 0x8100, 1).unwrap();
    let before = p.data().to_vec();
    assert_eq!(
        push_vlan(&mut p, &mut ofs, 0x8100, 1),
        Err(RewriteError::NoRoom)
    );
    assert_eq!(p.data(), &before[..]);
    assert_eq!(ofs, Offsets { l3: 22, l4: 46 });
}

#[test]
fn ethernet_and_arp() {
    let arp = [
        0x00, 0x01, 0x08, 0x00, 0x06, 0x04, 0x00, 0x01, 2, 0, 0, 0, 0, 1, 10, 0, 0, 1, 0, 0, 0, 0,
        0, 0, 10, 0, 0, 2,
    ];
    let mut f = [&[0xff; 6][..], &[2, 0, 0, 0, 0, 1], &[0x08, 0x06], &arp].concat();
    let len = f.len();
    let mut p = PacketMut::new(&mut f, len).unwrap();
    let ofs = ofs_of(p.data());
    set_eth_dst(&mut p, [2, 0, 0, 0, 0, 9]).unwrap();
    set_eth_src(&mut p, [2, 0, 0, 0, 0, 8]).unwrap();
    set_arp_op(&mut p, ofs, 2).unwrap();
    set_arp_sha(&mut p, ofs, [2, 0, 0, 0, 0, 8]).unwrap();
    set_arp_spa(&mut p, ofs, Ipv4Addr::new(10, 0, 0, 2)).unwrap();
    set_arp_tha(&mut p, ofs, [2, 0, 0, 0, 0, 1]).unwrap();
    set_arp_tpa(&mut p, ofs, Ipv4Addr::new(10, 0, 0, 1)).unwrap();
    let want = [
        &[2, 0, 0, 0, 0, 9][..],
        &[2, 0, 0, 0, 0, 8],
        &[0x08, 0x06, 0x00, 0x01, 0x08, 0x00, 0x06, 0x04, 0x00, 0x02],
        &[2, 0, 0, 0, 0, 8, 10, 0, 0, 2, 2, 0, 0, 0, 0, 1, 10, 0, 0, 1],
    ]
    .concat();
    assert_eq!(p.data(), &want[..]);
    // ARP setters refuse IP packets and vice versa.
    assert_eq!(
        set_ipv4_src(&mut p, ofs, Ipv4Addr::LOCALHOST),
        Err(RewriteError::NoHeader)
    );
    let mut g = udp4(true);
    let glen = g.len();
    let mut q = PacketMut::new(&mut g, glen).unwrap();
    assert_eq!(set_arp_op(&mut q, ofs, 1), Err(RewriteError::NoHeader));
}

#[test]
fn truncated_and_bogus_inputs_are_errors() {
    let mut tiny = [0u8; 10];
    let mut p = PacketMut::new(&mut tiny, 10).unwrap();
    let mut ofs = Offsets::default();
    assert_eq!(set_eth_src(&mut p, [1; 6]), Err(RewriteError::Truncated));
    assert_eq!(
        push_vlan(&mut p, &mut ofs, 0x8100, 1),
        Err(RewriteError::Truncated)
    );
    assert_eq!(pop_vlan(&mut p, &mut ofs), Err(RewriteError::Truncated));
    assert_eq!(
        set_ipv4_src(&mut p, ofs, Ipv4Addr::LOCALHOST),
        Err(RewriteError::NoHeader)
    );

    // L3 offset past the end.
    let mut f = udp4(true);
    let len = f.len();
    let mut p = PacketMut::new(&mut f, len).unwrap();
    let far = Offsets { l3: 500, l4: 520 };
    assert_eq!(
        set_ipv4_src(&mut p, far, Ipv4Addr::LOCALHOST),
        Err(RewriteError::Truncated)
    );
    assert_eq!(set_tp_src(&mut p, far, 1), Err(RewriteError::Truncated));

    // UDP header cut by total_len: the address is not changed without its checksum.
    let mut f = udp4(true);
    f[17] = 24; // total_len: 4 bytes of UDP
    let before = f.clone();
    let mut p = PacketMut::new(&mut f, len).unwrap();
    let ofs = Offsets { l3: 14, l4: 34 };
    assert_eq!(
        set_ipv4_src(&mut p, ofs, Ipv4Addr::LOCALHOST),
        Err(RewriteError::Truncated)
    );
    assert_eq!(set_tp_dst(&mut p, ofs, 1), Err(RewriteError::Truncated));
    assert_eq!(p.data(), &before[..]);

    // A later fragment has no ports; its addresses change without touching payload.
    let mut f = udp4(true);
    f[20] = 0x00;
    f[21] = 0x10;
    fill_checksums(&mut f);
    let payload = f[34..].to_vec();
    let mut p = PacketMut::new(&mut f, len).unwrap();
    assert_eq!(set_tp_dst(&mut p, ofs, 1), Err(RewriteError::NoHeader));
    set_ipv4_src(&mut p, ofs, Ipv4Addr::LOCALHOST).unwrap();
    assert_eq!(&p.data()[34..], &payload[..]);

    assert_eq!(RewriteError::NoRoom.name(), "rewrite_no_room");
}

// ---- property tests ----

use etherparse::{NetHeaders, PacketHeaders, TransportHeader};
use proptest::prelude::*;

/// etherparse recomputes every checksum of the frame; each must equal the stored one
/// (0 and 0xffff being the same one's-complement value, and UDP's 0 meaning none).
fn etherparse_checksums_ok(f: &[u8]) -> Result<(), String> {
    let h = PacketHeaders::from_ethernet_slice(f).map_err(|e| format!("{e:?}"))?;
    let same = |a: u16, b: u16| a == b || (a == 0 && b == 0xffff) || (a == 0xffff && b == 0);
    let payload = h.payload.slice();
    match (&h.net, &h.transport) {
        (Some(NetHeaders::Ipv4(ip, _)), t) => {
            if ip.header_checksum != ip.calc_header_checksum() {
                return Err("ipv4 header".into());
            }
            let (s, d) = (ip.source, ip.destination);
            let ok = match t {
                Some(TransportHeader::Tcp(t)) => {
                    same(t.checksum, t.calc_checksum_ipv4_raw(s, d, payload).unwrap())
                }
                Some(TransportHeader::Udp(u)) => {
                    u.checksum == 0
                        || same(u.checksum, u.calc_checksum_ipv4_raw(s, d, payload).unwrap())
                }
                Some(TransportHeader::Icmpv4(i)) => {
                    same(i.checksum, i.icmp_type.calc_checksum(payload))
                }
                _ => true,
            };
            if !ok {
                return Err("ipv4 l4".into());
            }
        }
        (Some(NetHeaders::Ipv6(ip, _)), t) => {
            let (s, d) = (ip.source, ip.destination);
            let ok = match t {
                Some(TransportHeader::Tcp(t)) => {
                    same(t.checksum, t.calc_checksum_ipv6_raw(s, d, payload).unwrap())
                }
                Some(TransportHeader::Udp(u)) => {
                    same(u.checksum, u.calc_checksum_ipv6_raw(s, d, payload).unwrap())
                }
                Some(TransportHeader::Icmpv6(i)) => same(
                    i.checksum,
                    i.icmp_type.calc_checksum(s, d, payload).unwrap(),
                ),
                _ => true,
            };
            if !ok {
                return Err("ipv6 l4".into());
            }
        }
        _ => {}
    }
    Ok(())
}

#[derive(Debug, Clone)]
enum Op {
    EthSrc([u8; 6]),
    EthDst([u8; 6]),
    PushVlan(u16, u16),
    PopVlan,
    VlanTci(u16),
    IpSrc([u8; 16]),
    IpDst([u8; 16]),
    Tos(u8),
    Ttl(u8),
    TpSrc(u16),
    TpDst(u16),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        any::<[u8; 6]>().prop_map(Op::EthSrc),
        any::<[u8; 6]>().prop_map(Op::EthDst),
        (prop_oneof![Just(0x8100u16), Just(0x88a8u16)], any::<u16>())
            .prop_map(|(t, c)| Op::PushVlan(t, c)),
        Just(Op::PopVlan),
        any::<u16>().prop_map(Op::VlanTci),
        any::<[u8; 16]>().prop_map(Op::IpSrc),
        any::<[u8; 16]>().prop_map(Op::IpDst),
        any::<u8>().prop_map(Op::Tos),
        any::<u8>().prop_map(Op::Ttl),
        any::<u16>().prop_map(Op::TpSrc),
        any::<u16>().prop_map(Op::TpDst),
    ]
}

/// Apply `op` to the packet and, when it succeeds, the same edit to the model key
/// (what a set_field on the flow would do). Returns whether it applied.
fn apply(
    op: &Op,
    p: &mut PacketMut,
    ofs: &mut Offsets,
    k: &mut FlowKey,
) -> Result<(), RewriteError> {
    let v4 = k.dl_type() == 0x0800;
    let tagged = k.vlan_tci() != 0;
    let ports = matches!(k.nw_proto(), 6 | 17);
    let set = |k: &mut FlowKey, w: usize, shift: u32, bits: u32, v: u64| {
        let m = ((1u64 << bits) - 1) << shift;
        k.w[w] = (k.w[w] & !m) | ((v << shift) & m);
    };
    match *op {
        Op::EthSrc(m) => {
            set_eth_src(p, m)?;
            k.set_dl_src(m);
        }
        Op::EthDst(m) => {
            set_eth_dst(p, m)?;
            k.set_dl_dst(m);
        }
        Op::PushVlan(tpid, tci) => {
            // Only one tag is parsed, so only model pushes onto untagged frames.
            if tagged {
                return Err(RewriteError::NoHeader);
            }
            push_vlan(p, ofs, tpid, tci)?;
            k.set_vlan_tci(tci | 0x1000);
        }
        Op::PopVlan => {
            let r = pop_vlan(p, ofs);
            assert_eq!(r.is_ok(), tagged);
            r?;
            k.set_vlan_tci(0);
        }
        Op::VlanTci(tci) => {
            let r = set_vlan_tci(p, tci);
            assert_eq!(r.is_ok(), tagged);
            r?;
            k.set_vlan_tci(tci | 0x1000);
        }
        Op::IpSrc(a) | Op::IpDst(a) => {
            let src = matches!(op, Op::IpSrc(_));
            if v4 {
                let a4 = Ipv4Addr::new(a[0], a[1], a[2], a[3]);
                if src {
                    set_ipv4_src(p, *ofs, a4)?
                } else {
                    set_ipv4_dst(p, *ofs, a4)?
                }
                set(
                    k,
                    word::NW_ADDRS,
                    if src { 32 } else { 0 },
                    32,
                    u32::from(a4) as u64,
                );
            } else {
                let a6 = Ipv6Addr::from(a);
                if src {
                    set_ipv6_src(p, *ofs, a6)?
                } else {
                    set_ipv6_dst(p, *ofs, a6)?
                }
                let w = if src { word::IPV6_SRC } else { word::IPV6_DST };
                k.w[w] = u64::from_be_bytes(a[..8].try_into().unwrap());
                k.w[w + 1] = u64::from_be_bytes(a[8..].try_into().unwrap());
            }
        }
        Op::Tos(t) => {
            if v4 {
                set_ipv4_tos(p, *ofs, t)?
            } else {
                set_ipv6_tclass(p, *ofs, t)?
            }
            set(k, word::NW_L4, 48, 8, t as u64);
        }
        Op::Ttl(t) => {
            if v4 {
                set_ipv4_ttl(p, *ofs, t)?
            } else {
                set_ipv6_hop_limit(p, *ofs, t)?
            }
            set(k, word::NW_L4, 40, 8, t as u64);
        }
        Op::TpSrc(port) | Op::TpDst(port) => {
            let src = matches!(op, Op::TpSrc(_));
            let r = if src {
                set_tp_src(p, *ofs, port)
            } else {
                set_tp_dst(p, *ofs, port)
            };
            assert_eq!(r.is_ok(), ports, "{r:?}");
            r?;
            set(k, word::NW_L4, if src { 16 } else { 0 }, 16, port as u64);
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1000))]

    /// After any sequence of rewrites, every checksum is what etherparse computes from
    /// scratch, and the frame extracts to the key the edits predict.
    #[test]
    fn rewrites_keep_checksums_and_match_key_edits(
        spec in ip_frame_spec(),
        ops in proptest::collection::vec(op(), 1..8),
    ) {
        let mut f = spec.build();
        let len = f.len();
        prop_assert_eq!(etherparse_checksums_ok(&f), Ok(()));
        f.resize(len + 8, 0); // room for two tags
        let mut p = PacketMut::new(&mut f, len).unwrap();
        let mut k = FlowKey::ZERO;
        let mut ofs = extract(p.data(), 1, &mut k).unwrap();
        for op in &ops {
            let _ = apply(op, &mut p, &mut ofs, &mut k);
            prop_assert_eq!(etherparse_checksums_ok(p.data()), Ok(()), "after {:?}", op);
        }
        let mut got = FlowKey::ZERO;
        prop_assert_eq!(extract(p.data(), 1, &mut got), Ok(ofs));
        prop_assert_eq!(got, k);
    }

    /// Garbage packets and offsets: no panic, and a failed rewrite changes nothing.
    #[test]
    fn rewrites_never_panic(
        bytes in proptest::collection::vec(any::<u8>(), 0..120),
        extra in 0usize..8,
        l3 in 0u16..130,
        l4 in 0u16..140,
        ops in proptest::collection::vec(op(), 1..6),
    ) {
        let len = bytes.len();
        let mut f = bytes;
        f.resize(len + extra, 0);
        let mut p = PacketMut::new(&mut f, len).unwrap();
        let mut ofs = Offsets { l3, l4 };
        for op in &ops {
            let before = p.data().to_vec();
            let before_ofs = ofs;
            let r = match *op {
                Op::EthSrc(m) => set_eth_src(&mut p, m),
                Op::EthDst(m) => set_eth_dst(&mut p, m),
                Op::PushVlan(t, c) => push_vlan(&mut p, &mut ofs, t, c),
                Op::PopVlan => pop_vlan(&mut p, &mut ofs),
                Op::VlanTci(c) => set_vlan_tci(&mut p, c),
                Op::IpSrc(a) => set_ipv4_src(&mut p, ofs, Ipv4Addr::new(a[0], a[1], a[2], a[3]))
                    .and(set_ipv6_src(&mut p, ofs, Ipv6Addr::from(a))),
                Op::IpDst(a) => set_ipv6_dst(&mut p, ofs, Ipv6Addr::from(a))
                    .and(set_ipv4_dst(&mut p, ofs, Ipv4Addr::new(a[0], a[1], a[2], a[3]))),
                Op::Tos(t) => set_ipv4_tos(&mut p, ofs, t).or(set_ipv6_tclass(&mut p, ofs, t)),
                Op::Ttl(t) => set_ipv4_ttl(&mut p, ofs, t).or(set_ipv6_hop_limit(&mut p, ofs, t)),
                Op::TpSrc(x) => set_tp_src(&mut p, ofs, x).and(set_arp_op(&mut p, ofs, x)),
                Op::TpDst(x) => set_tp_dst(&mut p, ofs, x).and(set_arp_tpa(&mut p, ofs, Ipv4Addr::from(x as u32))),
            };
            // Ops made of two calls may have applied the first half; single calls must
            // leave the packet alone on error.
            let single = !matches!(op, Op::IpSrc(_) | Op::IpDst(_) | Op::Tos(_) | Op::Ttl(_) | Op::TpSrc(_) | Op::TpDst(_));
            if r.is_err() && single {
                prop_assert_eq!(p.data(), &before[..]);
                prop_assert_eq!(ofs, before_ofs);
            }
        }
    }
}
