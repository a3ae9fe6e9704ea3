//! Flow-key extraction: the per-packet hot path.
//!
//! [`extract`] reads an Ethernet frame once, front to back, and writes every datapath
//! word of a [`FlowKey`] following Open vSwitch's `miniflow_extract` conventions
//! (which fields share storage, how fragments, VLAN tags and ND are represented), so
//! that flows written for OVS match the same packets here.
//!
//! Speed: no allocation, no loops except the IPv6 extension-header walk and the ND
//! option scan, and every header is read through a fixed-size array reference taken
//! after one length check, so the reads themselves carry no bounds checks. The key
//! words are written directly in their final layout (several of them are a single
//! big-endian load, because the wire order already matches the key's).
//!
//! Robustness: every length is checked before use; any input returns `Ok` or a
//! [`Malformed`] naming the drop counter, never a panic.

use super::ethernet::{self, ethertype};
use super::icmpv6::{self, parse_nd_options};
use super::ipv6::{self, walk_ext};
use super::{arp, icmp, ip_proto, ipv4, sctp, tcp, udp, vlan};
use crate::flow::key::{mac_to_u64, word, FlowKey, FRAG_ANY, FRAG_LATER, VLAN_CFI};

/// Byte offsets of the network and transport headers from the start of the frame, so
/// that actions can rewrite headers without parsing again.
///
/// `l3` is the first byte after the Ethernet header and VLAN tag: the IPv4/IPv6/ARP
/// header, or whatever else the ethertype announces. `l4` is the first byte after the
/// IPv4 header (with options) or the IPv6 header and its extension headers. `l4` is 0
/// when there is no transport header to edit: not IP, or a non-first fragment (its
/// payload is the middle of a datagram, which must not be rewritten as a header).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Offsets {
    pub l3: u16,
    pub l4: u16,
}

/// Why a frame could not be parsed. Each variant is a named drop counter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Malformed {
    /// Shorter than an Ethernet header (14 bytes).
    Runt,
    /// A VLAN TPID with no room for the tag and the inner ethertype.
    Vlan,
    /// ARP/RARP shorter than the 28-byte Ethernet/IPv4 form.
    Arp,
    /// Bad IPv4 version, IHL or total length.
    Ipv4,
    /// Bad IPv6 version, payload length, or a truncated extension header.
    Ipv6,
    /// A TCP/UDP/SCTP/ICMP/ICMPv6 header shorter than its fixed part.
    L4,
}

impl Malformed {
    pub const ALL: [Malformed; 6] = [
        Malformed::Runt,
        Malformed::Vlan,
        Malformed::Arp,
        Malformed::Ipv4,
        Malformed::Ipv6,
        Malformed::L4,
    ];

    /// The drop counter's name.
    pub fn name(self) -> &'static str {
        match self {
            Malformed::Runt => "runt",
            Malformed::Vlan => "bad_vlan",
            Malformed::Arp => "bad_arp",
            Malformed::Ipv4 => "bad_ipv4",
            Malformed::Ipv6 => "bad_ipv6",
            Malformed::L4 => "bad_l4",
        }
    }
}

impl std::fmt::Display for Malformed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl std::error::Error for Malformed {}

// Fixed-size reads. Called with constant offsets (the views' `field` constants) into
// fixed-size arrays (of the views' `HEADER_LEN`s), so after inlining the indexing is
// checked at compile time, not at run time.

#[inline(always)]
fn chunk<const N: usize>(b: &[u8], off: usize) -> Option<&[u8; N]> {
    b.get(off..)?.first_chunk::<N>()
}

#[inline(always)]
fn rd16<const N: usize>(b: &[u8; N], at: usize) -> u16 {
    u16::from_be_bytes([b[at], b[at + 1]])
}

#[inline(always)]
fn rd32<const N: usize>(b: &[u8; N], at: usize) -> u32 {
    u32::from_be_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

#[inline(always)]
fn rd64<const N: usize>(b: &[u8; N], at: usize) -> u64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[at..at + 8]);
    u64::from_be_bytes(a)
}

