//! The OpenFlow table classifier: tuple-space search with priority sorting.
//!
//! Rules are grouped into subtables by mask; a subtable is a hash table keyed by
//! `key & mask`. Lookup visits subtables in descending order of the highest priority
//! they hold and stops as soon as the best match found so far outranks every rule in
//! the remaining subtables. Every subtable visited contributes its mask to the
//! megaflow wildcards (`wc`): the lookup's result depends on exactly those bits.
//!
//! The classifier is an immutable value inside a pipeline snapshot; a flow-mod works on
//! a clone. Subtables are behind `Arc`, so a clone shares all of them and a change
//! copies only the subtable it touches.

use std::sync::Arc;

use hashbrown::HashTable;

use super::rule::Rule;
use crate::flow::{FlowKey, FlowMask, Match};

#[derive(Clone, Debug)]
struct Bucket {
    hash: u64,
    key: FlowKey,
    /// Sorted by priority (descending), then by rule id (oldest first).
    rules: Vec<Arc<Rule>>,
}

#[derive(Clone, Debug)]
struct Subtable {
    mask: FlowMask,
    /// Words of `mask` that have any bit set: the only words hashed and compared.
    words: Box<[u8]>,
    max_priority: u16,
    n_rules: usize,
    buckets: HashTable<Bucket>,
}

impl Subtable {
    fn new(mask: FlowMask) -> Subtable {
        Subtable {
            words: mask.nonzero_words().into_boxed_slice(),
            mask,
            max_priority: 0,
            n_rules: 0,
            buckets: HashTable::new(),
        }
    }

    #[inline]
    fn hash(&self, k: &FlowKey) -> u64 {
        k.hash_masked_words(&self.mask, &self.words)
    }

    #[inline]
    fn find(&self, k: &FlowKey) -> Option<&Bucket> {
        let h = self.hash(k);
        let mask = &self.mask;
        self.buckets.find(h, |b| b.hash == h && b.key.eq_masked(k, mask))
    }

    fn recompute_max_priority(&mut self) {
        self.max_priority = self.buckets.iter().map(|b| b.rules[0].priority).max().unwrap_or(0);
    }
}

/// Outcome of inserting a rule.
pub enum Inserted {
    New,
    /// A rule with the same match and priority was replaced (returned).
    Replaced(Arc<Rule>),
}

#[derive(Clone, Debug, Default)]
pub struct Classifier {
    /// Sorted by `max_priority`, descending.
    subtables: Vec<Arc<Subtable>>,
    n_rules: usize,
    /// Rules whose actions are `conjunction(...)` clauses. While there are none, a
    /// lookup is the plain highest-priority match.
    n_conj: usize,
}

/// The `conjunction(id, k/n)` memberships of a rule (empty for ordinary rules).
fn conj_clauses(r: &Rule) -> impl Iterator<Item = (u32, u8, u8)> + '_ {
    r.actions.iter().filter_map(|a| match a {
        crate::flow::Action::Conjunction { id, clause, n_clauses } => Some((*id, *clause, *n_clauses)),
        _ => None,
    })
}

fn is_conj(r: &Rule) -> bool {
    conj_clauses(r).next().is_some()
}

fn rule_order(a: &Arc<Rule>, b: &Arc<Rule>) -> std::cmp::Ordering {
    b.priority.cmp(&a.priority).then(a.id.cmp(&b.id))
}

impl Classifier {
    pub fn new() -> Classifier {
        Classifier::default()
    }

    pub fn len(&self) -> usize {
        self.n_rules
    }

    pub fn is_empty(&self) -> bool {
        self.n_rules == 0
    }

    pub fn n_subtables(&self) -> usize {
        self.subtables.len()
    }

    fn sort_subtables(&mut self) {
        self.subtables.sort_by_key(|s| std::cmp::Reverse(s.max_priority));
    }

