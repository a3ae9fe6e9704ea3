//! Targeted revalidation: a MAC-table change re-translates only the megaflows whose
//! translation looked that MAC up.

use std::collections::BTreeSet;
use std::sync::Arc;

use super::Cache;
use crate::flow::field::Field;
use crate::flow::FlowKey;
use crate::odp::DpAction;
use crate::ofproto::pipeline::Pipeline;
use crate::ofproto::{Ofproto, PortRequest};
use crate::xlate;

const N_SRC: usize = 4;
const N_DST: usize = 50;
/// Destinations 0..LEARNED are in the MAC table from the start; the rest flood.
const LEARNED: usize = 40;

fn mac(kind: u8, i: usize) -> [u8; 6] {
    [2, kind, 0, 0, (i >> 8) as u8, i as u8]
}

fn mac_u128(m: [u8; 6]) -> u128 {
    m.iter().fold(0u128, |a, &b| a << 8 | b as u128)
}

struct Fixture {
    _o: Ofproto,
    p: Arc<Pipeline>,
    epoch: u64,
    cache: Cache,
    /// (src index, dst index, key)
    keys: Vec<(usize, usize, FlowKey)>,
}

impl Fixture {
    /// br0 (NORMAL) with four ports; sources i on port i+1; N_SRC x N_DST megaflows.
    fn new() -> Fixture {
        let mut o = Ofproto::new();
        o.add_bridge("br0", false).unwrap(); // standalone: priority=0,actions=NORMAL
        let mut dps = Vec::new();
        for i in 1..=4u32 {
            let p = o.add_port("br0", PortRequest { name: format!("p{i}"), ofport: Some(i), ..Default::default() }).unwrap();
            dps.push(p.dp_port.unwrap());
        }
        let p = Arc::new(o.snapshot());
        let epoch = o.epoch().load(std::sync::atomic::Ordering::Acquire);
        let mt = &p.bridge(0).unwrap().mac;
        for d in 0..LEARNED {
            mt.learn(0, mac(0xd, d), (d % 4) as u32 + 1);
        }
        let mut keys = Vec::new();
        for (s, &dp) in dps.iter().enumerate().take(N_SRC) {
            for d in 0..N_DST {
                let mut k = FlowKey::ZERO;
                k.set_in_port(dp);
                Field::EthSrc.set(&mut k, mac_u128(mac(0x5, s)));
                Field::EthDst.set(&mut k, mac_u128(mac(0xd, d)));
                Field::EthType.set(&mut k, 0x0800);
                keys.push((s, d, k));
            }
        }
        let mut cache = Cache::new(0, 1 << 16);
        cache.follow(&p.changes);
        let mut f = Fixture { _o: o, p, epoch, cache, keys };
        for (_, _, k) in f.keys.clone() {
            f.cache.upcall(&k, &f.p, f.epoch);
        }
        assert_eq!(f.cache.mf.len(), N_SRC * N_DST);
        // The upcalls learned the sources: nothing looked those up.
        f.cache.poll_changes(&f.p.changes);
        assert_eq!(f.cache.counters.reval_marked, 0);
        f
    }

    /// Every key through the cache (as packets would go); returns each one's actions.
    fn run_all(&mut self) -> Vec<Vec<DpAction>> {
        self.cache.poll_changes(&self.p.changes);
        let mut v = Vec::new();
        for (_, _, k) in self.keys.clone() {
            let idx = match self.cache.lookup(&k, &self.p, self.epoch) {
                Some((i, _)) => i,
                None => self.cache.upcall(&k, &self.p, self.epoch).0,
            };
            let e = self.cache.mf.get(idx).unwrap();
            assert_eq!(&e.actions[..], &xlate::translate_pure(&self.p, &k).actions[..], "cache and slow path disagree for {k:?}");
            v.push(e.actions.to_vec());
        }
        v
    }

    fn keys_to(&self, d: usize) -> BTreeSet<usize> {
        self.keys.iter().enumerate().filter(|(_, (_, dd, _))| *dd == d).map(|(i, _)| i).collect()
    }
}

fn changed(a: &[Vec<DpAction>], b: &[Vec<DpAction>]) -> BTreeSet<usize> {
    a.iter().zip(b).enumerate().filter(|(_, (x, y))| x != y).map(|(i, _)| i).collect()
}

#[test]
fn learning_a_mac_revalidates_only_the_flows_that_looked_for_it() {
    let mut f = Fixture::new();
    let before = f.run_all();
    let c0 = f.cache.counters;
    assert_eq!(c0.revalidated, 0);

    // A destination that was flooded becomes known.
    let d = LEARNED + 5;
    assert!(f.p.bridge(0).unwrap().mac.learn(0, mac(0xd, d), 2));
    f.cache.poll_changes(&f.p.changes);
    let c1 = f.cache.counters;
    assert_eq!(c1.reval_tags - c0.reval_tags, 1);
    assert_eq!(c1.reval_marked - c0.reval_marked, N_SRC as u64);
    assert_eq!(c1.reval_full, c0.reval_full);
    let after = f.run_all();
    let c2 = f.cache.counters;
    assert_eq!(c2.revalidated - c1.revalidated, N_SRC as u64, "only the entries towards the new MAC are re-translated");
    // Flooding -> unicast (or drop for the source on the MAC's port): all of them changed.
    assert_eq!(changed(&before, &after), f.keys_to(d));
    assert_eq!(c2.revalidation_removed - c1.revalidation_removed, N_SRC as u64);

    // Nothing more changes: another pass re-translates nothing.
    let again = f.run_all();
    assert_eq!(again, after);
    assert_eq!(f.cache.counters.revalidated, c2.revalidated);
}

