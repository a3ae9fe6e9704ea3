//! UDP header (RFC 768).

use super::{checksum, get16, put16, Truncated};

pub const HEADER_LEN: usize = 8;

pub(crate) mod field {
    use crate::packet::Field;
    pub const SRC_PORT: Field = 0..2;
    pub const DST_PORT: Field = 2..4;
    pub const LENGTH: Field = 4..6;
    pub const CHECKSUM: Field = 6..8;
}

/// A view of a UDP datagram.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UdpPacket<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> UdpPacket<T> {
    #[inline]
    pub const fn new_unchecked(buffer: T) -> Self {
        UdpPacket { buffer }
    }

    #[inline]
    pub fn new_checked(buffer: T) -> Result<Self, Truncated> {
        let p = Self::new_unchecked(buffer);
        p.check_len()?;
        Ok(p)
    }

    /// Checks the fixed header only: the length field is not trusted (the IP length
    /// is what bounds the datagram).
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
    pub fn src_port(&self) -> u16 {
        get16(self.buffer.as_ref(), field::SRC_PORT)
    }

    #[inline]
    pub fn dst_port(&self) -> u16 {
        get16(self.buffer.as_ref(), field::DST_PORT)
    }

    #[inline]
    pub fn len(&self) -> u16 {
        get16(self.buffer.as_ref(), field::LENGTH)
    }

    #[inline]
    pub fn is_empty(&self) -> bool {
        self.len() as usize <= HEADER_LEN
    }

    /// 0 means the sender did not compute a checksum (allowed over IPv4 only).
    #[inline]
    pub fn checksum(&self) -> u16 {
        get16(self.buffer.as_ref(), field::CHECKSUM)
    }

    /// The checksum this datagram should carry given the pseudo-header sum; the whole
    /// buffer is the datagram. Never 0 (see [`checksum::udp_nonzero`]).
    pub fn compute_checksum(&self, pseudo: u16) -> u16 {
        let s = checksum::add(pseudo, checksum::sum(self.buffer.as_ref()));
        checksum::udp_nonzero(!checksum::add(s, !self.checksum()))
    }

    /// True if the checksum is right or absent (0).
    pub fn verify_checksum(&self, pseudo: u16) -> bool {
        self.checksum() == 0 || checksum::add(pseudo, checksum::sum(self.buffer.as_ref())) == 0xffff
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> UdpPacket<T> {
    #[inline]
    pub fn set_src_port(&mut self, v: u16) {
        put16(self.buffer.as_mut(), field::SRC_PORT, v);
    }

    #[inline]
    pub fn set_dst_port(&mut self, v: u16) {
        put16(self.buffer.as_mut(), field::DST_PORT, v);
    }

    #[inline]
    pub fn set_len(&mut self, v: u16) {
        put16(self.buffer.as_mut(), field::LENGTH, v);
    }

    #[inline]
    pub fn set_checksum(&mut self, v: u16) {
        put16(self.buffer.as_mut(), field::CHECKSUM, v);
    }

    pub fn fill_checksum(&mut self, pseudo: u16) {
        let c = self.compute_checksum(pseudo);
        self.set_checksum(c);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // DNS query header-ish: 10.0.0.1:5353 -> 10.0.0.2:53, 4 bytes of payload.
    const DGRAM: [u8; 12] = [0x14, 0xe9, 0x00, 0x35, 0x00, 0x0c, 0x00, 0x00, 1, 2, 3, 4];

    #[test]
    fn read() {
        let u = UdpPacket::new_checked(&DGRAM[..]).unwrap();
        assert_eq!(u.src_port(), 5353);
        assert_eq!(u.dst_port(), 53);
        assert_eq!(u.len(), 12);
        assert!(!u.is_empty());
        assert_eq!(u.checksum(), 0);
        let ph = checksum::pseudo_v4([10, 0, 0, 1], [10, 0, 0, 2], 17, 12);
        assert!(u.verify_checksum(ph)); // absent checksum is fine
    }

    #[test]
    fn write_and_checksum() {
        let mut b = DGRAM;
        let ph = checksum::pseudo_v4([10, 0, 0, 1], [10, 0, 0, 2], 17, 12);
        let mut u = UdpPacket::new_unchecked(&mut b[..]);
        u.set_src_port(1);
        u.set_dst_port(2);
        u.set_len(12);
        u.fill_checksum(ph);
        assert_ne!(u.checksum(), 0);
        assert!(u.verify_checksum(ph));
        u.set_checksum(u.checksum() ^ 1);
        assert!(!u.verify_checksum(ph));
        assert_eq!(&b[..6], &[0, 1, 0, 2, 0, 12]);
    }

    #[test]
    fn too_short() {
        assert_eq!(UdpPacket::new_checked(&DGRAM[..7]), Err(Truncated));
    }
}
