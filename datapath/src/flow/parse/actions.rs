//! Action parsing (`ofpacts_parse` and the per-action `parse_*` functions of Open
//! vSwitch's lib/ofp-actions.c, lib/learn.c, lib/nx-match.c), structural verification
//! (`ofpacts_verify`) and match/action consistency checks (`ofpacts_check`).

use std::net::IpAddr;

use super::lex::{self, parse_dec, parse_int, parse_uint, strtoull, NumErr, Tok};
use super::{ovs_nbytes, parse_field_value, ParseError, PortNames};
use crate::flow::action::{
    ofpp, Action, Ct, CtZone, Learn, LearnSpec, LearnSrc, Nat, NatKind, SetSpelling,
};
use crate::flow::field::{Field, Prereq, SubField};
use crate::flow::format::{
    ovs_name, ETH_TYPE_ARP, ETH_TYPE_IP, ETH_TYPE_IPV6, ETH_TYPE_RARP, IPPROTO_ICMP,
    IPPROTO_ICMPV6, IPPROTO_SCTP, IPPROTO_TCP, IPPROTO_UDP, OFPP_UNSET,
};
use crate::flow::key::{FlowKey, FRAG_LATER, VLAN_CFI};
use crate::flow::{Match, DEFAULT_PRIORITY};

/// Where an action list sits.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Outer {
    /// The flow's own actions/instructions.
    Top,
    /// Inside `ct(exec(...))`.
    Ct,
}

/// Nesting limit for `ct(exec(...))` (Open vSwitch allows 100; nothing legitimate nests
/// more than once).
const MAX_DEPTH: u32 = 16;

type Acts = Vec<(Action, usize)>;

fn err(pos: usize, msg: impl Into<String>) -> ParseError {
    ParseError::new(pos, msg)
}

/// Open vSwitch treats `tp_src`/`tp_dst` as other names of `tcp_src`/`tcp_dst`; in
/// action destinations and sub-fields we do the same.
fn canon(f: Field) -> Field {
    match f {
        Field::TpSrc => Field::TcpSrc,
        Field::TpDst => Field::TcpDst,
        f => f,
    }
}

fn field_by_name(name: &str) -> Option<Field> {
    if let Some(f) = Field::from_name(name) {
        return Some(canon(f));
    }
    // NXM "_W" (masked) header names name the same field.
    name.strip_suffix("_W")
        .filter(|n| n.starts_with("NXM_") || n.starts_with("OXM_"))
        .and_then(Field::from_name)
        .map(canon)
}

/// `mf_parse_subfield__`: parses `NAME[]`, `NAME[a..b]`, `NAME[a]` or `NAME` (whole
/// field) at the start of `s`; returns it and the bytes consumed.
fn parse_subfield_prefix(s: &str) -> Result<(SubField, usize), String> {
    let name_len = s.find(['[', '-']).unwrap_or(s.len());
    let name = &s[..name_len];
    let field = field_by_name(name).ok_or_else(|| format!("{s}: unknown field `{name}'"))?;
    let bits = field.info().bits;
    let mut consumed = name_len;
    let (mut start, mut end) = (0u32, bits - 1);
    if s[name_len..].starts_with('[') {
        let close = s[name_len..]
            .find(']')
            .map(|i| i + name_len)
            .ok_or_else(|| {
                format!("{s}: syntax error expecting [] or [<bit>] or [<start>..<end>]")
            })?;
        let inner = &s[name_len + 1..close];
        let bad = || format!("{s}: syntax error expecting [] or [<bit>] or [<start>..<end>]");
        if !inner.is_empty() {
            let num = |x: &str| parse_dec(x).filter(|v| *v <= 1 << 20).map(|v| v as u32);
            match inner.split_once("..") {
                Some((a, b)) => {
                    start = num(a).ok_or_else(bad)?;
                    end = num(b).ok_or_else(bad)?;
                }
                None => {
                    start = num(inner).ok_or_else(bad)?;
                    end = start;
                }
            }
        }
        consumed = close + 1;
    }
    if start > end {
        return Err(format!(
            "{s}: starting bit {start} is after ending bit {end}"
        ));
    }
    if start >= bits {
        return Err(format!(
            "{s}: starting bit {start} is not valid because field is only {bits} bits wide"
        ));
    }
    if end >= bits {
        return Err(format!(
            "{s}: ending bit {end} is not valid because field is only {bits} bits wide"
        ));
    }
    Ok((
        SubField {
            field,
            ofs: start,
            n_bits: end - start + 1,
        },
        consumed,
    ))
}

/// `mf_parse_subfield`: the whole string must be one sub-field.
pub(crate) fn parse_subfield(s: &str) -> Result<SubField, String> {
    let (sf, n) = parse_subfield_prefix(s)?;
    if n != s.len() {
        return Err(format!("{s}: unexpected input following field syntax"));
    }
    Ok(sf)
}

fn is_whole(sf: &SubField) -> bool {
    sf.ofs == 0 && sf.n_bits == sf.field.info().bits
}

fn fits(v: u128, bits: u32) -> bool {
    bits >= 128 || v >> bits == 0
}

/// The dedicated variant for a reserved output port, `Output` otherwise.
fn output_to(port: u32) -> Action {
    match port {
        ofpp::NORMAL => Action::Normal,
        ofpp::FLOOD => Action::Flood,
        ofpp::ALL => Action::All,
        ofpp::LOCAL => Action::Local,
        ofpp::IN_PORT => Action::InPort,
        ofpp::CONTROLLER => Action::Controller {
            max_len: u16::MAX,
            reason: None,
            id: 0,
        },
        p => Action::Output {
            port: p,
            max_len: None,
        },
    }
}

fn u16_arg(v: &str, pos: usize, what: &str) -> Result<u16, ParseError> {
    parse_uint(v, 0xffff)
        .map(|x| x as u16)
        .ok_or_else(|| err(pos, format!("invalid {what} \"{v}\"")))
}

fn u8_arg(v: &str, pos: usize, what: &str) -> Result<u8, ParseError> {
    parse_uint(v, 0xff)
        .map(|x| x as u8)
        .ok_or_else(|| err(pos, format!("invalid {what} \"{v}\"")))
}

fn u32_arg(v: &str, pos: usize) -> Result<u32, ParseError> {
    if v.is_empty() {
        return Err(err(pos, "missing required numeric argument"));
    }
    match strtoull(v) {
        Ok(x) if x <= u32::MAX as u64 => Ok(x as u32),
        _ => Err(err(pos, format!("invalid numeric format {v}"))),
    }
}

