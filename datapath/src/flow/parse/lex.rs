//! Tokenizer and value scanners for ovs-ofctl flow text, following Open vSwitch's
//! `ofputil_parse_key_value`, `parse_int_string`, `str_to_*`, `ip_parse_masked`,
//! `ipv6_parse_masked`, `parse_flags` and `ofputil_port_from_string` behaviour.

use super::{ParseError, PortNames};
use crate::flow::action::ofpp;
use crate::flow::format::OFPP_UNSET;

/// One `key[=value]`, `key:value` or `key(value)` element, with byte offsets into the
/// original line.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Tok<'a> {
    pub key: &'a str,
    pub key_pos: usize,
    pub value: &'a str,
    pub value_pos: usize,
}

fn is_sep(b: u8) -> bool {
    matches!(b, b',' | b' ' | b'\t' | b'\r' | b'\n')
}

/// Scans a value starting at `start` up to one of `delims` (or the end), skipping over
/// balanced parentheses. Errors with the offset of an unclosed `(` or, when
/// `stray_close` is set, of a `)` that closes nothing.
fn scan_value(b: &[u8], start: usize, delims: &[u8], stray_close: bool) -> Result<usize, usize> {
    let mut n = start;
    while n < b.len() && !delims.contains(&b[n]) {
        match b[n] {
            b'(' => {
                let open = n;
                let mut level = 0i32;
                loop {
                    if n >= b.len() {
                        return Err(open);
                    }
                    match b[n] {
                        b'(' => level += 1,
                        b')' => level -= 1,
                        _ => {}
                    }
                    n += 1;
                    if level == 0 {
                        break;
                    }
                }
            }
            b')' if stray_close => return Err(n),
            _ => n += 1,
        }
    }
    Ok(n)
}

/// Splits `s` into key/value elements exactly like `ofputil_parse_key_value`: elements
/// are separated by commas and/or white space; a key ends at `:`, `=`, `(`, a comma or
/// white space; a `key=`/`key:` value runs to the next comma or white space, a `key(`
/// value to the matching `)`; parentheses inside values must balance. `base` is added
/// to every reported offset.
pub(crate) fn tokenize(s: &str, base: usize) -> Result<Vec<Tok<'_>>, ParseError> {
    let b = s.as_bytes();
    let mut out = Vec::new();
    let mut pos = 0usize;
    loop {
        while pos < b.len() && is_sep(b[pos]) {
            pos += 1;
        }
        if pos >= b.len() {
            break;
        }
        let key_start = pos;
        while pos < b.len() && !matches!(b[pos], b':' | b'=' | b'(') && !is_sep(b[pos]) {
            pos += 1;
        }
        let key = &s[key_start..pos];
        let delim = if pos < b.len() { b[pos] } else { 0 };
        if pos < b.len() {
            pos += 1;
        }
        let unbalanced = |at: usize| ParseError::new(base + at, "unbalanced parentheses");
        match delim {
            b'=' | b':' => {
                let vstart = pos;
                let end = scan_value(b, vstart, b", \t\r\n", true).map_err(unbalanced)?;
                out.push(Tok {
                    key,
                    key_pos: base + key_start,
                    value: &s[vstart..end],
                    value_pos: base + vstart,
                });
                pos = end;
            }
            b'(' => {
                let vstart = pos;
                let mut end = scan_value(b, vstart, b")", false).map_err(unbalanced)?;
                if end >= b.len() {
                    // No `)` closes the key's `(`.
                    return Err(unbalanced(pos - 1));
                }
                // `key(x)->y`: the value extends over the `->y` part.
                if b.get(end + 1) == Some(&b'-') && b.get(end + 2) == Some(&b'>') {
                    end = scan_value(b, end + 1, b", \t\r\n", true).map_err(unbalanced)?;
                    out.push(Tok {
                        key,
                        key_pos: base + key_start,
                        value: &s[vstart..end],
                        value_pos: base + vstart,
                    });
                    pos = end;
                } else {
                    out.push(Tok {
                        key,
                        key_pos: base + key_start,
                        value: &s[vstart..end],
                        value_pos: base + vstart,
                    });
                    pos = end + 1;
                }
            }
            _ => {
                if key.contains(')') {
                    let at = key_start + key.find(')').unwrap_or(0);
                    return Err(unbalanced(at));
                }
                out.push(Tok {
                    key,
                    key_pos: base + key_start,
                    value: "",
                    value_pos: base + pos.min(b.len()),
                });
            }
        }
    }
    Ok(out)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum NumErr {
    Syntax,
    Range,
}

