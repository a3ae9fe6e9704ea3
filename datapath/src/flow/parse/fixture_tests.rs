//! Fixture tests: the real `ovs-ofctl dump-flows` lines found in the seed documents and
//! the Neutron agent's flows must parse, print back, and round-trip.

use std::collections::HashMap;

use super::*;
use crate::flow::action::SetSpelling;
use crate::flow::format::{format_actions, format_flow, format_match};

/// Flow lines extracted from /work/shared/seeds/*.txt (see [`extract_flows`]).
const SEED_FLOWS: &str = include_str!("../../../tests/fixtures/seed_flows.txt");
const NEUTRON_FLOWS: &str = include_str!("../../../tests/fixtures/neutron_agent_flows.txt");

const SEED_DIR: &str = "/work/shared/seeds";

/// Finds every `cookie=... actions=...` flow in free text: `ovs-ofctl dump-flows`
/// output pasted into prose or tables, where several flows may run together on one
/// line and be followed by `... ...` or a table's `|`. A flow starts at a `cookie=`
/// that begins the line or follows white space (so `learn(...,cookie=..)` does not
/// split a flow) and ends at the next such `cookie=`; its actions end at `|`, `...`,
/// non-ASCII prose, or the end of the line.
pub(crate) fn extract_flows(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    for line in text.lines() {
        let starts: Vec<usize> = line
            .match_indices("cookie=")
            .map(|(i, _)| i)
            .filter(|&i| i == 0 || line.as_bytes()[i - 1].is_ascii_whitespace())
            .collect();
        for (k, &st) in starts.iter().enumerate() {
            let end = starts.get(k + 1).copied().unwrap_or(line.len());
            let seg = &line[st..end];
            let Some(a) = seg.find("actions=") else {
                continue;
            };
            let acts = a + "actions=".len();
            let rest = &seg[acts..];
            let mut cut = rest.len();
            for t in ["|", "..."] {
                if let Some(i) = rest.find(t) {
                    cut = cut.min(i);
                }
            }
            if let Some(i) = rest.find(|c: char| !c.is_ascii()) {
                cut = cut.min(i);
            }
            let flow =
                seg[..acts + cut].trim_end_matches(|c: char| c.is_ascii_whitespace() || c == ',');
            out.push(flow.to_string());
        }
    }
    out
}

fn fixture_lines(text: &str) -> impl Iterator<Item = &str> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
}

fn round_trip(line: &str, ports: &dyn PortNames) -> FlowSpec {
    let spec =
        parse_flow(line, ParseMode::Add, ports).unwrap_or_else(|e| panic!("{line}\n  -> {e}"));
    let text = format_flow(&spec);
    let back = parse_flow(&text, ParseMode::Add, ports)
        .unwrap_or_else(|e| panic!("{line}\n  printed as {text}\n  -> {e}"));
    assert_eq!(back, spec, "{line}\n  printed as {text}");
    // Printing is stable.
    assert_eq!(format_flow(&back), text);
    spec
}

#[test]
fn extractor_splits_flows_and_stops_at_noise() {
    let text = "| [root@x ~]# ovs-ofctl dump-flows br-tun NXST_FLOW reply (xid=0x4): \
        cookie=0x0, duration=1.5s, table=0, n_packets=0, n_bytes=0, priority=0 actions=drop \
        cookie=0x1, table=1, priority=1,in_port=2 actions=strip_vlan, set_tunnel:0x2,output:10 \
        ... ... cookie=0x0, table=3, priority=1,tun_id=0x2actions=mod_vlan_vid:3,resubmit(,9) |\n\
        prose cookie=0x0 without actions\n\
        cookie=0x2, table=10, priority=1 actions=learn(table=20,cookie=0x2,NXM_OF_VLAN_TCI[0..11]),output:1 这里\n";
    let flows = extract_flows(text);
    assert_eq!(
        flows,
        vec![
            "cookie=0x0, duration=1.5s, table=0, n_packets=0, n_bytes=0, priority=0 actions=drop",
            "cookie=0x1, table=1, priority=1,in_port=2 actions=strip_vlan, set_tunnel:0x2,output:10",
            "cookie=0x0, table=3, priority=1,tun_id=0x2actions=mod_vlan_vid:3,resubmit(,9)",
            "cookie=0x2, table=10, priority=1 actions=learn(table=20,cookie=0x2,NXM_OF_VLAN_TCI[0..11]),output:1",
        ]
    );
}

