//! A lab file, read and checked: the typed topology every other part of the lab works
//! from. Errors name the file, the line and the field (`labs/x.toml:12: [[vm]] 'db'
//! field `ip`: ...`); TOML syntax errors and unknown keys come from the toml crate
//! with its line, semantic ones (unknown names, addresses outside their network,
//! duplicates, id ranges, name lengths) from [`Topology::parse`].

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::net::Ipv4Addr;
use std::ops::Range;

use toml::Spanned;

pub use super::spec::{NetType, Role};
use super::spec::LabFile;

/// Host and VM names become parts of interface names (`tap<vm>`, `t-<host>`), which
/// Linux limits to 15 characters.
pub const MAX_NAME: usize = 12;

/// An error in a lab file, with the line it points at (1-based) when known.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpecError {
    pub origin: String,
    pub line: Option<usize>,
    pub msg: String,
}

impl fmt::Display for SpecError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.line {
            Some(l) => write!(f, "{}:{}: {}", self.origin, l, self.msg),
            None => write!(f, "{}: {}", self.origin, self.msg),
        }
    }
}

impl std::error::Error for SpecError {}

/// An IPv4 prefix, e.g. 10.1.0.0/24.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ipv4Net {
    pub addr: Ipv4Addr,
    pub len: u8,
}

impl Ipv4Net {
    pub fn parse(s: &str) -> Result<Ipv4Net, String> {
        let (a, l) = s.split_once('/').ok_or_else(|| format!("'{s}' is not a prefix like 10.1.0.0/24"))?;
        let addr: Ipv4Addr = a.parse().map_err(|_| format!("'{a}' is not an IPv4 address"))?;
        let len: u8 = l.parse().ok().filter(|l| (8..=30).contains(l)).ok_or_else(|| format!("prefix length '{l}' must be 8..30"))?;
        let net = Ipv4Net { addr, len };
        if net.network() != addr {
            return Err(format!("'{s}' has host bits set (did you mean {}/{len}?)", net.network()));
        }
        Ok(net)
    }

    fn mask(&self) -> u32 {
        u32::MAX << (32 - self.len as u32)
    }

    pub fn network(&self) -> Ipv4Addr {
        Ipv4Addr::from(u32::from(self.addr) & self.mask())
    }

    pub fn broadcast(&self) -> Ipv4Addr {
        Ipv4Addr::from(u32::from(self.addr) | !self.mask())
    }

    pub fn contains(&self, ip: Ipv4Addr) -> bool {
        u32::from(ip) & self.mask() == u32::from(self.addr) & self.mask()
    }

    /// A usable host address of this prefix (not the network or broadcast address).
    pub fn is_host(&self, ip: Ipv4Addr) -> bool {
        self.contains(ip) && ip != self.network() && ip != self.broadcast()
    }
}

impl fmt::Display for Ipv4Net {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.len)
    }
}

#[derive(Debug, Clone)]
pub struct Host {
    pub name: String,
    pub role: Role,
    pub underlay_ip: Ipv4Addr,
}

#[derive(Debug, Clone)]
pub struct Network {
    pub name: String,
    pub kind: NetType,
    pub seg: u32,
    pub cidr: Ipv4Net,
    pub gateway: Option<Ipv4Addr>,
}

#[derive(Debug, Clone)]
pub struct Vm {
    pub name: String,
    pub host: usize,
    pub network: usize,
    pub ip: Ipv4Addr,
    pub mac: [u8; 6],
}

impl Vm {
    pub fn mac_str(&self) -> String {
        self.mac.iter().map(|b| format!("{b:02x}")).collect::<Vec<_>>().join(":")
    }
}

/// A checked lab: every name resolved to an index, every address parsed and in range.
#[derive(Debug, Clone)]
pub struct Topology {
    pub underlay: Ipv4Net,
    pub hosts: Vec<Host>,
    pub networks: Vec<Network>,
    pub vms: Vec<Vm>,
}

struct Ctx<'a> {
    text: &'a str,
    origin: &'a str,
}

