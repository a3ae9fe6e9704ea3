//! ovs-ofctl flow text printer.
//!
//! Prints matches, actions and whole flows the way `ovs-ofctl dump-flows` (Open
//! vSwitch 3.1, OpenFlow 1.0 + Nicira extensions) prints them: the same field order,
//! the same spellings (`ip`/`tcp`/`arp` shorthands, `dl_vlan=` for a full VLAN id
//! match, CIDR suffixes for IPv4/IPv6 masks, `resubmit(,2)`, `output:10`, ...), so that
//! the output of [`format_flow`] is accepted back by [`super::parse::parse_flow`] and
//! yields the same [`FlowSpec`].
//!
//! Deliberate differences from Open vSwitch (all of them so that printing loses no
//! information and parse(format(x)) == x):
//! - header-setting actions print the way they were written (`set_field:`, `load:`,
//!   `mod_dl_src:` ... see [`SetSpelling`]); OVS re-spells them according to the
//!   OpenFlow version it dumps with.
//! - `nat(...)` prints its `persistent`/`hash`/`random` flags and port range even when
//!   no address range was given (OVS drops them from the text in that case).
//! - a `SetField` with `Load` spelling on a 128-bit field prints as one `load:` with a
//!   128-bit immediate instead of two 64-bit halves.
//! - matches that Open vSwitch prints in a form its own parser rejects or reads back
//!   differently print in a form that parses back: ICMP type/code that are masked or
//!   wider than 8 bits print as `tp_src=`/`tp_dst=`, and fragment-bit combinations no
//!   `nw_frag=` keyword names print as `NXM_NX_IP_FRAG[..]=` sub-field matches.
//! - reserved ports in `Action::Output` print by name (`NORMAL`, `LOCAL`, ...); the
//!   parser turns those names into the dedicated variants (`Action::Normal`, ...).

use std::fmt::Write as _;
use std::net::{Ipv4Addr, Ipv6Addr};

use super::action::{
    ofpp, Action, Ct, CtZone, Learn, LearnSpec, LearnSrc, Nat, NatKind, SetSpelling,
};
use super::field::{Field, Fmt, SubField};
use super::key::{fmt_mac, mac_from_u64, FRAG_ANY, FRAG_LATER, VLAN_CFI};
use super::{FlowSpec, Match, DEFAULT_PRIORITY};

/// OpenFlow 1.0 "unset" port (used by OVS for the action-set output).
pub(crate) const OFPP_UNSET: u32 = 0xfff7;

pub(crate) const ETH_TYPE_IP: u16 = 0x0800;
pub(crate) const ETH_TYPE_ARP: u16 = 0x0806;
pub(crate) const ETH_TYPE_RARP: u16 = 0x8035;
pub(crate) const ETH_TYPE_IPV6: u16 = 0x86dd;
pub(crate) const IPPROTO_ICMP: u8 = 1;
pub(crate) const IPPROTO_TCP: u8 = 6;
pub(crate) const IPPROTO_UDP: u8 = 17;
pub(crate) const IPPROTO_ICMPV6: u8 = 58;
pub(crate) const IPPROTO_SCTP: u8 = 132;

/// Name of a reserved OpenFlow 1.0 port, if `p` is one.
pub(crate) fn reserved_port_name(p: u32) -> Option<&'static str> {
    Some(match p {
        ofpp::IN_PORT => "IN_PORT",
        ofpp::TABLE => "TABLE",
        ofpp::NORMAL => "NORMAL",
        ofpp::FLOOD => "FLOOD",
        ofpp::ALL => "ALL",
        ofpp::CONTROLLER => "CONTROLLER",
        ofpp::LOCAL => "LOCAL",
        ofpp::NONE => "ANY",
        OFPP_UNSET => "UNSET",
        _ => return None,
    })
}

/// A port as ovs-ofctl prints it: the number, or the reserved port's name
/// (`IN_PORT`, `TABLE`, `NORMAL`, `FLOOD`, `ALL`, `CONTROLLER`, `LOCAL`, `ANY`).
pub fn format_port(p: u32) -> String {
    match reserved_port_name(p) {
        Some(n) => n.to_string(),
        None => p.to_string(),
    }
}

/// `ds_put_hex` / `%#x`: "0" for zero, otherwise "0x" and the minimal hex digits.
pub(crate) fn hex0(v: u128) -> String {
    if v == 0 {
        "0".to_string()
    } else {
        format!("{v:#x}")
    }
}

