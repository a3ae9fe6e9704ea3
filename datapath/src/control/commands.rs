//! Control commands: parse the words of a request, run it against the datapath,
//! render the answer. Command names and output follow ovs-vsctl / ovs-ofctl /
//! ovs-appctl habits.

use std::collections::BTreeMap;
use std::fmt::Write;

use anyhow::{anyhow, bail, Result};

use super::proto::{Request, Response};
use super::render;
use crate::daemon::Datapath;
use crate::flow::parse::{parse_flow, parse_match, ParseMode};
use crate::flow::FlowSpec;
use crate::ofproto::{Criteria, PortKind, PortRequest};

pub const USAGE: &str = "\
bridges and ports (ovs-vsctl style):
  add-br BR [fail_mode=secure|standalone]
  del-br BR
  list-br
  add-port BR PORT [type=afxdp|internal|patch|vxlan|gre] [ofport=N] [tag=VLAN] [trunks=V1,V2,..]
                   [vlan_mode=access|trunk|native-tagged|native-untagged]
                   [options:xdp-mode=native|generic] [options:peer=PORT]
                   tunnels: options:remote_ip=IP|flow [options:local_ip=IP] [options:key|in_key|out_key=N|flow]
                            [options:dst_port=4789] [options:tos=N|inherit] [options:ttl=N]
                            [options:df_default=true|false] [options:csum=true|false]
                   [options:steer=shared options:local_ip=IP [options:vxlan_port=4789]
                    [options:gre=true|false] [options:steer_macs=M,..] [options:steer_vlans=V,..]]
  del-port [BR] PORT
  set-port PORT [tag=VLAN|tag=[]] [trunks=V1,V2|trunks=[]] [vlan_mode=access|trunk|native-tagged|native-untagged|[]]
  list-ports BR
  show
flows (ovs-ofctl style):
  add-flow BR FLOW
  add-flows BR FILE           (FILE '-' reads stdin; all flows or none are added)
  mod-flows [--strict] BR FLOW
  del-flows [--strict] BR [MATCH]
  dump-flows BR [MATCH]
  dump-ports [BR [PORT]]
  fdb-show BR
