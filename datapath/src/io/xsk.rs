//! One AF_XDP socket bound to (netdev, rx queue) on a worker's UMEM, with its four
//! rings, and the batched rx/tx/completion/fill operations the worker loop uses.
//!
//! Written against the kernel ABI (linux/if_xdp.h) rather than through libxdp, so that
//! descriptors are ours (`Desc`): a frame can be sent from any offset inside its chunk.
//!
//! Sharing: the first socket on a UMEM registers it (XDP_UMEM_REG); every later one
//! binds with XDP_SHARED_UMEM to an open socket of the same UMEM. Each socket is on its
//! own (netdev, queue), so each gets its own fill and completion ring (set up on the
//! new socket before bind, as libxdp does for a new ring context). If no open socket
//! can be shared (the ones there are lost their netdev, or the kernel refuses the
//! combination) the new socket registers the same memory again on its own: the
//! kernel does not mind two registrations of one area, and our addresses stay the
//! same.

use std::io;
use std::mem::ManuallyDrop;
use std::os::fd::RawFd;
use std::sync::Arc;

use anyhow::{anyhow, bail, Result};

use super::ring::{ring_len, ConsRing, Mmap, ProdRing, RingOffsets, XdpDesc};
use super::umem::{Bound, Desc, FramePool, Umem, RING_SIZE};

/// Frames kept on each fill ring (the kernel copies received frames into them), at
/// most; see [`fill_target`].
pub const FILL_TARGET: u32 = 512;
/// Fewest frames a fill ring works with.
pub const FILL_MIN: u32 = 64;

/// Frames each fill ring of a worker with `n_frames` UMEM frames keeps: a sixteenth of
/// the UMEM, between `FILL_MIN` and `FILL_TARGET`. Frames on the fill ring of an idle
/// port cannot be taken back, so every ring's share is fixed up front and a port is
/// refused when the UMEM has no share left for it (see [`max_sockets`]), instead of
/// leaving its fill ring empty and the kernel dropping what it receives.
pub fn fill_target(n_frames: u32) -> u32 {
    (n_frames / 16).clamp(FILL_MIN, FILL_TARGET)
}

/// How many sockets a worker with `n_frames` frames can keep filled.
pub fn max_sockets(n_frames: u32) -> usize {
    (n_frames as usize).saturating_sub(POOL_RESERVE) / fill_target(n_frames) as usize
}
/// Frames the pool keeps back from fill rings for copies and encapsulation.
pub const POOL_RESERVE: usize = 512;

pub struct XskQueue {
    pub ifname: String,
    pub queue: u32,
    /// Owner tag of this socket's frames in the pool (see `FramePool`).
    pub sock_id: u16,
    pub zero_copy: bool,
    /// Bound with XDP_SHARED_UMEM to another socket of the UMEM (false: this socket
    /// registered the UMEM itself).
    pub shared_umem: bool,
    /// Frames currently on the fill ring.
    pub fill_held: u32,
    /// Frames on the tx ring not yet completed.
    pub tx_held: u32,
    /// Descriptors the kernel returned (rx, completion) that did not name a frame
    /// inside the UMEM; they were dropped.
    pub bad_descs: u64,
    fd: RawFd,
    umem: Arc<Umem>,
    rx: ManuallyDrop<ConsRing<XdpDesc>>,
    tx: ManuallyDrop<ProdRing<XdpDesc>>,
    fq: ManuallyDrop<ProdRing<u64>>,
    cq: ManuallyDrop<ConsRing<u64>>,
}

/// A failed system call: which step, and the OS error (errno kept for the caller).
struct OsErr {
    what: &'static str,
    err: io::Error,
}

impl std::fmt::Display for OsErr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.what, self.err)
    }
}

fn os_err(what: &'static str) -> impl FnOnce(io::Error) -> OsErr {
    move |err| OsErr { what, err }
}

