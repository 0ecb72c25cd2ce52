//! All-pairs scores between the rows of two row-major matrices.
//!
//! Blocking: the output is split into bands of [`BAND_ROWS`] rows of `a`, one Rayon
//! task each. Inside a band, `b` is walked in blocks of [`B_BLOCK`] rows (kept in
//! L2), and every 4 × 4 pair of row groups is computed by the register-blocked tile
//! kernel of the active tier (`kernels/tile.rs`). Edge groups repeat their last row
//! and drop the extra results. Cosine scales dot products by precomputed inverse
//! norms (pairs with a tiny or huge row take the scaled path of `cosine.rs`);
//! euclidean takes the square root of directly accumulated squared differences
//! (no `|a|^2 + |b|^2 - 2ab` cancellation).

use rayon::prelude::*;

use super::check_matrix;
use super::cosine::{self, SCALE_ROW};
use super::metric::{clamp_unit, cosine_from_parts, Metric};
use super::products::{finish_row, row_terms, scaled_columns, PairDots};
use crate::aligned::{AlignedVec, Zeroable};
use crate::dispatch::{kernels, HasKernels, TileFn};
use crate::error::Result;
use crate::kernels::tile::TILE;
use crate::threads;

/// Rows of `a` per parallel task.
const BAND_ROWS: usize = 32;
/// Rows of `b` per cache block.
const B_BLOCK: usize = 64;
/// Below this many multiply-adds the work runs on the calling thread.
const PAR_MIN_WORK: usize = 1 << 18;

/// Row `i` of a row-major matrix with `d` columns, clamped to the last row `< rows`.
#[inline(always)]
fn row<T>(m: &[T], d: usize, i: usize, rows: usize) -> &[T] {
    let i = i.min(rows - 1);
    &m[i * d..i * d + d]
}

/// What a zero row's inverse norm is under `metric`: 0 gives the similarity 0
/// (scikit-learn), NaN the distance NaN (SciPy).
pub(crate) fn zero_row_inverse<T: HasKernels>(metric: Metric) -> T {
    if metric == Metric::CosineDistance {
        T::from_f64(f64::NAN)
    } else {
        T::ZERO
    }
}

/// Inverse Euclidean norms of each row (see `cosine::inverse_norm`).
pub(crate) fn inverse_row_norms<T: HasKernels + Zeroable>(
    m: &[T],
    rows: usize,
    d: usize,
    metric: Metric,
) -> Result<AlignedVec<T>> {
    let dot = kernels::<T>().dot;
    let mut inv = AlignedVec::zeroed(rows)?;
    for (i, v) in inv.iter_mut().enumerate() {
        *v = cosine::inverse_norm(&m[i * d..i * d + d], dot, zero_row_inverse(metric));
    }
    Ok(inv)
}

/// The cosine similarity of rows `x`, `y` from their dot product `xy` and inverse
/// norms (either may be [`SCALE_ROW`]); clamped to [-1, 1].
#[inline(always)]
pub(crate) fn cosine_of_rows<T: HasKernels>(xy: T, inv_x: T, inv_y: T, x: &[T], y: &[T], metric: Metric) -> T {
    let scale = T::from_f64(SCALE_ROW);
    if inv_x != scale && inv_y != scale {
        return cosine_from_parts(xy, inv_x, inv_y);
    }
    match cosine::scaled_similarity(x, y) {
        Some(c) => clamp_unit(T::from_f64(c)),
        None => zero_row_inverse(metric),
    }
}

/// Checks the shapes of a `cdist` call; `false` when there is no pair to score.
fn check_pairs<T>(a: &[T], m: usize, b: &[T], n: usize, d: usize, out: &[T]) -> Result<bool> {
    check_matrix("a", a.len(), m, d)?;
    check_matrix("b", b.len(), n, d)?;
    check_matrix("out", out.len(), m, n)?;
    Ok(m > 0 && n > 0)
}

