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

use super::buf::PacketMut;
use super::checksum::{udp_nonzero, update16, update32, update_bytes};
use super::ethernet::ethertype;
use super::extract::Offsets;
use super::ip_proto;
use super::ipv6::walk_ext;
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

/// The L3 offset, if the ethertype in front of it is one of `types`.
#[inline]
fn l3_of(d: &[u8], ofs: Offsets, types: &[u16]) -> Result<usize, RewriteError> {
    let l3 = ofs.l3 as usize;
    if l3 < 14 {
        return Err(NoHeader);
    }
    let t = get16(d, l3 - 2)?;
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
    let h = bytes::<20>(d, l3)?;
    if h[0] >> 4 != 4 {
        return Err(NoHeader);
    }
    let hl = (h[0] & 0x0f) as usize * 4;
    if hl < 20 || d.len() - l3 < hl {
        return Err(Truncated);
    }
    Ok(l3)
}

#[inline]
fn ipv6_at(d: &[u8], ofs: Offsets) -> Result<usize, RewriteError> {
    let l3 = l3_of(d, ofs, &[ethertype::IPV6])?;
    let h = bytes::<40>(d, l3)?;
    if h[0] >> 4 != 6 {
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
    /// Check that the 16-bit field at `ofs` in the transport header is inside the
    /// datagram, and return its offset in the packet.
    #[inline]
    fn field(&self, ofs: usize) -> Result<usize, RewriteError> {
        let at = self.at + ofs;
        if at + 2 > self.end {
            return Err(Truncated);
        }
        Ok(at)
    }
}

/// The transport header of the IPv4 packet at `l3` (checked by [`ipv4_at`]); `None`
/// for non-first fragments.
fn ipv4_l4(d: &[u8], l3: usize) -> Result<Option<L4>, RewriteError> {
    let h = bytes::<20>(d, l3)?;
    if u16::from_be_bytes([h[6], h[7]]) & 0x1fff != 0 {
        return Ok(None);
    }
    let hl = (h[0] & 0x0f) as usize * 4;
    let end = (l3 + u16::from_be_bytes([h[2], h[3]]) as usize).min(d.len());
    Ok(Some(L4 {
        proto: h[9],
        at: l3 + hl,
        end,
        v6: false,
    }))
}

/// The transport header of the IPv6 packet at `l3`; `None` for non-first fragments.
fn ipv6_l4(d: &[u8], l3: usize) -> Result<Option<L4>, RewriteError> {
    let h = bytes::<40>(d, l3)?;
    let plen = u16::from_be_bytes([h[4], h[5]]) as usize;
    let payload = d.get(l3 + 40..l3 + 40 + plen).ok_or(Truncated)?;
    let w = walk_ext(payload, h[6]).map_err(|_| Truncated)?;
    if w.frag & FRAG_LATER != 0 {
        return Ok(None);
    }
    Ok(Some(L4 {
        proto: w.proto,
        at: l3 + 40 + w.len,
        end: l3 + 40 + plen,
        v6: true,
    }))
}

/// Offset within the transport header of the checksum that covers the pseudo-header,
/// for the protocols that have one.
#[inline]
fn pseudo_csum_field(l4: &L4) -> Option<usize> {
    match l4.proto {
        ip_proto::TCP => Some(16),
        ip_proto::UDP => Some(6),
        ip_proto::ICMPV6 if l4.v6 => Some(2),
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
            (o, true) => o.checked_add(4).ok_or(NoRoom),
            (o, false) => o.checked_sub(4).ok_or(Truncated),
        }
    };
    Ok(Offsets {
        l3: mv(ofs.l3)?,
        l4: mv(ofs.l4)?,
    })
}

// ---- Ethernet and VLAN ----

pub fn set_eth_dst(pkt: &mut PacketMut, mac: [u8; 6]) -> Res {
    bytes_mut::<14>(pkt.data_mut(), 0)?[0..6].copy_from_slice(&mac);
    Ok(())
}

pub fn set_eth_src(pkt: &mut PacketMut, mac: [u8; 6]) -> Res {
    bytes_mut::<14>(pkt.data_mut(), 0)?[6..12].copy_from_slice(&mac);
    Ok(())
}

