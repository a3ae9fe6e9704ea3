//! Test packets: one description, written out both as an `ofproto/trace` flow (for
//! Open vSwitch) and as a concrete Ethernet frame (for xvs's extraction and for
//! executing either side's datapath actions). Frames are built by hand with correct
//! IPv4 header and TCP/UDP/ICMP/ICMPv6 checksums, so rewrites can be checked with
//! [`check_frame`], which recomputes every checksum from scratch.

use std::fmt::Write as _;
use std::net::{Ipv4Addr, Ipv6Addr};

pub type Mac = [u8; 6];

pub fn mac(s: &str) -> Mac {
    let v: Vec<u8> = s
        .split(':')
        .map(|b| u8::from_str_radix(b, 16).expect("mac"))
        .collect();
    v.try_into().expect("6-byte mac")
}

pub fn fmt_mac(m: &Mac) -> String {
    format!(
        "{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}",
        m[0], m[1], m[2], m[3], m[4], m[5]
    )
}

#[derive(Clone, Debug, PartialEq)]
pub enum L4 {
    Tcp {
        sport: u16,
        dport: u16,
    },
    Udp {
        sport: u16,
        dport: u16,
    },
    /// ICMP (in IPv4) or ICMPv6 (in IPv6).
    Icmp {
        ty: u8,
        code: u8,
    },
    /// ICMPv6 neighbour advertisement (136) or solicitation (135) with a target and
    /// no options.
    Nd {
        ty: u8,
        target: Ipv6Addr,
    },
    /// Another IP protocol with an opaque payload.
    Other(u8),
}

#[derive(Clone, Debug, PartialEq)]
pub enum L3 {
    /// Any other ethertype, opaque payload.
    Raw(u16),
    Arp {
        op: u16,
        sha: Mac,
        spa: Ipv4Addr,
        tha: Mac,
        tpa: Ipv4Addr,
    },
    Ipv4 {
        src: Ipv4Addr,
        dst: Ipv4Addr,
        tos: u8,
        ttl: u8,
        l4: L4,
    },
    Ipv6 {
        src: Ipv6Addr,
        dst: Ipv6Addr,
        tclass: u8,
        hlim: u8,
        l4: L4,
    },
}

/// A packet entering `bridge` on OpenFlow port `in_port` (a port with a datapath port,
/// or a patch port: then it is traced as if the peer bridge had sent it).
#[derive(Clone, Debug, PartialEq)]
pub struct Pkt {
    pub bridge: String,
    pub in_port: u32,
    pub tun_id: Option<u64>,
    pub src: Mac,
    pub dst: Mac,
    /// 802.1Q tag: (vid, pcp).
    pub vlan: Option<(u16, u8)>,
    pub l3: L3,
}

const PAYLOAD: &[u8] = b"xvs-ovs-diff-payload";

