//! OpenFlow switch state: bridges, ports, tables, rules, flow-mods.
//!
//! `Ofproto` is the control plane's mutable model. Every accepted change is validated
//! completely before anything is applied (a request is all-or-nothing), then a new
//! immutable [`Pipeline`] snapshot is published for the workers.

pub mod classifier;
pub mod dump;
pub mod mac_learning;
pub mod pipeline;
pub mod rule;

use std::collections::BTreeMap;
use std::sync::atomic::AtomicU64;
use std::sync::Arc;

use thiserror::Error;

use crate::cache::tags::ChangeLog;
use crate::clock;
use crate::flow::action::ofpp;
use crate::flow::{Action, FlowSpec, Match, DEFAULT_PRIORITY};
use classifier::{Classifier, Inserted};
use mac_learning::MacTable;
use pipeline::{BridgeSnap, Pipeline, PortSnap, TnlPortSnap, N_TABLES};
use rule::{Rule, RuleStats};

#[derive(Debug, Error, PartialEq, Eq)]
pub enum OfError {
    #[error("no bridge named {0}")]
    NoBridge(String),
    #[error("bridge {0} already exists")]
    BridgeExists(String),
    #[error("no port named {0}")]
    NoPort(String),
    #[error("port {0} already exists (on bridge {1})")]
    PortExists(String, String),
    #[error("ofport {0} is already in use on bridge {1}")]
    OfportInUse(u32, String),
    #[error("invalid ofport {0} (must be 1..65279)")]
    BadOfport(u32),
    #[error("invalid VLAN tag {0} (must be 0..4095)")]
    BadTag(u32),
    #[error("{0}")]
    Invalid(String),
}

pub use crate::port::PortKind;
use crate::port::{OdpPort, Vport};

#[derive(Clone, Debug)]
pub struct Port {
    pub name: String,
    pub ofport: u32,
    pub kind: PortKind,
    pub tag: Option<u16>,
    pub trunks: Vec<u16>,
    /// `vlan_mode`; None: access with a tag, trunk without.
    pub vlan_mode: Option<crate::port::VlanMode>,
    /// Datapath port number: its own for afxdp and internal ports, the shared
    /// vport's (`vxlan_sys_4789`) for tunnel ports, none for patch ports.
    pub dp_port: Option<OdpPort>,
    pub options: BTreeMap<String, String>,
    /// The MAC of an internal port's kernel netdev (set by the daemon that made it).
    pub mac: Option<[u8; 6]>,
}

#[derive(Debug)]
pub struct Bridge {
    pub name: String,
    pub idx: usize,
    pub ports: BTreeMap<u32, Port>,
    pub tables: Vec<Classifier>,
    pub mac: Arc<MacTable>,
    pub fail_secure: bool,
}

impl Bridge {
    pub fn port_by_name(&self, name: &str) -> Option<&Port> {
        self.ports.values().find(|p| p.name == name)
    }

    /// Resolves port names used in flow text (in_port=patch-tun, output:patch-int).
    pub fn port_names(&self) -> impl crate::flow::parse::PortNames + '_ {
        BridgePortNames(self)
    }

    fn rules(&self) -> impl Iterator<Item = &Arc<Rule>> {
        self.tables.iter().flat_map(|t| t.iter())
    }

    pub fn n_rules(&self) -> usize {
        self.tables.iter().map(|t| t.len()).sum()
    }
}

struct BridgePortNames<'a>(&'a Bridge);

impl crate::flow::parse::PortNames for BridgePortNames<'_> {
    fn port_no(&self, name: &str) -> Option<u32> {
        self.0.port_by_name(name).map(|p| p.ofport)
    }
}

/// Parameters of `add-port`, already parsed.
#[derive(Clone, Debug, Default)]
pub struct PortRequest {
    pub name: String,
    pub kind: Option<PortKind>,
    pub ofport: Option<u32>,
    pub tag: Option<u16>,
    pub trunks: Vec<u16>,
    pub options: BTreeMap<String, String>,
    /// MAC of an internal port's netdev.
    pub mac: Option<[u8; 6]>,
    pub vlan_mode: Option<crate::port::VlanMode>,
}

