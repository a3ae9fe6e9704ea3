//! Building blocks of the table classifier (see `classifier.rs` for the design).
//!
//! - prefix dimensions: `nw_src`, `nw_dst` (also `arp_spa`/`arp_tpa`), `tp_src` and
//!   `tp_dst` (also ICMP type/code) when a rule masks them with a prefix (CIDR, port
//!   range piece, exact or wildcard). A rule's mask minus those fields is its group's
//!   *base*; the prefix fields are matched per bucket by `ruleset`, which un-wildcards
//!   only the prefix bits that decide the outcome;
//! - lookup stages (metadata, L2, L3, L4) over a group's base mask;
//! - the word hash used by stages and buckets.

pub mod group;
pub mod ruleset;

use std::sync::Arc;

use crate::flow::key::{word, NW};
use crate::flow::{FlowKey, FlowMask, Match};
use crate::ofproto::rule::Rule;

/// Number of prefix dimensions.
pub const N_DIMS: usize = 4;

/// A prefix dimension: a field of `bits` bits at `shift` in word `word`. Values are
/// handled left-aligned in a `u32` (bit 31 is the field's most significant bit), so
/// that a prefix of length `n` is `prefix(n)` for every dimension.
#[derive(Clone, Copy, Debug)]
pub struct Dim {
    pub word: usize,
    pub shift: u32,
    pub bits: u32,
}

pub const DIMS: [Dim; N_DIMS] = [
    Dim { word: word::NW_ADDRS, shift: 32, bits: 32 },
    Dim { word: word::NW_ADDRS, shift: 0, bits: 32 },
    Dim { word: word::NW_L4, shift: 16, bits: 16 },
    Dim { word: word::NW_L4, shift: 0, bits: 16 },
];

/// Left-aligned values (or masks) of the four dimensions.
pub type Dims = [u32; N_DIMS];

impl Dim {
    #[inline(always)]
    fn ones(&self) -> u64 {
        (1u64 << self.bits) - 1
    }

    /// The field of `k`, left-aligned.
    #[inline(always)]
    pub fn get(&self, k: &FlowKey) -> u32 {
        (((k.w[self.word] >> self.shift) & self.ones()) as u32) << (32 - self.bits)
    }

    /// Bits of the field's word for the left-aligned value `v`.
    #[inline(always)]
    pub fn word_bits(&self, v: u32) -> u64 {
        ((v >> (32 - self.bits)) as u64) << self.shift
    }
}

/// The `n` most significant bits (n <= 32).
#[inline(always)]
pub fn prefix(n: u8) -> u32 {
    if n == 0 {
        0
    } else {
        u32::MAX << (32 - n as u32)
    }
}

#[inline(always)]
pub fn dims_of(k: &FlowKey) -> Dims {
    [DIMS[0].get(k), DIMS[1].get(k), DIMS[2].get(k), DIMS[3].get(k)]
}

/// OR the left-aligned dimension masks `d` into `wc`.
#[inline]
pub fn or_dims(wc: &mut FlowMask, d: &Dims) {
    for (i, dim) in DIMS.iter().enumerate() {
        wc.w[dim.word] |= dim.word_bits(d[i]);
    }
}

/// Split a rule mask into its group's base mask and the rule's prefix length in each
/// dimension. A dimension whose mask is not a prefix stays in the base (the hash
/// matches it) and gets length 0.
pub fn split_mask(mask: &FlowMask) -> (FlowMask, [u8; N_DIMS]) {
    let mut base = *mask;
    let mut plens = [0u8; N_DIMS];
    for (i, dim) in DIMS.iter().enumerate() {
        let m = dim.get(mask);
        let n = m.leading_ones() as u8;
        if m == prefix(n) {
            plens[i] = n;
            base.w[dim.word] &= !dim.word_bits(u32::MAX);
        }
    }
    (base, plens)
}

// ------------------------------------------------------------------ hashing

pub const HASH_SEED: u64 = 0x243f_6a88_85a3_08d3;

