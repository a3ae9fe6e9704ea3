//! Tunnel encapsulation and decapsulation over IPv4: VXLAN (Ethernet + IPv4 + UDP +
//! VXLAN) and GRE (Ethernet + IPv4 + GRE with key, optional checksum), as Open
//! vSwitch's userspace datapath does them (`netdev-native-tnl.c`).
//!
//! Translation builds the whole outer header once ([`TnlHeader::build`], through the
//! header views); the datapath prepends it to each packet with [`TnlHeader::push`],
//! which only fills in what depends on the packet (lengths, the IPv4 checksum by an
//! incremental update, the UDP source port, optional checksums). [`pop`] validates and
//! strips an outer header and returns the tunnel metadata the packet re-enters the
//! pipeline with.

use std::net::Ipv4Addr;

use super::buf::PacketMut;
use super::checksum;
use super::ethernet::{ethertype, EthernetFrame};
use super::gre::{self, GreHeader};
use super::ip_proto;
use super::ipv4::{self, Ipv4Packet};
use super::udp::{self, UdpPacket};
use super::vxlan::{self, VxlanHeader};
use crate::port::TunnelProto;

/// Room for the largest outer header (VXLAN: 50 bytes).
pub const MAX_HEADER: usize = 64;
const ETH_LEN: usize = super::ethernet::HEADER_LEN;
const IP_LEN: usize = ipv4::MIN_HEADER_LEN;

/// Tunnel metadata flags, as Open vSwitch's `FLOW_TNL_F_*`.
pub mod tnl_flags {
    pub const OAM: u8 = 1 << 0;
    pub const DONT_FRAGMENT: u8 = 1 << 1;
    pub const CSUM: u8 = 1 << 2;
    pub const KEY: u8 = 1 << 3;
}

/// UDP source ports for VXLAN come from a hash of the inner flow, scaled into Open
/// vSwitch's default range (tnl_udp_port_min/max), so ECMP and RSS on the underlay
/// spread flows.
pub const UDP_SRC_MIN: u16 = 32768;
pub const UDP_SRC_MAX: u16 = 61000;

pub fn udp_src_port(hash: u32) -> u16 {
    UDP_SRC_MIN + ((hash as u64 * (UDP_SRC_MAX - UDP_SRC_MIN) as u64) >> 32) as u16
}

/// What an outer header says (input of `build`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TnlParams {
    pub proto: TunnelProto,
    pub eth_dst: [u8; 6],
    pub eth_src: [u8; 6],
    pub ip_src: Ipv4Addr,
    pub ip_dst: Ipv4Addr,
    pub tos: u8,
    pub ttl: u8,
    pub df: bool,
    /// VNI (24 bits) or GRE key (32 bits).
    pub key: u64,
    /// GRE: send a key at all (a keyless GRE port has key 0 and no K flag).
    pub with_key: bool,
    /// VXLAN UDP destination port.
    pub udp_dst: u16,
    /// GRE checksum / UDP checksum.
    pub csum: bool,
}

/// A prebuilt outer header, with its IPv4 total length and checksum computed for a
/// zero-length payload (the datapath adds the packet's length incrementally).
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct TnlHeader {
    pub bytes: [u8; MAX_HEADER],
    pub len: u8,
    pub proto: TunnelProto,
    pub csum: bool,
}

impl std::fmt::Debug for TnlHeader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "TnlHeader({:?}, ", self.proto)?;
        for b in &self.bytes[..self.len as usize] {
            write!(f, "{b:02x}")?;
        }
        write!(f, ")")
    }
}

