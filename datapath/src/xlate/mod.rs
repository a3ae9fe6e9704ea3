//! Translation: walk a flow key through the OpenFlow tables of every bridge it crosses
//! and produce datapath actions plus the wildcard mask of every packet field consulted.
//!
//! This is the slow path. Its result is cached as a megaflow: any packet that agrees
//! with the translated one on every bit of `mask` would translate to the same actions
//! (translation only ever looks at fields it un-wildcards), so the cache can apply the
//! actions without looking at the tables again.
//!
//! Conventions (those of Open vSwitch):
//! - every action that writes a packet field un-wildcards that field, so `commit` can
//!   compare the wanted header (`flow`) with the current one (`base`) freely;
//! - header changes are emitted lazily, right before an output (`commit`);
//! - patch ports are followed inside the translation: the peer bridge sees the packet
//!   with its in_port, registers and metadata cleared, and its header changes do not
//!   leak back into the first bridge;
//! - the datapath in_port is always matched exactly.

mod commit;
mod normal;
pub mod trace;
mod tunnel;

pub use tunnel::{receive_port, NeighMiss};

use std::sync::Arc;

use crate::flow::action::{ofpp, Action, LearnSpec, LearnSrc};
use crate::flow::field::{Field, Prereq, SubField};
use crate::flow::key::{word, FlowKey, FlowMask, VLAN_CFI, VLAN_PCP_MASK, VLAN_VID_MASK};
use crate::flow::{FlowSpec, Match};
use crate::odp::DpAction;
use crate::ofproto::pipeline::{BridgeSnap, Pipeline};
use crate::ofproto::rule::RuleStats;
use trace::Trace;

pub const MAX_DEPTH: u32 = 64;
pub const MAX_RESUBMITS: u32 = 4096;
/// Translation stops (without an error) once the datapath actions, counted in Open
/// vSwitch's encoding, pass this size.
pub const MAX_ACTIONS_BYTES: usize = 65535;
const ETH_TYPE_IP: u128 = 0x0800;
const ETH_TYPE_IPV6: u128 = 0x86dd;
const ETH_TYPE_ARP: u128 = 0x0806;
const ETH_TYPE_RARP: u128 = 0x8035;

/// A MAC address NORMAL learned or relied on, refreshed while traffic uses the
/// megaflow (the cache does not go through NORMAL again).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MacLearn {
    pub bridge: usize,
    pub vlan: u16,
    pub mac: [u8; 6],
    pub port: u32,
}

/// Why translation gave up (the packet is dropped and counted under this reason).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum XlateError {
    NoInPort,
    TooDeep,
    TooManyResubmits,
    Unsupported,
    /// No route to a tunnel's remote endpoint (or it is not through an internal port).
    TnlNoRoute,
    /// The tunnel's next hop has no neighbour entry yet (an ARP request went out).
    TnlNeighMiss,
    /// A decapsulated packet matches no tunnel port (unknown key/VNI or remote).
    TnlNoPort,
}

impl XlateError {
    pub fn name(self) -> &'static str {
        match self {
            XlateError::NoInPort => "no_in_port",
            XlateError::TooDeep => "recursion_too_deep",
            XlateError::TooManyResubmits => "too_many_resubmits",
            XlateError::Unsupported => "unsupported_action",
            XlateError::TnlNoRoute => "tnl_no_route",
            XlateError::TnlNeighMiss => "tnl_neigh_miss",
            XlateError::TnlNoPort => "tnl_no_port",
        }
    }
}

