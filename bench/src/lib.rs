//! Shared fixtures of the micro-benchmarks: frames, and pipelines built the way the
//! control plane builds them (no daemon, no sockets).

pub mod rules;

use std::sync::Arc;

use etherparse::PacketBuilder;
use xvs::flow::parse::{parse_flow, NoPortNames, ParseMode};
use xvs::ofproto::pipeline::Pipeline;
use xvs::ofproto::{Ofproto, PortRequest};

/// A 64-byte (60 + FCS) Ethernet/IPv4/UDP frame like the benchmark generator's, with
/// UDP destination port `dport`.
pub fn udp_frame(dport: u16) -> Vec<u8> {
    let b = PacketBuilder::ethernet2([2, 0x58, 0, 0, 0, 1], [2, 0x58, 0, 0, 0, 2])
        .ipv4([10, 88, 0, 1], [10, 88, 0, 2], 64)
        .udp(9, dport);
    let payload = [0u8; 18];
    let mut v = Vec::with_capacity(b.size(payload.len()));
    b.write(&mut v, &payload).unwrap();
    v
}

/// A bridge with `ports` afxdp ports (ofport N = datapath port N-1) and `flows`.
pub fn pipeline(ports: u32, flows: &[&str]) -> (Ofproto, Arc<Pipeline>) {
    let mut o = Ofproto::new();
    o.add_bridge("br0", true).unwrap();
    for i in 1..=ports {
        o.add_port("br0", PortRequest { name: format!("p{i}"), ofport: Some(i), ..Default::default() }).unwrap();
    }
    let specs: Vec<_> = flows.iter().map(|f| parse_flow(f, ParseMode::Add, &NoPortNames).unwrap()).collect();
    o.add_flows("br0", &specs).unwrap();
    let p = Arc::new(o.snapshot());
    (o, p)
}
