//! Random valid frames for the property tests of `extract` and `rewrite`.
//!
//! A [`FrameSpec`] describes a frame; [`FrameSpec::build`] serializes it with
//! etherparse's header types (ARP, which etherparse lacks, and the ND body are laid
//! out by hand), with correct lengths and checksums.

use etherparse::{
    EtherType, Ethernet2Header, Icmpv4Header, Icmpv4Type, Icmpv6Header, Icmpv6Type, IpFragOffset,
    IpNumber, Ipv4Dscp, Ipv4Ecn, Ipv4Header, Ipv6Extensions, Ipv6FlowLabel, Ipv6FragmentHeader,
    Ipv6Header, Ipv6RawExtHeader, Ipv6RoutingExtensions, SingleVlanHeader, TcpHeader, UdpHeader,
    VlanId, VlanPcp,
};
use proptest::collection::vec;
use proptest::prelude::*;

#[derive(Debug, Clone)]
pub struct Vlan {
    pub tpid: u16,
    pub pcp: u8,
    pub dei: bool,
    pub vid: u16,
}

#[derive(Debug, Clone)]
pub enum L4 {
    /// `flags`: the 9 flag bits; `opt_words`: 32-bit words of NOP options.
    Tcp {
        sport: u16,
        dport: u16,
        flags: u16,
        opt_words: u8,
    },
    Udp {
        sport: u16,
        dport: u16,
        no_csum: bool,
    },
    /// ICMPv4 (only generated over IPv4).
    Icmp { ty: u8, code: u8 },
    /// ICMPv6 other than ND (only generated over IPv6).
    Icmpv6 { ty: u8, code: u8 },
    /// Neighbour solicitation (or advertisement) with optional SLL/TLL options.
    Nd {
        advert: bool,
        target: [u8; 16],
        sll: Option<[u8; 6]>,
        tll: Option<[u8; 6]>,
    },
    /// A protocol extract does not look into.
    Raw { proto: u8 },
}

#[derive(Debug, Clone)]
pub struct Ipv6Ext {
    /// Lengths (in 8-byte units beyond the first 8) of optional extension headers.
    pub hop: Option<u8>,
    pub dest: Option<u8>,
    pub routing: Option<u8>,
    /// Fragment header: (offset in 8-byte units, more-fragments).
    pub frag: Option<(u16, bool)>,
}

#[derive(Debug, Clone)]
pub enum L3 {
    Ipv4 {
        src: [u8; 4],
        dst: [u8; 4],
        tos: u8,
        ttl: u8,
        ident: u16,
        df: bool,
        mf: bool,
        frag_off: u16,
        opt_words: u8,
        l4: L4,
    },
    Ipv6 {
        src: [u8; 16],
        dst: [u8; 16],
        tc: u8,
        flow: u32,
        hlim: u8,
        ext: Ipv6Ext,
        l4: L4,
    },
    Arp {
        rarp: bool,
        eth_ipv4: bool,
        op: u16,
        sha: [u8; 6],
        spa: [u8; 4],
        tha: [u8; 6],
        tpa: [u8; 4],
    },
    /// Any other ethertype (or an 802.3 length, if below 0x600).
    Other { ethertype: u16 },
}

#[derive(Debug, Clone)]
pub struct FrameSpec {
    pub dst: [u8; 6],
    pub src: [u8; 6],
    pub vlan: Option<Vlan>,
    pub l3: L3,
    pub payload: Vec<u8>,
    /// Bytes appended after the packet, as Ethernet padding would be.
    pub padding: Vec<u8>,
}

fn l4_proto(l4: &L4) -> u8 {
    match l4 {
        L4::Tcp { .. } => 6,
        L4::Udp { .. } => 17,
        L4::Icmp { .. } => 1,
        L4::Icmpv6 { .. } | L4::Nd { .. } => 58,
        L4::Raw { proto } => *proto,
    }
}

