//! Open vSwitch's datapath actions ("Datapath actions: ..." of `ofproto/trace`, the
//! syntax of `odp-util.c`'s `format_odp_actions`) parsed into xvs [`DpAction`]s, and
//! executed on a frame.
//!
//! OVS's userspace datapath uses masked set actions: `set(ipv4(tos=0x48/0xfc,ttl=63))`
//! names only the fields that change, with an optional `/mask`. A masked field is
//! resolved against the frame as it is at that point of the action list, so the list
//! is executed step by step with `xvs::exec::apply`, the function `run_frame`
//! applies per action.
//!
//! Rewrites OVS can emit but xvs has no datapath action for (`set(icmp(..))`,
//! `set(ipv6(tclass=..,hlimit=..,label=..))`) are kept as [`OvsAct::Extra`] and
//! executed here by hand, so that their effect is compared rather than skipped.
//! Metadata-only sets (`skb_priority`, `skb_mark`) do not change the frame and are
//! no-ops. Native tunneling is executed: `tnl_push(...)` prepends the outer header
//! built from the printed fields ([`parse_tnl_push`]), `clone(...)` runs on a copy,
//! `tnl_pop(N)` is an output of the encapsulated frame to the pseudo-port
//! `tnl_pop:<vport>`; the UDP source port of a VXLAN header (OVS prints 0 and hashes
//! per packet) is zeroed in outputs on both sides, everything else is compared.
//! Anything else (`ct`, `recirc`, `userspace`, ...) is reported as [`Parsed::Skip`]
//! with the reason.

use std::net::{Ipv4Addr, Ipv6Addr};

use xvs::exec;
use xvs::odp::DpAction;
use xvs::packet::buf::PacketMut;
use xvs::packet::extract::Offsets;

use super::packet::refresh_icmp_csum;

/// One field of a `set(...)`: value and mask (all ones when no mask was printed).
#[derive(Clone, Debug, PartialEq)]
pub struct Masked {
    pub value: u128,
    pub mask: u128,
}

#[derive(Clone, Debug, PartialEq)]
pub enum Extra {
    Icmp {
        ty: Option<Masked>,
        code: Option<Masked>,
    },
    Ipv6Tclass(Masked),
    Ipv6Hlimit(Masked),
    Ipv6Label(Masked),
}

#[derive(Clone, Debug, PartialEq)]
pub enum OvsAct {
    Output(u32),
    PushVlan {
        tpid: u16,
        tci: u16,
    },
    PopVlan,
    /// `set(KEY(field=value[/mask],...))`: resolved against the frame when executed.
    Set {
        key: String,
        fields: Vec<(String, Masked)>,
    },
    Extra(Extra),
    /// Changes only packet metadata (skb priority/mark): nothing to do on the frame.
    Meta(String),
    /// `tnl_push(tnl_port(N),header(...),out_port(M))`: the outer header as printed
    /// (IPv4 total length and checksum, UDP length are filled in per packet).
    TnlPush { header: Vec<u8>, udp: bool },
    /// `tnl_pop(N)`: executed as an output of the (still encapsulated) frame to the
    /// pseudo-port `tnl_pop:<vport>` (see [`POP`]).
    TnlPop(u32),
    /// `clone(...)`: the actions run on a copy; the original continues unchanged.
    Clone(Vec<OvsAct>),
}

/// Set in the port number of an output that stands for a tunnel pop.
pub const POP: u32 = 0x8000_0000;

#[derive(Clone, Debug, PartialEq)]
pub enum Parsed {
    Acts(Vec<OvsAct>),
    Skip(String),
}

/// Split at commas that are not inside parentheses.
fn split_top(s: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let (mut depth, mut start) = (0i32, 0usize);
    for (i, c) in s.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => depth -= 1,
            ',' if depth == 0 => {
                out.push(s[start..i].trim());
                start = i + 1;
            }
            _ => {}
        }
    }
    let last = s[start..].trim();
    if !last.is_empty() {
        out.push(last);
    }
    out
}

/// `name(inner)` -> (name, inner).
fn call(s: &str) -> Option<(&str, &str)> {
    let i = s.find('(')?;
    let inner = s[i + 1..].strip_suffix(')')?;
    Some((&s[..i], inner))
}

