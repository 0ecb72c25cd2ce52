//! Per-tier dispatch: the mechanism every crate uses to instantiate its kernels once
//! per SIMD tier, and core's own table (the vector kernels and the FMA probe).
//!
//! A kernel is written once, generic over [`crate::simd::Simd`] and `#[inline(always)]`.
//! A crate instantiates it inside `#[target_feature(enable = ...)]` functions, one
//! module per tier, with [`crate::per_tier!`]: core owns the list of tiers, their ISA
//! types and the exact feature strings that [`crate::cpu`] checks before it reports a
//! tier; the crate owns the kernels, the table type and the safe wrappers. The crate
//! is compiled for the baseline target, so one wheel carries every tier.
//!
//! [`TierTables::active`] reads the tier atomic of [`crate::cpu`] and returns that
//! tier's table; [`TierTables::for_tier`] returns any tier's table if, and only if,
//! this CPU supports it. That is what makes the safe wrappers sound: a function in
//! a tier's module is reachable only through its table, and the table only on a CPU
//! with the tier's features.
//!
//! ```ignore
//! // In the crate that owns the kernels (see rust/linalg/src/dispatch.rs):
//! pub struct MyKernels { pub tier: Tier, pub f64_kernel: fn(&[f64]) -> f64 }
//! macro_rules! my_tier {
//!     ($module:ident, $tier:expr, $isa:ty, $features:literal) => {
//!         mod $module {
//!             use super::*;
//!             #[target_feature(enable = $features)]
//!             unsafe fn k(x: &[f64]) -> f64 {
//!                 // SAFETY: the features are enabled on this function.
//!                 unsafe { kernel::<f64, $isa>(x) }
//!             }
//!             // SAFETY: reachable only through TABLE, which TABLES hands out only
//!             // on CPUs with the tier's features.
//!             fn safe(x: &[f64]) -> f64 { unsafe { k(x) } }
//!             pub(super) static TABLE: MyKernels = MyKernels { tier: $tier, f64_kernel: safe };
//!         }
//!     };
//! }
//! // `unsafe`: every kernel of a tier's table is behind that tier's features.
//! mlkern_core::per_tier!(unsafe my_tier => pub static TABLES: MyKernels);
//! let k = TABLES.active();
//! ```

use crate::cpu::{self, Tier};
use crate::element::Float;
use crate::kernels::tile::TILE;