/// The field's Open vSwitch name (`mf_field.name`), as used by `set_field:..->NAME`
/// and by immediate matches inside `learn(...)`.
pub(crate) fn ovs_name(f: Field) -> &'static str {
    use Field::*;
    match f {
        EthDst => "eth_dst",
        EthSrc => "eth_src",
        EthType => "eth_type",
        Ipv4Src => "ip_src",
        Ipv4Dst => "ip_dst",
        TpSrc => "tcp_src",
        TpDst => "tcp_dst",
        _ => f.name(),
    }
}

/// The name a sub-field is printed with: the NXM name if the field has one, else the
/// OXM name, else the plain name (as `mf_format_subfield` does).
pub(crate) fn subfield_field_name(f: Field) -> &'static str {
    let i = f.info();
    i.nxm.or(i.oxm).unwrap_or(i.name)
}

/// `NXM_NX_REG6[0..15]`, `NXM_OF_ETH_DST[]`, `NXM_NX_REG2[3]`.
pub(crate) fn format_subfield(sf: &SubField) -> String {
    let name = subfield_field_name(sf.field);
    if sf.ofs == 0 && sf.n_bits == sf.field.info().bits {
        format!("{name}[]")
    } else if sf.n_bits == 1 {
        format!("{name}[{}]", sf.ofs)
    } else {
        format!("{name}[{}..{}]", sf.ofs, sf.ofs + sf.n_bits - 1)
    }
}

fn mac_str(v: u128) -> String {
    fmt_mac(mac_from_u64(v as u64))
}

fn ipv4_masked(v: u32, m: u32) -> String {
    let mut s = Ipv4Addr::from(v).to_string();
    if m != u32::MAX {
        if m.leading_ones() + m.trailing_zeros() == 32 {
            let _ = write!(s, "/{}", m.leading_ones());
        } else {
            let _ = write!(s, "/{}", Ipv4Addr::from(m));
        }
    }
    s
}

/// An IPv6 address as glibc's `inet_ntop` writes it (IPv4-compatible addresses such
/// as `::1.2.3.4` keep their dotted tail).
pub(crate) fn ipv6_str(v: u128) -> String {
    let a = Ipv6Addr::from(v);
    let seg = a.segments();
    if seg[..6].iter().all(|w| *w == 0) && seg[6] != 0 {
        return format!("::{}", Ipv4Addr::from(v as u32));
    }
    a.to_string()
}

fn ipv6_masked(v: u128, m: u128) -> String {
    let mut s = ipv6_str(v);
    if m != u128::MAX {
        if m.leading_ones() + m.trailing_zeros() == 128 {
            let _ = write!(s, "/{}", m.leading_ones());
        } else {
            let _ = write!(s, "/{}", ipv6_str(m));
        }
    }
    s
}

fn mac_masked(v: u128, m: u128) -> String {
    let all = (1u128 << 48) - 1;
    if m & all == all {
        mac_str(v)
    } else {
        format!("{}/{}", mac_str(v), mac_str(m))
    }
}

pub(crate) fn tcp_flag_name(bit: u32) -> Option<&'static str> {
    Some(match bit {
        0x001 => "fin",
        0x002 => "syn",
        0x004 => "rst",
        0x008 => "psh",
        0x010 => "ack",
        0x020 => "urg",
        0x040 => "ece",
        0x080 => "cwr",
        0x100 => "ns",
        0x200 => "[200]",
        0x400 => "[400]",
        0x800 => "[800]",
        _ => return None,
    })
}

/// The tunnel flag OpenFlow can match (Open vSwitch's FLOW_TNL_PUB_F_MASK).
pub(crate) fn tun_flag_name(bit: u32) -> Option<&'static str> {
    (bit == 0x01).then_some("oam")
}

pub(crate) fn ct_state_name(bit: u32) -> Option<&'static str> {
    Some(match bit {
        0x01 => "new",
        0x02 => "est",
        0x04 => "rel",
        0x08 => "rpl",
        0x10 => "inv",
        0x20 => "trk",
        0x40 => "snat",
        0x80 => "dnat",
        _ => return None,
    })
}

/// `format_flags`: names joined by `|`, unknown bits as one hex number, `0` for none.
fn format_flags(flags: u32, names: fn(u32) -> Option<&'static str>) -> String {
    if flags == 0 {
        return "0".to_string();
    }
    let mut parts = Vec::new();
    let mut bad = 0u32;
    let mut f = flags;
    while f != 0 {
        let bit = f & f.wrapping_neg();
        match names(bit) {
            Some(n) => parts.push(n.to_string()),
            None => bad |= bit,
        }
        f &= !bit;
    }
    if bad != 0 {
        parts.push(format!("{bad:#x}"));
    }
    parts.join("|")
}

