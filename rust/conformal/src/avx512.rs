//! Hand-written AVX-512 row kernels for the hot paths of `predict_sets` on the
//! x86-64-v4 tier: row validation, LAC sets fused with it, and APS/RAPS sets of
//! short rows (`K ≤ 16`). Every other tier, and every other case (bit-packed
//! output, randomized sets, longer rows), uses the generic kernels of
//! [`crate::kernels`] and the walk of [`crate::sets`]. `tests/tiers.rs` checks the
//! validation and LAC kernels against the generic ones and the formulas, and
//! `tests/sets.rs` every set against MAPIE's rule written out, on this tier too.
//!
//! Algorithm. Rows go in blocks of 8; a row is read as float64 lanes (float32
//! widened exactly) in full vectors and one masked tail (lanes past the row unread).
//! - Validation: a running minimum below 0 flags negative non-zero values (−0
//!   passes, as `0 ≤ x` lets it); NaN and ±∞ fail their row's sum (see
//!   `any_negative`). Each row's lanes are summed and the 8 sums reduced
//!   together by a shuffle tree. That order is not the generic kernels' sequential
//!   one, so a row whose sum lies within `4(K + 16)·u·(1 + |Σ|)` of the tolerance
//!   (twice the worst difference of the two orders) is summed again sequentially:
//!   the rows accepted are exactly the generic kernels'. A block that fails is
//!   re-checked row by row (`row_problem`) to name the first bad row and the reason.
//!   (Gathers would give the sequential sums directly, but cost about 6 ns each on
//!   Zen 5: four times the whole validation.)
//! - LAC: `kernels::lac_scalar`'s `(1 − p) − q ≤ ε`, as the single compare
//!   `p ≥ cut` with `cut` the smallest double for which the expression holds (found
//!   once per call by bisection: the expression is monotone in `p`, see
//!   `first_true`), fused with the validation and stored as bytes.
//! - APS/RAPS: the 8 rows of a block are transposed (8 × 8 shuffles per register),
//!   so that column `j` holds label `j` of all 8 rows, and sorted by Batcher's
//!   odd–even merge network applied to whole columns: one `vminpd` and one `vmaxpd`
//!   per comparator sort 8 rows at once (32 comparators for K = 10, 63 for 16; the
//!   network is unrolled per K so the columns stay in registers). (A bitonic sort
//!   inside each row's registers, permutes and blends, measured 2.3× slower.) The
//!   walk of `sets.rs` then runs on the columns, lane `l` walking row `l` in
//!   decreasing order:
//!   `c += p_(pos)`, `d = (c + penalty(pos + 1)) − q`, masked while `d < −ε`. The
//!   same additions in the same order give MAPIE's IEEE sums; ties only reorder
//!   equal values. `d` rises with `pos`, so the masked ranks are `0..r` and the last
//!   label has rank `r` = the number of masked ranks; the set is
//!   `{j : p_j − p_(r) ≥ −ε}` (`kernels::at_least`'s expression, MAPIE's
//!   replacement of `p_(r) ≤ ε`). When rank `r + 1` has the same `d` as rank `r`,
//!   MAPIE's argmin takes the lowest label index among the tied ranks, which needs
//!   the labels' order: such rows (a label `p < ε` absorbed by the sum, or `d`
//!   saturated by a threshold of `|q| ≳ 10¹⁵` or an infinite penalty) are left to the
//!   exact walk, as is the randomized rule, which needs the last label itself.
//!   The last `n mod 8` rows of a call are validated here and left to the walk.
//!
//! Accumulation: float64 throughout (float32 input widened exactly). The walk's
//! sums are added in MAPIE's order and every compare is the generic kernels'
//! expression, so the sets are bitwise the generic tiers'; the validation sums are
//! re-added in their order wherever the order could matter (above).

use std::arch::x86_64::*;

use mlkern_core::element::Float;

use crate::dispatch::{RowKernels, RowProblem};
use crate::kernels::row_problem;
use crate::probs::SUM_TOLERANCE;
use crate::{Regularization, EPSILON};

/// Rows per block.
const B: usize = 8;

/// Element types read as float64 lanes.
pub trait Lanes: Float {
    /// Eight values from `ptr` as float64.
    ///
    /// # Safety
    /// AVX-512F/VL are available and `ptr..ptr + 8` is readable.
    unsafe fn load(ptr: *const Self) -> __m512d;

