//! Worker counters. Each worker counts into plain integers it owns and publishes them
//! into shared atomics (single writer, relaxed stores) when it goes idle, every few
//! thousand loop iterations, and when asked to sync. Readers sum across workers.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

/// Datapath port numbers are small integers; counters are indexed by them.
pub const MAX_DP_PORTS: usize = 256;

macro_rules! drop_reasons {
    ($($var:ident => $name:literal, $doc:literal;)*) => {
        /// Why a packet was dropped. Every drop is counted under exactly one reason.
        #[derive(Clone, Copy, Debug, PartialEq, Eq)]
        #[repr(usize)]
        pub enum DropReason { $(#[doc = $doc] $var),* }
        impl DropReason {
            pub const ALL: &'static [DropReason] = &[$(DropReason::$var),*];
            pub const COUNT: usize = Self::ALL.len();
            pub fn name(self) -> &'static str { match self { $(DropReason::$var => $name),* } }
        }
    };
}

drop_reasons! {
    Runt => "runt", "frame shorter than an Ethernet header";
    BadVlan => "bad_vlan", "truncated 802.1Q tag";
    BadArp => "bad_arp", "truncated ARP";
    BadIpv4 => "bad_ipv4", "malformed or truncated IPv4 header";
    BadIpv6 => "bad_ipv6", "malformed or truncated IPv6 header";
    BadL4 => "bad_l4", "truncated TCP/UDP/ICMP header";
    FlowDrop => "flow_drop", "the flow tables said drop (or output nowhere)";
    NoInPort => "no_in_port", "received on a datapath port no bridge owns";
    RecursionTooDeep => "recursion_too_deep", "resubmit/patch recursion over the limit";
    TooManyResubmits => "too_many_resubmits", "over 4096 resubmits in one translation";
    UnsupportedAction => "unsupported_action", "a flow used an action not supported yet (e.g. ct)";
    RewriteFailed => "rewrite_failed", "a header rewrite did not fit the frame";
    NoFrames => "no_frames", "UMEM exhausted while copying for a multi-output";
    TxRingFull => "tx_ring_full", "the output port's tx ring was full";
    TxNoPort => "tx_no_port", "output to a port this worker has no socket for";
    UpcallRateLimited => "upcall_rate_limited", "a cache miss over the input port's upcall budget";
    TnlNoRoute => "tnl_no_route", "no route to the tunnel's remote endpoint through an internal port";
    TnlNeighMiss => "tnl_neigh_miss", "no neighbour entry for the tunnel's next hop yet (ARP request sent)";
    TnlNoPort => "tnl_no_port", "a decapsulated packet matches no tunnel port (unknown key/VNI or remote)";
    TnlTruncated => "tnl_truncated", "outer headers shorter than they announce";
    TnlBadOuterIp => "tnl_bad_outer_ip", "outer header not IPv4 without options, or a fragment";
    TnlBadIpCsum => "tnl_bad_ip_csum", "wrong outer IPv4 checksum";
    TnlBadCsum => "tnl_bad_csum", "wrong UDP/GRE checksum on a tunnel packet";
    TnlBadHeader => "tnl_bad_header", "not a VXLAN/GRE header xvs takes";
    TnlMtuExceeded => "tnl_mtu_exceeded", "too large for the underlay after encapsulation";
    RecircTooDeep => "recirc_too_deep", "too many passes through the caches for one packet";
}

impl DropReason {
    pub fn from_malformed(m: crate::packet::extract::Malformed) -> DropReason {
        use crate::packet::extract::Malformed as M;
        match m {
            M::Runt => DropReason::Runt,
            M::Vlan => DropReason::BadVlan,
            M::Arp => DropReason::BadArp,
            M::Ipv4 => DropReason::BadIpv4,
            M::Ipv6 => DropReason::BadIpv6,
            M::L4 => DropReason::BadL4,
        }
    }

    pub fn from_xlate(e: crate::xlate::XlateError) -> DropReason {
        use crate::xlate::XlateError as E;
        match e {
            E::NoInPort => DropReason::NoInPort,
            E::TooDeep => DropReason::RecursionTooDeep,
            E::TooManyResubmits => DropReason::TooManyResubmits,
            E::Unsupported => DropReason::UnsupportedAction,
            E::TnlNoRoute => DropReason::TnlNoRoute,
            E::TnlNeighMiss => DropReason::TnlNeighMiss,
            E::TnlNoPort => DropReason::TnlNoPort,
        }
    }

    pub fn from_pop(e: crate::packet::tunnel::PopError) -> DropReason {
        use crate::packet::tunnel::PopError as P;
        match e {
            P::Truncated => DropReason::TnlTruncated,
            P::BadOuterIp => DropReason::TnlBadOuterIp,
            P::BadIpChecksum => DropReason::TnlBadIpCsum,
            P::BadChecksum => DropReason::TnlBadCsum,
            P::BadTunnelHeader => DropReason::TnlBadHeader,
        }
    }
}

/// Per-port counters, as the worker sees them.
#[derive(Clone, Copy, Default, Debug)]
pub struct PortCounters {
    pub rx_packets: u64,
    pub rx_bytes: u64,
    pub tx_packets: u64,
    pub tx_bytes: u64,
    /// Packets received on this port and dropped (any reason).
    pub rx_dropped: u64,
    /// Packets that could not be queued for transmission on this port.
    pub tx_dropped: u64,
}

/// Worker-wide counters.
#[derive(Clone, Copy, Default, Debug)]
pub struct PmdCounters {
    pub packets: u64,
    pub batches: u64,
    /// Hits on an input port's in_port-only megaflow (no hashing, no probe).
    pub port_hits: u64,
    pub emc_hits: u64,
    pub megaflow_hits: u64,
    pub misses: u64,
    pub subtable_probes: u64,
    /// Re-translations of stale megaflows, and those removed because the new
    /// translation no longer held.
    pub revalidated: u64,
    pub revalidation_removed: u64,
    /// Megaflows marked stale by targeted revalidation (a MAC they consulted changed).
    pub reval_marked: u64,
    /// Full revalidations (new snapshot, MAC table flushed, change-log overrun) and,
    /// of those, change-log overruns.
    pub reval_full: u64,
    pub reval_overruns: u64,
    /// Ticks spent in revalidation (marking and re-translating), like `upcall_ticks`.
    pub reval_ticks: u64,
    /// Time-stamp-counter ticks (see `pmd::tsc`) spent in upcalls.
    pub upcall_ticks: u64,
    /// Ticks spent in loop iterations that handled packets / that found nothing.
    pub busy_ticks: u64,
    pub idle_ticks: u64,
    pub iterations: u64,
    pub sleeps: u64,
    pub drops: [u64; DropReason::COUNT],
}

#[derive(Default)]
struct AtomicPort {
    v: [AtomicU64; 6],
}

/// The shared, published copy of a worker's counters.
pub struct SharedStats {
    pmd: [AtomicU64; 18],
    drops: [AtomicU64; DropReason::COUNT],
    ports: Box<[AtomicPort]>,
    pub megaflows: AtomicU64,
    pub frames_free: AtomicU64,
    pub frames_in_kernel: AtomicU64,
    pub frames_total: AtomicU64,
}

impl Default for SharedStats {
    fn default() -> Self {
        SharedStats {
            pmd: Default::default(),
            drops: std::array::from_fn(|_| AtomicU64::new(0)),
            ports: (0..MAX_DP_PORTS).map(|_| AtomicPort::default()).collect(),
            megaflows: AtomicU64::new(0),
            frames_free: AtomicU64::new(0),
            frames_in_kernel: AtomicU64::new(0),
            frames_total: AtomicU64::new(0),
        }
    }
}

impl SharedStats {
    pub fn publish(&self, c: &PmdCounters, ports: &[PortCounters]) {
        let v = [
            c.packets,
            c.batches,
            c.emc_hits,
            c.megaflow_hits,
            c.misses,
            c.subtable_probes,
            c.revalidated,
            c.upcall_ticks,
            c.busy_ticks,
            c.idle_ticks,
            c.iterations,
            c.sleeps,
            c.port_hits,
            c.revalidation_removed,
            c.reval_marked,
            c.reval_full,
            c.reval_overruns,
            c.reval_ticks,
        ];
        for (a, x) in self.pmd.iter().zip(v) {
            a.store(x, Relaxed);
        }
        for (a, x) in self.drops.iter().zip(c.drops) {
            a.store(x, Relaxed);
        }
        for (a, p) in self.ports.iter().zip(ports) {
            let vals = [p.rx_packets, p.rx_bytes, p.tx_packets, p.tx_bytes, p.rx_dropped, p.tx_dropped];
            for (x, y) in a.v.iter().zip(vals) {
                x.store(y, Relaxed);
            }
        }
    }

    pub fn pmd(&self) -> PmdCounters {
        let g = |i: usize| self.pmd[i].load(Relaxed);
        PmdCounters {
            packets: g(0),
            batches: g(1),
            emc_hits: g(2),
            megaflow_hits: g(3),
            misses: g(4),
            subtable_probes: g(5),
            revalidated: g(6),
            upcall_ticks: g(7),
            busy_ticks: g(8),
            idle_ticks: g(9),
            iterations: g(10),
            sleeps: g(11),
            port_hits: g(12),
            revalidation_removed: g(13),
            reval_marked: g(14),
            reval_full: g(15),
            reval_overruns: g(16),
            reval_ticks: g(17),
            drops: std::array::from_fn(|i| self.drops[i].load(Relaxed)),
        }
    }

    pub fn port(&self, dp: u32) -> PortCounters {
        let Some(a) = self.ports.get(dp as usize) else { return PortCounters::default() };
        let g = |i: usize| a.v[i].load(Relaxed);
        PortCounters { rx_packets: g(0), rx_bytes: g(1), tx_packets: g(2), tx_bytes: g(3), rx_dropped: g(4), tx_dropped: g(5) }
    }
}
