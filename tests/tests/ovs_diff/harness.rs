//! The differential harness: one topology and flow set built both in a private Open
//! vSwitch and in an in-process xvs `Ofproto`; each test packet is traced through
//! both, both sides' datapath actions are executed on copies of the same frame, and
//! the multisets of (output port name, frame bytes) must be equal.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::net::Ipv4Addr;
use std::sync::Arc;

use xvs::route::{Route, RouteTable};
use xvs::flow::parse::{parse_flow, ParseMode};
use xvs::flow::FlowKey;
use xvs::odp::format_dp_actions;
use xvs::ofproto::pipeline::Pipeline;
use xvs::ofproto::rule::{Rule, RuleStats};
use xvs::ofproto::{Criteria, Ofproto, PortKind, PortRequest};
use xvs::packet::extract::{extract, Offsets};
use xvs::xlate::{self, trace::Trace, XlateOut};

use super::known::{classify, KnownMismatch};
use super::odp_parse::{self, Parsed};
use super::ovs::{Ovs, OvsPort, OvsPortType};
use super::packet::{check_frame, fmt_mac, Pkt};

#[derive(Clone, Debug)]
pub struct PortDef {
    pub name: String,
    pub ofport: u32,
    /// Some(peer) for a patch port.
    pub patch: Option<String>,
    pub tag: Option<u16>,
    pub trunks: Vec<u16>,
    /// `vlan_mode` (access, trunk, native-tagged, native-untagged), if set.
    pub vlan_mode: Option<String>,
    /// Some((type, options)) for a tunnel port (`vxlan`/`gre`, OVS's options).
    pub tunnel: Option<(String, Vec<(String, String)>)>,
}

impl PortDef {
    pub fn plain(name: &str, ofport: u32) -> PortDef {
        PortDef {
            name: name.into(),
            ofport,
            patch: None,
            tag: None,
            trunks: vec![],
            vlan_mode: None,
            tunnel: None,
        }
    }
    /// A port with a `vlan_mode` (and its tag and trunks).
    pub fn vlan_mode(name: &str, ofport: u32, mode: &str, tag: Option<u16>, trunks: &[u16]) -> PortDef {
        PortDef {
            tag,
            trunks: trunks.to_vec(),
            vlan_mode: Some(mode.into()),
            ..PortDef::plain(name, ofport)
        }
    }
    pub fn access(name: &str, ofport: u32, tag: u16) -> PortDef {
        PortDef {
            tag: Some(tag),
            ..PortDef::plain(name, ofport)
        }
    }
    pub fn trunk(name: &str, ofport: u32, trunks: &[u16]) -> PortDef {
        PortDef {
            trunks: trunks.to_vec(),
            ..PortDef::plain(name, ofport)
        }
    }
    /// A tunnel port: `ty` is `vxlan` or `gre`, `options` OVS's `options:` column.
    pub fn tunnel(name: &str, ofport: u32, ty: &str, options: &[(&str, &str)]) -> PortDef {
        PortDef {
            tunnel: Some((
                ty.into(),
                options
                    .iter()
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect(),
            )),
            ..PortDef::plain(name, ofport)
        }
    }
    pub fn patch(name: &str, ofport: u32, peer: &str) -> PortDef {
        PortDef {
            patch: Some(peer.into()),
            ..PortDef::plain(name, ofport)
        }
    }
}

/// The underlay of native tunneling: the bridge whose LOCAL (OVS) / internal (xvs)
/// port carries the local tunnel endpoint address, a route to its subnet through it,
/// and static neighbours (`tnl/neigh/set`; xvs: `net.neigh.set`).
#[derive(Clone, Debug)]
pub struct Underlay {
    pub bridge: String,
    pub mac: [u8; 6],
    pub ip: Ipv4Addr,
    pub plen: u8,
    pub neigh: Vec<(Ipv4Addr, [u8; 6])>,
}

#[derive(Clone, Debug)]
pub struct BridgeDef {
    pub name: String,
    pub ports: Vec<PortDef>,
}

/// A static MAC table entry (`ovs-appctl fdb/add`; xvs: `MacTable::learn`).
#[derive(Clone, Debug)]
pub struct Fdb {
    pub bridge: String,
    pub port: String,
    pub vlan: u16,
    pub mac: [u8; 6],
}

/// The outer addresses of a decapsulated packet.
#[derive(Clone, Copy, Debug)]
pub struct Tun {
    pub src: Ipv4Addr,
    pub dst: Ipv4Addr,
}

/// How one case came out.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    Agree,
    /// OVS emitted datapath actions the harness cannot execute (reason).
    Skipped(String),
    /// A disagreement of a known class (its id).
    Known(&'static str),
    /// A disagreement no known class explains.
    Unknown,
}

