//! The running datapath: the OpenFlow state, the published pipeline, the workers and
//! the AF_XDP ports. Control commands run against it with exclusive access (one at a
//! time); the workers never wait for it.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use anyhow::{anyhow, bail, Context, Result};
use arc_swap::ArcSwap;
use crossbeam_channel::{bounded, unbounded, Receiver, Sender};

use crate::io::xdp::{rx_queues, Steering, XdpMode, XdpProgram};
use crate::io::xsk::XskQueue;
use crate::ofproto::pipeline::Pipeline;
use crate::ofproto::{Ofproto, PortKind, PortRequest};
use crate::pmd::stats::{PortCounters, MAX_DP_PORTS};
use crate::port::OdpPort;
use crate::pmd::worker::{new_worker, PollMode, Upcall, WorkerConfig, WorkerMsg, WorkerShared};

/// Default upcall budget per input port and second: far above what real traffic
/// needs (each new flow costs one upcall; misses then hit its megaflow), far below
/// what a worker could waste translating a flood of junk.
pub const DEFAULT_UPCALL_RATE: u32 = 20_000;

/// How long the control plane waits for a worker to answer a message.
const WORKER_TIMEOUT: Duration = Duration::from_secs(5);

#[derive(Clone, Debug)]
pub struct DaemonConfig {
    /// One worker per CPU listed (pinned); empty = one unpinned worker.
    pub cpus: Vec<usize>,
    pub poll: PollMode,
    pub frames_per_worker: u32,
    pub emc_entries: Option<usize>,
    /// EMC insertion probability 1/N (None: 100, as Open vSwitch).
    pub emc_insert_inv_prob: Option<u32>,
    /// Slow-path translations per input port per second, per worker (0 = unlimited).
    pub upcall_rate: u32,
}

impl Default for DaemonConfig {
    fn default() -> Self {
        DaemonConfig {
            cpus: vec![],
            poll: PollMode::Busy,
            frames_per_worker: crate::io::umem::DEFAULT_FRAMES,
            emc_entries: None,
            emc_insert_inv_prob: None,
            upcall_rate: DEFAULT_UPCALL_RATE,
        }
    }
}

pub struct WorkerHandle {
    pub shared: Arc<WorkerShared>,
    pub tx: Sender<WorkerMsg>,
    pub thread: Option<JoinHandle<()>>,
}

/// An AF_XDP port: its XDP program and which worker serves which rx queue.
pub struct DpPort {
    pub dp_port: OdpPort,
    pub name: String,
    pub xdp: XdpProgram,
    /// (rx queue, worker index, zero-copy)
    pub queues: Vec<(u32, usize, bool)>,
}

/// A configured AF_XDP port whose netdev could not be opened (e.g. missing when the
/// state was restored). It stays in the bridge (flows may name it) and is retried
/// periodically, like an Open vSwitch interface with an `error`.
pub struct InactivePort {
    pub name: String,
    pub mode: XdpMode,
    pub steering: Steering,
    pub error: String,
}

pub struct Datapath {
    pub ofproto: Ofproto,
    pub pipeline: Arc<ArcSwap<Pipeline>>,
    pub epoch: Arc<AtomicU64>,
    pub workers: Vec<WorkerHandle>,
    pub ports: BTreeMap<OdpPort, DpPort>,
    /// Datapath port number -> port waiting for its netdev.
    pub inactive: BTreeMap<OdpPort, InactivePort>,
    pub config: DaemonConfig,
    /// The configuration changed since the state file was last written.
    pub dirty: bool,
    last_retry: std::time::Instant,
    /// ARP requests for tunnel next hops (native tunneling).
    pub resolver: crate::route::arp::Resolver,
}