/// Which rules a del-flows/mod-flows/dump-flows request selects.
#[derive(Clone, Debug)]
pub struct Criteria {
    pub table: Option<u8>,
    pub m: Match,
    pub priority: Option<u16>,
    pub cookie: u64,
    pub cookie_mask: u64,
    pub out_port: Option<u32>,
    pub strict: bool,
}

impl Criteria {
    pub fn all() -> Criteria {
        Criteria {
            table: None,
            m: Match::catchall(),
            priority: None,
            cookie: 0,
            cookie_mask: 0,
            out_port: None,
            strict: false,
        }
    }

    pub fn from_spec(s: &FlowSpec, strict: bool) -> Criteria {
        Criteria {
            table: s.table,
            m: s.m,
            priority: s.priority,
            cookie: s.cookie,
            cookie_mask: s.cookie_mask,
            out_port: s.out_port,
            strict,
        }
    }

    /// OpenFlow's selection rule: strict = same match and priority; loose = the rule's
    /// match is at least as specific as the criteria (every bit the criteria care
    /// about is matched by the rule with the same value).
    pub fn selects(&self, r: &Rule) -> bool {
        if let Some(t) = self.table {
            if r.table != t {
                return false;
            }
        }
        if (r.cookie ^ self.cookie) & self.cookie_mask != 0 {
            return false;
        }
        if let Some(p) = self.out_port {
            if !rule_outputs_to(r, p) {
                return false;
            }
        }
        if self.strict {
            r.m == self.m && r.priority == self.priority.unwrap_or(DEFAULT_PRIORITY)
        } else {
            self.m.mask.is_subset_of(&r.m.mask) && r.m.key.eq_masked(&self.m.key, &self.m.mask)
        }
    }
}

fn rule_outputs_to(r: &Rule, port: u32) -> bool {
    r.actions.iter().any(|a| match a {
        Action::Output { port: p, .. } => *p == port,
        Action::InPort => port == ofpp::IN_PORT,
        Action::Normal => port == ofpp::NORMAL,
        Action::Flood => port == ofpp::FLOOD,
        Action::All => port == ofpp::ALL,
        Action::Local => port == ofpp::LOCAL,
        _ => false,
    })
}

#[derive(Debug)]
pub struct Ofproto {
    pub bridges: BTreeMap<String, Bridge>,
    next_bridge_idx: usize,
    next_rule_id: u64,
    version: u64,
    epoch: Arc<AtomicU64>,
    /// MAC-table changes for targeted revalidation (`cache::tags`).
    changes: Arc<ChangeLog>,
    /// Datapath port numbers in use (afxdp and internal ports), to hand out the
    /// lowest free one.
    dp_ports_used: BTreeMap<OdpPort, (String, String)>,
    /// Tunnel vports (one datapath port per tunnel protocol and UDP port, shared by
    /// every tunnel port of that kind): datapath port and how many ports use it.
    pub vports: BTreeMap<Vport, (OdpPort, usize)>,
    /// Captures running on patch ports: port name -> tap id. Runtime only (not saved).
    pub taps: BTreeMap<String, u16>,
    /// Underlay routes and neighbours, shared with every snapshot.
    pub net: Arc<crate::route::NetState>,
}

impl Default for Ofproto {
    fn default() -> Self {
        Self::new()
    }
}

impl Ofproto {
    pub fn new() -> Ofproto {
        let epoch = Arc::new(AtomicU64::new(1));
        let changes = Arc::new(ChangeLog::new());
        Ofproto {
            bridges: BTreeMap::new(),
            next_bridge_idx: 0,
            next_rule_id: 1,
            version: 0,
            net: Arc::new(crate::route::NetState::new(changes.clone())),
            epoch,
            changes,
            dp_ports_used: BTreeMap::new(),
            vports: BTreeMap::new(),
            taps: BTreeMap::new(),
        }
    }

    pub fn epoch(&self) -> Arc<AtomicU64> {
        self.epoch.clone()
    }

    /// The change log of state that changes under the snapshots (MAC tables).
    pub fn changes(&self) -> Arc<ChangeLog> {
        self.changes.clone()
    }

