//! Kernels written once over [`crate::simd::Simd`]; [`crate::dispatch`] instantiates
//! them per tier. Each file's header states the algorithm, how it accumulates, and
//! its error bound; `tests/tiers.rs` checks every tier against those bounds.

pub(crate) mod compensated;
pub(crate) mod correlate;
pub(crate) mod gemm;
pub(crate) mod peak;
pub(crate) mod reduce;
pub mod rfft;
pub mod spmm;
pub(crate) mod tile;

/// Asks the CPU to bring the cache line holding `ptr` into L1 (`prefetcht0` on
/// x86-64; nothing elsewhere). A hint: it never faults, so `ptr` may point anywhere.
#[inline(always)]
pub fn prefetch<T>(ptr: *const T) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: a prefetch neither faults nor changes memory, whatever the address.
    unsafe {
        use std::arch::x86_64::{_mm_prefetch, _MM_HINT_T0};
        _mm_prefetch::<_MM_HINT_T0>(ptr as *const i8);
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = ptr;
}
