//! Prediction sets from a calibrated threshold, MAPIE 1.x's rules (`prefit`, one
//! level per call, `include_last_label=True` or `"randomized"`).
//!
//! - LAC: label `j` is in the set iff `(1 − p_j) − q ≤ ε`.
//! - top-k: the labels at least as probable (within `ε`) as the label at 0-based
//!   rank `⌊q⌋` of decreasing probability; all labels when `q ≥ K − 1`, none when
//!   `q < 0`.
//! - APS / RAPS: walk the labels in decreasing probability, summing them (plus
//!   `λ · max(0, rank − k_reg)` for RAPS); the *last* label is the first whose sum
//!   `c'` satisfies `c' − q ≥ −ε` (ties of `c' − q` go to the lowest label index, as
//!   MAPIE's masked `argmin` does). With `p_last` its probability (replaced, when
//!   `≤ ε`, by the smallest probability `≥ ε` of the row, as MAPIE does) the set is
//!   every `j` with `p_j − p_last ≥ −ε`. `randomized` then keeps the last label only
//!   when `V − U ≤ ε`, `U` uniform per row (see [`crate::rng`]) and `V` Romano et
//!   al.'s (APS) or Angelopoulos et al.'s (RAPS) ratio in MAPIE's form.
//!
//! Intentional differences from MAPIE, all at edges it does not reach in practice:
//! when no cumulative sum reaches `q` (`q > 1` for APS, or `q = +inf` from a
//! calibration set too small for the level) the set is every label, where MAPIE's
//! `argmin` over an all-masked row falls back to label 0; equal probabilities are
//! ranked higher index first (what NumPy's `argsort` gives for `K ≤ 16`, where it is
//! stable; above 16 NumPy's order of ties is unspecified).
//!
//! Cost: one pass over each row, plus for APS/RAPS the order of the labels — rows of
//! `K ≤ 32` are ranked by counting (`kernels::desc_ranks`); longer rows find their
//! cut by quickselect with sums in expected `O(K)` (`kernels::aps_cut`) and fall back
//! (randomized, or too close to call) to sorting in doubling chunks taken with
//! `select_nth`, `O(K + s log s)` for a set of `s` labels. Rows are validated in the
//! same pass (see [`crate::probs::ProbMatrix::validate`]).

use std::sync::Mutex;

use mlkern_core::threads;
use mlkern_core::{Error, Result};

use crate::dispatch::{ElemKernels, RowProblem, APS_ROWS_MAX_K};
use crate::kernels::pack_bits;
use crate::probs::{Prob, ProbMatrix, SUM_TOLERANCE};
use crate::{rng, Method, Regularization, EPSILON};

/// The threshold of a call, broadcast against the `(n, K)` probabilities the way
/// NumPy broadcasts a scalar, `(K,)`, `(n, 1)` or `(n, K)` array.
#[derive(Debug, Clone, Copy)]
pub enum Threshold<'a> {
    Scalar(f64),
    /// One per class (class-conditional, "Mondrian", LAC only).
    PerClass(&'a [f64]),
    /// One per row (group-conditional thresholds mapped to the test rows).
    PerRow(&'a [f64]),
    /// One per entry (LAC only).
    PerEntry(&'a [f64]),
}

impl Threshold<'_> {
    fn values(&self) -> &[f64] {
        match self {
            Threshold::Scalar(q) => std::slice::from_ref(q),
            Threshold::PerClass(q) | Threshold::PerRow(q) | Threshold::PerEntry(q) => q,
        }
    }

    fn check(&self, n: usize, k: usize, method: Method) -> Result<()> {
        let (need, what) = match self {
            Threshold::Scalar(_) => (1, "a scalar"),
            Threshold::PerClass(_) => (k, "one per class"),
            Threshold::PerRow(_) => (n, "one per row"),
            Threshold::PerEntry(_) => (n.saturating_mul(k), "one per entry"),
        };
        if self.values().len() != need {
            return Err(Error::shape("threshold", format!("{what} needs {need} values, got {}", self.values().len())));
        }
        if let Some(i) = self.values().iter().position(|q| q.is_nan()) {
            return Err(Error::invalid("threshold", format!("threshold value {i} is NaN")));
        }
        if method != Method::Lac && matches!(self, Threshold::PerClass(_) | Threshold::PerEntry(_)) {
            return Err(Error::invalid(
                "threshold",
                "per-class thresholds apply to 'lac' only: APS, RAPS and top-k take a scalar or one per row",
            ));
        }
        Ok(())
    }

    #[inline]
    fn row(&self, i: usize, k: usize) -> RowThreshold<'_> {
        match *self {
            Threshold::Scalar(q) => RowThreshold::One(q),
            Threshold::PerRow(q) => RowThreshold::One(q[i]),
            Threshold::PerClass(q) => RowThreshold::Each(q),
            Threshold::PerEntry(q) => RowThreshold::Each(&q[i * k..(i + 1) * k]),
        }
    }
}