fn digit_val(c: u8) -> Option<u32> {
    (c as char).to_digit(16)
}

/// Unsigned digits in `radix`; the whole string must be digits (and non-empty).
fn digits(s: &str, radix: u32) -> Result<u128, NumErr> {
    if s.is_empty() {
        return Err(NumErr::Syntax);
    }
    let mut v: u128 = 0;
    for c in s.bytes() {
        let d = digit_val(c).filter(|d| *d < radix).ok_or(NumErr::Syntax)?;
        v = v
            .checked_mul(radix as u128)
            .and_then(|v| v.checked_add(d as u128))
            .ok_or(NumErr::Range)?;
    }
    Ok(v)
}

/// C `strtoull(s, &end, 0)` required to consume the whole string: decimal, `0x` hex or
/// `0` octal, with an optional sign (a `-` negates modulo 2^64, as C does).
pub(crate) fn strtoull(s: &str) -> Result<u64, NumErr> {
    let (neg, body) = match s.as_bytes().first() {
        Some(b'-') => (true, &s[1..]),
        Some(b'+') => (false, &s[1..]),
        _ => (false, s),
    };
    let v = if body.len() > 2 && (body.starts_with("0x") || body.starts_with("0X")) {
        digits(&body[2..], 16)?
    } else if body.len() > 1 && body.starts_with('0') {
        digits(&body[1..], 8)?
    } else {
        digits(body, 10)?
    };
    if v > u64::MAX as u128 {
        return Err(NumErr::Range);
    }
    let v = v as u64;
    Ok(if neg { v.wrapping_neg() } else { v })
}

/// `str_to_int(s, 0)` limited to `0..=max` (decimal, hex or octal; no sign games).
pub(crate) fn parse_uint(s: &str, max: u64) -> Option<u64> {
    if s.starts_with('-') {
        return None;
    }
    strtoull(s).ok().filter(|v| *v <= max)
}

/// `str_to_uint(s, 10)`: decimal only.
pub(crate) fn parse_dec(s: &str) -> Option<u64> {
    let body = s.strip_prefix('+').unwrap_or(s);
    match digits(body, 10) {
        Ok(v) if v <= u64::MAX as u128 => Some(v as u64),
        _ => None,
    }
}

/// `parse_int_string`: `0x` followed by any number of hex digits (leading zeros are
/// free, significant digits must fit `nbytes`), else a C integer; the value must fit in
/// `nbytes` bytes.
pub(crate) fn parse_int(s: &str, nbytes: u32) -> Result<u128, NumErr> {
    let max = if nbytes >= 16 {
        u128::MAX
    } else {
        (1u128 << (8 * nbytes)) - 1
    };
    if s.starts_with("0x") || s.starts_with("0X") {
        let h = s[2..].trim_start_matches('0');
        if h.len() > 2 * nbytes as usize {
            // Too many significant digits, unless some are not hex at all.
            if h.bytes().all(|c| c.is_ascii_hexdigit()) {
                return Err(NumErr::Range);
            }
            return Err(NumErr::Syntax);
        }
        if h.is_empty() {
            return Ok(0);
        }
        let v = digits(h, 16)?;
        return if v > max { Err(NumErr::Range) } else { Ok(v) };
    }
    if s.starts_with('-') {
        return Err(NumErr::Syntax);
    }
    let v = strtoull(s)? as u128;
    if v > max {
        Err(NumErr::Range)
    } else {
        Ok(v)
    }
}