impl TnlHeader {
    pub fn build(p: &TnlParams) -> TnlHeader {
        let mut b = [0u8; MAX_HEADER];
        let l4_len = match p.proto {
            TunnelProto::Vxlan => udp::HEADER_LEN + vxlan::HEADER_LEN,
            TunnelProto::Gre => gre::header_len(if p.csum { gre::FLAG_CSUM } else { 0 } | if p.with_key { gre::FLAG_KEY } else { 0 }),
        };
        let len = ETH_LEN + IP_LEN + l4_len;
        {
            let mut e = EthernetFrame::new_unchecked(&mut b[..ETH_LEN]);
            e.set_dst(p.eth_dst);
            e.set_src(p.eth_src);
            e.set_ethertype(ethertype::IPV4);
        }
        {
            let mut ip = Ipv4Packet::new_unchecked(&mut b[ETH_LEN..ETH_LEN + IP_LEN]);
            ip.set_version_ihl(4, 5);
            ip.set_tos(p.tos);
            // The header's own length: the packet's is added at push time.
            ip.set_total_len((IP_LEN + l4_len) as u16);
            ip.set_ident(0);
            ip.set_flags_frag(if p.df { ipv4::FLAG_DF } else { 0 });
            ip.set_ttl(p.ttl);
            ip.set_proto(match p.proto {
                TunnelProto::Vxlan => ip_proto::UDP,
                TunnelProto::Gre => ip_proto::GRE,
            });
            ip.set_src(p.ip_src.octets());
            ip.set_dst(p.ip_dst.octets());
            ip.fill_checksum();
        }
        let l4 = &mut b[ETH_LEN + IP_LEN..len];
        match p.proto {
            TunnelProto::Vxlan => {
                let mut u = UdpPacket::new_unchecked(&mut l4[..udp::HEADER_LEN]);
                u.set_src_port(0);
                u.set_dst_port(p.udp_dst);
                u.set_len((udp::HEADER_LEN + vxlan::HEADER_LEN) as u16);
                u.set_checksum(0);
                VxlanHeader::new_unchecked(&mut l4[udp::HEADER_LEN..]).emit(p.key as u32);
            }
            TunnelProto::Gre => {
                GreHeader::new_unchecked(&mut l4[..]).emit(p.with_key.then_some(p.key as u32), p.csum);
            }
        }
        TnlHeader { bytes: b, len: len as u8, proto: p.proto, csum: p.csum }
    }

    pub fn header(&self) -> &[u8] {
        &self.bytes[..self.len as usize]
    }

    /// Bytes the header adds.
    pub fn overhead(&self) -> usize {
        self.len as usize
    }

    /// Prepend the header to `pkt` (into its headroom). `src_port` is the VXLAN UDP
    /// source port (see [`udp_src_port`]).
    #[inline]
    pub fn push(&self, pkt: &mut PacketMut, src_port: u16) -> Result<(), super::NoRoom> {
        let inner = pkt.len();
        let hl = self.len as usize;
        if inner + hl > u16::MAX as usize {
            return Err(super::NoRoom);
        }
        pkt.push_front(hl)?;
        let d = pkt.data_mut();
        d[..hl].copy_from_slice(&self.bytes[..hl]);
        let add = inner as u16;
        {
            let mut ip = Ipv4Packet::new_unchecked(&mut d[ETH_LEN..ETH_LEN + IP_LEN]);
            let old = ip.total_len();
            ip.set_total_len(old + add);
            let c = checksum::update16(ip.checksum(), old, old + add);
            ip.set_checksum(c);
        }
        let l4 = ETH_LEN + IP_LEN;
        match self.proto {
            TunnelProto::Vxlan => {
                let mut u = UdpPacket::new_unchecked(&mut d[l4..]);
                u.set_src_port(src_port);
                let ul = u.len() + add;
                u.set_len(ul);
                if self.csum {
                    let ip = Ipv4Packet::new_unchecked(&d[ETH_LEN..l4]);
                    let pseudo = checksum::pseudo_v4(ip.src(), ip.dst(), ip_proto::UDP, ul);
                    let mut u = UdpPacket::new_unchecked(&mut d[l4..]);
                    let c = u.compute_checksum(pseudo);
                    u.set_checksum(c);
                }
            }
            TunnelProto::Gre => {
                if self.csum {
                    let c = !checksum::sum(&d[l4..]);
                    GreHeader::new_unchecked(&mut d[l4..]).set_checksum(c);
                }
            }
        }
        Ok(())
    }
}