/// The fixture is exactly what the extractor finds in the seeds (checked when the seeds
/// are present; set XVS_REGEN_FIXTURES=1 to rewrite the fixture from them).
#[test]
fn seed_flow_fixture_matches_seed_documents() {
    let Ok(dir) = std::fs::read_dir(SEED_DIR) else {
        return;
    };
    let mut files: Vec<_> = dir
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "txt"))
        .collect();
    files.sort();
    let mut flows = Vec::new();
    for f in files {
        let text = std::fs::read_to_string(&f).expect("seed readable");
        flows.extend(extract_flows(&text));
    }
    let expect = flows.join("\n") + "\n";
    if std::env::var_os("XVS_REGEN_FIXTURES").is_some() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/seed_flows.txt");
        std::fs::write(path, &expect).expect("fixture written");
        return;
    }
    assert_eq!(
        SEED_FLOWS, expect,
        "seed_flows.txt is stale: rerun with XVS_REGEN_FIXTURES=1"
    );
}

#[test]
fn seed_flows_parse_and_round_trip() {
    let lines: Vec<&str> = fixture_lines(SEED_FLOWS).collect();
    assert_eq!(lines.len(), 29, "the seeds hold 29 dump-flows lines");
    for line in lines {
        let spec = round_trip(line, &NoPortNames);
        assert!(spec.actions.is_some());
    }
}

/// Strips the statistics and the blog's stray spaces from a dump-flows line, leaving
/// `MATCH actions=ACTIONS` as ovs-ofctl prints it.
fn seed_as_printed(line: &str) -> String {
    let a = line.find("action").expect("has actions");
    let (head, acts) = line.split_at(a);
    let head: Vec<&str> = head
        .split([',', ' '])
        .filter(|t| !t.is_empty())
        .filter(|t| {
            ![
                "cookie=",
                "duration=",
                "table=",
                "n_packets=",
                "n_bytes=",
                "idle_age=",
                "hard_age=",
            ]
            .iter()
            .any(|p| t.starts_with(p))
        })
        .collect();
    let acts: String = acts.chars().filter(|c| *c != ' ').collect();
    format!("{} {}", head.join(","), acts)
}

#[test]
fn seed_flows_print_like_the_seeds() {
    for line in fixture_lines(SEED_FLOWS) {
        let spec = parse_flow(line, ParseMode::Add, &NoPortNames).unwrap();
        let printed = format!(
            "{} actions={}",
            format_match(
                &spec.m,
                spec.priority.unwrap_or(crate::flow::DEFAULT_PRIORITY)
            ),
            format_actions(spec.actions.as_deref().unwrap())
        );
        assert_eq!(printed, seed_as_printed(line), "{line}");
        let cookie_and_table = format!("table={}, ", spec.table.unwrap());
        assert!(format_flow(&spec).starts_with(&cookie_and_table), "{line}");
    }
}

#[test]
fn seed_flow_details() {
    let lines: Vec<&str> = fixture_lines(SEED_FLOWS).collect();
    let find = |needle: &str| {
        let l = lines.iter().find(|l| l.contains(needle)).expect(needle);
        parse_flow(l, ParseMode::Add, &NoPortNames).unwrap()
    };
    // `tun_id=0x2actions=` parses as Open vSwitch parses it.
    let f = find("tun_id=0x2actions");
    assert_eq!(f.m.get(Field::TunId), (2, u64::MAX as u128));
    assert_eq!(f.table, Some(3));
    assert_eq!(
        f.actions.unwrap(),
        vec![
            Action::SetVlanVid {
                vid: 3,
                push_if_needed: true
            },
            Action::Resubmit {
                port: None,
                table: Some(9)
            }
        ]
    );
    // `n_bytes=46648 , idle_age` and `mod_dl_src:..., resubmit(,2)`.
    let f = find("dl_src=fa:16:3e:cd:50:8d actions");
    assert_eq!(f.priority, Some(1));
    assert_eq!(f.actions.unwrap().len(), 2);
    let f = find("set_tunnel:0x2");
    assert_eq!(
        format_actions(f.actions.as_deref().unwrap()),
        "strip_vlan,set_tunnel:0x2,output:10"
    );
}

