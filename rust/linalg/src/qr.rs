//! Blocked Householder QR (LAPACK's `geqrf` / `orgqr` scheme) on mlkern's GEMM.
//!
//! Algorithm: the matrix is copied once into a column-major work array. Panels of
//! `NB = 16` columns (measured against 8, 12, 24 and 32 on 5 000×60, 2 000×60,
//! 4 000×500 and 1 000²: the panel, updated one column at a time, must stay in
//! L2) are factored column by column (`geqr2`: reflector
//! `H = I - τ v vᵀ` with `v₀ = 1` and `β = -sign(α)‖x‖`, LAPACK's `larfg`
//! convention, so R matches `numpy.linalg.qr` up to rounding: `R[j, j] =
//! -sign(w_jj)·‖w_j:,j‖` of the partly reduced column `w`, except that a column
//! whose part below the diagonal is exactly zero gets `τ = 0` (`H = I`) and keeps
//! `R[j, j] = w_jj`; tiny columns are rescaled as in `larfg`); the panel's reflectors are
//! accumulated into the compact WY form `I - V T Vᵀ` (`larft`) and applied to the
//! trailing columns with three GEMMs (`A₂ -= V (Tᵀ (Vᵀ A₂))`). `Q` is formed the same
//! way backwards from the identity. Norms are computed scaled by the largest entry
//! (no overflow/underflow for finite input).
//!
//! Error: Householder QR is normwise backward stable: `A + ΔA = Q̂R̂` with
//! `‖ΔA‖_F <= c·m·n·u‖A‖_F` and `‖Q̂ᵀQ̂ - I‖ <= c·m·n·u` (Higham, Thm 19.4).

use mlkern_core::{dispatch, Error, Result};

use crate::gemm::{gemm_raw, Dst};
use crate::mat::{MatMut, MatRef};
use crate::pack::Src;
use crate::Scalar;

const NB: usize = 16;

/// What `qr` returns, as in `numpy.linalg.qr`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QrMode {
    /// `Q (m, K)`, `R (K, n)` with `K = min(m, n)`.
    Reduced,
    /// `Q (m, m)`, `R (m, n)`.
    Complete,
    /// `R (K, n)` only.
    R,
}

impl QrMode {
    pub fn from_name(name: &str) -> Result<QrMode> {
        match name {
            "reduced" => Ok(QrMode::Reduced),
            "complete" => Ok(QrMode::Complete),
            "r" => Ok(QrMode::R),
            _ => Err(Error::invalid("mode", format!("must be 'reduced', 'complete' or 'r', got {name:?}"))),
        }
    }
}

/// The compact factorisation: reflectors below the diagonal of `w` (column-major,
/// `m × n`), R on and above it, and the scalar factors `tau`.
#[derive(Debug)]
pub struct QrFactor<T> {
    m: usize,
    n: usize,
    w: Vec<T>,
    tau: Vec<T>,
}

/// `‖x‖₂` without overflow or underflow for finite input: the tier's SIMD dot when
/// the largest entry leaves the squares in range, else a sum of squares of the
/// entries divided by it, in f64 (LAPACK's `nrm2` concern). Dividing (not
/// multiplying by `1 / amax`) keeps a subnormal `amax` finite: its reciprocal
/// overflows in f64.
pub(crate) fn norm2<T: Scalar>(x: &[T]) -> T {
    let amax = x.iter().fold(0.0f64, |m, v| m.max(v.to_f64().abs()));
    if amax == 0.0 || !amax.is_finite() {
        return T::from_f64(if amax.is_nan() || x.iter().any(|v| v.is_nan()) { f64::NAN } else { amax });
    }
    // Squares of entries in [tiny, huge] and their sum neither underflow (to
    // subnormals, losing digits) nor overflow in T.
    let (tiny, huge) = (T::MIN_POSITIVE.to_f64().sqrt() * 2f64.powi(26), (T::MAX.to_f64() / x.len() as f64).sqrt());
    if amax >= tiny && amax <= huge {
        return dot(x, x).sqrt();
    }
    let s: f64 = x.iter().map(|v| (v.to_f64() / amax).powi(2)).sum();
    T::from_f64(amax * s.sqrt())
}

/// `Σ x_i y_i` with the tier's SIMD kernel (see `mlkern_core::kernels::reduce`).
fn dot<T: Scalar>(x: &[T], y: &[T]) -> T {
    (dispatch::kernels::<T>().dot)(x, y)
}

