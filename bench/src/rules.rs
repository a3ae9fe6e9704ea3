//! Rule sets of Neutron shapes and traffic to go with them, for the classifier
//! benchmarks (`benches/classifier.rs`) and `bench/classifier-ovs.sh`, which loads the
//! very same rules into Open vSwitch.
//!
//! Shapes:
//! - `sg`: security-group rules as the OVS firewall driver writes them: exact
//!   `in_port` (the VM port; Neutron keys table 82 by `reg5`, which holds the same
//!   number), `ip`/`tcp`/`udp`, `tp_dst` port ranges split into value/mask pairs,
//!   `nw_src` remote CIDRs; one priority.
//! - `l2pop`: br-tun table 20: `dl_vlan` + exact `dl_dst`, one mask.
//! - `mixed`: several Neutron tables' shapes in one table with mixed priorities
//!   (in_port only, MAC and ARP anti-spoofing, VLAN+MAC, routes as nw_dst CIDRs with
//!   priority by prefix length, L4 port rules, two-address ACLs, a VLAN 4095 drop).
//!
//! Every set also has the default flow `priority=0,actions=output:2`. All actions are
//! `output:2`, so the same text works in an OVS bridge whose ports are 1 (in) and 2.

use std::collections::HashSet;
use std::sync::Arc;

use xvs::flow::{Action, Field, FlowKey, FlowSpec, Match};
use xvs::ofproto::classifier::Classifier;
use xvs::ofproto::rule::Rule;

pub use xvs::rng::Rng;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Shape {
    Sg,
    L2pop,
    Mixed,
}

impl Shape {
    pub const ALL: [Shape; 3] = [Shape::Sg, Shape::L2pop, Shape::Mixed];

    pub fn name(self) -> &'static str {
        match self {
            Shape::Sg => "sg",
            Shape::L2pop => "l2pop",
            Shape::Mixed => "mixed",
        }
    }

    pub fn from_name(s: &str) -> Option<Shape> {
        Shape::ALL.into_iter().find(|x| x.name() == s)
    }
}

const WELL_KNOWN: [u16; 12] = [22, 53, 80, 123, 443, 3306, 5432, 6379, 8080, 8443, 9090, 11211];
const ETH_IP: u128 = 0x0800;
const ETH_ARP: u128 = 0x0806;

/// Number of VM ports the rules of `n` rules are spread over (about 200 rules each).
pub fn n_ports(n: usize) -> u32 {
    (n / 200).clamp(1, 4000) as u32
}

fn out2() -> Vec<Action> {
    vec![Action::Output { port: 2, max_len: None }]
}

fn spec(priority: u16, m: Match) -> FlowSpec {
    FlowSpec { table: Some(0), priority: Some(priority), m, actions: Some(out2()), ..Default::default() }
}

fn prefix32(plen: u32) -> u32 {
    if plen == 0 {
        0
    } else {
        u32::MAX << (32 - plen)
    }
}

/// A random private IPv4 address.
fn private_ip(r: &mut Rng) -> u32 {
    match r.below(3) {
        0 => 0x0a00_0000 | (r.next_u64() as u32 & 0x00ff_ffff),
        1 => 0xac10_0000 | (r.next_u64() as u32 & 0x000f_ffff),
        _ => 0xc0a8_0000 | (r.next_u64() as u32 & 0x0000_ffff),
    }
}

fn random_cidr(r: &mut Rng) -> (u32, u32) {
    let plen = r.pick(&[0u32, 8, 12, 16, 16, 20, 24, 24, 24, 26, 28, 32, 32, 32]);
    (private_ip(r) & prefix32(plen), plen)
}

/// Split the port range `lo..=hi` into value/mask pairs (what Neutron's
/// `merge_port_ranges`/ovs-ofctl users do to express ranges).
pub fn port_range_masks(lo: u16, hi: u16) -> Vec<(u16, u16)> {
    let mut out = Vec::new();
    let (mut lo, hi) = (lo as u32, hi as u32);
    while lo <= hi {
        let mut size = if lo == 0 { 1 << 16 } else { 1u32 << lo.trailing_zeros() };
        while lo + size - 1 > hi {
            size >>= 1;
        }
        out.push((lo as u16, (!(size - 1) & 0xffff) as u16));
        lo += size;
    }
    out
}

