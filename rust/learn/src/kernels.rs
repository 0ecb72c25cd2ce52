//! learn's row kernels, written once over [`Simd<T>`] and compiled per tier in
//! `dispatch.rs`.
//!
//! - [`logistic_chunk`]: one fused pass over a chunk of rows for the logistic loss
//!   and its gradient. Rows go in blocks of [`BLOCK`]: the block's scores
//!   `z = x·wₖ + bₖ` (a dot per row and model column, in `T`, four accumulators),
//!   then the pointwise loss and residual in float64 (`math.rs`, vectorised across
//!   the block), then the gradient `Σ r·x` of the block, accumulated in `T` while
//!   the block is still in L1 and added into the chunk's float64 total at the end of
//!   the block. The chunk's loss is summed in float64 in 8 interleaved partial sums.
//! - [`linear_predict`]: scores, probabilities or labels of rows of a linear model,
//!   with the rows' finiteness checked in the same pass.
//!
//! Error: a score is a dot product of length `d` in `T` (`|ẑ − z| ≤ γ_d Σ|x w|`);
//! the gradient of one block carries `γ_{BLOCK}` of `T` on top of that, the chunk
//! and the reduction across chunks are float64.

use mlkern_core::simd::Simd;
use mlkern_core::Float;

/// Rows per block of the fused passes (the block's rows stay in L1 between the
/// score and the gradient step: 64 rows of 32 float32 features are 8 KiB).
pub const BLOCK: usize = 64;

/// `Σ a_i b_i` over `d` elements at `a` and `b`, four accumulators.
///
/// # Safety
/// The CPU has `S`'s features; `a` and `b` are valid for `d` reads.
#[inline(always)]
pub unsafe fn dot<T: Float, S: Simd<T>>(a: *const T, b: *const T, d: usize) -> T {
    let l = S::LANES;
    // SAFETY: every load reads inside `[0, d)` of both pointers (caller).
    unsafe {
        let (mut a0, mut a1, mut a2, mut a3) = (S::zero(), S::zero(), S::zero(), S::zero());
        let mut i = 0;
        while i + 4 * l <= d {
            a0 = S::mul_add(S::load(a.add(i)), S::load(b.add(i)), a0);
            a1 = S::mul_add(S::load(a.add(i + l)), S::load(b.add(i + l)), a1);
            a2 = S::mul_add(S::load(a.add(i + 2 * l)), S::load(b.add(i + 2 * l)), a2);
            a3 = S::mul_add(S::load(a.add(i + 3 * l)), S::load(b.add(i + 3 * l)), a3);
            i += 4 * l;
        }
        while i + l <= d {
            a0 = S::mul_add(S::load(a.add(i)), S::load(b.add(i)), a0);
            i += l;
        }
        if i < d {
            a1 = S::mul_add(S::load_partial(a.add(i), d - i), S::load_partial(b.add(i), d - i), a1);
        }
        S::reduce_sum(S::add(S::add(a0, a1), S::add(a2, a3)))
    }
}

/// `acc[j] += c · x[j]` for `j < d`.
///
/// # Safety
/// The CPU has `S`'s features; `acc` and `x` are valid for `d` elements and do not
/// overlap.
#[inline(always)]
pub unsafe fn axpy<T: Float, S: Simd<T>>(acc: *mut T, c: T, x: *const T, d: usize) {
    let l = S::LANES;
    // SAFETY: every access is inside `[0, d)` of both pointers (caller).
    unsafe {
        let cv = S::splat(c);
        let mut i = 0;
        while i + l <= d {
            S::store(acc.add(i), S::mul_add(cv, S::load(x.add(i)), S::load(acc.add(i))));
            i += l;
        }
        if i < d {
            let v = S::mul_add(cv, S::load_partial(x.add(i), d - i), S::load_partial(acc.add(i), d - i));
            S::store_partial(acc.add(i), d - i, v);
        }
    }
}

/// Whether all of `x` is finite (exponent bits not all ones), branch-free so it
/// vectorises.
#[inline(always)]
pub fn all_finite<T: Float>(x: &[T]) -> bool {
    let mut bad = 0u32;
    for &v in x {
        // `v · 0` is ±0 for finite v and NaN otherwise; `== 0` is false for NaN.
        bad |= u32::from((v * T::ZERO) != T::ZERO);
    }
    bad == 0
}

