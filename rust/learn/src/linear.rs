//! Least squares and ridge regression in closed form.
//!
//! [`centered_gram`]: with weights `s` and (if fitting an intercept) the weighted
//! means `x̄`, `ȳ`, the rows `zᵢ = √sᵢ·([xᵢ, yᵢ] − [x̄, ȳ])` are formed in float64 a
//! chunk at a time and `ZᵀZ` is accumulated on mlkern's packed GEMM: one matrix
//! `[[XᵀX, Xᵀy], [yᵀX, yᵀy]]` of the centred data, without centring `X` in place
//! or copying it whole (scikit-learn centres a copy of `X`). Chunks have a size set
//! by the shape alone and their partial sums are added in order, so the result
//! does not depend on the thread count.
//!
//! [`solve_spd`]: `A X = B` for symmetric positive definite `A` by a right-looking
//! blocked Cholesky factorisation (`A = L Lᵀ`, blocks of 64; the trailing updates on
//! the GEMM), then two triangular solves. A pivot below `n·ε·max(diag A)` is
//! reported as [`Error::InvalidArgument`] ("singular"): the caller then falls back
//! to a least-squares solve.
//!
//! Error: the Gram entries carry `γ_n` of float64 relative to `Σ|zᵢ||zⱼ|`; Cholesky
//! is backward stable (`L Lᵀ = A + ΔA`, `|ΔA| ≤ γ_{n+1} |L||Lᵀ|`).

use std::sync::Mutex;

use mlkern_core::threads::{self, Parallelism};
use mlkern_core::{Error, Result};
use mlkern_linalg::gemm::gemm;
use mlkern_linalg::mat::{MatMut, MatRef};

use crate::dispatch::LearnFloat;

/// The centred Gram matrix of `[X, Y]` and the means that centred it.
#[derive(Debug, Clone)]
pub struct Gram {
    /// `(d + t) × (d + t)`, row-major.
    pub gram: Vec<f64>,
    /// `d` (zeros without an intercept).
    pub x_mean: Vec<f64>,
    /// `t` (zeros without an intercept).
    pub y_mean: Vec<f64>,
}

/// Fewest rows per chunk of the Gram pass.
const GRAM_CHUNK_MIN: usize = 4096;
/// Bytes of partial Gram matrices held at once.
const GRAM_BUDGET: usize = 64 << 20;

/// See the module header. `x` is `n × d`, `y` is `n × t`, both row-major.
pub fn centered_gram<T: LearnFloat>(
    x: &[T],
    n: usize,
    d: usize,
    y: &[f64],
    t: usize,
    sw: Option<&[f64]>,
    fit_intercept: bool,
    threads: usize,
) -> Result<Gram> {
    if x.len() != mlkern_core::error::checked_size("X", n, d)?
        || y.len() != mlkern_core::error::checked_size("y", n, t)?
    {
        return Err(Error::shape(
            "X",
            format!("X has {} values and y {} for {n} rows of {d} and {t}", x.len(), y.len()),
        ));
    }
    if n == 0 || d == 0 || t == 0 {
        return Err(Error::invalid(
            "X",
            format!("needs at least one row, feature and target, got n={n}, d={d}, t={t}"),
        ));
    }
    if let Some(w) = sw {
        if w.len() != n {
            return Err(Error::shape("sample_weight", format!("X has {n} rows but sample_weight has {}", w.len())));
        }
        let total: f64 = w.iter().sum();
        if w.iter().any(|v| !(v.is_finite() && *v >= 0.0)) || total.is_nan() || total <= 0.0 {
            return Err(Error::invalid("sample_weight", "must be finite, non-negative and not all zero"));
        }
    }
    if !crate::logistic::all_finite_parallel(x, threads) {
        return Err(Error::invalid("X", "contains NaN or infinity"));
    }
    if !y.iter().all(|v| v.is_finite()) {
        return Err(Error::invalid("y", "contains NaN or infinity"));
    }
    let w = d + t;
    let wsq = mlkern_core::error::checked_size("X", w, w)?;
    let mut probe: Vec<f64> = Vec::new();
    probe
        .try_reserve_exact(wsq.saturating_mul(2))
        .map_err(|_| Error::out_of_memory("X", format!("the {w} x {w} Gram matrix of {d} features and {t} targets")))?;
    drop(probe);
    let rows = {
        let max_chunks = (GRAM_BUDGET / (wsq * 8).max(1)).clamp(1, 64);
        n.div_ceil(max_chunks).max(GRAM_CHUNK_MIN)
    };
    let chunks = n.div_ceil(rows);
    let weight = |i: usize| sw.map_or(1.0, |s| s[i]);
    // Pass 1: weighted means (per chunk, added in order).
    let mut mean = vec![0.0; w];
    if fit_intercept {
        let parts = threads::map_indexed_capped(chunks, threads, |c| {
            let mut s = vec![0.0; w + 1];
            for i in c * rows..((c + 1) * rows).min(n) {
                let wi = weight(i);
                for j in 0..d {
                    s[j] += wi * x[i * d + j].to_f64();
                }
                for j in 0..t {
                    s[d + j] += wi * y[i * t + j];
                }
                s[w] += wi;
            }
            s
        });
        let mut total = vec![0.0; w + 1];
        for p in &parts {
            total.iter_mut().zip(p).for_each(|(a, b)| *a += b);
        }
        for j in 0..w {
            mean[j] = total[j] / total[w];
        }
    }
    // Pass 2: partial Gram matrices of the centred, weighted chunks.
    let partials: Vec<Mutex<Vec<f64>>> = (0..chunks).map(|_| Mutex::new(Vec::new())).collect();
    let failed = Mutex::new(None);
    threads::parallel_for(chunks, threads, |c| {
        let (r0, r1) = (c * rows, ((c + 1) * rows).min(n));
        let m = r1 - r0;
        let mut z = vec![0.0; m * w];
        for (r, i) in (r0..r1).enumerate() {
            let sq = weight(i).sqrt();
            for j in 0..d {
                z[r * w + j] = sq * (x[i * d + j].to_f64() - mean[j]);
            }
            for j in 0..t {
                z[r * w + d + j] = sq * (y[i * t + j] - mean[d + j]);
            }
        }
        let mut g = vec![0.0; wsq];
        let res = (|| -> Result<()> {
            let zr = MatRef::row_major("z", &z, m, w)?;
            let gm = MatMut::row_major("gram", &mut g, w, w)?;
            gemm(1.0, zr.t(), zr, 0.0, gm, Parallelism::Sequential)
        })();
        match res {
            Ok(()) => *partials[c].lock().unwrap_or_else(|p| p.into_inner()) = g,
            Err(e) => *failed.lock().unwrap_or_else(|p| p.into_inner()) = Some(e),
        }
    });
    if let Some(e) = failed.into_inner().unwrap_or_else(|p| p.into_inner()) {
        return Err(e);
    }
    let mut gram = vec![0.0; wsq];
    for p in partials {
        let p = p.into_inner().unwrap_or_else(|p| p.into_inner());
        gram.iter_mut().zip(&p).for_each(|(a, b)| *a += b);
    }
    Ok(Gram { gram, x_mean: mean[..d].to_vec(), y_mean: mean[d..].to_vec() })
}