impl Pkt {
    /// The flow in `ofproto/trace` syntax. Every field the frame has is spelled out,
    /// so OVS sees the same values xvs extracts from the frame (trace defaults
    /// anything left out to 0, e.g. `nw_ttl`).
    pub fn trace_flow(&self) -> String {
        let mut s = String::new();
        // The protocol shorthand first: later fields need it as a prerequisite.
        match &self.l3 {
            L3::Raw(t) => {
                let _ = write!(s, "dl_type=0x{t:04x},");
            }
            L3::Arp { .. } => s.push_str("arp,"),
            L3::Ipv4 { l4, .. } => s.push_str(match l4 {
                L4::Tcp { .. } => "tcp,",
                L4::Udp { .. } => "udp,",
                L4::Icmp { .. } => "icmp,",
                _ => "ip,",
            }),
            L3::Ipv6 { l4, .. } => s.push_str(match l4 {
                L4::Tcp { .. } => "tcp6,",
                L4::Udp { .. } => "udp6,",
                L4::Icmp { .. } | L4::Nd { .. } => "icmp6,",
                _ => "ipv6,",
            }),
        }
        let _ = write!(s, "in_port={}", self.in_port);
        if let Some(t) = self.tun_id {
            let _ = write!(s, ",tun_id=0x{t:x}");
        }
        let _ = write!(
            s,
            ",dl_src={},dl_dst={}",
            fmt_mac(&self.src),
            fmt_mac(&self.dst)
        );
        if let Some((vid, pcp)) = self.vlan {
            let _ = write!(s, ",vlan_tci=0x{:04x}", 0x1000 | (pcp as u16) << 13 | vid);
        }
        match &self.l3 {
            L3::Raw(_) => {}
            L3::Arp {
                op,
                sha,
                spa,
                tha,
                tpa,
            } => {
                let _ = write!(
                    s,
                    ",arp_op={op},arp_spa={spa},arp_tpa={tpa},arp_sha={},arp_tha={}",
                    fmt_mac(sha),
                    fmt_mac(tha)
                );
            }
            L3::Ipv4 {
                src,
                dst,
                tos,
                ttl,
                l4,
            } => {
                let _ = write!(
                    s,
                    ",nw_src={src},nw_dst={dst},nw_tos={},nw_ecn={},nw_ttl={ttl}",
                    tos & 0xfc,
                    tos & 3
                );
                l4_trace(&mut s, l4);
            }
            L3::Ipv6 {
                src,
                dst,
                tclass,
                hlim,
                l4,
            } => {
                let _ = write!(
                    s,
                    ",ipv6_src={src},ipv6_dst={dst},nw_tos={},nw_ecn={},nw_ttl={hlim}",
                    tclass & 0xfc,
                    tclass & 3
                );
                match l4 {
                    L4::Icmp { ty, code } => {
                        let _ = write!(s, ",icmpv6_type={ty},icmpv6_code={code}");
                    }
                    L4::Nd { ty, target } => {
                        let _ = write!(s, ",icmpv6_type={ty},icmpv6_code=0,nd_target={target}");
                    }
                    _ => l4_trace(&mut s, l4),
                }
            }
        }
        s
    }

    /// The frame, with correct checksums and a short payload.
    pub fn frame(&self) -> Vec<u8> {
        let mut f = Vec::with_capacity(128);
        f.extend_from_slice(&self.dst);
        f.extend_from_slice(&self.src);
        if let Some((vid, pcp)) = self.vlan {
            f.extend_from_slice(&0x8100u16.to_be_bytes());
            f.extend_from_slice(&((pcp as u16) << 13 | vid).to_be_bytes());
        }
        match &self.l3 {
            L3::Raw(t) => {
                f.extend_from_slice(&t.to_be_bytes());
                f.extend_from_slice(PAYLOAD);
                f.extend_from_slice(PAYLOAD);
            }
            L3::Arp {
                op,
                sha,
                spa,
                tha,
                tpa,
            } => {
                f.extend_from_slice(&0x0806u16.to_be_bytes());
                f.extend_from_slice(&[0, 1, 0x08, 0x00, 6, 4]);
                f.extend_from_slice(&op.to_be_bytes());
                f.extend_from_slice(sha);
                f.extend_from_slice(&spa.octets());
                f.extend_from_slice(tha);
                f.extend_from_slice(&tpa.octets());
            }
            L3::Ipv4 {
                src,
                dst,
                tos,
                ttl,
                l4,
            } => {
                f.extend_from_slice(&0x0800u16.to_be_bytes());
                let (proto, mut seg) = l4_bytes(l4, false);
                let l3 = f.len();
                let total = (20 + seg.len()) as u16;
                f.extend_from_slice(&[0x45, *tos]);
                f.extend_from_slice(&total.to_be_bytes());
                f.extend_from_slice(&[0x12, 0x34, 0, 0, *ttl, proto, 0, 0]);
                f.extend_from_slice(&src.octets());
                f.extend_from_slice(&dst.octets());
                let c = csum(0, &f[l3..l3 + 20]);
                f[l3 + 10..l3 + 12].copy_from_slice(&c.to_be_bytes());
                let ps = pseudo4(*src, *dst, proto, seg.len());
                fill_l4_csum(&mut seg, proto, &ps, false);
                f.extend_from_slice(&seg);
            }
            L3::Ipv6 {
                src,
                dst,
                tclass,
                hlim,
                l4,
            } => {
                f.extend_from_slice(&0x86ddu16.to_be_bytes());
                let (proto, mut seg) = l4_bytes(l4, true);
                let vtf: u32 = 6 << 28 | (*tclass as u32) << 20;
                f.extend_from_slice(&vtf.to_be_bytes());
                f.extend_from_slice(&(seg.len() as u16).to_be_bytes());
                f.extend_from_slice(&[proto, *hlim]);
                f.extend_from_slice(&src.octets());
                f.extend_from_slice(&dst.octets());
                let ps = pseudo6(*src, *dst, proto, seg.len());
                fill_l4_csum(&mut seg, proto, &ps, true);
                f.extend_from_slice(&seg);
            }
        }
        f
    }