impl Ctx<'_> {
    fn line(&self, span: Range<usize>) -> usize {
        self.text[..span.start.min(self.text.len())].matches('\n').count() + 1
    }

    fn err<T>(&self, span: Range<usize>, what: impl fmt::Display, msg: impl fmt::Display) -> Result<T, SpecError> {
        Err(SpecError { origin: self.origin.to_string(), line: Some(self.line(span)), msg: format!("{what}: {msg}") })
    }

    fn ip(&self, v: &Spanned<String>, what: impl fmt::Display) -> Result<Ipv4Addr, SpecError> {
        v.get_ref().parse().or_else(|_| self.err(v.span(), what, format!("'{}' is not an IPv4 address", v.get_ref())))
    }

    fn name(&self, v: &Spanned<String>, what: impl fmt::Display, max: usize) -> Result<String, SpecError> {
        let s = v.get_ref();
        if s.is_empty() || s.len() > max {
            return self.err(v.span(), what, format!("'{s}' must be 1..{max} characters (it becomes part of Linux interface names, at most 15)"));
        }
        let ok = s.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-') && !s.starts_with('-');
        if !ok {
            return self.err(v.span(), what, format!("'{s}' may only use a-z, 0-9 and '-' (not first)"));
        }
        Ok(s.clone())
    }
}

fn parse_mac(s: &str) -> Option<[u8; 6]> {
    let parts: Vec<&str> = s.split(':').collect();
    if parts.len() != 6 {
        return None;
    }
    let mut m = [0u8; 6];
    for (i, p) in parts.iter().enumerate() {
        if p.len() != 2 {
            return None;
        }
        m[i] = u8::from_str_radix(p, 16).ok()?;
    }
    Some(m)
}

impl Topology {
    /// Read and check a lab file. `origin` names it in errors (a path, or "default").
    pub fn parse(text: &str, origin: &str) -> Result<Topology, SpecError> {
        let file: LabFile = toml::from_str(text).map_err(|e| {
            let line = e.span().map(|s| text[..s.start.min(text.len())].matches('\n').count() + 1);
            let mut msg = e.message().trim_end().to_string();
            if let Some(l) = line {
                if let Some(src) = text.lines().nth(l - 1) {
                    msg = format!("{msg}\n    | {}", src.trim_end());
                }
            }
            SpecError { origin: origin.to_string(), line, msg }
        })?;
        let cx = Ctx { text, origin };
        let ucidr = &file.underlay.get_ref().cidr;
        let underlay = Ipv4Net::parse(ucidr.get_ref()).or_else(|m| cx.err(ucidr.span(), "[underlay] field `cidr`", m))?;
        if file.hosts.is_empty() {
            return cx.err(0..0, "[[host]]", "the lab needs at least one host");
        }

        // Host and VM names share one namespace (each is a network namespace).
        let mut names: HashMap<String, &'static str> = HashMap::new();
        let mut hosts = Vec::new();
        let mut underlay_ips = HashSet::new();
        for h in &file.hosts {
            let h = h.get_ref();
            let what = format!("[[host]] '{}' field", h.name.get_ref());
            let name = cx.name(&h.name, format!("{what} `name`"), MAX_NAME)?;
            if let Some(k) = names.insert(name.clone(), "host") {
                return cx.err(h.name.span(), format!("{what} `name`"), format!("duplicate name '{name}' (already a {k})"));
            }
            let ip = cx.ip(&h.underlay_ip, format!("{what} `underlay_ip`"))?;
            if !underlay.is_host(ip) {
                return cx.err(h.underlay_ip.span(), format!("{what} `underlay_ip`"), format!("{ip} is not a host address of the underlay {underlay}"));
            }
            if !underlay_ips.insert(ip) {
                return cx.err(h.underlay_ip.span(), format!("{what} `underlay_ip`"), format!("duplicate underlay address {ip}"));
            }
            hosts.push(Host { name, role: *h.role.get_ref(), underlay_ip: ip });
        }

        let mut networks = Vec::new();
        let mut net_names = HashSet::new();
        let mut segs = HashSet::new();
        for n in &file.networks {
            let n = n.get_ref();
            let what = format!("[[network]] '{}' field", n.name.get_ref());
            let name = n.name.get_ref().clone();
            if name.is_empty() || name.len() > 32 || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_') {
                return cx.err(n.name.span(), format!("{what} `name`"), format!("'{name}' must be 1..32 characters of A-Z, a-z, 0-9, '-', '_'"));
            }
            if !net_names.insert(name.clone()) {
                return cx.err(n.name.span(), format!("{what} `name`"), format!("duplicate network name '{name}'"));
            }
            let kind = *n.kind.get_ref();
            let (lo, hi) = kind.seg_range();
            let seg = *n.segmentation_id.get_ref();
            if seg < lo as i64 || seg > hi as i64 {
                let unit = match kind {
                    NetType::Vlan => "a VLAN id",
                    NetType::Vxlan => "a VXLAN VNI",
                    NetType::Gre => "a GRE key",
                };
                return cx.err(n.segmentation_id.span(), format!("{what} `segmentation_id`"), format!("{seg} is not {unit} ({lo}..{hi})"));
            }
            if !segs.insert((kind, seg)) {
                return cx.err(n.segmentation_id.span(), format!("{what} `segmentation_id`"), format!("another {} network already uses {seg}", kind.as_str()));
            }
            let cidr = Ipv4Net::parse(n.cidr.get_ref()).or_else(|m| cx.err(n.cidr.span(), format!("{what} `cidr`"), m))?;
            let gateway = match &n.gateway {
                None => None,
                Some(g) => {
                    let ip = cx.ip(g, format!("{what} `gateway`"))?;
                    if !cidr.is_host(ip) {
                        return cx.err(g.span(), format!("{what} `gateway`"), format!("{ip} is not a host address of {cidr}"));
                    }
                    Some(ip)
                }
            };
            networks.push(Network { name, kind, seg: seg as u32, cidr, gateway });
        }

