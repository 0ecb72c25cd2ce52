//! Vector operations on slices: the functions behind `mlkern.vector`.
//!
//! Each validates its arguments (returning [`Error`], never panicking), reads the
//! active tier's kernels once, and runs them. Long dot products are split into
//! fixed chunks of [`PAR_CHUNK_BYTES`] per operand, summed in index order, so results
//! depend on the length but never on the thread count.

mod cdist;
mod cosine;
mod metric;
mod products;
mod topk;

pub use cdist::{cdist, cdist_by_products};
pub use metric::{Metric, METRIC_NAMES};
pub use products::PairDots;
pub use topk::{topk, topk_by_products};

use crate::dispatch::{kernels, HasKernels, PairFn};
pub(crate) use crate::error::check_matrix;
use crate::error::{Error, Result};
use crate::threads;

/// Bytes of each operand per parallel chunk of a long reduction (256 KiB: both
/// operands of a chunk fit in half of one core's L2).
pub const PAR_CHUNK_BYTES: usize = 1 << 18;
/// Contiguous runs of chunks per thread in a parallel reduction.
const RUNS_PER_THREAD: usize = 4;
/// Length (elements) from which reductions are chunked and run on the pool.
pub const PAR_MIN_LEN: usize = 1 << 18;

fn check_same_len(a: usize, b: usize) -> Result<()> {
    if a != b {
        return Err(Error::shape("a and b", format!("lengths differ: {a} and {b}")));
    }
    Ok(())
}

fn reduce_pair<T: HasKernels>(a: &[T], b: &[T], f: PairFn<T>) -> T {
    if a.len() < PAR_MIN_LEN {
        return f(a, b);
    }
    let chunk = PAR_CHUNK_BYTES / std::mem::size_of::<T>();
    let len = a.len().min(b.len());
    let chunks = len.div_ceil(chunk);
    // Participants claim contiguous runs of chunks (long sequential streams suit the
    // hardware prefetchers and DRAM pages, as OpenBLAS's split does), four runs per
    // thread so that a helper that wakes late takes fewer instead of leaving the
    // caller to wait for its half. The per-chunk partials do not depend on who
    // computes them and are summed in chunk order, so the result does not depend on
    // the thread count.
    let threads = threads::num_threads();
    let groups = if threads > 1 { (RUNS_PER_THREAD * threads).clamp(1, chunks.max(1)) } else { 1 };
    let per_group = threads::map_indexed(groups, |g| {
        (g * chunks / groups..(g + 1) * chunks / groups)
            .map(|c| {
                let r = c * chunk..((c + 1) * chunk).min(len);
                f(&a[r.clone()], &b[r])
            })
            .collect::<Vec<T>>()
    });
    let parts = per_group.into_iter().flatten();
    parts.into_iter().fold(T::ZERO, |s, p| s + p)
}

/// `Σ a_i b_i`. Error `<= γ_n Σ|a_i b_i|` (see `kernels/reduce.rs`).
pub fn dot<T: HasKernels>(a: &[T], b: &[T]) -> Result<T> {
    check_same_len(a.len(), b.len())?;
    Ok(reduce_pair(a, b, kernels::<T>().dot))
}

/// Compensated `Σ a_i b_i`: error `<= u|a·b| + γ_n^2 Σ|a_i b_i|` (see `kernels/compensated.rs`).
///
/// Error-free transformations turn infinities into NaN (`inf - inf`); when that
/// happens the plain dot product is returned, so inf and NaN propagate as in NumPy.
pub fn dot_precise<T: HasKernels>(a: &[T], b: &[T]) -> Result<T> {
    check_same_len(a.len(), b.len())?;
    let k = kernels::<T>();
    let r = (k.dot_precise)(a, b);
    Ok(if r.is_nan() { reduce_pair(a, b, k.dot) } else { r })
}

/// `Σ (a_i - b_i)^2`.
pub fn sqeuclidean<T: HasKernels>(a: &[T], b: &[T]) -> Result<T> {
    check_same_len(a.len(), b.len())?;
    Ok(reduce_pair(a, b, kernels::<T>().sqeuclidean))
}

/// Euclidean norm `sqrt(Σ a_i^2)`, computed as NumPy's `norm` does for 1-D input
/// (`sqrt(dot(a, a))`, so it overflows where NumPy does).
pub fn norm<T: HasKernels>(a: &[T]) -> T {
    reduce_pair(a, a, kernels::<T>().dot).sqrt()
}

/// Cosine similarity `a·b / (|a| |b|)`, clamped to [-1, 1]; 0 when either vector is
/// zero (scikit-learn's `cosine_similarity`); NaN when an input holds NaN. Tiny and
/// huge vectors are scaled so their norms neither underflow nor overflow (see
/// `cosine.rs`).
pub fn cosine_similarity<T: HasKernels>(a: &[T], b: &[T]) -> Result<T> {
    check_same_len(a.len(), b.len())?;
    let dot: PairFn<T> = |x, y| reduce_pair(x, y, kernels::<T>().dot);
    Ok(cosine::similarity(a, b, dot).unwrap_or(T::ZERO))
}

/// `1 - cosine_similarity(a, b)` (scikit-learn's `cosine_distances`: 1 when either
/// vector is zero), in [0, 2].
pub fn cosine_distance<T: HasKernels>(a: &[T], b: &[T]) -> Result<T> {
    Ok(T::ONE - cosine_similarity(a, b)?)
}