fn parse_value(v: &str) -> Option<u128> {
    if let Some(h) = v.strip_prefix("0x") {
        return u128::from_str_radix(h, 16).ok();
    }
    if v.contains(':') && v.len() == 17 && !v.contains("::") && v.split(':').count() == 6 {
        let mut x = 0u128;
        for b in v.split(':') {
            x = x << 8 | u8::from_str_radix(b, 16).ok()? as u128;
        }
        return Some(x);
    }
    if let Ok(a) = v.parse::<Ipv4Addr>() {
        return Some(u32::from(a) as u128);
    }
    if let Ok(a) = v.parse::<Ipv6Addr>() {
        return Some(u128::from(a));
    }
    v.parse::<u128>().ok()
}

fn parse_field(kv: &str, full: u128) -> Option<(String, Masked)> {
    let (k, v) = kv.split_once('=')?;
    let (val, mask) = match v.split_once('/') {
        Some((a, m)) => (parse_value(a)?, parse_value(m)?),
        None => (parse_value(v)?, full),
    };
    Some((k.to_string(), Masked { value: val, mask }))
}

fn width(key: &str, field: &str) -> u32 {
    match (key, field) {
        ("eth", _) | ("arp", "sha") | ("arp", "tha") => 48,
        ("ipv4", "src") | ("ipv4", "dst") | ("arp", "sip") | ("arp", "tip") => 32,
        ("ipv6", "src") | ("ipv6", "dst") => 128,
        ("ipv6", "label") => 20,
        ("tcp", _) | ("udp", _) | ("sctp", _) | ("arp", "op") => 16,
        _ => 8,
    }
}

