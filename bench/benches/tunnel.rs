//! Per-packet CPU cost of native VXLAN tunneling, without I/O (the tunnel issue's
//! criterion figures; target: <= 30 ns per packet each on top of a cache hit).
//!
//! * `tunnel_encap/push_vxlan`: `exec::apply` of a `tnl_push` (prebuilt 50-byte VXLAN
//!   header pushed into the 256-byte headroom of a 4096-byte buffer, UDP source port
//!   from the inner flow hash) on a 64-byte frame; `tunnel_encap/reset_only` is the
//!   frame copy + `PacketMut` setup every iteration does, to subtract.
//! * `tunnel_decap/pop_extract_vxlan`: `tunnel::pop` + `extract` of the inner frame +
//!   setting tun_id/tun_src/tun_dst in its key; `tunnel_decap/reset_only` likewise.
//! * `tunnel_per_packet/*`: the whole per-packet path of a worker over a batch of 32
//!   (extract + cache hit + actions), Neutron's shape (VM port on br-int, patch, br-tun,
//!   br-phy with its LOCAL port holding the underlay address and the uplink):
//!   - `batch32_encap` (VM -> VXLAN out of the uplink: `tnl_push` + output) against
//!     `batch32_encap_baseline_no_tunnel` (the same bridges and flows, br-tun outputs
//!     to a plain port instead of the vxlan port);
//!   - `batch32_decap` (VXLAN from the uplink -> `tnl_pop` -> pop + inner extract +
//!     second cache hit, as the worker's recirculation does -> VM port) against
//!     `batch32_decap_baseline_no_tunnel` (the inner frame entering br-tun from a plain
//!     port, same path to the VM).
//!
//! `cargo bench -p xvs-bench --bench tunnel -- tunnel`

use std::sync::atomic::Ordering;
use std::sync::Arc;

use criterion::{black_box, criterion_group, criterion_main, Criterion, Throughput};

use xvs::cache::Cache;
use xvs::flow::parse::{parse_flow, ParseMode};
use xvs::flow::{Field, FlowKey};
use xvs::odp::DpAction;
use xvs::ofproto::pipeline::Pipeline;
use xvs::ofproto::{Ofproto, PortKind, PortRequest};
use xvs::packet::buf::PacketMut;
use xvs::packet::extract::extract;
use xvs::packet::tunnel::{self, TnlHeader, TnlParams};
use xvs::port::TunnelProto;
use xvs::route::{Route, RouteTable};
use xvs_bench::udp_frame;

const PHY_MAC: [u8; 6] = [0x02, 0x58, 0, 0, 0x10, 0x01];
const PEER_MAC: [u8; 6] = [0x02, 0x58, 0, 0, 0x10, 0x02];
const HEADROOM: usize = 256;
const BUF: usize = 4096;
const BATCH: usize = 32;

fn opts(kv: &[(&str, &str)]) -> std::collections::BTreeMap<String, String> {
    kv.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
}

struct Setup {
    o: Ofproto,
    p: Arc<Pipeline>,
    /// Datapath ports: VM port (br-int), plain port on br-tun, uplink (br-phy).
    vm: u32,
    plain: u32,
    uplink: u32,
}

