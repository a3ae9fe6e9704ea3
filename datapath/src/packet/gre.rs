//! GRE header (RFC 2784 with the key extension of RFC 2890), as tunnels use it:
//! flags + protocol, then an optional checksum word, an optional key and an optional
//! sequence number, in that order.

use super::{get16, get32, put16, put32, Truncated};

pub const BASE_LEN: usize = 4;
pub const FLAG_CSUM: u16 = 0x8000;
pub const FLAG_KEY: u16 = 0x2000;
pub const FLAG_SEQ: u16 = 0x1000;
/// Flags xvs does not accept on input (routing, strict source route, recursion,
/// other flags) and version bits.
const FLAGS_UNSUPPORTED: u16 = 0x4000 | 0x0800 | 0x0700 | 0x00f8 | 0x0007;
/// Transparent Ethernet bridging: the payload is an Ethernet frame.
pub const PROTO_TEB: u16 = 0x6558;

pub(crate) mod field {
    use crate::packet::Field;
    pub const FLAGS: Field = 0..2;
    pub const PROTO: Field = 2..4;
    /// Present only with [`FLAG_CSUM`](super::FLAG_CSUM); followed by 2 reserved bytes.
    pub const CHECKSUM: Field = 4..6;
}

/// A view of a GRE header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GreHeader<T: AsRef<[u8]>> {
    buffer: T,
}

/// The length of a header with these flags.
pub fn header_len(flags: u16) -> usize {
    BASE_LEN + 4 * ((flags & FLAG_CSUM != 0) as usize + (flags & FLAG_KEY != 0) as usize + (flags & FLAG_SEQ != 0) as usize)
}

impl<T: AsRef<[u8]>> GreHeader<T> {
    #[inline]
    pub const fn new_unchecked(buffer: T) -> Self {
        GreHeader { buffer }
    }

    /// Checks the base header and every optional word its flags announce.
    pub fn new_checked(buffer: T) -> Result<Self, Truncated> {
        let b = buffer.as_ref();
        if b.len() < BASE_LEN || b.len() < header_len(get16(b, field::FLAGS)) {
            return Err(Truncated);
        }
        Ok(Self::new_unchecked(buffer))
    }

    #[inline]
    pub fn flags(&self) -> u16 {
        get16(self.buffer.as_ref(), field::FLAGS)
    }

    #[inline]
    pub fn protocol(&self) -> u16 {
        get16(self.buffer.as_ref(), field::PROTO)
    }

    pub fn header_len(&self) -> usize {
        header_len(self.flags())
    }

    /// Version 0 and no flags beyond C, K, S.
    pub fn is_supported(&self) -> bool {
        self.flags() & FLAGS_UNSUPPORTED == 0
    }

    fn key_at(&self) -> usize {
        BASE_LEN + if self.flags() & FLAG_CSUM != 0 { 4 } else { 0 }
    }

    pub fn key(&self) -> Option<u32> {
        (self.flags() & FLAG_KEY != 0).then(|| {
            let o = self.key_at();
            get32(self.buffer.as_ref(), o..o + 4)
        })
    }

    pub fn checksum(&self) -> Option<u16> {
        (self.flags() & FLAG_CSUM != 0).then(|| get16(self.buffer.as_ref(), field::CHECKSUM))
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> GreHeader<T> {
    /// Write a header with Ethernet payload, the key if given and room for the
    /// checksum if `csum` (filled later, over header and payload). Returns its length.
    pub fn emit(&mut self, key: Option<u32>, csum: bool) -> usize {
        let flags = if csum { FLAG_CSUM } else { 0 } | if key.is_some() { FLAG_KEY } else { 0 };
        let b = self.buffer.as_mut();
        put16(b, field::FLAGS, flags);
        put16(b, field::PROTO, PROTO_TEB);
        let mut o = BASE_LEN;
        if csum {
            put32(b, o..o + 4, 0);
            o += 4;
        }
        if let Some(k) = key {
            put32(b, o..o + 4, k);
            o += 4;
        }
        o
    }

    /// Set the checksum word (present only with the C flag).
    pub fn set_checksum(&mut self, c: u16) {
        put16(self.buffer.as_mut(), field::CHECKSUM, c);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bytes() {
        let mut b = [0u8; 12];
        assert_eq!(GreHeader::new_unchecked(&mut b[..]).emit(Some(0x2a), false), 8);
        assert_eq!(&b[..8], &[0x20, 0, 0x65, 0x58, 0, 0, 0, 0x2a]);
        let g = GreHeader::new_checked(&b[..8]).unwrap();
        assert_eq!((g.key(), g.checksum(), g.protocol(), g.header_len()), (Some(42), None, PROTO_TEB, 8));
        assert!(g.is_supported());
        assert_eq!(GreHeader::new_unchecked(&mut b[..]).emit(Some(7), true), 12);
        assert_eq!(&b[..12], &[0xa0, 0, 0x65, 0x58, 0, 0, 0, 0, 0, 0, 0, 7]);
        let g = GreHeader::new_checked(&b[..]).unwrap();
        assert_eq!((g.key(), g.checksum()), (Some(7), Some(0)));
        // Truncated optional words, unsupported flags/versions.
        assert!(GreHeader::new_checked(&b[..10]).is_err());
        assert!(!GreHeader::new_unchecked(&[0x00u8, 0x01, 0x65, 0x58][..]).is_supported());
        assert!(!GreHeader::new_unchecked(&[0x40u8, 0x00, 0x65, 0x58][..]).is_supported());
    }
}
