//! The underlay for native tunneling, as Open vSwitch's userspace datapath keeps it:
//! routes and addresses read from the kernel routing table of xvsd's network
//! namespace (so `ip addr add 10.0.0.1/24 dev br-phy` on a bridge's LOCAL port is all
//! an operator configures), and a neighbour table (next-hop IP -> MAC) filled by
//! snooping ARP on the bridges that carry those addresses and by ARP requests xvs
//! sends itself.
//!
//! Only the slow path (translation) and the control thread read and write these, so a
//! mutex and an atomically swapped snapshot are enough; the fast path never looks
//! here (the encapsulation header a megaflow pushes is built at translation time).

pub mod arp;
pub mod netlink;

use std::collections::HashMap;
use std::net::Ipv4Addr;
use std::sync::Arc;

use arc_swap::ArcSwap;
use parking_lot::Mutex;

use crate::clock;

/// Neighbour entries unused this long are forgotten (Open vSwitch's default).
pub const NEIGH_IDLE_NS: u64 = 15 * 60 * 1_000_000_000;
/// At most one ARP request per destination in this interval.
pub const ARP_RETRANS_NS: u64 = 1_000_000_000;

/// A route as translation uses it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Route {
    pub dst: Ipv4Addr,
    pub plen: u8,
    pub gateway: Option<Ipv4Addr>,
    /// Output interface (the name of an internal port for tunnels to work).
    pub dev: String,
    /// Preferred source address (or the first address of `dev`).
    pub src: Option<Ipv4Addr>,
    pub priority: u32,
}

/// Result of a route lookup.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Hop {
    pub dev: String,
    /// Where the frame goes at layer 2: the gateway, or the destination itself.
    pub next_hop: Ipv4Addr,
    pub src: Ipv4Addr,
    pub mtu: u32,
}

/// Routes, addresses and interfaces of the namespace at one moment.
#[derive(Clone, Debug, Default)]
pub struct RouteTable {
    pub routes: Vec<Route>,
    /// (interface name, address, prefix length)
    pub addrs: Vec<(String, Ipv4Addr, u8)>,
    /// interface name -> (MAC, MTU)
    pub links: HashMap<String, ([u8; 6], u32)>,
}

fn prefix_mask(plen: u8) -> u32 {
    if plen == 0 {
        0
    } else {
        u32::MAX << (32 - plen.min(32))
    }
}

impl RouteTable {
    /// Read the kernel's tables (links, IPv4 addresses, main-table routes).
    pub fn from_kernel() -> anyhow::Result<RouteTable> {
        let links = netlink::links()?;
        let name_of = |i: u32| links.iter().find(|l| l.index == i).map(|l| l.name.clone());
        let addrs = netlink::addrs()?.into_iter().filter_map(|a| Some((name_of(a.index)?, a.ip, a.plen))).collect();
        let routes = netlink::routes()?
            .into_iter()
            .filter_map(|r| Some(Route { dst: r.dst, plen: r.plen, gateway: r.gateway, dev: name_of(r.oif)?, src: r.src, priority: r.priority }))
            .collect();
        let links = links.into_iter().map(|l| (l.name, (l.mac, l.mtu))).collect();
        Ok(RouteTable { routes, addrs, links })
    }

    /// Longest-prefix match, then the lowest priority (metric).
    pub fn lookup(&self, dst: Ipv4Addr) -> Option<Hop> {
        let d = u32::from(dst);
        let r = self
            .routes
            .iter()
            .filter(|r| d & prefix_mask(r.plen) == u32::from(r.dst) & prefix_mask(r.plen))
            .max_by(|a, b| a.plen.cmp(&b.plen).then(b.priority.cmp(&a.priority)))?;
        let src = r.src.or_else(|| self.addrs.iter().find(|(n, _, _)| *n == r.dev).map(|(_, a, _)| *a))?;
        let mtu = self.links.get(&r.dev).map(|l| l.1).unwrap_or(1500);
        Some(Hop { dev: r.dev.clone(), next_hop: r.gateway.unwrap_or(dst), src, mtu })
    }

    /// The addresses configured on interface `dev`.
    pub fn addrs_of<'a>(&'a self, dev: &'a str) -> impl Iterator<Item = Ipv4Addr> + 'a {
        self.addrs.iter().filter(move |(n, _, _)| n == dev).map(|(_, a, _)| *a)
    }

