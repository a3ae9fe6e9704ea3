//! SCTP common header (RFC 9260): the 12 bytes in front of the chunks. The flow key
//! only carries the ports; the checksum (CRC32c over the whole packet) is not updated
//! by rewrites, as in Open vSwitch's userspace datapath, which does not set SCTP ports.

use super::{get16, get32, put16, put32, Truncated};

pub const HEADER_LEN: usize = 12;

pub(crate) mod field {
    use crate::packet::Field;
    pub const SRC_PORT: Field = 0..2;
    pub const DST_PORT: Field = 2..4;
    pub const VERIFICATION_TAG: Field = 4..8;
    pub const CHECKSUM: Field = 8..12;
}

/// A view of an SCTP packet's common header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SctpPacket<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> SctpPacket<T> {
    #[inline]
    pub const fn new_unchecked(buffer: T) -> Self {
        SctpPacket { buffer }
    }

    #[inline]
    pub fn new_checked(buffer: T) -> Result<Self, Truncated> {
        if buffer.as_ref().len() < HEADER_LEN {
            return Err(Truncated);
        }
        Ok(Self::new_unchecked(buffer))
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
    pub fn verification_tag(&self) -> u32 {
        get32(self.buffer.as_ref(), field::VERIFICATION_TAG)
    }

    /// The stored CRC32c, as it sits on the wire (big-endian read).
    #[inline]
    pub fn checksum(&self) -> u32 {
        get32(self.buffer.as_ref(), field::CHECKSUM)
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> SctpPacket<T> {
    #[inline]
    pub fn set_src_port(&mut self, v: u16) {
        put16(self.buffer.as_mut(), field::SRC_PORT, v);
    }

    #[inline]
    pub fn set_dst_port(&mut self, v: u16) {
        put16(self.buffer.as_mut(), field::DST_PORT, v);
    }

    #[inline]
    pub fn set_verification_tag(&mut self, v: u32) {
        put32(self.buffer.as_mut(), field::VERIFICATION_TAG, v);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HDR: [u8; 13] = [
        0x0b, 0x59, 0x0b, 0x59, 0, 0, 0, 7, 0xde, 0xad, 0xbe, 0xef, 1,
    ];

    #[test]
    fn read_write() {
        let p = SctpPacket::new_checked(&HDR[..]).unwrap();
        assert_eq!((p.src_port(), p.dst_port()), (2905, 2905));
        assert_eq!(p.verification_tag(), 7);
        assert_eq!(p.checksum(), 0xdead_beef);
        let mut b = HDR;
        let mut p = SctpPacket::new_unchecked(&mut b[..]);
        p.set_src_port(1);
        p.set_dst_port(2);
        p.set_verification_tag(3);
        assert_eq!(&b[..8], &[0, 1, 0, 2, 0, 0, 0, 3]);
        assert_eq!(SctpPacket::new_checked(&HDR[..11]), Err(Truncated));
    }
}
