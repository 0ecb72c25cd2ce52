//! FMA throughput probe: the ceiling GEMM is measured against.
//!
//! Algorithm: 16 independent accumulator registers each run `iters` dependent
//! multiply-adds (`acc = acc · x + y`), enough independent chains to cover the FMA
//! latency (4 cycles) times two FMA pipes. Flops: `iters · 16 · LANES · 2`. The
//! value returned (the sum of the accumulators) keeps the loop from being removed;
//! with `x = 1 - 2⁻²⁰`, `y = 2⁻²⁰` every chain converges to 1, so it stays finite
//! (both are hidden from the optimiser, which cannot fold unfused FMA chains anyway).

use crate::element::Float;
use crate::simd::Simd;

/// Independent accumulator chains.
pub(crate) const CHAINS: usize = 16;

/// # Safety
/// The CPU must support `S`.
#[inline(always)]
pub(crate) unsafe fn fma_chains<T: Float, S: Simd<T>>(iters: usize) -> T {
    // SAFETY: register-only arithmetic on an ISA the caller guarantees.
    unsafe {
        let x = S::splat(std::hint::black_box(T::from_f64(1.0 - 1.0 / (1u64 << 20) as f64)));
        let y = S::splat(std::hint::black_box(T::from_f64(1.0 / (1u64 << 20) as f64)));
        let mut acc = [S::zero(); CHAINS];
        for _ in 0..iters {
            for a in acc.iter_mut() {
                *a = S::mul_add(*a, x, y);
            }
        }
        let mut s = S::zero();
        for a in acc {
            s = S::add(s, a);
        }
        S::reduce_sum(s)
    }
}
