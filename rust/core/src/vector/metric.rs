//! The pairwise metrics of `cdist` and `topk`.

use crate::dispatch::{ElemKernels, HasKernels, TileFn};
use crate::error::{Error, Result};

/// A pairwise score between two vectors.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Metric {
    /// `a·b` (higher is closer).
    Dot,
    /// `a·b / (|a||b|)`, 0 for zero vectors (higher is closer).
    Cosine,
    /// `Σ (a_i - b_i)^2` (lower is closer).
    SqEuclidean,
    /// `sqrt(Σ (a_i - b_i)^2)` (lower is closer).
    Euclidean,
}

impl Metric {
    /// Parses `"dot"`, `"cosine"`, `"sqeuclidean"` or `"euclidean"`.
    pub fn from_name(name: &str) -> Result<Metric> {
        Ok(match name {
            "dot" => Metric::Dot,
            "cosine" => Metric::Cosine,
            "sqeuclidean" => Metric::SqEuclidean,
            "euclidean" => Metric::Euclidean,
            _ => {
                return Err(Error::invalid(
                    "metric",
                    format!("unknown metric '{name}'; expected 'dot', 'cosine', 'sqeuclidean' or 'euclidean'"),
                ))
            }
        })
    }

    pub fn name(self) -> &'static str {
        match self {
            Metric::Dot => "dot",
            Metric::Cosine => "cosine",
            Metric::SqEuclidean => "sqeuclidean",
            Metric::Euclidean => "euclidean",
        }
    }

    /// True for similarities (dot, cosine), false for distances.
    pub fn higher_is_closer(self) -> bool {
        matches!(self, Metric::Dot | Metric::Cosine)
    }

    /// The tile kernel computing this metric's raw pairwise values.
    pub(crate) fn tile<T: HasKernels>(self, k: &ElemKernels<T>) -> TileFn<T> {
        match self {
            Metric::Dot | Metric::Cosine => k.tile_dot,
            Metric::SqEuclidean | Metric::Euclidean => k.tile_sqeuclidean,
        }
    }
}

/// `ab * inv_a * inv_b` clamped to [-1, 1]; NaN passes through.
#[inline(always)]
pub(crate) fn cosine_from_parts<T: HasKernels>(ab: T, inv_a: T, inv_b: T) -> T {
    let c = ab * inv_a * inv_b;
    if c > T::ONE {
        T::ONE
    } else if c < -T::ONE {
        -T::ONE
    } else {
        c
    }
}
