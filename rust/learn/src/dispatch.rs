//! learn's kernel table: the kernels of [`crate::kernels`] compiled once per tier
//! with [`mlkern_core::per_tier!`] (each behind its tier's `#[target_feature]`, so
//! the `Simd` calls inline and the float64 pointwise loops of `math.rs` vectorise
//! at the tier's width).

use mlkern_core::Tier;

use crate::kernels::{ChunkState, LogisticChunk, Output};

/// `(x, d, coef, intercept, mode, out)` → first non-finite row (see
/// [`crate::kernels::linear_predict`]).
pub type LinearPredictFn<T> = fn(&[T], usize, &[T], &[f64], Output, &mut [T]) -> Option<usize>;

/// See [`crate::kernels::logistic_chunk`].
pub type LogisticChunkFn<T> = fn(&LogisticChunk<'_, T>, &mut ChunkState<T>);

/// learn's kernels for one element type at one tier.
#[derive(Debug)]
pub struct ElemKernels<T: 'static> {
    /// See [`crate::kernels::logistic_chunk`].
    pub logistic_chunk: LogisticChunkFn<T>,
    pub linear_predict: LinearPredictFn<T>,
}

/// learn's kernels of one tier.
#[derive(Debug)]
pub struct Kernels {
    pub tier: Tier,
    pub f32: ElemKernels<f32>,
    pub f64: ElemKernels<f64>,
}

macro_rules! learn_tier {
    ($module:ident, $tier:expr, $isa:ty, $features:literal) => {
        mod $module {
            use super::*;
            use crate::kernels;

            macro_rules! elem {
                ($t:ty, $lc:ident, $lc_k:ident, $lp:ident, $lp_k:ident) => {
                    #[target_feature(enable = $features)]
                    fn $lc_k(c: &LogisticChunk<'_, $t>, st: &mut ChunkState<$t>) {
                        // SAFETY: this function carries the tier's features.
                        unsafe { kernels::logistic_chunk::<$t, $isa>(c, st) }
                    }
                    fn $lc(c: &LogisticChunk<'_, $t>, st: &mut ChunkState<$t>) {
                        // SAFETY: the table holding this wrapper is handed out only on
                        // CPUs with the tier's features.
                        unsafe { $lc_k(c, st) }
                    }
                    #[target_feature(enable = $features)]
                    fn $lp_k(x: &[$t], d: usize, w: &[$t], b: &[f64], m: Output, out: &mut [$t]) -> Option<usize> {
                        // SAFETY: this function carries the tier's features.
                        unsafe { kernels::linear_predict::<$t, $isa>(x, d, w, b, m, out) }
                    }
                    fn $lp(x: &[$t], d: usize, w: &[$t], b: &[f64], m: Output, out: &mut [$t]) -> Option<usize> {
                        // SAFETY: as above.
                        unsafe { $lp_k(x, d, w, b, m, out) }
                    }
                };
            }
            elem!(f32, lc32, lc32_k, lp32, lp32_k);
            elem!(f64, lc64, lc64_k, lp64, lp64_k);

            pub(super) static TABLE: Kernels = Kernels {
                tier: $tier,
                f32: ElemKernels { logistic_chunk: lc32, linear_predict: lp32 },
                f64: ElemKernels { logistic_chunk: lc64, linear_predict: lp64 },
            };
        }
    };
}

// SAFETY: every function in a tier's TABLE calls only kernels compiled for that
// tier's features (or portable code).
mlkern_core::per_tier!(unsafe learn_tier => pub static TABLES: Kernels);

/// Element types of learn's kernels (`f32`, `f64`).
pub trait LearnFloat: mlkern_linalg::Scalar + mlkern_core::Float {
    /// This type's kernels in one of learn's tables.
    fn select_learn(k: &'static Kernels) -> &'static ElemKernels<Self>;
}
impl LearnFloat for f32 {
    fn select_learn(k: &'static Kernels) -> &'static ElemKernels<f32> {
        &k.f32
    }
}
impl LearnFloat for f64 {
    fn select_learn(k: &'static Kernels) -> &'static ElemKernels<f64> {
        &k.f64
    }
}

/// The active tier's kernels for `T`.
pub fn kernels<T: LearnFloat>() -> &'static ElemKernels<T> {
    T::select_learn(TABLES.active())
}

/// Tier `tier`'s kernels for `T`, if this CPU supports the tier (for tests).
pub fn kernels_for<T: LearnFloat>(tier: Tier) -> Option<&'static ElemKernels<T>> {
    TABLES.for_tier(tier).map(T::select_learn)
}

/// The table of `tier`, if this CPU supports it (for tests and benchmarks).
pub fn for_tier(tier: Tier) -> Option<&'static Kernels> {
    TABLES.for_tier(tier)
}
