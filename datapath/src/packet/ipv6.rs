//! IPv6 header (RFC 8200) and the extension-header walk that finds the upper-layer
//! protocol.

use super::{get16, get32, get_arr, ip_proto, put16, put32, put_arr, Truncated};
use crate::flow::key::{FRAG_ANY, FRAG_LATER};

pub const HEADER_LEN: usize = 40;
/// The version nibble of an IPv6 header.
pub const VERSION: u8 = 6;

/// Fragment header: offset (13 bits, in 8-byte units) then 2 reserved bits then M.
pub const FRAG_OFFSET_MASK: u16 = 0xfff8;
pub const FRAG_MORE: u16 = 0x0001;

/// The version in the first header word (version(4) traffic class(8) flow label(20)).
#[inline(always)]
pub const fn version_of(vtc_flow: u32) -> u8 {
    (vtc_flow >> 28) as u8
}

/// The traffic class in the first header word.
#[inline(always)]
pub const fn traffic_class_of(vtc_flow: u32) -> u8 {
    (vtc_flow >> 20) as u8
}

pub(crate) mod field {
    use crate::packet::Field;
    /// version(4) traffic class(8) flow label(20)
    pub const VTC_FLOW: Field = 0..4;
    pub const PAYLOAD_LEN: Field = 4..6;
    pub const NEXT_HEADER: usize = 6;
    pub const HOP_LIMIT: usize = 7;
    pub const SRC: Field = 8..24;
    pub const DST: Field = 24..40;
}

/// A view of an IPv6 packet (fixed header plus whatever follows it in the buffer).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ipv6Packet<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Ipv6Packet<T> {
    #[inline]
    pub const fn new_unchecked(buffer: T) -> Self {
        Ipv6Packet { buffer }
    }

    #[inline]
    pub fn new_checked(buffer: T) -> Result<Self, Truncated> {
        let p = Self::new_unchecked(buffer);
        p.check_len()?;
        Ok(p)
    }

    /// Checks that the fixed header and `payload_len` bytes after it are present
    /// (a longer buffer is fine: Ethernet padding). The version is not checked.
    #[inline]
    pub fn check_len(&self) -> Result<(), Truncated> {
        let len = self.buffer.as_ref().len();
        if len < HEADER_LEN || HEADER_LEN + self.payload_len() as usize > len {
            return Err(Truncated);
        }
        Ok(())
    }

    #[inline]
    pub fn into_inner(self) -> T {
        self.buffer
    }

    #[inline]
    fn vtc_flow(&self) -> u32 {
        get32(self.buffer.as_ref(), field::VTC_FLOW)
    }

    #[inline]
    pub fn version(&self) -> u8 {
        version_of(self.vtc_flow())
    }

    /// Traffic class: DSCP in the high 6 bits, ECN in the low 2 (like IPv4's TOS).
    #[inline]
    pub fn traffic_class(&self) -> u8 {
        traffic_class_of(self.vtc_flow())
    }

    #[inline]
    pub fn flow_label(&self) -> u32 {
        self.vtc_flow() & 0x000f_ffff
    }

    #[inline]
    pub fn payload_len(&self) -> u16 {
        get16(self.buffer.as_ref(), field::PAYLOAD_LEN)
    }

    #[inline]
    pub fn next_header(&self) -> u8 {
        self.buffer.as_ref()[field::NEXT_HEADER]
    }

    #[inline]
    pub fn hop_limit(&self) -> u8 {
        self.buffer.as_ref()[field::HOP_LIMIT]
    }

    #[inline]
    pub fn src(&self) -> [u8; 16] {
        get_arr(self.buffer.as_ref(), field::SRC)
    }

    #[inline]
    pub fn dst(&self) -> [u8; 16] {
        get_arr(self.buffer.as_ref(), field::DST)
    }

    /// The `payload_len` bytes after the fixed header (extension headers included,
    /// padding excluded).
    #[inline]
    pub fn payload(&self) -> &[u8] {
        &self.buffer.as_ref()[HEADER_LEN..HEADER_LEN + self.payload_len() as usize]
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Ipv6Packet<T> {
    #[inline]
    fn set_vtc_flow(&mut self, v: u32) {
        put32(self.buffer.as_mut(), field::VTC_FLOW, v);
    }

    #[inline]
    pub fn set_version(&mut self, v: u8) {
        let w = (self.vtc_flow() & 0x0fff_ffff) | ((v as u32 & 0xf) << 28);
        self.set_vtc_flow(w);
    }

    #[inline]
    pub fn set_traffic_class(&mut self, v: u8) {
        let w = (self.vtc_flow() & 0xf00f_ffff) | ((v as u32) << 20);
        self.set_vtc_flow(w);
    }

    #[inline]
    pub fn set_flow_label(&mut self, v: u32) {
        let w = (self.vtc_flow() & 0xfff0_0000) | (v & 0x000f_ffff);
        self.set_vtc_flow(w);
    }

    #[inline]
    pub fn set_payload_len(&mut self, v: u16) {
        put16(self.buffer.as_mut(), field::PAYLOAD_LEN, v);
    }

    #[inline]
    pub fn set_next_header(&mut self, v: u8) {
        self.buffer.as_mut()[field::NEXT_HEADER] = v;
    }

    #[inline]
    pub fn set_hop_limit(&mut self, v: u8) {
        self.buffer.as_mut()[field::HOP_LIMIT] = v;
    }

    #[inline]
    pub fn set_src(&mut self, v: [u8; 16]) {
        put_arr(self.buffer.as_mut(), field::SRC, &v);
    }

    #[inline]
    pub fn set_dst(&mut self, v: [u8; 16]) {
        put_arr(self.buffer.as_mut(), field::DST, &v);
    }
}

/// Where the extension-header chain of an IPv6 packet ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ExtWalk {
    /// The upper-layer protocol (`nw_proto`). For a non-first fragment this is
    /// [`ip_proto::FRAGMENT`]: as in Open vSwitch, the walk stops at the fragment
    /// header, because what follows is the middle of some other header's data.
    pub proto: u8,
    /// Bytes of extension headers, i.e. the offset of the upper-layer header from the
    /// start of the IPv6 payload.
    pub len: usize,
    /// `nw_frag` bits: [`FRAG_ANY`] if a fragment header says this is a fragment,
    /// plus [`FRAG_LATER`] if it is not the first one.
    pub frag: u8,
}

