//! Criterion benches of the hdc kernels: all-pairs Hamming and the fused projection
//! encoder, every popcount kernel / the active tier.
use criterion::{criterion_group, criterion_main, Criterion};
use mlkern_hdc::{dispatch, distance, encode, ops};

fn bench(c: &mut Criterion) {
    let d: usize = 10_000;
    let words = d.div_ceil(64);
    let a = ops::random(1000, d, 1).unwrap();
    let b = ops::random(1000, d, 2).unwrap();
    for (tier, k) in dispatch::all_hamming() {
        c.bench_function(&format!("cdist_hamming 1000x1000 D=10000 {} {}", tier.name(), k.name), |bch| {
            bch.iter(|| distance::cdist_hamming_with(k, &a, 1000, &b, 1000, words).unwrap())
        });
    }
    let f = 32;
    let x: Vec<f32> = (0..10_000 * f).map(|i| ((i * 7919) % 1000) as f32 / 500.0 - 1.0).collect();
    let w: Vec<f32> = (0..f * words * 64).map(|i| ((i * 104_729) % 2001) as f32 / 1000.0 - 1.0).collect();
    let p = encode::Projection { w: &w, features: f, d, bias: &[], nonlinearity: encode::Nonlinearity::Identity };
    c.bench_function("project 10000x32 -> D=10000 packed", |bch| {
        bch.iter(|| encode::encode_bits(&x, 10_000, &p).unwrap())
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