/// Parse the text after "Datapath actions: ".
pub fn parse(text: &str) -> Parsed {
    let text = text.trim();
    if text == "drop" || text.is_empty() {
        return Parsed::Acts(vec![]);
    }
    let mut acts = Vec::new();
    for a in split_top(text) {
        if let Ok(p) = a.parse::<u32>() {
            acts.push(OvsAct::Output(p));
            continue;
        }
        if a == "pop_vlan" {
            acts.push(OvsAct::PopVlan);
            continue;
        }
        let Some((name, inner)) = call(a) else {
            return Parsed::Skip(format!("datapath action `{a}`"));
        };
        // A packet-in for an expired TTL (dec_ttl, OFPR_INVALID_TTL = reason 2). The
        // test bridges have no controller, so nothing leaves the switch; xvs drops
        // the rest of the action list without a packet-in.
        if name == "userspace" && inner.contains("controller(reason=2,") {
            acts.push(OvsAct::Meta(a.to_string()));
            continue;
        }
        match name {
            "clone" => match parse(inner) {
                Parsed::Acts(v) => acts.push(OvsAct::Clone(v)),
                skip => return skip,
            },
            "tnl_pop" => match inner.parse::<u32>() {
                Ok(n) => acts.push(OvsAct::TnlPop(n)),
                Err(_) => return Parsed::Skip(format!("`{a}`")),
            },
            "tnl_push" => match parse_tnl_push(inner) {
                Ok((header, udp)) => acts.push(OvsAct::TnlPush { header, udp }),
                Err(e) => return Parsed::Skip(format!("cannot parse `{a}`: {e}")),
            },
            "push_vlan" => {
                let (mut tpid, mut vid, mut pcp, mut cfi) = (0x8100u16, 0u16, 0u16, 1u16);
                for kv in split_top(inner) {
                    let Some((k, v)) = kv.split_once('=') else {
                        return Parsed::Skip(format!("`{a}`"));
                    };
                    let Some(n) = parse_value(v) else {
                        return Parsed::Skip(format!("`{a}`"));
                    };
                    match k {
                        "tpid" => tpid = n as u16,
                        "vid" => vid = n as u16,
                        "pcp" => pcp = n as u16,
                        "cfi" => cfi = n as u16,
                        _ => return Parsed::Skip(format!("`{a}`")),
                    }
                }
                if cfi != 1 {
                    return Parsed::Skip(format!("push_vlan without CFI/present bit: `{a}`"));
                }
                acts.push(OvsAct::PushVlan {
                    tpid,
                    tci: pcp << 13 | vid,
                });
            }
            "set" => {
                let Some((key, fields)) = call(inner) else {
                    return Parsed::Skip(format!("`{a}`"));
                };
                match key {
                    "skb_priority" | "skb_mark" => {
                        acts.push(OvsAct::Meta(a.to_string()));
                        continue;
                    }
                    "eth" | "ipv4" | "ipv6" | "tcp" | "udp" | "sctp" | "arp" | "icmp"
                    | "icmpv6" => {}
                    _ => return Parsed::Skip(format!("datapath action `{a}`")),
                }
                let mut fs = Vec::new();
                for kv in split_top(fields) {
                    let full = {
                        let k = kv.split('=').next().unwrap_or("");
                        let w = width(key, k);
                        if w == 128 {
                            u128::MAX
                        } else {
                            (1u128 << w) - 1
                        }
                    };
                    match parse_field(kv, full) {
                        Some(f) => fs.push(f),
                        None => return Parsed::Skip(format!("cannot parse `{kv}` in `{a}`")),
                    }
                }
                match key {
                    "icmp" | "icmpv6" => {
                        let get = |n: &str| fs.iter().find(|(k, _)| k == n).map(|(_, m)| m.clone());
                        acts.push(OvsAct::Extra(Extra::Icmp {
                            ty: get("type"),
                            code: get("code"),
                        }));
                    }
                    "ipv6" => {
                        let mut std_fields = Vec::new();
                        for (k, m) in fs {
                            match k.as_str() {
                                "tclass" => acts.push(OvsAct::Extra(Extra::Ipv6Tclass(m))),
                                "hlimit" => acts.push(OvsAct::Extra(Extra::Ipv6Hlimit(m))),
                                "label" => acts.push(OvsAct::Extra(Extra::Ipv6Label(m))),
                                "src" | "dst" => std_fields.push((k, m)),
                                _ => return Parsed::Skip(format!("field {k} in `{a}`")),
                            }
                        }
                        if !std_fields.is_empty() {
                            acts.push(OvsAct::Set {
                                key: key.into(),
                                fields: std_fields,
                            });
                        }
                    }
                    _ => acts.push(OvsAct::Set {
                        key: key.into(),
                        fields: fs,
                    }),
                }
            }
            _ => return Parsed::Skip(format!("datapath action `{name}(...)`")),
        }
    }
    Parsed::Acts(acts)
}

/// `key=value` pairs of a header's printed fields.
fn kv_map(s: &str) -> Result<std::collections::BTreeMap<&str, u128>, String> {
    let mut m = std::collections::BTreeMap::new();
    for kv in split_top(s) {
        let (k, v) = kv.split_once('=').ok_or_else(|| format!("no value in `{kv}`"))?;
        m.insert(k, parse_value(v).ok_or_else(|| format!("bad value in `{kv}`"))?);
    }
    Ok(m)
}

fn get<'a>(m: &std::collections::BTreeMap<&'a str, u128>, k: &str) -> Result<u128, String> {
    m.get(k).copied().ok_or_else(|| format!("no `{k}`"))
}

