//! The four AF_XDP rings (fill, completion, rx, tx) over the areas the kernel maps for
//! a socket, written against the kernel ABI (linux/if_xdp.h).
//!
//! A ring is a power-of-two array of entries plus a producer and a consumer index
//! (free-running u32, wrapping) and a flags word, each at an offset the kernel reports
//! (`XDP_MMAP_OFFSETS`). We are the producer of the fill and tx rings and the consumer
//! of the rx and completion rings. As in libxdp, each side caches the other side's
//! index and only reads the shared one (Acquire) when its cached view runs out; our
//! own index is published with a Release store after the entries are written (or,
//! for a consumer, after they were read).

use std::io;
use std::os::fd::RawFd;
use std::ptr;
use std::sync::atomic::{AtomicU32, Ordering};

/// `struct xdp_desc`: an rx/tx ring entry.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct XdpDesc {
    pub addr: u64,
    pub len: u32,
    pub options: u32,
}

/// Where a ring's fields are inside its mapping (`struct xdp_ring_offset`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RingOffsets {
    pub producer: u64,
    pub consumer: u64,
    pub desc: u64,
    pub flags: u64,
}

impl From<libc::xdp_ring_offset> for RingOffsets {
    fn from(o: libc::xdp_ring_offset) -> Self {
        RingOffsets { producer: o.producer, consumer: o.consumer, desc: o.desc, flags: o.flags }
    }
}

/// An mmap'd area, unmapped on drop.
#[derive(Debug)]
pub struct Mmap {
    ptr: *mut u8,
    len: usize,
}

// SAFETY: the mapping is plain memory; who may touch what in it is the business of
// the types built on it (one owner per ring).
unsafe impl Send for Mmap {}
unsafe impl Sync for Mmap {}

impl Mmap {
    /// Map `len` bytes of the socket `fd` at page offset `pgoff` (one of the
    /// `XDP_PGOFF_*` / `XDP_UMEM_PGOFF_*` values).
    pub fn ring(fd: RawFd, len: usize, pgoff: u64) -> io::Result<Mmap> {
        // SAFETY: a fresh shared mapping of the socket's ring; checked below.
        let p = unsafe {
            libc::mmap(
                ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED | libc::MAP_POPULATE,
                fd,
                pgoff as libc::off_t,
            )
        };
        if p == libc::MAP_FAILED {
            return Err(io::Error::last_os_error());
        }
        Ok(Mmap { ptr: p as *mut u8, len })
    }

    /// Anonymous private memory (the UMEM area), zeroed, page aligned.
    pub fn anonymous(len: usize) -> io::Result<Mmap> {
        // SAFETY: a fresh anonymous mapping; checked below.
        let p = unsafe {
            libc::mmap(ptr::null_mut(), len, libc::PROT_READ | libc::PROT_WRITE, libc::MAP_PRIVATE | libc::MAP_ANONYMOUS, -1, 0)
        };
        if p == libc::MAP_FAILED {
            return Err(io::Error::last_os_error());
        }
        Ok(Mmap { ptr: p as *mut u8, len })
    }

