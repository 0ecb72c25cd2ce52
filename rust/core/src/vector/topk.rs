//! Fused top-k search: the `k` closest corpus rows for each query, without
//! materialising the `(q, n)` score matrix.
//!
//! The corpus is cut into chunks of [`CHUNK_ROWS`] rows, one Rayon task each. A task
//! walks its chunk 4 rows at a time (in L1) against the queries 4 at a time (kept in
//! L2), computes each 4 × 4 block of scores with the tile kernel of the active tier,
//! and offers each score to that query's bounded heap; almost every offer is
//! rejected by one comparison with the heap's worst entry. Task results are merged.
//! Extra memory: `O(q · k)` per task in flight, never `O(q · n)`.
//!
//! By products ([`topk_by_products`]): a task computes the dot products of up to
//! [`QUERY_BLOCK`] queries × [`PRODUCT_ROWS`] corpus rows at a time with the
//! provider (linalg's GEMM) into a pooled scratch block, turns them into scores by the
//! rules of `products.rs` and offers them to the heaps; extra memory then is also
//! one such block per task (at most 512 KiB for float32).
//!
//! Order: higher similarity (dot, cosine_similarity) or lower distance is better; equal scores
//! rank the lower corpus index first; NaN ranks below every number. This is a strict
//! total order on (score, index), so the result does not depend on the thread count.

use rayon::prelude::*;

use super::cdist::{cosine_of_rows, zero_row_inverse};
use super::check_matrix;
use super::cosine;
use super::metric::Metric;
use super::products::{raw_score, row_terms, PairDots};
use crate::aligned::Zeroable;
use crate::dispatch::{kernels, HasKernels, TileFn};
use crate::error::{Error, Result};
use crate::kernels::tile::TILE;
use crate::{mem, threads};

/// Corpus rows per parallel task.
const CHUNK_ROWS: usize = 2048;
/// Queries per block of products (the route by products).
const QUERY_BLOCK: usize = 256;
/// Corpus rows per block of products (the route by products).
const PRODUCT_ROWS: usize = 512;

/// True when (key `ka`, index `ia`) ranks before (`kb`, `ib`): larger key first, NaN last,
/// ties to the lower index.
#[inline(always)]
fn ranks_before<T: HasKernels>(ka: T, ia: usize, kb: T, ib: usize) -> bool {
    match (ka.is_nan(), kb.is_nan()) {
        (false, false) => ka > kb || (ka == kb && ia < ib),
        (false, true) => true,
        (true, false) => false,
        (true, true) => ia < ib,
    }
}

/// A bounded binary heap keeping the `k` best (key, index) pairs; the root is the worst.
#[derive(Debug, Clone)]
pub(crate) struct TopK<T> {
    k: usize,
    keys: Vec<T>,
    idx: Vec<usize>,
}

impl<T: HasKernels> TopK<T> {
    pub(crate) fn new(k: usize) -> Self {
        TopK { k, keys: Vec::new(), idx: Vec::new() }
    }

    /// `a` is worse than `b` (belongs nearer the root).
    #[inline(always)]
    fn worse(&self, a: usize, b: usize) -> bool {
        ranks_before(self.keys[b], self.idx[b], self.keys[a], self.idx[a])
    }

    #[inline(always)]
    pub(crate) fn push(&mut self, key: T, index: usize) {
        if self.keys.len() < self.k {
            self.keys.push(key);
            self.idx.push(index);
            self.sift_up(self.keys.len() - 1);
        } else if ranks_before(key, index, self.keys[0], self.idx[0]) {
            self.keys[0] = key;
            self.idx[0] = index;
            self.sift_down(0);
        }
    }

    fn sift_up(&mut self, mut i: usize) {
        while i > 0 {
            let p = (i - 1) / 2;
            if self.worse(i, p) {
                self.keys.swap(i, p);
                self.idx.swap(i, p);
                i = p;
            } else {
                break;
            }
        }
    }