/// One chunk of the logistic loss: the rows and the model.
#[derive(Debug, Clone, Copy)]
pub struct LogisticChunk<'a, T> {
    /// `rows × d`, row-major.
    pub x: &'a [T],
    pub d: usize,
    /// Class index of each row (`< classes`; for the binary model, 0 or 1).
    pub y: &'a [u32],
    /// Row weights (`None`: all 1).
    pub sw: Option<&'a [f64]>,
    /// Model columns: 1 (binary, `P(y = 1) = σ(z)`) or `K ≥ 3` (softmax).
    pub cols: usize,
    /// `cols × d` coefficients in `T`.
    pub coef: &'a [T],
    /// `cols` intercepts.
    pub intercept: &'a [f64],
}

/// A chunk's scratch and result: `grad` is `cols·d` coefficient gradients then
/// `cols` intercept gradients (sums, not means); `loss` the weighted loss sum.
#[derive(Debug)]
pub struct ChunkState<T> {
    pub grad: Vec<f64>,
    pub loss: f64,
    /// `BLOCK × cols` scores, then residuals.
    pub z: Vec<f64>,
    /// `cols × d` gradient of the current block, in `T`.
    pub acc: Vec<T>,
}

impl<T: Float> ChunkState<T> {
    pub fn new(cols: usize, d: usize) -> Self {
        ChunkState {
            grad: vec![0.0; cols * d + cols],
            loss: 0.0,
            z: vec![0.0; BLOCK * cols],
            acc: vec![T::ZERO; cols * d],
        }
    }
}

/// The loss and gradient sums of one chunk into `st` (see the module header).
///
/// # Safety
/// The CPU has `S`'s features.
#[inline(always)]
pub unsafe fn logistic_chunk<T: Float, S: Simd<T>>(c: &LogisticChunk<'_, T>, st: &mut ChunkState<T>) {
    let (d, cols) = (c.d, c.cols);
    let rows = c.y.len();
    assert!(c.x.len() == rows * d && c.coef.len() == cols * d && c.intercept.len() == cols);
    assert!(st.grad.len() == cols * d + cols && st.z.len() == BLOCK * cols && st.acc.len() == cols * d);
    assert!(c.sw.is_none_or(|w| w.len() == rows));
    assert!(c.y.iter().all(|&y| (y as usize) < cols.max(2)));
    st.grad.iter_mut().for_each(|g| *g = 0.0);
    let mut loss = [0.0f64; 8];
    let mut yv = [0.0f64; BLOCK];
    let mut wv = [0.0f64; BLOCK];
    let mut start = 0;
    while start < rows {
        let m = BLOCK.min(rows - start);
        let xb = &c.x[start * d..(start + m) * d];
        // Scores.
        for r in 0..m {
            for k in 0..cols {
                // SAFETY: row r of the block and column k of coef hold d elements each.
                let s = unsafe { dot::<T, S>(xb.as_ptr().add(r * d), c.coef.as_ptr().add(k * d), d) };
                st.z[r * cols + k] = s.to_f64() + c.intercept[k];
            }
        }
        for r in 0..BLOCK {
            let inside = r < m;
            yv[r] = if inside { f64::from(c.y[start + r]) } else { 0.0 };
            wv[r] = if !inside { 0.0 } else { c.sw.map_or(1.0, |w| w[start + r]) };
        }
        if cols == 1 {
            st.z[m..].iter_mut().for_each(|z| *z = 0.0);
            binary_pointwise(&mut st.z[..BLOCK], &yv, &wv, &mut loss);
        } else {
            for r in 0..m {
                let zr = &mut st.z[r * cols..(r + 1) * cols];
                loss[r % 8] += wv[r] * softmax_residual(zr, c.y[start + r] as usize, wv[r]);
            }
        }
        // Gradient of the block, in T, then into the chunk's float64 sums.
        st.acc.iter_mut().for_each(|a| *a = T::ZERO);
        for k in 0..cols {
            let mut gb = [0.0f64; 4];
            for r in 0..m {
                gb[r % 4] += st.z[r * cols + k];
            }
            st.grad[cols * d + k] += (gb[0] + gb[2]) + (gb[1] + gb[3]);
            // SAFETY: the block holds m rows of d values; acc's row k holds d values.
            unsafe { block_grad::<T, S>(xb.as_ptr(), m, d, &st.z, cols, k, st.acc.as_mut_ptr().add(k * d)) };
        }
        for (g, a) in st.grad[..cols * d].iter_mut().zip(&st.acc) {
            *g += a.to_f64();
        }
        start += m;
    }
    st.loss = ((loss[0] + loss[4]) + (loss[1] + loss[5])) + ((loss[2] + loss[6]) + (loss[3] + loss[7]));
}

