//! ovs-ofctl flow text parser.
//!
//! Accepts the flow syntax of `ovs-ofctl add-flow`/`mod-flows`/`del-flows`/
//! `dump-flows` (Open vSwitch 3.1, OpenFlow 1.0 and 1.3 forms plus the Nicira
//! extensions), including the output of `ovs-ofctl dump-flows` itself (the
//! `duration=`, `n_packets=`, `n_bytes=`, `idle_age=` and `hard_age=` statistics are
//! ignored, as Open vSwitch ignores them).
//!
//! Behaviour copied from Open vSwitch (by reading its sources; no code was taken):
//! - tokenizing (`ofputil_parse_key_value`): `key[=value]`, `key:value`, `key(value)`
//!   elements separated by commas and/or white space; values may contain balanced
//!   parentheses. The actions are whatever follows the first `=` after the first
//!   occurrence of `action` in the line (`ofp_extract_actions`), so
//!   `tun_id=0x2actions=...` parses.
//! - match fields whose prerequisites are missing are **silently dropped**, exactly as
//!   `ovs-ofctl` does when it encodes the flow for the switch (`nw_src=10.0.0.1` without
//!   `ip` matches everything). [`parse_flow_with_warnings`] reports what was dropped.
//! - actions whose prerequisites are missing are **errors** (`set_field:..->ip_dst`
//!   without `ip`, `move:NXM_OF_ARP_SPA[]->..` without `arp`, `ct()` without `ip`/`ipv6`,
//!   `set_field:..->vlan_vid` with no VLAN header), as `ovs-ofctl` rejects them with
//!   `OFPBAC_MATCH_INCONSISTENT`. Our message names the field and the prerequisite.
//! - values are range-checked against Open vSwitch's field sizes ("value too large
//!   for 2-byte field tcp_dst"); within that size, narrower fields are truncated like
//!   Open vSwitch does (`dl_vlan=5000` is `dl_vlan=904`, `nw_tos=3` is `nw_tos=0`).
//!
//! Differences: unbalanced parentheses are an error (Open vSwitch silently closes
//! them); `resubmit` to table 255 is an error; every OpenFlow version's syntax is
//! accepted at once (no "usable protocol" negotiation), so OpenFlow 1.3-only forms such
//! as `push_vlan:0x8100,set_field:4097->vlan_vid` parse.

use std::collections::HashMap;
use std::fmt;

use super::action::Action;
use super::field::{Field, Fmt, SubField};
use super::format::{
    ct_state_name, tcp_flag_name, ETH_TYPE_ARP, ETH_TYPE_IP, ETH_TYPE_IPV6, ETH_TYPE_RARP,
    IPPROTO_ICMP, IPPROTO_ICMPV6, IPPROTO_SCTP, IPPROTO_TCP, IPPROTO_UDP,
};
use super::key::{FRAG_ANY, FRAG_LATER, VLAN_CFI};
use super::{FlowSpec, Match};

mod actions;
pub(crate) mod lex;

#[cfg(test)]
mod tests;

#[cfg(test)]
mod fixture_tests;

#[cfg(test)]
mod proptests;

use lex::{parse_dec, parse_int, parse_uint, strtoull, NumErr, Tok};

/// Resolves port names such as `patch-tun` (in `in_port=`, `output:`, `resubmit(..)`,
/// `out_port=`, learn immediates) to OpenFlow port numbers.
pub trait PortNames {
    fn port_no(&self, name: &str) -> Option<u32>;
}

/// No port names known: only numbers and reserved names (`LOCAL`, ...) are ports.
pub struct NoPortNames;

impl PortNames for NoPortNames {
    fn port_no(&self, _name: &str) -> Option<u32> {
        None
    }
}

impl<S: std::hash::BuildHasher> PortNames for HashMap<String, u32, S> {
    fn port_no(&self, name: &str) -> Option<u32> {
        self.get(name).copied()
    }
}