    fn sift_down(&mut self, mut i: usize) {
        let len = self.keys.len();
        loop {
            let (l, r) = (2 * i + 1, 2 * i + 2);
            let mut w = i;
            if l < len && self.worse(l, w) {
                w = l;
            }
            if r < len && self.worse(r, w) {
                w = r;
            }
            if w == i {
                break;
            }
            self.keys.swap(i, w);
            self.idx.swap(i, w);
            i = w;
        }
    }

    fn merge(&mut self, other: TopK<T>) {
        for (key, i) in other.keys.into_iter().zip(other.idx) {
            self.push(key, i);
        }
    }

    /// Entries best first.
    pub(crate) fn into_sorted(self) -> Vec<(T, usize)> {
        let mut v: Vec<(T, usize)> = self.keys.into_iter().zip(self.idx).collect();
        v.sort_unstable_by(|a, b| {
            if ranks_before(a.0, a.1, b.0, b.1) {
                std::cmp::Ordering::Less
            } else {
                std::cmp::Ordering::Greater
            }
        });
        v
    }
}

/// For each of the `q` queries (rows of `queries: (q, d)`), the `k` best rows of
/// `corpus: (n, d)` under `metric`, best first: their indices into `out_idx` and their
/// scores (similarity or distance, as `cdist` would report them) into `out_scores`,
/// both `(q, k)` row-major. Requires `1 <= k <= n`.
#[allow(clippy::too_many_arguments)]
pub fn topk<T: HasKernels + Zeroable>(
    queries: &[T],
    q: usize,
    corpus: &[T],
    n: usize,
    d: usize,
    k: usize,
    metric: Metric,
    out_idx: &mut [i64],
    out_scores: &mut [T],
) -> Result<()> {
    search_all(queries, q, corpus, n, d, k, metric, out_idx, out_scores, None)
}

/// As [`topk`], with the scores computed from the dot products of `dots` by the
/// rules of `products.rs`: exactly the scores [`super::cdist_by_products`] reports
/// with the same provider.
#[allow(clippy::too_many_arguments)]
pub fn topk_by_products<T: HasKernels + Zeroable>(
    queries: &[T],
    q: usize,
    corpus: &[T],
    n: usize,
    d: usize,
    k: usize,
    metric: Metric,
    out_idx: &mut [i64],
    out_scores: &mut [T],
    dots: &dyn PairDots<T>,
) -> Result<()> {
    search_all(queries, q, corpus, n, d, k, metric, out_idx, out_scores, Some(dots))
}

#[allow(clippy::too_many_arguments)]
fn search_all<T: HasKernels + Zeroable>(
    queries: &[T],
    q: usize,
    corpus: &[T],
    n: usize,
    d: usize,
    k: usize,
    metric: Metric,
    out_idx: &mut [i64],
    out_scores: &mut [T],
    dots: Option<&dyn PairDots<T>>,
) -> Result<()> {
    check_matrix("queries", queries.len(), q, d)?;
    check_matrix("corpus", corpus.len(), n, d)?;
    if k == 0 {
        return Err(Error::invalid("k", "k must be at least 1, got 0"));
    }
    if k > n {
        return Err(Error::invalid("k", format!("k = {k} exceeds the {n} rows of corpus")));
    }
    check_matrix("indices out", out_idx.len(), q, k)?;
    check_matrix("scores out", out_scores.len(), q, k)?;
    if q == 0 {
        return Ok(());
    }
    // The tiles need the queries' inverse norms (cosine), the products every metric's
    // row terms, which for cosine are those inverse norms.
    let terms_q = if dots.is_some() || metric.is_cosine() { row_terms(queries, q, d, metric)? } else { None };
    let ctx = Search {
        queries,
        q,
        corpus,
        d,
        k,
        metric,
        tile: metric.tile(kernels::<T>()),
        dots,
        terms_q: terms_q.as_deref(),
    };
    let chunks = n.div_ceil(CHUNK_ROWS);
    let heaps = if chunks == 1 || q.saturating_mul(n).saturating_mul(d.max(1)) < (1 << 18) {
        // One task: the provider may use the pool itself (its results do not depend on it).
        ctx.search(0, n, if chunks == 1 { threads::num_threads() } else { 1 })?
    } else {
        threads::install(|| {
            (0..chunks)
                .into_par_iter()
                .map(|c| ctx.search(c * CHUNK_ROWS, ((c + 1) * CHUNK_ROWS).min(n), 1))
                .try_reduce_with(|mut acc, other| {
                    for (h, o) in acc.iter_mut().zip(other) {
                        h.merge(o);
                    }
                    Ok(acc)
                })
                .unwrap_or_else(|| Ok(Vec::new()))
        })?
    };
    for (qi, heap) in heaps.into_iter().enumerate() {
        for (slot, (key, j)) in heap.into_sorted().into_iter().enumerate() {
            out_idx[qi * k + slot] = j as i64;
            out_scores[qi * k + slot] = ctx.score_from_key(key);
        }
    }
    Ok(())
}

