//! Conformity scores of calibration rows (MAPIE 1.x's definitions).
//!
//! - LAC: `1 − p_y`.
//! - APS: `Σ` of the probabilities ranked before the true label, plus `p_y`, summed
//!   in decreasing order (so float64 input gives NumPy's `cumsum` bit for bit).
//! - RAPS: the APS score plus `λ · max(0, r − k_reg)`, `r` the 1-based rank of the
//!   true label.
//! - top-k: the 0-based rank of the true label.
//!
//! `randomized` subtracts `U · p_y` from the APS/RAPS sum before the penalty, `U`
//! uniform per row ([`crate::rng`]). Ranks order equal probabilities higher index
//! first (see [`crate::sets`]). Cost `O(K + r log r)` per row.

use mlkern_core::threads;
use mlkern_core::{Error, Result};

use crate::probs::{check_labels, Prob, ProbMatrix};
use crate::sets::desc;
use crate::{rng, Method, Regularization};

/// Score options.
#[derive(Debug, Clone, Copy)]
pub struct ScoreParams {
    pub method: Method,
    /// RAPS only.
    pub reg: Regularization,
    /// `Some(seed)`: subtract `U · p_y` (APS/RAPS only).
    pub randomized: Option<u64>,
}

/// Writes the conformity score of each row of `probs` with true label `labels[i]`.
pub fn conformity_scores<T: Prob>(
    probs: ProbMatrix<'_, T>,
    labels: &[i64],
    params: &ScoreParams,
    out: &mut [f64],
) -> Result<()> {
    let (n, k) = (probs.n, probs.k);
    check_labels(labels, n, k)?;
    if out.len() != n {
        return Err(Error::shape("out", format!("{} scores for {n} rows", out.len())));
    }
    if params.randomized.is_some() && !matches!(params.method, Method::Aps | Method::Raps) {
        return Err(Error::invalid("randomized", "applies to 'aps' and 'raps' only"));
    }
    probs.validate()?;
    let reg = if params.method == Method::Raps { params.reg } else { Regularization::NONE };
    threads::for_each_row_mut(out, 1, k, usize::MAX, Vec::<(f64, u32)>::new, |ahead, i, o| {
        let p = probs.row(i);
        let y = labels[i] as usize;
        let py = p[y].to_f64();
        // Labels ranked before y: larger, or equal with a higher index.
        let before = |j: usize, pj: f64| pj > py || (pj == py && j > y);
        o[0] = match params.method {
            Method::Lac => 1.0 - py,
            Method::TopK => p.iter().enumerate().filter(|&(j, v)| before(j, v.to_f64())).count() as f64,
            Method::Aps | Method::Raps => {
                ahead.clear();
                ahead.extend(
                    p.iter().enumerate().map(|(j, v)| (v.to_f64(), j as u32)).filter(|&(pj, j)| before(j as usize, pj)),
                );
                ahead.sort_unstable_by(desc);
                let mut c = ahead.iter().fold(0.0f64, |c, &(pj, _)| c + pj) + py;
                if let Some(seed) = params.randomized {
                    c -= rng::uniform(seed, i as u64) * py;
                }
                c + reg.at(ahead.len() + 1)
            }
        };
    });
    Ok(())
}