    /// The lanes of `m` from `ptr` as float64, the others zero (not read).
    ///
    /// # Safety
    /// AVX-512F/VL are available and the lanes set in `m` are readable at `ptr`.
    unsafe fn load_masked(ptr: *const Self, m: __mmask8) -> __m512d;
}

impl Lanes for f64 {
    #[inline(always)]
    unsafe fn load(ptr: *const f64) -> __m512d {
        // SAFETY: the caller's contract.
        unsafe { _mm512_loadu_pd(ptr) }
    }
    #[inline(always)]
    unsafe fn load_masked(ptr: *const f64, m: __mmask8) -> __m512d {
        // SAFETY: the caller's contract; masked-off lanes are not accessed.
        unsafe { _mm512_maskz_loadu_pd(m, ptr) }
    }
}

impl Lanes for f32 {
    #[inline(always)]
    unsafe fn load(ptr: *const f32) -> __m512d {
        // SAFETY: the caller's contract.
        unsafe { _mm512_cvtps_pd(_mm256_loadu_ps(ptr)) }
    }
    #[inline(always)]
    unsafe fn load_masked(ptr: *const f32, m: __mmask8) -> __m512d {
        // SAFETY: the caller's contract; masked-off lanes are not accessed.
        unsafe { _mm512_cvtps_pd(_mm256_maskz_loadu_ps(m, ptr)) }
    }
}

/// The mask of the first `min(n, 8)` lanes.
#[inline(always)]
fn lanes(n: usize) -> __mmask8 {
    if n >= 8 {
        0xff
    } else {
        ((1u32 << n) - 1) as __mmask8
    }
}

/// Whether the running minimum `lo` of a block's values is below 0. With the row
/// sums this screens the block: NaN and ±∞ make their row's sum NaN or infinite,
/// which fails the sum check; a finite negative non-zero value stays in the
/// minimum (−0 is not below 0) unless a NaN later in its lane replaces it
/// (`vminpd` returns its second operand when one is NaN), and that NaN's row then
/// refuses the block anyway. (`vfpclasspd` would flag all three
/// kinds at once, but cost 1.8 ns a row here, more than the rest of the check.)
#[inline(always)]
unsafe fn any_negative(lo: __m512d) -> bool {
    // SAFETY: AVX-512F is available (caller); registers only.
    unsafe { _mm512_cmp_pd_mask::<_CMP_LT_OQ>(lo, _mm512_setzero_pd()) != 0 }
}

/// The horizontal sums of the 8 vectors, lane `l` summing `v[l]` (a shuffle tree).
#[inline(always)]
unsafe fn reduce8(v: &[__m512d; B]) -> __m512d {
    // SAFETY: AVX-512F is available (caller); registers only.
    unsafe {
        let mut w = [_mm512_setzero_pd(); 4];
        for (i, wi) in w.iter_mut().enumerate() {
            // 128-bit lane q: (v[2i] lanes 2q + 2q+1, v[2i+1] lanes 2q + 2q+1).
            *wi = _mm512_add_pd(_mm512_unpacklo_pd(v[2 * i], v[2 * i + 1]), _mm512_unpackhi_pd(v[2 * i], v[2 * i + 1]));
        }
        let x0 = even_odd(w[0], w[1]);
        let x1 = even_odd(w[2], w[3]);
        even_odd(x0, x1)
    }
}

/// The sums of the even and the odd 128-bit lanes of `a` then `b`.
#[inline(always)]
unsafe fn even_odd(a: __m512d, b: __m512d) -> __m512d {
    // SAFETY: AVX-512F is available (caller); registers only.
    unsafe { _mm512_add_pd(_mm512_shuffle_f64x2::<0b10_00_10_00>(a, b), _mm512_shuffle_f64x2::<0b11_01_11_01>(a, b)) }
}

