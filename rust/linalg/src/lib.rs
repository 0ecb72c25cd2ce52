//! mlkern-linalg: dense and sparse linear algebra on mlkern's own kernels.
//!
//! - [`gemm`](mod@gemm): packed, cache-blocked, multi-threaded GEMM over the per-tier
//!   micro-kernels in [`kernels`] ([`gemm()`], on strided [`MatRef`]/[`MatMut`] views).
//! - [`strassen`]: Strassen–Winograd recursion on top of it, with the measured crossover.
//! - [`qr`]: blocked Householder QR; [`lu`]: LU with partial pivoting (the power
//!   iteration normaliser); [`svd`]: one-sided Jacobi SVD of small matrices.
//! - [`sparse`]: CSR × dense products with validated structure.
//! - [`pairwise`]: all-pairs dot products for `cdist`/`topk` on the GEMM.
//! - [`kernels`] and [`dispatch`]: linalg's own SIMD kernels (GEMM micro-tile, CSR
//!   row), instantiated per tier with `mlkern_core::per_tier!`.
//!
//! Scratch memory comes from `mlkern_core::mem::global()`; every function taking
//! user input returns `Result` and never panics on it.

pub mod dispatch;
pub mod gemm;
pub mod kernels;
pub mod lu;
pub mod mat;
mod pack;
pub mod pairwise;
pub mod qr;
pub mod sparse;
pub mod strassen;
pub mod svd;

pub use gemm::{gemm, Parallelism};
pub use mat::{MatMut, MatRef};

use mlkern_core::aligned::Zeroable;
use mlkern_core::dispatch::HasKernels;
use mlkern_core::{Error, Result};

/// Element types of the linear-algebra routines (`f32`, `f64`).
pub trait Scalar: HasKernels + Zeroable {
    /// This type's kernels in one of linalg's tables.
    fn select_linalg(k: &'static dispatch::Kernels) -> &'static dispatch::ElemKernels<Self>;
}
impl Scalar for f32 {
    #[inline(always)]
    fn select_linalg(k: &'static dispatch::Kernels) -> &'static dispatch::ElemKernels<f32> {
        &k.f32
    }
}
impl Scalar for f64 {
    #[inline(always)]
    fn select_linalg(k: &'static dispatch::Kernels) -> &'static dispatch::ElemKernels<f64> {
        &k.f64
    }
}

/// Checks `(m, k) @ (k, n) -> (m, n)`.
pub(crate) fn check_product<T>(a: &MatRef<'_, T>, b: &MatRef<'_, T>, c: &MatMut<'_, T>) -> Result<()> {
    if a.cols != b.rows {
        return Err(Error::shape(
            "b",
            format!("inner dimensions differ: a is ({}, {}) and b is ({}, {})", a.rows, a.cols, b.rows, b.cols),
        ));
    }
    if c.rows != a.rows || c.cols != b.cols {
        return Err(Error::shape(
            "out",
            format!("has shape ({}, {}) but the product is ({}, {})", c.rows, c.cols, a.rows, b.cols),
        ));
    }
    Ok(())
}
