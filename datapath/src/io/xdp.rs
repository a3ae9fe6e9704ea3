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

pub struct XdpProgram {
    pub ifname: String,
    pub ifindex: u32,
    pub mode: XdpMode,
    obj: Object,
    _link: OwnedFd,
}

impl XdpProgram {
    /// Load the program and attach it to `ifname` in `mode`.
    pub fn attach(ifname: &str, mode: XdpMode) -> Result<XdpProgram> {
        quiet_libbpf();
        let ifindex = ifindex(ifname)?;
        let obj = ObjectBuilder::default()
            .open_memory(XDP_OBJ)
            .context("opening the embedded XDP object")?
            .load()
            .context("loading the XDP program into the kernel")?;
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
        Ok(XdpProgram { ifname: ifname.to_string(), ifindex, mode, obj, _link: link })
    }

    fn map(&self, name: &str) -> Result<libbpf_rs::Map<'_>> {
        self.obj.maps().find(|m| m.name() == name).ok_or_else(|| anyhow!("map {name} missing"))
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