impl Datapath {
    /// Start the workers (they idle until ports are added). Returns the datapath and
    /// the channel on which workers report translation side effects.
    pub fn start(config: DaemonConfig) -> Result<(Datapath, Receiver<Upcall>)> {
        crate::io::xdp::ensure_bpffs();
        let mut ofproto = Ofproto::new();
        let epoch = ofproto.epoch();
        let pipeline = Arc::new(ArcSwap::from_pointee(ofproto.snapshot()));
        let (up_tx, up_rx) = bounded(4096);
        let cpus: Vec<Option<usize>> = if config.cpus.is_empty() { vec![None] } else { config.cpus.iter().map(|c| Some(*c)).collect() };
        let mut workers = Vec::new();
        for (id, cpu) in cpus.into_iter().enumerate() {
            let (tx, rx) = unbounded();
            let wc = WorkerConfig {
                id,
                cpu,
                frames: config.frames_per_worker,
                mode: config.poll,
                emc_entries: config.emc_entries,
                emc_insert_inv_prob: config.emc_insert_inv_prob,
                upcall_rate: config.upcall_rate,
            };
            let (w, shared) = new_worker(wc, pipeline.clone(), epoch.clone(), rx, up_tx.clone())
                .with_context(|| format!("creating worker {id}"))?;
            let thread = std::thread::Builder::new().name(format!("xvs-pmd{id}")).spawn(move || w.run())?;
            workers.push(WorkerHandle { shared, tx, thread: Some(thread) });
        }
        let dp = Datapath {
            ofproto,
            pipeline,
            epoch,
            workers,
            ports: BTreeMap::new(),
            inactive: BTreeMap::new(),
            config,
            dirty: false,
            last_retry: std::time::Instant::now(),
            resolver: Default::default(),
        };
        if let Err(e) = dp.ofproto.net.refresh_routes() {
            tracing::warn!("reading the kernel's routes: {e:#}");
        }
        Ok((dp, up_rx))
    }

    /// Publish the current OpenFlow state to the workers. The snapshot is stored
    /// before the epoch moves, so a worker that sees the new epoch loads it.
    pub fn publish(&mut self) {
        self.dirty = true;
        let p = self.ofproto.snapshot();
        self.pipeline.store(Arc::new(p));
        self.epoch.fetch_add(1, Ordering::Release);
        for w in &self.workers {
            w.shared.wake();
        }
    }

    pub(crate) fn ask<T>(&self, w: usize, make: impl FnOnce(Sender<T>) -> WorkerMsg) -> Result<T> {
        let (tx, rx) = bounded(1);
        let h = &self.workers[w];
        h.tx.send(make(tx)).map_err(|_| anyhow!("worker {w} is gone"))?;
        h.shared.wake();
        rx.recv_timeout(WORKER_TIMEOUT).map_err(|_| anyhow!("worker {w} did not answer"))
    }

    /// Make rule and port counters exact: every worker credits its megaflows' pending
    /// counters and publishes its own.
    pub fn sync_stats(&self) {
        for w in 0..self.workers.len() {
            let _ = self.ask(w, |reply| WorkerMsg::Sync { reply });
        }
    }

    pub fn dump_megaflows(&self) -> Vec<crate::pmd::worker::MegaflowDump> {
        let mut v = Vec::new();
        for w in 0..self.workers.len() {
            if let Ok(mut d) = self.ask(w, |reply| WorkerMsg::DumpMegaflows { reply }) {
                v.append(&mut d);
            }
        }
        v
    }

    pub fn flush_caches(&self) {
        for w in 0..self.workers.len() {
            let _ = self.ask(w, |reply| WorkerMsg::FlushCache { reply });
        }
    }

    /// `add-br`: the bridge and its LOCAL port, an internal port named after the
    /// bridge (a kernel netdev the host can address). If the netdev cannot be made
    /// (say, another switch in this namespace has a bridge of that name), the bridge
    /// still works, without its LOCAL port, and the reason is logged.
    pub fn add_bridge(&mut self, name: &str, fail_secure: bool) -> Result<()> {
        self.ofproto.add_bridge(name, fail_secure)?;
        let req = PortRequest {
            name: name.to_string(),
            kind: Some(PortKind::Internal),
            ofport: Some(crate::flow::action::ofpp::LOCAL),
            ..Default::default()
        };
        if let Err(e) = self.add_port_inner(name, req, false) {
            tracing::warn!("bridge {name}: no LOCAL port: {e:#}");
        }
        self.publish();
        Ok(())
    }

    /// Add a port to a bridge. AF_XDP ports get their XDP program and one socket per
    /// rx queue, spread over the workers. Either everything is set up or nothing is.
    pub fn add_port(&mut self, br: &str, req: PortRequest) -> Result<()> {
        self.add_port_inner(br, req, false)
    }

