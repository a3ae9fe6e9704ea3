//! A worker's UMEM, our frame descriptor, and the free-frame pool.
//!
//! One UMEM per worker, shared by every AF_XDP socket that worker serves, so moving a
//! frame from one port to another is passing a descriptor, never a copy. The pool is
//! a LIFO stack (recently freed frames are still warm in cache) owned by the worker
//! thread: no locks.
//!
//! The UMEM is registered in aligned mode: chunks of `FRAME_SIZE` bytes, no UMEM
//! headroom. A descriptor may start anywhere inside its chunk as long as it ends inside
//! it too, which is what lets a packet grow at the front (VLAN tag, tunnel header) by
//! moving its start back into the headroom instead of moving the payload. Received
//! frames start `XDP_PACKET_HEADROOM` (256) bytes into their chunk; frames xvs
//! allocates itself start at `DATA_OFFSET`, the same place.
//!
//! Every frame has an owner tag: 0 while the worker holds it (free or in flight
//! inside a batch), or the id of the socket whose fill or tx ring holds it. When a
//! socket is closed its frames are reclaimed by tag, so removing a port never leaks
//! UMEM frames, and `check()` can prove that none leaked.

use std::io;
use std::os::fd::RawFd;
use std::sync::Arc;

use anyhow::{anyhow, Result};
use parking_lot::Mutex;

use super::ring::Mmap;

pub const DEFAULT_FRAMES: u32 = 16384;
/// Chunk size of the UMEM: one frame per chunk.
pub const FRAME_SIZE: u32 = 4096;
/// UMEM headroom registered with the kernel (in front of XDP_PACKET_HEADROOM).
pub const FRAME_HEADROOM: u32 = 0;
/// Where a frame's data starts in its chunk: received frames (the kernel's
/// XDP_PACKET_HEADROOM plus our zero UMEM headroom) and frames xvs allocates itself.
/// Everything in front of it is room for headers pushed at the front.
pub const DATA_OFFSET: u32 = 256 + FRAME_HEADROOM;
pub const RING_SIZE: u32 = 2048;

/// A frame: `len` bytes at UMEM offset `addr`, all inside one chunk.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Desc {
    pub addr: u64,
    pub len: u32,
}

impl Desc {
    /// UMEM offset of the chunk the frame is in.
    #[inline]
    pub fn chunk(&self) -> u64 {
        self.addr & !(FRAME_SIZE as u64 - 1)
    }

    /// Where the frame starts inside its chunk.
    #[inline]
    pub fn offset_in_chunk(&self) -> usize {
        (self.addr & (FRAME_SIZE as u64 - 1)) as usize
    }

    /// Index of the chunk in the UMEM.
    #[inline]
    pub fn index(&self) -> usize {
        (self.addr / FRAME_SIZE as u64) as usize
    }
}

/// An AF_XDP socket bound on this UMEM (see `io::xsk`): the socket later sockets
/// share the UMEM through.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Bound {
    pub fd: RawFd,
    pub ifindex: u32,
    pub queue: u32,
}

/// The UMEM memory of one worker.
pub struct Umem {
    area: Mmap,
    n_frames: u32,
    /// Open sockets on this UMEM, oldest first. A new socket shares the UMEM with one
    /// of them (XDP_SHARED_UMEM); the first one registers it. Held while a socket is
    /// bound or closed, so an fd in here is never a recycled number.
    pub(crate) socks: Mutex<Vec<Bound>>,
}

// SAFETY: the area is plain memory. Who may touch which frame is decided by frame
// ownership (the pool, the rings), see the accessors' safety contracts.
unsafe impl Send for Umem {}
unsafe impl Sync for Umem {}

impl Umem {
    pub fn new(n_frames: u32) -> Result<Arc<Umem>> {
        if n_frames == 0 {
            return Err(anyhow!("need at least one frame"));
        }
        let len = n_frames as usize * FRAME_SIZE as usize;
        let area = Mmap::anonymous(len).map_err(|e| anyhow!("creating UMEM of {len} bytes: {e}"))?;
        Ok(Arc::new(Umem { area, n_frames, socks: Mutex::new(Vec::new()) }))
    }

    pub fn n_frames(&self) -> u32 {
        self.n_frames
    }

    /// Size of the UMEM in bytes.
    pub fn len(&self) -> u64 {
        self.area.len() as u64
    }

    pub fn is_empty(&self) -> bool {
        self.area.is_empty()
    }

    /// `d` names a frame inside the UMEM: its chunk exists and the frame ends inside it.
    #[inline]
    pub fn is_valid(&self, d: &Desc) -> bool {
        d.addr < self.len() && d.offset_in_chunk() + d.len as usize <= FRAME_SIZE as usize
    }

