//! A worker's flow cache: exact-match cache in front of the megaflow cache, in front
//! of translation (the slow path).
//!
//! Revalidation is lazy and exact: every entry remembers the epoch it was translated
//! at. When the epoch moved (flow-mod, port change, MAC table change), the first
//! packet to hit the entry re-translates the entry's original key against the current
//! pipeline. If the actions are the same and the new mask needs no bit the old one did
//! not have, the entry stays (translation is a function of the masked bits only, so it
//! still holds for every packet it covers); otherwise it is removed and the packet
//! takes the miss path. A flow-mod therefore takes effect on the very next batch, and
//! no other thread ever touches a worker's cache.

pub mod emc;
pub mod megaflow;

use crate::flow::FlowKey;
use crate::ofproto::pipeline::Pipeline;
use crate::xlate::{self, XlateOut};
use emc::Emc;
use megaflow::{Entry, MegaflowCache};

pub const DEFAULT_EMC_ENTRIES: usize = 8192;
pub const DEFAULT_MAX_MEGAFLOWS: usize = 200_000;

/// Where a lookup was answered.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HitKind {
    /// The input port's in_port-only megaflow.
    Port,
    Emc,
    Megaflow,
}

#[derive(Default, Clone, Copy, Debug)]
pub struct CacheCounters {
    pub port_hits: u64,
    pub emc_hits: u64,
    pub megaflow_hits: u64,
    pub misses: u64,
    pub subtable_probes: u64,
    pub revalidated: u64,
    pub revalidation_removed: u64,
}

pub struct Cache {
    pub emc: Emc,
    pub mf: MegaflowCache,
    pub emc_enabled: bool,
    pub counters: CacheCounters,
    /// Per datapath input port: a megaflow whose mask is the input port alone (e.g.
    /// `in_port=1,actions=output:2`). Such an entry matches every packet from that
    /// port, so packets from it need no hashing or table probe at all (the idea of
    /// Open vSwitch's "simple match"). Held with the slot version, like the EMC.
    port_catchall: Vec<Option<(u32, u32)>>,
    /// A megaflow hit enters the EMC with probability 1/N (Open vSwitch's
    /// `emc-insert-inv-prob`, default 100; 1 = always). With more flows than EMC
    /// entries, inserting on every hit evicts constantly and costs more than it saves;
    /// a flow that stays busy gets in after ~N packets.
    pub emc_insert_inv_prob: u32,
    rng: crate::rng::Rng,
}

/// Default of [`Cache::emc_insert_inv_prob`].
pub const DEFAULT_EMC_INSERT_INV_PROB: u32 = 100;

impl Cache {
    pub fn new(emc_entries: usize, max_megaflows: usize) -> Cache {
        Cache {
            emc: Emc::new(emc_entries),
            mf: MegaflowCache::new(max_megaflows),
            emc_enabled: emc_entries > 0,
            counters: CacheCounters::default(),
            port_catchall: Vec::new(),
            emc_insert_inv_prob: DEFAULT_EMC_INSERT_INV_PROB,
            rng: crate::rng::Rng::new(0),
        }
    }

    /// Whether this megaflow hit goes into the EMC (see `emc_insert_inv_prob`).
    #[inline]
    fn emc_insert_now(&mut self) -> bool {
        if self.emc_insert_inv_prob <= 1 {
            return true;
        }
        // A coin, not a counter: no pattern in the traffic can line up with it.
        self.rng.below(self.emc_insert_inv_prob as u64) == 0
    }

    /// A live in_port-only megaflow for packets from `in_port`, if any.
    #[inline]
    fn catchall(&self, in_port: u32) -> Option<u32> {
        let (idx, ver) = (*self.port_catchall.get(in_port as usize)?)?;
        (self.mf.version(idx) == ver && self.mf.get(idx).is_some()).then_some(idx)
    }

    fn note_catchall(&mut self, key: &FlowKey, mask: &crate::flow::FlowMask, idx: u32) {
        let only_meta = mask.w[1..].iter().all(|&w| w == 0) && key.recirc_id() == 0;
        let p = key.in_port() as usize;
        if only_meta && p < 4096 {
            if self.port_catchall.len() <= p {
                self.port_catchall.resize(p + 1, None);
            }
            self.port_catchall[p] = Some((idx, self.mf.version(idx)));
        }
    }