/// Rows as columns: `out[j]` lane `l` is `v[l]` lane `j`.
#[inline(always)]
unsafe fn transpose8(v: &[__m512d; B]) -> [__m512d; B] {
    // SAFETY: AVX-512F is available (caller); registers only.
    unsafe {
        let mut t = [_mm512_setzero_pd(); B];
        for i in 0..4 {
            t[2 * i] = _mm512_unpacklo_pd(v[2 * i], v[2 * i + 1]);
            t[2 * i + 1] = _mm512_unpackhi_pd(v[2 * i], v[2 * i + 1]);
        }
        let mut u = [_mm512_setzero_pd(); B];
        for g in 0..2 {
            let (a, b) = (4 * g, 4 * g + 2);
            u[4 * g] = _mm512_shuffle_f64x2::<0x88>(t[a], t[b]); // columns 0, 4
            u[4 * g + 1] = _mm512_shuffle_f64x2::<0xDD>(t[a], t[b]); // columns 2, 6
            u[4 * g + 2] = _mm512_shuffle_f64x2::<0x88>(t[a + 1], t[b + 1]); // columns 1, 5
            u[4 * g + 3] = _mm512_shuffle_f64x2::<0xDD>(t[a + 1], t[b + 1]); // columns 3, 7
        }
        let mut c = [_mm512_setzero_pd(); B];
        for (i, (lo, hi)) in [(0, 4), (2, 6), (1, 5), (3, 7)].into_iter().enumerate() {
            c[lo] = _mm512_shuffle_f64x2::<0x88>(u[i], u[i + 4]);
            c[hi] = _mm512_shuffle_f64x2::<0xDD>(u[i], u[i + 4]);
        }
        c
    }
}

/// Whether the 8 rows of `blk` (rows of `k`), whose lane-sum vectors are `sums`,
/// each sum to 1 within the tolerance, decided as the generic kernels decide it:
/// the tree sums differ from their sequential sums by at most `2(k − 1)·u·Σ`, so a
/// row within `4(k + 16)·u·(1 + |Σ|)` of the edge is added again sequentially.
#[inline(always)]
unsafe fn sums_ok8<T: Float>(blk: &[T], k: usize, sums: &[__m512d; B]) -> bool {
    // SAFETY: AVX-512F is available (caller); registers only, and `blk` read as a slice.
    unsafe {
        let s = reduce8(sums);
        let dev = _mm512_abs_pd(_mm512_sub_pd(s, _mm512_set1_pd(1.0)));
        let slack = _mm512_mul_pd(
            _mm512_add_pd(_mm512_abs_pd(s), _mm512_set1_pd(1.0)),
            _mm512_set1_pd(4.0 * (k as f64 + 16.0) * f64::EPSILON),
        );
        let tol = _mm512_set1_pd(SUM_TOLERANCE);
        let clear = _mm512_cmp_pd_mask::<_CMP_LE_OQ>(dev, _mm512_sub_pd(tol, slack));
        if clear == 0xff {
            return true;
        }
        if _mm512_cmp_pd_mask::<_CMP_GT_OQ>(dev, _mm512_add_pd(tol, slack)) != 0 {
            return false;
        }
        // Near the edge, or NaN: the sequential sum decides.
        (0..B).filter(|l| clear & (1 << l) == 0).all(|l| {
            let mut seq = 0.0f64;
            for x in &blk[l * k..(l + 1) * k] {
                seq += x.to_f64();
            }
            (seq - 1.0).abs() <= SUM_TOLERANCE
        })
    }
}

/// The first row of `p` from `r0` on that `row_problem` refuses, and why.
fn first_refused<T: Float>(p: &[T], k: usize, r0: usize) -> Option<(usize, RowProblem)> {
    p.chunks_exact(k).enumerate().skip(r0).find_map(|(r, row)| row_problem(row, SUM_TOLERANCE).map(|why| (r, why)))
}

/// Stores the 8 bits of `bits` as 0/1 bytes at `dst`.
#[inline(always)]
unsafe fn store8(dst: *mut u8, bits: __mmask8) {
    // SAFETY: AVX-512BW/VL (caller) and `dst..dst + 8` is writable (caller).
    unsafe { _mm_storel_epi64(dst as *mut __m128i, _mm_maskz_set1_epi8(__mmask16::from(bits), 1)) }
}

/// Stores the low bits of `bits` selected by `m` as 0/1 bytes at `dst`.
#[inline(always)]
unsafe fn store_masked(dst: *mut u8, bits: __mmask8, m: __mmask8) {
    // SAFETY: AVX-512BW/VL (caller) and the bytes of `m` are writable (caller).
    unsafe { _mm_mask_storeu_epi8(dst as *mut i8, __mmask16::from(m), _mm_maskz_set1_epi8(__mmask16::from(bits), 1)) }
}

