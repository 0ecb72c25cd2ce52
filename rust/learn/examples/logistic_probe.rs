//! Times one fused logistic loss-and-gradient pass and one batch `predict_proba`
//! on 1 000 000 × 32 float32 rows (for profiling: `cargo run --profile profiling
//! -p mlkern-learn --example logistic_probe [threads]`).

use std::time::Instant;

use mlkern_learn::kernels::Output;
use mlkern_learn::logistic::{ClassData, Objective};
use mlkern_learn::predict::{self, Linear};

fn main() {
    let threads: usize = std::env::args().nth(1).and_then(|s| s.parse().ok()).unwrap_or(2);
    let (n, d) = (1_000_000usize, 32usize);
    let mut s = 0x1234_5678u64;
    let mut next = || {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        (s >> 40) as f32 / (1u64 << 24) as f32 - 0.5
    };
    let x: Vec<f32> = (0..n * d).map(|_| next()).collect();
    let y: Vec<u32> = (0..n).map(|i| u32::from(x[i * d] + 0.3 * x[i * d + 1] > 0.0)).collect();
    let data = ClassData { x: &x, n, d, y: &y, sw: None, n_classes: 2 };
    let mut obj = Objective::new(data, 1.0, true, threads).unwrap();
    let w: Vec<f64> = (0..obj.n_params()).map(|i| 0.01 * i as f64).collect();
    let mut g = vec![0.0; w.len()];
    let mut times = Vec::new();
    for _ in 0..30 {
        let t = Instant::now();
        std::hint::black_box(obj.eval(&w, &mut g));
        times.push(t.elapsed().as_secs_f64() * 1e3);
    }
    times.sort_by(f64::total_cmp);
    println!("eval: median {:.2} ms ({:.0} M rows/s)", times[15], n as f64 / times[15] / 1e3);
    let coef: Vec<f32> = w[..d].iter().map(|&v| v as f32).collect();
    let b = [w[d]];
    let m = Linear { coef: &coef, intercept: &b, d };
    let mut out = vec![0.0f32; 2 * n];
    let mut times = Vec::new();
    for _ in 0..30 {
        let t = Instant::now();
        predict::scores(&m, &x, n, Output::Proba, &mut out, threads).unwrap();
        times.push(t.elapsed().as_secs_f64() * 1e3);
    }
    times.sort_by(f64::total_cmp);
    println!("predict_proba: median {:.2} ms ({:.0} M rows/s)", times[15], n as f64 / times[15] / 1e3);
    let mut times = Vec::new();
    for _ in 0..30 {
        let t = Instant::now();
        let mut acc = [0.0f32; 32];
        for c in x.chunks_exact(32) {
            for l in 0..32 {
                acc[l] += c[l];
            }
        }
        std::hint::black_box(acc);
        times.push(t.elapsed().as_secs_f64() * 1e3);
    }
    times.sort_by(f64::total_cmp);
    println!("one vectorised read of X (1 thread): {:.2} ms", times[15]);
}