/// Insert a tag (`tpid` 0x8100 or 0x88a8) in front of the frame's ethertype (or
/// existing tag). `tci` is OpenFlow's: its 0x1000 "present" bit is not written, as
/// Open vSwitch does (the wire bit is DEI). Shifts `ofs` by 4.
pub fn push_vlan(pkt: &mut PacketMut, ofs: &mut Offsets, tpid: u16, tci: u16) -> Res {
    bytes::<14>(pkt.data(), 0)?;
    let new_ofs = shift_offsets(ofs, true)?;
    pkt.insert_gap(12, 4).map_err(|_| NoRoom)?;
    let tag = bytes_mut::<4>(pkt.data_mut(), 12)?;
    tag[..2].copy_from_slice(&tpid.to_be_bytes());
    tag[2..].copy_from_slice(&(tci & !VLAN_CFI).to_be_bytes());
    *ofs = new_ofs;
    Ok(())
}

/// Remove the outer tag. Shifts `ofs` back by 4.
pub fn pop_vlan(pkt: &mut PacketMut, ofs: &mut Offsets) -> Res {
    if !ethertype::is_vlan(get16(pkt.data(), 12)?) {
        return Err(NoHeader);
    }
    bytes::<18>(pkt.data(), 0)?;
    let new_ofs = shift_offsets(ofs, false)?;
    pkt.remove(12, 4).map_err(|_| Truncated)?;
    *ofs = new_ofs;
    Ok(())
}

/// Rewrite the outer tag's PCP and VID (OpenFlow TCI; the present bit is not written).
pub fn set_vlan_tci(pkt: &mut PacketMut, tci: u16) -> Res {
    let d = pkt.data_mut();
    if !ethertype::is_vlan(get16(d, 12)?) {
        return Err(NoHeader);
    }
    bytes::<18>(d, 0)?;
    swap16(d, 14, tci & !VLAN_CFI)?;
    Ok(())
}

// ---- IPv4 ----

fn set_ipv4_addr(pkt: &mut PacketMut, ofs: Offsets, field: usize, addr: Ipv4Addr) -> Res {
    let d = pkt.data_mut();
    let l3 = ipv4_at(d, ofs)?;
    let csum = pseudo_csum_at(ipv4_l4(d, l3)?)?;
    let a = bytes_mut::<4>(d, l3 + field)?;
    let old = u32::from_be_bytes(*a);
    let new = u32::from(addr);
    *a = addr.octets();
    let c = bytes_mut::<2>(d, l3 + 10)?;
    *c = update32(u16::from_be_bytes(*c), old, new).to_be_bytes();
    // TCP and UDP checksums cover the addresses through the pseudo-header.
    fix_l4_csum(d, csum, |c| update32(c, old, new))
}

pub fn set_ipv4_src(pkt: &mut PacketMut, ofs: Offsets, addr: Ipv4Addr) -> Res {
    set_ipv4_addr(pkt, ofs, 12, addr)
}

pub fn set_ipv4_dst(pkt: &mut PacketMut, ofs: Offsets, addr: Ipv4Addr) -> Res {
    set_ipv4_addr(pkt, ofs, 16, addr)
}

/// Replace the 16-bit header word at `l3 + at` (one byte of it, `hi` or low, changing)
/// and fix the header checksum.
fn set_ipv4_byte(pkt: &mut PacketMut, ofs: Offsets, at: usize, hi: bool, v: u8) -> Res {
    let d = pkt.data_mut();
    let l3 = ipv4_at(d, ofs)?;
    let w = bytes_mut::<2>(d, l3 + at)?;
    let old = u16::from_be_bytes(*w);
    w[if hi { 0 } else { 1 }] = v;
    let new = u16::from_be_bytes(*w);
    let c = bytes_mut::<2>(d, l3 + 10)?;
    *c = update16(u16::from_be_bytes(*c), old, new).to_be_bytes();
    Ok(())
}

/// Set the whole TOS byte (the caller merges DSCP and ECN as the action requires).
pub fn set_ipv4_tos(pkt: &mut PacketMut, ofs: Offsets, tos: u8) -> Res {
    set_ipv4_byte(pkt, ofs, 0, false, tos)
}

pub fn set_ipv4_ttl(pkt: &mut PacketMut, ofs: Offsets, ttl: u8) -> Res {
    set_ipv4_byte(pkt, ofs, 8, true, ttl)
}

// ---- IPv6 ----

fn set_ipv6_addr(pkt: &mut PacketMut, ofs: Offsets, field: usize, addr: Ipv6Addr) -> Res {
    let d = pkt.data_mut();
    let l3 = ipv6_at(d, ofs)?;
    let csum = pseudo_csum_at(ipv6_l4(d, l3)?)?;
    let a = bytes_mut::<16>(d, l3 + field)?;
    let old = *a;
    let new = addr.octets();
    *a = new;
    // No IPv6 header checksum; TCP, UDP and ICMPv6 cover the addresses.
    fix_l4_csum(d, csum, |c| update_bytes(c, &old, &new))
}

