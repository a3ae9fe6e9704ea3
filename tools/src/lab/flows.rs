//! The flows the Neutron OVS agent installs on a host, generated from the plan, in
//! `ovs-ofctl` syntax with port names (resolved by the bridge when added). One
//! function per bridge; each returns the text for `add-flows`.

use std::fmt::Write as _;

use super::plan::{HostPlan, COOKIE, INT_BR_PHYS, PATCH_INT, PHY_BR_PHYS};
use super::topology::{NetType, Topology};

fn line(f: &mut String, s: impl AsRef<str>) {
    let _ = writeln!(f, "cookie={COOKIE:#x},{}", s.as_ref());
}

/// br-int: dead-VLAN drop, VLAN translation from br-phys, ARP/MAC anti-spoofing on VM
/// ports (tables 24, 25), canary table 23, NORMAL in table 60.
pub fn br_int(t: &Topology, p: &HostPlan) -> String {
    let mut f = String::new();
    line(&mut f, "table=0,priority=65535,vlan_tci=0x0fff/0x1fff,actions=drop");
    if p.has_vlan {
        for &(net, lvid) in &p.lvids {
            let n = &t.networks[net];
            if n.kind == NetType::Vlan {
                line(&mut f, format!("table=0,priority=3,in_port={INT_BR_PHYS},dl_vlan={},actions=mod_vlan_vid:{lvid},resubmit(,60)", n.seg));
            }
        }
        line(&mut f, format!("table=0,priority=2,in_port={INT_BR_PHYS},actions=drop"));
    }
    for vp in &p.vm_ports {
        let vm = &t.vms[vp.vm];
        let port = &vp.port;
        line(&mut f, format!("table=0,priority=10,arp,in_port={port},actions=resubmit(,24)"));
        line(&mut f, format!("table=0,priority=9,in_port={port},actions=resubmit(,25)"));
        line(&mut f, format!("table=24,priority=2,arp,in_port={port},arp_spa={},actions=resubmit(,25)", vm.ip));
        line(&mut f, format!("table=25,priority=2,in_port={port},dl_src={},actions=resubmit(,60)", vm.mac_str()));
    }
    line(&mut f, "table=0,priority=0,actions=resubmit(,60)");
    line(&mut f, "table=23,priority=0,actions=drop");
    line(&mut f, "table=24,priority=0,actions=drop");
    line(&mut f, "table=25,priority=0,actions=drop");
    line(&mut f, "table=60,priority=3,actions=NORMAL");
    f
}

/// br-phys: local VLAN -> wire VLAN going out, NORMAL otherwise.
pub fn br_phys(t: &Topology, p: &HostPlan) -> String {
    let mut f = String::new();
    for &(net, lvid) in &p.lvids {
        let n = &t.networks[net];
        if n.kind == NetType::Vlan {
            line(&mut f, format!("table=0,priority=4,in_port={PHY_BR_PHYS},dl_vlan={lvid},actions=mod_vlan_vid:{},NORMAL", n.seg));
        }
    }
    line(&mut f, format!("table=0,priority=2,in_port={PHY_BR_PHYS},actions=drop"));
    line(&mut f, "table=0,priority=0,actions=NORMAL");
    f
}

/// The ARP responder's actions for `ip` at `mac` (br-tun table 21): turn the request
/// into a reply and send it back where it came from.
pub fn arp_responder_actions(ip: std::net::Ipv4Addr, mac: &[u8; 6]) -> String {
    let mac_s = mac.iter().map(|b| format!("{b:02x}")).collect::<Vec<_>>().join(":");
    let mac_hex: String = mac.iter().map(|b| format!("{b:02x}")).collect();
    format!(
        "move:NXM_OF_ETH_SRC[]->NXM_OF_ETH_DST[],mod_dl_src:{mac_s},load:0x2->NXM_OF_ARP_OP[],\
         move:NXM_NX_ARP_SHA[]->NXM_NX_ARP_THA[],move:NXM_OF_ARP_SPA[]->NXM_OF_ARP_TPA[],\
         load:0x{mac_hex}->NXM_NX_ARP_SHA[],load:{:#x}->NXM_OF_ARP_SPA[],IN_PORT",
        u32::from(ip)
    )
}