    pub fn bridge(&self, name: &str) -> Result<&Bridge, OfError> {
        self.bridges.get(name).ok_or_else(|| OfError::NoBridge(name.to_string()))
    }

    fn bridge_mut(&mut self, name: &str) -> Result<&mut Bridge, OfError> {
        self.bridges.get_mut(name).ok_or_else(|| OfError::NoBridge(name.to_string()))
    }

    /// Find a port by name on any bridge: (bridge name, port).
    pub fn find_port(&self, name: &str) -> Option<(&str, &Port)> {
        self.bridges.values().find_map(|b| b.port_by_name(name).map(|p| (b.name.as_str(), p)))
    }

    fn new_rule(&mut self, table: u8, spec: &FlowSpec, actions: Arc<[Action]>, stats: Option<Arc<RuleStats>>) -> Arc<Rule> {
        let id = self.next_rule_id;
        self.next_rule_id += 1;
        let now = clock::now_ns();
        Arc::new(Rule {
            id,
            table,
            priority: spec.priority.unwrap_or(DEFAULT_PRIORITY),
            m: spec.m,
            cookie: spec.cookie,
            actions,
            idle_timeout: spec.idle_timeout,
            hard_timeout: spec.hard_timeout,
            importance: spec.importance,
            send_flow_rem: spec.send_flow_rem,
            created_ns: now,
            modified_ns: AtomicU64::new(now),
            stats: stats.unwrap_or_default(),
        })
    }

    // ------------------------------------------------------------------ bridges

    /// `add-br NAME`: a standalone bridge starts with OVS's default flow
    /// `priority=0 actions=NORMAL`; `fail_secure` bridges start empty.
    pub fn add_bridge(&mut self, name: &str, fail_secure: bool) -> Result<(), OfError> {
        self.add_bridge_inner(name, fail_secure, !fail_secure)
    }

    /// A bridge with no flows at all, whatever its fail mode (restoring saved state).
    pub fn add_bridge_empty(&mut self, name: &str, fail_secure: bool) -> Result<(), OfError> {
        self.add_bridge_inner(name, fail_secure, false)
    }

    fn add_bridge_inner(&mut self, name: &str, fail_secure: bool, default_flow: bool) -> Result<(), OfError> {
        validate_name(name)?;
        if self.bridges.contains_key(name) {
            return Err(OfError::BridgeExists(name.to_string()));
        }
        if let Some((br, _)) = self.find_port(name) {
            return Err(OfError::PortExists(name.to_string(), br.to_string()));
        }
        let idx = self.next_bridge_idx;
        self.next_bridge_idx += 1;
        let mut b = Bridge {
            name: name.to_string(),
            idx,
            ports: BTreeMap::new(),
            tables: vec![Classifier::new(); N_TABLES],
            mac: Arc::new(MacTable::new(idx, self.changes.clone())),
            fail_secure,
        };
        if default_flow {
            let spec = FlowSpec { priority: Some(0), actions: Some(vec![Action::Normal]), ..Default::default() };
            let r = self.new_rule(0, &spec, Arc::from(vec![Action::Normal]), None);
            b.tables[0].insert(r);
        }
        self.bridges.insert(name.to_string(), b);
        Ok(())
    }

    /// `del-br NAME`: returns the datapath ports that were on it (to be closed).
    pub fn del_bridge(&mut self, name: &str) -> Result<Vec<OdpPort>, OfError> {
        let b = self.bridges.remove(name).ok_or_else(|| OfError::NoBridge(name.to_string()))?;
        let mut dps = Vec::new();
        for p in b.ports.values() {
            if let Some(d) = self.release_dp_port(p) {
                dps.push(d);
            }
        }
        Ok(dps)
    }

    // ------------------------------------------------------------------ ports

