//! Times the fused projection encoder, 100 000 × 32 float32 → D = 10 000 packed, on
//! every tier (a profiling target like `cdist_probe`).
fn main() {
    use mlkern_hdc::encode::{encode_bits_with, Nonlinearity, Projection};
    let (n, f, d) = (100_000usize, 32usize, 10_000usize);
    let dpad = d.div_ceil(64) * 64;
    let x: Vec<f32> = (0..n * f).map(|i| ((i * 7919) % 1000) as f32 / 500.0 - 1.0).collect();
    let w: Vec<f32> = (0..f * dpad).map(|i| ((i * 104_729) % 2001) as f32 / 1000.0 - 1.0).collect();
    let p = Projection { w: &w, features: f, d, bias: &[], nonlinearity: Nonlinearity::Identity };
    let threads: usize = std::env::var("THREADS").ok().and_then(|s| s.parse().ok()).unwrap_or(1);
    mlkern_core::threads::set_num_threads(threads).unwrap();
    for &tier in mlkern_core::cpu::available_tiers().iter().rev().take(2) {
        let k = mlkern_hdc::dispatch::for_tier(tier).unwrap();
        let mut times = Vec::new();
        for _ in 0..5 {
            let t = std::time::Instant::now();
            std::hint::black_box(encode_bits_with(k, &x, n, &p).unwrap());
            times.push(t.elapsed().as_secs_f64());
        }
        times.sort_by(f64::total_cmp);
        let med = times[times.len() / 2];
        println!(
            "{:>10} {:8.1} ms {:9.0} samples/s {:6.1} GFLOP/s",
            tier.name(),
            med * 1e3,
            n as f64 / med,
            2.0 * (n * f * dpad) as f64 / med / 1e9
        );
    }
}