pub fn set_ipv6_src(pkt: &mut PacketMut, ofs: Offsets, addr: Ipv6Addr) -> Res {
    set_ipv6_addr(pkt, ofs, 8, addr)
}

pub fn set_ipv6_dst(pkt: &mut PacketMut, ofs: Offsets, addr: Ipv6Addr) -> Res {
    set_ipv6_addr(pkt, ofs, 24, addr)
}

/// Set the traffic class (no checksum covers it).
pub fn set_ipv6_tclass(pkt: &mut PacketMut, ofs: Offsets, tc: u8) -> Res {
    let d = pkt.data_mut();
    let l3 = ipv6_at(d, ofs)?;
    let h = bytes_mut::<2>(d, l3)?;
    h[0] = (h[0] & 0xf0) | (tc >> 4);
    h[1] = (h[1] & 0x0f) | (tc << 4);
    Ok(())
}

pub fn set_ipv6_hop_limit(pkt: &mut PacketMut, ofs: Offsets, hlim: u8) -> Res {
    let d = pkt.data_mut();
    let l3 = ipv6_at(d, ofs)?;
    bytes_mut::<8>(d, l3)?[7] = hlim;
    Ok(())
}

// ---- TCP / UDP ports ----

fn set_port(pkt: &mut PacketMut, ofs: Offsets, field: usize, port: u16) -> Res {
    let d = pkt.data_mut();
    let l3 = l3_of(d, ofs, &[ethertype::IPV4, ethertype::IPV6])?;
    let l4 = if get16(d, l3 - 2)? == ethertype::IPV4 {
        ipv4_l4(d, ipv4_at(d, ofs)?)?
    } else {
        ipv6_l4(d, ipv6_at(d, ofs)?)?
    };
    let l4 = l4.ok_or(NoHeader)?;
    if l4.proto != ip_proto::TCP && l4.proto != ip_proto::UDP {
        return Err(NoHeader);
    }
    let csum = pseudo_csum_at(Some(l4))?;
    let port_at = l4.field(field)?;
    let old = swap16(d, port_at, port)?;
    fix_l4_csum(d, csum, |c| update16(c, old, port))
}

/// Set the TCP or UDP source port.
pub fn set_tp_src(pkt: &mut PacketMut, ofs: Offsets, port: u16) -> Res {
    set_port(pkt, ofs, 0, port)
}

/// Set the TCP or UDP destination port.
pub fn set_tp_dst(pkt: &mut PacketMut, ofs: Offsets, port: u16) -> Res {
    set_port(pkt, ofs, 2, port)
}

// ---- ARP ----

/// The Ethernet/IPv4 ARP packet at `ofs.l3`.
fn arp_at<'p>(pkt: &'p mut PacketMut, ofs: Offsets) -> Result<&'p mut [u8; 28], RewriteError> {
    let d = pkt.data_mut();
    let l3 = l3_of(d, ofs, &[ethertype::ARP, ethertype::RARP])?;
    let a = bytes_mut::<28>(d, l3)?;
    if a[..6] != [0x00, 0x01, 0x08, 0x00, 0x06, 0x04] {
        return Err(NoHeader);
    }
    Ok(a)
}

pub fn set_arp_op(pkt: &mut PacketMut, ofs: Offsets, op: u16) -> Res {
    arp_at(pkt, ofs)?[6..8].copy_from_slice(&op.to_be_bytes());
    Ok(())
}

pub fn set_arp_sha(pkt: &mut PacketMut, ofs: Offsets, mac: [u8; 6]) -> Res {
    arp_at(pkt, ofs)?[8..14].copy_from_slice(&mac);
    Ok(())
}

pub fn set_arp_spa(pkt: &mut PacketMut, ofs: Offsets, addr: Ipv4Addr) -> Res {
    arp_at(pkt, ofs)?[14..18].copy_from_slice(&addr.octets());
    Ok(())
}

pub fn set_arp_tha(pkt: &mut PacketMut, ofs: Offsets, mac: [u8; 6]) -> Res {
    arp_at(pkt, ofs)?[18..24].copy_from_slice(&mac);
    Ok(())
}

pub fn set_arp_tpa(pkt: &mut PacketMut, ofs: Offsets, addr: Ipv4Addr) -> Res {
    arp_at(pkt, ofs)?[24..28].copy_from_slice(&addr.octets());
    Ok(())
}

#[cfg(test)]
mod tests;