fn u64_arg(v: &str, pos: usize) -> Result<u64, ParseError> {
    if v.is_empty() {
        return Err(err(pos, "missing required numeric argument"));
    }
    strtoull(v).map_err(|_| err(pos, format!("invalid numeric format {v}")))
}

/// Parses an action list into actions paired with the offset of their keyword.
pub(crate) fn parse_action_list(
    s: &str,
    base: usize,
    ports: &dyn PortNames,
    outer: Outer,
    depth: u32,
) -> Result<Acts, ParseError> {
    if depth >= MAX_DEPTH {
        return Err(err(base, "actions nested too deeply"));
    }
    let mut out: Acts = Vec::new();
    let mut drop_pos = None;
    for tok in lex::tokenize(s, base)? {
        match parse_one(&tok, ports, depth)? {
            Some(a) => out.push((a, tok.key_pos)),
            None => drop_pos = drop_pos.or(Some(tok.key_pos)),
        }
    }
    if let Some(p) = drop_pos {
        if !out.is_empty() {
            return Err(err(
                p,
                "\"drop\" must not be accompanied by any other action or instruction",
            ));
        }
    }
    verify(&out, outer)?;
    Ok(out)
}

/// One action; `None` for `drop`.
fn parse_one(tok: &Tok, ports: &dyn PortNames, depth: u32) -> Result<Option<Action>, ParseError> {
    let key = tok.key;
    let v = tok.value;
    let vpos = tok.value_pos;
    let kpos = tok.key_pos;
    let lkey = key.to_ascii_lowercase();
    let set = |field: Field, value: u128, mask: u128, spelling: SetSpelling| {
        Ok(Some(Action::SetField {
            field,
            value,
            mask,
            spelling,
        }))
    };
    match lkey.as_str() {
        "output" => parse_output(v, vpos, ports).map(Some),
        "controller" => parse_controller(v, vpos).map(Some),
        "set_field" => parse_set_field(v, vpos, ports).map(Some),
        "load" => parse_load(v, vpos).map(Some),
        "move" => parse_move(v, vpos).map(Some),
        "resubmit" => parse_resubmit(v, vpos, ports).map(Some),
        "learn" => parse_learn(v, vpos, ports).map(|l| Some(Action::Learn(Box::new(l)))),
        "ct" => parse_ct(v, vpos, ports, depth).map(|c| Some(Action::Ct(Box::new(c)))),
        "ct_clear" => Ok(Some(Action::CtClear)),
        "conjunction" => parse_conjunction(v, vpos).map(Some),
        "note" => parse_note(v, vpos).map(Some),
        "exit" => Ok(Some(Action::Exit)),
        "drop" => Ok(None),
        "strip_vlan" | "pop_vlan" => Ok(Some(Action::StripVlan)),
        "push_vlan" => {
            let t = u16_arg(v, vpos, "ethertype")?;
            if t != 0x8100 && t != 0x88a8 {
                return Err(err(vpos, format!("{v}: not a valid VLAN ethertype")));
            }
            Ok(Some(Action::PushVlan(t)))
        }
        "set_vlan_vid" | "mod_vlan_vid" => {
            let vid = u16_arg(v, vpos, "VLAN VID")?;
            if vid > 0x0fff {
                return Err(err(vpos, format!("{v}: not a valid VLAN VID")));
            }
            Ok(Some(Action::SetVlanVid {
                vid,
                push_if_needed: lkey == "mod_vlan_vid",
            }))
        }
        "set_vlan_pcp" | "mod_vlan_pcp" => {
            let pcp = u8_arg(v, vpos, "VLAN PCP")?;
            if pcp > 7 {
                return Err(err(vpos, format!("{v}: not a valid VLAN PCP")));
            }
            Ok(Some(Action::SetVlanPcp {
                pcp,
                push_if_needed: lkey == "mod_vlan_pcp",
            }))
        }
        "mod_dl_src" | "mod_dl_dst" => {
            let mac =
                lex::parse_mac(v).ok_or_else(|| err(vpos, format!("invalid mac address {v}")))?;
            if lkey == "mod_dl_src" {
                set(
                    Field::EthSrc,
                    mac,
                    Field::EthSrc.all_ones(),
                    SetSpelling::ModDlSrc,
                )
            } else {
                set(
                    Field::EthDst,
                    mac,
                    Field::EthDst.all_ones(),
                    SetSpelling::ModDlDst,
                )
            }
        }
        "mod_nw_src" | "mod_nw_dst" => {
            let ip = lex::parse_ipv4(v)
                .ok_or_else(|| err(vpos, format!("{v}: could not convert to IP address")))?;
            if lkey == "mod_nw_src" {
                set(
                    Field::Ipv4Src,
                    ip as u128,
                    0xffff_ffff,
                    SetSpelling::ModNwSrc,
                )
            } else {
                set(
                    Field::Ipv4Dst,
                    ip as u128,
                    0xffff_ffff,
                    SetSpelling::ModNwDst,
                )
            }
        }
        "mod_nw_tos" => {
            let tos = u8_arg(v, vpos, "TOS")?;
            if tos & 0x03 != 0 {
                return Err(err(vpos, format!("{v}: not a valid TOS")));
            }
            set(Field::NwTos, tos as u128, 0xfc, SetSpelling::ModNwTos)
        }
        "mod_nw_ecn" => {
            let ecn = u8_arg(v, vpos, "ECN")?;
            if ecn > 3 {
                return Err(err(vpos, format!("{v}: not a valid ECN")));
            }
            set(Field::NwEcn, ecn as u128, 3, SetSpelling::ModNwEcn)
        }
        "mod_nw_ttl" | "set_nw_ttl" => {
            let ttl = u8_arg(v, vpos, "TTL")?;
            set(Field::NwTtl, ttl as u128, 0xff, SetSpelling::ModNwTtl)
        }
        "mod_tp_src" => {
            let p = u16_arg(v, vpos, "source port")?;
            set(Field::TpSrc, p as u128, 0xffff, SetSpelling::ModTpSrc)
        }
        "mod_tp_dst" => {
            let p = u16_arg(v, vpos, "destination port")?;
            set(Field::TpDst, p as u128, 0xffff, SetSpelling::ModTpDst)
        }
        "set_tunnel" | "set_tunnel64" => {
            let id = u64_arg(v, vpos)?;
            let sp = if lkey == "set_tunnel64" || id > u32::MAX as u64 {
                SetSpelling::SetTunnel64
            } else {
                SetSpelling::SetTunnel
            };
            set(Field::TunId, id as u128, u64::MAX as u128, sp)
        }
        "write_metadata" => {
            let (a, m) = match v.split_once('/') {
                Some((a, m)) => (a, Some(m)),
                None => (v, None),
            };
            let mask = match m {
                Some(m) => u64_arg(m, vpos + a.len() + 1)?,
                None => u64::MAX,
            };
            let md = u64_arg(a, vpos)?;
            set(
                Field::Metadata,
                md as u128,
                mask as u128,
                SetSpelling::WriteMetadata,
            )
        }
        "set_queue" => Ok(Some(Action::SetQueue(u32_arg(v, vpos)?))),
        "pop_queue" => Ok(Some(Action::PopQueue)),
        "meter" => Ok(Some(Action::Meter(u32_arg(v, vpos)?))),
        "goto_table" => {
            let t = parse_dec(v)
                .filter(|t| *t <= 255)
                .ok_or_else(|| err(vpos, format!("unknown table \"{v}\"")))?;
            if t == 255 {
                return Err(err(vpos, "goto_table:255 is not a valid table"));
            }
            Ok(Some(Action::GotoTable(t as u8)))
        }
        "dec_ttl" => {
            if !v.is_empty() {
                return Err(err(
                    vpos,
                    "dec_ttl with controller ids is not supported by xvs",
                ));
            }
            Ok(Some(Action::DecTtl))
        }
        "nat" => Err(err(kpos, "Cannot have NAT action outside of \"ct\" action")),
        "apply_actions" => Err(err(kpos, "apply_actions is the default instruction")),
        "group" | "enqueue" | "output_reg" | "bundle" | "bundle_load" | "multipath" | "push"
        | "pop" | "sample" | "clone" | "fin_timeout" | "output_trunc" | "set_mpls_label"
        | "set_mpls_tc" | "set_mpls_ttl" | "dec_mpls_ttl" | "push_mpls" | "pop_mpls"
        | "dec_nsh_ttl" | "delete_field" | "encap" | "decap" | "check_pkt_larger"
        | "debug_recirc" | "debug_slow" | "clear_actions" | "write_actions" | "unroll_xlate" => {
            Err(err(kpos, format!("action '{key}' is not supported by xvs")))
        }
        _ => match lex::parse_port(key, ports) {
            Some(p) => Ok(Some(output_to(p))),
            None => Err(err(kpos, format!("unknown action '{key}'"))),
        },
    }
}