/// Everything about one case that disagreed, for the report and for classification.
#[derive(Clone, Debug)]
pub struct CaseReport {
    pub scenario: String,
    pub label: String,
    pub pkt: Pkt,
    pub flows: BTreeMap<String, Vec<String>>,
    pub ovs_trace: String,
    pub ovs_actions: String,
    pub xvs_actions: String,
    pub xvs_error: Option<String>,
    pub xvs_trace: String,
    pub ovs_out: Vec<(String, Vec<u8>)>,
    pub xvs_out: Vec<(String, Vec<u8>)>,
    pub problem: String,
}

impl CaseReport {
    /// The report; traces cut to `max_lines` lines each (0: whole).
    pub fn render_short(&self, max_lines: usize) -> String {
        let cut = |t: &str| -> String {
            let n = t.lines().count();
            if max_lines == 0 || n <= max_lines + 3 {
                return t.trim_end().to_string();
            }
            let mut v: Vec<&str> = t.lines().take(max_lines).collect();
            let tail: Vec<&str> = t.lines().skip(n - 3).collect();
            let note = format!("    ... ({} lines left out) ...", n - max_lines - 3);
            v.push(&note);
            v.extend(tail);
            v.join("\n")
        };
        let mut s = String::new();
        let _ = writeln!(
            s,
            "=== [{}] {}: {}",
            self.scenario, self.label, self.problem
        );
        let _ = writeln!(s, "packet: {}", self.pkt.describe());
        let _ = writeln!(
            s,
            "OVS datapath actions: {}",
            cut_str(&self.ovs_actions, 400)
        );
        let _ = writeln!(
            s,
            "xvs datapath actions: {}{}",
            cut_str(&self.xvs_actions, 400),
            self.xvs_error
                .as_ref()
                .map(|e| format!(" (error: {e})"))
                .unwrap_or_default()
        );
        let _ = writeln!(
            s,
            "OVS outputs: {}",
            cut_str(&fmt_outputs(&self.ovs_out), 600)
        );
        let _ = writeln!(
            s,
            "xvs outputs: {}",
            cut_str(&fmt_outputs(&self.xvs_out), 600)
        );
        let _ = writeln!(s, "--- OVS trace:\n{}", cut(&self.ovs_trace));
        let _ = writeln!(s, "--- xvs trace:\n{}", cut(&self.xvs_trace));
        s
    }

    /// The whole report, with the flows of every bridge.
    pub fn render(&self) -> String {
        let mut s = self.render_short(0);
        for (b, fl) in &self.flows {
            for f in fl {
                let _ = writeln!(s, "flow {b}: {f}");
            }
        }
        s
    }
}

fn cut_str(s: &str, n: usize) -> String {
    if s.len() <= n {
        s.to_string()
    } else {
        format!("{}... ({} more bytes)", &s[..n], s.len() - n)
    }
}

fn fmt_outputs(o: &[(String, Vec<u8>)]) -> String {
    if o.is_empty() {
        return "dropped".into();
    }
    o.iter()
        .map(|(p, f)| format!("{p}:{}", hex(f)))
        .collect::<Vec<_>>()
        .join(" ")
}

pub fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// Tallies of a scenario.
#[derive(Default, Debug)]
pub struct Tally {
    pub cases: usize,
    pub agree: usize,
    pub dropped_both: usize,
    pub skipped: BTreeMap<String, usize>,
    pub known: BTreeMap<&'static str, usize>,
    pub unknown: Vec<CaseReport>,
    /// One example per known class.
    pub known_examples: BTreeMap<&'static str, CaseReport>,
}

impl Tally {
    pub fn skips(&self) -> usize {
        self.skipped.values().sum()
    }

    pub fn summary(&self, name: &str) -> String {
        let mut s = format!(
            "[{name}] {} cases: {} agree ({} dropped by both), {} skipped, {} known mismatches, {} UNKNOWN mismatches\n",
            self.cases,
            self.agree,
            self.dropped_both,
            self.skips(),
            self.known.values().sum::<usize>(),
            self.unknown.len()
        );
        for (r, n) in &self.skipped {
            let _ = writeln!(s, "    skipped {n:5}: {r}");
        }
        for (k, n) in &self.known {
            let _ = writeln!(s, "    known   {n:5}: {k}");
        }
        s
    }

    pub fn merge(&mut self, o: Tally) {
        self.cases += o.cases;
        self.agree += o.agree;
        self.dropped_both += o.dropped_both;
        for (k, v) in o.skipped {
            *self.skipped.entry(k).or_default() += v;
        }
        for (k, v) in o.known {
            *self.known.entry(k).or_default() += v;
        }
        self.unknown.extend(o.unknown);
        for (k, v) in o.known_examples {
            self.known_examples.entry(k).or_insert(v);
        }
    }

