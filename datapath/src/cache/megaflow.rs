//! The megaflow cache of one worker: masked entries grouped in subtables by mask
//! (tuple-space search without priorities: any matching entry is correct).
//!
//! Entries live in a slab; each slot has a version that changes when the slot is freed,
//! so references held elsewhere (the EMC) can tell a stale slot from a live one.

use std::sync::Arc;

use hashbrown::HashTable;

use crate::flow::{FlowKey, FlowMask, FlowSpec};
use crate::odp::DpAction;
use crate::ofproto::rule::RuleStats;
use super::tags::Tag;
use crate::xlate::{MacLearn, XlateError};

pub struct Entry {
    /// The full datapath key of the packet that created the entry (revalidation
    /// re-translates it; dumps print it under the mask).
    pub key: FlowKey,
    pub subtable: u32,
    pub actions: Box<[DpAction]>,
    /// Index of the last `Output` in `actions` (outputs before it send a copy).
    pub last_output: Option<u16>,
    pub rules: Box<[Arc<RuleStats>]>,
    pub mac_learns: Box<[MacLearn]>,
    /// Tunnel next hops the actions use (their neighbour entries are refreshed).
    pub neighs: Box<[std::net::Ipv4Addr]>,
    pub learned: Box<[(usize, FlowSpec)]>,
    pub error: Option<XlateError>,
    /// What the translation consulted besides the snapshot (`XlateOut::deps`).
    pub deps: Box<[Tag]>,
    /// Epoch of the pipeline this entry was translated/revalidated against;
    /// `cache::STALE` once a change it depends on was published.
    pub epoch: u64,
    /// Counters not yet credited to `rules`.
    pub pending_packets: u64,
    pub pending_bytes: u64,
    /// Totals for dump-megaflows.
    pub packets: u64,
    pub bytes: u64,
    pub used_ns: u64,
    /// `packets` at the last refresh of learned state (MAC entries, learned flows).
    pub refreshed_at: u64,
}

impl Entry {
    /// Add the pending counters to the rules the entry was translated through.
    pub fn credit(&mut self) {
        if self.pending_packets == 0 {
            return;
        }
        for r in self.rules.iter() {
            r.credit(self.pending_packets, self.pending_bytes, self.used_ns);
        }
        self.pending_packets = 0;
        self.pending_bytes = 0;
    }
}

struct Subtable {
    mask: FlowMask,
    words: Box<[u8]>,
    table: HashTable<u32>,
    hits: u64,
}

pub struct MegaflowCache {
    slots: Vec<Option<Entry>>,
    versions: Vec<u32>,
    free: Vec<u32>,
    subtables: Vec<Subtable>,
    /// Subtable lookup order (most hit first), re-ranked by `rank()`.
    order: Vec<u32>,
    len: usize,
    max_entries: usize,
    /// Clock hand for eviction when full.
    hand: usize,
}