/// `format_flags_masked`: `+flag-flag...`, or the plain form for a full mask.
fn format_flags_masked(
    flags: u32,
    mask: u32,
    max_mask: u32,
    names: fn(u32) -> Option<&'static str>,
) -> String {
    if mask == max_mask {
        return format_flags(flags, names);
    }
    if mask == 0 {
        return "0/0".to_string();
    }
    let mut s = String::new();
    let mut m = mask;
    while m != 0 {
        let bit = m & m.wrapping_neg();
        s.push(if flags & bit != 0 { '+' } else { '-' });
        s.push_str(names(bit).unwrap_or("[Unknown]"));
        m &= !bit;
    }
    s
}

fn frag_str(v: u128, m: u128) -> &'static str {
    let m = (m & 3) as u8;
    let v = (v as u8) & m;
    const A: u8 = FRAG_ANY;
    const L: u8 = FRAG_LATER;
    match (m, v) {
        (x, 0) if x == A | L => "no",
        (x, y) if x == A | L && y == A => "first",
        (x, y) if x == A | L && y == A | L => "later",
        (x, 0) if x == A => "no",
        (x, y) if x == A && y == A => "yes",
        (x, 0) if x == L => "not_later",
        (x, y) if x == L && y == L => "later",
        _ => "<error>",
    }
}

/// `mf_format`: a field value (and mask, if not exact) in the field's own syntax.
pub(crate) fn format_field_value(f: Field, v: u128, mask: u128) -> String {
    let all = f.all_ones();
    let exact = mask & all == all;
    match f.info().fmt {
        Fmt::Mac => mac_masked(v, if exact { all } else { mask }),
        Fmt::Ipv4 => ipv4_masked(v as u32, if exact { u32::MAX } else { mask as u32 }),
        Fmt::Ipv6 => ipv6_masked(v, if exact { u128::MAX } else { mask }),
        Fmt::Port if exact => format_port(v as u32),
        Fmt::Frag => frag_str(v, if exact { 3 } else { mask }).to_string(),
        Fmt::TcpFlags => format_flags_masked(v as u32, (mask & 0xfff) as u32, 0xfff, tcp_flag_name),
        Fmt::CtState => format_flags_masked(v as u32, (mask & 0xff) as u32, 0xff, ct_state_name),
        Fmt::TunFlags => (if v & 1 != 0 { "+oam" } else { "-oam" }).to_string(),
        Fmt::Hex => {
            if exact {
                hex0(v)
            } else {
                format!("{}/{}", hex0(v), hex0(mask))
            }
        }
        // Decimal (and masked ports): decimal value, hex mask.
        _ => {
            let dec = if f == Field::RecircId { v } else { v & all };
            if exact {
                dec.to_string()
            } else {
                format!("{}/{}", dec, hex0(mask))
            }
        }
    }
}

fn put_u32_masked(s: &mut String, name: &str, v: u128, m: u128) {
    if m != 0 {
        let _ = write!(s, "{name}={}", hex0(v));
        if m != 0xffff_ffff {
            let _ = write!(s, "/{}", hex0(m));
        }
        s.push(',');
    }
}

fn put_u64_masked(s: &mut String, name: &str, v: u128, m: u128) {
    if m != 0 {
        let _ = write!(s, "{name}={}", hex0(v));
        if m != u64::MAX as u128 {
            let _ = write!(s, "/{}", hex0(m));
        }
        s.push(',');
    }
}

fn put_u16_masked(s: &mut String, name: &str, v: u128, m: u128) {
    if m != 0 {
        if m == 0xffff {
            let _ = write!(s, "{name}={v},");
        } else {
            let _ = write!(s, "{name}={v:#x}/{m:#x},");
        }
    }
}

/// The match as `match_format` prints it, with `priority=` first unless it is the
/// default (32768).
pub fn format_match(m: &Match, priority: u16) -> String {
    let p = if priority == DEFAULT_PRIORITY {
        None
    } else {
        Some(priority)
    };
    format_match_inner(m, p)
}

