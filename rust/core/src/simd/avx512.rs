//! x86-64-v4 (AVX-512 F/BW/VL/DQ): 512-bit registers, 16 × f32 or 8 × f64, fused
//! multiply-add, and masked loads so that tails need no scalar loop.

use std::arch::x86_64::*;

use super::avx2::Avx2;
use super::Simd;

#[derive(Debug, Clone, Copy)]
pub struct Avx512;

impl Simd<f32> for Avx512 {
    const LANES: usize = 16;
    type V = __m512;

    #[inline(always)]
    unsafe fn positive_mask(v: __m512) -> u64 {
        // SAFETY: AVX-512F is available (module contract).
        unsafe { u64::from(_mm512_cmp_ps_mask::<_CMP_GT_OQ>(v, _mm512_setzero_ps())) }
    }

    #[inline(always)]
    unsafe fn zero() -> __m512 {
        // SAFETY: AVX-512F is available (module contract).
        unsafe { _mm512_setzero_ps() }
    }
    #[inline(always)]
    unsafe fn splat(x: f32) -> __m512 {
        // SAFETY: the ISA is available (module contract).
        unsafe { _mm512_set1_ps(x) }
    }
    #[inline(always)]
    unsafe fn store(ptr: *mut f32, v: __m512) {
        // SAFETY: the caller guarantees LANES writable elements at `ptr`.
        unsafe { _mm512_storeu_ps(ptr, v) }
    }
    #[inline(always)]
    unsafe fn store_partial(ptr: *mut f32, n: usize, v: __m512) {
        // SAFETY: masked-off lanes are not written; n < 16.
        unsafe { _mm512_mask_storeu_ps(ptr, ((1u32 << n) - 1) as __mmask16, v) }
    }
    #[inline(always)]
    unsafe fn load(ptr: *const f32) -> __m512 {
        // SAFETY: the caller guarantees 16 readable f32 at `ptr`.
        unsafe { _mm512_loadu_ps(ptr) }
    }
    #[inline(always)]
    unsafe fn load_partial(ptr: *const f32, n: usize) -> __m512 {
        // SAFETY: masked-off lanes are not read (no fault past `ptr + n`); n < 16.
        unsafe { _mm512_maskz_loadu_ps(((1u32 << n) - 1) as __mmask16, ptr) }
    }
    #[inline(always)]
    unsafe fn add(a: __m512, b: __m512) -> __m512 {
        // SAFETY: AVX-512F is available (module contract).
        unsafe { _mm512_add_ps(a, b) }
    }
    #[inline(always)]
    unsafe fn sub(a: __m512, b: __m512) -> __m512 {
        // SAFETY: AVX-512F is available (module contract).
        unsafe { _mm512_sub_ps(a, b) }
    }
    #[inline(always)]
    unsafe fn mul_add(a: __m512, b: __m512, c: __m512) -> __m512 {
        // SAFETY: AVX-512F is available (module contract).
        unsafe { _mm512_fmadd_ps(a, b, c) }
    }
    #[inline(always)]
    unsafe fn mul(a: __m512, b: __m512) -> __m512 {
        // SAFETY: AVX-512F is available (module contract).
        unsafe { _mm512_mul_ps(a, b) }
    }
    #[inline(always)]
    unsafe fn neg_mul_add(a: __m512, b: __m512, c: __m512) -> __m512 {
        // SAFETY: AVX-512F is available (module contract).
        unsafe { _mm512_fnmadd_ps(a, b, c) }
    }
    #[inline(always)]
    unsafe fn transpose(m: &mut [__m512]) {
        // SAFETY: AVX-512F is available (module contract); `m` holds 16 registers.
        unsafe {
            // u[4g + c] holds, in 128-bit lane L, column 4L + c of rows 4g..4g+4.
            let mut u = [_mm512_setzero_ps(); 16];
            for g in 0..4 {
                let r = &m[4 * g..4 * g + 4];
                let t0 = _mm512_unpacklo_ps(r[0], r[1]);
                let t1 = _mm512_unpackhi_ps(r[0], r[1]);
                let t2 = _mm512_unpacklo_ps(r[2], r[3]);
                let t3 = _mm512_unpackhi_ps(r[2], r[3]);
                let pd = _mm512_castps_pd;
                u[4 * g] = _mm512_castpd_ps(_mm512_unpacklo_pd(pd(t0), pd(t2)));
                u[4 * g + 1] = _mm512_castpd_ps(_mm512_unpackhi_pd(pd(t0), pd(t2)));
                u[4 * g + 2] = _mm512_castpd_ps(_mm512_unpacklo_pd(pd(t1), pd(t3)));
                u[4 * g + 3] = _mm512_castpd_ps(_mm512_unpackhi_pd(pd(t1), pd(t3)));
            }
            for c in 0..4 {
                let lo01 = _mm512_shuffle_f32x4::<0x44>(u[c], u[4 + c]);
                let lo23 = _mm512_shuffle_f32x4::<0x44>(u[8 + c], u[12 + c]);
                let hi01 = _mm512_shuffle_f32x4::<0xEE>(u[c], u[4 + c]);
                let hi23 = _mm512_shuffle_f32x4::<0xEE>(u[8 + c], u[12 + c]);
                m[c] = _mm512_shuffle_f32x4::<0x88>(lo01, lo23);
                m[4 + c] = _mm512_shuffle_f32x4::<0xDD>(lo01, lo23);
                m[8 + c] = _mm512_shuffle_f32x4::<0x88>(hi01, hi23);
                m[12 + c] = _mm512_shuffle_f32x4::<0xDD>(hi01, hi23);
            }
        }
    }
    #[inline(always)]
    unsafe fn reduce_sum(v: __m512) -> f32 {
        // SAFETY: AVX-512F/DQ are available (module contract).
        unsafe {
            let lo = _mm512_castps512_ps256(v);
            let hi = _mm256_castpd_ps(_mm512_extractf64x4_pd::<1>(_mm512_castps_pd(v)));
            <Avx2 as Simd<f32>>::reduce_sum(_mm256_add_ps(lo, hi))
        }
    }
}

