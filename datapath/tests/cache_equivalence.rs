//! The key invariant of the datapath: for any rule set and any packet, the cached path
//! (EMC, megaflow) gives exactly the datapath actions the slow path (a fresh
//! translation through the OpenFlow tables) gives, also while rules change.
//!
//! Rule sets, packets and flow-mods are random, over a small universe of values so
//! that packets share fields and megaflows get hit by packets other than the one that
//! created them. Between packets the MAC tables change too (MACs learned, moved,
//! flushed), which only the megaflows that looked those MACs up may notice (targeted
//! revalidation through the change log, `xvs::cache::tags`).

use std::sync::atomic::Ordering;
use std::sync::Arc;

use proptest::prelude::*;

use xvs::cache::Cache;
use xvs::flow::action::{Action, SetSpelling};
use xvs::flow::field::{Field, SubField};
use xvs::flow::{FlowKey, FlowSpec, Match};
use xvs::ofproto::pipeline::Pipeline;
use xvs::ofproto::{Criteria, Ofproto, PortKind, PortRequest};
use xvs::rng::Rng;
use xvs::xlate;


const MACS: [u64; 4] = [0x0200_0000_0001, 0x0200_0000_0002, 0x0200_0000_0003, 0xffff_ffff_ffff];
const IPS: [u32; 4] = [0x0a00_0001, 0x0a00_0002, 0x0a00_0102, 0xc0a8_0001];
const PORTS: [u16; 4] = [22, 80, 5000, 5001];
const TYPES: [u16; 3] = [0x0800, 0x0806, 0x86dd];

fn random_match(r: &mut Rng, table: u8) -> Match {
    let mut m = Match::catchall();
    if r.chance(50) {
        m.set(Field::InPort, r.below(4) as u128 + 1);
    }
    if r.chance(30) {
        m.set(Field::EthDst, r.pick(&MACS) as u128);
    } else if r.chance(15) {
        // multicast bit only, as Neutron's br-tun table 2 does
        m.set_masked(Field::EthDst, if r.chance(50) { 0x0100_0000_0000 } else { 0 }, 0x0100_0000_0000);
    }
    if r.chance(20) {
        m.set(Field::EthSrc, r.pick(&MACS) as u128);
    }
    if r.chance(20) {
        m.set(Field::VlanTci, if r.chance(50) { 0 } else { 0x1000 | r.pick(&[5u128, 6]) });
    }
    if r.chance(50) {
        let t = r.pick(&TYPES);
        m.set(Field::EthType, t as u128);
        if t == 0x0800 {
            if r.chance(50) {
                let proto = r.pick(&[1u128, 6, 17]);
                m.set(Field::IpProto, proto);
                if proto != 1 && r.chance(60) {
                    let mask = r.pick(&[0xffffu128, 0xfffe, 0xff00]);
                    m.set_masked(Field::TpDst, r.pick(&PORTS) as u128, mask);
                }
            }
            if r.chance(40) {
                let plen = r.pick(&[8u32, 16, 24, 32]);
                let mask = (u32::MAX << (32 - plen)) as u128;
                m.set_masked(Field::Ipv4Dst, r.pick(&IPS) as u128, mask);
            }
            if r.chance(20) {
                m.set(Field::Ipv4Src, r.pick(&IPS) as u128);
            }
        }
        if t == 0x0806 && r.chance(40) {
            m.set(Field::ArpOp, r.pick(&[1u128, 2]));
        }
    }
    if table > 0 && r.chance(30) {
        m.set(Field::Reg0, r.below(3) as u128);
    }
    m
}

fn random_actions(r: &mut Rng, table: u8) -> Vec<Action> {
    let mut v = Vec::new();
    let n = r.below(4);
    for _ in 0..n {
        let a = match r.below(13) {
            0 | 1 => Action::Output { port: r.below(5) as u32 + 1, max_len: None },
            2 => Action::Normal,
            3 => Action::SetVlanVid { vid: r.pick(&[5u16, 6, 7]), push_if_needed: true },
            4 => Action::StripVlan,
            5 => Action::SetField { field: Field::EthSrc, value: r.pick(&MACS) as u128, mask: Field::EthSrc.all_ones(), spelling: SetSpelling::ModDlSrc },
            6 => Action::SetField { field: Field::Ipv4Dst, value: r.pick(&IPS) as u128, mask: Field::Ipv4Dst.all_ones(), spelling: SetSpelling::ModNwDst },
            7 => Action::SetField { field: Field::TpDst, value: r.pick(&PORTS) as u128, mask: 0xffff, spelling: SetSpelling::ModTpDst },
            8 => Action::Load { dst: SubField { field: Field::Reg0, ofs: 0, n_bits: 8 }, value: r.below(3) as u128 },
            9 => Action::Move { src: SubField { field: Field::EthSrc, ofs: 0, n_bits: 48 }, dst: SubField { field: Field::EthDst, ofs: 0, n_bits: 48 } },
            10 if table < 3 => Action::Resubmit { port: None, table: Some(table + 1 + r.below(2) as u8) },
            11 => Action::InPort,
            12 => Action::Flood,
            _ => Action::DecTtl,
        };
        v.push(a);
    }
    if table < 3 && r.chance(25) {
        v.push(Action::GotoTable(table + 1));
    }
    v
}

