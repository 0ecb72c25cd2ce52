//! The per-tier conformal kernels: row validation and the threshold compares that
//! turn probabilities into set membership.
//!
//! Algorithm: plain element-wise loops over float64 values (each float32 element is
//! widened exactly), written so that LLVM vectorises them at the width of the tier
//! they are compiled for in [`crate::dispatch`] (eight float64 lanes on AVX-512).
//! Accumulation: the row sums of [`first_bad_row`] are plain float64 sums, within
//! `K · u` relative of exact, far inside the `1e-5` tolerance they are compared with. The
//! compares are exact: each output bit is the IEEE result of MAPIE's float64
//! expression, so every tier gives bitwise the scalar tier's answer.

use mlkern_core::element::Float;

use crate::{Regularization, EPSILON};

/// Why a probability row was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RowProblem {
    NotFinite,
    Negative,
    Sum,
}

/// The first row of `p` (rows of `k`) holding a non-finite or negative entry or
/// whose sum is farther than `tol` from 1, and why.
///
/// Rows go in blocks of 8: one contiguous pass checks every entry of the block
/// (`0 ≤ x < ∞`, false for NaN), and the 8 row sums accumulate side by side (lane
/// `l` sums row `l`, label by label), so no horizontal reduction runs per row. A
/// block that fails is re-checked row by row to name the row and the reason.
#[inline(always)]
pub fn first_bad_row<T: Float>(p: &[T], k: usize, tol: f64) -> Option<(usize, RowProblem)> {
    const B: usize = 8;
    let k = k.max(1);
    let rows = p.len() / k;
    let mut r0 = 0;
    while r0 + B <= rows {
        let block = &p[r0 * k..(r0 + B) * k];
        let mut bad = 0u32;
        for &x in block {
            let x = x.to_f64();
            bad += u32::from(!(0.0..f64::INFINITY).contains(&x)); // NaN is outside too
        }
        let mut sum = [0.0f64; B];
        for j in 0..k {
            for (l, s) in sum.iter_mut().enumerate() {
                // SAFETY: l < B and j < k, so l·k + j < B·k = block.len(). (Unchecked so
                // that the 8 strided loads become one gather.)
                *s += unsafe { block.get_unchecked(l * k + j) }.to_f64();
            }
        }
        let sums_ok = sum.iter().all(|&s| (s - 1.0).abs() <= tol);
        if bad != 0 || !sums_ok {
            break;
        }
        r0 += B;
    }
    for (i, row) in p[r0 * k..].chunks_exact(k).enumerate() {
        if let Some(why) = row_problem(row, tol) {
            return Some((r0 + i, why));
        }
    }
    None
}

/// Why one row is invalid, if it is.
#[inline(always)]
pub(crate) fn row_problem<T: Float>(row: &[T], tol: f64) -> Option<RowProblem> {
    let (mut sum, mut finite, mut negative) = (0.0f64, true, false);
    for &v in row {
        let x = v.to_f64();
        sum += x;
        finite &= x.abs() < f64::INFINITY;
        negative |= x < 0.0;
    }
    if !finite {
        Some(RowProblem::NotFinite)
    } else if negative {
        Some(RowProblem::Negative)
    } else {
        let sums_to_one = (sum - 1.0).abs() <= tol;
        (!sums_to_one).then_some(RowProblem::Sum)
    }
}

/// `out[j] = (p[j] − cutoff ≥ −ε)`: the labels at least as probable as the last one
/// a set includes (MAPIE's `y_pred_proba − y_pred_proba_last ≥ −EPSILON`).
#[inline(always)]
pub fn at_least<T: Float>(p: &[T], cutoff: f64, out: &mut [u8]) {
    for (o, &x) in out.iter_mut().zip(p) {
        *o = u8::from(x.to_f64() - cutoff >= -EPSILON);
    }
}

/// LAC with one threshold: `out[j] = ((1 − p[j]) − q ≤ ε)` (MAPIE's rule).
#[inline(always)]
pub fn lac_scalar<T: Float>(p: &[T], q: f64, out: &mut [u8]) {
    for (o, &x) in out.iter_mut().zip(p) {
        *o = u8::from((1.0 - x.to_f64()) - q <= EPSILON);
    }
}