/// `xx:xx:xx:xx:xx:xx` (one or two hex digits per byte) as a 48-bit value.
pub(crate) fn parse_mac(s: &str) -> Option<u128> {
    let mut v: u128 = 0;
    let mut n = 0;
    for part in s.split(':') {
        if part.is_empty() || part.len() > 2 || !part.bytes().all(|c| c.is_ascii_hexdigit()) {
            return None;
        }
        v = (v << 8) | u128::from_str_radix(part, 16).ok()?;
        n += 1;
    }
    if n == 6 {
        Some(v)
    } else {
        None
    }
}

/// Dotted-quad IPv4 address.
pub(crate) fn parse_ipv4(s: &str) -> Option<u32> {
    let mut v: u32 = 0;
    let mut n = 0;
    for part in s.split('.') {
        if part.is_empty() || part.len() > 3 || !part.bytes().all(|c| c.is_ascii_digit()) {
            return None;
        }
        let o: u32 = part.parse().ok()?;
        if o > 255 {
            return None;
        }
        v = (v << 8) | o;
        n += 1;
    }
    if n == 4 {
        Some(v)
    } else {
        None
    }
}

/// `ip_parse_masked`: `a.b.c.d`, `a.b.c.d/N` or `a.b.c.d/m.m.m.m`.
pub(crate) fn parse_ipv4_masked(s: &str) -> Result<(u32, u32), String> {
    let bad = || format!("{s}: invalid IP address");
    match s.split_once('/') {
        None => Ok((parse_ipv4(s).ok_or_else(bad)?, u32::MAX)),
        Some((a, m)) => {
            let ip = parse_ipv4(a).ok_or_else(bad)?;
            if let Some(mask) = parse_ipv4(m) {
                return Ok((ip, mask));
            }
            let p = parse_dec(m).ok_or_else(bad)?;
            if p > 32 {
                return Err(format!(
                    "{s}: IPv4 network prefix bits not between 0 and 32, inclusive"
                ));
            }
            let mask = if p == 0 { 0 } else { u32::MAX << (32 - p) };
            Ok((ip, mask))
        }
    }
}

pub(crate) fn parse_ipv6(s: &str) -> Option<u128> {
    s.parse::<std::net::Ipv6Addr>().ok().map(u128::from)
}

/// `ipv6_parse_masked`: an address with an optional `/N` prefix or `/mask`.
pub(crate) fn parse_ipv6_masked(s: &str) -> Result<(u128, u128), String> {
    let bad = || format!("{s}: invalid IPv6 address");
    match s.split_once('/') {
        None => Ok((parse_ipv6(s).ok_or_else(bad)?, u128::MAX)),
        Some((a, m)) => {
            let ip = parse_ipv6(a).ok_or_else(bad)?;
            if let Some(p) = parse_dec(m) {
                if p > 128 {
                    return Err(format!(
                        "{s}: IPv6 network prefix bits not between 0 and 128, inclusive"
                    ));
                }
                let mask = if p == 0 { 0 } else { u128::MAX << (128 - p) };
                return Ok((ip, mask));
            }
            let mask = parse_ipv6(m).ok_or_else(|| format!("{s}: Invalid IPv6 mask"))?;
            Ok((ip, mask))
        }
    }
}

/// C `%i` for flag values: signed decimal/hex/octal, whole string.
fn scan_i(s: &str) -> Option<u32> {
    if let Some(rest) = s.strip_prefix('-') {
        return strtoull(rest)
            .ok()
            .filter(|v| *v <= 1 << 31)
            .map(|v| (v as u32).wrapping_neg());
    }
    strtoull(s)
        .ok()
        .filter(|v| *v <= u32::MAX as u64)
        .map(|v| v as u32)
}