    /// Print the summary, an example of each known class, every unknown mismatch (up
    /// to a limit), and fail if there are unknown mismatches or too many skips.
    pub fn finish(&self, name: &str, max_skip_percent: f64) {
        eprintln!("{}", self.summary(name));
        for (k, r) in &self.known_examples {
            let why = super::known::KNOWN_MISMATCHES
                .iter()
                .find(|m| m.id == *k)
                .map(|m| m.why)
                .unwrap_or("");
            eprintln!(
                "--- example of known mismatch `{k}`\n    ({why})\n{}",
                r.render_short(40)
            );
        }
        for r in self.unknown.iter().take(10) {
            eprintln!("{}", r.render_short(150));
        }
        assert!(self.cases > 0, "[{name}] no cases ran");
        assert!(
            self.unknown.is_empty(),
            "[{name}] {} mismatches between Open vSwitch and xvs that are not in the known list (see above)",
            self.unknown.len()
        );
        let pct = 100.0 * self.skips() as f64 / self.cases as f64;
        assert!(
            pct <= max_skip_percent,
            "[{name}] {pct:.1}% of the cases were skipped (limit {max_skip_percent}%)"
        );
    }
}

/// Both switches, built from the same definition.
pub struct Diff {
    pub scenario: String,
    pub ovs: Ovs,
    pub bridges: Vec<BridgeDef>,
    pub flows: BTreeMap<String, Vec<String>>,
    pub fdb: Vec<Fdb>,
    pub of: Ofproto,
    pub pipe: Pipeline,
    pub underlay: Option<Underlay>,
    /// (bridge, ofport) -> OVS datapath port.
    ovs_ports: BTreeMap<(String, u32), u32>,
    ovs_dp_names: BTreeMap<u32, String>,
    xvs_dp_names: BTreeMap<u32, String>,
    pub tally: Tally,
    /// Every rule any translation of this Diff matched (xvs side), for coverage.
    pub hit: Vec<Arc<RuleStats>>,
}

impl Diff {
    pub fn new(scenario: &str, bridges: Vec<BridgeDef>) -> Result<Diff, String> {
        Diff::with_underlay(scenario, bridges, None)
    }

    /// Bridges with tunnel ports and the underlay they are routed through.
    /// Start OVS and build the bridges on both sides. A private ovs-vswitchd that
    /// fails to come up on a loaded machine is given one more try (reported).
    pub fn with_underlay(
        scenario: &str,
        bridges: Vec<BridgeDef>,
        underlay: Option<Underlay>,
    ) -> Result<Diff, String> {
        match Diff::with_underlay_once(scenario, bridges.clone(), underlay.clone()) {
            Ok(d) => Ok(d),
            Err(e) => {
                eprintln!("[{scenario}] setting up Open vSwitch failed ({e}); trying once more");
                Diff::with_underlay_once(scenario, bridges, underlay)
            }
        }
    }

