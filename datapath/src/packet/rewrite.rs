//! In-place header rewrites for the action executor, with incremental checksum
//! fix-ups (RFC 1624): an address or port change costs a few additions, not a pass
//! over the payload.
//!
//! Every function checks what it is about to touch and returns a [`RewriteError`]
//! rather than panic. The L3 header is found through [`Offsets::l3`] and confirmed by
//! the ethertype just before it (which is where the ethertype sits whether or not the
//! frame is tagged). The L4 header and protocol are derived from the L3 header itself
//! (IPv4: IHL; IPv6: the extension-header walk, empty in the common case) rather than
//! taken from [`Offsets::l4`], so a stale offset can never make a rewrite scribble on
//! payload, and non-first fragments, which have no L4 header, are never "fixed".

use std::net::{Ipv4Addr, Ipv6Addr};

use super::arp::{self, ArpPacket};
use super::buf::PacketMut;
use super::checksum::{udp_nonzero, update16, update32, update_bytes};
use super::ethernet::{self, ethertype, EthernetFrame};
use super::extract::Offsets;
use super::ipv4::{self, Ipv4Packet};
use super::ipv6::{self, walk_ext, Ipv6Packet};
use super::vlan::{self, VlanHeader};
use super::{get16 as field16, get_arr, icmpv6, ip_proto, put_arr, tcp, udp, Field};
use crate::flow::key::{FRAG_LATER, VLAN_CFI};

/// Why a rewrite was not applied. The packet is unchanged when one is returned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RewriteError {
    /// The packet ends before the bytes the rewrite must touch.
    Truncated,
    /// The packet has no header of the kind the rewrite edits (an untagged frame for
    /// `pop_vlan`, IPv6 for `set_ipv4_src`, ICMP for `set_tp_src`, IP for `set_arp_op`).
    NoHeader,
    /// The frame buffer has no room to grow the packet.
    NoRoom,
    /// The packet is larger than the tunnel's underlay takes after encapsulation.
    TooBig,
}

impl RewriteError {
    /// A name for the error counter.
    pub fn name(self) -> &'static str {
        match self {
            RewriteError::Truncated => "rewrite_truncated",
            RewriteError::NoHeader => "rewrite_no_header",
            RewriteError::NoRoom => "rewrite_no_room",
            RewriteError::TooBig => "tnl_mtu_exceeded",
        }
    }
}

impl std::fmt::Display for RewriteError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl std::error::Error for RewriteError {}

use RewriteError::{NoHeader, NoRoom, Truncated};

type Res = Result<(), RewriteError>;

// ---- byte access ----

#[inline]
fn bytes<const N: usize>(d: &[u8], at: usize) -> Result<&[u8; N], RewriteError> {
    d.get(at..)
        .and_then(|s| s.first_chunk::<N>())
        .ok_or(Truncated)
}

#[inline]
fn bytes_mut<const N: usize>(d: &mut [u8], at: usize) -> Result<&mut [u8; N], RewriteError> {
    d.get_mut(at..)
        .and_then(|s| s.first_chunk_mut::<N>())
        .ok_or(Truncated)
}

#[inline]
fn get16(d: &[u8], at: usize) -> Result<u16, RewriteError> {
    bytes::<2>(d, at).map(|b| u16::from_be_bytes(*b))
}

/// Replace the 16-bit word at `at` (whose offset within its header is even) and return
/// the old value.
#[inline]
fn swap16(d: &mut [u8], at: usize, new: u16) -> Result<u16, RewriteError> {
    let b = bytes_mut::<2>(d, at)?;
    let old = u16::from_be_bytes(*b);
    *b = new.to_be_bytes();
    Ok(old)
}

// ---- locating headers ----

/// How far before the L3 header its ethertype starts: the ethertype is the last field
/// of the Ethernet header and of a VLAN tag alike.
const ETHERTYPE_BEFORE_L3: usize = ethernet::field::PAYLOAD - ethernet::field::ETHERTYPE.start;
const _: () = assert!(vlan::field::PAYLOAD - vlan::field::ETHERTYPE.start == ETHERTYPE_BEFORE_L3);

/// The Ethernet header plus one VLAN tag (TPID in the ethertype's place, then TCI and
/// the inner ethertype).
const TAGGED_LEN: usize = ethernet::HEADER_LEN + vlan::HEADER_LEN;