/// LAC with a threshold per entry: `out[j] = ((1 − p[j]) − q[j] ≤ ε)`.
#[inline(always)]
pub fn lac_each<T: Float>(p: &[T], q: &[f64], out: &mut [u8]) {
    for ((o, &x), &t) in out.iter_mut().zip(p).zip(q) {
        *o = u8::from((1.0 - x.to_f64()) - t <= EPSILON);
    }
}

/// The 0-based rank of every label in decreasing probability, ties higher index
/// first: `ranks[j] = #{i : p_i > p_j, or p_i == p_j and i > j}` (a permutation of
/// `0..K`), for short rows (`K ≤ 32`, where it beats any sort). Branch-free `O(K²)`
/// compares, vectorised across `j`: the row is padded to 8, 16 or 32 lanes with
/// `−1` (below every probability, so padding never counts).
#[inline(always)]
pub fn desc_ranks<T: Float>(p: &[T], ranks: &mut [u32]) {
    match p.len() {
        0..=8 => ranks_padded::<T, 8>(p, ranks),
        9..=16 => ranks_padded::<T, 16>(p, ranks),
        _ => ranks_padded::<T, 32>(p, ranks),
    }
}

#[inline(always)]
fn ranks_padded<T: Float, const W: usize>(p: &[T], ranks: &mut [u32]) {
    let k = p.len().min(W).min(ranks.len());
    let mut v = [-1.0f64; W];
    for (d, s) in v.iter_mut().zip(&p[..k]) {
        *d = s.to_f64();
    }
    // Strictly larger entries first: one compare per pair, across all lanes.
    let mut r = [0u32; W];
    for &pi in &v[..k] {
        for j in 0..W {
            r[j] += u32::from(pi > v[j]);
        }
    }
    // Without ties those counts are a permutation of 0..k, whose sum is k(k-1)/2;
    // ties lower it (tied entries share the smallest rank). Then count the tie rule.
    let sum: u32 = r[..k].iter().sum();
    if sum as usize != k * k.saturating_sub(1) / 2 {
        for j in 0..k {
            r[j] += v[j + 1..k].iter().filter(|&&pi| pi == v[j]).count() as u32;
        }
    }
    ranks[..k].copy_from_slice(&r[..k]);
}

