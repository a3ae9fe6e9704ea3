//! The port model, end to end: what kind of port a bridge port is, with the fields of
//! that kind, and the ONE parse and print of a port's `type=` and `options:` words.
//! The control socket (add-port), the state file and `show` all go through
//! [`PortKind::parse`] and [`PortKind::options`], so a port reads back exactly as it
//! was written.
//!
//! Kinds (Open vSwitch's interface types that xvs implements):
//! - `afxdp`: a netdev (NIC queue or veth) served through AF_XDP sockets;
//! - `internal`: a kernel netdev that the host or a namespace uses (xvs creates it);
//!   every bridge's LOCAL port is one, named after the bridge;
//! - `patch`: one end of a pair joining two bridges, followed inside translation;
//! - `vxlan` / `gre`: a tunnel port; packets output to it are encapsulated towards
//!   `remote_ip`, packets decapsulated from it enter its bridge with tun_id/tun_src/
//!   tun_dst set (native tunneling, see `route` and `xlate::tunnel`).

use std::collections::BTreeMap;
use std::fmt;
use std::net::Ipv4Addr;

use thiserror::Error;

/// An OpenFlow port number: per bridge, 1..=0xfeff, or a reserved port (LOCAL ...).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct OfPort(pub u32);

/// A datapath port number: global across bridges, the `in_port` of a datapath flow
/// key and the target of a datapath `output`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct OdpPort(pub u32);

impl From<OdpPort> for u32 {
    fn from(p: OdpPort) -> u32 {
        p.0
    }
}

impl From<OfPort> for u32 {
    fn from(p: OfPort) -> u32 {
        p.0
    }
}

impl fmt::Display for OfPort {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

impl fmt::Display for OdpPort {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// How a port carries VLANs in the NORMAL switch (Open vSwitch's `vlan_mode`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum VlanMode {
    /// One VLAN (`tag`), frames untagged on the wire.
    Access,
    /// The VLANs in `trunks` (all if empty), tagged; untagged frames are VLAN 0.
    Trunk,
    /// A trunk whose untagged frames belong to the native VLAN `tag`; every frame
    /// leaves tagged, the native VLAN's too.
    NativeTagged,
    /// Like native-tagged, but the native VLAN's frames leave untagged.
    NativeUntagged,
}

impl VlanMode {
    pub fn parse(s: &str) -> Result<VlanMode, PortError> {
        Ok(match s {
            "access" => VlanMode::Access,
            "trunk" => VlanMode::Trunk,
            "native-tagged" => VlanMode::NativeTagged,
            "native-untagged" => VlanMode::NativeUntagged,
            _ => return Err(PortError::BadOption("vlan_mode".into(), format!("'{s}' is not access, trunk, native-tagged or native-untagged"))),
        })
    }

    pub fn name(self) -> &'static str {
        match self {
            VlanMode::Access => "access",
            VlanMode::Trunk => "trunk",
            VlanMode::NativeTagged => "native-tagged",
            VlanMode::NativeUntagged => "native-untagged",
        }
    }

    /// The mode a port has when none is configured: access if it has a tag, else
    /// trunk (as in Open vSwitch).
    pub fn effective(mode: Option<VlanMode>, tag: Option<u16>) -> VlanMode {
        mode.unwrap_or(if tag.is_some() { VlanMode::Access } else { VlanMode::Trunk })
    }
}

#[derive(Debug, Error, PartialEq, Eq)]
pub enum PortError {
    #[error("unsupported port type '{0}' (afxdp, internal, patch, vxlan, gre)")]
    UnknownType(String),
    #[error("options:{0} is not an option of {1} ports")]
    NotAnOption(String, &'static str),
    #[error("options:{0}: {1}")]
    BadOption(String, String),
    #[error("a {0} port needs options:{1}")]
    Missing(&'static str, &'static str),
}

/// Tunnel encapsulation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TunnelProto {
    Vxlan,
    Gre,
}

impl TunnelProto {
    pub fn name(self) -> &'static str {
        match self {
            TunnelProto::Vxlan => "vxlan",
            TunnelProto::Gre => "gre",
        }
    }

    /// Bytes the outer headers add over IPv4 (Ethernet + IPv4 + UDP + VXLAN, or
    /// Ethernet + IPv4 + GRE with key, plus 4 for a GRE checksum).
    pub fn overhead(self, csum: bool) -> usize {
        match self {
            TunnelProto::Vxlan => 14 + 20 + 8 + 8,
            TunnelProto::Gre => 14 + 20 + 8 + if csum { 4 } else { 0 },
        }
    }
}

