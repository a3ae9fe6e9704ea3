//! Translation limits that Open vSwitch has and xvs copies: past 64 kB of datapath
//! actions (in OVS's netlink encoding) a bridge stops translating without an error
//! and keeps what it has.

use std::sync::Arc;

use xvs::flow::parse::{parse_flow, NoPortNames, ParseMode};
use xvs::flow::FlowKey;
use xvs::odp::{ovs_netlink_size, DpAction};
use xvs::ofproto::{Ofproto, PortRequest};
use xvs::xlate;

#[test]
fn actions_over_64kb_stop_translation_without_error() {
    let mut o = Ofproto::new();
    o.add_bridge("br0", false).unwrap();
    let p1 = o.add_port("br0", PortRequest { name: "p1".into(), ofport: Some(1), ..Default::default() }).unwrap();
    o.add_port("br0", PortRequest { name: "p2".into(), ofport: Some(2), ..Default::default() }).unwrap();
    // Each table outputs 200 times (1600 bytes in OVS's encoding) and goes on to the
    // next: the lookup of table 41 finds 65600 bytes of actions and stops there.
    let outs = vec!["output:2"; 200].join(",");
    let flows: Vec<_> = (0..60)
        .map(|t| parse_flow(&format!("table={t},actions={outs},goto_table:{}", t + 1), ParseMode::Add, &NoPortNames).unwrap())
        .collect();
    o.add_flows("br0", &flows).unwrap();
    let p = Arc::new(o.snapshot());
    let mut k = FlowKey::default();
    k.set_in_port(p1.dp_port.unwrap());
    let out = xlate::translate_pure(&p, &k);
    assert!(out.error.is_none(), "{:?}", out.error_detail);
    let n = out.actions.iter().filter(|a| matches!(a, DpAction::Output(_))).count();
    assert_eq!(n, 41 * 200);
    assert_eq!(ovs_netlink_size(&out.actions), 41 * 1600);
}
