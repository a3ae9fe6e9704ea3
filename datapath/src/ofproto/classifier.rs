//! The OpenFlow table classifier, compiled to fit the rules of its table.
//!
//! # Structure
//!
//! Rules are grouped by their *base* mask: the rule's mask with the prefix fields
//! (`nw_src`, `nw_dst` — which are also `arp_spa`/`arp_tpa` — `tp_src`, `tp_dst` —
//! also ICMP type/code) removed, when the rule masks them with a prefix (a CIDR, a
//! piece of a port range, an exact value or a wildcard). So security-group rules that
//! differ only in remote CIDR length and port-range masks, which tuple-space search
//! spreads over hundreds of subtables, share one group. Each group (`cls::group`):
//!
//! - buckets its rules by `key & base`, in a structure picked from the base mask: a
//!   single bucket when the base is empty, an array indexed by `in_port` when the
//!   base is `in_port` alone (`in_port=5,actions=...` tables), a hash table otherwise
//!   (exact-match tables such as l2pop's `dl_vlan,dl_dst` are one probe);
//! - checks the base in stages (metadata, L2, L3, L4) with a hash set per stage, and
//!   stops at the first stage that cannot match: a miss un-wildcards only the stages
//!   it looked at (OVS's staged lookup);
//! - inside a bucket (`cls::ruleset`), matches the prefix fields: a short list sorted
//!   by priority, or, for large buckets, a path-compressed binary trie on the field
//!   with the most distinct prefixes (an LPM structure: one walk instead of one probe
//!   per prefix length), the other fields checked per rule.
//!
//! Groups are visited by descending maximum priority; the lookup stops when the best
//! rule found outranks every rule of the remaining groups (priority sorting), and
//! inside groups nothing that cannot beat the best rule so far is examined.
//!
//! # Wildcards
//!
//! `lookup` ORs into `wc` every bit its answer depends on, and no more than it needs:
//! for every packet that agrees with the looked-up one on the bits of `wc`, the lookup
//! returns the same rule (property-tested below). A group not visited (priority)
//! contributes nothing; a stage miss contributes the stages examined; a bucket hit
//! the base; a prefix field only as many leading bits as it took to tell the rules
//! apart: with rules `tp_dst=5000` and a catch-all, a packet to port 10000 leaves
//! `tp_dst=0x0000/0xe000`-style megaflows (the first differing bit), and CIDR rules
//! on `nw_dst` un-wildcard the bits up to where the packet leaves the prefix trie.
//! (This is what OVS gets from staged lookup, prefix tries and its ports trie.)
//!
//! # Updates
//!
//! The classifier is an immutable value inside a pipeline snapshot; a flow-mod works
//! on a clone. Groups are behind `Arc`; a large group's hash table is split into
//! shards behind `Arc`, and trie nodes are behind `Arc` and updated by path copying,
//! so a flow-mod copies one group header, one shard and one trie path — never the
//! whole table. Inserts and removals are incremental (a bucket switches from list to
//! trie, or re-picks its trie field, at sizes growing by 4x: amortised O(1)).

#[path = "cls/mod.rs"]
mod cls;

use std::sync::Arc;

use super::rule::Rule;
use crate::flow::{FlowKey, FlowMask, Match};
use cls::group::Group;
use cls::{split_mask, Ctx, Entry};

/// Outcome of inserting a rule.
pub enum Inserted {
    New,
    /// A rule with the same match and priority was replaced (returned).
    Replaced(Arc<Rule>),
}

#[derive(Clone, Debug, Default)]
pub struct Classifier {
    /// Sorted by `max_prio`, descending.
    groups: Vec<Arc<Group>>,
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

    /// Number of groups (the counterpart of tuple-space search's subtables: one per
    /// distinct mask outside the prefix fields).
    pub fn n_subtables(&self) -> usize {
        self.groups.len()
    }

    /// For each group: the structure holding its buckets and its rule count.
    pub fn describe(&self) -> Vec<(&'static str, usize)> {
        self.groups.iter().map(|g| (g.kind(), g.n_rules)).collect()
    }

    fn sort_groups(&mut self) {
        self.groups.sort_by_key(|g| std::cmp::Reverse(g.max_prio));
    }

    /// Insert `rule`; a rule with an identical match and priority is replaced.
    pub fn insert(&mut self, rule: Arc<Rule>) -> Inserted {
        let (base, plen) = split_mask(&rule.m.mask);
        let conj = is_conj(&rule);
        let key = rule.m.key;
        let idx = match self.groups.iter().position(|g| g.base == base) {
            Some(i) => i,
            None => {
                self.groups.push(Arc::new(Group::new(base)));
                self.groups.len() - 1
            }
        };
        let g = Arc::make_mut(&mut self.groups[idx]);
        let old_max = g.max_prio;
        let was_empty = g.n_rules == 0;
        let out = match g.insert(&key, Entry::new(rule, plen, conj)) {
            Some(old) => {
                self.n_conj -= old.conj as usize;
                Inserted::Replaced(old.rule)
            }
            None => {
                self.n_rules += 1;
                Inserted::New
            }
        };
        self.n_conj += conj as usize;
        if was_empty || g.max_prio != old_max {
            self.sort_groups();
        }
        out
    }