/// br-int (VM port ofport 1, tag 100; patch-tun 2), br-tun (patch-int 1, vxlan0 2 with
/// key=flow towards 10.89.0.2, plain port 3), br-phy (LOCAL internal port with
/// 10.89.0.1/24, uplink 1); the underlay route, address and neighbour given directly.
fn setup() -> Setup {
    let mut o = Ofproto::new();
    for br in ["br-int", "br-tun", "br-phy"] {
        o.add_bridge(br, true).unwrap();
    }
    let port = |o: &mut Ofproto, br: &str, name: &str, ofport: u32, kind: Option<PortKind>, tag: Option<u16>| {
        o.add_port(br, PortRequest { name: name.into(), ofport: Some(ofport), kind, tag, ..Default::default() })
            .unwrap()
            .dp_port
    };
    let vm = port(&mut o, "br-int", "vm1", 1, None, Some(100)).unwrap();
    port(&mut o, "br-int", "patch-tun", 2, Some(PortKind::Patch { peer: "patch-int".into() }), None);
    port(&mut o, "br-tun", "patch-int", 1, Some(PortKind::Patch { peer: "patch-tun".into() }), None);
    let (vx, _) = PortKind::parse(
        Some("vxlan"),
        &opts(&[("remote_ip", "10.89.0.2"), ("local_ip", "10.89.0.1"), ("key", "flow")]),
    )
    .unwrap();
    port(&mut o, "br-tun", "vxlan0", 2, Some(vx), None);
    let plain = port(&mut o, "br-tun", "plain", 3, None, None).unwrap();
    o.add_port(
        "br-phy",
        PortRequest { name: "br-phy".into(), ofport: Some(0xfffe), kind: Some(PortKind::Internal), mac: Some(PHY_MAC), ..Default::default() },
    )
    .unwrap();
    let uplink = port(&mut o, "br-phy", "uplink", 1, None, None).unwrap();
    let flows: [(&str, &[&str]); 3] = [
        (
            "br-int",
            &[
                "table=0,priority=10,in_port=1,actions=mod_vlan_vid:100,output:2",
                "table=0,priority=10,in_port=2,dl_vlan=100,actions=strip_vlan,output:1",
            ],
        ),
        (
            "br-tun",
            &[
                "table=0,priority=1,in_port=1,actions=resubmit(,2)",
                "table=0,priority=1,in_port=2,actions=resubmit(,4)",
                "table=0,priority=1,in_port=3,actions=mod_vlan_vid:100,output:1",
                "table=2,priority=0,dl_dst=00:00:00:00:00:00/01:00:00:00:00:00,actions=resubmit(,20)",
                "table=4,priority=1,tun_id=0x64,actions=mod_vlan_vid:100,output:1",
                "table=20,priority=2,dl_vlan=100,dl_dst=02:58:00:00:00:02,actions=strip_vlan,set_tunnel:0x64,output:2",
                "table=20,priority=2,dl_vlan=100,dl_dst=02:58:00:00:00:03,actions=strip_vlan,output:3",
            ],
        ),
        ("br-phy", &["priority=1,in_port=LOCAL,actions=output:1", "priority=1,in_port=1,actions=NORMAL"]),
    ];
    for (br, fl) in flows {
        let specs: Vec<_> = {
            let names = o.bridge(br).unwrap().port_names();
            fl.iter().map(|f| parse_flow(f, ParseMode::Add, &names).unwrap()).collect()
        };
        o.add_flows(br, &specs).unwrap();
    }
    o.net.routes.store(Arc::new(RouteTable {
        routes: vec![Route { dst: "10.89.0.0".parse().unwrap(), plen: 24, gateway: None, dev: "br-phy".into(), src: None, priority: 0 }],
        addrs: vec![("br-phy".into(), "10.89.0.1".parse().unwrap(), 24)],
        links: [("br-phy".to_string(), (PHY_MAC, 1500))].into_iter().collect(),
    }));
    o.net.neigh.set("br-phy", "10.89.0.2".parse().unwrap(), PEER_MAC);
    let p = Arc::new(o.snapshot());
    Setup { o, p, vm: vm.into(), plain: plain.into(), uplink: uplink.into() }
}

/// The VXLAN packet (VNI 100) a peer at 10.89.0.2 sends us with `inner` in it.
fn vxlan_frame(inner: &[u8]) -> Vec<u8> {
    let hdr = TnlHeader::build(&TnlParams {
        proto: TunnelProto::Vxlan,
        eth_dst: PHY_MAC,
        eth_src: PEER_MAC,
        ip_src: "10.89.0.2".parse().unwrap(),
        ip_dst: "10.89.0.1".parse().unwrap(),
        tos: 0,
        ttl: 64,
        df: true,
        key: 0x64,
        with_key: true,
        udp_dst: 4789,
        csum: false,
    });
    let mut buf = vec![0u8; 512];
    buf[HEADROOM..HEADROOM + inner.len()].copy_from_slice(inner);
    let mut pkt = PacketMut::with_headroom(&mut buf, HEADROOM, inner.len()).unwrap();
    hdr.push(&mut pkt, 49152).unwrap();
    pkt.data().to_vec()
}

fn key_of(f: &[u8], in_port: u32) -> FlowKey {
    let mut k = FlowKey::ZERO;
    extract(f, in_port, &mut k).unwrap();
    k
}