    /// A short human description for reports.
    pub fn describe(&self) -> String {
        format!("{} {}", self.bridge, self.trace_flow())
    }
}

fn l4_trace(s: &mut String, l4: &L4) {
    match l4 {
        L4::Tcp { sport, dport } => {
            let _ = write!(s, ",tcp_src={sport},tcp_dst={dport}");
        }
        L4::Udp { sport, dport } => {
            let _ = write!(s, ",udp_src={sport},udp_dst={dport}");
        }
        L4::Icmp { ty, code } => {
            let _ = write!(s, ",icmp_type={ty},icmp_code={code}");
        }
        L4::Nd { ty, target } => {
            let _ = write!(s, ",icmp_type={ty},icmp_code=0,nd_target={target}");
        }
        L4::Other(p) => {
            let _ = write!(s, ",nw_proto={p}");
        }
    }
}

/// (IP protocol, L4 segment with a zero checksum field).
fn l4_bytes(l4: &L4, v6: bool) -> (u8, Vec<u8>) {
    let mut v = Vec::new();
    let proto = match l4 {
        L4::Tcp { sport, dport } => {
            v.extend_from_slice(&sport.to_be_bytes());
            v.extend_from_slice(&dport.to_be_bytes());
            v.extend_from_slice(&[0, 0, 0, 1, 0, 0, 0, 0, 0x50, 0x00, 0x20, 0x00, 0, 0, 0, 0]);
            6
        }
        L4::Udp { sport, dport } => {
            v.extend_from_slice(&sport.to_be_bytes());
            v.extend_from_slice(&dport.to_be_bytes());
            v.extend_from_slice(&((8 + PAYLOAD.len()) as u16).to_be_bytes());
            v.extend_from_slice(&[0, 0]);
            17
        }
        L4::Icmp { ty, code } => {
            v.extend_from_slice(&[*ty, *code, 0, 0, 0x0b, 0xad, 0x00, 0x01]);
            // ICMP in IPv4, ICMPv6 in IPv6.
            if v6 {
                58
            } else {
                1
            }
        }
        L4::Nd { ty, target } => {
            v.extend_from_slice(&[*ty, 0, 0, 0]);
            v.extend_from_slice(&(if *ty == 136 { 0x6000_0000u32 } else { 0 }).to_be_bytes());
            v.extend_from_slice(&target.octets());
            return (58, v);
        }
        L4::Other(p) => *p,
    };
    if !matches!(l4, L4::Nd { .. }) {
        v.extend_from_slice(PAYLOAD);
    }
    (proto, v)
}

