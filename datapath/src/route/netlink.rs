//! The kernel's view of xvsd's network namespace, over rtnetlink (the
//! netlink-packet-route family of crates, used synchronously): links, IPv4 addresses
//! and routes for native tunneling, and the veth pairs behind internal ports.

use std::net::Ipv4Addr;

use anyhow::{anyhow, bail, Result};
use netlink_packet_core::{
    NetlinkHeader, NetlinkMessage, NetlinkPayload, NLM_F_ACK, NLM_F_CREATE, NLM_F_DUMP, NLM_F_EXCL, NLM_F_REQUEST,
};
use netlink_packet_route::address::{AddressAttribute, AddressMessage};
use netlink_packet_route::link::{InfoData, InfoKind, InfoVeth, LinkAttribute, LinkFlags, LinkInfo, LinkMessage, LinkXdp, XdpAttached};
use netlink_packet_route::route::{RouteAddress, RouteAttribute, RouteMessage, RouteType};
use netlink_packet_route::{AddressFamily, RouteNetlinkMessage};
use netlink_sys::{protocols::NETLINK_ROUTE, Socket, SocketAddr};

/// A network interface of the namespace.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Link {
    pub index: u32,
    pub name: String,
    pub mac: [u8; 6],
    pub mtu: u32,
    pub up: bool,
    /// An XDP program is attached (for our internal ports' peers: a live xvsd serves
    /// it; BPF links go away with the process that made them).
    pub xdp: bool,
}

/// An IPv4 address on an interface.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Addr {
    pub index: u32,
    pub ip: Ipv4Addr,
    pub plen: u8,
}

/// An IPv4 unicast route of the main table.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KRoute {
    pub dst: Ipv4Addr,
    pub plen: u8,
    pub gateway: Option<Ipv4Addr>,
    pub oif: u32,
    pub src: Option<Ipv4Addr>,
    pub priority: u32,
}

fn request(msg: RouteNetlinkMessage, flags: u16) -> Result<Vec<RouteNetlinkMessage>> {
    let mut sock = Socket::new(NETLINK_ROUTE).map_err(|e| anyhow!("netlink socket: {e}"))?;
    sock.bind_auto().map_err(|e| anyhow!("netlink bind: {e}"))?;
    sock.connect(&SocketAddr::new(0, 0)).map_err(|e| anyhow!("netlink connect: {e}"))?;
    let mut hdr = NetlinkHeader::default();
    hdr.flags = NLM_F_REQUEST | flags;
    hdr.sequence_number = 1;
    let mut m = NetlinkMessage::new(hdr, NetlinkPayload::from(msg));
    m.finalize();
    let mut buf = vec![0u8; m.buffer_len()];
    m.serialize(&mut buf);
    sock.send(&buf, 0).map_err(|e| anyhow!("netlink send: {e}"))?;
    let mut out = Vec::new();
    let mut rx = vec![0u8; 1 << 16];
    loop {
        let n = sock.recv(&mut &mut rx[..], 0).map_err(|e| anyhow!("netlink recv: {e}"))?;
        let mut off = 0;
        while off < n {
            let m = NetlinkMessage::<RouteNetlinkMessage>::deserialize(&rx[off..n]).map_err(|e| anyhow!("netlink decode: {e}"))?;
            let len = m.header.length as usize;
            match m.payload {
                NetlinkPayload::Done(_) => return Ok(out),
                NetlinkPayload::Error(e) => {
                    return match e.code {
                        None => Ok(out),
                        Some(c) => Err(anyhow!("{}", std::io::Error::from_raw_os_error(-c.get()))),
                    }
                }
                NetlinkPayload::InnerMessage(i) => out.push(i),
                _ => {}
            }
            if len == 0 {
                break;
            }
            off += (len + 3) & !3;
        }
        if flags & NLM_F_DUMP == 0 && flags & NLM_F_ACK == 0 {
            return Ok(out);
        }
    }
}

pub fn links() -> Result<Vec<Link>> {
    let msgs = request(RouteNetlinkMessage::GetLink(LinkMessage::default()), NLM_F_DUMP)?;
    Ok(msgs
        .into_iter()
        .filter_map(|m| match m {
            RouteNetlinkMessage::NewLink(l) => Some(link_of(&l)),
            _ => None,
        })
        .collect())
}

fn link_of(l: &LinkMessage) -> Link {
    let mut out = Link { index: l.header.index, name: String::new(), mac: [0; 6], mtu: 1500, up: l.header.flags.contains(LinkFlags::Up), xdp: false };
    for a in &l.attributes {
        match a {
            LinkAttribute::IfName(n) => out.name = n.clone(),
            LinkAttribute::Address(m) if m.len() == 6 => out.mac.copy_from_slice(m),
            LinkAttribute::Mtu(m) => out.mtu = *m,
            LinkAttribute::Xdp(x) => {
                out.xdp = x.iter().any(|a| matches!(a, LinkXdp::Attached(t) if *t != XdpAttached::None));
            }
            _ => {}
        }
    }
    out
}

