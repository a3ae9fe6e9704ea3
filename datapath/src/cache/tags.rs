//! Targeted revalidation: what a translation consulted (tags), and the log of what
//! changed (the change log every worker follows).
//!
//! # Why
//! A megaflow holds while the state its translation read stays the same. Two kinds of
//! state are read:
//! - the OpenFlow tables and ports, published as immutable pipeline snapshots. A new
//!   snapshot moves the datapath-wide epoch and every cached megaflow is revalidated
//!   on its next hit (as Open vSwitch does after a flow-mod);
//! - state that changes under the snapshot, at packet rates: MAC tables (and next:
//!   neighbours, underlay routes, tunnel ports). Bumping the epoch for each of those
//!   changes would re-translate every megaflow of every worker whenever one MAC is
//!   learned. Instead, as Open vSwitch's revalidator tags and xlate cache do, a
//!   translation records a [`Tag`] for each such thing it consulted
//!   (`XlateOut::deps`), the megaflow keeps them, and a change is published as the
//!   tags of what changed. Only the megaflows that consulted a changed thing are
//!   marked stale; the existing lazy path re-translates them on their next hit.
//!
//! # Tags
//! A tag is a 64-bit hash of a kind and its values. Two things may share a tag: that
//! only costs a needless revalidation, never a wrong answer. [`Tag::ANY`] is reserved
//! (no constructor returns it): in the change log it means "everything changed" (a
//! full revalidation); in a megaflow's dependencies it means "depends on everything"
//! (its translation consulted more things than a megaflow keeps, [`MAX_DEPS`]).
//! NORMAL records `Tag::mac(bridge, vlan, dst)` both when it finds the destination and
//! when it floods because it does not: learning that MAC must revalidate the flooding
//! megaflows that looked for it.
//!
//! # The change log
//! A ring of [`LOG_SIZE`] `AtomicU64` tags and an `AtomicU64` sequence (tags pushed so
//! far). Writers (NORMAL learning during translation on any worker, the control
//! thread aging MACs out or removing ports) serialize among themselves on a small
//! mutex, write the tag into slot `seq % LOG_SIZE`, then publish `seq + 1` (release).
//! Readers never lock: a worker compares the sequence with the one it has applied
//! once per poll-loop iteration (one atomic load, like the epoch check) and, when it
//! moved, reads the new tags and then the sequence again: if a writer may have
//! overwritten a slot it read (the sequence moved `LOG_SIZE` or more past the first
//! tag it needed), it falls back to a full revalidation (counted as an overrun).
//!
//! Ordering: a writer changes its table, then pushes the tag. A worker reads the
//! sequence before it translates, so a translation that read the old state always
//! has the change's tag ahead of the worker's cursor and its megaflow is marked when
//! the worker next reads the log; a worker whose cursor already covers the push reads
//! the new state (acquire on the sequence).

use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};

use parking_lot::Mutex;

/// Tags the change log keeps; a worker further behind revalidates everything.
pub const LOG_SIZE: usize = 4096;
/// Dependencies one megaflow keeps; a translation that consulted more depends on
/// everything ([`Tag::ANY`]).
pub const MAX_DEPS: usize = 32;

/// Something a translation consulted that can change without a new pipeline snapshot.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Tag(pub u64);

const KIND_MAC: u64 = 1;
const KIND_NEIGH4: u64 = 2;
const KIND_NEIGH6: u64 = 3;
const KIND_ROUTE: u64 = 4;
const KIND_TNL_PORTS: u64 = 5;

