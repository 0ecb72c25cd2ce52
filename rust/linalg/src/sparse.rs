//! CSR sparse matrix × dense vector/matrix, validated and multi-threaded.
//!
//! Structure checks (all a `ValueError` in Python, never a crash): `indptr` has
//! `rows + 1` entries, starts at 0, never decreases and ends at most at
//! `indices.len() == data.len()`; every column index lies in `0..cols` (checked by
//! the row kernel as it goes, so valid input costs no extra pass). Rows are split
//! into tasks of about equal stored entries across mlkern's pool; each output row
//! is written once by linalg's CSR row kernel (see `kernels/spmm.rs` for
//! the accumulation order and error bound).

use std::sync::atomic::{AtomicBool, Ordering};

use crate::dispatch::{self, CsrRowFn};
pub use crate::kernels::spmm::CsrIndex;
use mlkern_core::threads::{self, Parallelism};
use mlkern_core::{Error, Result};

use crate::Scalar;

/// A borrowed CSR matrix.
#[derive(Debug, Clone, Copy)]
pub struct Csr<'a, T, I> {
    pub rows: usize,
    pub cols: usize,
    pub data: &'a [T],
    pub indices: &'a [I],
    pub indptr: &'a [I],
}

fn invalid(detail: String) -> Error {
    Error::invalid("a", format!("invalid CSR structure: {detail}"))
}

impl<T, I: CsrIndex> Csr<'_, T, I> {
    /// Checks everything but the column indices (see the module docs).
    pub fn check(&self) -> Result<()> {
        if self.rows.checked_add(1) != Some(self.indptr.len()) {
            return Err(invalid(format!(
                "indptr has {} entries, expected rows + 1 = {} + 1",
                self.indptr.len(),
                self.rows
            )));
        }
        if self.data.len() != self.indices.len() {
            return Err(invalid(format!("data has {} entries but indices {}", self.data.len(), self.indices.len())));
        }
        if self.indptr[0].offset() != 0 {
            return Err(invalid("indptr[0] must be 0".into()));
        }
        let mut prev = 0usize;
        for (r, &p) in self.indptr[1..].iter().enumerate() {
            let p = p.offset();
            if p < prev {
                return Err(invalid(format!("indptr decreases at row {r}")));
            }
            prev = p;
        }
        if prev > self.indices.len() {
            return Err(invalid(format!("indptr ends at {prev} but there are {} stored entries", self.indices.len())));
        }
        Ok(())
    }
}

/// Column index types with a CSR row kernel.
pub trait CsrIdx: CsrIndex {
    fn kernel<T: Scalar>() -> CsrRowFn<T, Self>;
}
impl CsrIdx for i32 {
    fn kernel<T: Scalar>() -> CsrRowFn<T, i32> {
        dispatch::kernels::<T>().csr_row_i32
    }
}
impl CsrIdx for i64 {
    fn kernel<T: Scalar>() -> CsrRowFn<T, i64> {
        dispatch::kernels::<T>().csr_row_i64
    }
}

/// `out (rows × n, row-major) = a · b (cols × n, row-major)`; `n = 1` is the
/// matrix-vector product.
pub fn csr_matmul<T: Scalar, I: CsrIdx>(
    a: Csr<'_, T, I>,
    b: &[T],
    n: usize,
    out: &mut [T],
    par: Parallelism,
) -> Result<()> {
    a.check()?;
    mlkern_core::check_matrix("b", b.len(), a.cols, n)?;
    mlkern_core::check_matrix("out", out.len(), a.rows, n)?;
    if a.rows == 0 || n == 0 {
        return Ok(());
    }
    let kernel = I::kernel::<T>();
    let nnz = a.indptr[a.rows].offset();
    let bad = AtomicBool::new(false);
    let work_per_row = (nnz / a.rows.max(1)).max(1).saturating_mul(n);
    threads::for_each_row_mut(
        out,
        n,
        work_per_row,
        par.threads(),
        || (),
        |_, r, row| {
            let (s, e) = (a.indptr[r].offset(), a.indptr[r + 1].offset());
            if !kernel(&a.data[s..e], &a.indices[s..e], b, n, a.cols, row) {
                bad.store(true, Ordering::Relaxed);
            }
        },
    );
    if bad.load(Ordering::Relaxed) {
        let col = a.indices[..nnz].iter().map(|i| i.offset()).find(|&c| c >= a.cols);
        return Err(invalid(match col {
            Some(c) if c > isize::MAX as usize => "a column index is negative".into(),
            Some(c) => format!("column index {c} is out of range for {} columns", a.cols),
            None => "a column index is out of range".into(),
        }));
    }
    Ok(())
}