/// Factors `a` (any strides). `threads` is used by the trailing updates.
pub fn factor<T: Scalar>(a: MatRef<'_, T>, threads: usize) -> Result<QrFactor<T>> {
    let (m, n) = (a.rows, a.cols);
    let mut w = a.to_col_major(|x| x)?;
    let kmax = m.min(n);
    let mut tau = vec![T::ZERO; kmax];
    let mut vbuf: Vec<T> = Vec::new();
    let mut tbuf = vec![T::ZERO; NB * NB];
    let mut wk: Vec<T> = Vec::new();
    for j0 in (0..kmax).step_by(NB) {
        let nb = NB.min(kmax - j0);
        // Panel: unblocked Householder on columns j0..j0+nb.
        for j in j0..j0 + nb {
            let (col, rest) = w[j * m..].split_at_mut(m);
            let x = &mut col[j..];
            tau[j] = reflector(x);
            if tau[j] == T::ZERO {
                continue;
            }
            let v: &[T] = x;
            for c in j + 1..j0 + nb {
                let y = &mut rest[(c - j - 1) * m + j..(c - j) * m];
                let s = tau[j] * (y[0] + dot(&v[1..], &y[1..]));
                y[0] = y[0] - s;
                for (yi, &vi) in y[1..].iter_mut().zip(&v[1..]) {
                    *yi = *yi - s * vi;
                }
            }
        }
        let n2 = n - (j0 + nb);
        if n2 == 0 {
            continue;
        }
        let mv = m - j0;
        explicit_v(&w, m, j0, nb, &mut vbuf);
        larft(&vbuf, mv, nb, &tau[j0..j0 + nb], &mut tbuf);
        apply_block(&vbuf, mv, nb, &tbuf, true, &mut w[j0 + (j0 + nb) * m..], m, n2, &mut wk, threads);
    }
    Ok(QrFactor { m, n, w, tau })
}

/// Turns `x` into `β e₁` and its tail into `v[1..]`; returns `τ` (0: `H = I`).
///
/// LAPACK's `larfg`: when the tail is exactly zero (a zero column, or one already
/// triangular) `τ = 0` and `x` is left as it is (`β = α`, whatever its sign). When
/// `|β|` is below `safmin = MIN_POSITIVE / u`, `x` is scaled up by `1 / safmin`
/// (at most 20 times) before `1 / (α - β)` is formed, and `β` scaled back: the
/// trailing columns of a rank-deficient matrix are rounding noise that shrinks
/// with every reflection into the subnormal range, where `1 / (α - β)` would
/// overflow and `0 · inf` turn Q and R into NaN.
fn reflector<T: Scalar>(x: &mut [T]) -> T {
    if x.len() <= 1 {
        return T::ZERO;
    }
    let mut alpha = x[0];
    let mut xnorm = norm2(&x[1..]);
    if xnorm == T::ZERO {
        return T::ZERO;
    }
    let signed = |alpha: T, xnorm: T| {
        let r = norm2(&[alpha, xnorm]);
        if alpha >= T::ZERO {
            -r
        } else {
            r
        }
    };
    let mut beta = signed(alpha, xnorm);
    let safmin = T::from_f64(T::MIN_POSITIVE.to_f64() / T::UNIT_ROUNDOFF);
    let rsafmn = T::ONE / safmin;
    let mut rescaled = 0;
    while beta.to_f64().abs() < safmin.to_f64() && rescaled < 20 {
        rescaled += 1;
        x[1..].iter_mut().for_each(|v| *v = *v * rsafmn);
        beta = beta * rsafmn;
        alpha = alpha * rsafmn;
    }
    if rescaled > 0 {
        xnorm = norm2(&x[1..]);
        beta = signed(alpha, xnorm);
    }
    let tau = (beta - alpha) / beta;
    let scale = T::ONE / (alpha - beta);
    x[1..].iter_mut().for_each(|v| *v = *v * scale);
    for _ in 0..rescaled {
        beta = beta * safmin;
    }
    x[0] = beta;
    tau
}

/// The panel's reflectors as a dense column-major `(m - j0) × nb` matrix (unit
/// diagonal, zeros above).
fn explicit_v<T: Scalar>(w: &[T], m: usize, j0: usize, nb: usize, v: &mut Vec<T>) {
    let mv = m - j0;
    v.clear();
    // mv·nb <= m·n: checked when the work copy was made.
    v.resize(mv * nb, T::ZERO);
    for c in 0..nb {
        let j = j0 + c;
        v[c * mv + c] = T::ONE;
        for i in c + 1..mv {
            v[c * mv + i] = w[j * m + j0 + i];
        }
    }
}

/// Upper-triangular `T` (column-major `nb × nb`, ld `NB`) with `H₁…H_nb = I - V T Vᵀ`.
fn larft<T: Scalar>(v: &[T], mv: usize, nb: usize, tau: &[T], t: &mut [T]) {
    t.fill(T::ZERO);
    for i in 0..nb {
        t[i + i * NB] = tau[i];
        if tau[i] == T::ZERO {
            continue;
        }
        // z = -τ_i Vᵀ[0..i] v_i ; T[0..i, i] = T[0..i, 0..i] z
        let vi = &v[i * mv..(i + 1) * mv];
        let z: Vec<T> = (0..i).map(|c| -tau[i] * dot(&v[c * mv + i..(c + 1) * mv], &vi[i..])).collect();
        for r in 0..i {
            let mut s = T::ZERO;
            for c in r..i {
                s = s + t[r + c * NB] * z[c];
            }
            t[r + i * NB] = s;
        }
    }
}