/// What kind of flow text is being parsed.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum ParseMode {
    /// `add-flow`: `actions=` is required; `cookie=` sets the cookie (no mask).
    Add,
    /// `mod-flows`: like `Add`, but `actions=` may be left out (then
    /// [`FlowSpec::actions`] is `None`), `cookie=V/M` selects flows by cookie and
    /// `importance=` is not accepted.
    Modify,
    /// `del-flows`/`dump-flows` (and packet descriptions): no actions; `priority=`,
    /// `table=`, `out_port=` and `cookie=V/M` are optional filters.
    Match,
}

/// A flow text error: what is wrong, and where.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseError {
    /// 0-based byte offset of the offending token in the input line.
    pub pos: usize,
    pub msg: String,
}

impl ParseError {
    pub(crate) fn new(pos: usize, msg: impl Into<String>) -> ParseError {
        ParseError {
            pos,
            msg: msg.into(),
        }
    }
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "column {}: {}", self.pos + 1, self.msg)
    }
}

impl std::error::Error for ParseError {}

/// Parses one flow line.
pub fn parse_flow(s: &str, mode: ParseMode, ports: &dyn PortNames) -> Result<FlowSpec, ParseError> {
    parse_flow_with_warnings(s, mode, ports).map(|(f, _)| f)
}

/// Like [`parse_flow`], and also returns the non-fatal diagnostics Open vSwitch would
/// log (match fields dropped for missing prerequisites, ignored flags).
pub fn parse_flow_with_warnings(
    s: &str,
    mode: ParseMode,
    ports: &dyn PortNames,
) -> Result<(FlowSpec, Vec<String>), ParseError> {
    let mut warnings = Vec::new();
    let mut spec = FlowSpec::default();

    let (match_str, act) = match mode {
        ParseMode::Add | ParseMode::Modify => match find_actions(s) {
            Some((m, a, apos)) => (m, Some((a, apos))),
            None if mode == ParseMode::Add || s.contains("action") => {
                return Err(ParseError::new(
                    s.len(),
                    "must specify an action (missing \"actions=\")",
                ))
            }
            None => (s, None),
        },
        ParseMode::Match => (s, None),
    };

    for tok in lex::tokenize(match_str, 0)? {
        parse_match_token(&mut spec, &tok, mode, ports, &mut warnings)?;
    }

    for name in normalize_match(&mut spec.m) {
        warnings.push(format!(
            "{name} was dropped from the match: its prerequisites are not matched"
        ));
    }

    if let Some((astr, apos)) = act {
        let acts = actions::parse_action_list(astr, apos, ports, actions::Outer::Top, 0)?;
        actions::check_actions(&acts, &spec.m, spec.table)?;
        spec.actions = Some(acts.into_iter().map(|(a, _)| a).collect());
    }
    Ok((spec, warnings))
}

/// Parses a match (a `del-flows`/`dump-flows` filter or a packet description such as
/// `in_port=1,tcp,nw_dst=10.0.0.1,tp_dst=80`); returns it with its `priority=`, if any.
/// `table=`, `cookie=V/M` and `out_port=` are accepted and not returned; `actions=` is
/// an error.
pub fn parse_match(s: &str, ports: &dyn PortNames) -> Result<(Match, Option<u16>), ParseError> {
    let spec = parse_flow(s, ParseMode::Match, ports)?;
    Ok((spec.m, spec.priority))
}

/// Parses an action list (the text after `actions=`). Checks everything that does not
/// depend on a match (syntax, values, `drop` alone, `conjunction` only with `note`,
/// instruction order, what may go inside `ct(exec(..))`); prerequisite checks against
/// a match happen in [`parse_flow`].
pub fn parse_actions(s: &str, ports: &dyn PortNames) -> Result<Vec<Action>, ParseError> {
    let acts = actions::parse_action_list(s, 0, ports, actions::Outer::Top, 0)?;
    Ok(acts.into_iter().map(|(a, _)| a).collect())
}

/// `NXM_NX_REG6[0..15]`, `NXM_OF_ETH_DST[]`, `reg0[3]`, `tun_id` (whole field).
pub fn parse_subfield(s: &str) -> Result<SubField, ParseError> {
    actions::parse_subfield(s).map_err(|m| ParseError::new(0, m))
}

