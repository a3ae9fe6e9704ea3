//! Executing datapath actions on a frame: header rewrites and tunnel encapsulation.
//! (Outputs, copies and tunnel pops, which move frames between rings and passes, are
//! handled by the worker, which owns the tx batches; see `pmd::worker`.)

use std::net::{Ipv4Addr, Ipv6Addr};

use crate::odp::DpAction;
use crate::packet::buf::PacketMut;
use crate::packet::extract::Offsets;
use crate::packet::rewrite::{self as rw, RewriteError};

/// Apply one rewrite action. `ofs` follows the headers when a tag is pushed or
/// popped. Outputs are not rewrites and are ignored here.
#[inline]
pub fn apply(pkt: &mut PacketMut, ofs: &mut Offsets, a: &DpAction) -> Result<(), RewriteError> {
    let o = *ofs;
    match a {
        DpAction::Output(_) | DpAction::Tap { .. } | DpAction::TnlPop(_) | DpAction::Clone(_) => Ok(()),
        DpAction::TnlPush(p) => push_tunnel(pkt, ofs, p),
        DpAction::SetEthSrc(m) => rw::set_eth_src(pkt, *m),
        DpAction::SetEthDst(m) => rw::set_eth_dst(pkt, *m),
        DpAction::PushVlan { tpid, tci } => rw::push_vlan(pkt, ofs, *tpid, *tci),
        DpAction::PopVlan => rw::pop_vlan(pkt, ofs),
        DpAction::SetVlanTci(t) => rw::set_vlan_tci(pkt, *t),
        DpAction::SetIpv4Src(a) => rw::set_ipv4_src(pkt, o, Ipv4Addr::from(*a)),
        DpAction::SetIpv4Dst(a) => rw::set_ipv4_dst(pkt, o, Ipv4Addr::from(*a)),
        DpAction::SetIpv4Tos(t) => rw::set_ipv4_tos(pkt, o, *t),
        DpAction::SetIpv4Ttl(t) => rw::set_ipv4_ttl(pkt, o, *t),
        DpAction::SetIpv6Src(a) => rw::set_ipv6_src(pkt, o, Ipv6Addr::from(*a)),
        DpAction::SetIpv6Dst(a) => rw::set_ipv6_dst(pkt, o, Ipv6Addr::from(*a)),
        DpAction::SetIpv6Tclass(t) => rw::set_ipv6_tclass(pkt, o, *t),
        DpAction::SetIpv6Hlimit(h) => rw::set_ipv6_hop_limit(pkt, o, *h),
        DpAction::SetTpSrc(p) => rw::set_tp_src(pkt, o, *p),
        DpAction::SetTpDst(p) => rw::set_tp_dst(pkt, o, *p),
        DpAction::SetArpOp(op) => rw::set_arp_op(pkt, o, *op),
        DpAction::SetArpSha(m) => rw::set_arp_sha(pkt, o, *m),
        DpAction::SetArpSpa(a) => rw::set_arp_spa(pkt, o, Ipv4Addr::from(*a)),
        DpAction::SetArpTha(m) => rw::set_arp_tha(pkt, o, *m),
        DpAction::SetArpTpa(a) => rw::set_arp_tpa(pkt, o, Ipv4Addr::from(*a)),
    }
}

/// Encapsulate: check the inner frame fits the underlay, pick the UDP source port
/// from the inner flow, prepend the outer header. Afterwards the offsets describe the
/// outer IPv4 and UDP/GRE headers (the underlay bridge's rewrites act on those).
#[inline]
fn push_tunnel(pkt: &mut PacketMut, ofs: &mut Offsets, p: &crate::odp::TnlPush) -> Result<(), RewriteError> {
    if pkt.len() > p.max_inner as usize {
        return Err(RewriteError::TooBig);
    }
    let port = crate::packet::tunnel::udp_src_port(flow_hash(pkt.data(), *ofs));
    p.header.push(pkt, port).map_err(|_| RewriteError::NoRoom)?;
    *ofs = Offsets { l3: 14, l4: 34 };
    Ok(())
}

/// A hash of the inner flow for the VXLAN source port: the IP addresses and the first
/// four bytes of the transport header (the ports) when there are any, else the MACs.
#[inline]
fn flow_hash(d: &[u8], o: Offsets) -> u32 {
    let mut h: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut mix = |b: &[u8]| {
        for c in b.chunks(8) {
            let mut w = [0u8; 8];
            w[..c.len()].copy_from_slice(c);
            h = (h ^ u64::from_le_bytes(w)).wrapping_mul(0xff51_afd7_ed55_8ccd).rotate_left(29);
        }
    };
    let (l3, l4) = (o.l3 as usize, o.l4 as usize);
    if l4 != 0 && l4 + 4 <= d.len() && l4 >= l3 + 8 {
        mix(&d[l4 - 8.min(l4 - l3)..l4]);
        mix(&d[l4..l4 + 4]);
    } else {
        mix(&d[..12.min(d.len())]);
    }
    (h ^ (h >> 32)) as u32
}

/// What executing datapath actions on a frame produced (see [`run_frame`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Sent {
    /// Output to a datapath port: the bytes as they leave.
    Output(crate::port::OdpPort, Vec<u8>),
    /// A tunnel pop: the (still encapsulated) frame handed to the next pass from vport
    /// `.0`.
    Pop(crate::port::OdpPort, Vec<u8>),
}

/// Room in front of a frame for encapsulations, as every UMEM frame has.
const HEADROOM: usize = 256;

/// Execute `actions` on a copy of `frame` held in a plain buffer with the datapath's
/// headroom, as the worker does on UMEM frames: rewrites and encapsulations in place,
/// clones on a copy; outputs and tunnel pops are collected in order. For the trace
/// tool and tests (the worker's own loop moves descriptors instead of bytes).
pub fn run_frame(frame: &[u8], actions: &[DpAction], out: &mut Vec<Sent>) -> Result<(), RewriteError> {
    let mut key = crate::flow::FlowKey::ZERO;
    let ofs = crate::packet::extract(frame, 0, &mut key).unwrap_or_default();
    let mut buf = vec![0u8; HEADROOM + frame.len().max(4096 - HEADROOM)];
    buf[HEADROOM..HEADROOM + frame.len()].copy_from_slice(frame);
    let mut pkt = PacketMut::with_headroom(&mut buf, HEADROOM, frame.len()).ok_or(RewriteError::Truncated)?;
    let mut ofs = ofs;
    for a in actions {
        match a {
            DpAction::Output(p) => out.push(Sent::Output(*p, pkt.data().to_vec())),
            DpAction::TnlPop(v) => out.push(Sent::Pop(*v, pkt.data().to_vec())),
            DpAction::Clone(inner) => run_frame(pkt.data(), inner, out)?,
            DpAction::Tap { .. } => {}
            _ => apply(&mut pkt, &mut ofs, a)?,
        }
    }
    Ok(())
}
