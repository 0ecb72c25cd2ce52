//! conformal's kernels on every SIMD tier this CPU supports, through its own table
//! (`mlkern_conformal::dispatch`), against the float64 formulas they implement
//! (written out here, element by element): every length 0..=70 and some longer, at
//! unaligned offsets, with values placed exactly on and one ulp around the
//! thresholds so a compare that rounds, reorders or drops a tail element fails.

#[path = "../../core/tests/common.rs"]
mod common;

use common::*;
use mlkern_conformal::dispatch::{for_tier, Kernels, RowProblem, APS_ROWS_MAX_K};
use mlkern_conformal::Regularization;
use mlkern_conformal::EPSILON;
use mlkern_core::Tier;

fn tiers() -> Vec<(Tier, &'static Kernels)> {
    supported_tables(for_tier)
}

#[test]
fn every_supported_tier_has_its_table() {
    check_tables_match_tiers(for_tier, |k| k.tier);
    // The hand-written row kernels belong to x86-64-v4 and to no other tier.
    for (tier, k) in tiers() {
        assert_eq!(k.f64.rows.is_some(), tier == Tier::X86_64V4, "{tier}");
        assert_eq!(k.f32.rows.is_some(), tier == Tier::X86_64V4, "{tier}");
    }
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

/// The hand-written LAC kernel (fused with validation, its compare turned into one
/// `p ≥ cut`) on rows `[x, 1 − x]` with `x` on and one ulp around the compare's edge
/// (`1 − x` is exact, so each row sums to exactly 1): every byte is the formula's.
#[test]
fn lac_rows_match_formula_on_the_edge() {
    let q = (1.0 - EDGE) - EPSILON;
    let xs = [EDGE, f64::from_bits(EDGE.to_bits() + 1), f64::from_bits(EDGE.to_bits() - 1), 0.5, 0.0, 1.0, TINY];
    for (tier, kern) in tiers() {
        let Some(rows) = kern.f64.rows else { continue };
        for n in [1usize, 7, 8, 9, 16, 23] {
            for qq in [q, f64::from_bits(q.to_bits() + 1), 0.5, 0.0, -1.0, 2.0, f64::INFINITY, f64::NEG_INFINITY] {
                let p: Vec<f64> = (0..n)
                    .flat_map(|i| {
                        let x = xs[i % xs.len()];
                        [x, 1.0 - x]
                    })
                    .collect();
                let mut out = vec![7u8; 2 * n];
                let mut best = vec![-1i64; n];
                assert_eq!((rows.lac_rows)(&p, 2, qq, &mut out, &mut best), None, "{tier} n={n}");
                for (i, &x) in p.iter().enumerate() {
                    assert_eq!(out[i], u8::from((1.0 - x) - qq <= EPSILON), "{tier} n={n} q={qq} x={x}");
                }
                for i in 0..n {
                    assert_eq!(best[i], i64::from(p[2 * i + 1] > p[2 * i]), "{tier} argmax row {i}");
                }
                if n >= 8 && qq == q {
                    assert!(p.iter().any(|&x| (1.0 - x) - qq == EPSILON), "the edge is hit");
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

type Check<'a, T> = Box<dyn Fn(&[T], usize) -> Option<(usize, RowProblem)> + 'a>;

/// Every row validator of a tier: its table's, and where it has hand-written row
/// kernels, theirs, and the validation inside their LAC and APS/RAPS kernels.
fn validators(kern: &'static Kernels) -> Vec<(&'static str, Check<'static, f64>, Check<'static, f32>)> {
    let mut v: Vec<(&'static str, Check<'static, f64>, Check<'static, f32>)> = vec![(
        "table",
        Box::new(|p, k| (kern.f64.first_bad_row)(p, k, 1e-5)),
        Box::new(|p, k| (kern.f32.first_bad_row)(p, k, 1e-5)),
    )];
    if let (Some(r64), Some(r32)) = (kern.f64.rows, kern.f32.rows) {
        v.push((
            "rows",
            Box::new(|p, k| (r64.first_bad_row)(p, k, 1e-5)),
            Box::new(|p, k| (r32.first_bad_row)(p, k, 1e-5)),
        ));
        v.push((
            "lac_rows",
            Box::new(|p, k| (r64.lac_rows)(p, k, 0.5, &mut vec![0; p.len()], &mut [])),
            Box::new(|p, k| (r32.lac_rows)(p, k, 0.5, &mut vec![0; p.len()], &mut [])),
        ));
        let aps64: Check<'static, f64> = Box::new(|p, k| {
            if k > APS_ROWS_MAX_K {
                return (kern.f64.first_bad_row)(p, k, 1e-5); // aps_rows takes K <= 16
            }
            (r64.aps_rows)(p, k, &[0.9], Regularization::NONE, &mut vec![0; p.len()], &mut [], &mut Vec::new())
        });
        let aps32: Check<'static, f32> = Box::new(|p, k| {
            if k > APS_ROWS_MAX_K {
                return (kern.f32.first_bad_row)(p, k, 1e-5);
            }
            (r32.aps_rows)(p, k, &[0.9], Regularization::NONE, &mut vec![0; p.len()], &mut [], &mut Vec::new())
        });
        v.push(("aps_rows", aps64, aps32));
    }
    v
}

#[test]
fn row_validation_finds_first_bad_row_every_tier() {
    let mut rng = Rng(12);
    for (tier, kern) in tiers() {
        for (name, bad64, bad32) in validators(kern) {
            for k in [1usize, 2, 3, 7, 8, 9, 15, 16, 17, 64, 65] {
                // 21 rows: two blocks of 8 (the blocked check) and a tail of 5 (row by row).
                for (n, bad_row) in [(6usize, 0usize), (6, 5), (21, 0), (21, 7), (21, 8), (21, 13), (21, 16), (21, 20)]
                {
                    for bad_col in [0, k / 2, k - 1] {
                        for (problem, value) in [
                            (RowProblem::NotFinite, f64::NAN),
                            (RowProblem::NotFinite, f64::INFINITY),
                            (RowProblem::NotFinite, f64::NEG_INFINITY),
                            (RowProblem::Negative, -1e-300),
                            (RowProblem::Negative, -0.25),
                            (RowProblem::Negative, -5e-324), // a negative denormal
                            (RowProblem::Sum, 2e-5),
                        ] {
                            let mut p: Vec<f64> = (0..n).flat_map(|_| simplex_row(&mut rng, k)).collect();
                            // −0 is a valid zero (0 ≤ −0): one in the next row, its value
                            // moved to a neighbour so the row still sums to 1.
                            if k > 1 {
                                let r = (bad_row + 1) % n;
                                let (c0, c1) = ((bad_col + 1) % k, (bad_col + 2) % k);
                                let v = p[r * k + c0];
                                p[r * k + c1] += v;
                                p[r * k + c0] = -0.0;
                            }
                            let good: Vec<f32> = p.iter().map(|&x| x as f32).collect();
                            assert_eq!(bad64(&p, k), None, "{tier} {name} k={k}");
                            assert_eq!(bad32(&good, k), None, "{tier} {name} f32 k={k}");
                            let at = bad_row * k + bad_col;
                            if problem == RowProblem::Sum {
                                p[at] += value;
                            } else if problem == RowProblem::Negative && k > 1 {
                                // Balanced: a neighbour takes the mass, so the row still sums
                                // to 1 and only the sign can refuse it.
                                let other = bad_row * k + (bad_col + 1) % k;
                                p[other] += p[at] - value;
                                p[at] = value;
                            } else {
                                p[at] = value;
                            }
                            // (A negative entry also breaks its row's sum: finiteness, then
                            // sign, then the sum are checked in that order, as MAPIE does.)
                            let want = Some(problem);
                            assert_eq!(bad64(&p, k), want.map(|w| (bad_row, w)), "{tier} {name} k={k} {value}");
                            // float32 keeps NaN and infinity (-1e-300 rounds to -0, which is allowed).
                            let p32: Vec<f32> = p.iter().map(|&x| x as f32).collect();
                            // (-0.25 is exact in float32; the denormals round to -0.)
                            if problem == RowProblem::NotFinite || value == -0.25 {
                                assert_eq!(bad32(&p32, k), Some((bad_row, problem)), "{tier} {name} f32 k={k}");
                            }
                        }
                    }
                }
            }
        }
    }
}

/// A negative entry and, in the next row at the same lane, a NaN: a running
/// minimum loses the negative to the NaN, but the NaN's row refuses the block and
/// the row-by-row recheck names the negative row first.
#[test]
fn a_nan_after_a_negative_still_names_the_negative_row() {
    for (tier, kern) in tiers() {
        for (name, bad64, _) in validators(kern) {
            let mut p = vec![0.5f64; 16];
            p[0..2].copy_from_slice(&[-0.25, 1.25]);
            p[2..4].copy_from_slice(&[f64::NAN, 1.0]);
            assert_eq!(bad64(&p, 2), Some((0, RowProblem::Negative)), "{tier} {name}");
        }
    }
}

/// On valid rows without ties the hand-written APS/RAPS kernel decides every row of
/// its blocks itself: only the `n mod 8` rows after the last block go back to the
/// exact walk (a screen that refused good blocks, or a tie test that fired on every
/// row, would still give right sets through the walk, so it is checked here).
#[test]
fn aps_rows_decide_whole_blocks_themselves() {
    let mut rng = Rng(31);
    for (tier, kern) in tiers() {
        let (Some(r64), Some(r32)) = (kern.f64.rows, kern.f32.rows) else { continue };
        for k in 1..=APS_ROWS_MAX_K {
            for n in [8usize, 13, 24, 37] {
                let p: Vec<f64> = (0..n).flat_map(|_| simplex_row(&mut rng, k)).collect();
                let p32: Vec<f32> = p.iter().map(|&x| x as f32).collect();
                for reg in [Regularization::NONE, Regularization { lambda: 0.01, k_reg: 1 }] {
                    for t in [0.3, 0.9, 0.999] {
                        let (mut out, mut und) = (vec![0u8; n * k], Vec::new());
                        assert_eq!((r64.aps_rows)(&p, k, &[t], reg, &mut out, &mut [], &mut und), None);
                        assert_eq!(und, (n - n % 8..n).collect::<Vec<_>>(), "{tier} f64 k={k} n={n} t={t}");
                        und.clear();
                        assert_eq!((r32.aps_rows)(&p32, k, &[t], reg, &mut out, &mut [], &mut und), None);
                        assert_eq!(und, (n - n % 8..n).collect::<Vec<_>>(), "{tier} f32 k={k} n={n} t={t}");
                    }
                }
            }
        }
    }
}

/// Rows whose sums sit within a few ulps of 1 ± 10⁻⁵: every validator accepts and
/// refuses exactly the rows the scalar tier's sequential sums do.
#[test]
fn row_sums_at_the_tolerance_edge_decide_as_the_scalar_tier() {
    let scalar = for_tier(Tier::Scalar).unwrap();
    let mut rng = Rng(29);
    for (tier, kern) in tiers() {
        for (name, bad64, _) in validators(kern) {
            for k in [3usize, 9, 10, 16, 40] {
                let mut disagreements = 0;
                let mut refused = [0usize; 2];
                for side in [1.0 + 1e-5, 1.0 - 1e-5] {
                    for step in -24i64..24 {
                        let target = side + step as f64 * f64::EPSILON;
                        // 8 rows (one block) scaled so that their sums land near the edge.
                        let p: Vec<f64> = (0..8)
                            .flat_map(|_| {
                                let row = simplex_row(&mut rng, k);
                                let s: f64 = row.iter().sum();
                                row.into_iter().map(move |x| x * (target / s))
                            })
                            .collect();
                        for r in 0..8 {
                            let one = &p[r * k..(r + 1) * k];
                            let want = (scalar.f64.first_bad_row)(one, k, 1e-5).is_some();
                            refused[usize::from(want)] += 1;
                            let block_first = (scalar.f64.first_bad_row)(&p, k, 1e-5).map(|x| x.0);
                            if bad64(&p, k).map(|x| x.0) != block_first {
                                disagreements += 1;
                            }
                        }
                    }
                }
                assert_eq!(disagreements, 0, "{tier} {name} k={k}");
                // The edge really was straddled: some rows accepted, some refused.
                assert!(refused[0] > 0 && refused[1] > 0, "{tier} {name} k={k} {refused:?}");
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