// Several key words are one wide load across adjacent header fields, because the wire
// order already matches the key's. These are the layout facts that relies on, checked
// against the views at compile time.
const _: () = {
    use ethernet::field as eth;
    // DL_DST_TCI: 8 bytes from dst (dst + half of src, the rest masked off).
    assert!(eth::DST.end - eth::DST.start == 6 && eth::SRC.start == eth::DST.end);
    // DL_SRC_TYPE: src + ethertype, 8 bytes.
    assert!(eth::ETHERTYPE.start == eth::SRC.end && eth::ETHERTYPE.end - eth::SRC.start == 8);
    // NW_ADDRS: IPv4 src + dst, 8 bytes.
    assert!(ipv4::field::DST.start == ipv4::field::SRC.end);
    assert!(ipv4::field::DST.end - ipv4::field::SRC.start == 8);
    // IPv6 addresses as two 8-byte halves each.
    assert!(ipv6::field::SRC.end - ipv6::field::SRC.start == 16);
    assert!(ipv6::field::DST.end - ipv6::field::DST.start == 16);
    assert!(icmpv6::field::ND_TARGET.end - icmpv6::field::ND_TARGET.start == 16);
    // tp_src | tp_dst: the two ports, 4 bytes, in TCP, UDP and SCTP.
    assert!(tcp::field::DST_PORT.start == tcp::field::SRC_PORT.end);
    assert!(tcp::field::DST_PORT.end - tcp::field::SRC_PORT.start == 4);
    assert!(udp::field::DST_PORT.start == udp::field::SRC_PORT.end);
    assert!(udp::field::DST_PORT.end - udp::field::SRC_PORT.start == 4);
    assert!(sctp::field::DST_PORT.start == sctp::field::SRC_PORT.end);
    assert!(sctp::field::DST_PORT.end - sctp::field::SRC_PORT.start == 4);
    // ARP: htype ptype hlen plen (6 bytes) then op; op + sha (8 bytes); spa + tha
    // ending together 8 bytes after the low half of spa.
    assert!(arp::field::HTYPE.end - arp::field::HTYPE.start == 2);
    assert!(arp::field::PTYPE.start == arp::field::HTYPE.end);
    assert!(arp::field::HLEN == arp::field::PTYPE.end && arp::field::PLEN == arp::field::HLEN + 1);
    assert!(arp::field::OP.start == arp::field::PLEN + 1);
    assert!(
        arp::field::SHA.start == arp::field::OP.end
            && arp::field::SHA.end - arp::field::OP.start == 8
    );
    assert!(arp::field::THA.end - arp::field::THA.start == 6);
};

/// htype, ptype, hlen, plen of Ethernet/IPv4 ARP, as the top 48 bits of a 64-bit load
/// from the start of the header.
const ARP_ETH_IPV4: u64 = (arp::HTYPE_ETHERNET as u64) << 32
    | (ethertype::IPV4 as u64) << 16
    | (arp::HLEN_ETHERNET as u64) << 8
    | arp::PLEN_IPV4 as u64;

/// The NW_L4 word without ports: nw_proto | nw_tos | nw_ttl | nw_frag.
#[inline(always)]
fn nw_word(proto: u8, tos: u8, ttl: u8, frag: u8) -> u64 {
    (proto as u64) << 56 | (tos as u64) << 48 | (ttl as u64) << 40 | (frag as u64) << 32
}

