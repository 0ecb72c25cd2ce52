//! mlkern-conformal: the array layer behind `mlkern.conformal`.
//!
//! Distribution-free prediction sets and intervals (split conformal prediction),
//! written to reproduce MAPIE 1.x's rules exactly on the same inputs while running
//! in one pass over the rows, in parallel on mlkern's pool and with O(n + K) extra
//! memory.
//!
//! - [`probs`]: the probability matrices every classification function reads
//!   (float32 or float64, summed and compared in float64) and their validation.
//! - [`scores`]: conformity scores of calibration rows (LAC, APS, RAPS, top-k).
//! - [`quantile`]: the conformal quantile (the ⌈(n + 1)·level⌉-th smallest score),
//!   per level and per group (Mondrian).
//! - [`sets`]: prediction sets from a threshold (bytes or bit-packed rows).
//! - [`regression`]: residual, normalised-residual and CQR scores and intervals.
//! - [`uncertainty`]: entropy, margin, and the total/aleatoric/epistemic split of
//!   ensemble probabilities.
//! - [`online`]: a streaming calibrator (order-statistic treap: O(log n) insert and
//!   quantile).
//! - [`kernels`] and [`dispatch`]: the per-tier SIMD kernels (threshold compares and
//!   row validation), instantiated with `mlkern_core::per_tier!`; `avx512` holds
//!   the hand-written x86-64-v4 row kernels (validation, LAC, short-row APS/RAPS).
//!
//! Every function validates its input and returns `Result<_, mlkern_core::Error>`;
//! none panics on user input.

#[cfg(target_arch = "x86_64")]
mod avx512;
pub mod dispatch;
pub mod kernels;
pub mod online;
pub mod probs;
pub mod quantile;
pub mod regression;
/// The counter-based draws (now in core, shared with hdc).
pub use mlkern_core::rng;
pub mod scores;
pub mod sets;
pub mod uncertainty;

/// MAPIE's tolerance (`mapie._machine_precision.EPSILON`) in every comparison of a
/// score with a threshold.
pub const EPSILON: f64 = 1e-8;

/// A classification conformity score (MAPIE's names).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    /// Least ambiguous set-valued classifier: score `1 − p_true`.
    Lac,
    /// Adaptive prediction sets: cumulative sorted probability through the true label.
    Aps,
    /// Regularised APS: APS plus `λ · max(0, rank − k_reg)`, rank counted from 1.
    Raps,
    /// Rank of the true label in decreasing probability, counted from 0.
    TopK,
}

impl Method {
    /// Parses `"lac"`, `"aps"`, `"raps"`, `"topk"` / `"top_k"`.
    pub fn from_name(name: &str) -> mlkern_core::Result<Self> {
        match name {
            "lac" => Ok(Method::Lac),
            "aps" => Ok(Method::Aps),
            "raps" => Ok(Method::Raps),
            "topk" | "top_k" => Ok(Method::TopK),
            _ => Err(mlkern_core::Error::invalid(
                "method",
                format!("unknown conformity score {name:?}: expected 'lac', 'aps', 'raps', 'topk' or 'top_k'"),
            )),
        }
    }
}

/// The RAPS regularisation `λ · max(0, rank − k_reg)` (inactive for other methods).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Regularization {
    pub lambda: f64,
    pub k_reg: usize,
}

impl Regularization {
    pub const NONE: Regularization = Regularization { lambda: 0.0, k_reg: 0 };

    /// Checks `λ ≥ 0` and finite.
    pub fn new(lambda: f64, k_reg: usize) -> mlkern_core::Result<Self> {
        if !(lambda.is_finite() && lambda >= 0.0) {
            return Err(mlkern_core::Error::invalid("lambda_", format!("must be finite and >= 0, got {lambda}")));
        }
        Ok(Regularization { lambda, k_reg })
    }

    /// The penalty at 1-based `rank`, computed as MAPIE does
    /// (`λ · max(0, rank − k_reg)` in float64).
    #[inline]
    pub fn at(&self, rank: usize) -> f64 {
        self.lambda * (rank as f64 - self.k_reg as f64).max(0.0)
    }
}