/// `ofp_extract_actions`: the match text, the actions text and its offset.
fn find_actions(s: &str) -> Option<(&str, &str, usize)> {
    let i = s.find("action")?;
    let j = s[i + 1..].find('=')? + i + 1;
    Some((&s[..i], &s[j + 1..], j + 1))
}

/// Protocol shorthands: (name, dl_type, nw_proto).
const PROTOCOLS: &[(&str, u16, u8)] = &[
    ("ip", ETH_TYPE_IP, 0),
    ("ipv4", ETH_TYPE_IP, 0),
    ("ip4", ETH_TYPE_IP, 0),
    ("arp", ETH_TYPE_ARP, 0),
    ("icmp", ETH_TYPE_IP, IPPROTO_ICMP),
    ("tcp", ETH_TYPE_IP, IPPROTO_TCP),
    ("udp", ETH_TYPE_IP, IPPROTO_UDP),
    ("sctp", ETH_TYPE_IP, IPPROTO_SCTP),
    ("ipv6", ETH_TYPE_IPV6, 0),
    ("ip6", ETH_TYPE_IPV6, 0),
    ("icmp6", ETH_TYPE_IPV6, IPPROTO_ICMPV6),
    ("tcp6", ETH_TYPE_IPV6, IPPROTO_TCP),
    ("udp6", ETH_TYPE_IPV6, IPPROTO_UDP),
    ("sctp6", ETH_TYPE_IPV6, IPPROTO_SCTP),
    ("rarp", ETH_TYPE_RARP, 0),
];

/// Field names Open vSwitch knows that xvs does not implement.
fn unsupported_field(name: &str) -> bool {
    const NAMES: &[&str] = &[
        "ipv6_label",
        "ct_label",
        "in_port_oxm",
        "actset_output",
        "skb_priority",
        "dp_hash",
        "packet_type",
        "tun_ttl",
        "tun_tos",
        "tun_gbp_id",
        "tun_gbp_flags",
        "tun_ipv6_src",
        "tun_ipv6_dst",
        "nd_reserved",
        "nd_options_type",
        "ct_nw_proto",
        "mpls",
        "mplsm",
    ];
    const PREFIXES: &[&str] = &[
        "tun_metadata",
        "tun_erspan",
        "tun_gtpu",
        "nsh_",
        "mpls_",
        "ct_nw_",
        "ct_ipv6_",
        "ct_tp_",
        "xxreg",
        "NXM_NX_XXREG",
        "dl_vlan1",
        "vlan_tci1",
    ];
    if NAMES.contains(&name) || PREFIXES.iter().any(|p| name.starts_with(p)) {
        return true;
    }
    let num = |prefix: &str| {
        name.strip_prefix(prefix)
            .and_then(|n| n.parse::<u32>().ok())
    };
    matches!(num("reg"), Some(8..=15))
        || matches!(num("NXM_NX_REG"), Some(8..=15))
        || matches!(num("xreg"), Some(4..=7))
}

/// Open vSwitch's byte size of each field (values are range-checked against it).
pub(crate) fn ovs_nbytes(f: Field) -> u32 {
    use Field::*;
    match f {
        InPort | VlanTci | VlanVid | DlVlan | EthType | ArpOp | TpSrc | TpDst | TcpSrc | TcpDst
        | UdpSrc | UdpDst | SctpSrc | SctpDst | TcpFlags | CtZone => 2,
        DlVlanPcp | IpProto | NwTos | IpDscp | NwEcn | NwTtl | IpFrag | IcmpType | IcmpCode
        | Icmpv6Type | Icmpv6Code => 1,
        EthDst | EthSrc | ArpSha | ArpTha | NdSll | NdTll => 6,
        Ipv6Src | Ipv6Dst | NdTarget => 16,
        TunId | Metadata | Xreg0 | Xreg1 | Xreg2 | Xreg3 => 8,
        _ => 4,
    }
}