    /// Remove the rule with exactly this match and priority.
    pub fn remove(&mut self, m: &Match, priority: u16) -> Option<Arc<Rule>> {
        let (base, plen) = split_mask(&m.mask);
        let val = Entry::dims_of_match(m, &plen);
        let idx = self.groups.iter().position(|g| g.base == base)?;
        // Look first: a miss must not copy a group shared with a snapshot.
        self.groups[idx].find(&m.key, &val, &plen, priority)?;
        let g = Arc::make_mut(&mut self.groups[idx]);
        let old_max = g.max_prio;
        let removed = g.remove(&m.key, &val, &plen, priority)?;
        self.n_rules -= 1;
        self.n_conj -= removed.conj as usize;
        if g.n_rules == 0 {
            self.groups.remove(idx);
        } else if g.max_prio != old_max {
            self.sort_groups();
        }
        Some(removed.rule)
    }

    /// The rule with exactly this match and priority.
    pub fn find_exact(&self, m: &Match, priority: u16) -> Option<&Arc<Rule>> {
        let (base, plen) = split_mask(&m.mask);
        let val = Entry::dims_of_match(m, &plen);
        let g = self.groups.iter().find(|g| g.base == base)?;
        g.find(&m.key, &val, &plen, priority).map(|e| &e.rule)
    }