/// Fill the checksum of a TCP/UDP/ICMP/ICMPv6 segment (ICMPv4 has no pseudo-header).
fn fill_l4_csum(seg: &mut [u8], proto: u8, pseudo: &[u8], v6: bool) {
    let at = match (proto, v6) {
        (6, _) => 16,
        (17, _) => 6,
        (1, false) | (58, true) => 2,
        _ => return,
    };
    let mut c = if proto == 1 {
        csum(0, seg)
    } else {
        csum(sum(0, pseudo), seg)
    };
    if proto == 17 && c == 0 {
        c = 0xffff;
    }
    seg[at..at + 2].copy_from_slice(&c.to_be_bytes());
}

fn pseudo4(src: Ipv4Addr, dst: Ipv4Addr, proto: u8, len: usize) -> Vec<u8> {
    let mut p = Vec::new();
    p.extend_from_slice(&src.octets());
    p.extend_from_slice(&dst.octets());
    p.extend_from_slice(&[0, proto]);
    p.extend_from_slice(&(len as u16).to_be_bytes());
    p
}

fn pseudo6(src: Ipv6Addr, dst: Ipv6Addr, proto: u8, len: usize) -> Vec<u8> {
    let mut p = Vec::new();
    p.extend_from_slice(&src.octets());
    p.extend_from_slice(&dst.octets());
    p.extend_from_slice(&(len as u32).to_be_bytes());
    p.extend_from_slice(&[0, 0, 0, proto]);
    p
}

fn sum(mut acc: u32, data: &[u8]) -> u32 {
    let mut i = 0;
    while i + 1 < data.len() {
        acc += u16::from_be_bytes([data[i], data[i + 1]]) as u32;
        i += 2;
    }
    if i < data.len() {
        acc += (data[i] as u32) << 8;
    }
    acc
}

fn fold(mut acc: u32) -> u16 {
    while acc >> 16 != 0 {
        acc = (acc & 0xffff) + (acc >> 16);
    }
    acc as u16
}

/// The internet checksum of `data` (an IPv4 header with its checksum field zeroed).
pub fn ip_csum(data: &[u8]) -> u16 {
    csum(0, data)
}

/// The internet checksum of `data` on top of a partial sum.
fn csum(acc: u32, data: &[u8]) -> u16 {
    !fold(sum(acc, data))
}

/// Recompute the ICMP/ICMPv6 checksum of the IP packet at `l3` in place (used to
/// execute OVS's `set(icmp(...))`, which xvs has no datapath action for).
pub fn refresh_icmp_csum(f: &mut [u8], l3: usize) {
    let Some(v) = f.get(l3).map(|b| b >> 4) else {
        return;
    };
    if v == 4 {
        let hl = ((f[l3] & 0xf) as usize) * 4;
        let total = u16::from_be_bytes([f[l3 + 2], f[l3 + 3]]) as usize;
        let seg = &mut f[l3 + hl..l3 + total];
        seg[2] = 0;
        seg[3] = 0;
        let c = csum(0, seg);
        seg[2..4].copy_from_slice(&c.to_be_bytes());
    } else if v == 6 {
        let plen = u16::from_be_bytes([f[l3 + 4], f[l3 + 5]]) as usize;
        let src = Ipv6Addr::from(<[u8; 16]>::try_from(&f[l3 + 8..l3 + 24]).unwrap());
        let dst = Ipv6Addr::from(<[u8; 16]>::try_from(&f[l3 + 24..l3 + 40]).unwrap());
        let ps = pseudo6(src, dst, 58, plen);
        let seg = &mut f[l3 + 40..l3 + 40 + plen];
        seg[2] = 0;
        seg[3] = 0;
        let c = csum(sum(0, &ps), seg);
        seg[2..4].copy_from_slice(&c.to_be_bytes());
    }
}

