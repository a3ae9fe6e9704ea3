//! Random rule sets and random packets on two bridges joined by a patch pair.
//!
//! Everything is drawn from a SplitMix64 generator seeded with the rule set's number,
//! so a failure reproduces with `XVS_OVS_DIFF_SEED=<n>`. Match values and packet
//! values come from the same small pools, so rules actually match. Within a table
//! every rule has its own priority (OpenFlow leaves the choice between overlapping
//! rules of equal priority undefined), except the clauses of a conjunction, which
//! must share one.

use std::net::{Ipv4Addr, Ipv6Addr};

use super::harness::{BridgeDef, Diff, Fdb, Outcome, PortDef, Tally};
use super::packet::{fmt_mac, mac, Mac, Pkt, L3, L4};

/// Rule sets in a default run; each gets [`PACKETS`] packets.
pub const RULE_SETS: u64 = 400;
pub const PACKETS: usize = 90;

pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ 0x2545_f491_4f6c_dd1d)
    }
    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    /// True with probability `pct` percent.
    pub fn pct(&mut self, pct: u64) -> bool {
        self.below(100) < pct
    }
    pub fn pick<'a, T>(&mut self, v: &'a [T]) -> &'a T {
        &v[self.below(v.len() as u64) as usize]
    }
}

// ------------------------------------------------------------------ topology

const PATCH: u32 = 10;

struct Br {
    name: &'static str,
    /// (ofport, tag, trunks) of the plain ports.
    ports: &'static [(u32, Option<u16>, &'static [u16])],
}

const BRIDGES: [Br; 2] = [
    Br {
        name: "br0",
        ports: &[
            (1, None, &[]),
            (2, Some(10), &[]),
            (3, Some(20), &[]),
            (4, None, &[10, 30]),
        ],
    },
    Br {
        name: "br1",
        ports: &[(1, None, &[]), (2, Some(10), &[]), (3, Some(30), &[])],
    },
];

/// Tunnel ports of br1 (key=flow: set_tunnel/tun_id choose the key), routed through
/// the underlay bridge br-phy (see `tunnels::underlay`).
const TUNNEL_PORTS: &[(&str, u32, &str, &[(&str, &str)])] = &[
    ("vx1", 20, "vxlan", &[("remote_ip", "10.0.0.2"), ("key", "flow")]),
    ("gre1", 21, "gre", &[("remote_ip", "10.0.0.3"), ("key", "flow")]),
];

fn port_name(br: usize, of: u32) -> String {
    if of == PATCH {
        format!("patch{br}")
    } else {
        format!("{}{of}", if br == 0 { "p" } else { "q" })
    }
}

pub fn harness() -> Result<Diff, String> {
    let mut defs = vec![];
    for (i, b) in BRIDGES.iter().enumerate() {
        let mut ports: Vec<PortDef> = b
            .ports
            .iter()
            .map(|(of, tag, trunks)| match tag {
                Some(t) => PortDef::access(&port_name(i, *of), *of, *t),
                None => PortDef::trunk(&port_name(i, *of), *of, trunks),
            })
            .collect();
        ports.push(PortDef::patch(
            &port_name(i, PATCH),
            PATCH,
            &port_name(1 - i, PATCH),
        ));
        if i == 1 {
            for (n, of, ty, o) in TUNNEL_PORTS {
                ports.push(PortDef::tunnel(n, *of, ty, o));
            }
        }
        defs.push(BridgeDef {
            name: b.name.into(),
            ports,
        });
    }
    defs.push(BridgeDef {
        name: "br-phy".into(),
        ports: vec![PortDef::plain("up1", 1)],
    });
    let mut d = Diff::with_underlay("random", defs, Some(super::tunnels::underlay()))?;
    d.set_flows(&[("br-phy", vec!["actions=NORMAL".into()])])?;
    Ok(d)
}

// ------------------------------------------------------------------ pools