/// Tunnel metadata of a decapsulated packet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TnlMd {
    pub tun_id: u64,
    pub src: Ipv4Addr,
    pub dst: Ipv4Addr,
    pub tos: u8,
    pub ttl: u8,
    /// `tnl_flags`
    pub flags: u8,
}

/// Why an outer header was refused. Each is a named drop counter.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PopError {
    /// Shorter than the outer headers it announces.
    Truncated,
    /// Not untagged Ethernet + IPv4 without options, or an IPv4 fragment.
    BadOuterIp,
    /// The outer IPv4 checksum is wrong.
    BadIpChecksum,
    /// A UDP or GRE checksum is present and wrong.
    BadChecksum,
    /// Not the tunnel protocol expected (wrong UDP port, not GRE, GRE not carrying
    /// Ethernet, or flags/versions xvs does not take).
    BadTunnelHeader,
}

impl PopError {
    pub fn name(self) -> &'static str {
        match self {
            PopError::Truncated => "tnl_truncated",
            PopError::BadOuterIp => "tnl_bad_outer_ip",
            PopError::BadIpChecksum => "tnl_bad_ip_csum",
            PopError::BadChecksum => "tnl_bad_csum",
            PopError::BadTunnelHeader => "tnl_bad_header",
        }
    }
}

