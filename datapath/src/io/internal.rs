//! Internal ports: kernel netdevs that the host (or a namespace it is moved into) uses
//! to talk through a bridge, as Open vSwitch's `type=internal` ports and each bridge's
//! LOCAL port.
//!
//! Underneath is a veth pair: the end the host sees carries the port's name (`br-phy`,
//! `tap1234`...), the other end (`xvi` + a hash of the name) is served by xvs like any
//! AF_XDP port, so frames to and from the host take the same batched rings as every
//! other port, with no per-packet system call. (A TAP device would need a read or
//! write system call per frame on the worker, outside the AF_XDP batches; it would
//! disappear by itself when xvsd dies, which a veth does not: xvsd deletes its veths
//! when it stops, and a restarted xvsd adopts the ones a killed xvsd left.)
//!
//! The host's end has transmit checksum offload turned off: AF_XDP hands frames to
//! xvs as they are, and a partial checksum would leave the host wrong on the wire.

use std::collections::HashMap;
use std::os::fd::{AsRawFd, OwnedFd};
use std::sync::Mutex;

use anyhow::{bail, Context, Result};

use crate::route::netlink;

/// Locks held on the internal ports this process owns (see `claim`).
static CLAIMS: Mutex<Option<HashMap<String, OwnedFd>>> = Mutex::new(None);

/// Claim internal port `name` in this network namespace for this process: an
/// exclusive flock on a file named after the namespace and the port. The kernel drops
/// it when the process dies, so a restarted xvsd can adopt what a killed one left,
/// while two live switches in one namespace never take each other's port.
fn claim(name: &str) -> Result<()> {
    use std::os::unix::fs::MetadataExt;
    let ns = std::fs::metadata("/proc/self/ns/net").map(|m| m.ino()).unwrap_or(0);
    let dir = std::path::Path::new("/run/xvs/netdevs");
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let path = dir.join(format!("{ns}-{name}.lock"));
    let f = std::fs::OpenOptions::new().create(true).truncate(false).write(true).open(&path).with_context(|| format!("opening {}", path.display()))?;
    if unsafe { libc::flock(f.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } != 0 {
        bail!("{name} is the internal port of another running switch in this network namespace");
    }
    CLAIMS.lock().unwrap_or_else(|p| p.into_inner()).get_or_insert_with(HashMap::new).insert(name.to_string(), OwnedFd::from(f));
    Ok(())
}

fn release(name: &str) {
    if let Some(m) = CLAIMS.lock().unwrap_or_else(|p| p.into_inner()).as_mut() {
        m.remove(name);
    }
}

/// The name of the end xvs serves, derived from the port name (stable across restarts
/// so that a restarted xvsd finds it again).
pub fn peer_name(name: &str) -> String {
    let mut h: u32 = 0x811c_9dc5;
    for b in name.bytes() {
        h = (h ^ b as u32).wrapping_mul(0x0100_0193);
    }
    format!("xvi{h:08x}")
}

/// A random, locally administered unicast MAC for a new port's netdev (random as
/// Open vSwitch's internal ports: every host has a `br-phy`, and their MACs meet on
/// the underlay).
pub fn default_mac(name: &str) -> [u8; 6] {
    let mut seed = [0u8; 8];
    if let Ok(mut f) = std::fs::File::open("/dev/urandom") {
        let _ = std::io::Read::read_exact(&mut f, &mut seed);
    }
    let mut h: u64 = 0xcbf2_9ce4_8422_2325 ^ u64::from_le_bytes(seed) ^ crate::clock::now_ns();
    for b in name.bytes() {
        h = (h ^ b as u64).wrapping_mul(0x0000_0100_0000_01b3);
    }
    let b = h.to_be_bytes();
    [0x02 | (b[0] & 0xfc), b[1], b[2], b[3], b[4], b[5]]
}

fn exists(name: &str) -> bool {
    std::path::Path::new(&format!("/sys/class/net/{name}")).exists()
}

fn mac_of(name: &str) -> Option<[u8; 6]> {
    let s = std::fs::read_to_string(format!("/sys/class/net/{name}/address")).ok()?;
    let v: Vec<u8> = s.trim().split(':').filter_map(|x| u8::from_str_radix(x, 16).ok()).collect();
    v.try_into().ok()
}

/// Create the veth pair of internal port `name` (or adopt the one a previous xvsd
/// left). Returns (the end xvs serves, the MAC of the host's end).
pub fn create(name: &str) -> Result<(String, [u8; 6])> {
    claim(name)?;
    let r = create_claimed(name);
    if r.is_err() {
        release(name);
    }
    r
}

fn create_claimed(name: &str) -> Result<(String, [u8; 6])> {
    let peer = peer_name(name);
    if exists(&peer) {
        // Left by an xvsd that died (a live one would hold the claim). The host's end
        // may be here or moved into another namespace (with its MAC unknown here):
        // keep it either way.
        let mac = mac_of(name).unwrap_or_else(|| default_mac(name));
        netlink::set_up(&peer)?;
        return Ok((peer, mac));
    }
    if exists(name) {
        bail!("a network device named {name} already exists (not one xvs made)");
    }
    let mac = default_mac(name);
    netlink::create_veth(name, &peer, mac).with_context(|| format!("creating the veth pair {name} <-> {peer}"))?;
    if let Err(e) = tx_csum_off(name) {
        tracing::warn!("{name}: could not turn off tx checksum offload: {e}");
    }
    Ok((peer, mac))
}

/// Remove the veth pair (deleting our end removes both, wherever the other is).
pub fn delete(name: &str) {
    let peer = peer_name(name);
    if exists(&peer) {
        if let Err(e) = netlink::delete_link(&peer) {
            tracing::warn!("deleting {peer}: {e:#}");
        }
    }
    release(name);
}

/// `ethtool -K NAME tx off` (ETHTOOL_STXCSUM through SIOCETHTOOL).
fn tx_csum_off(name: &str) -> Result<()> {
    #[repr(C)]
    struct EthtoolValue {
        cmd: u32,
        data: u32,
    }
    #[repr(C)]
    struct Ifreq {
        name: [u8; 16],
        data: *mut EthtoolValue,
        _pad: [u8; 16],
    }
    const SIOCETHTOOL: libc::c_ulong = 0x8946;
    const ETHTOOL_STXCSUM: u32 = 0x17;
    let mut v = EthtoolValue { cmd: ETHTOOL_STXCSUM, data: 0 };
    let mut ifr = Ifreq { name: [0; 16], data: &mut v, _pad: [0; 16] };
    let n = name.as_bytes();
    if n.len() >= 16 {
        bail!("interface name too long");
    }
    ifr.name[..n.len()].copy_from_slice(n);
    unsafe {
        let fd = libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0);
        if fd < 0 {
            bail!("socket: {}", std::io::Error::last_os_error());
        }
        let r = libc::ioctl(fd, SIOCETHTOOL, &mut ifr as *mut Ifreq);
        let err = std::io::Error::last_os_error();
        libc::close(fd);
        if r < 0 {
            bail!("SIOCETHTOOL: {err}");
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_stable_and_macs_unique() {
        assert_eq!(peer_name("br-phy"), peer_name("br-phy"));
        assert_ne!(peer_name("br-phy"), peer_name("br-ex"));
        assert!(peer_name("a-very-long-nam").len() <= 15);
        let m = default_mac("br-phy");
        assert_eq!(m[0] & 0x03, 0x02, "locally administered unicast");
        assert_ne!(m, default_mac("br-phy"), "every host's br-phy needs its own MAC");
    }
}