/// The L3 offset, if the ethertype in front of it is one of `types`.
#[inline]
fn l3_of(d: &[u8], ofs: Offsets, types: &[u16]) -> Result<usize, RewriteError> {
    let l3 = ofs.l3 as usize;
    if l3 < ethernet::HEADER_LEN {
        return Err(NoHeader);
    }
    let t = get16(d, l3 - ETHERTYPE_BEFORE_L3)?;
    if !types.contains(&t) {
        return Err(NoHeader);
    }
    Ok(l3)
}

/// The IPv4 header at `ofs.l3`, validated enough to edit: version 4, and the whole
/// header (IHL >= 5) inside the packet.
#[inline]
fn ipv4_at(d: &[u8], ofs: Offsets) -> Result<usize, RewriteError> {
    let l3 = l3_of(d, ofs, &[ethertype::IPV4])?;
    let h = Ipv4Packet::new_unchecked(bytes::<{ ipv4::MIN_HEADER_LEN }>(d, l3)?);
    if h.version() != ipv4::VERSION {
        return Err(NoHeader);
    }
    let hl = h.header_len();
    if hl < ipv4::MIN_HEADER_LEN || d.len() - l3 < hl {
        return Err(Truncated);
    }
    Ok(l3)
}

#[inline]
fn ipv6_at(d: &[u8], ofs: Offsets) -> Result<usize, RewriteError> {
    let l3 = l3_of(d, ofs, &[ethertype::IPV6])?;
    let h = Ipv6Packet::new_unchecked(bytes::<{ ipv6::HEADER_LEN }>(d, l3)?);
    if h.version() != ipv6::VERSION {
        return Err(NoHeader);
    }
    Ok(l3)
}

/// Where the transport header of the IP packet at `l3` is.
#[derive(Clone, Copy)]
struct L4 {
    proto: u8,
    /// Offset of the transport header.
    at: usize,
    /// End of the IP datagram (Ethernet padding excluded).
    end: usize,
    v6: bool,
}

impl L4 {
    /// Check that the transport header's field `f` is inside the datagram, and return
    /// its offset in the packet.
    #[inline]
    fn field(&self, f: Field) -> Result<usize, RewriteError> {
        if self.at + f.end > self.end {
            return Err(Truncated);
        }
        Ok(self.at + f.start)
    }
}

/// The transport header of the IPv4 packet at `l3` (checked by [`ipv4_at`]); `None`
/// for non-first fragments.
fn ipv4_l4(d: &[u8], l3: usize) -> Result<Option<L4>, RewriteError> {
    let h = Ipv4Packet::new_unchecked(bytes::<{ ipv4::MIN_HEADER_LEN }>(d, l3)?);
    if h.frag_offset() != 0 {
        return Ok(None);
    }
    let end = (l3 + h.total_len() as usize).min(d.len());
    Ok(Some(L4 {
        proto: h.proto(),
        at: l3 + h.header_len(),
        end,
        v6: false,
    }))
}

/// The transport header of the IPv6 packet at `l3`; `None` for non-first fragments.
fn ipv6_l4(d: &[u8], l3: usize) -> Result<Option<L4>, RewriteError> {
    let h = Ipv6Packet::new_unchecked(bytes::<{ ipv6::HEADER_LEN }>(d, l3)?);
    let plen = h.payload_len() as usize;
    let start = l3 + ipv6::HEADER_LEN;
    let payload = d.get(start..start + plen).ok_or(Truncated)?;
    let w = walk_ext(payload, h.next_header()).map_err(|_| Truncated)?;
    if w.frag & FRAG_LATER != 0 {
        return Ok(None);
    }
    Ok(Some(L4 {
        proto: w.proto,
        at: start + w.len,
        end: start + plen,
        v6: true,
    }))
}

/// The transport header's checksum that covers the pseudo-header, for the protocols
/// that have one.
#[inline]
fn pseudo_csum_field(l4: &L4) -> Option<Field> {
    match l4.proto {
        ip_proto::TCP => Some(tcp::field::CHECKSUM),
        ip_proto::UDP => Some(udp::field::CHECKSUM),
        ip_proto::ICMPV6 if l4.v6 => Some(icmpv6::field::CHECKSUM),
        _ => None,
    }
}

/// Offset in the packet of the checksum covering the pseudo-header, if there is one;
/// checked to be inside the datagram, so that writing it later cannot fail half way
/// through a rewrite.
#[inline]
fn pseudo_csum_at(l4: Option<L4>) -> Result<Option<(usize, bool)>, RewriteError> {
    let Some(l4) = l4 else { return Ok(None) };
    let Some(f) = pseudo_csum_field(&l4) else {
        return Ok(None);
    };
    Ok(Some((l4.field(f)?, l4.proto == ip_proto::UDP)))
}