fn parse_output(v: &str, vpos: usize, ports: &dyn PortNames) -> Result<Action, ParseError> {
    if v.contains("port") && v.contains("max_len") {
        let mut port = None;
        let mut max_len = None;
        for t in lex::tokenize(v, vpos)? {
            match t.key {
                "port" => {
                    let p = lex::parse_port(t.value, ports).ok_or_else(|| {
                        err(
                            t.value_pos,
                            format!("output to unknown truncate port: {}", t.value),
                        )
                    })?;
                    if p > ofpp::MAX && p != ofpp::LOCAL && p != ofpp::IN_PORT {
                        return Err(err(
                            t.value_pos,
                            format!("output to unsupported truncate port: {}", t.value),
                        ));
                    }
                    port = Some(p);
                }
                "max_len" => {
                    let m = u32_arg(t.value, t.value_pos)?;
                    if m < 14 {
                        return Err(err(
                            t.value_pos,
                            format!("max_len {m} is less than the minimum value 14"),
                        ));
                    }
                    if m > 0xffff {
                        return Err(err(t.value_pos, format!("max_len {m} is too large")));
                    }
                    max_len = Some(m as u16);
                }
                k => {
                    return Err(err(
                        t.key_pos,
                        format!("invalid key '{k}' in output_trunc argument"),
                    ))
                }
            }
        }
        let port = port.ok_or_else(|| err(vpos, "output(...) needs port="))?;
        return Ok(Action::Output { port, max_len });
    }
    if let Some(p) = lex::parse_port(v, ports) {
        return Ok(output_to(p));
    }
    if let Ok(src) = parse_subfield(v) {
        return Ok(Action::OutputReg { src, max_len: None });
    }
    Err(err(vpos, format!("{v}: output to unknown port")))
}

fn parse_controller(v: &str, vpos: usize) -> Result<Action, ParseError> {
    let mut max_len = u16::MAX;
    let mut reason: Option<String> = None;
    let mut id = 0u16;
    if v.is_empty() {
    } else if v.bytes().all(|c| c.is_ascii_digit()) {
        max_len = u16_arg(v, vpos, "max_len")?;
    } else {
        for t in lex::tokenize(v, vpos)? {
            match t.key {
                "reason" => {
                    const REASONS: &[&str] = &[
                        "no_match",
                        "action",
                        "invalid_ttl",
                        "action_set",
                        "group",
                        "packet_out",
                    ];
                    if !REASONS.contains(&t.value) {
                        return Err(err(t.value_pos, format!("unknown reason \"{}\"", t.value)));
                    }
                    reason = if t.value == "action" {
                        None
                    } else {
                        Some(t.value.to_string())
                    };
                }
                "max_len" => max_len = u16_arg(t.value, t.value_pos, "max_len")?,
                "id" => id = u16_arg(t.value, t.value_pos, "id")?,
                "userdata" | "pause" | "meter_id" => {
                    return Err(err(
                        t.key_pos,
                        format!(
                            "controller action key \"{}\" is not supported by xvs",
                            t.key
                        ),
                    ))
                }
                k => {
                    return Err(err(
                        t.key_pos,
                        format!("unknown key \"{k}\" parsing controller action"),
                    ))
                }
            }
        }
    }
    Ok(Action::Controller {
        max_len,
        reason,
        id,
    })
}

/// Splits `VALUE->FIELD` at the first `->`; returns the value, the field and its offset.
fn split_arrow(v: &str, vpos: usize) -> Result<(&str, &str, usize), ParseError> {
    let i = v
        .find("->")
        .ok_or_else(|| err(vpos, format!("{v}: missing `->'")))?;
    let dst = &v[i + 2..];
    if dst.is_empty() {
        return Err(err(
            vpos + i,
            format!("{v}: missing field name following `->'"),
        ));
    }
    Ok((&v[..i], dst, vpos + i + 2))
}

fn parse_set_field(v: &str, vpos: usize, ports: &dyn PortNames) -> Result<Action, ParseError> {
    let (val, name, npos) = split_arrow(v, vpos)?;
    let field = field_by_name(name).ok_or_else(|| {
        if super::unsupported_field(name) {
            err(npos, format!("field '{name}' is not supported by xvs"))
        } else {
            err(npos, format!("{name} is not a valid OXM field name"))
        }
    })?;
    if !field.info().writable {
        return Err(err(npos, format!("{name} is read-only")));
    }
    let (value, mask) = parse_field_value(field, val, ports).map_err(|e| err(vpos, e))?;
    let all = field.all_ones();
    let valid = fits(value, field.info().bits) && !(field == Field::NwTos && value & 3 != 0);
    if !valid {
        return Err(err(
            vpos,
            format!("{val} is not a valid value for field {name}"),
        ));
    }
    let mask = if mask & all == all { all } else { mask & all };
    Ok(Action::SetField {
        field,
        value,
        mask,
        spelling: SetSpelling::SetField,
    })
}

