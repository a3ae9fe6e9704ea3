//! Exact-match cache: the full datapath key -> megaflow entry, 2-way set associative.
//!
//! A hit costs one hash of the key (computed once per packet) and one 128-byte compare,
//! and skips the megaflow subtables. Entries point at megaflow slots together with the
//! slot's version, so a megaflow removed or replaced invalidates its EMC entries
//! without touching the EMC.

use crate::flow::key::{FlowKey, DP_WORDS};

#[derive(Clone, Copy)]
struct Slot {
    key: [u64; DP_WORDS],
    hash: u32,
    idx: u32,
    ver: u32,
    used: bool,
}

const EMPTY: Slot = Slot { key: [0; DP_WORDS], hash: 0, idx: 0, ver: 0, used: false };

pub struct Emc {
    slots: Box<[Slot]>,
    mask: usize,
    /// Round-robin victim choice between the two ways.
    flip: bool,
}

impl Emc {
    /// `entries` is rounded up to a power of two.
    pub fn new(entries: usize) -> Emc {
        let n = entries.max(2).next_power_of_two();
        Emc { slots: vec![EMPTY; n].into_boxed_slice(), mask: n - 1, flip: false }
    }

    #[inline]
    fn ways(&self, hash: u64) -> (usize, usize) {
        let a = hash as usize & self.mask;
        let b = (hash >> 32) as usize & self.mask;
        (a, if b == a { a ^ 1 } else { b })
    }

    #[inline]
    fn same(slot: &Slot, key: &FlowKey, h32: u32) -> bool {
        slot.used && slot.hash == h32 && slot.key[..] == key.w[..DP_WORDS]
    }

    /// Returns (megaflow index, version) if the exact key is cached.
    #[inline]
    pub fn lookup(&self, key: &FlowKey, hash: u64) -> Option<(u32, u32)> {
        let (a, b) = self.ways(hash);
        let h32 = hash as u32;
        for i in [a, b] {
            let s = &self.slots[i];
            if Self::same(s, key, h32) {
                return Some((s.idx, s.ver));
            }
        }
        None
    }

    pub fn insert(&mut self, key: &FlowKey, hash: u64, idx: u32, ver: u32) {
        let (a, b) = self.ways(hash);
        let h32 = hash as u32;
        let victim = if !self.slots[a].used || Self::same(&self.slots[a], key, h32) {
            a
        } else if !self.slots[b].used || Self::same(&self.slots[b], key, h32) {
            b
        } else {
            self.flip = !self.flip;
            if self.flip { a } else { b }
        };
        let mut k = [0u64; DP_WORDS];
        k.copy_from_slice(&key.w[..DP_WORDS]);
        self.slots[victim] = Slot { key: k, hash: h32, idx, ver, used: true };
    }

    pub fn clear(&mut self) {
        self.slots.fill(EMPTY);
    }

    pub fn capacity(&self) -> usize {
        self.slots.len()
    }
}