/// A frame to the plain port on br-tun instead of the tunnel (dst MAC ...:03).
fn plain_frame() -> Vec<u8> {
    let mut f = udp_frame(10000);
    f[5] = 3;
    f
}

fn bench_parts(c: &mut Criterion) {
    let s = setup();
    let epoch = s.o.epoch().load(Ordering::Relaxed);
    let inner = udp_frame(10000);
    // The encapsulation action the translation makes for the VM's packet.
    let (_, out) = Cache::new(0, 16).upcall(&key_of(&inner, s.vm), &s.p, epoch);
    let push = out.actions.iter().find(|a| matches!(a, DpAction::TnlPush(_))).expect("tnl_push").clone();
    assert_eq!(out.actions.last(), Some(&DpAction::Output(xvs::port::OdpPort(s.uplink))), "{:?}", out.actions);

    let mut buf = vec![0u8; BUF];
    let mut g = c.benchmark_group("tunnel_encap");
    g.throughput(Throughput::Elements(1));
    g.bench_function("reset_only", |b| {
        b.iter(|| {
            buf[HEADROOM..HEADROOM + inner.len()].copy_from_slice(&inner);
            let pkt = PacketMut::with_headroom(&mut buf, HEADROOM, inner.len()).unwrap();
            black_box(pkt.len())
        })
    });
    g.bench_function("push_vxlan", |b| {
        b.iter(|| {
            buf[HEADROOM..HEADROOM + inner.len()].copy_from_slice(&inner);
            let mut ofs = xvs::packet::extract::Offsets { l3: 14, l4: 34 };
            let mut pkt = PacketMut::with_headroom(&mut buf, HEADROOM, inner.len()).unwrap();
            xvs::exec::apply(&mut pkt, &mut ofs, black_box(&push)).unwrap();
            black_box(pkt.len())
        })
    });
    g.finish();
    buf[HEADROOM..HEADROOM + inner.len()].copy_from_slice(&inner);
    let mut ofs = xvs::packet::extract::Offsets { l3: 14, l4: 34 };
    let mut pkt = PacketMut::with_headroom(&mut buf, HEADROOM, inner.len()).unwrap();
    xvs::exec::apply(&mut pkt, &mut ofs, &push).unwrap();
    assert_eq!(pkt.len(), inner.len() + 50);
    assert_eq!(&pkt.data()[..6], &PEER_MAC);

    let outer = vxlan_frame(&inner);
    let (&vport, v) = s.p.vports.iter().next().expect("a vxlan vport");
    let (proto, dport) = (v.proto, v.dst_port);
    let mut g = c.benchmark_group("tunnel_decap");
    g.throughput(Throughput::Elements(1));
    g.bench_function("reset_only", |b| {
        b.iter(|| {
            buf[HEADROOM..HEADROOM + outer.len()].copy_from_slice(&outer);
            let pkt = PacketMut::with_headroom(&mut buf, HEADROOM, outer.len()).unwrap();
            black_box(pkt.len())
        })
    });
    let pop_extract = |buf: &mut [u8], key: &mut FlowKey| {
        buf[HEADROOM..HEADROOM + outer.len()].copy_from_slice(&outer);
        let mut pkt = PacketMut::with_headroom(buf, HEADROOM, outer.len()).unwrap();
        let md = tunnel::pop(&mut pkt, proto, dport).unwrap();
        *key = FlowKey::ZERO;
        let ofs = extract(pkt.data(), vport.0, key).unwrap();
        Field::TunId.set(key, md.tun_id as u128);
        Field::TunSrc.set(key, u32::from(md.src) as u128);
        Field::TunDst.set(key, u32::from(md.dst) as u128);
        ofs
    };
    let mut key = FlowKey::ZERO;
    pop_extract(&mut buf, &mut key);
    assert_eq!(Field::TunId.get(&key), 0x64);
    assert_eq!(key, {
        let mut k = key_of(&inner, vport.0);
        Field::TunId.set(&mut k, 0x64);
        Field::TunSrc.set(&mut k, u32::from("10.89.0.2".parse::<std::net::Ipv4Addr>().unwrap()) as u128);
        Field::TunDst.set(&mut k, u32::from("10.89.0.1".parse::<std::net::Ipv4Addr>().unwrap()) as u128);
        k
    });
    g.bench_function("pop_extract_vxlan", |b| {
        b.iter(|| {
            let ofs = pop_extract(&mut buf, &mut key);
            black_box(&key);
            black_box(ofs)
        })
    });
    g.finish();
}

