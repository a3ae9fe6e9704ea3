//! IEEE 802.1Q / 802.1ad VLAN tag.
//!
//! On the wire a tag is `TPID(2) TCI(2)` inserted after the MACs; the TPID sits where
//! the ethertype would be, so [`EthernetFrame::ethertype`](super::EthernetFrame::ethertype)
//! already returns it. This view therefore starts at the TCI, i.e. it covers the
//! Ethernet payload of a tagged frame: `TCI(2) inner-ethertype(2) payload...`.
//!
//! Note the wire TCI's bit 12 is the DEI (drop eligible) bit, whereas OpenFlow/OVS use
//! that bit position in `vlan_tci` to mean "tag present" ([`VLAN_CFI`](crate::flow::key::VLAN_CFI)).

use super::{get16, put16, Truncated};

/// Bytes this view covers before the payload: TCI + inner ethertype.
pub const HEADER_LEN: usize = 4;
/// Bytes a tag adds to a frame: TPID + TCI.
pub const TAG_LEN: usize = 4;

pub const PCP_MASK: u16 = 0xe000;
pub const DEI_MASK: u16 = 0x1000;
pub const VID_MASK: u16 = 0x0fff;

pub(crate) mod field {
    use crate::packet::Field;
    pub const TCI: Field = 0..2;
    pub const ETHERTYPE: Field = 2..4;
    pub const PAYLOAD: usize = 4;
}

/// A view of a VLAN tag's TCI and the ethertype that follows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VlanHeader<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> VlanHeader<T> {
    #[inline]
    pub const fn new_unchecked(buffer: T) -> Self {
        VlanHeader { buffer }
    }

    #[inline]
    pub fn new_checked(buffer: T) -> Result<Self, Truncated> {
        let h = Self::new_unchecked(buffer);
        h.check_len()?;
        Ok(h)
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

    /// The raw wire TCI: PCP(3) DEI(1) VID(12).
    #[inline]
    pub fn tci(&self) -> u16 {
        get16(self.buffer.as_ref(), field::TCI)
    }

    #[inline]
    pub fn pcp(&self) -> u8 {
        (self.tci() >> 13) as u8
    }

    #[inline]
    pub fn dei(&self) -> bool {
        self.tci() & DEI_MASK != 0
    }

    #[inline]
    pub fn vid(&self) -> u16 {
        self.tci() & VID_MASK
    }

    /// The ethertype of what the tag encapsulates (another TPID for QinQ).
    #[inline]
    pub fn ethertype(&self) -> u16 {
        get16(self.buffer.as_ref(), field::ETHERTYPE)
    }

    #[inline]
    pub fn payload(&self) -> &[u8] {
        &self.buffer.as_ref()[field::PAYLOAD..]
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> VlanHeader<T> {
    #[inline]
    pub fn set_tci(&mut self, tci: u16) {
        put16(self.buffer.as_mut(), field::TCI, tci);
    }

    #[inline]
    pub fn set_vid(&mut self, vid: u16) {
        let tci = (self.tci() & !VID_MASK) | (vid & VID_MASK);
        self.set_tci(tci);
    }

    #[inline]
    pub fn set_pcp(&mut self, pcp: u8) {
        let tci = (self.tci() & !PCP_MASK) | (((pcp & 7) as u16) << 13);
        self.set_tci(tci);
    }

    #[inline]
    pub fn set_ethertype(&mut self, t: u16) {
        put16(self.buffer.as_mut(), field::ETHERTYPE, t);
    }

    #[inline]
    pub fn payload_mut(&mut self) -> &mut [u8] {
        &mut self.buffer.as_mut()[field::PAYLOAD..]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // TCI: PCP 5, DEI 1, VID 0x064 (100); inner IPv6.
    const TAG: [u8; 5] = [0xb0, 0x64, 0x86, 0xdd, 0x60];

    #[test]
    fn read() {
        let h = VlanHeader::new_checked(&TAG[..]).unwrap();
        assert_eq!(h.tci(), 0xb064);
        assert_eq!(h.pcp(), 5);
        assert!(h.dei());
        assert_eq!(h.vid(), 100);
        assert_eq!(h.ethertype(), 0x86dd);
        assert_eq!(h.payload(), &[0x60]);
    }

    #[test]
    fn write() {
        let mut b = TAG;
        let mut h = VlanHeader::new_unchecked(&mut b[..]);
        h.set_vid(0xfff);
        h.set_pcp(1);
        h.set_ethertype(0x0800);
        assert_eq!(b, [0x3f, 0xff, 0x08, 0x00, 0x60]);
    }

    #[test]
    fn too_short() {
        assert_eq!(VlanHeader::new_checked(&TAG[..3]), Err(Truncated));
    }
}