fn random_rule(r: &mut Rng) -> FlowSpec {
    let table = r.below(4) as u8;
    FlowSpec {
        table: Some(table),
        priority: Some(r.below(5) as u16 * 10),
        m: random_match(r, table),
        actions: Some(random_actions(r, table)),
        ..Default::default()
    }
}

fn random_packet(r: &mut Rng, dp_ports: &[u32]) -> FlowKey {
    let mut k = FlowKey::ZERO;
    k.set_in_port(r.pick(dp_ports));
    Field::EthDst.set(&mut k, r.pick(&MACS) as u128);
    Field::EthSrc.set(&mut k, r.pick(&MACS[..3]) as u128);
    if r.chance(30) {
        k.set_vlan_tci(0x1000 | r.pick(&[5u16, 6]));
    }
    let t = r.pick(&TYPES);
    Field::EthType.set(&mut k, t as u128);
    match t {
        0x0800 => {
            Field::Ipv4Src.set(&mut k, r.pick(&IPS) as u128);
            Field::Ipv4Dst.set(&mut k, r.pick(&IPS) as u128 ^ r.below(2) as u128);
            Field::NwTtl.set(&mut k, r.pick(&[1u128, 64]));
            let proto = r.pick(&[1u8, 6, 17]);
            Field::IpProto.set(&mut k, proto as u128);
            if proto == 1 {
                Field::IcmpType.set(&mut k, 8);
            } else {
                Field::TpSrc.set(&mut k, 40000 + r.below(3) as u128);
                Field::TpDst.set(&mut k, r.pick(&PORTS) as u128 ^ r.below(2) as u128);
            }
        }
        0x0806 => {
            Field::ArpOp.set(&mut k, r.pick(&[1u128, 2]));
            Field::ArpSpa.set(&mut k, r.pick(&IPS) as u128);
            Field::ArpTpa.set(&mut k, r.pick(&IPS) as u128);
            Field::ArpSha.set(&mut k, r.pick(&MACS) as u128);
        }
        _ => {
            Field::Ipv6Src.set(&mut k, 0xfe80 << 112 | r.below(3) as u128);
            Field::Ipv6Dst.set(&mut k, 0xfe80 << 112 | r.below(3) as u128);
            Field::IpProto.set(&mut k, 17);
            Field::TpDst.set(&mut k, r.pick(&PORTS) as u128);
        }
    }
    k
}

/// A conjunctive match: clause 1 on nw_dst, clause 2 on tp_dst (optionally a
/// clause 3 on in_port), and the `conj_id` rule with the actions, as Neutron's
/// security groups write them.
fn random_conjunction(r: &mut Rng, id: u32) -> Vec<FlowSpec> {
    let table = r.below(2) as u8;
    let prio = Some(r.pick(&[15u16, 25, 35]));
    let n: u8 = if r.chance(30) { 3 } else { 2 };
    let conj = |k: u8| vec![Action::Conjunction { id, clause: k, n_clauses: n }];
    let mut v = Vec::new();
    for _ in 0..1 + r.below(2) {
        let mut m = Match::catchall();
        m.set(Field::EthType, 0x0800);
        m.set(Field::Ipv4Dst, r.pick(&IPS) as u128);
        v.push(FlowSpec { table: Some(table), priority: prio, m, actions: Some(conj(1)), ..Default::default() });
    }
    for _ in 0..1 + r.below(2) {
        let mut m = Match::catchall();
        m.set(Field::EthType, 0x0800);
        m.set(Field::IpProto, r.pick(&[6u128, 17]));
        m.set(Field::TpDst, r.pick(&PORTS) as u128);
        v.push(FlowSpec { table: Some(table), priority: prio, m, actions: Some(conj(2)), ..Default::default() });
    }
    if n == 3 {
        let mut m = Match::catchall();
        m.set(Field::InPort, r.below(4) as u128 + 1);
        v.push(FlowSpec { table: Some(table), priority: prio, m, actions: Some(conj(3)), ..Default::default() });
    }
    let mut m = Match::catchall();
    m.set(Field::ConjId, id as u128);
    v.push(FlowSpec { table: Some(table), priority: prio, m, actions: Some(random_actions(r, table)), ..Default::default() });
    v
}

