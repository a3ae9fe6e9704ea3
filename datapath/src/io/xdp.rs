//! The XDP steering program on a port: load it (embedded at build time), attach it to
//! the netdev through a BPF link, and register AF_XDP sockets in its XSKMAP.
//!
//! A BPF link is used rather than the netlink attach because the kernel detaches a
//! link's program when the last file descriptor to it closes: when xvsd exits, crashes
//! or is killed -9, the port returns to plain kernel networking by itself.

use std::ffi::CString;
use std::os::fd::{AsFd, AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::sync::Once;

use anyhow::{anyhow, bail, Context, Result};
use libbpf_rs::{MapCore, MapFlags, Object, ObjectBuilder};

static XDP_OBJ: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/xvs_xdp.bpf.o"));

const XDP_FLAGS_SKB_MODE: u32 = 1 << 1;
const XDP_FLAGS_DRV_MODE: u32 = 1 << 2;
const STAT_PASS: u32 = 1;

#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum XdpMode {
    /// Driver ("native") XDP.
    Native,
    /// Generic (skb) XDP: works on any netdev, slower.
    Generic,
}

impl XdpMode {
    pub fn parse(s: &str) -> Result<XdpMode> {
        match s {
            "native" | "native-with-zerocopy" | "best-effort" | "drv" => Ok(XdpMode::Native),
            "generic" | "skb" => Ok(XdpMode::Generic),
            _ => bail!("unknown xdp-mode '{s}' (native or generic)"),
        }
    }
    pub fn as_str(self) -> &'static str {
        match self {
            XdpMode::Native => "native",
            XdpMode::Generic => "generic",
        }
    }
}

fn quiet_libbpf() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        // libbpf's own messages go to our log at debug level instead of stderr.
        libbpf_rs::set_print(Some((libbpf_rs::PrintLevel::Info, |lvl, msg| {
            tracing::debug!(target: "libbpf", "{:?}: {}", lvl, msg.trim_end());
        })));
    });
}

pub fn ifindex(ifname: &str) -> Result<u32> {
    let c = CString::new(ifname).map_err(|_| anyhow!("bad interface name"))?;
    let idx = unsafe { libc::if_nametoindex(c.as_ptr()) };
    if idx == 0 {
        bail!("no network interface named {ifname}");
    }
    Ok(idx)
}

/// Number of rx queues of a netdev (from sysfs).
pub fn rx_queues(ifname: &str) -> Result<u32> {
    let dir = format!("/sys/class/net/{ifname}/queues");
    let n = std::fs::read_dir(&dir)
        .with_context(|| format!("reading {dir}"))?
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().starts_with("rx-"))
        .count() as u32;
    Ok(n.max(1))
}

/// Make sure bpffs is mounted (libxdp and bpftool expect it).
pub fn ensure_bpffs() {
    let mounted = std::fs::read_to_string("/proc/mounts")
        .map(|m| m.lines().any(|l| l.split_whitespace().nth(1) == Some("/sys/fs/bpf")))
        .unwrap_or(true);
    if !mounted {
        let _ = std::process::Command::new("mount").args(["-t", "bpf", "bpf", "/sys/fs/bpf"]).status();
    }
}

/// Which frames of a port go to xvs (the rest goes to the kernel stack).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Steering {
    /// false: every frame (VM ports). true: only what is listed below (a NIC the host
    /// also uses for management, SSH, the agent's RPC...).
    pub shared: bool,
    /// The host's tunnel endpoint: VXLAN (to `vxlan_port`) and GRE to it go to xvs.
    pub local_ip: Option<std::net::Ipv4Addr>,
    pub vxlan_port: u16,
    pub gre: bool,
    /// Frames to these MACs go to xvs.
    pub macs: Vec<[u8; 6]>,
    /// Frames tagged with these VLANs go to xvs.
    pub vlans: Vec<u16>,
}