#[inline]
fn mix(h: u64, v: u64) -> u64 {
    // splitmix64's finalizer over (h ^ v): deterministic, well spread.
    let mut z = (h ^ v).wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

impl Tag {
    /// Matches every tag: "everything changed" in the log, "depends on everything" in
    /// a megaflow.
    pub const ANY: Tag = Tag(0);

    fn of(kind: u64, vals: &[u64]) -> Tag {
        let mut h = mix(0, kind);
        for &v in vals {
            h = mix(h, v);
        }
        Tag(if h == Tag::ANY.0 { 1 } else { h })
    }

    /// The MAC-table entry (`vlan`, `mac`) of bridge `bridge` (its index): NORMAL
    /// looked it up; it was learned, moved, aged out or flushed.
    pub fn mac(bridge: usize, vlan: u16, mac: [u8; 6]) -> Tag {
        let m = mac.iter().fold(0u64, |a, &b| a << 8 | b as u64);
        Tag::of(KIND_MAC, &[(bridge as u64) << 16 | vlan as u64, m])
    }

    /// The neighbour entry (ARP/ND: next-hop MAC) of an underlay address: tunnel
    /// encapsulation resolved it (or found it missing); it was learned, changed or
    /// expired.
    pub fn neigh(addr: IpAddr) -> Tag {
        match addr {
            IpAddr::V4(a) => Tag::of(KIND_NEIGH4, &[u32::from(a) as u64]),
            IpAddr::V6(a) => {
                let v = u128::from(a);
                Tag::of(KIND_NEIGH6, &[(v >> 64) as u64, v as u64])
            }
        }
    }

    /// The whole underlay route table: any route change revalidates every megaflow
    /// that routed a tunnel packet (routes change rarely; one tag keeps it simple).
    pub fn route() -> Tag {
        Tag::of(KIND_ROUTE, &[])
    }

    /// The set of tunnel ports (which (type, key, remote, local) a received tunnel
    /// packet maps to): decapsulation consulted it; a tunnel port was added, removed
    /// or changed.
    pub fn tnl_ports() -> Tag {
        Tag::of(KIND_TNL_PORTS, &[])
    }
}

/// The tags one translation consulted: deduplicated, at most [`MAX_DEPS`] (beyond
/// that, just [`Tag::ANY`]).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TagSet(Vec<Tag>);

impl TagSet {
    #[inline]
    pub fn insert(&mut self, t: Tag) {
        if self.0.first() == Some(&Tag::ANY) || self.0.contains(&t) {
            return;
        }
        if self.0.len() >= MAX_DEPS || t == Tag::ANY {
            self.0.clear();
            self.0.push(Tag::ANY);
            return;
        }
        self.0.push(t);
    }

    pub fn as_slice(&self) -> &[Tag] {
        &self.0
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn contains(&self, t: Tag) -> bool {
        self.0.contains(&t)
    }

    pub fn into_boxed_slice(self) -> Box<[Tag]> {
        self.0.into_boxed_slice()
    }
}

/// The log of changed tags (see the module documentation).
pub struct ChangeLog {
    seq: AtomicU64,
    ring: Box<[AtomicU64]>,
    writer: Mutex<()>,
}

impl std::fmt::Debug for ChangeLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChangeLog").field("seq", &self.seq()).finish()
    }
}

impl Default for ChangeLog {
    fn default() -> Self {
        ChangeLog::new()
    }
}

/// The log moved on past tags a reader still needed: revalidate everything.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Overrun;

impl ChangeLog {
    pub fn new() -> ChangeLog {
        ChangeLog { seq: AtomicU64::new(0), ring: (0..LOG_SIZE).map(|_| AtomicU64::new(0)).collect(), writer: Mutex::new(()) }
    }

    /// Tags pushed so far (a reader's cursor).
    #[inline]
    pub fn seq(&self) -> u64 {
        self.seq.load(Ordering::Acquire)
    }

    /// Publish that the things behind `tags` changed. More tags than the log holds
    /// become one [`Tag::ANY`].
    pub fn push(&self, tags: &[Tag]) {
        if tags.is_empty() {
            return;
        }
        let all = [Tag::ANY];
        let tags = if tags.len() >= LOG_SIZE / 2 { &all[..] } else { tags };
        let _w = self.writer.lock();
        let mut s = self.seq.load(Ordering::Relaxed);
        for t in tags {
            self.ring[s as usize % LOG_SIZE].store(t.0, Ordering::Release);
            s += 1;
            self.seq.store(s, Ordering::Release);
        }
    }

