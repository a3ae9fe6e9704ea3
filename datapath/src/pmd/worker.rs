//! A poll-mode worker: one thread, pinned to one CPU, owning one UMEM, the AF_XDP
//! sockets of the (port, queue) pairs assigned to it, and its flow caches.
//!
//! Loop: control messages -> pipeline epoch check -> change-log check (targeted
//! revalidation, `cache::tags`) -> for each rx queue: receive a
//! batch, extract keys, look them up, execute actions (per-port tx batches) -> flush
//! tx -> reap completions -> refill fill rings -> housekeeping -> idle backoff.
//! Nothing in the per-packet path allocates or locks.

use std::os::fd::RawFd;
use std::sync::atomic::{AtomicU16, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use arc_swap::ArcSwap;
use crossbeam_channel::{Receiver, Sender};

use super::stats::{DropReason, PmdCounters, PortCounters, SharedStats, MAX_DP_PORTS};
use crate::cache::{Cache, DEFAULT_EMC_ENTRIES, DEFAULT_MAX_MEGAFLOWS};
use crate::clock;
use crate::flow::{FlowKey, FlowSpec};
use crate::io::umem::{Desc, FramePool, Umem};
use crate::io::xsk::XskQueue;
use crate::odp::DpAction;
use crate::ofproto::pipeline::Pipeline;
use crate::packet::buf::PacketMut;
use crate::packet::extract::{extract, Offsets};
use crate::port::OdpPort;

pub const BATCH: usize = 32;
/// Passes through the caches one packet may take (a tunnel pop is a second pass).
const MAX_PASSES: u32 = 4;
/// Pending tx frames per port before a forced flush.
const TX_FLUSH: usize = 64;
/// Megaflows idle this long are removed (as Open vSwitch's max-idle default).
const MAX_IDLE_NS: u64 = 10_000_000_000;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PollMode {
    /// Spin on the rings forever (lowest latency, one core at 100%).
    Busy,
    /// Spin while there is traffic; after a while without any, sleep in poll(2) on the
    /// sockets (woken by traffic or a control message). Lets tests, the lab and a
    /// generator share a small machine.
    Adaptive,
}

/// One megaflow as `dump-megaflows` shows it.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct MegaflowDump {
    pub worker: usize,
    pub key: String,
    pub packets: u64,
    pub bytes: u64,
    pub used_secs: f64,
    pub actions: String,
}

/// How many captures on patch ports can run at once.
pub const MAX_TAPS: usize = 16;

/// A frame copied for `xvsctl capture`.
pub struct CapturedFrame {
    pub ts_ns: u64,
    /// Received on the port (true) or sent out of it (false).
    pub rx: bool,
    pub data: Vec<u8>,
}

pub enum WorkerMsg {
    /// Start (Some) or stop (None) copying the frames a port receives and sends.
    Capture { dp_port: u32, to: Option<Sender<CapturedFrame>>, reply: Sender<()> },
    /// Start (Some) or stop (None) the capture behind `DpAction::Tap { id, .. }`.
    CaptureTap { id: u16, to: Option<Sender<CapturedFrame>>, reply: Sender<()> },
    AddQueue { dp_port: u32, q: Box<XskQueue>, reply: Sender<Result<RawFd, String>> },
    RemovePort { dp_port: u32, reply: Sender<()> },
    /// Credit all megaflow counters to rules and publish counters.
    Sync { reply: Sender<()> },
    DumpMegaflows { reply: Sender<Vec<MegaflowDump>> },
    FlushCache { reply: Sender<()> },
    Stop,
}

/// What the control plane keeps of a worker.
pub struct WorkerShared {
    pub id: usize,
    pub cpu: Option<usize>,
    pub stats: SharedStats,
    /// A handle on the worker's UMEM, to create sockets on it from the control thread.
    pub umem: Arc<Umem>,
    pub next_sock_id: AtomicU16,
    /// eventfd that wakes the worker from its idle poll.
    pub wake_fd: RawFd,
    pub running: std::sync::atomic::AtomicBool,
}

impl WorkerShared {
    pub fn wake(&self) {
        let one: u64 = 1;
        unsafe {
            libc::write(self.wake_fd, &one as *const u64 as *const libc::c_void, 8);
        }
    }
}

impl Drop for WorkerShared {
    fn drop(&mut self) {
        unsafe {
            libc::close(self.wake_fd);
        }
    }
}

/// Messages from workers to the control plane (side effects of translation).
pub enum Upcall {
    /// `learn()` produced these flows for bridge index `.0`.
    Learned(usize, Vec<FlowSpec>),
    /// A tunnel's next hop needs resolving (ARP).
    NeighMiss(crate::xlate::NeighMiss),
}

struct TxPort {
    sock: usize,
    pending: Vec<Desc>,
}