/// `np.argmax` of a row with entries in `[0, ∞)` (validated) whose largest entry is
/// `top`: the first entry equal to it (branch-free compares, no mispredicted scan).
#[inline(always)]
unsafe fn first_equal<T: Lanes>(row: *const T, shape: RowShape, top: f64) -> i64 {
    // SAFETY: AVX-512F/VL (caller); the loads cover the row's k values (caller).
    unsafe {
        let t = _mm512_set1_pd(top);
        for f in 0..shape.full {
            let eq = _mm512_cmp_pd_mask::<_CMP_EQ_OQ>(T::load(row.add(8 * f)), t);
            if eq != 0 {
                return (8 * f + eq.trailing_zeros() as usize) as i64;
            }
        }
        if shape.tail == 0 {
            debug_assert!(false, "first_equal: {top} is not in the row");
            return 0; // unreachable for a row holding `top`
        }
        let eq =
            _mm512_mask_cmp_pd_mask::<_CMP_EQ_OQ>(shape.tail, T::load_masked(row.add(8 * shape.full), shape.tail), t);
        (8 * shape.full + eq.trailing_zeros().min(7) as usize) as i64
    }
}

/// `np.argmax` of a validated row (entries in `[0, ∞)`).
#[inline(always)]
unsafe fn argmax_row<T: Lanes>(row: *const T, shape: RowShape) -> i64 {
    // SAFETY: AVX-512F/VL (caller); the loads cover the row's k values (caller).
    unsafe {
        let mut mx = _mm512_setzero_pd();
        for f in 0..shape.full {
            mx = _mm512_max_pd(mx, T::load(row.add(8 * f)));
        }
        if shape.tail != 0 {
            mx = _mm512_max_pd(mx, T::load_masked(row.add(8 * shape.full), shape.tail));
        }
        first_equal(row, shape, _mm512_reduce_max_pd(mx))
    }
}

/// The smallest non-negative double `x` with `pred(x)`, for a `pred` that is false
/// and then true as `x` rises through the non-negative doubles (whose bit patterns
/// are ordered as they are), by bisection on the bits; `None` when `pred(f64::MAX)`
/// is false. Both set compares are of this kind: `fl(1 − x)` falls and
/// `fl(fl(1 − x) − q)` with it as `x` rises (rounding is monotone), so LAC's
/// `(1 − x) − q ≤ ε` holds exactly from one `x` on; likewise `x − p ≥ −ε`. One
/// compare `x ≥ cut` then gives the IEEE answer of the whole expression.
fn first_true(pred: impl Fn(f64) -> bool) -> Option<f64> {
    if pred(0.0) {
        return Some(0.0);
    }
    if !pred(f64::MAX) {
        return None;
    }
    let (mut lo, mut hi) = (0u64, f64::MAX.to_bits()); // pred(lo) false, pred(hi) true
    while hi - lo > 1 {
        let mid = lo + (hi - lo) / 2;
        if pred(f64::from_bits(mid)) {
            hi = mid;
        } else {
            lo = mid;
        }
    }
    Some(f64::from_bits(hi))
}

/// A row of `k` values split as loaded: `full` whole vectors and a tail of the
/// lanes `tail` (0 when `k` is a multiple of 8).
#[derive(Clone, Copy)]
struct RowShape {
    full: usize,
    tail: __mmask8,
}

impl RowShape {
    fn of(k: usize) -> Self {
        RowShape { full: k / 8, tail: if k.is_multiple_of(8) { 0 } else { lanes(k % 8) } }
    }
}

/// One row's lane-sum vector, its values' minimum folded into `lo`.
#[inline(always)]
unsafe fn scan_row<T: Lanes>(row: *const T, shape: RowShape, lo: &mut __m512d) -> __m512d {
    // SAFETY: AVX-512F/VL (caller); the loads cover the row's k values (caller).
    unsafe {
        let mut acc = _mm512_setzero_pd();
        for f in 0..shape.full {
            let v = T::load(row.add(8 * f));
            *lo = _mm512_min_pd(*lo, v);
            acc = _mm512_add_pd(acc, v);
        }
        if shape.tail != 0 {
            let v = T::load_masked(row.add(8 * shape.full), shape.tail);
            *lo = _mm512_min_pd(*lo, v);
            acc = _mm512_add_pd(acc, v);
        }
        acc
    }
}

/// Calls `$f::<$t, K>$args` with `K = k` when `k ≤ 16`, so that short rows unroll,
/// else with `K = 0` (the row length known only at run time).
macro_rules! with_k {
    ($k:expr, $f:ident::<$t:ty> $args:tt) => {
        with_k!(@arms $k, $f, $t, $args; 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16)
    };
    (@arms $k:expr, $f:ident, $t:ty, $args:tt; $($n:literal)*) => {
        match $k {
            $($n => $f::<$t, $n> $args,)*
            _ => $f::<$t, 0> $args,
        }
    };
}