    /// Highest-priority rule matching `flow`, conjunctive matches included. Adds to
    /// `wc` the bits of `flow` the answer depends on.
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
        let best_plain = self.lookup_plain(flow, wc, true);
        let floor = best_plain.map(|r| r.priority);
        // Conjunction clauses strictly above the best ordinary rule, by priority.
        let all = self.collect(flow, wc, floor, true);
        let mut i = 0;
        while i < all.len() {
            let prio = all[i].priority;
            let same: Vec<&Arc<Rule>> = all[i..].iter().take_while(|r| r.priority == prio).copied().collect();
            i += same.len();
            // (id, n) -> clauses seen (bitmask; n <= 64 as OVS limits it).
            let mut seen: Vec<(u32, u8, u64)> = Vec::new();
            for r in &same {
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
        let mut ctx = Ctx::new();
        let mut best: Option<&Entry> = None;
        for g in &self.groups {
            let thr = best.map(|e| e.prio);
            if thr.is_some_and(|t| t >= g.max_prio) {
                break;
            }
            if let Some(e) = g.search(flow, wc, &mut ctx, thr, skip_conj) {
                best = Some(e);
            }
        }
        ctx.finish(wc);
        best.map(|e| &e.rule)
    }

    /// Every rule matching `flow` with priority above `floor` (only conjunction
    /// clauses if `only_conj`), in priority order.
    fn collect(&self, flow: &FlowKey, wc: &mut FlowMask, floor: Option<u16>, only_conj: bool) -> Vec<&Arc<Rule>> {
        let mut ctx = Ctx::new();
        let mut out: Vec<&Entry> = Vec::new();
        for g in &self.groups {
            if floor.is_some_and(|f| f >= g.max_prio) {
                break;
            }
            g.collect(flow, wc, &mut ctx, floor, only_conj, &mut out);
        }
        ctx.finish(wc);
        let mut v: Vec<&Arc<Rule>> = out.into_iter().map(|e| &e.rule).collect();
        v.sort_by(|a, b| rule_order(a, b));
        v
    }

    /// Every rule that matches `flow`, in priority order (for conjunctive matches and
    /// traces). Adds to `wc` what the answer depends on.
    pub fn lookup_all(&self, flow: &FlowKey, wc: &mut FlowMask) -> Vec<&Arc<Rule>> {
        self.collect(flow, wc, None, false)
    }

    pub fn iter(&self) -> impl Iterator<Item = &Arc<Rule>> {
        self.groups.iter().flat_map(|g| g.entries().into_iter().map(|e| &e.rule))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::flow::Field;

    fn rule(id: u64, prio: u16, m: Match) -> Arc<Rule> {
        Arc::new(Rule::detached(id, 0, prio, m, Arc::from(vec![])))
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
        k.set_in_port(1u32);
        Field::EthType.set(&mut k, 0x0800);
        Field::IpProto.set(&mut k, 17);
        Field::TpDst.set(&mut k, 80);
        let mut wc = FlowKey::ZERO;
        assert_eq!(c.lookup(&k, &mut wc).unwrap().id, 1);
        // Both groups were consulted: the higher-priority one missed, on tp_dst's
        // fourth bit (80 = 0x0050, 5000 = 0x1388), which is all it un-wildcards there.
        assert_eq!(Field::TpDst.get(&wc), 0xf000);
        assert_eq!(Field::IpProto.get(&wc), 0xff);
        assert_eq!(Field::InPort.get(&wc), 0xffff);

        Field::TpDst.set(&mut k, 5000);
        let mut wc = FlowKey::ZERO;
        assert_eq!(c.lookup(&k, &mut wc).unwrap().id, 2);
        // Priority sorting: the in_port group was never consulted.
        assert_eq!(Field::InPort.get(&wc), 0);
        assert_eq!(Field::TpDst.get(&wc), 0xffff);

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
        k.set_in_port(3u32);
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

    fn ip_key(src: u32, dst: u32, proto: u8, sport: u16, dport: u16) -> FlowKey {
        let mut k = FlowKey::ZERO;
        k.set_in_port(1u32);
        Field::EthType.set(&mut k, 0x0800);
        Field::Ipv4Src.set(&mut k, src as u128);
        Field::Ipv4Dst.set(&mut k, dst as u128);
        Field::IpProto.set(&mut k, proto as u128);
        Field::TpSrc.set(&mut k, sport as u128);
        Field::TpDst.set(&mut k, dport as u128);
        k
    }

    fn cidr(m: &mut Match, f: Field, ip: u32, plen: u32) {
        let mask = if plen == 0 { 0 } else { u32::MAX << (32 - plen) };
        m.set_masked(f, (ip & mask) as u128, mask as u128);
    }

    /// The example: `tp_dst=5000` (priority 10) and a catch-all; a packet to
    /// port 10000 must not get an exact tp_dst.
    #[test]
    fn ports_are_unwildcarded_only_as_far_as_needed() {
        let mut c = Classifier::new();
        let mut m = Match::catchall();
        m.set(Field::EthType, 0x0800);
        m.set(Field::IpProto, 17);
        m.set(Field::TpDst, 5000);
        c.insert(rule(1, 10, m));
        c.insert(rule(2, 0, Match::catchall()));
        let mut wc = FlowKey::ZERO;
        let k = ip_key(0x0a00_0001, 0x0a00_0002, 17, 9, 10000);
        assert_eq!(c.lookup(&k, &mut wc).unwrap().id, 2);
        // 10000 = 0b0010..., 5000 = 0b0001...: they differ in the third bit.
        assert_eq!(Field::TpDst.get(&wc), 0xe000);
        assert_eq!(Field::TpSrc.get(&wc), 0);
        assert_eq!(Field::Ipv4Src.get(&wc), 0);
        // Every port 8192..16383 shares that megaflow and gets the same answer.
        for p in [8192u16, 12345, 16383] {
            let k = ip_key(0x0a00_0001, 0x0a00_0002, 17, 9, p);
            assert_eq!(c.lookup(&k, &mut FlowKey::ZERO.clone()).unwrap().id, 2);
        }
        // A hit needs the whole port.
        let mut wc = FlowKey::ZERO;
        assert_eq!(c.lookup(&ip_key(1, 2, 17, 9, 5000), &mut wc).unwrap().id, 1);
        assert_eq!(Field::TpDst.get(&wc), 0xffff);
        // Port ranges as value/mask pieces: 1024-65535 = 0x400/0xfc00, 0x800/0xf800, ...
        let mut c = Classifier::new();
        for (i, (v, mask)) in [
            (0x0400u128, 0xfc00u128),
            (0x0800, 0xf800),
            (0x1000, 0xf000),
            (0x2000, 0xe000),
            (0x4000, 0xc000),
            (0x8000, 0x8000),
        ]
        .into_iter()
        .enumerate()
        {
            let mut m = Match::catchall();
            m.set(Field::EthType, 0x0800);
            m.set(Field::IpProto, 6);
            m.set_masked(Field::TpDst, v, mask);
            c.insert(rule(i as u64 + 1, 10, m));
        }
        c.insert(rule(99, 0, Match::catchall()));
        assert_eq!(c.n_subtables(), 2, "one group for all range pieces");
        let mut wc = FlowKey::ZERO;
        assert_eq!(c.lookup(&ip_key(1, 2, 6, 9, 22), &mut wc).unwrap().id, 99);
        assert_eq!(Field::TpDst.get(&wc), 0xfc00, "ports 0-1023 share one megaflow");
        let mut wc = FlowKey::ZERO;
        assert_eq!(c.lookup(&ip_key(1, 2, 6, 9, 40000), &mut wc).unwrap().id, 6);
        assert_eq!(Field::TpDst.get(&wc), 0x8000);
    }

    /// CIDR rules on nw_dst: only as many prefix bits as rule out longer prefixes.
    #[test]
    fn prefixes_are_tracked() {
        let mut c = Classifier::new();
        for (i, (ip, plen)) in [(0x0a01_0000u32, 16u32), (0x0a01_0200, 24), (0x0a01_0203, 32)].into_iter().enumerate() {
            let mut m = Match::catchall();
            m.set(Field::EthType, 0x0800);
            cidr(&mut m, Field::Ipv4Dst, ip, plen);
            c.insert(rule(i as u64 + 1, plen as u16, m));
        }
        c.insert(rule(9, 0, Match::catchall()));
        assert_eq!(c.n_subtables(), 2, "the three prefix lengths share one group");
        let look = |dst: u32| {
            let mut wc = FlowKey::ZERO;
            let id = c.lookup(&ip_key(1, dst, 6, 1, 2), &mut wc).unwrap().id;
            (id, Field::Ipv4Dst.get(&wc) as u32)
        };
        assert_eq!(look(0x0a01_0203), (3, u32::MAX));
        // 10.1.5.5: in the /16; the /24 and /32 differ from it in bit 21.
        assert_eq!(look(0x0a01_0505), (1, 0xffff_fc00));
        // 192.168.0.1 differs from every rule in the first bit.
        assert_eq!(look(0xc0a8_0001), (9, 0x8000_0000));

        // A large bucket is a trie: 200 host routes 10.0.0.0-10.0.0.199 and a /8.
        let mut c = Classifier::new();
        for i in 0..200u32 {
            let mut m = Match::catchall();
            m.set(Field::EthType, 0x0800);
            cidr(&mut m, Field::Ipv4Dst, 0x0a00_0000 + i, 32);
            c.insert(rule(i as u64 + 1, 32, m));
        }
        let mut m = Match::catchall();
        m.set(Field::EthType, 0x0800);
        cidr(&mut m, Field::Ipv4Dst, 0x0a00_0000, 8);
        c.insert(rule(1000, 8, m));
        assert_eq!(c.n_subtables(), 1);
        let mut wc = FlowKey::ZERO;
        assert_eq!(c.lookup(&ip_key(1, 0x0a00_0105, 6, 1, 2), &mut wc).unwrap().id, 1000);
        // 10.0.1.5 leaves the trie at bit 23 (the host routes are all in 10.0.0.0/24).
        assert_eq!(Field::Ipv4Dst.get(&wc), 0xffff_ff00);
        let mut wc = FlowKey::ZERO;
        assert_eq!(c.lookup(&ip_key(1, 0x0a00_0063, 6, 1, 2), &mut wc).unwrap().id, 100);
        assert_eq!(Field::Ipv4Dst.get(&wc), u32::MAX as u128);
        for i in 0..200u32 {
            let mut m = Match::catchall();
            m.set(Field::EthType, 0x0800);
            cidr(&mut m, Field::Ipv4Dst, 0x0a00_0000 + i, 32);
            assert_eq!(c.find_exact(&m, 32).unwrap().id, i as u64 + 1);
            if i % 2 == 0 {
                assert_eq!(c.remove(&m, 32).unwrap().id, i as u64 + 1);
            }
        }
        assert_eq!(c.len(), 101);
        assert_eq!(c.lookup(&ip_key(1, 0x0a00_0062, 6, 1, 2), &mut FlowKey::ZERO.clone()).unwrap().id, 1000);
        assert_eq!(c.lookup(&ip_key(1, 0x0a00_0063, 6, 1, 2), &mut FlowKey::ZERO.clone()).unwrap().id, 100);
    }

    /// Staged lookup: a miss on the metadata stage does not un-wildcard L3/L4.
    #[test]
    fn staged_lookup_stops_early() {
        let mut c = Classifier::new();
        let mut m = Match::catchall();
        m.set(Field::Reg5, 7);
        m.set(Field::EthType, 0x0800);
        m.set(Field::IpProto, 6);
        m.set(Field::NwTtl, 64);
        m.set(Field::TpDst, 80);
        c.insert(rule(1, 10, m));
        c.insert(rule(2, 0, Match::catchall()));
        let mut k = ip_key(1, 2, 6, 1, 80);
        Field::NwTtl.set(&mut k, 64);
        Field::Reg5.set(&mut k, 8);
        let mut wc = FlowKey::ZERO;
        assert_eq!(c.lookup(&k, &mut wc).unwrap().id, 2);
        assert_eq!(Field::Reg5.get(&wc), 0xffff_ffff);
        assert_eq!(Field::EthType.get(&wc), 0);
        assert_eq!(Field::IpProto.get(&wc), 0);
        assert_eq!(Field::NwTtl.get(&wc), 0);
        assert_eq!(Field::TpDst.get(&wc), 0);
        // The L2 stage hits, the L3 stage (nw_proto, nw_ttl) misses.
        Field::Reg5.set(&mut k, 7);
        Field::NwTtl.set(&mut k, 63);
        let mut wc = FlowKey::ZERO;
        assert_eq!(c.lookup(&k, &mut wc).unwrap().id, 2);
        assert_eq!(Field::EthType.get(&wc), 0xffff);
        assert_eq!(Field::NwTtl.get(&wc), 0xff);
        assert_eq!(Field::TpDst.get(&wc), 0);
        Field::NwTtl.set(&mut k, 64);
        assert_eq!(c.lookup(&k, &mut FlowKey::ZERO.clone()).unwrap().id, 1);
    }

    #[test]
    fn structures_follow_the_masks() {
        let mut c = Classifier::new();
        for p in 1..=50u128 {
            let mut m = Match::catchall();
            m.set(Field::InPort, p);
            c.insert(rule(p as u64, 9, m));
        }
        c.insert(rule(100, 0, Match::catchall()));
        let mut m = Match::catchall();
        m.set_masked(Field::VlanVid, 0x1005, 0x1fff);
        m.set(Field::EthDst, 0xfa16_3e00_0001);
        c.insert(rule(101, 2, m));
        let mut kinds = c.describe();
        kinds.sort();
        assert_eq!(kinds, vec![("hash", 1), ("port-array", 50), ("single", 1)]);
        let mut k = FlowKey::ZERO;
        k.set_in_port(17u32);
        assert_eq!(c.lookup(&k, &mut FlowKey::ZERO.clone()).unwrap().id, 17);
        k.set_in_port(51u32);
        assert_eq!(c.lookup(&k, &mut FlowKey::ZERO.clone()).unwrap().id, 100);
        k.set_vlan_tci(0x1005);
        k.set_dl_dst([0xfa, 0x16, 0x3e, 0, 0, 1]);
        assert_eq!(c.lookup(&k, &mut FlowKey::ZERO.clone()).unwrap().id, 101);
        // A port beyond the array turns it into a hash.
        let mut m = Match::catchall();
        m.set(Field::InPort, 0xfffe);
        c.insert(rule(200, 9, m));
        let mut kinds = c.describe();
        kinds.sort();
        assert_eq!(kinds, vec![("hash", 1), ("hash", 51), ("single", 1)]);
        k.set_in_port(17u32);
        assert_eq!(c.lookup(&k, &mut FlowKey::ZERO.clone()).unwrap().id, 17);
        k.set_in_port(0xfffeu32);
        assert_eq!(c.lookup(&k, &mut FlowKey::ZERO.clone()).unwrap().id, 200);
    }

    /// Large groups (hash shards) and large buckets (tries) under snapshots: a
    /// flow-mod after a snapshot leaves the snapshot's answers alone.
    #[test]
    fn snapshots_of_large_tables() {
        let mac = |i: u64| 0xfa16_3e00_0000u128 | i as u128;
        let l2 = |i: u64| {
            let mut m = Match::catchall();
            m.set_masked(Field::VlanVid, 0x1005, 0x1fff);
            m.set(Field::EthDst, mac(i));
            m
        };
        let arp = |i: u32| {
            let mut m = Match::catchall();
            m.set(Field::EthType, 0x0806);
            m.set(Field::ArpTpa, 0x0a00_0000 + i as u128);
            m
        };
        let mut c = Classifier::new();
        for i in 0..3000u64 {
            c.insert(rule(i + 1, 2, l2(i)));
            c.insert(rule(10_000 + i, 1, arp(i as u32)));
        }
        let l2_key = |i: u64| {
            let mut k = FlowKey::ZERO;
            k.set_vlan_tci(0x1005);
            Field::EthDst.set(&mut k, mac(i));
            k
        };
        let arp_key = |i: u32| {
            let mut k = FlowKey::ZERO;
            Field::EthType.set(&mut k, 0x0806);
            Field::ArpTpa.set(&mut k, 0x0a00_0000 + i as u128);
            k
        };
        let id = |c: &Classifier, k: &FlowKey| c.lookup(k, &mut FlowKey::ZERO.clone()).map(|r| r.id);
        let snap = c.clone();
        for i in (0..3000u64).step_by(2) {
            assert_eq!(c.remove(&l2(i), 2).unwrap().id, i + 1);
            assert_eq!(c.remove(&arp(i as u32), 1).unwrap().id, 10_000 + i);
        }
        for i in 3000..3100u64 {
            c.insert(rule(i + 1, 2, l2(i)));
        }
        assert_eq!(snap.len(), 6000);
        assert_eq!(c.len(), 3100);
        for i in 0..3100u64 {
            let old = (i < 3000).then_some(i + 1);
            assert_eq!(id(&snap, &l2_key(i)), old);
            assert_eq!(id(&c, &l2_key(i)), (i % 2 == 1 || i >= 3000).then_some(i + 1));
            if i < 3000 {
                assert_eq!(id(&snap, &arp_key(i as u32)), Some(10_000 + i));
                assert_eq!(id(&c, &arp_key(i as u32)), (i % 2 == 1).then_some(10_000 + i));
            }
        }
        // The ARP targets' trie un-wildcards arp_tpa only down to where the packet
        // leaves it.
        let mut wc = FlowKey::ZERO;
        assert!(c.lookup(&arp_key(0x10_0000), &mut wc).is_none());
        assert!(Field::ArpTpa.get(&wc).count_ones() < 16, "{:#x}", Field::ArpTpa.get(&wc));
    }

    /// Random rule sets (in_port, VLAN, dl_type, nw_proto, CIDRs, masked ports, some
    /// masks that are not prefixes), random packets near the rules' values, random
    /// insertions and removals with snapshots. Checks, for every packet P:
    /// - the answer is a matching rule of the highest matching priority;
    /// - every packet Q that agrees with P on the returned mask gets the same rule
    ///   (Q = P with random bits flipped outside the mask);
    /// - lookup_all returns exactly the matching rules, and its mask also holds;
    /// - snapshots taken before later changes keep answering for their own rules.
    mod prop {
        use super::*;
        use crate::flow::Action;
        use proptest::prelude::*;

        use crate::rng::Rng;

        const IPS: [u32; 6] = [0x0a00_0001, 0x0a00_0102, 0x0a01_0000, 0x0a80_0000, 0xc0a8_0101, 0xac10_0005];
        const PORTS: [u16; 6] = [22, 80, 443, 1024, 5000, 40000];

        fn prefix_mask(bits: u32, plen: u32) -> u128 {
            if plen == 0 {
                0
            } else {
                ((u64::MAX << (64 - plen)) >> (64 - bits)) as u128
            }
        }

        fn random_match(r: &mut Rng) -> Match {
            let mut m = Match::catchall();
            if r.chance(40) {
                m.set(Field::InPort, 1 + r.below(4) as u128);
            }
            if r.chance(10) {
                m.set(Field::Reg5, r.below(3) as u128);
            }
            if r.chance(15) {
                m.set_masked(Field::VlanVid, 0x1000 | r.pick(&[5u128, 6]), 0x1fff);
            }
            if r.chance(10) {
                m.set(Field::EthDst, r.pick(&[0x0200_0000_0001u128, 0x0200_0000_0002]));
            }
            if r.chance(70) {
                let t = if r.chance(85) { 0x0800 } else { 0x0806 };
                m.set(Field::EthType, t);
                if r.chance(60) {
                    let plen = r.pick(&[1u32, 4, 8, 12, 16, 20, 24, 28, 31, 32]);
                    m.set_masked(Field::Ipv4Src, r.pick(&IPS) as u128, prefix_mask(32, plen));
                }
                if r.chance(40) {
                    let plen = r.pick(&[8u32, 16, 23, 24, 32]);
                    m.set_masked(Field::Ipv4Dst, r.pick(&IPS) as u128, prefix_mask(32, plen));
                }
                if t == 0x0800 && r.chance(60) {
                    m.set(Field::IpProto, r.pick(&[6u128, 17]));
                    if r.chance(70) {
                        let mask =
                            if r.chance(8) { 0x00ff } else { prefix_mask(16, r.pick(&[4u32, 6, 10, 14, 15, 16, 16])) };
                        m.set_masked(Field::TpDst, r.pick(&PORTS) as u128, mask);
                    }
                    if r.chance(20) {
                        m.set_masked(Field::TpSrc, r.pick(&PORTS) as u128, prefix_mask(16, r.pick(&[2u32, 16])));
                    }
                }
            }
            m
        }

        fn near<T: Copy + Into<u64>>(r: &mut Rng, v: &[T], bits: u32) -> u128 {
            let base: u64 = r.pick(v).into();
            let width = r.below(bits as u64 + 1).min(20);
            let flip = if r.chance(50) { r.below(1 << width) } else { 0 };
            let x = if r.chance(10) { r.next_u64() } else { base ^ flip };
            (x & ((1u64 << bits) - 1)) as u128
        }

        fn random_packet(r: &mut Rng) -> FlowKey {
            let mut k = FlowKey::ZERO;
            k.set_in_port(1 + r.below(5) as u32);
            Field::Reg5.set(&mut k, r.below(3) as u128);
            if r.chance(30) {
                k.set_vlan_tci(0x1000 | r.pick(&[5u16, 6, 7]));
            }
            Field::EthDst.set(&mut k, r.pick(&[0x0200_0000_0001u128, 0x0200_0000_0002, 0x0200_0000_0003]));
            Field::EthType.set(&mut k, if r.chance(85) { 0x0800 } else { 0x0806 });
            Field::Ipv4Src.set(&mut k, near(r, &IPS, 32));
            Field::Ipv4Dst.set(&mut k, near(r, &IPS, 32));
            Field::IpProto.set(&mut k, r.pick(&[6u128, 17, 1]));
            Field::TpSrc.set(&mut k, near(r, &PORTS, 16));
            Field::TpDst.set(&mut k, near(r, &PORTS, 16));
            k
        }

        fn naive<'a>(rules: &'a [Arc<Rule>], k: &FlowKey) -> Vec<&'a Arc<Rule>> {
            let mut v: Vec<&Arc<Rule>> = rules.iter().filter(|r| r.m.matches(k)).collect();
            v.sort_by(|a, b| rule_order(a, b));
            v
        }

        /// Q: P with random bits flipped outside `wc`, or P's bits in `wc` and another
        /// random packet's elsewhere.
        fn perturb(r: &mut Rng, p: &FlowKey, wc: &FlowMask) -> FlowKey {
            let mut q = *p;
            if r.chance(50) {
                let o = random_packet(r);
                for w in 0..q.w.len() {
                    q.w[w] = (p.w[w] & wc.w[w]) | (o.w[w] & !wc.w[w]);
                }
                return q;
            }
            for w in 0..q.w.len() {
                if r.chance(50) {
                    let bits = match r.below(3) {
                        0 => r.next_u64(),
                        1 => 1u64 << r.below(64),
                        _ => r.next_u64() & r.next_u64(),
                    };
                    q.w[w] ^= bits & !wc.w[w];
                }
            }
            q
        }

        fn check_table(r: &mut Rng, c: &Classifier, rules: &[Arc<Rule>], n_packets: usize) {
            assert_eq!(c.len(), rules.len());
            for _ in 0..n_packets {
                let p = random_packet(r);
                let mut wc = FlowKey::ZERO;
                let got = c.lookup(&p, &mut wc).cloned();
                let want = naive(rules, &p);
                match (&got, want.first()) {
                    (None, None) => {}
                    (Some(g), Some(w)) => {
                        assert!(g.m.matches(&p), "returned rule does not match");
                        assert_eq!(g.priority, w.priority, "not the highest priority for {p:?}");
                    }
                    _ => panic!("lookup {:?} vs naive {:?} for {p:?}", got.map(|r| r.id), want.first().map(|r| r.id)),
                }
                for _ in 0..6 {
                    let q = perturb(r, &p, &wc);
                    let gq = c.lookup(&q, &mut FlowKey::ZERO.clone());
                    assert!(
                        gq.map(|x| x.id) == got.as_ref().map(|x| x.id),
                        "mask too narrow: P={p:?} -> {:?}, Q={q:?} -> {:?}, wc={wc:?}",
                        got.as_ref().map(|x| x.id),
                        gq.map(|x| x.id)
                    );
                }
                let mut wca = FlowKey::ZERO;
                let all: Vec<u64> = c.lookup_all(&p, &mut wca).iter().map(|r| r.id).collect();
                let want_all: Vec<u64> = want.iter().map(|r| r.id).collect();
                assert_eq!(all, want_all);
                let q = perturb(r, &p, &wca);
                let allq: Vec<u64> = c.lookup_all(&q, &mut FlowKey::ZERO.clone()).iter().map(|r| r.id).collect();
                assert_eq!(allq, all, "lookup_all mask too narrow");
            }
        }

        fn run(seed: u64, n_rules: usize, conj: bool) {
            let mut r = Rng::from_state(seed | 1);
            let mut c = Classifier::new();
            let mut rules: Vec<Arc<Rule>> = Vec::new();
            let mut next_id = 1;
            let mut add = |r: &mut Rng, c: &mut Classifier, rules: &mut Vec<Arc<Rule>>| {
                let m = random_match(r);
                let prio = r.pick(&[0u16, 10, 10, 20, 30, 40, 100]);
                let mut acts = vec![];
                if conj && r.chance(15) {
                    acts.push(Action::Conjunction {
                        id: 1 + r.below(2) as u32,
                        clause: 1 + r.below(2) as u8,
                        n_clauses: 2,
                    });
                }
                let x = rule_with(next_id, prio, m, acts);
                next_id += 1;
                match c.insert(x.clone()) {
                    Inserted::New => rules.push(x),
                    Inserted::Replaced(old) => {
                        let i = rules.iter().position(|y| Arc::ptr_eq(y, &old)).unwrap();
                        rules[i] = x;
                    }
                }
            };
            for _ in 0..n_rules {
                add(&mut r, &mut c, &mut rules);
            }
            if conj {
                for id in 1..=2u128 {
                    let mut m = Match::catchall();
                    m.set(Field::ConjId, id);
                    // Priorities no other rule has: the conj_id lookup has no ties, which
                    // either algorithm may break its own way.
                    let x = rule_with(next_id, r.pick(&[35u16, 45]), m, vec![]);
                    next_id += 1;
                    c.insert(x.clone());
                    rules.push(x);
                }
                check_conj(&mut r, &c, &rules, 150);
                return;
            }
            check_table(&mut r, &c, &rules, 150);
            // Snapshot, then churn: remove a third, add as many.
            let snap = c.clone();
            let snap_rules = rules.clone();
            for _ in 0..rules.len() / 3 {
                let i = r.below(rules.len() as u64) as usize;
                let x = rules.swap_remove(i);
                let got = c.remove(&x.m, x.priority).expect("rule present");
                assert!(Arc::ptr_eq(&got, &x));
                assert!(c.remove(&x.m, x.priority).is_none());
                add(&mut r, &mut c, &mut rules);
            }
            for x in &rules {
                assert!(Arc::ptr_eq(c.find_exact(&x.m, x.priority).unwrap(), x));
            }
            assert_eq!(c.iter().count(), rules.len());
            check_table(&mut r, &c, &rules, 150);
            check_table(&mut r, &snap, &snap_rules, 50);
        }

        /// With conjunctions: the mask invariant, and agreement with the reference
        /// algorithm (on the priority of the answer and whether it is a conj_id rule).
        fn check_conj(r: &mut Rng, c: &Classifier, rules: &[Arc<Rule>], n_packets: usize) {
            for _ in 0..n_packets {
                let p = random_packet(r);
                let mut wc = FlowKey::ZERO;
                let got = c.lookup(&p, &mut wc).map(|x| x.id);
                for _ in 0..6 {
                    let q = perturb(r, &p, &wc);
                    assert_eq!(
                        c.lookup(&q, &mut FlowKey::ZERO.clone()).map(|x| x.id),
                        got,
                        "conj: mask too narrow for {p:?}"
                    );
                }
                let want = reference_conj(rules, &p);
                let by_id = |id: Option<u64>| id.map(|id| rules.iter().find(|x| x.id == id).unwrap());
                let (g, w) = (by_id(got), want);
                assert_eq!(g.map(|x| x.priority), w.map(|x| x.priority));
                assert_eq!(g.map(|x| Field::ConjId.get(&x.m.mask) != 0), w.map(|x| Field::ConjId.get(&x.m.mask) != 0));
            }
        }

        /// The conjunction algorithm over a naive scan.
        fn reference_conj<'a>(rules: &'a [Arc<Rule>], p: &FlowKey) -> Option<&'a Arc<Rule>> {
            let all = naive(rules, p);
            let best_plain = all.iter().find(|r| !is_conj(r)).copied();
            let floor = best_plain.map(|r| r.priority);
            let mut prios: Vec<u16> = all.iter().filter(|r| is_conj(r)).map(|r| r.priority).collect();
            prios.dedup();
            for prio in prios {
                if floor.is_some_and(|f| prio <= f) {
                    break;
                }
                let mut seen: Vec<(u32, u8, u64)> = Vec::new();
                for x in all.iter().filter(|x| x.priority == prio && is_conj(x)) {
                    for (id, k, n) in conj_clauses(x) {
                        match seen.iter_mut().find(|(i2, n2, _)| *i2 == id && *n2 == n) {
                            Some(e) => e.2 |= 1 << (k - 1),
                            None => seen.push((id, n, 1 << (k - 1))),
                        }
                    }
                }
                seen.sort_by_key(|e| e.0);
                for (id, n, bits) in seen {
                    if bits == (1u64 << n) - 1 {
                        let mut f = *p;
                        Field::ConjId.set(&mut f, id as u128);
                        if let Some(x) = naive(rules, &f).into_iter().find(|x| !is_conj(x)) {
                            if Field::ConjId.get(&x.m.mask) != 0 {
                                return Some(x);
                            }
                        }
                    }
                }
            }
            best_plain
        }

        fn rule_with(id: u64, prio: u16, m: Match, acts: Vec<Action>) -> Arc<Rule> {
            let x = rule(id, prio, m);
            let mut x = Arc::try_unwrap(x).unwrap();
            x.actions = Arc::from(acts);
            Arc::new(x)
        }

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(200))]
            #[test]
            fn lookup_masks_are_sound(seed in any::<u64>(), n_rules in 1usize..80) {
                run(seed, n_rules, false);
            }

            #[test]
            fn conjunction_masks_are_sound(seed in any::<u64>(), n_rules in 1usize..60) {
                run(seed, n_rules, true);
            }
        }

        /// Cases that caught broken variants of the lookup during development.
        #[test]
        fn known_cases() {
            for (seed, n) in [
                (4110676105302790746u64, 35usize),
                (331133360254095930, 44),
                (17203077674409937934, 34),
                (10993462011950916844, 12),
            ] {
                run(seed, n, false);
                run(seed, n, true);
            }
        }

        #[test]
        fn large_tables() {
            // Big buckets become tries, big groups get shards.
            for seed in 1..4u64 {
                run(seed * 0x9e37_79b9, 3000, false);
            }
        }
    }
}