    pub fn is_local(&self, ip: Ipv4Addr) -> bool {
        self.addrs.iter().any(|(_, a, _)| *a == ip)
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NeighEntry {
    pub mac: [u8; 6],
    pub used_ns: u64,
    /// Set by an operator (`tnl-neigh-set`): never ages.
    pub fixed: bool,
}

/// Next-hop IP -> MAC, learned per bridge (the one whose LOCAL port holds the route).
#[derive(Debug, Default)]
pub struct NeighTable {
    entries: Mutex<HashMap<Ipv4Addr, (String, NeighEntry)>>,
    /// Last ARP request sent per destination (rate limit).
    asked: Mutex<HashMap<Ipv4Addr, u64>>,
    /// Told when an entry appears, changes or goes: only the megaflows that
    /// encapsulated towards that next hop (or dropped for want of it) are revalidated
    /// (targeted revalidation, `cache::tags`).
    changes: Option<Arc<crate::cache::tags::ChangeLog>>,
}

impl NeighTable {
    pub fn lookup(&self, ip: Ipv4Addr) -> Option<[u8; 6]> {
        let now = clock::now_ns();
        let t = self.entries.lock();
        t.get(&ip).filter(|(_, e)| e.fixed || now.saturating_sub(e.used_ns) < NEIGH_IDLE_NS).map(|(_, e)| e.mac)
    }

    /// Learn or refresh; returns true if the table changed (new entry or new MAC).
    pub fn set(&self, bridge: &str, ip: Ipv4Addr, mac: [u8; 6]) -> bool {
        if ip.is_unspecified() || ip.is_broadcast() || ip.is_multicast() || mac[0] & 1 != 0 || mac == [0; 6] {
            return false;
        }
        let now = clock::now_ns();
        let mut t = self.entries.lock();
        match t.get_mut(&ip) {
            Some((_, e)) if e.fixed => false,
            Some((b, e)) if e.mac == mac => {
                e.used_ns = now;
                *b = bridge.to_string();
                false
            }
            _ => {
                t.insert(ip, (bridge.to_string(), NeighEntry { mac, used_ns: now, fixed: false }));
                self.asked.lock().remove(&ip);
                self.changed(&[ip]);
                true
            }
        }
    }

    fn changed(&self, ips: &[Ipv4Addr]) {
        if let Some(c) = &self.changes {
            let tags: Vec<_> = ips.iter().map(|ip| crate::cache::tags::Tag::neigh(std::net::IpAddr::V4(*ip))).collect();
            c.push(&tags);
        }
    }

    pub fn set_fixed(&self, bridge: &str, ip: Ipv4Addr, mac: [u8; 6]) {
        self.entries.lock().insert(ip, (bridge.to_string(), NeighEntry { mac, used_ns: clock::now_ns(), fixed: true }));
        self.changed(&[ip]);
    }

    /// Keep an entry alive (traffic through a cached megaflow that used it).
    pub fn refresh(&self, ip: Ipv4Addr) {
        if let Some((_, e)) = self.entries.lock().get_mut(&ip) {
            e.used_ns = clock::now_ns();
        }
    }

    /// May an ARP request for `ip` go out now? (At most one per second each.)
    pub fn may_ask(&self, ip: Ipv4Addr) -> bool {
        let now = clock::now_ns();
        let mut a = self.asked.lock();
        match a.get(&ip) {
            Some(t) if now.saturating_sub(*t) < ARP_RETRANS_NS => false,
            _ => {
                a.insert(ip, now);
                true
            }
        }
    }

    /// Forget aged entries; returns the addresses removed.
    pub fn expire(&self) -> Vec<Ipv4Addr> {
        let now = clock::now_ns();
        let mut t = self.entries.lock();
        let gone: Vec<Ipv4Addr> = t.iter().filter(|(_, (_, e))| !e.fixed && now.saturating_sub(e.used_ns) >= NEIGH_IDLE_NS).map(|(ip, _)| *ip).collect();
        for ip in &gone {
            t.remove(ip);
        }
        if !gone.is_empty() {
            self.changed(&gone);
        }
        gone
    }

    /// Forget everything (`tnl-neigh-flush`); returns the addresses removed.
    pub fn flush(&self) -> Vec<Ipv4Addr> {
        let mut t = self.entries.lock();
        let gone: Vec<Ipv4Addr> = t.keys().copied().collect();
        t.clear();
        self.changed(&gone);
        gone
    }

    /// (ip, mac, bridge, age seconds, fixed), sorted by address.
    pub fn dump(&self) -> Vec<(Ipv4Addr, [u8; 6], String, u64, bool)> {
        let now = clock::now_ns();
        let mut v: Vec<_> = self.entries.lock().iter().map(|(ip, (b, e))| (*ip, e.mac, b.clone(), now.saturating_sub(e.used_ns) / 1_000_000_000, e.fixed)).collect();
        v.sort();
        v
    }
}

/// Everything native tunneling consults, shared by every pipeline snapshot.
#[derive(Debug, Default)]
pub struct NetState {
    pub routes: ArcSwap<RouteTable>,
    pub neigh: NeighTable,
}

impl NetState {
    /// A NetState whose neighbour changes go to `changes` (targeted revalidation).
    pub fn new(changes: Arc<crate::cache::tags::ChangeLog>) -> NetState {
        NetState { routes: ArcSwap::default(), neigh: NeighTable { changes: Some(changes), ..Default::default() } }
    }

    /// Re-read the kernel's routes; returns true if they changed.
    pub fn refresh_routes(&self) -> anyhow::Result<bool> {
        let t = RouteTable::from_kernel()?;
        let old = self.routes.load();
        let changed = old.routes != t.routes || old.addrs != t.addrs || old.links != t.links;
        if changed {
            self.routes.store(Arc::new(t));
        }
        Ok(changed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table() -> RouteTable {
        let r = |d: &str, plen, gw: Option<&str>, dev: &str| Route { dst: d.parse().unwrap(), plen, gateway: gw.map(|g| g.parse().unwrap()), dev: dev.into(), src: None, priority: 0 };
        RouteTable {
            routes: vec![r("10.0.0.0", 24, None, "br-phy"), r("0.0.0.0", 0, Some("10.0.0.254"), "br-phy"), r("192.168.7.0", 24, None, "br-ex")],
            addrs: vec![("br-phy".into(), "10.0.0.1".parse().unwrap(), 24), ("br-ex".into(), "192.168.7.1".parse().unwrap(), 24)],
            links: [("br-phy".to_string(), ([2, 0, 0, 0, 0, 1], 1500))].into_iter().collect(),
        }
    }

    #[test]
    fn longest_prefix_wins_and_gateways_are_next_hops() {
        let t = table();
        let h = t.lookup("10.0.0.2".parse().unwrap()).unwrap();
        assert_eq!((h.dev.as_str(), h.next_hop, h.src, h.mtu), ("br-phy", "10.0.0.2".parse().unwrap(), "10.0.0.1".parse().unwrap(), 1500));
        let h = t.lookup("8.8.8.8".parse().unwrap()).unwrap();
        assert_eq!(h.next_hop, "10.0.0.254".parse::<Ipv4Addr>().unwrap());
        let h = t.lookup("192.168.7.9".parse().unwrap()).unwrap();
        assert_eq!(h.dev, "br-ex");
        assert!(t.is_local("10.0.0.1".parse().unwrap()));
        assert!(RouteTable::default().lookup("10.0.0.2".parse().unwrap()).is_none());
    }

    #[test]
    fn neighbours_learn_refresh_and_rate_limit() {
        let n = NeighTable::default();
        let ip: Ipv4Addr = "10.0.0.2".parse().unwrap();
        assert!(n.lookup(ip).is_none());
        assert!(n.may_ask(ip));
        assert!(!n.may_ask(ip), "a second request within a second is held back");
        assert!(n.set("br-phy", ip, [2, 0, 0, 0, 0, 2]));
        assert!(!n.set("br-phy", ip, [2, 0, 0, 0, 0, 2]), "same MAC: no change");
        assert!(n.set("br-phy", ip, [2, 0, 0, 0, 0, 3]), "moved");
        assert_eq!(n.lookup(ip), Some([2, 0, 0, 0, 0, 3]));
        assert!(!n.set("br-phy", "255.255.255.255".parse().unwrap(), [2, 0, 0, 0, 0, 3]));
        assert!(!n.set("br-phy", "10.0.0.9".parse().unwrap(), [1, 0, 0, 0, 0, 3]), "multicast MAC refused");
        assert_eq!(n.flush(), vec![ip]);
        assert!(n.lookup(ip).is_none());
    }
}
