//! Criterion benchmarks of mlkern-signal's row kernels (`cargo bench -p mlkern-signal`).

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use mlkern_core::threads::Parallelism;
use mlkern_signal::convolve::{convolve_rows, Method, Mode};
use mlkern_signal::fft::{rfft_rows, Norm};
use mlkern_signal::rolling::{rolling_rows, Stat};
use num_complex::Complex;

fn data(n: usize) -> Vec<f64> {
    (0..n).map(|i| ((i * 7919) % 1009) as f64 / 500.0 - 1.0).collect()
}

fn benches(c: &mut Criterion) {
    let mut g = c.benchmark_group("signal");
    g.sample_size(20);
    let (rows, n) = (64, 4096);
    let x = data(rows * n);
    let mut spec = vec![Complex::new(0.0, 0.0); rows * (n / 2 + 1)];
    g.throughput(Throughput::Elements((rows * n) as u64));
    g.bench_function("rfft_f64_64x4096_1thread", |b| {
        b.iter(|| rfft_rows(black_box(&x), rows, n, n, Norm::Backward, Parallelism::Sequential, &mut spec).unwrap())
    });
    let a = data(100_000);
    for (taps, method) in [(64, Method::Direct), (1024, Method::OverlapAdd), (1024, Method::Fft)] {
        let v = data(taps);
        let mut out = vec![0.0; a.len() + taps - 1];
        g.throughput(Throughput::Elements(a.len() as u64));
        g.bench_function(format!("convolve_f64_n100000_taps{taps}_{}", method.name()), |b| {
            b.iter(|| {
                convolve_rows(black_box(&a), 1, a.len(), &v, Mode::Full, method, Parallelism::Sequential, &mut out)
                    .unwrap()
            })
        });
    }
    let s = data(1_000_000);
    let mut out = vec![0.0; s.len()];
    g.throughput(Throughput::Elements(s.len() as u64));
    g.bench_function("rolling_std_f64_1e6_w100_1thread", |b| {
        b.iter(|| rolling_rows(black_box(&s), 1, s.len(), 100, Stat::Std, Parallelism::Sequential, &mut out).unwrap())
    });
    g.finish();
}

criterion_group!(signal, benches);
criterion_main!(signal);
