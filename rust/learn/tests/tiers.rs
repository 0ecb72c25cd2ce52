//! learn's kernels on every SIMD tier this CPU supports, through its own table,
//! against the formulas written out here in float64 (std `exp`/`ln_1p`): the
//! fused logistic pass (binary and softmax, with and without weights) and linear
//! prediction, for feature counts around the vector widths and row counts around
//! the 64-row block, at unaligned offsets.

#[path = "../../core/tests/common.rs"]
mod common;

use common::*;
use mlkern_core::Tier;
use mlkern_learn::dispatch::{for_tier, Kernels, LogisticChunkFn};
use mlkern_learn::kernels::{ChunkState, LogisticChunk, Output, BLOCK};

fn tiers() -> Vec<(Tier, &'static Kernels)> {
    supported_tables(for_tier)
}

#[test]
fn every_supported_tier_has_its_table() {
    check_tables_match_tiers(for_tier, |k| k.tier);
}

const DS: [usize; 9] = [1, 3, 7, 8, 16, 17, 33, 64, 65];
const ROWS: [usize; 6] = [1, 2, 63, 64, 65, 130];

/// Reference: (loss sum, gradient sums) in float64 from the T-valued inputs.
fn reference(
    x: &[f64],
    d: usize,
    y: &[u32],
    sw: Option<&[f64]>,
    cols: usize,
    w: &[f64],
    b: &[f64],
) -> (f64, Vec<f64>, Vec<f64>) {
    let n = y.len();
    let mut loss = 0.0;
    let mut grad = vec![0.0; cols * d + cols];
    let mut scale = vec![0.0; cols * d + cols]; // Σ |r x|, for the bound
    for i in 0..n {
        let xi = &x[i * d..(i + 1) * d];
        let z: Vec<f64> = (0..cols).map(|k| b[k] + (0..d).map(|j| xi[j] * w[k * d + j]).sum::<f64>()).collect();
        let s = sw.map_or(1.0, |s| s[i]);
        let res: Vec<f64> = if cols == 1 {
            let (zz, yy) = (z[0], f64::from(y[i]));
            loss += s * (zz.max(0.0) + (-zz.abs()).exp().ln_1p() - yy * zz);
            vec![s * (1.0 / (1.0 + (-zz).exp()) - yy)]
        } else {
            let m = z.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
            let e: Vec<f64> = z.iter().map(|v| (v - m).exp()).collect();
            let t: f64 = e.iter().sum();
            loss += s * (t.ln() + m - z[y[i] as usize]);
            (0..cols).map(|k| s * (e[k] / t - f64::from(u8::from(k == y[i] as usize)))).collect()
        };
        for k in 0..cols {
            for j in 0..d {
                grad[k * d + j] += res[k] * xi[j];
                scale[k * d + j] += (res[k] * xi[j]).abs();
            }
            grad[cols * d + k] += res[k];
            scale[cols * d + k] += res[k].abs();
        }
    }
    (loss, grad, scale)
}