pub struct Worker {
    shared: Arc<WorkerShared>,
    pool: FramePool,
    socks: Vec<(u32, XskQueue)>,
    ports: Vec<Option<TxPort>>,
    cache: Cache,
    pipeline_src: Arc<ArcSwap<Pipeline>>,
    epoch_src: Arc<AtomicU64>,
    pipeline: Arc<Pipeline>,
    epoch: u64,
    /// The datapath's change log (MAC-table changes), followed between batches.
    changes: Arc<crate::cache::tags::ChangeLog>,
    rx: Receiver<WorkerMsg>,
    upcalls: Sender<Upcall>,
    mode: PollMode,
    c: PmdCounters,
    pc: Vec<PortCounters>,
    /// Per datapath port: where to copy its frames while a capture runs. Checked once
    /// per batch (rx) or per frame (tx) — a None costs a branch.
    capture: Vec<Option<Sender<CapturedFrame>>>,
    /// Per tap id: where `DpAction::Tap` copies frames (captures on patch ports).
    taps: Vec<Option<Sender<CapturedFrame>>>,
    /// Upcall budget per window and, per input port, (window start, upcalls in it).
    upcall_budget: u32,
    upcall_window: Vec<(u64, u32)>,
    // scratch, allocated once
    descs: [Desc; BATCH],
    keys: Box<[FlowKey; BATCH]>,
    offs: [Offsets; BATCH],
    scratch: Vec<Desc>,
    comp: [Desc; 64],
    last_housekeeping: Instant,
    last_rank: Instant,
    /// Coarse current time (refreshed every ~1000 loop iterations) for megaflow
    /// "used" stamps, so the per-batch path does not read the clock.
    now_ns: u64,
}

pub struct WorkerConfig {
    pub id: usize,
    pub cpu: Option<usize>,
    pub frames: u32,
    pub mode: PollMode,
    pub emc_entries: Option<usize>,
    /// EMC insertion: one megaflow hit in N (None: the default, 100).
    pub emc_insert_inv_prob: Option<u32>,
    /// Cache misses each input port may send to the slow path per second (0: no
    /// limit). Traffic that matches nothing still gets a drop megaflow on its first
    /// miss, so only traffic that keeps creating new megaflows (a scan, a flood of
    /// random addresses) runs into this.
    pub upcall_rate: u32,
}

/// Upcall budgets are granted per window of this length.
const UPCALL_WINDOW_NS: u64 = 100_000_000;

/// Create a worker (its UMEM and shared handle). Run it with `Worker::run` on its
/// own thread.
pub fn new_worker(
    cfg: WorkerConfig,
    pipeline_src: Arc<ArcSwap<Pipeline>>,
    epoch_src: Arc<AtomicU64>,
    rx: Receiver<WorkerMsg>,
    upcalls: Sender<Upcall>,
) -> anyhow::Result<(Worker, Arc<WorkerShared>)> {
    let pool = FramePool::new(cfg.frames)?;
    let wake_fd = unsafe { libc::eventfd(0, libc::EFD_NONBLOCK | libc::EFD_CLOEXEC) };
    if wake_fd < 0 {
        anyhow::bail!("eventfd: {}", std::io::Error::last_os_error());
    }
    let shared = Arc::new(WorkerShared {
        id: cfg.id,
        cpu: cfg.cpu,
        stats: SharedStats::default(),
        umem: pool.umem.clone(),
        next_sock_id: AtomicU16::new(1),
        wake_fd,
        running: std::sync::atomic::AtomicBool::new(true),
    });
    let pipeline = pipeline_src.load_full();
    let changes = pipeline.changes.clone();
    let w = Worker {
        shared: shared.clone(),
        pool,
        socks: Vec::new(),
        ports: (0..MAX_DP_PORTS).map(|_| None).collect(),
        cache: {
            let mut c = Cache::new(cfg.emc_entries.unwrap_or(DEFAULT_EMC_ENTRIES), DEFAULT_MAX_MEGAFLOWS);
            if let Some(n) = cfg.emc_insert_inv_prob {
                c.emc_insert_inv_prob = n;
            }
            c.follow(&changes);
            c
        },
        changes,
        epoch: epoch_src.load(Ordering::Acquire),
        pipeline_src,
        epoch_src,
        pipeline,
        rx,
        upcalls,
        mode: cfg.mode,
        c: PmdCounters::default(),
        pc: vec![PortCounters::default(); MAX_DP_PORTS],
        capture: (0..MAX_DP_PORTS).map(|_| None).collect(),
        taps: (0..MAX_TAPS).map(|_| None).collect(),
        upcall_budget: if cfg.upcall_rate == 0 { u32::MAX } else { (cfg.upcall_rate as u64 * UPCALL_WINDOW_NS / 1_000_000_000).max(1) as u32 },
        upcall_window: vec![(0, 0); MAX_DP_PORTS],
        descs: [Desc::default(); BATCH],
        keys: Box::new([FlowKey::ZERO; BATCH]),
        offs: [Offsets::default(); BATCH],
        scratch: Vec::with_capacity(4096),
        comp: [Desc::default(); 64],
        last_housekeeping: Instant::now(),
        last_rank: Instant::now(),
        now_ns: clock::now_ns(),
    };
    Ok((w, shared))
}

