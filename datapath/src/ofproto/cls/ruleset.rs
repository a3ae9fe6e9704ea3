//! The rules of one bucket: rules whose base fields are equal and which differ only in
//! their prefixes on `nw_src`, `nw_dst`, `tp_src`, `tp_dst` (and in priority).
//!
//! A small bucket is a list sorted by priority, scanned until the first match. A large
//! one is a path-compressed binary trie on one *primary* dimension (the one with the
//! most distinct prefixes, e.g. the remote CIDRs of a port's security-group rules, or
//! the target addresses of an ARP responder table); each trie node lists, sorted by
//! priority, the entries whose primary prefix is exactly the node's, and the other
//! dimensions are checked per entry. Nodes are behind `Arc` and updated by path
//! copying, so a snapshot shares all but the touched path.
//!
//! Wildcards: the walk un-wildcards the primary dimension only as deep as the walk had
//! to look (the bit where the packet left the trie, or where a branch the packet did
//! not take could have held a better rule), each entry examined un-wildcards what
//! keeps its outcome (see [`Entry::check`]), and nothing that cannot beat the best rule
//! found so far is examined at all (priority pruning with a per-subtree maximum).

use std::collections::HashSet;
use std::sync::Arc;

use super::{prefix, Ctx, Dims, Entry, N_DIMS};

/// Up to this many entries a bucket is a sorted list.
pub const LIST_MAX: usize = 8;

#[derive(Clone, Debug)]
pub enum RuleSet {
    List(Vec<Entry>),
    Trie(Box<Trie>),
}

#[derive(Clone, Debug)]
pub struct Trie {
    /// Primary dimension.
    pd: usize,
    root: Arc<Node>,
    n: usize,
    /// Size at which the choice of the primary dimension is reconsidered.
    next_eval: usize,
}

#[derive(Clone, Debug)]
struct Node {
    /// Prefix value (left-aligned, zero beyond `len`) and length.
    val: u32,
    len: u8,
    /// Highest priority in this subtree.
    max_prio: u16,
    /// Entries whose primary prefix is exactly (val, len), by `Entry::order`.
    entries: Vec<Entry>,
    kids: [Option<Arc<Node>>; 2],
    /// Prefix and subtree maximum priority of each kid, kept here so that a walk
    /// reads only the nodes on the packet's path.
    kid: [KidInfo; 2],
}

#[derive(Clone, Copy, Debug, Default)]
struct KidInfo {
    val: u32,
    len: u8,
    max_prio: u16,
}

/// Bit `i` (0 = most significant) of `v`.
#[inline(always)]
fn bit(v: u32, i: u8) -> usize {
    ((v >> (31 - i as u32)) & 1) as usize
}

/// Length of the common prefix of (a, alen) and (b, blen).
#[inline(always)]
fn common(a: u32, alen: u8, b: u32, blen: u8) -> u8 {
    ((a ^ b).leading_zeros() as u8).min(alen).min(blen)
}

impl Node {
    fn leaf(val: u32, len: u8, e: Entry) -> Node {
        Node { val, len, max_prio: e.prio, entries: vec![e], kids: [None, None], kid: Default::default() }
    }

    fn empty(val: u32, len: u8) -> Node {
        Node { val, len, max_prio: 0, entries: Vec::new(), kids: [None, None], kid: Default::default() }
    }

    /// Set kid `b` (and its summary).
    fn set_kid(&mut self, b: usize, k: Option<Arc<Node>>) {
        self.kid[b] =
            k.as_ref().map_or(KidInfo::default(), |k| KidInfo { val: k.val, len: k.len, max_prio: k.max_prio });
        self.kids[b] = k;
    }

    /// Refresh the summary of kid `b` after it changed in place.
    fn refresh_kid(&mut self, b: usize) {
        let k = self.kids[b].clone();
        self.set_kid(b, k);
    }

    fn recompute(&mut self) {
        let mut m = self.entries.first().map_or(0, |e| e.prio);
        for b in 0..2 {
            if self.kids[b].is_some() {
                m = m.max(self.kid[b].max_prio);
            }
        }
        self.max_prio = m;
    }