/// Apply `f` to the checksum at `at` (from [`pseudo_csum_at`]). A UDP checksum of 0
/// means "none" and stays 0; a computed 0 is sent as 0xffff.
#[inline]
fn fix_l4_csum(d: &mut [u8], at: Option<(usize, bool)>, f: impl Fn(u16) -> u16) -> Res {
    let Some((at, is_udp)) = at else {
        return Ok(());
    };
    let c = bytes_mut::<2>(d, at)?;
    let old = u16::from_be_bytes(*c);
    let new = if is_udp {
        if old == 0 {
            return Ok(());
        }
        udp_nonzero(f(old))
    } else {
        f(old)
    };
    *c = new.to_be_bytes();
    Ok(())
}

#[inline]
fn shift_offsets(ofs: &Offsets, grow: bool) -> Result<Offsets, RewriteError> {
    let mv = |o: u16| -> Result<u16, RewriteError> {
        match (o, grow) {
            (0, _) => Ok(0),
            (o, true) => o.checked_add(vlan::TAG_LEN as u16).ok_or(NoRoom),
            (o, false) => o.checked_sub(vlan::TAG_LEN as u16).ok_or(Truncated),
        }
    };
    Ok(Offsets {
        l3: mv(ofs.l3)?,
        l4: mv(ofs.l4)?,
    })
}

// ---- Ethernet and VLAN ----

/// The Ethernet header at the start of the packet.
#[inline]
fn eth_mut(d: &mut [u8]) -> Result<EthernetFrame<&mut [u8; ethernet::HEADER_LEN]>, RewriteError> {
    bytes_mut::<{ ethernet::HEADER_LEN }>(d, 0).map(EthernetFrame::new_unchecked)
}

pub fn set_eth_dst(pkt: &mut PacketMut, mac: [u8; 6]) -> Res {
    eth_mut(pkt.data_mut())?.set_dst(mac);
    Ok(())
}

pub fn set_eth_src(pkt: &mut PacketMut, mac: [u8; 6]) -> Res {
    eth_mut(pkt.data_mut())?.set_src(mac);
    Ok(())
}

/// The Ethernet header and the VLAN tag after it, whose TCI and inner ethertype are
/// the Ethernet payload's first bytes (its TPID is the Ethernet ethertype).
#[inline]
fn tagged_mut(d: &mut [u8]) -> Result<EthernetFrame<&mut [u8; TAGGED_LEN]>, RewriteError> {
    bytes_mut::<TAGGED_LEN>(d, 0).map(EthernetFrame::new_unchecked)
}

/// Insert a tag (`tpid` 0x8100 or 0x88a8) in front of the frame's ethertype (or
/// existing tag). `tci` is OpenFlow's: its 0x1000 "present" bit is not written, as
/// Open vSwitch does (the wire bit is DEI). Shifts `ofs` by [`vlan::TAG_LEN`].
pub fn push_vlan(pkt: &mut PacketMut, ofs: &mut Offsets, tpid: u16, tci: u16) -> Res {
    bytes::<{ ethernet::HEADER_LEN }>(pkt.data(), 0)?;
    let new_ofs = shift_offsets(ofs, true)?;
    // The tag goes where the ethertype is; the ethertype moves behind it and becomes
    // the tag's inner ethertype.
    pkt.insert_gap(ethernet::field::ETHERTYPE.start, vlan::TAG_LEN)
        .map_err(|_| NoRoom)?;
    let mut eth = tagged_mut(pkt.data_mut())?;
    eth.set_ethertype(tpid);
    VlanHeader::new_unchecked(eth.payload_mut()).set_tci(tci & !VLAN_CFI);
    *ofs = new_ofs;
    Ok(())
}

/// Remove the outer tag. Shifts `ofs` back by [`vlan::TAG_LEN`].
pub fn pop_vlan(pkt: &mut PacketMut, ofs: &mut Offsets) -> Res {
    if !ethertype::is_vlan(get16(pkt.data(), ethernet::field::ETHERTYPE.start)?) {
        return Err(NoHeader);
    }
    bytes::<TAGGED_LEN>(pkt.data(), 0)?;
    let new_ofs = shift_offsets(ofs, false)?;
    // TPID and TCI go; the inner ethertype takes the TPID's place.
    pkt.remove(ethernet::field::ETHERTYPE.start, vlan::TAG_LEN)
        .map_err(|_| Truncated)?;
    *ofs = new_ofs;
    Ok(())
}