impl Worker {
    pub fn run(mut self) {
        if let Some(cpu) = self.shared.cpu {
            if !core_affinity::set_for_current(core_affinity::CoreId { id: cpu }) {
                tracing::warn!("worker {}: could not pin to CPU {cpu}", self.shared.id);
            }
        }
        let _ = super::tsc::ticks_per_ns(); // calibrate before traffic
        let mut idle_iters: u32 = 0;
        let mut iter: u64 = 0;
        let mut t_prev = super::tsc::now();
        loop {
            iter += 1;
            // Control messages are rare: look every 64 iterations (a sleeping worker is
            // woken by the eventfd and looks right after).
            if iter & 63 == 0 && !self.control() {
                break;
            }
            let e = self.epoch_src.load(Ordering::Acquire);
            if e != self.epoch {
                self.epoch = e;
                self.pipeline = self.pipeline_src.load_full();
                self.cache.note_new_epoch();
            }
            // MAC-table changes: mark only the megaflows that consulted them.
            self.cache.poll_changes(&self.changes);
            let n = self.poll_once();
            let t = super::tsc::now();
            let dt = t.wrapping_sub(t_prev);
            t_prev = t;
            self.c.iterations += 1;
            if n > 0 {
                self.c.busy_ticks += dt;
                idle_iters = 0;
            } else {
                self.c.idle_ticks += dt;
                idle_iters += 1;
                if idle_iters == 1 || idle_iters.is_multiple_of(4096) {
                    self.publish();
                }
                if self.mode == PollMode::Adaptive && idle_iters > 2000 {
                    self.sleep();
                    if !self.control() {
                        break;
                    }
                    idle_iters = 1000;
                    t_prev = super::tsc::now();
                }
            }
            if iter & 1023 == 0 {
                self.now_ns = clock::now_ns();
                if self.last_housekeeping.elapsed() >= Duration::from_millis(100) {
                    self.housekeeping();
                }
            }
        }
        self.publish();
    }

    /// Handle pending control messages. Returns false on Stop.
    fn control(&mut self) -> bool {
        while let Ok(m) = self.rx.try_recv() {
            match m {
                WorkerMsg::AddQueue { dp_port, q, reply } if self.socks.len() >= crate::io::xsk::max_sockets(self.pool.n_frames()) => {
                    let n = self.pool.n_frames();
                    // Closing the socket returns nothing: its rings never held our frames.
                    drop(q);
                    let _ = reply.send(Err(format!(
                        "worker {} has {} AF_XDP sockets, as many as {n} UMEM frames keep filled ({} each); \
                         start xvsd with more --frames for datapath port {dp_port}",
                        self.shared.id,
                        self.socks.len(),
                        crate::io::xsk::fill_target(n)
                    )));
                }
                WorkerMsg::AddQueue { dp_port, mut q, reply } => {
                    let fd = q.fd();
                    q.refill(&mut self.pool, &mut self.scratch);
                    self.socks.push((dp_port, *q));
                    let si = self.socks.len() - 1;
                    if let Some(slot) = self.ports.get_mut(dp_port as usize) {
                        if slot.is_none() {
                            *slot = Some(TxPort { sock: si, pending: Vec::with_capacity(4 * TX_FLUSH) });
                        }
                        let _ = reply.send(Ok(fd));
                    } else {
                        let _ = reply.send(Err(format!("datapath port {dp_port} out of range")));
                    }
                }
                WorkerMsg::RemovePort { dp_port, reply } => {
                    self.remove_port(dp_port);
                    let _ = reply.send(());
                }
                WorkerMsg::Sync { reply } => {
                    self.cache.credit_all();
                    self.publish();
                    let _ = reply.send(());
                }
                WorkerMsg::DumpMegaflows { reply } => {
                    let _ = reply.send(self.dump_megaflows());
                }
                WorkerMsg::Capture { dp_port, to, reply } => {
                    if let Some(slot) = self.capture.get_mut(dp_port as usize) {
                        *slot = to;
                    }
                    let _ = reply.send(());
                }
                WorkerMsg::CaptureTap { id, to, reply } => {
                    if let Some(slot) = self.taps.get_mut(id as usize) {
                        *slot = to;
                    }
                    let _ = reply.send(());
                }
                WorkerMsg::FlushCache { reply } => {
                    self.cache.flush();
                    let _ = reply.send(());
                }
                WorkerMsg::Stop => return false,
            }
        }
        true
    }

