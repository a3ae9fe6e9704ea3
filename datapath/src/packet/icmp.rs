//! ICMPv4 header (RFC 792): type, code, checksum, and the 4 type-specific bytes that
//! complete every ICMPv4 header.

use super::{checksum, get16, get_arr, put16, put_arr, Truncated};

/// Every ICMPv4 message has at least these 8 bytes (Open vSwitch's ICMP_HEADER_LEN).
pub const HEADER_LEN: usize = 8;

pub const TYPE_ECHO_REPLY: u8 = 0;
pub const TYPE_DEST_UNREACHABLE: u8 = 3;
pub const TYPE_ECHO_REQUEST: u8 = 8;
pub const TYPE_TIME_EXCEEDED: u8 = 11;

mod field {
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
