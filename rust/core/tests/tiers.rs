//! Every SIMD tier this CPU supports, against exact references, on all lengths
//! 0..=300 and unaligned starting offsets, within the error bounds stated in each
//! kernel's header.

mod common;

use common::*;
use mlkern_core::aligned::AlignedVec;
use mlkern_core::cpu::{available_tiers, Tier};
use mlkern_core::dispatch::{for_tier, Kernels};

/// (offset into a, offset into b): aligned, and each misalignment mod 4 elements.
const OFFSETS: [(usize, usize); 5] = [(0, 0), (1, 3), (3, 1), (2, 2), (1, 0)];

fn tiers() -> Vec<(Tier, &'static Kernels)> {
    supported_tables(for_tier)
}

#[test]
fn this_machine_reaches_its_best_tier() {
    // On AVX-512 machines (development and CI), the top tier must be x86-64-v4.
    #[cfg(target_arch = "x86_64")]
    if std::is_x86_feature_detected!("avx512f")
        && std::is_x86_feature_detected!("avx512bw")
        && std::is_x86_feature_detected!("avx512vl")
        && std::is_x86_feature_detected!("avx512dq")
    {
        assert_eq!(*available_tiers().last().unwrap(), Tier::X86_64V4);
    }
    // Every aarch64 CPU has NEON, and it must be the top tier there.
    #[cfg(target_arch = "aarch64")]
    assert_eq!(*available_tiers().last().unwrap(), Tier::Neon);
    check_tables_match_tiers(for_tier, |k| k.tier);
}

/// Copies `src` into an aligned buffer at element offset `off`.
fn placed<T: mlkern_core::aligned::Zeroable>(src: &[T], off: usize) -> AlignedVec<T> {
    let mut buf = AlignedVec::zeroed(src.len() + off + 1).unwrap();
    buf[off..off + src.len()].copy_from_slice(src);
    buf
}

#[test]
fn dot_and_sqeuclidean_f32_all_lengths_and_offsets() {
    let mut rng = Rng(1);
    for (tier, k) in tiers() {
        for n in 0..=300usize {
            let a = rng.vec_f32(n);
            let b = rng.vec_f32(n);
            let (a64, b64) = (widen(&a), widen(&b));
            let exact = exact_dot(&a64, &b64);
            let bound = gamma(n, U32) * abs_dot(&a64, &b64) + 2.0 * U32 * exact.abs();
            let diffs: Vec<f64> = a64.iter().zip(&b64).map(|(x, y)| x - y).collect(); // exact in f64
            let sq_exact = exact_dot(&diffs, &diffs);
            let sq_bound = gamma(n + 2, U32) * sq_exact + 2.0 * U32 * sq_exact;
            for (oa, ob) in OFFSETS {
                let (pa, pb) = (placed(&a, oa), placed(&b, ob));
                let (sa, sb) = (&pa[oa..oa + n], &pb[ob..ob + n]);
                let got = (k.f32.dot)(sa, sb) as f64;
                assert!(
                    (got - exact).abs() <= bound,
                    "{tier} dot f32 n={n} off=({oa},{ob}): {got} vs {exact}, bound {bound}"
                );
                let got = (k.f32.sqeuclidean)(sa, sb) as f64;
                assert!(
                    (got - sq_exact).abs() <= sq_bound,
                    "{tier} sqeuclidean f32 n={n} off=({oa},{ob}): {got} vs {sq_exact}"
                );
                let got = (k.f32.dot_precise)(sa, sb) as f64;
                let pbound = U32 * exact.abs() + 4.0 * U64 * exact.abs() + gamma(n, U64).powi(2) * abs_dot(&a64, &b64);
                assert!((got - exact).abs() <= pbound, "{tier} dot_precise f32 n={n}: {got} vs {exact}");
            }
        }
    }
}

#[test]
fn dot_and_sqeuclidean_f64_all_lengths_and_offsets() {
    let mut rng = Rng(2);
    for (tier, k) in tiers() {
        for n in 0..=300usize {
            let a = rng.vec_f64(n);
            let b = rng.vec_f64(n);
            let exact = exact_dot(&a, &b);
            let bound = gamma(n, U64) * abs_dot(&a, &b) + 2.0 * U64 * exact.abs();
            // Reference for squared distance: exact sum of the squares of rounded differences,
            // plus the rounding of each difference (relative u, so 2u + u^2 on its square).
            let diffs: Vec<f64> = a.iter().zip(&b).map(|(x, y)| x - y).collect();
            let sq_ref = exact_dot(&diffs, &diffs);
            let sq_bound = (gamma(n, U64) + 3.0 * U64) * sq_ref * 1.001;
            for (oa, ob) in OFFSETS {
                let (pa, pb) = (placed(&a, oa), placed(&b, ob));
                let (sa, sb) = (&pa[oa..oa + n], &pb[ob..ob + n]);
                let got = (k.f64.dot)(sa, sb);
                assert!((got - exact).abs() <= bound, "{tier} dot f64 n={n} off=({oa},{ob}): {got} vs {exact}");
                let got = (k.f64.sqeuclidean)(sa, sb);
                assert!((got - sq_ref).abs() <= sq_bound, "{tier} sqeuclidean f64 n={n}: {got} vs {sq_ref}");
                let got = (k.f64.dot_precise)(sa, sb);
                let pbound = 2.0 * U64 * exact.abs() + gamma(n, U64).powi(2) * abs_dot(&a, &b);
                assert!((got - exact).abs() <= pbound, "{tier} dot_precise f64 n={n}: {got} vs {exact}");
            }
        }
    }
}