/// Invokes `$instantiate!(module, tier, isa, "features")` once per tier of this
/// architecture, then defines `$name`, the [`TierTables`] of the `TABLE` statics
/// those modules define.
///
/// `$instantiate` must define `mod $module { pub(super) static TABLE: $ty = ...; }`.
/// The feature strings are exactly those [`crate::cpu`] checks before it reports the
/// tier.
///
/// # Safety
/// The invocation is written `per_tier!(unsafe my_tier => ...)`: the caller promises
/// that every function reachable from a tier's `TABLE` needs at most that tier's
/// features (the kernels sit behind `#[target_feature(enable = $features)]`, and
/// nothing in the table calls another tier's code). [`TierTables`] then hands out a
/// table only on a CPU with those features.
#[macro_export]
macro_rules! per_tier {
    (unsafe $instantiate:ident => $(#[$meta:meta])* $vis:vis static $name:ident: $ty:ty) => {
        // The scalar tier enables nothing beyond the target's baseline.
        #[cfg(target_arch = "x86_64")]
        $instantiate!(scalar, $crate::Tier::Scalar, $crate::simd::scalar::Scalar, "sse2");
        #[cfg(target_arch = "aarch64")]
        $instantiate!(scalar, $crate::Tier::Scalar, $crate::simd::scalar::Scalar, "neon");
        #[cfg(target_arch = "x86_64")]
        $instantiate!(
            x86_64_v2,
            $crate::Tier::X86_64V2,
            $crate::simd::sse::Sse,
            "sse2,sse3,ssse3,sse4.1,sse4.2,popcnt"
        );
        #[cfg(target_arch = "x86_64")]
        $instantiate!(
            x86_64_v3,
            $crate::Tier::X86_64V3,
            $crate::simd::avx2::Avx2,
            "sse2,sse3,ssse3,sse4.1,sse4.2,popcnt,avx,avx2,fma"
        );
        #[cfg(target_arch = "x86_64")]
        $instantiate!(
            x86_64_v4,
            $crate::Tier::X86_64V4,
            $crate::simd::avx512::Avx512,
            "sse2,sse3,ssse3,sse4.1,sse4.2,popcnt,avx,avx2,fma,avx512f,avx512bw,avx512vl,avx512dq"
        );
        #[cfg(target_arch = "aarch64")]
        $instantiate!(neon, $crate::Tier::Neon, $crate::simd::neon::Neon, "neon");

        $(#[$meta])*
        #[cfg(target_arch = "x86_64")]
        // SAFETY: the invoker wrote `unsafe` and so promised that `$instantiate` put
        // every kernel of each module behind the features passed with its tier above.
        $vis static $name: $crate::dispatch::TierTables<$ty> = unsafe {
            $crate::dispatch::TierTables::x86_64(&scalar::TABLE, &x86_64_v2::TABLE, &x86_64_v3::TABLE, &x86_64_v4::TABLE)
        };
        $(#[$meta])*
        #[cfg(target_arch = "aarch64")]
        // SAFETY: as above.
        $vis static $name: $crate::dispatch::TierTables<$ty> =
            unsafe { $crate::dispatch::TierTables::aarch64(&scalar::TABLE, &neon::TABLE) };
    };
}

#[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
compile_error!("mlkern supports x86_64 and aarch64 targets");

/// One table of kernels per tier of this architecture (made by [`crate::per_tier!`]).
///
/// The tables are private: they are read only through [`TierTables::active`] and
/// [`TierTables::for_tier`], which never hand out a tier the CPU lacks, and that is
/// what makes a table's safe wrappers around `#[target_feature]` functions sound.
#[derive(Debug)]
pub struct TierTables<K: 'static> {
    scalar: &'static K,
    #[cfg(target_arch = "x86_64")]
    x86_64_v2: &'static K,
    #[cfg(target_arch = "x86_64")]
    x86_64_v3: &'static K,
    #[cfg(target_arch = "x86_64")]
    x86_64_v4: &'static K,
    #[cfg(target_arch = "aarch64")]
    neon: &'static K,
}

impl<K: 'static> TierTables<K> {
    /// The x86-64 tables, scalar to x86-64-v4 (called by [`crate::per_tier!`]).
    ///
    /// # Safety
    /// Every function reachable from a table may assume the CPU has the features of
    /// that table's tier (as [`crate::per_tier!`] passes them), and nothing else.
    #[cfg(target_arch = "x86_64")]
    #[doc(hidden)]
    pub const unsafe fn x86_64(scalar: &'static K, v2: &'static K, v3: &'static K, v4: &'static K) -> Self {
        TierTables { scalar, x86_64_v2: v2, x86_64_v3: v3, x86_64_v4: v4 }
    }

    /// The aarch64 tables, scalar and NEON (called by [`crate::per_tier!`]).
    ///
    /// # Safety
    /// As [`TierTables::x86_64`].
    #[cfg(target_arch = "aarch64")]
    #[doc(hidden)]
    pub const unsafe fn aarch64(scalar: &'static K, neon: &'static K) -> Self {
        TierTables { scalar, neon }
    }

    /// The table of `tier`, if this CPU supports it.
    pub fn for_tier(&self, tier: Tier) -> Option<&'static K> {
        if tier.is_supported() {
            self.unchecked(tier)
        } else {
            None
        }
    }

    /// The table of the active tier ([`crate::cpu::active`]).
    #[inline]
    pub fn active(&self) -> &'static K {
        // The atomic in `cpu` only ever holds tiers this CPU supports.
        self.unchecked(cpu::active()).unwrap_or(self.scalar)
    }

    /// The table of `tier` without checking the CPU (callers guarantee support).
    #[inline]
    fn unchecked(&self, tier: Tier) -> Option<&'static K> {
        match tier {
            Tier::Scalar => Some(self.scalar),
            #[cfg(target_arch = "x86_64")]
            Tier::X86_64V2 => Some(self.x86_64_v2),
            #[cfg(target_arch = "x86_64")]
            Tier::X86_64V3 => Some(self.x86_64_v3),
            #[cfg(target_arch = "x86_64")]
            Tier::X86_64V4 => Some(self.x86_64_v4),
            #[cfg(target_arch = "aarch64")]
            Tier::Neon => Some(self.neon),
            #[allow(unreachable_patterns)]
            _ => None,
        }
    }
}

