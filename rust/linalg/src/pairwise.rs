//! All-pairs dot products on the packed GEMM: the [`PairDots`] provider behind
//! `mlkern.vector.cdist` and `topk` (`mlkern_core::vector::cdist_by_products`).
//!
//! `out = A · Bᵀ` for row-major `A: (m, d)`, `B: (n, d)`: `Bᵀ` is a strided view
//! (no copy), and the product never cuts `d` into chunks ([`KSplit::Never`]), so
//! each entry is summed in one order fixed by `d` and the tier (`KC` slices in
//! order, each a sequential fused sum) whatever `m`, `n`, the tile that computes it
//! and the thread count: the contract of [`PairDots`]. Error `<= γ_d Σ|a_k b_k|`.
//! (Only if a packing buffer cannot be allocated does the GEMM fall back to an
//! unpacked loop, whose rounding differs within the same bound.)

use mlkern_core::vector::PairDots;
use mlkern_core::Result;

use crate::gemm::{gemm_raw_ordered, Dst, KSplit};
use crate::mat::{MatMut, MatRef};
use crate::pack::Src;
use crate::Scalar;

/// [`PairDots`] by linalg's packed GEMM.
#[derive(Debug, Clone, Copy, Default)]
pub struct GemmDots;

impl<T: Scalar> PairDots<T> for GemmDots {
    fn dots(&self, a: &[T], m: usize, b: &[T], n: usize, d: usize, out: &mut [T], threads: usize) -> Result<()> {
        let av = MatRef::row_major("a", a, m, d)?;
        let bt = MatRef::row_major("b", b, n, d)?.t();
        let mut c = MatMut::row_major("out", out, m, n)?;
        crate::check_product(&av, &bt, &c)?;
        let sa = Src { ptr: av.ptr(), rs: av.rs, cs: av.cs };
        let sb = Src { ptr: bt.ptr(), rs: bt.rs, cs: bt.cs };
        let dst = Dst { ptr: c.ptr(), rs: c.rs, cs: c.cs };
        // SAFETY: the views were checked to hold every element they address; `out`
        // is borrowed mutably for the call and cannot overlap `a` or `b`.
        unsafe { gemm_raw_ordered(m, n, d, T::ONE, sa, sb, T::ZERO, dst, threads, KSplit::Never) };
        Ok(())
    }
}