    fn with_underlay_once(
        scenario: &str,
        bridges: Vec<BridgeDef>,
        underlay: Option<Underlay>,
    ) -> Result<Diff, String> {
        let mut ovs = Ovs::start()?;
        for b in &bridges {
            let ports: Vec<OvsPort> = b
                .ports
                .iter()
                .map(|p| OvsPort {
                    name: p.name.clone(),
                    ofport: p.ofport,
                    ty: match (&p.patch, &p.tunnel) {
                        (Some(peer), _) => OvsPortType::Patch { peer: peer.clone() },
                        (None, Some((ty, options))) => OvsPortType::Tunnel {
                            ty: ty.clone(),
                            options: options.clone(),
                        },
                        (None, None) => OvsPortType::Dummy,
                    },
                    tag: p.tag,
                    trunks: p.trunks.clone(),
                    vlan_mode: p.vlan_mode.clone(),
                })
                .collect();
            ovs.add_bridge(&b.name, &ports)
                .map_err(|e| format!("{e}\n{}", ovs.log_tail()))?;
        }
        if let Some(u) = &underlay {
            ovs.vsctl(&[
                "set",
                "bridge",
                &u.bridge,
                &format!("other-config:hwaddr=\"{}\"", fmt_mac(&u.mac)),
            ])?;
            ovs.appctl(
                "netdev-dummy/ip4addr",
                &[&u.bridge, &format!("{}/{}", u.ip, u.plen)],
            )?;
            let net = u32::from(u.ip) & (u32::MAX << (32 - u.plen));
            ovs.appctl(
                "ovs/route/add",
                &[&format!("{}/{}", Ipv4Addr::from(net), u.plen), &u.bridge],
            )?;
            for (ip, mac) in &u.neigh {
                ovs.appctl("tnl/neigh/set", &[&u.bridge, &ip.to_string(), &fmt_mac(mac)])?;
            }
        }
        let dp = ovs.dp_ports()?;
        // The requested OpenFlow port numbers must have been granted.
        for b in &bridges {
            for p in &b.ports {
                if let Some(_t) = &p.tunnel {
                    // Tunnel ports share one datapath port: dpif/show lists one each.
                    let of = ovs.vsctl(&["get", "interface", &p.name, "ofport"])?;
                    if of.trim() != p.ofport.to_string() {
                        return Err(format!(
                            "OVS gave tunnel port {} ofport {}, not {}",
                            p.name,
                            of.trim(),
                            p.ofport
                        ));
                    }
                    continue;
                }
                if p.patch.is_none()
                    && !dp
                        .values()
                        .any(|(br, n, of)| br == &b.name && n == &p.name && *of == p.ofport)
                {
                    return Err(format!(
                        "OVS did not give {} ofport {} on {}: {dp:?}",
                        p.name, p.ofport, b.name
                    ));
                }
            }
        }
        let ovs_ports = dp
            .iter()
            .map(|(d, (br, _, of))| ((br.clone(), *of), *d))
            .collect();
        // Tunnel ports share their datapath vport: it is named after the tunnel type
        // (and UDP port), the same way on both sides.
        let ovs_dp_names = dp
            .into_iter()
            .map(|(d, (br, n, of))| {
                let def = bridges
                    .iter()
                    .find(|b| b.name == br)
                    .and_then(|b| b.ports.iter().find(|p| p.ofport == of && p.name == n));
                match def.and_then(|p| p.tunnel.as_ref()) {
                    Some((ty, opts)) => {
                        let port = opts
                            .iter()
                            .find(|(k, _)| k == "dst_port")
                            .and_then(|(_, v)| v.parse().ok())
                            .unwrap_or(4789u16);
                        (d, vport_name(ty == "vxlan", port))
                    }
                    None => (d, n),
                }
            })
            .collect::<BTreeMap<u32, String>>();
        let mut ovs_ports: BTreeMap<(String, u32), u32> = ovs_ports;
        for b in &bridges {
            for p in &b.ports {
                if let Some((ty, opts)) = &p.tunnel {
                    let port = opts
                        .iter()
                        .find(|(k, _)| k == "dst_port")
                        .and_then(|(_, v)| v.parse().ok())
                        .unwrap_or(4789u16);
                    let name = vport_name(ty == "vxlan", port);
                    if let Some((d, _)) = ovs_dp_names.iter().find(|(_, n)| **n == name) {
                        ovs_ports.insert((b.name.clone(), p.ofport), *d);
                    }
                }
            }
        }
        let mut d = Diff {
            scenario: scenario.to_string(),
            ovs,
            bridges,
            flows: BTreeMap::new(),
            fdb: vec![],
            of: Ofproto::new(),
            pipe: Pipeline::empty(),
            ovs_dp_names,
            ovs_ports,
            xvs_dp_names: BTreeMap::new(),
            underlay,
            tally: Tally::default(),
            hit: vec![],
        };
        d.rebuild_xvs()?;
        Ok(d)
    }

