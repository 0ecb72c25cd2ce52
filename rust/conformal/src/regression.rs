//! Split-conformal regression: scores of calibration rows and intervals of test
//! rows (MAPIE 1.x's formulas, float64).
//!
//! - absolute: score `|y − ŷ|`, interval `[ŷ + (−q), ŷ + q]`;
//! - normalised by a difficulty estimate `σ > 0`: score `|y − ŷ| / σ`, interval
//!   `[ŷ + (−q)·σ, ŷ + q·σ]`;
//! - CQR from lower/upper quantile predictions `(l, u)`: symmetric score
//!   `max(l − y, y − u)` and interval `[l + (−q), u + q]`; the asymmetric correction
//!   (MAPIE's default, `symmetric_correction=False`) calibrates each side on its own
//!   scores `l − y` and `y − u` at level `1 − α/2` ([`cqr_side_rank`]).
//!
//! One pass over the rows, in parallel; inputs are checked finite in the same pass.

use mlkern_core::threads;
use mlkern_core::{Error, Result};

/// Which calibration score [`scores`] computes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Score {
    /// `|y − a|`.
    Absolute,
    /// `|y − a| / σ` (`σ` given, finite and `> 0`).
    Normalized,
    /// `max(a − y, y − b)` with `a` the lower and `b` the upper prediction.
    Cqr,
}

fn check_len(name: &'static str, got: usize, n: usize) -> Result<()> {
    if got != n {
        return Err(Error::shape(name, format!("{got} values for {n} rows (y_pred has {n})")));
    }
    Ok(())
}

fn check_finite(name: &'static str, x: &[f64]) -> Result<()> {
    match x.iter().position(|v| !v.is_finite()) {
        None => Ok(()),
        Some(i) => Err(Error::invalid(name, format!("{name}[{i}] = {} is not finite", x[i]))),
    }
}

fn check_sigma(sigma: &[f64]) -> Result<()> {
    match sigma.iter().position(|&s| !(s.is_finite() && s > 0.0)) {
        None => Ok(()),
        Some(i) => Err(Error::invalid("sigma", format!("sigma[{i}] = {} must be finite and > 0", sigma[i]))),
    }
}

const CHUNK: usize = 1 << 14;

/// Calibration scores of rows `(y, a[, b or σ])` into `out`.
pub fn scores(score: Score, y: &[f64], a: &[f64], b: Option<&[f64]>, out: &mut [f64]) -> Result<()> {
    let n = a.len();
    check_len("y", y.len(), n)?;
    check_len("out", out.len(), n)?;
    check_finite("y", y)?;
    check_finite(if score == Score::Cqr { "y_lower" } else { "y_pred" }, a)?;
    let b = match (score, b) {
        (Score::Absolute, _) => None,
        (Score::Normalized, Some(s)) => {
            check_len("sigma", s.len(), n)?;
            check_sigma(s)?;
            Some(s)
        }
        (Score::Cqr, Some(u)) => {
            check_len("y_upper", u.len(), n)?;
            check_finite("y_upper", u)?;
            Some(u)
        }
        (_, None) => return Err(Error::invalid("sigma", "this score needs a second array")),
    };
    threads::for_each_chunk_mut(out, CHUNK, usize::MAX, |c, o| {
        let r = c * CHUNK..c * CHUNK + o.len();
        let (y, a) = (&y[r.clone()], &a[r.clone()]);
        match (score, b) {
            (Score::Absolute, _) => o.iter_mut().zip(y.iter().zip(a)).for_each(|(o, (&y, &a))| *o = (y - a).abs()),
            (Score::Normalized, Some(s)) => {
                let s = &s[r];
                for (i, o) in o.iter_mut().enumerate() {
                    *o = (y[i] - a[i]).abs() / s[i];
                }
            }
            (_, Some(u)) => {
                let u = &u[r];
                for (i, o) in o.iter_mut().enumerate() {
                    *o = (-(y[i] - a[i])).max(y[i] - u[i]);
                }
            }
            (_, None) => {}
        }
    });
    Ok(())
}

