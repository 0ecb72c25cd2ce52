//! Thin SVD of small dense matrices by one-sided Jacobi (Hestenes 1958; Demmel &
//! Veselić 1992): the dense step inside randomized SVD.
//!
//! Algorithm: on a column-major copy `G` (`p × q`, `p >= q`), sweep over all column
//! pairs `(i, j)` and rotate them so they become orthogonal (the rotation that
//! diagonalises `[[‖g_i‖², g_i·g_j], [g_i·g_j, ‖g_j‖²]]`), accumulating the rotations
//! in `V`; stop when a whole sweep finds every pair orthogonal to `p·u` relative
//! accuracy (at most 60 sweeps; quadratic convergence usually needs 6–10). Then
//! `σ_i = ‖g_i‖`, `U_i = g_i / σ_i`, sorted by decreasing `σ`. Products are
//! accumulated in f64 for f32 input.
//!
//! Error: one-sided Jacobi is backward stable and computes each singular value with
//! high *relative* accuracy when `G = B·D` with `B` well conditioned (Demmel &
//! Veselić); in general `|σ̂_i - σ_i| <= O(p·q·u)·σ_max`.

use mlkern_core::{Error, Result};

use crate::mat::MatRef;
use crate::Scalar;

/// `(U (p × q, row-major), S (q), Vt (q × q, row-major))` of `a` (`p >= q`).
pub type Svd<T> = (Vec<T>, Vec<T>, Vec<T>);

/// One-sided Jacobi SVD; see the module docs. `a` must have `rows >= cols`.
pub fn jacobi_svd<T: Scalar>(a: MatRef<'_, T>) -> Result<Svd<T>> {
    let (p, q) = (a.rows, a.cols);
    if p < q {
        return Err(Error::shape("a", format!("needs rows >= cols, got ({p}, {q})")));
    }
    let mut g = a.to_col_major(|x| x.to_f64())?;
    let mut v = vec![0.0f64; q * q];
    for i in 0..q {
        v[i + i * q] = 1.0;
    }
    let tol = (p as f64) * T::UNIT_ROUNDOFF;
    for _sweep in 0..60 {
        let mut rotated = false;
        for i in 0..q {
            for j in i + 1..q {
                let (gi, gj) = (&g[i * p..(i + 1) * p], &g[j * p..(j + 1) * p]);
                let (mut alpha, mut beta, mut gamma) = (0.0f64, 0.0f64, 0.0f64);
                for (x, y) in gi.iter().zip(gj) {
                    alpha += x * x;
                    beta += y * y;
                    gamma += x * y;
                }
                if gamma == 0.0 || gamma.abs() <= tol * (alpha * beta).sqrt() {
                    continue;
                }
                rotated = true;
                let zeta = (beta - alpha) / (2.0 * gamma);
                let t = zeta.signum() / (zeta.abs() + (1.0 + zeta * zeta).sqrt());
                let c = 1.0 / (1.0 + t * t).sqrt();
                let s = c * t;
                rotate(&mut g, p, i, j, c, s);
                rotate(&mut v, q, i, j, c, s);
            }
        }
        if !rotated {
            break;
        }
    }
    let mut sig: Vec<(f64, usize)> =
        (0..q).map(|j| (g[j * p..(j + 1) * p].iter().map(|x| x * x).sum::<f64>().sqrt(), j)).collect();
    sig.sort_by(|x, y| y.0.total_cmp(&x.0));
    let mut u = vec![T::ZERO; p * q];
    let mut s = vec![T::ZERO; q];
    let mut vt = vec![T::ZERO; q * q];
    for (r, &(sv, j)) in sig.iter().enumerate() {
        s[r] = T::from_f64(sv);
        let inv = if sv > 0.0 { 1.0 / sv } else { 0.0 };
        for i in 0..p {
            u[i * q + r] = T::from_f64(g[i + j * p] * inv);
        }
        for c in 0..q {
            vt[r * q + c] = T::from_f64(v[c + j * q]);
        }
    }
    Ok((u, s, vt))
}

fn rotate(x: &mut [f64], ld: usize, i: usize, j: usize, c: f64, s: f64) {
    let (lo, hi) = x.split_at_mut(j * ld);
    let xi = &mut lo[i * ld..(i + 1) * ld];
    let xj = &mut hi[..ld];
    for (a, b) in xi.iter_mut().zip(xj.iter_mut()) {
        let (ai, bj) = (*a, *b);
        *a = c * ai - s * bj;
        *b = s * ai + c * bj;
    }
}
