//! NORMAL with Open vSwitch's vlan_mode: access, trunk, native-tagged and
//! native-untagged ports, as ofproto-dpif-xlate's input_vid_is_valid,
//! xbundle_includes_vlan and xvlan_output_translate define them.

use xvs::flow::FlowKey;
use xvs::ofproto::{Ofproto, PortRequest};
use xvs::packet::extract;
use xvs::port::VlanMode;
use xvs::xlate::translate;

/// (ofport, tag, trunks, mode)
fn bridge() -> (Ofproto, Vec<u32>) {
    let mut o = Ofproto::new();
    o.add_bridge("br0", false).unwrap();
    type PortSpec = (u32, Option<u16>, Vec<u16>, Option<VlanMode>);
    let specs: [PortSpec; 4] = [
        (1, Some(10), vec![], None),
        (2, Some(10), vec![10, 20], Some(VlanMode::NativeUntagged)),
        (3, Some(10), vec![20], Some(VlanMode::NativeTagged)),
        (4, None, vec![], None),
    ];
    let mut dps = vec![u32::MAX];
    for (ofport, tag, trunks, vlan_mode) in specs {
        let p = o
            .add_port("br0", PortRequest { name: format!("p{ofport}"), ofport: Some(ofport), tag, trunks, vlan_mode, ..Default::default() })
            .unwrap();
        dps.push(p.dp_port.unwrap().0);
    }
    (o, dps)
}

fn broadcast(vid: Option<u16>) -> Vec<u8> {
    let mut f = vec![0xff; 6];
    f.extend_from_slice(&[2, 0, 0, 0, 0, 1]);
    if let Some(v) = vid {
        f.extend_from_slice(&[0x81, 0x00]);
        f.extend_from_slice(&v.to_be_bytes());
    }
    f.extend_from_slice(&[0x88, 0xb5]); // local experimental ethertype
    f.resize(f.len() + 46, 0);
    f
}

/// What each port receives: (ofport, Some(vid) if tagged).
fn flood(from: u32, vid: Option<u16>) -> Vec<(u32, Option<u16>)> {
    let (mut o, dps) = bridge();
    let p = o.snapshot();
    let f = broadcast(vid);
    let mut k = FlowKey::ZERO;
    extract(&f, dps[from as usize], &mut k).unwrap();
    let out = translate(&p, &k);
    let mut sent = Vec::new();
    xvs::exec::run_frame(&f, &out.actions, &mut sent).unwrap();
    let mut v: Vec<(u32, Option<u16>)> = sent
        .into_iter()
        .map(|s| match s {
            xvs::exec::Sent::Output(dp, b) => (dp, b),
            xvs::exec::Sent::Pop(..) => panic!("no tunnels here"),
        })
        .map(|(dp, b)| {
            let ofport = dps.iter().position(|d| *d == dp.0).unwrap() as u32;
            let tag = (b[12..14] == [0x81, 0x00]).then(|| u16::from_be_bytes([b[14], b[15]]) & 0xfff);
            (ofport, tag)
        })
        .collect();
    v.sort();
    v
}

#[test]
fn native_untagged_frames_join_the_native_vlan() {
    // Untagged on native-untagged port 2: VLAN 10 -> access port 1 untagged, the
    // native-tagged port 3 tagged 10, the trunk tagged 10.
    assert_eq!(flood(2, None), vec![(1, None), (3, Some(10)), (4, Some(10))]);
    // From the access port: native-untagged port 2 sends VLAN 10 untagged.
    assert_eq!(flood(1, None), vec![(2, None), (3, Some(10)), (4, Some(10))]);
    // From the trunk tagged 10: the same.
    assert_eq!(flood(4, Some(10)), vec![(1, None), (2, None), (3, Some(10))]);
}

#[test]
fn native_ports_trunk_their_other_vlans_tagged() {
    // VLAN 20 from native-tagged port 3: port 2 (trunks 10,20) tagged, the trunk tagged,
    // never the access port of VLAN 10.
    assert_eq!(flood(3, Some(20)), vec![(2, Some(20)), (4, Some(20))]);
    // Untagged on native-tagged port 3 is its native VLAN 10, and port 3 itself would
    // send VLAN 10 tagged (seen from the trunk).
    assert_eq!(flood(3, None), vec![(1, None), (2, None), (4, Some(10))]);
    assert_eq!(flood(4, Some(20)), vec![(2, Some(20)), (3, Some(20))]);
}

#[test]
fn vlans_a_native_port_does_not_trunk_are_dropped() {
    // VLAN 30 is in neither native port's trunks: dropped on input.
    assert_eq!(flood(2, Some(30)), vec![]);
    assert_eq!(flood(3, Some(30)), vec![]);
    // The trunk carries it, but only to ports that carry VLAN 30: none.
    assert_eq!(flood(4, Some(30)), vec![]);
}