/// br0 with four afxdp ports (ofports 1-4) and a patch to br1, which has one port.
fn build(r: &mut Rng, n_rules: usize) -> (Ofproto, Vec<u32>) {
    let mut o = Ofproto::new();
    o.add_bridge("br0", r.chance(50)).unwrap();
    o.add_bridge("br1", true).unwrap();
    let mut dps = Vec::new();
    for i in 1..=4 {
        let p = o
            .add_port("br0", PortRequest { name: format!("p{i}"), ofport: Some(i), tag: if i == 4 { Some(5) } else { None }, ..Default::default() })
            .unwrap();
        dps.push(p.dp_port.unwrap().0);
    }
    o.add_port("br0", PortRequest { name: "patch0".into(), ofport: Some(5), kind: Some(PortKind::Patch { peer: "patch1".into() }), ..Default::default() }).unwrap();
    o.add_port("br1", PortRequest { name: "patch1".into(), ofport: Some(1), kind: Some(PortKind::Patch { peer: "patch0".into() }), ..Default::default() }).unwrap();
    let p = o.add_port("br1", PortRequest { name: "q1".into(), ofport: Some(2), ..Default::default() }).unwrap();
    dps.push(p.dp_port.unwrap().0);
    let mut rules: Vec<FlowSpec> = (0..n_rules).map(|_| random_rule(r)).collect();
    for id in 0..r.below(3) as u32 {
        rules.extend(random_conjunction(r, id + 1));
    }
    o.add_flows("br0", &rules).unwrap();
    let br1: Vec<FlowSpec> = (0..n_rules / 3).map(|_| random_rule(r)).collect();
    o.add_flows("br1", &br1).unwrap();
    (o, dps)
}

fn publish(o: &mut Ofproto) -> Arc<Pipeline> {
    let p = Arc::new(o.snapshot());
    o.epoch().fetch_add(1, Ordering::Release);
    p
}

/// Change the MAC tables as traffic the cache does not see would: learn a MAC (new or
/// a move to another port), or forget a port's MACs; rarely a whole table.
fn change_macs(r: &mut Rng, p: &Pipeline) {
    let b = r.below(2) as usize;
    let mt = &p.bridge(b).unwrap().mac;
    let ports: &[u32] = if b == 0 { &[1, 2, 3, 4, 5] } else { &[1, 2] };
    match r.below(20) {
        0..=15 => {
            let m = MACS[r.below(3) as usize].to_be_bytes();
            let mac = [m[2], m[3], m[4], m[5], m[6], m[7]];
            mt.learn(r.pick(&[0u16, 5, 6]), mac, r.pick(ports));
        }
        16..=18 => mt.flush(Some(r.pick(ports))),
        _ => mt.flush(None),
    }
}