/// Rewrite the outer tag's PCP and VID (OpenFlow TCI; the present bit is not written).
pub fn set_vlan_tci(pkt: &mut PacketMut, tci: u16) -> Res {
    let d = pkt.data_mut();
    if !ethertype::is_vlan(get16(d, ethernet::field::ETHERTYPE.start)?) {
        return Err(NoHeader);
    }
    VlanHeader::new_unchecked(tagged_mut(d)?.payload_mut()).set_tci(tci & !VLAN_CFI);
    Ok(())
}

// ---- IPv4 ----

/// Replace the address in `field` (the header's SRC or DST) and fix the header and
/// transport checksums.
fn set_ipv4_addr(pkt: &mut PacketMut, ofs: Offsets, field: Field, addr: Ipv4Addr) -> Res {
    let d = pkt.data_mut();
    let l3 = ipv4_at(d, ofs)?;
    let csum = pseudo_csum_at(ipv4_l4(d, l3)?)?;
    let h = bytes_mut::<{ ipv4::MIN_HEADER_LEN }>(d, l3)?;
    let old = u32::from_be_bytes(get_arr(h, field.clone()));
    let new = u32::from(addr);
    put_arr(h, field, &addr.octets());
    let mut ip = Ipv4Packet::new_unchecked(h);
    ip.set_checksum(update32(ip.checksum(), old, new));
    // TCP and UDP checksums cover the addresses through the pseudo-header.
    fix_l4_csum(d, csum, |c| update32(c, old, new))
}

pub fn set_ipv4_src(pkt: &mut PacketMut, ofs: Offsets, addr: Ipv4Addr) -> Res {
    set_ipv4_addr(pkt, ofs, ipv4::field::SRC, addr)
}

pub fn set_ipv4_dst(pkt: &mut PacketMut, ofs: Offsets, addr: Ipv4Addr) -> Res {
    set_ipv4_addr(pkt, ofs, ipv4::field::DST, addr)
}

/// Replace the header byte at `at` (a one-byte field) and fix the header checksum
/// over the 16-bit word that holds it.
fn set_ipv4_byte(pkt: &mut PacketMut, ofs: Offsets, at: usize, v: u8) -> Res {
    let d = pkt.data_mut();
    let l3 = ipv4_at(d, ofs)?;
    let h = bytes_mut::<{ ipv4::MIN_HEADER_LEN }>(d, l3)?;
    let word = at & !1..(at & !1) + 2;
    let old = field16(h, word.clone());
    h[at] = v;
    let new = field16(h, word);
    let mut ip = Ipv4Packet::new_unchecked(h);
    ip.set_checksum(update16(ip.checksum(), old, new));
    Ok(())
}

/// Set the whole TOS byte (the caller merges DSCP and ECN as the action requires).
pub fn set_ipv4_tos(pkt: &mut PacketMut, ofs: Offsets, tos: u8) -> Res {
    set_ipv4_byte(pkt, ofs, ipv4::field::TOS, tos)
}

pub fn set_ipv4_ttl(pkt: &mut PacketMut, ofs: Offsets, ttl: u8) -> Res {
    set_ipv4_byte(pkt, ofs, ipv4::field::TTL, ttl)
}

// ---- IPv6 ----

/// Replace the address in `field` (the header's SRC or DST) and fix the transport
/// checksum.
fn set_ipv6_addr(pkt: &mut PacketMut, ofs: Offsets, field: Field, addr: Ipv6Addr) -> Res {
    let d = pkt.data_mut();
    let l3 = ipv6_at(d, ofs)?;
    let csum = pseudo_csum_at(ipv6_l4(d, l3)?)?;
    let h = bytes_mut::<{ ipv6::HEADER_LEN }>(d, l3)?;
    let old: [u8; 16] = get_arr(h, field.clone());
    let new = addr.octets();
    put_arr(h, field, &new);
    // No IPv6 header checksum; TCP, UDP and ICMPv6 cover the addresses.
    fix_l4_csum(d, csum, |c| update_bytes(c, &old, &new))
}

pub fn set_ipv6_src(pkt: &mut PacketMut, ofs: Offsets, addr: Ipv6Addr) -> Res {
    set_ipv6_addr(pkt, ofs, ipv6::field::SRC, addr)
}