#[derive(Debug, Default)]
pub struct XlateOut {
    pub actions: Vec<DpAction>,
    /// Datapath-level wildcard mask (translation-only words are zero).
    pub mask: FlowMask,
    /// Counters of every rule the packet matched, once per match.
    pub rules: Vec<Arc<RuleStats>>,
    pub mac_learns: Vec<MacLearn>,
    /// Tunnel next hops whose neighbour entries the actions use (kept alive while the
    /// megaflow carries traffic, as MAC entries are).
    pub neighs: Vec<std::net::Ipv4Addr>,
    /// What the translation consulted that can change without a new snapshot (MAC
    /// entries NORMAL looked up, found or not): the megaflow is revalidated when one
    /// of these changes (`cache::tags`).
    pub deps: crate::cache::tags::TagSet,
    /// Flows to add because of `learn()` actions: (bridge index, flow).
    pub learned: Vec<(usize, FlowSpec)>,
    pub error: Option<XlateError>,
    /// Human-readable detail for the error (e.g. which action is unsupported).
    pub error_detail: Option<String>,
    /// ARP requests to send for tunnel next hops without a neighbour entry.
    pub neigh_misses: Vec<NeighMiss>,
    /// Why the packet goes nowhere, if it does (a tunnel output that could not be
    /// made); becomes `error` when no action sends the packet anywhere.
    pub drop_hint: Option<XlateError>,
}

struct Ctx<'a> {
    p: &'a Pipeline,
    /// The flow as the OpenFlow tables see it; in_port is the current bridge's ofport.
    flow: FlowKey,
    /// The packet header as the emitted datapath actions leave it.
    base: FlowKey,
    wc: FlowMask,
    out: XlateOut,
    bridge: Arc<BridgeSnap>,
    table: u8,
    depth: u32,
    resubmits: u32,
    /// Nesting of tables and bridges, for the trace's indentation.
    indent: u32,
    /// TPIDs of the outer and inner VLAN tags pushed by push_vlan (0x8100 for tags the
    /// packet came with: their TPID stays in the frame unless they are popped).
    tpids: [u16; 2],
    /// `exit` or a fatal error: stop executing actions.
    stop: bool,
    /// False for traces: no MAC learning, no learn() flows.
    may_learn: bool,
    trace: Option<&'a mut Trace>,
}

/// Translate `key` (a datapath flow key: in_port is a datapath port).
pub fn translate(p: &Pipeline, key: &FlowKey) -> XlateOut {
    translate_inner(p, key, None, None, true)
}

/// Translate without side effects (no MAC learning, no learned flows): what the
/// tables say about `key` in the current state.
pub fn translate_pure(p: &Pipeline, key: &FlowKey) -> XlateOut {
    translate_inner(p, key, None, None, false)
}

/// Translate with a trace of every table, rule and action (`xvsctl trace`). Like
/// `ofproto/trace`, a trace has no side effects: nothing is learned.
pub fn translate_traced(p: &Pipeline, key: &FlowKey, trace: &mut Trace) -> XlateOut {
    translate_inner(p, key, None, Some(trace), false)
}

/// Trace a packet entering bridge `bridge` on OpenFlow port `ofport` (which may be a
/// patch port, with no datapath port of its own, or no port of the bridge at all).
pub fn translate_traced_from(p: &Pipeline, key: &FlowKey, bridge: usize, ofport: u32, trace: &mut Trace) -> XlateOut {
    translate_inner(p, key, Some((bridge, ofport)), Some(trace), false)
}

/// Trace as `ofproto/trace` does: the translation starts in `bridge` on `ofport` with
/// the registers and metadata of `key` (not only its packet fields), and with
/// `generate` its side effects happen (MAC learning; learned flows are returned in
/// `learned` for the caller to add), as `ofproto/trace -generate`.
pub fn translate_traced_preset(p: &Pipeline, key: &FlowKey, bridge: usize, ofport: u32, generate: bool, trace: &mut Trace) -> XlateOut {
    let mut preset = *key;
    preset.set_in_port(ofport);
    translate_full(p, key, Some((bridge, ofport)), Some(&preset), Some(trace), generate)
}

fn translate_inner(
    p: &Pipeline,
    key: &FlowKey,
    start: Option<(usize, u32)>,
    trace: Option<&mut Trace>,
    may_learn: bool,
) -> XlateOut {
    translate_full(p, key, start, None, trace, may_learn)
}