fn parse_load(v: &str, vpos: usize) -> Result<Action, ParseError> {
    let (val, dst, dpos) = split_arrow(v, vpos)?;
    let dst = parse_subfield(dst).map_err(|e| err(dpos, e))?;
    if !dst.field.info().writable {
        return Err(err(
            dpos,
            format!("destination field {} is not writable", dst.field.name()),
        ));
    }
    let value = parse_int(val, ovs_nbytes(dst.field).max(16))
        .map_err(|_| err(vpos, format!("{v}: cannot parse integer value")))?;
    if !fits(value, dst.n_bits) {
        return Err(err(
            vpos,
            format!("{v}: value {} does not fit into {} bits", val, dst.n_bits),
        ));
    }
    if is_whole(&dst) {
        Ok(Action::SetField {
            field: dst.field,
            value,
            mask: dst.field.all_ones(),
            spelling: SetSpelling::Load,
        })
    } else {
        Ok(Action::Load { dst, value })
    }
}

/// `SRC[..]->DST[..]` with equal widths.
fn parse_move_pair(v: &str, vpos: usize) -> Result<(SubField, SubField), ParseError> {
    let (src, n) = parse_subfield_prefix(v).map_err(|e| err(vpos, e))?;
    let rest = &v[n..];
    let Some(d) = rest.strip_prefix("->") else {
        return Err(err(vpos + n, format!("{v}: missing `->' following source")));
    };
    let dpos = vpos + n + 2;
    let dst = parse_subfield(d).map_err(|e| err(dpos, e))?;
    if src.n_bits != dst.n_bits {
        return Err(err(
            vpos,
            format!(
                "{v}: source field is {} bits wide but destination is {} bits wide",
                src.n_bits, dst.n_bits
            ),
        ));
    }
    Ok((src, dst))
}

fn parse_move(v: &str, vpos: usize) -> Result<Action, ParseError> {
    let (src, dst) = parse_move_pair(v, vpos)?;
    if !dst.field.info().writable {
        let dpos = vpos + v.find("->").map_or(0, |i| i + 2);
        return Err(err(
            dpos,
            format!("destination field {} is not writable", dst.field.name()),
        ));
    }
    Ok(Action::Move { src, dst })
}

fn parse_resubmit(v: &str, vpos: usize, ports: &dyn PortNames) -> Result<Action, ParseError> {
    let mut parts = v.splitn(3, ',');
    let port_s = parts.next().unwrap_or("");
    let table_s = parts.next().unwrap_or("");
    let ct_s = parts.next().unwrap_or("");
    let table_pos = vpos + port_s.len() + 1;
    let port = if port_s.is_empty() {
        None
    } else {
        match lex::parse_port(port_s, ports) {
            Some(ofpp::IN_PORT) => None,
            Some(p) => Some(p),
            None => return Err(err(vpos, format!("{port_s}: resubmit to unknown port"))),
        }
    };
    let table = if table_s.is_empty() {
        None
    } else {
        match parse_dec(table_s) {
            Some(t) if t <= 254 => Some(t as u8),
            Some(255) => {
                return Err(err(
                    table_pos,
                    "resubmit to table 255 is not valid (tables are 0 to 254)",
                ))
            }
            _ => {
                return Err(err(
                    table_pos,
                    format!("{table_s}: resubmit to unknown table"),
                ))
            }
        }
    };
    if !ct_s.is_empty() {
        let pos = table_pos + table_s.len() + 1;
        if ct_s != "ct" {
            return Err(err(pos, format!("{ct_s}: unknown parameter")));
        }
        return Err(err(pos, "resubmit(...,ct) is not supported by xvs"));
    }
    if port.is_none() && table.is_none() {
        return Err(err(
            vpos,
            "at least one \"in_port\" or \"table\" must be specified on resubmit",
        ));
    }
    Ok(Action::Resubmit { port, table })
}

fn parse_conjunction(v: &str, vpos: usize) -> Result<Action, ParseError> {
    let syntax = || err(vpos, "\"conjunction\" syntax is \"conjunction(id,i/n)\"");
    let compact: String = v.chars().filter(|c| !c.is_ascii_whitespace()).collect();
    let (id_s, rest) = compact.split_once(',').ok_or_else(syntax)?;
    let (k_s, n_s) = rest.split_once('/').ok_or_else(syntax)?;
    let id = if let Some(neg) = id_s.strip_prefix('-') {
        strtoull(neg)
            .ok()
            .filter(|x| *x <= 1 << 31)
            .map(|x| (x as u32).wrapping_neg())
    } else {
        strtoull(id_s)
            .ok()
            .filter(|x| *x <= u32::MAX as u64)
            .map(|x| x as u32)
    }
    .ok_or_else(syntax)?;
    let k = parse_dec(k_s).filter(|x| *x <= 255).ok_or_else(syntax)? as u8;
    let n = parse_dec(n_s).filter(|x| *x <= 255).ok_or_else(syntax)? as u8;
    if n < 2 {
        return Err(err(vpos, "conjunction must have at least 2 clauses"));
    }
    if n > 64 {
        return Err(err(vpos, "conjunction must have at most 64 clauses"));
    }
    if k < 1 {
        return Err(err(vpos, "clause index must be positive"));
    }
    if k > n {
        return Err(err(
            vpos,
            "clause index must be less than or equal to number of clauses",
        ));
    }
    Ok(Action::Conjunction {
        id,
        clause: k,
        n_clauses: n,
    })
}

fn parse_note(v: &str, vpos: usize) -> Result<Action, ParseError> {
    let b = v.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    loop {
        while i < b.len() && matches!(b[i], b' ' | b'.' | b'\t' | b'\r' | b'\n') {
            i += 1;
        }
        if i >= b.len() {
            break;
        }
        let hi = (b[i] as char).to_digit(16);
        let lo = b.get(i + 1).and_then(|c| (*c as char).to_digit(16));
        match (hi, lo) {
            (Some(h), Some(l)) => out.push((h * 16 + l) as u8),
            _ => return Err(err(vpos + i, "bad hex digit in `note' argument")),
        }
        i += 2;
    }
    Ok(Action::Note(out))
}