/// Pairwise 4 × 4 tile: `out[r][c] = Σ op(a[r][i], b[c][i])` over the shortest row.
pub type TileFn<T> = fn([&[T]; TILE], [&[T]; TILE]) -> [[T; TILE]; TILE];
/// Reduction of two slices to one value (over the shorter length).
pub type PairFn<T> = fn(&[T], &[T]) -> T;

/// Core's kernels for one element type at one tier.
#[derive(Debug)]
pub struct ElemKernels<T: 'static> {
    /// `Σ a_i b_i`, four accumulators.
    pub dot: PairFn<T>,
    /// `Σ (a_i - b_i)^2`, four accumulators.
    pub sqeuclidean: PairFn<T>,
    /// Compensated dot product (see `kernels/compensated.rs`).
    pub dot_precise: PairFn<T>,
    /// 4 × 4 tile of dot products.
    pub tile_dot: TileFn<T>,
    /// 4 × 4 tile of squared distances.
    pub tile_sqeuclidean: TileFn<T>,
    /// FMA throughput probe: `iters` steps of 16 independent register FMAs
    /// (`iters · 16 · LANES · 2` flops; see `kernels/peak.rs`).
    pub fma_probe: FmaProbe<T>,
}

/// The FMA throughput probe of a tier and its flops per iteration.
#[derive(Debug, Clone, Copy)]
pub struct FmaProbe<T: 'static> {
    pub flops_per_iter: usize,
    pub run: fn(usize) -> T,
}

impl<T> FmaProbe<T> {
    /// One core's FMA ceiling in GFLOP/s: the median of `runs` timed runs of
    /// `iters` iterations on the calling thread.
    pub fn gflops(&self, iters: usize, runs: usize) -> f64 {
        let mut v: Vec<f64> = (0..runs.max(1))
            .map(|_| {
                let t = std::time::Instant::now();
                std::hint::black_box((self.run)(iters));
                (iters * self.flops_per_iter) as f64 / t.elapsed().as_secs_f64() / 1e9
            })
            .collect();
        v.sort_by(|a, b| a.total_cmp(b));
        v[v.len() / 2]
    }
}

/// Core's kernels of one tier.
#[derive(Debug)]
pub struct Kernels {
    pub tier: Tier,
    pub f32: ElemKernels<f32>,
    pub f64: ElemKernels<f64>,
}