datapath (ovs-appctl style):
  trace [--generate] BR FLOW [PACKET]   (like ofproto/trace: tables, rules, actions, megaflow; the flow
                              may set registers, metadata and tunnel fields; --generate applies learning;
                              PACKET in hex: the actions run on it, frames sent are shown, and a tunnel
                              pop's inner packet is traced in a second pass)
  capture PORT [--count N] [--seconds S] FILE.pcap   (frames received and sent on PORT)
  dump-megaflows
  flush-megaflows
  tnl-route-show              (like ovs/route/show: the kernel routes tunnels use)
  tnl-neigh-show | tnl-neigh-flush | tnl-neigh-set BR IP MAC   (like tnl/neigh/*)
  tnl-ports-show              (like tnl/ports/show: tunnel ports and what they receive)
  pmd-stats
  version";

pub fn execute(dp: &mut Datapath, req: &Request) -> Response {
    match run(dp, req) {
        Ok(s) => Response::ok(s),
        Err(e) => Response::err(format!("{e:#}")),
    }
}

fn need<'a>(args: &'a [String], i: usize, what: &str) -> Result<&'a str> {
    args.get(i).map(|s| s.as_str()).ok_or_else(|| anyhow!("missing argument: {what}"))
}

fn no_more(args: &[String], n: usize) -> Result<()> {
    if args.len() > n {
        bail!("unexpected argument '{}'", args[n]);
    }
    Ok(())
}

/// Split leading `--flag`s off the arguments.
fn flags(args: &[String]) -> (Vec<&str>, Vec<String>) {
    let mut f = Vec::new();
    let mut rest = Vec::new();
    for a in args {
        if a.starts_with("--") && rest.is_empty() {
            f.push(a.as_str());
        } else {
            rest.push(a.clone());
        }
    }
    (f, rest)
}

fn run(dp: &mut Datapath, req: &Request) -> Result<String> {
    let args = &req.args;
    let cmd = need(args, 0, "command")?;
    let rest = &args[1..];
    match cmd {
        "add-br" => {
            let br = need(rest, 0, "bridge name")?;
            let mut secure = false;
            for kv in &rest[1..] {
                match kv.as_str() {
                    "fail_mode=secure" | "fail-mode=secure" => secure = true,
                    "fail_mode=standalone" | "fail-mode=standalone" => secure = false,
                    other => bail!("unknown bridge setting '{other}' (fail_mode=secure|standalone)"),
                }
            }
            dp.add_bridge(br, secure)?;
            Ok(String::new())
        }
        "del-br" => {
            let br = need(rest, 0, "bridge name")?;
            no_more(rest, 1)?;
            dp.del_bridge(br)?;
            Ok(String::new())
        }
        "list-br" => Ok(dp.ofproto.bridges.keys().map(|b| format!("{b}\n")).collect()),
        "add-port" => {
            let br = need(rest, 0, "bridge name")?;
            let name = need(rest, 1, "port name")?;
            let req = port_request(name, &rest[2..])?;
            dp.add_port(br, req)?;
            Ok(String::new())
        }
        "del-port" => {
            match rest.len() {
                1 => dp.del_port(None, &rest[0])?,
                2 => dp.del_port(Some(&rest[0]), &rest[1])?,
                _ => bail!("usage: del-port [BR] PORT"),
            }
            Ok(String::new())
        }
        "set-port" => {
            let name = need(rest, 0, "port name")?;
            need(rest, 1, "tag=VLAN, trunks=V1,V2 or vlan_mode=MODE")?;
            let (mut tag, mut trunks, mut mode) = (None, None, None);
            for kv in &rest[1..] {
                match kv.split_once('=') {
                    Some(("tag", "[]" | "")) => tag = Some(None),
                    Some(("tag", v)) => tag = Some(Some(parse_vlan(v)?)),
                    Some(("trunks", v)) => trunks = Some(parse_trunks(v)?),
                    Some(("vlan_mode", "[]" | "")) => mode = Some(None),
                    Some(("vlan_mode", v)) => mode = Some(Some(crate::port::VlanMode::parse(v).map_err(|e| anyhow!("{e}"))?)),
                    _ => bail!("'{kv}': set-port takes tag=VLAN, trunks=V1,V2 and vlan_mode=access|trunk|native-tagged|native-untagged"),
                }
            }
            dp.ofproto.set_port_vlans(name, tag, trunks, mode)?;
            dp.publish();
            Ok(String::new())
        }
        "list-ports" => {
            let br = dp.ofproto.bridge(need(rest, 0, "bridge name")?)?;
            let mut names: Vec<&str> = br.ports.values().map(|p| p.name.as_str()).collect();
            names.sort();
            Ok(names.iter().map(|n| format!("{n}\n")).collect())
        }
        "show" => Ok(render::show(dp)),
        "add-flow" => {
            let br = need(rest, 0, "bridge name")?;
            let text = need(rest, 1, "flow")?;
            no_more(rest, 2)?;
            let spec = {
                let b = dp.ofproto.bridge(br)?;
                parse_flow(text, ParseMode::Add, &b.port_names()).map_err(|e| anyhow!("{e}"))?
            };
            dp.ofproto.add_flows(br, &[spec])?;
            dp.publish();
            Ok(String::new())
        }
        "add-flows" => {
            let br = need(rest, 0, "bridge name")?;
            let input = req.input.as_deref().ok_or_else(|| anyhow!("add-flows needs the flows as input (a FILE or - for stdin)"))?;
            let specs = {
                let b = dp.ofproto.bridge(br)?;
                let names = b.port_names();
                let mut v = Vec::new();
                for (i, line) in input.lines().enumerate() {
                    let t = line.trim();
                    if t.is_empty() || t.starts_with('#') {
                        continue;
                    }
                    let s = parse_flow(t, ParseMode::Add, &names).map_err(|e| anyhow!("line {}: {e}", i + 1))?;
                    v.push(s);
                }
                v
            };
            let n = dp.ofproto.add_flows(br, &specs)?;
            dp.publish();
            Ok(format!("{n} flows added\n"))
        }
        "mod-flows" | "del-flows" | "dump-flows" => {
            let (fl, rest) = flags(rest);
            let mut strict = false;
            for f in fl {
                match f {
                    "--strict" => strict = true,
                    other => bail!("unknown option {other}"),
                }
            }
            let br = need(&rest, 0, "bridge name")?;
            let text = rest.get(1).map(|s| s.as_str()).unwrap_or("");
            no_more(&rest, 2)?;
            let mode = if cmd == "mod-flows" { ParseMode::Modify } else { ParseMode::Match };
            let spec: FlowSpec = {
                let b = dp.ofproto.bridge(br)?;
                if text.is_empty() && cmd != "mod-flows" {
                    FlowSpec::default()
                } else {
                    parse_flow(text, mode, &b.port_names()).map_err(|e| anyhow!("{e}"))?
                }
            };
            match cmd {
                "mod-flows" => {
                    let n = dp.ofproto.mod_flows(br, &spec, strict)?;
                    if n > 0 {
                        dp.publish();
                    }
                    Ok(String::new())
                }
                "del-flows" => {
                    let n = dp.ofproto.del_flows(br, &Criteria::from_spec(&spec, strict))?;
                    if n > 0 {
                        dp.publish();
                    }
                    Ok(String::new())
                }
                _ => {
                    dp.sync_stats();
                    let rules = dp.ofproto.dump_flows(br, &Criteria::from_spec(&spec, strict))?;
                    let mut s = String::new();
                    for r in rules {
                        s.push_str(&crate::ofproto::dump::format_rule_stats(&r));
                        s.push('\n');
                    }
                    Ok(s)
                }
            }
        }
        "dump-ports" => {
            dp.sync_stats();
            render::dump_ports(dp, rest.first().map(|s| s.as_str()), rest.get(1).map(|s| s.as_str()))
        }
        "fdb-show" => {
            let b = dp.ofproto.bridge(need(rest, 0, "bridge name")?)?;
            let mut s = String::from(" port  VLAN  MAC                Age\n");
            for (port, vlan, mac, age) in b.mac.dump() {
                let _ = writeln!(s, "{port:>5}  {vlan:>4}  {}  {age:>3}", crate::flow::key::fmt_mac(mac));
            }
            Ok(s)
        }
        "trace" => {
            let (fl, rest) = flags(rest);
            let mut generate = false;
            for f in fl {
                match f {
                    "--generate" | "-generate" => generate = true,
                    other => bail!("unknown option {other} (--generate)"),
                }
            }
            let br = need(&rest, 0, "bridge name")?;
            let text = need(&rest, 1, "flow")?;
            let packet = rest.get(2).map(|s| s.as_str());
            no_more(&rest, 3)?;
            match packet {
                None => trace(dp, br, text, generate),
                Some(hex) => super::trace_packet::trace_packet(dp, br, text, hex, generate),
            }
        }
        "dump-megaflows" => Ok(render::megaflows(&dp.dump_megaflows())),
        "tnl-route-show" => Ok(render::tnl_routes(dp)),
        "tnl-neigh-show" => Ok(render::tnl_neigh(dp)),
        "tnl-neigh-flush" => {
            dp.ofproto.net.neigh.flush();
            Ok("OK\n".into())
        }
        "tnl-neigh-set" => {
            let br = need(rest, 0, "bridge")?;
            let ip: std::net::Ipv4Addr = need(rest, 1, "IP")?.parse().map_err(|_| anyhow!("invalid IPv4 address '{}'", rest[1]))?;
            let m = need(rest, 2, "MAC")?;
            let mac = crate::flow::parse::lex::parse_mac(m).map(|v| crate::flow::key::mac_from_u64(v as u64)).ok_or_else(|| anyhow!("invalid MAC '{m}'"))?;
            no_more(rest, 3)?;
            dp.ofproto.bridge(br)?;
            dp.ofproto.net.neigh.set_fixed(br, ip, mac);
            Ok("OK\n".into())
        }
        "tnl-ports-show" => Ok(render::tnl_ports(dp)),
        "flush-megaflows" => {
            dp.flush_caches();
            Ok(String::new())
        }
        "pmd-stats" => {
            dp.sync_stats();
            Ok(render::pmd_stats(dp))
        }
        "version" => Ok(format!("xvsd {}\n", env!("CARGO_PKG_VERSION"))),
        "help" => Ok(format!("{USAGE}\n")),
        other => bail!("unknown command '{other}' (try 'help')"),
    }
}

fn parse_vlan(v: &str) -> Result<u16> {
    let n: u32 = v.parse().map_err(|_| anyhow!("invalid VLAN '{v}'"))?;
    if n > 4095 {
        bail!("invalid VLAN {n} (0..4095)");
    }
    Ok(n as u16)
}

fn parse_trunks(v: &str) -> Result<Vec<u16>> {
    v.trim_matches(|c| c == '[' || c == ']').split(',').map(str::trim).filter(|s| !s.is_empty()).map(parse_vlan).collect()
}

fn port_request(name: &str, kvs: &[String]) -> Result<PortRequest> {
    let mut req = PortRequest { name: name.to_string(), ..Default::default() };
    let mut options = BTreeMap::new();
    let mut kind = None;
    for kv in kvs {
        let (k, v) = kv.split_once('=').ok_or_else(|| anyhow!("expected KEY=VALUE, got '{kv}'"))?;
        match k {
            "type" => kind = Some(v.to_string()),
            "ofport" | "ofport_request" => {
                req.ofport = Some(v.parse().map_err(|_| anyhow!("invalid ofport '{v}'"))?);
            }
            "tag" => req.tag = Some(parse_vlan(v)?),
            "trunks" => req.trunks = parse_trunks(v)?,
            "vlan_mode" => req.vlan_mode = Some(crate::port::VlanMode::parse(v).map_err(|e| anyhow!("{e}"))?),
            _ => match k.strip_prefix("options:") {
                Some(o) => {
                    options.insert(o.to_string(), v.to_string());
                }
                None => bail!("unknown port setting '{k}' (type, ofport, tag, trunks, options:...)"),
            },
        }
    }
    let (k, options) = PortKind::parse(kind.as_deref(), &options).map_err(|e| anyhow!("{e}"))?;
    if let Some(m) = options.get("xdp-mode") {
        crate::io::xdp::XdpMode::parse(m)?;
    }
    if matches!(k, PortKind::Afxdp) {
        crate::io::xdp::Steering::from_options(&options)?;
    }
    req.kind = Some(k);
    req.options = options;
    Ok(req)
}

/// `trace BR FLOW`: build a packet key from the flow text and translate it with a
/// full report.
pub(super) fn trace(dp: &mut Datapath, br: &str, text: &str, generate: bool) -> Result<String> {
    let b = dp.ofproto.bridge(br)?;
    let (m, _) = parse_match(text, &b.port_names()).map_err(|e| anyhow!("{e}"))?;
    let in_ofport = crate::flow::Field::InPort.get(&m.key) as u32;
    if m.is_wild(crate::flow::Field::InPort) {
        bail!("the flow must say in_port=");
    }
    // As ofproto/trace, any in_port is accepted (NORMAL then says the port is not on
    // the bridge); the packet starts in this bridge with the flow's registers and
    // metadata.
    let port = b.ports.get(&in_ofport);
    let bidx = b.idx;
    let p = dp.pipeline.load_full();
    let desc = crate::flow::format::format_match(&m, crate::flow::DEFAULT_PRIORITY);
    let mut t = crate::xlate::trace::Trace::new(&desc);
    let mut key = m.key;
    if let Some(d) = port.and_then(|pt| pt.dp_port.filter(|_| !pt.kind.is_tunnel())) {
        key.set_in_port(d.0);
    }
    let out = crate::xlate::translate_traced_preset(&p, &key, bidx, in_ofport, generate, &mut t);
    if generate {
        // Side effects: MAC learning happened in the translation; learned flows are
        // added now (refused cleanly if a table cannot take them).
        let mut by_bridge: std::collections::BTreeMap<usize, Vec<FlowSpec>> = Default::default();
        for (b, s) in &out.learned {
            by_bridge.entry(*b).or_default().push(s.clone());
        }
        for (b, specs) in by_bridge {
            dp.apply_learned(b, specs);
        }
    }
    let mut text = t.text;
    // A tunnel pop hands the inner packet to a second pass, which depends on bytes a
    // flow does not describe: say how to follow it.
    for a in &out.actions {
        if let crate::odp::DpAction::TnlPop(v) = a {
            let name = p.vports.get(v).map(|vp| match vp.proto {
                crate::port::TunnelProto::Vxlan => format!("vxlan_sys_{}", vp.dst_port),
                crate::port::TunnelProto::Gre => "gre_sys".into(),
            });
            let src = std::net::Ipv4Addr::from(crate::flow::Field::Ipv4Src.get(&m.key) as u32);
            let dst = std::net::Ipv4Addr::from(crate::flow::Field::Ipv4Dst.get(&m.key) as u32);
            let _ = write!(
                text,
                "\ntnl_pop({v}): the inner packet goes through the caches again from {} with tun_src={src},tun_dst={dst} and the tun_id of its header; \
                 to follow it: xvsctl trace BRIDGE 'in_port=TUNNEL_PORT,tun_id=KEY,tun_src={src},tun_dst={dst},<inner packet fields>'\n",
                name.unwrap_or_else(|| format!("datapath port {v}"))
            );
        }
    }
    Ok(text)
}