/// Strip the outer Ethernet/IPv4/(UDP+VXLAN | GRE) header of `pkt` for a tunnel of
/// protocol `proto` (VXLAN on UDP port `udp_port`). On error the packet is unchanged.
pub fn pop(pkt: &mut PacketMut, proto: TunnelProto, udp_port: u16) -> Result<TnlMd, PopError> {
    let d = pkt.data();
    let eth = EthernetFrame::new_checked(d).map_err(|_| PopError::Truncated)?;
    if eth.ethertype() != ethertype::IPV4 {
        return Err(PopError::BadOuterIp);
    }
    let ipb = &d[ETH_LEN..];
    let ip = Ipv4Packet::new_checked(ipb).map_err(|_| PopError::Truncated)?;
    if ip.header_len() != IP_LEN || ip.more_frags() || ip.frag_offset() != 0 {
        return Err(PopError::BadOuterIp);
    }
    if !ip.verify_checksum() {
        return Err(PopError::BadIpChecksum);
    }
    let total = ip.total_len() as usize;
    let mut md = TnlMd {
        src: Ipv4Addr::from(ip.src()),
        dst: Ipv4Addr::from(ip.dst()),
        tos: ip.tos(),
        ttl: ip.ttl(),
        flags: if ip.dont_frag() { tnl_flags::DONT_FRAGMENT } else { 0 },
        tun_id: 0,
    };
    let l4 = &ipb[IP_LEN..total];
    let hl = match proto {
        TunnelProto::Vxlan => {
            if ip.proto() != ip_proto::UDP {
                return Err(PopError::BadTunnelHeader);
            }
            let u = UdpPacket::new_checked(l4).map_err(|_| PopError::Truncated)?;
            if u.dst_port() != udp_port {
                return Err(PopError::BadTunnelHeader);
            }
            let ul = u.len() as usize;
            if ul < udp::HEADER_LEN + vxlan::HEADER_LEN || ul > l4.len() {
                return Err(PopError::Truncated);
            }
            if u.checksum() != 0 {
                let pseudo = checksum::pseudo_v4(ip.src(), ip.dst(), ip_proto::UDP, ul as u16);
                if !UdpPacket::new_unchecked(&l4[..ul]).verify_checksum(pseudo) {
                    return Err(PopError::BadChecksum);
                }
                md.flags |= tnl_flags::CSUM;
            }
            let v = VxlanHeader::new_checked(&l4[udp::HEADER_LEN..]).map_err(|_| PopError::Truncated)?;
            if !v.is_valid() {
                return Err(PopError::BadTunnelHeader);
            }
            md.tun_id = v.vni() as u64;
            md.flags |= tnl_flags::KEY;
            udp::HEADER_LEN + vxlan::HEADER_LEN
        }
        TunnelProto::Gre => {
            if ip.proto() != ip_proto::GRE {
                return Err(PopError::BadTunnelHeader);
            }
            let g = GreHeader::new_checked(l4).map_err(|_| PopError::Truncated)?;
            if !g.is_supported() || g.protocol() != gre::PROTO_TEB {
                return Err(PopError::BadTunnelHeader);
            }
            if g.checksum().is_some() {
                if checksum::sum(l4) != 0xffff {
                    return Err(PopError::BadChecksum);
                }
                md.flags |= tnl_flags::CSUM;
            }
            if let Some(k) = g.key() {
                md.tun_id = k as u64;
                md.flags |= tnl_flags::KEY;
            }
            g.header_len()
        }
    };
    let outer = ETH_LEN + IP_LEN + hl;
    // The inner frame ends where the outer IP datagram ends (Ethernet padding after
    // it is not part of it) and must hold at least an Ethernet header.
    let inner_len = (ETH_LEN + total).checked_sub(outer).ok_or(PopError::Truncated)?;
    if inner_len < ETH_LEN {
        return Err(PopError::Truncated);
    }
    pkt.pull_front(outer).map_err(|_| PopError::Truncated)?;
    pkt.set_len(inner_len).map_err(|_| PopError::Truncated)?;
    Ok(md)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn inner() -> Vec<u8> {
        // An inner Ethernet/IPv4/ICMP-ish frame; contents only need to survive.
        let mut f = vec![0u8; 60];
        f[..6].copy_from_slice(&[0xfa, 0x16, 0x3e, 0, 0, 2]);
        f[6..12].copy_from_slice(&[0xfa, 0x16, 0x3e, 0, 0, 1]);
        f[12..14].copy_from_slice(&[0x08, 0x00]);
        for (i, b) in f[14..].iter_mut().enumerate() {
            *b = i as u8;
        }
        f
    }

    fn params(proto: TunnelProto, csum: bool) -> TnlParams {
        TnlParams {
            proto,
            eth_dst: [2, 0, 0, 0, 0, 2],
            eth_src: [2, 0, 0, 0, 0, 1],
            ip_src: "10.0.0.1".parse().unwrap(),
            ip_dst: "10.0.0.2".parse().unwrap(),
            tos: 0,
            ttl: 64,
            df: true,
            key: 100,
            with_key: true,
            udp_dst: 4789,
            csum,
        }
    }

    fn encap(p: &TnlParams, sport: u16) -> (Vec<u8>, usize) {
        let inn = inner();
        let mut buf = vec![0u8; 256 + inn.len()];
        buf[256..].copy_from_slice(&inn);
        let h = TnlHeader::build(p);
        let mut pkt = PacketMut::with_headroom(&mut buf, 256, inn.len()).unwrap();
        h.push(&mut pkt, sport).unwrap();
        let start = pkt.start();
        let len = pkt.len();
        (buf[start..start + len].to_vec(), h.overhead())
    }

    #[test]
    fn vxlan_push_matches_the_wire_format_and_pops_back() {
        let (f, oh) = encap(&params(TunnelProto::Vxlan, false), 40000);
        assert_eq!(oh, 50);
        assert_eq!(f.len(), 60 + 50);
        // Outer Ethernet, IPv4 (len 96, DF, TTL 64, UDP), UDP (src 40000, dst 4789,
        // len 76, no checksum), VXLAN (I flag, VNI 100).
        assert_eq!(&f[12..14], &[0x08, 0x00]);
        let ip = Ipv4Packet::new_checked(&f[14..]).unwrap();
        assert_eq!((ip.total_len(), ip.dont_frag(), ip.ttl(), ip.proto()), (96, true, 64, 17));
        assert!(ip.verify_checksum(), "incremental length update keeps the checksum right");
        assert_eq!(&f[34..42], &[0x9c, 0x40, 0x12, 0xb5, 0x00, 0x4c, 0x00, 0x00]);
        assert_eq!(&f[42..50], &[0x08, 0, 0, 0, 0, 0, 0x64, 0]);
        assert_eq!(&f[50..], &inner()[..]);
        let mut b = f.clone();
        let n = b.len();
        let mut pkt = PacketMut::with_headroom(&mut b, 0, n).unwrap();
        let md = pop(&mut pkt, TunnelProto::Vxlan, 4789).unwrap();
        assert_eq!(pkt.data(), &inner()[..]);
        assert_eq!((md.tun_id, md.src, md.dst), (100, "10.0.0.1".parse().unwrap(), "10.0.0.2".parse().unwrap()));
        assert_eq!(md.flags, tnl_flags::KEY | tnl_flags::DONT_FRAGMENT);
    }

    #[test]
    fn checksummed_tunnels_verify() {
        for proto in [TunnelProto::Vxlan, TunnelProto::Gre] {
            let (f, _) = encap(&params(proto, true), 33333);
            let mut b = f.clone();
            let n = b.len();
            let md = pop(&mut PacketMut::with_headroom(&mut b, 0, n).unwrap(), proto, 4789).unwrap();
            assert!(md.flags & tnl_flags::CSUM != 0, "{proto:?}");
            // A flipped payload bit is caught by the checksum.
            let mut b = f.clone();
            b[n - 1] ^= 1;
            assert_eq!(pop(&mut PacketMut::with_headroom(&mut b, 0, n).unwrap(), proto, 4789), Err(PopError::BadChecksum), "{proto:?}");
        }
    }

    #[test]
    fn gre_with_key() {
        let (f, oh) = encap(&params(TunnelProto::Gre, false), 0);
        assert_eq!(oh, 42);
        assert_eq!(f[14 + 9], 47);
        assert_eq!(&f[34..42], &[0x20, 0, 0x65, 0x58, 0, 0, 0, 100]);
        let mut b = f.clone();
        let n = b.len();
        let mut pkt = PacketMut::with_headroom(&mut b, 0, n).unwrap();
        let md = pop(&mut pkt, TunnelProto::Gre, 0).unwrap();
        assert_eq!((md.tun_id, pkt.data().len()), (100, 60));
    }

    #[test]
    fn bad_outer_headers_are_named() {
        let (f, _) = encap(&params(TunnelProto::Vxlan, false), 40000);
        let n = f.len();
        let try_pop = |b: &mut Vec<u8>, len: usize| pop(&mut PacketMut::with_headroom(b, 0, len).unwrap(), TunnelProto::Vxlan, 4789);
        for cut in [0, 10, 20, 40, 49, 63] {
            let mut b = f.clone();
            assert!(try_pop(&mut b, cut).is_err(), "cut at {cut}");
        }
        let mut b = f.clone();
        b[14 + 10] ^= 0xff;
        assert_eq!(try_pop(&mut b, n), Err(PopError::BadIpChecksum));
        let mut b = f.clone();
        assert_eq!(pop(&mut PacketMut::with_headroom(&mut b, 0, n).unwrap(), TunnelProto::Vxlan, 4790), Err(PopError::BadTunnelHeader));
        assert_eq!(pop(&mut PacketMut::with_headroom(&mut b, 0, n).unwrap(), TunnelProto::Gre, 0), Err(PopError::BadTunnelHeader));
        let mut b = f.clone();
        b[42] = 0; // VXLAN I flag cleared
        assert_eq!(try_pop(&mut b, n), Err(PopError::BadTunnelHeader));
        // Total length claiming more than the frame holds.
        let mut b = f.clone();
        assert!(try_pop(&mut b, n - 20).is_err());
    }

    #[test]
    fn src_ports_stay_in_range() {
        assert_eq!(udp_src_port(0), UDP_SRC_MIN);
        assert!(udp_src_port(u32::MAX) < UDP_SRC_MAX);
    }
}