/// Element types with kernels in core's table.
pub trait HasKernels: Float {
    fn select(k: &'static Kernels) -> &'static ElemKernels<Self>;
}

impl HasKernels for f32 {
    #[inline(always)]
    fn select(k: &'static Kernels) -> &'static ElemKernels<f32> {
        &k.f32
    }
}

impl HasKernels for f64 {
    #[inline(always)]
    fn select(k: &'static Kernels) -> &'static ElemKernels<f64> {
        &k.f64
    }
}

#[inline(always)]
fn min_len<T>(a: &[&[T]; TILE], b: &[&[T]; TILE]) -> usize {
    a.iter().chain(b.iter()).map(|r| r.len()).min().unwrap_or(0)
}

/// Instantiates core's kernels for one tier (see [`per_tier!`]).
macro_rules! core_tier {
    ($module:ident, $tier:expr, $isa:ty, $features:literal) => {
        mod $module {
            use super::*;
            use crate::kernels::{compensated, peak, reduce, tile};
            use crate::simd::Simd;

            macro_rules! pair_with_features {
                ($name:ident, $safe:ident, $t:ty, $body:expr) => {
                    #[target_feature(enable = $features)]
                    unsafe fn $name(a: &[$t], b: &[$t]) -> $t {
                        // SAFETY: the features are enabled on this function.
                        #[allow(unused_unsafe)]
                        unsafe {
                            $body(a, b)
                        }
                    }
                    fn $safe(a: &[$t], b: &[$t]) -> $t {
                        // SAFETY: this function is only reachable through the table
                        // below, which `for_tier`/`active` hand out only when the CPU
                        // supports the tier's features.
                        unsafe { $name(a, b) }
                    }
                };
            }
            macro_rules! tile_with_features {
                ($name:ident, $safe:ident, $t:ty, $op:ty) => {
                    #[target_feature(enable = $features)]
                    unsafe fn $name(a: [*const $t; TILE], b: [*const $t; TILE], d: usize) -> [[$t; TILE]; TILE] {
                        // SAFETY: features enabled here; pointers valid for `d` (caller).
                        unsafe { tile::tile_4x4::<$t, $isa, $op>(a, b, d) }
                    }
                    fn $safe(a: [&[$t]; TILE], b: [&[$t]; TILE]) -> [[$t; TILE]; TILE] {
                        let d = min_len(&a, &b);
                        // SAFETY: every row holds at least `d` elements; the table is
                        // only handed out on CPUs with the tier's features.
                        unsafe { $name(a.map(|r| r.as_ptr()), b.map(|r| r.as_ptr()), d) }
                    }
                };
            }
            macro_rules! peak_with_features {
                ($name:ident, $safe:ident, $t:ty) => {
                    #[target_feature(enable = $features)]
                    unsafe fn $name(iters: usize) -> $t {
                        // SAFETY: features enabled here.
                        unsafe { peak::fma_chains::<$t, $isa>(iters) }
                    }
                    fn $safe(iters: usize) -> $t {
                        // SAFETY: the table is only handed out on CPUs with the tier's features.
                        unsafe { $name(iters) }
                    }
                };
            }

            /// Interleaved Dot2 lanes: the tier's f64 register width (4 on scalar,
            /// where independent chains still overlap).
            const DOT2: usize = compensated::lanes(<$isa as Simd<f64>>::LANES);

            peak_with_features!(peak_f32_k, peak_f32, f32);
            peak_with_features!(peak_f64_k, peak_f64, f64);
            pair_with_features!(dot_f32_k, dot_f32, f32, reduce::pair_reduce::<f32, $isa, reduce::DotOp>);
            pair_with_features!(dot_f64_k, dot_f64, f64, reduce::pair_reduce::<f64, $isa, reduce::DotOp>);
            pair_with_features!(
                sqeuclidean_f32_k,
                sqeuclidean_f32,
                f32,
                reduce::pair_reduce::<f32, $isa, reduce::SqDiffOp>
            );
            pair_with_features!(
                sqeuclidean_f64_k,
                sqeuclidean_f64,
                f64,
                reduce::pair_reduce::<f64, $isa, reduce::SqDiffOp>
            );
            pair_with_features!(dot_precise_f32_k, dot_precise_f32, f32, compensated::dot2_f32::<DOT2>);
            pair_with_features!(dot_precise_f64_k, dot_precise_f64, f64, compensated::dot2_f64::<DOT2>);
            tile_with_features!(tile_dot_f32_k, tile_dot_f32, f32, reduce::DotOp);
            tile_with_features!(tile_dot_f64_k, tile_dot_f64, f64, reduce::DotOp);
            tile_with_features!(tile_sqeuclidean_f32_k, tile_sqeuclidean_f32, f32, reduce::SqDiffOp);
            tile_with_features!(tile_sqeuclidean_f64_k, tile_sqeuclidean_f64, f64, reduce::SqDiffOp);

            pub(super) static TABLE: Kernels = Kernels {
                tier: $tier,
                f32: ElemKernels {
                    dot: dot_f32,
                    sqeuclidean: sqeuclidean_f32,
                    dot_precise: dot_precise_f32,
                    tile_dot: tile_dot_f32,
                    tile_sqeuclidean: tile_sqeuclidean_f32,
                    fma_probe: FmaProbe {
                        flops_per_iter: 2 * peak::CHAINS * <$isa as Simd<f32>>::LANES,
                        run: peak_f32,
                    },
                },
                f64: ElemKernels {
                    dot: dot_f64,
                    sqeuclidean: sqeuclidean_f64,
                    dot_precise: dot_precise_f64,
                    tile_dot: tile_dot_f64,
                    tile_sqeuclidean: tile_sqeuclidean_f64,
                    fma_probe: FmaProbe {
                        flops_per_iter: 2 * peak::CHAINS * <$isa as Simd<f64>>::LANES,
                        run: peak_f64,
                    },
                },
            };
        }
    };
}

per_tier!(unsafe core_tier => static TABLES: Kernels);

/// Core's table of `tier`, if this CPU supports it.
pub fn for_tier(tier: Tier) -> Option<&'static Kernels> {
    TABLES.for_tier(tier)
}

/// Core's table of the active tier.
#[inline]
pub fn active() -> &'static Kernels {
    TABLES.active()
}

/// Core's kernels of the active tier for element type `T`.
#[inline]
pub fn kernels<T: HasKernels>() -> &'static ElemKernels<T> {
    T::select(active())
}