    /// Validate an add-port request without changing anything; returns the ofport and
    /// datapath port number it would get.
    pub fn check_add_port(&self, br: &str, req: &PortRequest) -> Result<(u32, Option<OdpPort>), OfError> {
        validate_name(&req.name)?;
        let b = self.bridge(br)?;
        if let Some((obr, _)) = self.find_port(&req.name) {
            return Err(OfError::PortExists(req.name.clone(), obr.to_string()));
        }
        // A bridge's LOCAL port is the one port named after a bridge: its own, an
        // internal port with OpenFlow number LOCAL.
        let local = req.name == br && req.ofport == Some(ofpp::LOCAL) && matches!(req.kind, Some(PortKind::Internal));
        if self.bridges.contains_key(&req.name) && !local {
            return Err(OfError::Invalid(format!("{} is the name of a bridge", req.name)));
        }
        if let Some(t) = req.tag {
            if t > 4095 {
                return Err(OfError::BadTag(t as u32));
            }
        }
        for t in &req.trunks {
            if *t > 4095 {
                return Err(OfError::BadTag(*t as u32));
            }
        }
        if let Some(PortKind::Patch { peer }) = &req.kind {
            if peer == &req.name {
                return Err(OfError::Invalid(format!("patch port {} cannot be its own peer", req.name)));
            }
        }
        let ofport = match req.ofport {
            Some(p) if local => {
                if b.ports.contains_key(&p) {
                    return Err(OfError::OfportInUse(p, br.to_string()));
                }
                p
            }
            Some(p) => {
                if p == 0 || p >= ofpp::MAX {
                    return Err(OfError::BadOfport(p));
                }
                if b.ports.contains_key(&p) {
                    return Err(OfError::OfportInUse(p, br.to_string()));
                }
                p
            }
            None => (1..ofpp::MAX).find(|p| !b.ports.contains_key(p)).ok_or_else(|| OfError::Invalid("bridge is full".into()))?,
        };
        let dp = match req.kind.as_ref().unwrap_or(&PortKind::Afxdp) {
            PortKind::Afxdp | PortKind::Internal => Some(self.free_dp_port()),
            PortKind::Patch { .. } => None,
            PortKind::Tunnel(t) => Some(self.vports.get(&t.vport()).map(|v| v.0).unwrap_or_else(|| self.free_dp_port())),
        };
        Ok((ofport, dp))
    }

    fn free_dp_port(&self) -> OdpPort {
        (0..).map(OdpPort).find(|d| !self.dp_ports_used.contains_key(d)).unwrap()
    }

    /// Forget a removed port's datapath port. Returns it if nothing else uses it
    /// (a tunnel vport stays while other tunnel ports share it).
    fn release_dp_port(&mut self, p: &Port) -> Option<OdpPort> {
        let d = p.dp_port?;
        if let PortKind::Tunnel(t) = &p.kind {
            let v = t.vport();
            if let Some(e) = self.vports.get_mut(&v) {
                e.1 -= 1;
                if e.1 > 0 {
                    return None;
                }
                self.vports.remove(&v);
            }
        }
        self.dp_ports_used.remove(&d);
        Some(d)
    }

    pub fn add_port(&mut self, br: &str, req: PortRequest) -> Result<Port, OfError> {
        let (ofport, dp_port) = self.check_add_port(br, &req)?;
        let port = Port {
            name: req.name.clone(),
            ofport,
            kind: req.kind.unwrap_or(PortKind::Afxdp),
            tag: req.tag,
            trunks: req.trunks,
            vlan_mode: req.vlan_mode,
            dp_port,
            options: req.options,
            mac: req.mac,
        };
        if let Some(d) = dp_port {
            match &port.kind {
                PortKind::Tunnel(t) => {
                    let e = self.vports.entry(t.vport()).or_insert((d, 0));
                    e.1 += 1;
                    self.dp_ports_used.insert(d, (String::new(), t.vport_name()));
                }
                _ => {
                    self.dp_ports_used.insert(d, (br.to_string(), port.name.clone()));
                }
            }
        }
        self.bridge_mut(br)?.ports.insert(ofport, port.clone());
        Ok(port)
    }