pub(crate) fn format_match_inner(m: &Match, priority: Option<u16>) -> String {
    use Field::*;
    let mut s = String::new();
    if let Some(p) = priority {
        let _ = write!(s, "priority={p},");
    }
    let g = |f: Field| m.get(f);

    let (v, mk) = g(PktMark);
    put_u32_masked(&mut s, "pkt_mark", v, mk);
    let (v, mk) = g(RecircId);
    put_u32_masked(&mut s, "recirc_id", v, mk);
    let (v, mk) = g(ConjId);
    if mk != 0 {
        let _ = write!(s, "conj_id={v},");
    }
    let (v, mk) = g(CtState);
    if mk != 0 {
        s.push_str("ct_state=");
        if mk == 0xff {
            s.push_str(&format_flags(v as u32, ct_state_name));
        } else {
            s.push_str(&format_flags_masked(
                v as u32,
                mk as u32,
                0xff,
                ct_state_name,
            ));
        }
        s.push(',');
    }
    let (v, mk) = g(CtZone);
    put_u16_masked(&mut s, "ct_zone", v, mk);
    let (v, mk) = g(CtMark);
    put_u32_masked(&mut s, "ct_mark", v, mk);

    let (dl_type, dl_type_mask) = g(EthType);
    let dl_type = dl_type as u16;
    let (nw_proto, nw_proto_mask) = g(IpProto);
    let nw_proto = nw_proto as u8;
    let mut skip_type = false;
    let mut skip_proto = false;
    if dl_type_mask != 0 {
        skip_type = true;
        match dl_type {
            ETH_TYPE_IP | ETH_TYPE_IPV6 => {
                let v6 = dl_type == ETH_TYPE_IPV6;
                let name = if nw_proto_mask != 0 {
                    skip_proto = true;
                    match (nw_proto, v6) {
                        (IPPROTO_ICMP, false) => "icmp",
                        (IPPROTO_ICMPV6, true) => "icmp6",
                        (IPPROTO_TCP, false) => "tcp",
                        (IPPROTO_TCP, true) => "tcp6",
                        (IPPROTO_UDP, false) => "udp",
                        (IPPROTO_UDP, true) => "udp6",
                        (IPPROTO_SCTP, false) => "sctp",
                        (IPPROTO_SCTP, true) => "sctp6",
                        _ => {
                            skip_proto = false;
                            if v6 {
                                "ipv6"
                            } else {
                                "ip"
                            }
                        }
                    }
                } else if v6 {
                    "ipv6"
                } else {
                    "ip"
                };
                s.push_str(name);
                s.push(',');
            }
            ETH_TYPE_ARP => s.push_str("arp,"),
            ETH_TYPE_RARP => s.push_str("rarp,"),
            0x8847 => s.push_str("mpls,"),
            0x8848 => s.push_str("mplsm,"),
            _ => skip_type = false,
        }
    }

    for (i, r) in [Reg0, Reg1, Reg2, Reg3, Reg4, Reg5, Reg6, Reg7]
        .iter()
        .enumerate()
    {
        let (v, mk) = g(*r);
        put_u32_masked(&mut s, &format!("reg{i}"), v, mk);
    }
    let (v, mk) = g(TunId);
    put_u64_masked(&mut s, "tun_id", v, mk);
    for (f, name) in [(TunSrc, "tun_src"), (TunDst, "tun_dst")] {
        let (v, mk) = g(f);
        if mk != 0 {
            let _ = write!(s, "{name}={},", ipv4_masked(v as u32, mk as u32));
        }
    }
    let (v, mk) = g(TunFlags);
    if mk & 0x01 != 0 {
        let _ = write!(s, "tun_flags={},", if v & 1 != 0 { "+oam" } else { "-oam" });
    }
    let (v, mk) = g(Metadata);
    put_u64_masked(&mut s, "metadata", v, mk);
    let (v, mk) = g(InPort);
    if mk != 0 {
        let _ = write!(s, "in_port={},", format_port(v as u32));
    }

    let (tci, tci_mask) = g(VlanTci);
    if tci_mask != 0 {
        let vid_mask = tci_mask & 0x0fff;
        let pcp_mask = tci_mask & 0xe000;
        let cfi = tci_mask & VLAN_CFI as u128;
        if cfi != 0
            && tci & VLAN_CFI as u128 != 0
            && (vid_mask == 0 || vid_mask == 0x0fff)
            && (pcp_mask == 0 || pcp_mask == 0xe000)
            && (vid_mask != 0 || pcp_mask != 0)
        {
            if vid_mask != 0 {
                let _ = write!(s, "dl_vlan={},", tci & 0x0fff);
            }
            if pcp_mask != 0 {
                let _ = write!(s, "dl_vlan_pcp={},", tci >> 13);
            }
        } else if tci_mask == 0xffff {
            let _ = write!(s, "vlan_tci=0x{tci:04x},");
        } else {
            let _ = write!(s, "vlan_tci=0x{tci:04x}/0x{tci_mask:04x},");
        }
    }

    for (f, name) in [(EthSrc, "dl_src"), (EthDst, "dl_dst")] {
        let (v, mk) = g(f);
        if mk != 0 {
            let _ = write!(s, "{name}={},", mac_masked(v, mk));
        }
    }
    if !skip_type && dl_type_mask != 0 {
        let _ = write!(s, "dl_type=0x{dl_type:04x},");
    }

    let is_arp = dl_type == ETH_TYPE_ARP || dl_type == ETH_TYPE_RARP;
    if dl_type == ETH_TYPE_IPV6 {
        for (f, name) in [(Ipv6Src, "ipv6_src"), (Ipv6Dst, "ipv6_dst")] {
            let (v, mk) = g(f);
            if mk != 0 {
                let _ = write!(s, "{name}={},", ipv6_masked(v, mk));
            }
        }
    } else {
        let (src, dst) = if is_arp {
            ("arp_spa", "arp_tpa")
        } else {
            ("nw_src", "nw_dst")
        };
        for (f, name) in [(Ipv4Src, src), (Ipv4Dst, dst)] {
            let (v, mk) = g(f);
            if mk != 0 {
                let _ = write!(s, "{name}={},", ipv4_masked(v as u32, mk as u32));
            }
        }
    }
    if !skip_proto && nw_proto_mask != 0 {
        let name = if is_arp { "arp_op" } else { "nw_proto" };
        let _ = write!(s, "{name}={nw_proto},");
    }
    if is_arp {
        for (f, name) in [(ArpSha, "arp_sha"), (ArpTha, "arp_tha")] {
            let (v, mk) = g(f);
            if mk != 0 {
                let _ = write!(s, "{name}={},", mac_masked(v, mk));
            }
        }
    }
    let (tos, tos_mask) = g(NwTos);
    if tos_mask & 0xfc != 0 {
        let _ = write!(s, "nw_tos={},", tos & 0xfc);
    }
    if tos_mask & 0x03 != 0 {
        let _ = write!(s, "nw_ecn={},", tos & 0x03);
    }
    let (v, mk) = g(NwTtl);
    if mk != 0 {
        let _ = write!(s, "nw_ttl={v},");
    }
    let (v, mk) = g(IpFrag);
    match (mk & 3, v & 3) {
        (0, _) => {}
        // Bit combinations that no `nw_frag=` keyword parses back to: print the bits.
        (1, 0) => s.push_str("NXM_NX_IP_FRAG[0]=0,"),
        (2, 2) => s.push_str("NXM_NX_IP_FRAG[1]=1,"),
        (3, 2) => s.push_str("NXM_NX_IP_FRAG[]=0x2,"),
        _ => {
            let _ = write!(s, "nw_frag={},", frag_str(v, mk));
        }
    }
    let (tp_src, tp_src_mask) = g(TpSrc);
    let (tp_dst, tp_dst_mask) = g(TpDst);
    // `icmp_type=`/`icmp_code=` only take exact 8-bit values; anything else prints
    // under the generic `tp_src=`/`tp_dst=` names so that it parses back.
    let icmp_ok = |v: u128, m: u128| m == 0 || (m == 0xffff && v <= 0xff);
    let icmp_names = icmp_ok(tp_src, tp_src_mask) && icmp_ok(tp_dst, tp_dst_mask);
    if dl_type == ETH_TYPE_IP && nw_proto == IPPROTO_ICMP && icmp_names {
        put_u16_masked(&mut s, "icmp_type", tp_src, tp_src_mask);
        put_u16_masked(&mut s, "icmp_code", tp_dst, tp_dst_mask);
    } else if dl_type == ETH_TYPE_IPV6 && nw_proto == IPPROTO_ICMPV6 {
        let (src, dst) = if icmp_names {
            ("icmp_type", "icmp_code")
        } else {
            ("tp_src", "tp_dst")
        };
        put_u16_masked(&mut s, src, tp_src, tp_src_mask);
        put_u16_masked(&mut s, dst, tp_dst, tp_dst_mask);
        let (v, mk) = g(NdTarget);
        if mk != 0 {
            let _ = write!(s, "nd_target={},", ipv6_masked(v, mk));
        }
        for (f, name) in [(NdSll, "nd_sll"), (NdTll, "nd_tll")] {
            let (v, mk) = g(f);
            if mk != 0 {
                let _ = write!(s, "{name}={},", mac_masked(v, mk));
            }
        }
    } else {
        put_u16_masked(&mut s, "tp_src", tp_src, tp_src_mask);
        put_u16_masked(&mut s, "tp_dst", tp_dst, tp_dst_mask);
    }
    let (v, mk) = g(TcpFlags);
    if (dl_type == ETH_TYPE_IP || dl_type == ETH_TYPE_IPV6) && nw_proto == IPPROTO_TCP && mk != 0 {
        let _ = write!(
            s,
            "tcp_flags={},",
            format_flags_masked(v as u32, mk as u32, 0xfff, tcp_flag_name)
        );
    }
    if s.ends_with(',') {
        s.pop();
    }
    s
}

