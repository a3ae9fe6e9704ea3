//! A group: the rules whose masks are equal outside the prefix dimensions (one base
//! mask). Rules are bucketed by `key & base`; each bucket is a [`RuleSet`].
//!
//! Where the buckets live depends on the base mask:
//! - empty base (rules that match only prefix dimensions, or nothing): one bucket;
//! - base = `in_port` alone (and every port below [`PORT_ARRAY_MAX`]): an array
//!   indexed by `in_port`;
//! - otherwise a hash table on the base words, split into shards behind `Arc` once it
//!   is large, so that a flow-mod on a table shared with a snapshot copies one shard.
//!
//! Staged lookup: the base mask is cut into stages (metadata, L2, L3, L4). For every
//! stage but the last, the group keeps the set of hashes of its buckets' keys masked
//! up to that stage (a bitmap of ports when the stage is `in_port` alone). A lookup
//! checks the stages in order and stops at the first miss, un-wildcarding only the
//! stages examined. A stage is not checked when the next stage adds only bits that
//! are already un-wildcarded (its miss would not give a narrower mask).

use std::collections::BTreeMap;
use std::sync::Arc;

use hashbrown::HashTable;

use super::ruleset::RuleSet;
use super::{finish, mix, stage_masks, Ctx, Dims, Entry, HASH_SEED, N_DIMS};
use crate::flow::key::word;
use crate::flow::{FlowKey, FlowMask};

/// `in_port` arrays are used while every port matched is below this.
pub const PORT_ARRAY_MAX: usize = 4096;
/// A hash store is split into `SHARDS` shards above this many buckets.
const SHARD_AT: usize = 1024;
const SHARDS: usize = 64;
const IN_PORT_BITS: u64 = 0xffff;

#[derive(Clone, Debug)]
pub struct Bucket {
    hash: u64,
    /// The rules' key masked by the base.
    key: FlowKey,
    pub set: RuleSet,
}

#[derive(Clone, Debug)]
struct Stage {
    /// (word, bits) this stage adds to the previous ones.
    delta: Box<[(u8, u64)]>,
    /// The base mask up to and including this stage.
    cum: FlowMask,
    /// Non-final stages: hash of each bucket key masked by `cum` -> buckets.
    set: HashTable<(u64, u32)>,
    /// Non-final stage that is exactly `in_port`: bitmap of the ports present.
    ports: Option<Vec<u64>>,
}

#[derive(Clone, Debug)]
enum Store {
    Single(Option<Box<Bucket>>),
    Port(Vec<Option<Box<Bucket>>>),
    Hash { shards: Vec<Arc<HashTable<Bucket>>>, n: usize },
}

#[derive(Clone, Debug)]
pub struct Group {
    pub base: FlowMask,
    /// Words of `base` with any bit set.
    words: Box<[u8]>,
    stages: Box<[Stage]>,
    store: Store,
    /// Number of rules per priority.
    prios: BTreeMap<u16, u32>,
    pub max_prio: u16,
    pub n_rules: usize,
    /// Rules with a prefix in some dimension (while 0, lookups skip the dimensions).
    n_dim_rules: usize,
}

#[inline(always)]
fn shard_of(h: u64, n: usize) -> usize {
    // Bits that neither hashbrown's bucket index (low bits) nor its tag (top 7 bits)
    // use, so the shards stay well spread inside.
    ((h >> 40) as usize) & (n - 1)
}

fn in_port_only(m: &FlowMask) -> bool {
    m.w[word::META] == IN_PORT_BITS && m.w[1..].iter().all(|&w| w == 0)
}

