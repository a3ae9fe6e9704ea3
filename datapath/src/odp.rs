//! Datapath actions: what a cached megaflow does to a packet.
//!
//! Translation (`xlate`) turns a walk through the OpenFlow tables of every bridge a
//! packet crosses into a short list of these. They refer to datapath ports (global
//! across bridges), never to OpenFlow port numbers, and they are the only thing the
//! fast path executes.

use std::fmt;
use std::sync::Arc;

use crate::flow::key::fmt_mac;
use crate::packet::tunnel::TnlHeader;
use crate::port::OdpPort;

/// Encapsulation: the prebuilt outer header and the largest inner frame the underlay
/// takes (its MTU minus the outer IP and tunnel headers).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct TnlPush {
    pub header: TnlHeader,
    pub max_inner: u16,
    /// The tunnel's datapath vport (printed as tnl_port, as Open vSwitch does).
    pub vport: OdpPort,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum DpAction {
    /// Send out of a datapath port.
    Output(OdpPort),
    SetEthSrc([u8; 6]),
    SetEthDst([u8; 6]),
    /// Insert an 802.1Q/802.1ad tag after the MAC addresses. `tci` has no CFI bit.
    PushVlan { tpid: u16, tci: u16 },
    PopVlan,
    /// Rewrite the outer tag's TCI (PCP + VID), keeping the tag.
    SetVlanTci(u16),
    SetIpv4Src(u32),
    SetIpv4Dst(u32),
    SetIpv4Tos(u8),
    SetIpv4Ttl(u8),
    SetIpv6Src(u128),
    SetIpv6Dst(u128),
    SetIpv6Tclass(u8),
    SetIpv6Hlimit(u8),
    SetTpSrc(u16),
    SetTpDst(u16),
    SetArpOp(u16),
    SetArpSha([u8; 6]),
    SetArpSpa(u32),
    SetArpTha([u8; 6]),
    SetArpTpa(u32),
    /// Copy the frame as it is at this point to capture `id` (`xvsctl capture` on a
    /// patch port: the frame crossing it, `rx` when it enters the port's bridge). Not
    /// an Open vSwitch action; present only while such a capture runs.
    Tap { id: u16, rx: bool },
    /// Prepend a tunnel's outer headers (native tunneling). The outputs that follow
    /// are those of the underlay bridge.
    TnlPush(Arc<TnlPush>),
    /// Strip the outer headers of a packet to one of our tunnel endpoints and send the
    /// inner frame through the caches again, entering from tunnel vport `.0` with the
    /// tunnel metadata set (a recirculation).
    TnlPop(OdpPort),
    /// Run these actions on a copy of the packet (the original is unchanged after):
    /// an encapsulation that is not the last thing done with the packet.
    Clone(Arc<[DpAction]>),
}

impl DpAction {
    pub fn is_output(&self) -> bool {
        matches!(self, DpAction::Output(_))
    }

    /// Takes the packet itself away (an output, or a tunnel pop that carries it into
    /// its next pass): the last such action may hand over the frame instead of a copy.
    pub fn consumes(&self) -> bool {
        matches!(self, DpAction::Output(_) | DpAction::TnlPop(_))
    }

    /// Sends the packet (or a copy) somewhere: an output, a tunnel pop (the packet
    /// goes on in a second pass) or a clone holding such an action.
    pub fn sends(&self) -> bool {
        match self {
            DpAction::Output(_) | DpAction::TnlPop(_) => true,
            DpAction::Clone(a) => a.iter().any(|x| x.sends()),
            _ => false,
        }
    }

    /// The header an Open vSwitch set action for this rewrite belongs to, and that
    /// header's size in OVS's netlink key (`struct ovs_key_*`); None if not a set.
    fn set_layer(&self) -> Option<(u8, usize)> {
        use DpAction::*;
        Some(match self {
            SetEthSrc(_) | SetEthDst(_) => (0, 12),
            SetIpv4Src(_) | SetIpv4Dst(_) | SetIpv4Tos(_) | SetIpv4Ttl(_) => (1, 12),
            SetIpv6Src(_) | SetIpv6Dst(_) | SetIpv6Tclass(_) | SetIpv6Hlimit(_) => (2, 40),
            SetTpSrc(_) | SetTpDst(_) => (3, 4),
            SetArpOp(_) | SetArpSha(_) | SetArpSpa(_) | SetArpTha(_) | SetArpTpa(_) => (4, 24),
            _ => return None,
        })
    }
}