/// The action list as dump-flows prints it (`drop` when empty).
pub fn format_actions(a: &[Action]) -> String {
    if a.is_empty() {
        return "drop".to_string();
    }
    let mut s = String::new();
    for (i, act) in a.iter().enumerate() {
        if i > 0 {
            s.push(',');
        }
        format_action(&mut s, act);
    }
    s
}

fn format_action(s: &mut String, a: &Action) {
    match a {
        Action::Output {
            port,
            max_len: None,
        } => {
            if *port < ofpp::MAX {
                let _ = write!(s, "output:{port}");
            } else {
                s.push_str(&format_port(*port));
                if *port == ofpp::CONTROLLER {
                    s.push_str(":65535");
                }
            }
        }
        Action::Output {
            port,
            max_len: Some(m),
        } => {
            let _ = write!(s, "output(port={},max_len={m})", format_port(*port));
        }
        Action::OutputReg { src, .. } => {
            let _ = write!(s, "output:{}", format_subfield(src));
        }
        Action::Normal => s.push_str("NORMAL"),
        Action::Flood => s.push_str("FLOOD"),
        Action::All => s.push_str("ALL"),
        Action::Local => s.push_str("LOCAL"),
        Action::InPort => s.push_str("IN_PORT"),
        Action::Controller {
            max_len,
            reason,
            id,
        } => {
            if reason.is_none() && *id == 0 {
                let _ = write!(s, "CONTROLLER:{max_len}");
            } else {
                let mut parts = Vec::new();
                if let Some(r) = reason {
                    parts.push(format!("reason={r}"));
                }
                if *max_len != u16::MAX {
                    parts.push(format!("max_len={max_len}"));
                }
                if *id != 0 {
                    parts.push(format!("id={id}"));
                }
                let _ = write!(s, "controller({})", parts.join(","));
            }
        }
        Action::Resubmit { port, table } => match (port, table) {
            (Some(p), None) => {
                let _ = write!(s, "resubmit:{}", format_port(*p));
            }
            _ => {
                s.push_str("resubmit(");
                if let Some(p) = port {
                    s.push_str(&format_port(*p));
                }
                s.push(',');
                if let Some(t) = table {
                    let _ = write!(s, "{t}");
                }
                s.push(')');
            }
        },
        Action::GotoTable(t) => {
            let _ = write!(s, "goto_table:{t}");
        }
        Action::SetVlanVid {
            vid,
            push_if_needed,
        } => {
            let n = if *push_if_needed {
                "mod_vlan_vid"
            } else {
                "set_vlan_vid"
            };
            let _ = write!(s, "{n}:{vid}");
        }
        Action::SetVlanPcp {
            pcp,
            push_if_needed,
        } => {
            let n = if *push_if_needed {
                "mod_vlan_pcp"
            } else {
                "set_vlan_pcp"
            };
            let _ = write!(s, "{n}:{pcp}");
        }
        Action::StripVlan => s.push_str("strip_vlan"),
        Action::PushVlan(t) => {
            let _ = write!(s, "push_vlan:{}", hex0(*t as u128));
        }
        Action::SetField {
            field,
            value,
            mask,
            spelling,
        } => format_set_field(s, *field, *value, *mask, *spelling),
        Action::Load { dst, value } => {
            let _ = write!(s, "load:{}->{}", hex0(*value), format_subfield(dst));
        }
        Action::Move { src, dst } => {
            let _ = write!(s, "move:{}->{}", format_subfield(src), format_subfield(dst));
        }
        Action::DecTtl => s.push_str("dec_ttl"),
        Action::Learn(l) => format_learn(s, l),
        Action::Conjunction {
            id,
            clause,
            n_clauses,
        } => {
            let _ = write!(s, "conjunction({id},{clause}/{n_clauses})");
        }
        Action::Ct(ct) => format_ct(s, ct),
        Action::CtClear => s.push_str("ct_clear"),
        Action::SetQueue(q) => {
            let _ = write!(s, "set_queue:{q}");
        }
        Action::PopQueue => s.push_str("pop_queue"),
        Action::Meter(m) => {
            let _ = write!(s, "meter:{m}");
        }
        Action::Note(bytes) => {
            s.push_str("note:");
            for (i, b) in bytes.iter().enumerate() {
                if i > 0 {
                    s.push('.');
                }
                let _ = write!(s, "{b:02x}");
            }
        }
        Action::Exit => s.push_str("exit"),
    }
}

