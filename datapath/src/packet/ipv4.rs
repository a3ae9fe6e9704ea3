//! IPv4 header (RFC 791).

use super::{checksum, get16, get_arr, put16, put_arr, Truncated};

/// Length of a header without options.
pub const MIN_HEADER_LEN: usize = 20;
/// The version nibble of an IPv4 header.
pub const VERSION: u8 = 4;

/// Flag/fragment-offset field bits.
pub const FLAG_DF: u16 = 0x4000;
pub const FLAG_MF: u16 = 0x2000;
pub const FRAG_OFFSET_MASK: u16 = 0x1fff;

/// The version in the first header byte (version(4) IHL(4)).
#[inline(always)]
pub const fn version_of(ver_ihl: u8) -> u8 {
    ver_ihl >> 4
}

/// The header length in bytes that the first header byte announces (IHL * 4).
#[inline(always)]
pub const fn header_len_of(ver_ihl: u8) -> usize {
    (ver_ihl & 0x0f) as usize * 4
}

pub(crate) mod field {
    use crate::packet::Field;
    /// version(4) IHL(4)
    pub const VER_IHL: usize = 0;
    pub const TOS: usize = 1;
    pub const TOTAL_LEN: Field = 2..4;
    pub const IDENT: Field = 4..6;
    pub const FLAGS_FRAG: Field = 6..8;
    pub const TTL: usize = 8;
    pub const PROTO: usize = 9;
    pub const CHECKSUM: Field = 10..12;
    pub const SRC: Field = 12..16;
    pub const DST: Field = 16..20;
}

