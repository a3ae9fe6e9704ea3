//! `xvsctl trace BR FLOW PACKET`: trace a real packet (hex bytes), as
//! `ofproto/trace BR FLOW PACKET` does, then run the datapath actions on it: show each
//! frame as it leaves (the encapsulated frame after a tunnel push), and follow a tunnel
//! pop into its second pass, which a flow alone cannot describe (the inner packet and
//! its tunnel key are bytes of the outer one).

use std::fmt::Write;

use anyhow::{anyhow, bail, Result};

use crate::daemon::Datapath;
use crate::exec::{run_frame, Sent};
use crate::flow::parse::parse_match;
use crate::flow::{Field, FlowKey};
use crate::ofproto::pipeline::Pipeline;
use crate::port::OdpPort;
use crate::xlate::trace::Trace;

/// Passes followed at most (as the worker).
const MAX_PASSES: usize = 4;

fn parse_hex(s: &str) -> Result<Vec<u8>> {
    let digits: String = s.chars().filter(|c| !c.is_whitespace() && *c != ':' && *c != '.').collect();
    let digits = digits.strip_prefix("0x").unwrap_or(&digits);
    if !digits.len().is_multiple_of(2) || digits.is_empty() {
        bail!("the packet must be an even number of hex digits");
    }
    (0..digits.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&digits[i..i + 2], 16).map_err(|_| anyhow!("'{}' at byte {} is not hex", &digits[i..i + 2], i / 2)))
        .collect()
}

/// Name of a datapath port for the report.
fn port_name(p: &Pipeline, d: OdpPort) -> String {
    if let Some((b, of)) = p.dp_port(d) {
        if let Some(port) = p.bridge(b).and_then(|br| br.ports.get(&of)) {
            return format!("{} ({})", port.name, br_name(p, b));
        }
    }
    if let Some(v) = p.vports.get(&d) {
        return match v.proto {
            crate::port::TunnelProto::Vxlan => format!("vxlan_sys_{}", v.dst_port),
            crate::port::TunnelProto::Gre => "gre_sys".into(),
        };
    }
    format!("datapath port {}", d.0)
}

fn br_name(p: &Pipeline, b: usize) -> String {
    p.bridge(b).map(|x| x.name.to_string()).unwrap_or_default()
}

/// A one-line description of a frame: its headers as a datapath flow, and for
/// tunnel frames the key they carry.
pub fn frame_summary(b: &[u8]) -> String {
    let mut k = FlowKey::ZERO;
    let flow = match crate::packet::extract(b, 0, &mut k) {
        Ok(_) => {
            let mut m = crate::flow::Match { key: k, mask: FlowKey::dp_exact() };
            // Not packet fields: leave them out.
            for f in [Field::InPort, Field::RecircId, Field::TunId, Field::TunSrc, Field::TunDst, Field::CtState, Field::CtZone, Field::CtMark] {
                f.set(&mut m.mask, 0);
                f.set(&mut m.key, 0);
            }
            crate::flow::format::format_match(&m, crate::flow::DEFAULT_PRIORITY)
        }
        Err(e) => format!("unparsable ({})", e.name()),
    };
    let mut s = format!("{} bytes: {flow}", b.len());
    // VXLAN / GRE keys of an encapsulated frame.
    if b.len() >= 50 && b[12..14] == [0x08, 0x00] && b[23] == 17 && b[36..38] == [0x12, 0xb5] {
        let vni = u32::from_be_bytes([0, b[46], b[47], b[48]]);
        let _ = write!(s, " [VXLAN vni {vni}, inner {} bytes]", b.len() - 50);
    } else if b.len() >= 38 && b[12..14] == [0x08, 0x00] && b[23] == 47 {
        if let Ok(g) = crate::packet::gre::GreHeader::new_checked(&b[34..]) {
            let _ = write!(s, " [GRE key {}, inner {} bytes]", g.key().map(|k| k.to_string()).unwrap_or("none".into()), b.len() - 34 - g.header_len());
        }
    }
    s
}