fn check_logistic<T: mlkern_learn::dispatch::LearnFloat>(
    u: f64,
    widen: fn(&[T]) -> Vec<f64>,
    make: fn(f64) -> T,
    elem: fn(&'static Kernels) -> LogisticChunkFn<T>,
) {
    let mut rng = Rng(42);
    for (tier, k) in tiers() {
        let chunk = elem(k);
        for &d in &DS {
            for &n in &ROWS {
                for cols in [1usize, 3] {
                    for weighted in [false, true] {
                        // One extra leading element: the rows start unaligned.
                        let buf: Vec<T> = (0..n * d + 1).map(|_| make(2.0 * rng.uniform())).collect();
                        let x = &buf[1..];
                        let classes = cols.max(2);
                        let y: Vec<u32> = (0..n).map(|_| rng.below(classes) as u32).collect();
                        let sw: Vec<f64> =
                            (0..n).map(|i| if i % 5 == 0 { 0.0 } else { 0.5 + rng.uniform().abs() }).collect();
                        let wt: Vec<T> = (0..cols * d).map(|_| make(rng.uniform())).collect();
                        let b: Vec<f64> = (0..cols).map(|_| rng.uniform()).collect();
                        let c = LogisticChunk {
                            x,
                            d,
                            y: &y,
                            sw: weighted.then_some(&sw[..]),
                            cols,
                            coef: &wt,
                            intercept: &b,
                        };
                        let mut st = ChunkState::new(cols, d);
                        st.grad.iter_mut().for_each(|g| *g = f64::NAN); // must be overwritten
                        chunk(&c, &mut st);
                        let (loss, grad, scale) = reference(&widen(x), d, &y, c.sw, cols, &widen(&wt), &b);
                        // Scores: γ_d in T of Σ|x w|; their effect on the loss is at most
                        // that times the row weight (the loss is 1-Lipschitz in z).
                        let zbound: f64 = (0..n)
                            .map(|i| {
                                let s = c.sw.map_or(1.0, |s| s[i]);
                                (0..cols)
                                    .map(|kk| {
                                        (0..d)
                                            .map(|j| {
                                                (widen(&x[i * d + j..i * d + j + 1])[0]
                                                    * widen(&wt[kk * d + j..kk * d + j + 1])[0])
                                                    .abs()
                                            })
                                            .sum::<f64>()
                                    })
                                    .sum::<f64>()
                                    * s
                            })
                            .sum::<f64>()
                            * gamma(d + 1, u)
                            * 2.0;
                        let what = format!(
                            "{tier} {} d={d} n={n} cols={cols} weighted={weighted}",
                            std::any::type_name::<T>()
                        );
                        assert!(
                            (st.loss - loss).abs() <= zbound + 1e-12 * loss.abs() + 1e-13,
                            "{what}: loss {} vs {loss}",
                            st.loss
                        );
                        for (i, (&g, &r)) in st.grad.iter().zip(&grad).enumerate() {
                            // Residuals move with the scores (|dσ/dz| ≤ 1/4, softmax ≤ 1/2),
                            // then the block sums in T: γ_BLOCK on Σ|r x|.
                            let bound = gamma(BLOCK + d + 2, u) * 4.0 * scale[i] + zbound + 1e-13;
                            assert!((g - r).abs() <= bound, "{what}: grad[{i}] {g} vs {r} (bound {bound})");
                        }
                    }
                }
            }
        }
    }
}

#[test]
fn logistic_chunk_matches_the_float64_formulas_on_every_tier() {
    check_logistic::<f64>(U64, |v| v.to_vec(), |v| v, |k| k.f64.logistic_chunk);
    check_logistic::<f32>(U32, widen, |v| v as f32, |k| k.f32.logistic_chunk);
}

#[test]
fn linear_predict_matches_and_finds_the_first_non_finite_row() {
    let mut rng = Rng(7);
    for (tier, k) in tiers() {
        for &d in &DS {
            for &n in &ROWS {
                for cols in [1usize, 4] {
                    let buf: Vec<f64> = (0..n * d + 3).map(|_| 3.0 * rng.uniform()).collect();
                    let x = &buf[3..];
                    let w: Vec<f64> = (0..cols * d).map(|_| rng.uniform()).collect();
                    let b: Vec<f64> = (0..cols).map(|_| rng.uniform()).collect();
                    let z: Vec<f64> = (0..n * cols)
                        .map(|e| {
                            let (i, kk) = (e / cols, e % cols);
                            b[kk] + (0..d).map(|j| x[i * d + j] * w[kk * d + j]).sum::<f64>()
                        })
                        .collect();
                    let mut out = vec![f64::NAN; n * cols];
                    assert_eq!((k.f64.linear_predict)(x, d, &w, &b, Output::Scores, &mut out), None);
                    for (e, (&o, &r)) in out.iter().zip(&z).enumerate() {
                        let i = e / cols;
                        let sc: f64 = (0..d).map(|j| x[i * d + j].abs()).sum::<f64>() + 1.0;
                        assert!((o - r).abs() <= gamma(d + 1, U64) * sc * 2.0, "{tier} d={d} n={n} cols={cols}");
                    }
                    let width = if cols == 1 { 2 } else { cols };
                    let mut p = vec![f64::NAN; n * width];
                    assert_eq!((k.f64.linear_predict)(x, d, &w, &b, Output::Proba, &mut p), None);
                    for i in 0..n {
                        let row = &p[i * width..(i + 1) * width];
                        let expect: Vec<f64> = if cols == 1 {
                            let s = 1.0 / (1.0 + (-z[i]).exp());
                            vec![1.0 - s, s]
                        } else {
                            let zr = &z[i * cols..(i + 1) * cols];
                            let m = zr.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
                            let t: f64 = zr.iter().map(|v| (v - m).exp()).sum();
                            zr.iter().map(|v| (v - m).exp() / t).collect()
                        };
                        for (a, e) in row.iter().zip(&expect) {
                            assert!((a - e).abs() <= 1e-12, "{tier} d={d} n={n} cols={cols}: {a} vs {e}");
                        }
                    }
                    // A NaN or inf in a row is reported as the first such row: in the
                    // middle of a block, at a block's first row, at the very first row.
                    for r0 in [n / 2, (n - 1) / BLOCK * BLOCK, 0] {
                        let mut bad = x.to_vec();
                        bad[r0 * d + d - 1] = f64::INFINITY;
                        bad[(n - 1) * d] = f64::NAN;
                        let r = (k.f64.linear_predict)(&bad, d, &w, &b, Output::Scores, &mut out);
                        assert_eq!(r, Some(r0), "{tier} d={d} n={n} bad row {r0}");
                    }
                    // float32 on the same data.
                    let x32: Vec<f32> = x.iter().map(|&v| v as f32).collect();
                    let w32: Vec<f32> = w.iter().map(|&v| v as f32).collect();
                    let mut o32 = vec![f32::NAN; n * cols];
                    assert_eq!((k.f32.linear_predict)(&x32, d, &w32, &b, Output::Scores, &mut o32), None);
                    for (e, &o) in o32.iter().enumerate() {
                        let (i, kk) = (e / cols, e % cols);
                        let r =
                            b[kk] + (0..d).map(|j| f64::from(x32[i * d + j]) * f64::from(w32[kk * d + j])).sum::<f64>();
                        let sc: f64 = (0..d).map(|j| f64::from(x32[i * d + j]).abs()).sum::<f64>() + 1.0;
                        assert!((f64::from(o) - r).abs() <= gamma(d + 2, U32) * sc * 2.0, "{tier} f32 d={d} n={n}");
                    }
                }
            }
        }
    }
}