fn format_set_field(s: &mut String, f: Field, v: u128, mask: u128, sp: SetSpelling) {
    let _ = match sp {
        SetSpelling::SetField => write!(
            s,
            "set_field:{}->{}",
            format_field_value(f, v, mask),
            ovs_name(f)
        ),
        SetSpelling::Load => write!(
            s,
            "load:{}->{}",
            hex0(v),
            format_subfield(&SubField::whole(f))
        ),
        SetSpelling::ModDlSrc => write!(s, "mod_dl_src:{}", mac_str(v)),
        SetSpelling::ModDlDst => write!(s, "mod_dl_dst:{}", mac_str(v)),
        SetSpelling::ModNwSrc => write!(s, "mod_nw_src:{}", Ipv4Addr::from(v as u32)),
        SetSpelling::ModNwDst => write!(s, "mod_nw_dst:{}", Ipv4Addr::from(v as u32)),
        SetSpelling::ModNwTos => write!(s, "mod_nw_tos:{v}"),
        SetSpelling::ModNwEcn => write!(s, "mod_nw_ecn:{v}"),
        SetSpelling::ModNwTtl => write!(s, "mod_nw_ttl:{v}"),
        SetSpelling::ModTpSrc => write!(s, "mod_tp_src:{v}"),
        SetSpelling::ModTpDst => write!(s, "mod_tp_dst:{v}"),
        SetSpelling::SetTunnel => {
            if v > u32::MAX as u128 {
                write!(s, "set_tunnel64:{}", hex0(v))
            } else {
                write!(s, "set_tunnel:{}", hex0(v))
            }
        }
        SetSpelling::SetTunnel64 => write!(s, "set_tunnel64:{}", hex0(v)),
        SetSpelling::WriteMetadata => {
            if mask == u64::MAX as u128 {
                write!(s, "write_metadata:{}", hex0(v))
            } else {
                write!(s, "write_metadata:{}/{}", hex0(v), hex0(mask))
            }
        }
    };
}