/// A value that is fixed in the port's configuration or taken from the flow
/// (`options:remote_ip=flow`, `options:key=flow`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum FromFlow<T> {
    Fixed(T),
    Flow,
}

/// IP TOS of the outer header: fixed, or copied from the inner packet.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Tos {
    Fixed(u8),
    Inherit,
}

/// A tunnel port's configuration, Open vSwitch's options for vxlan/gre interfaces.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct TunnelConfig {
    pub proto: TunnelProto,
    pub remote_ip: FromFlow<Ipv4Addr>,
    /// None: the source address the route to the remote gives.
    pub local_ip: Option<FromFlow<Ipv4Addr>>,
    /// Key (VNI / GRE key) a received packet must carry to belong to this port.
    pub in_key: FromFlow<u64>,
    /// Key put on packets sent out of this port.
    pub out_key: FromFlow<u64>,
    /// VXLAN UDP destination port (default 4789).
    pub dst_port: u16,
    pub tos: Tos,
    /// Outer TTL (default 64).
    pub ttl: u8,
    /// Set DF on the outer header (default true).
    pub df_default: bool,
    /// Outer checksum: GRE checksum / UDP checksum (default false).
    pub csum: bool,
    /// Options xvs accepts for compatibility but does not act on (the Neutron agent
    /// sets egress_pkt_mark=0), printed back as given.
    pub passive: BTreeMap<String, String>,
}

impl TunnelConfig {
    pub fn new(proto: TunnelProto) -> TunnelConfig {
        TunnelConfig {
            proto,
            remote_ip: FromFlow::Flow,
            local_ip: None,
            in_key: FromFlow::Fixed(0),
            out_key: FromFlow::Fixed(0),
            dst_port: match proto {
                TunnelProto::Vxlan => 4789,
                TunnelProto::Gre => 0,
            },
            tos: Tos::Fixed(0),
            ttl: 64,
            df_default: true,
            csum: false,
            passive: BTreeMap::new(),
        }
    }

    /// The datapath port every tunnel port of this (type, UDP port) shares, as Open
    /// vSwitch's `vxlan_sys_4789` / `gre_sys`.
    pub fn vport_name(&self) -> String {
        match self.proto {
            TunnelProto::Vxlan => format!("vxlan_sys_{}", self.dst_port),
            TunnelProto::Gre => "gre_sys".to_string(),
        }
    }

    pub fn vport(&self) -> Vport {
        Vport { proto: self.proto, dst_port: self.dst_port }
    }
}

/// What a tunnel datapath port receives: one per (protocol, UDP port).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Vport {
    pub proto: TunnelProto,
    pub dst_port: u16,
}

impl PartialOrd for TunnelProto {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for TunnelProto {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        (*self as u8).cmp(&(*other as u8))
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PortKind {
    /// A netdev served through AF_XDP sockets. Its options (xdp-mode, steering) stay
    /// in the port's option map: they concern the AF_XDP attachment, see `io::xdp`.
    Afxdp,
    /// A kernel netdev of this name created by xvs (a veth whose other end xvs serves).
    Internal,
    /// One end of a patch pair; `peer` names the other end (on any bridge).
    Patch { peer: String },
    Tunnel(TunnelConfig),
}

/// The options each afxdp port takes (validated by `io::xdp`).
pub const AFXDP_OPTIONS: &[&str] = &["xdp-mode", "steer", "local_ip", "vxlan_port", "gre", "steer_macs", "steer_vlans"];

fn parse_ip(k: &str, v: &str) -> Result<Ipv4Addr, PortError> {
    v.parse().map_err(|_| PortError::BadOption(k.into(), format!("'{v}' is not an IPv4 address")))
}

fn parse_key(k: &str, v: &str) -> Result<FromFlow<u64>, PortError> {
    if v == "flow" {
        return Ok(FromFlow::Flow);
    }
    let n = match v.strip_prefix("0x") {
        Some(h) => u64::from_str_radix(h, 16),
        None => v.parse(),
    }
    .map_err(|_| PortError::BadOption(k.into(), format!("'{v}' is not a number or 'flow'")))?;
    Ok(FromFlow::Fixed(n))
}

fn parse_bool(k: &str, v: &str) -> Result<bool, PortError> {
    match v {
        "true" => Ok(true),
        "false" => Ok(false),
        _ => Err(PortError::BadOption(k.into(), format!("'{v}' is not true or false"))),
    }
}

impl PortKind {
    /// The `type=` word.
    pub fn type_name(&self) -> &'static str {
        match self {
            PortKind::Afxdp => "afxdp",
            PortKind::Internal => "internal",
            PortKind::Patch { .. } => "patch",
            PortKind::Tunnel(t) => t.proto.name(),
        }
    }

