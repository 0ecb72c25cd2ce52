//! `cdist` and `topk` scores from a matrix of dot products (the GEMM route).
//!
//! A [`PairDots`] provider (linalg's packed GEMM, from the bindings) computes all
//! `a_i · b_j` of a block; this module turns them into each metric's score:
//!
//! - dot: as is; cosine: `a·b · inv|a| · inv|b|` clamped, with the scaled path of
//!   `cosine.rs` for rows whose squared norm is tiny or huge (as the tile route);
//! - squared Euclidean: `|a|² + |b|² - 2 a·b`, unless that cancels: a pair with
//!   `d² <= (|a|² + |b|²) / 2` (cosine above about 1/2: near neighbours), with a
//!   non-finite value, or with `|a|² + |b|²` near the underflow threshold is
//!   recomputed directly, `Σ (a_k - b_k)²`, by the tier's kernel.
//!
//! Error bound of the expanded form where it is kept (`s = |a|² + |b|²`, first order
//! in `u`): the errors of `a·b`, `|a|²` and `|b|²` are at most `γ_d |a||b| <= γ_d s / 2`,
//! `γ_d |a|²`, `γ_d |b|²`; the sum `s` and the subtraction add `u s` and `u d̂²`, so
//! `|d̂² - d²| <= (2 γ_d + u) s + u d²`, and the threshold `s < 2 d²` makes that
//! `<= (4 γ_d + 3u) d² <= 4 γ_{d+1} d²`. Underflow: each product may lose up to
//! `λ u` (`λ` the smallest normal), at most `4 d λ u` in all, which the floor `s >= 8 d λ`
//! keeps below `u d²`: in all `<= 4 γ_{d+2} d²`, four times the direct sum's
//! `γ_{d+2} d²` (each difference is rounded once before it is squared), and never the
//! unbounded cancellation of the plain expansion. A kept pair is finite: a NaN or
//! infinite `s` fails the threshold, and an infinite `d̂²` from a finite `s` (`a·b`
//! overflowing negative) is recomputed too.
//!
//! Consistency: a provider promises that each entry's rounding depends only on `d`,
//! the two rows and the tier, and every score here is a function of that entry and
//! the two rows; so `topk` by products reports exactly what `cdist` by products
//! reports for the same pair, whatever the shapes, blocks and thread count.

use super::cdist::{cosine_of_rows, inverse_row_norms};
use super::cosine::SCALE_ROW;
use super::metric::{cosine_from_parts, Metric};
use crate::aligned::{AlignedVec, Zeroable};
use crate::dispatch::{kernels, HasKernels};
use crate::error::Result;

/// All-pairs dot products of two row-major blocks.
pub trait PairDots<T>: Sync {
    /// `out[i * n + j] = a_i · b_j` for `a: (m, d)`, `b: (n, d)`, `out: (m, n)`, all
    /// row-major and checked by the caller, on at most `threads` threads.
    ///
    /// Contract: the rounding of each entry depends only on `d`, the two rows and
    /// the active tier (not on `m`, `n`, the pair's position or `threads`).
    fn dots(&self, a: &[T], m: usize, b: &[T], n: usize, d: usize, out: &mut [T], threads: usize) -> Result<()>;
}

/// Per-row numbers one side of the pairs needs: squared norms (Euclidean metrics) or
/// inverse norms (cosine metrics); none for dot.
pub(crate) fn row_terms<T: HasKernels + Zeroable>(
    m: &[T],
    rows: usize,
    d: usize,
    metric: Metric,
) -> Result<Option<AlignedVec<T>>> {
    Ok(match metric {
        Metric::Dot => None,
        Metric::CosineDistance | Metric::CosineSimilarity => Some(inverse_row_norms(m, rows, d, metric)?),
        Metric::Euclidean | Metric::SqEuclidean => {
            let dot = kernels::<T>().dot;
            let mut sq = AlignedVec::zeroed(rows)?;
            for (i, v) in sq.iter_mut().enumerate() {
                let r = &m[i * d..i * d + d];
                *v = dot(r, r);
            }
            Some(sq)
        }
    })
}