    fn remove_port(&mut self, dp_port: u32) {
        if let Some(Some(tp)) = self.ports.get_mut(dp_port as usize).map(|p| p.take()) {
            for d in tp.pending {
                self.pool.free(d);
            }
        }
        let mut i = 0;
        while i < self.socks.len() {
            if self.socks[i].0 == dp_port {
                let (_, q) = self.socks.remove(i);
                let id = q.sock_id;
                drop(q); // closes the socket: the kernel lets go of its frames
                self.pool.reclaim(id);
            } else {
                i += 1;
            }
        }
        // Socket indices shifted: rebuild the port -> tx socket map.
        for (dp, slot) in self.ports.iter_mut().enumerate() {
            if let Some(tp) = slot {
                match self.socks.iter().position(|(d, _)| *d as usize == dp) {
                    Some(si) => tp.sock = si,
                    None => *slot = None,
                }
            }
        }
        self.pc[dp_port as usize] = PortCounters::default();
        self.capture[dp_port as usize] = None;
        // Megaflows that output to the port will be revalidated (the control plane
        // publishes a new pipeline), but drop them now so nothing is sent there.
        self.cache.flush();
    }

    fn publish(&mut self) {
        let cc = self.cache.counters;
        self.c.port_hits = cc.port_hits;
        self.c.emc_hits = cc.emc_hits;
        self.c.megaflow_hits = cc.megaflow_hits;
        self.c.misses = cc.misses;
        self.c.subtable_probes = cc.subtable_probes;
        self.c.revalidated = cc.revalidated;
        self.c.revalidation_removed = cc.revalidation_removed;
        self.c.reval_marked = cc.reval_marked;
        self.c.reval_full = cc.reval_full;
        self.c.reval_overruns = cc.reval_overruns;
        self.c.reval_ticks = cc.reval_ticks;
        self.shared.stats.publish(&self.c, &self.pc);
        self.shared.stats.megaflows.store(self.cache.mf.len() as u64, Ordering::Relaxed);
        let (free, held) = self.pool.census();
        self.shared.stats.frames_total.store(self.pool.n_frames() as u64, Ordering::Relaxed);
        self.shared.stats.frames_free.store(free as u64, Ordering::Relaxed);
        self.shared.stats.frames_in_kernel.store(held as u64, Ordering::Relaxed);
    }

    /// One pass over every rx queue; returns packets received.
    #[inline]
    fn poll_once(&mut self) -> usize {
        let mut total = 0;
        for si in 0..self.socks.len() {
            let dp_port = self.socks[si].0;
            let n = {
                let (pool, descs) = (&mut self.pool, &mut self.descs);
                self.socks[si].1.rx_burst(pool, descs)
            };
            if n > 0 {
                total += n;
                self.process_batch(dp_port, n);
            }
        }
        if total > 0 {
            self.flush_tx();
        }
        // Completions and fill-ring refills also run when idle: tx may complete late.
        for (_, q) in self.socks.iter_mut() {
            q.complete(&mut self.pool, &mut self.comp);
        }
        for (_, q) in self.socks.iter_mut() {
            q.refill(&mut self.pool, &mut self.scratch);
            if total == 0 {
                q.fill_kick();
            }
        }
        total
    }

    fn process_batch(&mut self, in_port: u32, n: usize) {
        self.c.packets += n as u64;
        self.c.batches += 1;
        let now = self.now_ns;
        if self.capture[in_port as usize].is_some() {
            for i in 0..n {
                self.capture_frame(in_port, self.descs[i], true);
            }
        }
        // Stage 1: extract every key of the batch (bit i of `valid`: frame i parsed).
        let mut valid: u64 = 0;
        for i in 0..n {
            // SAFETY: descriptors just came from the rx ring of a socket on our UMEM.
            let frame = unsafe { self.pool.umem.frame(&self.descs[i]) };
            let pc = &mut self.pc[in_port as usize];
            pc.rx_packets += 1;
            pc.rx_bytes += frame.len() as u64;
            match extract(frame, in_port, &mut self.keys[i]) {
                Ok(o) => {
                    self.offs[i] = o;
                    valid |= 1 << i;
                }
                Err(m) => self.drop_rx(in_port, self.descs[i], DropReason::from_malformed(m)),
            }
        }
        // Stage 2+3: cache lookup (or upcall), then execute; a tunnel pop sends the
        // inner packet through both again (a recirculation), a few times at most.
        let p = self.pipeline.clone();
        while valid != 0 {
            let i = valid.trailing_zeros() as usize;
            valid &= valid - 1;
            let mut key = self.keys[i];
            let mut desc = self.descs[i];
            let mut ofs = self.offs[i];
            let mut pass = 0;
            loop {
                let Some(idx) = self.lookup_or_upcall(in_port, &key, &p, now) else {
                    self.drop_rx(in_port, desc, DropReason::UpcallRateLimited);
                    break;
                };
                let len = desc.len as u64;
                let entry = self.cache.mf.get_mut(idx).expect("looked-up entry exists");
                entry.pending_packets += 1;
                entry.pending_bytes += len;
                entry.packets += 1;
                entry.bytes += len;
                entry.used_ns = now;
                let error = entry.error;
                let last_output = entry.last_output;
                // The entry's actions are borrowed while the pool and tx buffers change.
                let actions: *const [DpAction] = &*entry.actions;
                // SAFETY: execute() touches the frame pool, tx buffers and counters, never
                // the cache, so the entry (and its actions) stays alive and unmodified.
                let actions = unsafe { &*actions };
                match self.execute(in_port, desc, ofs, actions, last_output, error, &p) {
                    None => break,
                    Some((d, k, o)) => {
                        pass += 1;
                        if pass >= MAX_PASSES {
                            self.drop_rx(in_port, d, DropReason::RecircTooDeep);
                            break;
                        }
                        (desc, key, ofs) = (d, k, o);
                    }
                }
            }
        }
    }