fn parse_learn(v: &str, vpos: usize, ports: &dyn PortNames) -> Result<Learn, ParseError> {
    let mut l = Learn {
        table: 1,
        priority: DEFAULT_PRIORITY,
        ..Learn::default()
    };
    for t in lex::tokenize(v, vpos)? {
        let val = t.value;
        let p = t.value_pos;
        match t.key {
            "table" => {
                let n = parse_dec(val)
                    .filter(|n| *n <= 255)
                    .ok_or_else(|| err(p, format!("unknown table \"{val}\"")))?;
                if n == 255 {
                    return Err(err(p, "table id 255 not valid for `learn' action"));
                }
                l.table = n as u8;
            }
            "priority" => l.priority = u16_arg(val, p, "priority")?,
            "idle_timeout" => l.idle_timeout = u16_arg(val, p, "idle_timeout")?,
            "hard_timeout" => l.hard_timeout = u16_arg(val, p, "hard_timeout")?,
            "fin_idle_timeout" => l.fin_idle_timeout = u16_arg(val, p, "fin_idle_timeout")?,
            "fin_hard_timeout" => l.fin_hard_timeout = u16_arg(val, p, "fin_hard_timeout")?,
            "cookie" => l.cookie = u64_arg(val, p)?,
            "send_flow_rem" => l.send_flow_rem = true,
            "delete_learned" => l.delete_learned = true,
            "limit" => l.limit = u32_arg(val, p)?,
            "result_dst" => {
                return Err(err(t.key_pos, "learn result_dst is not supported by xvs"));
            }
            _ => l.specs.push(parse_learn_spec(&t, ports)?),
        }
    }
    Ok(l)
}

fn parse_learn_spec(t: &Tok, ports: &dyn PortNames) -> Result<LearnSpec, ParseError> {
    let name = t.key;
    let value = t.value;
    let vpos = t.value_pos;
    if let Ok(dst) = parse_subfield(name) {
        if value.is_empty() {
            return Ok(LearnSpec::Match {
                dst,
                src: LearnSrc::Field(dst),
            });
        }
        let src_err = match parse_subfield(value) {
            Ok(src) => {
                if src.n_bits != dst.n_bits {
                    return Err(err(
                        vpos,
                        format!(
                            "{name}={value}: bit widths of {name} ({}) and {value} ({}) differ",
                            dst.n_bits, src.n_bits
                        ),
                    ));
                }
                return Ok(LearnSpec::Match {
                    dst,
                    src: LearnSrc::Field(src),
                });
            }
            Err(e) => e,
        };
        // An immediate value.
        let imm = if is_whole(&dst) {
            match parse_field_value(dst.field, value, ports) {
                Ok((v, m)) => {
                    let nb = ovs_nbytes(dst.field);
                    let full = if nb >= 16 {
                        u128::MAX
                    } else {
                        (1u128 << (8 * nb)) - 1
                    };
                    if m & full != full {
                        Err(format!("{value}: wildcards not allowed here"))
                    } else if !fits(v, dst.n_bits) {
                        Err(format!(
                            "value {value} does not fit into {} bits",
                            dst.n_bits
                        ))
                    } else {
                        Ok(v)
                    }
                }
                Err(e) => Err(e),
            }
        } else {
            match parse_int(value, ovs_nbytes(dst.field).max(16)) {
                Ok(v) if fits(v, dst.n_bits) => Ok(v),
                Ok(_) => Err(format!(
                    "value {value} does not fit into {} bits",
                    dst.n_bits
                )),
                Err(_) => Err(format!("{value}: cannot parse integer value")),
            }
        };
        return match imm {
            Ok(v) => Ok(LearnSpec::Match { dst, src: LearnSrc::Imm(v) }),
            Err(ie) => Err(err(
                vpos,
                format!(
                    "{name}={value}: {name} value {value} cannot be parsed as a subfield ({src_err}) \
                     or an immediate value ({ie})"
                ),
            )),
        };
    }
    match name {
        "load" => {
            let Some(i) = value.find("->") else {
                return Err(err(vpos, format!("load: missing `->' in `{value}'")));
            };
            if i == 0 {
                return Err(err(
                    vpos,
                    format!("load: missing source before `->' in `{value}'"),
                ));
            }
            let src_s = &value[..i];
            let dpos = vpos + i + 2;
            if src_s.as_bytes()[0].is_ascii_digit() {
                let v = parse_int(src_s, 16).map_err(|e| match e {
                    NumErr::Range => err(vpos, format!("load: value {src_s} is too large")),
                    NumErr::Syntax => err(vpos, format!("load: garbage before `->' in `{value}'")),
                })?;
                let dst = parse_subfield(&value[i + 2..]).map_err(|e| err(dpos, e))?;
                if !fits(v, dst.n_bits) {
                    return Err(err(
                        vpos,
                        format!("{value}: value does not fit into {} bits", dst.n_bits),
                    ));
                }
                Ok(LearnSpec::Load {
                    dst,
                    src: LearnSrc::Imm(v),
                })
            } else {
                let (src, dst) = parse_move_pair(value, vpos)?;
                Ok(LearnSpec::Load {
                    dst,
                    src: LearnSrc::Field(src),
                })
            }
        }
        "output" => {
            let src = parse_subfield(value).map_err(|e| err(vpos, e))?;
            Ok(LearnSpec::Output { src })
        }
        _ => Err(err(t.key_pos, format!("learn: unknown keyword {name}"))),
    }
}

fn parse_ct(v: &str, vpos: usize, ports: &dyn PortNames, depth: u32) -> Result<Ct, ParseError> {
    let mut ct = Ct::default();
    for t in lex::tokenize(v, vpos)? {
        let p = t.value_pos;
        match t.key {
            "commit" => ct.commit = true,
            "force" => ct.force = true,
            "table" => {
                let n = parse_dec(t.value)
                    .filter(|n| *n <= 255)
                    .ok_or_else(|| err(p, format!("unknown table {}", t.value)))?;
                if n == 255 {
                    return Err(err(p, "invalid table 0xff"));
                }
                ct.table = Some(n as u8);
            }
            "zone" => {
                if let Some(z) = parse_uint(t.value, 0xffff) {
                    ct.zone = if z == 0 {
                        None
                    } else {
                        Some(CtZone::Imm(z as u16))
                    };
                } else {
                    let sf = parse_subfield(t.value).map_err(|e| err(p, e))?;
                    ct.zone = Some(CtZone::Field(sf));
                }
            }
            "alg" => match t.value {
                "ftp" | "tftp" => ct.alg = Some(t.value.to_string()),
                a => {
                    return Err(err(p, format!("{a}: unknown connection tracking helper")));
                }
            },
            "nat" => {
                if ct.nat.is_some() {
                    return Err(err(t.key_pos, "only one nat is supported in a ct action"));
                }
                ct.nat = Some(parse_nat(t.value, p)?);
            }
            "exec" => {
                let acts = parse_action_list(t.value, p, ports, Outer::Ct, depth + 1)?;
                ct.exec.extend(acts.into_iter().map(|(a, _)| a));
            }
            k => {
                return Err(err(
                    t.key_pos,
                    format!("invalid argument to \"ct\" action: `{k}'"),
                ));
            }
        }
    }
    if ct.force && !ct.commit {
        return Err(err(vpos, "\"force\" flag requires \"commit\" flag."));
    }
    Ok(ct)
}