fn split_mask(s: &str) -> (&str, Option<&str>) {
    match s.split_once('/') {
        Some((a, b)) => (a, Some(b)),
        None => (s, None),
    }
}

/// `mf_parse`: a field value with optional mask in the field's syntax. Returns
/// (value, mask) over Open vSwitch's field size; `*` is a wildcard (mask 0).
pub(crate) fn parse_field_value(
    f: Field,
    s: &str,
    ports: &dyn PortNames,
) -> Result<(u128, u128), String> {
    if s == "*" {
        return Ok((0, 0));
    }
    let nb = ovs_nbytes(f);
    let full: u128 = if nb >= 16 {
        u128::MAX
    } else {
        (1u128 << (8 * nb)) - 1
    };
    let name = f.name();
    let (v, m) = match f.info().fmt {
        Fmt::Mac => {
            let bad = || format!("{s}: invalid Ethernet address");
            let (a, b) = split_mask(s);
            let v = lex::parse_mac(a).ok_or_else(bad)?;
            let m = match b {
                Some(b) => lex::parse_mac(b).ok_or_else(bad)?,
                None => full,
            };
            (v, m)
        }
        Fmt::Ipv4 => {
            let (v, m) = lex::parse_ipv4_masked(s)?;
            (v as u128, m as u128)
        }
        Fmt::Ipv6 => lex::parse_ipv6_masked(s)?,
        Fmt::Port => {
            let p = lex::parse_port(s, ports)
                .filter(|p| *p <= 0xffff)
                .ok_or_else(|| format!("{s}: invalid or unknown port for {name}"))?;
            (p as u128, full)
        }
        Fmt::Frag => {
            const A: u128 = FRAG_ANY as u128;
            const L: u128 = FRAG_LATER as u128;
            let table: [(&str, u128, u128); 7] = [
                ("no", A | L, 0),
                ("first", A | L, A),
                ("later", A | L, A | L),
                ("no", A, 0),
                ("yes", A, A),
                ("not_later", L, 0),
                ("later", L, L),
            ];
            let (_, m, v) = table
                .iter()
                .find(|(n, _, _)| n.eq_ignore_ascii_case(s))
                .ok_or_else(|| {
                    format!(
                        "{s}: unknown fragment type (valid types are \"no\", \"yes\", \
                         \"first\", \"later\", \"not_later\")"
                    )
                })?;
            (*v, *m | 0xfc)
        }
        Fmt::TcpFlags => {
            let (v, m) = lex::parse_flags(s, tcp_flag_name, 0x0fff, "TCP")?;
            (v as u128, (m & 0xffff) as u128)
        }
        Fmt::CtState => {
            let (v, m) = lex::parse_flags(s, ct_state_name, 0xff, "ct_state")?;
            (v as u128, m as u128)
        }
        Fmt::TunFlags => {
            let (v, m) = lex::parse_flags(s, crate::flow::format::tun_flag_name, 0x01, "tunnel")?;
            (v as u128, m as u128)
        }
        Fmt::Dec | Fmt::Hex => {
            let (a, b) = split_mask(s);
            let num = |x: &str, what: &str| {
                parse_int(x, nb).map_err(|e| match e {
                    NumErr::Range => {
                        format!("{s}: {what} too large for {nb}-byte field {name}")
                    }
                    NumErr::Syntax => format!("{s}: bad syntax for {name} {what}"),
                })
            };
            let v = num(a, "value")?;
            let m = match b {
                Some(b) => num(b, "mask")?,
                None => full,
            };
            (v, m)
        }
    };
    if !f.info().maskable && m & full != full && m != 0 {
        return Err(format!(
            "{s}: invalid mask for field {name} (it is not maskable)"
        ));
    }
    Ok((v, m))
}

/// OR-merges `v`/`mask` into the match's bits of `f` (other bits of `f` kept).
fn merge_bits(m: &mut Match, f: Field, v: u128, mask: u128) {
    let (ov, om) = m.get(f);
    m.set_masked(f, (ov & !mask) | (v & mask), om | mask);
}

