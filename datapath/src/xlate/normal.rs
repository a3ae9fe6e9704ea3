//! The NORMAL action: a VLAN-aware MAC-learning L2 switch over the current bridge's
//! ports, honouring access tags (`tag=`) and trunk lists the way Open vSwitch does.
//!
//! - A frame entering an access port belongs to the port's VLAN; a frame entering an
//!   access port with a (non-zero) 802.1Q tag is dropped.
//! - A frame entering a trunk port belongs to its tag's VLAN (0 if untagged) and is
//!   dropped if the port does not carry that VLAN.
//! - Leaving an access port the frame is untagged; leaving a trunk it carries the
//!   VLAN's tag (none for VLAN 0).
//! - Source MACs are learned per (VLAN, MAC); unknown or multicast destinations are
//!   flooded to every other port carrying the VLAN.

use super::{Ctx, MacLearn};
use crate::flow::field::Field;
use crate::flow::key::{VLAN_CFI, VLAN_PCP_MASK, VLAN_VID_MASK};

impl Ctx<'_> {
    /// Work out the VLAN of the current packet in the NORMAL switch; None = drop.
    fn normal_input_vlan(&mut self) -> Option<u16> {
        let bridge = self.bridge.clone();
        let in_port = self.flow.in_port();
        let Some(port) = bridge.ports.get(&in_port) else {
            self.trace(|| format!("NORMAL: input port {in_port} is not on bridge {}: drop", bridge.name));
            return None;
        };
        let tci = self.flow.vlan_tci();
        let tagged_vid = if tci & VLAN_CFI != 0 { Some(tci & VLAN_VID_MASK) } else { None };
        match port.tag {
            Some(tag) => {
                if matches!(tagged_vid, Some(v) if v != 0) {
                    self.trace(|| format!("NORMAL: dropping VLAN {} tagged packet received on access port {}", tagged_vid.unwrap(), port.name));
                    return None;
                }
                Some(tag)
            }
            None => {
                let vlan = tagged_vid.unwrap_or(0);
                if !port.carries_vlan(vlan) {
                    self.trace(|| format!("NORMAL: dropping VLAN {vlan} packet received on port {} not configured for it", port.name));
                    return None;
                }
                Some(vlan)
            }
        }
    }

    pub(super) fn normal(&mut self) {
        // NORMAL looks at the L2 header and the input port.
        Field::EthSrc.set(&mut self.wc, u128::MAX);
        Field::EthDst.set(&mut self.wc, u128::MAX);
        Field::VlanTci.set(&mut self.wc, 0xffff);
        let Some(vlan) = self.normal_input_vlan() else {
            return;
        };
        let bridge = self.bridge.clone();
        let in_port = self.flow.in_port();
        let src = self.flow.dl_src();
        let dst = self.flow.dl_dst();
        if src[0] & 1 == 0 && self.may_learn {
            if bridge.mac.learn(vlan, src, in_port) {
                self.trace(|| format!("NORMAL: learned that {} is on port {in_port} in VLAN {vlan}", crate::flow::key::fmt_mac(src)));
            }
            self.out.mac_learns.push(MacLearn { bridge: bridge.idx, vlan, mac: src, port: in_port });
        }
        if dst[0] & 1 == 0 {
            if let Some(out) = bridge.mac.lookup(vlan, dst) {
                if out == in_port {
                    self.trace(|| "NORMAL: learned port is the input port, dropping".into());
                    return;
                }
                self.trace(|| format!("NORMAL: forwarding to learned port {out}"));
                self.normal_output(out, vlan);
                return;
            }
            self.trace(|| "NORMAL: no learned MAC for destination, flooding".into());
        } else {
            self.trace(|| "NORMAL: multicast/broadcast destination, flooding".into());
        }
        let ports: Vec<u32> = bridge
            .ports
            .values()
            .filter(|p| p.ofport != in_port && p.carries_vlan(vlan))
            .map(|p| p.ofport)
            .collect();
        for p in ports {
            self.normal_output(p, vlan);
        }
    }

    /// Output from the NORMAL switch: tag or untag for the output port, then restore.
    fn normal_output(&mut self, ofport: u32, vlan: u16) {
        let Some(port) = self.bridge.ports.get(&ofport).cloned() else {
            return;
        };
        if !port.carries_vlan(vlan) {
            return;
        }
        let saved = self.flow.vlan_tci();
        let new_tci = if port.tag.is_some() || vlan == 0 {
            0
        } else {
            // Keep the priority bits the packet came with.
            VLAN_CFI | (saved & VLAN_PCP_MASK) | vlan
        };
        self.flow.set_vlan_tci(new_tci);
        self.output_port(ofport);
        self.flow.set_vlan_tci(saved);
    }

    /// FLOOD/ALL: every port of the bridge except the input port, headers unchanged.
    pub(super) fn flood(&mut self) {
        let in_port = self.flow.in_port();
        let ports: Vec<u32> = self.bridge.ports.keys().copied().filter(|p| *p != in_port).collect();
        for p in ports {
            self.output_port(p);
        }
    }
}