impl Steering {
    /// From port options: `steer=all|shared`, `local_ip=A.B.C.D`, `vxlan_port=N`,
    /// `gre=true|false`, `steer_macs=M1,M2`, `steer_vlans=V1,V2`.
    pub fn from_options(o: &std::collections::BTreeMap<String, String>) -> Result<Steering> {
        let mut s = Steering { vxlan_port: 4789, gre: true, ..Default::default() };
        match o.get("steer").map(|s| s.as_str()) {
            None | Some("all") => {}
            Some("shared") => s.shared = true,
            Some(x) => bail!("unknown steer mode '{x}' (all, shared)"),
        }
        if let Some(ip) = o.get("local_ip") {
            s.local_ip = Some(ip.parse().map_err(|_| anyhow!("invalid local_ip '{ip}'"))?);
        }
        if let Some(p) = o.get("vxlan_port") {
            s.vxlan_port = p.parse().map_err(|_| anyhow!("invalid vxlan_port '{p}'"))?;
        }
        if let Some(g) = o.get("gre") {
            s.gre = g.parse().map_err(|_| anyhow!("invalid gre '{g}' (true, false)"))?;
        }
        if let Some(m) = o.get("steer_macs") {
            for mac in m.split(',').filter(|x| !x.is_empty()) {
                let b: Vec<u8> = mac.split(':').map(|x| u8::from_str_radix(x, 16)).collect::<Result<_, _>>().map_err(|_| anyhow!("invalid MAC '{mac}'"))?;
                s.macs.push(b.try_into().map_err(|_| anyhow!("invalid MAC '{mac}'"))?);
            }
        }
        if let Some(v) = o.get("steer_vlans") {
            for vid in v.split(',').filter(|x| !x.is_empty()) {
                let n: u16 = vid.parse().map_err(|_| anyhow!("invalid VLAN '{vid}'"))?;
                if n > 4095 {
                    bail!("invalid VLAN {n}");
                }
                s.vlans.push(n);
            }
        }
        if !s.shared && (s.local_ip.is_some() || !s.macs.is_empty() || !s.vlans.is_empty()) {
            bail!("local_ip/steer_macs/steer_vlans need options:steer=shared");
        }
        if s.shared && s.local_ip.is_none() && s.macs.is_empty() && s.vlans.is_empty() {
            bail!("steer=shared needs something to steer: options:local_ip, steer_macs or steer_vlans");
        }
        Ok(s)
    }

    pub fn describe(&self) -> String {
        if !self.shared {
            return "all".into();
        }
        let mut v = vec![];
        if let Some(ip) = self.local_ip {
            v.push(format!("tunnels to {ip} (vxlan:{}{})", self.vxlan_port, if self.gre { ", gre" } else { "" }));
        }
        if !self.macs.is_empty() {
            v.push(format!("{} MAC(s)", self.macs.len()));
        }
        if !self.vlans.is_empty() {
            v.push(format!("VLANs {:?}", self.vlans));
        }
        format!("shared: {}", v.join(", "))
    }
}

pub struct XdpProgram {
    pub ifname: String,
    pub ifindex: u32,
    pub mode: XdpMode,
    pub steering: Steering,
    obj: Object,
    _link: OwnedFd,
}

impl XdpProgram {
    /// Load the program and attach it to `ifname` in `mode`, steering every frame.
    pub fn attach(ifname: &str, mode: XdpMode) -> Result<XdpProgram> {
        XdpProgram::attach_steering(ifname, mode, Steering { vxlan_port: 4789, gre: true, ..Default::default() })
    }

