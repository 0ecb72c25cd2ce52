//! Times `cdist_hamming` 1000 × 1000 × 10 000 bits with every popcount kernel (a
//! profiling target: `perf record --call-graph=dwarf target/profiling/examples/cdist_probe`).
fn main() {
    let d = 10_000usize;
    let words = d.div_ceil(64);
    let a = mlkern_hdc::ops::random(1000, d, 1).unwrap();
    let b = mlkern_hdc::ops::random(1000, d, 2).unwrap();
    let threads: usize = std::env::var("THREADS").ok().and_then(|s| s.parse().ok()).unwrap_or(1);
    mlkern_core::threads::set_num_threads(threads).unwrap();
    for (tier, k) in mlkern_hdc::dispatch::all_hamming() {
        let mut times = Vec::new();
        for _ in 0..15 {
            let t = std::time::Instant::now();
            std::hint::black_box(mlkern_hdc::distance::cdist_hamming_with(k, &a, 1000, &b, 1000, words).unwrap());
            times.push(t.elapsed().as_secs_f64());
        }
        times.sort_by(f64::total_cmp);
        let med = times[times.len() / 2];
        println!("{:>10} {:>18} {:8.2} ms {:7.0} Gbit/s", tier.name(), k.name, med * 1e3, 1e10 / med / 1e9);
    }
}
