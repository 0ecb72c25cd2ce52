//! The scalar "ISA": one lane, plain Rust arithmetic, no fused multiply-add (a
//! software `mul_add` would be slow on baseline x86-64). The kernels keep several
//! independent accumulators, so the compiler may still overlap them.

use super::Simd;
use crate::element::Float;

#[derive(Debug, Clone, Copy)]
pub struct Scalar;

impl<T: Float> Simd<T> for Scalar {
    const LANES: usize = 1;
    type V = T;

    #[inline(always)]
    unsafe fn zero() -> T {
        T::ZERO
    }
    #[inline(always)]
    unsafe fn splat(x: T) -> T {
        x
    }
    #[inline(always)]
    unsafe fn store(ptr: *mut T, v: T) {
        // SAFETY: the caller guarantees `ptr` is valid for one write.
        unsafe { ptr.write_unaligned(v) }
    }
    #[inline(always)]
    unsafe fn store_partial(_ptr: *mut T, _n: usize, _v: T) {
        // n < LANES = 1: nothing to write.
    }
    #[inline(always)]
    unsafe fn load(ptr: *const T) -> T {
        // SAFETY: the caller guarantees `ptr` is valid for one read.
        unsafe { ptr.read_unaligned() }
    }
    #[inline(always)]
    unsafe fn load_partial(_ptr: *const T, _n: usize) -> T {
        // n < LANES = 1, so nothing is read.
        T::ZERO
    }
    #[inline(always)]
    unsafe fn add(a: T, b: T) -> T {
        a + b
    }
    #[inline(always)]
    unsafe fn sub(a: T, b: T) -> T {
        a - b
    }
    #[inline(always)]
    unsafe fn mul_add(a: T, b: T, c: T) -> T {
        a * b + c
    }
    #[inline(always)]
    unsafe fn mul(a: T, b: T) -> T {
        a * b
    }
    #[inline(always)]
    unsafe fn neg_mul_add(a: T, b: T, c: T) -> T {
        c - a * b
    }
    #[inline(always)]
    unsafe fn reduce_sum(v: T) -> T {
        v
    }
}