    /// Remove a port by name (from `br` if given). Returns (bridge name, port).
    pub fn del_port(&mut self, br: Option<&str>, name: &str) -> Result<(String, Port), OfError> {
        let brname = match br {
            Some(b) => {
                let bridge = self.bridge(b)?;
                if bridge.port_by_name(name).is_none() {
                    return Err(OfError::NoPort(format!("{name} on bridge {b}")));
                }
                b.to_string()
            }
            None => self.find_port(name).map(|(b, _)| b.to_string()).ok_or_else(|| OfError::NoPort(name.to_string()))?,
        };
        if brname == name {
            return Err(OfError::Invalid(format!(
                "cannot delete port {name} because it is the local port for bridge {brname} (deleting this port requires deleting the entire bridge)"
            )));
        }
        let b = self.bridge_mut(&brname)?;
        let ofport = b.port_by_name(name).unwrap().ofport;
        let p = b.ports.remove(&ofport).unwrap();
        b.mac.flush(Some(ofport));
        self.release_dp_port(&p);
        Ok((brname, p))
    }

    /// Change a port's access tag (`set port NAME tag=N`, or None to clear).
    pub fn set_port_tag(&mut self, name: &str, tag: Option<u16>) -> Result<(), OfError> {
        self.set_port_vlans(name, Some(tag), None, None)
    }

    /// `set-port`: change any of tag, trunks and vlan_mode (None leaves one as is).
    pub fn set_port_vlans(
        &mut self,
        name: &str,
        tag: Option<Option<u16>>,
        trunks: Option<Vec<u16>>,
        mode: Option<Option<crate::port::VlanMode>>,
    ) -> Result<(), OfError> {
        if let Some(Some(t)) = tag {
            if t > 4095 {
                return Err(OfError::BadTag(t as u32));
            }
        }
        if let Some(t) = trunks.as_ref().and_then(|v| v.iter().find(|t| **t > 4095)) {
            return Err(OfError::BadTag(*t as u32));
        }
        let brname = self.find_port(name).map(|(b, _)| b.to_string()).ok_or_else(|| OfError::NoPort(name.to_string()))?;
        let b = self.bridge_mut(&brname)?;
        let ofport = b.port_by_name(name).unwrap().ofport;
        let p = b.ports.get_mut(&ofport).unwrap();
        if let Some(t) = tag {
            p.tag = t;
        }
        if let Some(t) = trunks {
            p.trunks = t;
        }
        if let Some(m) = mode {
            p.vlan_mode = m;
        }
        b.mac.flush(Some(ofport));
        Ok(())
    }

    // ------------------------------------------------------------------ flows

    /// Validate one flow for adding to `br`: table range, action sanity. Nothing is
    /// changed.
    fn check_flow(&self, spec: &FlowSpec) -> Result<(), OfError> {
        let table = spec.table.unwrap_or(0);
        if table as usize >= N_TABLES {
            return Err(OfError::Invalid(format!("table {table} out of range (0..254)")));
        }
        let acts = spec.actions.as_deref().unwrap_or(&[]);
        check_actions(acts, table)
    }

    /// `add-flow` / `add-flows`: all flows are validated first; either all are added
    /// or none. Returns how many were added.
    pub fn add_flows(&mut self, br: &str, specs: &[FlowSpec]) -> Result<usize, OfError> {
        self.bridge(br)?;
        for (i, s) in specs.iter().enumerate() {
            self.check_flow(s).map_err(|e| {
                if specs.len() > 1 {
                    OfError::Invalid(format!("flow {}: {e}", i + 1))
                } else {
                    e
                }
            })?;
        }
        for s in specs {
            let table = s.table.unwrap_or(0);
            let acts: Arc<[Action]> = Arc::from(s.actions.clone().unwrap_or_default());
            let rule = self.new_rule(table, s, acts, None);
            let b = self.bridge_mut(br)?;
            if let Inserted::Replaced(_old) = b.tables[table as usize].insert(rule) {
                // OpenFlow: adding an identical flow replaces it (counters restart).
            }
        }
        Ok(specs.len())
    }