#[derive(Debug, Clone, Copy)]
enum RowThreshold<'a> {
    One(f64),
    Each(&'a [f64]),
}

/// How a call builds its sets.
#[derive(Debug, Clone, Copy)]
pub struct SetParams {
    pub method: Method,
    /// RAPS only.
    pub reg: Regularization,
    /// `Some(seed)`: MAPIE's `include_last_label="randomized"` (APS/RAPS only).
    pub randomized: Option<u64>,
}

/// Where the sets go: one byte (0/1) per label, or rows of `K.div_ceil(8)` bytes of
/// bits (label 0 in the most significant bit of byte 0, like `np.packbits`).
#[derive(Debug)]
pub enum SetsOut<'a> {
    Bytes(&'a mut [u8]),
    Packed(&'a mut [u8]),
}

/// Rows of at most this many labels are ranked by counting (`O(K²)` branch-free
/// compares, [`crate::kernels::desc_ranks`]) instead of sorted.
pub const SMALL_K: usize = 32;

/// A row's labels as sort keys, and their ranks (per-task scratch).
#[derive(Debug, Default)]
pub(crate) struct Order {
    keys: Vec<u128>,
    ranks: Vec<u32>,
    values: Vec<f64>,
}

/// The sort key of label `j` with probability `p ≥ 0`: ascending keys are decreasing
/// probability, ties higher index first (float64 bits of non-negative floats are
/// monotone; `+ 0.0` turns a `−0.0` into `+0.0`). Integer keys sort and select several
/// times faster than `(f64, u32)` pairs through a comparator.
#[inline]
fn key(p: f64, j: u32) -> u128 {
    (u128::from(u64::MAX - (p + 0.0).to_bits()) << 32) | u128::from(u32::MAX - j)
}

/// `(p, j)` back from [`key`].
#[inline]
fn unkey(k: u128) -> (f64, u32) {
    (f64::from_bits(u64::MAX - (k >> 32) as u64), u32::MAX - k as u32)
}

/// Per-task scratch of the row walks.
#[derive(Debug, Default)]
struct Scratch {
    order: Order,
    bytes: Vec<u8>,
}

/// The prediction sets of every row of `probs` for threshold `q`; with `argmax`,
/// also each row's most probable label (the lowest index among equal maxima, as
/// `np.argmax`), in the same pass.
pub fn predict_sets<T: Prob>(
    probs: ProbMatrix<'_, T>,
    q: Threshold<'_>,
    params: &SetParams,
    out: SetsOut<'_>,
    argmax: Option<&mut [i64]>,
) -> Result<()> {
    let (n, k) = (probs.n, probs.k);
    q.check(n, k, params.method)?;
    if params.randomized.is_some() && !matches!(params.method, Method::Aps | Method::Raps) {
        return Err(Error::invalid("randomized", "applies to 'aps' and 'raps' only"));
    }
    if k > u32::MAX as usize {
        return Err(Error::invalid("probs", format!("{k} classes: at most {} are supported", u32::MAX)));
    }
    let (out, width, packed) = match out {
        SetsOut::Bytes(o) => (o, k, false),
        SetsOut::Packed(o) => (o, k.div_ceil(8), true),
    };
    let need = mlkern_core::error::checked_size("sets", n, width)?;
    if out.len() != need {
        return Err(Error::shape("out", format!("sets need {need} bytes, got {}", out.len())));
    }
    if argmax.as_ref().is_some_and(|a| a.len() != n) {
        return Err(Error::shape("argmax", format!("{n} rows need {n} labels")));
    }
    if n == 0 {
        return Ok(());
    }
    let kern = T::kernels();
    let bad = Mutex::new(None::<(usize, RowProblem)>);
    // Row work: a pass over K labels (and a sort for APS/RAPS).
    let work = if matches!(params.method, Method::Aps | Method::Raps) { 4 * k } else { k };
    let per = threads::rows_per_task(n, work, usize::MAX);
    // Disjoint (sets, labels) chunks of `per` rows, one task each.
    let mut arg = argmax;
    let tasks: Vec<Mutex<SetsTask<'_>>> = match arg.take() {
        Some(a) => out.chunks_mut(per * width).zip(a.chunks_mut(per)).map(|(o, a)| Mutex::new((o, Some(a)))).collect(),
        None => out.chunks_mut(per * width).map(|o| Mutex::new((o, None))).collect(),
    };
    threads::map_indexed(tasks.len(), |c| {
        let mut guard = tasks[c].lock().unwrap_or_else(|e| e.into_inner());
        let (chunk, labels) = &mut *guard;
        let first = c * per;
        let rows = chunk.len() / width;
        let mut s = Scratch::default();
        let p = &probs.data[first * k..(first + rows) * k];
        let report = |(r, why): (usize, RowProblem)| {
            let mut b = bad.lock().unwrap_or_else(|e| e.into_inner());
            if b.is_none_or(|(r0, _)| first + r < r0) {
                *b = Some((first + r, why));
            }
        };
        // The hand-written whole-row kernels (x86-64-v4): validation fused with the sets.
        if let (Some(rk), false) = (kern.rows, packed) {
            let no_labels: &mut [i64] = &mut [];
            match (params.method, q, params.randomized) {
                (Method::Lac, Threshold::Scalar(t), _) => {
                    if let Some(b) = (rk.lac_rows)(p, k, t, chunk, labels.as_deref_mut().unwrap_or(no_labels)) {
                        report(b);
                    }
                    return;
                }
                // (λ ≥ 0 keeps the cumulative sums rising, which the kernel's walk
                // needs; `Regularization::new` checks it, the public fields do not.)
                (Method::Aps | Method::Raps, Threshold::Scalar(_) | Threshold::PerRow(_), None)
                    if k <= APS_ROWS_MAX_K && params.reg.lambda >= 0.0 =>
                {
                    let ts = match q {
                        Threshold::PerRow(qs) => &qs[first..first + rows],
                        _ => q.values(),
                    };
                    let reg = if params.method == Method::Raps { params.reg } else { Regularization::NONE };
                    let mut undecided = Vec::new();
                    let argmax = labels.as_deref_mut().unwrap_or(no_labels);
                    if let Some(b) = (rk.aps_rows)(p, k, ts, reg, chunk, argmax, &mut undecided) {
                        report(b);
                        return;
                    }
                    for r in undecided {
                        let i = first + r;
                        let dst = &mut chunk[r * k..(r + 1) * k];
                        row_set(kern, probs.row(i), q.row(i, k), params, i as u64, &mut s.order, dst);
                    }
                    return;
                }
                _ => {}
            }
        }
        if let Some(labels) = labels {
            for (l, row) in labels.iter_mut().zip(p.chunks_exact(k)) {
                *l = first_argmax(row) as i64;
            }
        }
        if let Some(b) = (kern.first_bad_row)(p, k, SUM_TOLERANCE) {
            report(b);
            return;
        }
        if !packed {
            if let (Method::Lac, Threshold::Scalar(t)) = (params.method, q) {
                (kern.lac_scalar)(p, t, chunk);
                return;
            }
        }
        s.bytes.resize(if packed { k } else { 0 }, 0);
        for (r, dst) in chunk.chunks_exact_mut(width).enumerate() {
            let i = first + r;
            let row = probs.row(i);
            if packed {
                row_set(kern, row, q.row(i, k), params, i as u64, &mut s.order, &mut s.bytes);
                pack_bits(&s.bytes, dst);
            } else {
                row_set(kern, row, q.row(i, k), params, i as u64, &mut s.order, dst);
            }
        }
    });
    match bad.into_inner().unwrap_or_else(|e| e.into_inner()) {
        None => Ok(()),
        Some((row, _)) => probs.validate().and_then(|()| Err(Error::invalid("probs", format!("row {row} is invalid")))),
    }
}

