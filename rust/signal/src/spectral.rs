//! Welch's power spectral density and per-row spectral features.
//!
//! `welch` follows `scipy.signal.welch` with its defaults: periodic Hann window of
//! `nperseg` samples, `noverlap = nperseg / 2`, each segment's mean removed
//! (`detrend="constant"`), one-sided density scaling `1 / (fs Σ w²)` with the
//! non-DC (and, for even `nperseg`, non-Nyquist) bins doubled, and the mean over
//! segments. Segments are taken at `k · (nperseg - noverlap)` while they fit.
//! Segments are grouped in fixed chunks of [`SEGMENTS_PER_TASK`] summed in order, so
//! the result does not depend on the thread count.
//!
//! `spectral_features` works on the one-sided periodogram of the raw row (no
//! window, no detrending): `P_k = c_k |X_k|² / (fs n)` with `c_k = 2` except for DC
//! and (even n) Nyquist, at frequencies `f_k = k fs / n`, `Δf = fs / n`:
//! - total power `Σ P_k Δf` (= mean(x²), Parseval);
//! - centroid `Σ f_k P_k / Σ P_k`; spread `sqrt(Σ (f_k - centroid)² P_k / Σ P_k)`;
//! - entropy `-Σ p_k ln p_k / ln K`, `p_k = P_k / Σ P`, over the K bins (in [0, 1]);
//! - roll-off: the smallest `f_k` with `Σ_{i<=k} P_i >= 0.85 Σ P`;
//! - dominant frequency `f_argmax P` and its power `max P` (density, per Hz);
//! - band power of `[lo, hi)`: `Σ_{lo <= f_k < hi} P_k Δf`.
//!
//! A row with zero total power has NaN centroid, spread, entropy and roll-off, and
//! dominant frequency 0. NaN in a row propagates to all its features.

use mlkern_core::threads::{self, Parallelism};
use mlkern_core::{check_matrix, Error, Float, Result};

use crate::fft::{real_forward, FftFloat};

/// Segments per parallel task in `welch`.
pub const SEGMENTS_PER_TASK: usize = 64;

fn check_fs(fs: f64) -> Result<()> {
    if !(fs.is_finite() && fs > 0.0) {
        return Err(Error::invalid("fs", format!("fs must be a positive finite number, got {fs}")));
    }
    Ok(())
}

/// Weight of bin `k` of an `n`-point one-sided spectrum: 2 (the bin stands for its
/// negative-frequency twin too), except DC and, for even `n`, Nyquist.
#[inline]
fn one_sided_factor(k: usize, n: usize) -> f64 {
    if k == 0 || (n.is_multiple_of(2) && k == n / 2) {
        1.0
    } else {
        2.0
    }
}

/// Periodic Hann window (`scipy.signal.get_window("hann", n)`; a length-1 window is
/// `[1.0]`, as SciPy's length guard returns).
pub fn hann_periodic(n: usize) -> Vec<f64> {
    if n <= 1 {
        return vec![1.0; n];
    }
    (0..n).map(|k| 0.5 - 0.5 * (2.0 * std::f64::consts::PI * k as f64 / n as f64).cos()).collect()
}

