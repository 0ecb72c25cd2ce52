//! x86-64-v2 (SSE2..SSE4.2): 128-bit registers, 4 × f32 or 2 × f64, no FMA.

use std::arch::x86_64::*;

use super::Simd;

#[derive(Debug, Clone, Copy)]
pub struct Sse;

impl Simd<f32> for Sse {
    const LANES: usize = 4;
    type V = __m128;

    #[inline(always)]
    unsafe fn positive_mask(v: __m128) -> u64 {
        // SAFETY: SSE is available (module contract).
        unsafe { _mm_movemask_ps(_mm_cmpgt_ps(v, _mm_setzero_ps())) as u32 as u64 }
    }

    #[inline(always)]
    unsafe fn zero() -> __m128 {
        // SAFETY: SSE2 is part of every x86-64 CPU.
        unsafe { _mm_setzero_ps() }
    }
    #[inline(always)]
    unsafe fn splat(x: f32) -> __m128 {
        // SAFETY: the ISA is available (module contract).
        unsafe { _mm_set1_ps(x) }
    }
    #[inline(always)]
    unsafe fn store(ptr: *mut f32, v: __m128) {
        // SAFETY: the caller guarantees LANES writable elements at `ptr`.
        unsafe { _mm_storeu_ps(ptr, v) }
    }
    #[inline(always)]
    unsafe fn load(ptr: *const f32) -> __m128 {
        // SAFETY: the caller guarantees 4 readable f32 at `ptr`.
        unsafe { _mm_loadu_ps(ptr) }
    }
    #[inline(always)]
    unsafe fn add(a: __m128, b: __m128) -> __m128 {
        // SAFETY: SSE is baseline on x86-64.
        unsafe { _mm_add_ps(a, b) }
    }
    #[inline(always)]
    unsafe fn sub(a: __m128, b: __m128) -> __m128 {
        // SAFETY: SSE is baseline on x86-64.
        unsafe { _mm_sub_ps(a, b) }
    }
    #[inline(always)]
    unsafe fn mul_add(a: __m128, b: __m128, c: __m128) -> __m128 {
        // SAFETY: SSE is baseline on x86-64.
        unsafe { _mm_add_ps(_mm_mul_ps(a, b), c) }
    }
    #[inline(always)]
    unsafe fn mul(a: __m128, b: __m128) -> __m128 {
        // SAFETY: SSE is baseline on x86-64.
        unsafe { _mm_mul_ps(a, b) }
    }
    #[inline(always)]
    unsafe fn neg_mul_add(a: __m128, b: __m128, c: __m128) -> __m128 {
        // SAFETY: SSE is baseline on x86-64.
        unsafe { _mm_sub_ps(c, _mm_mul_ps(a, b)) }
    }
    #[inline(always)]
    unsafe fn transpose(m: &mut [__m128]) {
        // SAFETY: SSE is baseline on x86-64; `m` holds 4 registers (caller).
        unsafe {
            let t0 = _mm_unpacklo_ps(m[0], m[1]);
            let t1 = _mm_unpacklo_ps(m[2], m[3]);
            let t2 = _mm_unpackhi_ps(m[0], m[1]);
            let t3 = _mm_unpackhi_ps(m[2], m[3]);
            m[0] = _mm_movelh_ps(t0, t1);
            m[1] = _mm_movehl_ps(t1, t0);
            m[2] = _mm_movelh_ps(t2, t3);
            m[3] = _mm_movehl_ps(t3, t2);
        }
    }
    #[inline(always)]
    unsafe fn reduce_sum(v: __m128) -> f32 {
        // SAFETY: SSE is baseline on x86-64.
        unsafe {
            let hi = _mm_movehl_ps(v, v); // [v2, v3, v2, v3]
            let s = _mm_add_ps(v, hi); // [v0+v2, v1+v3, ..]
            let s1 = _mm_shuffle_ps::<0b01>(s, s);
            _mm_cvtss_f32(_mm_add_ss(s, s1))
        }
    }
}

impl Simd<f64> for Sse {
    const LANES: usize = 2;
    type V = __m128d;

    #[inline(always)]
    unsafe fn zero() -> __m128d {
        // SAFETY: SSE2 is baseline on x86-64.
        unsafe { _mm_setzero_pd() }
    }
    #[inline(always)]
    unsafe fn splat(x: f64) -> __m128d {
        // SAFETY: the ISA is available (module contract).
        unsafe { _mm_set1_pd(x) }
    }
    #[inline(always)]
    unsafe fn store(ptr: *mut f64, v: __m128d) {
        // SAFETY: the caller guarantees LANES writable elements at `ptr`.
        unsafe { _mm_storeu_pd(ptr, v) }
    }
    #[inline(always)]
    unsafe fn load(ptr: *const f64) -> __m128d {
        // SAFETY: the caller guarantees 2 readable f64 at `ptr`.
        unsafe { _mm_loadu_pd(ptr) }
    }
    #[inline(always)]
    unsafe fn add(a: __m128d, b: __m128d) -> __m128d {
        // SAFETY: SSE2 is baseline on x86-64.
        unsafe { _mm_add_pd(a, b) }
    }
    #[inline(always)]
    unsafe fn sub(a: __m128d, b: __m128d) -> __m128d {
        // SAFETY: SSE2 is baseline on x86-64.
        unsafe { _mm_sub_pd(a, b) }
    }
    #[inline(always)]
    unsafe fn mul_add(a: __m128d, b: __m128d, c: __m128d) -> __m128d {
        // SAFETY: SSE2 is baseline on x86-64.
        unsafe { _mm_add_pd(_mm_mul_pd(a, b), c) }
    }
    #[inline(always)]
    unsafe fn mul(a: __m128d, b: __m128d) -> __m128d {
        // SAFETY: SSE2 is baseline on x86-64.
        unsafe { _mm_mul_pd(a, b) }
    }
    #[inline(always)]
    unsafe fn neg_mul_add(a: __m128d, b: __m128d, c: __m128d) -> __m128d {
        // SAFETY: SSE2 is baseline on x86-64.
        unsafe { _mm_sub_pd(c, _mm_mul_pd(a, b)) }
    }
    #[inline(always)]
    unsafe fn transpose(m: &mut [__m128d]) {
        // SAFETY: SSE2 is baseline on x86-64; `m` holds 2 registers (caller).
        unsafe {
            let (a, b) = (m[0], m[1]);
            m[0] = _mm_unpacklo_pd(a, b);
            m[1] = _mm_unpackhi_pd(a, b);
        }
    }
    #[inline(always)]
    unsafe fn reduce_sum(v: __m128d) -> f64 {
        // SAFETY: SSE2 is baseline on x86-64.
        unsafe { _mm_cvtsd_f64(_mm_add_sd(v, _mm_unpackhi_pd(v, v))) }
    }
}
