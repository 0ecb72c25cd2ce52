//! aarch64 Advanced SIMD (NEON): 128-bit registers, 4 × f32 or 2 × f64, fused
//! multiply-add. Compiled and tested on aarch64 only (the wheels workflow builds it;
//! the x86-64 development machine cannot run it).

use std::arch::aarch64::*;

use super::Simd;

#[derive(Debug, Clone, Copy)]
pub struct Neon;

impl Simd<f32> for Neon {
    const LANES: usize = 4;
    type V = float32x4_t;

    #[inline(always)]
    unsafe fn zero() -> float32x4_t {
        // SAFETY: NEON is available (module contract).
        unsafe { vdupq_n_f32(0.0) }
    }
    #[inline(always)]
    unsafe fn splat(x: f32) -> float32x4_t {
        // SAFETY: the ISA is available (module contract).
        unsafe { vdupq_n_f32(x) }
    }
    #[inline(always)]
    unsafe fn store(ptr: *mut f32, v: float32x4_t) {
        // SAFETY: the caller guarantees LANES writable elements at `ptr`.
        unsafe { vst1q_f32(ptr, v) }
    }
    #[inline(always)]
    unsafe fn load(ptr: *const f32) -> float32x4_t {
        // SAFETY: the caller guarantees 4 readable f32 at `ptr`.
        unsafe { vld1q_f32(ptr) }
    }
    #[inline(always)]
    unsafe fn add(a: float32x4_t, b: float32x4_t) -> float32x4_t {
        // SAFETY: NEON is available (module contract).
        unsafe { vaddq_f32(a, b) }
    }
    #[inline(always)]
    unsafe fn sub(a: float32x4_t, b: float32x4_t) -> float32x4_t {
        // SAFETY: NEON is available (module contract).
        unsafe { vsubq_f32(a, b) }
    }
    #[inline(always)]
    unsafe fn mul_add(a: float32x4_t, b: float32x4_t, c: float32x4_t) -> float32x4_t {
        // SAFETY: NEON is available (module contract).
        unsafe { vfmaq_f32(c, a, b) }
    }
    #[inline(always)]
    unsafe fn mul(a: float32x4_t, b: float32x4_t) -> float32x4_t {
        // SAFETY: NEON is available (module contract).
        unsafe { vmulq_f32(a, b) }
    }
    #[inline(always)]
    unsafe fn neg_mul_add(a: float32x4_t, b: float32x4_t, c: float32x4_t) -> float32x4_t {
        // SAFETY: NEON is available (module contract).
        unsafe { vfmsq_f32(c, a, b) }
    }
    #[inline(always)]
    unsafe fn reduce_sum(v: float32x4_t) -> f32 {
        // SAFETY: NEON is available (module contract).
        unsafe { vaddvq_f32(v) }
    }
}

impl Simd<f64> for Neon {
    const LANES: usize = 2;
    type V = float64x2_t;

    #[inline(always)]
    unsafe fn zero() -> float64x2_t {
        // SAFETY: NEON is available (module contract).
        unsafe { vdupq_n_f64(0.0) }
    }
    #[inline(always)]
    unsafe fn splat(x: f64) -> float64x2_t {
        // SAFETY: the ISA is available (module contract).
        unsafe { vdupq_n_f64(x) }
    }
    #[inline(always)]
    unsafe fn store(ptr: *mut f64, v: float64x2_t) {
        // SAFETY: the caller guarantees LANES writable elements at `ptr`.
        unsafe { vst1q_f64(ptr, v) }
    }
    #[inline(always)]
    unsafe fn load(ptr: *const f64) -> float64x2_t {
        // SAFETY: the caller guarantees 2 readable f64 at `ptr`.
        unsafe { vld1q_f64(ptr) }
    }
    #[inline(always)]
    unsafe fn add(a: float64x2_t, b: float64x2_t) -> float64x2_t {
        // SAFETY: NEON is available (module contract).
        unsafe { vaddq_f64(a, b) }
    }
    #[inline(always)]
    unsafe fn sub(a: float64x2_t, b: float64x2_t) -> float64x2_t {
        // SAFETY: NEON is available (module contract).
        unsafe { vsubq_f64(a, b) }
    }
    #[inline(always)]
    unsafe fn mul_add(a: float64x2_t, b: float64x2_t, c: float64x2_t) -> float64x2_t {
        // SAFETY: NEON is available (module contract).
        unsafe { vfmaq_f64(c, a, b) }
    }
    #[inline(always)]
    unsafe fn mul(a: float64x2_t, b: float64x2_t) -> float64x2_t {
        // SAFETY: NEON is available (module contract).
        unsafe { vmulq_f64(a, b) }
    }
    #[inline(always)]
    unsafe fn neg_mul_add(a: float64x2_t, b: float64x2_t, c: float64x2_t) -> float64x2_t {
        // SAFETY: NEON is available (module contract).
        unsafe { vfmsq_f64(c, a, b) }
    }
    #[inline(always)]
    unsafe fn reduce_sum(v: float64x2_t) -> f64 {
        // SAFETY: NEON is available (module contract).
        unsafe { vaddvq_f64(v) }
    }
}
