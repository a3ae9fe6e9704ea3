//! Per-packet costs of the fast path, without I/O: flow-key extraction, cache hits
//! (EMC and megaflow), a miss with translation and install, and the whole per-packet
//! path (extract + lookup + rewrite) over a batch of 32 frames. Also the cost of
//! applying one changed MAC (targeted revalidation) to a worker's cache.

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

/// Targeted revalidation: one MAC moves; the worker reads its tag from the change log
/// and marks the megaflows that looked it up (one here, among `n` NORMAL megaflows
/// towards `n` different destination MACs). Timed: `poll_changes` (log read + index
/// lookup + marking). Not timed: re-translating the marked entry on its next hit,
/// which an upcall costs (see cache_miss). `scan_alternative` is what finding the
/// entries by walking the whole cache would cost instead of the tag index.
fn bench_revalidation(c: &mut Criterion) {
    use std::time::{Duration, Instant};
    use xvs::cache::tags::Tag;
    use xvs::flow::field::Field;
    let mut g = c.benchmark_group("revalidation");
    g.sample_size(20);
    for n in [10_000usize, 200_000] {
        let (o, p) = pipeline(4, &["priority=0,actions=NORMAL"]);
        let epoch = o.epoch().load(std::sync::atomic::Ordering::Relaxed);
        let log = o.changes();
        let mac = |i: usize| [2u8, 0xdd, 0, (i >> 16) as u8, (i >> 8) as u8, i as u8];
        let keys: Vec<FlowKey> = (0..n)
            .map(|i| {
                let mut k = key_of(&udp_frame(10000));
                let m = mac(i);
                Field::EthDst.set(&mut k, m.iter().fold(0u128, |a, &b| a << 8 | b as u128));
                k
            })
            .collect();
        let mut cache = Cache::new(0, n + 16);
        cache.follow(&log);
        for k in &keys {
            cache.upcall(k, &p, epoch);
        }
        cache.poll_changes(&log);
        assert_eq!(cache.mf.len(), n);
        let mt = p.bridge(0).unwrap().mac.clone();
        let mut round = 0usize;
        g.bench_function(format!("apply_one_changed_mac_index/{n}_megaflows"), |b| {
            b.iter_custom(|iters| {
                let mut t = Duration::ZERO;
                for _ in 0..iters {
                    round += 1;
                    let i = (round * 7919) % n;
                    // A move between ports 2 and 3 (a new MAC the first time).
                    mt.learn(0, mac(i), 2 + (round % 2) as u32);
                    let t0 = Instant::now();
                    cache.poll_changes(&log);
                    t += t0.elapsed();
                    // The marked entry's next packet re-translates it (not timed).
                    if cache.lookup(&keys[i], &p, epoch).is_none() {
                        cache.upcall(&keys[i], &p, epoch);
                    }
                }
                t
            })
        });
        assert!(cache.counters.reval_marked > 0 && cache.counters.reval_full == 0);
        let absent = Tag::route();
        g.bench_function(format!("scan_alternative/{n}_megaflows"), |b| {
            b.iter(|| {
                let mut hits = 0;
                for e in cache.mf.entries_mut() {
                    if e.deps.contains(&absent) {
                        e.epoch = 0;
                        hits += 1;
                    }
                }
                black_box(hits)
            })
        });
    }
    g.finish();
}

criterion_group!(benches, bench_extract, bench_cache, bench_per_packet, bench_revalidation);
criterion_main!(benches);