pub fn addrs() -> Result<Vec<Addr>> {
    let mut q = AddressMessage::default();
    q.header.family = AddressFamily::Inet;
    let msgs = request(RouteNetlinkMessage::GetAddress(q), NLM_F_DUMP)?;
    let mut v = Vec::new();
    for m in msgs {
        if let RouteNetlinkMessage::NewAddress(a) = m {
            if a.header.family != AddressFamily::Inet {
                continue;
            }
            let ip = a.attributes.iter().find_map(|x| match x {
                AddressAttribute::Local(std::net::IpAddr::V4(ip)) => Some(*ip),
                _ => None,
            });
            let ip = ip.or_else(|| {
                a.attributes.iter().find_map(|x| match x {
                    AddressAttribute::Address(std::net::IpAddr::V4(ip)) => Some(*ip),
                    _ => None,
                })
            });
            if let Some(ip) = ip {
                v.push(Addr { index: a.header.index, ip, plen: a.header.prefix_len });
            }
        }
    }
    Ok(v)
}

pub fn routes() -> Result<Vec<KRoute>> {
    let mut q = RouteMessage::default();
    q.header.address_family = AddressFamily::Inet;
    let msgs = request(RouteNetlinkMessage::GetRoute(q), NLM_F_DUMP)?;
    let mut v = Vec::new();
    for m in msgs {
        let RouteNetlinkMessage::NewRoute(r) = m else { continue };
        if r.header.address_family != AddressFamily::Inet || r.header.kind != RouteType::Unicast {
            continue;
        }
        let mut table = r.header.table as u32;
        let mut kr = KRoute { dst: Ipv4Addr::UNSPECIFIED, plen: r.header.destination_prefix_length, gateway: None, oif: 0, src: None, priority: 0 };
        for a in &r.attributes {
            match a {
                RouteAttribute::Destination(RouteAddress::Inet(d)) => kr.dst = *d,
                RouteAttribute::Gateway(RouteAddress::Inet(g)) => kr.gateway = Some(*g),
                RouteAttribute::PrefSource(RouteAddress::Inet(s)) => kr.src = Some(*s),
                RouteAttribute::Oif(o) => kr.oif = *o,
                RouteAttribute::Priority(p) => kr.priority = *p,
                RouteAttribute::Table(t) => table = *t,
                _ => {}
            }
        }
        // The main table (254) only, as Open vSwitch's route cache reads it.
        if table == 254 && kr.oif != 0 {
            v.push(kr);
        }
    }
    Ok(v)
}

/// Create a veth pair `name` <-> `peer`, `name` with MAC `mac`; `peer` is brought up,
/// `name` is left down for its user to bring up (as Open vSwitch leaves a new
/// bridge's internal port).
pub fn create_veth(name: &str, peer: &str, mac: [u8; 6]) -> Result<()> {
    let mut p = LinkMessage::default();
    p.attributes.push(LinkAttribute::IfName(peer.to_string()));
    let mut m = LinkMessage::default();
    m.attributes.push(LinkAttribute::IfName(name.to_string()));
    m.attributes.push(LinkAttribute::Address(mac.to_vec()));
    m.attributes.push(LinkAttribute::LinkInfo(vec![LinkInfo::Kind(InfoKind::Veth), LinkInfo::Data(InfoData::Veth(InfoVeth::Peer(p)))]));
    request(RouteNetlinkMessage::NewLink(m), NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL)?;
    set_up(peer)?;
    Ok(())
}

fn index_of(name: &str) -> Result<u32> {
    let c = std::ffi::CString::new(name).map_err(|_| anyhow!("bad interface name"))?;
    let i = unsafe { libc::if_nametoindex(c.as_ptr()) };
    if i == 0 {
        bail!("no interface named {name}");
    }
    Ok(i)
}

pub fn set_up(name: &str) -> Result<()> {
    let mut m = LinkMessage::default();
    m.header.index = index_of(name)?;
    m.header.flags = LinkFlags::Up;
    m.header.change_mask = LinkFlags::Up;
    request(RouteNetlinkMessage::SetLink(m), NLM_F_ACK)?;
    Ok(())
}

pub fn delete_link(name: &str) -> Result<()> {
    let mut m = LinkMessage::default();
    m.header.index = index_of(name)?;
    request(RouteNetlinkMessage::DelLink(m), NLM_F_ACK)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_loopback() {
        // Every namespace has lo with 127.0.0.1 (when it is up): the dump path works.
        let l = links().unwrap();
        let lo = l.iter().find(|x| x.name == "lo").expect("lo");
        let a = addrs().unwrap();
        if lo.up {
            assert!(a.iter().any(|x| x.index == lo.index && x.ip == Ipv4Addr::LOCALHOST));
        }
        routes().unwrap();
    }
}