pub fn trace_packet(dp: &mut Datapath, br: &str, text: &str, hex: &str, generate: bool) -> Result<String> {
    let bytes = parse_hex(hex)?;
    let b = dp.ofproto.bridge(br)?;
    let (m, _) = parse_match(text, &b.port_names()).map_err(|e| anyhow!("{e}"))?;
    if m.is_wild(Field::InPort) {
        bail!("the flow must say in_port=");
    }
    let in_ofport = Field::InPort.get(&m.key) as u32;
    let bidx = b.idx;
    let p = dp.pipeline.load_full();
    let in_dp = b.ports.get(&in_ofport).and_then(|pt| pt.dp_port.filter(|_| !pt.kind.is_tunnel()));
    // The packet's own fields, with the flow's registers, metadata and tunnel fields.
    let mut key = FlowKey::ZERO;
    crate::packet::extract(&bytes, in_dp.map(|d| d.0).unwrap_or(in_ofport), &mut key).map_err(|e| anyhow!("the packet does not parse: {}", e.name()))?;
    for w in crate::flow::key::DP_WORDS..crate::flow::key::NW {
        key.w[w] = m.key.w[w];
    }
    for f in [Field::TunId, Field::TunSrc, Field::TunDst] {
        if !m.is_wild(f) {
            f.set(&mut key, f.get(&m.key));
        }
    }
    let mut report = String::new();
    let mut t = Trace::new(&frame_summary(&bytes));
    let out = crate::xlate::translate_traced_preset(&p, &key, bidx, in_ofport, generate, &mut t);
    report.push_str(&t.text);
    if generate {
        let mut by_bridge: std::collections::BTreeMap<usize, Vec<crate::flow::FlowSpec>> = Default::default();
        for (b, s) in &out.learned {
            by_bridge.entry(*b).or_default().push(s.clone());
        }
        for (b, specs) in by_bridge {
            dp.apply_learned(b, specs);
        }
    }
    follow(&p, &bytes, &out.actions, 1, &mut report)?;
    Ok(report)
}

/// Run a pass's actions on its frame, list what leaves, and trace tunnel pops'
/// inner packets as the next pass.
fn follow(p: &Pipeline, frame: &[u8], actions: &[crate::odp::DpAction], pass: usize, report: &mut String) -> Result<()> {
    let mut sent = Vec::new();
    if let Err(e) = run_frame(frame, actions, &mut sent) {
        let _ = writeln!(report, "\nExecuting the datapath actions failed: {}", e.name());
        return Ok(());
    }
    if sent.is_empty() {
        let _ = writeln!(report, "\nPass {pass}: the packet is dropped.");
    }
    for s in &sent {
        match s {
            Sent::Output(d, b) => {
                let _ = writeln!(report, "\nPass {pass}: output to {}:\n    {}", port_name(p, *d), frame_summary(b));
            }
            Sent::Pop(v, outer) => {
                let Some(vp) = p.vports.get(v).copied() else { continue };
                let mut buf = outer.clone();
                let n = buf.len();
                let mut pkt = crate::packet::buf::PacketMut::with_headroom(&mut buf, 0, n).ok_or_else(|| anyhow!("empty frame"))?;
                match crate::packet::tunnel::pop(&mut pkt, vp.proto, vp.dst_port) {
                    Err(e) => {
                        let _ = writeln!(report, "\nPass {pass}: tnl_pop({}): the outer header is refused ({}): drop", v.0, e.name());
                    }
                    Ok(md) => {
                        let inner = pkt.data().to_vec();
                        let mut k = FlowKey::ZERO;
                        if crate::packet::extract(&inner, v.0, &mut k).is_err() {
                            let _ = writeln!(report, "\nPass {pass}: tnl_pop({}): the inner frame does not parse: drop", v.0);
                            continue;
                        }
                        Field::TunId.set(&mut k, md.tun_id as u128);
                        Field::TunSrc.set(&mut k, u32::from(md.src) as u128);
                        Field::TunDst.set(&mut k, u32::from(md.dst) as u128);
                        if pass >= MAX_PASSES {
                            let _ = writeln!(report, "\nPass {pass}: too many passes: drop");
                            continue;
                        }
                        let _ = writeln!(
                            report,
                            "\n===== pass {}: tnl_pop({}) from {}: tun_id={:#x},tun_src={},tun_dst={}, inner {} =====",
                            pass + 1,
                            v.0,
                            port_name(p, *v),
                            md.tun_id,
                            md.src,
                            md.dst,
                            frame_summary(&inner)
                        );
                        let mut t = Trace::default();
                        let out = crate::xlate::translate_traced(p, &k, &mut t);
                        report.push_str(&t.text);
                        follow(p, &inner, &out.actions, pass + 1, report)?;
                    }
                }
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_and_summaries() {
        assert_eq!(parse_hex("0a:0b 0c").unwrap(), vec![10, 11, 12]);
        assert!(parse_hex("0a0").is_err());
        assert!(parse_hex("zz").unwrap_err().to_string().contains("byte 0"));
        let mut f = vec![0xffu8; 6];
        f.extend_from_slice(&[2, 0, 0, 0, 0, 1, 0x08, 0x06]);
        f.resize(60, 0);
        assert!(frame_summary(&f).starts_with("60 bytes: "));
    }
}