    /// (Re)build the xvs side from scratch: bridges, ports, flows, MAC entries.
    fn rebuild_xvs(&mut self) -> Result<(), String> {
        let mut of = Ofproto::new();
        for b in &self.bridges {
            of.add_bridge(&b.name, true).map_err(|e| e.to_string())?;
            for p in &b.ports {
                let kind = match (&p.patch, &p.tunnel) {
                    (Some(peer), _) => PortKind::Patch { peer: peer.clone() },
                    (None, Some((ty, opts))) => {
                        let o = opts.iter().cloned().collect();
                        PortKind::parse(Some(ty), &o)
                            .map_err(|e| format!("xvs tunnel port {}: {e}", p.name))?
                            .0
                    }
                    (None, None) => PortKind::Afxdp,
                };
                let req = PortRequest {
                    name: p.name.clone(),
                    kind: Some(kind),
                    ofport: Some(p.ofport),
                    tag: p.tag,
                    trunks: p.trunks.clone(),
                    options: Default::default(),
                    mac: None,
                    vlan_mode: p.vlan_mode.as_deref().map(|m| xvs::port::VlanMode::parse(m).unwrap()),
                };
                of.add_port(&b.name, req)
                    .map_err(|e| format!("xvs add_port {}: {e}", p.name))?;
            }
        }
        if let Some(u) = &self.underlay {
            of.add_port(
                &u.bridge,
                PortRequest {
                    name: u.bridge.clone(),
                    ofport: Some(0xfffe),
                    kind: Some(PortKind::Internal),
                    mac: Some(u.mac),
                    ..Default::default()
                },
            )
            .map_err(|e| format!("xvs internal port {}: {e}", u.bridge))?;
            let net = u32::from(u.ip) & (u32::MAX << (32 - u.plen));
            of.net.routes.store(Arc::new(RouteTable {
                routes: vec![Route {
                    dst: Ipv4Addr::from(net),
                    plen: u.plen,
                    gateway: None,
                    dev: u.bridge.clone(),
                    src: None,
                    priority: 0,
                }],
                addrs: vec![(u.bridge.clone(), u.ip, u.plen)],
                links: [(u.bridge.clone(), (u.mac, 1500))].into_iter().collect(),
            }));
            for (ip, mac) in &u.neigh {
                of.net.neigh.set(&u.bridge, *ip, *mac);
            }
        }
        for (br, lines) in &self.flows {
            let b = of.bridge(br).map_err(|e| e.to_string())?;
            let names = b.port_names();
            let mut specs = Vec::new();
            for l in lines {
                specs.push(
                    parse_flow(l, ParseMode::Add, &names)
                        .map_err(|e| format!("xvs cannot parse flow `{l}`: {e}"))?,
                );
            }
            drop(names);
            of.add_flows(br, &specs)
                .map_err(|e| format!("xvs add_flows on {br}: {e}"))?;
        }
        for f in &self.fdb {
            let b = of.bridge(&f.bridge).map_err(|e| e.to_string())?;
            let port = b
                .port_by_name(&f.port)
                .ok_or_else(|| format!("no port {}", f.port))?
                .ofport;
            b.mac.learn(f.vlan, f.mac, port);
        }
        self.pipe = of.snapshot();
        self.xvs_dp_names.clear();
        for (dp, e) in self.pipe.dp_ports.iter().enumerate() {
            if let Some((bidx, ofport)) = e {
                let name = self
                    .pipe
                    .bridge(*bidx)
                    .and_then(|b| b.ports.get(ofport))
                    .map(|p| p.name.to_string())
                    .unwrap_or_default();
                self.xvs_dp_names.insert(dp as u32, name);
            }
        }
        for (dp, v) in &self.pipe.vports {
            self.xvs_dp_names.insert(
                dp.0,
                vport_name(v.proto == xvs::port::TunnelProto::Vxlan, v.dst_port),
            );
        }
        self.of = of;
        Ok(())
    }

    /// Replace the flows of the given bridges (others keep theirs) on both sides.
    pub fn set_flows(&mut self, flows: &[(&str, Vec<String>)]) -> Result<(), String> {
        for (br, lines) in flows {
            self.ovs.replace_flows(br, lines)?;
            self.flows.insert(br.to_string(), lines.clone());
        }
        self.rebuild_xvs()
    }

    /// Give the two switches different flows (the harness's own self-test: a
    /// difference must be caught).
    pub fn set_flows_each(
        &mut self,
        br: &str,
        ovs_flows: &[String],
        xvs_flows: &[String],
    ) -> Result<(), String> {
        self.ovs.replace_flows(br, ovs_flows)?;
        self.flows.insert(br.to_string(), xvs_flows.to_vec());
        self.rebuild_xvs()
    }

    /// Translate `pkt` in xvs with side effects (`xlate::translate`: NORMAL learns
    /// MACs, `learn()` adds flows), apply the learned flows and publish a new snapshot;
    /// and run it through OVS with `ofproto/trace ... -generate`, which executes the
    /// same side effects there. Returns OVS's trace.
    pub fn learn_from(&mut self, pkt: &Pkt) -> Result<String, String> {
        let frame = pkt.frame();
        let dp = self
            .xvs_dp(&pkt.bridge, pkt.in_port)
            .ok_or("learn_from needs a port with a datapath port")?;
        let mut key = FlowKey::ZERO;
        extract(&frame, dp, &mut key).map_err(|e| e.to_string())?;
        if let Some(t) = pkt.tun_id {
            xvs::flow::Field::TunId.set(&mut key, t as u128);
        }
        let out = xlate::translate(&self.pipe, &key);
        if let Some(e) = out.error_detail {
            return Err(format!("xvs: {e}"));
        }
        let mut by_bridge: BTreeMap<String, Vec<xvs::flow::FlowSpec>> = BTreeMap::new();
        for (bidx, spec) in out.learned {
            let name = self
                .pipe
                .bridge(bidx)
                .ok_or("learned into an unknown bridge")?
                .name
                .to_string();
            by_bridge.entry(name).or_default().push(spec);
        }
        for (br, specs) in &by_bridge {
            self.of.learn_flows(br, specs).map_err(|e| e.to_string())?;
        }
        self.pipe = self.of.snapshot();
        self.ovs.appctl(
            "ofproto/trace",
            &[&pkt.bridge, &pkt.trace_flow(), "-generate"],
        )
    }