    /// Insert `rule`; a rule with an identical match and priority is replaced.
    pub fn insert(&mut self, rule: Arc<Rule>) -> Inserted {
        let mask = rule.m.mask;
        let new_conj = is_conj(&rule) as usize;
        let idx = match self.subtables.iter().position(|s| s.mask == mask) {
            Some(i) => i,
            None => {
                self.subtables.push(Arc::new(Subtable::new(mask)));
                self.subtables.len() - 1
            }
        };
        let st = Arc::make_mut(&mut self.subtables[idx]);
        let key = rule.m.key;
        let h = st.hash(&key);
        let prio = rule.priority;
        let mut out = Inserted::New;
        match st.buckets.find_mut(h, |b| b.hash == h && b.key == key) {
            Some(b) => {
                if let Some(pos) = b.rules.iter().position(|r| r.priority == prio) {
                    out = Inserted::Replaced(std::mem::replace(&mut b.rules[pos], rule));
                } else {
                    b.rules.push(rule);
                    b.rules.sort_by(rule_order);
                }
            }
            None => {
                st.buckets.insert_unique(h, Bucket { hash: h, key, rules: vec![rule] }, |b| b.hash);
            }
        }
        if matches!(out, Inserted::New) {
            st.n_rules += 1;
            self.n_rules += 1;
        }
        if prio > st.max_priority || st.n_rules == 1 {
            st.max_priority = st.max_priority.max(prio);
        }
        self.n_conj += new_conj;
        if let Inserted::Replaced(old) = &out {
            self.n_conj -= is_conj(old) as usize;
        }
        self.sort_subtables();
        out
    }

    /// Remove the rule with exactly this match and priority.
    pub fn remove(&mut self, m: &Match, priority: u16) -> Option<Arc<Rule>> {
        let idx = self.subtables.iter().position(|s| s.mask == m.mask)?;
        let st = Arc::make_mut(&mut self.subtables[idx]);
        let h = st.hash(&m.key);
        let key = m.key;
        let removed = {
            let mut entry = st.buckets.find_entry(h, |b| b.hash == h && b.key == key).ok()?;
            let b = entry.get_mut();
            let pos = b.rules.iter().position(|r| r.priority == priority)?;
            let r = b.rules.remove(pos);
            if b.rules.is_empty() {
                entry.remove();
            }
            r
        };
        st.n_rules -= 1;
        self.n_rules -= 1;
        self.n_conj -= is_conj(&removed) as usize;
        if st.n_rules == 0 {
            self.subtables.remove(idx);
        } else if removed.priority >= st.max_priority {
            st.recompute_max_priority();
            self.sort_subtables();
        }
        Some(removed)
    }

    /// The rule with exactly this match and priority.
    pub fn find_exact(&self, m: &Match, priority: u16) -> Option<&Arc<Rule>> {
        let st = self.subtables.iter().find(|s| s.mask == m.mask)?;
        let h = st.hash(&m.key);
        let b = st.buckets.find(h, |b| b.hash == h && b.key == m.key)?;
        b.rules.iter().find(|r| r.priority == priority)
    }

    /// Highest-priority rule matching `flow`, conjunctive matches included. Adds to
    /// `wc` the mask of every subtable consulted.
    #[inline]
    pub fn lookup(&self, flow: &FlowKey, wc: &mut FlowMask) -> Option<&Arc<Rule>> {
        if self.n_conj == 0 {
            self.lookup_plain(flow, wc, false)
        } else {
            self.lookup_conj(flow, wc)
        }
    }

    /// Open vSwitch's conjunctive match: rules whose actions are `conjunction(id,k/n)`
    /// do not match on their own; when, at some priority, every clause 1..n of a
    /// conjunction `id` has a matching rule, the packet is looked up again with
    /// `conj_id=id`, which finds the rule that carries the conjunction's actions. An
    /// ordinary rule of higher (or equal) priority wins over the conjunction.
    fn lookup_conj(&self, flow: &FlowKey, wc: &mut FlowMask) -> Option<&Arc<Rule>> {
        let all = self.lookup_all(flow, wc);
        let best_plain = all.iter().find(|r| !is_conj(r)).copied();
        let floor = best_plain.map(|r| r.priority);
        // Conjunction candidates strictly above the best ordinary rule, by priority.
        let mut i = 0;
        while i < all.len() {
            let prio = all[i].priority;
            if floor.is_some_and(|f| prio <= f) {
                break;
            }
            let same: Vec<&Arc<Rule>> = all[i..].iter().take_while(|r| r.priority == prio).copied().collect();
            i += same.len();
            // (id, n) -> clauses seen (bitmask; n <= 64 as OVS limits it).
            let mut seen: Vec<(u32, u8, u64)> = Vec::new();
            for r in same.iter().filter(|r| is_conj(r)) {
                for (id, k, n) in conj_clauses(r) {
                    match seen.iter_mut().find(|(i2, n2, _)| *i2 == id && *n2 == n) {
                        Some(e) => e.2 |= 1 << (k - 1),
                        None => seen.push((id, n, 1 << (k - 1))),
                    }
                }
            }
            seen.sort_by_key(|e| e.0);
            for (id, n, bits) in seen {
                let full = if n >= 64 { u64::MAX } else { (1u64 << n) - 1 };
                if bits == full {
                    let mut f = *flow;
                    crate::flow::Field::ConjId.set(&mut f, id as u128);
                    // The conj_id rule is an ordinary rule; conjunctive clauses cannot
                    // match conj_id, so a plain lookup finds it.
                    if let Some(r) = self.lookup_plain(&f, wc, true) {
                        if crate::flow::Field::ConjId.get(&r.m.mask) != 0 {
                            return Some(r);
                        }
                    }
                }
            }
        }
        best_plain
    }