    /// Everything changed (e.g. a whole MAC table flushed).
    pub fn push_all(&self) {
        self.push(&[Tag::ANY]);
    }

    /// Append the tags pushed since `from` to `out`; returns the new cursor. On
    /// `Err`, tags were lost: the caller revalidates everything and continues from
    /// the returned cursor.
    pub fn read(&self, from: u64, out: &mut Vec<Tag>) -> Result<u64, (Overrun, u64)> {
        let end = self.seq();
        if end.wrapping_sub(from) >= LOG_SIZE as u64 || from > end {
            return Err((Overrun, end));
        }
        for i in from..end {
            // Acquire: the sequence load below cannot move before these reads.
            out.push(Tag(self.ring[i as usize % LOG_SIZE].load(Ordering::Acquire)));
        }
        // A writer overwriting slot of index i writes index i + LOG_SIZE and has
        // published at least that sequence before (see the module documentation).
        let now = self.seq.load(Ordering::Acquire);
        if now.wrapping_sub(from) >= LOG_SIZE as u64 {
            return Err((Overrun, end));
        }
        Ok(end)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_differ_and_never_any() {
        let a = Tag::mac(0, 1, [2, 0, 0, 0, 0, 1]);
        assert_ne!(a, Tag::mac(1, 1, [2, 0, 0, 0, 0, 1]));
        assert_ne!(a, Tag::mac(0, 2, [2, 0, 0, 0, 0, 1]));
        assert_ne!(a, Tag::mac(0, 1, [2, 0, 0, 0, 0, 2]));
        assert_eq!(a, Tag::mac(0, 1, [2, 0, 0, 0, 0, 1]));
        let n4 = Tag::neigh("10.0.0.1".parse().unwrap());
        let n6 = Tag::neigh("::a00:1".parse().unwrap());
        assert_ne!(n4, n6);
        for t in [a, n4, n6, Tag::route(), Tag::tnl_ports()] {
            assert_ne!(t, Tag::ANY);
        }
        assert_ne!(Tag::route(), Tag::tnl_ports());
    }

    #[test]
    fn tagset_dedups_and_bounds() {
        let mut s = TagSet::default();
        s.insert(Tag::route());
        s.insert(Tag::route());
        assert_eq!(s.as_slice(), &[Tag::route()]);
        for i in 0..MAX_DEPS as u8 + 1 {
            s.insert(Tag::mac(0, 0, [2, 0, 0, 0, 0, i]));
        }
        assert_eq!(s.as_slice(), &[Tag::ANY]);
        s.insert(Tag::tnl_ports());
        assert_eq!(s.as_slice(), &[Tag::ANY]);
    }

    #[test]
    fn log_reads_and_detects_overrun() {
        let log = ChangeLog::new();
        let mut out = Vec::new();
        assert_eq!(log.read(0, &mut out), Ok(0));
        log.push(&[Tag::route(), Tag::tnl_ports()]);
        assert_eq!(log.read(0, &mut out), Ok(2));
        assert_eq!(out, vec![Tag::route(), Tag::tnl_ports()]);
        out.clear();
        for _ in 0..LOG_SIZE {
            log.push(&[Tag::route()]);
        }
        assert_eq!(log.read(2, &mut out), Err((Overrun, 2 + LOG_SIZE as u64)));
        // Far more tags at once than the log holds: one ANY.
        let many: Vec<Tag> = (0..LOG_SIZE as u32).map(|i| Tag::neigh(std::net::Ipv4Addr::from(i).into())).collect();
        let s = log.seq();
        log.push(&many);
        out.clear();
        assert_eq!(log.read(s, &mut out), Ok(s + 1));
        assert_eq!(out, vec![Tag::ANY]);
    }
}