/// The outer header of `tnl_push(tnl_port(N),header(size=S,type=T,eth(..),ipv4(..),
/// udp(..),vxlan(..) | gre((flags=..,proto=..),csum=..,key=..)),out_port(M))`, built
/// from the printed fields (odp-util.c's `format_odp_tnl_push_header`), and whether it
/// is UDP. The IPv4 identification is 0 (OVS prints none and its header template has
/// 0); lengths and the IPv4 checksum are completed per packet.
pub fn parse_tnl_push(inner: &str) -> Result<(Vec<u8>, bool), String> {
    let parts = split_top(inner);
    let hdr = parts
        .iter()
        .find_map(|p| call(p).filter(|(n, _)| *n == "header").map(|(_, i)| i))
        .ok_or("no header(...)")?;
    let mut size = None;
    let mut b: Vec<u8> = Vec::new();
    let mut udp = false;
    for f in split_top(hdr) {
        if let Some(v) = f.strip_prefix("size=") {
            size = Some(v.parse::<usize>().map_err(|e| e.to_string())?);
            continue;
        }
        if f.starts_with("type=") {
            continue;
        }
        let (name, fields) = call(f).ok_or_else(|| format!("`{f}`"))?;
        match name {
            "eth" => {
                let m = kv_map(fields)?;
                b.extend_from_slice(&mac6(get(&m, "dst")?));
                b.extend_from_slice(&mac6(get(&m, "src")?));
                b.extend_from_slice(&(get(&m, "dl_type")? as u16).to_be_bytes());
            }
            "ipv4" => {
                let m = kv_map(fields)?;
                b.extend_from_slice(&[0x45, get(&m, "tos")? as u8, 0, 20, 0, 0]);
                b.extend_from_slice(&(get(&m, "frag")? as u16).to_be_bytes());
                b.extend_from_slice(&[get(&m, "ttl")? as u8, get(&m, "proto")? as u8, 0, 0]);
                b.extend_from_slice(&(get(&m, "src")? as u32).to_be_bytes());
                b.extend_from_slice(&(get(&m, "dst")? as u32).to_be_bytes());
            }
            "udp" => {
                let m = kv_map(fields)?;
                if get(&m, "csum")? != 0 {
                    return Err("UDP checksums are not supported".into());
                }
                udp = true;
                b.extend_from_slice(&(get(&m, "src")? as u16).to_be_bytes());
                b.extend_from_slice(&(get(&m, "dst")? as u16).to_be_bytes());
                b.extend_from_slice(&[0, 0, 0, 0]);
            }
            "vxlan" => {
                let m = kv_map(fields)?;
                b.extend_from_slice(&(get(&m, "flags")? as u32).to_be_bytes());
                b.extend_from_slice(&((get(&m, "vni")? as u32) << 8).to_be_bytes());
            }
            "gre" => {
                // gre((flags=0x2000,proto=0x6558),key=0x64)
                let items = split_top(fields);
                let (_, fp) = items
                    .first()
                    .and_then(|x| call(x))
                    .ok_or("gre flags")?;
                let m = kv_map(fp)?;
                let flags = get(&m, "flags")? as u16;
                b.extend_from_slice(&flags.to_be_bytes());
                b.extend_from_slice(&(get(&m, "proto")? as u16).to_be_bytes());
                let joined = items[1..].join(",");
                let rest = kv_map(&joined)?;
                if flags & 0x8000 != 0 {
                    return Err("GRE checksums are not supported".into());
                }
                if flags & 0x2000 != 0 {
                    b.extend_from_slice(&(get(&rest, "key")? as u32).to_be_bytes());
                }
                if flags & 0x1000 != 0 {
                    return Err("GRE sequence numbers are not supported".into());
                }
            }
            _ => return Err(format!("header `{name}`")),
        }
    }
    if Some(b.len()) != size {
        return Err(format!("built {} bytes, OVS says size={size:?}", b.len()));
    }
    Ok((b, udp))
}

/// Prepend an outer header built by [`parse_tnl_push`] to `frame`, completing the
/// IPv4 total length and checksum and the UDP length; returns the new frame and, for
/// UDP, the position of the UDP source port counted from the frame's end.
pub fn push_header(header: &[u8], udp: bool, frame: &[u8]) -> (Vec<u8>, Option<usize>) {
    let mut f = header.to_vec();
    f.extend_from_slice(frame);
    let n = f.len();
    f[16..18].copy_from_slice(&((n - 14) as u16).to_be_bytes());
    f[24..26].copy_from_slice(&[0, 0]);
    let c = super::packet::ip_csum(&f[14..34]);
    f[24..26].copy_from_slice(&c.to_be_bytes());
    if udp {
        f[38..40].copy_from_slice(&((n - 34) as u16).to_be_bytes());
        (f, Some(n - 34))
    } else {
        (f, None)
    }
}

/// A copy of `f` with the UDP source ports of its tunnel headers zeroed (OVS prints
/// 0 and picks the port per packet from a hash, as xvs does with another hash).
pub fn mask_sports(f: &[u8], sports: &[usize]) -> Vec<u8> {
    let mut v = f.to_vec();
    for s in sports {
        if let Some(p) = v.len().checked_sub(*s) {
            v[p] = 0;
            v[p + 1] = 0;
        }
    }
    v
}