/// One parallel task's rows: their sets and, if asked, their argmax labels.
type SetsTask<'a> = (&'a mut [u8], Option<&'a mut [i64]>);

/// The index of the first largest entry (NaN-free rows: checked in the same pass).
#[inline]
fn first_argmax<T: Prob>(row: &[T]) -> usize {
    let mut best = 0;
    for (j, v) in row.iter().enumerate() {
        if *v > row[best] {
            best = j;
        }
    }
    best
}

/// One row's set into `out` (`K` bytes).
fn row_set<T: Prob>(
    kern: &ElemKernels<T>,
    p: &[T],
    q: RowThreshold<'_>,
    params: &SetParams,
    row: u64,
    order: &mut Order,
    out: &mut [u8],
) {
    let t = match q {
        RowThreshold::Each(qs) => return (kern.lac_each)(p, qs, out),
        RowThreshold::One(t) => t,
    };
    match params.method {
        Method::Lac => (kern.lac_scalar)(p, t, out),
        Method::TopK => topk_row(kern, p, t, order, out),
        Method::Aps | Method::Raps => {
            let reg = if params.method == Method::Raps { params.reg } else { Regularization::NONE };
            let u = params.randomized.map(|seed| rng::uniform(seed, row));
            aps_row(kern, p, t, reg, u, order, out)
        }
    }
}