/// The L4 header and payload bytes. `v4`/`v6` give the addresses for checksums.
fn l4_bytes(l4: &L4, payload: &[u8], v4: Option<&Ipv4Header>, v6: Option<&Ipv6Header>) -> Vec<u8> {
    let mut out = Vec::new();
    match *l4 {
        L4::Tcp {
            sport,
            dport,
            flags,
            opt_words,
        } => {
            let mut t = TcpHeader::new(sport, dport, 0x0102_0304, 0x4000);
            t.fin = flags & 0x001 != 0;
            t.syn = flags & 0x002 != 0;
            t.rst = flags & 0x004 != 0;
            t.psh = flags & 0x008 != 0;
            t.ack = flags & 0x010 != 0;
            t.urg = flags & 0x020 != 0;
            t.ece = flags & 0x040 != 0;
            t.cwr = flags & 0x080 != 0;
            t.ns = flags & 0x100 != 0;
            t.set_options_raw(&vec![1u8; opt_words as usize * 4])
                .unwrap();
            t.checksum = match (v4, v6) {
                (Some(ip), _) => t.calc_checksum_ipv4(ip, payload).unwrap(),
                (_, Some(ip)) => t.calc_checksum_ipv6(ip, payload).unwrap(),
                _ => unreachable!(),
            };
            out.extend_from_slice(&t.to_bytes());
        }
        L4::Udp {
            sport,
            dport,
            no_csum,
        } => {
            let u = match (v4, v6) {
                (Some(_), _) if no_csum => {
                    UdpHeader::without_ipv4_checksum(sport, dport, payload.len()).unwrap()
                }
                (Some(ip), _) => UdpHeader::with_ipv4_checksum(sport, dport, ip, payload).unwrap(),
                (_, Some(ip)) => UdpHeader::with_ipv6_checksum(sport, dport, ip, payload).unwrap(),
                _ => unreachable!(),
            };
            out.extend_from_slice(&u.to_bytes());
        }
        L4::Icmp { ty, code } => {
            let t = Icmpv4Type::Unknown {
                type_u8: ty,
                code_u8: code,
                bytes5to8: [1, 2, 3, 4],
            };
            out.extend_from_slice(&Icmpv4Header::with_checksum(t, payload).to_bytes());
        }
        L4::Icmpv6 { ty, code } => {
            let ip = v6.unwrap();
            let t = Icmpv6Type::Unknown {
                type_u8: ty,
                code_u8: code,
                bytes5to8: [1, 2, 3, 4],
            };
            let h = Icmpv6Header::with_checksum(t, ip.source, ip.destination, payload).unwrap();
            out.extend_from_slice(&h.to_bytes());
        }
        L4::Nd {
            advert,
            target,
            sll,
            tll,
        } => {
            let ip = v6.unwrap();
            // Target, an MTU option we must skip, then the link-layer options.
            let mut body = target.to_vec();
            body.extend_from_slice(&[5, 1, 0, 0, 0, 0, 0x05, 0xdc]);
            if let Some(m) = tll {
                body.extend_from_slice(&[2, 1]);
                body.extend_from_slice(&m);
            }
            if let Some(m) = sll {
                body.extend_from_slice(&[1, 1]);
                body.extend_from_slice(&m);
            }
            let ty = if advert { 136 } else { 135 };
            let t = Icmpv6Type::Unknown {
                type_u8: ty,
                code_u8: 0,
                bytes5to8: [0x60, 0, 0, 0],
            };
            let h = Icmpv6Header::with_checksum(t, ip.source, ip.destination, &body).unwrap();
            out.extend_from_slice(&h.to_bytes());
            out.extend_from_slice(&body);
            return out; // ND carries no extra payload
        }
        L4::Raw { .. } => {}
    }
    out.extend_from_slice(payload);
    out
}