    /// The megaflow for `key`, translating on a miss (within the input port's upcall
    /// budget; None when over it).
    #[inline]
    fn lookup_or_upcall(&mut self, in_port: u32, key: &FlowKey, p: &Arc<Pipeline>, now: u64) -> Option<u32> {
        if let Some((idx, _)) = self.cache.lookup(key, p, self.epoch) {
            return Some(idx);
        }
        if !self.upcall_allowed(in_port, now) {
            return None;
        }
        let t = super::tsc::now();
        let (idx, out) = self.cache.upcall(key, p, self.epoch);
        self.c.upcall_ticks += super::tsc::now().wrapping_sub(t);
        if !out.learned.is_empty() {
            self.send_learned(&out.learned);
        }
        for m in out.neigh_misses {
            let _ = self.upcalls.try_send(Upcall::NeighMiss(m));
        }
        Some(idx)
    }

    /// Take one upcall from the input port's budget for the current window.
    #[inline]
    fn upcall_allowed(&mut self, in_port: u32, now: u64) -> bool {
        let w = &mut self.upcall_window[in_port as usize];
        if now.saturating_sub(w.0) >= UPCALL_WINDOW_NS {
            *w = (now, 0);
        }
        if w.1 >= self.upcall_budget {
            return false;
        }
        w.1 += 1;
        true
    }

    fn drop_rx(&mut self, in_port: u32, d: Desc, why: DropReason) {
        self.c.drops[why as usize] += 1;
        if let Some(pc) = self.pc.get_mut(in_port as usize) {
            pc.rx_dropped += 1;
        }
        self.pool.free(d);
    }

    /// Run a megaflow's actions on a frame. Outputs before the last one that takes
    /// the frame send copies; a clone runs its actions on a copy. Returns the inner
    /// packet (frame, key, offsets) when a tunnel pop hands it to a next pass.
    #[allow(clippy::too_many_arguments)]
    fn execute(
        &mut self,
        in_port: u32,
        mut desc: Desc,
        mut ofs: Offsets,
        actions: &[DpAction],
        last_output: Option<u16>,
        error: Option<crate::xlate::XlateError>,
        p: &Pipeline,
    ) -> Option<(Desc, FlowKey, Offsets)> {
        let Some(last) = last_output else {
            // Clones and taps may still act on copies before the original is dropped.
            for a in actions {
                match a {
                    DpAction::Clone(inner) => self.execute_clone(in_port, &desc, ofs, inner),
                    DpAction::Tap { id, rx } => self.tap(*id, *rx, &desc),
                    _ => {}
                }
            }
            let why = error.map(DropReason::from_xlate).unwrap_or(DropReason::FlowDrop);
            self.drop_rx(in_port, desc, why);
            return None;
        };
        for (j, a) in actions.iter().enumerate() {
            match a {
                DpAction::Output(port) => {
                    if j == last as usize {
                        self.queue_tx(port.0, desc);
                        return None;
                    }
                    // Not the last output: send a copy, keep working on the original.
                    self.send_copy(&desc, port.0);
                }
                DpAction::TnlPop(vport) => {
                    if j == last as usize {
                        return self.tnl_pop(in_port, desc, *vport, p);
                    }
                    if let Some(copy) = self.copy_frame(&desc) {
                        if let Some(next) = self.tnl_pop(in_port, copy, *vport, p) {
                            // A pop that is not the last action: its inner packet
                            // goes on only if nothing else needs the frame.
                            self.pool.free(next.0);
                        }
                    }
                }
                DpAction::Clone(inner) => self.execute_clone(in_port, &desc, ofs, inner),
                DpAction::Tap { id, rx } => self.tap(*id, *rx, &desc),
                _ => {
                    if let Err(why) = self.rewrite(&mut desc, &mut ofs, a) {
                        self.rewrite_failed(in_port, desc, ofs, a, why);
                        return None;
                    }
                }
            }
        }
        None
    }