/// Screens `p` (rows of `k = K`, or of `k` when `K = 0`) in blocks of 8 rows and,
/// with `SETS`, writes their LAC sets `p ≥ cut` into `out` in the same pass.
/// Returns the first row past the accepted blocks: `rows − rows mod 8` when all
/// pass, else the first row of the first refused block.
///
/// # Safety
/// AVX-512F/BW/VL/DQ are available; with `SETS`, `out.len() == p.len()`.
#[inline(always)]
unsafe fn screen_blocks<T: Lanes, const K: usize, const SETS: bool>(
    p: &[T],
    k: usize,
    cut: __m512d,
    out: &mut [u8],
) -> usize {
    let (rows, shape) = (p.len() / k, RowShape::of(k));
    let mut r0 = 0;
    while r0 + B <= rows {
        let blk = &p[r0 * k..(r0 + B) * k];
        // SAFETY: the features are enabled (caller); row l is blk[l·k..(l + 1)·k],
        // its sets out[(r0 + l)·k..], of the same length (caller).
        let ok = unsafe {
            let (mut sums, mut lo) = ([_mm512_setzero_pd(); B], _mm512_setzero_pd());
            for (l, sl) in sums.iter_mut().enumerate() {
                let row = blk.as_ptr().add(l * k);
                if !SETS {
                    *sl = scan_row(row, shape, &mut lo);
                    continue;
                }
                let dst = out.as_mut_ptr().add((r0 + l) * k);
                let mut acc = _mm512_setzero_pd();
                for f in 0..shape.full {
                    let v = T::load(row.add(8 * f));
                    lo = _mm512_min_pd(lo, v);
                    acc = _mm512_add_pd(acc, v);
                    store8(dst.add(8 * f), _mm512_cmp_pd_mask::<_CMP_GE_OQ>(v, cut));
                }
                if shape.tail != 0 {
                    let v = T::load_masked(row.add(8 * shape.full), shape.tail);
                    lo = _mm512_min_pd(lo, v);
                    acc = _mm512_add_pd(acc, v);
                    store_masked(dst.add(8 * shape.full), _mm512_cmp_pd_mask::<_CMP_GE_OQ>(v, cut), shape.tail);
                }
                *sl = acc;
            }
            !any_negative(lo) && sums_ok8(blk, k, &sums)
        };
        if !ok {
            break;
        }
        r0 += B;
    }
    r0
}

/// The first invalid row of `p` (rows of `k`) and why (see `kernels::first_bad_row`).
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512dq")]
fn first_bad_row<T: Lanes>(p: &[T], k: usize, tol: f64) -> Option<(usize, RowProblem)> {
    if tol != SUM_TOLERANCE || k == 0 {
        return crate::kernels::first_bad_row(p, k, tol);
    }
    with_k!(k, first_bad_row_k::<T>(p, k))
}

/// [`first_bad_row`] for rows of `K` labels (`K = 0`: of `k ≥ 1`).
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512dq")]
fn first_bad_row_k<T: Lanes, const K: usize>(p: &[T], k: usize) -> Option<(usize, RowProblem)> {
    let k = if K == 0 { k } else { K };
    // SAFETY: the features are enabled; no sets are written.
    let r0 = unsafe { screen_blocks::<T, K, false>(p, k, _mm512_setzero_pd(), &mut []) };
    first_refused(p, k, r0)
}

/// LAC sets of every row of `p` (rows of `k`) for threshold `q`, each row validated
/// in the same pass; `argmax` (empty, or one per row) gets each row's `np.argmax`.
/// Returns the first invalid row.
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512dq")]
fn lac_rows<T: Lanes>(p: &[T], k: usize, q: f64, out: &mut [u8], argmax: &mut [i64]) -> Option<(usize, RowProblem)> {
    with_k!(k, lac_rows_k::<T>(p, k, q, out, argmax))
}