    fn is_empty(&self) -> bool {
        self.entries.is_empty() && self.kids[0].is_none() && self.kids[1].is_none()
    }
}

fn insert_sorted(v: &mut Vec<Entry>, e: Entry) -> Option<Entry> {
    if let Some(x) = v.iter_mut().find(|x| x.same(&e.val, &e.plen, e.prio)) {
        return Some(std::mem::replace(x, e));
    }
    let pos = v.partition_point(|x| Entry::order(x, &e).is_lt());
    v.insert(pos, e);
    None
}

fn node_insert(slot: &mut Arc<Node>, pd: usize, e: Entry) -> Option<Entry> {
    let n = Arc::make_mut(slot);
    let (v, l, prio) = (e.val[pd], e.plen[pd], e.prio);
    debug_assert!(l >= n.len && common(v, l, n.val, n.len) == n.len);
    if l == n.len {
        let r = insert_sorted(&mut n.entries, e);
        n.max_prio = n.max_prio.max(prio);
        return r;
    }
    let b = bit(v, n.len);
    let r = match n.kids[b].as_mut() {
        None => {
            n.set_kid(b, Some(Arc::new(Node::leaf(v, l, e))));
            None
        }
        Some(child) => {
            let c = common(child.val, child.len, v, l);
            if c == child.len {
                node_insert(child, pd, e)
            } else {
                // Split: a node for the common prefix above the old child.
                let old = child.clone();
                let mut mid = Node::empty(v & prefix(c), c);
                let ob = bit(old.val, c);
                mid.set_kid(ob, Some(old));
                if c == l {
                    mid.entries.push(e);
                } else {
                    mid.set_kid(bit(v, c), Some(Arc::new(Node::leaf(v, l, e))));
                }
                mid.recompute();
                *child = Arc::new(mid);
                None
            }
        }
    };
    n.refresh_kid(b);
    n.max_prio = n.max_prio.max(prio);
    r
}

fn node_find<'a>(mut n: &'a Node, pd: usize, val: &Dims, plen: &[u8; N_DIMS], prio: u16) -> Option<&'a Entry> {
    let (v, l) = (val[pd], plen[pd]);
    loop {
        if l == n.len {
            return n.entries.iter().find(|e| e.same(val, plen, prio));
        }
        let c = n.kids[bit(v, n.len)].as_deref()?;
        if c.len > l || common(c.val, c.len, v, l) != c.len {
            return None;
        }
        n = c;
    }
}

/// Remove an entry known to exist.
fn node_remove(slot: &mut Arc<Node>, pd: usize, val: &Dims, plen: &[u8; N_DIMS], prio: u16) -> Entry {
    let n = Arc::make_mut(slot);
    let (v, l) = (val[pd], plen[pd]);
    let r = if l == n.len {
        let pos = n.entries.iter().position(|e| e.same(val, plen, prio)).expect("entry exists");
        n.entries.remove(pos)
    } else {
        let b = bit(v, n.len);
        let r = node_remove(n.kids[b].as_mut().expect("entry exists"), pd, val, plen, prio);
        // Keep the trie path-compressed: drop an empty child, splice out a child with
        // no entries and a single kid.
        let c = n.kids[b].as_ref().unwrap();
        if c.is_empty() {
            n.set_kid(b, None);
        } else if c.entries.is_empty() && (c.kids[0].is_none() || c.kids[1].is_none()) {
            let only = c.kids[0].clone().or_else(|| c.kids[1].clone());
            n.set_kid(b, only);
        } else {
            n.refresh_kid(b);
        }
        r
    };
    n.recompute();
    r
}

fn node_for_each<'a>(n: &'a Node, out: &mut Vec<&'a Entry>) {
    out.extend(n.entries.iter());
    for k in n.kids.iter().flatten() {
        node_for_each(k, out);
    }
}

/// Pending un-wildcarding of the primary dimension: `bits` leading bits, needed only
/// if the subtree they protect against holds a rule above the final threshold.
#[derive(Clone, Copy, Default)]
struct Pending {
    bits: u8,
    prio: u16,
}