    /// Look `key` up. Stale entries are revalidated against `p` (current at `epoch`).
    /// None means: take the slow path (`upcall`).
    #[inline]
    pub fn lookup(&mut self, key: &FlowKey, p: &Pipeline, epoch: u64) -> Option<(u32, HitKind)> {
        let mut kind = HitKind::Megaflow;
        let mut idx = self.catchall(key.in_port());
        let mut hash = 0;
        if idx.is_some() {
            kind = HitKind::Port;
        } else if self.emc_enabled {
            hash = key.hash_dp();
            if let Some((i, ver)) = self.emc.lookup(key, hash) {
                if self.mf.version(i) == ver && self.mf.get(i).is_some() {
                    idx = Some(i);
                    kind = HitKind::Emc;
                }
            }
        }
        if idx.is_none() {
            let (found, probes) = self.mf.lookup(key);
            self.counters.subtable_probes += probes as u64;
            if let Some(i) = found {
                if self.emc_enabled && self.emc_insert_now() {
                    let ver = self.mf.version(i);
                    self.emc.insert(key, hash, i, ver);
                }
                idx = Some(i);
            }
        }
        let i = idx?;
        if self.mf.get(i).map(|e| e.epoch) != Some(epoch) && !self.revalidate(i, p, epoch) {
            return None;
        }
        match kind {
            HitKind::Port => self.counters.port_hits += 1,
            HitKind::Emc => self.counters.emc_hits += 1,
            HitKind::Megaflow => self.counters.megaflow_hits += 1,
        }
        Some((i, kind))
    }

    /// Re-translate entry `i`'s key. Keeps it (returns true) when the result still
    /// holds for every packet the entry covers; removes it otherwise.
    fn revalidate(&mut self, i: u32, p: &Pipeline, epoch: u64) -> bool {
        self.counters.revalidated += 1;
        let Some(e) = self.mf.get(i) else { return false };
        let key = e.key;
        let out = xlate::translate(p, &key);
        let old_mask = *self.mf.mask_of(i).unwrap();
        let e = self.mf.get_mut(i).unwrap();
        if out.error == e.error && *out.actions == *e.actions && out.mask.is_subset_of(&old_mask) {
            e.credit();
            e.rules = out.rules.into_boxed_slice();
            e.mac_learns = out.mac_learns.into_boxed_slice();
            e.learned = out.learned.into_boxed_slice();
            e.epoch = epoch;
            true
        } else {
            self.counters.revalidation_removed += 1;
            self.mf.remove(i);
            false
        }
    }

    /// The slow path: translate `key`, install the result as a megaflow, return its
    /// index and the translation (for its side effects: learned flows, errors).
    pub fn upcall(&mut self, key: &FlowKey, p: &Pipeline, epoch: u64) -> (u32, XlateOut) {
        self.counters.misses += 1;
        let mut out = xlate::translate(p, key);
        let last_output = out.actions.iter().rposition(|a| a.is_output()).map(|x| x as u16);
        let e = Entry {
            key: *key,
            subtable: 0,
            actions: out.actions.clone().into_boxed_slice(),
            last_output,
            taps: out.actions.iter().any(|a| matches!(a, crate::odp::DpAction::Tap { .. })),
            rules: std::mem::take(&mut out.rules).into_boxed_slice(),
            mac_learns: out.mac_learns.clone().into_boxed_slice(),
            learned: out.learned.clone().into_boxed_slice(),
            error: out.error,
            epoch,
            pending_packets: 0,
            pending_bytes: 0,
            packets: 0,
            bytes: 0,
            used_ns: crate::clock::now_ns(),
            refreshed_at: 0,
        };
        let idx = self.mf.insert(&out.mask, e);
        self.note_catchall(key, &out.mask, idx);
        if self.emc_enabled && self.emc_insert_now() {
            let ver = self.mf.version(idx);
            self.emc.insert(key, key.hash_dp(), idx, ver);
        }
        (idx, out)
    }

    /// Credit every entry's pending counters to its rules (stats sync for dump-flows).
    pub fn credit_all(&mut self) {
        for e in self.mf.entries_mut() {
            e.credit();
        }
    }

    /// Remove entries idle for longer than `max_idle_ns`. Returns how many.
    pub fn expire_idle(&mut self, now: u64, max_idle_ns: u64) -> usize {
        let victims: Vec<u32> = self
            .mf
            .indices()
            .into_iter()
            .filter(|&i| {
                let e = self.mf.get(i).unwrap();
                // The worker stamps `used_ns` when it installs an entry, so a fresh
                // entry ages from its creation.
                now.saturating_sub(e.used_ns) > max_idle_ns
            })
            .collect();
        for &i in &victims {
            self.mf.remove(i);
        }
        victims.len()
    }

    pub fn flush(&mut self) {
        self.mf.flush();
        self.emc.clear();
    }
}