    /// Flows produced by `learn()`. A flow that already exists with the same actions
    /// is only refreshed (its hard timeout restarts, as when Open vSwitch re-learns);
    /// others are added. Returns true if the tables changed.
    pub fn learn_flows(&mut self, br: &str, specs: &[FlowSpec]) -> Result<bool, OfError> {
        let mut changed = Vec::new();
        {
            let b = self.bridge(br)?;
            for s in specs {
                self.check_flow(s)?;
                let t = s.table.unwrap_or(0) as usize;
                let prio = s.priority.unwrap_or(DEFAULT_PRIORITY);
                match b.tables[t].find_exact(&s.m, prio) {
                    Some(r) if Some(&r.actions[..]) == s.actions.as_deref() && r.cookie == s.cookie => r.touch_modified(),
                    _ => changed.push(s.clone()),
                }
            }
        }
        if changed.is_empty() {
            return Ok(false);
        }
        self.add_flows(br, &changed)?;
        Ok(true)
    }

    /// `del-flows [--strict] BR [MATCH]`: returns the number removed.
    pub fn del_flows(&mut self, br: &str, c: &Criteria) -> Result<usize, OfError> {
        let b = self.bridge_mut(br)?;
        let victims: Vec<(u8, Match, u16)> = b.rules().filter(|r| c.selects(r)).map(|r| (r.table, r.m, r.priority)).collect();
        for (t, m, p) in &victims {
            b.tables[*t as usize].remove(m, *p);
        }
        Ok(victims.len())
    }

    /// `mod-flows [--strict] BR FLOW`: replace the actions of the selected rules,
    /// keeping their counters. Returns the number modified.
    pub fn mod_flows(&mut self, br: &str, spec: &FlowSpec, strict: bool) -> Result<usize, OfError> {
        self.check_flow(spec)?;
        let c = Criteria::from_spec(spec, strict);
        let acts: Arc<[Action]> = Arc::from(spec.actions.clone().unwrap_or_default());
        let targets: Vec<Arc<Rule>> = self.bridge(br)?.rules().filter(|r| c.selects(r)).cloned().collect();
        for old in &targets {
            let s = FlowSpec {
                table: Some(old.table),
                priority: Some(old.priority),
                cookie: old.cookie,
                idle_timeout: old.idle_timeout,
                hard_timeout: old.hard_timeout,
                importance: old.importance,
                send_flow_rem: old.send_flow_rem,
                m: old.m,
                ..Default::default()
            };
            let r = self.new_rule(old.table, &s, acts.clone(), Some(old.stats.clone()));
            self.bridge_mut(br)?.tables[old.table as usize].insert(r);
        }
        Ok(targets.len())
    }

    /// Rules selected by `c`, sorted by table, then priority (descending), then age.
    pub fn dump_flows(&self, br: &str, c: &Criteria) -> Result<Vec<Arc<Rule>>, OfError> {
        let b = self.bridge(br)?;
        let mut v: Vec<Arc<Rule>> = b.rules().filter(|r| c.selects(r)).cloned().collect();
        v.sort_by(|a, b| a.table.cmp(&b.table).then(b.priority.cmp(&a.priority)).then(a.id.cmp(&b.id)));
        Ok(v)
    }

    /// Remove rules whose idle or hard timeout has passed. Returns how many.
    pub fn expire_rules(&mut self) -> usize {
        let now = clock::now_ns();
        let mut n = 0;
        for b in self.bridges.values_mut() {
            let victims: Vec<(u8, Match, u16)> =
                b.rules().filter(|r| r.expired(now)).map(|r| (r.table, r.m, r.priority)).collect();
            for (t, m, p) in &victims {
                b.tables[*t as usize].remove(m, *p);
            }
            n += victims.len();
        }
        n
    }

    // ------------------------------------------------------------------ snapshot

