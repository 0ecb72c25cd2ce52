//! The pairwise metrics of `cdist` and `topk`, with SciPy's and scikit-learn's names.

use crate::dispatch::{ElemKernels, HasKernels, TileFn};
use crate::error::{Error, Result};

/// A pairwise score between two vectors.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Metric {
    /// `sqrt(Σ (a_i - b_i)^2)` (SciPy's `"euclidean"`; lower is closer).
    Euclidean,
    /// `Σ (a_i - b_i)^2` (SciPy's `"sqeuclidean"`; lower is closer).
    SqEuclidean,
    /// `1 - a·b / (|a||b|)`, the similarity clamped to [-1, 1] first; NaN when
    /// either vector is zero (SciPy's `"cosine"`; lower is closer).
    CosineDistance,
    /// `a·b / (|a||b|)` clamped to [-1, 1]; 0 when either vector is zero
    /// (scikit-learn's `cosine_similarity`; higher is closer).
    CosineSimilarity,
    /// `a·b` (a similarity: higher is closer).
    Dot,
}

/// Every metric name, in the order error messages list them.
pub const METRIC_NAMES: [&str; 5] = ["euclidean", "sqeuclidean", "cosine", "cosine_similarity", "dot"];

impl Metric {
    /// Parses one of [`METRIC_NAMES`].
    pub fn from_name(name: &str) -> Result<Metric> {
        Ok(match name {
            "euclidean" => Metric::Euclidean,
            "sqeuclidean" => Metric::SqEuclidean,
            "cosine" => Metric::CosineDistance,
            "cosine_similarity" => Metric::CosineSimilarity,
            "dot" => Metric::Dot,
            _ => {
                return Err(Error::invalid(
                    "metric",
                    format!(
                        "unknown metric '{name}'; expected one of {}",
                        METRIC_NAMES.map(|n| format!("'{n}'")).join(", ")
                    ),
                ))
            }
        })
    }

    pub fn name(self) -> &'static str {
        match self {
            Metric::Euclidean => "euclidean",
            Metric::SqEuclidean => "sqeuclidean",
            Metric::CosineDistance => "cosine",
            Metric::CosineSimilarity => "cosine_similarity",
            Metric::Dot => "dot",
        }
    }

    /// True for similarities (dot, cosine_similarity), false for distances.
    pub fn higher_is_closer(self) -> bool {
        matches!(self, Metric::Dot | Metric::CosineSimilarity)
    }

    /// True for the two cosine metrics (they need row norms).
    pub(crate) fn is_cosine(self) -> bool {
        matches!(self, Metric::CosineDistance | Metric::CosineSimilarity)
    }

    /// The tile kernel computing this metric's raw pairwise values.
    pub(crate) fn tile<T: HasKernels>(self, k: &ElemKernels<T>) -> TileFn<T> {
        match self {
            Metric::Dot | Metric::CosineSimilarity | Metric::CosineDistance => k.tile_dot,
            Metric::SqEuclidean | Metric::Euclidean => k.tile_sqeuclidean,
        }
    }
}

/// `ab * inv_a * inv_b` clamped to [-1, 1]; NaN passes through.
#[inline(always)]
pub(crate) fn cosine_from_parts<T: HasKernels>(ab: T, inv_a: T, inv_b: T) -> T {
    clamp_unit(ab * inv_a * inv_b)
}

/// `c` clamped to [-1, 1]; NaN passes through.
#[inline(always)]
pub(crate) fn clamp_unit<T: crate::element::Float>(c: T) -> T {
    if c > T::ONE {
        T::ONE
    } else if c < -T::ONE {
        -T::ONE
    } else {
        c
    }
}