    /// Add a port; with `keep_if_missing`, an AF_XDP port whose netdev cannot be opened
    /// is still configured (inactive, retried later) instead of refused. Used when
    /// restoring saved state: the netdev may come back after xvsd.
    fn add_port_inner(&mut self, br: &str, mut req: PortRequest, keep_if_missing: bool) -> Result<()> {
        let (_ofport, dp) = self.ofproto.check_add_port(br, &req)?;
        let kind = req.kind.clone().unwrap_or(PortKind::Afxdp);
        if let (PortKind::Internal, Some(dp)) = (&kind, dp) {
            if dp.0 as usize >= MAX_DP_PORTS {
                bail!("too many ports (at most {MAX_DP_PORTS} AF_XDP ports)");
            }
            let (peer, mac) = crate::io::internal::create(&req.name)?;
            match self.open_afxdp(dp, &peer, XdpMode::Native, Steering::default()) {
                Ok(port) => {
                    self.ports.insert(dp, port);
                }
                Err(e) => {
                    crate::io::internal::delete(&req.name);
                    return Err(e);
                }
            }
            req.mac = Some(mac);
        }
        if let (PortKind::Afxdp, Some(dp)) = (&kind, dp) {
            if dp.0 as usize >= MAX_DP_PORTS {
                bail!("too many ports (at most {MAX_DP_PORTS} AF_XDP ports)");
            }
            let mode = match req.options.get("xdp-mode") {
                Some(m) => XdpMode::parse(m)?,
                None => XdpMode::Native,
            };
            let steering = Steering::from_options(&req.options)?;
            match self.open_afxdp(dp, &req.name, mode, steering.clone()) {
                Ok(port) => {
                    self.ports.insert(dp, port);
                }
                Err(e) if keep_if_missing => {
                    tracing::warn!("port {}: {e:#} (kept, will retry)", req.name);
                    self.inactive.insert(dp, InactivePort { name: req.name.clone(), mode, steering, error: format!("{e:#}") });
                }
                Err(e) => return Err(e),
            }
        }
        let name = req.name.clone();
        if let Err(e) = self.ofproto.add_port(br, req) {
            if let (Some(dp), false) = (dp, kind.is_tunnel()) {
                self.inactive.remove(&dp);
                if let Some(p) = self.ports.remove(&dp) {
                    self.close_afxdp(p);
                }
                if matches!(kind, PortKind::Internal) {
                    crate::io::internal::delete(&name);
                }
            }
            return Err(e.into());
        }
        if kind.is_tunnel() {
            // Tunnels need the underlay's routes: read them now, not at the next tick.
            let _ = self.ofproto.net.refresh_routes();
        }
        self.publish();
        Ok(())
    }

    fn open_afxdp(&mut self, dp: OdpPort, ifname: &str, mode: XdpMode, steering: Steering) -> Result<DpPort> {
        let nq = rx_queues(ifname)?;
        let nw = self.workers.len() as u32;
        if nq < nw {
            bail!(
                "{ifname} has {nq} rx queue(s) but xvsd runs {nw} workers, and every worker needs a queue of every port \
                 (give it more: ethtool -L {ifname} rx {nw} tx {nw}, or run fewer workers)"
            );
        }
        if nq > 64 {
            bail!("{ifname} has {nq} rx queues; at most 64 are supported");
        }
        let xdp = XdpProgram::attach_steering(ifname, mode, steering)?;
        let mut port = DpPort { dp_port: dp, name: ifname.to_string(), xdp, queues: Vec::new() };
        for q in 0..nq {
            let w = (q % nw) as usize;
            let res = (|| -> Result<()> {
                let shared = &self.workers[w].shared;
                let sock_id = shared.next_sock_id.fetch_add(1, Ordering::Relaxed);
                // Right after a previous xvsd died, the kernel may still be releasing
                // its sockets on this queue: retry for a moment before giving up.
                let t0 = std::time::Instant::now();
                let xq = loop {
                    match XskQueue::open(&shared.umem, ifname, q, sock_id) {
                        Ok(x) => break x,
                        Err(e) if t0.elapsed() < Duration::from_secs(2) => {
                            tracing::debug!("{e:#}; retrying");
                            std::thread::sleep(Duration::from_millis(50));
                        }
                        Err(e) => return Err(e),
                    }
                };
                let zc = xq.zero_copy;
                let fd = self
                    .ask(w, |reply| WorkerMsg::AddQueue { dp_port: dp.0, q: Box::new(xq), reply })?
                    .map_err(|e| anyhow!(e))?;
                port.xdp.register(q, fd)?;
                port.queues.push((q, w, zc));
                Ok(())
            })();
            if let Err(e) = res {
                // Undo the queues already set up, then report.
                self.close_afxdp(port);
                return Err(e);
            }
        }
        Ok(port)
    }

