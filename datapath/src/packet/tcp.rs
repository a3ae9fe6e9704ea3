//! TCP header (RFC 9293).

use super::{checksum, get16, get32, put16, put32, Truncated};

/// Length of a header without options.
pub const MIN_HEADER_LEN: usize = 20;

/// Flag bits as they sit in the low 12 bits of the data-offset/flags word (the
/// `tcp_flags` field of the flow key).
pub mod flags {
    pub const FIN: u16 = 0x001;
    pub const SYN: u16 = 0x002;
    pub const RST: u16 = 0x004;
    pub const PSH: u16 = 0x008;
    pub const ACK: u16 = 0x010;
    pub const URG: u16 = 0x020;
    pub const ECE: u16 = 0x040;
    pub const CWR: u16 = 0x080;
    pub const NS: u16 = 0x100;
    /// All 12 bits below the data offset (3 of them reserved).
    pub const MASK: u16 = 0x0fff;
}

pub(crate) mod field {
    use crate::packet::Field;
    pub const SRC_PORT: Field = 0..2;
    pub const DST_PORT: Field = 2..4;
    pub const SEQ: Field = 4..8;
    pub const ACK: Field = 8..12;
    /// data offset(4) reserved(3) flags(9)
    pub const OFF_FLAGS: Field = 12..14;
    pub const WINDOW: Field = 14..16;
    pub const CHECKSUM: Field = 16..18;
    pub const URGENT: Field = 18..20;
}