    pub fn is_tunnel(&self) -> bool {
        matches!(self, PortKind::Tunnel(_))
    }

    /// Ports that send and receive frames through AF_XDP sockets of their own.
    pub fn has_netdev(&self) -> bool {
        matches!(self, PortKind::Afxdp | PortKind::Internal)
    }

    /// Parse `type=T` and the `options:K=V` of an interface. Returns the kind and the
    /// options that stay with the port (afxdp attachment options); everything else is
    /// held by the kind.
    pub fn parse(ty: Option<&str>, options: &BTreeMap<String, String>) -> Result<(PortKind, BTreeMap<String, String>), PortError> {
        let ty = ty.unwrap_or("afxdp");
        match ty {
            "" | "afxdp" | "system" => {
                if let Some(k) = options.keys().find(|k| !AFXDP_OPTIONS.contains(&k.as_str())) {
                    return Err(PortError::NotAnOption(k.clone(), "afxdp"));
                }
                Ok((PortKind::Afxdp, options.clone()))
            }
            "internal" => {
                if let Some(k) = options.keys().next() {
                    return Err(PortError::NotAnOption(k.clone(), "internal"));
                }
                Ok((PortKind::Internal, BTreeMap::new()))
            }
            "patch" => {
                let peer = options.get("peer").cloned().ok_or(PortError::Missing("patch", "peer"))?;
                if let Some(k) = options.keys().find(|k| *k != "peer") {
                    return Err(PortError::NotAnOption(k.clone(), "patch"));
                }
                Ok((PortKind::Patch { peer }, BTreeMap::new()))
            }
            "vxlan" | "gre" => {
                let proto = if ty == "vxlan" { TunnelProto::Vxlan } else { TunnelProto::Gre };
                let mut t = TunnelConfig::new(proto);
                let mut key = None;
                let mut in_key = None;
                let mut out_key = None;
                let mut remote = None;
                for (k, v) in options {
                    match k.as_str() {
                        "remote_ip" => remote = Some(if v == "flow" { FromFlow::Flow } else { FromFlow::Fixed(parse_ip(k, v)?) }),
                        "local_ip" => t.local_ip = Some(if v == "flow" { FromFlow::Flow } else { FromFlow::Fixed(parse_ip(k, v)?) }),
                        "key" => key = Some(parse_key(k, v)?),
                        "in_key" => in_key = Some(parse_key(k, v)?),
                        "out_key" => out_key = Some(parse_key(k, v)?),
                        "dst_port" if proto == TunnelProto::Vxlan => {
                            t.dst_port = v
                                .parse()
                                .ok()
                                .filter(|p| *p != 0)
                                .ok_or_else(|| PortError::BadOption(k.clone(), format!("'{v}' is not a UDP port")))?
                        }
                        "tos" => {
                            t.tos = if v == "inherit" {
                                Tos::Inherit
                            } else {
                                Tos::Fixed(v.parse().map_err(|_| PortError::BadOption(k.clone(), format!("'{v}' is not 0..255 or inherit")))?)
                            }
                        }
                        "ttl" => {
                            t.ttl = v
                                .parse()
                                .ok()
                                .filter(|x| *x != 0)
                                .ok_or_else(|| PortError::BadOption(k.clone(), format!("'{v}' is not 1..255")))?
                        }
                        "df_default" => t.df_default = parse_bool(k, v)?,
                        "csum" => t.csum = parse_bool(k, v)?,
                        "egress_pkt_mark" | "packet_type" => {
                            t.passive.insert(k.clone(), v.clone());
                        }
                        _ => return Err(PortError::NotAnOption(k.clone(), proto.name())),
                    }
                }
                t.remote_ip = remote.ok_or(PortError::Missing(proto.name(), "remote_ip"))?;
                // `key` sets both directions; in_key/out_key override one each.
                let k = key.unwrap_or(FromFlow::Fixed(0));
                t.in_key = in_key.unwrap_or(k);
                t.out_key = out_key.unwrap_or(k);
                for kk in [t.in_key, t.out_key] {
                    if let FromFlow::Fixed(n) = kk {
                        let max = if proto == TunnelProto::Vxlan { 0xff_ffff } else { 0xffff_ffff };
                        if n > max {
                            return Err(PortError::BadOption("key".into(), format!("{n} does not fit a {} key (max {max})", proto.name())));
                        }
                    }
                }
                Ok((PortKind::Tunnel(t), BTreeMap::new()))
            }
            other => Err(PortError::UnknownType(other.to_string())),
        }
    }