/// The squared distance by the expansion, `(tx + ty) - 2 xy`, if it is kept (see
/// the module header); `None` if the pair must be recomputed directly.
#[inline(always)]
fn expanded_sqdist<T: HasKernels>(xy: T, tx: T, ty: T, floor: T) -> Option<T> {
    let s = tx + ty;
    let d2 = s - (xy + xy);
    (d2 > s * T::from_f64(0.5) && s >= floor && d2 < T::INFINITY).then_some(d2)
}

/// Below this `|a|² + |b|²` the expansion is not trusted: products of rows this
/// small lose relative precision to underflow.
#[inline(always)]
fn underflow_floor<T: HasKernels>(d: usize) -> T {
    T::from_f64(T::MIN_POSITIVE.to_f64() * 8.0 * d as f64)
}

/// The score before its last step, from the dot product `xy` of rows `x`, `y` and
/// their [`row_terms`] `tx`, `ty`: the dot; the cosine similarity (cosine metrics);
/// the squared distance (Euclidean metrics).
#[inline(always)]
pub(crate) fn raw_score<T: HasKernels>(metric: Metric, xy: T, tx: T, ty: T, x: &[T], y: &[T]) -> T {
    match metric {
        Metric::Dot => xy,
        Metric::CosineDistance | Metric::CosineSimilarity => cosine_of_rows(xy, tx, ty, x, y, metric),
        Metric::Euclidean | Metric::SqEuclidean => match expanded_sqdist(xy, tx, ty, underflow_floor(x.len())) {
            Some(d2) => d2,
            None => (kernels::<T>().sqeuclidean)(x, y),
        },
    }
}

/// Row `x` of `cdist`'s output, `row[j] = finish_score(raw_score(row[j], tx, tb[j], x, b_j))`,
/// in passes that vectorise: the arithmetic of each element is exactly that of
/// [`raw_score`] (the same operations in the same order), only the rare pairs to
/// recompute (`scaled`: the columns whose rows take the scaled cosine path) leave the
/// straight loop.
pub(crate) fn finish_row<T: HasKernels>(
    metric: Metric,
    row: &mut [T],
    tx: T,
    tb: &[T],
    x: &[T],
    b: &[T],
    scaled: &[usize],
) {
    let d = x.len();
    let brow = |j: usize| &b[j * d..j * d + d];
    match metric {
        Metric::Dot => {}
        Metric::CosineDistance | Metric::CosineSimilarity => {
            if tx == T::from_f64(SCALE_ROW) {
                for (j, v) in row.iter_mut().enumerate() {
                    *v = finish_score(metric, cosine_of_rows(*v, tx, tb[j], x, brow(j), metric));
                }
                return;
            }
            for (v, &ty) in row.iter_mut().zip(tb) {
                *v = finish_score(metric, cosine_from_parts(*v, tx, ty));
            }
            for &j in scaled {
                // The scaled path recomputes from the rows; the product is not used.
                row[j] = finish_score(metric, cosine_of_rows(T::ZERO, tx, tb[j], x, brow(j), metric));
            }
        }
        Metric::Euclidean | Metric::SqEuclidean => {
            let floor = underflow_floor::<T>(d);
            let nan = T::from_f64(f64::NAN);
            for (v, &ty) in row.iter_mut().zip(tb) {
                *v = expanded_sqdist(*v, tx, ty, floor).unwrap_or(nan);
            }
            for (j, v) in row.iter_mut().enumerate() {
                if v.is_nan() {
                    *v = (kernels::<T>().sqeuclidean)(x, brow(j));
                }
            }
            if metric == Metric::Euclidean {
                for v in row.iter_mut() {
                    *v = v.sqrt();
                }
            }
        }
    }
}

/// The columns whose [`row_terms`] mark the scaled cosine path.
pub(crate) fn scaled_columns<T: HasKernels>(metric: Metric, tb: &[T]) -> Vec<usize> {
    if !metric.is_cosine() {
        return Vec::new();
    }
    let scale = T::from_f64(SCALE_ROW);
    tb.iter().enumerate().filter(|(_, &t)| t == scale).map(|(j, _)| j).collect()
}

/// The score `cdist` reports, from [`raw_score`].
#[inline(always)]
pub(crate) fn finish_score<T: HasKernels>(metric: Metric, raw: T) -> T {
    match metric {
        Metric::Dot | Metric::CosineSimilarity | Metric::SqEuclidean => raw,
        Metric::Euclidean => raw.sqrt(),
        Metric::CosineDistance => T::ONE - raw,
    }
}