    /// A rewrite failed: drop the frame under `why`. A packet too large for a
    /// tunnel's underlay with DF set goes back to its sender as an ICMP
    /// "fragmentation needed" carrying the tunnel's MTU (path MTU discovery works
    /// through the tunnel); anything else is just dropped.
    #[cold]
    fn rewrite_failed(&mut self, in_port: u32, mut desc: Desc, ofs: Offsets, a: &DpAction, why: DropReason) {
        if let (DropReason::TnlMtuExceeded, DpAction::TnlPush(p)) = (why, a) {
            let mtu = p.max_inner.saturating_sub(14);
            // SAFETY: a frame we own, on our UMEM.
            let (chunk, off) = unsafe { self.pool.umem.chunk_mut(&desc) };
            let made = match PacketMut::with_headroom(chunk, off, desc.len as usize) {
                Some(mut pkt) => {
                    let ok = crate::packet::icmp::frag_needed_in_place(&mut pkt, ofs.l3 as usize, mtu);
                    desc.addr = desc.chunk() + pkt.start() as u64;
                    desc.len = pkt.len() as u32;
                    ok
                }
                None => false,
            };
            if made {
                self.c.drops[why as usize] += 1;
                self.queue_tx(in_port, desc);
                return;
            }
        }
        self.drop_rx(in_port, desc, why);
    }

    /// Apply a header rewrite (or encapsulation) to a frame we own.
    #[inline]
    fn rewrite(&mut self, desc: &mut Desc, ofs: &mut Offsets, a: &DpAction) -> Result<(), DropReason> {
        // A capture on a tunnel port sees the inner frame as it leaves through it.
        if let DpAction::TnlPush(p) = a {
            if matches!(self.capture.get(p.vport.0 as usize), Some(Some(_))) {
                self.capture_frame(p.vport.0, *desc, false);
            }
        }
        // SAFETY: a frame we own, on our UMEM.
        unsafe { apply_rewrite(&self.pool.umem, desc, ofs, a) }.map_err(|e| match e {
            crate::packet::RewriteError::TooBig => DropReason::TnlMtuExceeded,
            _ => DropReason::RewriteFailed,
        })
    }

    /// Strip a tunnel's outer headers and make the inner packet's key: it enters
    /// again from tunnel vport `vport`, with the tunnel metadata set.
    fn tnl_pop(&mut self, in_port: u32, mut desc: Desc, vport: OdpPort, p: &Pipeline) -> Option<(Desc, FlowKey, Offsets)> {
        let Some(v) = p.vports.get(&vport).copied() else {
            self.drop_rx(in_port, desc, DropReason::TnlNoPort);
            return None;
        };
        let md = {
            // SAFETY: a frame we own, on our UMEM.
            let (chunk, off) = unsafe { self.pool.umem.chunk_mut(&desc) };
            let Some(mut pkt) = PacketMut::with_headroom(chunk, off, desc.len as usize) else {
                self.drop_rx(in_port, desc, DropReason::TnlTruncated);
                return None;
            };
            match crate::packet::tunnel::pop(&mut pkt, v.proto, v.dst_port) {
                Ok(md) => {
                    desc.addr = desc.chunk() + pkt.start() as u64;
                    desc.len = pkt.len() as u32;
                    md
                }
                Err(e) => {
                    self.drop_rx(in_port, desc, DropReason::from_pop(e));
                    return None;
                }
            }
        };
        let mut key = FlowKey::ZERO;
        // SAFETY: as above.
        let frame = unsafe { self.pool.umem.frame(&desc) };
        let ofs = match extract(frame, vport.0, &mut key) {
            Ok(o) => o,
            Err(m) => {
                self.drop_rx(in_port, desc, DropReason::from_malformed(m));
                return None;
            }
        };
        use crate::flow::Field;
        Field::TunId.set(&mut key, md.tun_id as u128);
        Field::TunSrc.set(&mut key, u32::from(md.src) as u128);
        Field::TunDst.set(&mut key, u32::from(md.dst) as u128);
        // All tunnel flags ride in the datapath key (OpenFlow's tun_flags sees oam).
        key.w[crate::flow::key::word::CT] |= (md.flags as u64) << 32;
        if let Some(pc) = self.pc.get_mut(vport.0 as usize) {
            pc.rx_packets += 1;
            pc.rx_bytes += desc.len as u64;
        }
        if matches!(self.capture.get(vport.0 as usize), Some(Some(_))) {
            self.capture_frame(vport.0, desc, true);
        }
        Some((desc, key, ofs))
    }