/// Welch PSD of each row: `out` is `rows × (nperseg / 2 + 1)`. `nperseg` must be in
/// `1..=n` (the caller clamps it to `n` as SciPy does).
pub fn welch_rows<T: FftFloat>(
    x: &[T],
    rows: usize,
    n: usize,
    fs: f64,
    nperseg: usize,
    noverlap: usize,
    par: Parallelism,
    out: &mut [T],
) -> Result<()> {
    check_fs(fs)?;
    if nperseg == 0 || nperseg > n {
        return Err(Error::invalid("nperseg", format!("nperseg must be in 1..={n}, got {nperseg}")));
    }
    if noverlap >= nperseg {
        return Err(Error::invalid("noverlap", format!("noverlap ({noverlap}) must be less than nperseg ({nperseg})")));
    }
    let bins = nperseg / 2 + 1;
    check_matrix("x", x.len(), rows, n)?;
    check_matrix("out", out.len(), rows, bins)?;
    let step = nperseg - noverlap;
    let nseg = (n - noverlap) / step;
    let window = hann_periodic(nperseg);
    let wss: f64 = window.iter().map(|w| w * w).sum();
    let plan = real_forward::<T>(nperseg);
    let tasks_per_row = nseg.div_ceil(SEGMENTS_PER_TASK);
    // Partial sums of |X|² per (row, task), each `bins` long, then reduced in order.
    let tasks = rows.checked_mul(tasks_per_row).ok_or_else(|| Error::invalid("x", "too many rows and segments"))?;
    let partials = threads::map_indexed_capped(tasks, par.threads(), |it| {
        let (r, t) = (it / tasks_per_row, it % tasks_per_row);
        let row = &x[r * n..(r + 1) * n];
        let mut acc = vec![0.0f64; bins];
        let mut buf = plan.make_input_vec();
        let mut spec = plan.make_output_vec();
        let mut scratch = plan.make_scratch_vec();
        for sidx in t * SEGMENTS_PER_TASK..((t + 1) * SEGMENTS_PER_TASK).min(nseg) {
            let seg = &row[sidx * step..sidx * step + nperseg];
            let mean = seg.iter().map(|v| v.to_f64()).sum::<f64>() / nperseg as f64;
            for ((b, &v), &w) in buf.iter_mut().zip(seg).zip(&window) {
                *b = <T as Float>::from_f64((v.to_f64() - mean) * w);
            }
            let _ = plan.process_with_scratch(&mut buf, &mut spec, &mut scratch);
            for (a, c) in acc.iter_mut().zip(&spec) {
                *a += c.re.to_f64() * c.re.to_f64() + c.im.to_f64() * c.im.to_f64();
            }
        }
        acc
    });
    let scale = 1.0 / (fs * wss * nseg as f64);
    for (r, orow) in out.chunks_mut(bins).enumerate() {
        let mut total = vec![0.0f64; bins];
        for p in &partials[r * tasks_per_row..(r + 1) * tasks_per_row] {
            for (t, v) in total.iter_mut().zip(p) {
                *t += v;
            }
        }
        for (k, (o, t)) in orow.iter_mut().zip(&total).enumerate() {
            *o = <T as Float>::from_f64(t * scale * one_sided_factor(k, nperseg));
        }
    }
    Ok(())
}

/// Spectral features of one row (see the module header for each formula).
#[derive(Debug, Clone, PartialEq)]
pub struct Features {
    pub total_power: f64,
    pub centroid: f64,
    pub spread: f64,
    pub entropy: f64,
    pub rolloff: f64,
    pub dominant_frequency: f64,
    pub dominant_power: f64,
    pub band_powers: Vec<f64>,
}

/// Features of each of `rows` rows of `n` samples, sampled at `fs`.
pub fn spectral_features_rows<T: FftFloat>(
    x: &[T],
    rows: usize,
    n: usize,
    fs: f64,
    bands: &[(f64, f64)],
    par: Parallelism,
) -> Result<Vec<Features>> {
    check_fs(fs)?;
    if n == 0 {
        return Err(Error::invalid("x", "the input must not be empty"));
    }
    check_matrix("x", x.len(), rows, n)?;
    for &(lo, hi) in bands {
        if !(lo.is_finite() && hi.is_finite() && lo >= 0.0 && lo < hi) {
            return Err(Error::invalid("bands", format!("each band needs 0 <= lo < hi (finite), got ({lo}, {hi})")));
        }
    }
    let plan = real_forward::<T>(n);
    let bins = n / 2 + 1;
    let df = fs / n as f64;
    let scratch = || (plan.make_input_vec(), plan.make_output_vec(), plan.make_scratch_vec(), vec![0.0f64; bins]);
    Ok(threads::map_rows(rows, n, par.threads(), scratch, |(buf, spec, fft_scratch, p), r| {
        buf.copy_from_slice(&x[r * n..(r + 1) * n]);
        let _ = plan.process_with_scratch(buf, spec, fft_scratch);
        for (k, (pk, s)) in p.iter_mut().zip(spec.iter()).enumerate() {
            let mag = s.re.to_f64() * s.re.to_f64() + s.im.to_f64() * s.im.to_f64();
            *pk = mag / (fs * n as f64) * one_sided_factor(k, n);
        }
        features_of(p, df, bands)
    }))
}

