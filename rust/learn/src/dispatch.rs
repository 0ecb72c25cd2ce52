//! learn's kernel table: the kernels of [`crate::kernels`] compiled once per tier
//! with [`mlkern_core::per_tier!`] (each behind its tier's `#[target_feature]`, so
//! the `Simd` calls inline and the float64 pointwise loops of `math.rs` vectorise
//! at the tier's width).

use mlkern_core::Tier;

use crate::kernels::{ChunkState, LogisticChunk, Output};
use crate::mlp::{BlockJob, ForwardFn, Layout, Net, Slot, SlotFn, Update, UpdateFn};
use crate::sgd::{Loss, Problem, Settings, SoftmaxState, State};

/// `(x, d, coef, intercept, mode, out)` → first non-finite row (see
/// [`crate::kernels::linear_predict`]).
pub type LinearPredictFn<T> = fn(&[T], usize, &[T], &[f64], Output, &mut [T]) -> Option<usize>;

/// See [`crate::kernels::logistic_chunk`].
pub type LogisticChunkFn<T> = fn(&LogisticChunk<'_, T>, &mut ChunkState<T>);

/// See [`crate::sgd::sample_epoch`].
pub type SgdEpochFn<T> =
    fn(&Problem<'_, T>, &Settings, &mut State<T>, &[u32], f64, bool, &(dyn Fn() -> bool + Sync)) -> Option<(f64, f64)>;
/// See [`crate::sgd::block_grad`].
pub type SgdBlockFn<T> =
    fn(&Problem<'_, T>, Loss, &[u32], &[T], f64, f64, bool, &mut [T], &mut [T], &mut [f64]) -> (f64, f64);

/// See [`crate::sgd::softmax_epoch`].
pub type SgdSoftmaxFn<T> = fn(
    &[T],
    usize,
    &[u32],
    Option<&[f64]>,
    &[f64],
    &Settings,
    &mut SoftmaxState<T>,
    &[u32],
    f64,
    bool,
    &(dyn Fn() -> bool + Sync),
) -> Option<(f64, f64)>;

/// learn's kernels for one element type at one tier.
#[derive(Debug)]
pub struct ElemKernels<T: 'static> {
    /// See [`crate::kernels::logistic_chunk`].
    pub logistic_chunk: LogisticChunkFn<T>,
    pub linear_predict: LinearPredictFn<T>,
    pub sgd_epoch: SgdEpochFn<T>,
    pub sgd_block_grad: SgdBlockFn<T>,
    pub sgd_softmax_epoch: SgdSoftmaxFn<T>,
    /// See [`crate::mlp::slot_step`].
    pub mlp_slot: SlotFn<T>,
    /// See [`crate::mlp::update_chunk`].
    pub mlp_update: UpdateFn<T>,
    /// See [`crate::mlp::forward_rows`].
    pub mlp_forward: ForwardFn<T>,
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
                ($t:ty, $lc:ident, $lc_k:ident, $lp:ident, $lp_k:ident, $se:ident, $se_k:ident, $sb:ident, $sb_k:ident, $sm:ident, $sm_k:ident,
                 $ms:ident, $ms_k:ident, $mu:ident, $mu_k:ident, $mf:ident, $mf_k:ident) => {
                    #[target_feature(enable = $features)]
                    fn $ms_k(job: &BlockJob<'_, $t>, s: usize, slot: &mut Slot<$t>, g: &mut [$t]) {
                        // SAFETY: this function carries the tier's features.
                        unsafe { crate::mlp::slot_step::<$t, $isa>(job, s, slot, g) }
                    }
                    fn $ms(job: &BlockJob<'_, $t>, s: usize, slot: &mut Slot<$t>, g: &mut [$t]) {
                        // SAFETY: the table holding this wrapper is handed out only on
                        // CPUs with the tier's features.
                        unsafe { $ms_k(job, s, slot, g) }
                    }
                    #[target_feature(enable = $features)]
                    fn $mu_k(up: &Update, grads: &[$t], w: &mut [$t], m: &mut [$t], v: &mut [$t], lo: usize) -> f64 {
                        crate::mlp::update_chunk::<$t>(up, grads, w, m, v, lo)
                    }
                    fn $mu(up: &Update, grads: &[$t], w: &mut [$t], m: &mut [$t], v: &mut [$t], lo: usize) -> f64 {
                        // SAFETY: as above.
                        unsafe { $mu_k(up, grads, w, m, v, lo) }
                    }
                    #[target_feature(enable = $features)]
                    #[allow(clippy::too_many_arguments)]
                    fn $mf_k(net: &Net<'_>, lay: &Layout, p: &[$t], x: &[$t], rows: usize, a: &mut [$t], b: &mut [$t], out: &mut [$t]) -> bool {
                        // SAFETY: this function carries the tier's features.
                        unsafe { crate::mlp::forward_rows::<$t, $isa>(net, lay, p, x, rows, a, b, out) }
                    }
                    #[allow(clippy::too_many_arguments)]
                    fn $mf(net: &Net<'_>, lay: &Layout, p: &[$t], x: &[$t], rows: usize, a: &mut [$t], b: &mut [$t], out: &mut [$t]) -> bool {
                        // SAFETY: as above.
                        unsafe { $mf_k(net, lay, p, x, rows, a, b, out) }
                    }
                    #[target_feature(enable = $features)]
                    #[allow(clippy::too_many_arguments)]
                    fn $sm_k(
                        x: &[$t],
                        d: usize,
                        codes: &[u32],
                        sw: Option<&[f64]>,
                        cw: &[f64],
                        s: &Settings,
                        st: &mut SoftmaxState<$t>,
                        order: &[u32],
                        init: f64,
                        track: bool,
                        poll: &(dyn Fn() -> bool + Sync),
                    ) -> Option<(f64, f64)> {
                        // SAFETY: this function carries the tier's features.
                        unsafe { crate::sgd::softmax_epoch::<$t, $isa>(x, d, codes, sw, cw, s, st, order, init, track, poll) }
                    }
                    #[allow(clippy::too_many_arguments)]
                    fn $sm(
                        x: &[$t],
                        d: usize,
                        codes: &[u32],
                        sw: Option<&[f64]>,
                        cw: &[f64],
                        s: &Settings,
                        st: &mut SoftmaxState<$t>,
                        order: &[u32],
                        init: f64,
                        track: bool,
                        poll: &(dyn Fn() -> bool + Sync),
                    ) -> Option<(f64, f64)> {
                        // SAFETY: the table holding this wrapper is handed out only on
                        // CPUs with the tier's features.
                        unsafe { $sm_k(x, d, codes, sw, cw, s, st, order, init, track, poll) }
                    }
                    #[target_feature(enable = $features)]
                    fn $se_k(
                        p: &Problem<'_, $t>,
                        s: &Settings,
                        st: &mut State<$t>,
                        order: &[u32],
                        init: f64,
                        track: bool,
                        poll: &(dyn Fn() -> bool + Sync),
                    ) -> Option<(f64, f64)> {
                        // SAFETY: this function carries the tier's features.
                        unsafe { crate::sgd::sample_epoch::<$t, $isa>(p, s, st, order, init, track, poll) }
                    }
                    fn $se(
                        p: &Problem<'_, $t>,
                        s: &Settings,
                        st: &mut State<$t>,
                        order: &[u32],
                        init: f64,
                        track: bool,
                        poll: &(dyn Fn() -> bool + Sync),
                    ) -> Option<(f64, f64)> {
                        // SAFETY: the table holding this wrapper is handed out only on
                        // CPUs with the tier's features.
                        unsafe { $se_k(p, s, st, order, init, track, poll) }
                    }
                    #[target_feature(enable = $features)]
                    #[allow(clippy::too_many_arguments)]
                    fn $sb_k(
                        p: &Problem<'_, $t>,
                        l: Loss,
                        rows: &[u32],
                        v: &[$t],
                        ws: f64,
                        b: f64,
                        tr: bool,
                        g: &mut [$t],
                        buf: &mut [$t],
                        res: &mut [f64],
                    ) -> (f64, f64) {
                        // SAFETY: this function carries the tier's features.
                        unsafe { crate::sgd::block_grad::<$t, $isa>(p, l, rows, v, ws, b, tr, g, buf, res) }
                    }
                    #[allow(clippy::too_many_arguments)]
                    fn $sb(
                        p: &Problem<'_, $t>,
                        l: Loss,
                        rows: &[u32],
                        v: &[$t],
                        ws: f64,
                        b: f64,
                        tr: bool,
                        g: &mut [$t],
                        buf: &mut [$t],
                        res: &mut [f64],
                    ) -> (f64, f64) {
                        // SAFETY: as above.
                        unsafe { $sb_k(p, l, rows, v, ws, b, tr, g, buf, res) }
                    }
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
            elem!(f32, lc32, lc32_k, lp32, lp32_k, se32, se32_k, sb32, sb32_k, sm32, sm32_k, ms32, ms32_k, mu32, mu32_k, mf32, mf32_k);
            elem!(f64, lc64, lc64_k, lp64, lp64_k, se64, se64_k, sb64, sb64_k, sm64, sm64_k, ms64, ms64_k, mu64, mu64_k, mf64, mf64_k);

            pub(super) static TABLE: Kernels = Kernels {
                tier: $tier,
                f32: ElemKernels { logistic_chunk: lc32, linear_predict: lp32, sgd_epoch: se32, sgd_block_grad: sb32, sgd_softmax_epoch: sm32,
                                  mlp_slot: ms32, mlp_update: mu32, mlp_forward: mf32 },
                f64: ElemKernels { logistic_chunk: lc64, linear_predict: lp64, sgd_epoch: se64, sgd_block_grad: sb64, sgd_softmax_epoch: sm64,
                                  mlp_slot: ms64, mlp_update: mu64, mlp_forward: mf64 },
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