impl MegaflowCache {
    pub fn new(max_entries: usize) -> MegaflowCache {
        MegaflowCache {
            slots: Vec::new(),
            versions: Vec::new(),
            free: Vec::new(),
            subtables: Vec::new(),
            order: Vec::new(),
            len: 0,
            max_entries: max_entries.max(1),
            hand: 0,
        }
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    pub fn n_subtables(&self) -> usize {
        self.subtables.len()
    }

    #[inline]
    pub fn version(&self, idx: u32) -> u32 {
        self.versions[idx as usize]
    }

    #[inline]
    pub fn get(&self, idx: u32) -> Option<&Entry> {
        self.slots.get(idx as usize).and_then(|e| e.as_ref())
    }

    #[inline]
    pub fn get_mut(&mut self, idx: u32) -> Option<&mut Entry> {
        self.slots.get_mut(idx as usize).and_then(|e| e.as_mut())
    }

    pub fn mask_of(&self, idx: u32) -> Option<&FlowMask> {
        self.get(idx).map(|e| &self.subtables[e.subtable as usize].mask)
    }

    /// Find an entry matching `key`. Returns (index, subtables probed).
    #[inline]
    pub fn lookup(&mut self, key: &FlowKey) -> (Option<u32>, u32) {
        let mut probes = 0;
        for &si in &self.order {
            let st = &mut self.subtables[si as usize];
            probes += 1;
            let h = key.hash_masked_words(&st.mask, &st.words);
            let slots = &self.slots;
            let mask = &st.mask;
            if let Some(&idx) = st.table.find(h, |&i| {
                slots[i as usize].as_ref().is_some_and(|e| e.key.eq_masked(key, mask))
            }) {
                st.hits += 1;
                return (Some(idx), probes);
            }
        }
        (None, probes)
    }

    fn subtable_for(&mut self, mask: &FlowMask) -> u32 {
        if let Some(i) = self.subtables.iter().position(|s| s.mask == *mask) {
            return i as u32;
        }
        self.subtables.push(Subtable {
            mask: *mask,
            words: mask.nonzero_words().into_boxed_slice(),
            table: HashTable::new(),
            hits: 0,
        });
        let i = (self.subtables.len() - 1) as u32;
        self.order.push(i);
        i
    }

    /// Insert an entry for `key` under `mask`, replacing one with the same masked key.
    /// When the cache is full, the least recently examined entry is evicted first.
    /// Returns the new entry's index.
    pub fn insert(&mut self, mask: &FlowMask, mut e: Entry) -> u32 {
        // Same masked key already present (e.g. installed by a revalidation): replace.
        if let Some(si) = self.subtables.iter().position(|s| s.mask == *mask) {
            let st = &self.subtables[si];
            let h = e.key.hash_masked_words(&st.mask, &st.words);
            let slots = &self.slots;
            let existing = st
                .table
                .find(h, |&i| slots[i as usize].as_ref().is_some_and(|x| x.key.eq_masked(&e.key, &st.mask)))
                .copied();
            if let Some(old) = existing {
                self.remove(old);
            }
        }
        if self.len >= self.max_entries {
            self.evict_one();
        }
        // Removals above may have dropped or renumbered subtables: look it up now.
        let si = self.subtable_for(mask);
        let h = {
            let st = &self.subtables[si as usize];
            e.key.hash_masked_words(&st.mask, &st.words)
        };
        e.subtable = si;
        let idx = match self.free.pop() {
            Some(i) => i,
            None => {
                self.slots.push(None);
                self.versions.push(0);
                (self.slots.len() - 1) as u32
            }
        };
        self.slots[idx as usize] = Some(e);
        self.len += 1;
        let slots = &self.slots;
        let st = &mut self.subtables[si as usize];
        let (mask, words) = (st.mask, st.words.clone());
        st.table.insert_unique(h, idx, |&i| slots[i as usize].as_ref().unwrap().key.hash_masked_words(&mask, &words));
        idx
    }

    /// Remove an entry (its pending counters are credited first). Returns it.
    pub fn remove(&mut self, idx: u32) -> Option<Entry> {
        let mut e = self.slots.get_mut(idx as usize)?.take()?;
        e.credit();
        let si = e.subtable as usize;
        let st = &mut self.subtables[si];
        let h = e.key.hash_masked_words(&st.mask, &st.words);
        if let Ok(ent) = st.table.find_entry(h, |&i| i == idx) {
            ent.remove();
        }
        self.versions[idx as usize] = self.versions[idx as usize].wrapping_add(1);
        self.free.push(idx);
        self.len -= 1;
        if self.subtables[si].table.is_empty() {
            self.drop_subtable(si);
        }
        Some(e)
    }

    fn drop_subtable(&mut self, si: usize) {
        let last = self.subtables.len() - 1;
        self.subtables.swap_remove(si);
        self.order.retain(|&o| o as usize != si);
        if si != last {
            // The last subtable moved into `si`: fix references to it.
            for o in self.order.iter_mut() {
                if *o as usize == last {
                    *o = si as u32;
                }
            }
            for e in self.slots.iter_mut().flatten() {
                if e.subtable as usize == last {
                    e.subtable = si as u32;
                }
            }
        }
    }

    fn evict_one(&mut self) {
        let n = self.slots.len();
        for _ in 0..n {
            self.hand = (self.hand + 1) % n;
            if self.slots[self.hand].is_some() {
                let victim = self.hand as u32;
                self.remove(victim);
                return;
            }
        }
    }

    /// Remove every entry (crediting counters).
    pub fn flush(&mut self) {
        for i in 0..self.slots.len() {
            if self.slots[i].is_some() {
                self.remove(i as u32);
            }
        }
    }

    /// Re-rank subtables by hits since the last call (most hit first), like OVS's
    /// periodic dpcls optimisation.
    pub fn rank(&mut self) {
        let subtables = &self.subtables;
        self.order.sort_by(|a, b| subtables[*b as usize].hits.cmp(&subtables[*a as usize].hits));
        for s in self.subtables.iter_mut() {
            s.hits = 0;
        }
    }

    /// Indices of live entries.
    pub fn indices(&self) -> Vec<u32> {
        self.slots.iter().enumerate().filter(|(_, e)| e.is_some()).map(|(i, _)| i as u32).collect()
    }

    pub fn entries_mut(&mut self) -> impl Iterator<Item = &mut Entry> {
        self.slots.iter_mut().flatten()
    }
}