fn sg_rules(n: usize, r: &mut Rng, seen: &mut HashSet<Match>, out: &mut Vec<FlowSpec>) {
    let ports = n_ports(n);
    while out.len() < n {
        let port = 1 + r.below(ports as u64) as u128;
        let proto = r.pick(&[6u128, 6, 6, 17, 17, 0]);
        let (src, plen) = random_cidr(r);
        let mut base = Match::catchall();
        base.set(Field::InPort, port);
        base.set(Field::EthType, ETH_IP);
        if plen > 0 {
            base.set_masked(Field::Ipv4Src, src as u128, prefix32(plen) as u128);
        }
        let mut ms = Vec::new();
        if proto == 0 {
            ms.push(base);
        } else {
            base.set(Field::IpProto, proto);
            let ranges: Vec<(u16, u16)> = match r.below(10) {
                0..=5 => {
                    let p = if r.chance(60) { r.pick(&WELL_KNOWN) } else { 1 + r.below(65535) as u16 };
                    vec![(p, 0xffff)]
                }
                6..=8 => {
                    let lo = 1 + r.below(60000) as u16;
                    let hi = lo.saturating_add(1 + r.below(2000) as u16);
                    port_range_masks(lo, hi)
                }
                _ => port_range_masks(1024, 65535),
            };
            for (v, mask) in ranges {
                let mut m = base;
                m.set_masked(Field::TpDst, v as u128, mask as u128);
                ms.push(m);
            }
        }
        for m in ms {
            if out.len() < n && seen.insert(m) {
                out.push(spec(70, m));
            }
        }
    }
}

fn vm_mac(r: &mut Rng, i: u64) -> u128 {
    let _ = r;
    (0xfa16_3e00_0000u64 | (i & 0xff_ffff)) as u128
}

fn l2pop_rules(n: usize, r: &mut Rng, seen: &mut HashSet<Match>, out: &mut Vec<FlowSpec>) {
    let vlans = (n / 250).clamp(1, 4000) as u64;
    let mut i = 0u64;
    while out.len() < n {
        let mut m = Match::catchall();
        m.set_masked(Field::VlanVid, 0x1000 | (1 + r.below(vlans)) as u128, 0x1fff);
        m.set(Field::EthDst, vm_mac(r, i));
        i += 1;
        if seen.insert(m) {
            out.push(spec(2, m));
        }
    }
}

fn mixed_rules(n: usize, r: &mut Rng, seen: &mut HashSet<Match>, out: &mut Vec<FlowSpec>) {
    let ports = n_ports(n) as u64;
    let vlans = (n / 250).clamp(1, 4000) as u64;
    let mut m = Match::catchall();
    m.set_masked(Field::VlanVid, 0x1fff, 0x1fff);
    seen.insert(m);
    out.push(spec(65535, m));
    let mut mac = 0u64;
    while out.len() < n {
        let mut m = Match::catchall();
        let prio: u16 = match r.below(20) {
            0 => {
                m.set(Field::InPort, 1 + r.below(ports) as u128);
                9
            }
            1..=3 => {
                m.set(Field::InPort, 1 + r.below(ports) as u128);
                m.set(Field::EthSrc, vm_mac(r, mac));
                mac += 1;
                2
            }
            4..=6 => {
                m.set(Field::InPort, 1 + r.below(ports) as u128);
                m.set(Field::EthType, ETH_ARP);
                let (ip, plen) = random_cidr(r);
                let plen = plen.max(24);
                m.set_masked(Field::ArpSpa, (ip & prefix32(plen)) as u128, prefix32(plen) as u128);
                2
            }
            7..=10 => {
                m.set_masked(Field::VlanVid, 0x1000 | (1 + r.below(vlans)) as u128, 0x1fff);
                m.set(Field::EthDst, vm_mac(r, mac));
                mac += 1;
                20
            }
            11..=13 => {
                m.set(Field::EthType, ETH_IP);
                let (ip, plen) = random_cidr(r);
                if plen > 0 {
                    m.set_masked(Field::Ipv4Dst, ip as u128, prefix32(plen) as u128);
                }
                10 + plen as u16
            }
            14..=16 => {
                m.set(Field::EthType, ETH_IP);
                m.set(Field::IpProto, r.pick(&[6u128, 17]));
                if r.chance(70) {
                    m.set(
                        Field::TpDst,
                        if r.chance(50) { r.pick(&WELL_KNOWN) as u128 } else { 1 + r.below(65535) as u128 },
                    );
                } else {
                    let pieces = port_range_masks(1 + r.below(60000) as u16, 65535);
                    let (v, mask) = r.pick(&pieces);
                    m.set_masked(Field::TpDst, v as u128, mask as u128);
                }
                30 + r.below(2) as u16
            }
            _ => {
                m.set(Field::EthType, ETH_IP);
                m.set(Field::IpProto, 6);
                let (s, sl) = random_cidr(r);
                let (d, dl) = random_cidr(r);
                if sl > 0 {
                    m.set_masked(Field::Ipv4Src, s as u128, prefix32(sl) as u128);
                }
                if dl > 0 {
                    m.set_masked(Field::Ipv4Dst, d as u128, prefix32(dl) as u128);
                }
                50 + r.below(10) as u16
            }
        };
        if seen.insert(m) {
            out.push(spec(prio, m));
        }
    }
}

