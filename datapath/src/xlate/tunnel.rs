//! Native tunneling in translation, the way Open vSwitch's userspace datapath does it
//! (`native_tunnel_output`, `terminate_native_tunnel`, `tnl_port_receive`):
//!
//! - Output to a vxlan/gre port: find the route to the remote endpoint (its device
//!   must be an internal port of some bridge: the underlay bridge, br-phy), the next
//!   hop's MAC in the neighbour table, build the whole outer header once, emit
//!   `tnl_push`, and go on translating the now-encapsulated packet through the
//!   underlay bridge as if it came from that internal port (typically NORMAL -> the
//!   uplink). Fields of the outer header are not packet fields: they add nothing to
//!   the megaflow mask. A missing neighbour drops the packet (counted as
//!   `tnl_neigh_miss`) and asks for an ARP request.
//! - Output to an internal port of a packet addressed to one of its IPs on a tunnel's
//!   UDP port (or GRE): emit `tnl_pop` instead; the inner packet comes back through
//!   the caches from the tunnel vport. ARP packets there are snooped into the
//!   neighbour table, and still delivered.
//! - A packet from a tunnel vport enters the bridge of the tunnel port whose key,
//!   remote and local IP match its tunnel metadata.

use std::net::Ipv4Addr;
use std::sync::Arc;

use super::{Ctx, XlateError};
use crate::flow::field::Field;
use crate::flow::key::{mac_to_u64, word, FlowKey};
use crate::odp::{DpAction, TnlPush};
use crate::ofproto::pipeline::{Pipeline, PortSnap};
use crate::packet::tunnel::{TnlHeader, TnlParams};
use crate::port::{FromFlow, Tos, TunnelConfig, TunnelProto};

const ETH_TYPE_IP: u128 = 0x0800;
const ETH_TYPE_ARP: u128 = 0x0806;

/// An ARP request xvs should send (the neighbour table had no entry).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NeighMiss {
    /// Underlay bridge and the internal port the request leaves from.
    pub bridge: usize,
    pub ofport: u32,
    pub src_mac: [u8; 6],
    pub src_ip: Ipv4Addr,
    pub dst_ip: Ipv4Addr,
}

/// The tunnel port a decapsulated packet belongs to, from its tunnel metadata, as
/// Open vSwitch matches them: a port with a fixed key and a fixed remote first, then
/// key=flow, then remote_ip=flow. Returns (bridge, ofport).
pub fn receive_port(p: &Pipeline, key: &FlowKey) -> Option<(usize, u32)> {
    let vport = crate::port::OdpPort(key.in_port());
    let tun_id = Field::TunId.get(key) as u64;
    let src = Ipv4Addr::from(Field::TunSrc.get(key) as u32);
    let dst = Ipv4Addr::from(Field::TunDst.get(key) as u32);
    let mut best: Option<(u8, usize, u32)> = None;
    for t in p.tnl_ports.iter().filter(|t| t.vport == vport) {
        let c = &t.cfg;
        let mut score = 0u8;
        match c.in_key {
            FromFlow::Fixed(k) if k != tun_id => continue,
            FromFlow::Fixed(_) => score += 2,
            FromFlow::Flow => {}
        }
        match c.remote_ip {
            FromFlow::Fixed(ip) if ip != src => continue,
            FromFlow::Fixed(_) => score += 4,
            FromFlow::Flow => {}
        }
        match c.local_ip {
            Some(FromFlow::Fixed(ip)) if ip != dst => continue,
            Some(FromFlow::Fixed(_)) => score += 1,
            _ => {}
        }
        if best.is_none_or(|b| score > b.0) {
            best = Some((score, t.bridge, t.ofport));
        }
    }
    best.map(|b| (b.1, b.2))
}