impl FrameSpec {
    pub fn build(&self) -> Vec<u8> {
        let inner_type = match &self.l3 {
            L3::Ipv4 { .. } => 0x0800,
            L3::Ipv6 { .. } => 0x86dd,
            L3::Arp { rarp, .. } => {
                if *rarp {
                    0x8035
                } else {
                    0x0806
                }
            }
            L3::Other { ethertype } => *ethertype,
        };
        let outer_type = self.vlan.as_ref().map_or(inner_type, |v| v.tpid);
        let eth = Ethernet2Header {
            source: self.src,
            destination: self.dst,
            ether_type: EtherType(outer_type),
        };
        let mut f = eth.to_bytes().to_vec();
        if let Some(v) = &self.vlan {
            let tag = SingleVlanHeader {
                pcp: VlanPcp::try_new(v.pcp).unwrap(),
                drop_eligible_indicator: v.dei,
                vlan_id: VlanId::try_new(v.vid).unwrap(),
                ether_type: EtherType(inner_type),
            };
            f.extend_from_slice(&tag.to_bytes());
        }
        match &self.l3 {
            L3::Ipv4 {
                src,
                dst,
                tos,
                ttl,
                ident,
                df,
                mf,
                frag_off,
                opt_words,
                l4,
            } => {
                let proto = l4_proto(l4);
                let mut ip = Ipv4Header::new(0, *ttl, IpNumber(proto), *src, *dst).unwrap();
                ip.dscp = Ipv4Dscp::try_new(tos >> 2).unwrap();
                ip.ecn = Ipv4Ecn::try_new(tos & 3).unwrap();
                ip.identification = *ident;
                ip.dont_fragment = *df;
                ip.more_fragments = *mf;
                ip.fragment_offset = IpFragOffset::try_new(*frag_off).unwrap();
                ip.options = (&vec![1u8; *opt_words as usize * 4][..])
                    .try_into()
                    .unwrap();
                let body = l4_bytes(l4, &self.payload, Some(&ip), None);
                ip.set_payload_len(body.len()).unwrap();
                ip.header_checksum = ip.calc_header_checksum();
                f.extend_from_slice(&ip.to_bytes());
                f.extend_from_slice(&body);
            }
            L3::Ipv6 {
                src,
                dst,
                tc,
                flow,
                hlim,
                ext,
                l4,
            } => {
                let raw = |units: u8| {
                    Ipv6RawExtHeader::new_raw(IpNumber(59), &vec![0u8; 6 + 8 * units as usize])
                        .unwrap()
                };
                let mut exts = Ipv6Extensions {
                    hop_by_hop_options: ext.hop.map(raw),
                    destination_options: ext.dest.map(raw),
                    routing: ext.routing.map(|u| Ipv6RoutingExtensions {
                        routing: raw(u),
                        final_destination_options: None,
                    }),
                    fragment: ext.frag.map(|(o, m)| {
                        Ipv6FragmentHeader::new(
                            IpNumber(59),
                            IpFragOffset::try_new(o).unwrap(),
                            m,
                            7,
                        )
                    }),
                    auth: None,
                };
                let first = exts.set_next_headers(IpNumber(l4_proto(l4)));
                let mut ip = Ipv6Header {
                    traffic_class: *tc,
                    flow_label: Ipv6FlowLabel::try_new(*flow).unwrap(),
                    payload_length: 0,
                    next_header: first,
                    hop_limit: *hlim,
                    source: *src,
                    destination: *dst,
                };
                let body = l4_bytes(l4, &self.payload, None, Some(&ip));
                let mut ext_bytes = Vec::new();
                exts.write(&mut ext_bytes, first).unwrap();
                if let Some((o, m)) = ext.frag {
                    rfc_fragment_field(&mut ext_bytes, first.0, o, m);
                }
                ip.set_payload_length(ext_bytes.len() + body.len()).unwrap();
                f.extend_from_slice(&ip.to_bytes());
                f.extend_from_slice(&ext_bytes);
                f.extend_from_slice(&body);
            }
            L3::Arp {
                eth_ipv4,
                op,
                sha,
                spa,
                tha,
                tpa,
                ..
            } => {
                let (htype, ptype) = if *eth_ipv4 {
                    (1u16, 0x0800u16)
                } else {
                    (6, 0x86dd)
                };
                f.extend_from_slice(&htype.to_be_bytes());
                f.extend_from_slice(&ptype.to_be_bytes());
                f.extend_from_slice(&[6, 4]);
                f.extend_from_slice(&op.to_be_bytes());
                f.extend_from_slice(sha);
                f.extend_from_slice(spa);
                f.extend_from_slice(tha);
                f.extend_from_slice(tpa);
            }
            L3::Other { .. } => f.extend_from_slice(&self.payload),
        }
        f.extend_from_slice(&self.padding);
        f
    }
}