/// Walk the extension headers at the start of `payload` (the bytes after the fixed
/// header, bounded by `payload_len`), starting from the fixed header's next-header
/// value. Walks hop-by-hop (0), routing (43), fragment (44) and destination options
/// (60); anything else ends the chain. Errors if a header runs past `payload`.
pub fn walk_ext(payload: &[u8], next_header: u8) -> Result<ExtWalk, Truncated> {
    let mut nh = next_header;
    let mut off = 0usize;
    let mut frag = 0u8;
    // Each turn consumes at least 8 bytes of a bounded buffer, so this terminates.
    loop {
        match nh {
            ip_proto::HOPOPTS | ip_proto::ROUTING | ip_proto::DSTOPTS => {
                // Generic layout: next header, length in 8-byte units not counting the
                // first 8.
                let h = payload
                    .get(off..)
                    .and_then(|r| r.first_chunk::<8>())
                    .ok_or(Truncated)?;
                let len = (h[1] as usize + 1) * 8;
                if payload.len() - off < len {
                    return Err(Truncated);
                }
                nh = h[0];
                off += len;
            }
            ip_proto::FRAGMENT => {
                // next header, reserved, offset|res|M, identification(4)
                let h = payload
                    .get(off..)
                    .and_then(|r| r.first_chunk::<8>())
                    .ok_or(Truncated)?;
                let offlg = u16::from_be_bytes([h[2], h[3]]);
                nh = h[0];
                off += 8;
                // An "atomic fragment" (offset 0, M clear) is a whole packet. The two
                // reserved bits are ignored, as RFC 8200 asks of receivers.
                if offlg & (FRAG_OFFSET_MASK | FRAG_MORE) != 0 {
                    frag |= FRAG_ANY;
                    if offlg & FRAG_OFFSET_MASK != 0 {
                        return Ok(ExtWalk {
                            proto: ip_proto::FRAGMENT,
                            len: off,
                            frag: frag | FRAG_LATER,
                        });
                    }
                }
            }
            _ => {
                return Ok(ExtWalk {
                    proto: nh,
                    len: off,
                    frag,
                })
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // fe80::1 -> ff02::1, traffic class 0xb8, flow label 0x12345, hop limit 255,
    // next header hop-by-hop, then a hop-by-hop header (8 bytes) -> UDP (8 bytes).
    const PKT: [u8; 58] = [
        0x6b, 0x81, 0x23, 0x45, 0x00, 0x10, 0x00, 0xff, // vtc/flow, plen 16, nh 0, hlim
        0xfe, 0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, // src
        0xff, 0x02, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, // dst
        17, 0, 1, 4, 0, 0, 0, 0, // hop-by-hop: nh UDP, len 0, PadN
        0x00, 0x35, 0x00, 0x35, 0x00, 0x08, 0x00, 0x00, // UDP
        0xee, 0xee, // padding
    ];

    #[test]
    fn read() {
        let p = Ipv6Packet::new_checked(&PKT[..]).unwrap();
        assert_eq!(p.version(), 6);
        assert_eq!(p.traffic_class(), 0xb8);
        assert_eq!(p.flow_label(), 0x12345);
        assert_eq!(p.payload_len(), 16);
        assert_eq!(p.next_header(), 0);
        assert_eq!(p.hop_limit(), 255);
        assert_eq!(p.src()[..2], [0xfe, 0x80]);
        assert_eq!(p.dst()[15], 1);
        assert_eq!(p.payload().len(), 16);
        let w = walk_ext(p.payload(), p.next_header()).unwrap();
        assert_eq!(
            w,
            ExtWalk {
                proto: 17,
                len: 8,
                frag: 0
            }
        );
    }

    #[test]
    fn write() {
        let mut b = PKT;
        let mut p = Ipv6Packet::new_unchecked(&mut b[..]);
        p.set_traffic_class(0x01);
        p.set_flow_label(0xfffff);
        p.set_hop_limit(1);
        p.set_next_header(17);
        p.set_payload_len(8);
        p.set_src([0x20; 16]);
        p.set_dst([0x30; 16]);
        p.set_version(6);
        assert_eq!(&b[..8], &[0x60, 0x1f, 0xff, 0xff, 0x00, 0x08, 17, 1]);
        assert_eq!(&b[8..40], &[[0x20u8; 16], [0x30u8; 16]].concat()[..]);
    }

    #[test]
    fn bad_lengths() {
        assert_eq!(Ipv6Packet::new_checked(&PKT[..39]), Err(Truncated));
        assert_eq!(Ipv6Packet::new_checked(&PKT[..55]), Err(Truncated));
        assert!(Ipv6Packet::new_checked(&PKT[..56]).is_ok());
    }

    #[test]
    fn walk_chain_and_fragments() {
        // dest-opts (16 bytes) -> routing (8) -> fragment (first, M set) -> TCP
        let chain = [
            43, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, // dest opts, len 1
            44, 0, 0, 0, 0, 0, 0, 0, // routing
            6, 0, 0x00, 0x01, 0, 0, 0, 9,    // fragment, offset 0, M
            0xaa, // start of TCP
        ];
        assert_eq!(
            walk_ext(&chain, 60),
            Ok(ExtWalk {
                proto: 6,
                len: 32,
                frag: FRAG_ANY
            })
        );
        // Later fragment: stops at the fragment header with proto 44.
        let later = [6, 0, 0x00, 0x08, 0, 0, 0, 9];
        assert_eq!(
            walk_ext(&later, 44),
            Ok(ExtWalk {
                proto: 44,
                len: 8,
                frag: FRAG_ANY | FRAG_LATER
            })
        );
        // Atomic fragment: not a fragment at all.
        let atomic = [17, 0, 0x00, 0x06, 0, 0, 0, 9];
        assert_eq!(
            walk_ext(&atomic, 44),
            Ok(ExtWalk {
                proto: 17,
                len: 8,
                frag: 0
            })
        );
        // No extension headers.
        assert_eq!(
            walk_ext(&[], 58),
            Ok(ExtWalk {
                proto: 58,
                len: 0,
                frag: 0
            })
        );
        // Truncated: a header shorter than 8 bytes, or one longer than what is left.
        assert_eq!(walk_ext(&chain[..7], 60), Err(Truncated));
        assert_eq!(walk_ext(&chain[..12], 60), Err(Truncated));
        assert_eq!(walk_ext(&chain[..31], 60), Err(Truncated));
    }
}