fn features_of(p: &[f64], df: f64, bands: &[(f64, f64)]) -> Features {
    let freq = |k: usize| k as f64 * df;
    let sum: f64 = p.iter().sum();
    let band_powers = bands
        .iter()
        .map(|&(lo, hi)| {
            p.iter().enumerate().filter(|(k, _)| freq(*k) >= lo && freq(*k) < hi).map(|(_, v)| v).sum::<f64>() * df
        })
        .collect();
    let (mut dom, mut dom_p) = (0usize, f64::NEG_INFINITY);
    let mut nan = false;
    for (k, &v) in p.iter().enumerate() {
        nan |= v.is_nan();
        if v > dom_p {
            dom = k;
            dom_p = v;
        }
    }
    if nan {
        let q = f64::NAN;
        return Features {
            total_power: q,
            centroid: q,
            spread: q,
            entropy: q,
            rolloff: q,
            dominant_frequency: q,
            dominant_power: q,
            band_powers: vec![q; bands.len()],
        };
    }
    let (centroid, spread, entropy, rolloff) = if sum > 0.0 {
        let c = p.iter().enumerate().map(|(k, v)| freq(k) * v).sum::<f64>() / sum;
        let s = (p.iter().enumerate().map(|(k, v)| (freq(k) - c) * (freq(k) - c) * v).sum::<f64>() / sum).sqrt();
        let h = -p.iter().map(|v| v / sum).filter(|&q| q > 0.0).map(|q| q * q.ln()).sum::<f64>();
        let e = if p.len() > 1 { h / (p.len() as f64).ln() } else { 0.0 };
        let target = 0.85 * sum;
        let mut cum = 0.0;
        let mut roll = freq(p.len() - 1);
        for (k, v) in p.iter().enumerate() {
            cum += v;
            if cum >= target {
                roll = freq(k);
                break;
            }
        }
        (c, s, e, roll)
    } else {
        (f64::NAN, f64::NAN, f64::NAN, f64::NAN)
    };
    Features {
        total_power: sum * df,
        centroid,
        spread,
        entropy,
        rolloff,
        dominant_frequency: freq(dom),
        dominant_power: dom_p.max(0.0),
        band_powers,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pure_tone_features() {
        let (n, fs) = (1000usize, 100.0);
        let x: Vec<f64> = (0..n).map(|i| (2.0 * std::f64::consts::PI * 10.0 * i as f64 / fs).sin()).collect();
        let f =
            &spectral_features_rows(&x, 1, n, fs, &[(5.0, 15.0), (20.0, 30.0)], Parallelism::Sequential).unwrap()[0];
        assert!((f.dominant_frequency - 10.0).abs() < 1e-9);
        assert!((f.total_power - 0.5).abs() < 1e-9); // mean(sin²) = 1/2
        assert!((f.centroid - 10.0).abs() < 1e-6 && f.spread < 1e-6);
        assert!((f.band_powers[0] - 0.5).abs() < 1e-9 && f.band_powers[1] < 1e-12);
        assert!(f.entropy < 1e-6);
        assert!(spectral_features_rows(&x, 1, n, 0.0, &[], Parallelism::Sequential).is_err());
    }

    #[test]
    fn welch_white_noise_is_flat() {
        let mut s = 1u64;
        let x: Vec<f64> = (0..1 << 16)
            .map(|_| {
                s = s.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                (s >> 11) as f64 / (1u64 << 53) as f64 - 0.5
            })
            .collect();
        let mut out = vec![0.0; 129];
        welch_rows(&x, 1, x.len(), 2.0, 256, 128, Parallelism::Threads(2), &mut out).unwrap();
        // Variance 1/12 spread over fs/2 = 1 Hz: density 1/12 per Hz.
        let mid: f64 = out[10..120].iter().sum::<f64>() / 110.0;
        assert!((mid - 1.0 / 12.0).abs() < 0.01, "{mid}");
    }
}