impl Group {
    pub fn new(base: FlowMask) -> Group {
        let mut stages: Vec<Stage> = Vec::new();
        let mut cum = FlowKey::ZERO;
        for s in stage_masks() {
            let delta = base.and(&s);
            if delta.is_zero() {
                continue;
            }
            cum.or_assign(&delta);
            let pairs: Vec<(u8, u64)> = delta.nonzero_words().into_iter().map(|w| (w, delta.w[w as usize])).collect();
            stages.push(Stage { delta: pairs.into_boxed_slice(), cum, set: HashTable::new(), ports: None });
        }
        let n = stages.len();
        for st in stages.iter_mut().take(n.saturating_sub(1)) {
            if st.delta[..] == [(word::META as u8, IN_PORT_BITS)] {
                st.ports = Some(Vec::new());
            }
        }
        let store = if stages.is_empty() {
            Store::Single(None)
        } else if in_port_only(&base) {
            Store::Port(Vec::new())
        } else {
            Store::Hash { shards: vec![Arc::new(HashTable::new())], n: 0 }
        };
        Group {
            words: base.nonzero_words().into_boxed_slice(),
            base,
            stages: stages.into_boxed_slice(),
            store,
            prios: BTreeMap::new(),
            max_prio: 0,
            n_rules: 0,
            n_dim_rules: 0,
        }
    }

