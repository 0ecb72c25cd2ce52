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

use crate::EPSILON;

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
fn row_problem<T: Float>(row: &[T], tol: f64) -> Option<RowProblem> {
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
