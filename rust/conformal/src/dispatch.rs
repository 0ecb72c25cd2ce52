//! conformal's kernel table: the kernels of [`crate::kernels`] compiled once per
//! tier with [`mlkern_core::per_tier!`] (each behind its tier's
//! `#[target_feature]`, so LLVM vectorises them at that tier's width).

use mlkern_core::Tier;

use crate::Regularization;

pub use crate::kernels::RowProblem;

/// `(p, k, tol)` → the first invalid row and why (see `kernels::first_bad_row`).
pub type FirstBadRowFn<T> = fn(&[T], usize, f64) -> Option<(usize, RowProblem)>;

/// conformal's kernels for one element type at one tier (see `kernels.rs`).
#[derive(Debug)]
pub struct ElemKernels<T: 'static> {
    /// `(p, k, tol)`: the first invalid row of `p` and why.
    pub first_bad_row: FirstBadRowFn<T>,
    /// `(p, cutoff, out)`: `out[j] = p[j] − cutoff ≥ −ε` over `min(len)` entries.
    pub at_least: fn(&[T], f64, &mut [u8]),
    /// `(p, q, out)`: `out[j] = (1 − p[j]) − q ≤ ε`.
    pub lac_scalar: fn(&[T], f64, &mut [u8]),
    /// `(p, q, out)`: `out[j] = (1 − p[j]) − q[j] ≤ ε`.
    pub lac_each: fn(&[T], &[f64], &mut [u8]),
    /// `(p, ranks)`: the decreasing-order rank of each label (`K ≤ 32` rows).
    pub desc_ranks: fn(&[T], &mut [u32]),
    /// `(p, q, reg, scratch)`: the APS/RAPS cut `p_last` of a long row by selection,
    /// or `None` when too close to call (see `kernels::aps_cut`).
    pub aps_cut: ApsCutFn<T>,
    /// Hand-written whole-row kernels where the tier has them (x86-64-v4).
    pub rows: Option<&'static RowKernels<T>>,
}

impl<T> ElemKernels<T> {
    /// The row validator: the hand-written one where the tier has it.
    pub fn validator(&self) -> FirstBadRowFn<T> {
        self.rows.map_or(self.first_bad_row, |r| r.first_bad_row)
    }
}

/// `(p, k, q, out, argmax)` → LAC sets of `p`'s rows, validated in the same pass;
/// `argmax` empty or one per row. Returns the first invalid row.
pub type LacRowsFn<T> = fn(&[T], usize, f64, &mut [u8], &mut [i64]) -> Option<(usize, RowProblem)>;

/// `(p, k, thresholds, reg, out, argmax, undecided)` → APS/RAPS sets of rows of
/// `K ≤ 16`, validated in the same pass; rows too close to call go to `undecided`
/// (unwritten). Returns the first invalid row.
pub type ApsRowsFn<T> =
    fn(&[T], usize, &[f64], Regularization, &mut [u8], &mut [i64], &mut Vec<usize>) -> Option<(usize, RowProblem)>;

/// The largest `K` [`RowKernels::aps_rows`] takes.
pub const APS_ROWS_MAX_K: usize = 16;

/// Whole-row kernels written by hand for one tier (see `avx512.rs`).
#[derive(Debug)]
pub struct RowKernels<T: 'static> {
    /// As [`ElemKernels::first_bad_row`].
    pub first_bad_row: FirstBadRowFn<T>,
    pub lac_rows: LacRowsFn<T>,
    pub aps_rows: ApsRowsFn<T>,
}

/// The hand-written row kernels of a tier's ISA, if it has any.
trait RowsOf {
    const F32: Option<&'static RowKernels<f32>> = None;
    const F64: Option<&'static RowKernels<f64>> = None;
}

impl RowsOf for mlkern_core::simd::scalar::Scalar {}
#[cfg(target_arch = "x86_64")]
impl RowsOf for mlkern_core::simd::sse::Sse {}
#[cfg(target_arch = "x86_64")]
impl RowsOf for mlkern_core::simd::avx2::Avx2 {}
#[cfg(target_arch = "x86_64")]
impl RowsOf for mlkern_core::simd::avx512::Avx512 {
    const F32: Option<&'static RowKernels<f32>> = Some(&crate::avx512::ROWS_F32);
    const F64: Option<&'static RowKernels<f64>> = Some(&crate::avx512::ROWS_F64);
}
#[cfg(target_arch = "aarch64")]
impl RowsOf for mlkern_core::simd::neon::Neon {}

/// See [`ElemKernels::aps_cut`].
pub type ApsCutFn<T> = fn(&[T], f64, Regularization, &mut Vec<f64>) -> Option<f64>;