fn parse_nat(v: &str, vpos: usize) -> Result<Nat, ParseError> {
    let mut n = Nat::default();
    let mut has_flags = false;
    for t in lex::tokenize(v, vpos)? {
        match t.key {
            "src" | "dst" => {
                let kind = if t.key == "src" {
                    NatKind::Src
                } else {
                    NatKind::Dst
                };
                if n.kind.is_some_and(|k| k != kind) {
                    return Err(err(
                        t.key_pos,
                        "May only specify one of \"src\" or \"dst\".",
                    ));
                }
                n.kind = Some(kind);
                if !t.value.is_empty() {
                    parse_nat_range(t.value, t.value_pos, &mut n)?;
                }
            }
            "persistent" => {
                n.persistent = true;
                has_flags = true;
            }
            "hash" => {
                n.hash = true;
                has_flags = true;
            }
            "random" => {
                n.random = true;
                has_flags = true;
            }
            k => {
                return Err(err(
                    t.key_pos,
                    format!("invalid key \"{k}\" in \"nat\" argument"),
                ));
            }
        }
    }
    if n.kind.is_none() && has_flags {
        return Err(err(vpos, "Flags allowed only with \"src\" or \"dst\"."));
    }
    if n.hash && n.random {
        return Err(err(vpos, "Both \"hash\" and \"random\" are not allowed."));
    }
    Ok(n)
}

/// Scans an address at the start of `s` (IPv4, IPv6, or `[IPv6]`); returns it and the
/// bytes consumed.
fn scan_nat_addr(s: &str) -> Option<(IpAddr, usize)> {
    let v4_len = s
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(s.len());
    if let Some(a) = lex::parse_ipv4(&s[..v4_len]) {
        return Some((IpAddr::V4(a.into()), v4_len));
    }
    if let Some(rest) = s.strip_prefix('[') {
        let close = rest.find(']')?;
        let a = lex::parse_ipv6(&rest[..close])?;
        return Some((IpAddr::V6(a.into()), close + 2));
    }
    let len = s
        .find(|c: char| !(c.is_ascii_hexdigit() || c == ':' || c == '.'))
        .unwrap_or(s.len());
    let a = lex::parse_ipv6(&s[..len])?;
    Some((IpAddr::V6(a.into()), len))
}

/// `str_to_nat_range`: `ADDR[-ADDR][:PORT[-PORT]]`.
fn parse_nat_range(s: &str, pos: usize, n: &mut Nat) -> Result<(), ParseError> {
    let invalid = || err(pos, format!("invalid nat range \"{s}\""));
    let (min, mut i) = scan_nat_addr(s).ok_or_else(invalid)?;
    let mut max = None;
    if s[i..].starts_with('-') {
        let (m, len) = scan_nat_addr(&s[i + 1..]).ok_or_else(invalid)?;
        let ordered = match (min, m) {
            (IpAddr::V4(a), IpAddr::V4(b)) => u32::from(b) >= u32::from(a),
            (IpAddr::V6(a), IpAddr::V6(b)) => u128::from(b) >= u128::from(a),
            _ => false,
        };
        if !ordered {
            return Err(invalid());
        }
        max = Some(m);
        i += 1 + len;
    }
    let mut pmin = None;
    let mut pmax = None;
    if s[i..].starts_with(':') {
        let rest = &s[i + 1..];
        let len = rest
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(rest.len());
        let a = parse_dec(&rest[..len])
            .filter(|x| *x <= 0xffff)
            .ok_or_else(invalid)? as u16;
        pmin = Some(a);
        i += 1 + len;
        if s[i..].starts_with('-') {
            let rest = &s[i + 1..];
            let len = rest
                .find(|c: char| !c.is_ascii_digit())
                .unwrap_or(rest.len());
            let b = parse_dec(&rest[..len])
                .filter(|x| *x <= 0xffff)
                .ok_or_else(invalid)? as u16;
            if b < a {
                return Err(invalid());
            }
            pmax = Some(b);
            i += 1 + len;
        }
    }
    if i != s.len() {
        return Err(err(
            pos + i,
            format!("garbage ({}) after nat range \"{s}\" (pos: {i})", &s[i..]),
        ));
    }
    n.addr_min = Some(min);
    n.addr_max = max.filter(|m| *m != min);
    n.port_min = pmin;
    n.port_max = pmax.filter(|m| Some(*m) != pmin);
    Ok(())
}

/// The field an action writes, if any.
fn dst_field(a: &Action) -> Option<Field> {
    match a {
        Action::SetField { field, .. } => Some(*field),
        Action::Load { dst, .. } | Action::Move { dst, .. } => Some(dst.field),
        _ => None,
    }
}

fn action_name(a: &Action) -> &'static str {
    match a {
        Action::Output { .. } | Action::OutputReg { .. } => "output",
        Action::Normal | Action::Flood | Action::All | Action::Local | Action::InPort => "output",
        Action::Controller { .. } => "controller",
        Action::Resubmit { .. } => "resubmit",
        Action::GotoTable(_) => "goto_table",
        Action::SetVlanVid { .. } => "set_vlan_vid",
        Action::SetVlanPcp { .. } => "set_vlan_pcp",
        Action::StripVlan => "strip_vlan",
        Action::PushVlan(_) => "push_vlan",
        Action::SetField {
            spelling: SetSpelling::WriteMetadata,
            ..
        } => "write_metadata",
        Action::SetField { .. } | Action::Load { .. } => "set_field",
        Action::Move { .. } => "move",
        Action::DecTtl => "dec_ttl",
        Action::Learn(_) => "learn",
        Action::Conjunction { .. } => "conjunction",
        Action::Ct(_) => "ct",
        Action::CtClear => "ct_clear",
        Action::SetQueue(_) => "set_queue",
        Action::PopQueue => "pop_queue",
        Action::Meter(_) => "meter",
        Action::Note(_) => "note",
        Action::Exit => "exit",
    }
}

/// OpenFlow 1.1+ instruction rank: meter, apply_actions, write_metadata, goto_table.
fn inst_rank(a: &Action) -> (u8, &'static str) {
    match a {
        Action::Meter(_) => (0, "meter"),
        Action::SetField {
            spelling: SetSpelling::WriteMetadata,
            ..
        } => (4, "write_metadata"),
        Action::GotoTable(_) => (5, "goto_table"),
        _ => (1, "apply_actions"),
    }
}