/// [`lac_rows`] for rows of `K` labels (`K = 0`: of `k`).
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512dq")]
fn lac_rows_k<T: Lanes, const K: usize>(
    p: &[T],
    k: usize,
    q: f64,
    out: &mut [u8],
    argmax: &mut [i64],
) -> Option<(usize, RowProblem)> {
    let k = if K == 0 { k } else { K };
    let rows = p.len() / k.max(1);
    assert!(k >= 1 && out.len() == p.len() && p.len() == rows * k && (argmax.is_empty() || argmax.len() == rows));
    let shape = RowShape::of(k);
    // `(1 − x) − q ≤ ε` is `x ≥ cut` (see `first_true`); never true: a NaN cut.
    let cut = _mm512_set1_pd(first_true(|x| (1.0 - x) - q <= EPSILON).unwrap_or(f64::NAN));
    // SAFETY: the features are enabled; `out` is as long as `p` (asserted).
    let r0 = unsafe { screen_blocks::<T, K, true>(p, k, cut, out) };
    if let Some(bad) = first_refused(p, k, r0) {
        return Some(bad);
    }
    crate::kernels::lac_scalar(&p[r0 * k..], q, &mut out[r0 * k..]);
    if !argmax.is_empty() {
        for (a, row) in argmax.iter_mut().zip(p.chunks_exact(k)) {
            // SAFETY: the features are enabled; the row is validated and holds k values.
            *a = unsafe { argmax_row(row.as_ptr(), shape) };
        }
    }
    None
}

/// APS/RAPS sets (`include_last_label=True`, not randomized) of rows of `k ≤ 16`
/// labels, validated in the same pass. `ts` holds one threshold, or one per row.
/// Rows the exact walk must decide (see the module docs) are pushed to `undecided`
/// and left unwritten. Returns the first invalid row.
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512dq")]
fn aps_rows<T: Lanes>(
    p: &[T],
    k: usize,
    ts: &[f64],
    reg: Regularization,
    out: &mut [u8],
    argmax: &mut [i64],
    undecided: &mut Vec<usize>,
) -> Option<(usize, RowProblem)> {
    macro_rules! by_k {
        ($($k:literal => $v:literal),*) => {
            match k {
                $($k => aps_rows_k::<T, $v, $k>(p, ts, reg, out, argmax, undecided),)*
                _ => panic!("aps_rows takes 1 <= K <= 16, got {k}"),
            }
        };
    }
    by_k!(1 => 1, 2 => 1, 3 => 1, 4 => 1, 5 => 1, 6 => 1, 7 => 1, 8 => 1,
          9 => 2, 10 => 2, 11 => 2, 12 => 2, 13 => 2, 14 => 2, 15 => 2, 16 => 2)
}

/// Batcher's odd–even merge sort on 16 wires, keeping the comparators `(i, j)`
/// (`i < j`; the smaller value ends on wire `i`) whose wires are both below `k`:
/// wires from `k` on act as +∞, which no comparator would move.
const fn network(k: usize) -> ([(u8, u8); 64], usize) {
    let (mut net, mut len, n) = ([(0u8, 0u8); 64], 0, 16);
    let mut p = 1;
    while p < n {
        let mut d = p;
        while d >= 1 {
            let mut j = d % p;
            while j + d < n {
                let mut i = 0;
                while i < d && i + j + d < n {
                    let (a, b) = (i + j, i + j + d);
                    if a / (2 * p) == b / (2 * p) && b < k {
                        net[len] = (a as u8, b as u8);
                        len += 1;
                    }
                    i += 1;
                }
                j += 2 * d;
            }
            d /= 2;
        }
        p *= 2;
    }
    (net, len)
}

/// The sorting network of every `k ≤ 16`.
const NETWORKS: [([(u8, u8); 64], usize); 17] = {
    let mut all = [([(0u8, 0u8); 64], 0); 17];
    let mut k = 0;
    while k <= 16 {
        all[k] = network(k);
        k += 1;
    }
    all
};

/// The network of `K` wires as constants of the type (so that code generic over `K`
/// unrolls it with constant wires).
struct Net<const K: usize>;

impl<const K: usize> Net<K> {
    const WIRES: [(u8, u8); 64] = NETWORKS[K].0;
    const LEN: usize = NETWORKS[K].1;
}