/// Walk the trie along the packet's primary dimension. `visit` is called for each
/// node on the path whose subtree can still beat `thr` (which it may raise); it
/// returns the new threshold.
#[inline]
fn walk<'a>(
    root: &'a Node,
    pd: usize,
    ctx: &mut Ctx,
    mut thr: Option<u16>,
    mut visit: impl FnMut(&'a Node, &mut Ctx, Option<u16>) -> Option<u16>,
) {
    let f = ctx.fd[pd];
    let mut pend = [Pending::default(); 34];
    let mut np = 0;
    let mut n = root;
    // `n` is on the packet's path (its prefix matches) and may beat `thr`; kids are
    // judged from the summaries in `n`, so nodes off the path are never read.
    if thr.is_none_or(|t| n.max_prio > t) {
        loop {
            if !n.entries.is_empty() {
                thr = visit(n, ctx, thr);
            }
            if n.len >= 32 {
                break;
            }
            let b = bit(f, n.len);
            if n.kids[b ^ 1].is_some() {
                pend[np] = Pending { bits: n.len + 1, prio: n.kid[b ^ 1].max_prio };
                np += 1;
            }
            let Some(c) = n.kids[b].as_deref() else { break };
            let k = n.kid[b];
            if thr.is_some_and(|t| k.max_prio <= t) {
                break;
            }
            let x = (f ^ k.val) & prefix(k.len);
            if x != 0 {
                // The packet leaves the trie inside this kid's prefix.
                pend[np] = Pending { bits: x.leading_zeros() as u8 + 1, prio: k.max_prio };
                np += 1;
                break;
            }
            n = c;
        }
    }
    let mut need = 0;
    for p in &pend[..np] {
        if thr.is_none_or(|t| p.prio > t) {
            need = need.max(p.bits);
        }
    }
    ctx.wcd[pd] |= prefix(need);
}

impl RuleSet {
    pub fn new(e: Entry) -> RuleSet {
        RuleSet::List(vec![e])
    }

