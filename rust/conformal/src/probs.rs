//! Probability matrices: `(n, K)` row-major float32 or float64, read as float64.
//!
//! MAPIE converts `predict_proba` output to float64 before it sums or compares;
//! mlkern reads each element as float64 on the fly, so float64 input gives MAPIE's
//! exact arithmetic and float32 input needs no copy (its sums are then float64 sums
//! of the float32 values, more accurate than a float32 cumsum).

use mlkern_core::element::Float;
use mlkern_core::{Error, Result};

use crate::dispatch::{self, RowProblem};

/// The element types probability matrices may have.
pub trait Prob: Float {
    /// This type's conformal kernels at the active tier.
    fn kernels() -> &'static dispatch::ElemKernels<Self>;
}

impl Prob for f32 {
    fn kernels() -> &'static dispatch::ElemKernels<f32> {
        &dispatch::TABLES.active().f32
    }
}

impl Prob for f64 {
    fn kernels() -> &'static dispatch::ElemKernels<f64> {
        &dispatch::TABLES.active().f64
    }
}

/// A borrowed `(n, k)` probability matrix.
#[derive(Debug, Clone, Copy)]
pub struct ProbMatrix<'a, T> {
    pub data: &'a [T],
    pub n: usize,
    pub k: usize,
}

impl<'a, T: Prob> ProbMatrix<'a, T> {
    /// Checks the shape (`data.len() == n·k`, `k ≥ 1`).
    pub fn new(data: &'a [T], n: usize, k: usize) -> Result<Self> {
        mlkern_core::error::check_matrix("probs", data.len(), n, k)?;
        if k == 0 {
            return Err(Error::invalid("probs", "must have at least one class (column)"));
        }
        Ok(ProbMatrix { data, n, k })
    }

    /// Row `i`.
    #[inline]
    pub fn row(&self, i: usize) -> &'a [T] {
        &self.data[i * self.k..(i + 1) * self.k]
    }

    /// Checks that every entry is finite and non-negative and that every row sums to
    /// 1 within `1e-5` (MAPIE's `check_proba_normalized` tolerance); the error names
    /// the first offending row.
    pub fn validate(&self) -> Result<()> {
        let found = (T::kernels().validator())(self.data, self.k, SUM_TOLERANCE);
        match found {
            None => Ok(()),
            Some((row, problem)) => {
                let r = self.row(row);
                let sum: f64 = r.iter().map(|v| v.to_f64()).sum();
                let detail = match problem {
                    RowProblem::NotFinite => format!("row {row} holds NaN or infinity"),
                    RowProblem::Negative => format!("row {row} holds a negative probability"),
                    RowProblem::Sum => format!(
                        "row {row} sums to {sum} (every row must sum to 1 within {SUM_TOLERANCE:e}; \
                         normalise the rows, e.g. probs / probs.sum(axis=1, keepdims=True))"
                    ),
                };
                Err(Error::invalid("probs", detail))
            }
        }
    }
}

/// The largest `|Σ_j p_ij − 1|` accepted (MAPIE: `assert_allclose(sum, 1, rtol=1e-5)`).
pub const SUM_TOLERANCE: f64 = 1e-5;

/// Checks that labels lie in `0..k` and that there are `n` of them.
pub fn check_labels(labels: &[i64], n: usize, k: usize) -> Result<()> {
    if labels.len() != n {
        return Err(Error::shape("labels", format!("{} labels for {n} rows of probs", labels.len())));
    }
    if let Some((i, &y)) = labels.iter().enumerate().find(|(_, &y)| y < 0 || y as u64 >= k as u64) {
        return Err(Error::invalid(
            "labels",
            format!("labels[{i}] = {y} is not a class index in 0..{k} (probs has {k} columns)"),
        ));
    }
    Ok(())
}
