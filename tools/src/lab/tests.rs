//! Unit tests of the lab file: parsing, validation messages, the per-host plan and the
//! generated flows (which must parse as `ovs-ofctl` flows with the host's port names).

use std::collections::HashMap;

use xvs::flow::parse::{parse_flow, ParseMode};

use super::plan::{self, tunnel_port_name};
use super::topology::{NetType, SpecError, Topology};
use super::{dry_run, flows, rundir, DEFAULT_LAB};

const VLAN_LAB: &str = include_str!("../../../labs/vlan.toml");
const OVERLAP_LAB: &str = include_str!("../../../labs/overlap.toml");

const BASE: &str = r#"
[underlay]
cidr = "10.0.0.0/24"

[[host]]
name = "c1"
role = "compute"
underlay_ip = "10.0.0.1"

[[host]]
name = "c2"
role = "compute"
underlay_ip = "10.0.0.2"

[[network]]
name = "n1"
type = "vxlan"
segmentation_id = 100
cidr = "10.1.0.0/24"

[[vm]]
name = "v1"
host = "c1"
network = "n1"
ip = "10.1.0.11"

[[vm]]
name = "v2"
host = "c2"
network = "n1"
ip = "10.1.0.12"
"#;

fn err(text: &str) -> SpecError {
    Topology::parse(text, "t.toml").expect_err("should be rejected")
}

/// The line of the first occurrence of `needle` in `text` (1-based).
fn line_of(text: &str, needle: &str) -> usize {
    text.lines().position(|l| l.contains(needle)).expect("needle in text") + 1
}

/// Replace the first occurrence of `from` in BASE and expect an error on that line
/// whose message contains every one of `words`.
fn expect_err(from: &str, to: &str, words: &[&str]) {
    let pos = BASE.find(from).unwrap_or_else(|| panic!("{from}"));
    let text = BASE.replacen(from, to, 1);
    let e = err(&text);
    // The error points at the replacement's last line (where the bad key is).
    let line = BASE[..pos].matches('\n').count() + to.matches('\n').count() + 1;
    assert_eq!(e.line, Some(line), "wrong line for {to:?}: {e}");
    let shown = e.to_string();
    assert!(shown.starts_with(&format!("t.toml:{line}: ")), "{shown}");
    for w in words {
        assert!(shown.contains(w), "{shown:?} lacks {w:?}");
    }
}

#[test]
fn shipped_labs_parse() {
    for (name, text) in [("default", DEFAULT_LAB), ("vlan", VLAN_LAB), ("overlap", OVERLAP_LAB)] {
        let t = Topology::parse(text, name).unwrap_or_else(|e| panic!("{e}"));
        assert!(t.hosts.len() >= 2 && !t.vms.is_empty(), "{name}");
    }
    let d = Topology::parse(DEFAULT_LAB, "default").unwrap();
    assert!(d.has_kind(NetType::Vxlan) && d.has_kind(NetType::Gre));
    let v = Topology::parse(VLAN_LAB, "vlan").unwrap();
    assert!(v.networks.iter().all(|n| n.kind == NetType::Vlan));
    let o = Topology::parse(OVERLAP_LAB, "overlap").unwrap();
    assert_eq!(o.networks[0].cidr, o.networks[1].cidr);
}

#[test]
fn unknown_keys_and_bad_values_name_line_and_field() {
    expect_err("underlay_ip = \"10.0.0.2\"", "underlay_ip = \"10.0.0.2\"\ncolour = \"red\"", &["unknown field `colour`"]);
    expect_err("role = \"compute\"", "role = \"cmpute\"", &["cmpute", "compute", "network", "role"]);
    expect_err("type = \"vxlan\"", "type = \"geneve\"", &["geneve", "type"]);
    expect_err("segmentation_id = 100", "segmentation_id = \"100\"", &["segmentation_id", "expected i64"]);
    // An unknown table is an unknown field of the file.
    let e = err(&format!("{BASE}\n[[router]]\nname = \"r\"\n"));
    assert!(e.to_string().contains("unknown field `router`"), "{e}");
}

