//! ICMPv6 (RFC 4443) and the parts of Neighbor Discovery (RFC 4861) the flow key
//! carries: the target address of a neighbour solicitation/advertisement and the
//! source/target link-layer address options.

use super::{checksum, get16, get_arr, put16, put_arr, Truncated};

/// Type, code, checksum and the 4 type-specific bytes every ICMPv6 message starts with.
pub const HEADER_LEN: usize = 8;
/// Header plus the 16-byte target of a neighbour solicitation/advertisement.
pub const ND_HEADER_LEN: usize = 24;

pub const TYPE_ECHO_REQUEST: u8 = 128;
pub const TYPE_ECHO_REPLY: u8 = 129;
pub const TYPE_NEIGHBOR_SOLICIT: u8 = 135;
pub const TYPE_NEIGHBOR_ADVERT: u8 = 136;

/// ND option types.
pub const OPT_SOURCE_LLADDR: u8 = 1;
pub const OPT_TARGET_LLADDR: u8 = 2;

pub(crate) mod field {
    use crate::packet::Field;
    pub const TYPE: usize = 0;
    pub const CODE: usize = 1;
    pub const CHECKSUM: Field = 2..4;
    /// NA flags (R/S/O) or reserved in NS.
    pub const REST: Field = 4..8;
    pub const ND_TARGET: Field = 8..24;
    pub const ND_OPTIONS: usize = 24;
}

/// A view of an ICMPv6 message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Icmpv6Packet<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Icmpv6Packet<T> {
    #[inline]
    pub const fn new_unchecked(buffer: T) -> Self {
        Icmpv6Packet { buffer }
    }

    #[inline]
    pub fn new_checked(buffer: T) -> Result<Self, Truncated> {
        let p = Self::new_unchecked(buffer);
        p.check_len()?;
        Ok(p)
    }

    /// Checks the 8-byte header; use [`Icmpv6Packet::is_nd`] before the ND getters.
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

    #[inline]
    pub fn rest(&self) -> [u8; 4] {
        get_arr(self.buffer.as_ref(), field::REST)
    }

    /// True for a neighbour solicitation or advertisement (code 0) long enough to
    /// hold its target address, i.e. when [`nd_target`](Self::nd_target) and
    /// [`nd_options`](Self::nd_options) may be called.
    #[inline]
    pub fn is_nd(&self) -> bool {
        self.code() == 0
            && matches!(
                self.msg_type(),
                TYPE_NEIGHBOR_SOLICIT | TYPE_NEIGHBOR_ADVERT
            )
            && self.buffer.as_ref().len() >= ND_HEADER_LEN
    }

    #[inline]
    pub fn nd_target(&self) -> [u8; 16] {
        get_arr(self.buffer.as_ref(), field::ND_TARGET)
    }

    /// The option bytes after the target.
    #[inline]
    pub fn nd_options(&self) -> &[u8] {
        &self.buffer.as_ref()[field::ND_OPTIONS..]
    }

    /// The checksum this message should carry given the IPv6 pseudo-header sum; the
    /// whole buffer is the message.
    pub fn compute_checksum(&self, pseudo: u16) -> u16 {
        let s = checksum::add(pseudo, checksum::sum(self.buffer.as_ref()));
        !checksum::add(s, !self.checksum())
    }

    pub fn verify_checksum(&self, pseudo: u16) -> bool {
        checksum::add(pseudo, checksum::sum(self.buffer.as_ref())) == 0xffff
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Icmpv6Packet<T> {
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

    #[inline]
    pub fn set_nd_target(&mut self, v: [u8; 16]) {
        put_arr(self.buffer.as_mut(), field::ND_TARGET, &v);
    }

    pub fn fill_checksum(&mut self, pseudo: u16) {
        let c = self.compute_checksum(pseudo);
        self.set_checksum(c);
    }
}

/// Link-layer addresses found in ND options; all-zero when absent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct NdLinkAddrs {
    /// Source link-layer address option (normally in solicitations).
    pub sll: [u8; 6],
    /// Target link-layer address option (normally in advertisements).
    pub tll: [u8; 6],
}

