//! signal's kernel table: the direct correlation and the batched real FFT of every
//! tier, instantiated with [`mlkern_core::per_tier!`] (see `mlkern_core::dispatch`
//! for why the safe wrappers below are sound).

use mlkern_core::Tier;

use crate::kernels::rfft::RfftPlan;

/// Valid correlation `out[i] = Σ_j a[i + j] w[j]` (see `kernels/correlate.rs`).
pub type CorrelateFn<T> = fn(&[T], &[T], &mut [T]);

/// Real FFT of up to `lanes` rows (see `kernels/rfft`), arguments
/// `(plan, src, ld_src, n_read, rows, scale, work, out, ld_out, next, next_rows)`:
/// row `r` reads `src[r·ld_src..][..n_read]` (zero-padded to the plan's `n`) and
/// writes `n/2 + 1` interleaved complex values times `scale` to `out[r·ld_out..]`;
/// the first `next_rows` rows of `next` (same layout) are prefetched for the next call.
pub type RfftFn<T> = fn(&RfftPlan<T>, &[T], usize, usize, usize, T, &mut [T], &mut [T], usize, &[T], usize);

/// A tier's batched real FFT and its batch width.
#[derive(Debug, Clone, Copy)]
pub struct RfftLanes<T: 'static> {
    /// Rows per call (the tier's lanes).
    pub lanes: usize,
    pub run: RfftFn<T>,
}

/// signal's kernels for one element type at one tier.
#[derive(Debug)]
pub struct ElemKernels<T: 'static> {
    /// Direct valid correlation. Writes the first `min(out.len(), a.len() + 1 - w.len())`
    /// outputs (all of them when `a.len() >= out.len() + w.len() - 1`); an empty `w`
    /// gives zeros.
    pub correlate_valid: CorrelateFn<T>,
    /// Batched real FFT for power-of-two lengths up to `kernels::rfft::MAX_LEN`.
    pub rfft: RfftLanes<T>,
}

/// signal's kernels of one tier.
#[derive(Debug)]
pub struct Kernels {
    pub tier: Tier,
    pub f32: ElemKernels<f32>,
    pub f64: ElemKernels<f64>,
}

macro_rules! signal_tier {
    ($module:ident, $tier:expr, $isa:ty, $features:literal) => {
        mod $module {
            use super::*;
            use crate::kernels::{correlate, rfft};
            use mlkern_core::simd::Simd;

            macro_rules! correlate_with_features {
                ($name:ident, $safe:ident, $t:ty) => {
                    #[target_feature(enable = $features)]
                    unsafe fn $name(a: &[$t], w: &[$t], out: &mut [$t]) {
                        // SAFETY: features enabled here; lengths checked by the caller.
                        unsafe { correlate::correlate_valid::<$t, $isa>(a, w, out) }
                    }
                    fn $safe(a: &[$t], w: &[$t], out: &mut [$t]) {
                        if w.is_empty() || a.len() < w.len() {
                            out.fill(0.0);
                            return;
                        }
                        let n = out.len().min(a.len() + 1 - w.len());
                        // SAFETY: a.len() >= n + w.len() - 1 and w is non-empty; the
                        // table is only handed out on CPUs with the tier's features.
                        unsafe { $name(a, w, &mut out[..n]) }
                    }
                };
            }

            macro_rules! rfft_with_features {
                ($name:ident, $safe:ident, $t:ty) => {
                    #[target_feature(enable = $features)]
                    #[allow(clippy::too_many_arguments)]
                    unsafe fn $name(
                        plan: &RfftPlan<$t>,
                        src: *const $t,
                        ld_src: usize,
                        n_read: usize,
                        rows: usize,
                        scale: $t,
                        work: *mut $t,
                        out: *mut $t,
                        ld_out: usize,
                        next: rfft::Upcoming<$t>,
                    ) {
                        // SAFETY: features enabled here; ranges checked by the safe wrapper.
                        unsafe {
                            rfft::rfft_rows::<$t, $isa>(plan, src, ld_src, n_read, rows, scale, work, out, ld_out, next)
                        }
                    }
                    #[allow(clippy::too_many_arguments)]
                    fn $safe(
                        plan: &RfftPlan<$t>,
                        src: &[$t],
                        ld_src: usize,
                        n_read: usize,
                        rows: usize,
                        scale: $t,
                        work: &mut [$t],
                        out: &mut [$t],
                        ld_out: usize,
                        next: &[$t],
                        next_rows: usize,
                    ) {
                        let lanes = <$isa as Simd<$t>>::LANES;
                        let n = plan.len();
                        // `(rows - 1) · ld + len` in checked arithmetic: a wrapped
                        // product would pass the comparison.
                        let span = |rows: usize, ld: usize, len: usize| {
                            (rows - 1).checked_mul(ld).and_then(|v| v.checked_add(len))
                        };
                        let fits = |rows: usize, ld: usize, len: usize, have: usize| {
                            span(rows, ld, len).is_some_and(|need| need <= have)
                        };
                        assert!((1..=lanes).contains(&rows) && n_read <= n, "rfft: bad batch");
                        assert!(fits(rows, ld_src, n_read, src.len()), "rfft: src too short");
                        assert!(
                            n.checked_add(2).is_some_and(|row| fits(rows, ld_out, row, out.len())),
                            "rfft: out too short"
                        );
                        assert!(work.len() >= plan.work_len(lanes), "rfft: work too short");
                        assert!(next_rows == 0 || fits(next_rows, ld_src, n_read, next.len()), "rfft: next too short");
                        let next = rfft::Upcoming { src: next.as_ptr(), ld: ld_src, rows: next_rows, len: n_read };
                        // SAFETY: ranges asserted above; `work` is a separate &mut so it
                        // overlaps neither; the table is only handed out on CPUs with
                        // the tier's features.
                        unsafe {
                            $name(
                                plan,
                                src.as_ptr(),
                                ld_src,
                                n_read,
                                rows,
                                scale,
                                work.as_mut_ptr(),
                                out.as_mut_ptr(),
                                ld_out,
                                next,
                            )
                        }
                    }
                };
            }

            rfft_with_features!(rfft_f32_k, rfft_f32, f32);
            rfft_with_features!(rfft_f64_k, rfft_f64, f64);
            correlate_with_features!(correlate_valid_f32_k, correlate_valid_f32, f32);
            correlate_with_features!(correlate_valid_f64_k, correlate_valid_f64, f64);

            pub(super) static TABLE: Kernels = Kernels {
                tier: $tier,
                f32: ElemKernels {
                    correlate_valid: correlate_valid_f32,
                    rfft: RfftLanes { lanes: <$isa as Simd<f32>>::LANES, run: rfft_f32 },
                },
                f64: ElemKernels {
                    correlate_valid: correlate_valid_f64,
                    rfft: RfftLanes { lanes: <$isa as Simd<f64>>::LANES, run: rfft_f64 },
                },
            };
        }
    };
}

// `unsafe`: every kernel in a tier\'s table is behind that tier\'s `$features` above.
mlkern_core::per_tier!(unsafe signal_tier =>
    /// signal's kernels, one table per tier of this architecture.
    pub static TABLES: Kernels);

/// signal's table of `tier`, if this CPU supports it.
pub fn for_tier(tier: Tier) -> Option<&'static Kernels> {
    TABLES.for_tier(tier)
}

/// signal's kernels of the active tier for element type `T`.
#[inline]
pub fn kernels<T: crate::FftFloat>() -> &'static ElemKernels<T> {
    T::select_signal(TABLES.active())
}