/// A view of an IPv4 packet (header plus whatever follows it in the buffer).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ipv4Packet<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Ipv4Packet<T> {
    #[inline]
    pub const fn new_unchecked(buffer: T) -> Self {
        Ipv4Packet { buffer }
    }

    #[inline]
    pub fn new_checked(buffer: T) -> Result<Self, Truncated> {
        let p = Self::new_unchecked(buffer);
        p.check_len()?;
        Ok(p)
    }

    /// Checks that the length fields are consistent with each other and the buffer:
    /// a fixed header is present, `ihl >= 5`, the whole header (with options) is
    /// present, and `header_len <= total_len <= buffer length`. A buffer longer than
    /// `total_len` is fine (Ethernet pads short frames). The version is not checked.
    #[inline]
    pub fn check_len(&self) -> Result<(), Truncated> {
        let len = self.buffer.as_ref().len();
        if len < MIN_HEADER_LEN {
            return Err(Truncated);
        }
        let hl = self.header_len();
        let tl = self.total_len() as usize;
        if hl < MIN_HEADER_LEN || hl > tl || tl > len {
            return Err(Truncated);
        }
        Ok(())
    }

    #[inline]
    pub fn into_inner(self) -> T {
        self.buffer
    }

    #[inline]
    pub fn version(&self) -> u8 {
        version_of(self.buffer.as_ref()[field::VER_IHL])
    }

    /// Header length in 32-bit words.
    #[inline]
    pub fn ihl(&self) -> u8 {
        self.buffer.as_ref()[field::VER_IHL] & 0x0f
    }

    /// Header length in bytes.
    #[inline]
    pub fn header_len(&self) -> usize {
        header_len_of(self.buffer.as_ref()[field::VER_IHL])
    }

    /// The whole TOS byte (DSCP in the high 6 bits, ECN in the low 2).
    #[inline]
    pub fn tos(&self) -> u8 {
        self.buffer.as_ref()[field::TOS]
    }

    #[inline]
    pub fn total_len(&self) -> u16 {
        get16(self.buffer.as_ref(), field::TOTAL_LEN)
    }

    #[inline]
    pub fn ident(&self) -> u16 {
        get16(self.buffer.as_ref(), field::IDENT)
    }

    /// The raw flags + fragment offset word.
    #[inline]
    pub fn flags_frag(&self) -> u16 {
        get16(self.buffer.as_ref(), field::FLAGS_FRAG)
    }

    #[inline]
    pub fn dont_frag(&self) -> bool {
        self.flags_frag() & FLAG_DF != 0
    }

    #[inline]
    pub fn more_frags(&self) -> bool {
        self.flags_frag() & FLAG_MF != 0
    }

    /// Fragment offset in 8-byte units.
    #[inline]
    pub fn frag_offset(&self) -> u16 {
        self.flags_frag() & FRAG_OFFSET_MASK
    }

    #[inline]
    pub fn ttl(&self) -> u8 {
        self.buffer.as_ref()[field::TTL]
    }

    #[inline]
    pub fn proto(&self) -> u8 {
        self.buffer.as_ref()[field::PROTO]
    }

    #[inline]
    pub fn checksum(&self) -> u16 {
        get16(self.buffer.as_ref(), field::CHECKSUM)
    }

    #[inline]
    pub fn src(&self) -> [u8; 4] {
        get_arr(self.buffer.as_ref(), field::SRC)
    }

    #[inline]
    pub fn dst(&self) -> [u8; 4] {
        get_arr(self.buffer.as_ref(), field::DST)
    }

    /// The header checksum the header should carry (computed as if the checksum field
    /// were zero). Needs the whole header in the buffer.
    pub fn compute_checksum(&self) -> u16 {
        let h = &self.buffer.as_ref()[..self.header_len()];
        // Subtract the stored checksum's contribution instead of copying the header.
        !checksum::add(checksum::sum(h), !self.checksum())
    }

    /// True if the stored header checksum is right.
    pub fn verify_checksum(&self) -> bool {
        checksum::sum(&self.buffer.as_ref()[..self.header_len()]) == 0xffff
    }

    /// The bytes after the header, up to `total_len` (padding excluded).
    #[inline]
    pub fn payload(&self) -> &[u8] {
        &self.buffer.as_ref()[self.header_len()..self.total_len() as usize]
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Ipv4Packet<T> {
    /// Sets version and IHL (in 32-bit words) together; they share a byte.
    #[inline]
    pub fn set_version_ihl(&mut self, version: u8, ihl: u8) {
        self.buffer.as_mut()[field::VER_IHL] = (version << 4) | (ihl & 0x0f);
    }

    #[inline]
    pub fn set_tos(&mut self, v: u8) {
        self.buffer.as_mut()[field::TOS] = v;
    }

    #[inline]
    pub fn set_total_len(&mut self, v: u16) {
        put16(self.buffer.as_mut(), field::TOTAL_LEN, v);
    }

    #[inline]
    pub fn set_ident(&mut self, v: u16) {
        put16(self.buffer.as_mut(), field::IDENT, v);
    }

    #[inline]
    pub fn set_flags_frag(&mut self, v: u16) {
        put16(self.buffer.as_mut(), field::FLAGS_FRAG, v);
    }

    #[inline]
    pub fn set_ttl(&mut self, v: u8) {
        self.buffer.as_mut()[field::TTL] = v;
    }

    #[inline]
    pub fn set_proto(&mut self, v: u8) {
        self.buffer.as_mut()[field::PROTO] = v;
    }

    #[inline]
    pub fn set_checksum(&mut self, v: u16) {
        put16(self.buffer.as_mut(), field::CHECKSUM, v);
    }

    #[inline]
    pub fn set_src(&mut self, v: [u8; 4]) {
        put_arr(self.buffer.as_mut(), field::SRC, &v);
    }

    #[inline]
    pub fn set_dst(&mut self, v: [u8; 4]) {
        put_arr(self.buffer.as_mut(), field::DST, &v);
    }

    /// Recompute and store the header checksum.
    #[inline]
    pub fn fill_checksum(&mut self) {
        let c = self.compute_checksum();
        self.set_checksum(c);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // 10.0.0.1 -> 10.0.0.2, UDP, TTL 64, DF, id 0x1c46, total length 28, then two
    // bytes of Ethernet padding.
    const PKT: [u8; 30] = [
        0x45, 0x00, 0x00, 0x1c, 0x1c, 0x46, 0x40, 0x00, 0x40, 0x11, 0x0a, 0x89, 10, 0, 0, 1, 10, 0,
        0, 2, // header
        0x12, 0x34, 0x56, 0x78, 0x00, 0x08, 0x00, 0x00, // 8 bytes of payload
        0xee, 0xee, // padding
    ];

    #[test]
    fn read() {
        let p = Ipv4Packet::new_checked(&PKT[..]).unwrap();
        assert_eq!(p.version(), 4);
        assert_eq!(p.ihl(), 5);
        assert_eq!(p.header_len(), 20);
        assert_eq!(p.tos(), 0);
        assert_eq!(p.total_len(), 28);
        assert_eq!(p.ident(), 0x1c46);
        assert!(p.dont_frag());
        assert!(!p.more_frags());
        assert_eq!(p.frag_offset(), 0);
        assert_eq!(p.ttl(), 64);
        assert_eq!(p.proto(), 17);
        assert_eq!(p.src(), [10, 0, 0, 1]);
        assert_eq!(p.dst(), [10, 0, 0, 2]);
        assert_eq!(p.payload().len(), 8);
        assert_eq!(p.checksum(), 0x0a89);
        assert_eq!(p.compute_checksum(), 0x0a89);
        assert!(p.verify_checksum());
    }

    #[test]
    fn write_and_checksum() {
        let mut b = PKT;
        let mut p = Ipv4Packet::new_checked(&mut b[..]).unwrap();
        p.set_ttl(63);
        assert!(!p.verify_checksum());
        p.fill_checksum();
        assert!(p.verify_checksum());
        p.set_src([192, 168, 1, 1]);
        p.set_dst([192, 168, 1, 2]);
        p.set_tos(0xb8);
        p.set_ident(7);
        p.set_flags_frag(FLAG_MF | 3);
        p.set_proto(6);
        p.set_total_len(30);
        p.set_version_ihl(4, 5);
        p.fill_checksum();
        let p = Ipv4Packet::new_checked(&b[..]).unwrap();
        assert!(p.verify_checksum());
        assert!(p.more_frags());
        assert_eq!(p.frag_offset(), 3);
        assert_eq!(p.tos(), 0xb8);
        assert_eq!(&b[12..20], &[192, 168, 1, 1, 192, 168, 1, 2]);
        let mut z = b;
        z[10] = 0;
        z[11] = 0;
        assert_eq!(
            u16::from_be_bytes([b[10], b[11]]),
            checksum::checksum(&z[..20])
        );
    }

    #[test]
    fn bad_lengths() {
        assert_eq!(Ipv4Packet::new_checked(&PKT[..19]), Err(Truncated));
        // total_len beyond the buffer
        assert_eq!(Ipv4Packet::new_checked(&PKT[..27]), Err(Truncated));
        let mut b = PKT;
        b[0] = 0x44; // ihl 4
        assert_eq!(Ipv4Packet::new_checked(&b[..]), Err(Truncated));
        b[0] = 0x48; // ihl 8 = 32 bytes > total_len 28
        assert_eq!(Ipv4Packet::new_checked(&b[..]), Err(Truncated));
        b[0] = 0x45;
        b[3] = 19; // total_len < header
        assert_eq!(Ipv4Packet::new_checked(&b[..]), Err(Truncated));
    }
}