/// `n` rules of `shape` (deterministic for a seed) plus the default flow
/// `priority=0,actions=output:2`, all in table 0.
pub fn rules(shape: Shape, n: usize, seed: u64) -> Vec<FlowSpec> {
    let mut r = Rng::new(seed ^ shape as u64);
    let mut seen = HashSet::new();
    let mut out = Vec::with_capacity(n + 1);
    match shape {
        Shape::Sg => sg_rules(n, &mut r, &mut seen, &mut out),
        Shape::L2pop => l2pop_rules(n, &mut r, &mut seen, &mut out),
        Shape::Mixed => mixed_rules(n, &mut r, &mut seen, &mut out),
    }
    out.push(spec(0, Match::catchall()));
    out
}

/// The rules as `ovs-ofctl add-flows` text, one flow a line.
pub fn ofctl_text(specs: &[FlowSpec]) -> String {
    let mut s = String::new();
    for f in specs {
        s.push_str(&xvs::flow::format::format_flow(f));
        s.push('\n');
    }
    s
}

/// A classifier holding `specs` (rule ids in order).
pub fn classifier(specs: &[FlowSpec]) -> Classifier {
    let mut c = Classifier::new();
    for (i, s) in specs.iter().enumerate() {
        c.insert(rule(i as u64 + 1, s));
    }
    c
}

pub fn rule(id: u64, s: &FlowSpec) -> Arc<Rule> {
    Arc::new(Rule::detached(id, s.table.unwrap_or(0), s.priority.unwrap_or(0x8000), s.m, Arc::from(s.actions.clone().unwrap_or_default())))
}