/// `ofpacts_verify`: conjunction only with note, ct_mark only inside ct(exec()), only
/// ct_mark writes inside ct(exec()), instructions in OpenFlow order.
fn verify(acts: &Acts, outer: Outer) -> Result<(), ParseError> {
    if acts
        .iter()
        .any(|(a, _)| matches!(a, Action::Conjunction { .. }))
    {
        if let Some((a, p)) = acts
            .iter()
            .find(|(a, _)| !matches!(a, Action::Conjunction { .. } | Action::Note(_)))
        {
            return Err(err(
                *p,
                format!(
                    "\"conjunction\" actions may be used along with \"note\" but not any other \
                     kind of action (such as the \"{}\" action used here)",
                    action_name(a)
                ),
            ));
        }
        return Ok(());
    }
    let mut prev: Option<(u8, &'static str)> = None;
    for (a, p) in acts {
        let f = dst_field(a);
        match outer {
            Outer::Top => {
                if f == Some(Field::CtMark) {
                    return Err(err(*p, "cannot set CT fields outside of ct action"));
                }
            }
            Outer::Ct => match f {
                Some(Field::CtMark) => {}
                Some(f) => {
                    return Err(err(
                        *p,
                        format!(
                            "ct action doesn't support nested modification of {}",
                            ovs_name(f)
                        ),
                    ))
                }
                None => {
                    return Err(err(
                        *p,
                        format!("ct action doesn't support nested action {}", action_name(a)),
                    ))
                }
            },
        }
        let next = inst_rank(a);
        if let Some(inst) = prev {
            let bad = if inst.0 == 1 {
                next.0 < inst.0
            } else {
                next.0 <= inst.0
            };
            if bad {
                let msg = if next.0 == inst.0 {
                    format!(
                        "duplicate {} instruction not allowed, for OpenFlow 1.1+ compatibility",
                        inst.1
                    )
                } else {
                    format!(
                        "invalid instruction ordering: {} must appear before {}, for OpenFlow \
                         1.1+ compatibility",
                        next.1, inst.1
                    )
                };
                return Err(err(*p, msg));
            }
        }
        prev = Some(next);
    }
    Ok(())
}

/// The flow as `ofpacts_check` sees it while walking the actions: the match's values,
/// with VLAN headers pushed and popped by the actions.
struct FlowState {
    key: FlowKey,
    vlans: [u16; 2],
}

impl FlowState {
    fn new(m: &Match) -> FlowState {
        FlowState {
            key: m.key,
            vlans: [m.key.vlan_tci(), 0],
        }
    }
    fn get(&self, f: Field) -> u128 {
        f.get(&self.key)
    }
    fn dl_type(&self) -> u16 {
        self.get(Field::EthType) as u16
    }
    fn nw_proto(&self) -> u8 {
        self.get(Field::IpProto) as u8
    }
    fn is_ip(&self) -> bool {
        matches!(self.dl_type(), ETH_TYPE_IP | ETH_TYPE_IPV6)
    }
    fn not_later(&self) -> bool {
        self.get(Field::IpFrag) as u8 & FRAG_LATER == 0
    }
    fn icmp6(&self) -> bool {
        self.dl_type() == ETH_TYPE_IPV6 && self.nw_proto() == IPPROTO_ICMPV6
    }
    fn nd(&self) -> bool {
        self.icmp6() && self.get(Field::TpDst) == 0 && matches!(self.get(Field::TpSrc), 135 | 136)
    }

    /// `mf_are_prereqs_ok`.
    fn prereq_ok(&self, p: Prereq) -> bool {
        let dl = self.dl_type();
        match p {
            Prereq::None => true,
            Prereq::Vlan => self.vlans[0] & VLAN_CFI != 0,
            Prereq::Arp => dl == ETH_TYPE_ARP || dl == ETH_TYPE_RARP,
            Prereq::Ipv4 => dl == ETH_TYPE_IP,
            Prereq::Ipv6 => dl == ETH_TYPE_IPV6,
            Prereq::Ip => self.is_ip(),
            Prereq::Tcp => self.is_ip() && self.nw_proto() == IPPROTO_TCP && self.not_later(),
            Prereq::Udp => self.is_ip() && self.nw_proto() == IPPROTO_UDP && self.not_later(),
            Prereq::Sctp => self.is_ip() && self.nw_proto() == IPPROTO_SCTP && self.not_later(),
            Prereq::Icmp => dl == ETH_TYPE_IP && self.nw_proto() == IPPROTO_ICMP,
            Prereq::Icmpv6 => self.icmp6(),
            Prereq::Nd => self.nd(),
            Prereq::NdSolicit => self.nd() && self.get(Field::TpSrc) == 135,
            Prereq::NdAdvert => self.nd() && self.get(Field::TpSrc) == 136,
        }
    }
}

fn prereq_desc(p: Prereq) -> &'static str {
    match p {
        Prereq::None => "nothing",
        Prereq::Vlan => "a VLAN header (dl_vlan=/vlan_tci= in the match, or a preceding push_vlan)",
        Prereq::Arp => "arp or rarp",
        Prereq::Ipv4 => "ip (dl_type=0x0800)",
        Prereq::Ipv6 => "ipv6 (dl_type=0x86dd)",
        Prereq::Ip => "ip or ipv6",
        Prereq::Tcp => "tcp or tcp6 (and not a later fragment)",
        Prereq::Udp => "udp or udp6 (and not a later fragment)",
        Prereq::Sctp => "sctp or sctp6 (and not a later fragment)",
        Prereq::Icmp => "icmp",
        Prereq::Icmpv6 => "icmp6",
        Prereq::Nd => "icmp6 with icmp_type=135 or 136 and icmp_code=0",
        Prereq::NdSolicit => "icmp6 with icmp_type=135 and icmp_code=0",
        Prereq::NdAdvert => "icmp6 with icmp_type=136 and icmp_code=0",
    }
}

fn prereq_err(pos: usize, what: &str, f: Field, p: Prereq) -> ParseError {
    err(
        pos,
        format!(
            "{what} field {} lacks correct prerequisites: the match must include {}",
            ovs_name(f),
            prereq_desc(p)
        ),
    )
}

fn check_sub(st: &FlowState, sf: &SubField, what: &str, pos: usize) -> Result<(), ParseError> {
    let p = sf.field.info().prereq;
    if !st.prereq_ok(p) {
        return Err(prereq_err(pos, what, sf.field, p));
    }
    Ok(())
}