/// `acc[j] += Σ_{r<m} res[r·cols + k] · x[r·d + j]` for `j < d`: the block's
/// gradient for model column `k`, `4·LANES` features at a time with the
/// accumulators in registers and two rows in flight.
///
/// # Safety
/// The CPU has `S`'s features; `x` holds `m·d` values, `acc` `d`.
#[inline(always)]
pub unsafe fn block_grad<T: Float, S: Simd<T>>(
    x: *const T,
    m: usize,
    d: usize,
    res: &[f64],
    cols: usize,
    k: usize,
    acc: *mut T,
) {
    let l = S::LANES;
    let mut j0 = 0;
    // SAFETY: every access below stays inside row r's [j0, j0 + width) ⊂ [0, d) and
    // acc's [0, d) (caller).
    unsafe {
        while j0 + 4 * l <= d {
            grad_slices::<T, S, 4>(x.add(j0), m, d, res, cols, k, acc.add(j0), l);
            j0 += 4 * l;
        }
        match (d - j0) / l {
            3 => grad_slices::<T, S, 3>(x.add(j0), m, d, res, cols, k, acc.add(j0), l),
            2 => grad_slices::<T, S, 2>(x.add(j0), m, d, res, cols, k, acc.add(j0), l),
            1 => grad_slices::<T, S, 1>(x.add(j0), m, d, res, cols, k, acc.add(j0), l),
            _ => {}
        }
        j0 += (d - j0) / l * l;
        if j0 < d {
            grad_slices::<T, S, 1>(x.add(j0), m, d, res, cols, k, acc.add(j0), d - j0);
        }
    }
}

/// [`block_grad`] on `NV` vectors of features from `x` (the last of them `last`
/// lanes wide, `last ≤ LANES`).
///
/// # Safety
/// As [`block_grad`], for the `(NV − 1)·LANES + last` features at `x` and `acc`.
#[inline(always)]
unsafe fn grad_slices<T: Float, S: Simd<T>, const NV: usize>(
    x: *const T,
    m: usize,
    d: usize,
    res: &[f64],
    cols: usize,
    k: usize,
    acc: *mut T,
    last: usize,
) {
    let l = S::LANES;
    let full = last == l;
    // SAFETY: loads and stores cover (NV − 1)·l + last values at x + r·d and acc (caller).
    unsafe {
        let ld = |p: *const T, v: usize| {
            if full || v + 1 < NV {
                S::load(p.add(v * l))
            } else {
                S::load_partial(p.add(v * l), last)
            }
        };
        let mut a = [S::zero(); NV];
        let mut b = [S::zero(); NV];
        let mut r = 0;
        while r + 2 <= m {
            let c0 = S::splat(T::from_f64(res[r * cols + k]));
            let c1 = S::splat(T::from_f64(res[(r + 1) * cols + k]));
            let (x0, x1) = (x.add(r * d), x.add((r + 1) * d));
            for v in 0..NV {
                a[v] = S::mul_add(c0, ld(x0, v), a[v]);
                b[v] = S::mul_add(c1, ld(x1, v), b[v]);
            }
            r += 2;
        }
        if r < m {
            let c0 = S::splat(T::from_f64(res[r * cols + k]));
            let x0 = x.add(r * d);
            for v in 0..NV {
                a[v] = S::mul_add(c0, ld(x0, v), a[v]);
            }
        }
        for v in 0..NV {
            let sum = S::add(S::add(a[v], b[v]), ld(acc, v));
            if full || v + 1 < NV {
                S::store(acc.add(v * l), sum);
            } else {
                S::store_partial(acc.add(v * l), last, sum);
            }
        }
    }
}

/// Binary rows: `loss += w·(softplus(z) − y·z)`, and `z ← w·(σ(z) − y)`.
#[inline(always)]
fn binary_pointwise(z: &mut [f64], y: &[f64; BLOCK], w: &[f64; BLOCK], loss: &mut [f64; 8]) {
    for ((zg, yg), wg) in z.chunks_exact_mut(8).zip(y.chunks_exact(8)).zip(w.chunks_exact(8)) {
        for l in 0..8 {
            let zz = zg[l];
            let e = crate::math::exp(-zz.abs());
            let sp = zz.max(0.0) + crate::math::log1p_small(e);
            let inv = 1.0 / (1.0 + e);
            let p = if zz >= 0.0 { inv } else { e * inv };
            loss[l] += wg[l] * (sp - yg[l] * zz);
            zg[l] = wg[l] * (p - yg[l]);
        }
    }
}

