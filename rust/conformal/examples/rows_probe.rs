//! Times the x86-64-v4 row kernels on 100 000 rows of K = 10 skewed probabilities
//! (a profiling target: `perf record target/release/examples/rows_probe`).
use mlkern_conformal::dispatch::for_tier;
use mlkern_conformal::Regularization;
use mlkern_core::Tier;

fn median(mut f: impl FnMut()) -> f64 {
    let mut t: Vec<f64> = (0..21)
        .map(|_| {
            let s = std::time::Instant::now();
            f();
            s.elapsed().as_secs_f64()
        })
        .collect();
    t.sort_by(f64::total_cmp);
    t[10]
}

fn main() {
    let (n, k) = (100_000usize, 10usize);
    let mut state = 0x9E37_79B9_7F4A_7C15u64;
    let mut p = vec![0.0f64; n * k];
    for row in p.chunks_exact_mut(k) {
        for x in row.iter_mut() {
            state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            let u = ((state >> 11) as f64 + 0.5) / (1u64 << 53) as f64;
            *x = u.powi(4); // skewed, like Dirichlet(0.3)
        }
        let s: f64 = row.iter().sum();
        row.iter_mut().for_each(|x| *x /= s);
    }
    let Some(tab) = for_tier(Tier::X86_64V4) else { return println!("no x86-64-v4 on this CPU") };
    let rows = tab.f64.rows.expect("v4 has row kernels");
    let mut out = vec![0u8; n * k];
    let mut arg = vec![0i64; n];
    let mut und = Vec::new();
    let t_val = median(|| assert!((rows.first_bad_row)(&p, k, 1e-5).is_none()));
    let t_lac = median(|| assert!((rows.lac_rows)(&p, k, 0.9, &mut out, &mut []).is_none()));
    let t_aps = median(|| {
        und.clear();
        assert!((rows.aps_rows)(&p, k, &[0.9], Regularization::NONE, &mut out, &mut arg, &mut und).is_none())
    });
    let t_flat = median(|| {
        std::hint::black_box(flat_sum(std::hint::black_box(&p)));
    });
    println!("flat sum {:.2} ns per row ({:.1} GB/s)", t_flat / n as f64 * 1e9, (n * k * 8) as f64 / t_flat / 1e9);
    println!(
        "per row: validate {:.2} ns  lac {:.2} ns  aps {:.2} ns ({} undecided)",
        t_val / n as f64 * 1e9,
        t_lac / n as f64 * 1e9,
        t_aps / n as f64 * 1e9,
        und.len()
    );
}

/// The memory reference: one pass summing every value (8 lanes).
fn flat_sum(p: &[f64]) -> f64 {
    let mut acc = [0.0f64; 8];
    for c in p.chunks_exact(8) {
        for l in 0..8 {
            acc[l] += c[l];
        }
    }
    acc.iter().sum()
}
