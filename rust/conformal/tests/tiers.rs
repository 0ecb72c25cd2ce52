//! conformal's kernels on every SIMD tier this CPU supports, through its own table
//! (`mlkern_conformal::dispatch`), against the float64 formulas they implement
//! (written out here, element by element): every length 0..=70 and some longer, at
//! unaligned offsets, with values placed exactly on and one ulp around the
//! thresholds so a compare that rounds, reorders or drops a tail element fails.

#[path = "../../core/tests/common.rs"]
mod common;

use common::*;
use mlkern_conformal::dispatch::{for_tier, Kernels, RowProblem};
use mlkern_conformal::EPSILON;
use mlkern_core::Tier;

fn tiers() -> Vec<(Tier, &'static Kernels)> {
    supported_tables(for_tier)
}

#[test]
fn every_supported_tier_has_its_table() {
    check_tables_match_tiers(for_tier, |k| k.tier);
}

/// A probability `e` with `(1 − e) − q == ε` exactly for `q = (1 − e) − ε`: `1 − e`
/// is a multiple of 2⁻⁵³ near 1.2e-8, so `q` (about 2e-9) holds it exactly. (For
/// probabilities near 0.5 the compare's edge cannot be hit exactly: the difference
/// is a multiple of 2⁻⁵⁴ and ε is not.)
const EDGE: f64 = 1.0 - 108_086_391.0 / 9_007_199_254_740_992.0; // 1 − 108086391 · 2⁻⁵³
/// An entry exactly ε below the at-least cut `TINY + ε`.
const TINY: f64 = 9.313225746154785e-10; // 2⁻³⁰

/// Probabilities in [0, 1] with entries on the compare edges and one ulp either side.
fn edgy(rng: &mut Rng, n: usize) -> Vec<f64> {
    (0..n)
        .map(|i| match i % 7 {
            0 => EDGE,
            1 => f64::from_bits(EDGE.to_bits() + 1),
            2 => f64::from_bits(EDGE.to_bits() - 1),
            3 => TINY,
            4 => f64::from_bits(TINY.to_bits() + 1),
            _ => rng.uniform().abs(),
        })
        .collect()
}

#[test]
fn compares_match_formula_every_tier() {
    let mut rng = Rng(11);
    let lengths: Vec<usize> = (0..=70).chain([127, 128, 129, 1000]).collect();
    for (tier, k) in tiers() {
        for &n in &lengths {
            for off in [0usize, 1, 3] {
                let q = (1.0 - EDGE) - EPSILON;
                let p64 = edgy(&mut rng, n + off);
                let p32: Vec<f32> = p64.iter().map(|&x| x as f32).collect();
                // Per-entry thresholds: q where the entry sits on q's edge, else on its own edge.
                let qs: Vec<f64> =
                    (0..n).map(|i| if i % 2 == 0 { q } else { (1.0 - p64[off + i]) - EPSILON }).collect();
                // at_least's edge: an entry exactly ε below the cut.
                let cut = TINY + EPSILON;
                let (p64, p32) = (&p64[off..], &p32[off..]);
                if n >= 10 && tier == Tier::Scalar {
                    // The inputs really sit on each compare's edge.
                    assert!(p64.iter().any(|&x| (1.0 - x) - q == EPSILON));
                    assert!(p64.iter().zip(&qs).any(|(&x, &t)| (1.0 - x) - t == EPSILON));
                    assert!(p64.iter().any(|&x| x - cut == -EPSILON));
                }
                let mut o = vec![7u8; n];
                (k.f64.lac_scalar)(p64, q, &mut o);
                for i in 0..n {
                    assert_eq!(o[i], u8::from((1.0 - p64[i]) - q <= EPSILON), "{tier} lac f64 n={n} i={i}");
                }
                (k.f32.lac_scalar)(p32, q, &mut o);
                for i in 0..n {
                    assert_eq!(o[i], u8::from((1.0 - f64::from(p32[i])) - q <= EPSILON), "{tier} lac f32 n={n} i={i}");
                }
                (k.f64.lac_each)(p64, &qs, &mut o);
                for i in 0..n {
                    assert_eq!(o[i], u8::from((1.0 - p64[i]) - qs[i] <= EPSILON), "{tier} lac_each n={n} i={i}");
                }
                (k.f32.lac_each)(p32, &qs, &mut o);
                for i in 0..n {
                    assert_eq!(
                        o[i],
                        u8::from((1.0 - f64::from(p32[i])) - qs[i] <= EPSILON),
                        "{tier} lac_each f32 n={n}"
                    );
                }
                (k.f64.at_least)(p64, cut, &mut o);
                for i in 0..n {
                    assert_eq!(o[i], u8::from(p64[i] - cut >= -EPSILON), "{tier} at_least n={n} i={i}");
                }
                (k.f32.at_least)(p32, cut, &mut o);
                for i in 0..n {
                    assert_eq!(o[i], u8::from(f64::from(p32[i]) - cut >= -EPSILON), "{tier} at_least f32 n={n}");
                }
            }
        }
    }
}

