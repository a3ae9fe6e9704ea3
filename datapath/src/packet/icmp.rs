//! ICMPv4 header (RFC 792): type, code, checksum, and the 4 type-specific bytes that
//! complete every ICMPv4 header.

use super::{checksum, get16, get_arr, put16, put_arr, Truncated};

/// Every ICMPv4 message has at least these 8 bytes (Open vSwitch's ICMP_HEADER_LEN).
pub const HEADER_LEN: usize = 8;

pub const TYPE_ECHO_REPLY: u8 = 0;
pub const TYPE_DEST_UNREACHABLE: u8 = 3;
pub const TYPE_ECHO_REQUEST: u8 = 8;
pub const TYPE_TIME_EXCEEDED: u8 = 11;

pub(crate) mod field {
    use crate::packet::Field;
    pub const TYPE: usize = 0;
    pub const CODE: usize = 1;
    pub const CHECKSUM: Field = 2..4;
    /// Identifier/sequence for echo, unused or pointer for errors, ...
    pub const REST: Field = 4..8;
}

/// A view of an ICMPv4 message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Icmpv4Packet<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Icmpv4Packet<T> {
    #[inline]
    pub const fn new_unchecked(buffer: T) -> Self {
        Icmpv4Packet { buffer }
    }

    #[inline]
    pub fn new_checked(buffer: T) -> Result<Self, Truncated> {
        let p = Self::new_unchecked(buffer);
        p.check_len()?;
        Ok(p)
    }

    #[inline]
    pub fn check_len(&self) -> Result<(), Truncated> {
        if self.buffer.as_ref().len() < HEADER_LEN {
            return Err(Truncated);
        }
        Ok(())
    }

    #[inline]
    pub fn into_inner(self) -> T {
        self.buffer
    }

    #[inline]
    pub fn msg_type(&self) -> u8 {
        self.buffer.as_ref()[field::TYPE]
    }

    #[inline]
    pub fn code(&self) -> u8 {
        self.buffer.as_ref()[field::CODE]
    }

    #[inline]
    pub fn checksum(&self) -> u16 {
        get16(self.buffer.as_ref(), field::CHECKSUM)
    }

    /// Bytes 4..8: meaning depends on the type.
    #[inline]
    pub fn rest(&self) -> [u8; 4] {
        get_arr(self.buffer.as_ref(), field::REST)
    }

    /// The checksum the message should carry; ICMPv4 has no pseudo-header, so the
    /// whole buffer (which must be exactly the message) is all it covers.
    pub fn compute_checksum(&self) -> u16 {
        !checksum::add(checksum::sum(self.buffer.as_ref()), !self.checksum())
    }

    pub fn verify_checksum(&self) -> bool {
        checksum::sum(self.buffer.as_ref()) == 0xffff
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Icmpv4Packet<T> {
    #[inline]
    pub fn set_msg_type(&mut self, v: u8) {
        self.buffer.as_mut()[field::TYPE] = v;
    }

    #[inline]
    pub fn set_code(&mut self, v: u8) {
        self.buffer.as_mut()[field::CODE] = v;
    }

    #[inline]
    pub fn set_checksum(&mut self, v: u16) {
        put16(self.buffer.as_mut(), field::CHECKSUM, v);
    }

    #[inline]
    pub fn set_rest(&mut self, v: [u8; 4]) {
        put_arr(self.buffer.as_mut(), field::REST, &v);
    }

    pub fn fill_checksum(&mut self) {
        let c = self.compute_checksum();
        self.set_checksum(c);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // Echo request, id 0x1234, seq 1, payload "ab"; checksum filled by hand:
    // !(0x0800 + 0x1234 + 0x0001 + 0x6162) = !0x7b97 = 0x8468.
    const ECHO: [u8; 10] = [8, 0, 0x84, 0x68, 0x12, 0x34, 0x00, 0x01, b'a', b'b'];

    #[test]
    fn read() {
        let p = Icmpv4Packet::new_checked(&ECHO[..]).unwrap();
        assert_eq!(p.msg_type(), TYPE_ECHO_REQUEST);
        assert_eq!(p.code(), 0);
        assert_eq!(p.checksum(), 0x8468);
        assert_eq!(p.rest(), [0x12, 0x34, 0, 1]);
        assert!(p.verify_checksum());
        assert_eq!(p.compute_checksum(), 0x8468);
    }

    #[test]
    fn write() {
        let mut b = ECHO;
        let mut p = Icmpv4Packet::new_unchecked(&mut b[..]);
        p.set_msg_type(TYPE_ECHO_REPLY);
        p.set_code(0);
        p.set_rest([0, 0, 0, 2]);
        assert!(!p.verify_checksum());
        p.fill_checksum();
        assert!(p.verify_checksum());
        assert_eq!(b[0], 0);
    }

    #[test]
    fn too_short() {
        assert_eq!(Icmpv4Packet::new_checked(&ECHO[..7]), Err(Truncated));
    }
}

/// Turn `pkt`, an IPv4 packet with DF set that is too large for a tunnel's underlay,
/// into the ICMP "fragmentation needed" (type 3, code 4) that its sender should get,
/// in place: Ethernet addresses swapped, from the original destination IP back to the
/// original source, carrying `mtu` and the original IP header plus 8 bytes, as Linux
/// does for bridged packets over tunnels (`iptunnel_pmtud_build_icmp`). `l3` is the
/// offset of the IP header. Returns false (packet unchanged) if it does not qualify:
/// not IPv4, DF clear, a fragment that is not the first, or itself an ICMP error.
pub fn frag_needed_in_place(pkt: &mut super::buf::PacketMut, l3: usize, mtu: u16) -> bool {
    use super::ethernet::{ethertype, EthernetFrame};
    use super::ipv4::Ipv4Packet;
    let d = pkt.data();
    if d.len() < l3 + 20 || l3 < 14 {
        return false;
    }
    let eth = EthernetFrame::new_unchecked(&d[..14]);
    let Ok(ip) = Ipv4Packet::new_checked(&d[l3..]) else { return false };
    if !ip.dont_frag() || ip.frag_offset() != 0 {
        return false;
    }
    let hl = ip.header_len();
    if ip.proto() == super::ip_proto::ICMP {
        // Never answer an ICMP error with one (RFC 1122): only echo and the like.
        let t = d.get(l3 + hl).copied().unwrap_or(TYPE_DEST_UNREACHABLE);
        if t != TYPE_ECHO_REQUEST && t != TYPE_ECHO_REPLY {
            return false;
        }
    }
    let (src_mac, dst_mac) = (eth.src(), eth.dst());
    let (src_ip, dst_ip) = (ip.src(), ip.dst());
    // Quote the original IP header and 8 bytes of its payload.
    let quote = (hl + 8).min(d.len() - l3);
    let total = 14 + 20 + HEADER_LEN + quote;
    if pkt.set_len(pkt.len().max(total)).is_err() {
        return false;
    }
    let d = pkt.data_mut();
    d.copy_within(l3..l3 + quote, 14 + 20 + HEADER_LEN);
    {
        let mut e = EthernetFrame::new_unchecked(&mut d[..14]);
        e.set_dst(src_mac);
        e.set_src(dst_mac);
        e.set_ethertype(ethertype::IPV4);
    }
    {
        let mut ip = Ipv4Packet::new_unchecked(&mut d[14..34]);
        ip.set_version_ihl(4, 5);
        ip.set_tos(0);
        ip.set_total_len((20 + HEADER_LEN + quote) as u16);
        ip.set_ident(0);
        ip.set_flags_frag(0);
        ip.set_ttl(64);
        ip.set_proto(super::ip_proto::ICMP);
        ip.set_src(dst_ip);
        ip.set_dst(src_ip);
        ip.fill_checksum();
    }
    {
        let mut icmp = Icmpv4Packet::new_unchecked(&mut d[34..34 + HEADER_LEN + quote]);
        icmp.set_msg_type(TYPE_DEST_UNREACHABLE);
        icmp.set_code(4);
        let m = mtu.to_be_bytes();
        icmp.set_rest([0, 0, m[0], m[1]]);
        icmp.fill_checksum();
    }
    let _ = pkt.set_len(total);
    true
}

#[cfg(test)]
mod frag_needed_tests {
    use super::*;

    #[test]
    fn builds_a_valid_frag_needed() {
        let mut f = vec![0u8; 1514];
        f[..6].copy_from_slice(&[2, 0, 0, 0, 0, 2]);
        f[6..12].copy_from_slice(&[2, 0, 0, 0, 0, 1]);
        f[12..14].copy_from_slice(&[8, 0]);
        let ip = [0x45, 0, 0x05, 0xdc, 0, 1, 0x40, 0, 64, 6, 0, 0, 10, 1, 0, 1, 10, 1, 0, 2];
        f[14..34].copy_from_slice(&ip);
        let n = f.len();
        let mut p = crate::packet::buf::PacketMut::new(&mut f, n).unwrap();
        assert!(frag_needed_in_place(&mut p, 14, 1450));
        let d = p.data().to_vec();
        assert_eq!(d.len(), 14 + 20 + 8 + 28);
        assert_eq!(&d[..12], &[2, 0, 0, 0, 0, 1, 2, 0, 0, 0, 0, 2]);
        let ip = crate::packet::Ipv4Packet::new_checked(&d[14..]).unwrap();
        assert!(ip.verify_checksum());
        assert_eq!((ip.src(), ip.dst(), ip.proto()), ([10, 1, 0, 2], [10, 1, 0, 1], 1));
        let icmp = Icmpv4Packet::new_checked(&d[34..]).unwrap();
        assert!(icmp.verify_checksum());
        assert_eq!((icmp.msg_type(), icmp.code(), icmp.rest()), (3, 4, [0, 0, 0x05, 0xaa]));
        assert_eq!(&d[42..62], &ip_quote());
        // DF clear: not answered.
        let mut g = vec![0u8; 100];
        g[12..14].copy_from_slice(&[8, 0]);
        g[14] = 0x45;
        g[16..18].copy_from_slice(&[0, 86]);
        let mut p = crate::packet::buf::PacketMut::new(&mut g, 100).unwrap();
        assert!(!frag_needed_in_place(&mut p, 14, 1450));
    }

    fn ip_quote() -> [u8; 20] {
        [0x45, 0, 0x05, 0xdc, 0, 1, 0x40, 0, 64, 6, 0, 0, 10, 1, 0, 1, 10, 1, 0, 2]
    }
}
