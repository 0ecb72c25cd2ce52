//! signal's kernels on every SIMD tier this CPU supports, through its own table
//! (`mlkern_signal::dispatch`), against exact references within the bounds stated in
//! each kernel's header: the direct correlation on all output lengths 0..=70 and
//! unaligned offsets, the batched real FFT on every power-of-two length to 4096,
//! full and partial batches, zero-padded rows.

#[path = "../../core/tests/common.rs"]
mod common;

use common::*;
use mlkern_core::Tier;
use mlkern_signal::dispatch::{for_tier, Kernels};
use mlkern_signal::kernels::rfft::{RfftPlan, MAX_LEN};

fn tiers() -> Vec<(Tier, &'static Kernels)> {
    supported_tables(for_tier)
}

#[test]
fn every_supported_tier_has_its_table() {
    check_tables_match_tiers(for_tier, |k| k.tier);
}

#[test]
fn correlate_valid_matches_exact_every_tier() {
    let mut rng = Rng(5);
    for (tier, k) in tiers() {
        for &m in &[1usize, 2, 3, 7, 16, 17, 33, 64] {
            for n in (0..=70).chain([127, 128, 129, 300]) {
                for off in [0usize, 1, 3] {
                    let a64 = rng.vec_f64(n + m - 1 + off);
                    let w64 = rng.vec_f64(m);
                    let a32: Vec<f32> = a64.iter().map(|&x| x as f32).collect();
                    let w32: Vec<f32> = w64.iter().map(|&x| x as f32).collect();
                    let mut o64 = vec![f64::NAN; n];
                    let mut o32 = vec![f32::NAN; n];
                    (k.f64.correlate_valid)(&a64[off..], &w64, &mut o64);
                    (k.f32.correlate_valid)(&a32[off..], &w32, &mut o32);
                    for i in 0..n {
                        let win = &a64[off + i..off + i + m];
                        let e = exact_dot(win, &w64);
                        let b = gamma(m, U64) * abs_dot(win, &w64) + 2.0 * U64 * e.abs();
                        assert!((o64[i] - e).abs() <= b, "{tier} f64 m={m} n={n} off={off} i={i}");
                        let (w32a, win32) = (widen(&w32), widen(&a32[off + i..off + i + m]));
                        let e = exact_dot(&win32, &w32a);
                        let b = gamma(m, U32) * abs_dot(&win32, &w32a) + 2.0 * U32 * e.abs();
                        assert!((o32[i] as f64 - e).abs() <= b, "{tier} f32 m={m} n={n} off={off} i={i}");
                    }
                }
            }
        }
        // Too-short input or empty taps never read out of bounds.
        let mut out = vec![1.0f64; 5];
        (k.f64.correlate_valid)(&[1.0, 2.0], &[1.0, 1.0, 1.0], &mut out);
        assert_eq!(out, vec![0.0; 5]);
        let mut out = vec![9.0f64; 5];
        (k.f64.correlate_valid)(&[1.0, 2.0, 3.0], &[1.0, 1.0], &mut out);
        assert_eq!(&out[..2], &[3.0, 5.0]);
    }
}

/// The DFT `X[k] = Σ_j x_j exp(-2πi jk/n)`, k = 0..=n/2, by compensated sums over
/// twiddles of exact angles (error about `u Σ|x_j|` per value).
fn rdft_reference(x: &[f64]) -> Vec<(f64, f64)> {
    let n = x.len();
    let (cos, sin): (Vec<f64>, Vec<f64>) =
        (0..n).map(|i| (2.0 * std::f64::consts::PI * i as f64 / n as f64).sin_cos()).map(|(s, c)| (c, s)).unzip();
    (0..=n / 2)
        .map(|k| {
            let re = dot2(x.iter().enumerate().map(|(j, &v)| (v, cos[j * k % n])));
            let im = -dot2(x.iter().enumerate().map(|(j, &v)| (v, sin[j * k % n])));
            (re, im)
        })
        .collect()
}

#[test]
fn rfft_rows_matches_compensated_dft_every_tier() {
    let mut rng = Rng(11);
    const MAX_ROWS: usize = 16;
    for log in 1..=12 {
        let n = 1usize << log;
        // Two source layouts: full rows, and rows of n - 3 values zero-padded to n.
        for n_read in [n, n.saturating_sub(3).max(1)] {
            let ld = n_read + 5;
            let src32: Vec<f32> = rng.vec_f32(1 + MAX_ROWS * ld);
            let src = &src32[1..]; // rows start unaligned
            let reference: Vec<Vec<(f64, f64)>> = (0..MAX_ROWS)
                .map(|r| {
                    let mut x = widen(&src[r * ld..r * ld + n_read]);
                    x.resize(n, 0.0);
                    rdft_reference(&x)
                })
                .collect();
            let src64 = widen(src);
            let (p32, p64) = (RfftPlan::<f32>::new(n).unwrap(), RfftPlan::<f64>::new(n).unwrap());
            let ld_out = n + 2 + 3;
            for (tier, k) in tiers() {
                for (lanes, is64) in [(k.f32.rfft.lanes, false), (k.f64.rfft.lanes, true)] {
                    let mut row_counts = vec![1, lanes];
                    if lanes > 2 {
                        row_counts.push(lanes - 1);
                    }
                    for rows in row_counts {
                        let scale = if rows == 1 { 0.5 } else { 1.0 };
                        let mut got = vec![f64::NAN; rows * ld_out];
                        if is64 {
                            let mut work = vec![f64::NAN; p64.work_len(lanes)];
                            (k.f64.rfft.run)(
                                &p64,
                                &src64,
                                ld,
                                n_read,
                                rows,
                                scale,
                                &mut work,
                                &mut got,
                                ld_out,
                                &src64[ld..],
                                1,
                            );
                        } else {
                            let mut work = vec![f32::NAN; p32.work_len(lanes)];
                            let mut o = vec![f32::NAN; rows * ld_out];
                            (k.f32.rfft.run)(
                                &p32,
                                src,
                                ld,
                                n_read,
                                rows,
                                scale as f32,
                                &mut work,
                                &mut o,
                                ld_out,
                                &[],
                                0,
                            );
                            got = widen(&o);
                        }
                        let u = if is64 { U64 } else { U32 };
                        for r in 0..rows {
                            let row = &got[r * ld_out..(r + 1) * ld_out];
                            assert!(row[n + 2..].iter().all(|v| v.is_nan()), "{tier} n={n}: wrote past the row");
                            let (mut err2, mut norm2) = (0.0, 0.0);
                            for (q, &(re, im)) in reference[r].iter().enumerate() {
                                let (re, im) = (re * scale, im * scale);
                                err2 += (row[2 * q] - re).powi(2) + (row[2 * q + 1] - im).powi(2);
                                norm2 += re * re + im * im;
                            }
                            let bound = 5.0 * log as f64 * u * norm2.sqrt() + 1e-300;
                            assert!(
                                err2.sqrt() <= bound,
                                "{tier} {} n={n} n_read={n_read} rows={rows} r={r}: error {} > bound {bound}",
                                if is64 { "f64" } else { "f32" },
                                err2.sqrt()
                            );
                        }
                    }
                }
            }
        }
    }
    assert!(RfftPlan::<f64>::new(3).is_none() && RfftPlan::<f64>::new(1).is_none());
    assert!(RfftPlan::<f64>::new(MAX_LEN * 2).is_none());
}