impl Simd<f64> for Avx512 {
    const LANES: usize = 8;
    type V = __m512d;

    #[inline(always)]
    unsafe fn zero() -> __m512d {
        // SAFETY: AVX-512F is available (module contract).
        unsafe { _mm512_setzero_pd() }
    }
    #[inline(always)]
    unsafe fn splat(x: f64) -> __m512d {
        // SAFETY: the ISA is available (module contract).
        unsafe { _mm512_set1_pd(x) }
    }
    #[inline(always)]
    unsafe fn store(ptr: *mut f64, v: __m512d) {
        // SAFETY: the caller guarantees LANES writable elements at `ptr`.
        unsafe { _mm512_storeu_pd(ptr, v) }
    }
    #[inline(always)]
    unsafe fn store_partial(ptr: *mut f64, n: usize, v: __m512d) {
        // SAFETY: masked-off lanes are not written; n < 8.
        unsafe { _mm512_mask_storeu_pd(ptr, ((1u32 << n) - 1) as __mmask8, v) }
    }
    #[inline(always)]
    unsafe fn load(ptr: *const f64) -> __m512d {
        // SAFETY: the caller guarantees 8 readable f64 at `ptr`.
        unsafe { _mm512_loadu_pd(ptr) }
    }
    #[inline(always)]
    unsafe fn load_partial(ptr: *const f64, n: usize) -> __m512d {
        // SAFETY: masked-off lanes are not read (no fault past `ptr + n`); n < 8.
        unsafe { _mm512_maskz_loadu_pd(((1u32 << n) - 1) as __mmask8, ptr) }
    }
    #[inline(always)]
    unsafe fn add(a: __m512d, b: __m512d) -> __m512d {
        // SAFETY: AVX-512F is available (module contract).
        unsafe { _mm512_add_pd(a, b) }
    }
    #[inline(always)]
    unsafe fn sub(a: __m512d, b: __m512d) -> __m512d {
        // SAFETY: AVX-512F is available (module contract).
        unsafe { _mm512_sub_pd(a, b) }
    }
    #[inline(always)]
    unsafe fn mul_add(a: __m512d, b: __m512d, c: __m512d) -> __m512d {
        // SAFETY: AVX-512F is available (module contract).
        unsafe { _mm512_fmadd_pd(a, b, c) }
    }
    #[inline(always)]
    unsafe fn mul(a: __m512d, b: __m512d) -> __m512d {
        // SAFETY: AVX-512F is available (module contract).
        unsafe { _mm512_mul_pd(a, b) }
    }
    #[inline(always)]
    unsafe fn neg_mul_add(a: __m512d, b: __m512d, c: __m512d) -> __m512d {
        // SAFETY: AVX-512F is available (module contract).
        unsafe { _mm512_fnmadd_pd(a, b, c) }
    }
    #[inline(always)]
    unsafe fn transpose(m: &mut [__m512d]) {
        // SAFETY: AVX-512F is available (module contract); `m` holds 8 registers.
        unsafe {
            // s[4g + c]: columns c and c + 4 (c even/odd as below) of rows 4g..4g+4.
            let lo = _mm512_set_epi64(13, 12, 5, 4, 9, 8, 1, 0);
            let hi = _mm512_set_epi64(15, 14, 7, 6, 11, 10, 3, 2);
            let mut s = [_mm512_setzero_pd(); 8];
            for g in 0..2 {
                let r = &m[4 * g..4 * g + 4];
                let t0 = _mm512_unpacklo_pd(r[0], r[1]);
                let t1 = _mm512_unpackhi_pd(r[0], r[1]);
                let t2 = _mm512_unpacklo_pd(r[2], r[3]);
                let t3 = _mm512_unpackhi_pd(r[2], r[3]);
                s[4 * g] = _mm512_permutex2var_pd(t0, lo, t2); // columns 0, 4
                s[4 * g + 1] = _mm512_permutex2var_pd(t0, hi, t2); // columns 2, 6
                s[4 * g + 2] = _mm512_permutex2var_pd(t1, lo, t3); // columns 1, 5
                s[4 * g + 3] = _mm512_permutex2var_pd(t1, hi, t3); // columns 3, 7
            }
            for (i, col) in [0, 2, 1, 3].into_iter().enumerate() {
                m[col] = _mm512_shuffle_f64x2::<0x44>(s[i], s[4 + i]);
                m[col + 4] = _mm512_shuffle_f64x2::<0xEE>(s[i], s[4 + i]);
            }
        }
    }
    #[inline(always)]
    unsafe fn reduce_sum(v: __m512d) -> f64 {
        // SAFETY: AVX-512F is available (module contract).
        unsafe {
            let s = _mm256_add_pd(_mm512_castpd512_pd256(v), _mm512_extractf64x4_pd::<1>(v));
            <Avx2 as Simd<f64>>::reduce_sum(s)
        }
    }
}