/// Scan ND options for Ethernet link-layer addresses, with Open vSwitch's rules:
/// options are `type(1) len(1, in 8-byte units) data`; a zero or overlong length ends
/// the scan (keeping what was found); an address option of any other length than 8 is
/// skipped; the same address option twice makes the whole message invalid (`None`:
/// the caller then drops the target too). Either option is accepted in either message
/// type, as OVS does.
pub fn parse_nd_options(mut opts: &[u8]) -> Option<NdLinkAddrs> {
    let mut out = NdLinkAddrs::default();
    let (mut have_sll, mut have_tll) = (false, false);
    while let Some(h) = opts.first_chunk::<8>() {
        let len = h[1] as usize * 8;
        if len == 0 || len > opts.len() {
            break;
        }
        let mac = [h[2], h[3], h[4], h[5], h[6], h[7]];
        match (h[0], len) {
            (OPT_SOURCE_LLADDR, 8) => {
                if have_sll {
                    return None;
                }
                have_sll = true;
                out.sll = mac;
            }
            (OPT_TARGET_LLADDR, 8) => {
                if have_tll {
                    return None;
                }
                have_tll = true;
                out.tll = mac;
            }
            _ => {}
        }
        opts = &opts[len..];
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    // Neighbour solicitation for fe80::2 with a source link-layer address option.
    const NS: [u8; 32] = [
        135, 0, 0x00, 0x00, 0, 0, 0, 0, // type, code, checksum, reserved
        0xfe, 0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2, // target
        1, 1, 0x02, 0, 0, 0, 0, 1, // SLL option
    ];

    #[test]
    fn read_ns() {
        let p = Icmpv6Packet::new_checked(&NS[..]).unwrap();
        assert_eq!(p.msg_type(), TYPE_NEIGHBOR_SOLICIT);
        assert_eq!(p.code(), 0);
        assert!(p.is_nd());
        assert_eq!(p.nd_target()[15], 2);
        let o = parse_nd_options(p.nd_options()).unwrap();
        assert_eq!(o.sll, [2, 0, 0, 0, 0, 1]);
        assert_eq!(o.tll, [0; 6]);
        // Not ND: truncated, wrong code, other type.
        assert!(!Icmpv6Packet::new_unchecked(&NS[..23]).is_nd());
        let mut b = NS;
        b[1] = 1;
        assert!(!Icmpv6Packet::new_unchecked(&b[..]).is_nd());
        b[1] = 0;
        b[0] = TYPE_ECHO_REQUEST;
        assert!(!Icmpv6Packet::new_unchecked(&b[..]).is_nd());
    }

    #[test]
    fn checksum_roundtrip() {
        let src = [0xfe, 0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1];
        let dst = [0xff, 0x02, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0xff, 0, 0, 2];
        let ph = checksum::pseudo_v6(&src, &dst, 58, NS.len() as u32);
        let mut b = NS;
        let mut p = Icmpv6Packet::new_unchecked(&mut b[..]);
        assert!(!p.verify_checksum(ph));
        p.fill_checksum(ph);
        assert!(p.verify_checksum(ph));
        p.set_msg_type(TYPE_NEIGHBOR_ADVERT);
        p.set_code(0);
        p.set_rest([0x60, 0, 0, 0]);
        p.set_nd_target([0xaa; 16]);
        p.fill_checksum(ph);
        assert!(p.verify_checksum(ph));
        assert_eq!(p.rest(), [0x60, 0, 0, 0]);
        assert_eq!(b[8..24], [0xaa; 16]);
    }

    #[test]
    fn nd_option_rules() {
        // TLL, an unknown 16-byte option, SLL.
        let opts = [
            2, 1, 1, 2, 3, 4, 5, 6, //
            5, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, //
            1, 1, 7, 8, 9, 10, 11, 12,
        ];
        let o = parse_nd_options(&opts).unwrap();
        assert_eq!(o.tll, [1, 2, 3, 4, 5, 6]);
        assert_eq!(o.sll, [7, 8, 9, 10, 11, 12]);
        // Zero length stops the scan, keeping earlier finds.
        let o = parse_nd_options(&[2, 1, 1, 2, 3, 4, 5, 6, 1, 0, 9, 9, 9, 9, 9, 9]).unwrap();
        assert_eq!(
            o,
            NdLinkAddrs {
                sll: [0; 6],
                tll: [1, 2, 3, 4, 5, 6]
            }
        );
        // Overlong length stops too.
        let o = parse_nd_options(&[1, 2, 1, 2, 3, 4, 5, 6]).unwrap();
        assert_eq!(o, NdLinkAddrs::default());
        // Duplicate SLL: invalid.
        assert_eq!(
            parse_nd_options(&[1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 2, 2, 2, 2]),
            None
        );
        // A trailing fragment shorter than 8 bytes is ignored.
        assert_eq!(parse_nd_options(&[1, 1, 1]), Some(NdLinkAddrs::default()));
    }
}