struct Search<'a, T: 'static> {
    queries: &'a [T],
    q: usize,
    corpus: &'a [T],
    d: usize,
    k: usize,
    metric: Metric,
    tile: TileFn<T>,
    /// The provider of the route by products, if any.
    dots: Option<&'a dyn PairDots<T>>,
    /// The queries' [`row_terms`] (tiles: cosine only).
    terms_q: Option<&'a [T]>,
}

impl<T: HasKernels + Zeroable> Search<'_, T> {
    /// Best-first key: similarity as is, distance negated (exact), so larger is
    /// better; `x`, `y` are the rows (read only for tiny or huge cosine rows).
    #[inline(always)]
    fn key(&self, raw: T, inv_q: T, inv_c: T, x: &[T], y: &[T]) -> T {
        match self.metric {
            Metric::Dot => raw,
            Metric::CosineSimilarity => cosine_of_rows(raw, inv_q, inv_c, x, y, self.metric),
            Metric::CosineDistance => -(T::ONE - cosine_of_rows(raw, inv_q, inv_c, x, y, self.metric)),
            Metric::SqEuclidean => -raw,
            // Ranked by the distance reported (sqrt merges neighbouring squares in
            // float32): equal scores then rank the lower index first, as promised.
            Metric::Euclidean => -raw.sqrt(),
        }
    }

    /// The score `cdist` reports, from a key (exact inverse of [`Self::key`]).
    fn score_from_key(&self, key: T) -> T {
        match self.metric {
            Metric::Dot | Metric::CosineSimilarity => key,
            Metric::SqEuclidean | Metric::CosineDistance | Metric::Euclidean => -key,
        }
    }

    /// The best-first key of a [`raw_score`] (as [`Self::key`] of a tile value).
    #[inline(always)]
    fn key_of_raw(&self, raw: T) -> T {
        match self.metric {
            Metric::Dot | Metric::CosineSimilarity => raw,
            Metric::CosineDistance => -(T::ONE - raw),
            Metric::SqEuclidean => -raw,
            Metric::Euclidean => -raw.sqrt(),
        }
    }

    /// Heaps of every query over corpus rows `j0..j1` (the provider, if any, on at
    /// most `threads` threads).
    fn search(&self, j0: usize, j1: usize, threads: usize) -> Result<Vec<TopK<T>>> {
        let mut heaps: Vec<TopK<T>> = (0..self.q).map(|_| TopK::new(self.k)).collect();
        match self.dots {
            Some(dots) => self.search_by_products(j0, j1, threads, dots, &mut heaps)?,
            None => self.search_by_tiles(j0, j1, &mut heaps),
        }
        Ok(heaps)
    }

    /// [`Self::search`] by blocks of products.
    fn search_by_products(
        &self,
        j0: usize,
        j1: usize,
        threads: usize,
        dots: &dyn PairDots<T>,
        heaps: &mut [TopK<T>],
    ) -> Result<()> {
        let (d, q, metric) = (self.d, self.q, self.metric);
        let len = QUERY_BLOCK.min(q) * PRODUCT_ROWS.min(j1 - j0); // <= 256 · 512
        let mut buf = mem::global().take::<T>(len)?;
        let scratch = buf.slice_mut::<T>(len);
        for c0 in (j0..j1).step_by(PRODUCT_ROWS) {
            let nc = PRODUCT_ROWS.min(j1 - c0);
            let block = &self.corpus[c0 * d..(c0 + nc) * d];
            let terms_c = row_terms(block, nc, d, metric)?;
            for i0 in (0..q).step_by(QUERY_BLOCK) {
                let rows = QUERY_BLOCK.min(q - i0);
                let s = &mut scratch[..rows * nc];
                dots.dots(&self.queries[i0 * d..(i0 + rows) * d], rows, block, nc, d, s, threads)?;
                for (r, srow) in s.chunks(nc).enumerate() {
                    let i = i0 + r;
                    let x = &self.queries[i * d..i * d + d];
                    let tq = self.terms_q.map_or(T::ONE, |t| t[i]);
                    let heap = &mut heaps[i];
                    for (c, &xy) in srow.iter().enumerate() {
                        let tc = terms_c.as_deref().map_or(T::ONE, |t| t[c]);
                        let raw = raw_score(metric, xy, tq, tc, x, &block[c * d..c * d + d]);
                        heap.push(self.key_of_raw(raw), c0 + c);
                    }
                }
            }
        }
        Ok(())
    }

    /// [`Self::search`] by 4 × 4 tiles.
    fn search_by_tiles(&self, j0: usize, j1: usize, heaps: &mut [TopK<T>]) {
        let (d, q) = (self.d, self.q);
        let dot = kernels::<T>().dot;
        let row = |i: usize, rows: usize| -> usize { i.min(rows - 1) * d };
        for j in (j0..j1).step_by(TILE) {
            let cols = TILE.min(j1 - j);
            let rc: [&[T]; TILE] = std::array::from_fn(|c| {
                let s = row(j + c, j1);
                &self.corpus[s..s + d]
            });
            let inv_c: [T; TILE] = if self.metric.is_cosine() {
                std::array::from_fn(|c| cosine::inverse_norm(rc[c], dot, zero_row_inverse(self.metric)))
            } else {
                [T::ONE; TILE]
            };
            for i in (0..q).step_by(TILE) {
                let rows = TILE.min(q - i);
                let rq: [&[T]; TILE] = std::array::from_fn(|r| {
                    let s = row(i + r, q);
                    &self.queries[s..s + d]
                });
                let vals = (self.tile)(rq, rc);
                for r in 0..rows {
                    let iq = self.terms_q.map_or(T::ONE, |v| v[i + r]);
                    let heap = &mut heaps[i + r];
                    for c in 0..cols {
                        heap.push(self.key(vals[r][c], iq, inv_c[c], rq[r], rc[c]), j + c);
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn heap_keeps_best_with_index_ties() {
        let mut h = TopK::<f64>::new(3);
        for (i, s) in [1.0, 5.0, f64::NAN, 5.0, 2.0, 5.0, -1.0].into_iter().enumerate() {
            h.push(s, i);
        }
        let got: Vec<usize> = h.into_sorted().into_iter().map(|(_, i)| i).collect();
        assert_eq!(got, vec![1, 3, 5]);
    }

    #[test]
    fn nan_ranks_last() {
        let mut h = TopK::<f32>::new(3);
        for (i, s) in [f32::NAN, 1.0, f32::NAN].into_iter().enumerate() {
            h.push(s, i);
        }
        let got: Vec<usize> = h.into_sorted().into_iter().map(|(_, i)| i).collect();
        assert_eq!(got, vec![1, 0, 2]);
    }
}