fn vlan() -> impl Strategy<Value = Vlan> {
    (
        prop_oneof![Just(0x8100u16), Just(0x88a8u16)],
        0u8..8,
        any::<bool>(),
        0u16..4096,
    )
        .prop_map(|(tpid, pcp, dei, vid)| Vlan {
            tpid,
            pcp,
            dei,
            vid,
        })
}

/// ICMPv6 types other than the two ND messages (which `Nd` covers).
fn icmpv6_type() -> impl Strategy<Value = u8> {
    // Not ND (generated separately), and not the error types 1-4 whose second header
    // word etherparse re-encodes from its own fields (its checksum check would then
    // disagree with the bytes it built).
    any::<u8>().prop_filter("not ND or re-encoded", |t| !matches!(*t, 1..=4 | 135 | 136))
}

/// Protocols extract has no fields for (and which are not IPv6 extension headers).
fn raw_proto() -> impl Strategy<Value = u8> {
    any::<u8>().prop_filter("no parsed proto", |p| {
        !matches!(*p, 0 | 1 | 6 | 17 | 43 | 44 | 51 | 58 | 60 | 132)
    })
}

fn l4(v6: bool) -> BoxedStrategy<L4> {
    let tcp = (any::<u16>(), any::<u16>(), 0u16..0x200, 0u8..=10).prop_map(
        |(sport, dport, flags, opt_words)| L4::Tcp {
            sport,
            dport,
            flags,
            opt_words,
        },
    );
    let udp =
        (any::<u16>(), any::<u16>(), any::<bool>()).prop_map(move |(sport, dport, z)| L4::Udp {
            sport,
            dport,
            no_csum: z && !v6,
        });
    let raw = raw_proto().prop_map(|proto| L4::Raw { proto });
    if v6 {
        let icmp = (icmpv6_type(), any::<u8>()).prop_map(|(ty, code)| L4::Icmpv6 { ty, code });
        let nd = (
            any::<bool>(),
            any::<[u8; 16]>(),
            any::<Option<[u8; 6]>>(),
            any::<Option<[u8; 6]>>(),
        )
            .prop_map(|(advert, target, sll, tll)| L4::Nd {
                advert,
                target,
                sll,
                tll,
            });
        prop_oneof![3 => tcp, 3 => udp, 2 => icmp, 2 => nd, 1 => raw].boxed()
    } else {
        // etherparse re-encodes the second header word of some ICMP types from its own
        // fields (unreachable, redirect, time exceeded, parameter problem, timestamp),
        // so its checksum check would disagree with the bytes it built: leave them out.
        let icmp = (any::<u8>().prop_filter("re-encoded ICMP type", |t| ![3, 5, 11, 12, 13, 14].contains(t)), any::<u8>())
            .prop_map(|(ty, code)| L4::Icmp { ty, code });
        prop_oneof![3 => tcp, 3 => udp, 2 => icmp, 1 => raw].boxed()
    }
}

fn ipv4(fragments: bool) -> impl Strategy<Value = L3> {
    let frag = if fragments {
        prop_oneof![3 => Just((false, 0u16)), 1 => (any::<bool>(), 0u16..0x2000)].boxed()
    } else {
        Just((false, 0u16)).boxed()
    };
    (
        (
            any::<[u8; 4]>(),
            any::<[u8; 4]>(),
            any::<u8>(),
            any::<u8>(),
            any::<u16>(),
            any::<bool>(),
        ),
        frag,
        0u8..=10,
        l4(false),
    )
        .prop_map(
            |((src, dst, tos, ttl, ident, df), (mf, frag_off), opt_words, l4)| L3::Ipv4 {
                src,
                dst,
                tos,
                ttl,
                ident,
                df,
                mf,
                frag_off,
                opt_words,
                l4,
            },
        )
}

