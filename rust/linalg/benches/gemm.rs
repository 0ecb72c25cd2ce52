//! Criterion benches of the GEMM driver (classical and Strassen) on the active tier,
//! one thread: `cargo bench -p mlkern-linalg`. `examples/gemm_sweep.rs` prints the
//! GFLOP/s table and the FMA ceiling used to choose block sizes and the crossover.

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use mlkern_core::threads;
use mlkern_linalg::strassen::{matmul, Method};
use mlkern_linalg::{MatMut, MatRef, Parallelism};

fn bench(c: &mut Criterion) {
    threads::set_num_threads(1).unwrap();
    let mut g = c.benchmark_group("gemm_f64");
    g.sample_size(10);
    for &(m, k, n) in &[(256, 256, 256), (512, 512, 512), (2048, 64, 2048), (64, 20_000, 32)] {
        let a: Vec<f64> = (0..m * k).map(|i| (i % 13) as f64 - 6.0).collect();
        let b: Vec<f64> = (0..k * n).map(|i| (i % 11) as f64 - 5.0).collect();
        let mut out = vec![0.0; m * n];
        g.throughput(Throughput::Elements((2 * m * k * n) as u64));
        for method in [Method::Classical, Method::Strassen] {
            if method == Method::Strassen && m.min(n).min(k) < 256 {
                continue;
            }
            g.bench_function(BenchmarkId::new(format!("{method:?}"), format!("{m}x{k}x{n}")), |bch| {
                bch.iter(|| {
                    matmul(
                        MatRef::row_major("a", &a, m, k).unwrap(),
                        MatRef::row_major("b", &b, k, n).unwrap(),
                        MatMut::row_major("out", &mut out, m, n).unwrap(),
                        method,
                        Parallelism::Pool,
                    )
                    .unwrap()
                })
            });
        }
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