/// What the worker does with one frame after its key: lookup (hit), run the
/// megaflow's actions; a tnl_pop pops, re-extracts with the tunnel metadata and goes
/// round again. Returns the output port.
#[inline(always)]
fn process(cache: &mut Cache, p: &Pipeline, epoch: u64, pkt: &mut PacketMut, key: &mut FlowKey, mut ofs: xvs::packet::extract::Offsets) -> u32 {
    let mut out = u32::MAX;
    for _pass in 0..4 {
        let idx = match cache.lookup(key, p, epoch) {
            Some((idx, _)) => idx,
            None => cache.upcall(key, p, epoch).0,
        };
        let e = cache.mf.get_mut(idx).unwrap();
        e.pending_packets += 1;
        let mut next = None;
        for a in e.actions.iter() {
            match a {
                DpAction::Output(port) => out = port.0,
                DpAction::TnlPop(vport) => {
                    let v = p.vports.get(vport).unwrap();
                    let md = tunnel::pop(pkt, v.proto, v.dst_port).unwrap();
                    *key = FlowKey::ZERO;
                    ofs = extract(pkt.data(), vport.0, key).unwrap();
                    Field::TunId.set(key, md.tun_id as u128);
                    Field::TunSrc.set(key, u32::from(md.src) as u128);
                    Field::TunDst.set(key, u32::from(md.dst) as u128);
                    next = Some(());
                }
                _ => {
                    let _ = xvs::exec::apply(pkt, &mut ofs, a);
                }
            }
        }
        if next.is_none() {
            break;
        }
    }
    out
}

fn bench_per_packet(c: &mut Criterion) {
    let s = setup();
    let epoch = s.o.epoch().load(Ordering::Relaxed);
    let p = s.p.clone();
    let mut g = c.benchmark_group("tunnel_per_packet");
    g.throughput(Throughput::Elements(BATCH as u64));
    let cases: [(&str, Vec<u8>, u32, u32, usize); 4] = [
        ("batch32_encap", udp_frame(10000), s.vm, s.uplink, 60 + 50),
        ("batch32_encap_baseline_no_tunnel", plain_frame(), s.vm, s.plain, 60),
        ("batch32_decap", vxlan_frame(&udp_frame(10000)), s.uplink, s.vm, 60),
        ("batch32_decap_baseline_no_tunnel", udp_frame(10000), s.plain, s.vm, 60),
    ];
    for (name, template, in_port, want_port, want_len) in cases {
        let mut bufs: Vec<Vec<u8>> = (0..BATCH).map(|_| vec![0u8; BUF]).collect();
        let mut keys = [FlowKey::ZERO; BATCH];
        let mut cache = Cache::new(8192, 1 << 16);
        let n = template.len();
        let run = |bufs: &mut Vec<Vec<u8>>, keys: &mut [FlowKey; BATCH], cache: &mut Cache| {
            let mut last = (0, 0);
            for (i, buf) in bufs.iter_mut().enumerate() {
                buf[HEADROOM..HEADROOM + n].copy_from_slice(&template);
                let ofs = extract(&buf[HEADROOM..HEADROOM + n], in_port, &mut keys[i]).unwrap();
                let mut pkt = PacketMut::with_headroom(buf, HEADROOM, n).unwrap();
                let port = process(cache, &p, epoch, &mut pkt, &mut keys[i], ofs);
                last = (port, pkt.len());
            }
            last
        };
        // Warm the cache (the first packet is a miss) and check where packets go.
        if std::env::var_os("TUNNEL_BENCH_DEBUG").is_some() {
            let mut t = xvs::xlate::trace::Trace::new(name);
            let out = xvs::xlate::translate_traced(&p, &key_of(&template, in_port), &mut t);
            eprintln!("{name}: {:?} {:?} {:?}\n{}", out.actions, out.error, out.error_detail, t.text);
        }
        assert_eq!(run(&mut bufs, &mut keys, &mut cache), (want_port, want_len), "{name}");
        g.bench_function(name, |b| b.iter(|| black_box(run(&mut bufs, &mut keys, &mut cache))));
    }
    g.finish();
}

criterion_group!(benches, bench_parts, bench_per_packet);
criterion_main!(benches);