    /// Register the UMEM on an AF_XDP socket (XDP_UMEM_REG).
    pub(crate) fn register(&self, fd: RawFd) -> io::Result<()> {
        let reg = libc::xdp_umem_reg {
            addr: self.area.as_ptr() as u64,
            len: self.len(),
            chunk_size: FRAME_SIZE,
            headroom: FRAME_HEADROOM,
            flags: 0,
            tx_metadata_len: 0,
        };
        // SAFETY: a valid xdp_umem_reg of the size we pass.
        let r = unsafe {
            libc::setsockopt(
                fd,
                libc::SOL_XDP,
                libc::XDP_UMEM_REG,
                &reg as *const _ as *const libc::c_void,
                std::mem::size_of::<libc::xdp_umem_reg>() as libc::socklen_t,
            )
        };
        if r != 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    }

    /// (start, length) of the bytes of `d` inside the area, clamped to its chunk;
    /// None if the chunk is outside the UMEM.
    #[inline]
    fn span(&self, d: &Desc) -> Option<(usize, usize)> {
        if d.addr >= self.len() {
            return None;
        }
        let off = d.offset_in_chunk();
        let len = (d.len as usize).min(FRAME_SIZE as usize - off);
        Some((d.addr as usize, len))
    }

    /// The packet bytes of `d` (empty if `d` is outside the UMEM; cut at the end of
    /// its chunk).
    ///
    /// # Safety
    /// The caller holds the frame (it is on no ring the kernel may write to) and
    /// nothing writes to it while the slice lives.
    #[inline]
    pub unsafe fn frame(&self, d: &Desc) -> &[u8] {
        match self.span(d) {
            Some((a, l)) => std::slice::from_raw_parts(self.area.as_ptr().add(a), l),
            None => &[],
        }
    }

    /// The packet bytes of `d`, writable (same bounds as `frame`).
    ///
    /// # Safety
    /// The caller holds the frame, and no other reference to its chunk lives while
    /// the slice does.
    #[inline]
    #[allow(clippy::mut_from_ref)]
    pub unsafe fn frame_mut(&self, d: &Desc) -> &mut [u8] {
        match self.span(d) {
            Some((a, l)) => std::slice::from_raw_parts_mut(self.area.as_ptr().add(a), l),
            None => &mut [],
        }
    }

    /// The whole chunk of `d` (`FRAME_SIZE` bytes) and where the packet starts in it,
    /// so that the packet can grow at the front: write the new bytes in front of the
    /// old start and describe the frame as `Desc { addr: d.chunk() + new_offset, len }`.
    /// An empty slice (offset 0) if `d` is outside the UMEM.
    ///
    /// # Safety
    /// As `frame_mut`.
    #[inline]
    #[allow(clippy::mut_from_ref)]
    pub unsafe fn chunk_mut(&self, d: &Desc) -> (&mut [u8], usize) {
        if d.addr >= self.len() {
            return (&mut [], 0);
        }
        let chunk = std::slice::from_raw_parts_mut(self.area.as_ptr().add(d.chunk() as usize), FRAME_SIZE as usize);
        (chunk, d.offset_in_chunk())
    }
}

pub struct FramePool {
    pub umem: Arc<Umem>,
    /// Chunk addresses of the free frames.
    free: Vec<u64>,
    owner: Vec<u16>,
    n_frames: u32,
}

impl FramePool {
    pub fn new(n_frames: u32) -> Result<FramePool> {
        let umem = Umem::new(n_frames)?;
        // Popped from the end: hand out low chunks first.
        let free = (0..n_frames as u64).rev().map(|i| i * FRAME_SIZE as u64).collect();
        Ok(FramePool { umem, free, owner: vec![0; n_frames as usize], n_frames })
    }

    #[inline]
    fn fresh(chunk: u64) -> Desc {
        Desc { addr: chunk + DATA_OFFSET as u64, len: 0 }
    }

    /// A free frame, empty, starting at `DATA_OFFSET` in its chunk.
    #[inline]
    pub fn alloc(&mut self) -> Option<Desc> {
        self.free.pop().map(Self::fresh)
    }

    /// Return a frame (any descriptor inside its chunk) to the pool.
    #[inline]
    pub fn free(&mut self, d: Desc) {
        self.free.push(d.chunk());
    }

    pub fn n_free(&self) -> usize {
        self.free.len()
    }

    pub fn n_frames(&self) -> u32 {
        self.n_frames
    }

    /// Pop up to `n` free frames into `out` (cleared first), as `alloc` makes them.
    #[inline]
    pub fn alloc_n(&mut self, n: usize, out: &mut Vec<Desc>) {
        out.clear();
        let k = n.min(self.free.len());
        let start = self.free.len() - k;
        out.extend(self.free.drain(start..).map(Self::fresh));
    }