/// The most one action adds to [`ovs_netlink_size`] (a masked IPv6 set: 4 + 4 + 2 * 40).
pub const MAX_ACTION_NETLINK_BYTES: usize = 88;

/// How many bytes `acts` take in Open vSwitch's netlink encoding of datapath actions.
/// OVS stops translating once that passes 64 kB (`resubmits yielded over 64 kB of
/// actions`), so xvs counts the same way to stop at the same place. Consecutive
/// rewrites of one header are one OVS set action: masked (key + mask) unless every
/// field of the key is written (only Ethernet's two addresses, or both L4 ports).
/// A changed 802.1Q tag is a pop and a push in OVS.
pub fn ovs_netlink_size(acts: &[DpAction]) -> usize {
    let mut n = 0;
    let mut i = 0;
    while i < acts.len() {
        let a = &acts[i];
        if let Some((layer, key)) = a.set_layer() {
            let mut j = i + 1;
            while j < acts.len() && acts[j].set_layer().map(|l| l.0) == Some(layer) {
                j += 1;
            }
            let run = &acts[i..j];
            let full = match layer {
                0 => run.iter().any(|x| matches!(x, DpAction::SetEthSrc(_)))
                    && run.iter().any(|x| matches!(x, DpAction::SetEthDst(_))),
                3 => run.iter().any(|x| matches!(x, DpAction::SetTpSrc(_)))
                    && run.iter().any(|x| matches!(x, DpAction::SetTpDst(_))),
                _ => false,
            };
            // Outer attribute header + key attribute header + key (and mask).
            n += 4 + 4 + if full { key } else { 2 * key };
            i = j;
            continue;
        }
        n += match a {
            DpAction::Output(_) | DpAction::PushVlan { .. } => 8,
            DpAction::PopVlan => 4,
            DpAction::Tap { .. } => 0,
            DpAction::TnlPush(p) => 4 + 4 + 4 + 4 + p.header.len as usize + 8,
            DpAction::TnlPop(_) => 8,
            DpAction::Clone(a) => 4 + ovs_netlink_size(a),
            DpAction::SetVlanTci(_) => 12,
            _ => 0, // sets were counted above
        };
        i += 1;
    }
    n
}

fn ip4(v: u32) -> std::net::Ipv4Addr {
    std::net::Ipv4Addr::from(v)
}

impl fmt::Display for DpAction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DpAction::Output(p) => write!(f, "{p}"),
            DpAction::Tap { id, rx } => write!(f, "tap({id},{})", if *rx { "rx" } else { "tx" }),
            DpAction::SetEthSrc(m) => write!(f, "set(eth(src={}))", fmt_mac(*m)),
            DpAction::SetEthDst(m) => write!(f, "set(eth(dst={}))", fmt_mac(*m)),
            DpAction::PushVlan { tpid, tci } => {
                if *tpid == 0x8100 {
                    write!(f, "push_vlan(vid={},pcp={})", tci & 0xfff, tci >> 13)
                } else {
                    write!(f, "push_vlan(tpid=0x{tpid:04x},vid={},pcp={})", tci & 0xfff, tci >> 13)
                }
            }
            DpAction::PopVlan => write!(f, "pop_vlan"),
            DpAction::SetVlanTci(t) => write!(f, "set(vlan(vid={},pcp={}))", t & 0xfff, t >> 13),
            DpAction::SetIpv4Src(a) => write!(f, "set(ipv4(src={}))", ip4(*a)),
            DpAction::SetIpv4Dst(a) => write!(f, "set(ipv4(dst={}))", ip4(*a)),
            DpAction::SetIpv4Tos(t) => write!(f, "set(ipv4(tos=0x{t:x}))"),
            DpAction::SetIpv4Ttl(t) => write!(f, "set(ipv4(ttl={t}))"),
            DpAction::SetIpv6Src(a) => write!(f, "set(ipv6(src={}))", std::net::Ipv6Addr::from(*a)),
            DpAction::SetIpv6Dst(a) => write!(f, "set(ipv6(dst={}))", std::net::Ipv6Addr::from(*a)),
            DpAction::SetIpv6Tclass(t) => write!(f, "set(ipv6(tclass=0x{t:x}))"),
            DpAction::SetIpv6Hlimit(h) => write!(f, "set(ipv6(hlimit={h}))"),
            DpAction::SetTpSrc(p) => write!(f, "set(l4(src={p}))"),
            DpAction::SetTpDst(p) => write!(f, "set(l4(dst={p}))"),
            DpAction::SetArpOp(o) => write!(f, "set(arp(op={o}))"),
            DpAction::SetArpSha(m) => write!(f, "set(arp(sha={}))", fmt_mac(*m)),
            DpAction::SetArpSpa(a) => write!(f, "set(arp(sip={}))", ip4(*a)),
            DpAction::SetArpTha(m) => write!(f, "set(arp(tha={}))", fmt_mac(*m)),
            DpAction::SetArpTpa(a) => write!(f, "set(arp(tip={}))", ip4(*a)),
            DpAction::TnlPush(p) => write!(f, "tnl_push(tnl_port({}),header({}))", p.vport, format_tnl_header(&p.header)),
            DpAction::TnlPop(v) => write!(f, "tnl_pop({v})"),
            DpAction::Clone(a) => write!(f, "clone({})", format_dp_actions(a)),
        }
    }
}