const MACS: &[&str] = &[
    "02:00:00:00:00:01",
    "02:00:00:00:00:02",
    "fa:16:3e:00:00:03",
    "fa:16:3e:00:00:04",
    "fa:16:3e:11:22:33",
];
const GROUP_MACS: &[&str] = &[
    "ff:ff:ff:ff:ff:ff",
    "01:00:5e:00:00:01",
    "33:33:00:00:00:01",
    "01:80:c2:00:00:00",
    "01:80:c2:00:00:0e",
];
const IP4: &[&str] = &[
    "10.0.0.1",
    "10.0.0.2",
    "10.0.1.5",
    "192.168.1.1",
    "172.16.5.4",
];
const CIDR4: &[&str] = &[
    "10.0.0.0/24",
    "10.0.0.0/16",
    "192.168.1.0/24",
    "10.0.0.2/31",
    "0.0.0.0/1",
];
const IP6: &[&str] = &["2001:db8::1", "2001:db8::2", "fe80::1"];
const CIDR6: &[&str] = &["2001:db8::/64", "fe80::/10", "2001:db8::2/127"];
const TP: &[u16] = &[22, 53, 80, 443, 8080, 5000];
const TP_MASKED: &[&str] = &[
    "0x50/0xfff0",
    "0x0/0xff00",
    "0x1f90/0xfffe",
    "0x1000/0xf000",
];
const VIDS: &[u16] = &[10, 20, 30, 5];
const REGVALS: &[u32] = &[0, 1, 5, 0x10, 0xdead];
const TUNS: &[u64] = &[0x5, 0x64];

fn pick_mac(r: &mut Rng, pool: &[&str]) -> Mac {
    mac(pool[r.below(pool.len() as u64) as usize])
}

fn rand_mac(r: &mut Rng) -> Mac {
    if r.pct(80) {
        pick_mac(r, MACS)
    } else {
        pick_mac(r, GROUP_MACS)
    }
}

fn rand_ip4(r: &mut Rng) -> Ipv4Addr {
    r.pick(IP4).parse().unwrap()
}

fn rand_ip6(r: &mut Rng) -> Ipv6Addr {
    r.pick(IP6).parse().unwrap()
}

// ------------------------------------------------------------------ rules

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Class {
    Any,
    Ip,
    Tcp,
    Udp,
    Icmp,
    Arp,
    Ip6,
    Tcp6,
    Raw,
}

impl Class {
    fn is_ip4(self) -> bool {
        matches!(self, Class::Ip | Class::Tcp | Class::Udp | Class::Icmp)
    }
    fn is_ip(self) -> bool {
        self.is_ip4() || matches!(self, Class::Ip6 | Class::Tcp6)
    }
    fn has_ports(self) -> bool {
        matches!(self, Class::Tcp | Class::Udp | Class::Tcp6)
    }
    fn keyword(self) -> Option<&'static str> {
        Some(match self {
            Class::Any => return None,
            Class::Ip => "ip",
            Class::Tcp => "tcp",
            Class::Udp => "udp",
            Class::Icmp => "icmp",
            Class::Arp => "arp",
            Class::Ip6 => "ipv6",
            Class::Tcp6 => "tcp6",
            Class::Raw => "dl_type=0x88b5",
        })
    }
}

struct RuleGen<'a> {
    r: &'a mut Rng,
    br: usize,
    n_tables: u8,
}