    /// Replace the static MAC entries on both sides.
    pub fn set_fdb(&mut self, fdb: Vec<Fdb>) -> Result<(), String> {
        // fdb/flush keeps static entries: delete the previous ones one by one.
        for f in &self.fdb {
            self.ovs.appctl(
                "fdb/del",
                &[&f.bridge, &f.vlan.to_string(), &fmt_mac(&f.mac)],
            )?;
        }
        for b in &self.bridges {
            self.ovs.appctl("fdb/flush", &[&b.name])?;
        }
        for f in &fdb {
            self.ovs.appctl(
                "fdb/add",
                &[&f.bridge, &f.port, &f.vlan.to_string(), &fmt_mac(&f.mac)],
            )?;
        }
        self.fdb = fdb;
        self.rebuild_xvs()
    }

    fn port_def(&self, bridge: &str, ofport: u32) -> Option<&PortDef> {
        self.bridges
            .iter()
            .find(|b| b.name == bridge)?
            .ports
            .iter()
            .find(|p| p.ofport == ofport)
    }

    /// The xvs datapath port of (bridge, ofport), None for patch ports.
    fn xvs_dp(&self, bridge: &str, ofport: u32) -> Option<u32> {
        let b = self.pipe.bridge_by_name(bridge)?;
        b.ports.get(&ofport)?.dp_port.map(|d| d.0)
    }

    /// xvs's translation of `pkt` (traced or not), and the extracted frame offsets.
    fn xvs_translate(
        &self,
        pkt: &Pkt,
        frame: &[u8],
        traced: bool,
        tun: Option<Tun>,
    ) -> Result<(XlateOut, Offsets, String), String> {
        let dp = match tun {
            // A decapsulated packet enters from the tunnel's vport; xvs finds the
            // tunnel port from the metadata.
            Some(_) => Some(self.xvs_vport(&pkt.bridge, pkt.in_port)?),
            None => self.xvs_dp(&pkt.bridge, pkt.in_port),
        };
        let mut key = FlowKey::ZERO;
        let ofs = extract(frame, dp.unwrap_or(u32::MAX - 1), &mut key)
            .map_err(|e| format!("xvs cannot extract the frame: {e}"))?;
        if let Some(t) = pkt.tun_id {
            xvs::flow::Field::TunId.set(&mut key, t as u128);
        }
        if let Some(t) = tun {
            xvs::flow::Field::TunSrc.set(&mut key, u32::from(t.src) as u128);
            xvs::flow::Field::TunDst.set(&mut key, u32::from(t.dst) as u128);
        }
        let mut trace = Trace::new(&pkt.trace_flow());
        let out = match dp {
            Some(_) if !traced => xlate::translate_pure(&self.pipe, &key),
            Some(_) => xlate::translate_traced(&self.pipe, &key, &mut trace),
            None => {
                let bidx = self
                    .pipe
                    .bridge_by_name(&pkt.bridge)
                    .ok_or("no bridge")?
                    .idx;
                xlate::translate_traced_from(&self.pipe, &key, bidx, pkt.in_port, &mut trace)
            }
        };
        Ok((out, ofs, trace.text))
    }

    /// The xvs vport of the tunnel port (bridge, ofport).
    fn xvs_vport(&self, bridge: &str, ofport: u32) -> Result<u32, String> {
        let b = self.pipe.bridge_by_name(bridge).ok_or("no bridge")?.idx;
        self.pipe
            .tnl_ports
            .iter()
            .find(|t| t.bridge == b && t.ofport == ofport)
            .map(|t| t.vport.0)
            .ok_or_else(|| format!("{ofport} on {bridge} is not a tunnel port in xvs"))
    }

    /// Run one case and tally it.
    pub fn case(&mut self, label: &str, pkt: &Pkt) -> Outcome {
        self.case_inner(label, pkt, None)
    }

    /// A decapsulated packet arriving on the tunnel port `pkt.in_port` with tunnel id
    /// `pkt.tun_id` from `src` to `dst`. OVS traces it as a datapath flow
    /// `tunnel(...),in_port(<vport>)` plus the frame, which maps it to a tunnel port
    /// as a received packet would be (`tnl_port_receive`); xvs translates a key with
    /// in_port = its vport and the tunnel fields set.
    pub fn case_tunnel(&mut self, label: &str, pkt: &Pkt, src: Ipv4Addr, dst: Ipv4Addr) -> Outcome {
        self.case_inner(label, pkt, Some(Tun { src, dst }))
    }