/// APS/RAPS sets of rows of exactly `K` labels (see [`aps_rows`]): the 8 rows of a
/// block are transposed (column `j` holds label `j` of the 8 rows), sorted by
/// [`network`] applied to whole columns (one `vminpd` and one `vmaxpd` per
/// comparator sort 8 rows at once), and walked from the top column down.
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512dq")]
fn aps_rows_k<T: Lanes, const V: usize, const K: usize>(
    p: &[T],
    ts: &[f64],
    reg: Regularization,
    out: &mut [u8],
    argmax: &mut [i64],
    undecided: &mut Vec<usize>,
) -> Option<(usize, RowProblem)> {
    let k = K;
    let rows = p.len() / k;
    assert!(k > 8 * (V - 1) && k <= 8 * V && V <= 2 && out.len() == p.len() && p.len() == rows * k);
    assert!((argmax.is_empty() || argmax.len() == rows) && (ts.len() == 1 || ts.len() == rows));
    let shape = RowShape::of(k);
    let mut m = [0 as __mmask8; V];
    for (h, mh) in m.iter_mut().enumerate() {
        *mh = lanes(k - 8 * h); // k > 8h for every register used
    }
    let mut pen = [0.0f64; 16];
    for (pos, x) in pen[..k].iter_mut().enumerate() {
        *x = reg.at(pos + 1);
    }
    // The block's sorted columns (ascending: cols[K − 1] holds each row's largest).
    let mut sorted = [[0.0f64; B]; 16];
    let mut masked = [0.0f64; B];
    let mut r0 = 0;
    while r0 + B <= rows {
        let blk = &p[r0 * k..(r0 + B) * k];
        // Row l's register h covers its lanes 8h..min(8h + 8, k) of blk[l·k..]; `sorted`
        // holds 16 ≥ K columns of 8 (used below K); `ts` holds 8 values from r0 if per row.
        // SAFETY: the features are enabled, and every access is as just said.
        let walked = unsafe {
            let (mut sums, mut lo) = ([_mm512_setzero_pd(); B], _mm512_setzero_pd());
            let mut regs = [[_mm512_setzero_pd(); B]; V];
            for l in 0..B {
                let row = blk.as_ptr().add(l * k);
                for h in 0..V {
                    let v = T::load_masked(row.add(8 * h), m[h]);
                    lo = _mm512_min_pd(lo, v);
                    sums[l] = _mm512_add_pd(sums[l], v);
                    regs[h][l] = v;
                }
            }
            if !any_negative(lo) && sums_ok8(blk, k, &sums) {
                let mut cols = [_mm512_setzero_pd(); 16];
                for h in 0..V {
                    for (j, c) in transpose8(&regs[h]).into_iter().enumerate() {
                        cols[8 * h + j] = c;
                    }
                }
                // Unrolled with constant wires, so the columns stay in registers.
                macro_rules! comparators {
                    ($($c:literal)*) => {$(
                        if $c < Net::<K>::LEN {
                            let (a, b) = (Net::<K>::WIRES[$c].0 as usize, Net::<K>::WIRES[$c].1 as usize);
                            let lo = _mm512_min_pd(cols[a], cols[b]);
                            cols[b] = _mm512_max_pd(cols[a], cols[b]);
                            cols[a] = lo;
                        }
                    )*};
                }
                comparators!(0 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20 21 22 23 24 25 26 27 28 29 30 31
                             32 33 34 35 36 37 38 39 40 41 42 43 44 45 46 47 48 49 50 51 52 53 54 55 56 57 58 59 60 61 62);
                for j in 0..k {
                    _mm512_storeu_pd(sorted[j].as_mut_ptr(), cols[j]);
                }
                // The walk, row l in lane l, largest first.
                let tv = if ts.len() == 1 { _mm512_set1_pd(ts[0]) } else { _mm512_loadu_pd(ts.as_ptr().add(r0)) };
                let (neg_eps, one) = (_mm512_set1_pd(-EPSILON), _mm512_set1_pd(1.0));
                let (mut c, mut count, mut prev) = (_mm512_setzero_pd(), _mm512_setzero_pd(), _mm512_setzero_pd());
                let mut ties: __mmask8 = 0;
                for pos in 0..k {
                    c = _mm512_add_pd(c, cols[k - 1 - pos]);
                    let d = _mm512_sub_pd(_mm512_add_pd(c, _mm512_set1_pd(pen[pos])), tv);
                    if pos > 0 {
                        // Rank pos − 1 is the first unmasked one and rank pos has its d.
                        let first = _mm512_cmp_pd_mask::<_CMP_EQ_OQ>(count, _mm512_set1_pd((pos - 1) as f64));
                        ties |= _mm512_mask_cmp_pd_mask::<_CMP_EQ_OQ>(first, d, prev);
                    }
                    let mask = _mm512_cmp_pd_mask::<_CMP_LT_OQ>(d, neg_eps);
                    count = _mm512_mask_add_pd(count, mask, count, one);
                    prev = d;
                }
                _mm512_storeu_pd(masked.as_mut_ptr(), count);
                Some(ties)
            } else {
                None
            }
        };
        let Some(ties) = walked else { break };
        for l in 0..B {
            let r = r0 + l;
            let row = &blk[l * k..(l + 1) * k];
            if !argmax.is_empty() {
                // SAFETY: the features are enabled; the row is validated, its top sorted.
                argmax[r] = unsafe { first_equal(row.as_ptr(), shape, sorted[k - 1][l]) };
            }
            if ties & (1 << l) != 0 {
                undecided.push(r); // the walk's argmin picks among the tied labels
                continue;
            }
            let dst = &mut out[r * k..(r + 1) * k];
            let rank = masked[l] as usize;
            if rank >= k {
                dst.fill(1); // no cumulative sum reaches q: every label (see sets.rs)
                continue;
            }
            let mut p_last = sorted[k - 1 - rank][l];
            if p_last <= EPSILON {
                p_last = row.iter().map(|x| x.to_f64()).filter(|&x| x >= EPSILON).fold(f64::INFINITY, f64::min);
            }
            // SAFETY: the features are enabled; register h covers lanes
            // 8h..min(8h + 8, k) of this row of `p` and of `out` (same length).
            unsafe {
                let (cut, neg_eps) = (_mm512_set1_pd(p_last), _mm512_set1_pd(-EPSILON));
                for h in 0..V {
                    let v = T::load_masked(row.as_ptr().add(8 * h), m[h]);
                    let keep = _mm512_mask_cmp_pd_mask::<_CMP_GE_OQ>(m[h], _mm512_sub_pd(v, cut), neg_eps);
                    store_masked(dst.as_mut_ptr().add(8 * h), keep, m[h]);
                }
            }
        }
        r0 += B;
    }
    // The rows after the last full block (or from a block that failed): validated
    // here, their sets left to the exact walk.
    if let Some(bad) = first_refused(p, k, r0) {
        return Some(bad);
    }
    for r in r0..rows {
        if !argmax.is_empty() {
            // SAFETY: the features are enabled; the row is validated and holds k values.
            argmax[r] = unsafe { argmax_row(p[r * k..(r + 1) * k].as_ptr(), shape) };
        }
        undecided.push(r);
    }
    None
}

