//! Criterion benchmarks of each kernel at each SIMD tier this CPU supports.
//!
//! `cargo bench -p mlkern-core` (add `-- dot_f32` to filter). Tiers are called
//! through their dispatch tables directly, so one run compares them side by side.

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use mlkern_core::cpu::available_tiers;
use mlkern_core::dispatch::for_tier;
use mlkern_core::vector::{self, Metric};

fn data_f32(n: usize, seed: u32) -> Vec<f32> {
    (0..n).map(|i| ((i as u32).wrapping_mul(2_654_435_761).wrapping_add(seed) % 1000) as f32 / 500.0 - 1.0).collect()
}

fn data_f64(n: usize, seed: u32) -> Vec<f64> {
    data_f32(n, seed).into_iter().map(f64::from).collect()
}

fn pair_kernels(c: &mut Criterion) {
    for &n in &[16usize, 1024, 65_536] {
        let (a32, b32) = (data_f32(n, 1), data_f32(n, 2));
        let (a64, b64) = (data_f64(n, 1), data_f64(n, 2));
        let mut g = c.benchmark_group(format!("pair/n={n}"));
        g.throughput(Throughput::Elements(n as u64));
        for &tier in available_tiers() {
            let k = for_tier(tier).expect("available");
            g.bench_with_input(BenchmarkId::new("dot_f32", tier), &n, |bch, _| {
                bch.iter(|| (k.f32.dot)(black_box(&a32), black_box(&b32)))
            });
            g.bench_with_input(BenchmarkId::new("dot_f64", tier), &n, |bch, _| {
                bch.iter(|| (k.f64.dot)(black_box(&a64), black_box(&b64)))
            });
            g.bench_with_input(BenchmarkId::new("sqeuclidean_f32", tier), &n, |bch, _| {
                bch.iter(|| (k.f32.sqeuclidean)(black_box(&a32), black_box(&b32)))
            });
            g.bench_with_input(BenchmarkId::new("sqeuclidean_f64", tier), &n, |bch, _| {
                bch.iter(|| (k.f64.sqeuclidean)(black_box(&a64), black_box(&b64)))
            });
            g.bench_with_input(BenchmarkId::new("dot_precise_f64", tier), &n, |bch, _| {
                bch.iter(|| (k.f64.dot_precise)(black_box(&a64), black_box(&b64)))
            });
        }
        g.finish();
    }
}

fn tiles(c: &mut Criterion) {
    let d = 768;
    let rows32: Vec<Vec<f32>> = (0..8).map(|s| data_f32(d, s)).collect();
    let a: [&[f32]; 4] = std::array::from_fn(|i| rows32[i].as_slice());
    let b: [&[f32]; 4] = std::array::from_fn(|i| rows32[i + 4].as_slice());
    let mut g = c.benchmark_group("tile4x4/d=768");
    g.throughput(Throughput::Elements((16 * d) as u64));
    for &tier in available_tiers() {
        let k = for_tier(tier).expect("available");
        g.bench_function(BenchmarkId::new("tile_dot_f32", tier), |bch| {
            bch.iter(|| (k.f32.tile_dot)(black_box(a), black_box(b)))
        });
        g.bench_function(BenchmarkId::new("tile_sqeuclidean_f32", tier), |bch| {
            bch.iter(|| (k.f32.tile_sqeuclidean)(black_box(a), black_box(b)))
        });
    }
    g.finish();
}

fn drivers(c: &mut Criterion) {
    let (m, n, d) = (256, 256, 768);
    let a = data_f32(m * d, 3);
    let b = data_f32(n * d, 4);
    let mut out = vec![0.0f32; m * n];
    let mut g = c.benchmark_group("drivers");
    g.sample_size(20);
    g.throughput(Throughput::Elements((m * n * d) as u64));
    g.bench_function("cdist_cosine_f32_256x256x768", |bch| {
        bch.iter(|| vector::cdist(&a, m, &b, n, d, Metric::CosineSimilarity, &mut out).unwrap())
    });
    let corpus = data_f32(20_000 * 128, 5);
    let queries = data_f32(16 * 128, 6);
    let (mut idx, mut sc) = (vec![0i64; 16 * 10], vec![0.0f32; 16 * 10]);
    g.bench_function("topk_dot_f32_q16_n20000_d128_k10", |bch| {
        bch.iter(|| vector::topk(&queries, 16, &corpus, 20_000, 128, 10, Metric::Dot, &mut idx, &mut sc).unwrap())
    });
    g.finish();
}

criterion_group!(benches, pair_kernels, tiles, drivers);
criterion_main!(benches);
