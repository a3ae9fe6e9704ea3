//! The internet checksum (RFC 1071), incremental updates (RFC 1624) and the IPv4/IPv6
//! pseudo-header sums that TCP, UDP and ICMPv6 checksums cover.
//!
//! Vocabulary: a *sum* is the 16-bit one's-complement sum of some bytes, folded but not
//! inverted; sums of separate pieces combine with [`add`]. A *checksum* is what goes on
//! the wire: the inverted sum. A buffer whose checksum field is correct sums to
//! `0xffff`.

/// Fold a wide accumulator of 16-bit words into a 16-bit one's-complement sum.
#[inline]
fn fold(mut s: u64) -> u16 {
    // Two rounds bring any u64 down to 17 bits; the loop handles the last carry.
    while s >> 16 != 0 {
        s = (s & 0xffff) + (s >> 16);
    }
    s as u16
}

/// One's-complement sum of `data` read as big-endian 16-bit words (an odd trailing byte
/// is padded with a zero byte).
#[inline]
pub fn sum(data: &[u8]) -> u16 {
    // Summing 32-bit words is equivalent modulo 0xffff (2^16 == 1), and halves the
    // number of additions; a u64 cannot overflow for any buffer that fits in memory
    // below 2^32 words.
    let mut acc: u64 = 0;
    let mut chunks = data.chunks_exact(4);
    for c in &mut chunks {
        acc += u32::from_be_bytes([c[0], c[1], c[2], c[3]]) as u64;
    }
    let rest = chunks.remainder();
    let mut tail = [0u8; 4];
    tail[..rest.len()].copy_from_slice(rest);
    acc += u32::from_be_bytes(tail) as u64;
    fold(acc)
}

/// One's-complement addition of two sums.
#[inline]
pub fn add(a: u16, b: u16) -> u16 {
    fold(a as u64 + b as u64)
}

/// The internet checksum of `data` (the value to store in a zeroed checksum field).
#[inline]
pub fn checksum(data: &[u8]) -> u16 {
    !sum(data)
}

/// Sum of the IPv4 pseudo-header (RFC 793/768): addresses, protocol, L4 length.
#[inline]
pub fn pseudo_v4(src: [u8; 4], dst: [u8; 4], proto: u8, l4_len: u16) -> u16 {
    let acc = u32::from_be_bytes(src) as u64
        + u32::from_be_bytes(dst) as u64
        + proto as u64
        + l4_len as u64;
    fold(acc)
}

/// Sum of the IPv6 pseudo-header (RFC 8200 section 8.1): addresses, upper-layer
/// length (32 bits) and next header.
#[inline]
pub fn pseudo_v6(src: &[u8; 16], dst: &[u8; 16], proto: u8, l4_len: u32) -> u16 {
    add(add(sum(src), sum(dst)), fold(l4_len as u64 + proto as u64))
}

/// New checksum after a 16-bit word covered by `check` changed from `old` to `new`.
///
/// RFC 1624 equation 3, `HC' = ~(~HC + ~m + m')`. The older RFC 1141 form
/// (`HC + m + ~m'`) can yield `0xffff` where a from-scratch computation yields `0`;
/// this form agrees with recomputation, which tests can then check bit for bit.
#[inline]
pub fn update16(check: u16, old: u16, new: u16) -> u16 {
    !fold(!check as u64 + !old as u64 + new as u64)
}

/// New checksum after a 32-bit (16-bit aligned) value changed from `old` to `new`.
#[inline]
pub fn update32(check: u16, old: u32, new: u32) -> u16 {
    let s = !check as u64
        + (!(old >> 16) & 0xffff) as u64
        + (!old & 0xffff) as u64
        + (new >> 16) as u64
        + (new & 0xffff) as u64;
    !fold(s)
}

/// New checksum after 16-bit aligned bytes changed from `old` to `new` (e.g. an IPv6
/// address). The slices must have the same, even length.
#[inline]
pub fn update_bytes(check: u16, old: &[u8], new: &[u8]) -> u16 {
    debug_assert_eq!(old.len(), new.len());
    // ~sum(old) is the one's-complement negation of the old contribution.
    !add(add(!check, !sum(old)), sum(new))
}