#[test]
fn a_mac_move_changes_exactly_the_affected_flows() {
    let mut f = Fixture::new();
    let before = f.run_all();
    let c0 = f.cache.counters;
    let d = 10; // learned on port 3 (10 % 4 + 1)
    assert!(f.p.bridge(0).unwrap().mac.learn(0, mac(0xd, d), 1));
    f.cache.poll_changes(&f.p.changes);
    let c1 = f.cache.counters;
    assert_eq!(c1.reval_marked - c0.reval_marked, N_SRC as u64);
    let after = f.run_all();
    assert_eq!(f.cache.counters.revalidated - c1.revalidated, N_SRC as u64);
    assert_eq!(changed(&before, &after), f.keys_to(d));
    // Learning it again on the same port changes nothing and marks nothing.
    assert!(!f.p.bridge(0).unwrap().mac.learn(0, mac(0xd, d), 1));
    f.cache.poll_changes(&f.p.changes);
    assert_eq!(f.cache.counters.reval_marked, c1.reval_marked);
}

#[test]
fn aging_marks_only_the_aged_macs_flows() {
    let mut f = Fixture::new();
    let before = f.run_all();
    let c0 = f.cache.counters;
    let mt = f.p.bridge(0).unwrap().mac.clone();
    let d = 21;
    // Everything ages, then all but `d` see traffic again.
    mt.set_aging_ns(500_000_000);
    std::thread::sleep(std::time::Duration::from_millis(600));
    for dd in (0..LEARNED).filter(|&x| x != d) {
        mt.refresh(0, mac(0xd, dd), (dd % 4) as u32 + 1);
    }
    for s in 0..N_SRC {
        mt.refresh(0, mac(0x5, s), s as u32 + 1);
    }
    assert_eq!(mt.expire(), 1);
    f.cache.poll_changes(&f.p.changes);
    let c1 = f.cache.counters;
    assert_eq!(c1.reval_marked - c0.reval_marked, N_SRC as u64);
    let after = f.run_all();
    assert_eq!(f.cache.counters.revalidated - c1.revalidated, N_SRC as u64);
    // Unicast -> flooding.
    assert_eq!(changed(&before, &after), f.keys_to(d));
}

#[test]
fn port_flush_marks_its_macs_and_full_flush_marks_all() {
    let mut f = Fixture::new();
    f.run_all();
    let c0 = f.cache.counters;
    let mt = f.p.bridge(0).unwrap().mac.clone();
    // Port 4 has destinations 3, 7, ..., 39 (10 of them) and source 3.
    mt.flush(Some(4));
    f.cache.poll_changes(&f.p.changes);
    let c1 = f.cache.counters;
    assert_eq!(c1.reval_tags - c0.reval_tags, 11);
    assert_eq!(c1.reval_marked - c0.reval_marked, 10 * N_SRC as u64);
    f.run_all();
    mt.flush(None);
    f.cache.poll_changes(&f.p.changes);
    let c2 = f.cache.counters;
    assert_eq!(c2.reval_full - c1.reval_full, 1);
    let n = f.cache.mf.len() as u64;
    f.run_all();
    assert!(f.cache.counters.revalidated - c2.revalidated >= n);
}

#[test]
fn log_overrun_falls_back_to_a_full_revalidation() {
    let mut f = Fixture::new();
    f.run_all();
    let c0 = f.cache.counters;
    let mt = f.p.bridge(0).unwrap().mac.clone();
    // More moves than the log holds before the worker looks.
    for i in 0..super::tags::LOG_SIZE + 10 {
        mt.learn(0, mac(0xd, 0), (i % 2) as u32 + 1);
    }
    f.cache.poll_changes(&f.p.changes);
    let c1 = f.cache.counters;
    assert_eq!(c1.reval_overruns - c0.reval_overruns, 1);
    assert_eq!(c1.reval_full - c0.reval_full, 1);
    f.run_all();
}

#[test]
fn index_stays_bounded_under_churn() {
    let mut f = Fixture::new();
    let mt = f.p.bridge(0).unwrap().mac.clone();
    for round in 0..200 {
        // Every flow re-translated (a new snapshot), then expiry compacts.
        f.epoch += 1;
        f.run_all();
        f.cache.expire_idle(0, u64::MAX);
        mt.learn(0, mac(0xd, round % N_DST), (round % 4) as u32 + 1);
    }
    assert!(f.cache.index_refs() <= 3 * N_SRC * N_DST + 4096, "{}", f.cache.index_refs());
}