/// Fill `key` from `frame`, received on `in_port`.
///
/// Every word of `key` is overwritten: the datapath words from the frame (with
/// `recirc_id`, conntrack and tunnel metadata zero: the caller sets those if it has
/// them), the translation-only words with zero. On `Err` the key holds what was parsed
/// before the problem (e.g. the Ethernet fields) and zeros elsewhere.
#[inline]
pub fn extract(frame: &[u8], in_port: u32, key: &mut FlowKey) -> Result<Offsets, Malformed> {
    *key = FlowKey::ZERO;
    key.w[word::META] = in_port as u64;

    let eth = frame
        .first_chunk::<{ ethernet::HEADER_LEN }>()
        .ok_or(Malformed::Runt)?;
    // 8 bytes from dst are dst + the first half of src: keep dst in bits 16..64. The 8
    // bytes from src are src + ethertype: exactly the DL_SRC_TYPE word.
    let dst = rd64(eth, ethernet::field::DST.start) & !0xffff;
    let src = rd64(eth, ethernet::field::SRC.start) & !0xffff;
    let mut dl_type = rd16(eth, ethernet::field::ETHERTYPE.start);
    let mut tci = 0u16;
    let mut off = ethernet::HEADER_LEN;

    // Up to two tags, 802.1Q or 802.1ad, as Open vSwitch parses them. The outer one is
    // the OpenFlow vlan_tci; the inner one is kept for the datapath (pushing and
    // popping tags must know it). Each keeps PCP and VID, with DEI replaced by
    // "present"; whatever follows the second tag (even a third tag) is dl_type.
    // A tag's TPID sits where the ethertype was, so the VLAN view (TCI + inner
    // ethertype) starts at the Ethernet payload and each tag moves it by TAG_LEN.
    let mut tci2 = 0u16;
    if ethertype::is_vlan(dl_type) {
        key.w[word::DL_DST_TCI] = dst;
        key.w[word::DL_SRC_TYPE] = src | dl_type as u64;
        let tag = chunk::<{ vlan::HEADER_LEN }>(frame, off).ok_or(Malformed::Vlan)?;
        tci = rd16(tag, vlan::field::TCI.start) | VLAN_CFI;
        dl_type = rd16(tag, vlan::field::ETHERTYPE.start);
        off += vlan::TAG_LEN;
        if ethertype::is_vlan(dl_type) {
            let tag = chunk::<{ vlan::HEADER_LEN }>(frame, off).ok_or(Malformed::Vlan)?;
            tci2 = rd16(tag, vlan::field::TCI.start) | VLAN_CFI;
            dl_type = rd16(tag, vlan::field::ETHERTYPE.start);
            off += vlan::TAG_LEN;
        }
    }
    // An 802.3 length field, not an ethertype. (OVS would also look through an
    // LLC/SNAP header here; we do not.)
    if dl_type < ethertype::MIN {
        dl_type = ethertype::NONE;
    }
    key.w[word::DL_DST_TCI] = dst | tci as u64;
    key.w[word::DL_SRC_TYPE] = src | dl_type as u64;
    key.w[word::ARP_THA] = tci2 as u64;

    match dl_type {
        ethertype::IPV4 => extract_ipv4(frame, off, key),
        ethertype::IPV6 => extract_ipv6(frame, off, key),
        ethertype::ARP | ethertype::RARP => extract_arp(frame, off, key),
        _ => Ok(Offsets {
            l3: off as u16,
            l4: 0,
        }),
    }
}

