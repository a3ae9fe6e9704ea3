//! What each host gets, derived from the topology without touching the system: local
//! VLAN ids, OpenFlow port numbers, interface names, tunnel ports, and the control
//! commands that build its bridges (the flows are in [`super::flows`]).

use std::collections::HashMap;
use std::net::Ipv4Addr;

use super::topology::{NetType, Topology};

/// Ports of br-int, br-tun, br-phys and br-phy (fixed, as the agent's are per host).
pub const PATCH_TUN: &str = "patch-tun"; // br-int -> br-tun
pub const PATCH_INT: &str = "patch-int"; // br-tun -> br-int
pub const INT_BR_PHYS: &str = "int-br-phys"; // br-int -> br-phys
pub const PHY_BR_PHYS: &str = "phy-br-phys"; // br-phys -> br-int
/// The host's uplinks (veths to the underlay namespace's bridges).
pub const UPLINK_TUN: &str = "ul-tun"; // on br-phy: the tunnel underlay
pub const UPLINK_PHYS: &str = "ul-phys"; // on br-phys: the VLAN physnet

pub const OF_PATCH_TUN: u32 = 1;
pub const OF_INT_BR_PHYS: u32 = 2;
pub const OF_VM_BASE: u32 = 10;
pub const OF_PATCH_INT: u32 = 1;
pub const OF_TUNNEL_BASE: u32 = 2;
pub const OF_PHY_BR_PHYS: u32 = 1;
pub const OF_UPLINK_PHYS: u32 = 2;
pub const OF_UPLINK_TUN: u32 = 1;

/// The cookie of every flow the lab installs (the agent uses one per run).
pub const COOKIE: u64 = 0x1ab;

/// Name of a VM's port on its host's br-int (the agent's would be tap<port uuid>).
pub fn vm_port(vm: &str) -> String {
    format!("tap{vm}")
}

/// The tunnel port to `remote`, named as the Neutron agent names it.
pub fn tunnel_port_name(kind: NetType, remote: Ipv4Addr) -> String {
    format!("{}-{:08x}", kind.as_str(), u32::from(remote))
}

#[derive(Debug, Clone)]
pub struct VmPort {
    pub vm: usize,
    pub port: String,
    pub ofport: u32,
    pub lvid: u16,
}

#[derive(Debug, Clone)]
pub struct Tunnel {
    pub name: String,
    pub kind: NetType,
    pub remote_host: usize,
    pub remote_ip: Ipv4Addr,
    pub local_ip: Ipv4Addr,
    pub ofport: u32,
}

#[derive(Debug, Clone)]
pub struct HostPlan {
    pub host: usize,
    /// (network, local VLAN id) for every network with a VM here.
    pub lvids: Vec<(usize, u16)>,
    pub vm_ports: Vec<VmPort>,
    pub tunnels: Vec<Tunnel>,
    pub has_vlan: bool,
    pub has_tunnel: bool,
}

impl HostPlan {
    pub fn lvid(&self, network: usize) -> Option<u16> {
        self.lvids.iter().find(|(n, _)| *n == network).map(|(_, l)| *l)
    }

    pub fn tunnel_to(&self, kind: NetType, host: usize) -> Option<&Tunnel> {
        self.tunnels.iter().find(|t| t.kind == kind && t.remote_host == host)
    }

    /// Port name -> OpenFlow port number, per bridge (what `add-flows` resolves).
    pub fn port_names(&self, bridge: &str) -> HashMap<String, u32> {
        let mut m = HashMap::new();
        match bridge {
            "br-int" => {
                m.insert(PATCH_TUN.to_string(), OF_PATCH_TUN);
                m.insert(INT_BR_PHYS.to_string(), OF_INT_BR_PHYS);
                for p in &self.vm_ports {
                    m.insert(p.port.clone(), p.ofport);
                }
            }
            "br-tun" => {
                m.insert(PATCH_INT.to_string(), OF_PATCH_INT);
                for t in &self.tunnels {
                    m.insert(t.name.clone(), t.ofport);
                }
            }
            "br-phys" => {
                m.insert(PHY_BR_PHYS.to_string(), OF_PHY_BR_PHYS);
                m.insert(UPLINK_PHYS.to_string(), OF_UPLINK_PHYS);
            }
            "br-phy" => {
                m.insert(UPLINK_TUN.to_string(), OF_UPLINK_TUN);
            }
            _ => {}
        }
        m
    }