/// A UDP checksum of 0 means "no checksum" (RFC 768), so a computed 0 is sent as
/// `0xffff`, its one's-complement equivalent.
#[inline]
pub fn udp_nonzero(check: u16) -> u16 {
    if check == 0 {
        0xffff
    } else {
        check
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // The example of RFC 1071 section 3: words 0001 f203 f4f5 f6f7 sum to 0xddf2.
    #[test]
    fn rfc1071_example() {
        let d = [0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7];
        assert_eq!(sum(&d), 0xddf2);
        assert_eq!(checksum(&d), !0xddf2);
        // Odd length: the last byte is the high half of a zero-padded word.
        assert_eq!(sum(&[0x12, 0x34, 0x56]), 0x1234 + 0x5600);
        assert_eq!(sum(&[]), 0);
    }

    #[test]
    fn ipv4_header_checksum() {
        // The IPv4 header often used to illustrate the checksum (checksum field 0xb861).
        let h = [
            0x45, 0x00, 0x00, 0x73, 0x00, 0x00, 0x40, 0x00, 0x40, 0x11, 0xb8, 0x61, 0xc0, 0xa8,
            0x00, 0x01, 0xc0, 0xa8, 0x00, 0xc7,
        ];
        assert_eq!(sum(&h), 0xffff);
        let mut z = h;
        z[10] = 0;
        z[11] = 0;
        assert_eq!(checksum(&z), 0xb861);
    }

    #[test]
    fn incremental_matches_recompute() {
        let mut h = [
            0x45, 0x00, 0x00, 0x73, 0x00, 0x00, 0x40, 0x00, 0x40, 0x11, 0xb8, 0x61, 0xc0, 0xa8,
            0x00, 0x01, 0xc0, 0xa8, 0x00, 0xc7,
        ];
        // Change the TTL/proto word.
        let old = u16::from_be_bytes([h[8], h[9]]);
        h[8] = 0x3f;
        let new = u16::from_be_bytes([h[8], h[9]]);
        let c = update16(0xb861, old, new);
        h[10..12].copy_from_slice(&[0, 0]);
        assert_eq!(c, checksum(&h));
        h[10..12].copy_from_slice(&c.to_be_bytes());
        // Change the source address.
        let old = u32::from_be_bytes([h[12], h[13], h[14], h[15]]);
        h[12..16].copy_from_slice(&[10, 1, 2, 3]);
        let c2 = update32(c, old, u32::from_be_bytes([10, 1, 2, 3]));
        h[10..12].copy_from_slice(&[0, 0]);
        assert_eq!(c2, checksum(&h));
        // And with the byte-slice form.
        let c3 = update_bytes(c, &[0xc0, 0xa8, 0x00, 0x01], &[10, 1, 2, 3]);
        assert_eq!(c3, c2);
    }

    #[test]
    fn pseudo_headers() {
        // Pseudo-header words summed by hand.
        let v4 = pseudo_v4([10, 0, 0, 1], [10, 0, 0, 2], 17, 8);
        assert_eq!(v4, 0x0a00 + 0x0001 + 0x0a00 + 0x0002 + 17 + 8);
        let mut a = [0u8; 16];
        a[0] = 0xfe;
        a[1] = 0x80;
        a[15] = 1;
        let mut b = a;
        b[15] = 2;
        let v6 = pseudo_v6(&a, &b, 58, 32);
        // 0xfe80 twice carries out of 16 bits: the carry wraps around.
        let wide = 0xfe80u32 * 2 + 1 + 2 + 58 + 32;
        assert_eq!(v6 as u32, (wide & 0xffff) + (wide >> 16));
        // A large length spills into the high 16 bits of the 32-bit field.
        assert_eq!(pseudo_v6(&[0; 16], &[0; 16], 6, 0x1_0002), 1 + 2 + 6);
    }

    #[test]
    fn udp_zero_maps_to_ffff() {
        assert_eq!(udp_nonzero(0), 0xffff);
        assert_eq!(udp_nonzero(0x1234), 0x1234);
    }
}
