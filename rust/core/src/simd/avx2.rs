//! x86-64-v3 (AVX2 + FMA): 256-bit registers, 8 × f32 or 4 × f64, fused multiply-add.

use std::arch::x86_64::*;

use super::sse::Sse;
use super::Simd;

#[derive(Debug, Clone, Copy)]
pub struct Avx2;

impl Simd<f32> for Avx2 {
    const LANES: usize = 8;
    type V = __m256;

    #[inline(always)]
    unsafe fn positive_mask(v: __m256) -> u64 {
        // SAFETY: AVX is available (module contract).
        unsafe { _mm256_movemask_ps(_mm256_cmp_ps::<_CMP_GT_OQ>(v, _mm256_setzero_ps())) as u32 as u64 }
    }

    #[inline(always)]
    unsafe fn zero() -> __m256 {
        // SAFETY: the caller runs on an AVX2+FMA CPU (module contract).
        unsafe { _mm256_setzero_ps() }
    }
    #[inline(always)]
    unsafe fn splat(x: f32) -> __m256 {
        // SAFETY: the ISA is available (module contract).
        unsafe { _mm256_set1_ps(x) }
    }
    #[inline(always)]
    unsafe fn store(ptr: *mut f32, v: __m256) {
        // SAFETY: the caller guarantees LANES writable elements at `ptr`.
        unsafe { _mm256_storeu_ps(ptr, v) }
    }
    #[inline(always)]
    unsafe fn load(ptr: *const f32) -> __m256 {
        // SAFETY: the caller guarantees 8 readable f32 at `ptr` and AVX support.
        unsafe { _mm256_loadu_ps(ptr) }
    }
    #[inline(always)]
    unsafe fn add(a: __m256, b: __m256) -> __m256 {
        // SAFETY: AVX is available (module contract).
        unsafe { _mm256_add_ps(a, b) }
    }
    #[inline(always)]
    unsafe fn sub(a: __m256, b: __m256) -> __m256 {
        // SAFETY: AVX is available (module contract).
        unsafe { _mm256_sub_ps(a, b) }
    }
    #[inline(always)]
    unsafe fn mul_add(a: __m256, b: __m256, c: __m256) -> __m256 {
        // SAFETY: FMA is available (module contract).
        unsafe { _mm256_fmadd_ps(a, b, c) }
    }
    #[inline(always)]
    unsafe fn mul(a: __m256, b: __m256) -> __m256 {
        // SAFETY: FMA is available (module contract).
        unsafe { _mm256_mul_ps(a, b) }
    }
    #[inline(always)]
    unsafe fn neg_mul_add(a: __m256, b: __m256, c: __m256) -> __m256 {
        // SAFETY: FMA is available (module contract).
        unsafe { _mm256_fnmadd_ps(a, b, c) }
    }
    #[inline(always)]
    unsafe fn transpose(m: &mut [__m256]) {
        // SAFETY: AVX is available (module contract); `m` holds 8 registers (caller).
        unsafe {
            let mut u = [_mm256_setzero_ps(); 8];
            for g in 0..2 {
                let r = &m[4 * g..4 * g + 4];
                let t0 = _mm256_unpacklo_ps(r[0], r[1]);
                let t1 = _mm256_unpackhi_ps(r[0], r[1]);
                let t2 = _mm256_unpacklo_ps(r[2], r[3]);
                let t3 = _mm256_unpackhi_ps(r[2], r[3]);
                u[4 * g] = _mm256_shuffle_ps::<0x44>(t0, t2);
                u[4 * g + 1] = _mm256_shuffle_ps::<0xEE>(t0, t2);
                u[4 * g + 2] = _mm256_shuffle_ps::<0x44>(t1, t3);
                u[4 * g + 3] = _mm256_shuffle_ps::<0xEE>(t1, t3);
            }
            for c in 0..4 {
                m[c] = _mm256_permute2f128_ps::<0x20>(u[c], u[4 + c]);
                m[4 + c] = _mm256_permute2f128_ps::<0x31>(u[c], u[4 + c]);
            }
        }
    }
    #[inline(always)]
    unsafe fn reduce_sum(v: __m256) -> f32 {
        // SAFETY: AVX is available (module contract).
        unsafe {
            let s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps::<1>(v));
            <Sse as Simd<f32>>::reduce_sum(s)
        }
    }
}

impl Simd<f64> for Avx2 {
    const LANES: usize = 4;
    type V = __m256d;

    #[inline(always)]
    unsafe fn zero() -> __m256d {
        // SAFETY: AVX is available (module contract).
        unsafe { _mm256_setzero_pd() }
    }
    #[inline(always)]
    unsafe fn splat(x: f64) -> __m256d {
        // SAFETY: the ISA is available (module contract).
        unsafe { _mm256_set1_pd(x) }
    }
    #[inline(always)]
    unsafe fn store(ptr: *mut f64, v: __m256d) {
        // SAFETY: the caller guarantees LANES writable elements at `ptr`.
        unsafe { _mm256_storeu_pd(ptr, v) }
    }
    #[inline(always)]
    unsafe fn load(ptr: *const f64) -> __m256d {
        // SAFETY: the caller guarantees 4 readable f64 at `ptr` and AVX support.
        unsafe { _mm256_loadu_pd(ptr) }
    }
    #[inline(always)]
    unsafe fn add(a: __m256d, b: __m256d) -> __m256d {
        // SAFETY: AVX is available (module contract).
        unsafe { _mm256_add_pd(a, b) }
    }
    #[inline(always)]
    unsafe fn sub(a: __m256d, b: __m256d) -> __m256d {
        // SAFETY: AVX is available (module contract).
        unsafe { _mm256_sub_pd(a, b) }
    }
    #[inline(always)]
    unsafe fn mul_add(a: __m256d, b: __m256d, c: __m256d) -> __m256d {
        // SAFETY: FMA is available (module contract).
        unsafe { _mm256_fmadd_pd(a, b, c) }
    }
    #[inline(always)]
    unsafe fn mul(a: __m256d, b: __m256d) -> __m256d {
        // SAFETY: FMA is available (module contract).
        unsafe { _mm256_mul_pd(a, b) }
    }
    #[inline(always)]
    unsafe fn neg_mul_add(a: __m256d, b: __m256d, c: __m256d) -> __m256d {
        // SAFETY: FMA is available (module contract).
        unsafe { _mm256_fnmadd_pd(a, b, c) }
    }
    #[inline(always)]
    unsafe fn transpose(m: &mut [__m256d]) {
        // SAFETY: AVX is available (module contract); `m` holds 4 registers (caller).
        unsafe {
            let t0 = _mm256_unpacklo_pd(m[0], m[1]);
            let t1 = _mm256_unpackhi_pd(m[0], m[1]);
            let t2 = _mm256_unpacklo_pd(m[2], m[3]);
            let t3 = _mm256_unpackhi_pd(m[2], m[3]);
            m[0] = _mm256_permute2f128_pd::<0x20>(t0, t2);
            m[1] = _mm256_permute2f128_pd::<0x20>(t1, t3);
            m[2] = _mm256_permute2f128_pd::<0x31>(t0, t2);
            m[3] = _mm256_permute2f128_pd::<0x31>(t1, t3);
        }
    }
    #[inline(always)]
    unsafe fn reduce_sum(v: __m256d) -> f64 {
        // SAFETY: AVX is available (module contract).
        unsafe {
            let s = _mm_add_pd(_mm256_castpd256_pd128(v), _mm256_extractf128_pd::<1>(v));
            <Sse as Simd<f64>>::reduce_sum(s)
        }
    }
}