    fn close_afxdp(&mut self, port: DpPort) {
        for (q, _, _) in &port.queues {
            port.xdp.unregister(*q);
        }
        for w in 0..self.workers.len() {
            let _ = self.ask(w, |reply| WorkerMsg::RemovePort { dp_port: port.dp_port.0, reply });
        }
        drop(port); // detaches the XDP program
    }

    pub fn del_port(&mut self, br: Option<&str>, name: &str) -> Result<()> {
        let (_br, port) = self.ofproto.del_port(br, name)?;
        if let (Some(dp), false) = (port.dp_port, port.kind.is_tunnel()) {
            self.inactive.remove(&dp);
            if let Some(p) = self.ports.remove(&dp) {
                self.close_afxdp(p);
            }
        }
        if matches!(port.kind, PortKind::Internal) {
            crate::io::internal::delete(name);
        }
        self.publish();
        Ok(())
    }

    pub fn del_bridge(&mut self, name: &str) -> Result<()> {
        let internal: Vec<String> = self
            .ofproto
            .bridge(name)?
            .ports
            .values()
            .filter(|p| matches!(p.kind, PortKind::Internal))
            .map(|p| p.name.clone())
            .collect();
        let dps = self.ofproto.del_bridge(name)?;
        for dp in dps {
            self.inactive.remove(&dp);
            if let Some(p) = self.ports.remove(&dp) {
                self.close_afxdp(p);
            }
        }
        for n in internal {
            crate::io::internal::delete(&n);
        }
        self.publish();
        Ok(())
    }

    /// A translation found no neighbour entry for a tunnel's next hop: send ARP
    /// requests from the underlay bridge's internal port until it answers.
    pub fn neigh_miss(&mut self, m: crate::xlate::NeighMiss) {
        let p = self.pipeline.load();
        let Some(port) = p.bridge(m.bridge).and_then(|b| b.ports.get(&m.ofport)) else { return };
        let ifname = port.name.to_string();
        self.resolver.miss(&self.ofproto.net.neigh, &ifname, m.src_mac, m.src_ip, m.dst_ip);
    }

    /// Port counters summed over workers.
    pub fn port_counters(&self, dp: OdpPort) -> PortCounters {
        let mut t = PortCounters::default();
        for w in &self.workers {
            let c = w.shared.stats.port(dp.0);
            t.rx_packets += c.rx_packets;
            t.rx_bytes += c.rx_bytes;
            t.tx_packets += c.tx_packets;
            t.tx_bytes += c.tx_bytes;
            t.rx_dropped += c.rx_dropped;
            t.tx_dropped += c.tx_dropped;
        }
        t
    }

    /// Flows learned by workers (`learn()` actions): add them and publish.
    pub fn apply_learned(&mut self, bridge: usize, specs: Vec<crate::flow::FlowSpec>) {
        let Some(name) = self.ofproto.bridges.values().find(|b| b.idx == bridge).map(|b| b.name.clone()) else {
            return;
        };
        match self.ofproto.learn_flows(&name, &specs) {
            Ok(true) => self.publish(),
            Ok(false) => {}
            Err(e) => tracing::warn!("learned flow rejected on {name}: {e}"),
        }
    }