/// `n` distinct packets (flow keys as table 0 sees them: `in_port` is an OpenFlow
/// port) for `shape`: about half of them hit a rule other than the default one.
/// With `in_port = Some(p)` every packet comes from port `p`.
pub fn traffic(shape: Shape, specs: &[FlowSpec], n: usize, seed: u64, in_port: Option<u32>) -> Vec<FlowKey> {
    let mut r = Rng::new(seed.wrapping_add(0x5151) ^ shape as u64);
    let ports = specs
        .iter()
        .filter(|s| !s.m.is_wild(Field::InPort))
        .map(|s| Field::InPort.get(&s.m.key) as u32)
        .max()
        .unwrap_or(1);
    let mut seen = HashSet::new();
    let mut out = Vec::with_capacity(n);
    let mut tries = 0;
    while out.len() < n && tries < n * 20 {
        tries += 1;
        let s = &specs[r.below(specs.len() as u64) as usize];
        let mut k = FlowKey::ZERO;
        k.set_in_port(in_port.unwrap_or_else(|| 1 + r.below(ports as u64) as u32));
        Field::EthSrc.set(&mut k, 0xfa16_3e00_0000u128 | r.below(1 << 24) as u128);
        Field::EthDst.set(&mut k, 0xfa16_3e00_0000u128 | r.below(1 << 24) as u128);
        let hit = r.chance(50);
        let arp = shape == Shape::Mixed && r.chance(15);
        if arp {
            Field::EthType.set(&mut k, ETH_ARP);
            Field::ArpOp.set(&mut k, 1);
            Field::ArpSpa.set(&mut k, private_ip(&mut r) as u128);
            Field::ArpTpa.set(&mut k, private_ip(&mut r) as u128);
        } else {
            Field::EthType.set(&mut k, ETH_IP);
            Field::Ipv4Src.set(&mut k, private_ip(&mut r) as u128);
            Field::Ipv4Dst.set(&mut k, private_ip(&mut r) as u128);
            Field::NwTtl.set(&mut k, 64);
            let proto = r.pick(&[6u128, 6, 17, 17, 1]);
            Field::IpProto.set(&mut k, proto);
            if proto == 1 {
                Field::IcmpType.set(&mut k, 8);
            } else {
                Field::TpSrc.set(&mut k, 32768 + r.below(28000) as u128);
                let d = if r.chance(50) { r.pick(&WELL_KNOWN) as u128 } else { 1 + r.below(65535) as u128 };
                Field::TpDst.set(&mut k, d);
            }
        }
        if shape != Shape::Sg && r.chance(60) {
            k.set_vlan_tci(0x1000 | (1 + r.below(20)) as u16);
        }
        if hit {
            // Take the rule's matched bits, keep the packet's bits elsewhere.
            let mut m = s.m;
            if in_port.is_some() {
                Field::InPort.set(&mut m.mask, 0);
            }
            for w in 0..k.w.len() {
                k.w[w] = (k.w[w] & !m.mask.w[w]) | (m.key.w[w] & m.mask.w[w]);
            }
        }
        if seen.insert(k) {
            out.push(k);
        }
    }
    out
}

/// The frames `xdpgen` sends (`FLOWS=n`): UDP 10.88.0.1:9 -> 10.88.0.2:10000+i from
/// OpenFlow port 1, as table 0 sees them.
pub fn generator_keys(n: usize) -> Vec<FlowKey> {
    (0..n)
        .map(|i| {
            let mut k = FlowKey::ZERO;
            k.set_in_port(1u32);
            k.set_dl_src([0x02, 0x58, 0, 0, 0, 1]);
            k.set_dl_dst([0x02, 0x58, 0, 0, 0, 2]);
            Field::EthType.set(&mut k, ETH_IP);
            Field::Ipv4Src.set(&mut k, 0x0a58_0001);
            Field::Ipv4Dst.set(&mut k, 0x0a58_0002);
            Field::NwTtl.set(&mut k, 64);
            Field::IpProto.set(&mut k, 17);
            Field::TpSrc.set(&mut k, 9);
            Field::TpDst.set(&mut k, 10000 + (i as u128 % 55535));
            k
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_cover_exactly() {
        for (lo, hi) in [(1u16, 65535u16), (1024, 65535), (80, 80), (1000, 2000), (0, 65535), (5, 6)] {
            let ms = port_range_masks(lo, hi);
            for p in 0..=65535u32 {
                let inr = p >= lo as u32 && p <= hi as u32;
                let n = ms.iter().filter(|(v, m)| (p as u16) & m == *v).count();
                assert_eq!(n, inr as usize, "{lo}-{hi} port {p}");
            }
        }
    }

    #[test]
    fn shapes_have_the_size_asked_and_parse_back() {
        use xvs::flow::parse::{parse_flow, NoPortNames, ParseMode};
        for shape in Shape::ALL {
            let specs = rules(shape, 1000, 1);
            assert_eq!(specs.len(), 1001);
            for line in ofctl_text(&specs).lines() {
                let s = parse_flow(line, ParseMode::Add, &NoPortNames).unwrap();
                assert!(specs.iter().any(|x| x.m == s.m && x.priority == s.priority), "{line}");
            }
            let t = traffic(shape, &specs, 1000, 1, None);
            assert_eq!(t.len(), 1000);
        }
    }
}