impl RuleGen<'_> {
    fn ports(&self) -> Vec<u32> {
        let mut v: Vec<u32> = BRIDGES[self.br].ports.iter().map(|p| p.0).collect();
        v.push(PATCH);
        if self.br == 1 {
            v.extend(TUNNEL_PORTS.iter().map(|t| t.1));
        }
        v
    }

    /// Mostly a later table; sometimes any table, which may loop (OVS's traces of
    /// loops that run into the resubmit limit are large and slow, so not too often).
    fn resubmit_table(&mut self, table: u8) -> u8 {
        if table + 1 < self.n_tables && self.r.pct(85) {
            table + 1 + self.r.below((self.n_tables - table - 1) as u64) as u8
        } else {
            self.r.below(self.n_tables as u64) as u8
        }
    }

    fn class(&mut self) -> Class {
        *self.r.pick(&[
            Class::Any,
            Class::Any,
            Class::Any,
            Class::Ip,
            Class::Tcp,
            Class::Tcp,
            Class::Udp,
            Class::Icmp,
            Class::Arp,
            Class::Arp,
            Class::Ip6,
            Class::Tcp6,
            Class::Raw,
        ])
    }

    /// Match fields for a class; returns (text, whether the match implies a VLAN tag).
    fn matches(&mut self, class: Class, of13: bool) -> (Vec<String>, bool) {
        let mut m = Vec::new();
        let mut vlan = false;
        if let Some(k) = class.keyword() {
            m.push(k.to_string());
        }
        let n = self.r.below(4);
        for _ in 0..n {
            let choice = self.r.below(22);
            let f = match choice {
                0..=2 => {
                    let p = *self.r.pick(&self.ports());
                    format!("in_port={p}")
                }
                3 => format!("dl_src={}", fmt_mac(&rand_mac(self.r))),
                4 => format!("dl_dst={}", fmt_mac(&rand_mac(self.r))),
                5 => (*self.r.pick(&[
                    "dl_dst=01:00:00:00:00:00/01:00:00:00:00:00",
                    "dl_dst=00:00:00:00:00:00/01:00:00:00:00:00",
                    "dl_src=fa:16:3e:00:00:00/ff:ff:ff:00:00:00",
                ]))
                .to_string(),
                6 => {
                    vlan = true;
                    format!("dl_vlan={}", self.r.pick(VIDS))
                }
                7 => {
                    // OpenFlow 1.3 carries the TCI as OXM vlan_vid/vlan_pcp: a PCP-only
                    // mask cannot be encoded (ovs-ofctl silently drops it), so that
                    // one is for 1.0 rules only.
                    let n = if of13 { 4 } else { 5 };
                    let (t, v) = [
                        ("vlan_tci=0x1000/0x1000", true),
                        ("vlan_tci=0x0000/0x1000", false),
                        ("vlan_tci=0x100a/0x1fff", true),
                        ("vlan_tci=0x0000/0x1fff", false),
                        ("vlan_tci=0x6000/0xe000", false),
                    ][self.r.below(n) as usize];
                    vlan |= v;
                    t.to_string()
                }
                8 => {
                    vlan = true;
                    format!("dl_vlan_pcp={}", self.r.pick(&[0, 3]))
                }
                9 | 10 => {
                    let reg = self.r.below(8);
                    let v = *self.r.pick(REGVALS);
                    if self.r.pct(30) {
                        format!("reg{reg}={v:#x}/0xff")
                    } else {
                        format!("reg{reg}={v:#x}")
                    }
                }
                11 => format!("metadata={:#x}/0xff", self.r.pick(REGVALS) & 0xff),
                12 => {
                    if self.r.pct(70) {
                        format!("tun_id={:#x}", self.r.pick(TUNS))
                    } else {
                        "tun_id=0x0/0xff".to_string()
                    }
                }
                13..=21 => match class {
                    c if c.is_ip4() => match self.r.below(if c.has_ports() { 6 } else { 4 }) {
                        0 => format!("nw_src={}", self.r.pick(CIDR4)),
                        1 => format!(
                            "nw_dst={}",
                            if self.r.pct(50) {
                                self.r.pick(CIDR4).to_string()
                            } else {
                                rand_ip4(self.r).to_string()
                            }
                        ),
                        2 if c == Class::Ip => format!("nw_proto={}", self.r.pick(&[6, 17, 1])),
                        2 if c == Class::Icmp => format!("icmp_type={}", self.r.pick(&[8, 0])),
                        2 => format!("nw_ttl={}", self.r.pick(&[64, 1])),
                        3 => format!("nw_tos={}", self.r.pick(&[0, 72])),
                        4 => format!(
                            "tp_dst={}",
                            if self.r.pct(50) {
                                self.r.pick(TP).to_string()
                            } else {
                                self.r.pick(TP_MASKED).to_string()
                            }
                        ),
                        _ => format!("tp_src={}", self.r.pick(TP)),
                    },
                    Class::Arp => match self.r.below(5) {
                        0 => format!("arp_op={}", self.r.pick(&[1, 2])),
                        1 => format!("arp_spa={}", self.r.pick(CIDR4)),
                        2 => format!("arp_tpa={}", rand_ip4(self.r)),
                        3 => format!("arp_sha={}", fmt_mac(&pick_mac(self.r, MACS))),
                        _ => format!(
                            "arp_tha={}",
                            if self.r.pct(50) {
                                "00:00:00:00:00:00".to_string()
                            } else {
                                fmt_mac(&pick_mac(self.r, MACS))
                            }
                        ),
                    },
                    Class::Ip6 | Class::Tcp6 => {
                        match self.r.below(if class == Class::Tcp6 { 3 } else { 2 }) {
                            0 => format!("ipv6_src={}", self.r.pick(CIDR6)),
                            1 => format!("ipv6_dst={}", rand_ip6(self.r)),
                            _ => format!("tp_dst={}", self.r.pick(TP)),
                        }
                    }
                    _ => format!("dl_src={}", fmt_mac(&pick_mac(self.r, MACS))),
                },
                _ => unreachable!(),
            };
            // One field per name, and at most one of the VLAN fields (they overlap, and
            // the last one would win).
            let key = |x: &str| -> String {
                let k = x.split('=').next().unwrap_or("");
                if k.starts_with("dl_vlan") || k == "vlan_tci" {
                    "vlan".into()
                } else {
                    k.into()
                }
            };
            if m.iter().any(|x| key(x) == key(&f)) {
                if matches!(choice, 6..=8) {
                    vlan = m
                        .iter()
                        .any(|x| x.starts_with("dl_vlan") || x.starts_with("vlan_tci=0x1"));
                }
                continue;
            }
            m.push(f);
        }
        (m, vlan)
    }

    /// An action list for a rule in `table` of the given class. `of13` rules may use
    /// OpenFlow 1.1+ actions and instructions, the others use 1.0 forms.
    fn actions(&mut self, table: u8, class: Class, mut vlan: bool, of13: bool) -> String {
        let mut a: Vec<String> = Vec::new();
        if self.r.pct(4) {
            return "drop".into();
        }
        let n = 1 + self.r.below(5);
        let mut post: Vec<String> = Vec::new();
        // Tags the rule's match guarantees, as OVS's action check counts them: it
        // refuses a push_vlan that would make a third.
        let mut tags: u8 = vlan as u8;
        for _ in 0..n {
            let c = self.r.below(30);
            let act = match c {
                // Outputs and other forwarding.
                0..=5 => {
                    let p = *self.r.pick(&self.ports());
                    format!("output:{p}")
                }
                6 | 7 => "NORMAL".into(),
                8 => "IN_PORT".into(),
                9 if self.r.pct(30) => "FLOOD".into(),
                9 => format!("output:{}", self.r.pick(&self.ports())),
                10 | 11 => format!("resubmit(,{})", self.resubmit_table(table)),
                12 => {
                    let p = *self.r.pick(&self.ports());
                    if self.r.pct(70) {
                        format!("resubmit({p},{})", self.resubmit_table(table))
                    } else {
                        format!("resubmit({p})")
                    }
                }
                // VLAN.
                // OpenFlow 1.1+ rejects pop_vlan unless the match (or an earlier
                // action) guarantees a tag; 1.0 accepts it anywhere.
                13 if of13 && !vlan => "load:0->NXM_OF_VLAN_TCI[]".into(),
                13 => {
                    vlan = false;
                    let a = *self
                        .r
                        .pick(&["strip_vlan", "pop_vlan", "load:0->NXM_OF_VLAN_TCI[]"]);
                    if a != "load:0->NXM_OF_VLAN_TCI[]" {
                        tags = tags.saturating_sub(1);
                    }
                    a.into()
                }
                14 if of13 && tags < 2 => {
                    vlan = true;
                    tags += 1;
                    format!(
                        "push_vlan:0x8100,set_field:{}->vlan_vid",
                        0x1000 | self.r.pick(VIDS)
                    )
                }
                14 if !of13 && (vlan || self.r.pct(30)) => {
                    vlan = true;
                    tags = tags.max(1);
                    format!("mod_vlan_vid:{}", self.r.pick(VIDS))
                }
                14 => {
                    vlan = true;
                    tags = tags.max(1);
                    "load:0x1005->NXM_OF_VLAN_TCI[]".into()
                }
                15 if of13 && vlan => format!("set_field:{}->vlan_vid", 0x1000 | self.r.pick(VIDS)),
                15 if !of13 => {
                    vlan = true;
                    tags = tags.max(1);
                    format!("mod_vlan_pcp:{}", self.r.pick(&[0, 5]))
                }
                // Ethernet.
                16 if self.r.pct(50) => format!("mod_dl_src:{}", fmt_mac(&pick_mac(self.r, MACS))),
                16 => format!("mod_dl_dst:{}", fmt_mac(&rand_mac(self.r))),
                17 => {
                    if self.r.pct(50) {
                        format!("set_field:{}->eth_dst", fmt_mac(&rand_mac(self.r)))
                    } else {
                        "move:NXM_OF_ETH_SRC[]->NXM_OF_ETH_DST[]".into()
                    }
                }
                // Registers, metadata, tunnel id.
                18 | 19 => {
                    let reg = self.r.below(8);
                    let v = *self.r.pick(REGVALS);
                    match self.r.below(4) {
                        0 => format!("set_field:{v:#x}->reg{reg}"),
                        1 => format!("load:{:#x}->NXM_NX_REG{reg}[0..7]", v & 0xff),
                        2 => format!("move:NXM_NX_REG{}[]->NXM_NX_REG{reg}[]", self.r.below(8)),
                        _ => format!("load:{v:#x}->NXM_NX_REG{reg}[]"),
                    }
                }
                20 => {
                    if of13 && post.is_empty() && self.r.pct(50) {
                        // An instruction: after the apply-actions, before goto_table.
                        post.push(format!(
                            "write_metadata:{:#x}/0xff",
                            self.r.pick(REGVALS) & 0xff
                        ));
                        continue;
                    } else {
                        format!("set_field:{:#x}->metadata", self.r.pick(REGVALS) & 0xff)
                    }
                }
                21 => match self.r.below(3) {
                    0 => format!("set_field:{:#x}->tun_id", self.r.pick(TUNS)),
                    1 => format!("set_tunnel:{:#x}", self.r.pick(TUNS)),
                    _ => "move:NXM_NX_TUN_ID[0..31]->NXM_NX_REG2[]".into(),
                },
                // OpenFlow 1.1+ wants dec_ttl only where the match guarantees IP.
                22 if of13 && !class.is_ip() => format!("output:{}", self.r.pick(&self.ports())),
                22 => "dec_ttl".into(),
                23 => "move:NXM_OF_IN_PORT[]->NXM_NX_REG3[0..15]".into(),
                // Protocol headers (prerequisites come from the class).
                24..=29 => match class {
                    c if c.is_ip4() => match self.r.below(if c.has_ports() { 7 } else { 5 }) {
                        0 => format!("mod_nw_src:{}", rand_ip4(self.r)),
                        1 => format!("set_field:{}->ip_dst", rand_ip4(self.r)),
                        2 => format!("mod_nw_tos:{}", self.r.pick(&[0, 32, 72])),
                        3 => format!("set_field:{}->ip_dscp", self.r.pick(&[0, 10, 46])),
                        4 => format!("mod_nw_ttl:{}", self.r.pick(&[1, 9, 200])),
                        5 => format!("mod_tp_dst:{}", self.r.pick(TP)),
                        _ => {
                            if c == Class::Tcp {
                                format!("set_field:{}->tcp_src", self.r.pick(TP))
                            } else {
                                format!("mod_tp_src:{}", self.r.pick(TP))
                            }
                        }
                    },
                    Class::Arp => match self.r.below(5) {
                        0 => "set_field:2->arp_op".into(),
                        1 => format!("set_field:{}->arp_spa", rand_ip4(self.r)),
                        2 => format!("set_field:{}->arp_sha", fmt_mac(&pick_mac(self.r, MACS))),
                        3 => "move:NXM_NX_ARP_SHA[]->NXM_NX_ARP_THA[]".into(),
                        _ => "move:NXM_OF_ARP_SPA[]->NXM_OF_ARP_TPA[]".into(),
                    },
                    Class::Ip6 | Class::Tcp6 => {
                        match self.r.below(if class == Class::Tcp6 { 4 } else { 3 }) {
                            0 => format!("set_field:{}->ipv6_src", rand_ip6(self.r)),
                            1 => format!("mod_nw_tos:{}", self.r.pick(&[0, 32])),
                            2 => "dec_ttl".into(),
                            _ => format!("mod_tp_dst:{}", self.r.pick(TP)),
                        }
                    }
                    _ => format!("output:{}", self.r.pick(&self.ports())),
                },
                _ => format!("output:{}", self.r.pick(&self.ports())),
            };
            a.push(act);
        }
        a.append(&mut post);
        if of13 && table + 1 < self.n_tables && self.r.pct(35) {
            let t = table + 1 + self.r.below((self.n_tables - table - 1) as u64) as u8;
            a.push(format!("goto_table:{t}"));
        }
        if a.is_empty() {
            a.push("drop".into());
        }
        a.join(",")
    }
}