fn neutron_ports() -> HashMap<String, u32> {
    [
        ("patch-tun", 1),
        ("int-br-ex", 2),
        ("patch-int", 1),
        ("vxlan-0a000002", 2),
        ("vxlan-0a000003", 3),
        ("phy-br-ex", 1),
        ("eth1", 2),
    ]
    .into_iter()
    .map(|(n, p)| (n.to_string(), p))
    .collect()
}

#[test]
fn neutron_agent_flows_parse_and_round_trip() {
    let ports = neutron_ports();
    let mut n = 0;
    for line in fixture_lines(NEUTRON_FLOWS) {
        let (spec, warnings) = parse_flow_with_warnings(line, ParseMode::Add, &ports)
            .unwrap_or_else(|e| panic!("{line}\n  -> {e}"));
        assert!(warnings.is_empty(), "{line}: {warnings:?}");
        round_trip(line, &ports);
        assert!(spec.table.is_some(), "{line}");
        n += 1;
    }
    assert!(n > 150, "{n} flows");
}

#[test]
fn neutron_agent_flows_use_every_feature() {
    let ports = neutron_ports();
    let specs: Vec<FlowSpec> = fixture_lines(NEUTRON_FLOWS)
        .map(|l| parse_flow(l, ParseMode::Add, &ports).unwrap())
        .collect();
    let acts: Vec<&Action> = specs
        .iter()
        .flat_map(|s| s.actions.as_deref().unwrap())
        .collect();
    let has = |p: &dyn Fn(&Action) -> bool| acts.iter().any(|a| p(a));
    assert!(has(&|a| matches!(a, Action::Learn(_))));
    assert!(has(&|a| matches!(a, Action::Conjunction { .. })));
    assert!(has(&|a| matches!(a, Action::Ct(c) if !c.exec.is_empty())));
    assert!(has(&|a| matches!(a, Action::Ct(c) if c.nat.is_some())));
    assert!(has(&|a| matches!(a, Action::Move { .. })));
    assert!(has(&|a| matches!(a, Action::Load { .. })));
    assert!(has(&|a| matches!(
        a,
        Action::SetField {
            spelling: SetSpelling::Load,
            ..
        }
    )));
    assert!(has(&|a| matches!(
        a,
        Action::SetField {
            spelling: SetSpelling::SetField,
            ..
        }
    )));
    assert!(has(&|a| matches!(a, Action::Meter(_))));
    assert!(has(&|a| matches!(a, Action::GotoTable(_))));
    assert!(has(&|a| matches!(a, Action::SetQueue(_))));
    assert!(has(&|a| matches!(a, Action::PushVlan(0x8100))));
    assert!(has(&|a| matches!(a, Action::Controller { .. })));
    assert!(has(&|a| matches!(a, Action::CtClear)));
    // Flood to several tunnels.
    assert!(specs.iter().any(|s| s
        .actions
        .as_ref()
        .unwrap()
        .iter()
        .filter(|a| matches!(a, Action::Output { .. }))
        .count()
        >= 2));
    // Masked port ranges and conj_id matches.
    assert!(specs
        .iter()
        .any(|s| s.m.get(Field::TpDst) == (0x60, 0xffe0)));
    assert!(specs.iter().any(|s| !s.m.is_wild(Field::ConjId)));
    // Port names resolved.
    let f = parse_flow(
        "table=0,priority=2,in_port=int-br-ex,actions=drop",
        ParseMode::Add,
        &ports,
    )
    .unwrap();
    assert_eq!(f.m.get(Field::InPort), (2, 0xffff));
}