/// `preset`: translation-only state (registers, metadata) to start with (traces).
fn translate_full(
    p: &Pipeline,
    key: &FlowKey,
    start: Option<(usize, u32)>,
    preset: Option<&FlowKey>,
    trace: Option<&mut Trace>,
    may_learn: bool,
) -> XlateOut {
    let mut wc = FlowKey::ZERO;
    wc.w[word::META] = u64::MAX; // in_port and recirc_id: always exact
    let from_tunnel = start.is_none() && p.vports.contains_key(&crate::port::OdpPort(key.in_port()));
    if from_tunnel {
        // Which tunnel port: decided by the tunnel metadata.
        wc.w[word::TUN_ID] = u64::MAX;
        wc.w[word::TUN_ADDRS] = u64::MAX;
    }
    let entry = if from_tunnel { tunnel::receive_port(p, key) } else { start.or_else(|| p.dp_port(crate::port::OdpPort(key.in_port()))) };
    let Some((bidx, ofport)) = entry else {
        let (e, detail) = if from_tunnel {
            (
                XlateError::TnlNoPort,
                format!(
                    "no tunnel port takes tun_id={:#x} from {} on datapath port {}",
                    Field::TunId.get(key),
                    std::net::Ipv4Addr::from(Field::TunSrc.get(key) as u32),
                    key.in_port()
                ),
            )
        } else {
            (XlateError::NoInPort, format!("datapath port {} is not attached to any bridge", key.in_port()))
        };
        let mut out = XlateOut { mask: wc, error: Some(e), ..Default::default() };
        if let Some(t) = trace {
            t.line(0, &format!("{detail}: drop"));
        }
        out.error_detail = Some(detail);
        return out;
    };
    let Some(bridge) = p.bridge(bidx).cloned() else {
        return XlateOut { mask: wc, error: Some(XlateError::NoInPort), ..Default::default() };
    };
    let mut flow = *key;
    flow.clear_xlate_words();
    if let Some(pre) = preset {
        for w in crate::flow::key::DP_WORDS..crate::flow::key::NW {
            flow.w[w] = pre.w[w];
        }
    }
    flow.set_in_port(ofport);
    let mut ctx = Ctx {
        p,
        flow,
        base: *key,
        wc,
        out: XlateOut::default(),
        bridge,
        table: 0,
        depth: 0,
        resubmits: 0,
        indent: 0,
        tpids: [0x8100; 2],
        stop: false,
        may_learn,
        trace,
    };
    ctx.trace_bridge();
    ctx.xlate_table(0, None, true);
    let mut out = ctx.out;
    ctx.wc.clear_xlate_words();
    ctx.wc.w[word::META] = u64::MAX;
    out.mask = ctx.wc;
    if out.error.is_some() {
        // A translation that gave up drops the packet entirely.
        out.actions.clear();
    }
    // A clone at the very end needs no copy: its actions act on the packet itself.
    if let Some(DpAction::Clone(_)) = out.actions.last() {
        if let Some(DpAction::Clone(inner)) = out.actions.pop() {
            out.actions.extend(inner.iter().cloned());
        }
    }
    if out.error.is_none() && !out.actions.iter().any(|a| a.sends()) {
        out.error = out.drop_hint;
        if out.error.is_some() {
            out.actions.clear();
        }
    }
    if let Some(t) = ctx.trace {
        t.finish(key, &ctx.flow, &out);
    }
    out
}

