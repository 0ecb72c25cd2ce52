//! A thin vector abstraction, one zero-sized type per instruction set.
//!
//! Kernels, in core's [`crate::kernels`] and in the crates that own theirs (linalg,
//! signal, ...), are written once, generic over [`Simd<T>`], and marked
//! `#[inline(always)]`. [`crate::per_tier!`] instantiates each one inside a
//! `#[target_feature]` function per tier, so the intrinsics below are inlined and
//! compiled for that tier (the pattern the `memchr` crate uses). Calling a method of
//! an ISA type is only sound on a CPU that has its features, which the tables of
//! [`crate::dispatch::TierTables`] guarantee by construction.

use crate::element::Float;

pub mod scalar;

#[cfg(target_arch = "x86_64")]
pub mod avx2;
#[cfg(target_arch = "x86_64")]
pub mod avx512;
#[cfg(target_arch = "x86_64")]
pub mod sse;

#[cfg(target_arch = "aarch64")]
pub mod neon;

/// Lane-wise operations on a SIMD register of `T`.
///
/// # Safety
/// Every method is `unsafe`: the caller must run on a CPU with the implementing
/// type's target features, and pointers must be valid for the stated reads. (That
/// one contract covers every method, so the methods carry no section of their own.)
#[allow(clippy::missing_safety_doc)]
pub trait Simd<T: Float>: Copy {
    /// Elements per register.
    const LANES: usize;
    type V: Copy;

    unsafe fn zero() -> Self::V;
    /// Every lane set to `x`.
    unsafe fn splat(x: T) -> Self::V;
    /// Loads `LANES` elements from `ptr` (no alignment needed).
    unsafe fn load(ptr: *const T) -> Self::V;
    /// Loads `n < LANES` elements from `ptr`, zero in the other lanes; reads nothing past `ptr + n`.
    #[inline(always)]
    unsafe fn load_partial(ptr: *const T, n: usize) -> Self::V {
        let mut buf = [T::ZERO; 16];
        // SAFETY: the caller guarantees `ptr` is valid for `n` reads and `n < LANES <= 16`.
        unsafe {
            std::ptr::copy_nonoverlapping(ptr, buf.as_mut_ptr(), n);
            Self::load(buf.as_ptr())
        }
    }
    /// Stores `LANES` elements at `ptr` (no alignment needed).
    unsafe fn store(ptr: *mut T, v: Self::V);
    /// Stores the first `n < LANES` lanes at `ptr`; writes nothing past `ptr + n`.
    #[inline(always)]
    unsafe fn store_partial(ptr: *mut T, n: usize, v: Self::V) {
        let mut buf = [T::ZERO; 16];
        // SAFETY: `buf` holds 16 >= LANES elements; the caller guarantees `ptr` is
        // valid for `n` writes.
        unsafe {
            Self::store(buf.as_mut_ptr(), v);
            std::ptr::copy_nonoverlapping(buf.as_ptr(), ptr, n);
        }
    }
    unsafe fn add(a: Self::V, b: Self::V) -> Self::V;
    unsafe fn sub(a: Self::V, b: Self::V) -> Self::V;
    /// `a * b + c`, fused (one rounding) where the ISA has FMA.
    unsafe fn mul_add(a: Self::V, b: Self::V, c: Self::V) -> Self::V;
    unsafe fn mul(a: Self::V, b: Self::V) -> Self::V;
    /// `c - a * b`, fused where the ISA has FMA.
    unsafe fn neg_mul_add(a: Self::V, b: Self::V, c: Self::V) -> Self::V;
    /// Transposes the `LANES × LANES` matrix whose rows are `m[0..LANES]` in place
    /// (afterwards lane `j` of `m[i]` is what lane `i` of `m[j]` was). The default goes
    /// through memory; the x86 tiers override it with register shuffles.
    #[inline(always)]
    unsafe fn transpose(m: &mut [Self::V]) {
        let l = Self::LANES;
        debug_assert!(m.len() == l && l <= 16);
        let mut a = [T::ZERO; 256];
        let mut b = [T::ZERO; 256];
        // SAFETY: `a` and `b` hold 256 >= LANES² values.
        unsafe {
            for (i, v) in m.iter().enumerate() {
                Self::store(a.as_mut_ptr().add(i * l), *v);
            }
            for i in 0..l {
                for j in 0..l {
                    b[j * l + i] = a[i * l + j];
                }
            }
            for (i, v) in m.iter_mut().enumerate() {
                *v = Self::load(b.as_ptr().add(i * l));
            }
        }
    }
    /// Sum of all lanes (pairwise tree).
    unsafe fn reduce_sum(v: Self::V) -> T;
    /// Bit `l` set iff lane `l` is `> 0` (false for NaN and for both zeros): the
    /// sign-and-pack step of hdc's encoders. The default goes through memory; the
    /// x86 tiers override it with a compare into a mask.
    #[inline(always)]
    unsafe fn positive_mask(v: Self::V) -> u64 {
        let mut buf = [T::ZERO; 16];
        // SAFETY: `buf` holds 16 >= LANES elements.
        unsafe { Self::store(buf.as_mut_ptr(), v) };
        let mut m = 0u64;
        for (l, x) in buf.iter().take(Self::LANES).enumerate() {
            m |= u64::from(*x > T::ZERO) << l;
        }
        m
    }
}

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