#[inline(always)]
pub fn mix(h: u64, w: u64) -> u64 {
    (h ^ w).wrapping_mul(0x9fb2_1c65_1e98_df25).rotate_left(31)
}

#[inline(always)]
pub fn finish(mut h: u64) -> u64 {
    h ^= h >> 29;
    h = h.wrapping_mul(0xbf58_476d_1ce4_e5b9);
    h ^ (h >> 32)
}

// ------------------------------------------------------------------ stages

/// Lookup stages, in order: metadata (ports, registers, conntrack, tunnel), L2, L3,
/// L4. Their union is the whole key.
pub fn stage_masks() -> [FlowMask; 4] {
    let mut s = [FlowKey::ZERO; 4];
    for w in [word::META, word::CT, word::TUN_ID, word::TUN_ADDRS] {
        s[0].w[w] = u64::MAX;
    }
    for w in word::METADATA..NW {
        s[0].w[w] = u64::MAX;
    }
    s[1].w[word::DL_DST_TCI] = u64::MAX;
    s[1].w[word::DL_SRC_TYPE] = u64::MAX;
    s[2].w[word::NW_ADDRS] = u64::MAX;
    s[2].w[word::NW_L4] = 0xffff_ffff_0000_0000;
    s[2].w[word::ARP_SHA] = 0xffff_ffff_ffff_0000;
    s[2].w[word::ARP_THA] = u64::MAX;
    for w in word::IPV6_SRC..word::ND_TARGET {
        s[2].w[w] = u64::MAX;
    }
    s[3].w[word::NW_L4] = 0x0000_0000_ffff_ffff;
    s[3].w[word::ARP_SHA] = 0xffff;
    s[3].w[word::ND_TARGET] = u64::MAX;
    s[3].w[word::ND_TARGET + 1] = u64::MAX;
    s
}

// ------------------------------------------------------------------ entries

/// A rule as a bucket holds it: its prefix in every dimension.
#[derive(Clone, Debug)]
pub struct Entry {
    pub rule: Arc<Rule>,
    /// Left-aligned prefix values (zero beyond `plen`).
    pub val: Dims,
    pub plen: [u8; N_DIMS],
    pub prio: u16,
    /// The rule is a `conjunction(...)` clause.
    pub conj: bool,
}

impl Entry {
    pub fn new(rule: Arc<Rule>, plen: [u8; N_DIMS], conj: bool) -> Entry {
        let val = Entry::dims_of_match(&rule.m, &plen);
        Entry { prio: rule.priority, rule, val, plen, conj }
    }

    /// The prefix values of match `m` for prefix lengths `plen`.
    pub fn dims_of_match(m: &Match, plen: &[u8; N_DIMS]) -> Dims {
        let d = dims_of(&m.key);
        [d[0] & prefix(plen[0]), d[1] & prefix(plen[1]), d[2] & prefix(plen[2]), d[3] & prefix(plen[3])]
    }

    /// Same match (within a bucket) and priority.
    #[inline]
    pub fn same(&self, val: &Dims, plen: &[u8; N_DIMS], prio: u16) -> bool {
        self.prio == prio && self.plen == *plen && self.val == *val
    }

    /// Priority descending, then oldest rule first.
    #[inline]
    pub fn order(a: &Entry, b: &Entry) -> std::cmp::Ordering {
        b.prio.cmp(&a.prio).then(a.rule.id.cmp(&b.rule.id))
    }