/// A rule set for both bridges: (bridge, flow lines).
pub fn rule_set(seed: u64) -> Vec<(&'static str, Vec<String>)> {
    let mut r = Rng::new(seed);
    let mut out = vec![];
    for (bi, b) in BRIDGES.iter().enumerate() {
        let n_tables = 2 + r.below(3) as u8;
        let mut flows = vec![];
        for t in 0..n_tables {
            let mut prios: Vec<u16> = vec![0, 1, 2, 3, 5, 8, 10, 50, 100, 1000, 32768, 65535];
            let n = if t == 0 { 3 + r.below(6) } else { r.below(5) } as usize;
            let mut g = RuleGen {
                r: &mut r,
                br: bi,
                n_tables,
            };
            // Usually a catch-all at priority 0, so that fewer packets just miss.
            if g.r.pct(if t == 0 { 75 } else { 50 }) {
                prios.retain(|p| *p != 0);
                let of13 = g.r.pct(40);
                let acts = g.actions(t, Class::Any, false, of13);
                flows.push(format!("table={t},priority=0,actions={acts}"));
            }
            for _ in 0..n.min(prios.len()) {
                let p = prios.remove(g.r.below(prios.len() as u64) as usize);
                let class = g.class();
                let of13 = g.r.pct(40);
                let (m, vlan) = g.matches(class, of13);
                let acts = g.actions(t, class, vlan, of13);
                let mut s = format!("table={t},priority={p}");
                for x in m {
                    s.push(',');
                    s.push_str(&x);
                }
                s.push_str(",actions=");
                s.push_str(&acts);
                flows.push(s);
            }
            // Sometimes a two-clause conjunction in this table.
            if g.r.pct(30) && !prios.is_empty() {
                let p = prios.remove(g.r.below(prios.len() as u64) as usize);
                let id = 100 + t as u32;
                let c1: Vec<String> = (0..2)
                    .map(|_| match g.r.below(3) {
                        0 => format!("ip,nw_src={}", rand_ip4(g.r)),
                        1 => format!("dl_src={}", fmt_mac(&pick_mac(g.r, MACS))),
                        _ => format!("in_port={}", g.r.pick(&g.ports())),
                    })
                    .collect();
                let c2: Vec<String> = (0..2)
                    .map(|_| match g.r.below(3) {
                        0 => format!("tcp,tp_dst={}", g.r.pick(TP)),
                        1 => format!("dl_vlan={}", g.r.pick(VIDS)),
                        _ => format!("dl_dst={}", fmt_mac(&pick_mac(g.r, MACS))),
                    })
                    .collect();
                for c in &c1 {
                    flows.push(format!(
                        "table={t},priority={p},{c},actions=conjunction({id},1/2)"
                    ));
                }
                for c in &c2 {
                    flows.push(format!(
                        "table={t},priority={p},{c},actions=conjunction({id},2/2)"
                    ));
                }
                let acts = g.actions(t, Class::Any, false, false);
                flows.push(format!(
                    "table={t},priority={p},conj_id={id},actions={acts}"
                ));
            }
        }
        out.push((b.name, flows));
    }
    out
}