/// `parse_flags`: `0xVAL/0xMASK`, `+flag-flag...` (masked), or `flag|flag|0xVAL`
/// (exact; mask all ones). `allowed` limits the bits.
pub(crate) fn parse_flags(
    s: &str,
    names: fn(u32) -> Option<&'static str>,
    allowed: u32,
    field: &str,
) -> Result<(u32, u32), String> {
    let unknown = || format!("{s}: unknown {field} flag(s)");
    if let Some((a, b)) = s.split_once('/') {
        if let (Some(v), Some(m)) = (scan_i(a), scan_i(b)) {
            if v & !allowed != 0 || m & !allowed != 0 {
                return Err(unknown());
            }
            return Ok((v, m));
        }
    }
    let bits = || {
        (0..32)
            .map(|i| 1u32 << i)
            .filter_map(|b| names(b).map(|n| (b, n)))
    };
    if s.starts_with('+') || s.starts_with('-') {
        let (mut flags, mut mask) = (0u32, 0u32);
        let mut rest = s;
        while let Some(c) = rest.chars().next() {
            let set = match c {
                '+' => true,
                '-' => false,
                _ => {
                    return Err(format!(
                        "{rest}: {field} must be preceded by '+' (for SET) or '-' (NOT SET)"
                    ))
                }
            };
            rest = &rest[1..];
            let hit = bits().find(|(_, n)| {
                rest.starts_with(n)
                    && matches!(rest.as_bytes().get(n.len()), None | Some(b'+') | Some(b'-'))
            });
            let Some((bit, n)) = hit else {
                return Err(unknown());
            };
            if mask & bit != 0 {
                return Err(format!(
                    "{rest}: Each {field} flag can be specified only once"
                ));
            }
            if bit & allowed == 0 {
                return Err(unknown());
            }
            if set {
                flags |= bit;
            }
            mask |= bit;
            rest = &rest[n.len()..];
        }
        return Ok((flags, mask));
    }
    if s.is_empty() {
        return Err(unknown());
    }
    let mut result = 0u32;
    for part in s.split('|') {
        if let Some(v) = scan_i(part) {
            if v & !allowed != 0 {
                return Err(unknown());
            }
            result |= v;
            continue;
        }
        match bits().find(|(_, n)| *n == part) {
            Some((bit, _)) if bit & allowed != 0 => result |= bit,
            _ => return Err(unknown()),
        }
    }
    Ok((result, u32::MAX))
}

/// `ofputil_port_from_string`: a decimal OpenFlow 1.0 port (or a 32-bit OpenFlow 1.1
/// reserved port, mapped down), a reserved port name (any case), or a port name known
/// to `ports` (optionally in double quotes).
pub(crate) fn parse_port(s: &str, ports: &dyn PortNames) -> Option<u32> {
    if s.starts_with('-') || s.is_empty() {
        return None;
    }
    if s.bytes().all(|c| c.is_ascii_digit()) {
        let n = parse_dec(s)?;
        return if n <= 0xffff {
            Some(n as u32)
        } else if n < 0xffff_ff00 {
            None
        } else if n <= u32::MAX as u64 {
            Some((n - 0xffff_0000) as u32)
        } else {
            None
        };
    }
    const NAMES: &[(&str, u32)] = &[
        ("IN_PORT", ofpp::IN_PORT),
        ("TABLE", ofpp::TABLE),
        ("NORMAL", ofpp::NORMAL),
        ("FLOOD", ofpp::FLOOD),
        ("ALL", ofpp::ALL),
        ("CONTROLLER", ofpp::CONTROLLER),
        ("LOCAL", ofpp::LOCAL),
        ("ANY", ofpp::NONE),
        ("UNSET", OFPP_UNSET),
        ("NONE", ofpp::NONE),
    ];
    if let Some((_, p)) = NAMES.iter().find(|(n, _)| n.eq_ignore_ascii_case(s)) {
        return Some(*p);
    }
    let name = if s.len() >= 2 && s.starts_with('"') && s.ends_with('"') {
        &s[1..s.len() - 1]
    } else {
        s
    };
    ports.port_no(name)
}