#[test]
fn semantic_errors_name_line_and_field() {
    expect_err("host = \"c2\"", "host = \"c3\"", &["[[vm]] 'v2' field `host`", "no [[host]] is named 'c3'"]);
    expect_err("host = \"c2\"\nnetwork = \"n1\"", "host = \"c2\"\nnetwork = \"n9\"", &["field `network`", "'n9'"]);
    expect_err("ip = \"10.1.0.12\"", "ip = \"10.2.0.12\"", &["field `ip`", "10.2.0.12", "n1", "10.1.0.0/24"]);
    expect_err("ip = \"10.1.0.12\"", "ip = \"10.1.0.255\"", &["field `ip`", "not a host address"]);
    expect_err("ip = \"10.1.0.12\"", "ip = \"10.1.0.11\"", &["field `ip`", "already has 10.1.0.11"]);
    expect_err("ip = \"10.1.0.12\"", "ip = \"10.1.0\"", &["field `ip`", "not an IPv4 address"]);
    expect_err("name = \"v2\"", "name = \"v1\"", &["field `name`", "duplicate name 'v1'"]);
    expect_err("name = \"v2\"", "name = \"c1\"", &["field `name`", "already a host"]);
    expect_err("underlay_ip = \"10.0.0.2\"", "underlay_ip = \"10.0.0.1\"", &["field `underlay_ip`", "duplicate"]);
    expect_err("underlay_ip = \"10.0.0.2\"", "underlay_ip = \"10.9.0.2\"", &["field `underlay_ip`", "10.0.0.0/24"]);
    expect_err("cidr = \"10.1.0.0/24\"", "cidr = \"10.1.0.1/24\"", &["field `cidr`", "host bits", "10.1.0.0/24"]);
    expect_err("cidr = \"10.0.0.0/24\"", "cidr = \"10.0.0.0/33\"", &["[underlay] field `cidr`"]);
    expect_err("name = \"v2\"", "name = \"a-very-long-vm\"", &["field `name`", "1..12 characters", "15"]);
    expect_err("name = \"c2\"", "name = \"C2\"", &["field `name`", "a-z"]);
    expect_err("ip = \"10.1.0.12\"", "ip = \"10.1.0.12\"\nmac = \"fa:16:3e:00:00\"", &["field `mac`", "not a MAC"]);
    expect_err("ip = \"10.1.0.12\"", "ip = \"10.1.0.12\"\nmac = \"01:00:5e:00:00:01\"", &["field `mac`", "unicast"]);
    expect_err("cidr = \"10.1.0.0/24\"", "cidr = \"10.1.0.0/24\"\ngateway = \"10.3.0.1\"", &["field `gateway`"]);
}

#[test]
fn segmentation_id_ranges() {
    for (kind, bad, good) in [("vlan", 4095i64, 4094i64), ("vxlan", 16_777_216, 16_777_215), ("gre", 4_294_967_296, 4_294_967_295)] {
        let text = BASE.replace("type = \"vxlan\"", &format!("type = \"{kind}\"")).replace("segmentation_id = 100", &format!("segmentation_id = {bad}"));
        let e = err(&text);
        assert_eq!(e.line, Some(line_of(&text, "segmentation_id")), "{e}");
        assert!(e.to_string().contains("field `segmentation_id`") && e.to_string().contains(&bad.to_string()), "{e}");
        let ok = text.replace(&format!("segmentation_id = {bad}"), &format!("segmentation_id = {good}"));
        Topology::parse(&ok, "t").unwrap_or_else(|e| panic!("{kind} {good}: {e}"));
        for zero in ["0", "-1"] {
            let text = text.replace(&format!("segmentation_id = {bad}"), &format!("segmentation_id = {zero}"));
            assert!(err(&text).to_string().contains("segmentation_id"), "{kind} {zero}");
        }
    }
    let two = format!("{BASE}\n[[network]]\nname = \"n2\"\ntype = \"vxlan\"\nsegmentation_id = 100\ncidr = \"10.2.0.0/24\"\n");
    let e = err(&two);
    assert!(e.to_string().contains("already uses 100"), "{e}");
    assert_eq!(e.line, Some(two.lines().collect::<Vec<_>>().iter().rposition(|l| l.contains("segmentation_id")).unwrap() + 1));
}

#[test]
fn default_macs_are_unique_and_unicast() {
    let t = Topology::parse(BASE, "t").unwrap();
    assert_ne!(t.vms[0].mac, t.vms[1].mac);
    assert!(t.vms.iter().all(|v| v.mac[0] & 1 == 0));
}