    /// Highest-priority rule matching `flow`; with `skip_conj`, conjunctive clause
    /// rules are ignored.
    #[inline]
    fn lookup_plain(&self, flow: &FlowKey, wc: &mut FlowMask, skip_conj: bool) -> Option<&Arc<Rule>> {
        let mut best: Option<&Arc<Rule>> = None;
        for st in &self.subtables {
            if let Some(b) = best {
                if b.priority >= st.max_priority {
                    break;
                }
            }
            wc.or_assign(&st.mask);
            if let Some(bucket) = st.find(flow) {
                let r = if skip_conj { bucket.rules.iter().find(|r| !is_conj(r)) } else { bucket.rules.first() };
                if let Some(r) = r {
                    if best.is_none_or(|b| r.priority > b.priority) {
                        best = Some(r);
                    }
                }
            }
        }
        best
    }

    /// Every rule that matches `flow`, in priority order (for conjunctive matches and
    /// traces). Adds the masks of all subtables to `wc`.
    pub fn lookup_all(&self, flow: &FlowKey, wc: &mut FlowMask) -> Vec<&Arc<Rule>> {
        let mut out: Vec<&Arc<Rule>> = Vec::new();
        for st in &self.subtables {
            wc.or_assign(&st.mask);
            if let Some(b) = st.find(flow) {
                out.extend(b.rules.iter());
            }
        }
        out.sort_by(|a, b| rule_order(a, b));
        out
    }