/// Static MAC entries consistent with the ports' VLANs.
fn fdb(r: &mut Rng) -> Vec<Fdb> {
    let mut v: Vec<Fdb> = vec![];
    for _ in 0..r.below(5) {
        let bi = r.below(2) as usize;
        let b = &BRIDGES[bi];
        let (of, vlan) = if r.pct(20) {
            (PATCH, *r.pick(&[0u16, 10, 20, 30]))
        } else {
            let (of, tag, trunks) = *r.pick(b.ports);
            let vlan = match tag {
                Some(t) => t,
                None if trunks.is_empty() => *r.pick(&[0u16, 10, 20, 30, 5]),
                None => *r.pick(trunks),
            };
            (of, vlan)
        };
        let m = pick_mac(r, MACS);
        if v.iter()
            .any(|f| f.bridge == b.name && f.vlan == vlan && f.mac == m)
        {
            continue;
        }
        v.push(Fdb {
            bridge: b.name.into(),
            port: port_name(bi, of),
            vlan,
            mac: m,
        });
    }
    v
}

pub fn packet(r: &mut Rng) -> Pkt {
    let bi = r.below(2) as usize;
    let b = &BRIDGES[bi];
    let in_port = if r.pct(5) { PATCH } else { r.pick(b.ports).0 };
    let src = if r.pct(92) {
        pick_mac(r, MACS)
    } else {
        pick_mac(r, GROUP_MACS)
    };
    let dst = rand_mac(r);
    let vlan = match r.below(100) {
        0..=59 => None,
        60..=89 => Some((*r.pick(VIDS), *r.pick(&[0u8, 3]))),
        90..=96 => Some((0, *r.pick(&[0u8, 5]))),
        _ => Some((4095, 0)),
    };
    let tun_id = if r.pct(25) { Some(*r.pick(TUNS)) } else { None };
    let ttl = *r.pick(&[64, 64, 64, 64, 64, 64, 64, 1, 2]);
    let tos = *r.pick(&[0, 0, 0, 0x48, 0x03]);
    let l4 = |r: &mut Rng, proto: u8| match proto {
        6 => L4::Tcp {
            sport: *r.pick(TP),
            dport: *r.pick(TP),
        },
        17 => L4::Udp {
            sport: *r.pick(TP),
            dport: *r.pick(TP),
        },
        _ => L4::Icmp {
            ty: *r.pick(&[8, 0, 3]),
            code: 0,
        },
    };
    let l3 = match r.below(100) {
        0..=24 => L3::Ipv4 {
            src: rand_ip4(r),
            dst: rand_ip4(r),
            tos,
            ttl,
            l4: l4(r, 6),
        },
        25..=39 => L3::Ipv4 {
            src: rand_ip4(r),
            dst: rand_ip4(r),
            tos,
            ttl,
            l4: l4(r, 17),
        },
        40..=49 => L3::Ipv4 {
            src: rand_ip4(r),
            dst: rand_ip4(r),
            tos,
            ttl,
            l4: l4(r, 1),
        },
        50..=69 => L3::Arp {
            op: *r.pick(&[1, 2]),
            sha: src,
            spa: rand_ip4(r),
            tha: if r.pct(50) { [0; 6] } else { pick_mac(r, MACS) },
            tpa: rand_ip4(r),
        },
        70..=77 => L3::Ipv6 {
            src: rand_ip6(r),
            dst: rand_ip6(r),
            tclass: tos,
            hlim: ttl,
            l4: l4(r, 6),
        },
        78..=84 => L3::Ipv6 {
            src: rand_ip6(r),
            dst: rand_ip6(r),
            tclass: tos,
            hlim: ttl,
            l4: L4::Icmp { ty: 128, code: 0 },
        },
        85..=86 => L3::Ipv4 {
            src: rand_ip4(r),
            dst: rand_ip4(r),
            tos,
            ttl,
            l4: L4::Other(47),
        },
        87..=96 => L3::Raw(0x88b5),
        _ => L3::Raw(0x88cc),
    };
    Pkt {
        bridge: b.name.into(),
        in_port,
        tun_id,
        src,
        dst,
        vlan,
        l3,
    }
}