    /// Load the program, configure what it steers, attach it.
    pub fn attach_steering(ifname: &str, mode: XdpMode, steering: Steering) -> Result<XdpProgram> {
        quiet_libbpf();
        let ifindex = ifindex(ifname)?;
        let obj = ObjectBuilder::default()
            .open_memory(XDP_OBJ)
            .context("opening the embedded XDP object")?
            .load()
            .context("loading the XDP program into the kernel")?;
        configure(&obj, &steering)?;
        let prog = obj.progs().find(|p| p.name() == "xvs_steer").ok_or_else(|| anyhow!("xvs_steer program missing"))?;
        let mut opts: libbpf_sys::bpf_link_create_opts = unsafe { std::mem::zeroed() };
        opts.sz = std::mem::size_of::<libbpf_sys::bpf_link_create_opts>() as _;
        opts.flags = match mode {
            XdpMode::Native => XDP_FLAGS_DRV_MODE,
            XdpMode::Generic => XDP_FLAGS_SKB_MODE,
        };
        let fd = unsafe {
            libbpf_sys::bpf_link_create(prog.as_fd().as_raw_fd(), ifindex as i32, libbpf_sys::BPF_XDP, &opts)
        };
        if fd < 0 {
            let err = std::io::Error::from_raw_os_error(-fd);
            let hint = match -fd {
                libc::EBUSY | libc::EEXIST => " (another XDP program is attached to it: remove it, e.g. `ip link set dev IF xdp off`)",
                libc::EOPNOTSUPP | libc::EINVAL if mode == XdpMode::Native => {
                    " (the driver may lack native XDP: try options:xdp-mode=generic)"
                }
                _ => "",
            };
            bail!("attaching XDP ({}) to {ifname}: {err}{hint}", mode.as_str());
        }
        let link = unsafe { OwnedFd::from_raw_fd(fd) };
        Ok(XdpProgram { ifname: ifname.to_string(), ifindex, mode, steering, obj, _link: link })
    }

    fn map(&self, name: &str) -> Result<libbpf_rs::Map<'_>> {
        find_map(&self.obj, name)
    }

    /// Steer rx queue `queue` into the AF_XDP socket `fd`.
    pub fn register(&self, queue: u32, fd: RawFd) -> Result<()> {
        self.map("xsks")?
            .update(&queue.to_ne_bytes(), &(fd as u32).to_ne_bytes(), MapFlags::ANY)
            .with_context(|| format!("registering the AF_XDP socket of {} queue {queue}", self.ifname))
    }

    /// Stop steering rx queue `queue` (its frames go to the kernel again).
    pub fn unregister(&self, queue: u32) {
        if let Ok(m) = self.map("xsks") {
            let _ = m.delete(&queue.to_ne_bytes());
        }
    }

    /// Frames passed to the kernel (no socket on their queue), summed over CPUs.
    pub fn passed(&self) -> u64 {
        let Ok(m) = self.map("stats") else { return 0 };
        let sum = |idx: u32| -> u64 {
            m.lookup_percpu(&idx.to_ne_bytes(), MapFlags::ANY)
                .ok()
                .flatten()
                .map(|v| v.iter().map(|b| u64::from_ne_bytes(b[..8].try_into().unwrap_or([0; 8]))).sum())
                .unwrap_or(0)
        };
        sum(STAT_PASS)
    }
}

fn find_map<'a>(obj: &'a Object, name: &str) -> Result<libbpf_rs::Map<'a>> {
    obj.maps().find(|m| m.name() == name).ok_or_else(|| anyhow!("map {name} missing"))
}

/// Write the steering configuration into the program's maps (before it is attached).
fn configure(obj: &Object, s: &Steering) -> Result<()> {
    // struct xvs_port_cfg { u32 mode; be32 local_ip; be16 vxlan_port; u16 steer_gre; u32 reserved; }
    let mut cfg = [0u8; 16];
    cfg[0..4].copy_from_slice(&(s.shared as u32).to_ne_bytes());
    if let Some(ip) = s.local_ip {
        cfg[4..8].copy_from_slice(&ip.octets());
    }
    cfg[8..10].copy_from_slice(&s.vxlan_port.to_be_bytes());
    cfg[10..12].copy_from_slice(&(s.gre as u16).to_ne_bytes());
    find_map(obj, "cfg")?.update(&0u32.to_ne_bytes(), &cfg, MapFlags::ANY).context("writing the port's steering config")?;
    let macs = find_map(obj, "steer_macs")?;
    for m in &s.macs {
        let mut k = [0u8; 8];
        k[..6].copy_from_slice(m);
        macs.update(&k, &[1u8], MapFlags::ANY)?;
    }
    let vlans = find_map(obj, "steer_vlans")?;
    for v in &s.vlans {
        vlans.update(&(*v as u32).to_ne_bytes(), &[1u8], MapFlags::ANY)?;
    }
    Ok(())
}
