//! Ethernet II header: destination MAC, source MAC, ethertype.

use super::{get16, get_arr, put16, put_arr, Truncated};

/// Ethertypes the datapath knows.
pub mod ethertype {
    pub const IPV4: u16 = 0x0800;
    pub const ARP: u16 = 0x0806;
    pub const RARP: u16 = 0x8035;
    /// IEEE 802.1Q customer tag.
    pub const VLAN: u16 = 0x8100;
    /// IEEE 802.1ad service tag (outer tag of QinQ).
    pub const QINQ: u16 = 0x88a8;
    pub const IPV6: u16 = 0x86dd;
    /// Values below this are IEEE 802.3 length fields, not ethertypes.
    pub const MIN: u16 = 0x0600;
    /// What Open vSwitch puts in `dl_type` for a frame without an ethertype (802.3).
    pub const NONE: u16 = 0x05ff;

    /// True for the TPIDs of the VLAN tags we parse, push and pop.
    #[inline]
    pub fn is_vlan(t: u16) -> bool {
        t == VLAN || t == QINQ
    }
}

pub const HEADER_LEN: usize = 14;

pub(crate) mod field {
    use crate::packet::Field;
    pub const DST: Field = 0..6;
    pub const SRC: Field = 6..12;
    pub const ETHERTYPE: Field = 12..14;
    pub const PAYLOAD: usize = 14;
}

/// A view of an Ethernet II frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EthernetFrame<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> EthernetFrame<T> {
    /// Wrap `buffer` without checking its length (getters panic if it is shorter than
    /// [`HEADER_LEN`]).
    #[inline]
    pub const fn new_unchecked(buffer: T) -> Self {
        EthernetFrame { buffer }
    }

    /// Wrap `buffer` after checking that it holds a whole header.
    #[inline]
    pub fn new_checked(buffer: T) -> Result<Self, Truncated> {
        let f = Self::new_unchecked(buffer);
        f.check_len()?;
        Ok(f)
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
    pub fn dst(&self) -> [u8; 6] {
        get_arr(self.buffer.as_ref(), field::DST)
    }

    #[inline]
    pub fn src(&self) -> [u8; 6] {
        get_arr(self.buffer.as_ref(), field::SRC)
    }

    /// The ethertype (or 802.3 length, or a VLAN TPID) right after the MACs.
    #[inline]
    pub fn ethertype(&self) -> u16 {
        get16(self.buffer.as_ref(), field::ETHERTYPE)
    }

    #[inline]
    pub fn payload(&self) -> &[u8] {
        &self.buffer.as_ref()[field::PAYLOAD..]
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> EthernetFrame<T> {
    #[inline]
    pub fn set_dst(&mut self, mac: [u8; 6]) {
        put_arr(self.buffer.as_mut(), field::DST, &mac);
    }

    #[inline]
    pub fn set_src(&mut self, mac: [u8; 6]) {
        put_arr(self.buffer.as_mut(), field::SRC, &mac);
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

    const FRAME: [u8; 16] = [
        0x01, 0x02, 0x03, 0x04, 0x05, 0x06, // dst
        0x0a, 0x0b, 0x0c, 0x0d, 0x0e, 0x0f, // src
        0x08, 0x00, // IPv4
        0xaa, 0xbb, // payload
    ];

    #[test]
    fn read() {
        let f = EthernetFrame::new_checked(&FRAME[..]).unwrap();
        assert_eq!(f.dst(), [1, 2, 3, 4, 5, 6]);
        assert_eq!(f.src(), [0x0a, 0x0b, 0x0c, 0x0d, 0x0e, 0x0f]);
        assert_eq!(f.ethertype(), ethertype::IPV4);
        assert_eq!(f.payload(), &[0xaa, 0xbb]);
    }

    #[test]
    fn write() {
        let mut b = FRAME;
        let mut f = EthernetFrame::new_checked(&mut b[..]).unwrap();
        f.set_dst([0xff; 6]);
        f.set_src([0x02, 0, 0, 0, 0, 1]);
        f.set_ethertype(ethertype::VLAN);
        f.payload_mut()[0] = 0x11;
        assert_eq!(
            &b[..16],
            &[0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02, 0, 0, 0, 0, 1, 0x81, 0x00, 0x11, 0xbb]
        );
    }

    #[test]
    fn too_short() {
        assert_eq!(EthernetFrame::new_checked(&FRAME[..13]), Err(Truncated));
        assert!(EthernetFrame::new_checked(&FRAME[..14]).is_ok());
        assert!(ethertype::is_vlan(0x88a8) && ethertype::is_vlan(0x8100));
        assert!(!ethertype::is_vlan(0x0800));
    }
}