/// Execute xvs's datapath actions on a copy of `frame` as the worker would (clones on
/// copies, tunnel pops as outputs to `vport | POP`), with tunnel UDP source ports
/// masked in the outputs.
pub fn execute_xvs(
    acts: &[DpAction],
    frame: &[u8],
    ofs: Offsets,
    sports: &[usize],
    out: &mut Vec<(u32, Vec<u8>)>,
) -> Result<(), String> {
    const HEAD: usize = 256;
    let mut buf = vec![0u8; HEAD + frame.len() + 128];
    buf[HEAD..HEAD + frame.len()].copy_from_slice(frame);
    let mut pkt = PacketMut::with_headroom(&mut buf, HEAD, frame.len()).ok_or("buffer")?;
    let mut ofs = ofs;
    let mut sports = sports.to_vec();
    for a in acts {
        match a {
            DpAction::Output(p) => out.push((p.0, mask_sports(pkt.data(), &sports))),
            DpAction::TnlPop(v) => out.push((v.0 | POP, mask_sports(pkt.data(), &sports))),
            DpAction::Clone(inner) => execute_xvs(inner, pkt.data(), ofs, &sports, out)?,
            _ => {
                exec::apply(&mut pkt, &mut ofs, a).map_err(|e| format!("{a}: {e}"))?;
                if let DpAction::TnlPush(t) = a {
                    if t.header.proto == xvs::port::TunnelProto::Vxlan {
                        sports.push(pkt.len() - 34);
                    }
                }
            }
        }
    }
    Ok(())
}

/// Extract the last "Datapath actions: " line of a trace.
pub fn datapath_actions(trace: &str) -> Option<&str> {
    trace
        .lines()
        .rev()
        .find_map(|l| l.strip_prefix("Datapath actions: "))
}

fn merge(old: u128, m: &Masked) -> u128 {
    (old & !m.mask) | (m.value & m.mask)
}

fn rd(f: &[u8], at: usize, n: usize) -> Result<u128, String> {
    let b = f
        .get(at..at + n)
        .ok_or("frame too short for a masked set")?;
    Ok(b.iter().fold(0u128, |a, x| a << 8 | *x as u128))
}

fn mac6(v: u128) -> [u8; 6] {
    let b = (v as u64).to_be_bytes();
    [b[2], b[3], b[4], b[5], b[6], b[7]]
}

/// The L3 offset of the frame as it is now (after pushes/pops).
fn l3_of(f: &[u8]) -> usize {
    let mut off = 12;
    while off + 2 <= f.len() && matches!(u16::from_be_bytes([f[off], f[off + 1]]), 0x8100 | 0x88a8)
    {
        off += 4;
    }
    off + 2
}

fn l4_of(f: &[u8], l3: usize) -> Option<usize> {
    match f.get(l3)? >> 4 {
        4 => Some(l3 + ((f[l3] & 0xf) as usize) * 4),
        6 => Some(l3 + 40),
        _ => None,
    }
}