/// Writes `out[i * n + j] = metric(a[i], b[j])` for `a: (m, d)`, `b: (n, d)`, `out: (m, n)`.
///
/// Multi-threaded on mlkern's pool when the work is large enough; the result does
/// not depend on the thread count.
pub fn cdist<T: HasKernels + Zeroable>(
    a: &[T],
    m: usize,
    b: &[T],
    n: usize,
    d: usize,
    metric: Metric,
    out: &mut [T],
) -> Result<()> {
    if !check_pairs(a, m, b, n, d, out)? {
        return Ok(());
    }
    let tile = metric.tile(kernels::<T>());
    let (inv_a, inv_b) = if metric.is_cosine() {
        (Some(inverse_row_norms(a, m, d, metric)?), Some(inverse_row_norms(b, n, d, metric)?))
    } else {
        (None, None)
    };
    let ctx = Ctx { a, m, b, n, d, metric, tile, inv_a: inv_a.as_deref(), inv_b: inv_b.as_deref() };
    let work = m.saturating_mul(n).saturating_mul(d.max(1));
    if work < PAR_MIN_WORK {
        ctx.band(0, out);
    } else {
        threads::install(|| {
            out.par_chunks_mut(BAND_ROWS * n).enumerate().for_each(|(t, band)| ctx.band(t * BAND_ROWS, band));
        });
    }
    Ok(())
}

/// As [`cdist`], with the dot products computed by `dots` (linalg's packed GEMM,
/// from the bindings) into `out` and turned into scores in place (`products.rs`:
/// the rules, the recomputed pairs and the error bounds). The result does not
/// depend on the thread count, and [`super::topk_by_products`] with the same
/// provider reports exactly these scores.
#[allow(clippy::too_many_arguments)]
pub fn cdist_by_products<T: HasKernels + Zeroable>(
    a: &[T],
    m: usize,
    b: &[T],
    n: usize,
    d: usize,
    metric: Metric,
    out: &mut [T],
    dots: &dyn PairDots<T>,
) -> Result<()> {
    if !check_pairs(a, m, b, n, d, out)? {
        return Ok(());
    }
    let (ta, tb) = (row_terms(a, m, d, metric)?, row_terms(b, n, d, metric)?);
    dots.dots(a, m, b, n, d, out, threads::num_threads())?;
    let (Some(ta), Some(tb)) = (ta, tb) else {
        return Ok(()); // dot: the products are the scores
    };
    let scaled = scaled_columns(metric, &tb);
    let finish_band = |i0: usize, band: &mut [T]| {
        for (r, out_row) in band.chunks_mut(n).enumerate() {
            let i = i0 + r;
            finish_row(metric, out_row, ta[i], &tb, &a[i * d..i * d + d], b, &scaled);
        }
    };
    if m.saturating_mul(n) < PAR_MIN_WORK / 16 {
        finish_band(0, out);
    } else {
        threads::install(|| {
            out.par_chunks_mut(BAND_ROWS * n).enumerate().for_each(|(t, band)| finish_band(t * BAND_ROWS, band));
        });
    }
    Ok(())
}

struct Ctx<'a, T: 'static> {
    a: &'a [T],
    m: usize,
    b: &'a [T],
    n: usize,
    d: usize,
    metric: Metric,
    tile: TileFn<T>,
    inv_a: Option<&'a [T]>,
    inv_b: Option<&'a [T]>,
}

impl<T: HasKernels> Ctx<'_, T> {
    /// Fills `band`, the output rows `i0 .. i0 + band.len() / n`.
    fn band(&self, i0: usize, band: &mut [T]) {
        let (n, d) = (self.n, self.d);
        let rows = band.len() / n;
        for j0 in (0..n).step_by(B_BLOCK) {
            let j1 = (j0 + B_BLOCK).min(n);
            for ib in (0..rows).step_by(TILE) {
                let i = i0 + ib;
                let ra: [&[T]; TILE] = std::array::from_fn(|r| row(self.a, d, i + r, self.m));
                for j in (j0..j1).step_by(TILE) {
                    let rb: [&[T]; TILE] = std::array::from_fn(|c| row(self.b, d, j + c, n));
                    let vals = (self.tile)(ra, rb);
                    for r in 0..TILE.min(rows - ib) {
                        let out_row = &mut band[(ib + r) * n..(ib + r + 1) * n];
                        for c in 0..TILE.min(j1 - j) {
                            out_row[j + c] = self.finish(vals[r][c], i + r, j + c);
                        }
                    }
                }
            }
        }
    }

    #[inline(always)]
    fn finish(&self, v: T, i: usize, j: usize) -> T {
        let cosine = || match (self.inv_a, self.inv_b) {
            (Some(ia), Some(ib)) => {
                let (x, y) = (row(self.a, self.d, i, self.m), row(self.b, self.d, j, self.n));
                cosine_of_rows(v, ia[i], ib[j], x, y, self.metric)
            }
            _ => v,
        };
        match self.metric {
            Metric::Dot | Metric::SqEuclidean => v,
            Metric::Euclidean => v.sqrt(),
            Metric::CosineSimilarity => cosine(),
            Metric::CosineDistance => T::ONE - cosine(),
        }
    }
}
