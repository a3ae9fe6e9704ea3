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

    /// Highest-priority rule matching `flow`. Adds to `wc` the mask of every subtable
    /// consulted.
    #[inline]
    pub fn lookup(&self, flow: &FlowKey, wc: &mut FlowMask) -> Option<&Arc<Rule>> {
        let mut best: Option<&Arc<Rule>> = None;
        for st in &self.subtables {
            if let Some(b) = best {
                if b.priority >= st.max_priority {
                    break;
                }
            }
            wc.or_assign(&st.mask);
            if let Some(bucket) = st.find(flow) {
                let r = &bucket.rules[0];
                if best.is_none_or(|b| r.priority > b.priority) {
                    best = Some(r);
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