/// A view of a TCP segment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TcpPacket<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> TcpPacket<T> {
    #[inline]
    pub const fn new_unchecked(buffer: T) -> Self {
        TcpPacket { buffer }
    }

    #[inline]
    pub fn new_checked(buffer: T) -> Result<Self, Truncated> {
        let p = Self::new_unchecked(buffer);
        p.check_len()?;
        Ok(p)
    }

    /// Checks the fixed header and that the data offset is sane and within the buffer.
    #[inline]
    pub fn check_len(&self) -> Result<(), Truncated> {
        let len = self.buffer.as_ref().len();
        if len < MIN_HEADER_LEN {
            return Err(Truncated);
        }
        let hl = self.header_len();
        if hl < MIN_HEADER_LEN || hl > len {
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
    pub fn seq(&self) -> u32 {
        get32(self.buffer.as_ref(), field::SEQ)
    }

    #[inline]
    pub fn ack(&self) -> u32 {
        get32(self.buffer.as_ref(), field::ACK)
    }

    /// Header length in bytes (data offset * 4).
    #[inline]
    pub fn header_len(&self) -> usize {
        (get16(self.buffer.as_ref(), field::OFF_FLAGS) >> 12) as usize * 4
    }

    /// The 12 bits below the data offset, as Open vSwitch matches them
    /// (`ntohs(tcp_ctl) & 0x0fff`).
    #[inline]
    pub fn flags(&self) -> u16 {
        get16(self.buffer.as_ref(), field::OFF_FLAGS) & flags::MASK
    }

    #[inline]
    pub fn window(&self) -> u16 {
        get16(self.buffer.as_ref(), field::WINDOW)
    }

    #[inline]
    pub fn checksum(&self) -> u16 {
        get16(self.buffer.as_ref(), field::CHECKSUM)
    }

    #[inline]
    pub fn urgent(&self) -> u16 {
        get16(self.buffer.as_ref(), field::URGENT)
    }

    /// The checksum this segment should carry, given the pseudo-header sum
    /// ([`checksum::pseudo_v4`]/[`checksum::pseudo_v6`]). The whole buffer is the segment.
    pub fn compute_checksum(&self, pseudo: u16) -> u16 {
        let s = checksum::add(pseudo, checksum::sum(self.buffer.as_ref()));
        // Take the stored checksum back out rather than copying the segment.
        !checksum::add(s, !self.checksum())
    }

    pub fn verify_checksum(&self, pseudo: u16) -> bool {
        checksum::add(pseudo, checksum::sum(self.buffer.as_ref())) == 0xffff
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> TcpPacket<T> {
    #[inline]
    pub fn set_src_port(&mut self, v: u16) {
        put16(self.buffer.as_mut(), field::SRC_PORT, v);
    }

    #[inline]
    pub fn set_dst_port(&mut self, v: u16) {
        put16(self.buffer.as_mut(), field::DST_PORT, v);
    }

    #[inline]
    pub fn set_seq(&mut self, v: u32) {
        put32(self.buffer.as_mut(), field::SEQ, v);
    }

    #[inline]
    pub fn set_ack(&mut self, v: u32) {
        put32(self.buffer.as_mut(), field::ACK, v);
    }

    /// Sets the header length in bytes (rounded down to 4-byte units).
    #[inline]
    pub fn set_header_len(&mut self, bytes: usize) {
        let w = get16(self.buffer.as_ref(), field::OFF_FLAGS) & flags::MASK;
        put16(
            self.buffer.as_mut(),
            field::OFF_FLAGS,
            w | (((bytes / 4) as u16 & 0xf) << 12),
        );
    }

    #[inline]
    pub fn set_flags(&mut self, f: u16) {
        let w = get16(self.buffer.as_ref(), field::OFF_FLAGS) & !flags::MASK;
        put16(
            self.buffer.as_mut(),
            field::OFF_FLAGS,
            w | (f & flags::MASK),
        );
    }

    #[inline]
    pub fn set_window(&mut self, v: u16) {
        put16(self.buffer.as_mut(), field::WINDOW, v);
    }

    #[inline]
    pub fn set_checksum(&mut self, v: u16) {
        put16(self.buffer.as_mut(), field::CHECKSUM, v);
    }

    #[inline]
    pub fn set_urgent(&mut self, v: u16) {
        put16(self.buffer.as_mut(), field::URGENT, v);
    }

    pub fn fill_checksum(&mut self, pseudo: u16) {
        let c = self.compute_checksum(pseudo);
        self.set_checksum(c);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // SYN from 10.0.0.1:40000 to 10.0.0.2:80, with a 4-byte MSS option.
    const SEG: [u8; 24] = [
        0x9c, 0x40, 0x00, 0x50, // ports
        0x00, 0x00, 0x00, 0x01, // seq
        0x00, 0x00, 0x00, 0x00, // ack
        0x60, 0x02, 0xff, 0xff, // offset 6, SYN, window
        0x00, 0x00, 0x00, 0x00, // checksum, urgent
        0x02, 0x04, 0x05, 0xb4, // MSS 1460
    ];

    #[test]
    fn read() {
        let t = TcpPacket::new_checked(&SEG[..]).unwrap();
        assert_eq!(t.src_port(), 40000);
        assert_eq!(t.dst_port(), 80);
        assert_eq!(t.seq(), 1);
        assert_eq!(t.ack(), 0);
        assert_eq!(t.header_len(), 24);
        assert_eq!(t.flags(), flags::SYN);
        assert_eq!(t.window(), 0xffff);
        assert_eq!(t.urgent(), 0);
    }

    #[test]
    fn write_and_checksum() {
        let mut b = SEG;
        let ph = checksum::pseudo_v4([10, 0, 0, 1], [10, 0, 0, 2], 6, 24);
        let mut t = TcpPacket::new_unchecked(&mut b[..]);
        t.set_flags(flags::SYN | flags::ACK | flags::NS);
        t.set_ack(0x01020304);
        t.set_seq(5);
        t.set_window(100);
        t.set_urgent(1);
        t.set_src_port(1);
        t.set_dst_port(2);
        t.fill_checksum(ph);
        assert!(t.verify_checksum(ph));
        assert_eq!(t.header_len(), 24);
        assert_eq!(t.flags(), 0x112);
        t.set_header_len(20);
        assert_eq!(t.header_len(), 20);
        assert_eq!(t.flags(), 0x112);
        assert_eq!(&b[..4], &[0, 1, 0, 2]);
        assert_eq!(&b[12..14], &[0x51, 0x12]);
    }

    #[test]
    fn bad_lengths() {
        assert_eq!(TcpPacket::new_checked(&SEG[..19]), Err(Truncated));
        // Data offset says 24 bytes but only 20 present.
        assert_eq!(TcpPacket::new_checked(&SEG[..20]), Err(Truncated));
        let mut b = SEG;
        b[12] = 0x40; // offset 4 < 5
        assert_eq!(TcpPacket::new_checked(&b[..]), Err(Truncated));
    }
}