    /// Run `actions` on a copy of the frame (an encapsulation that is not the last
    /// thing done with the packet). The copy is sent or freed here.
    fn execute_clone(&mut self, in_port: u32, desc: &Desc, ofs: Offsets, actions: &[DpAction]) {
        let Some(mut copy) = self.copy_frame(desc) else { return };
        let mut ofs = ofs;
        let last = actions.iter().rposition(|a| a.is_output());
        for (j, a) in actions.iter().enumerate() {
            match a {
                DpAction::Output(port) => {
                    if Some(j) == last {
                        self.queue_tx(port.0, copy);
                        return;
                    }
                    self.send_copy(&copy, port.0);
                }
                DpAction::Tap { id, rx } => self.tap(*id, *rx, &copy),
                DpAction::TnlPop(_) | DpAction::Clone(_) => {}
                _ => {
                    if let Err(why) = self.rewrite(&mut copy, &mut ofs, a) {
                        self.rewrite_failed(in_port, copy, ofs, a, why);
                        return;
                    }
                }
            }
        }
        self.pool.free(copy);
    }

    /// A copy of a frame at the same place in a new chunk (same headroom).
    fn copy_frame(&mut self, desc: &Desc) -> Option<Desc> {
        match self.pool.alloc() {
            Some(mut copy) => {
                // SAFETY: `desc` and `copy` are distinct frames we own.
                unsafe {
                    let src = self.pool.umem.frame(desc);
                    copy.addr = copy.chunk() + desc.offset_in_chunk() as u64;
                    copy.len = src.len() as u32;
                    self.pool.umem.frame_mut(&copy).copy_from_slice(src);
                }
                Some(copy)
            }
            None => {
                self.c.drops[DropReason::NoFrames as usize] += 1;
                None
            }
        }
    }

    /// Send a copy of `desc` to `port` (the original stays ours).
    fn send_copy(&mut self, desc: &Desc, port: u32) {
        match self.copy_frame(desc) {
            Some(copy) => self.queue_tx(port, copy),
            None => {
                if let Some(pc) = self.pc.get_mut(port as usize) {
                    pc.tx_dropped += 1;
                }
            }
        }
    }

    /// `DpAction::Tap`: copy the frame as it is now to a patch-port capture.
    #[cold]
    fn tap(&mut self, id: u16, rx: bool, desc: &Desc) {
        if let Some(Some(to)) = self.taps.get(id as usize) {
            copy_to_capture(&self.pool, to, desc, rx);
        }
    }

    /// Copy a frame to the port's capture (if the capture cannot keep up, the frame
    /// is skipped; forwarding never waits for it).
    #[cold]
    fn capture_frame(&mut self, port: u32, d: Desc, rx: bool) {
        if let Some(Some(to)) = self.capture.get(port as usize) {
            copy_to_capture(&self.pool, to, &d, rx);
        }
    }

    #[inline]
    fn queue_tx(&mut self, port: u32, d: Desc) {
        if matches!(self.capture.get(port as usize), Some(Some(_))) {
            self.capture_frame(port, d, false);
        }
        let flush = match self.ports.get_mut(port as usize) {
            Some(Some(tp)) => {
                tp.pending.push(d);
                tp.pending.len() >= TX_FLUSH
            }
            _ => {
                self.c.drops[DropReason::TxNoPort as usize] += 1;
                self.pool.free(d);
                return;
            }
        };
        if flush {
            self.flush_port(port as usize);
        }
    }

    fn flush_port(&mut self, dp: usize) {
        let Some(Some(tp)) = self.ports.get_mut(dp) else { return };
        if tp.pending.is_empty() {
            return;
        }
        let q = &mut self.socks[tp.sock].1;
        let sent = q.tx_burst(&mut self.pool, &tp.pending);
        let pc = &mut self.pc[dp];
        for d in &tp.pending[..sent] {
            pc.tx_packets += 1;
            pc.tx_bytes += d.len as u64;
        }
        for d in &tp.pending[sent..] {
            pc.tx_dropped += 1;
            self.c.drops[DropReason::TxRingFull as usize] += 1;
            self.pool.free(*d);
        }
        tp.pending.clear();
        q.tx_kick();
    }

    fn flush_tx(&mut self) {
        for dp in 0..self.ports.len() {
            if matches!(&self.ports[dp], Some(tp) if !tp.pending.is_empty()) {
                self.flush_port(dp);
            }
        }
    }