    fn case_inner(&mut self, label: &str, pkt: &Pkt, tun: Option<Tun>) -> Outcome {
        assert!(
            self.port_def(&pkt.bridge, pkt.in_port).is_some(),
            "case {label}: no port {} on {}",
            pkt.in_port,
            pkt.bridge
        );
        self.tally.cases += 1;
        let frame = pkt.frame();
        let flow = pkt.trace_flow();

        // Open vSwitch.
        let t0 = std::time::Instant::now();
        let traced = match tun {
            None => self.ovs.trace(&pkt.bridge, &flow),
            Some(t) => {
                let vp = self
                    .ovs_ports
                    .get(&(pkt.bridge.clone(), pkt.in_port))
                    .copied()
                    .unwrap_or_else(|| panic!("{label}: no OVS port {}", pkt.in_port));
                let id = pkt.tun_id.unwrap_or(0);
                let odp = format!(
                    "tunnel(tun_id={id:#x},src={},dst={},ttl=64,flags({})),in_port({vp})",
                    t.src,
                    t.dst,
                    if id != 0 { "key" } else { "" }
                );
                self.ovs.appctl("ofproto/trace", &[&odp, &hex(&frame)])
            }
        };
        let ovs_trace = match traced {
            Ok(t) => t,
            Err(e) => panic!(
                "[{}] {label}: ofproto/trace {} {flow} failed: {e}",
                self.scenario, pkt.bridge
            ),
        };
        let ovs_actions = odp_parse::datapath_actions(&ovs_trace)
            .unwrap_or("")
            .to_string();
        if std::env::var_os("XVS_OVS_DIFF_TIMING").is_some() {
            eprintln!("trace {:?} ({} bytes)", t0.elapsed(), ovs_trace.len());
        }

        // xvs.
        let (xo, ofs, _) = match self.xvs_translate(pkt, &frame, false, tun) {
            Ok(x) => x,
            Err(e) => panic!("[{}] {label}: {e}", self.scenario),
        };
        if std::env::var_os("XVS_OVS_DIFF_TIMING").is_some() {
            eprintln!("xvs {:?}", t0.elapsed());
        }
        self.hit.extend(xo.rules.iter().cloned());
        let xvs_actions = format_dp_actions(&xo.actions);

        if std::env::var_os("XVS_OVS_DIFF_VERBOSE").is_some() {
            eprintln!(
                "[{}] {label}\n    packet: {}\n    OVS: {ovs_actions}\n    xvs: {xvs_actions}",
                self.scenario,
                pkt.describe()
            );
        }
        let ovs_parsed = odp_parse::parse(&ovs_actions);
        let acts = match ovs_parsed {
            Parsed::Skip(why) => {
                *self.tally.skipped.entry(why.clone()).or_default() += 1;
                return Outcome::Skipped(why);
            }
            Parsed::Acts(a) => a,
        };
        let mut problem = String::new();
        let ovs_out = match odp_parse::execute(&acts, &frame, ofs) {
            Ok(o) => self.name_outputs(o, true),
            Err(e) => {
                let why = format!("cannot execute OVS's actions: {e}");
                *self.tally.skipped.entry(why.clone()).or_default() += 1;
                return Outcome::Skipped(why);
            }
        };
        let xvs_out = {
            let mut o = vec![];
            match odp_parse::execute_xvs(&xo.actions, &frame, ofs, &[], &mut o) {
                Ok(()) => self.name_outputs(o, false),
                Err(e) => {
                    problem = format!("xvs's datapath actions fail to execute: {e}");
                    vec![]
                }
            }
        };
        if problem.is_empty() && ovs_out != xvs_out {
            problem = if ovs_out.is_empty() {
                "OVS drops, xvs forwards".into()
            } else if xvs_out.is_empty() {
                "OVS forwards, xvs drops".into()
            } else {
                format!("outputs differ ({})", output_difference(&ovs_out, &xvs_out))
            };
        }
        if problem.is_empty() {
            for (side, outs) in [("OVS", &ovs_out), ("xvs", &xvs_out)] {
                for (p, f) in outs.iter() {
                    if let Err(e) = check_frame(f) {
                        problem = format!(
                            "{side}'s actions, executed by xvs, produce a frame to {p} with a {e}"
                        );
                    }
                }
            }
        }
        // Past 64 kB of actions OVS stops translating (xvs too, counting OVS's
        // encoding: `odp::ovs_netlink_size`), but which outputs come before the cut
        // depends on the order OVS floods in, which varies between its runs for such
        // a case: a difference there is not comparable (agreement still counts).
        if !problem.is_empty() && ovs_trace.contains("resubmits yielded over 64 kB of actions") {
            let why = "OVS stopped at 64 kB of datapath actions, outputs differ".to_string();
            *self.tally.skipped.entry(why.clone()).or_default() += 1;
            return Outcome::Skipped(why);
        }
        if problem.is_empty() && std::env::var_os("XVS_OVS_DIFF_PREDICATE_STATS").is_some() {
            // How often would each known-mismatch signature fire on an agreeing case?
            let r = CaseReport {
                scenario: self.scenario.clone(),
                label: label.to_string(),
                pkt: pkt.clone(),
                flows: BTreeMap::new(),
                ovs_trace: ovs_trace.clone(),
                ovs_actions: ovs_actions.clone(),
                xvs_actions: xvs_actions.clone(),
                xvs_error: xo.error_detail.clone(),
                xvs_trace: self
                    .xvs_translate(pkt, &frame, true, tun)
                    .map(|x| x.2)
                    .unwrap_or_default(),
                ovs_out: ovs_out.clone(),
                xvs_out: xvs_out.clone(),
                problem: "outputs differ".into(),
            };
            if let Some(k) = classify(&r) {
                eprintln!("PREDICATE-ON-AGREE {}", k.id);
            }
        }
        if problem.is_empty() {
            self.tally.agree += 1;
            if ovs_out.is_empty() {
                self.tally.dropped_both += 1;
            }
            return Outcome::Agree;
        }
        let (xt, xvs_trace) = match self.xvs_translate(pkt, &frame, true, tun) {
            Ok((o, _, t)) => (o, t),
            Err(e) => (XlateOut::default(), e),
        };
        let report = CaseReport {
            scenario: self.scenario.clone(),
            label: label.to_string(),
            pkt: pkt.clone(),
            flows: self.flows.clone(),
            ovs_trace,
            ovs_actions,
            xvs_actions,
            xvs_error: xt.error_detail.clone(),
            xvs_trace,
            ovs_out,
            xvs_out,
            problem,
        };
        match classify(&report) {
            Some(KnownMismatch { id, .. }) => {
                *self.tally.known.entry(id).or_default() += 1;
                self.tally.known_examples.entry(id).or_insert(report);
                Outcome::Known(id)
            }
            None => {
                if let Some(dir) = std::env::var_os("XVS_OVS_DIFF_REPORT_DIR") {
                    static N: std::sync::atomic::AtomicUsize =
                        std::sync::atomic::AtomicUsize::new(0);
                    let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    let _ = std::fs::write(
                        std::path::Path::new(&dir).join(format!(
                            "{}-{}-{n:04}.txt",
                            self.scenario,
                            std::process::id()
                        )),
                        report.render(),
                    );
                }
                self.tally.unknown.push(report);
                Outcome::Unknown
            }
        }
    }