#[test]
fn plan_allocates_different_local_vlans_per_host_and_agent_tunnel_names() {
    let t = Topology::parse(DEFAULT_LAB, "default").unwrap();
    let plans = plan::plan(&t);
    let blue = t.networks.iter().position(|n| n.name == "blue").unwrap();
    let green = t.networks.iter().position(|n| n.name == "green").unwrap();
    let lv: Vec<(u16, u16)> = plans.iter().map(|p| (p.lvid(blue).unwrap(), p.lvid(green).unwrap())).collect();
    assert_ne!(lv[0].0, lv[1].0, "{lv:?}");
    for (a, b) in &lv {
        assert_ne!(a, b);
    }
    assert_eq!(tunnel_port_name(NetType::Vxlan, "10.0.0.2".parse().unwrap()), "vxlan-0a000002");
    assert_eq!(tunnel_port_name(NetType::Gre, "192.168.1.254".parse().unwrap()), "gre-c0a801fe");
    let c1 = &plans[0];
    let names: Vec<&str> = c1.tunnels.iter().map(|t| t.name.as_str()).collect();
    assert_eq!(names, ["vxlan-0a000002", "vxlan-0a000003", "gre-0a000002", "gre-0a000003"]);
    let cmds = c1.tunnel_commands();
    assert_eq!(
        cmds[0].join(" "),
        "add-port br-tun vxlan-0a000002 type=vxlan ofport=2 options:remote_ip=10.0.0.2 options:local_ip=10.0.0.1 \
         options:in_key=flow options:out_key=flow options:df_default=true"
    );
    assert!(cmds[2].join(" ").starts_with("add-port br-tun gre-0a000002 type=gre ofport=4 "));
    // Ports never share a number on one bridge.
    for p in &plans {
        for br in ["br-int", "br-tun", "br-phys"] {
            let m = p.port_names(br);
            let mut nums: Vec<u32> = m.values().copied().collect();
            nums.sort();
            nums.dedup();
            assert_eq!(nums.len(), m.len(), "{br}: {m:?}");
        }
    }
}

#[test]
fn l2pop_only_tunnels_to_hosts_sharing_a_network() {
    // c3 only has a VM on a network nobody else uses: no tunnels to or from it.
    let text = format!(
        "{BASE}\n[[host]]\nname = \"c3\"\nrole = \"network\"\nunderlay_ip = \"10.0.0.3\"\n\
         [[network]]\nname = \"n2\"\ntype = \"gre\"\nsegmentation_id = 7\ncidr = \"10.2.0.0/24\"\n\
         [[vm]]\nname = \"v3\"\nhost = \"c3\"\nnetwork = \"n2\"\nip = \"10.2.0.3\"\n"
    );
    let t = Topology::parse(&text, "t").unwrap();
    let plans = plan::plan(&t);
    assert_eq!(plans[0].tunnels.len(), 1);
    assert_eq!(plans[0].tunnels[0].name, "vxlan-0a000002");
    assert!(plans[2].tunnels.is_empty() && plans[2].has_tunnel);
    let f = flows::br_tun(&t, &plans[2]);
    assert!(!f.contains("table=22,priority=1"), "{f}");
}

/// Every generated flow parses as an `add-flow` with the bridge's port names.
#[test]
fn generated_flows_parse() {
    for (name, text) in [("default", DEFAULT_LAB), ("vlan", VLAN_LAB), ("overlap", OVERLAP_LAB), ("base", BASE)] {
        let t = Topology::parse(text, name).unwrap();
        for p in plan::plan(&t) {
            let mut sets = vec![("br-int", flows::br_int(&t, &p))];
            if p.has_vlan {
                sets.push(("br-phys", flows::br_phys(&t, &p)));
            }
            if p.has_tunnel {
                sets.push(("br-tun", flows::br_tun(&t, &p)));
            }
            for (br, f) in sets {
                let ports: HashMap<String, u32> = p.port_names(br);
                for l in f.lines() {
                    parse_flow(l, ParseMode::Add, &ports).unwrap_or_else(|e| panic!("{name} {} {br}: {l}\n{e}", t.hosts[p.host].name));
                }
            }
        }
    }
}