/// `C := (I - V T' Vᵀ) C` with `T' = Tᵀ` if `transpose` (applying `Qᵀ`) else `T`;
/// `C` is column-major `mv × nc` with leading dimension `ldc`.
#[allow(clippy::too_many_arguments)]
fn apply_block<T: Scalar>(
    v: &[T],
    mv: usize,
    nb: usize,
    t: &[T],
    transpose: bool,
    c: &mut [T],
    ldc: usize,
    nc: usize,
    wk: &mut Vec<T>,
    threads: usize,
) {
    wk.clear();
    // 2·nb·nc <= 2·NB·n: n columns of a work copy whose size was checked.
    wk.resize(2 * nb * nc, T::ZERO);
    let (w1, w2) = wk.split_at_mut(nb * nc);
    let vs = Src { ptr: v.as_ptr(), rs: 1, cs: mv };
    let cs = Src { ptr: c.as_ptr(), rs: 1, cs: ldc };
    let ts = if transpose { Src { ptr: t.as_ptr(), rs: NB, cs: 1 } } else { Src { ptr: t.as_ptr(), rs: 1, cs: NB } };
    // SAFETY: every view lies inside its buffer: v is mv × nb, c holds nc columns of
    // mv rows with stride ldc (caller), t is NB × NB, w1/w2 are nb × nc; outputs do
    // not overlap inputs.
    unsafe {
        let vt = Src { ptr: vs.ptr, rs: vs.cs, cs: vs.rs };
        gemm_raw(nb, nc, mv, T::ONE, vt, cs, T::ZERO, Dst { ptr: w1.as_mut_ptr(), rs: 1, cs: nb }, threads);
        let w1s = Src { ptr: w1.as_ptr(), rs: 1, cs: nb };
        gemm_raw(nb, nc, nb, T::ONE, ts, w1s, T::ZERO, Dst { ptr: w2.as_mut_ptr(), rs: 1, cs: nb }, threads);
        let w2s = Src { ptr: w2.as_ptr(), rs: 1, cs: nb };
        gemm_raw(mv, nc, nb, -T::ONE, vs, w2s, T::ONE, Dst { ptr: c.as_mut_ptr(), rs: 1, cs: ldc }, threads);
    }
}

/// A zeroed `rows × cols` work array, or an error (not an abort) when the size
/// overflows or cannot be allocated.
fn zeroed_work<T: Scalar>(rows: usize, cols: usize) -> Result<Vec<T>> {
    let too_big = || Error::out_of_memory("a", format!("a ({rows}, {cols}) work array cannot be allocated"));
    let len = rows.checked_mul(cols).ok_or_else(too_big)?;
    let mut w = Vec::new();
    w.try_reserve_exact(len).map_err(|_| too_big())?;
    w.resize(len, T::ZERO);
    Ok(w)
}

impl<T: Scalar> QrFactor<T> {
    /// `(m, n)` of the factored matrix.
    pub fn shape(&self) -> (usize, usize) {
        (self.m, self.n)
    }

    /// Writes `R` (`out` of shape `(r_rows, n)`, `r_rows` = K or m): the upper
    /// triangle of the factor, zeros below.
    pub fn write_r(&self, out: &mut MatMut<'_, T>) -> Result<()> {
        let (m, n) = (self.m, self.n);
        if out.cols != n || out.rows > m.max(m.min(n)) {
            return Err(Error::shape("r", "wrong shape for R"));
        }
        for i in 0..out.rows {
            for j in 0..n {
                out.data[i * out.rs + j * out.cs] = if i <= j && i < m { self.w[i + j * m] } else { T::ZERO };
            }
        }
        Ok(())
    }

    /// Writes the first `out.cols` columns of `Q` (`out` is `(m, kq)`, `kq <= m`).
    pub fn write_q(&self, out: &mut MatMut<'_, T>, threads: usize) -> Result<()> {
        let m = self.m;
        let kq = out.cols;
        if out.rows != m || kq > m {
            return Err(Error::shape("q", "wrong shape for Q"));
        }
        let kmax = self.tau.len();
        let mut q = zeroed_work::<T>(m, kq)?;
        for i in 0..kq {
            q[i + i * m] = T::ONE;
        }
        let (mut vbuf, mut tbuf, mut wk) = (Vec::new(), vec![T::ZERO; NB * NB], Vec::new());
        let starts: Vec<usize> = (0..kmax).step_by(NB).collect();
        for &j0 in starts.iter().rev() {
            if j0 >= kq {
                continue;
            }
            let nb = NB.min(kmax - j0);
            let mv = m - j0;
            explicit_v(&self.w, m, j0, nb, &mut vbuf);
            larft(&vbuf, mv, nb, &self.tau[j0..j0 + nb], &mut tbuf);
            apply_block(&vbuf, mv, nb, &tbuf, false, &mut q[j0 + j0 * m..], m, kq - j0, &mut wk, threads);
        }
        for j in 0..kq {
            for i in 0..m {
                out.data[i * out.rs + j * out.cs] = q[i + j * m];
            }
        }
        Ok(())
    }
}