    /// Build the snapshot the workers translate with. The caller publishes it and
    /// only then bumps the epoch (see `daemon::publish`), so that a worker that sees
    /// the new epoch is guaranteed to load the new snapshot.
    pub fn snapshot(&mut self) -> Pipeline {
        self.version += 1;
        let n = self.next_bridge_idx;
        let mut bridges: Vec<Option<Arc<BridgeSnap>>> = vec![None; n];
        let mut dp_ports: Vec<Option<(usize, u32)>> = Vec::new();
        let mut tnl_ports = Vec::new();
        for b in self.bridges.values() {
            let mut ports = BTreeMap::new();
            for p in b.ports.values() {
                let patch_peer = match &p.kind {
                    PortKind::Patch { peer } => self.bridges.values().find_map(|ob| {
                        ob.port_by_name(peer).filter(|pp| matches!(&pp.kind, PortKind::Patch { peer: back } if back == &p.name)).map(|pp| (ob.idx, pp.ofport))
                    }),
                    _ => None,
                };
                let tunnel = match &p.kind {
                    PortKind::Tunnel(t) => {
                        let t = Arc::new(t.clone());
                        if let Some(d) = p.dp_port {
                            tnl_ports.push(TnlPortSnap { vport: d, bridge: b.idx, ofport: p.ofport, cfg: t.clone() });
                        }
                        Some(t)
                    }
                    _ => None,
                };
                if let (Some(OdpPort(d)), None) = (p.dp_port, &tunnel) {
                    if dp_ports.len() <= d as usize {
                        dp_ports.resize(d as usize + 1, None);
                    }
                    dp_ports[d as usize] = Some((b.idx, p.ofport));
                }
                ports.insert(
                    p.ofport,
                    PortSnap {
                        ofport: p.ofport,
                        name: Arc::from(p.name.as_str()),
                        dp_port: p.dp_port,
                        patch_peer,
                        tunnel,
                        internal: matches!(p.kind, PortKind::Internal),
                        mac: p.mac,
                        tag: p.tag,
                        trunks: Arc::from(native_trunks(p).as_slice()),
                        vlan_mode: crate::port::VlanMode::effective(p.vlan_mode, p.tag),
                        tap: self.taps.get(&p.name).copied(),
                    },
                );
            }
            bridges[b.idx] = Some(Arc::new(BridgeSnap {
                idx: b.idx,
                name: Arc::from(b.name.as_str()),
                ports,
                tables: b.tables.clone(),
                mac: b.mac.clone(),
            }));
        }
        let vports = self.vports.iter().map(|(v, (d, _))| (*d, *v)).collect();
        Pipeline { version: self.version, epoch: self.epoch.clone(), changes: self.changes.clone(), bridges, dp_ports, vports, tnl_ports, net: self.net.clone() }
    }
}

/// The VLANs a port trunks in NORMAL: its `trunks`; for the native modes a non-empty
/// list also carries the native VLAN (as Open vSwitch adds it).
fn native_trunks(p: &Port) -> Vec<u16> {
    use crate::port::VlanMode::*;
    let mut t = p.trunks.clone();
    if matches!(p.vlan_mode, Some(NativeTagged | NativeUntagged)) && !t.is_empty() {
        let native = p.tag.unwrap_or(0);
        if !t.contains(&native) {
            t.push(native);
        }
    }
    t
}

fn validate_name(name: &str) -> Result<(), OfError> {
    if name.is_empty() || name.len() > 15 || !name.chars().all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c)) {
        return Err(OfError::Invalid(format!(
            "invalid name '{name}': 1 to 15 characters from [A-Za-z0-9._-] (a Linux interface name)"
        )));
    }
    Ok(())
}

/// Checks OpenFlow requires of an action list in table `table`.
fn check_actions(acts: &[Action], table: u8) -> Result<(), OfError> {
    for (i, a) in acts.iter().enumerate() {
        match a {
            Action::GotoTable(t) => {
                if *t as usize >= N_TABLES {
                    return Err(OfError::Invalid(format!("goto_table:{t} out of range")));
                }
                if *t <= table {
                    return Err(OfError::Invalid(format!("goto_table:{t} must go to a later table than {table}")));
                }
                if i + 1 != acts.len() {
                    return Err(OfError::Invalid("goto_table must be the last action".into()));
                }
            }
            Action::Resubmit { table: Some(t), .. } if *t as usize >= N_TABLES => {
                return Err(OfError::Invalid(format!("resubmit to table {t} out of range")));
            }
            Action::Output { port, .. } if *port == 0 || (*port >= ofpp::MAX && *port < ofpp::IN_PORT) => {
                return Err(OfError::Invalid(format!("output to invalid port {port}")));
            }
            Action::Learn(l) if l.table as usize >= N_TABLES => {
                return Err(OfError::Invalid(format!("learn into table {} out of range", l.table)));
            }
            _ => {}
        }
    }
    Ok(())
}
