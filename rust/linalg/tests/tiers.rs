//! linalg's kernels on every SIMD tier this CPU supports, called through its own
//! table (`mlkern_linalg::dispatch`, no process-wide tier switch), against exact
//! references within the bounds in each kernel's header: the GEMM micro-tile
//! (packed and strided, both dtypes, overwrite and accumulate, every `kc` to 40 and
//! a long one) and the CSR row kernel (both index types and dtypes, awkward column
//! counts, bad indices).

#[path = "../../core/tests/common.rs"]
mod common;

use common::*;
use mlkern_core::Tier;
use mlkern_linalg::dispatch::{for_tier, Kernels};

fn tiers() -> Vec<(Tier, &'static Kernels)> {
    supported_tables(for_tier)
}

#[test]
fn every_supported_tier_has_its_table() {
    check_tables_match_tiers(for_tier, |k| k.tier);
}

/// Checks one micro-tile call against `C0·[acc] + Σ_p a[i][p] b[p][j]` computed exactly,
/// with the bound `γ_kc Σ_p |a b| + 2u |exact|` (the final add of `C0` included).
fn check_tile(
    what: &str,
    kc: usize,
    mr: usize,
    nr: usize,
    a: &[f64],
    b: &[f64],
    c0: &[f64],
    got: &[f64],
    ldc: usize,
    acc: bool,
    u: f64,
) {
    for j in 0..nr {
        for i in 0..mr {
            let ai: Vec<f64> = (0..kc).map(|p| a[p * mr + i]).collect();
            let bj: Vec<f64> = (0..kc).map(|p| b[p * nr + j]).collect();
            let base = if acc { c0[i + j * ldc] } else { 0.0 };
            let mut terms = ai.clone();
            terms.push(base);
            let mut ones = bj.clone();
            ones.push(1.0);
            let exact = exact_dot(&terms, &ones);
            let bound = gamma(kc + 1, u) * abs_dot(&terms, &ones) + 2.0 * u * exact.abs();
            let e = got[i + j * ldc];
            assert!((e - exact).abs() <= bound, "{what} kc={kc} acc={acc} ({i},{j}): {e} vs {exact} (bound {bound})");
        }
    }
    // Padding rows between tile columns are untouched.
    for j in 0..nr {
        for i in mr..ldc {
            assert_eq!(got[i + j * ldc].to_bits(), c0[i + j * ldc].to_bits(), "{what}: wrote outside the tile");
        }
    }
}

#[test]
fn gemm_micro_tile_matches_exact_every_tier() {
    let mut rng = Rng(21);
    for (tier, k) in tiers() {
        for kc in (1..=40).chain([257]) {
            for acc in [false, true] {
                // f64, both tiles of the tier
                for (shape, g) in [("wide", k.f64.gemm), ("narrow", k.f64.gemm_narrow)] {
                    let (mr, nr, ldc) = (g.mr, g.nr, g.mr + 3);
                    let a = rng.vec_f64(kc * mr);
                    let b = rng.vec_f64(kc * nr);
                    let c0 = rng.vec_f64(ldc * nr);
                    let mut c = c0.clone();
                    // SAFETY: a holds kc·mr, b kc·nr values; the tile (mr rows, nr columns
                    // ldc apart) lies inside c.
                    unsafe { (g.kernel)(kc, a.as_ptr(), b.as_ptr(), c.as_mut_ptr(), ldc, acc) };
                    check_tile(&format!("{tier} f64 {shape} packed"), kc, mr, nr, &a, &b, &c0, &c, ldc, acc, U64);
                    // The strided entry point on the same values, laid out with padding:
                    // Ã step p at p·(mr + 1), B̃ (p, j) at p·(2nr + 1) + 2j.
                    let (a_step, b_step) = (mr + 1, 2 * nr + 1);
                    let mut a_s = vec![f64::NAN; kc * a_step];
                    let mut b_s = vec![f64::NAN; kc * b_step];
                    for p in 0..kc {
                        a_s[p * a_step..p * a_step + mr].copy_from_slice(&a[p * mr..(p + 1) * mr]);
                        for j in 0..nr {
                            b_s[p * b_step + 2 * j] = b[p * nr + j];
                        }
                    }
                    let mut c = c0.clone();
                    // SAFETY: every element the strided tile reads lies inside a_s / b_s
                    // (the NaN padding is never read: a NaN would fail the check).
                    unsafe {
                        (g.kernel_strided)(kc, a_s.as_ptr(), a_step, b_s.as_ptr(), b_step, 2, c.as_mut_ptr(), ldc, acc)
                    };
                    check_tile(&format!("{tier} f64 {shape} strided"), kc, mr, nr, &a, &b, &c0, &c, ldc, acc, U64);
                }

                // f32, both tiles of the tier
                for (shape, g) in [("wide", k.f32.gemm), ("narrow", k.f32.gemm_narrow)] {
                    let (mr, nr, ldc) = (g.mr, g.nr, g.mr + 1);
                    let a = rng.vec_f32(kc * mr);
                    let b = rng.vec_f32(kc * nr);
                    let c0 = rng.vec_f32(ldc * nr);
                    let mut c = c0.clone();
                    // SAFETY: as above.
                    unsafe { (g.kernel)(kc, a.as_ptr(), b.as_ptr(), c.as_mut_ptr(), ldc, acc) };
                    let (aw, bw, c0w) = (widen(&a), widen(&b), widen(&c0));
                    check_tile(
                        &format!("{tier} f32 {shape} packed"),
                        kc,
                        mr,
                        nr,
                        &aw,
                        &bw,
                        &c0w,
                        &widen(&c),
                        ldc,
                        acc,
                        U32,
                    );
                    // f32 strided: Ã step p at p·(mr + 3), B̃ (p, j) at p + j·(kc + 1)
                    // (a column-major B read in place).
                    let (a_step, b_col) = (mr + 3, kc + 1);
                    let mut a_s = vec![f32::NAN; kc * a_step];
                    let mut b_s = vec![f32::NAN; nr * b_col];
                    for p in 0..kc {
                        a_s[p * a_step..p * a_step + mr].copy_from_slice(&a[p * mr..(p + 1) * mr]);
                        for j in 0..nr {
                            b_s[p + j * b_col] = b[p * nr + j];
                        }
                    }
                    let mut c = c0.clone();
                    // SAFETY: every element the strided tile reads lies inside a_s / b_s.
                    unsafe {
                        (g.kernel_strided)(kc, a_s.as_ptr(), a_step, b_s.as_ptr(), 1, b_col, c.as_mut_ptr(), ldc, acc)
                    };
                    check_tile(
                        &format!("{tier} f32 {shape} strided"),
                        kc,
                        mr,
                        nr,
                        &aw,
                        &bw,
                        &c0w,
                        &widen(&c),
                        ldc,
                        acc,
                        U32,
                    );
                }
            }
        }
    }
}