    pub fn len(&self) -> usize {
        match self {
            RuleSet::List(v) => v.len(),
            RuleSet::Trie(t) => t.n,
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Insert `e`; an entry with the same prefixes and priority is replaced (returned).
    pub fn insert(&mut self, e: Entry) -> Option<Entry> {
        match self {
            RuleSet::List(v) => {
                let r = insert_sorted(v, e);
                if r.is_none() && v.len() > LIST_MAX && (v.len() - 1).is_power_of_two() {
                    if let Some(pd) = primary_dim(v.iter(), None) {
                        *self = RuleSet::Trie(Box::new(Trie::build(pd, std::mem::take(v))));
                    }
                }
                r
            }
            RuleSet::Trie(t) => {
                let r = node_insert(&mut t.root, t.pd, e);
                if r.is_none() {
                    t.n += 1;
                    if t.n >= t.next_eval {
                        t.reconsider();
                    }
                }
                r
            }
        }
    }

    pub fn find(&self, val: &Dims, plen: &[u8; N_DIMS], prio: u16) -> Option<&Entry> {
        match self {
            RuleSet::List(v) => v.iter().find(|e| e.same(val, plen, prio)),
            RuleSet::Trie(t) => node_find(&t.root, t.pd, val, plen, prio),
        }
    }

    /// Remove the entry with these prefixes and priority.
    pub fn remove(&mut self, val: &Dims, plen: &[u8; N_DIMS], prio: u16) -> Option<Entry> {
        match self {
            RuleSet::List(v) => {
                let pos = v.iter().position(|e| e.same(val, plen, prio))?;
                Some(v.remove(pos))
            }
            RuleSet::Trie(t) => {
                node_find(&t.root, t.pd, val, plen, prio)?;
                let r = node_remove(&mut t.root, t.pd, val, plen, prio);
                t.n -= 1;
                if t.n <= LIST_MAX / 2 {
                    let mut v: Vec<Entry> = self.entries().into_iter().cloned().collect();
                    v.sort_by(Entry::order);
                    *self = RuleSet::List(v);
                }
                Some(r)
            }
        }
    }

    pub fn entries(&self) -> Vec<&Entry> {
        match self {
            RuleSet::List(v) => v.iter().collect(),
            RuleSet::Trie(t) => {
                let mut out = Vec::with_capacity(t.n);
                node_for_each(&t.root, &mut out);
                out
            }
        }
    }

    /// The best entry matching the packet with priority above `thr` (conjunction
    /// clauses skipped if asked).
    #[inline]
    pub fn search(&self, ctx: &mut Ctx, thr: Option<u16>, skip_conj: bool) -> Option<&Entry> {
        match self {
            RuleSet::List(v) => {
                for e in v {
                    if thr.is_some_and(|t| e.prio <= t) {
                        break;
                    }
                    if skip_conj && e.conj {
                        continue;
                    }
                    if e.check(&ctx.fd, &mut ctx.wcd) {
                        return Some(e);
                    }
                }
                None
            }
            RuleSet::Trie(t) => {
                let mut best = None;
                walk(&t.root, t.pd, ctx, thr, |n, ctx, thr| {
                    for e in &n.entries {
                        if thr.is_some_and(|t| e.prio <= t) {
                            break;
                        }
                        if skip_conj && e.conj {
                            continue;
                        }
                        if e.check(&ctx.fd, &mut ctx.wcd) {
                            best = Some(e);
                            return Some(e.prio);
                        }
                    }
                    thr
                });
                best
            }
        }
    }

    /// Every entry matching the packet with priority above `thr` (only conjunction
    /// clauses if asked), appended to `out`.
    pub fn collect<'a>(&'a self, ctx: &mut Ctx, thr: Option<u16>, only_conj: bool, out: &mut Vec<&'a Entry>) {
        let mut scan = |es: &'a [Entry], ctx: &mut Ctx| {
            for e in es {
                if thr.is_some_and(|t| e.prio <= t) {
                    break;
                }
                if only_conj && !e.conj {
                    continue;
                }
                if e.check(&ctx.fd, &mut ctx.wcd) {
                    out.push(e);
                }
            }
        };
        match self {
            RuleSet::List(v) => scan(v, ctx),
            RuleSet::Trie(t) => walk(&t.root, t.pd, ctx, thr, |n, ctx, thr| {
                scan(&n.entries, ctx);
                thr
            }),
        }
    }
}

/// The dimension with the most distinct prefixes among `entries` (None if no
/// dimension has two). With `keep`, that dimension is kept unless another one has
/// twice as many.
fn primary_dim<'a>(entries: impl Iterator<Item = &'a Entry>, keep: Option<usize>) -> Option<usize> {
    let mut sets: [HashSet<(u32, u8)>; N_DIMS] = Default::default();
    for e in entries {
        for (d, set) in sets.iter_mut().enumerate() {
            if e.plen[d] > 0 {
                set.insert((e.val[d], e.plen[d]));
            }
        }
    }
    let best = (0..N_DIMS).max_by_key(|&d| (sets[d].len(), N_DIMS - d))?;
    if sets[best].len() < 2 {
        return keep;
    }
    match keep {
        Some(k) if sets[best].len() < 2 * sets[k].len().max(1) => Some(k),
        _ => Some(best),
    }
}

impl Trie {
    fn build(pd: usize, entries: Vec<Entry>) -> Trie {
        let mut root = Arc::new(Node::empty(0, 0));
        let n = entries.len();
        for e in entries {
            node_insert(&mut root, pd, e);
        }
        Trie { pd, root, n, next_eval: n * 4 }
    }

    /// Rebuild on another primary dimension if it now has clearly more distinct
    /// prefixes (checked at sizes growing by 4x: amortised O(1) per insert).
    fn reconsider(&mut self) {
        self.next_eval = self.n * 4;
        let mut all = Vec::with_capacity(self.n);
        node_for_each(&self.root, &mut all);
        let pd = primary_dim(all.iter().copied(), Some(self.pd)).unwrap_or(self.pd);
        if pd != self.pd {
            let entries: Vec<Entry> = all.into_iter().cloned().collect();
            let next = self.next_eval;
            *self = Trie::build(pd, entries);
            self.next_eval = next;
        }
    }
}