    pub fn iter(&self) -> impl Iterator<Item = &Arc<Rule>> {
        self.subtables.iter().flat_map(|s| s.buckets.iter().flat_map(|b| b.rules.iter()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::flow::Field;
    use std::sync::atomic::AtomicU64;

    fn rule(id: u64, prio: u16, m: Match) -> Arc<Rule> {
        Arc::new(Rule {
            id,
            table: 0,
            priority: prio,
            m,
            cookie: 0,
            actions: Arc::from(vec![]),
            idle_timeout: 0,
            hard_timeout: 0,
            importance: 0,
            send_flow_rem: false,
            created_ns: 0,
            modified_ns: AtomicU64::new(0),
            stats: Default::default(),
        })
    }

    #[test]
    fn priority_and_wildcards() {
        let mut c = Classifier::new();
        let mut m1 = Match::catchall();
        m1.set(Field::InPort, 1);
        c.insert(rule(1, 1, m1));
        let mut m2 = Match::catchall();
        m2.set(Field::EthType, 0x0800);
        m2.set(Field::IpProto, 17);
        m2.set(Field::TpDst, 5000);
        c.insert(rule(2, 10, m2));
        assert_eq!(c.len(), 2);

        let mut k = FlowKey::ZERO;
        k.set_in_port(1);
        Field::EthType.set(&mut k, 0x0800);
        Field::IpProto.set(&mut k, 17);
        Field::TpDst.set(&mut k, 80);
        let mut wc = FlowKey::ZERO;
        assert_eq!(c.lookup(&k, &mut wc).unwrap().id, 1);
        // Both subtables were consulted: the higher-priority one missed.
        assert_eq!(Field::TpDst.get(&wc), 0xffff);
        assert_eq!(Field::InPort.get(&wc), 0xffff);

        Field::TpDst.set(&mut k, 5000);
        let mut wc = FlowKey::ZERO;
        assert_eq!(c.lookup(&k, &mut wc).unwrap().id, 2);
        // Priority sorting: the in_port subtable was never consulted.
        assert_eq!(Field::InPort.get(&wc), 0);

        assert!(c.remove(&m2, 10).is_some());
        assert!(c.remove(&m2, 10).is_none());
        let mut wc = FlowKey::ZERO;
        assert_eq!(c.lookup(&k, &mut wc).unwrap().id, 1);
        assert_eq!(c.n_subtables(), 1);
    }

    #[test]
    fn replace_identical() {
        let mut c = Classifier::new();
        let mut m = Match::catchall();
        m.set(Field::InPort, 3);
        c.insert(rule(1, 5, m));
        assert!(matches!(c.insert(rule(2, 5, m)), Inserted::Replaced(r) if r.id == 1));
        assert!(matches!(c.insert(rule(3, 6, m)), Inserted::New));
        assert_eq!(c.len(), 2);
        assert_eq!(c.find_exact(&m, 5).unwrap().id, 2);
        let mut k = FlowKey::ZERO;
        k.set_in_port(3);
        let mut wc = FlowKey::ZERO;
        assert_eq!(c.lookup(&k, &mut wc).unwrap().id, 3);
    }

    fn rule_acts(id: u64, prio: u16, m: Match, acts: Vec<crate::flow::Action>) -> Arc<Rule> {
        let r = rule(id, prio, m);
        let mut r = Arc::try_unwrap(r).unwrap();
        r.actions = Arc::from(acts);
        Arc::new(r)
    }

    #[test]
    fn conjunctive_match() {
        use crate::flow::Action;
        let conj = |id, k, n| vec![Action::Conjunction { id, clause: k, n_clauses: n }];
        let mut c = Classifier::new();
        for (i, ip) in [0x0a00_0001u128, 0x0a00_0002].iter().enumerate() {
            let mut m = Match::catchall();
            m.set(Field::EthType, 0x0800);
            m.set(Field::Ipv4Src, *ip);
            c.insert(rule_acts(10 + i as u64, 10, m, conj(7, 1, 2)));
        }
        let mut m = Match::catchall();
        m.set(Field::EthType, 0x0800);
        m.set(Field::IpProto, 6);
        m.set(Field::TpDst, 80);
        c.insert(rule_acts(20, 10, m, conj(7, 2, 2)));
        let mut m = Match::catchall();
        m.set(Field::ConjId, 7);
        c.insert(rule_acts(30, 10, m, vec![Action::Output { port: 5, max_len: None }]));
        c.insert(rule(40, 1, Match::catchall()));

        let pkt = |src: u128, dport: u128| {
            let mut k = FlowKey::ZERO;
            Field::EthType.set(&mut k, 0x0800);
            Field::IpProto.set(&mut k, 6);
            Field::Ipv4Src.set(&mut k, src);
            Field::TpDst.set(&mut k, dport);
            k
        };
        let id = |k: FlowKey| c.lookup(&k, &mut FlowKey::ZERO.clone()).map(|r| r.id);
        assert_eq!(id(pkt(0x0a00_0001, 80)), Some(30), "both clauses match");
        assert_eq!(id(pkt(0x0a00_0002, 80)), Some(30), "another member of clause 1");
        assert_eq!(id(pkt(0x0a00_0001, 81)), Some(40), "clause 2 missing");
        assert_eq!(id(pkt(0x0a00_0003, 80)), Some(40), "clause 1 missing");
        // An ordinary rule of higher priority wins over the conjunction.
        let mut m = Match::catchall();
        m.set(Field::TpDst, 80);
        c.insert(rule(50, 20, m));
        assert_eq!(c.lookup(&pkt(0x0a00_0001, 80), &mut FlowKey::ZERO.clone()).map(|r| r.id), Some(50));
    }

    #[test]
    fn clones_share_until_changed() {
        let mut c = Classifier::new();
        let mut m = Match::catchall();
        m.set(Field::InPort, 3);
        c.insert(rule(1, 5, m));
        let snapshot = c.clone();
        c.remove(&m, 5);
        assert_eq!(snapshot.len(), 1);
        assert_eq!(c.len(), 0);
    }
}