pub fn set_ipv6_dst(pkt: &mut PacketMut, ofs: Offsets, addr: Ipv6Addr) -> Res {
    set_ipv6_addr(pkt, ofs, ipv6::field::DST, addr)
}

/// Set the traffic class (no checksum covers it).
pub fn set_ipv6_tclass(pkt: &mut PacketMut, ofs: Offsets, tc: u8) -> Res {
    let d = pkt.data_mut();
    let l3 = ipv6_at(d, ofs)?;
    Ipv6Packet::new_unchecked(bytes_mut::<{ ipv6::HEADER_LEN }>(d, l3)?).set_traffic_class(tc);
    Ok(())
}

pub fn set_ipv6_hop_limit(pkt: &mut PacketMut, ofs: Offsets, hlim: u8) -> Res {
    let d = pkt.data_mut();
    let l3 = ipv6_at(d, ofs)?;
    Ipv6Packet::new_unchecked(bytes_mut::<{ ipv6::HEADER_LEN }>(d, l3)?).set_hop_limit(hlim);
    Ok(())
}

// ---- TCP / UDP ports ----

/// Set the source (`dst` false) or destination port of a TCP or UDP header.
fn set_port(pkt: &mut PacketMut, ofs: Offsets, dst: bool, port: u16) -> Res {
    let d = pkt.data_mut();
    let l3 = l3_of(d, ofs, &[ethertype::IPV4, ethertype::IPV6])?;
    let l4 = if get16(d, l3 - ETHERTYPE_BEFORE_L3)? == ethertype::IPV4 {
        ipv4_l4(d, ipv4_at(d, ofs)?)?
    } else {
        ipv6_l4(d, ipv6_at(d, ofs)?)?
    };
    let l4 = l4.ok_or(NoHeader)?;
    let field = match (l4.proto, dst) {
        (ip_proto::TCP, false) => tcp::field::SRC_PORT,
        (ip_proto::TCP, true) => tcp::field::DST_PORT,
        (ip_proto::UDP, false) => udp::field::SRC_PORT,
        (ip_proto::UDP, true) => udp::field::DST_PORT,
        _ => return Err(NoHeader),
    };
    let csum = pseudo_csum_at(Some(l4))?;
    let port_at = l4.field(field)?;
    let old = swap16(d, port_at, port)?;
    fix_l4_csum(d, csum, |c| update16(c, old, port))
}

/// Set the TCP or UDP source port.
pub fn set_tp_src(pkt: &mut PacketMut, ofs: Offsets, port: u16) -> Res {
    set_port(pkt, ofs, false, port)
}

/// Set the TCP or UDP destination port.
pub fn set_tp_dst(pkt: &mut PacketMut, ofs: Offsets, port: u16) -> Res {
    set_port(pkt, ofs, true, port)
}

// ---- ARP ----

/// The Ethernet/IPv4 ARP packet at `ofs.l3`.
fn arp_at<'p>(
    pkt: &'p mut PacketMut,
    ofs: Offsets,
) -> Result<ArpPacket<&'p mut [u8; arp::HEADER_LEN]>, RewriteError> {
    let d = pkt.data_mut();
    let l3 = l3_of(d, ofs, &[ethertype::ARP, ethertype::RARP])?;
    let a = ArpPacket::new_unchecked(bytes_mut::<{ arp::HEADER_LEN }>(d, l3)?);
    if !a.is_eth_ipv4() {
        return Err(NoHeader);
    }
    Ok(a)
}

pub fn set_arp_op(pkt: &mut PacketMut, ofs: Offsets, op: u16) -> Res {
    arp_at(pkt, ofs)?.set_op(op);
    Ok(())
}

pub fn set_arp_sha(pkt: &mut PacketMut, ofs: Offsets, mac: [u8; 6]) -> Res {
    arp_at(pkt, ofs)?.set_sha(mac);
    Ok(())
}

pub fn set_arp_spa(pkt: &mut PacketMut, ofs: Offsets, addr: Ipv4Addr) -> Res {
    arp_at(pkt, ofs)?.set_spa(addr.octets());
    Ok(())
}

pub fn set_arp_tha(pkt: &mut PacketMut, ofs: Offsets, mac: [u8; 6]) -> Res {
    arp_at(pkt, ofs)?.set_tha(mac);
    Ok(())
}

pub fn set_arp_tpa(pkt: &mut PacketMut, ofs: Offsets, addr: Ipv4Addr) -> Res {
    arp_at(pkt, ofs)?.set_tpa(addr.octets());
    Ok(())
}

#[cfg(test)]
mod tests;