/// Applies a parsed `field=value/mask` to a match with Open vSwitch's semantics for
/// the fields that are views of others (`dl_vlan`, `vlan_vid`, `dl_vlan_pcp`,
/// `nw_tos`, `ip_dscp`, `nw_ecn`, ICMP type/code, `arp_op`).
pub(crate) fn apply_match_value(m: &mut Match, f: Field, v: u128, mask: u128) {
    use Field::*;
    let wild = mask == 0;
    match f {
        DlVlan => {
            if wild {
                m.set_masked(VlanVid, 0, 0);
            } else if v == 0xffff {
                m.set_masked(VlanTci, 0, 0xffff);
            } else {
                m.set_masked(VlanVid, VLAN_CFI as u128 | (v & 0x0fff), 0x1fff);
            }
        }
        VlanVid => m.set_masked(VlanVid, v & mask & 0x1fff, mask & 0x1fff),
        DlVlanPcp => {
            if wild {
                m.set_masked(DlVlanPcp, 0, 0);
            } else {
                merge_bits(m, VlanTci, ((v & 7) << 13) | VLAN_CFI as u128, 0xf000);
            }
        }
        NwTos => m.set_masked(IpDscp, (v & 0xfc) >> 2, if wild { 0 } else { 0x3f }),
        IpDscp => m.set_masked(IpDscp, v & 0x3f, if wild { 0 } else { 0x3f }),
        NwEcn => m.set_masked(NwEcn, v & 3, if wild { 0 } else { 3 }),
        IcmpType | Icmpv6Type => m.set_masked(TpSrc, v & 0xff, if wild { 0 } else { 0xffff }),
        IcmpCode | Icmpv6Code => m.set_masked(TpDst, v & 0xff, if wild { 0 } else { 0xffff }),
        ArpOp => m.set_masked(ArpOp, v & 0xff, if wild { 0 } else { 0xff }),
        _ => m.set_masked(f, v & mask, mask),
    }
}

/// Drops the match fields whose prerequisites are not matched, as Open vSwitch does
/// when it encodes a flow (NXM `nx_put_raw` / OpenFlow 1.0 normalization): IPv4
/// addresses need `ip` or `arp`/`rarp`; IPv6 addresses `ipv6`; `nw_proto` an IP or ARP
/// type; `nw_tos`/`nw_ecn`/`nw_ttl`/`ip_frag` `ip` or `ipv6`; L4 ports TCP, UDP, SCTP or
/// ICMP; `tcp_flags` TCP; `arp_sha`/`arp_tha` ARP or an ND solicit/advert; `nd_target`
/// ND. Returns the names of the dropped fields.
pub fn normalize_match(m: &mut Match) -> Vec<&'static str> {
    use Field::*;
    let dl_type = m.get(EthType).0 as u16;
    let ipv4 = dl_type == ETH_TYPE_IP;
    let ipv6 = dl_type == ETH_TYPE_IPV6;
    let arp = dl_type == ETH_TYPE_ARP || dl_type == ETH_TYPE_RARP;
    let ip = ipv4 || ipv6;
    let proto = m.get(IpProto).0 as u8;
    let tp_src = m.get(TpSrc).0;
    let tp_dst = m.get(TpDst).0;
    let icmp4 = ipv4 && proto == IPPROTO_ICMP;
    let icmp6 = ipv6 && proto == IPPROTO_ICMPV6;
    let tp_ok = (ip && matches!(proto, IPPROTO_TCP | IPPROTO_UDP | IPPROTO_SCTP)) || icmp4 || icmp6;
    let nd = icmp6 && tp_dst == 0 && (tp_src == 135 || tp_src == 136);
    let checks: [(Field, &'static str, bool); 14] = [
        (Ipv4Src, "nw_src", ipv4 || arp),
        (Ipv4Dst, "nw_dst", ipv4 || arp),
        (Ipv6Src, "ipv6_src", ipv6),
        (Ipv6Dst, "ipv6_dst", ipv6),
        (IpProto, "nw_proto", ip || arp),
        (NwTos, "nw_tos", ip),
        (NwTtl, "nw_ttl", ip),
        (IpFrag, "ip_frag", ip),
        (TpSrc, "tp_src", tp_ok),
        (TpDst, "tp_dst", tp_ok),
        (TcpFlags, "tcp_flags", ip && proto == IPPROTO_TCP),
        (ArpSha, "arp_sha", arp || (nd && tp_src == 135)),
        (ArpTha, "arp_tha", arp || (nd && tp_src == 136)),
        (NdTarget, "nd_target", nd),
    ];
    let mut dropped = Vec::new();
    for (f, name, ok) in checks {
        if !ok && !m.is_wild(f) {
            m.set_masked(f, 0, 0);
            dropped.push(name);
        }
    }
    dropped
}

