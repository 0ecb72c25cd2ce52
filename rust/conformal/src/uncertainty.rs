//! Uncertainty scores people rank predictions by (no coverage guarantee).
//!
//! - entropy `H(p) = −Σ_j p_j ln p_j` (nats, `0 · ln 0 = 0`), divided by `ln base`
//!   when a base is given;
//! - margin `p_(1) − p_(2)`, the gap between the two largest probabilities (`p_(1)`
//!   when `K = 1`);
//! - for ensemble probabilities `(M, n, K)`: total `H(mean_m p_m)`, aleatoric
//!   `mean_m H(p_m)` and epistemic `total − aleatoric` (the mutual information
//!   between the label and the member).
//!
//! Accumulation in float64 in label order; each row is independent, so results do
//! not depend on the thread count.

use mlkern_core::threads;
use mlkern_core::{Error, Result};

use crate::probs::{Prob, ProbMatrix};

#[inline]
fn plogp(p: f64) -> f64 {
    if p > 0.0 {
        p * p.ln()
    } else {
        0.0
    }
}

/// Entropy of each row into `out` (`scale = 1 / ln base`, 1 for nats).
pub fn entropy<T: Prob>(probs: ProbMatrix<'_, T>, scale: f64, out: &mut [f64]) -> Result<()> {
    check_out(out, probs.n)?;
    probs.validate()?;
    threads::for_each_row_mut(
        out,
        1,
        probs.k * 8,
        usize::MAX,
        || (),
        |_, i, o| {
            o[0] = -probs.row(i).iter().map(|p| plogp(p.to_f64())).sum::<f64>() * scale;
        },
    );
    Ok(())
}

/// Margin of each row into `out`.
pub fn margin<T: Prob>(probs: ProbMatrix<'_, T>, out: &mut [f64]) -> Result<()> {
    check_out(out, probs.n)?;
    probs.validate()?;
    threads::for_each_row_mut(
        out,
        1,
        probs.k,
        usize::MAX,
        || (),
        |_, i, o| {
            let (mut a, mut b) = (f64::NEG_INFINITY, f64::NEG_INFINITY);
            for p in probs.row(i) {
                let p = p.to_f64();
                if p > a {
                    b = a;
                    a = p;
                } else if p > b {
                    b = p;
                }
            }
            o[0] = if b.is_finite() { a - b } else { a };
        },
    );
    Ok(())
}

/// Total, aleatoric and epistemic uncertainty of `m` stacked `(n, k)` probability
/// matrices (`data` row-major `(m, n, k)`) into `out`, row-major `(3, n)`.
pub fn ensemble<T: Prob>(data: &[T], m: usize, n: usize, k: usize, scale: f64, out: &mut [f64]) -> Result<()> {
    if m == 0 {
        return Err(Error::invalid("probs", "an ensemble needs at least one member (axis 0 is empty)"));
    }
    let per = mlkern_core::error::checked_size("probs", n, k)?;
    if data.len() != mlkern_core::error::checked_size("probs", m, per)? {
        return Err(Error::shape("probs", "data length differs from m · n · k"));
    }
    check_out(out, mlkern_core::error::checked_size("out", 3, n)?)?;
    for member in 0..m {
        ProbMatrix::new(&data[member * per..(member + 1) * per], n, k)?.validate()?;
    }
    let (total, rest) = out.split_at_mut(n);
    let (alea, epi) = rest.split_at_mut(n);
    let mean = threads::map_rows(n, m * k * 8, usize::MAX, Vec::<f64>::new, |avg, i| {
        avg.clear();
        avg.resize(k, 0.0);
        let mut h = 0.0;
        for member in 0..m {
            let row = &data[member * per + i * k..member * per + (i + 1) * k];
            let mut hm = 0.0;
            for (a, p) in avg.iter_mut().zip(row) {
                let p = p.to_f64();
                *a += p;
                hm -= plogp(p);
            }
            h += hm;
        }
        let total = -avg.iter().map(|&s| plogp(s / m as f64)).sum::<f64>();
        (total * scale, h / m as f64 * scale)
    });
    for (i, (t, a)) in mean.into_iter().enumerate() {
        total[i] = t;
        alea[i] = a;
        // Mutual information is ≥ 0; rounding can leave −ulp.
        epi[i] = (t - a).max(0.0);
    }
    Ok(())
}

fn check_out(out: &[f64], n: usize) -> Result<()> {
    if out.len() != n {
        return Err(Error::shape("out", format!("{} values for {n} rows", out.len())));
    }
    Ok(())
}