#[inline(always)]
fn extract_ipv4(frame: &[u8], off: usize, key: &mut FlowKey) -> Result<Offsets, Malformed> {
    use ipv4::field as f;
    let ip = chunk::<{ ipv4::MIN_HEADER_LEN }>(frame, off).ok_or(Malformed::Ipv4)?;
    let hl = ipv4::header_len_of(ip[f::VER_IHL]);
    let total = rd16(ip, f::TOTAL_LEN.start) as usize;
    // `chunk` succeeded, so off + MIN_HEADER_LEN <= frame.len(). Bytes past `total`
    // are Ethernet padding.
    if ipv4::version_of(ip[f::VER_IHL]) != ipv4::VERSION
        || hl < ipv4::MIN_HEADER_LEN
        || hl > total
        || total > frame.len() - off
    {
        return Err(Malformed::Ipv4);
    }
    // Source then destination on the wire: the NW_ADDRS word as is.
    key.w[word::NW_ADDRS] = rd64(ip, f::SRC.start);

    let flags_frag = rd16(ip, f::FLAGS_FRAG.start);
    let mut frag = 0;
    if flags_frag & (ipv4::FLAG_MF | ipv4::FRAG_OFFSET_MASK) != 0 {
        // MF or a non-zero offset: a fragment; non-zero offset: not the first.
        frag = FRAG_ANY;
        if flags_frag & ipv4::FRAG_OFFSET_MASK != 0 {
            frag |= FRAG_LATER;
        }
    }
    let proto = ip[f::PROTO];
    key.w[word::NW_L4] = nw_word(proto, ip[f::TOS], ip[f::TTL], frag);

    let l3 = off as u16;
    if frag & FRAG_LATER != 0 {
        return Ok(Offsets { l3, l4: 0 });
    }
    let l4 = off + hl;
    let payload = frame.get(l4..off + total).ok_or(Malformed::Ipv4)?;
    extract_l4(payload, proto, false, key)?;
    // l4 <= two tags + 60 bytes of IPv4 header: always fits.
    Ok(Offsets { l3, l4: l4 as u16 })
}

#[inline(always)]
fn extract_ipv6(frame: &[u8], off: usize, key: &mut FlowKey) -> Result<Offsets, Malformed> {
    use ipv6::field as f;
    let ip = chunk::<{ ipv6::HEADER_LEN }>(frame, off).ok_or(Malformed::Ipv6)?;
    let vtc_flow = rd32(ip, f::VTC_FLOW.start);
    if ipv6::version_of(vtc_flow) != ipv6::VERSION {
        return Err(Malformed::Ipv6);
    }
    let plen = rd16(ip, f::PAYLOAD_LEN.start) as usize;
    let payload = frame
        .get(off + ipv6::HEADER_LEN..off + ipv6::HEADER_LEN + plen)
        .ok_or(Malformed::Ipv6)?;
    key.w[word::IPV6_SRC] = rd64(ip, f::SRC.start);
    key.w[word::IPV6_SRC + 1] = rd64(ip, f::SRC.start + 8);
    key.w[word::IPV6_DST] = rd64(ip, f::DST.start);
    key.w[word::IPV6_DST + 1] = rd64(ip, f::DST.start + 8);

    let walk = walk_ext(payload, ip[f::NEXT_HEADER]).map_err(|_| Malformed::Ipv6)?;
    let tclass = ipv6::traffic_class_of(vtc_flow);
    key.w[word::NW_L4] = nw_word(walk.proto, tclass, ip[f::HOP_LIMIT], walk.frag);

    let l3 = off as u16;
    if walk.frag & FRAG_LATER != 0 {
        return Ok(Offsets { l3, l4: 0 });
    }
    // Extension headers could in theory push the offset past u16 in a huge frame.
    let l4 = u16::try_from(off + ipv6::HEADER_LEN + walk.len).map_err(|_| Malformed::Ipv6)?;
    let l4_data = payload.get(walk.len..).unwrap_or_default();
    extract_l4(l4_data, walk.proto, true, key)?;
    Ok(Offsets { l3, l4 })
}