    /// The options of the kind, as `options:K=V` would write them (the inverse of
    /// `parse`, merged with the port's own option map by the caller).
    pub fn options(&self) -> BTreeMap<String, String> {
        let mut m = BTreeMap::new();
        match self {
            PortKind::Afxdp | PortKind::Internal => {}
            PortKind::Patch { peer } => {
                m.insert("peer".into(), peer.clone());
            }
            PortKind::Tunnel(t) => {
                let ip = |x: &FromFlow<Ipv4Addr>| match x {
                    FromFlow::Fixed(a) => a.to_string(),
                    FromFlow::Flow => "flow".into(),
                };
                let key = |x: &FromFlow<u64>| match x {
                    FromFlow::Fixed(n) => n.to_string(),
                    FromFlow::Flow => "flow".into(),
                };
                m.insert("remote_ip".into(), ip(&t.remote_ip));
                if let Some(l) = &t.local_ip {
                    m.insert("local_ip".into(), ip(l));
                }
                if t.in_key == t.out_key {
                    if t.in_key != FromFlow::Fixed(0) {
                        m.insert("key".into(), key(&t.in_key));
                    }
                } else {
                    m.insert("in_key".into(), key(&t.in_key));
                    m.insert("out_key".into(), key(&t.out_key));
                }
                if t.proto == TunnelProto::Vxlan && t.dst_port != 4789 {
                    m.insert("dst_port".into(), t.dst_port.to_string());
                }
                match t.tos {
                    Tos::Fixed(0) => {}
                    Tos::Fixed(n) => {
                        m.insert("tos".into(), n.to_string());
                    }
                    Tos::Inherit => {
                        m.insert("tos".into(), "inherit".into());
                    }
                }
                if t.ttl != 64 {
                    m.insert("ttl".into(), t.ttl.to_string());
                }
                if !t.df_default {
                    m.insert("df_default".into(), "false".into());
                }
                if t.csum {
                    m.insert("csum".into(), "true".into());
                }
                for (k, v) in &t.passive {
                    m.insert(k.clone(), v.clone());
                }
            }
        }
        m
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts(kv: &[(&str, &str)]) -> BTreeMap<String, String> {
        kv.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn neutron_agent_tunnel_port_round_trips() {
        let o = opts(&[
            ("df_default", "true"),
            ("egress_pkt_mark", "0"),
            ("in_key", "flow"),
            ("local_ip", "10.0.0.1"),
            ("out_key", "flow"),
            ("remote_ip", "10.0.0.2"),
        ]);
        let (k, rest) = PortKind::parse(Some("vxlan"), &o).unwrap();
        assert!(rest.is_empty());
        let PortKind::Tunnel(t) = &k else { panic!() };
        assert_eq!(t.in_key, FromFlow::Flow);
        assert_eq!(t.remote_ip, FromFlow::Fixed("10.0.0.2".parse().unwrap()));
        assert_eq!(t.dst_port, 4789);
        assert_eq!(t.vport_name(), "vxlan_sys_4789");
        // Printed back: key=flow (both directions), defaults left out.
        let printed = k.options();
        assert_eq!(printed.get("key").map(|s| s.as_str()), Some("flow"));
        let (k2, _) = PortKind::parse(Some("vxlan"), &printed).unwrap();
        assert_eq!(k, k2);
    }

    #[test]
    fn tunnel_options_are_validated() {
        let e = |ty: &str, kv: &[(&str, &str)]| PortKind::parse(Some(ty), &opts(kv)).unwrap_err().to_string();
        assert!(e("vxlan", &[]).contains("needs options:remote_ip"));
        assert!(e("vxlan", &[("remote_ip", "1.2.3")]).contains("not an IPv4 address"));
        assert!(e("vxlan", &[("remote_ip", "flow"), ("key", "0x1000000")]).contains("does not fit"));
        assert!(e("gre", &[("remote_ip", "flow"), ("dst_port", "4789")]).contains("not an option of gre"));
        assert!(e("gre", &[("remote_ip", "flow"), ("ttl", "0")]).contains("1..255"));
        assert!(e("geneve", &[]).contains("unsupported port type"));
        assert!(e("internal", &[("peer", "x")]).contains("not an option of internal"));
        assert!(e("patch", &[]).contains("needs options:peer"));
        let (g, _) = PortKind::parse(Some("gre"), &opts(&[("remote_ip", "10.0.0.3"), ("key", "0x2a"), ("csum", "true")])).unwrap();
        let PortKind::Tunnel(t) = &g else { panic!() };
        assert_eq!((t.in_key, t.out_key, t.csum), (FromFlow::Fixed(42), FromFlow::Fixed(42), true));
        assert_eq!(t.proto.overhead(false), 42);
        assert_eq!(TunnelProto::Vxlan.overhead(false), 50);
    }
}