impl Ctx<'_> {
    /// Output to tunnel port `port` (configuration `cfg`).
    pub(super) fn tunnel_output(&mut self, port: &PortSnap, cfg: &Arc<TunnelConfig>) {
        let name = port.name.clone();
        // Where to: a fixed remote, or the flow's tun_dst.
        let remote = match cfg.remote_ip {
            FromFlow::Fixed(ip) => ip,
            FromFlow::Flow => {
                self.wc.w[word::TUN_ADDRS] |= 0xffff_ffff;
                let d = Ipv4Addr::from(Field::TunDst.get(&self.flow) as u32);
                if d.is_unspecified() {
                    self.trace(|| format!("output to tunnel {name}: remote_ip=flow but tun_dst is 0, skipped"));
                    self.drop_hint(XlateError::TnlNoRoute);
                    return;
                }
                d
            }
        };
        let key = match cfg.out_key {
            FromFlow::Fixed(k) => k,
            FromFlow::Flow => {
                self.wc.w[word::TUN_ID] = u64::MAX;
                Field::TunId.get(&self.flow) as u64
            }
        };
        let routes = self.p.net.routes.load();
        // Route changes publish a new snapshot (every megaflow is revalidated); the
        // next hop's neighbour entry is a dependency of its own.
        let Some(hop) = routes.lookup(remote) else {
            self.trace(|| format!("output to tunnel {name}: no route to {remote}: drop"));
            self.drop_hint(XlateError::TnlNoRoute);
            return;
        };
        // The route's device must be an internal port of one of our bridges.
        let Some((ub, uport)) = self.p.bridges.iter().flatten().find_map(|b| {
            b.ports.values().find(|pp| pp.internal && *pp.name == *hop.dev).map(|pp| (b.clone(), pp.clone()))
        }) else {
            self.trace(|| format!("output to tunnel {name}: route to {remote} leaves through {}, which is not an xvs internal port: drop", hop.dev));
            self.drop_hint(XlateError::TnlNoRoute);
            return;
        };
        let src_ip = match cfg.local_ip {
            Some(FromFlow::Fixed(ip)) => ip,
            Some(FromFlow::Flow) => {
                self.wc.w[word::TUN_ADDRS] |= 0xffff_ffff << 32;
                let s = Ipv4Addr::from(Field::TunSrc.get(&self.flow) as u32);
                if s.is_unspecified() {
                    hop.src
                } else {
                    s
                }
            }
            None => hop.src,
        };
        let src_mac = uport.mac.unwrap_or([0; 6]);
        self.out.deps.insert(crate::cache::tags::Tag::neigh(std::net::IpAddr::V4(hop.next_hop)));
        let Some(dst_mac) = self.p.net.neigh.lookup(hop.next_hop) else {
            self.trace(|| format!("output to tunnel {name}: no neighbour entry for {} on {}: drop, ARP request sent", hop.next_hop, ub.name));
            self.out.neigh_misses.push(NeighMiss { bridge: ub.idx, ofport: uport.ofport, src_mac, src_ip, dst_ip: hop.next_hop });
            self.drop_hint(XlateError::TnlNeighMiss);
            return;
        };
        if !self.out.neighs.contains(&hop.next_hop) {
            self.out.neighs.push(hop.next_hop);
        }
        let is_ip = super::prereqs_ok(crate::flow::field::Prereq::Ip, &self.flow, &mut self.wc);
        let mut tos = match cfg.tos {
            Tos::Fixed(t) => t,
            Tos::Inherit => {
                if is_ip {
                    self.unwildcard(Field::IpDscp);
                    Field::NwTos.get(&self.flow) as u8 & 0xfc
                } else {
                    0
                }
            }
        };
        // As Open vSwitch's tnl_port_send: the ECN bits are always inherited from an
        // IP inner packet, CE (congestion experienced) becoming ECT(0).
        if is_ip {
            self.unwildcard(Field::NwEcn);
            let ecn = Field::NwEcn.get(&self.flow) as u8 & 3;
            tos |= if ecn == 3 { 2 } else { ecn };
        }
        let params = TnlParams {
            proto: cfg.proto,
            eth_dst: dst_mac,
            eth_src: src_mac,
            ip_src: src_ip,
            ip_dst: remote,
            tos,
            ttl: cfg.ttl,
            df: cfg.df_default,
            key,
            with_key: cfg.proto == TunnelProto::Vxlan || cfg.out_key != FromFlow::Fixed(0),
            udp_dst: cfg.dst_port,
            csum: cfg.csum,
        };
        let header = TnlHeader::build(&params);
        // The inner frame (Ethernet included) may be as large as the underlay MTU
        // minus the outer IPv4 and tunnel headers.
        let max_inner = (hop.mtu as usize + 14).saturating_sub(header.overhead()).min(u16::MAX as usize) as u16;
        // Bring the inner packet up to date, then encapsulate it (in a clone: the
        // actions after this one still see the inner packet; a clone at the very end
        // is flattened away).
        self.commit();
        let mark = self.out.actions.len();
        self.out.actions.push(DpAction::TnlPush(Arc::new(TnlPush { header: header.clone(), max_inner, vport: port.dp_port.unwrap_or_default() })));
        self.trace(|| {
            format!("output to tunnel {name}: {} key {key:#x} {src_ip} -> {remote} via {} (next hop {}, {}), continuing in bridge {}", cfg.proto.name(), hop.dev, hop.next_hop, crate::flow::key::fmt_mac(dst_mac), ub.name)
        });
        // Continue in the underlay bridge with the outer packet, entering from the
        // internal port. Its header fields come from translation, not from the
        // packet: a scratch mask keeps them out of the megaflow.
        let outer = outer_flow(&params, uport.ofport);
        let saved = (self.flow, self.base, self.wc, self.tpids, self.table);
        let saved_bridge = std::mem::replace(&mut self.bridge, ub);
        let saved_error = (self.out.error, self.out.error_detail.clone());
        self.flow = outer;
        self.base = outer;
        self.base.set_in_port(self.flow.in_port());
        self.tpids = [0x8100; 2];
        self.indent += 1;
        self.trace_bridge();
        self.xlate_table(0, None, false);
        self.indent -= 1;
        self.bridge = saved_bridge;
        let inner_wc = saved.2;
        (self.flow, self.base, _, self.tpids, self.table) = saved;
        // Only the underlay's own dependencies on the inner packet count (none: its
        // flows saw only the outer header), plus in_port.
        self.wc = inner_wc;
        (self.out.error, self.out.error_detail) = saved_error;
        self.stop = false;
        let nested: Vec<DpAction> = self.out.actions.drain(mark..).collect();
        self.out.actions.push(DpAction::Clone(Arc::from(nested)));
    }

    /// Output to an internal port: a packet for one of its tunnel endpoints becomes a
    /// tunnel pop (returns true: nothing else to do). ARP is snooped on the way.
    pub(super) fn terminate_tunnel(&mut self, port: &PortSnap) -> bool {
        if self.p.vports.is_empty() {
            return false;
        }
        let Some(mac) = port.mac else { return false };
        let routes = self.p.net.routes.load();
        let mut ips = routes.addrs_of(&port.name).peekable();
        if ips.peek().is_none() {
            return false;
        }
        self.unwildcard(Field::EthType);
        let dl_type = Field::EthType.get(&self.flow);
        if dl_type == ETH_TYPE_ARP {
            self.snoop_arp(&port.name);
            return false;
        }
        if dl_type != ETH_TYPE_IP {
            return false;
        }
        self.unwildcard(Field::EthDst);
        if self.flow.dl_dst() != mac {
            return false;
        }
        self.unwildcard(Field::Ipv4Dst);
        let dst = Ipv4Addr::from(Field::Ipv4Dst.get(&self.flow) as u32);
        let routes_addrs: Vec<Ipv4Addr> = routes.addrs_of(&port.name).collect();
        if !routes_addrs.contains(&dst) {
            return false;
        }
        self.unwildcard(Field::IpProto);
        self.unwildcard(Field::IpFrag);
        if Field::IpFrag.get(&self.flow) != 0 {
            return false;
        }
        let proto = Field::IpProto.get(&self.flow) as u8;
        let vport = match proto {
            17 => {
                self.unwildcard(Field::TpDst);
                let dport = Field::TpDst.get(&self.flow) as u16;
                self.p.vports.iter().find(|(_, v)| v.proto == TunnelProto::Vxlan && v.dst_port == dport).map(|(d, _)| *d)
            }
            47 => self.p.vports.iter().find(|(_, v)| v.proto == TunnelProto::Gre).map(|(d, _)| *d),
            _ => None,
        };
        let Some(vport) = vport else { return false };
        // Traffic from a tunnel peer refreshes its neighbour entry (as Open vSwitch
        // does since 2021): the outer source MAC is the peer's, or its router's.
        if self.may_learn {
            self.unwildcard(Field::EthSrc);
            self.unwildcard(Field::Ipv4Src);
            let src = Ipv4Addr::from(Field::Ipv4Src.get(&self.flow) as u32);
            self.p.net.neigh.set(&self.bridge.name, src, self.flow.dl_src());
        }
        self.commit();
        self.out.actions.push(DpAction::TnlPop(vport));
        self.trace(|| format!("output to {}: a tunnel packet for {dst}: tnl_pop({vport}), the inner packet goes through again", port.name));
        true
    }

    /// ARP requests and replies reaching an internal port teach the neighbour table
    /// the sender's MAC (every ARP packet gets its own megaflow, so each new sender is
    /// seen here).
    fn snoop_arp(&mut self, bridge_port: &str) {
        for f in [Field::ArpOp, Field::ArpSpa, Field::ArpSha] {
            self.unwildcard(f);
        }
        let op = Field::ArpOp.get(&self.flow);
        if op != 1 && op != 2 {
            return;
        }
        let spa = Ipv4Addr::from(Field::ArpSpa.get(&self.flow) as u32);
        let sha = crate::flow::key::mac_from_u64(Field::ArpSha.get(&self.flow) as u64);
        if self.may_learn && self.p.net.neigh.set(&self.bridge.name, spa, sha) {
            self.trace(|| format!("ARP on {bridge_port}: learned that {spa} is at {}", crate::flow::key::fmt_mac(sha)));
        }
    }

    /// Remember why the packet may end up going nowhere (used if nothing is output).
    pub(super) fn drop_hint(&mut self, e: XlateError) {
        if self.out.drop_hint.is_none() {
            self.out.drop_hint = Some(e);
        }
    }
}

/// The flow of an encapsulated packet as the underlay bridge sees it.
fn outer_flow(p: &TnlParams, in_ofport: u32) -> FlowKey {
    let mut k = FlowKey::ZERO;
    k.set_in_port(in_ofport);
    k.w[word::DL_DST_TCI] = mac_to_u64(p.eth_dst) << 16;
    k.w[word::DL_SRC_TYPE] = (mac_to_u64(p.eth_src) << 16) | ETH_TYPE_IP as u64;
    k.w[word::NW_ADDRS] = ((u32::from(p.ip_src) as u64) << 32) | u32::from(p.ip_dst) as u64;
    let proto: u64 = match p.proto {
        TunnelProto::Vxlan => 17,
        TunnelProto::Gre => 47,
    };
    let tp_dst = if p.proto == TunnelProto::Vxlan { p.udp_dst as u64 } else { 0 };
    k.w[word::NW_L4] = proto << 56 | (p.tos as u64) << 48 | (p.ttl as u64) << 40 | tp_dst;
    k
}