/// Transport fields from `p`, the bytes from the L4 header to the end of the IP
/// datagram.
#[inline(always)]
fn extract_l4(p: &[u8], proto: u8, v6: bool, key: &mut FlowKey) -> Result<(), Malformed> {
    match proto {
        ip_proto::TCP => {
            let t = p
                .first_chunk::<{ tcp::MIN_HEADER_LEN }>()
                .ok_or(Malformed::L4)?;
            // Source and destination port: tp_src | tp_dst as they sit on the wire.
            key.w[word::NW_L4] |= rd32(t, tcp::field::SRC_PORT.start) as u64;
            key.w[word::ARP_SHA] = (rd16(t, tcp::field::OFF_FLAGS.start) & tcp::flags::MASK) as u64;
        }
        ip_proto::UDP => {
            let u = p
                .first_chunk::<{ udp::HEADER_LEN }>()
                .ok_or(Malformed::L4)?;
            key.w[word::NW_L4] |= rd32(u, udp::field::SRC_PORT.start) as u64;
        }
        ip_proto::SCTP => {
            let s = p
                .first_chunk::<{ sctp::HEADER_LEN }>()
                .ok_or(Malformed::L4)?;
            key.w[word::NW_L4] |= rd32(s, sctp::field::SRC_PORT.start) as u64;
        }
        ip_proto::ICMP if !v6 => {
            let i = p
                .first_chunk::<{ icmp::HEADER_LEN }>()
                .ok_or(Malformed::L4)?;
            key.w[word::NW_L4] |= (i[icmp::field::TYPE] as u64) << 16 | i[icmp::field::CODE] as u64;
        }
        ip_proto::ICMPV6 if v6 => {
            let i = p
                .first_chunk::<{ icmpv6::HEADER_LEN }>()
                .ok_or(Malformed::L4)?;
            let (ty, code) = (i[icmpv6::field::TYPE], i[icmpv6::field::CODE]);
            key.w[word::NW_L4] |= (ty as u64) << 16 | code as u64;
            if code == 0
                && (ty == icmpv6::TYPE_NEIGHBOR_SOLICIT || ty == icmpv6::TYPE_NEIGHBOR_ADVERT)
            {
                extract_nd(p, key);
            }
        }
        _ => {}
    }
    Ok(())
}

/// Neighbour solicitation/advertisement: target and link-layer address options. As in
/// OVS, a message too short for the target just has no ND fields, and duplicate
/// options void all of them; neither is a reason to drop the packet.
#[cold]
fn extract_nd(p: &[u8], key: &mut FlowKey) {
    let Some((nd, opts)) = p.split_first_chunk::<{ icmpv6::ND_HEADER_LEN }>() else {
        return;
    };
    let Some(ll) = parse_nd_options(opts) else {
        return;
    };
    let target = icmpv6::field::ND_TARGET.start;
    key.w[word::ND_TARGET] = rd64(nd, target);
    key.w[word::ND_TARGET + 1] = rd64(nd, target + 8);
    key.w[word::ARP_SHA] = mac_to_u64(ll.sll) << 16;
    // The low 16 bits hold the inner VLAN tag.
    key.w[word::ARP_THA] |= mac_to_u64(ll.tll) << 16;
}

#[inline(always)]
fn extract_arp(frame: &[u8], off: usize, key: &mut FlowKey) -> Result<Offsets, Malformed> {
    use arp::field as f;
    let a = chunk::<{ arp::HEADER_LEN }>(frame, off).ok_or(Malformed::Arp)?;
    // htype 1 (Ethernet), ptype 0x0800, hlen 6, plen 4: the only form with key fields.
    if rd64(a, f::HTYPE.start) >> 16 == ARP_ETH_IPV4 {
        let op = rd16(a, f::OP.start);
        // The key has 8 bits for the opcode (it shares nw_proto); OVS leaves larger
        // opcodes out rather than truncate them.
        if op <= 0xff {
            key.w[word::NW_L4] = (op as u64) << 56;
        }
        key.w[word::NW_ADDRS] = (rd32(a, f::SPA.start) as u64) << 32 | rd32(a, f::TPA.start) as u64;
        // The 8 bytes from op are op + sha, the 8 bytes ending with tha are the low
        // half of spa + tha: shifting left by 16 drops the neighbour and leaves the MAC
        // in bits 16..64.
        key.w[word::ARP_SHA] = rd64(a, f::OP.start) << 16;
        // The low 16 bits hold the inner VLAN tag.
        key.w[word::ARP_THA] |= rd64(a, f::THA.end - 8) << 16;
    }
    Ok(Offsets {
        l3: off as u16,
        l4: 0,
    })
}

#[cfg(test)]
mod tests;
