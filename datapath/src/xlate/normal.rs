//! The NORMAL action: a VLAN-aware MAC-learning L2 switch over the current bridge's
//! ports, honouring access tags (`tag=`) and trunk lists the way Open vSwitch does.
//!
//! - A frame entering an access port belongs to the port's VLAN; a frame entering an
//!   access port with a (non-zero) 802.1Q tag is dropped.
//! - Native-tagged and native-untagged ports are trunks whose untagged frames belong
//!   to the native VLAN (`tag`); native-untagged sends that VLAN's frames untagged.
//! - A frame entering a trunk port belongs to its tag's VLAN (0 if untagged) and is
//!   dropped if the port does not carry that VLAN.
//! - Leaving an access port the frame is untagged; leaving a trunk it carries the
//!   VLAN's tag (none for VLAN 0).
//! - Source MACs are learned per (VLAN, MAC); unknown or multicast destinations are
//!   flooded to every other port carrying the VLAN.

use super::{Ctx, MacLearn};
use crate::flow::field::Field;
use crate::flow::key::{VLAN_CFI, VLAN_PCP_MASK, VLAN_VID_MASK};
use crate::port::VlanMode;

impl Ctx<'_> {
    /// Work out the VLAN of the current packet in the NORMAL switch and the VID of
    /// its inner (customer) tag, 0 if none; None = drop. As in Open vSwitch, a frame
    /// from an access port is single-tagged inside the switch, a trunk's frame keeps
    /// its whole tag stack.
    fn normal_input_vlan(&mut self) -> Option<(u16, u16)> {
        let bridge = self.bridge.clone();
        let in_port = self.flow.in_port();
        let Some(port) = bridge.ports.get(&in_port) else {
            self.trace(|| format!("NORMAL: input port {in_port} is not on bridge {}: drop", bridge.name));
            return None;
        };
        let tci = self.flow.vlan_tci();
        let tagged_vid = if tci & VLAN_CFI != 0 { Some(tci & VLAN_VID_MASK) } else { None };
        let inner_of = |ctx: &Self| {
            let tci2 = ctx.flow.vlan_tci2();
            if tci & VLAN_CFI != 0 && tci2 & VLAN_CFI != 0 {
                tci2 & VLAN_VID_MASK
            } else {
                0
            }
        };
        match port.vlan_mode {
            VlanMode::Access => {
                if matches!(tagged_vid, Some(v) if v != 0) {
                    self.trace(|| format!("NORMAL: dropping VLAN {} tagged packet received on access port {}", tagged_vid.unwrap(), port.name));
                    return None;
                }
                Some((port.tag.unwrap_or(0), 0))
            }
            VlanMode::Trunk => {
                let vlan = tagged_vid.unwrap_or(0);
                if !port.carries_vlan(vlan) {
                    self.trace(|| format!("NORMAL: dropping VLAN {vlan} packet received on port {} not configured for it", port.name));
                    return None;
                }
                Some((vlan, inner_of(self)))
            }
            VlanMode::NativeTagged | VlanMode::NativeUntagged => match tagged_vid {
                // The port always carries its native VLAN: untagged (and priority
                // tagged) frames belong to it.
                None | Some(0) => Some((port.native_vlan(), 0)),
                Some(vid) => {
                    if !port.carries_vlan(vid) {
                        self.trace(|| format!("NORMAL: dropping VLAN {vid} packet received on port {} not configured for trunking VLAN {vid}", port.name));
                        return None;
                    }
                    Some((vid, inner_of(self)))
                }
            },
        }
    }

    pub(super) fn normal(&mut self) {
        // NORMAL looks at the L2 header and the input port.
        Field::EthSrc.set(&mut self.wc, u128::MAX);
        Field::EthDst.set(&mut self.wc, u128::MAX);
        // Both tags: the inner one decides whether access ports take the frame.
        self.unwildcard_vlans();
        if is_reserved_mac(self.flow.dl_dst()) {
            self.trace(|| "NORMAL: packet has reserved destination MAC, dropping".into());
            return;
        }
        let Some((vlan, inner_vid)) = self.normal_input_vlan() else {
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
            // Found or not, the answer holds until this MAC entry changes (learning it
            // must revalidate the flooding megaflows that looked for it).
            self.out.deps.insert(bridge.mac.tag(vlan, dst));
            if let Some(out) = bridge.mac.lookup(vlan, dst) {
                if out == in_port {
                    self.trace(|| "NORMAL: learned port is the input port, dropping".into());
                    return;
                }
                self.trace(|| format!("NORMAL: forwarding to learned port {out}"));
                self.normal_output(out, vlan, inner_vid);
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
            self.normal_output(p, vlan, inner_vid);
        }
    }

    /// Output from the NORMAL switch: tag or untag for the output port, then restore.
    /// An access port takes only single-tagged traffic of its VLAN (Open vSwitch's
    /// `xbundle_includes_vlan`): a frame with an inner tag never leaves untagged there.
    fn normal_output(&mut self, ofport: u32, vlan: u16, inner_vid: u16) {
        let Some(port) = self.bridge.ports.get(&ofport).cloned() else {
            return;
        };
        let access = port.vlan_mode == VlanMode::Access;
        if !port.carries_vlan(vlan) || (access && inner_vid != 0) {
            return;
        }
        let saved = self.flow.vlan_tci();
        let saved2 = self.flow.vlan_tci2();
        let inner = saved2 & !VLAN_CFI;
        // The inner tag (if any) as it would leave: as in Open vSwitch, a tag whose VID
        // and PCP are both 0 is not sent at all.
        let inner_out = if saved2 & VLAN_CFI != 0 && inner != 0 { inner | VLAN_CFI } else { 0 };
        let untagged = access || (port.vlan_mode == VlanMode::NativeUntagged && vlan == port.native_vlan());
        let (new_tci, new_tci2) = if access {
            (0, 0)
        } else if untagged {
            // Native-untagged: the native VLAN's tag comes off; an inner tag becomes
            // the only one.
            (inner_out, 0)
        } else {
            // A trunk keeps the priority bits the packet came with; VLAN 0 with a
            // priority still leaves as a priority tag (VID 0), as in Open vSwitch.
            let tci = (saved & VLAN_PCP_MASK) | vlan;
            (if tci != 0 { tci | VLAN_CFI } else { 0 }, inner_out)
        };
        self.flow.set_vlan_tci2(new_tci2);
        self.flow.set_vlan_tci(new_tci);
        self.output_port(ofport);
        self.flow.set_vlan_tci(saved);
        self.flow.set_vlan_tci2(saved2);
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

/// Destinations NORMAL never forwards: IEEE 802.1D/802.1Q reserved addresses
/// (01:80:c2:00:00:00-0f: STP, pause, LACP, LLDP...) and the vendor control-protocol
/// addresses Open vSwitch also treats as reserved.
pub(crate) fn is_reserved_mac(m: [u8; 6]) -> bool {
    if m[..5] == [0x01, 0x80, 0xc2, 0x00, 0x00] && m[5] <= 0x0f {
        return true;
    }
    const OTHERS: [[u8; 6]; 13] = [
        [0x00, 0xe0, 0x2b, 0x00, 0x00, 0x00], // Extreme EDP
        [0x00, 0xe0, 0x2b, 0x00, 0x00, 0x04], // Extreme EAPS
        [0x00, 0xe0, 0x2b, 0x00, 0x00, 0x06], // Extreme EAPS
        [0x01, 0x00, 0x0c, 0x00, 0x00, 0x00], // Cisco ISL
        [0x01, 0x00, 0x0c, 0xcc, 0xcc, 0xcc], // Cisco CDP, VTP, DTP, PAgP, UDLD
        [0x01, 0x00, 0x0c, 0xcc, 0xcc, 0xcd], // Cisco PVST+
        [0x01, 0x00, 0x0c, 0xcd, 0xcd, 0xcd], // Cisco STP UplinkFast
        [0x01, 0x00, 0x0c, 0xcc, 0xcc, 0xc0], // Cisco CFM
        [0x01, 0x00, 0x0c, 0xcc, 0xcc, 0xc1],
        [0x01, 0x00, 0x0c, 0xcc, 0xcc, 0xc2],
        [0x01, 0x00, 0x0c, 0xcc, 0xcc, 0xc3],
        [0x01, 0x00, 0x0c, 0xcc, 0xcc, 0xc4],
        [0x01, 0x00, 0x0c, 0xcc, 0xcc, 0xc5],
    ];
    OTHERS.contains(&m) || (m[..5] == [0x01, 0x00, 0x0c, 0xcc, 0xcc] && (0xc6..=0xc7).contains(&m[5]))
}