#[cfg(test)]
mod tests {
    use super::NETWORKS;

    /// The 0–1 principle: a comparator network sorts every input iff it sorts every
    /// 0/1 input. All 2^k of them, for every k.
    #[test]
    fn every_network_sorts_every_binary_input() {
        for (k, (net, len)) in NETWORKS.iter().enumerate() {
            for bits in 0u32..(1 << k) {
                let mut w: Vec<u8> = (0..k).map(|i| ((bits >> i) & 1) as u8).collect();
                for &(a, b) in &net[..*len] {
                    let (a, b) = (usize::from(a), usize::from(b));
                    if w[a] > w[b] {
                        w.swap(a, b);
                    }
                }
                assert!(w.windows(2).all(|x| x[0] <= x[1]), "k={k} input {bits:b} -> {w:?}");
            }
        }
        assert_eq!(NETWORKS[16].1, 63); // Batcher's count for 16 wires
    }
}

macro_rules! row_kernels {
    ($name:ident, $t:ty) => {
        /// The AVX-512 row kernels for this element type (the v4 table only).
        pub static $name: RowKernels<$t> = RowKernels {
            first_bad_row: |p, k, tol| {
                // SAFETY: this table is only reachable through the x86-64-v4 tier's
                // kernels, handed out only on CPUs with AVX-512 F/BW/VL/DQ.
                unsafe { first_bad_row::<$t>(p, k, tol) }
            },
            lac_rows: |p, k, q, out, argmax| {
                // SAFETY: as above.
                unsafe { lac_rows::<$t>(p, k, q, out, argmax) }
            },
            aps_rows: |p, k, ts, reg, out, argmax, undecided| {
                // SAFETY: as above.
                unsafe { aps_rows::<$t>(p, k, ts, reg, out, argmax, undecided) }
            },
        };
    };
}

row_kernels!(ROWS_F32, f32);
row_kernels!(ROWS_F64, f64);
