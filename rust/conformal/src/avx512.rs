//! Hand-written AVX-512 row kernels for the hot paths of `predict_sets` on the
//! x86-64-v4 tier: row validation, LAC sets fused with it, and APS/RAPS sets of
//! short rows (`K ≤ 16`). Every other tier, and every other case (bit-packed
//! output, randomized sets, longer rows), uses the generic kernels of
//! [`crate::kernels`] and the walk of [`crate::sets`]; `tests/tiers.rs` checks these
//! against them bit for bit.
//!
//! Algorithm. Rows go in blocks of 8; a row is read as float64 lanes (float32
//! widened exactly) in full vectors and one masked tail (lanes past the row unread).
//! - Validation: `vfpclasspd` flags NaN, ±∞ and negative non-zero values (−0 passes,
//!   as `0 ≤ x` lets it); each row's lanes are summed and the 8 sums reduced
//!   together by a shuffle tree. That order is not the generic kernels' sequential
//!   one, so a row whose sum lies within `4(K + 16)·u·(1 + |Σ|)` of the tolerance
//!   (twice the worst difference of the two orders) is summed again sequentially:
//!   the rows accepted are exactly the generic kernels'. A block that fails is
//!   re-checked row by row (`row_problem`) to name the first bad row and the reason.
//!   (Gathers would give the sequential sums directly, but cost about 6 ns each on
//!   Zen 5: four times the whole validation.)
//! - LAC: `(1 − p) − q ≤ ε` per lane over the block, `kernels::lac_scalar`'s
//!   expression, stored as bytes.
//! - APS/RAPS: each row (one or two registers, −∞ in the padding lanes) is sorted by
//!   Batcher's bitonic network; the 8 sorted rows are transposed (8 × 8 shuffles)
//!   and the walk of `sets.rs` runs on them at once, lane `l` walking row `l` in
//!   decreasing order:
//!   `c += p_(pos)`, `d = (c + penalty(pos + 1)) − q`, masked while `d < −ε`. The
//!   same additions in the same order give MAPIE's IEEE sums; ties only reorder
//!   equal values. `d` rises with `pos`, so the masked ranks are `0..r` and the last
//!   label has rank `r` = the number of masked ranks; the set is
//!   `{j : p_j − p_(r) ≥ −ε}` (`kernels::at_least`'s expression, MAPIE's
//!   replacement of `p_(r) ≤ ε`). When later ranks tie with rank `r` in `d`, MAPIE's
//!   argmin takes the lowest label index among them, but that cannot change the set
//!   here: a label after `r` leaves `d` unchanged only if `p < ε` (any `p ≥ 10⁻⁸`
//!   moves a sum `≤ 2`, and the penalty never falls), and then `p_last ≤ ε` is
//!   replaced by the smallest `p ≥ ε`, which is `p_(r)` itself or below `ε` like it.
//!   (The randomized rule needs the last label itself: those calls take the walk.)
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