/// Turn one `set(...)` into xvs datapath actions, reading masked fields' current
/// values from the frame.
fn resolve_set(key: &str, fields: &[(String, Masked)], f: &[u8]) -> Result<Vec<DpAction>, String> {
    let l3 = l3_of(f);
    let mut out = Vec::new();
    for (k, m) in fields {
        let a = match (key, k.as_str()) {
            ("eth", "src") => DpAction::SetEthSrc(mac6(merge(rd(f, 6, 6)?, m))),
            ("eth", "dst") => DpAction::SetEthDst(mac6(merge(rd(f, 0, 6)?, m))),
            ("ipv4", "src") => DpAction::SetIpv4Src(merge(rd(f, l3 + 12, 4)?, m) as u32),
            ("ipv4", "dst") => DpAction::SetIpv4Dst(merge(rd(f, l3 + 16, 4)?, m) as u32),
            ("ipv4", "tos") => DpAction::SetIpv4Tos(merge(rd(f, l3 + 1, 1)?, m) as u8),
            ("ipv4", "ttl") => DpAction::SetIpv4Ttl(merge(rd(f, l3 + 8, 1)?, m) as u8),
            ("ipv6", "src") => DpAction::SetIpv6Src(merge(rd(f, l3 + 8, 16)?, m)),
            ("ipv6", "dst") => DpAction::SetIpv6Dst(merge(rd(f, l3 + 24, 16)?, m)),
            ("tcp" | "udp" | "sctp", "src") => {
                let l4 = l4_of(f, l3).ok_or("no L4 header")?;
                DpAction::SetTpSrc(merge(rd(f, l4, 2)?, m) as u16)
            }
            ("tcp" | "udp" | "sctp", "dst") => {
                let l4 = l4_of(f, l3).ok_or("no L4 header")?;
                DpAction::SetTpDst(merge(rd(f, l4 + 2, 2)?, m) as u16)
            }
            ("arp", "op") => DpAction::SetArpOp(merge(rd(f, l3 + 6, 2)?, m) as u16),
            ("arp", "sha") => DpAction::SetArpSha(mac6(merge(rd(f, l3 + 8, 6)?, m))),
            ("arp", "sip") => DpAction::SetArpSpa(merge(rd(f, l3 + 14, 4)?, m) as u32),
            ("arp", "tha") => DpAction::SetArpTha(mac6(merge(rd(f, l3 + 18, 6)?, m))),
            ("arp", "tip") => DpAction::SetArpTpa(merge(rd(f, l3 + 24, 4)?, m) as u32),
            _ => return Err(format!("set({key}({k}=...)) has no xvs datapath action")),
        };
        out.push(a);
    }
    Ok(out)
}

fn apply_extra(e: &Extra, f: &mut [u8]) -> Result<(), String> {
    let l3 = l3_of(f);
    match e {
        Extra::Icmp { ty, code } => {
            let l4 = l4_of(f, l3).ok_or("set(icmp) on a non-IP frame")?;
            if let Some(m) = ty {
                f[l4] = merge(f[l4] as u128, m) as u8;
            }
            if let Some(m) = code {
                f[l4 + 1] = merge(f[l4 + 1] as u128, m) as u8;
            }
            refresh_icmp_csum(f, l3);
        }
        Extra::Ipv6Tclass(m) => {
            let tc = (f[l3] << 4) | (f[l3 + 1] >> 4);
            let tc = merge(tc as u128, m) as u8;
            f[l3] = (f[l3] & 0xf0) | (tc >> 4);
            f[l3 + 1] = (f[l3 + 1] & 0x0f) | (tc << 4);
        }
        Extra::Ipv6Hlimit(m) => f[l3 + 7] = merge(f[l3 + 7] as u128, m) as u8,
        Extra::Ipv6Label(m) => {
            let w = u32::from_be_bytes([f[l3], f[l3 + 1], f[l3 + 2], f[l3 + 3]]);
            let label = merge((w & 0xfffff) as u128, m) as u32 & 0xfffff;
            f[l3..l3 + 4].copy_from_slice(&((w & !0xfffff) | label).to_be_bytes());
        }
    }
    Ok(())
}

fn step(a: &DpAction, buf: &mut [u8], len: &mut usize, ofs: &mut Offsets) -> Result<(), String> {
    let mut p = PacketMut::new(buf, *len).ok_or("buffer")?;
    exec::apply(&mut p, ofs, a).map_err(|e| format!("executing OVS's {a}: {e}"))?;
    *len = p.len();
    Ok(())
}

/// Execute OVS's datapath actions on a copy of `frame`: (datapath port, bytes) per
/// output, in order (tunnel pops as outputs to `vport | POP`; tunnel UDP source ports
/// masked).
pub fn execute(acts: &[OvsAct], frame: &[u8], ofs: Offsets) -> Result<Vec<(u32, Vec<u8>)>, String> {
    let mut out = Vec::new();
    execute_into(acts, frame, ofs, &[], &mut out)?;
    Ok(out)
}

