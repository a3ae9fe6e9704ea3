//! An immutable snapshot of everything translation needs: bridges, their ports and
//! tables, and the map from datapath ports to (bridge, OpenFlow port).
//!
//! The control plane builds a new snapshot for every change and publishes it with
//! `ArcSwap`; workers pick it up between batches. Classifiers and MAC tables are shared
//! with the previous snapshot wherever they did not change.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Arc;

use super::classifier::Classifier;
use crate::port::{OdpPort, TunnelConfig, Vport};
use crate::route::NetState;
use super::mac_learning::MacTable;
use crate::cache::tags::ChangeLog;

pub const N_TABLES: usize = 255;

/// A bridge port as translation sees it.
#[derive(Clone, Debug)]
pub struct PortSnap {
    pub ofport: u32,
    pub name: Arc<str>,
    /// Datapath port for ports that send/receive frames (afxdp, internal; the shared
    /// vport for tunnels); None for patch ports.
    pub dp_port: Option<OdpPort>,
    /// For patch ports: the peer's (bridge index, OpenFlow port), if the peer exists.
    pub patch_peer: Option<(usize, u32)>,
    /// For tunnel ports: their configuration (`dp_port` is then the shared vport).
    pub tunnel: Option<Arc<TunnelConfig>>,
    /// An internal port (a kernel netdev xvs created; every bridge's LOCAL port).
    pub internal: bool,
    /// The MAC of an internal port's netdev (the source MAC of tunnel packets sent
    /// from it, the destination MAC of those it terminates).
    pub mac: Option<[u8; 6]>,
    /// Access VLAN, or the native VLAN of the native modes (`tag=`).
    pub tag: Option<u16>,
    /// VLANs a trunk port carries; empty means all.
    pub trunks: Arc<[u16]>,
    pub vlan_mode: crate::port::VlanMode,
    /// A capture running on this patch port (`DpAction::Tap` id).
    pub tap: Option<u16>,
}

impl PortSnap {
    /// True if the port carries `vlan` in the NORMAL switch (Open vSwitch's
    /// `xbundle_includes_vlan` for the outer VLAN).
    pub fn carries_vlan(&self, vlan: u16) -> bool {
        use crate::port::VlanMode::*;
        match self.vlan_mode {
            Access => self.tag.unwrap_or(0) == vlan,
            Trunk => self.trunks.is_empty() || self.trunks.contains(&vlan),
            // A native port's VLAN 0 is its native VLAN: it takes no other VLAN 0
            // traffic (as Open vSwitch, checked by the differential suite).
            NativeTagged | NativeUntagged => {
                vlan == self.tag.unwrap_or(0) || (vlan != 0 && (self.trunks.is_empty() || self.trunks.contains(&vlan)))
            }
        }
    }

    /// The native (or access) VLAN: untagged frames belong to it.
    pub fn native_vlan(&self) -> u16 {
        match self.vlan_mode {
            crate::port::VlanMode::Trunk => 0,
            _ => self.tag.unwrap_or(0),
        }
    }
}

#[derive(Debug)]
pub struct BridgeSnap {
    pub idx: usize,
    pub name: Arc<str>,
    pub ports: BTreeMap<u32, PortSnap>,
    /// Indexed by table id (0..=254).
    pub tables: Vec<Classifier>,
    pub mac: Arc<MacTable>,
}

#[derive(Debug)]
pub struct Pipeline {
    /// Bumped for every published snapshot.
    pub version: u64,
    /// Datapath-wide epoch: bumped by every published snapshot (flow-mods, port
    /// changes). A cached megaflow validated at an older epoch must be revalidated
    /// before use. MAC-table changes go to `changes` instead.
    pub epoch: Arc<AtomicU64>,
    /// Changes of state that lives under the snapshots (MAC tables): workers
    /// revalidate only the megaflows that consulted what changed (`cache::tags`).
    pub changes: Arc<ChangeLog>,
    /// Indexed by bridge index; None for deleted bridges.
    pub bridges: Vec<Option<Arc<BridgeSnap>>>,
    /// Indexed by datapath port number: (bridge index, OpenFlow port). Tunnel vports
    /// are not here (many OpenFlow ports share one): see `vports` and `tnl_ports`.
    pub dp_ports: Vec<Option<(usize, u32)>>,
    /// Tunnel vports by datapath port number.
    pub vports: BTreeMap<OdpPort, Vport>,
    /// Every tunnel port, for mapping a decapsulated packet to its OpenFlow port.
    pub tnl_ports: Vec<TnlPortSnap>,
    /// Underlay routes, addresses and neighbours (native tunneling).
    pub net: Arc<NetState>,
}

/// A tunnel port as the receive side needs it.
#[derive(Clone, Debug)]
pub struct TnlPortSnap {
    pub vport: OdpPort,
    pub bridge: usize,
    pub ofport: u32,
    pub cfg: Arc<TunnelConfig>,
}

impl Pipeline {
    pub fn empty() -> Pipeline {
        Pipeline {
            version: 0,
            epoch: Arc::new(AtomicU64::new(1)),
            changes: Arc::new(ChangeLog::new()),
            bridges: vec![],
            dp_ports: vec![],
            vports: BTreeMap::new(),
            tnl_ports: vec![],
            net: Arc::new(NetState::default()),
        }
    }

    #[inline]
    pub fn epoch(&self) -> u64 {
        self.epoch.load(Relaxed)
    }

    #[inline]
    pub fn bridge(&self, idx: usize) -> Option<&Arc<BridgeSnap>> {
        self.bridges.get(idx).and_then(|b| b.as_ref())
    }

    pub fn bridge_by_name(&self, name: &str) -> Option<&Arc<BridgeSnap>> {
        self.bridges.iter().flatten().find(|b| &*b.name == name)
    }

    /// The (bridge index, OpenFlow port) of datapath port `dp`.
    #[inline]
    pub fn dp_port(&self, dp: OdpPort) -> Option<(usize, u32)> {
        self.dp_ports.get(dp.0 as usize).copied().flatten()
    }
}