#[test]
fn br_tun_has_the_agents_tables() {
    let t = Topology::parse(DEFAULT_LAB, "default").unwrap();
    let plans = plan::plan(&t);
    let c1 = &plans[0];
    let f = flows::br_tun(&t, c1);
    let blue = t.networks.iter().position(|n| n.name == "blue").unwrap();
    let green = t.networks.iter().position(|n| n.name == "green").unwrap();
    let (lb, lg) = (c1.lvid(blue).unwrap(), c1.lvid(green).unwrap());
    let has = |s: &str| assert!(f.lines().any(|l| l.ends_with(s) || l.contains(s)), "missing {s}\n{f}");
    has("table=0,priority=1,in_port=patch-int,actions=resubmit(,2)");
    has("table=0,priority=1,in_port=vxlan-0a000002,actions=resubmit(,4)");
    has("table=0,priority=1,in_port=gre-0a000003,actions=resubmit(,3)");
    has("table=2,priority=1,arp,dl_dst=ff:ff:ff:ff:ff:ff,actions=resubmit(,21)");
    has(&format!("table=4,priority=1,tun_id=0x64,actions=mod_vlan_vid:{lb},resubmit(,10)"));
    has(&format!("table=3,priority=1,tun_id=0xc8,actions=mod_vlan_vid:{lg},resubmit(,10)"));
    has(
        "table=10,priority=1,actions=learn(table=20,hard_timeout=300,priority=1,cookie=0x1ab,NXM_OF_VLAN_TCI[0..11],\
         NXM_OF_ETH_DST[]=NXM_OF_ETH_SRC[],load:0->NXM_OF_VLAN_TCI[],load:NXM_NX_TUN_ID[]->NXM_NX_TUN_ID[],\
         output:NXM_OF_IN_PORT[]),output:patch-int",
    );
    // blue2 lives on compute2 (10.0.0.2), dhcp-blue on the network node (10.0.0.3).
    has(&format!("table=20,priority=2,dl_vlan={lb},dl_dst=fa:16:3e:01:00:12,actions=strip_vlan,set_tunnel:0x64,output:vxlan-0a000002"));
    has(&format!("table=21,priority=1,arp,dl_vlan={lb},arp_tpa=10.1.0.12,actions=move:NXM_OF_ETH_SRC[]->NXM_OF_ETH_DST[],mod_dl_src:fa:16:3e:01:00:12,"));
    has("load:0xfa163e010012->NXM_NX_ARP_SHA[],load:0xa01000c->NXM_OF_ARP_SPA[],IN_PORT");
    has(&format!("table=22,priority=1,dl_vlan={lb},actions=strip_vlan,set_tunnel:0x64,output:vxlan-0a000002,output:vxlan-0a000003"));
    has(&format!("table=22,priority=1,dl_vlan={lg},actions=strip_vlan,set_tunnel:0xc8,output:gre-0a000002,output:gre-0a000003"));
    has("table=20,priority=0,actions=resubmit(,22)");
    has("table=21,priority=0,actions=resubmit(,22)");
    has("table=22,priority=0,actions=drop");
    // No l2pop flows for the host's own VMs.
    assert!(!f.contains("dl_dst=fa:16:3e:01:00:11"), "{f}");
}

#[test]
fn br_int_and_br_phys_translate_vlans() {
    let t = Topology::parse(VLAN_LAB, "vlan").unwrap();
    let plans = plan::plan(&t);
    for p in &plans {
        let fi = flows::br_int(&t, p);
        let fp = flows::br_phys(&t, p);
        assert!(fi.contains("table=0,priority=65535,vlan_tci=0x0fff/0x1fff,actions=drop"));
        assert!(fi.contains("table=60,priority=3,actions=NORMAL") && fi.contains("table=23,priority=0,actions=drop"));
        for &(n, lvid) in &p.lvids {
            let seg = t.networks[n].seg;
            assert!(fi.contains(&format!("priority=3,in_port=int-br-phys,dl_vlan={seg},actions=mod_vlan_vid:{lvid},resubmit(,60)")), "{fi}");
            assert!(fp.contains(&format!("priority=4,in_port=phy-br-phys,dl_vlan={lvid},actions=mod_vlan_vid:{seg},NORMAL")), "{fp}");
        }
    }
    // The overlap lab's tenants share addresses but never an ARP responder entry.
    let o = Topology::parse(OVERLAP_LAB, "overlap").unwrap();
    let op = plan::plan(&o);
    let f = flows::br_tun(&o, &op[0]);
    assert_eq!(f.matches("arp_tpa=10.1.0.12").count(), 2, "{f}");
    assert_eq!(f.lines().filter(|l| l.contains("table=21,priority=1")).map(|l| l.split(",actions").next().unwrap()).collect::<std::collections::HashSet<_>>().len(), 2);
}

#[test]
fn dry_run_shows_commands_and_flows() {
    let t = Topology::parse(DEFAULT_LAB, "default").unwrap();
    let d = dry_run(&t);
    assert!(d.contains("xvsctl add-br br-phy\n") && d.contains("xvsctl add-port br-tun vxlan-0a000002 type=vxlan"), "{d}");
    assert!(d.contains("xvsctl add-flows br-tun - <<EOF"));
}

#[test]
fn lab_prefixes() {
    assert!(rundir::is_prefix("xl0a1b2"));
    assert!(!rundir::is_prefix("xl-phys"));
    assert_eq!(rundir::ns_prefix("xl0a1b2-compute1"), Some("xl0a1b2"));
    assert_eq!(rundir::ns_prefix("xl0a1b2_underlay"), Some("xl0a1b2"));
    assert_eq!(rundir::ns_prefix("xl-phys-12345"), None);
    assert_eq!(rundir::ns_prefix("xl0a1b2"), None);
}