/// True if `flow` satisfies a field's prerequisites; un-wildcards what it looked at.
fn prereqs_ok(pr: Prereq, flow: &FlowKey, wc: &mut FlowMask) -> bool {
    let dl_type = Field::EthType.get(flow);
    let need_type = |types: &[u128], wc: &mut FlowMask| {
        Field::EthType.set(wc, 0xffff);
        types.contains(&dl_type)
    };
    let proto = |p: u128, wc: &mut FlowMask| {
        Field::IpProto.set(wc, 0xff);
        Field::IpProto.get(flow) == p
    };
    match pr {
        Prereq::None => true,
        Prereq::Vlan => {
            Field::VlanTci.set_masked(wc, VLAN_CFI as u128, VLAN_CFI as u128);
            flow.vlan_tci() & VLAN_CFI != 0
        }
        Prereq::Arp => need_type(&[ETH_TYPE_ARP, ETH_TYPE_RARP], wc),
        Prereq::Ipv4 => need_type(&[ETH_TYPE_IP], wc),
        Prereq::Ipv6 => need_type(&[ETH_TYPE_IPV6], wc),
        Prereq::Ip => need_type(&[ETH_TYPE_IP, ETH_TYPE_IPV6], wc),
        Prereq::Tcp => need_type(&[ETH_TYPE_IP, ETH_TYPE_IPV6], wc) && proto(6, wc),
        Prereq::Udp => need_type(&[ETH_TYPE_IP, ETH_TYPE_IPV6], wc) && proto(17, wc),
        Prereq::Sctp => need_type(&[ETH_TYPE_IP, ETH_TYPE_IPV6], wc) && proto(132, wc),
        Prereq::Icmp => need_type(&[ETH_TYPE_IP], wc) && proto(1, wc),
        Prereq::Icmpv6 => need_type(&[ETH_TYPE_IPV6], wc) && proto(58, wc),
        Prereq::Nd | Prereq::NdSolicit | Prereq::NdAdvert => {
            if !(need_type(&[ETH_TYPE_IPV6], wc) && proto(58, wc)) {
                return false;
            }
            Field::Icmpv6Type.set(wc, 0xff);
            Field::Icmpv6Code.set(wc, 0xff);
            let t = Field::Icmpv6Type.get(flow);
            let code_ok = Field::Icmpv6Code.get(flow) == 0;
            code_ok
                && match pr {
                    Prereq::NdSolicit => t == 135,
                    Prereq::NdAdvert => t == 136,
                    _ => t == 135 || t == 136,
                }
        }
    }
}

impl<'a> Ctx<'a> {
    fn trace_bridge(&mut self) {
        if let Some(t) = self.trace.as_deref_mut() {
            t.bridge(&self.bridge.name, self.indent);
        }
    }

    fn trace(&mut self, s: impl FnOnce() -> String) {
        if let Some(t) = self.trace.as_deref_mut() {
            t.line(self.indent, &s());
        }
    }

    fn fail(&mut self, e: XlateError, detail: String) {
        if self.out.error.is_none() {
            self.out.error = Some(e);
            self.out.error_detail = Some(detail.clone());
        }
        self.trace(|| format!(">>>> {detail}: the packet is dropped <<<<"));
        self.stop = true;
    }

    /// Un-wildcard a field (only datapath words matter for the megaflow).
    fn unwildcard(&mut self, f: Field) {
        if f.is_dp() {
            f.set(&mut self.wc, f.all_ones());
        }
    }

    fn unwildcard_sub(&mut self, sf: &SubField) {
        if sf.field.is_dp() {
            sf.field.set_masked(&mut self.wc, u128::MAX, sf.field_mask());
        }
    }