    /// Periodic control-plane work: expire timed-out rules and aged MAC entries, retry
    /// inactive ports.
    pub fn tick(&mut self) {
        // The underlay: routes and addresses as the kernel has them now (a change
        // revalidates every megaflow), neighbours aging, ARP retries.
        match self.ofproto.net.refresh_routes() {
            Ok(true) => self.publish(),
            Ok(false) => {}
            Err(e) => tracing::debug!("reading routes: {e:#}"),
        }
        self.ofproto.net.neigh.expire();
        self.resolver.tick(&self.ofproto.net.neigh);
        let expired = self.ofproto.expire_rules();
        for b in self.ofproto.bridges.values() {
            b.mac.expire();
        }
        if expired > 0 {
            self.publish();
        }
        if !self.inactive.is_empty() && self.last_retry.elapsed() >= Duration::from_secs(5) {
            self.last_retry = std::time::Instant::now();
            self.retry_inactive();
        }
    }

    fn retry_inactive(&mut self) {
        let waiting: Vec<(OdpPort, String, XdpMode, Steering)> =
            self.inactive.iter().map(|(d, p)| (*d, p.name.clone(), p.mode, p.steering.clone())).collect();
        for (dp, name, mode, steering) in waiting {
            match self.open_afxdp(dp, &name, mode, steering) {
                Ok(port) => {
                    tracing::info!("port {name} is up");
                    self.inactive.remove(&dp);
                    self.ports.insert(dp, port);
                    // Megaflows that dropped frames for the missing port are stale now.
                    self.publish();
                }
                Err(e) => {
                    if let Some(p) = self.inactive.get_mut(&dp) {
                        p.error = format!("{e:#}");
                    }
                }
            }
        }
    }

    /// Rebuild bridges, ports and flows from a state file (at start). Ports whose
    /// netdev is missing are kept inactive and retried; a flow that no longer parses is
    /// reported and skipped. Counters start at zero.
    pub fn restore(&mut self, st: &crate::persist::State) -> Result<()> {
        use crate::flow::parse::{parse_flow, ParseMode};
        for b in &st.bridges {
            self.ofproto.add_bridge_empty(&b.name, b.fail_secure)?;
        }
        for b in &st.bridges {
            for p in &b.ports {
                let (kind, options) = match PortKind::parse(Some(&p.kind), &p.options) {
                    Ok(k) => k,
                    Err(e) => {
                        tracing::error!("restoring port {} on {}: {e}", p.name, b.name);
                        continue;
                    }
                };
                let vlan_mode = p.vlan_mode.as_deref().and_then(|m| crate::port::VlanMode::parse(m).ok());
                let req = PortRequest {
                    name: p.name.clone(),
                    kind: Some(kind),
                    ofport: Some(p.ofport),
                    tag: p.tag,
                    trunks: p.trunks.clone(),
                    mac: None,
                    vlan_mode,
                    options,
                };
                if let Err(e) = self.add_port_inner(&b.name, req, true) {
                    tracing::error!("restoring port {} on {}: {e:#}", p.name, b.name);
                }
            }
            let specs: Vec<crate::flow::FlowSpec> = {
                let br = self.ofproto.bridge(&b.name)?;
                let names = br.port_names();
                b.flows
                    .iter()
                    .filter_map(|f| match parse_flow(f, ParseMode::Add, &names) {
                        Ok(s) => Some(s),
                        Err(e) => {
                            tracing::error!("restoring a flow of {}: {e}: {f}", b.name);
                            None
                        }
                    })
                    .collect()
            };
            self.ofproto.add_flows(&b.name, &specs)?;
        }
        self.publish();
        self.dirty = false;
        Ok(())
    }

    /// Stop the workers, detach every port, remove the internal ports' netdevs.
    pub fn shutdown(&mut self) {
        let internal: Vec<String> = self
            .ofproto
            .bridges
            .values()
            .flat_map(|b| b.ports.values())
            .filter(|p| matches!(p.kind, PortKind::Internal))
            .map(|p| p.name.clone())
            .collect();
        let ports: Vec<OdpPort> = self.ports.keys().copied().collect();
        for dp in ports {
            if let Some(p) = self.ports.remove(&dp) {
                for (q, _, _) in &p.queues {
                    p.xdp.unregister(*q);
                }
            }
        }
        for w in &self.workers {
            let _ = w.tx.send(WorkerMsg::Stop);
            w.shared.wake();
        }
        for w in &mut self.workers {
            if let Some(t) = w.thread.take() {
                let _ = t.join();
            }
        }
        for n in internal {
            crate::io::internal::delete(&n);
        }
    }
}