/// Long rows without randomization: the APS/RAPS set found by selection instead of
/// sorting, in expected `O(K)`, or `None` when the answer is too close to call.
///
/// Quickselect with sums: partition the unresolved values around a pivot, keep the
/// larger part when its sum (plus what is already above, plus the penalty) reaches
/// the threshold, else count it and continue below. That finds the rank `r` where the
/// cumulative sum crosses `q − ε` and the value `v` there, without ordering the
/// labels above it. The sums are added in another order than MAPIE's sorted cumsum,
/// so they may differ from it by a few ulps: the answer is returned only when the
/// sums at `r − 1` and `r` are farther than a rigorous bound `δ` from the crossing
/// (then MAPIE's float64 comparisons agree with ours), and when the next value is
/// too large to tie with `v` (MAPIE's argmin ties need an unchanged sum). Otherwise
/// the caller sorts. The set is then `{j : p_j − p_last ≥ −ε}` with `p_last = v`
/// (or MAPIE's replacement when `v ≤ ε`).
#[inline(always)]
pub fn aps_cut<T: Float>(p: &[T], t: f64, reg: Regularization, w: &mut Vec<f64>) -> Option<f64> {
    let k = p.len();
    w.clear();
    w.extend(p.iter().map(|x| x.to_f64()));
    // |approximate − sequential| ≤ 2·(k + 64)·u·(Σp + λk + |t|) covers both sums'
    // rounding (each at most (k + depth)·u relative) and the subtraction of t.
    let scale = 1.0 + 1e-5 + reg.lambda * k as f64 + t.abs();
    let delta = 2.0 * (k as f64 + 64.0) * f64::EPSILON * scale;
    if !delta.is_finite() {
        return None;
    }
    let crossed = |sum: f64, rank: usize| sum + reg.at(rank) - t; // compared with −ε
    let (mut acc, mut cnt, mut len) = (0.0f64, 0usize, k);
    let (rank, v, before, at) = loop {
        if len == 0 {
            return None; // no crossing: let the exact path decide the full set
        }
        let region = &w[..len];
        let pivot = median3(region[0], region[len / 2], region[len - 1]);
        // One branch-free pass: the sum and count above the pivot, the count equal.
        let (mut sums, mut n_g, mut n_e) = ([0.0f64; 8], 0usize, 0usize);
        let mut chunks = region.chunks_exact(8);
        for c in &mut chunks {
            for l in 0..8 {
                sums[l] += if c[l] > pivot { c[l] } else { 0.0 };
                n_g += usize::from(c[l] > pivot);
                n_e += usize::from(c[l] == pivot);
            }
        }
        for &x in chunks.remainder() {
            sums[0] += if x > pivot { x } else { 0.0 };
            n_g += usize::from(x > pivot);
            n_e += usize::from(x == pivot);
        }
        let sum_g: f64 = sums.iter().sum();
        if n_g > 0 && crossed(acc + sum_g, cnt + n_g) >= -EPSILON - delta {
            len = compact(w, len, |x| x > pivot); // the crossing is above the pivot
            continue;
        }
        acc += sum_g;
        cnt += n_g;
        let mut found = None;
        for m in 1..=n_e {
            let sum = acc + m as f64 * pivot;
            if crossed(sum, cnt + m) >= -EPSILON - delta {
                let before = acc + (m - 1) as f64 * pivot;
                found = Some((cnt + m, pivot, crossed(before, cnt + m - 1), crossed(sum, cnt + m)));
                break;
            }
        }
        if let Some(f) = found {
            break f;
        }
        acc += n_e as f64 * pivot;
        cnt += n_e;
        len = compact(w, len, |x| x < pivot); // the crossing is below the pivot
    };
    // Decisive only if both sides are clear of the crossing by more than δ (rank 1
    // has nothing before it: MAPIE's first unmasked rank is then rank 1 either way).
    let clear_before = rank == 1 || before < -EPSILON - delta;
    if !(clear_before && at >= -EPSILON + delta) {
        return None;
    }
    // The value at rank r + 1: v again if copies of v remain uncounted, else the
    // largest value below v. A tie in MAPIE's argmin needs `c' − q` unchanged at
    // r + 1, which a value larger than 4·ε·scale cannot leave unchanged.
    // Branch-free passes over the row (they vectorise).
    let (mut above, mut copies, mut below_max) = (0usize, 0usize, f64::NEG_INFINITY);
    for x in p {
        let x = x.to_f64();
        above += usize::from(x > v);
        copies += usize::from(x == v);
        below_max = below_max.max(if x < v { x } else { f64::NEG_INFINITY });
    }
    let next = if above + copies > rank { v } else { below_max };
    if next != f64::NEG_INFINITY && next <= 4.0 * f64::EPSILON * scale {
        return None;
    }
    let mut p_last = v;
    if p_last <= EPSILON {
        p_last = p
            .iter()
            .map(|x| x.to_f64())
            .fold(f64::INFINITY, |m, x| m.min(if x >= EPSILON { x } else { f64::INFINITY }));
    }
    Some(p_last)
}

/// Keeps the first `len` values of `w` that satisfy `keep`, in front (branch-free);
/// returns how many.
#[inline]
fn compact(w: &mut [f64], len: usize, keep: impl Fn(f64) -> bool) -> usize {
    let mut j = 0;
    for i in 0..len {
        let x = w[i];
        w[j] = x;
        j += usize::from(keep(x));
    }
    j
}

#[inline]
fn median3(a: f64, b: f64, c: f64) -> f64 {
    a.max(b).min(a.min(b).max(c))
}

/// Packs 0/1 bytes into bits, first byte in the most significant bit (NumPy's
/// `packbits(..., bitorder="big")`); `out` holds `bools.len().div_ceil(8)` bytes.
pub fn pack_bits(bools: &[u8], out: &mut [u8]) {
    for (o, chunk) in out.iter_mut().zip(bools.chunks(8)) {
        let mut b = 0u8;
        for (i, &v) in chunk.iter().enumerate() {
            b |= (v & 1) << (7 - i);
        }
        *o = b;
    }
}