/// br-tun: the agent's tables 0, 2, 3/4, 10, 20, 21, 22 with l2pop (static unicast
/// and ARP responder flows for every remote VM, one flood flow per network).
pub fn br_tun(t: &Topology, p: &HostPlan) -> String {
    let mut f = String::new();
    line(&mut f, format!("table=0,priority=1,in_port={PATCH_INT},actions=resubmit(,2)"));
    for tun in &p.tunnels {
        let table = if tun.kind == NetType::Gre { 3 } else { 4 };
        line(&mut f, format!("table=0,priority=1,in_port={},actions=resubmit(,{table})", tun.name));
    }
    line(&mut f, "table=0,priority=0,actions=drop");
    line(&mut f, "table=2,priority=1,arp,dl_dst=ff:ff:ff:ff:ff:ff,actions=resubmit(,21)");
    line(&mut f, "table=2,priority=0,dl_dst=00:00:00:00:00:00/01:00:00:00:00:00,actions=resubmit(,20)");
    line(&mut f, "table=2,priority=0,dl_dst=01:00:00:00:00:00/01:00:00:00:00:00,actions=resubmit(,22)");
    for (kind, table) in [(NetType::Gre, 3), (NetType::Vxlan, 4)] {
        for &(net, lvid) in &p.lvids {
            let n = &t.networks[net];
            if n.kind == kind {
                line(&mut f, format!("table={table},priority=1,tun_id={:#x},actions=mod_vlan_vid:{lvid},resubmit(,10)", n.seg));
            }
        }
        line(&mut f, format!("table={table},priority=0,actions=drop"));
    }
    line(
        &mut f,
        format!(
            "table=10,priority=1,actions=learn(table=20,hard_timeout=300,priority=1,cookie={COOKIE:#x},NXM_OF_VLAN_TCI[0..11],\
             NXM_OF_ETH_DST[]=NXM_OF_ETH_SRC[],load:0->NXM_OF_VLAN_TCI[],load:NXM_NX_TUN_ID[]->NXM_NX_TUN_ID[],\
             output:NXM_OF_IN_PORT[]),output:{PATCH_INT}"
        ),
    );
    for &(net, lvid) in &p.lvids {
        let n = &t.networks[net];
        if !n.kind.is_tunnel() {
            continue;
        }
        let mut flood = Vec::new();
        for (_, vm) in t.vms_on(net).filter(|(_, v)| v.host != p.host) {
            let Some(tun) = p.tunnel_to(n.kind, vm.host) else { continue };
            line(
                &mut f,
                format!("table=20,priority=2,dl_vlan={lvid},dl_dst={},actions=strip_vlan,set_tunnel:{:#x},output:{}", vm.mac_str(), n.seg, tun.name),
            );
            line(&mut f, format!("table=21,priority=1,arp,dl_vlan={lvid},arp_tpa={},actions={}", vm.ip, arp_responder_actions(vm.ip, &vm.mac)));
            if !flood.contains(&tun.name) {
                flood.push(tun.name.clone());
            }
        }
        if !flood.is_empty() {
            let outs: Vec<String> = flood.iter().map(|p| format!("output:{p}")).collect();
            line(&mut f, format!("table=22,priority=1,dl_vlan={lvid},actions=strip_vlan,set_tunnel:{:#x},{}", n.seg, outs.join(",")));
        }
    }
    line(&mut f, "table=20,priority=0,actions=resubmit(,22)");
    line(&mut f, "table=21,priority=0,actions=resubmit(,22)");
    line(&mut f, "table=22,priority=0,actions=drop");
    f
}