/// The lanes outside `[0, ∞)`: NaN, ±∞, negative non-zero (−0 is inside).
#[inline(always)]
unsafe fn out_of_range(v: __m512d) -> __mmask8 {
    // SAFETY: AVX-512DQ is available (caller); registers only.
    unsafe { _mm512_fpclass_pd_mask::<0xD9>(v) }
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
    // SAFETY: AVX-512F is available (caller); registers and `lane` (8 values).
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

/// One row's lane-sum vector and its out-of-range flags.
#[inline(always)]
unsafe fn scan_row<T: Lanes>(row: *const T, shape: RowShape) -> (__m512d, __mmask8) {
    // SAFETY: AVX-512F/VL/DQ (caller); the loads cover the row's k values (caller).
    unsafe {
        let (mut acc, mut bad) = (_mm512_setzero_pd(), 0);
        for f in 0..shape.full {
            let v = T::load(row.add(8 * f));
            bad |= out_of_range(v);
            acc = _mm512_add_pd(acc, v);
        }
        if shape.tail != 0 {
            let v = T::load_masked(row.add(8 * shape.full), shape.tail);
            bad |= out_of_range(v);
            acc = _mm512_add_pd(acc, v);
        }
        (acc, bad)
    }
}

/// The first invalid row of `p` (rows of `k`) and why (see `kernels::first_bad_row`).
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512dq")]
fn first_bad_row<T: Lanes>(p: &[T], k: usize, tol: f64) -> Option<(usize, RowProblem)> {
    if tol != SUM_TOLERANCE || k == 0 {
        return crate::kernels::first_bad_row(p, k, tol);
    }
    let (rows, shape) = (p.len() / k, RowShape::of(k));
    let mut r0 = 0;
    while r0 + B <= rows {
        let blk = &p[r0 * k..(r0 + B) * k];
        // SAFETY: the features are enabled; row l of the block is blk[l·k..(l + 1)·k].
        let ok = unsafe {
            let (mut sums, mut bad) = ([_mm512_setzero_pd(); B], 0);
            for (l, sl) in sums.iter_mut().enumerate() {
                let (acc, b) = scan_row(blk.as_ptr().add(l * k), shape);
                *sl = acc;
                bad |= b;
            }
            bad == 0 && sums_ok8(blk, k, &sums)
        };
        if !ok {
            break;
        }
        r0 += B;
    }
    first_refused(p, k, r0)
}

/// LAC sets of every row of `p` (rows of `k`) for threshold `q`, each row validated
/// in the same pass; `argmax` (empty, or one per row) gets each row's `np.argmax`.
/// Returns the first invalid row.
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512dq")]
fn lac_rows<T: Lanes>(p: &[T], k: usize, q: f64, out: &mut [u8], argmax: &mut [i64]) -> Option<(usize, RowProblem)> {
    let rows = p.len() / k.max(1);
    assert!(k >= 1 && out.len() == p.len() && p.len() == rows * k && (argmax.is_empty() || argmax.len() == rows));
    let shape = RowShape::of(k);
    let (one, qv, eps) = (_mm512_set1_pd(1.0), _mm512_set1_pd(q), _mm512_set1_pd(EPSILON));
    let mut r0 = 0;
    while r0 + B <= rows {
        let blk = &p[r0 * k..(r0 + B) * k];
        // SAFETY: the features are enabled; row l of the block is blk[l·k..(l + 1)·k]
        // and its sets out[(r0 + l)·k..], of the same length (asserted).
        let ok = unsafe {
            let (mut sums, mut bad) = ([_mm512_setzero_pd(); B], 0);
            for (l, sl) in sums.iter_mut().enumerate() {
                let (row, dst) = (blk.as_ptr().add(l * k), out.as_mut_ptr().add((r0 + l) * k));
                let mut acc = _mm512_setzero_pd();
                for f in 0..shape.full {
                    let v = T::load(row.add(8 * f));
                    bad |= out_of_range(v);
                    acc = _mm512_add_pd(acc, v);
                    let d = _mm512_sub_pd(_mm512_sub_pd(one, v), qv);
                    store8(dst.add(8 * f), _mm512_cmp_pd_mask::<_CMP_LE_OQ>(d, eps));
                }
                if shape.tail != 0 {
                    let v = T::load_masked(row.add(8 * shape.full), shape.tail);
                    bad |= out_of_range(v);
                    acc = _mm512_add_pd(acc, v);
                    let d = _mm512_sub_pd(_mm512_sub_pd(one, v), qv);
                    store_masked(dst.add(8 * shape.full), _mm512_cmp_pd_mask::<_CMP_LE_OQ>(d, eps), shape.tail);
                }
                *sl = acc;
            }
            bad == 0 && sums_ok8(blk, k, &sums)
        };
        if !ok {
            break;
        }
        r0 += B;
    }
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
    if k <= 8 {
        aps_rows_v::<T, 1>(p, k, ts, reg, out, argmax, undecided)
    } else {
        aps_rows_v::<T, 2>(p, k, ts, reg, out, argmax, undecided)
    }
}

/// Lane `i`'s partner `i ^ j` in a bitonic compare-exchange stage of distance `j`.
const fn partners(j: usize) -> [i64; 8] {
    let mut p = [0i64; 8];
    let mut i = 0;
    while i < 8 {
        p[i] = (i ^ j) as i64;
        i += 1;
    }
    p
}

/// The lanes that keep the larger value in the stage of distance `j` within bitonic
/// blocks of `block` elements, for the register holding elements `base..base + 8`:
/// a pair sorts ascending when bit `block` of its index is clear, and its lower
/// lane keeps the smaller value then.
const fn keeps_max(j: usize, block: usize, base: usize) -> __mmask8 {
    let mut m = 0u8;
    let mut i = 0;
    while i < 8 {
        let g = base + i;
        if (g & j == 0) != (g & block == 0) {
            m |= 1 << i;
        }
        i += 1;
    }
    m
}

const PARTNERS: [[i64; 8]; 3] = [partners(1), partners(2), partners(4)];

/// One compare-exchange stage: each lane meets its partner (`partner` indices), the
/// lanes of `hi` keep the larger value.
#[inline(always)]
unsafe fn stage(v: __m512d, partner: __m512i, hi: __mmask8) -> __m512d {
    // SAFETY: AVX-512F is available (caller); registers only.
    unsafe {
        let w = _mm512_permutexvar_pd(partner, v);
        _mm512_mask_blend_pd(hi, _mm512_min_pd(v, w), _mm512_max_pd(v, w))
    }
}

/// Sorts the `8·V` lanes of `v` ascending (register 0 first), by Batcher's bitonic
/// network: 6 stages for one register, 10 for two. NaN-free input (validated).
#[inline(always)]
unsafe fn bitonic_sort<const V: usize>(v: &mut [__m512d; V]) {
    // SAFETY: AVX-512F is available (caller); the index tables are 8 i64 each.
    unsafe {
        let p = [
            _mm512_loadu_si512(PARTNERS[0].as_ptr() as *const __m512i),
            _mm512_loadu_si512(PARTNERS[1].as_ptr() as *const __m512i),
            _mm512_loadu_si512(PARTNERS[2].as_ptr() as *const __m512i),
        ];
        for h in 0..V {
            let base = 8 * h;
            v[h] = stage(v[h], p[0], keeps_max(1, 2, base));
            v[h] = stage(v[h], p[1], keeps_max(2, 4, base));
            v[h] = stage(v[h], p[0], keeps_max(1, 4, base));
            v[h] = stage(v[h], p[2], keeps_max(4, 8, base));
            v[h] = stage(v[h], p[1], keeps_max(2, 8, base));
            v[h] = stage(v[h], p[0], keeps_max(1, 8, base));
        }
        if V == 2 {
            // Register 0 is ascending, register 1 descending: merge the bitonic 16.
            let (lo, hi) = (_mm512_min_pd(v[0], v[V - 1]), _mm512_max_pd(v[0], v[V - 1]));
            v[0] = lo;
            v[V - 1] = hi;
            for h in 0..V {
                let base = 8 * h;
                v[h] = stage(v[h], p[2], keeps_max(4, 16, base));
                v[h] = stage(v[h], p[1], keeps_max(2, 16, base));
                v[h] = stage(v[h], p[0], keeps_max(1, 16, base));
            }
        }
    }
}

#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512dq")]
fn aps_rows_v<T: Lanes, const V: usize>(
    p: &[T],
    k: usize,
    ts: &[f64],
    reg: Regularization,
    out: &mut [u8],
    argmax: &mut [i64],
    undecided: &mut Vec<usize>,
) -> Option<(usize, RowProblem)> {
    let rows = p.len() / k.max(1);
    assert!((1..=8 * V).contains(&k) && V <= 2 && out.len() == p.len() && p.len() == rows * k);
    assert!((argmax.is_empty() || argmax.len() == rows) && (ts.len() == 1 || ts.len() == rows));
    let n = 8 * V; // lanes per sorted row, ascending: the top k hold the labels
    let shape = RowShape::of(k);
    let mut m = [0 as __mmask8; V];
    for (h, mh) in m.iter_mut().enumerate() {
        *mh = lanes(k - 8 * h); // k > 8h for every register used
    }
    let mut pen = [0.0f64; 16];
    for (pos, x) in pen[..k].iter_mut().enumerate() {
        *x = reg.at(pos + 1);
    }
    // Column j of the block's sorted rows: cols[j][l] is row l's j-th smallest.
    let mut cols = [[0.0f64; B]; 16];
    let mut masked = [0.0f64; B];
    let mut r0 = 0;
    while r0 + B <= rows {
        let blk = &p[r0 * k..(r0 + B) * k];
        // SAFETY: the features are enabled. Row l's register h covers its lanes
        // 8h..min(8h + 8, k) of blk[l·k..(l + 1)·k]; `cols` holds 16 ≥ n columns of
        // 8, and the walk reads columns n − 1 − pos with pos < k ≤ n; `ts` holds 8
        // values from r0 when it has one per row.
        let walked = unsafe {
            let (mut sums, mut bad) = ([_mm512_setzero_pd(); B], 0);
            let mut sorted = [[_mm512_setzero_pd(); B]; V];
            for l in 0..B {
                let row = blk.as_ptr().add(l * k);
                let mut s = [_mm512_setzero_pd(); V];
                for h in 0..V {
                    let v = T::load_masked(row.add(8 * h), m[h]);
                    bad |= out_of_range(v);
                    sums[l] = _mm512_add_pd(sums[l], v);
                    s[h] = _mm512_mask_mov_pd(_mm512_set1_pd(f64::NEG_INFINITY), m[h], v);
                }
                bitonic_sort(&mut s);
                for h in 0..V {
                    sorted[h][l] = s[h];
                }
            }
            if bad == 0 && sums_ok8(blk, k, &sums) {
                for h in 0..V {
                    for (j, c) in transpose8(&sorted[h]).into_iter().enumerate() {
                        _mm512_storeu_pd(cols[8 * h + j].as_mut_ptr(), c);
                    }
                }
                // The walk, row l in lane l.
                let tv = if ts.len() == 1 { _mm512_set1_pd(ts[0]) } else { _mm512_loadu_pd(ts.as_ptr().add(r0)) };
                let (neg_eps, one) = (_mm512_set1_pd(-EPSILON), _mm512_set1_pd(1.0));
                let (mut c, mut count) = (_mm512_setzero_pd(), _mm512_setzero_pd());
                for pos in 0..k {
                    c = _mm512_add_pd(c, _mm512_loadu_pd(cols[n - 1 - pos].as_ptr()));
                    let d = _mm512_sub_pd(_mm512_add_pd(c, _mm512_set1_pd(pen[pos])), tv);
                    let mask = _mm512_cmp_pd_mask::<_CMP_LT_OQ>(d, neg_eps);
                    count = _mm512_mask_add_pd(count, mask, count, one);
                }
                _mm512_storeu_pd(masked.as_mut_ptr(), count);
                true
            } else {
                false
            }
        };
        if !walked {
            break;
        }
        for l in 0..B {
            let r = r0 + l;
            let row = &blk[l * k..(l + 1) * k];
            if !argmax.is_empty() {
                // SAFETY: the features are enabled; the row is validated, its top in cols.
                argmax[r] = unsafe { first_equal(row.as_ptr(), shape, cols[n - 1][l]) };
            }
            let dst = &mut out[r * k..(r + 1) * k];
            let rank = masked[l] as usize;
            if rank >= k {
                dst.fill(1); // no cumulative sum reaches q: every label (see sets.rs)
                continue;
            }
            let mut p_last = cols[n - 1 - rank][l];
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