const NB: usize = 64;

/// Solves `A X = B` (`A`: `n × n` symmetric positive definite, row-major, only its
/// lower triangle read and overwritten by `L`; `B`: `n × nrhs`, overwritten by `X`).
pub fn solve_spd(a: &mut [f64], n: usize, b: &mut [f64], nrhs: usize) -> Result<()> {
    if a.len() != mlkern_core::error::checked_size("a", n, n)?
        || b.len() != mlkern_core::error::checked_size("b", n, nrhs)?
    {
        return Err(Error::shape("a", format!("a has {} values and b {} for n={n}, nrhs={nrhs}", a.len(), b.len())));
    }
    if !a.iter().all(|v| v.is_finite()) || !b.iter().all(|v| v.is_finite()) {
        return Err(Error::invalid("a", "contains NaN or infinity"));
    }
    let max_diag = (0..n).fold(0.0f64, |m, i| m.max(a[i * n + i].abs()));
    let tol = n as f64 * f64::EPSILON * max_diag;
    let singular = || Error::invalid("a", "the matrix is singular or not positive definite");
    let mut panel = Vec::new();
    let mut k0 = 0;
    while k0 < n {
        let k1 = (k0 + NB).min(n);
        // Diagonal block, then the panel below it, column by column.
        for j in k0..k1 {
            let mut s = a[j * n + j];
            for p in k0..j {
                s -= a[j * n + p] * a[j * n + p];
            }
            if s.is_nan() || s <= tol {
                return Err(singular());
            }
            let ljj = s.sqrt();
            a[j * n + j] = ljj;
            for i in j + 1..n {
                let mut v = a[i * n + j];
                for p in k0..j {
                    v -= a[i * n + p] * a[j * n + p];
                }
                a[i * n + j] = v / ljj;
            }
        }
        // Trailing update A22 -= L21 L21ᵀ on the GEMM (L21 copied out: it and A22
        // share the buffer).
        let rest = n - k1;
        if rest > 0 {
            let kb = k1 - k0;
            panel.clear();
            for i in k1..n {
                panel.extend_from_slice(&a[i * n + k0..i * n + k1]);
            }
            let l21 = MatRef::row_major("panel", &panel, rest, kb)?;
            let a22 = MatMut::new("a", &mut a[k1 * n + k1..], rest, rest, n, 1)?;
            gemm(-1.0, l21, l21.t(), 1.0, a22, Parallelism::Pool)?;
        }
        k0 = k1;
    }
    // L z = b, then Lᵀ x = z, for every right-hand side.
    for c in 0..nrhs {
        for i in 0..n {
            let mut v = b[i * nrhs + c];
            for p in 0..i {
                v -= a[i * n + p] * b[p * nrhs + c];
            }
            b[i * nrhs + c] = v / a[i * n + i];
        }
        for i in (0..n).rev() {
            let mut v = b[i * nrhs + c];
            for p in i + 1..n {
                v -= a[p * n + i] * b[p * nrhs + c];
            }
            b[i * nrhs + c] = v / a[i * n + i];
        }
    }
    Ok(())
}