fn format_learn(s: &mut String, l: &Learn) {
    let _ = write!(s, "learn(table={}", l.table);
    if l.idle_timeout != 0 {
        let _ = write!(s, ",idle_timeout={}", l.idle_timeout);
    }
    if l.hard_timeout != 0 {
        let _ = write!(s, ",hard_timeout={}", l.hard_timeout);
    }
    if l.fin_idle_timeout != 0 {
        let _ = write!(s, ",fin_idle_timeout={}", l.fin_idle_timeout);
    }
    if l.fin_hard_timeout != 0 {
        let _ = write!(s, ",fin_hard_timeout={}", l.fin_hard_timeout);
    }
    if l.priority != DEFAULT_PRIORITY {
        let _ = write!(s, ",priority={}", l.priority);
    }
    if l.send_flow_rem {
        s.push_str(",send_flow_rem");
    }
    if l.delete_learned {
        s.push_str(",delete_learned");
    }
    if l.cookie != 0 {
        let _ = write!(s, ",cookie={:#x}", l.cookie);
    }
    if l.limit != 0 {
        let _ = write!(s, ",limit={}", l.limit);
    }
    for spec in &l.specs {
        s.push(',');
        match spec {
            LearnSpec::Match {
                dst,
                src: LearnSrc::Imm(v),
            } => {
                if dst.ofs == 0 && dst.n_bits == dst.field.info().bits {
                    let _ = write!(
                        s,
                        "{}={}",
                        ovs_name(dst.field),
                        format_field_value(dst.field, *v, dst.field.all_ones())
                    );
                } else {
                    let _ = write!(s, "{}={}", format_subfield(dst), hex0(*v));
                }
            }
            LearnSpec::Match {
                dst,
                src: LearnSrc::Field(src),
            } => {
                s.push_str(&format_subfield(dst));
                if src.field != dst.field || src.ofs != dst.ofs {
                    let _ = write!(s, "={}", format_subfield(src));
                }
            }
            LearnSpec::Load {
                dst,
                src: LearnSrc::Imm(v),
            } => {
                let _ = write!(s, "load:{}->{}", hex0(*v), format_subfield(dst));
            }
            LearnSpec::Load {
                dst,
                src: LearnSrc::Field(src),
            } => {
                let _ = write!(s, "load:{}->{}", format_subfield(src), format_subfield(dst));
            }
            LearnSpec::Output { src } => {
                let _ = write!(s, "output:{}", format_subfield(src));
            }
        }
    }
    s.push(')');
}