/// The asymmetric CQR side scores: `low = l − y`, `up = y − u`.
pub fn cqr_side_scores(y: &[f64], lo: &[f64], hi: &[f64], low: &mut [f64], up: &mut [f64]) -> Result<()> {
    let n = lo.len();
    check_len("y", y.len(), n)?;
    check_len("y_upper", hi.len(), n)?;
    check_finite("y", y)?;
    check_finite("y_lower", lo)?;
    check_finite("y_upper", hi)?;
    for i in 0..n {
        low[i] = -(y[i] - lo[i]);
        up[i] = y[i] - hi[i];
    }
    Ok(())
}

/// MAPIE's 1-based rank of each CQR side at `level` (asymmetric correction, what
/// `ConformalizedQuantileRegressor.predict_interval(symmetric_correction=False)`
/// runs): `⌈(n + 1) · (1 − α/2)⌉`, `α` from [`crate::quantile::mapie_alpha`]; `None`
/// when it exceeds `n`.
pub fn cqr_side_rank(n: usize, level: f64) -> Option<usize> {
    let alpha = crate::quantile::mapie_alpha(level) / 2.0;
    let k = ((1.0 - alpha) * (n as f64 + 1.0)).ceil();
    (k <= n as f64).then_some((k as usize).max(1))
}

/// The `k`-th smallest of `scores` (1-based, `k ≤ len`), or `+inf` for `None`.
pub fn order_statistic(scores: &[f64], k: Option<usize>) -> Result<f64> {
    if scores.is_empty() {
        return Err(Error::invalid("scores", "the calibration set is empty"));
    }
    if let Some(i) = scores.iter().position(|s| s.is_nan()) {
        return Err(Error::invalid("scores", format!("scores[{i}] is NaN")));
    }
    let Some(k) = k.filter(|&k| (1..=scores.len()).contains(&k)) else {
        return Ok(f64::INFINITY);
    };
    let mut work = scores.to_vec();
    Ok(*work.select_nth_unstable_by(k - 1, f64::total_cmp).1)
}

/// Intervals of `L` levels into `out`, row-major `(n, 2, L)`:
/// `out[i, 0, l] = a_i + lo[l]·s_i` and `out[i, 1, l] = b_i + hi[l]·s_i` (`s_i = 1`
/// without `scale`). `lo` holds the signed corrections (`−q` for the usual lower
/// bound).
pub fn intervals(a: &[f64], b: &[f64], scale: Option<&[f64]>, lo: &[f64], hi: &[f64], out: &mut [f64]) -> Result<()> {
    let n = a.len();
    let levels = lo.len();
    check_len("y_upper", b.len(), n)?;
    check_finite("y_pred", a)?;
    check_finite("y_upper", b)?;
    if hi.len() != levels {
        return Err(Error::shape("threshold", "lower and upper corrections differ in length"));
    }
    if let Some(s) = scale {
        check_len("sigma", s.len(), n)?;
        check_sigma(s)?;
    }
    if lo.iter().chain(hi).any(|q| q.is_nan()) {
        return Err(Error::invalid("threshold", "is NaN"));
    }
    let width = 2 * levels;
    check_len("out", out.len(), mlkern_core::error::checked_size("intervals", n, width)?)?;
    if width == 0 {
        return Ok(());
    }
    let rows = CHUNK;
    threads::for_each_chunk_mut(out, rows * width, usize::MAX, |c, o| {
        for (r, row) in o.chunks_exact_mut(width).enumerate() {
            let i = c * rows + r;
            let s = scale.map_or(1.0, |s| s[i]);
            for l in 0..levels {
                row[l] = if scale.is_some() { a[i] + lo[l] * s } else { a[i] + lo[l] };
                row[levels + l] = if scale.is_some() { b[i] + hi[l] * s } else { b[i] + hi[l] };
            }
        }
    });
    Ok(())
}