fn keyword_err(tok: &Tok, mode: ParseMode) -> ParseError {
    let what = match mode {
        ParseMode::Add => "add-flow",
        ParseMode::Modify => "mod-flows",
        ParseMode::Match => "a match (del-flows/dump-flows)",
    };
    ParseError::new(
        tok.key_pos,
        format!("'{}' is not allowed in {what}", tok.key),
    )
}

fn parse_match_token(
    spec: &mut FlowSpec,
    tok: &Tok,
    mode: ParseMode,
    ports: &dyn PortNames,
    warnings: &mut Vec<String>,
) -> Result<(), ParseError> {
    let key = tok.key;
    let flags_ok = mode != ParseMode::Match;

    if let Some((_, dl, proto)) = PROTOCOLS.iter().find(|(n, _, _)| *n == key) {
        spec.m.set(Field::EthType, *dl as u128);
        if *proto != 0 {
            spec.m.set(Field::IpProto, *proto as u128);
        }
        return Ok(());
    }
    match key {
        "eth" | "no_readonly_table" | "allow_hidden_fields" => return Ok(()),
        "send_flow_rem" if flags_ok => {
            spec.send_flow_rem = true;
            return Ok(());
        }
        "check_overlap" if flags_ok => {
            spec.check_overlap = true;
            return Ok(());
        }
        "reset_counts" | "no_packet_counts" | "no_byte_counts" if flags_ok => {
            warnings.push(format!("flag {key} is ignored"));
            return Ok(());
        }
        _ => {}
    }
    if mode == ParseMode::Match && key.starts_with("action") {
        return Err(ParseError::new(
            tok.key_pos,
            "actions are not allowed when matching flows (del-flows/dump-flows)",
        ));
    }
    if let Some(f) = Field::from_name(key) {
        let value = if tok.value.is_empty() {
            "0/0"
        } else {
            tok.value
        };
        let (v, mask) =
            parse_field_value(f, value, ports).map_err(|e| ParseError::new(tok.value_pos, e))?;
        apply_match_value(&mut spec.m, f, v, mask);
        return Ok(());
    }
    if key.contains('[') {
        let sf = actions::parse_subfield(key).map_err(|e| ParseError::new(tok.key_pos, e))?;
        let nb = ovs_nbytes(sf.field);
        let v = parse_int(tok.value, nb).map_err(|_| {
            ParseError::new(
                tok.value_pos,
                format!("{key}: cannot parse integer value: {}", tok.value),
            )
        })?;
        if sf.n_bits < 128 && v >> sf.n_bits != 0 {
            return Err(ParseError::new(
                tok.value_pos,
                format!(
                    "{key}: value {} does not fit into {} bits",
                    tok.value, sf.n_bits
                ),
            ));
        }
        // Like Open vSwitch: the bits are merged into the field's current value and
        // mask; a field that cannot be matched with a mask must end up fully matched.
        let f = sf.field;
        let (ov, om) = spec.m.get(f);
        let fm = sf.field_mask();
        let (nv, nm) = ((ov & !fm) | ((v << sf.ofs) & fm), om | fm);
        if f.info().maskable {
            spec.m.set_masked(f, nv, nm);
        } else if nm == f.all_ones() {
            apply_match_value(&mut spec.m, f, nv, nm);
        } else {
            return Err(ParseError::new(
                tok.key_pos,
                format!(
                    "{key}: field {} cannot be matched partially (it is not maskable)",
                    f.name()
                ),
            ));
        }
        return Ok(());
    }
    if unsupported_field(key) {
        return Err(ParseError::new(
            tok.key_pos,
            format!("field '{key}' is not supported by xvs"),
        ));
    }
    let known = matches!(
        key,
        "table"
            | "out_port"
            | "out_group"
            | "priority"
            | "idle_timeout"
            | "hard_timeout"
            | "importance"
            | "cookie"
            | "duration"
            | "n_packets"
            | "n_bytes"
            | "idle_age"
            | "hard_age"
            | "send_flow_rem"
            | "check_overlap"
            | "reset_counts"
            | "no_packet_counts"
            | "no_byte_counts"
    );
    if !known {
        return Err(ParseError::new(
            tok.key_pos,
            format!("unknown field '{key}'"),
        ));
    }
    if tok.value.is_empty() {
        if matches!(
            key,
            "send_flow_rem"
                | "check_overlap"
                | "reset_counts"
                | "no_packet_counts"
                | "no_byte_counts"
        ) {
            return Err(keyword_err(tok, mode));
        }
        return Err(ParseError::new(
            tok.key_pos,
            format!("field {key} missing value"),
        ));
    }
    let v = tok.value;
    let vpos = tok.value_pos;
    let bad = |what: &str| ParseError::new(vpos, format!("invalid {what} \"{v}\""));
    match key {
        "table" => {
            let t = parse_dec(v)
                .filter(|t| *t <= 255)
                .ok_or_else(|| ParseError::new(vpos, format!("unknown table \"{v}\"")))?;
            spec.table = if t == 255 { None } else { Some(t as u8) };
        }
        "out_port" if mode == ParseMode::Match => {
            let p = lex::parse_port(v, ports).ok_or_else(|| {
                ParseError::new(vpos, format!("{v} is not a valid OpenFlow port"))
            })?;
            spec.out_port = Some(p);
        }
        "out_group" if mode == ParseMode::Match => {
            return Err(ParseError::new(
                tok.key_pos,
                "out_group is not supported by xvs",
            ));
        }
        "priority" => {
            spec.priority = Some(parse_uint(v, 0xffff).ok_or_else(|| bad("priority"))? as u16);
        }
        "idle_timeout" if flags_ok => {
            spec.idle_timeout = parse_uint(v, 0xffff).ok_or_else(|| bad("idle_timeout"))? as u16;
        }
        "hard_timeout" if flags_ok => {
            spec.hard_timeout = parse_uint(v, 0xffff).ok_or_else(|| bad("hard_timeout"))? as u16;
        }
        "importance" if mode == ParseMode::Add => {
            spec.importance = parse_uint(v, 0xffff).ok_or_else(|| bad("importance"))? as u16;
        }
        "cookie" => {
            let num = |x: &str, p: usize| {
                strtoull(x).map_err(|_| ParseError::new(p, format!("invalid cookie \"{x}\"")))
            };
            match v.split_once('/') {
                Some((c, m)) => {
                    if mode == ParseMode::Add {
                        return Err(ParseError::new(
                            vpos,
                            "flow additions cannot use a cookie mask",
                        ));
                    }
                    let mk = num(m, vpos + c.len() + 1)?;
                    let c = num(c, vpos)?;
                    spec.cookie = c & mk;
                    spec.cookie_mask = mk;
                }
                None => {
                    if mode == ParseMode::Match {
                        return Err(ParseError::new(
                            vpos,
                            format!(
                                "cannot set cookie (to match on a cookie, specify a mask, \
                                 e.g. cookie={v}/-1)"
                            ),
                        ));
                    }
                    spec.cookie = num(v, vpos)?;
                }
            }
        }
        "duration" | "n_packets" | "n_bytes" | "idle_age" | "hard_age" => {}
        _ => return Err(keyword_err(tok, mode)),
    }
    Ok(())
}
