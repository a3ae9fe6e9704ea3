//! A worker's flow cache: exact-match cache in front of the megaflow cache, in front
//! of translation (the slow path).
//!
//! Revalidation is lazy and exact: every entry remembers the epoch it was translated
//! at. When that no longer holds, the first packet to hit the entry re-translates the
//! entry's original key against the current pipeline. If the actions are the same and
//! the new mask needs no bit the old one did not have, the entry stays (translation is
//! a function of the masked bits only, so it still holds for every packet it covers);
//! otherwise it is removed and the packet takes the miss path. No other thread ever
//! touches a worker's cache.
//!
//! What makes an entry stale:
//! - a new pipeline snapshot (flow-mod, port change): the datapath-wide epoch moves
//!   and every entry is stale, as in Open vSwitch;
//! - a change of state that lives under the snapshots (a MAC learned, moved, aged out,
//!   flushed): targeted. The entry keeps the tags its translation consulted
//!   (`Entry::deps`, see `tags`); the worker reads the changed tags from the change log
//!   once per poll-loop iteration (`poll_changes`) and marks only the entries that
//!   depend on one of them (`epoch = STALE`).
//!
//! Finding those entries: a per-worker index tag -> [(slot, slot version)], not a scan.
//! A scan over 200,000 megaflows (each a few cache lines apart) costs milliseconds per
//! change, paid by every worker for every MAC learned; the index costs a hash lookup
//! plus the affected entries (the `revalidation` group of bench/benches/fastpath.rs
//! measures both: applying one changed MAC took ~0.8 us with 10,000 megaflows and
//! ~1.2 us with 200,000 through the index, against ~57 us and ~2.8 ms for a scan of
//! the entries' dependencies, on a 2-core VM). The index is lazy: removing a megaflow does not touch it (a reference
//! whose slot version moved is skipped), a fired tag's list is dropped (the marked
//! entries register again when they are revalidated), and it is rebuilt from the live
//! entries when its references pass twice what the last rebuild found.

pub mod emc;
pub mod megaflow;
pub mod tags;
#[cfg(test)]
mod targeted_tests;

use ahash::AHashMap as HashMap;

use crate::flow::FlowKey;
use crate::ofproto::pipeline::Pipeline;
use crate::pmd::tsc;
use crate::xlate::{self, XlateOut};
use emc::Emc;
use megaflow::{Entry, MegaflowCache};
use tags::{ChangeLog, Tag};

