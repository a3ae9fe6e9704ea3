//! A worker's UMEM and its free-frame pool.
//!
//! One UMEM per worker, shared by every AF_XDP socket that worker serves, so moving a
//! frame from one port to another is passing a descriptor, never a copy. The pool is
//! a LIFO stack (recently freed frames are still warm in cache) owned by the worker
//! thread: no locks.
//!
//! Every frame has an owner tag: 0 while the worker holds it (free or in flight
//! inside a batch), or the id of the socket whose fill or tx ring holds it. When a
//! socket is closed its frames are reclaimed by tag, so removing a port never leaks
//! UMEM frames, and `check()` can prove that none leaked.

use std::num::NonZeroU32;

use anyhow::{anyhow, Result};
use xsk_rs::config::{FrameSize, QueueSize, UmemConfig};
use xsk_rs::umem::frame::FrameDesc;
use xsk_rs::umem::Umem;

pub const DEFAULT_FRAMES: u32 = 16384;
pub const FRAME_SIZE: u32 = 4096;
/// Bytes kept free in front of every frame's data for headers pushed by actions
/// (VLAN today, tunnel encapsulation later) without moving the payload.
pub const FRAME_HEADROOM: u32 = 0;
pub const RING_SIZE: u32 = 2048;

pub struct FramePool {
    pub umem: Umem,
    free: Vec<FrameDesc>,
    /// The descriptor of every frame as `Umem::new` made it, by frame index (xsk-rs
    /// does not let us build descriptors, so reclaimed frames are copied from here).
    all: Vec<FrameDesc>,
    owner: Vec<u16>,
    n_frames: u32,
}

impl FramePool {
    pub fn new(n_frames: u32) -> Result<FramePool> {
        let cfg = UmemConfig::builder()
            .frame_size(FrameSize::new(FRAME_SIZE).map_err(|e| anyhow!("{e}"))?)
            .frame_headroom(FRAME_HEADROOM)
            .fill_queue_size(QueueSize::new(RING_SIZE).map_err(|e| anyhow!("{e}"))?)
            .comp_queue_size(QueueSize::new(RING_SIZE).map_err(|e| anyhow!("{e}"))?)
            .build()
            .map_err(|e| anyhow!("UMEM config: {e}"))?;
        let n = NonZeroU32::new(n_frames).ok_or_else(|| anyhow!("need at least one frame"))?;
        let (umem, descs) = Umem::new(cfg, n, false).map_err(|e| anyhow!("creating UMEM: {e}"))?;
        Ok(FramePool { umem, all: descs.clone(), free: descs, owner: vec![0; n_frames as usize], n_frames })
    }

    #[inline]
    fn index(&self, d: &FrameDesc) -> usize {
        d.addr() / FRAME_SIZE as usize
    }

    #[inline]
    pub fn alloc(&mut self) -> Option<FrameDesc> {
        self.free.pop()
    }

    #[inline]
    pub fn free(&mut self, d: FrameDesc) {
        self.free.push(d);
    }

    pub fn n_free(&self) -> usize {
        self.free.len()
    }

    pub fn n_frames(&self) -> u32 {
        self.n_frames
    }

    /// Pop up to `n` free frames into `out` (cleared first).
    #[inline]
    pub fn alloc_n(&mut self, n: usize, out: &mut Vec<FrameDesc>) {
        out.clear();
        let k = n.min(self.free.len());
        let start = self.free.len() - k;
        out.extend(self.free.drain(start..));
    }

    /// Mark frames as held by socket `sock` (they were put on its fill or tx ring).
    #[inline]
    pub fn give(&mut self, descs: &[FrameDesc], sock: u16) {
        for d in descs {
            let i = self.index(d);
            self.owner[i] = sock;
        }
    }

    /// Mark frames as back with the worker (rx or completion).
    #[inline]
    pub fn take_back(&mut self, descs: &[FrameDesc]) {
        for d in descs {
            let i = self.index(d);
            self.owner[i] = 0;
        }
    }

    /// After socket `sock` is closed: every frame it held returns to the pool.
    pub fn reclaim(&mut self, sock: u16) -> usize {
        let mut n = 0;
        for i in 0..self.owner.len() {
            if self.owner[i] == sock {
                self.owner[i] = 0;
                self.free.push(self.all[i]);
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