        let mut vms = Vec::new();
        let mut ips = HashSet::new();
        let mut macs = HashSet::new();
        for (i, v) in file.vms.iter().enumerate() {
            let v = v.get_ref();
            let what = format!("[[vm]] '{}' field", v.name.get_ref());
            let name = cx.name(&v.name, format!("{what} `name`"), MAX_NAME)?;
            if let Some(k) = names.insert(name.clone(), "vm") {
                return cx.err(v.name.span(), format!("{what} `name`"), format!("duplicate name '{name}' (already a {k})"));
            }
            let host = hosts.iter().position(|h| &h.name == v.host.get_ref()).map_or_else(
                || cx.err(v.host.span(), format!("{what} `host`"), format!("no [[host]] is named '{}'", v.host.get_ref())),
                Ok,
            )?;
            let network = networks.iter().position(|n| &n.name == v.network.get_ref()).map_or_else(
                || cx.err(v.network.span(), format!("{what} `network`"), format!("no [[network]] is named '{}'", v.network.get_ref())),
                Ok,
            )?;
            let net = &networks[network];
            let ip = cx.ip(&v.ip, format!("{what} `ip`"))?;
            if !net.cidr.is_host(ip) {
                return cx.err(v.ip.span(), format!("{what} `ip`"), format!("{ip} is not a host address of network '{}' ({})", net.name, net.cidr));
            }
            if net.gateway == Some(ip) {
                return cx.err(v.ip.span(), format!("{what} `ip`"), format!("{ip} is the gateway of network '{}'", net.name));
            }
            if !ips.insert((network, ip)) {
                return cx.err(v.ip.span(), format!("{what} `ip`"), format!("another VM on network '{}' already has {ip}", net.name));
            }
            let mac = match &v.mac {
                Some(m) => {
                    let mac = parse_mac(m.get_ref())
                        .map_or_else(|| cx.err(m.span(), format!("{what} `mac`"), format!("'{}' is not a MAC address like fa:16:3e:00:00:01", m.get_ref())), Ok)?;
                    if mac[0] & 1 != 0 || mac == [0; 6] {
                        return cx.err(m.span(), format!("{what} `mac`"), format!("'{}' is not a unicast MAC address", m.get_ref()));
                    }
                    mac
                }
                // Neutron's prefix; the rest from the VM's position in the file.
                None => [0xfa, 0x16, 0x3e, 0x1a, ((i + 1) >> 8) as u8, (i + 1) as u8],
            };
            if !macs.insert(mac) {
                let span = v.mac.as_ref().map_or(v.name.span(), |m| m.span());
                return cx.err(span, format!("{what} `mac`"), "duplicate MAC address (another VM has it)");
            }
            vms.push(Vm { name, host, network, ip, mac });
        }
        Ok(Topology { underlay, hosts, networks, vms })
    }

    /// Indexes of the networks with a VM on host `h`, in file order.
    pub fn networks_on(&self, h: usize) -> Vec<usize> {
        (0..self.networks.len()).filter(|&n| self.vms.iter().any(|v| v.host == h && v.network == n)).collect()
    }

    pub fn vms_on(&self, network: usize) -> impl Iterator<Item = (usize, &Vm)> {
        self.vms.iter().enumerate().filter(move |(_, v)| v.network == network)
    }

    pub fn has_kind(&self, kind: NetType) -> bool {
        self.networks.iter().any(|n| n.kind == kind)
    }
}