    /// Mark frames as held by socket `sock` (they were put on its fill or tx ring).
    #[inline]
    pub fn give(&mut self, descs: &[Desc], sock: u16) {
        for d in descs {
            if let Some(o) = self.owner.get_mut(d.index()) {
                *o = sock;
            }
        }
    }

    /// Mark frames as back with the worker (rx or completion).
    #[inline]
    pub fn take_back(&mut self, descs: &[Desc]) {
        for d in descs {
            if let Some(o) = self.owner.get_mut(d.index()) {
                *o = 0;
            }
        }
    }

    /// After socket `sock` is closed: every frame it held returns to the pool.
    pub fn reclaim(&mut self, sock: u16) -> usize {
        let mut n = 0;
        for i in 0..self.owner.len() {
            if self.owner[i] == sock {
                self.owner[i] = 0;
                self.free.push(i as u64 * FRAME_SIZE as u64);
                n += 1;
            }
        }
        n
    }

    /// (frames free, frames held by sockets). Free + held + in flight = total.
    pub fn census(&self) -> (usize, usize) {
        (self.free.len(), self.owner.iter().filter(|&&o| o != 0).count())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn desc_chunk_and_offset() {
        let d = Desc { addr: 3 * 4096 + 206, len: 114 };
        assert_eq!(d.chunk(), 3 * 4096);
        assert_eq!(d.offset_in_chunk(), 206);
        assert_eq!(d.index(), 3);
    }

    #[test]
    fn pool_alloc_free_reclaim_census() {
        let mut p = FramePool::new(8).unwrap();
        assert_eq!(p.census(), (8, 0));
        let a = p.alloc().unwrap();
        assert_eq!(a.offset_in_chunk(), DATA_OFFSET as usize);
        assert_eq!(a.len, 0);
        let mut v = Vec::new();
        p.alloc_n(5, &mut v);
        assert_eq!(v.len(), 5);
        assert!(v.iter().all(|d| d.offset_in_chunk() == DATA_OFFSET as usize));
        p.give(&v[..3], 7);
        assert_eq!(p.census(), (2, 3));
        // Two came back (e.g. received), one of them moved inside its chunk.
        let mut back = [v[0], v[1]];
        back[1].addr -= 50;
        p.take_back(&back);
        for d in back {
            p.free(d);
        }
        assert_eq!(p.census(), (4, 1));
        assert_eq!(p.reclaim(7), 1);
        assert_eq!(p.census(), (5, 0));
        p.free(a);
        for d in &v[3..] {
            p.free(*d);
        }
        assert_eq!(p.census(), (8, 0));
        // Every chunk is free exactly once.
        let mut all = Vec::new();
        p.alloc_n(100, &mut all);
        let mut chunks: Vec<u64> = all.iter().map(|d| d.chunk()).collect();
        chunks.sort();
        chunks.dedup();
        assert_eq!(chunks.len(), 8);
    }

    #[test]
    fn accessors_stay_inside_the_chunk() {
        let p = FramePool::new(2).unwrap();
        let u = &p.umem;
        let d = Desc { addr: 4096 + 256, len: 64 };
        assert!(u.is_valid(&d));
        unsafe {
            u.frame_mut(&d).fill(0xab);
            assert_eq!(u.frame(&d).len(), 64);
            // Grow at the front by 50 bytes: write the new header in the headroom.
            let (chunk, off) = u.chunk_mut(&d);
            assert_eq!((chunk.len(), off), (4096, 256));
            chunk[off - 50..off].fill(0xcd);
            let g = Desc { addr: d.chunk() + (off - 50) as u64, len: d.len + 50 };
            assert!(u.is_valid(&g));
            let f = u.frame(&g);
            assert_eq!(f.len(), 114);
            assert!(f[..50].iter().all(|&b| b == 0xcd));
            assert!(f[50..].iter().all(|&b| b == 0xab));
        }
        // Out of the chunk or of the UMEM: rejected, and accessors never go past.
        let cross = Desc { addr: 4096 + 4000, len: 200 };
        assert!(!u.is_valid(&cross));
        assert_eq!(unsafe { u.frame(&cross) }.len(), 96);
        let outside = Desc { addr: 2 * 4096 + 10, len: 10 };
        assert!(!u.is_valid(&outside));
        assert!(unsafe { u.frame(&outside) }.is_empty());
        assert!(unsafe { u.chunk_mut(&outside) }.0.is_empty());
        let huge = Desc { addr: u64::MAX - 5, len: u32::MAX };
        assert!(!u.is_valid(&huge));
        assert!(unsafe { u.frame_mut(&huge) }.is_empty());
    }
}
