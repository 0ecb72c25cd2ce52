//! Criterion benchmarks of mlkern-conformal (`cargo bench -p mlkern-conformal`):
//! prediction sets of 100 000 rows × 10 classes (the workload) per method,
//! and K = 1000 APS sets. Inputs are Dirichlet-like rows from a fixed generator.

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use mlkern_conformal::probs::ProbMatrix;
use mlkern_conformal::rng::uniform;
use mlkern_conformal::sets::{predict_sets, SetParams, SetsOut, Threshold};
use mlkern_conformal::{Method, Regularization};

/// Rows of `k` probabilities with a peaked, Dirichlet(0.3)-like spread (`u^4` weights).
fn probs(n: usize, k: usize) -> Vec<f64> {
    let mut p = Vec::with_capacity(n * k);
    for i in 0..n {
        let w: Vec<f64> = (0..k).map(|j| uniform(1, (i * k + j) as u64).powi(4) + 1e-12).collect();
        let s: f64 = w.iter().sum();
        p.extend(w.iter().map(|x| x / s));
    }
    p
}

fn benches(c: &mut Criterion) {
    let mut g = c.benchmark_group("conformal");
    g.sample_size(20);
    for (n, k, methods) in [
        (
            100_000usize,
            10usize,
            &[(Method::Lac, 0.9), (Method::Aps, 0.95), (Method::Raps, 0.97), (Method::TopK, 4.0)][..],
        ),
        (10_000, 1000, &[(Method::Aps, 0.95)][..]),
    ] {
        let p = probs(n, k);
        let m = ProbMatrix::new(&p, n, k).unwrap();
        let mut out = vec![0u8; n * k];
        g.throughput(Throughput::Elements(n as u64));
        for &(method, q) in methods {
            let params = SetParams { method, reg: Regularization { lambda: 0.01, k_reg: 1 }, randomized: None };
            g.bench_function(format!("predict_sets_{method:?}_{n}x{k}"), |b| {
                b.iter(|| {
                    predict_sets(black_box(m), Threshold::Scalar(q), &params, SetsOut::Bytes(&mut out), None).unwrap()
                })
            });
        }
    }
    g.finish();
}

criterion_group!(conformal, benches);
criterion_main!(conformal);