#[test]
fn csr_row_matches_exact_every_tier() {
    let mut rng = Rng(22);
    for (tier, k) in tiers() {
        for n in [1usize, 2, 3, 7, 8, 15, 16, 17, 33, 64, 65, 130] {
            let (kdim, ldb) = (9, n + 2);
            let b = rng.vec_f64(kdim * ldb);
            for nnz in [0usize, 1, 2, 5, 13] {
                let idx: Vec<i64> = (0..nnz).map(|_| rng.below(kdim) as i64).collect();
                let data = rng.vec_f64(nnz);
                let mut out = vec![f64::NAN; n];
                assert!((k.f64.csr_row_i64)(&data, &idx, &b, ldb, kdim, &mut out));
                let idx32: Vec<i32> = idx.iter().map(|&i| i as i32).collect();
                let mut out32 = vec![f64::NAN; n];
                assert!((k.f64.csr_row_i32)(&data, &idx32, &b, ldb, kdim, &mut out32));
                let (b32, d32) = (
                    b.iter().map(|&x| x as f32).collect::<Vec<_>>(),
                    data.iter().map(|&x| x as f32).collect::<Vec<_>>(),
                );
                let mut o32 = vec![f32::NAN; n];
                assert!((k.f32.csr_row_i64)(&d32, &idx, &b32, ldb, kdim, &mut o32));
                let mut o32_i32 = vec![f32::NAN; n];
                assert!((k.f32.csr_row_i32)(&d32, &idx32, &b32, ldb, kdim, &mut o32_i32));
                assert!(
                    o32.iter().zip(&o32_i32).all(|(x, y)| x.to_bits() == y.to_bits()),
                    "{tier}: f32 index types disagree"
                );
                for j in 0..n {
                    let col: Vec<f64> = idx.iter().map(|&i| b[i as usize * ldb + j]).collect();
                    let exact = exact_dot(&data, &col);
                    let bound = gamma(nnz.max(1), U64) * abs_dot(&data, &col) + 2.0 * U64 * exact.abs();
                    assert!((out[j] - exact).abs() <= bound, "{tier} f64 n={n} nnz={nnz} j={j}");
                    assert_eq!(out[j].to_bits(), out32[j].to_bits(), "{tier}: index types disagree");
                    let col32: Vec<f64> = idx.iter().map(|&i| b32[i as usize * ldb + j] as f64).collect();
                    let d32w = widen(&d32);
                    let exact = exact_dot(&d32w, &col32);
                    let bound = gamma(nnz.max(1), U32) * abs_dot(&d32w, &col32) + 2.0 * U32 * exact.abs();
                    assert!((o32[j] as f64 - exact).abs() <= bound, "{tier} f32 n={n} nnz={nnz} j={j}");
                }
            }
            // An index out of range (or negative) is reported and nothing is written.
            for bad in [kdim as i64, -1, i64::MAX] {
                let mut out = vec![7.0f64; n];
                assert!(!(k.f64.csr_row_i64)(&[1.0, 2.0], &[0, bad], &b, ldb, kdim, &mut out), "{tier} index {bad}");
                assert!(out.iter().all(|&v| v == 7.0), "{tier}: wrote on a bad index");
            }
        }
    }
}
