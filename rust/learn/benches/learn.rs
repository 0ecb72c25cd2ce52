//! Criterion benches of the learn kernels on the active tier: one fused logistic
//! loss-and-gradient pass (binary and 5-class softmax) and batch probabilities,
//! 100 000 × 32 float32 rows.
use criterion::{criterion_group, criterion_main, Criterion};
use mlkern_learn::kernels::Output;
use mlkern_learn::logistic::{ClassData, Objective};
use mlkern_learn::predict::{self, Linear};

fn bench(c: &mut Criterion) {
    let (n, d) = (100_000usize, 32usize);
    let x: Vec<f32> = (0..n * d).map(|i| ((i * 7919) % 1000) as f32 / 500.0 - 1.0).collect();
    for k in [2usize, 5] {
        let y: Vec<u32> = (0..n).map(|i| ((i * 31) % k) as u32).collect();
        let mut obj =
            Objective::new(ClassData { x: &x, n, d, y: &y, sw: None, n_classes: k }, 1.0, true, usize::MAX).unwrap();
        let w = vec![0.01; obj.n_params()];
        let mut g = vec![0.0; w.len()];
        c.bench_function(&format!("logistic loss+gradient 100000x32 f32 classes={k}"), |b| {
            b.iter(|| obj.eval(&w, &mut g))
        });
    }
    let coef = vec![0.05f32; d];
    let m = Linear { coef: &coef, intercept: &[0.1], d };
    let mut out = vec![0.0f32; 2 * n];
    c.bench_function("predict_proba binary 100000x32 f32", |b| {
        b.iter(|| predict::scores(&m, &x, n, Output::Proba, &mut out, usize::MAX).unwrap())
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