/// Load rule set `seed` into both switches and run its packets.
pub fn run_rule_set(d: &mut Diff, seed: u64) -> Result<Tally, String> {
    let rules = rule_set(seed);
    d.set_flows(&rules)
        .map_err(|e| format!("{e}\nrule set:\n{}", render(&rules)))?;
    let mut r = Rng::new(seed ^ 0xfeed_beef);
    d.set_fdb(fdb(&mut r))?;
    if std::env::var_os("XVS_OVS_DIFF_VERBOSE").is_some() {
        for b in ["br0", "br1"] {
            eprintln!(
                "fdb {b}:\n{}",
                d.ovs.appctl("fdb/show", &[b]).unwrap_or_default()
            );
        }
        eprintln!("xvs fdb: {:?}", d.fdb);
    }
    for i in 0..PACKETS {
        let p = packet(&mut r);
        if d.case(&format!("seed {seed} packet {i}"), &p) == Outcome::Unknown {
            if let Some(last) = d.tally.unknown.last_mut() {
                last.label.push_str(&format!(
                    " (rule set {seed}; reproduce with XVS_OVS_DIFF_SEED={seed})"
                ));
            }
        }
    }
    let t = std::mem::take(&mut d.tally);
    if !t.unknown.is_empty() {
        eprintln!("rule set {seed}:\n{}", render(&rules));
    }
    Ok(t)
}

pub fn render(rules: &[(&str, Vec<String>)]) -> String {
    let mut s = String::new();
    for (b, f) in rules {
        for l in f {
            s.push_str(&format!("  {b}: {l}\n"));
        }
    }
    s
}
