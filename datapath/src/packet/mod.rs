//! Packet headers: zero-copy views, flow-key extraction and in-place rewrites.
//!
//! Layout of this module:
//!
//! * One small file per header ([`ethernet`], [`vlan`], [`arp`], [`ipv4`], [`ipv6`],
//!   [`tcp`], [`udp`], [`sctp`], [`icmp`], [`icmpv6`], [`vxlan`], [`gre`]). Each
//!   defines a typed view `Xxx<T: AsRef<[u8]>> { buffer: T }` over a byte buffer, with
//!   the header's byte ranges in a `pub(crate) field` module and its fixed length in
//!   `HEADER_LEN` (`MIN_HEADER_LEN` when options can follow). These are the only place
//!   a header layout is written down: [`extract`], [`rewrite`] and [`tunnel`] go
//!   through the views or their `field` constants, never through literal offsets.
//!   Getters read straight from the buffer and setters (for `T: AsMut<[u8]>`) write
//!   straight into it: no copies, no parsing pass. As with any unchecked view,
//!   `new_unchecked` trusts the caller and getters index the buffer (so they panic on
//!   a too-short buffer); `new_checked` validates the length first, after which no
//!   getter can panic.
//! * [`checksum`]: the internet checksum, RFC 1624 incremental updates and
//!   pseudo-header sums.
//! * [`buf`]: [`PacketMut`], a packet inside a fixed-capacity frame buffer that can
//!   grow or shrink in the middle (VLAN push/pop, tunnel encap/decap).
//! * [`extract`]: the per-packet hot path that fills a [`FlowKey`](crate::flow::FlowKey)
//!   from a frame, following Open vSwitch's `miniflow_extract` conventions.
//! * [`rewrite`]: in-place header edits with checksum fix-ups, used by the action
//!   executor.
//!
//! Nothing here allocates. `extract` and `rewrite` never panic on any input: they check
//! lengths before touching bytes and report problems as values.

pub mod arp;
pub mod buf;
pub mod checksum;
pub mod ethernet;
pub mod extract;
pub mod gre;
pub mod icmp;
pub mod icmpv6;
pub mod ipv4;
pub mod ipv6;
pub mod rewrite;
pub mod sctp;
pub mod tcp;
pub mod tunnel;
pub mod udp;
pub mod vlan;
pub mod vxlan;

#[cfg(test)]
pub(crate) mod testgen;

pub use arp::ArpPacket;
pub use buf::{NoRoom, OutOfRange, PacketMut};
pub use ethernet::EthernetFrame;
pub use extract::{extract, Malformed, Offsets};
pub use icmp::Icmpv4Packet;
pub use icmpv6::Icmpv6Packet;
pub use ipv4::Ipv4Packet;
pub use ipv6::Ipv6Packet;
pub use rewrite::RewriteError;
pub use tcp::TcpPacket;
pub use udp::UdpPacket;
pub use vlan::VlanHeader;

/// A buffer is too short for the header a view was asked to cover (or a length field
/// inside the header points past the end of the buffer).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Truncated;

impl std::fmt::Display for Truncated {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("header truncated")
    }
}

impl std::error::Error for Truncated {}

/// IP protocol numbers (IPv4 `protocol`, IPv6 `next header`) that this module knows.
pub mod ip_proto {
    pub const HOPOPTS: u8 = 0;
    pub const ICMP: u8 = 1;
    pub const TCP: u8 = 6;
    pub const UDP: u8 = 17;
    pub const GRE: u8 = 47;
    pub const ROUTING: u8 = 43;
    pub const FRAGMENT: u8 = 44;
    pub const ICMPV6: u8 = 58;
    pub const DSTOPTS: u8 = 60;
    pub const SCTP: u8 = 132;
}

/// A byte range inside a header (the `field` modules are made of these).
pub(crate) type Field = core::ops::Range<usize>;

// Big-endian accessors shared by the header views. They index with the (constant)
// field ranges, so once a view's length has been checked the optimizer drops the
// bounds checks.

#[inline(always)]
pub(crate) fn get16(d: &[u8], f: Field) -> u16 {
    u16::from_be_bytes([d[f.start], d[f.start + 1]])
}

#[inline(always)]
pub(crate) fn get32(d: &[u8], f: Field) -> u32 {
    u32::from_be_bytes(get_arr(d, f))
}

#[inline(always)]
pub(crate) fn get_arr<const N: usize>(d: &[u8], f: Field) -> [u8; N] {
    let mut out = [0u8; N];
    out.copy_from_slice(&d[f.start..f.start + N]);
    out
}

#[inline(always)]
pub(crate) fn put16(d: &mut [u8], f: Field, v: u16) {
    d[f.start..f.start + 2].copy_from_slice(&v.to_be_bytes());
}

#[inline(always)]
pub(crate) fn put32(d: &mut [u8], f: Field, v: u32) {
    d[f.start..f.start + 4].copy_from_slice(&v.to_be_bytes());
}

#[inline(always)]
pub(crate) fn put_arr<const N: usize>(d: &mut [u8], f: Field, v: &[u8; N]) {
    d[f.start..f.start + N].copy_from_slice(v);
}
