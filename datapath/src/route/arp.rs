//! ARP requests for tunnel next hops that have no neighbour entry.
//!
//! A request leaves the underlay bridge as if the host had sent it from the bridge's
//! internal port: xvs writes it into the host's end of that port (an AF_PACKET send on
//! the netdev), so it enters the bridge through the port's rings and the bridge's own
//! flows (usually NORMAL) take it to the uplink. The reply comes back to the internal
//! port, where translation snoops it into the neighbour table. Misses are retried once
//! a second (the neighbour table's rate limit) a few times, then forgotten until a
//! packet needs the next hop again.

use std::collections::HashMap;
use std::net::Ipv4Addr;

use anyhow::{bail, Result};

use crate::packet::arp::ArpPacket;
use crate::packet::ethernet::{ethertype, EthernetFrame};

/// Tries per missing next hop before giving up (a new miss starts again).
const MAX_TRIES: u32 = 3;

/// Build a broadcast ARP request for `dst` from (`src_mac`, `src_ip`), padded to 60
/// bytes.
pub fn request(src_mac: [u8; 6], src_ip: Ipv4Addr, dst: Ipv4Addr) -> [u8; 60] {
    let mut f = [0u8; 60];
    {
        let mut e = EthernetFrame::new_unchecked(&mut f[..14]);
        e.set_dst([0xff; 6]);
        e.set_src(src_mac);
        e.set_ethertype(ethertype::ARP);
    }
    let mut a = ArpPacket::new_unchecked(&mut f[14..42]);
    a.set_htype(1);
    a.set_ptype(ethertype::IPV4);
    a.set_hlen(6);
    a.set_plen(4);
    a.set_op(1);
    a.set_sha(src_mac);
    a.set_spa(src_ip.octets());
    a.set_tha([0; 6]);
    a.set_tpa(dst.octets());
    f
}

/// Send a frame out of netdev `ifname` (the host's end of an internal port).
pub fn send_on(ifname: &str, frame: &[u8]) -> Result<()> {
    let idx = crate::io::xdp::ifindex(ifname)?;
    unsafe {
        let fd = libc::socket(libc::AF_PACKET, libc::SOCK_RAW | libc::SOCK_CLOEXEC, 0);
        if fd < 0 {
            bail!("AF_PACKET socket: {}", std::io::Error::last_os_error());
        }
        let mut sa: libc::sockaddr_ll = std::mem::zeroed();
        sa.sll_family = libc::AF_PACKET as u16;
        sa.sll_ifindex = idx as i32;
        sa.sll_halen = 6;
        let r = libc::sendto(
            fd,
            frame.as_ptr() as *const libc::c_void,
            frame.len(),
            0,
            &sa as *const libc::sockaddr_ll as *const libc::sockaddr,
            std::mem::size_of::<libc::sockaddr_ll>() as u32,
        );
        let err = std::io::Error::last_os_error();
        libc::close(fd);
        if r < 0 {
            bail!("sending on {ifname}: {err}");
        }
    }
    Ok(())
}

/// A next hop being resolved.
#[derive(Clone, Debug)]
pub struct Pending {
    pub ifname: String,
    pub src_mac: [u8; 6],
    pub src_ip: Ipv4Addr,
    pub tries: u32,
}

/// The control thread's list of next hops it is asking for.
#[derive(Default, Debug)]
pub struct Resolver {
    pending: HashMap<Ipv4Addr, Pending>,
    pub requests_sent: u64,
    pub gave_up: u64,
}

impl Resolver {
    /// A packet needed `dst`: ask now (if the rate limit lets us) and keep asking.
    pub fn miss(&mut self, neigh: &super::NeighTable, ifname: &str, src_mac: [u8; 6], src_ip: Ipv4Addr, dst: Ipv4Addr) {
        let p = self.pending.entry(dst).or_insert_with(|| Pending { ifname: ifname.to_string(), src_mac, src_ip, tries: 0 });
        p.tries = p.tries.min(1);
        if neigh.may_ask(dst) {
            Self::send(p, dst, &mut self.requests_sent);
        }
    }

    fn send(p: &mut Pending, dst: Ipv4Addr, sent: &mut u64) {
        p.tries += 1;
        match send_on(&p.ifname, &request(p.src_mac, p.src_ip, dst)) {
            Ok(()) => *sent += 1,
            Err(e) => tracing::debug!("ARP request for {dst}: {e:#}"),
        }
    }

    /// Once a second: retry what is still unresolved, forget what was resolved or
    /// tried often enough.
    pub fn tick(&mut self, neigh: &super::NeighTable) {
        let mut sent = 0;
        let mut gave_up = 0;
        self.pending.retain(|dst, p| {
            if neigh.lookup(*dst).is_some() {
                return false;
            }
            if p.tries >= MAX_TRIES {
                gave_up += 1;
                return false;
            }
            if neigh.may_ask(*dst) {
                Self::send(p, *dst, &mut sent);
            }
            true
        });
        self.requests_sent += sent;
        self.gave_up += gave_up;
    }

    pub fn pending(&self) -> usize {
        self.pending.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_bytes() {
        let f = request([2, 0, 0, 0, 0, 1], "10.0.0.1".parse().unwrap(), "10.0.0.2".parse().unwrap());
        assert_eq!(&f[..14], &[0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 2, 0, 0, 0, 0, 1, 0x08, 0x06]);
        assert_eq!(&f[14..22], &[0, 1, 0x08, 0, 6, 4, 0, 1]);
        assert_eq!(&f[28..32], &[10, 0, 0, 1]);
        assert_eq!(&f[38..42], &[10, 0, 0, 2]);
        let mut k = crate::flow::FlowKey::ZERO;
        crate::packet::extract(&f, 1, &mut k).unwrap();
        assert_eq!(crate::flow::Field::ArpOp.get(&k), 1);
    }
}