/// The outer header as Open vSwitch's dpctl prints a tnl_push header (shortened).
fn format_tnl_header(h: &TnlHeader) -> String {
    use crate::packet::{EthernetFrame, Ipv4Packet};
    let b = h.header();
    let e = EthernetFrame::new_unchecked(b);
    let ip = Ipv4Packet::new_unchecked(&b[14..34]);
    let (src, dst) = (std::net::Ipv4Addr::from(ip.src()), std::net::Ipv4Addr::from(ip.dst()));
    let eth = format!("eth(dst={},src={},dl_type=0x0800)", fmt_mac(e.dst()), fmt_mac(e.src()));
    let ipv4 = format!("ipv4(src={src},dst={dst},proto={},tos={:#x},ttl={},frag=0x{:x})", ip.proto(), ip.tos(), ip.ttl(), ip.flags_frag());
    match h.proto {
        crate::port::TunnelProto::Vxlan => {
            let u = crate::packet::UdpPacket::new_unchecked(&b[34..42]);
            let v = crate::packet::vxlan::VxlanHeader::new_unchecked(&b[42..50]);
            format!("size={},type=4,{eth},{ipv4},udp(src=0,dst={},csum=0x0),vxlan(flags=0x8000000,vni={:#x})", h.len, u.dst_port(), v.vni())
        }
        crate::port::TunnelProto::Gre => {
            let g = crate::packet::gre::GreHeader::new_unchecked(&b[34..]);
            let key = g.key().map(|k| format!(",key={k:#x}")).unwrap_or_default();
            format!("size={},type=3,{eth},{ipv4},gre((flags={:#x},proto=0x6558){key})", h.len, g.flags())
        }
    }
}

/// Prints a datapath action list the way `ovs-appctl dpctl/dump-flows` does:
/// comma separated, `drop` when empty.
pub fn format_dp_actions(acts: &[DpAction]) -> String {
    if acts.is_empty() {
        return "drop".to_string();
    }
    acts.iter().map(|a| a.to_string()).collect::<Vec<_>>().join(",")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn netlink_size_groups_sets_like_ovs() {
        use DpAction::*;
        // output 8, push 8, pop 4, changed tag = pop + push 12.
        assert_eq!(ovs_netlink_size(&[Output(OdpPort(1)), PushVlan { tpid: 0x8100, tci: 5 }, PopVlan, SetVlanTci(7)]), 32);
        // One Ethernet address: masked set (4 + 4 + 2 * 12); both: plain set (4 + 4 + 12).
        assert_eq!(ovs_netlink_size(&[SetEthDst([0; 6])]), 32);
        assert_eq!(ovs_netlink_size(&[SetEthSrc([0; 6]), SetEthDst([0; 6])]), 20);
        // Two IPv4 rewrites in a row are one masked set of struct ovs_key_ipv4 (12 bytes).
        assert_eq!(ovs_netlink_size(&[SetIpv4Src(1), SetIpv4Ttl(3), Output(OdpPort(2))]), 32 + 8);
        // Separated by an output they are two.
        assert_eq!(ovs_netlink_size(&[SetIpv4Src(1), Output(OdpPort(2)), SetIpv4Ttl(3)]), 32 + 8 + 32);
        assert_eq!(ovs_netlink_size(&[SetTpSrc(1), SetTpDst(2)]), 12);
        assert_eq!(ovs_netlink_size(&[SetIpv6Hlimit(1)]), 88);
        assert_eq!(ovs_netlink_size(&[SetArpOp(2)]), 56);
        // The bound translation relies on to skip counting short lists.
        assert_eq!(ovs_netlink_size(&[SetIpv6Src(1)]), MAX_ACTION_NETLINK_BYTES);
    }
}
