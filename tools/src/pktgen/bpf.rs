//! Loading xvs-pktgen's embedded BPF objects (built by tools/build.rs), attaching an
//! XDP program through a BPF link (detached when the link's fd closes, i.e. on drop,
//! on exit and on kill -9), and reading per-CPU counters.

use std::os::fd::{AsFd, AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::sync::Once;

use anyhow::{anyhow, bail, Context, Result};
use libbpf_rs::{Map, MapCore, MapFlags, Object, ObjectBuilder, Program};

pub static GEN_OBJ: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/xvs_gen.bpf.o"));
pub static SINK_OBJ: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/xvs_sink.bpf.o"));

const XDP_FLAGS_SKB_MODE: u32 = 1 << 1;
const XDP_FLAGS_DRV_MODE: u32 = 1 << 2;

/// libbpf's chatter only when it is a warning.
fn quiet_libbpf() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        libbpf_rs::set_print(Some((libbpf_rs::PrintLevel::Warn, |_, msg| {
            eprint!("libbpf: {msg}")
        })));
    });
}

pub fn load(obj: &[u8], what: &str) -> Result<Object> {
    quiet_libbpf();
    ObjectBuilder::default()
        .open_memory(obj)
        .with_context(|| format!("opening the embedded {what} object"))?
        .load()
        .with_context(|| format!("loading the {what} program into the kernel (needs root)"))
}

pub fn prog<'a>(obj: &'a Object, name: &str) -> Result<Program<'a>> {
    obj.progs()
        .find(|p| p.name() == name)
        .ok_or_else(|| anyhow!("program {name} missing from the object"))
}

pub fn map<'a>(obj: &'a Object, name: &str) -> Result<Map<'a>> {
    obj.maps()
        .find(|m| m.name() == name)
        .ok_or_else(|| anyhow!("map {name} missing from the object"))
}

/// Attach `prog` to `ifindex` in native (driver) mode, or generic (skb) mode.
pub fn attach_xdp(prog: &Program<'_>, ifindex: u32, generic: bool) -> Result<OwnedFd> {
    let mut opts: libbpf_sys::bpf_link_create_opts = unsafe { std::mem::zeroed() };
    opts.sz = std::mem::size_of::<libbpf_sys::bpf_link_create_opts>() as _;
    opts.flags = if generic {
        XDP_FLAGS_SKB_MODE
    } else {
        XDP_FLAGS_DRV_MODE
    };
    let fd = unsafe {
        libbpf_sys::bpf_link_create(
            prog.as_fd().as_raw_fd(),
            ifindex as i32,
            libbpf_sys::BPF_XDP,
            &opts,
        )
    };
    if fd < 0 {
        let err = std::io::Error::from_raw_os_error(-fd);
        let hint = match -fd {
            libc::EBUSY | libc::EEXIST => {
                " (another XDP program is attached: `ip link set dev IF xdp off`)"
            }
            _ => "",
        };
        bail!(
            "attaching XDP ({}): {err}{hint}",
            if generic { "generic" } else { "native" }
        );
    }
    // SAFETY: a fresh fd returned by the kernel, owned by nobody else.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// Native XDP, or generic with a message when the driver refuses native.
pub fn attach_xdp_any(
    prog: &Program<'_>,
    ifindex: u32,
    dev: &str,
) -> Result<(OwnedFd, &'static str)> {
    match attach_xdp(prog, ifindex, false) {
        Ok(fd) => Ok((fd, "native")),
        Err(e) => {
            eprintln!("xvs-pktgen: native XDP on {dev} failed ({e:#}); using generic XDP");
            let fd = attach_xdp(prog, ifindex, true).with_context(|| format!("on {dev}"))?;
            Ok((fd, "generic"))
        }
    }
}

/// Entry `key` of a per-CPU array whose value is `N` u64s, summed over CPUs.
pub fn percpu_sum<const N: usize>(map: &Map<'_>, key: u32) -> Result<[u64; N]> {
    let vals = map
        .lookup_percpu(&key.to_ne_bytes(), MapFlags::ANY)
        .with_context(|| format!("reading map {}", map.name().to_string_lossy()))?
        .ok_or_else(|| anyhow!("map {} has no entry {key}", map.name().to_string_lossy()))?;
    let mut sum = [0u64; N];
    for cpu in &vals {
        for (i, s) in sum.iter_mut().enumerate() {
            let b = cpu
                .get(i * 8..i * 8 + 8)
                .ok_or_else(|| anyhow!("short per-CPU value"))?;
            *s += u64::from_ne_bytes(b.try_into().unwrap());
        }
    }
    Ok(sum)
}

/// Like `percpu_sum`, on a raw map fd (usable from another thread) whose values are
/// `value_size` bytes.
pub fn percpu_sum_fd<const N: usize>(fd: RawFd, key: u32, value_size: usize) -> Result<[u64; N]> {
    let ncpu = unsafe { libbpf_sys::libbpf_num_possible_cpus() };
    if ncpu <= 0 {
        bail!("cannot count the possible CPUs");
    }
    let stride = (value_size + 7) & !7;
    if N * 8 > stride {
        bail!("per-CPU value of {value_size} bytes holds fewer than {N} u64s");
    }
    let mut buf = vec![0u8; stride * ncpu as usize];
    // SAFETY: buf has room for one value per possible CPU, as the kernel writes.
    let r = unsafe {
        libbpf_sys::bpf_map_lookup_elem(fd, (&key as *const u32).cast(), buf.as_mut_ptr().cast())
    };
    if r < 0 {
        return Err(std::io::Error::from_raw_os_error(-r)).context("reading a per-CPU map");
    }
    let mut sum = [0u64; N];
    for cpu in buf.chunks_exact(stride) {
        for (i, s) in sum.iter_mut().enumerate() {
            *s += u64::from_ne_bytes(cpu[i * 8..i * 8 + 8].try_into().unwrap());
        }
    }
    Ok(sum)
}

/// Write entry `key` of an array map.
pub fn put(map: &Map<'_>, key: u32, value: &[u8]) -> Result<()> {
    map.update(&key.to_ne_bytes(), value, MapFlags::ANY)
        .with_context(|| format!("writing map {}", map.name().to_string_lossy()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn objects_open() {
        // Opening (not loading: no root needed) checks the embedded ELF files, their
        // programs and maps.
        for (obj, prog, maps) in [
            (GEN_OBJ, "xvs_gen", &["gen_cfg", "gen_state"][..]),
            (SINK_OBJ, "xvs_sink", &["sink_counters"][..]),
        ] {
            let open = ObjectBuilder::default().open_memory(obj).unwrap();
            assert!(open.progs().any(|p| p.name() == prog));
            for m in maps {
                assert!(open.maps().any(|x| x.name() == *m), "{m}");
            }
        }
    }
}