    /// Look up `table_id` in the current bridge and run the matched rule's actions.
    /// `lookup_port` (resubmit(PORT,T)) replaces in_port for the lookup only, as in
    /// Open vSwitch. As there, only jumps to the same or an earlier table (and patch
    /// crossings, which restart at table 0) deepen the recursion; forward jumps are
    /// bounded by the number of tables and by the resubmit count.
    fn xlate_table(&mut self, table_id: u8, lookup_port: Option<u32>, top: bool) {
        if self.stop {
            return;
        }
        if self.depth >= MAX_DEPTH {
            self.fail(XlateError::TooDeep, format!("over max translation depth {MAX_DEPTH}"));
            return;
        }
        if self.resubmits >= MAX_RESUBMITS {
            self.fail(XlateError::TooManyResubmits, format!("over {MAX_RESUBMITS} resubmit actions"));
            return;
        }
        // Not an error in Open vSwitch either: the actions so far are kept and this
        // bridge stops, as if it had executed `exit`.
        // (No action takes more than 88 bytes, so short lists need no counting: the
        // usual translation never walks its actions here.)
        if self.out.actions.len() > MAX_ACTIONS_BYTES / crate::odp::MAX_ACTION_NETLINK_BYTES
            && crate::odp::ovs_netlink_size(&self.out.actions) > MAX_ACTIONS_BYTES
        {
            self.trace(|| "resubmits yielded over 64 kB of actions".into());
            self.stop = true;
            return;
        }
        let bridge = self.bridge.clone();
        let Some(cls) = bridge.tables.get(table_id as usize) else {
            return;
        };
        let rule = match lookup_port {
            Some(p) => {
                let real = self.flow.in_port();
                self.flow.set_in_port(p);
                let r = cls.lookup(&self.flow, &mut self.wc).cloned();
                self.flow.set_in_port(real);
                r
            }
            None => cls.lookup(&self.flow, &mut self.wc).cloned(),
        };
        let old_table = self.table;
        let deepens = !top && table_id <= old_table;
        self.table = table_id;
        match rule {
            None => {
                self.trace(|| format!("{table_id:2}. No match: drop"));
                // OVS runs its table-miss rule here, which counts as a resubmit too.
                if !top {
                    self.resubmits += 1;
                }
            }
            Some(r) => {
                self.out.rules.push(r.stats.clone());
                if self.trace.is_some() {
                    // As ofproto/trace: "N. match, priority P, cookie C", then each
                    // action of the rule on its own line.
                    let m = crate::flow::format::format_match(&r.m, crate::flow::DEFAULT_PRIORITY);
                    // (The actions follow, each on its own line as it runs, with what
                    // it leads to nested under it.)
                    let prio = r.priority;
                    let cookie = r.cookie;
                    let empty = r.actions.is_empty();
                    self.trace(|| {
                        let c = if cookie != 0 { format!(", cookie {cookie:#x}") } else { String::new() };
                        let head = if m.is_empty() { format!("priority {prio}") } else { format!("{m}, priority {prio}") };
                        if empty {
                            format!("{table_id:2}. {head}{c}\n    drop")
                        } else {
                            format!("{table_id:2}. {head}{c}")
                        }
                    });
                }
                if !top {
                    self.resubmits += 1;
                }
                self.depth += deepens as u32;
                self.indent += 1;
                let acts = r.actions.clone();
                self.do_actions(&acts);
                self.indent -= 1;
                self.depth -= deepens as u32;
            }
        }
        self.table = old_table;
    }

    fn do_actions(&mut self, acts: &[Action]) {
        for a in acts {
            if self.stop {
                return;
            }
            if self.trace.is_some() {
                let text = crate::flow::format::format_actions(std::slice::from_ref(a));
                self.trace(|| text);
            }
            // What an action leads to (a resubmit's lookup, NORMAL's decisions) is
            // indented under it.
            self.indent += 1;
            let go_on = self.do_action(a);
            self.indent -= 1;
            if !go_on {
                return;
            }
        }
    }