    /// Which structure holds the buckets (for tests and stats).
    pub fn kind(&self) -> &'static str {
        match self.store {
            Store::Single(_) => "single",
            Store::Port(_) => "port-array",
            Store::Hash { .. } => "hash",
        }
    }

    /// Stage hashes of a key already masked by the base: one per stage, the last one
    /// is the bucket hash.
    fn hashes(&self, k: &FlowKey) -> [u64; 4] {
        let mut out = [0u64; 4];
        let mut h = HASH_SEED;
        for (i, st) in self.stages.iter().enumerate() {
            for &(w, m) in st.delta.iter() {
                h = mix(h, k.w[w as usize] & m);
            }
            out[i] = finish(h);
        }
        out
    }

    fn bucket_exact(&self, key: &FlowKey) -> Option<&Bucket> {
        let k = key.and(&self.base);
        match &self.store {
            Store::Single(b) => b.as_deref(),
            Store::Port(v) => v.get((k.w[word::META] & IN_PORT_BITS) as usize)?.as_deref(),
            Store::Hash { shards, .. } => {
                let fh = self.hashes(&k)[self.stages.len() - 1];
                shards[shard_of(fh, shards.len())].find(fh, |b| b.hash == fh && b.key == k)
            }
        }
    }

    /// The rule with exactly this key (of a rule in this group), prefixes and priority.
    pub fn find(&self, key: &FlowKey, val: &Dims, plen: &[u8; N_DIMS], prio: u16) -> Option<&Entry> {
        self.bucket_exact(key)?.set.find(val, plen, prio)
    }

    /// Insert a rule whose match key is `key`; returns the entry it replaced.
    pub fn insert(&mut self, key: &FlowKey, e: Entry) -> Option<Entry> {
        let prio = e.prio;
        let dims = e.plen.iter().any(|&n| n > 0);
        let k = key.and(&self.base);
        if let Store::Port(v) = &self.store {
            if (k.w[word::META] & IN_PORT_BITS) as usize >= PORT_ARRAY_MAX {
                let buckets: Vec<Box<Bucket>> = v.iter().flatten().cloned().collect();
                self.store = Store::Hash { shards: vec![Arc::new(HashTable::new())], n: 0 };
                for b in buckets {
                    let fh = self.hashes(&b.key)[self.stages.len() - 1];
                    self.put_bucket(Bucket { hash: fh, ..*b });
                }
            }
        }
        let hs = self.hashes(&k);
        let last = self.stages.len().saturating_sub(1);
        let fh = hs[last];
        let mut new_bucket = false;
        let r = match &mut self.store {
            Store::Single(slot) => insert_in_slot(slot, fh, k, e),
            Store::Port(v) => {
                let p = (k.w[word::META] & IN_PORT_BITS) as usize;
                if v.len() <= p {
                    v.resize_with(p + 1, || None);
                }
                insert_in_slot(&mut v[p], fh, k, e)
            }
            Store::Hash { shards, .. } => {
                let n = shards.len();
                let t = Arc::make_mut(&mut shards[shard_of(fh, n)]);
                if let Some(b) = t.find_mut(fh, |b| b.hash == fh && b.key == k) {
                    b.set.insert(e)
                } else {
                    new_bucket = true;
                    t.insert_unique(fh, Bucket { hash: fh, key: k, set: RuleSet::new(e) }, |b| b.hash);
                    None
                }
            }
        };
        if new_bucket {
            if let Store::Hash { n, .. } = &mut self.store {
                *n += 1;
            }
            let in_port = (k.w[word::META] & IN_PORT_BITS) as usize;
            for (i, st) in self.stages.iter_mut().enumerate().take(last) {
                let h = hs[i];
                match st.set.find_mut(h, |x| x.0 == h) {
                    Some(x) => x.1 += 1,
                    None => {
                        st.set.insert_unique(h, (h, 1), |x| x.0);
                        if let Some(bits) = &mut st.ports {
                            if bits.len() <= in_port / 64 {
                                bits.resize(in_port / 64 + 1, 0);
                            }
                            bits[in_port / 64] |= 1 << (in_port % 64);
                        }
                    }
                }
            }
            self.maybe_shard();
        }
        match &r {
            None => {
                *self.prios.entry(prio).or_insert(0) += 1;
                self.max_prio = self.max_prio.max(prio);
                self.n_rules += 1;
            }
            Some(old) => self.n_dim_rules -= old.plen.iter().any(|&n| n > 0) as usize,
        }
        self.n_dim_rules += dims as usize;
        r
    }

    fn put_bucket(&mut self, b: Bucket) {
        if let Store::Hash { shards, n } = &mut self.store {
            let s = shard_of(b.hash, shards.len());
            Arc::make_mut(&mut shards[s]).insert_unique(b.hash, b, |b| b.hash);
            *n += 1;
        }
    }

    fn maybe_shard(&mut self) {
        let Store::Hash { shards, n } = &mut self.store else { return };
        if shards.len() >= SHARDS || *n <= SHARD_AT {
            return;
        }
        let old = std::mem::take(shards);
        *shards = (0..SHARDS).map(|_| Arc::new(HashTable::new())).collect();
        for sh in old {
            for b in Arc::unwrap_or_clone(sh) {
                let s = shard_of(b.hash, SHARDS);
                Arc::get_mut(&mut shards[s]).unwrap().insert_unique(b.hash, b, |b| b.hash);
            }
        }
    }

    /// Remove the rule with this key, prefixes and priority (if present).
    pub fn remove(&mut self, key: &FlowKey, val: &Dims, plen: &[u8; N_DIMS], prio: u16) -> Option<Entry> {
        // Look first, so that a miss copies nothing shared with a snapshot.
        self.find(key, val, plen, prio)?;
        let k = key.and(&self.base);
        let hs = self.hashes(&k);
        let last = self.stages.len().saturating_sub(1);
        let fh = hs[last];
        let mut gone = false;
        let r = match &mut self.store {
            Store::Single(slot) => remove_in_slot(slot, val, plen, prio),
            Store::Port(v) => remove_in_slot(&mut v[(k.w[word::META] & IN_PORT_BITS) as usize], val, plen, prio),
            Store::Hash { shards, n } => {
                let ns = shards.len();
                let t = Arc::make_mut(&mut shards[shard_of(fh, ns)]);
                let mut ent = t.find_entry(fh, |b| b.hash == fh && b.key == k).ok()?;
                let r = ent.get_mut().set.remove(val, plen, prio);
                if ent.get().set.is_empty() {
                    ent.remove();
                    *n -= 1;
                    gone = true;
                }
                r
            }
        }?;
        if gone {
            let in_port = (k.w[word::META] & IN_PORT_BITS) as usize;
            for (i, st) in self.stages.iter_mut().enumerate().take(last) {
                let h = hs[i];
                if let Ok(mut x) = st.set.find_entry(h, |x| x.0 == h) {
                    x.get_mut().1 -= 1;
                    if x.get().1 == 0 {
                        x.remove();
                        if let Some(bits) = &mut st.ports {
                            bits[in_port / 64] &= !(1 << (in_port % 64));
                        }
                    }
                }
            }
        }
        if let Some(c) = self.prios.get_mut(&prio) {
            *c -= 1;
            if *c == 0 {
                self.prios.remove(&prio);
            }
        }
        self.max_prio = self.prios.keys().next_back().copied().unwrap_or(0);
        self.n_rules -= 1;
        self.n_dim_rules -= r.plen.iter().any(|&n| n > 0) as usize;
        Some(r)
    }

    /// The bucket `flow` falls in, if any, going through the stages; un-wildcards
    /// in `wc` the stages examined.
    #[inline]
    fn lookup_bucket(&self, flow: &FlowKey, wc: &mut FlowMask) -> Option<&Bucket> {
        match &self.store {
            Store::Single(b) => b.as_deref(),
            Store::Port(v) => {
                wc.w[word::META] |= IN_PORT_BITS;
                v.get((flow.w[word::META] & IN_PORT_BITS) as usize)?.as_deref()
            }
            Store::Hash { shards, .. } => {
                let last = self.stages.len() - 1;
                let mut h = HASH_SEED;
                for i in 0..last {
                    let st = &self.stages[i];
                    for &(w, m) in st.delta.iter() {
                        h = mix(h, flow.w[w as usize] & m);
                    }
                    let next = &self.stages[i + 1];
                    if next.delta.iter().all(|&(w, m)| m & !wc.w[w as usize] == 0) {
                        // A miss here would un-wildcard nothing less than a miss at
                        // the next stage.
                        continue;
                    }
                    let hit = match &st.ports {
                        Some(bits) => {
                            let p = (flow.w[word::META] & IN_PORT_BITS) as usize;
                            bits.get(p / 64).is_some_and(|b| (b >> (p % 64)) & 1 != 0)
                        }
                        None => {
                            let sh = finish(h);
                            st.set.find(sh, |x| x.0 == sh).is_some()
                        }
                    };
                    if !hit {
                        wc.or_assign(&st.cum);
                        return None;
                    }
                }
                for &(w, m) in self.stages[last].delta.iter() {
                    h = mix(h, flow.w[w as usize] & m);
                }
                let fh = finish(h);
                for &w in self.words.iter() {
                    wc.w[w as usize] |= self.base.w[w as usize];
                }
                let base = &self.base;
                let words = &self.words;
                shards[shard_of(fh, shards.len())].find(fh, |b| {
                    b.hash == fh
                        && words.iter().all(|&w| b.key.w[w as usize] == flow.w[w as usize] & base.w[w as usize])
                })
            }
        }
    }

    /// The best rule of this group for `flow` with priority above `thr`.
    #[inline]
    pub fn search(
        &self,
        flow: &FlowKey,
        wc: &mut FlowMask,
        ctx: &mut Ctx,
        thr: Option<u16>,
        skip_conj: bool,
    ) -> Option<&Entry> {
        let b = self.lookup_bucket(flow, wc)?;
        if self.n_dim_rules > 0 {
            ctx.prepare(flow, wc);
        }
        b.set.search(ctx, thr, skip_conj)
    }

    /// Every rule of this group matching `flow` with priority above `thr`.
    pub fn collect<'a>(
        &'a self,
        flow: &FlowKey,
        wc: &mut FlowMask,
        ctx: &mut Ctx,
        thr: Option<u16>,
        only_conj: bool,
        out: &mut Vec<&'a Entry>,
    ) {
        if let Some(b) = self.lookup_bucket(flow, wc) {
            if self.n_dim_rules > 0 {
                ctx.prepare(flow, wc);
            }
            b.set.collect(ctx, thr, only_conj, out);
        }
    }

    pub fn entries(&self) -> Vec<&Entry> {
        let mut out = Vec::with_capacity(self.n_rules);
        match &self.store {
            Store::Single(b) => {
                for b in b.iter() {
                    out.extend(b.set.entries());
                }
            }
            Store::Port(v) => {
                for b in v.iter().flatten() {
                    out.extend(b.set.entries());
                }
            }
            Store::Hash { shards, .. } => {
                for b in shards.iter().flat_map(|sh| sh.iter()) {
                    out.extend(b.set.entries());
                }
            }
        }
        out
    }
}

fn insert_in_slot(slot: &mut Option<Box<Bucket>>, fh: u64, k: FlowKey, e: Entry) -> Option<Entry> {
    match slot {
        Some(b) => b.set.insert(e),
        None => {
            *slot = Some(Box::new(Bucket { hash: fh, key: k, set: RuleSet::new(e) }));
            None
        }
    }
}

fn remove_in_slot(slot: &mut Option<Box<Bucket>>, val: &Dims, plen: &[u8; N_DIMS], prio: u16) -> Option<Entry> {
    let b = slot.as_mut()?;
    let r = b.set.remove(val, plen, prio);
    if b.set.is_empty() {
        *slot = None;
    }
    r
}