fn ipv6(fragments: bool) -> impl Strategy<Value = L3> {
    let frag = if fragments {
        prop_oneof![2 => Just(None), 1 => (0u16..0x2000, any::<bool>()).prop_map(Some)].boxed()
    } else {
        Just(None).boxed()
    };
    let ext = (
        proptest::option::of(0u8..3),
        proptest::option::of(0u8..3),
        proptest::option::of(0u8..3),
        frag,
    )
        .prop_map(|(hop, dest, routing, frag)| Ipv6Ext {
            hop,
            dest,
            routing,
            frag,
        });
    (
        (
            any::<[u8; 16]>(),
            any::<[u8; 16]>(),
            any::<u8>(),
            0u32..0x10_0000,
            any::<u8>(),
        ),
        ext,
        l4(true),
    )
        .prop_map(|((src, dst, tc, flow, hlim), ext, l4)| L3::Ipv6 {
            src,
            dst,
            tc,
            flow,
            hlim,
            ext,
            l4,
        })
}

fn arp() -> impl Strategy<Value = L3> {
    (
        any::<bool>(),
        prop_oneof![4 => Just(true), 1 => Just(false)],
        prop_oneof![Just(1u16), Just(2u16), any::<u16>()],
        (
            any::<[u8; 6]>(),
            any::<[u8; 4]>(),
            any::<[u8; 6]>(),
            any::<[u8; 4]>(),
        ),
    )
        .prop_map(|(rarp, eth_ipv4, op, (sha, spa, tha, tpa))| L3::Arp {
            rarp,
            eth_ipv4,
            op,
            sha,
            spa,
            tha,
            tpa,
        })
}

fn other() -> impl Strategy<Value = L3> {
    any::<u16>()
        .prop_filter("not parsed", |t| {
            !matches!(
                *t,
                0x0800 | 0x86dd | 0x0806 | 0x8035 | 0x8100 | 0x88a8 | 0x9100
            )
        })
        .prop_map(|ethertype| L3::Other { ethertype })
}

/// Frames of every kind `extract` handles. With `fragments`, IP packets may be
/// fragments.
/// etherparse 0.16 lays out the IPv6 fragment header's offset and M flag in its own
/// way (the offset's low bits at the bottom of byte 3, M at the top), not as RFC 8200
/// says (13-bit offset, two reserved bits, M as bit 0). Rewrite that field of the
/// fragment header in an extension chain so the frames are what real stacks send.
fn rfc_fragment_field(chain: &mut [u8], first: u8, offset: u16, more: bool) {
    let (mut nh, mut off) = (first, 0usize);
    while off + 8 <= chain.len() {
        match nh {
            44 => {
                let v = (offset << 3) | more as u16;
                chain[off + 2..off + 4].copy_from_slice(&v.to_be_bytes());
                return;
            }
            0 | 43 | 60 => {
                nh = chain[off];
                off += (chain[off + 1] as usize + 1) * 8;
            }
            _ => return,
        }
    }
}

/// Read an IPv6 fragment header's (offset, more-fragments) the RFC 8200 way.
pub fn rfc_fragment_bits(header: &[u8]) -> (u16, bool) {
    let v = u16::from_be_bytes([header[2], header[3]]);
    (v >> 3, v & 1 != 0)
}

pub fn frame_spec(fragments: bool) -> impl Strategy<Value = FrameSpec> {
    let l3 = prop_oneof![4 => ipv4(fragments), 4 => ipv6(fragments), 2 => arp(), 1 => other()];
    (
        any::<[u8; 6]>(),
        any::<[u8; 6]>(),
        proptest::option::of(vlan()),
        l3,
        vec(any::<u8>(), 0..40),
        vec(any::<u8>(), 0..20),
    )
        .prop_map(|(dst, src, vlan, l3, payload, padding)| FrameSpec {
            dst,
            src,
            vlan,
            l3,
            payload,
            padding,
        })
}

/// Unfragmented IPv4/IPv6 frames carrying TCP, UDP or ICMPv6 (what rewrites
/// fix checksums for), without padding so the whole frame is the packet.
pub fn ip_frame_spec() -> impl Strategy<Value = FrameSpec> {
    frame_spec(false)
        .prop_filter("IP", |s| matches!(s.l3, L3::Ipv4 { .. } | L3::Ipv6 { .. }))
        .prop_map(|mut s| {
            s.padding.clear();
            s
        })
}