fn check_dst(st: &FlowState, sf: &SubField, pos: usize) -> Result<(), ParseError> {
    check_sub(st, sf, "destination", pos)?;
    if !sf.field.info().writable {
        return Err(err(
            pos,
            format!("destination field {} is not writable", ovs_name(sf.field)),
        ));
    }
    Ok(())
}

/// `check_SET_FIELD` (also for `load:`): prerequisites, and `vlan_vid` needs a VLAN
/// header; writing `vlan_tci` replaces the header state.
fn check_set(st: &mut FlowState, f: Field, value: u128, pos: usize) -> Result<(), ParseError> {
    let p = f.info().prereq;
    if !st.prereq_ok(p) {
        return Err(prereq_err(pos, "set_field", f, p));
    }
    if f == Field::VlanVid && st.vlans[0] & VLAN_CFI == 0 {
        return Err(prereq_err(pos, "set_field", f, Prereq::Vlan));
    }
    if f == Field::VlanTci {
        st.vlans[0] = value as u16;
    }
    Ok(())
}

/// `ofpacts_check`: match/action consistency. `table` is the flow's `table=`.
pub(crate) fn check_actions(acts: &Acts, m: &Match, table: Option<u8>) -> Result<(), ParseError> {
    let mut st = FlowState::new(m);
    check_list(&mut st, acts.iter().map(|(a, p)| (a, *p)), table)
}

fn check_list<'a>(
    st: &mut FlowState,
    acts: impl Iterator<Item = (&'a Action, usize)>,
    table: Option<u8>,
) -> Result<(), ParseError> {
    for (a, pos) in acts {
        match a {
            Action::Output { port, .. } => {
                let ok = *port < ofpp::MAX
                    || matches!(
                        *port,
                        ofpp::IN_PORT
                            | ofpp::TABLE
                            | ofpp::NORMAL
                            | ofpp::FLOOD
                            | ofpp::ALL
                            | ofpp::CONTROLLER
                            | ofpp::LOCAL
                    );
                if !ok || *port == OFPP_UNSET {
                    return Err(err(
                        pos,
                        format!(
                            "output to invalid port {}",
                            crate::flow::format::format_port(*port)
                        ),
                    ));
                }
            }
            Action::OutputReg { src, .. } => check_sub(st, src, "source", pos)?,
            Action::SetField {
                field,
                value,
                spelling,
                ..
            } => {
                if matches!(spelling, SetSpelling::SetField | SetSpelling::Load) {
                    check_set(st, *field, *value, pos)?;
                }
            }
            Action::Load { dst, value } => {
                check_set(st, dst.field, value << dst.ofs, pos)?;
            }
            Action::Move { src, dst } => {
                check_sub(st, src, "source", pos)?;
                check_dst(st, dst, pos)?;
            }
            Action::SetVlanVid { .. } | Action::SetVlanPcp { .. } => st.vlans[0] |= VLAN_CFI,
            Action::StripVlan => st.vlans = [st.vlans[1], 0],
            Action::PushVlan(_) => {
                if st.vlans[1] & VLAN_CFI != 0 {
                    return Err(err(pos, "push_vlan: at most 2 VLAN headers are supported"));
                }
                st.vlans = [st.vlans[0] | VLAN_CFI, st.vlans[0]];
            }
            Action::Learn(l) => check_learn(st, l, pos)?,
            Action::Ct(ct) => check_ct(st, ct, pos, table)?,
            Action::GotoTable(t) => {
                if let Some(cur) = table {
                    if *t <= cur {
                        return Err(err(
                            pos,
                            format!(
                                "goto_table:{t} must go to a later table than this flow's \
                                 table ({cur})"
                            ),
                        ));
                    }
                }
            }
            _ => {}
        }
    }
    Ok(())
}

/// `learn_check`: sources against the flow's match; destinations against the match the
/// learned flow will have (built from the immediate-value matches seen so far).
fn check_learn(st: &FlowState, l: &Learn, pos: usize) -> Result<(), ParseError> {
    let mut learned = Match::catchall();
    for spec in &l.specs {
        let dst_state = FlowState::new(&learned);
        match spec {
            LearnSpec::Match { dst, src } => {
                if let LearnSrc::Field(sf) = src {
                    check_sub(st, sf, "source", pos)?;
                }
                check_sub(&dst_state, dst, "learned match", pos)?;
                if let LearnSrc::Imm(v) = src {
                    let (ov, om) = learned.get(dst.field);
                    let fm = dst.field_mask();
                    learned.set_masked(dst.field, (ov & !fm) | ((v << dst.ofs) & fm), om | fm);
                }
            }
            LearnSpec::Load { dst, src } => {
                if let LearnSrc::Field(sf) = src {
                    check_sub(st, sf, "source", pos)?;
                }
                check_sub(&dst_state, dst, "learned destination", pos)?;
                if !dst.field.info().writable {
                    return Err(err(
                        pos,
                        format!("destination field {} is not writable", ovs_name(dst.field)),
                    ));
                }
            }
            LearnSpec::Output { src } => check_sub(st, src, "source", pos)?,
        }
    }
    Ok(())
}

fn check_ct(st: &mut FlowState, ct: &Ct, pos: usize, table: Option<u8>) -> Result<(), ParseError> {
    if !st.is_ip() {
        return Err(err(
            pos,
            "ct lacks correct prerequisites: the match must include ip or ipv6",
        ));
    }
    if ct.commit && st.get(Field::CtState) & 0x10 != 0 {
        return Err(err(
            pos,
            "ct(commit) is not allowed on a flow that matches ct_state=+inv",
        ));
    }
    match ct.alg.as_deref() {
        Some("ftp") if st.nw_proto() != IPPROTO_TCP => {
            return Err(err(pos, "ct(alg=ftp) needs tcp in the match"));
        }
        Some("tftp") if st.nw_proto() != IPPROTO_UDP => {
            return Err(err(pos, "ct(alg=tftp) needs udp in the match"));
        }
        _ => {}
    }
    if let Some(CtZone::Field(sf)) = &ct.zone {
        // Open vSwitch checks only the zone source in this case.
        return check_sub(st, sf, "source", pos);
    }
    if let Some(n) = &ct.nat {
        let dl = st.dl_type();
        let ok = match n.addr_min {
            Some(IpAddr::V4(_)) => dl == ETH_TYPE_IP,
            Some(IpAddr::V6(_)) => dl == ETH_TYPE_IPV6,
            None => true,
        };
        if !ok {
            return Err(err(
                pos,
                "nat address family does not match the flow's ip/ipv6 match",
            ));
        }
    }
    check_list(st, ct.exec.iter().map(|a| (a, pos)), table)
}