fn setsockopt_u32(fd: RawFd, opt: i32, v: u32) -> io::Result<()> {
    // SAFETY: a u32 option of the right size.
    let r = unsafe {
        libc::setsockopt(fd, libc::SOL_XDP, opt, &v as *const u32 as *const libc::c_void, std::mem::size_of::<u32>() as libc::socklen_t)
    };
    if r != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// getsockopt(SOL_XDP) of a plain C struct `T` (libc's if_xdp.h structs).
fn getsockopt<T: Copy>(fd: RawFd, opt: i32) -> io::Result<T> {
    // SAFETY: T is one of libc's if_xdp.h structs: integers only, all-zero is valid.
    let mut v: T = unsafe { std::mem::zeroed() };
    let mut len = std::mem::size_of::<T>() as libc::socklen_t;
    // SAFETY: `v` is writable for `len` bytes.
    let r = unsafe { libc::getsockopt(fd, libc::SOL_XDP, opt, &mut v as *mut T as *mut libc::c_void, &mut len) };
    if r != 0 {
        return Err(io::Error::last_os_error());
    }
    if len as usize != std::mem::size_of::<T>() {
        return Err(io::Error::other(format!("getsockopt {opt}: kernel returned {len} bytes, expected {}", std::mem::size_of::<T>())));
    }
    Ok(v)
}

/// Whether the socket ended up in zero-copy mode (XDP_OPTIONS).
fn is_zero_copy(fd: RawFd) -> bool {
    getsockopt::<libc::xdp_options>(fd, libc::XDP_OPTIONS).is_ok_and(|o| o.flags & libc::XDP_OPTIONS_ZEROCOPY != 0)
}

/// A socket with its rings mapped, bound or not yet.
struct Socket {
    fd: RawFd,
    rx: ConsRing<XdpDesc>,
    tx: ProdRing<XdpDesc>,
    fq: ProdRing<u64>,
    cq: ConsRing<u64>,
}

impl Socket {
    /// Create the socket, (register the UMEM or prepare to share it,) set up and map
    /// its four rings, and bind it to (ifindex, queue). With `share`, the UMEM is
    /// shared with that bound socket; without, it is registered on this one.
    fn create(umem: &Umem, ifindex: u32, queue: u32, share: Option<RawFd>) -> Result<Socket, OsErr> {
        // SAFETY: plain socket(2).
        let fd = unsafe { libc::socket(libc::AF_XDP, libc::SOCK_RAW | libc::SOCK_CLOEXEC, 0) };
        if fd < 0 {
            return Err(os_err("socket(AF_XDP)")(io::Error::last_os_error()));
        }
        match Self::setup(fd, umem, ifindex, queue, share) {
            Ok(s) => Ok(s),
            Err(e) => {
                // SAFETY: our fd; the rings mapped so far were unmapped when dropped.
                unsafe { libc::close(fd) };
                Err(e)
            }
        }
    }

    fn setup(fd: RawFd, umem: &Umem, ifindex: u32, queue: u32, share: Option<RawFd>) -> Result<Socket, OsErr> {
        if share.is_none() {
            umem.register(fd).map_err(os_err("XDP_UMEM_REG"))?;
        }
        setsockopt_u32(fd, libc::XDP_UMEM_FILL_RING, RING_SIZE).map_err(os_err("XDP_UMEM_FILL_RING"))?;
        setsockopt_u32(fd, libc::XDP_UMEM_COMPLETION_RING, RING_SIZE).map_err(os_err("XDP_UMEM_COMPLETION_RING"))?;
        setsockopt_u32(fd, libc::XDP_RX_RING, RING_SIZE).map_err(os_err("XDP_RX_RING"))?;
        setsockopt_u32(fd, libc::XDP_TX_RING, RING_SIZE).map_err(os_err("XDP_TX_RING"))?;
        let off = getsockopt::<libc::xdp_mmap_offsets>(fd, libc::XDP_MMAP_OFFSETS).map_err(os_err("XDP_MMAP_OFFSETS"))?;
        let (fr, cr, rxo, txo) = (RingOffsets::from(off.fr), RingOffsets::from(off.cr), RingOffsets::from(off.rx), RingOffsets::from(off.tx));

        let m = Mmap::ring(fd, ring_len::<u64>(&fr, RING_SIZE), libc::XDP_UMEM_PGOFF_FILL_RING).map_err(os_err("mmap fill ring"))?;
        // SAFETY: the kernel's mapping of this ring, laid out as it reported, kept
        // alive by the ring itself.
        let fq = unsafe { ProdRing::<u64>::new(m.as_ptr(), &fr, RING_SIZE, Some(m)) };
        let m = Mmap::ring(fd, ring_len::<u64>(&cr, RING_SIZE), libc::XDP_UMEM_PGOFF_COMPLETION_RING)
            .map_err(os_err("mmap completion ring"))?;
        // SAFETY: as above.
        let cq = unsafe { ConsRing::<u64>::new(m.as_ptr(), &cr, RING_SIZE, Some(m)) };
        let m = Mmap::ring(fd, ring_len::<XdpDesc>(&rxo, RING_SIZE), libc::XDP_PGOFF_RX_RING as u64).map_err(os_err("mmap rx ring"))?;
        // SAFETY: as above.
        let rx = unsafe { ConsRing::<XdpDesc>::new(m.as_ptr(), &rxo, RING_SIZE, Some(m)) };
        let m = Mmap::ring(fd, ring_len::<XdpDesc>(&txo, RING_SIZE), libc::XDP_PGOFF_TX_RING as u32 as u64).map_err(os_err("mmap tx ring"))?;
        // SAFETY: as above.
        let tx = unsafe { ProdRing::<XdpDesc>::new(m.as_ptr(), &txo, RING_SIZE, Some(m)) };

        let sa = libc::sockaddr_xdp {
            sxdp_family: libc::AF_XDP as u16,
            // Shared sockets may not pass flags: they inherit need_wakeup and the
            // copy/zero-copy mode of the socket they share with.
            sxdp_flags: if share.is_some() { libc::XDP_SHARED_UMEM } else { libc::XDP_USE_NEED_WAKEUP },
            sxdp_ifindex: ifindex,
            sxdp_queue_id: queue,
            sxdp_shared_umem_fd: share.unwrap_or(0) as u32,
        };
        // SAFETY: a valid sockaddr_xdp of the size we pass.
        let r = unsafe {
            libc::bind(fd, &sa as *const _ as *const libc::sockaddr, std::mem::size_of::<libc::sockaddr_xdp>() as libc::socklen_t)
        };
        if r != 0 {
            return Err(os_err(if share.is_some() { "bind (shared UMEM)" } else { "bind" })(io::Error::last_os_error()));
        }
        Ok(Socket { fd, rx, tx, fq, cq })
    }
}

impl XskQueue {
    /// Create and bind the socket on `umem`. The kernel uses zero-copy where the driver
    /// supports it and copy mode otherwise (veth is always copy mode).
    pub fn open(umem: &Arc<Umem>, ifname: &str, queue: u32, sock_id: u16) -> Result<XskQueue> {
        let ifindex = super::xdp::ifindex(ifname)?;
        let mut socks = umem.socks.lock();
        if socks.iter().any(|b| b.ifindex == ifindex && b.queue == queue) {
            bail!("{ifname} queue {queue} is already bound by this worker");
        }
        let mut errors = Vec::new();
        let mut sock = None;
        for b in socks.iter() {
            match Socket::create(umem, ifindex, queue, Some(b.fd)) {
                Ok(s) => {
                    sock = Some((s, true));
                    break;
                }
                // The queue is taken (maybe by a socket still being released): no
                // other way of binding will help.
                Err(e) if e.err.raw_os_error() == Some(libc::EBUSY) => {
                    return Err(anyhow!("AF_XDP socket on {ifname} queue {queue}: {e}"));
                }
                Err(e) => errors.push(e.to_string()),
            }
        }
        let s = match sock {
            Some(s) => s,
            None => match Socket::create(umem, ifindex, queue, None) {
                Ok(s) => {
                    if !errors.is_empty() {
                        tracing::debug!("{ifname} queue {queue}: UMEM registered again, sharing failed: {}", errors.join("; "));
                    }
                    (s, false)
                }
                Err(e) => {
                    errors.push(e.to_string());
                    bail!("AF_XDP socket on {ifname} queue {queue}: {}", errors.join("; "));
                }
            },
        };
        let (s, shared_umem) = s;
        socks.push(Bound { fd: s.fd, ifindex, queue });
        drop(socks);
        Ok(XskQueue {
            ifname: ifname.to_string(),
            queue,
            sock_id,
            zero_copy: is_zero_copy(s.fd),
            shared_umem,
            fill_held: 0,
            tx_held: 0,
            bad_descs: 0,
            fd: s.fd,
            umem: umem.clone(),
            rx: ManuallyDrop::new(s.rx),
            tx: ManuallyDrop::new(s.tx),
            fq: ManuallyDrop::new(s.fq),
            cq: ManuallyDrop::new(s.cq),
        })
    }

    pub fn fd(&self) -> RawFd {
        self.fd
    }

    /// Receive up to `out.len()` frames; returns how many. Descriptors that do not
    /// name a frame inside the UMEM are dropped (and counted in `bad_descs`).
    #[inline]
    pub fn rx_burst(&mut self, pool: &mut FramePool, out: &mut [Desc]) -> usize {
        let n = self.rx.consume_into(out, |d| Desc { addr: d.addr, len: d.len });
        if n == 0 {
            return 0;
        }
        self.fill_held = self.fill_held.saturating_sub(n as u32);
        let mut k = 0;
        for i in 0..n {
            let d = out[i];
            if self.umem.is_valid(&d) {
                out[k] = d;
                k += 1;
            } else {
                self.drop_bad(pool, d);
            }
        }
        pool.take_back(&out[..k]);
        k
    }

    #[cold]
    fn drop_bad(&mut self, pool: &mut FramePool, d: Desc) {
        self.bad_descs += 1;
        if d.addr < self.umem.len() {
            // The chunk is ours: put it back.
            pool.take_back(&[d]);
            pool.free(d);
        }
    }

    /// Queue frames for transmission, each as it is described (any offset inside its
    /// chunk). Returns how many the ring took; the caller keeps ownership of the rest.
    /// A descriptor the kernel would reject (empty, or not inside one chunk of the
    /// UMEM) is never put on the ring: the ring takes the ones before it only.
    #[inline]
    pub fn tx_burst(&mut self, pool: &mut FramePool, descs: &[Desc]) -> usize {
        if descs.is_empty() {
            return 0;
        }
        let room = self.tx.free(descs.len() as u32) as usize;
        let mut k = room.min(descs.len());
        if let Some(bad) = descs[..k].iter().position(|d| d.len == 0 || !self.umem.is_valid(d)) {
            k = bad;
        }
        if k == 0 {
            return 0;
        }
        let n = self.tx.produce_from(&descs[..k], |d| XdpDesc { addr: d.addr, len: d.len, options: 0 });
        pool.give(&descs[..n], self.sock_id);
        self.tx_held += n as u32;
        n
    }

    /// Kick the kernel to transmit what is on the tx ring (copy mode needs a sendto).
    #[inline]
    pub fn tx_kick(&mut self) -> bool {
        if self.tx_held > 0 && self.tx.needs_wakeup() {
            // SAFETY: sendto with no data on our socket; errors (EAGAIN, ENOBUFS,
            // EBUSY) only mean "try again later".
            unsafe { libc::sendto(self.fd, std::ptr::null(), 0, libc::MSG_DONTWAIT, std::ptr::null(), 0) };
            return true;
        }
        false
    }

    /// Reap completed transmissions back into the pool.
    #[inline]
    pub fn complete(&mut self, pool: &mut FramePool, scratch: &mut [Desc]) -> usize {
        if self.tx_held == 0 {
            return 0;
        }
        let mut total = 0;
        loop {
            let n = self.cq.consume_into(scratch, |addr| Desc { addr, len: 0 });
            if n == 0 {
                break;
            }
            for d in &scratch[..n] {
                if d.addr < self.umem.len() {
                    pool.take_back(std::slice::from_ref(d));
                    pool.free(*d);
                } else {
                    self.bad_descs += 1;
                }
            }
            self.tx_held = self.tx_held.saturating_sub(n as u32);
            total += n;
            if n < scratch.len() {
                break;
            }
        }
        total
    }

    /// Top the fill ring up to its share ([`fill_target`]), keeping `POOL_RESERVE` in
    /// the pool.
    #[inline]
    pub fn refill(&mut self, pool: &mut FramePool, scratch: &mut Vec<Desc>) {
        let target = fill_target(pool.n_frames());
        if self.fill_held >= target {
            return;
        }
        let want = (target - self.fill_held) as usize;
        let avail = pool.n_free().saturating_sub(POOL_RESERVE);
        let n = want.min(avail);
        if n < 32 && self.fill_held > 0 {
            return; // refill in batches
        }
        let room = self.fq.free(n as u32) as usize;
        let n = n.min(room);
        if n == 0 {
            return;
        }
        pool.alloc_n(n, scratch);
        // The fill ring takes chunk addresses; the kernel puts the data 256 bytes in.
        let k = self.fq.produce_from(scratch, |d| d.chunk());
        pool.give(&scratch[..k], self.sock_id);
        for d in &scratch[k..] {
            pool.free(*d);
        }
        self.fill_held += k as u32;
    }

    /// With need_wakeup, the kernel may want a poke to look at the fill ring again
    /// (zero-copy drivers); copy mode fills from softirq and rarely needs it.
    #[inline]
    pub fn fill_kick(&mut self) {
        if self.fq.needs_wakeup() {
            // SAFETY: recvfrom with no buffer on our socket, non-blocking.
            unsafe { libc::recvfrom(self.fd, std::ptr::null_mut(), 0, libc::MSG_DONTWAIT, std::ptr::null_mut(), std::ptr::null_mut()) };
        }
    }

    /// Kernel-side statistics of this socket: (rx_dropped, rx_ring_full,
    /// rx_fill_ring_empty, tx_invalid, rx_invalid, tx_ring_empty).
    pub fn kernel_stats(&self) -> Option<[u64; 6]> {
        let s = getsockopt::<libc::xdp_statistics>(self.fd, libc::XDP_STATISTICS).ok()?;
        Some([s.rx_dropped, s.rx_ring_full, s.rx_fill_ring_empty_descs, s.tx_invalid_descs, s.rx_invalid_descs, s.tx_ring_empty_descs])
    }
}

impl Drop for XskQueue {
    fn drop(&mut self) {
        // Under the UMEM's socket lock, so that no socket being opened shares the UMEM
        // through this fd while (or after) it goes away.
        let mut socks = self.umem.socks.lock();
        socks.retain(|b| b.fd != self.fd);
        // SAFETY: dropped exactly once, here; the mappings hold the socket open, so
        // they go first, then the fd: the kernel lets go of the queue and the frames.
        unsafe {
            ManuallyDrop::drop(&mut self.rx);
            ManuallyDrop::drop(&mut self.tx);
            ManuallyDrop::drop(&mut self.fq);
            ManuallyDrop::drop(&mut self.cq);
            libc::close(self.fd);
        }
    }
}