/// `Entry::epoch` of an entry marked by targeted revalidation (epochs start at 1).
pub const STALE: u64 = 0;

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
    /// Re-translations of stale entries (any reason).
    pub revalidated: u64,
    /// Stale entries whose re-translation no longer held: removed.
    pub revalidation_removed: u64,
    /// Entries marked stale by a changed tag (targeted revalidation).
    pub reval_marked: u64,
    /// Changed tags read from the change log.
    pub reval_tags: u64,
    /// Times every entry was made stale: a new snapshot (epoch), a whole MAC table
    /// flushed, or a change-log overrun.
    pub reval_full: u64,
    /// Of those, change-log overruns (this cache fell more than the log behind).
    pub reval_overruns: u64,
    /// Time-stamp-counter ticks (`pmd::tsc`) spent marking and re-translating.
    pub reval_ticks: u64,
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
    /// Change-log sequence applied so far.
    log_seen: u64,
    /// Tag -> entries (slot, slot version) whose translation consulted it.
    deps_index: HashMap<Tag, Vec<(u32, u32)>>,
    /// References in `deps_index`, and how many the last rebuild kept.
    index_refs: usize,
    index_baseline: usize,
    tag_scratch: Vec<Tag>,
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
            log_seen: 0,
            deps_index: HashMap::new(),
            index_refs: 0,
            index_baseline: 0,
            tag_scratch: Vec::new(),
        }
    }

    /// Start following `log` from now on (changes already in it are not applied).
    pub fn follow(&mut self, log: &ChangeLog) {
        self.log_seen = log.seq();
    }

    /// Apply the changes published since the last call: one atomic load when there
    /// are none. Call between batches, before translating anything of the next one.
    #[inline]
    pub fn poll_changes(&mut self, log: &ChangeLog) {
        if log.seq() != self.log_seen {
            self.apply_log(log);
        }
    }

    #[cold]
    #[inline(never)]
    fn apply_log(&mut self, log: &ChangeLog) {
        let t0 = tsc::now();
        let mut tags = std::mem::take(&mut self.tag_scratch);
        tags.clear();
        match log.read(self.log_seen, &mut tags) {
            Ok(seq) => {
                self.log_seen = seq;
                self.counters.reval_tags += tags.len() as u64;
                self.mark_tags(&tags);
            }
            Err((_, seq)) => {
                self.log_seen = seq;
                self.counters.reval_overruns += 1;
                self.mark_all();
            }
        }
        self.tag_scratch = tags;
        self.counters.reval_ticks += tsc::now().wrapping_sub(t0);
    }

    /// Mark stale every entry that depends on one of `tags` (`Tag::ANY`: all).
    /// Returns how many were marked.
    pub fn mark_tags(&mut self, tags: &[Tag]) -> usize {
        if tags.contains(&Tag::ANY) {
            return self.mark_all();
        }
        let mut n = 0;
        for &t in tags {
            // Entries that depend on everything (too many deps) go with any tag.
            for key in [t, Tag::ANY] {
                let Some(refs) = self.deps_index.remove(&key) else { continue };
                self.index_refs -= refs.len();
                for (idx, ver) in refs {
                    if self.mf.version(idx) != ver {
                        continue;
                    }
                    if let Some(e) = self.mf.get_mut(idx) {
                        if e.epoch != STALE {
                            e.epoch = STALE;
                            n += 1;
                        }
                    }
                }
            }
        }
        self.counters.reval_marked += n as u64;
        n
    }

    /// Mark every entry stale (a full revalidation). Returns how many.
    pub fn mark_all(&mut self) -> usize {
        let mut n = 0;
        for e in self.mf.entries_mut() {
            e.epoch = STALE;
            n += 1;
        }
        // Every entry registers again when it is revalidated.
        self.deps_index.clear();
        self.index_refs = 0;
        self.index_baseline = 0;
        self.counters.reval_full += 1;
        n
    }

    /// The datapath epoch moved (a new snapshot): every entry is stale, lazily.
    pub fn note_new_epoch(&mut self) {
        self.counters.reval_full += 1;
    }

    /// Register entry `idx`'s dependencies in the index.
    fn index_deps(&mut self, idx: u32) {
        let ver = self.mf.version(idx);
        let Some(e) = self.mf.get(idx) else { return };
        for &t in e.deps.iter() {
            self.deps_index.entry(t).or_default().push((idx, ver));
        }
        self.index_refs += e.deps.len();
    }

    /// Rebuild the index from the live entries when removed entries and repeated
    /// registrations make up most of it (amortized: it at least doubled since).
    fn maybe_compact_index(&mut self) {
        if self.index_refs <= 2 * self.index_baseline + 4096 {
            return;
        }
        self.deps_index.clear();
        self.index_refs = 0;
        for idx in self.mf.indices() {
            if self.mf.get(idx).is_some_and(|e| e.epoch != STALE) {
                self.index_deps(idx);
            }
        }
        self.index_baseline = self.index_refs;
    }

    /// References held by the dependency index (for tests and dumps).
    pub fn index_refs(&self) -> usize {
        self.index_refs
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
    #[cold]
    #[inline(never)]
    fn revalidate(&mut self, i: u32, p: &Pipeline, epoch: u64) -> bool {
        let t0 = tsc::now();
        let kept = self.revalidate_inner(i, p, epoch);
        self.counters.reval_ticks += tsc::now().wrapping_sub(t0);
        kept
    }

    fn revalidate_inner(&mut self, i: u32, p: &Pipeline, epoch: u64) -> bool {
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
            e.neighs = out.neighs.into_boxed_slice();
            e.learned = out.learned.into_boxed_slice();
            e.deps = out.deps.into_boxed_slice();
            e.epoch = epoch;
            self.index_deps(i);
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
        let last_output = out.actions.iter().rposition(|a| a.consumes()).map(|x| x as u16);
        let e = Entry {
            key: *key,
            subtable: 0,
            actions: out.actions.clone().into_boxed_slice(),
            last_output,
            rules: std::mem::take(&mut out.rules).into_boxed_slice(),
            mac_learns: out.mac_learns.clone().into_boxed_slice(),
            neighs: out.neighs.clone().into_boxed_slice(),
            learned: out.learned.clone().into_boxed_slice(),
            error: out.error,
            deps: out.deps.clone().into_boxed_slice(),
            epoch,
            pending_packets: 0,
            pending_bytes: 0,
            packets: 0,
            bytes: 0,
            used_ns: crate::clock::now_ns(),
            refreshed_at: 0,
        };
        let idx = self.mf.insert(&out.mask, e);
        self.index_deps(idx);
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
                // entry ages from its creation. A drop for want of a tunnel's next
                // hop lives one round only: the next packet translates again, and that
                // asks for the neighbour again (at most once a second) while traffic
                // keeps coming, instead of dropping silently until it goes idle.
                now.saturating_sub(e.used_ns) > max_idle_ns || e.error == Some(crate::xlate::XlateError::TnlNeighMiss)
            })
            .collect();
        for &i in &victims {
            self.mf.remove(i);
        }
        self.maybe_compact_index();
        victims.len()
    }

    pub fn flush(&mut self) {
        self.mf.flush();
        self.emc.clear();
        self.deps_index.clear();
        self.index_refs = 0;
        self.index_baseline = 0;
    }
}