    /// Bridges with their patch ports and uplinks (VM ports and tunnels come later).
    pub fn bridge_commands(&self) -> Vec<Vec<String>> {
        let mut c: Vec<Vec<String>> = Vec::new();
        let mut cmd = |s: &[&str]| c.push(s.iter().map(|s| s.to_string()).collect());
        cmd(&["add-br", "br-int", "fail_mode=secure"]);
        if self.has_vlan {
            cmd(&["add-br", "br-phys", "fail_mode=secure"]);
            cmd(&["add-port", "br-int", INT_BR_PHYS, "type=patch", "options:peer=phy-br-phys", &format!("ofport={OF_INT_BR_PHYS}")]);
            cmd(&["add-port", "br-phys", PHY_BR_PHYS, "type=patch", "options:peer=int-br-phys", &format!("ofport={OF_PHY_BR_PHYS}")]);
            cmd(&["add-port", "br-phys", UPLINK_PHYS, &format!("ofport={OF_UPLINK_PHYS}")]);
        }
        if self.has_tunnel {
            cmd(&["add-br", "br-tun", "fail_mode=secure"]);
            cmd(&["add-port", "br-int", PATCH_TUN, "type=patch", "options:peer=patch-int", &format!("ofport={OF_PATCH_TUN}")]);
            cmd(&["add-port", "br-tun", PATCH_INT, "type=patch", "options:peer=patch-tun", &format!("ofport={OF_PATCH_INT}")]);
        }
        c
    }

    /// The underlay bridge (Open vSwitch's userspace-tunneling layout): `br-phy`, whose
    /// LOCAL port is a kernel netdev holding the host's underlay address, with the
    /// uplink as an ordinary port.
    pub fn underlay_commands(&self) -> Vec<Vec<String>> {
        if !self.has_tunnel {
            return Vec::new();
        }
        vec![
            vec!["add-br".into(), "br-phy".into()],
            vec!["add-port".into(), "br-phy".into(), UPLINK_TUN.into(), format!("ofport={OF_UPLINK_TUN}")],
        ]
    }

    /// One tunnel port per remote host and tunnel type, as the agent creates them.
    pub fn tunnel_commands(&self) -> Vec<Vec<String>> {
        self.tunnels
            .iter()
            .map(|t| {
                vec![
                    "add-port".into(),
                    "br-tun".into(),
                    t.name.clone(),
                    format!("type={}", t.kind.as_str()),
                    format!("ofport={}", t.ofport),
                    format!("options:remote_ip={}", t.remote_ip),
                    format!("options:local_ip={}", t.local_ip),
                    "options:in_key=flow".into(),
                    "options:out_key=flow".into(),
                    "options:df_default=true".into(),
                ]
            })
            .collect()
    }

    pub fn vm_port_command(&self, p: &VmPort) -> Vec<String> {
        vec!["add-port".into(), "br-int".into(), p.port.clone(), format!("tag={}", p.lvid), format!("ofport={}", p.ofport)]
    }
}

/// Plan every host. Local VLAN ids are allocated per host in file order of the
/// networks present there, rotated by the host's position, so that one network has
/// different local VLANs on different hosts (as it generally does under Neutron).
pub fn plan(t: &Topology) -> Vec<HostPlan> {
    let mut plans = Vec::new();
    for h in 0..t.hosts.len() {
        let nets = t.networks_on(h);
        let n = nets.len();
        let lvids: Vec<(usize, u16)> = nets.iter().enumerate().map(|(j, &net)| (net, (1 + (j + h) % (n + 1)) as u16)).collect();
        let lv = |net: usize| lvids.iter().find(|(x, _)| *x == net).unwrap().1;
        let vm_ports = t
            .vms
            .iter()
            .enumerate()
            .filter(|(_, v)| v.host == h)
            .enumerate()
            .map(|(k, (i, v))| VmPort { vm: i, port: vm_port(&v.name), ofport: OF_VM_BASE + k as u32, lvid: lv(v.network) })
            .collect();
        // l2pop: a tunnel towards every host sharing a network of that type.
        let mut tunnels = Vec::new();
        for kind in [NetType::Vxlan, NetType::Gre] {
            for (r, remote) in t.hosts.iter().enumerate() {
                if r == h {
                    continue;
                }
                let shared = nets.iter().any(|&net| t.networks[net].kind == kind && t.vms.iter().any(|v| v.host == r && v.network == net));
                if shared {
                    tunnels.push(Tunnel {
                        name: tunnel_port_name(kind, remote.underlay_ip),
                        kind,
                        remote_host: r,
                        remote_ip: remote.underlay_ip,
                        local_ip: t.hosts[h].underlay_ip,
                        ofport: OF_TUNNEL_BASE + tunnels.len() as u32,
                    });
                }
            }
        }
        plans.push(HostPlan {
            host: h,
            has_vlan: nets.iter().any(|&n| t.networks[n].kind == NetType::Vlan),
            has_tunnel: nets.iter().any(|&n| t.networks[n].kind.is_tunnel()),
            lvids,
            vm_ports,
            tunnels,
        });
    }
    plans
}
