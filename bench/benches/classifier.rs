//! The OpenFlow table classifier at 1k, 10k and 100k rules of Neutron shapes
//! (`xvs_bench::rules`): what a megaflow miss pays per table.
//!
//! - `cls_lookup/SHAPE/N`: one classifier lookup (a full lookup: the megaflow cache
//!   missed), over 1024 distinct packets of the shape's traffic mix.
//! - `upcall/SHAPE/N`: the whole slow path of one packet through a bridge whose
//!   table 0 holds the rules (translate + install the megaflow), "ns per upcall".
//! - `upcall_gen/SHAPE/N`: the same with the benchmark generator's frames (UDP to
//!   ports 10000..), the traffic `bench/classifier-ovs.sh` sends to Open vSwitch.
//! - `flow_mod/SHAPE/N`: add and remove one rule while a snapshot shares the table
//!   (copy-on-write cost of a flow-mod).
//!
//! Before the timings it prints, per shape and size, the number of distinct megaflow
//! masks and megaflows that 10,000 flows of the traffic mix create (narrower masks,
//! fewer megaflows), and the same for 10,000 generator flows through translation.
//!
//! `XVS_CLS_DUMP=SHAPE:N` prints the rule set as ovs-ofctl text and exits
//! (`bench/classifier-ovs.sh` loads it into OVS). `XVS_CLS_SIZES=1000,10000` limits
//! the sizes.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{black_box, BatchSize, BenchmarkId, Criterion, Throughput};

use xvs::cache::Cache;
use xvs::flow::{FlowKey, FlowMask, FlowSpec};
use xvs::ofproto::classifier::Classifier;
use xvs::ofproto::pipeline::Pipeline;
use xvs::ofproto::{Ofproto, PortRequest};
use xvs_bench::rules::{self, Shape};

const SEED: u64 = 7;

fn sizes() -> Vec<usize> {
    match std::env::var("XVS_CLS_SIZES") {
        Ok(s) => s.split(',').filter_map(|x| x.trim().parse().ok()).collect(),
        Err(_) => vec![1_000, 10_000, 100_000],
    }
}

fn size_name(n: usize) -> String {
    if n.is_multiple_of(1000) {
        format!("{}k", n / 1000)
    } else {
        n.to_string()
    }
}

struct Fixture {
    shape: Shape,
    n: usize,
    specs: Vec<FlowSpec>,
    cls: Classifier,
    /// Packets of the shape's traffic mix from every port (classifier view).
    traffic: Vec<FlowKey>,
    /// The bridge for the upcall benchmarks: ofport 1 = datapath port 0, ofport 2.
    ofproto: Ofproto,
    pipeline: Arc<Pipeline>,
}

fn fixture(shape: Shape, n: usize) -> Fixture {
    let specs = rules::rules(shape, n, SEED);
    let t0 = Instant::now();
    let cls = rules::classifier(&specs);
    let build = t0.elapsed();
    let traffic = rules::traffic(shape, &specs, 10_000, SEED, None);
    let mut o = Ofproto::new();
    o.add_bridge("br0", true).unwrap();
    for i in 1..=2 {
        o.add_port("br0", PortRequest { name: format!("p{i}"), ofport: Some(i), ..Default::default() }).unwrap();
    }
    o.add_flows("br0", &specs).unwrap();
    let pipeline = Arc::new(o.snapshot());
    eprintln!(
        "# {}/{}: {} rules, {} subtables/groups, classifier built in {:.0} ms",
        shape.name(),
        size_name(n),
        cls.len(),
        cls.n_subtables(),
        build.as_secs_f64() * 1e3
    );
    Fixture { shape, n, specs, cls, traffic, ofproto: o, pipeline }
}

/// Megaflows the classifier alone would create for `keys`: a packet covered by an
/// existing megaflow creates none (as in the datapath cache). Returns (masks,
/// megaflows).
fn megaflows_of_table(cls: &Classifier, keys: &[FlowKey]) -> (usize, usize) {
    let mut cache: HashMap<FlowMask, HashSet<FlowKey>> = HashMap::new();
    let mut n = 0;
    for k in keys {
        if cache.iter().any(|(m, set)| set.contains(&k.and(m))) {
            continue;
        }
        let mut wc = FlowKey::ZERO;
        wc.w[0] = u64::MAX; // in_port/recirc_id are always exact, as in xlate
        black_box(cls.lookup(k, &mut wc));
        cache.entry(wc).or_default().insert(k.and(&wc));
        n += 1;
    }
    (cache.len(), n)
}

/// Datapath keys (in_port 1 -> datapath port 0) of table-0 keys.
fn dp_keys(keys: &[FlowKey]) -> Vec<FlowKey> {
    keys.iter()
        .map(|k| {
            let mut k = *k;
            k.set_in_port(0u32);
            k
        })
        .collect()
}

/// Megaflows installed when `keys` go through the datapath cache (translation on a
/// miss). Returns (masks, megaflows).
fn megaflows_through_xlate(f: &Fixture, keys: &[FlowKey]) -> (usize, usize) {
    let epoch = f.ofproto.epoch().load(Ordering::Relaxed);
    let mut cache = Cache::new(0, 1 << 20);
    for k in keys {
        if cache.lookup(k, &f.pipeline, epoch).is_none() {
            cache.upcall(k, &f.pipeline, epoch);
        }
    }
    (cache.mf.n_subtables(), cache.mf.len())
}

