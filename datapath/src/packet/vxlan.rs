//! VXLAN header (RFC 7348): 8 bytes after the outer UDP header.

use super::{get32, put32, Truncated};

pub const HEADER_LEN: usize = 8;
/// IANA port for VXLAN.
pub const UDP_PORT: u16 = 4789;
/// The "I" flag: the VNI is valid.
pub const FLAG_VNI: u32 = 0x0800_0000;

pub(crate) mod field {
    use crate::packet::Field;
    /// Flags (8 bits) + 24 reserved bits.
    pub const FLAGS: Field = 0..4;
    /// VNI (24 bits) + 8 reserved bits.
    pub const VNI: Field = 4..8;
}

/// A view of a VXLAN header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VxlanHeader<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> VxlanHeader<T> {
    #[inline]
    pub const fn new_unchecked(buffer: T) -> Self {
        VxlanHeader { buffer }
    }

    #[inline]
    pub fn new_checked(buffer: T) -> Result<Self, Truncated> {
        if buffer.as_ref().len() < HEADER_LEN {
            return Err(Truncated);
        }
        Ok(Self::new_unchecked(buffer))
    }

    #[inline]
    pub fn flags(&self) -> u32 {
        get32(self.buffer.as_ref(), field::FLAGS)
    }

    #[inline]
    pub fn vni(&self) -> u32 {
        get32(self.buffer.as_ref(), field::VNI) >> 8
    }

    /// What a receiver accepts (as Linux and Open vSwitch do): the I flag set, the
    /// VNI's low reserved byte zero. Other reserved bits are ignored.
    #[inline]
    pub fn is_valid(&self) -> bool {
        self.flags() & FLAG_VNI != 0 && get32(self.buffer.as_ref(), field::VNI) & 0xff == 0
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> VxlanHeader<T> {
    /// Write a header carrying `vni` (the I flag set, everything else zero).
    #[inline]
    pub fn emit(&mut self, vni: u32) {
        let b = self.buffer.as_mut();
        put32(b, field::FLAGS, FLAG_VNI);
        put32(b, field::VNI, (vni & 0xff_ffff) << 8);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bytes() {
        let mut b = [0u8; 8];
        VxlanHeader::new_unchecked(&mut b[..]).emit(100);
        assert_eq!(b, [0x08, 0, 0, 0, 0, 0, 0x64, 0]);
        let h = VxlanHeader::new_checked(&b[..]).unwrap();
        assert_eq!(h.vni(), 100);
        assert!(h.is_valid());
        assert!(!VxlanHeader::new_unchecked(&[0u8, 0, 0, 0, 0, 0, 0x64, 0][..]).is_valid());
        assert!(!VxlanHeader::new_unchecked(&[8u8, 0, 0, 0, 0, 0, 0x64, 1][..]).is_valid());
        assert!(VxlanHeader::new_checked(&b[..7]).is_err());
    }
}