    /// Execute one action. Returns false when the rest of this action list must be
    /// skipped (dec_ttl on an expiring packet), as Open vSwitch does.
    fn do_action(&mut self, a: &Action) -> bool {
        match a {
            Action::Output { port, .. } => self.output(*port),
            Action::OutputReg { src, .. } => {
                self.unwildcard_sub(src);
                let port = src.get(&self.flow) as u32;
                self.output(port);
            }
            Action::Normal => self.output(ofpp::NORMAL),
            Action::Flood => self.output(ofpp::FLOOD),
            Action::All => self.output(ofpp::ALL),
            Action::Local => self.output(ofpp::LOCAL),
            Action::InPort => self.output(ofpp::IN_PORT),
            Action::Resubmit { port, table } => self.resubmit(*port, *table),
            Action::GotoTable(t) => self.xlate_table(*t, None, false),
            Action::SetVlanVid { vid, push_if_needed } => {
                Field::VlanTci.set_masked(&mut self.wc, 0xffff, 0xffff);
                let tci = self.flow.vlan_tci();
                if tci & VLAN_CFI != 0 {
                    self.flow.set_vlan_tci((tci & !VLAN_VID_MASK) | (vid & VLAN_VID_MASK));
                } else if *push_if_needed {
                    self.flow.set_vlan_tci(VLAN_CFI | (vid & VLAN_VID_MASK));
                    self.tpids[0] = 0x8100;
                }
            }
            Action::SetVlanPcp { pcp, push_if_needed } => {
                Field::VlanTci.set_masked(&mut self.wc, 0xffff, 0xffff);
                let tci = self.flow.vlan_tci();
                let bits = ((*pcp as u16) << 13) & VLAN_PCP_MASK;
                if tci & VLAN_CFI != 0 {
                    self.flow.set_vlan_tci((tci & !VLAN_PCP_MASK) | bits);
                } else if *push_if_needed {
                    self.flow.set_vlan_tci(VLAN_CFI | bits);
                    self.tpids[0] = 0x8100;
                }
            }
            Action::StripVlan => {
                // The inner tag (if any) becomes the outer one: what follows depends
                // on both.
                self.unwildcard_vlans();
                // No outer tag means no tag at all (a lingering inner TCI included).
                if self.flow.vlan_tci() & VLAN_CFI != 0 {
                    self.flow.set_vlan_tci(self.flow.vlan_tci2());
                    self.flow.set_vlan_tci2(0);
                    self.tpids = [self.tpids[1], 0x8100];
                }
            }
            Action::PushVlan(tpid) => {
                self.unwildcard_vlans();
                // A new outer tag with VID 0 and PCP 0 (set_field/mod_vlan_vid fill it in).
                // Only two tags are tracked: pushing onto two drops the innermost, as
                // Open vSwitch does.
                self.flow.set_vlan_tci2(self.flow.vlan_tci());
                self.flow.set_vlan_tci(VLAN_CFI);
                self.tpids = [*tpid, self.tpids[0]];
            }
            Action::SetField { field, value, mask, .. } => self.set_field(*field, *value, *mask),
            Action::Load { dst, value } => {
                if prereqs_ok(dst.field.info().prereq, &self.flow, &mut self.wc) {
                    self.unwildcard_sub(dst);
                    dst.set(&mut self.flow, *value);
                    self.fixup_vlan_write(dst.field);
                }
            }
            Action::Move { src, dst } => {
                let pre = prereqs_ok(src.field.info().prereq, &self.flow, &mut self.wc)
                    && prereqs_ok(dst.field.info().prereq, &self.flow, &mut self.wc);
                if pre {
                    self.unwildcard_sub(src);
                    self.unwildcard_sub(dst);
                    let v = src.get(&self.flow);
                    dst.set(&mut self.flow, v);
                    self.fixup_vlan_write(dst.field);
                }
            }
            Action::DecTtl => {
                if prereqs_ok(Prereq::Ip, &self.flow, &mut self.wc) {
                    self.unwildcard(Field::NwTtl);
                    let ttl = Field::NwTtl.get(&self.flow);
                    if ttl <= 1 {
                        self.trace(|| "dec_ttl: TTL expired, skipping the rest of this action list".into());
                        return false;
                    }
                    Field::NwTtl.set(&mut self.flow, ttl - 1);
                }
            }
            Action::Learn(l) => self.learn(l),
            Action::Conjunction { .. } => {
                // A conjunction rule that matched directly (without the conjunctive
                // lookup) contributes no actions, as in Open vSwitch.
            }
            Action::SetQueue(_) | Action::PopQueue | Action::Note(_) => {}
            Action::Exit => self.stop = true,
            Action::Ct(_) | Action::CtClear | Action::Controller { .. } | Action::Meter(_) => {
                let why = a.unsupported_reason().unwrap_or("not supported yet");
                self.fail(XlateError::Unsupported, why.to_string());
            }
        }
        true
    }

    pub(super) fn unwildcard_vlans(&mut self) {
        Field::VlanTci.set_masked(&mut self.wc, 0xffff, 0xffff);
        self.wc.w[word::ARP_THA] |= 0xffff;
    }

    /// Writes to vlan_tci through set_field/load/move follow the tag presence bit.
    fn fixup_vlan_write(&mut self, f: Field) {
        if matches!(f, Field::VlanTci | Field::VlanVid | Field::DlVlan | Field::DlVlanPcp) {
            // Removing the outer tag removes the whole stack, so the inner tag matters too.
            self.unwildcard_vlans();
        }
    }