    fn name_outputs(&self, o: Vec<(u32, Vec<u8>)>, ovs: bool) -> Vec<(String, Vec<u8>)> {
        let names = if ovs {
            &self.ovs_dp_names
        } else {
            &self.xvs_dp_names
        };
        let mut v: Vec<(String, Vec<u8>)> = o
            .into_iter()
            .map(|(dp, f)| {
                let name = names
                    .get(&(dp & !odp_parse::POP))
                    .cloned()
                    .unwrap_or_else(|| format!("dp{}?", dp & !odp_parse::POP));
                if dp & odp_parse::POP != 0 {
                    (format!("tnl_pop:{name}"), f)
                } else {
                    (name, f)
                }
            })
            .collect();
        v.sort();
        v
    }

    /// xvs rules of `bridge` that no case has matched yet.
    pub fn unhit_rules(&self, bridge: &str) -> Vec<Arc<Rule>> {
        let rules = self
            .of
            .dump_flows(bridge, &Criteria::all())
            .unwrap_or_default();
        rules
            .into_iter()
            .filter(|r| !self.hit.iter().any(|h| Arc::ptr_eq(h, &r.stats)))
            .collect()
    }
}

/// The name both sides' tunnel vports go by in outputs (`tnl_pop:` + it for pops).
fn vport_name(vxlan: bool, port: u16) -> String {
    if vxlan {
        format!("vport:vxlan:{port}")
    } else {
        "vport:gre".into()
    }
}

/// What each side output that the other did not, with counts: "only OVS: 3x p1:0a0b..".
fn output_difference(ovs: &[(String, Vec<u8>)], xvs: &[(String, Vec<u8>)]) -> String {
    let count = |v: &[(String, Vec<u8>)]| {
        let mut m: BTreeMap<(String, Vec<u8>), i64> = BTreeMap::new();
        for o in v {
            *m.entry(o.clone()).or_default() += 1;
        }
        m
    };
    let (a, b) = (count(ovs), count(xvs));
    let mut parts = vec![];
    for (side, x, y) in [("only OVS", &a, &b), ("only xvs", &b, &a)] {
        let mut items = vec![];
        for (k, n) in x {
            let d = n - y.get(k).copied().unwrap_or(0);
            if d > 0 {
                let hex: String = k.1.iter().take(18).map(|b| format!("{b:02x}")).collect();
                items.push(format!("{d}x {}:{hex}..", k.0));
            }
        }
        if !items.is_empty() {
            parts.push(format!("{side}: {}", items.join(" ")));
        }
    }
    parts.join("; ")
}
