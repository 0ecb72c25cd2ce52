//! Dot product and squared Euclidean distance of two equal-length slices.
//!
//! Algorithm: four independent vector accumulators over blocks of `4 * LANES`
//! elements, then single vectors, then one zero-padded partial vector for the tail
//! (masked loads on AVX-512, a stack copy elsewhere), then a pairwise tree over the
//! accumulators and lanes. Multiply-add is fused where the ISA has FMA.
//!
//! Error bound (Higham, *Accuracy and Stability of Numerical Algorithms*, §3.1, which
//! holds for any summation order, with or without FMA): the computed `dot` satisfies
//! `|dot - a·b| <= γ_n Σ|a_i b_i|`, `γ_n = n u / (1 - n u)`, `u` the unit roundoff
//! of `T`; the same with `Σ (a_i - b_i)^2` for `sqeuclidean` (with `γ_{n+1}` for the
//! rounding of each difference). The blocked order makes the constant in practice
//! close to `(n / (4 L) + log2(4 L)) u`.

use crate::element::Float;
use crate::simd::Simd;

/// How far ahead of the loads the main loop prefetches both operands.
const PREFETCH_BYTES: usize = 2048;
/// From this many bytes per operand the main loop prefetches.
const PREFETCH_MIN_BYTES: usize = 32 << 10;

/// One step of the accumulation: how a pair of loaded registers updates `acc`.
pub(crate) trait PairOp {
    /// # Safety
    /// Same contract as the [`Simd`] methods it calls.
    unsafe fn step<T: Float, S: Simd<T>>(x: S::V, y: S::V, acc: S::V) -> S::V;
}

/// `acc += x * y`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct DotOp;
/// `acc += (x - y)^2`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct SqDiffOp;

impl PairOp for DotOp {
    #[inline(always)]
    unsafe fn step<T: Float, S: Simd<T>>(x: S::V, y: S::V, acc: S::V) -> S::V {
        // SAFETY: forwarded caller contract.
        unsafe { S::mul_add(x, y, acc) }
    }
}

impl PairOp for SqDiffOp {
    #[inline(always)]
    unsafe fn step<T: Float, S: Simd<T>>(x: S::V, y: S::V, acc: S::V) -> S::V {
        // SAFETY: forwarded caller contract.
        unsafe {
            let t = S::sub(x, y);
            S::mul_add(t, t, acc)
        }
    }
}

/// `Σ op(a_i, b_i)` over `min(a.len(), b.len())` elements (callers pass equal lengths).
///
/// # Safety
/// The CPU must support `S`'s target features.
#[inline(always)]
pub(crate) unsafe fn pair_reduce<T: Float, S: Simd<T>, Op: PairOp>(a: &[T], b: &[T]) -> T {
    let n = a.len().min(b.len());
    let (pa, pb) = (a.as_ptr(), b.as_ptr());
    let l = S::LANES;
    // SAFETY: every load below reads within [0, n) of both slices: full loads start at
    // i with i + l <= n, the partial load reads n - i < l elements.
    unsafe {
        let mut acc0 = S::zero();
        let mut acc1 = S::zero();
        let mut acc2 = S::zero();
        let mut acc3 = S::zero();
        let mut i = 0;
        let step_bytes = 4 * l * std::mem::size_of::<T>();
        let ahead = PREFETCH_BYTES / std::mem::size_of::<T>();
        // Short operands (row norms, cdist's recomputed pairs) are in cache already.
        let stream = n * std::mem::size_of::<T>() >= PREFETCH_MIN_BYTES;
        while i + 4 * l <= n {
            // Long operands stream from L3 or DRAM: ask for the lines PREFETCH_BYTES
            // ahead (past the end is harmless: a prefetch never faults).
            if stream {
                for line in (0..step_bytes).step_by(64) {
                    let e = ahead + line / std::mem::size_of::<T>();
                    crate::simd::prefetch(pa.wrapping_add(i + e));
                    crate::simd::prefetch(pb.wrapping_add(i + e));
                }
            }
            acc0 = Op::step::<T, S>(S::load(pa.add(i)), S::load(pb.add(i)), acc0);
            acc1 = Op::step::<T, S>(S::load(pa.add(i + l)), S::load(pb.add(i + l)), acc1);
            acc2 = Op::step::<T, S>(S::load(pa.add(i + 2 * l)), S::load(pb.add(i + 2 * l)), acc2);
            acc3 = Op::step::<T, S>(S::load(pa.add(i + 3 * l)), S::load(pb.add(i + 3 * l)), acc3);
            i += 4 * l;
        }
        while i + l <= n {
            acc0 = Op::step::<T, S>(S::load(pa.add(i)), S::load(pb.add(i)), acc0);
            i += l;
        }
        if i < n {
            let x = S::load_partial(pa.add(i), n - i);
            let y = S::load_partial(pb.add(i), n - i);
            acc1 = Op::step::<T, S>(x, y, acc1);
        }
        S::reduce_sum(S::add(S::add(acc0, acc1), S::add(acc2, acc3)))
    }
}