    fn set_field(&mut self, f: Field, value: u128, mask: u128) {
        let info = f.info();
        if !prereqs_ok(info.prereq, &self.flow, &mut self.wc) {
            self.trace(|| format!("set_field on {}: prerequisites not met, skipped", info.name));
            return;
        }
        match f {
            // OpenFlow 1.2+ set_field on vlan_vid/vlan_pcp acts only on a present tag;
            // the value's 0x1000 bit is not a request to push one.
            Field::VlanVid | Field::DlVlan => {
                Field::VlanTci.set_masked(&mut self.wc, 0xffff, 0xffff);
                let tci = self.flow.vlan_tci();
                if tci & VLAN_CFI != 0 {
                    let vid = (value as u16) & VLAN_VID_MASK;
                    let m = (mask as u16) & VLAN_VID_MASK;
                    self.flow.set_vlan_tci((tci & !m) | (vid & m));
                }
            }
            Field::DlVlanPcp => {
                Field::VlanTci.set_masked(&mut self.wc, 0xffff, 0xffff);
                let tci = self.flow.vlan_tci();
                if tci & VLAN_CFI != 0 {
                    self.flow.set_vlan_tci((tci & !VLAN_PCP_MASK) | (((value as u16) << 13) & VLAN_PCP_MASK));
                }
            }
            _ => {
                if f.is_dp() {
                    f.set_masked(&mut self.wc, u128::MAX, mask);
                }
                f.set_masked(&mut self.flow, value, mask);
                self.fixup_vlan_write(f);
            }
        }
    }

    fn resubmit(&mut self, port: Option<u32>, table: Option<u8>) {
        let lookup_port = port.filter(|p| *p != ofpp::IN_PORT);
        let t = table.unwrap_or(self.table);
        self.xlate_table(t, lookup_port, false);
    }

    /// Output to an OpenFlow port of the current bridge (or a reserved port).
    fn output(&mut self, port: u32) {
        let in_port = self.flow.in_port();
        match port {
            ofpp::NORMAL => self.normal(),
            ofpp::FLOOD | ofpp::ALL => self.flood(),
            ofpp::IN_PORT => self.output_port(in_port),
            // The bridge's LOCAL port (its internal netdev), unless it is the input port.
            ofpp::LOCAL if in_port == ofpp::LOCAL => self.trace(|| "output:LOCAL: skipping output to the input port".into()),
            ofpp::LOCAL if self.bridge.ports.contains_key(&ofpp::LOCAL) => self.output_port(ofpp::LOCAL),
            ofpp::LOCAL => self.trace(|| "output:LOCAL: this bridge has no LOCAL port (its netdev could not be made), skipped".into()),
            ofpp::CONTROLLER => {
                self.fail(XlateError::Unsupported, "controller output is not supported yet".into());
            }
            ofpp::NONE | ofpp::TABLE => {}
            p if p == in_port => {
                self.trace(|| format!("output:{p}: skipping output to the input port"));
            }
            p => self.output_port(p),
        }
    }