fn check(seed: u64, n_rules: usize, n_packets: usize) {
    let mut r = Rng::from_state(seed | 1);
    let (mut o, dps) = build(&mut r, n_rules);
    let mut p = publish(&mut o);
    let epoch = o.epoch();
    let log = o.changes();
    let mut cache = Cache::new(if r.chance(50) { 64 } else { 0 }, 1 << 16);
    cache.follow(&log);
    for i in 0..n_packets {
        if i > 0 && i % 50 == 0 {
            // A flow-mod: add, delete or modify rules, then publish.
            match r.below(3) {
                0 => {
                    let s = random_rule(&mut r);
                    o.add_flows("br0", &[s]).unwrap();
                }
                1 => {
                    let c = Criteria { table: Some(r.below(4) as u8), ..Criteria::all() };
                    o.del_flows("br0", &c).unwrap();
                }
                _ => {
                    let mut s = random_rule(&mut r);
                    s.m = Match::catchall();
                    s.table = Some(0);
                    o.mod_flows("br0", &s, false).unwrap();
                }
            }
            p = publish(&mut o);
        }
        if r.chance(15) {
            change_macs(&mut r, &p);
        }
        // As the worker does between batches: apply the published MAC changes.
        cache.poll_changes(&log);
        let seq = log.seq();
        let key = random_packet(&mut r, &dps);
        // What the tables say about this packet now, without side effects.
        let slow = xlate::translate_pure(&p, &key);
        let e = epoch.load(Ordering::Acquire);
        let idx = match cache.lookup(&key, &p, e) {
            Some((idx, _)) => idx,
            None => cache.upcall(&key, &p, e).0,
        };
        let entry = cache.mf.get(idx).unwrap();
        // The megaflow must cover the packet it answered for.
        let mask = cache.mf.mask_of(idx).unwrap();
        assert!(entry.key.eq_masked(&key, mask));
        if log.seq() != seq {
            // The cached path's own translation learned a MAC (NORMAL). Its entry may
            // reflect the state before that; if so it depends on the changed MAC and
            // must be marked stale once the change is applied.
            cache.poll_changes(&log);
            let entry = cache.mf.get(idx).unwrap();
            let now = xlate::translate_pure(&p, &key);
            let fresh = entry.epoch == epoch.load(Ordering::Acquire);
            assert!(
                !fresh || (&entry.actions[..], entry.error) == (&now.actions[..], now.error),
                "seed {seed:#x}, packet {i}: a cache entry not marked by the MAC it learned disagrees with the tables for {key:?}"
            );
        } else if epoch.load(Ordering::Acquire) == e {
            // No state changed while the cache answered: it must agree with the tables.
            assert_eq!(
                (&entry.actions[..], entry.error),
                (&slow.actions[..], slow.error),
                "seed {seed:#x}, packet {i}: cached and slow path disagree for {key:?}"
            );
        } else {
            // The cached path's own translation learned something (NORMAL). Its entry
            // may reflect the state before that; it must then be marked stale so the
            // next packet revalidates it.
            let now = xlate::translate_pure(&p, &key);
            let fresh = entry.epoch == epoch.load(Ordering::Acquire);
            assert!(
                !fresh || (&entry.actions[..], entry.error) == (&now.actions[..], now.error),
                "seed {seed:#x}, packet {i}: a fresh cache entry disagrees with the tables for {key:?}"
            );
        }
    }
    let c = cache.counters;
    assert!(c.megaflow_hits + c.emc_hits + c.port_hits > 0, "seed {seed:#x}: the cache was never hit");
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]
    #[test]
    fn cached_path_equals_slow_path(seed in any::<u64>(), n_rules in 1usize..60) {
        check(seed, n_rules, 400);
    }
}

#[test]
fn large_rule_sets() {
    for seed in 1..6u64 {
        check(seed * 0x9e37_79b9, 400, 2000);
    }
}

/// NORMAL-heavy rule sets: most flows end in NORMAL, so most megaflows depend on
/// MAC entries, and the tables change often.
#[test]
fn normal_heavy_with_mac_changes() {
    for seed in 1..40u64 {
        let mut r = Rng::from_state((seed * 0x51_7cc1) | 1);
        let (mut o, dps) = build(&mut r, 3);
        let normal = FlowSpec { table: Some(0), priority: Some(100), actions: Some(vec![Action::Normal]), ..Default::default() };
        o.add_flows("br0", std::slice::from_ref(&normal)).unwrap();
        o.add_flows("br1", &[normal]).unwrap();
        let p = publish(&mut o);
        let epoch = o.epoch();
        let log = o.changes();
        let mut cache = Cache::new(if seed % 2 == 0 { 64 } else { 0 }, 1 << 16);
        cache.follow(&log);
        for i in 0..600 {
            if r.chance(30) {
                change_macs(&mut r, &p);
            }
            cache.poll_changes(&log);
            let seq = log.seq();
            let key = random_packet(&mut r, &dps);
            let slow = xlate::translate_pure(&p, &key);
            let e = epoch.load(Ordering::Acquire);
            let idx = match cache.lookup(&key, &p, e) {
                Some((idx, _)) => idx,
                None => cache.upcall(&key, &p, e).0,
            };
            if log.seq() == seq {
                let entry = cache.mf.get(idx).unwrap();
                assert_eq!(
                    (&entry.actions[..], entry.error),
                    (&slow.actions[..], slow.error),
                    "seed {seed}, packet {i}: cached and slow path disagree for {key:?}"
                );
            }
        }
        let c = cache.counters;
        assert!(c.reval_marked > 0 && c.revalidated > 0, "seed {seed}: no targeted revalidation happened: {c:?}");
    }
}