fn format_nat(s: &mut String, n: &Nat) {
    s.push_str("nat");
    let Some(kind) = n.kind else {
        return;
    };
    s.push('(');
    s.push_str(match kind {
        NatKind::Src => "src",
        NatKind::Dst => "dst",
    });
    if let Some(min) = n.addr_min {
        s.push('=');
        let bracket = n.port_min.is_some();
        let fmt_addr = |a: std::net::IpAddr| match a {
            std::net::IpAddr::V4(a) => a.to_string(),
            std::net::IpAddr::V6(a) if bracket => format!("[{}]", ipv6_str(a.into())),
            std::net::IpAddr::V6(a) => ipv6_str(a.into()),
        };
        s.push_str(&fmt_addr(min));
        if let Some(max) = n.addr_max {
            if max != min {
                s.push('-');
                s.push_str(&fmt_addr(max));
            }
        }
        if let Some(pmin) = n.port_min {
            let _ = write!(s, ":{pmin}");
            if let Some(pmax) = n.port_max {
                if pmax != pmin {
                    let _ = write!(s, "-{pmax}");
                }
            }
        }
    }
    if n.persistent {
        s.push_str(",persistent");
    }
    if n.hash {
        s.push_str(",hash");
    }
    if n.random {
        s.push_str(",random");
    }
    s.push(')');
}

fn format_ct(s: &mut String, ct: &Ct) {
    let mut parts: Vec<String> = Vec::new();
    if ct.commit {
        parts.push("commit".into());
    }
    if ct.force {
        parts.push("force".into());
    }
    if let Some(t) = ct.table {
        parts.push(format!("table={t}"));
    }
    match &ct.zone {
        Some(CtZone::Field(sf)) => parts.push(format!("zone={}", format_subfield(sf))),
        Some(CtZone::Imm(z)) if *z != 0 => parts.push(format!("zone={z}")),
        _ => {}
    }
    if let Some(n) = &ct.nat {
        let mut t = String::new();
        format_nat(&mut t, n);
        parts.push(t);
    }
    if !ct.exec.is_empty() {
        parts.push(format!("exec({})", format_actions(&ct.exec)));
    }
    if let Some(alg) = &ct.alg {
        parts.push(format!("alg={alg}"));
    }
    let _ = write!(s, "ct({})", parts.join(","));
}

/// A whole flow, in dump-flows order without the statistics:
/// `cookie=0x5, table=1, idle_timeout=10, priority=2,in_port=1 actions=output:2`.
/// `parse_flow` accepts the result back (in the mode the spec was parsed with).
pub fn format_flow(spec: &FlowSpec) -> String {
    let mut s = String::new();
    if spec.cookie_mask != 0 {
        let _ = write!(s, "cookie={:#x}/{:#x}, ", spec.cookie, spec.cookie_mask);
    } else if spec.cookie != 0 {
        let _ = write!(s, "cookie={:#x}, ", spec.cookie);
    }
    if let Some(t) = spec.table {
        let _ = write!(s, "table={t}, ");
    }
    if spec.idle_timeout != 0 {
        let _ = write!(s, "idle_timeout={}, ", spec.idle_timeout);
    }
    if spec.hard_timeout != 0 {
        let _ = write!(s, "hard_timeout={}, ", spec.hard_timeout);
    }
    if spec.send_flow_rem {
        s.push_str("send_flow_rem ");
    }
    if spec.check_overlap {
        s.push_str("check_overlap ");
    }
    if spec.importance != 0 {
        let _ = write!(s, "importance={}, ", spec.importance);
    }
    if let Some(p) = spec.out_port {
        let _ = write!(s, "out_port={}, ", format_port(p));
    }
    let m = format_match_inner(&spec.m, spec.priority);
    s.push_str(&m);
    match &spec.actions {
        Some(a) => {
            if !m.is_empty() {
                s.push(' ');
            }
            s.push_str("actions=");
            s.push_str(&format_actions(a));
        }
        None => {
            // Trim the ", " / " " left after the last keyword when the match is empty.
            while s.ends_with(' ') || s.ends_with(',') {
                s.pop();
            }
        }
    }
    s
}