/// Ill-conditioned dot products (Ogita–Rump–Oishi's GenDot idea: huge terms that
/// cancel, leaving a tiny result). The plain kernel loses every digit; the
/// compensated one must stay within u|a·b| + γ_n² Σ|a_i b_i|.
#[test]
fn dot_precise_on_ill_conditioned_vectors() {
    let mut rng = Rng(3);
    for (tier, k) in tiers() {
        let mut plain_violations = 0;
        for &n in &[6usize, 7, 64, 65, 301, 1000] {
            for trial in 0..20 {
                let half = n / 2;
                let mut a = Vec::with_capacity(n);
                let mut b = Vec::with_capacity(n);
                for i in 0..half {
                    let e = (rng.below(60) as i32) - 30;
                    a.push(rng.uniform() * 2f64.powi(e));
                    b.push(rng.uniform() * 2f64.powi((i % 7) as i32));
                }
                // Mirror terms that cancel the first half (up to rounding), then noise.
                for i in 0..half {
                    a.push(-a[i] * (1.0 + rng.uniform() * 1e-10));
                    b.push(b[i]);
                }
                while a.len() < n {
                    a.push(rng.uniform() * 1e-20);
                    b.push(rng.uniform());
                }
                let exact = exact_dot(&a, &b);
                let cond = abs_dot(&a, &b) / exact.abs().max(f64::MIN_POSITIVE);
                let got = (k.f64.dot_precise)(&a, &b);
                let bound = 2.0 * U64 * exact.abs() + gamma(n, U64).powi(2) * abs_dot(&a, &b);
                assert!(
                    (got - exact).abs() <= bound,
                    "{tier} n={n} trial={trial} cond={cond:e}: {got:e} vs {exact:e} (bound {bound:e})"
                );
                if ((k.f64.dot)(&a, &b) - exact).abs() > bound {
                    plain_violations += 1;
                }
            }
        }
        // The data really is ill-conditioned: the plain kernel misses the same bound often.
        assert!(plain_violations > 60, "{tier}: plain dot violated the bound only {plain_violations} times");
    }
}

#[test]
fn tiles_match_exact_pairwise() {
    let mut rng = Rng(4);
    for (tier, k) in tiers() {
        for d in (0..=70).chain([127, 128, 129, 300, 768]) {
            let rows32: Vec<Vec<f32>> = (0..8).map(|_| rng.vec_f32(d)).collect();
            let rows64: Vec<Vec<f64>> = (0..8).map(|_| rng.vec_f64(d)).collect();
            let a32: [&[f32]; 4] = std::array::from_fn(|i| rows32[i].as_slice());
            let b32: [&[f32]; 4] = std::array::from_fn(|i| rows32[i + 4].as_slice());
            let a64: [&[f64]; 4] = std::array::from_fn(|i| rows64[i].as_slice());
            let b64: [&[f64]; 4] = std::array::from_fn(|i| rows64[i + 4].as_slice());
            let (t32, s32) = ((k.f32.tile_dot)(a32, b32), (k.f32.tile_sqeuclidean)(a32, b32));
            let (t64, s64) = ((k.f64.tile_dot)(a64, b64), (k.f64.tile_sqeuclidean)(a64, b64));
            for r in 0..4 {
                for c in 0..4 {
                    let (x, y) = (widen(a32[r]), widen(b32[c]));
                    let e = exact_dot(&x, &y);
                    let bound = gamma(d, U32) * abs_dot(&x, &y) + 2.0 * U32 * e.abs();
                    assert!((t32[r][c] as f64 - e).abs() <= bound, "{tier} tile_dot f32 d={d} ({r},{c})");
                    let diff: Vec<f64> = x.iter().zip(&y).map(|(p, q)| p - q).collect();
                    let se = exact_dot(&diff, &diff);
                    assert!(
                        (s32[r][c] as f64 - se).abs() <= (gamma(d + 2, U32) + 2.0 * U32) * se,
                        "{tier} tile_sqeuclidean f32 d={d}"
                    );
                    let e = exact_dot(a64[r], b64[c]);
                    let bound = gamma(d, U64) * abs_dot(a64[r], b64[c]) + 2.0 * U64 * e.abs();
                    assert!((t64[r][c] - e).abs() <= bound, "{tier} tile_dot f64 d={d} ({r},{c})");
                    let diff: Vec<f64> = a64[r].iter().zip(b64[c]).map(|(p, q)| p - q).collect();
                    let se = exact_dot(&diff, &diff);
                    assert!(
                        (s64[r][c] - se).abs() <= (gamma(d, U64) + 3.0 * U64) * se * 1.001,
                        "{tier} tile_sqeuclidean f64 d={d}"
                    );
                }
            }
        }
    }
}

#[test]
fn nan_and_inf_propagate_in_every_tier() {
    for (tier, k) in tiers() {
        for n in [1usize, 5, 16, 17, 100] {
            for pos in [0, n / 2, n - 1] {
                let mut a = vec![1.0f32; n];
                let b = vec![1.0f32; n];
                a[pos] = f32::NAN;
                assert!((k.f32.dot)(&a, &b).is_nan(), "{tier} n={n} pos={pos}");
                assert!((k.f32.sqeuclidean)(&a, &b).is_nan());
                a[pos] = f32::INFINITY;
                assert_eq!((k.f32.dot)(&a, &b), f32::INFINITY, "{tier} n={n} pos={pos}");
                let mut c = vec![1.0f64; n];
                c[pos] = f64::NAN;
                assert!((k.f64.dot)(&c, &c).is_nan());
                assert!((k.f64.dot_precise)(&c, &c).is_nan());
            }
        }
    }
}