/// Check every checksum of a frame (IPv4 header, TCP/UDP/ICMP/ICMPv6) from scratch.
/// Frames that are not IP, or too short to hold what they announce, pass.
pub fn check_frame(f: &[u8]) -> Result<(), String> {
    let mut off = 12;
    let mut ty = u16::from_be_bytes([f[12], f[13]]);
    while ty == 0x8100 || ty == 0x88a8 {
        off += 4;
        if f.len() < off + 2 {
            return Ok(());
        }
        ty = u16::from_be_bytes([f[off], f[off + 1]]);
    }
    let l3 = off + 2;
    match ty {
        0x0800 => {
            if f.len() < l3 + 20 {
                return Ok(());
            }
            let hl = ((f[l3] & 0xf) as usize) * 4;
            let total = u16::from_be_bytes([f[l3 + 2], f[l3 + 3]]) as usize;
            if csum(0, &f[l3..l3 + hl]) != 0 {
                return Err("bad IPv4 header checksum".into());
            }
            let proto = f[l3 + 9];
            let src = Ipv4Addr::new(f[l3 + 12], f[l3 + 13], f[l3 + 14], f[l3 + 15]);
            let dst = Ipv4Addr::new(f[l3 + 16], f[l3 + 17], f[l3 + 18], f[l3 + 19]);
            let seg = &f[l3 + hl..l3 + total];
            let ok = match proto {
                6 | 17 => {
                    if proto == 17 && seg[6] == 0 && seg[7] == 0 {
                        true
                    } else {
                        csum(sum(0, &pseudo4(src, dst, proto, seg.len())), seg) == 0
                    }
                }
                1 => csum(0, seg) == 0,
                _ => true,
            };
            if !ok {
                return Err(format!("bad L4 checksum (IPv4 protocol {proto})"));
            }
        }
        0x86dd => {
            if f.len() < l3 + 40 {
                return Ok(());
            }
            let plen = u16::from_be_bytes([f[l3 + 4], f[l3 + 5]]) as usize;
            let proto = f[l3 + 6];
            let src = Ipv6Addr::from(<[u8; 16]>::try_from(&f[l3 + 8..l3 + 24]).unwrap());
            let dst = Ipv6Addr::from(<[u8; 16]>::try_from(&f[l3 + 24..l3 + 40]).unwrap());
            let seg = &f[l3 + 40..l3 + 40 + plen];
            if matches!(proto, 6 | 17 | 58)
                && csum(sum(0, &pseudo6(src, dst, proto, seg.len())), seg) != 0
            {
                return Err(format!("bad L4 checksum (IPv6 next header {proto})"));
            }
        }
        _ => {}
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn built_frames_have_valid_checksums() {
        let base = Pkt {
            bridge: "br0".into(),
            in_port: 1,
            tun_id: None,
            src: mac("fa:16:3e:00:00:01"),
            dst: mac("fa:16:3e:00:00:02"),
            vlan: Some((5, 3)),
            l3: L3::Raw(0x88b5),
        };
        let a4 = Ipv4Addr::new(10, 0, 0, 1);
        let b4 = Ipv4Addr::new(10, 0, 0, 2);
        let a6: Ipv6Addr = "2001:db8::1".parse().unwrap();
        let b6: Ipv6Addr = "2001:db8::2".parse().unwrap();
        for l4 in [
            L4::Tcp {
                sport: 1,
                dport: 80,
            },
            L4::Udp {
                sport: 9,
                dport: 53,
            },
            L4::Icmp { ty: 8, code: 0 },
        ] {
            let p = Pkt {
                l3: L3::Ipv4 {
                    src: a4,
                    dst: b4,
                    tos: 0,
                    ttl: 64,
                    l4: l4.clone(),
                },
                ..base.clone()
            };
            check_frame(&p.frame()).unwrap();
            let p = Pkt {
                l3: L3::Ipv6 {
                    src: a6,
                    dst: b6,
                    tclass: 0,
                    hlim: 64,
                    l4,
                },
                ..base.clone()
            };
            check_frame(&p.frame()).unwrap();
        }
        let mut f = Pkt {
            l3: L3::Ipv4 {
                src: a4,
                dst: b4,
                tos: 0,
                ttl: 64,
                l4: L4::Tcp { sport: 1, dport: 2 },
            },
            ..base
        }
        .frame();
        f[18 + 20 + 2] ^= 1;
        assert!(check_frame(&f).is_err());
    }
}
