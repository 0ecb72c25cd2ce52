//! attention's kernel table: [`crate::tile::run_task`] compiled once per tier with
//! [`mlkern_core::per_tier!`], behind the tier's `#[target_feature]` (so the `Simd`
//! calls inline and the softmax loops vectorise at the tier's width).

use mlkern_core::simd::Simd;
use mlkern_core::Tier;

use crate::tile::Scratch;
use crate::{OutElems, Problem};

/// `(problem, head, query tile, scratch, output rows)`: one task.
pub(crate) type TaskFn = fn(&Problem<'_>, usize, usize, &mut Scratch, OutElems<'_>);

/// attention's kernels of one tier.
#[derive(Debug)]
pub struct Kernels {
    pub tier: Tier,
    /// float32 lanes per vector (the value dimension is padded to a multiple).
    pub lanes: usize,
    pub(crate) task: TaskFn,
}

macro_rules! attention_tier {
    ($module:ident, $tier:expr, $isa:ty, $features:literal) => {
        mod $module {
            use super::*;

            #[target_feature(enable = $features)]
            fn task_with_features(p: &Problem<'_>, g: usize, t: usize, s: &mut Scratch, out: OutElems<'_>) {
                // SAFETY: this function carries the tier's features.
                unsafe { crate::tile::run_task::<$isa>(p, g, t, s, out) }
            }

            fn task(p: &Problem<'_>, g: usize, t: usize, s: &mut Scratch, out: OutElems<'_>) {
                // SAFETY: reachable only through TABLE, which TABLES hands out only on
                // CPUs with the tier's features.
                unsafe { task_with_features(p, g, t, s, out) }
            }

            pub(super) static TABLE: Kernels = Kernels { tier: $tier, lanes: <$isa as Simd<f32>>::LANES, task };
        }
    };
}

mlkern_core::per_tier!(unsafe attention_tier => pub(crate) static TABLES: Kernels);

/// The tier the active kernels were compiled for.
pub fn active_tier() -> Tier {
    TABLES.active().tier
}