/// `k` probabilities summing to 1 (float64 partial sums; the last entry takes the rest).
fn simplex_row(rng: &mut Rng, k: usize) -> Vec<f64> {
    let w: Vec<f64> = (0..k).map(|_| rng.uniform().abs() + 1e-3).collect();
    let s: f64 = w.iter().sum();
    w.iter().map(|x| x / s).collect()
}

#[test]
fn row_validation_finds_first_bad_row_every_tier() {
    let mut rng = Rng(12);
    for (tier, kern) in tiers() {
        for k in [1usize, 2, 3, 7, 8, 9, 15, 16, 17, 64, 65] {
            // 21 rows: two blocks of 8 (the blocked check) and a tail of 5 (row by row).
            for (n, bad_row) in [(6usize, 0usize), (6, 5), (21, 0), (21, 7), (21, 8), (21, 13), (21, 16), (21, 20)] {
                for bad_col in [0, k / 2, k - 1] {
                    for (problem, value) in [
                        (RowProblem::NotFinite, f64::NAN),
                        (RowProblem::NotFinite, f64::INFINITY),
                        (RowProblem::Negative, -1e-300),
                        (RowProblem::Sum, 2e-5),
                    ] {
                        let mut p: Vec<f64> = (0..n).flat_map(|_| simplex_row(&mut rng, k)).collect();
                        let good: Vec<f32> = p.iter().map(|&x| x as f32).collect();
                        assert_eq!((kern.f64.first_bad_row)(&p, k, 1e-5), None, "{tier} k={k}");
                        assert_eq!((kern.f32.first_bad_row)(&good, k, 1e-5), None, "{tier} f32 k={k}");
                        let at = bad_row * k + bad_col;
                        if problem == RowProblem::Sum {
                            p[at] += value;
                        } else {
                            p[at] = value;
                        }
                        let want = if problem == RowProblem::Negative && k == 1 {
                            // A single negative entry also breaks the sum; either is right.
                            (kern.f64.first_bad_row)(&p, k, 1e-5).map(|x| x.1)
                        } else {
                            Some(problem)
                        };
                        assert_eq!((kern.f64.first_bad_row)(&p, k, 1e-5), want.map(|w| (bad_row, w)), "{tier} k={k}");
                        // float32 keeps NaN and infinity (-1e-300 rounds to -0, which is allowed).
                        let p32: Vec<f32> = p.iter().map(|&x| x as f32).collect();
                        if problem == RowProblem::NotFinite {
                            assert_eq!(
                                (kern.f32.first_bad_row)(&p32, k, 1e-5),
                                Some((bad_row, problem)),
                                "{tier} f32 k={k}"
                            );
                        }
                    }
                }
            }
        }
    }
}

#[test]
fn desc_ranks_match_stable_sort_every_tier() {
    let mut rng = Rng(13);
    for (tier, kern) in tiers() {
        for k in 1..=mlkern_conformal::sets::SMALL_K {
            for off in [0usize, 1] {
                // Quantised values: many ties, exact zeros.
                let p64: Vec<f64> = (0..k + off).map(|_| (rng.uniform().abs() * 5.0).floor() / 8.0).collect();
                let p32: Vec<f32> = p64.iter().map(|&x| x as f32).collect();
                let p = &p64[off..];
                let mut idx: Vec<usize> = (0..k).collect();
                idx.sort_by(|&a, &b| p[a].total_cmp(&p[b])); // stable: ties in index order
                idx.reverse();
                let mut want = vec![0u32; k];
                for (r, &j) in idx.iter().enumerate() {
                    want[j] = r as u32;
                }
                let mut got = vec![99u32; k];
                (kern.f64.desc_ranks)(p, &mut got);
                assert_eq!(got, want, "{tier} k={k}");
                (kern.f32.desc_ranks)(&p32[off..], &mut got);
                assert_eq!(got, want, "{tier} f32 k={k}");
            }
        }
    }
}
