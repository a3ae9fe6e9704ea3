//! One AF_XDP socket bound to (netdev, rx queue) on a worker's UMEM, with its four
//! rings, and the batched rx/tx/completion/fill operations the worker loop uses.

use std::os::fd::{AsRawFd, RawFd};

use anyhow::{anyhow, Result};
use xsk_rs::config::{BindFlags, LibxdpFlags, QueueSize, SocketConfig};
use xsk_rs::socket::{RxQueue, Socket, TxQueue};
use xsk_rs::umem::frame::FrameDesc;
use xsk_rs::umem::{CompQueue, FillQueue, Umem};

use super::umem::{FramePool, RING_SIZE};

/// Frames kept on each fill ring (the kernel copies received frames into them).
pub const FILL_TARGET: u32 = 512;
/// Frames the pool keeps back from fill rings for copies and encapsulation.
pub const POOL_RESERVE: usize = 512;

pub struct XskQueue {
    pub ifname: String,
    pub queue: u32,
    /// Owner tag of this socket's frames in the pool (see `FramePool`).
    pub sock_id: u16,
    pub zero_copy: bool,
    tx: TxQueue,
    rx: RxQueue,
    fq: FillQueue,
    cq: CompQueue,
    /// Frames currently on the fill ring.
    pub fill_held: u32,
    /// Frames on the tx ring not yet completed.
    pub tx_held: u32,
}

// XDP_OPTIONS getsockopt: tells whether the socket ended up in zero-copy mode.
const SOL_XDP: i32 = 283;
const XDP_OPTIONS: i32 = 8;
const XDP_OPTIONS_ZEROCOPY: u32 = 1;

fn is_zero_copy(fd: RawFd) -> bool {
    let mut opts: u32 = 0;
    let mut len = std::mem::size_of::<u32>() as libc::socklen_t;
    let r = unsafe { libc::getsockopt(fd, SOL_XDP, XDP_OPTIONS, &mut opts as *mut u32 as *mut libc::c_void, &mut len) };
    r == 0 && opts & XDP_OPTIONS_ZEROCOPY != 0
}

impl XskQueue {
    /// Create and bind the socket. The kernel uses zero-copy where the driver supports
    /// it and copy mode otherwise (veth is always copy mode).
    pub fn open(umem: &Umem, ifname: &str, queue: u32, sock_id: u16) -> Result<XskQueue> {
        let qs = QueueSize::new(RING_SIZE).map_err(|e| anyhow!("{e}"))?;
        let cfg = SocketConfig::builder()
            .rx_queue_size(qs)
            .tx_queue_size(qs)
            .libxdp_flags(LibxdpFlags::XSK_LIBXDP_FLAGS_INHIBIT_PROG_LOAD)
            .bind_flags(BindFlags::XDP_USE_NEED_WAKEUP)
            .build();
        let iface = ifname.parse().map_err(|_| anyhow!("bad interface name {ifname}"))?;
        // SAFETY: the socket is created on this worker's UMEM and only that worker
        // passes frames of that UMEM to it.
        let (tx, rx, rings) = unsafe { Socket::new(cfg, umem, &iface, queue) }
            .map_err(|e| anyhow!("AF_XDP socket on {ifname} queue {queue}: {e} ({:?})", std::error::Error::source(&e)))?;
        let (fq, cq) = rings.ok_or_else(|| anyhow!("{ifname} queue {queue} is already bound by this worker"))?;
        let zero_copy = is_zero_copy(rx.fd().as_raw_fd());
        Ok(XskQueue { ifname: ifname.to_string(), queue, sock_id, zero_copy, tx, rx, fq, cq, fill_held: 0, tx_held: 0 })
    }

    pub fn fd(&self) -> RawFd {
        self.rx.fd().as_raw_fd()
    }

    /// Receive up to `out.len()` frames; returns how many.
    #[inline]
    pub fn rx_burst(&mut self, pool: &mut FramePool, out: &mut [FrameDesc]) -> usize {
        // SAFETY: descriptors come back from this socket's own rings.
        let n = unsafe { self.rx.consume(out) };
        if n > 0 {
            pool.take_back(&out[..n]);
            self.fill_held -= n as u32;
        }
        n
    }

    /// Queue frames for transmission. Returns how many the ring took; the caller
    /// keeps ownership of the rest.
    #[inline]
    pub fn tx_burst(&mut self, pool: &mut FramePool, descs: &[FrameDesc]) -> usize {
        if descs.is_empty() {
            return 0;
        }
        let room = self.tx.nb_free(descs.len() as u32) as usize;
        let k = room.min(descs.len());
        if k == 0 {
            return 0;
        }
        // SAFETY: frames belong to this socket's UMEM and are not used again until
        // they come back on the completion ring.
        let n = unsafe { self.tx.produce(&descs[..k]) };
        pool.give(&descs[..n], self.sock_id);
        self.tx_held += n as u32;
        n
    }

    /// Kick the kernel to transmit what is on the tx ring (copy mode needs a sendto).
    #[inline]
    pub fn tx_kick(&mut self) -> bool {
        if self.tx_held > 0 && self.tx.needs_wakeup() {
            let _ = self.tx.wakeup();
            return true;
        }
        false
    }

    /// Reap completed transmissions back into the pool.
    #[inline]
    pub fn complete(&mut self, pool: &mut FramePool, scratch: &mut [FrameDesc]) -> usize {
        if self.tx_held == 0 {
            return 0;
        }
        let mut total = 0;
        loop {
            // SAFETY: completion descriptors name frames of this UMEM we sent.
            let n = unsafe { self.cq.consume(scratch) };
            if n == 0 {
                break;
            }
            pool.take_back(&scratch[..n]);
            for d in &scratch[..n] {
                pool.free(*d);
            }
            self.tx_held = self.tx_held.saturating_sub(n as u32);
            total += n;
            if n < scratch.len() {
                break;
            }
        }
        total
    }

    /// Top the fill ring up to `FILL_TARGET` frames, keeping `POOL_RESERVE` in the pool.
    #[inline]
    pub fn refill(&mut self, pool: &mut FramePool, scratch: &mut Vec<FrameDesc>) {
        if self.fill_held >= FILL_TARGET {
            return;
        }
        let want = (FILL_TARGET - self.fill_held) as usize;
        let avail = pool.n_free().saturating_sub(POOL_RESERVE);
        let n = want.min(avail);
        if n < 32 && self.fill_held > 0 {
            return; // refill in batches
        }
        let room = self.fq.nb_free(n as u32) as usize;
        let n = n.min(room);
        if n == 0 {
            return;
        }
        pool.alloc_n(n, scratch);
        // SAFETY: free frames of this UMEM, handed to the kernel until rx returns them.
        let k = unsafe { self.fq.produce(scratch) };
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
            let _ = self.fq.wakeup(self.rx.fd_mut(), 0);
        }
    }

    /// Kernel-side statistics of this socket: (rx_dropped, rx_ring_full,
    /// rx_fill_ring_empty, tx_invalid, rx_invalid, tx_ring_empty).
    pub fn kernel_stats(&self) -> Option<[u64; 6]> {
        let s = self.rx.fd().xdp_statistics().ok()?;
        Some([
            s.rx_dropped(),
            s.rx_ring_full(),
            s.rx_fill_ring_empty_descs(),
            s.tx_invalid_descs(),
            s.rx_invalid_descs(),
            s.tx_ring_empty_descs(),
        ])
    }
}