    /// Does the entry match the packet's dimensions `fd`? Un-wildcards in `wcd` what
    /// keeps the answer the same for every packet that agrees on it: on a match, the
    /// entry's prefixes; on a mismatch, one dimension's bits up to the first
    /// differing bit (the dimension that adds the fewest new bits).
    #[inline]
    pub fn check(&self, fd: &Dims, wcd: &mut Dims) -> bool {
        let mut pick: Option<(usize, u32)> = None;
        let mut pick_cost = u32::MAX;
        for d in 0..N_DIMS {
            let n = self.plen[d];
            if n == 0 {
                continue;
            }
            let x = (fd[d] ^ self.val[d]) & prefix(n);
            if x != 0 {
                let need = prefix(x.leading_zeros() as u8 + 1);
                let cost = (need & !wcd[d]).count_ones();
                if cost == 0 {
                    return false;
                }
                if cost < pick_cost {
                    pick_cost = cost;
                    pick = Some((d, need));
                }
            }
        }
        match pick {
            Some((d, need)) => {
                wcd[d] |= need;
                false
            }
            None => {
                for (w, &n) in wcd.iter_mut().zip(self.plen.iter()) {
                    *w |= prefix(n);
                }
                true
            }
        }
    }
}

/// Per-lookup state shared by the groups a lookup visits. The packet's dimensions
/// are extracted on first need (tables without prefix fields never pay for them).
pub struct Ctx {
    /// The packet's dimensions.
    pub fd: Dims,
    /// Dimension bits un-wildcarded so far (ORed into the caller's mask at the end).
    pub wcd: Dims,
    ready: bool,
}

impl Ctx {
    #[inline]
    pub fn new() -> Ctx {
        Ctx { fd: [0; N_DIMS], wcd: [0; N_DIMS], ready: false }
    }

    #[inline]
    pub fn prepare(&mut self, flow: &FlowKey, wc: &FlowMask) {
        if !self.ready {
            self.fd = dims_of(flow);
            self.wcd = dims_of(wc);
            self.ready = true;
        }
    }

    /// OR the dimension bits un-wildcarded into `wc`.
    #[inline]
    pub fn finish(&self, wc: &mut FlowMask) {
        if self.ready {
            or_dims(wc, &self.wcd);
        }
    }
}

impl Default for Ctx {
    fn default() -> Self {
        Ctx::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::flow::Field;

    #[test]
    fn dims_roundtrip() {
        let mut k = FlowKey::ZERO;
        Field::Ipv4Src.set(&mut k, 0x0a01_0203);
        Field::Ipv4Dst.set(&mut k, 0xc0a8_0001);
        Field::TpSrc.set(&mut k, 0x1234);
        Field::TpDst.set(&mut k, 0x8001);
        assert_eq!(dims_of(&k), [0x0a01_0203, 0xc0a8_0001, 0x1234_0000, 0x8001_0000]);
        let mut wc = FlowKey::ZERO;
        or_dims(&mut wc, &[prefix(8), prefix(32), prefix(4), prefix(16)]);
        assert_eq!(Field::Ipv4Src.get(&wc), 0xff00_0000);
        assert_eq!(Field::Ipv4Dst.get(&wc), 0xffff_ffff);
        assert_eq!(Field::TpSrc.get(&wc), 0xf000);
        assert_eq!(Field::TpDst.get(&wc), 0xffff);
        assert_eq!(wc.w[word::NW_L4] >> 32, 0);
    }

    #[test]
    fn split() {
        let mut m = Match::catchall();
        m.set(Field::InPort, 3);
        m.set_masked(Field::Ipv4Src, 0x0a00_0000, 0xff00_0000);
        m.set_masked(Field::TpDst, 0x0400, 0xfc00);
        m.set_masked(Field::TpSrc, 0x0001, 0x0001); // not a prefix: stays in the base
        let (base, plens) = split_mask(&m.mask);
        assert_eq!(plens, [8, 0, 0, 6]);
        assert_eq!(Field::Ipv4Src.get(&base), 0);
        assert_eq!(Field::TpDst.get(&base), 0);
        assert_eq!(Field::TpSrc.get(&base), 1);
        assert_eq!(Field::InPort.get(&base), 0xffff);
        let st = stage_masks();
        let mut all = FlowKey::ZERO;
        for s in &st {
            for w in 0..NW {
                assert_eq!(all.w[w] & s.w[w], 0, "stages overlap in word {w}");
            }
            all.or_assign(s);
        }
        assert_eq!(all, FlowKey::ALL_ONES);
    }
}