/// Decreasing probability, ties higher index first (see the module notes).
#[inline]
pub(crate) fn desc(a: &(f64, u32), b: &(f64, u32)) -> std::cmp::Ordering {
    b.0.total_cmp(&a.0).then(b.1.cmp(&a.1))
}

fn topk_row<T: Prob>(kern: &ElemKernels<T>, p: &[T], t: f64, order: &mut Order, out: &mut [u8]) {
    let k = p.len();
    if t < 0.0 {
        out.fill(0);
        return;
    }
    if t >= (k - 1) as f64 {
        out.fill(1);
        return;
    }
    let rank = t as usize; // ⌊t⌋ < K − 1
    let cut = if k <= SMALL_K {
        order.ranks.resize(k, 0);
        (kern.desc_ranks)(p, &mut order.ranks);
        let j = order.ranks.iter().position(|&r| r as usize == rank).unwrap_or(0);
        p[j].to_f64()
    } else {
        let keys = &mut order.keys;
        keys.clear();
        keys.extend(p.iter().enumerate().map(|(j, &v)| key(v.to_f64(), j as u32)));
        unkey(*keys.select_nth_unstable(rank).1).0
    };
    (kern.at_least)(p, cut, out);
}

/// Walks the labels of `p` in decreasing order (sorting lazily, in doubling chunks).
struct SortedWalk<'a> {
    order: &'a mut [u128],
    sorted: usize,
    chunk: usize,
}

