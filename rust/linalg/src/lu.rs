//! LU factorisation with partial pivoting, returning `P·L` (SciPy's
//! `lu(a, permute_l=True)[0]`): the power-iteration normaliser of randomized SVD.
//!
//! Algorithm: right-looking Doolittle elimination on a column-major copy; at step
//! `j` the row with the largest `|a_ij|` (first on ties, as LAPACK's `getf2`) is
//! swapped up, the column below the pivot is divided by it and a rank-1 update is
//! applied. A zero pivot leaves its column of `L` zero (LAPACK continues the same
//! way). Error: `P L U = A + ΔA`, `|ΔA| <= γ_n |L||U|` (Higham, Thm 9.3).

use mlkern_core::Result;

use crate::mat::{MatMut, MatRef};
use crate::Scalar;

/// Writes `P·L` (`(m, K)`, `K = min(m, n)`) of `a = P L U` into `out`.
pub fn lu_permuted_l<T: Scalar>(a: MatRef<'_, T>, out: &mut MatMut<'_, T>) -> Result<()> {
    let (m, n) = (a.rows, a.cols);
    let k = m.min(n);
    if out.rows != m || out.cols != k {
        return Err(mlkern_core::Error::shape("out", "wrong shape for P·L"));
    }
    let mut w = a.to_col_major(|x| x)?;
    let mut perm: Vec<usize> = (0..m).collect();
    for j in 0..k {
        let col = &w[j * m..(j + 1) * m];
        let mut p = j;
        let mut best = col[j].to_f64().abs();
        for i in j + 1..m {
            let v = col[i].to_f64().abs();
            if v > best || (best.is_nan() && !v.is_nan()) {
                best = v;
                p = i;
            }
        }
        if p != j {
            for c in 0..n {
                w.swap(j + c * m, p + c * m);
            }
            perm.swap(j, p);
        }
        let piv = w[j + j * m];
        if piv == T::ZERO {
            continue;
        }
        let inv = T::ONE / piv;
        for i in j + 1..m {
            w[i + j * m] = w[i + j * m] * inv;
        }
        let (left, right) = w.split_at_mut((j + 1) * m);
        let l = &left[j * m + j + 1..(j + 1) * m];
        for c in 0..n - j - 1 {
            let colc = &mut right[c * m..(c + 1) * m];
            let u = colc[j];
            if u == T::ZERO {
                continue;
            }
            for (x, &li) in colc[j + 1..].iter_mut().zip(l) {
                *x = *x - li * u;
            }
        }
    }
    // Row i of L (in pivoted order) is row perm[i] of P·L.
    for i in 0..m {
        let r = perm[i];
        for c in 0..k {
            let v = match i.cmp(&c) {
                std::cmp::Ordering::Less => T::ZERO,
                std::cmp::Ordering::Equal => T::ONE,
                std::cmp::Ordering::Greater => w[i + c * m],
            };
            out.data[r * out.rs + c * out.cs] = v;
        }
    }
    Ok(())
}