fn execute_into(
    acts: &[OvsAct],
    frame: &[u8],
    ofs: Offsets,
    sports: &[usize],
    out: &mut Vec<(u32, Vec<u8>)>,
) -> Result<(), String> {
    let mut buf = frame.to_vec();
    buf.resize(frame.len() + 64, 0);
    let mut len = frame.len();
    let mut ofs = ofs;
    let mut sports = sports.to_vec();
    for a in acts {
        match a {
            OvsAct::Output(p) => out.push((*p, mask_sports(&buf[..len], &sports))),
            OvsAct::TnlPop(v) => out.push((*v | POP, mask_sports(&buf[..len], &sports))),
            OvsAct::Clone(inner) => execute_into(inner, &buf[..len], ofs, &sports, out)?,
            OvsAct::TnlPush { header, udp } => {
                let (f, sp) = push_header(header, *udp, &buf[..len]);
                len = f.len();
                buf = f;
                buf.resize(len + 64, 0);
                sports.extend(sp);
                ofs = Offsets { l3: 14, l4: 34 };
            }
            OvsAct::PushVlan { tpid, tci } => step(
                &DpAction::PushVlan {
                    tpid: *tpid,
                    tci: *tci,
                },
                &mut buf,
                &mut len,
                &mut ofs,
            )?,
            OvsAct::PopVlan => step(&DpAction::PopVlan, &mut buf, &mut len, &mut ofs)?,
            OvsAct::Set { key, fields } => {
                for d in resolve_set(key, fields, &buf[..len])? {
                    step(&d, &mut buf, &mut len, &mut ofs)?;
                }
            }
            OvsAct::Extra(e) => apply_extra(e, &mut buf[..len])?,
            OvsAct::Meta(_) => {}
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_what_ovs_prints() {
        let p = parse("set(ipv4(src=1.2.3.4,tos=0x48/0xfc,ttl=63)),set(tcp(dst=99)),2");
        let Parsed::Acts(a) = p else { panic!("{p:?}") };
        assert_eq!(a.len(), 3);
        assert_eq!(a[2], OvsAct::Output(2));
        let Parsed::Acts(a) = parse("pop_vlan,2,push_vlan(vid=1,pcp=3),7,6") else {
            panic!()
        };
        assert_eq!(
            a[2],
            OvsAct::PushVlan {
                tpid: 0x8100,
                tci: 3 << 13 | 1
            }
        );
        assert_eq!(parse("drop"), Parsed::Acts(vec![]));
        assert!(matches!(
            parse("userspace(pid=0,controller(reason=1,dont_send=0))"),
            Parsed::Skip(_)
        ));
        assert!(matches!(
            parse("userspace(pid=0,controller(reason=2,dont_send=1,continuation=0,recirc_id=1))"),
            Parsed::Acts(_)
        ));
        assert!(matches!(
            parse("set(arp(sip=1.1.1.1,op=2,tha=fa:16:3e:00:00:01)),1"),
            Parsed::Acts(_)
        ));
        let Parsed::Acts(a) = parse("set(ipv6(src=2001::1,tclass=0x8/0xfc,hlimit=63)),2") else {
            panic!()
        };
        assert_eq!(a.len(), 4);
        assert!(matches!(parse("set(skb_priority(0x3)),2"), Parsed::Acts(_)));
        assert!(matches!(parse("ct(zone=1),recirc(0x1)"), Parsed::Skip(_)));
        let Parsed::Acts(a) = parse("clone(tnl_push(tnl_port(1),header(size=42,type=3,eth(dst=aa:55:00:00:00:03,src=02:00:00:00:00:fe,dl_type=0x0800),ipv4(src=10.0.0.1,dst=10.0.0.3,proto=47,tos=0,ttl=64,frag=0x4000),gre((flags=0x2000,proto=0x6558),key=0x64)),out_port(4)),3),tnl_pop(4789)") else {
            panic!()
        };
        let OvsAct::Clone(c) = &a[0] else { panic!("{a:?}") };
        let OvsAct::TnlPush { header, udp } = &c[0] else { panic!("{c:?}") };
        assert_eq!((header.len(), *udp), (42, false));
        assert_eq!(&header[34..], &[0x20, 0, 0x65, 0x58, 0, 0, 0, 0x64]);
        assert_eq!(a[1], OvsAct::TnlPop(4789));
    }
}
