//! Datapath actions: what a cached megaflow does to a packet.
//!
//! Translation (`xlate`) turns a walk through the OpenFlow tables of every bridge a
//! packet crosses into a short list of these. They refer to datapath ports (global
//! across bridges), never to OpenFlow port numbers, and they are the only thing the
//! fast path executes.

use std::fmt;

use crate::flow::key::fmt_mac;

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum DpAction {
    /// Send out of a datapath port.
    Output(u32),
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
    SetTpSrc(u16),
    SetTpDst(u16),
    SetArpOp(u16),
    SetArpSha([u8; 6]),
    SetArpSpa(u32),
    SetArpTha([u8; 6]),
    SetArpTpa(u32),
}

impl DpAction {
    pub fn is_output(&self) -> bool {
        matches!(self, DpAction::Output(_))
    }
}

fn ip4(v: u32) -> std::net::Ipv4Addr {
    std::net::Ipv4Addr::from(v)
}

impl fmt::Display for DpAction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DpAction::Output(p) => write!(f, "{p}"),
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
            DpAction::SetTpSrc(p) => write!(f, "set(l4(src={p}))"),
            DpAction::SetTpDst(p) => write!(f, "set(l4(dst={p}))"),
            DpAction::SetArpOp(o) => write!(f, "set(arp(op={o}))"),
            DpAction::SetArpSha(m) => write!(f, "set(arp(sha={}))", fmt_mac(*m)),
            DpAction::SetArpSpa(a) => write!(f, "set(arp(sip={}))", ip4(*a)),
            DpAction::SetArpTha(m) => write!(f, "set(arp(tha={}))", fmt_mac(*m)),
            DpAction::SetArpTpa(a) => write!(f, "set(arp(tip={}))", ip4(*a)),
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
