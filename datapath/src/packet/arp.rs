//! ARP (RFC 826), in its Ethernet/IPv4 form: the only form the flow key has fields
//! for. Other hardware/protocol combinations have the same first 8 bytes, so
//! `htype`..`op` are meaningful for any ARP packet, but the address getters assume
//! 6-byte hardware and 4-byte protocol addresses (check [`ArpPacket::is_eth_ipv4`]).

use super::{get16, get_arr, put16, put_arr, Truncated};

/// Length of an Ethernet/IPv4 ARP packet.
pub const HEADER_LEN: usize = 28;

pub const HTYPE_ETHERNET: u16 = 1;
/// `hlen` and `plen` of the Ethernet/IPv4 form.
pub const HLEN_ETHERNET: u8 = 6;
pub const PLEN_IPV4: u8 = 4;
pub const OP_REQUEST: u16 = 1;
pub const OP_REPLY: u16 = 2;

pub(crate) mod field {
    use crate::packet::Field;
    pub const HTYPE: Field = 0..2;
    pub const PTYPE: Field = 2..4;
    pub const HLEN: usize = 4;
    pub const PLEN: usize = 5;
    pub const OP: Field = 6..8;
    pub const SHA: Field = 8..14;
    pub const SPA: Field = 14..18;
    pub const THA: Field = 18..24;
    pub const TPA: Field = 24..28;
}

/// A view of an Ethernet/IPv4 ARP packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ArpPacket<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> ArpPacket<T> {
    #[inline]
    pub const fn new_unchecked(buffer: T) -> Self {
        ArpPacket { buffer }
    }

    #[inline]
    pub fn new_checked(buffer: T) -> Result<Self, Truncated> {
        let p = Self::new_unchecked(buffer);
        p.check_len()?;
        Ok(p)
    }

    /// Checks room for the Ethernet/IPv4 layout (28 bytes).
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
    pub fn htype(&self) -> u16 {
        get16(self.buffer.as_ref(), field::HTYPE)
    }

    #[inline]
    pub fn ptype(&self) -> u16 {
        get16(self.buffer.as_ref(), field::PTYPE)
    }

    #[inline]
    pub fn hlen(&self) -> u8 {
        self.buffer.as_ref()[field::HLEN]
    }

    #[inline]
    pub fn plen(&self) -> u8 {
        self.buffer.as_ref()[field::PLEN]
    }

    /// True if this is the Ethernet/IPv4 form, the only one whose addresses the
    /// getters below describe.
    #[inline]
    pub fn is_eth_ipv4(&self) -> bool {
        self.htype() == HTYPE_ETHERNET
            && self.ptype() == super::ethernet::ethertype::IPV4
            && self.hlen() == HLEN_ETHERNET
            && self.plen() == PLEN_IPV4
    }

    #[inline]
    pub fn op(&self) -> u16 {
        get16(self.buffer.as_ref(), field::OP)
    }

    #[inline]
    pub fn sha(&self) -> [u8; 6] {
        get_arr(self.buffer.as_ref(), field::SHA)
    }

    #[inline]
    pub fn spa(&self) -> [u8; 4] {
        get_arr(self.buffer.as_ref(), field::SPA)
    }

    #[inline]
    pub fn tha(&self) -> [u8; 6] {
        get_arr(self.buffer.as_ref(), field::THA)
    }

    #[inline]
    pub fn tpa(&self) -> [u8; 4] {
        get_arr(self.buffer.as_ref(), field::TPA)
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> ArpPacket<T> {
    #[inline]
    pub fn set_htype(&mut self, v: u16) {
        put16(self.buffer.as_mut(), field::HTYPE, v);
    }

    #[inline]
    pub fn set_ptype(&mut self, v: u16) {
        put16(self.buffer.as_mut(), field::PTYPE, v);
    }

    #[inline]
    pub fn set_hlen(&mut self, v: u8) {
        self.buffer.as_mut()[field::HLEN] = v;
    }

    #[inline]
    pub fn set_plen(&mut self, v: u8) {
        self.buffer.as_mut()[field::PLEN] = v;
    }

    #[inline]
    pub fn set_op(&mut self, v: u16) {
        put16(self.buffer.as_mut(), field::OP, v);
    }

    #[inline]
    pub fn set_sha(&mut self, v: [u8; 6]) {
        put_arr(self.buffer.as_mut(), field::SHA, &v);
    }

    #[inline]
    pub fn set_spa(&mut self, v: [u8; 4]) {
        put_arr(self.buffer.as_mut(), field::SPA, &v);
    }

    #[inline]
    pub fn set_tha(&mut self, v: [u8; 6]) {
        put_arr(self.buffer.as_mut(), field::THA, &v);
    }

    #[inline]
    pub fn set_tpa(&mut self, v: [u8; 4]) {
        put_arr(self.buffer.as_mut(), field::TPA, &v);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // "who-has 10.0.0.2 tell 10.0.0.1"
    const REQ: [u8; 28] = [
        0x00, 0x01, 0x08, 0x00, 0x06, 0x04, 0x00, 0x01, // eth/ipv4, request
        0x02, 0x00, 0x00, 0x00, 0x00, 0x01, 10, 0, 0, 1, // sha, spa
        0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 10, 0, 0, 2, // tha, tpa
    ];

    #[test]
    fn read() {
        let a = ArpPacket::new_checked(&REQ[..]).unwrap();
        assert!(a.is_eth_ipv4());
        assert_eq!(a.htype(), 1);
        assert_eq!(a.ptype(), 0x0800);
        assert_eq!((a.hlen(), a.plen()), (6, 4));
        assert_eq!(a.op(), OP_REQUEST);
        assert_eq!(a.sha(), [2, 0, 0, 0, 0, 1]);
        assert_eq!(a.spa(), [10, 0, 0, 1]);
        assert_eq!(a.tha(), [0; 6]);
        assert_eq!(a.tpa(), [10, 0, 0, 2]);
    }

    #[test]
    fn write_reply() {
        let mut b = REQ;
        let mut a = ArpPacket::new_unchecked(&mut b[..]);
        a.set_op(OP_REPLY);
        a.set_tha([2, 0, 0, 0, 0, 1]);
        a.set_tpa([10, 0, 0, 1]);
        a.set_sha([2, 0, 0, 0, 0, 2]);
        a.set_spa([10, 0, 0, 2]);
        assert_eq!(&b[6..8], &[0, 2]);
        assert_eq!(&b[8..18], &[2, 0, 0, 0, 0, 2, 10, 0, 0, 2]);
        assert_eq!(&b[18..28], &[2, 0, 0, 0, 0, 1, 10, 0, 0, 1]);
        let mut a = ArpPacket::new_unchecked(&mut b[..]);
        a.set_hlen(8);
        assert!(!a.is_eth_ipv4());
        a.set_hlen(6);
        a.set_htype(6);
        a.set_ptype(0x86dd);
        a.set_plen(16);
        assert_eq!(&b[..6], &[0, 6, 0x86, 0xdd, 6, 16]);
    }

    #[test]
    fn too_short() {
        assert_eq!(ArpPacket::new_checked(&REQ[..27]), Err(Truncated));
    }
}
