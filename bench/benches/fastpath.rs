//! Per-packet costs of the fast path, without I/O: flow-key extraction, cache hits
//! (EMC and megaflow), a miss with translation and install, and the whole per-packet
//! path (extract + lookup + rewrite) over a batch of 32 frames.

use criterion::{black_box, criterion_group, criterion_main, BatchSize, Criterion, Throughput};

use xvs::cache::Cache;
use xvs::flow::FlowKey;
use xvs::packet::buf::PacketMut;
use xvs::packet::extract::extract;
use xvs_bench::{pipeline, udp_frame};

fn bench_extract(c: &mut Criterion) {
    let f = udp_frame(10000);
    let mut key = FlowKey::ZERO;
    let mut g = c.benchmark_group("extract");
    g.throughput(Throughput::Elements(1));
    g.bench_function("udp4_64B", |b| b.iter(|| black_box(extract(black_box(&f), 1, &mut key)).is_ok()));
    g.finish();
}

fn key_of(f: &[u8]) -> FlowKey {
    let mut k = FlowKey::ZERO;
    extract(f, 0, &mut k).unwrap();
    k
}

fn bench_cache(c: &mut Criterion) {
    let (o, p) = pipeline(2, &["priority=1,in_port=1,actions=output:2", "priority=10,udp,tp_dst=5000,actions=drop"]);
    let epoch = o.epoch().load(std::sync::atomic::Ordering::Relaxed);
    let key = key_of(&udp_frame(10000));
    let mut g = c.benchmark_group("cache");
    g.throughput(Throughput::Elements(1));

    let mut cache = Cache::new(8192, 1 << 16);
    cache.upcall(&key, &p, epoch);
    g.bench_function("emc_hit", |b| b.iter(|| black_box(cache.lookup(black_box(&key), &p, epoch))));

    let mut mf_only = Cache::new(0, 1 << 16);
    mf_only.upcall(&key, &p, epoch);
    g.bench_function("megaflow_hit_1_subtable", |b| b.iter(|| black_box(mf_only.lookup(black_box(&key), &p, epoch))));

    // Ten distinct masks in the cache; the packet's is found last when ranked last.
    let mut many = Cache::new(0, 1 << 16);
    let (o10, p10) = pipeline(
        2,
        &[
            "priority=1,in_port=1,actions=output:2",
            "priority=20,udp,tp_dst=1,actions=drop",
            "priority=19,udp,nw_dst=10.1.0.0/16,actions=drop",
            "priority=18,tcp,actions=drop",
            "priority=17,arp,actions=drop",
            "priority=16,dl_dst=01:00:00:00:00:00/01:00:00:00:00:00,actions=drop",
            "priority=15,icmp,actions=drop",
            "priority=14,udp,nw_src=10.9.0.1,actions=drop",
            "priority=13,udp,tp_src=7,actions=drop",
            "priority=12,ip,nw_ttl=1,actions=drop",
        ],
    );
    let e10 = o10.epoch().load(std::sync::atomic::Ordering::Relaxed);
    for i in 0..50u16 {
        let k = key_of(&udp_frame(10000 + i));
        many.upcall(&k, &p10, e10);
    }
    let k10 = key_of(&udp_frame(10000));
    g.bench_function("megaflow_hit_after_priority_sort", |b| b.iter(|| black_box(many.lookup(black_box(&k10), &p10, e10))));

    g.finish();
    // Miss: translate and install 1000 distinct keys into a fresh cache.
    let mut g = c.benchmark_group("cache_miss");
    g.throughput(Throughput::Elements(1000));
    let keys: Vec<FlowKey> = (0..1000u16).map(|i| key_of(&udp_frame(20000 + i))).collect();
    g.bench_function("miss_translate_install", |b| {
        b.iter_batched(
            || Cache::new(8192, 1 << 16),
            |mut cc| {
                for k in &keys {
                    black_box(cc.upcall(k, &p, epoch));
                }
            },
            BatchSize::LargeInput,
        )
    });
    g.finish();
}

/// Extract + lookup + execute for a batch of 32 frames (mod_vlan_vid + output), the
/// CPU work a worker does per packet besides the AF_XDP ring and syscall costs.
fn bench_per_packet(c: &mut Criterion) {
    let (o, p) = pipeline(2, &["priority=1,in_port=1,actions=mod_vlan_vid:100,output:2"]);
    let epoch = o.epoch().load(std::sync::atomic::Ordering::Relaxed);
    let template = udp_frame(10000);
    let mut bufs: Vec<Vec<u8>> = (0..32).map(|_| vec![0u8; 2048]).collect();
    let mut cache = Cache::new(8192, 1 << 16);
    let mut keys = [FlowKey::ZERO; 32];
    let mut g = c.benchmark_group("per_packet");
    g.throughput(Throughput::Elements(32));
    g.bench_function("batch32_extract_lookup_vlan_push", |b| {
        b.iter(|| {
            for (i, buf) in bufs.iter_mut().enumerate() {
                buf[..template.len()].copy_from_slice(&template);
                let ofs = extract(&buf[..template.len()], 0, &mut keys[i]).unwrap();
                let idx = match cache.lookup(&keys[i], &p, epoch) {
                    Some((idx, _)) => idx,
                    None => cache.upcall(&keys[i], &p, epoch).0,
                };
                let e = cache.mf.get_mut(idx).unwrap();
                e.pending_packets += 1;
                let mut pkt = PacketMut::new(buf, template.len()).unwrap();
                let mut ofs = ofs;
                for a in e.actions.iter() {
                    let _ = xvs::exec::apply(&mut pkt, &mut ofs, a);
                }
                black_box(pkt.len());
            }
        })
    });
    g.finish();
}

criterion_group!(benches, bench_extract, bench_cache, bench_per_packet);
criterion_main!(benches);