    fn send_learned(&mut self, learned: &[(usize, FlowSpec)]) {
        let mut by_bridge: Vec<(usize, Vec<FlowSpec>)> = Vec::new();
        for (b, s) in learned {
            match by_bridge.iter_mut().find(|(x, _)| x == b) {
                Some((_, v)) => v.push(s.clone()),
                None => by_bridge.push((*b, vec![s.clone()])),
            }
        }
        for (b, v) in by_bridge {
            let _ = self.upcalls.try_send(Upcall::Learned(b, v));
        }
    }

    /// Periodic work: expire idle megaflows, re-rank subtables, refresh the learned
    /// state (MAC entries, learned flows) of megaflows that carried traffic.
    fn housekeeping(&mut self) {
        self.last_housekeeping = Instant::now();
        let now = clock::now_ns();
        if self.last_rank.elapsed() >= Duration::from_secs(1) {
            self.last_rank = Instant::now();
            self.cache.mf.rank();
            self.cache.expire_idle(now, MAX_IDLE_NS);
            let p = self.pipeline.clone();
            let mut relearn: Vec<(usize, FlowSpec)> = Vec::new();
            for e in self.cache.mf.entries_mut() {
                if e.packets == e.refreshed_at {
                    continue;
                }
                e.refreshed_at = e.packets;
                // Neighbour entries of tunnel next hops live as long as traffic uses
                // them (megaflow hits do not go through translation).
                for ip in e.neighs.iter() {
                    p.net.neigh.refresh(*ip);
                }
                for l in e.mac_learns.iter() {
                    if let Some(b) = p.bridge(l.bridge) {
                        b.mac.refresh(l.vlan, l.mac, l.port);
                    }
                }
                relearn.extend(e.learned.iter().cloned());
            }
            if !relearn.is_empty() {
                self.send_learned(&relearn);
            }
        }
        self.publish();
    }

    /// Idle: block in poll(2) on every rx socket and the wake eventfd.
    fn sleep(&mut self) {
        self.publish();
        let mut fds: Vec<libc::pollfd> = self.socks.iter().map(|(_, q)| libc::pollfd { fd: q.fd(), events: libc::POLLIN, revents: 0 }).collect();
        fds.push(libc::pollfd { fd: self.shared.wake_fd, events: libc::POLLIN, revents: 0 });
        let t = super::tsc::now();
        unsafe {
            libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, 10);
            let mut buf = 0u64;
            libc::read(self.shared.wake_fd, &mut buf as *mut u64 as *mut libc::c_void, 8);
        }
        self.c.idle_ticks += super::tsc::now().wrapping_sub(t);
        self.c.sleeps += 1;
        self.now_ns = clock::now_ns();
    }

    fn dump_megaflows(&mut self) -> Vec<MegaflowDump> {
        let now = clock::now_ns();
        let mut v = Vec::new();
        for i in self.cache.mf.indices() {
            let e = self.cache.mf.get(i).unwrap();
            let mask = *self.cache.mf.mask_of(i).unwrap();
            let m = crate::flow::Match { key: e.key.and(&mask), mask };
            let mut actions = crate::odp::format_dp_actions(&e.actions);
            if let Some(err) = e.error {
                actions = format!("drop ({})", err.name());
            }
            v.push(MegaflowDump {
                worker: self.shared.id,
                key: crate::flow::format::format_match(&m, crate::flow::DEFAULT_PRIORITY),
                packets: e.packets,
                bytes: e.bytes,
                used_secs: now.saturating_sub(e.used_ns) as f64 / 1e9,
                actions,
            });
        }
        v
    }
}

/// Apply one header-rewrite datapath action to a frame. Returns false if the frame
/// cannot take it (e.g. no room to push a tag).
///
/// # Safety
/// `desc` must be a frame of `umem` that the caller owns.
unsafe fn apply_rewrite(umem: &Umem, desc: &mut Desc, ofs: &mut Offsets, a: &DpAction) -> Result<(), crate::packet::RewriteError> {
    // The whole chunk: edits may grow the packet into the headroom in front of it.
    let (chunk, off) = umem.chunk_mut(desc);
    let mut pkt = PacketMut::with_headroom(chunk, off, desc.len as usize).ok_or(crate::packet::RewriteError::Truncated)?;
    let r = crate::exec::apply(&mut pkt, ofs, a);
    desc.addr = desc.chunk() + pkt.start() as u64;
    desc.len = pkt.len() as u32;
    r
}

/// Copy a frame we hold to a capture; a capture that cannot keep up misses it.
#[cold]
fn copy_to_capture(pool: &FramePool, to: &Sender<CapturedFrame>, d: &Desc, rx: bool) {
    // SAFETY: a frame of our UMEM that we hold.
    let data = unsafe { pool.umem.frame(d) }.to_vec();
    let _ = to.try_send(CapturedFrame { ts_ns: crate::clock::now_ns(), rx, data });
}