fn print_megaflow_table(fx: &[Fixture]) {
    println!();
    println!("megaflows created by 10,000 distinct flows (a covered packet creates none)");
    println!(
        "{:<7} {:>7} {:>9} | {:>12} {:>10} | {:>12} {:>10} | {:>12} {:>10}",
        "shape", "rules", "groups", "mix: masks", "megaflows", "mix@p1:masks", "megaflows", "gen: masks", "megaflows"
    );
    for f in fx {
        let (m1, n1) = megaflows_of_table(&f.cls, &f.traffic);
        let from1 = dp_keys(&rules::traffic(f.shape, &f.specs, 10_000, SEED + 1, Some(1)));
        let (m2, n2) = megaflows_through_xlate(f, &from1);
        let gen = dp_keys(&rules::generator_keys(10_000));
        let (m3, n3) = megaflows_through_xlate(f, &gen);
        println!(
            "{:<7} {:>7} {:>9} | {:>12} {:>10} | {:>12} {:>10} | {:>12} {:>10}",
            f.shape.name(),
            f.n,
            f.cls.n_subtables(),
            m1,
            n1,
            m2,
            n2,
            m3,
            n3
        );
    }
    println!("  mix: classifier only, packets from all ports; mix@p1: the same mix from ofport 1 through");
    println!("  translation and the megaflow cache; gen: xdpgen's UDP frames (dst ports 10000..19999) likewise");
    println!();
}

fn bench_lookup(c: &mut Criterion, fx: &[Fixture]) {
    let mut g = c.benchmark_group("cls_lookup");
    g.throughput(Throughput::Elements(1024));
    for f in fx {
        let keys = &f.traffic[..1024.min(f.traffic.len())];
        g.bench_function(BenchmarkId::new(f.shape.name(), size_name(f.n)), |b| {
            b.iter(|| {
                for k in keys {
                    let mut wc = FlowKey::ZERO;
                    black_box(f.cls.lookup(black_box(k), &mut wc));
                    black_box(&wc);
                }
            })
        });
    }
    g.finish();
}

fn bench_upcall(c: &mut Criterion, fx: &[Fixture]) {
    for (name, gen) in [("upcall", false), ("upcall_gen", true)] {
        let mut g = c.benchmark_group(name);
        g.throughput(Throughput::Elements(1000));
        for f in fx {
            if gen && f.shape != Shape::Sg {
                continue;
            }
            let keys = if gen {
                dp_keys(&rules::generator_keys(1000))
            } else {
                dp_keys(&rules::traffic(f.shape, &f.specs, 1000, SEED + 2, Some(1)))
            };
            let epoch = f.ofproto.epoch().load(Ordering::Relaxed);
            let p = &f.pipeline;
            g.bench_function(BenchmarkId::new(f.shape.name(), size_name(f.n)), |b| {
                b.iter_batched(
                    || Cache::new(0, 1 << 16),
                    |mut cache| {
                        for k in &keys {
                            black_box(cache.upcall(k, p, epoch));
                        }
                        cache
                    },
                    BatchSize::LargeInput,
                )
            });
        }
        g.finish();
    }
}

fn bench_flow_mod(c: &mut Criterion, fx: &[Fixture]) {
    let mut g = c.benchmark_group("flow_mod");
    g.throughput(Throughput::Elements(1));
    for f in fx {
        // A rule of the table's most common shape with a new value (a learned flow).
        let mut spec = f.specs[f.specs.len() / 2].clone();
        spec.priority = Some(spec.priority.unwrap_or(0) + 1);
        let r = rules::rule(u64::MAX, &spec);
        let mut table = f.cls.clone();
        g.bench_function(BenchmarkId::new(f.shape.name(), size_name(f.n)), |b| {
            b.iter(|| {
                // A snapshot shares every part of the table; the flow-mod copies what
                // it touches.
                let snapshot = table.clone();
                table.insert(r.clone());
                table.remove(&spec.m, spec.priority.unwrap());
                black_box(snapshot.len());
            })
        });
    }
    g.finish();
}

fn main() {
    if let Ok(d) = std::env::var("XVS_CLS_DUMP") {
        let (shape, n) = d.split_once(':').expect("XVS_CLS_DUMP=SHAPE:N");
        let shape = Shape::from_name(shape).expect("shape: sg, l2pop or mixed");
        let n: usize = n.parse().expect("N");
        print!("{}", rules::ofctl_text(&rules::rules(shape, n, SEED)));
        return;
    }
    let mut fx = Vec::new();
    for shape in Shape::ALL {
        for n in sizes() {
            fx.push(fixture(shape, n));
        }
    }
    print_megaflow_table(&fx);
    let mut c = Criterion::default()
        .sample_size(10)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
        .configure_from_args();
    bench_lookup(&mut c, &fx);
    bench_upcall(&mut c, &fx);
    bench_flow_mod(&mut c, &fx);
    c.final_summary();
}