    pub fn as_ptr(&self) -> *mut u8 {
        self.ptr
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

impl Drop for Mmap {
    fn drop(&mut self) {
        // SAFETY: we mapped exactly this range and nothing refers to it any more.
        unsafe {
            libc::munmap(self.ptr as *mut libc::c_void, self.len);
        }
    }
}

/// Bytes to map for a ring of `size` entries of `T` laid out as `off` says.
pub fn ring_len<T>(off: &RingOffsets, size: u32) -> usize {
    off.desc as usize + size as usize * std::mem::size_of::<T>()
}

/// Pointers into one ring's memory.
struct Raw<T> {
    producer: *const AtomicU32,
    consumer: *const AtomicU32,
    flags: *const AtomicU32,
    entries: *mut T,
    mask: u32,
    size: u32,
    /// The mapping the pointers point into (None when the memory belongs to someone
    /// else, e.g. a test buffer).
    _map: Option<Mmap>,
}

impl<T: Copy> Raw<T> {
    /// # Safety
    /// `base` must point to memory laid out as `off` says, valid for `ring_len::<T>(off,
    /// size)` bytes for as long as the ring lives, with the three indices 4-byte
    /// aligned and the entries aligned for `T`; `size` must be a power of two.
    unsafe fn new(base: *mut u8, off: &RingOffsets, size: u32, map: Option<Mmap>) -> Raw<T> {
        assert!(size.is_power_of_two(), "ring size {size} is not a power of two");
        Raw {
            producer: base.add(off.producer as usize) as *const AtomicU32,
            consumer: base.add(off.consumer as usize) as *const AtomicU32,
            flags: base.add(off.flags as usize) as *const AtomicU32,
            entries: base.add(off.desc as usize) as *mut T,
            mask: size - 1,
            size,
            _map: map,
        }
    }

    #[inline]
    fn producer(&self) -> &AtomicU32 {
        // SAFETY: valid for the ring's lifetime (constructor contract).
        unsafe { &*self.producer }
    }

    #[inline]
    fn consumer(&self) -> &AtomicU32 {
        // SAFETY: as above.
        unsafe { &*self.consumer }
    }

    #[inline]
    fn needs_wakeup(&self) -> bool {
        // SAFETY: as above.
        unsafe { &*self.flags }.load(Ordering::Relaxed) & libc::XDP_RING_NEED_WAKEUP != 0
    }

    #[inline]
    fn write(&self, idx: u32, v: T) {
        // SAFETY: `idx & mask` < size, inside the entry array; this slot is ours
        // (reserved between the cached consumer and the producer).
        unsafe { ptr::write(self.entries.add((idx & self.mask) as usize), v) }
    }

    #[inline]
    fn read(&self, idx: u32) -> T {
        // SAFETY: as above; the producer published this slot (Acquire load of its index).
        unsafe { ptr::read(self.entries.add((idx & self.mask) as usize)) }
    }
}

/// A ring we produce into (fill: chunk addresses; tx: descriptors).
pub struct ProdRing<T> {
    raw: Raw<T>,
    cached_prod: u32,
    /// The consumer index plus the ring size: `cached_cons - cached_prod` is the room.
    cached_cons: u32,
}

// SAFETY: a ring is used by one thread at a time (its socket's owner); moving it to
// another thread is fine.
unsafe impl<T: Send> Send for ProdRing<T> {}

impl<T: Copy> ProdRing<T> {
    /// # Safety
    /// See `Raw::new`.
    pub unsafe fn new(base: *mut u8, off: &RingOffsets, size: u32, map: Option<Mmap>) -> ProdRing<T> {
        let raw = Raw::<T>::new(base, off, size, map);
        let cached_prod = raw.producer().load(Ordering::Relaxed);
        let cached_cons = raw.consumer().load(Ordering::Acquire).wrapping_add(size);
        ProdRing { raw, cached_prod, cached_cons }
    }

    pub fn size(&self) -> u32 {
        self.raw.size
    }

    /// Free slots, looking at the consumer's index only if fewer than `want` are
    /// known to be free.
    #[inline]
    pub fn free(&mut self, want: u32) -> u32 {
        let free = self.cached_cons.wrapping_sub(self.cached_prod);
        if free >= want {
            return free;
        }
        self.cached_cons = self.raw.consumer().load(Ordering::Acquire).wrapping_add(self.raw.size);
        self.cached_cons.wrapping_sub(self.cached_prod)
    }

    /// Put as many of `src` on the ring as fit (mapped through `f`), publish them, and
    /// return how many.
    #[inline]
    pub fn produce_from<S>(&mut self, src: &[S], mut f: impl FnMut(&S) -> T) -> usize {
        let n = (self.free(src.len() as u32) as usize).min(src.len());
        if n == 0 {
            return 0;
        }
        let mut idx = self.cached_prod;
        for s in &src[..n] {
            self.raw.write(idx, f(s));
            idx = idx.wrapping_add(1);
        }
        self.cached_prod = idx;
        // Entries before index: visible to the consumer once it sees the new index.
        self.raw.producer().store(idx, Ordering::Release);
        n
    }

    #[inline]
    pub fn produce(&mut self, src: &[T]) -> usize {
        self.produce_from(src, |t| *t)
    }

    /// The kernel asked to be woken (`XDP_RING_NEED_WAKEUP`) to look at this ring.
    #[inline]
    pub fn needs_wakeup(&self) -> bool {
        self.raw.needs_wakeup()
    }
}

/// A ring we consume from (rx: descriptors; completion: addresses).
pub struct ConsRing<T> {
    raw: Raw<T>,
    cached_prod: u32,
    cached_cons: u32,
}

// SAFETY: as for ProdRing.
unsafe impl<T: Send> Send for ConsRing<T> {}

impl<T: Copy> ConsRing<T> {
    /// # Safety
    /// See `Raw::new`.
    pub unsafe fn new(base: *mut u8, off: &RingOffsets, size: u32, map: Option<Mmap>) -> ConsRing<T> {
        let raw = Raw::<T>::new(base, off, size, map);
        let cached_cons = raw.consumer().load(Ordering::Relaxed);
        let cached_prod = raw.producer().load(Ordering::Acquire);
        ConsRing { raw, cached_prod, cached_cons }
    }

    pub fn size(&self) -> u32 {
        self.raw.size
    }

    /// Entries ready (at most `max`), reading the producer's index only when the
    /// cached view is empty.
    #[inline]
    pub fn available(&mut self, max: u32) -> u32 {
        let mut n = self.cached_prod.wrapping_sub(self.cached_cons);
        if n == 0 {
            self.cached_prod = self.raw.producer().load(Ordering::Acquire);
            n = self.cached_prod.wrapping_sub(self.cached_cons);
        }
        n.min(max)
    }

    /// Take up to `out.len()` entries (mapped through `f`), release their slots to the
    /// producer, and return how many.
    #[inline]
    pub fn consume_into<D>(&mut self, out: &mut [D], mut f: impl FnMut(T) -> D) -> usize {
        let n = self.available(out.len() as u32) as usize;
        if n == 0 {
            return 0;
        }
        let mut idx = self.cached_cons;
        for o in &mut out[..n] {
            *o = f(self.raw.read(idx));
            idx = idx.wrapping_add(1);
        }
        self.cached_cons = idx;
        // The entries were read: the producer may reuse the slots.
        self.raw.consumer().store(idx, Ordering::Release);
        n
    }

    #[inline]
    pub fn consume(&mut self, out: &mut [T]) -> usize {
        self.consume_into(out, |t| t)
    }

    #[inline]
    pub fn needs_wakeup(&self) -> bool {
        self.raw.needs_wakeup()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A heap buffer laid out like a kernel ring mapping: producer, consumer and
    /// flags on their own cache lines, entries after them.
    struct Buf {
        mem: Vec<u64>,
        off: RingOffsets,
    }

    impl Buf {
        fn new<T>(size: u32) -> Buf {
            let off = RingOffsets { producer: 0, consumer: 64, flags: 128, desc: 192 };
            let words = ring_len::<T>(&off, size).div_ceil(8);
            Buf { mem: vec![0u64; words], off }
        }
        fn base(&mut self) -> *mut u8 {
            self.mem.as_mut_ptr() as *mut u8
        }
        fn set_indices(&mut self, prod: u32, cons: u32) {
            let b = self.base();
            unsafe {
                *(b as *mut u32) = prod;
                *(b.add(64) as *mut u32) = cons;
            }
        }
        fn set_flags(&mut self, f: u32) {
            let b = self.base();
            unsafe { *(b.add(128) as *mut u32) = f };
        }
        fn prod_index(&mut self) -> u32 {
            let b = self.base();
            unsafe { *(b as *const u32) }
        }
        fn cons_index(&mut self) -> u32 {
            let b = self.base();
            unsafe { *(b.add(64) as *const u32) }
        }
    }

    /// Our producer side and a "kernel" consumer side on the same memory.
    fn pair<T: Copy>(b: &mut Buf, size: u32) -> (ProdRing<T>, ConsRing<T>) {
        let base = b.base();
        unsafe { (ProdRing::new(base, &b.off, size, None), ConsRing::new(base, &b.off, size, None)) }
    }

    #[test]
    fn empty_ring_has_all_slots_free() {
        let mut b = Buf::new::<u64>(8);
        let (mut p, mut c) = pair::<u64>(&mut b, 8);
        assert_eq!(p.free(1), 8);
        assert_eq!(c.available(100), 0);
        assert_eq!(p.size(), 8);
        assert_eq!(c.size(), 8);
    }

    #[test]
    fn produce_stops_when_full_and_resumes_after_consume() {
        let mut b = Buf::new::<u64>(8);
        let (mut p, mut c) = pair::<u64>(&mut b, 8);
        let items: Vec<u64> = (0..12).collect();
        assert_eq!(p.produce(&items), 8);
        assert_eq!(p.free(1), 0);
        assert_eq!(p.produce(&items[8..]), 0);
        let mut out = [0u64; 3];
        assert_eq!(c.consume(&mut out), 3);
        assert_eq!(out, [0, 1, 2]);
        // The producer sees the consumer's progress only when it runs short.
        assert_eq!(p.free(3), 3);
        assert_eq!(p.produce(&items[8..]), 3);
        // The consumer reads the producer's index only once its cached view is used
        // up: first the 5 it knew of, then the 3 new ones.
        let mut out = [0u64; 16];
        assert_eq!(c.consume(&mut out), 5);
        assert_eq!(&out[..5], &[3, 4, 5, 6, 7]);
        assert_eq!(c.consume(&mut out), 3);
        assert_eq!(&out[..3], &[8, 9, 10]);
        assert_eq!(c.consume(&mut out), 0);
        assert_eq!(p.free(8), 8);
    }

    #[test]
    fn indices_wrap_around_u32() {
        let mut b = Buf::new::<XdpDesc>(4);
        let start = u32::MAX - 5;
        b.set_indices(start, start);
        let (mut p, mut c) = pair::<XdpDesc>(&mut b, 4);
        let mut next = 0u64;
        let mut expect = 0u64;
        for round in 0..20 {
            let src: Vec<u64> = (next..next + 3).collect();
            let n = p.produce_from(&src, |&a| XdpDesc { addr: a * 4096 + 256, len: a as u32, options: 0 });
            assert!(n <= 3, "round {round}");
            next += n as u64;
            let mut out = [0u64; 2];
            let k = c.consume_into(&mut out, |d| {
                assert_eq!(d.addr, d.len as u64 * 4096 + 256);
                d.len as u64
            });
            for v in &out[..k] {
                assert_eq!(*v, expect);
                expect += 1;
            }
        }
        let mut out = [0u64; 8];
        let k = c.consume_into(&mut out, |d| d.len as u64);
        for v in &out[..k] {
            assert_eq!(*v, expect);
            expect += 1;
        }
        assert_eq!(expect, next);
        assert!(next > 8, "the indices went round the ring several times");
        // Shared indices crossed u32::MAX and still agree.
        let (pi, ci) = (b.prod_index(), b.cons_index());
        assert_eq!(pi, ci);
        assert_eq!(pi, start.wrapping_add(next as u32));
        assert!(pi < start);
    }

    #[test]
    fn consumer_sees_only_published_entries() {
        let mut b = Buf::new::<u64>(8);
        let (mut p, mut c) = pair::<u64>(&mut b, 8);
        p.produce(&[7, 8]);
        // Cached view: 2 ready; more produced later shows up once those are used.
        assert_eq!(c.available(8), 2);
        p.produce(&[9]);
        assert_eq!(c.available(8), 2);
        let mut out = [0u64; 2];
        assert_eq!(c.consume(&mut out), 2);
        assert_eq!(c.available(8), 1);
        assert_eq!(c.available(0), 0);
    }

    #[test]
    fn need_wakeup_flag() {
        let mut b = Buf::new::<u64>(8);
        let (p, c) = pair::<u64>(&mut b, 8);
        assert!(!p.needs_wakeup());
        b.set_flags(libc::XDP_RING_NEED_WAKEUP);
        assert!(p.needs_wakeup());
        assert!(c.needs_wakeup());
    }

    #[test]
    fn ring_starts_from_existing_indices() {
        // A ring mapped after the kernel already moved its indices (e.g. a reopened
        // socket): 3 entries outstanding, so 5 free.
        let mut b = Buf::new::<u64>(8);
        b.set_indices(10, 7);
        let (mut p, mut c) = pair::<u64>(&mut b, 8);
        assert_eq!(p.free(8), 5);
        assert_eq!(c.available(8), 3);
    }

    #[test]
    fn xdp_desc_matches_kernel_layout() {
        assert_eq!(std::mem::size_of::<XdpDesc>(), std::mem::size_of::<libc::xdp_desc>());
        assert_eq!(std::mem::size_of::<XdpDesc>(), 16);
    }
}
