//! The configuration that survives a restart: bridges, ports and flows, kept in a JSON
//! state file that xvsd rewrites (atomically: temporary file + rename) shortly after
//! every change and reads back when it starts.
//!
//! What is kept: every bridge (name, fail mode), every port (name, OpenFlow port
//! number, type, tag, trunks, options), every flow of every table in `ovs-ofctl`
//! syntax (table, priority, cookie, timeouts, match, actions) — learned flows
//! included. What is not: counters (they restart at zero, as after an Open vSwitch
//! restart), idle/hard timeouts (they restart from the moment of restore), MAC
//! learning tables and megaflows (relearned from traffic).

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};

use crate::flow::format::format_flow;
use crate::flow::FlowSpec;
use crate::ofproto::Ofproto;

pub const STATE_VERSION: u32 = 1;

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct PortState {
    pub name: String,
    pub ofport: u32,
    /// The interface type (`PortKind::type_name`): afxdp, internal, patch, vxlan, gre.
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tag: Option<u16>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub trunks: Vec<u16>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vlan_mode: Option<String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub options: BTreeMap<String, String>,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct BridgeState {
    pub name: String,
    pub fail_secure: bool,
    pub ports: Vec<PortState>,
    /// One flow per entry, in ovs-ofctl syntax.
    pub flows: Vec<String>,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq, Default)]
pub struct State {
    pub version: u32,
    pub bridges: Vec<BridgeState>,
}

/// The persistent part of the OpenFlow state.
pub fn capture(o: &Ofproto) -> State {
    let mut bridges = Vec::new();
    for b in o.bridges.values() {
        let ports = b
            .ports
            .values()
            .map(|p| {
                let mut options = p.options.clone();
                options.extend(p.kind.options());
                PortState {
                    name: p.name.clone(),
                    ofport: p.ofport,
                    kind: p.kind.type_name().into(),
                    tag: p.tag,
                    trunks: p.trunks.clone(),
                    vlan_mode: p.vlan_mode.map(|m| m.name().to_string()),
                    options,
                }
            })
            .collect();
        let mut rules: Vec<_> = b.tables.iter().flat_map(|t| t.iter()).collect();
        rules.sort_by(|a, b| a.table.cmp(&b.table).then(b.priority.cmp(&a.priority)).then(a.id.cmp(&b.id)));
        let flows = rules
            .iter()
            .map(|r| {
                format_flow(&FlowSpec {
                    table: Some(r.table),
                    priority: Some(r.priority),
                    cookie: r.cookie,
                    idle_timeout: r.idle_timeout,
                    hard_timeout: r.hard_timeout,
                    importance: r.importance,
                    send_flow_rem: r.send_flow_rem,
                    m: r.m,
                    actions: Some(r.actions.to_vec()),
                    ..Default::default()
                })
            })
            .collect();
        bridges.push(BridgeState { name: b.name.clone(), fail_secure: b.fail_secure, ports, flows });
    }
    State { version: STATE_VERSION, bridges }
}

/// Write atomically: a crash mid-write leaves the previous file intact.
pub fn save(path: &Path, st: &State) -> Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    let tmp = path.with_extension("tmp");
    let data = serde_json::to_vec_pretty(st)?;
    std::fs::write(&tmp, data).with_context(|| format!("writing {}", tmp.display()))?;
    std::fs::rename(&tmp, path).with_context(|| format!("renaming {} to {}", tmp.display(), path.display()))?;
    Ok(())
}

/// Read a state file; Ok(None) if there is none.
pub fn load(path: &Path) -> Result<Option<State>> {
    match std::fs::read(path) {
        Ok(data) => {
            let st: State = serde_json::from_slice(&data).with_context(|| format!("parsing state file {}", path.display()))?;
            if st.version != STATE_VERSION {
                anyhow::bail!("state file {} has version {}, this xvsd reads {}", path.display(), st.version, STATE_VERSION);
            }
            Ok(Some(st))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e).with_context(|| format!("reading {}", path.display())),
    }
}