/// conformal's kernels of one tier.
#[derive(Debug)]
pub struct Kernels {
    pub tier: Tier,
    pub f32: ElemKernels<f32>,
    pub f64: ElemKernels<f64>,
}

macro_rules! conformal_tier {
    ($module:ident, $tier:expr, $isa:ty, $features:literal) => {
        mod $module {
            use super::*;
            use crate::kernels;

            macro_rules! elem {
                ($t:ty, $bad:ident, $bad_k:ident, $al:ident, $al_k:ident, $ls:ident, $ls_k:ident, $le:ident, $le_k:ident, $dr:ident, $dr_k:ident, $ac:ident, $ac_k:ident) => {
                    #[target_feature(enable = $features)]
                    fn $ac_k(p: &[$t], t: f64, reg: Regularization, w: &mut Vec<f64>) -> Option<f64> {
                        kernels::aps_cut(p, t, reg, w)
                    }
                    fn $ac(p: &[$t], t: f64, reg: Regularization, w: &mut Vec<f64>) -> Option<f64> {
                        // SAFETY: as for the kernels below.
                        unsafe { $ac_k(p, t, reg, w) }
                    }
                    #[target_feature(enable = $features)]
                    fn $dr_k(p: &[$t], ranks: &mut [u32]) {
                        kernels::desc_ranks(p, ranks)
                    }
                    fn $dr(p: &[$t], ranks: &mut [u32]) {
                        // SAFETY: as for the kernels below.
                        unsafe { $dr_k(p, ranks) }
                    }
                    #[target_feature(enable = $features)]
                    fn $bad_k(p: &[$t], k: usize, tol: f64) -> Option<(usize, RowProblem)> {
                        kernels::first_bad_row(p, k, tol)
                    }
                    fn $bad(p: &[$t], k: usize, tol: f64) -> Option<(usize, RowProblem)> {
                        // SAFETY: the table holding this wrapper is only handed out on
                        // CPUs with the tier's features; the kernel is safe Rust.
                        unsafe { $bad_k(p, k, tol) }
                    }
                    #[target_feature(enable = $features)]
                    fn $al_k(p: &[$t], cutoff: f64, out: &mut [u8]) {
                        kernels::at_least(p, cutoff, out)
                    }
                    fn $al(p: &[$t], cutoff: f64, out: &mut [u8]) {
                        // SAFETY: as above.
                        unsafe { $al_k(p, cutoff, out) }
                    }
                    #[target_feature(enable = $features)]
                    fn $ls_k(p: &[$t], q: f64, out: &mut [u8]) {
                        kernels::lac_scalar(p, q, out)
                    }
                    fn $ls(p: &[$t], q: f64, out: &mut [u8]) {
                        // SAFETY: as above.
                        unsafe { $ls_k(p, q, out) }
                    }
                    #[target_feature(enable = $features)]
                    fn $le_k(p: &[$t], q: &[f64], out: &mut [u8]) {
                        kernels::lac_each(p, q, out)
                    }
                    fn $le(p: &[$t], q: &[f64], out: &mut [u8]) {
                        // SAFETY: as above.
                        unsafe { $le_k(p, q, out) }
                    }
                };
            }
            elem!(f32, bad32, bad32_k, al32, al32_k, ls32, ls32_k, le32, le32_k, dr32, dr32_k, ac32, ac32_k);
            elem!(f64, bad64, bad64_k, al64, al64_k, ls64, ls64_k, le64, le64_k, dr64, dr64_k, ac64, ac64_k);

            pub(super) static TABLE: Kernels = Kernels {
                tier: $tier,
                f32: ElemKernels {
                    first_bad_row: bad32, at_least: al32, lac_scalar: ls32, lac_each: le32, desc_ranks: dr32, aps_cut: ac32,
                    rows: <$isa as RowsOf>::F32,
                },
                f64: ElemKernels {
                    first_bad_row: bad64, at_least: al64, lac_scalar: ls64, lac_each: le64, desc_ranks: dr64, aps_cut: ac64,
                    rows: <$isa as RowsOf>::F64,
                },
            };
        }
    };
}

// `unsafe`: every kernel in a tier's table is behind that tier's `$features` above.
mlkern_core::per_tier!(unsafe conformal_tier =>
    /// conformal's kernels, one table per tier of this architecture.
    pub static TABLES: Kernels);

/// conformal's table of `tier`, if this CPU supports it.
pub fn for_tier(tier: Tier) -> Option<&'static Kernels> {
    TABLES.for_tier(tier)
}