/// `z ← softmax(z)`; returns `logsumexp(z)`.
#[inline(always)]
fn softmax(z: &mut [f64]) -> f64 {
    let mx = z.iter().fold(f64::NEG_INFINITY, |m, &v| m.max(v));
    let mut s = 0.0;
    for v in z.iter_mut() {
        *v = crate::math::exp(*v - mx);
        s += *v;
    }
    let inv = 1.0 / s;
    for v in z.iter_mut() {
        *v *= inv;
    }
    crate::math::ln(s) + mx
}

/// One softmax row: returns `logsumexp(z) − z_y` and leaves `z ← w·(p − e_y)`.
#[inline(always)]
fn softmax_residual(z: &mut [f64], y: usize, w: f64) -> f64 {
    let zy = z[y];
    let lse = softmax(z);
    for v in z.iter_mut() {
        *v *= w;
    }
    z[y] -= w;
    lse - zy
}

/// What [`linear_predict`] writes per row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Output {
    /// `cols` scores `x·wₖ + bₖ`.
    Scores,
    /// Probabilities: `[1 − σ(z), σ(z)]` for one column, the softmax for more.
    Proba,
}

/// Scores or probabilities of `rows = x.len() / d` rows into `out`
/// (`rows × width`, width = `cols`, or 2 for binary probabilities). Returns the
/// first row that holds a non-finite value (its output is unspecified).
///
/// # Safety
/// The CPU has `S`'s features.
#[inline(always)]
pub unsafe fn linear_predict<T: Float, S: Simd<T>>(
    x: &[T],
    d: usize,
    coef: &[T],
    intercept: &[f64],
    mode: Output,
    out: &mut [T],
) -> Option<usize> {
    let cols = intercept.len();
    let rows = x.len().checked_div(d).unwrap_or(0);
    let width = if mode == Output::Proba && cols == 1 { 2 } else { cols };
    assert!(d > 0 && x.len() == rows * d && coef.len() == cols * d && out.len() == rows * width && cols > 0);
    let mut z = [0.0f64; BLOCK];
    let mut zr_stack = [0.0f64; 64];
    let mut zr_heap = if cols > 64 { vec![0.0f64; cols] } else { Vec::new() };
    let zr: &mut [f64] = if cols <= 64 { &mut zr_stack[..cols] } else { &mut zr_heap };
    let mut first_bad = None;
    let mut start = 0;
    while start < rows {
        let m = BLOCK.min(rows - start);
        let xb = &x[start * d..(start + m) * d];
        if first_bad.is_none() && !all_finite(xb) {
            first_bad = (0..m).find(|&r| !all_finite(&xb[r * d..(r + 1) * d])).map(|r| start + r);
        }
        let ob = &mut out[start * width..(start + m) * width];
        if cols == 1 {
            for r in 0..m {
                // SAFETY: row r and coef hold d elements.
                z[r] = unsafe { dot::<T, S>(xb.as_ptr().add(r * d), coef.as_ptr(), d) }.to_f64() + intercept[0];
            }
            match mode {
                Output::Scores => ob.iter_mut().zip(&z[..m]).for_each(|(o, &v)| *o = T::from_f64(v)),
                Output::Proba => {
                    let mut p = [0.0f64; BLOCK];
                    for (pr, &zr) in p.iter_mut().zip(&z) {
                        *pr = crate::math::sigmoid(zr);
                    }
                    for (o, &pr) in ob.chunks_exact_mut(2).zip(&p[..m]) {
                        o[0] = T::from_f64(1.0 - pr);
                        o[1] = T::from_f64(pr);
                    }
                }
            }
        } else {
            for r in 0..m {
                for k in 0..cols {
                    // SAFETY: row r and coef row k hold d elements.
                    zr[k] = unsafe { dot::<T, S>(xb.as_ptr().add(r * d), coef.as_ptr().add(k * d), d) }.to_f64()
                        + intercept[k];
                }
                if mode == Output::Proba {
                    softmax(zr);
                }
                for k in 0..cols {
                    ob[r * cols + k] = T::from_f64(zr[k]);
                }
            }
        }
        start += m;
    }
    first_bad
}