impl<'a> SortedWalk<'a> {
    /// A walk over the labels of `p`: short rows placed by rank (all sorted at once),
    /// long rows sorted lazily.
    fn new<T: Prob>(kern: &ElemKernels<T>, p: &[T], scratch: &'a mut Order) -> Self {
        let k = p.len();
        let keys = &mut scratch.keys;
        if k <= SMALL_K {
            scratch.ranks.resize(k, 0);
            (kern.desc_ranks)(p, &mut scratch.ranks);
            keys.resize(k, 0);
            for (j, (&r, &v)) in scratch.ranks.iter().zip(p).enumerate() {
                // `ranks` is a permutation of 0..k (see desc_ranks); `min` keeps a
                // broken kernel from indexing out of bounds.
                keys[(r as usize).min(k - 1)] = key(v.to_f64(), j as u32);
            }
            return SortedWalk { order: keys, sorted: k, chunk: k };
        }
        keys.clear();
        keys.extend(p.iter().enumerate().map(|(j, &v)| key(v.to_f64(), j as u32)));
        SortedWalk { order: keys, sorted: 0, chunk: 32 }
    }

    /// The label at 0-based rank `pos` (callers walk `pos` upwards from 0).
    #[inline]
    fn at(&mut self, pos: usize) -> (f64, u32) {
        while pos >= self.sorted {
            let len = self.order.len();
            let end = (self.sorted + self.chunk).min(len);
            if end < len {
                self.order[self.sorted..].select_nth_unstable(end - self.sorted - 1);
            }
            self.order[self.sorted..end].sort_unstable();
            self.sorted = end;
            self.chunk *= 2;
        }
        unkey(self.order[pos])
    }
}

#[allow(clippy::too_many_arguments)]
fn aps_row<T: Prob>(
    kern: &ElemKernels<T>,
    p: &[T],
    t: f64,
    reg: Regularization,
    u: Option<f64>,
    order: &mut Order,
    out: &mut [u8],
) {
    let k = p.len();
    if k > SMALL_K && u.is_none() {
        if let Some(cut) = (kern.aps_cut)(p, t, reg, &mut order.values) {
            return (kern.at_least)(p, cut, out);
        }
    }
    let mut walk = SortedWalk::new(kern, p, order);
    let mut c = 0.0f64;
    let mut pos = 0;
    // The first rank whose regularised sum reaches t.
    let hit = loop {
        if pos == k {
            break None;
        }
        let (pj, j) = walk.at(pos);
        c += pj;
        let cp = c + reg.at(pos + 1);
        // MAPIE masks `c' − q < −ε`; the first unmasked rank is the last label.
        let masked = cp - t < -EPSILON;
        if !masked {
            break Some((j, cp));
        }
        pos += 1;
    };
    let Some((mut last, cp_last)) = hit else {
        out.fill(1);
        return;
    };
    // Later ranks with exactly the same `c' − t` tie in MAPIE's argmin, which then
    // takes the lowest label index among them.
    let v = cp_last - t;
    for next in pos + 1..k {
        let (pj, j) = walk.at(next);
        c += pj;
        if c + reg.at(next + 1) - t != v {
            break;
        }
        last = last.min(j);
    }
    let mut p_last = p[last as usize].to_f64();
    if p_last <= EPSILON {
        p_last = p.iter().map(|x| x.to_f64()).filter(|&x| x >= EPSILON).fold(f64::INFINITY, f64::min);
    }
    (kern.at_least)(p, p_last, out);
    if let Some(u) = u {
        // Keep the last label iff U ≥ V = (c'_last − q) / p_last: exactly the labels
        // whose randomized score `c' − U·p` is ≤ q (the score is increasing in rank).
        let v_param = (cp_last - t) / p_last;
        out[last as usize] = u8::from(v_param - u <= EPSILON);
    }
}