    /// Send to ofport `p` of the current bridge: a datapath port, or across a patch.
    fn output_port(&mut self, p: u32) {
        let bridge = self.bridge.clone();
        let Some(port) = bridge.ports.get(&p) else {
            self.trace(|| format!("output:{p}: no such port, skipped"));
            return;
        };
        if let Some(cfg) = &port.tunnel {
            let cfg = cfg.clone();
            self.tunnel_output(port, &cfg);
            return;
        }
        if port.internal && self.terminate_tunnel(port) {
            return;
        }
        if let Some(dp) = port.dp_port {
            self.commit();
            self.out.actions.push(DpAction::Output(dp));
            self.trace(|| format!("output:{p} -> datapath port {dp} ({})", port.name));
            return;
        }
        let Some((peer_idx, peer_ofport)) = port.patch_peer else {
            self.trace(|| format!("output:{p}: patch port {} has no peer, skipped", port.name));
            return;
        };
        let Some(peer) = self.p.bridge(peer_idx).cloned() else {
            return;
        };
        // A capture on either end of the patch sees the frame as it crosses: bring
        // the packet up to date, then copy it (leaving this end, entering the other).
        let rx_tap = peer.ports.get(&peer_ofport).and_then(|pp| pp.tap);
        if port.tap.is_some() || rx_tap.is_some() {
            self.commit();
            if let Some(id) = port.tap {
                self.out.actions.push(DpAction::Tap { id, rx: false });
            }
            if let Some(id) = rx_tap {
                self.out.actions.push(DpAction::Tap { id, rx: true });
            }
            self.trace(|| format!("output:{p}: patch port {} is being captured", port.name));
        }
        // Cross the patch: the peer bridge starts at table 0 with its own in_port and
        // fresh registers, metadata and tunnel metadata. Its header changes, its
        // `exit` and its errors do not come back here (as in Open vSwitch).
        let saved_flow = self.flow;
        let saved_bridge = std::mem::replace(&mut self.bridge, peer);
        let saved_error = (self.out.error, self.out.error_detail.clone());
        let saved_tun_wc = (self.wc.w[word::TUN_ID], self.wc.w[word::TUN_ADDRS]);
        for w in crate::flow::key::DP_WORDS..crate::flow::key::NW {
            self.flow.w[w] = 0;
        }
        self.flow.w[word::TUN_ID] = 0;
        self.flow.w[word::TUN_ADDRS] = 0;
        self.flow.set_in_port(peer_ofport);
        self.indent += 1;
        self.trace_bridge();
        self.xlate_table(0, None, false);
        self.indent -= 1;
        self.bridge = saved_bridge;
        self.flow = saved_flow;
        // The peer matched on its own (zeroed) tunnel metadata, not on the packet's.
        self.wc.w[word::TUN_ID] = saved_tun_wc.0;
        self.wc.w[word::TUN_ADDRS] = saved_tun_wc.1;
        (self.out.error, self.out.error_detail) = saved_error;
        self.stop = false;
    }

    fn learn(&mut self, l: &crate::flow::action::Learn) {
        let mut m = Match::catchall();
        let mut acts: Vec<Action> = Vec::new();
        let value_of = |ctx: &mut Ctx, src: &LearnSrc| -> u128 {
            match src {
                LearnSrc::Imm(v) => *v,
                LearnSrc::Field(sf) => {
                    ctx.unwildcard_sub(sf);
                    sf.get(&ctx.flow)
                }
            }
        };
        for s in &l.specs {
            match s {
                LearnSpec::Match { dst, src } => {
                    let v = value_of(self, src);
                    let fmask = dst.field_mask();
                    let (old_v, old_m) = m.get(dst.field);
                    m.set_masked(dst.field, (old_v & !fmask) | ((v << dst.ofs) & fmask), old_m | fmask);
                }
                LearnSpec::Load { dst, src } => {
                    let v = value_of(self, src);
                    if dst.ofs == 0 && dst.n_bits == dst.field.info().bits {
                        acts.push(Action::SetField {
                            field: dst.field,
                            value: v,
                            mask: dst.field.all_ones(),
                            spelling: crate::flow::action::SetSpelling::Load,
                        });
                    } else {
                        acts.push(Action::Load { dst: *dst, value: v });
                    }
                }
                LearnSpec::Output { src } => {
                    self.unwildcard_sub(src);
                    let port = src.get(&self.flow) as u32;
                    acts.push(Action::Output { port, max_len: None });
                }
            }
        }
        let spec = FlowSpec {
            table: Some(l.table),
            priority: Some(l.priority),
            cookie: l.cookie,
            idle_timeout: l.idle_timeout,
            hard_timeout: l.hard_timeout,
            send_flow_rem: l.send_flow_rem,
            m,
            actions: Some(acts),
            ..Default::default()
        };
        self.trace(|| format!("learn: table={} {}", l.table, crate::flow::format::format_flow(&spec)));
        if self.may_learn {
            self.out.learned.push((self.bridge.idx, spec));
        }
    }
}
