//! GEMM micro-kernel: one `MR × NR` tile of `C += Ã · B̃` from packed panels.
//!
//! Algorithm (BLIS, Van Zee and van de Geijn 2015): `Ã` is an `MR × kc` micro-panel
//! stored column after column (`MR` contiguous elements per step `p`), `B̃` a
//! `kc × NR` micro-panel stored row after row (`NR` contiguous elements per `p`).
//! The tile lives in `MV · NR` registers (`MR = MV · LANES`): each step loads `MV`
//! registers of `Ã`, broadcasts the `NR` values of `B̃` and issues `MV · NR`
//! independent FMAs. Register budget per tier (accumulators + operands ≤ registers):
//! AVX-512 f32 and f64 `4 × 6` (24 + 5 of 32; BLIS's Zen 4 shape, 64 × 6 and 32 × 6:
//! four A loads and six broadcasts per 24 FMAs; f32 moved from `2 × 12` on Zen 5,
//! `gemm_sweep` 1024³ one thread 176 → 197 GFLOP/s; f64 measured on Zen 4: 2 threads
//! 256³ 0.77× → 0.96× OpenBLAS), with a narrow `2 × 12` f32 tile (32 × 12) for
//! products whose tile side has at most 32 rows, where a 64-row panel would be half
//! empty (`64×100 000 @ 100 000×32`: 65 GFLOP/s on the wide tile, 125 on the narrow
//! one); AVX2 `2 × 6` (12 + 3 of 16, BLIS's Haswell shape), SSE `2 × 4`, NEON `2 × 8`,
//! scalar `4 × 4`; the narrow tile is the wide one on those tiers.
//!
//! Accumulation: each `C[i][j]` is a sequential sum over `p` of `kc` products
//! (fused where the ISA has FMA) added to C at the end, so the classical bound
//! holds: `|Ĉ - C| <= γ_k |A| |B|` elementwise (`γ_k = k u / (1 - k u)`).
//!
//! C layout: columns of the tile are `ldc` apart, rows contiguous (column-major
//! tile); the driver transposes row-major problems so that this always holds.

use mlkern_core::element::Float;
use mlkern_core::simd::{self, Simd};

/// A tier's register tiles for element type `T`: `MV` registers of `Ã`
/// (`MR = MV · LANES` rows) by `NR` broadcast columns of `B̃` (the budget in the
/// module header), and the narrow tile the driver takes when the `MR` side of a
/// product has at most `NARROW_MV · LANES` rows.
pub trait TileShape<T> {
    const MV: usize;
    const NR: usize;
    const NARROW_MV: usize;
    const NARROW_NR: usize;
}

/// Implements [`TileShape`] for one ISA: `(MV, NR)` for f32 and for f64, and
/// optionally `narrow (MV, NR)` after each (else the narrow tile is the same).
macro_rules! tile_shape {
    ($isa:ty, f32: ($mv32:literal, $nr32:literal) $(narrow ($nmv32:literal, $nnr32:literal))?,
     f64: ($mv64:literal, $nr64:literal) $(narrow ($nmv64:literal, $nnr64:literal))?) => {
        impl TileShape<f32> for $isa {
            const MV: usize = $mv32;
            const NR: usize = $nr32;
            const NARROW_MV: usize = tile_shape!(@or $($nmv32)?, $mv32);
            const NARROW_NR: usize = tile_shape!(@or $($nnr32)?, $nr32);
        }
        impl TileShape<f64> for $isa {
            const MV: usize = $mv64;
            const NR: usize = $nr64;
            const NARROW_MV: usize = tile_shape!(@or $($nmv64)?, $mv64);
            const NARROW_NR: usize = tile_shape!(@or $($nnr64)?, $nr64);
        }
    };
    (@or $given:literal, $default:literal) => {
        $given
    };
    (@or , $default:literal) => {
        $default
    };
}

tile_shape!(simd::scalar::Scalar, f32: (4, 4), f64: (4, 4));
#[cfg(target_arch = "x86_64")]
tile_shape!(simd::sse::Sse, f32: (2, 4), f64: (2, 4));
#[cfg(target_arch = "x86_64")]
tile_shape!(simd::avx2::Avx2, f32: (2, 6), f64: (2, 6));
#[cfg(target_arch = "x86_64")]
tile_shape!(simd::avx512::Avx512, f32: (4, 6) narrow (2, 12), f64: (4, 6));
#[cfg(target_arch = "aarch64")]
tile_shape!(simd::neon::Neon, f32: (2, 8), f64: (2, 8));

/// `C[0..MR, 0..NR] (+)= Ã · B̃` with `C[i][j]` at `c + i + j · ldc`.
///
/// # Safety
/// The CPU must support `S`. `a` must be valid for `kc · MR` reads, `b` for
/// `kc · NR` reads, and `c` for reads/writes of the whole tile.
#[inline(always)]
pub(crate) unsafe fn micro_tile<T: Float, S: Simd<T>, const MV: usize, const NR: usize>(
    kc: usize,
    a: *const T,
    b: *const T,
    c: *mut T,
    ldc: usize,
    accumulate: bool,
) {
    // SAFETY: forwarded (packed: Ã step p at a + p·MR, B̃ (p, j) at b + p·NR + j).
    unsafe { tile::<T, S, MV, NR, false>(kc, a, 0, b, 0, 0, c, ldc, accumulate) }
}

/// As [`micro_tile`], but both operands are read where they lie: `Ã` step `p` at
/// `a + p · a_step` (`MR` contiguous elements), `B̃` element `(p, j)` at
/// `b + p · b_step + j · b_col`. The driver uses it for the big operand of skinny
/// products (`64 × 100 000 @ 100 000 × 32`, `X @ Ω` in randomized SVD), where a
/// packed panel would be reused only a few times and the pack would cost about as
/// much as the product. Broadcasts read any address at the same cost; only the
/// cache traffic differs (constant-stride streams the hardware prefetcher follows).
///
/// # Safety
/// As [`micro_tile`], with `a + p · a_step` valid for `MR` reads and
/// `b + p · b_step + j · b_col` for one read, for every `p < kc`, `j < NR`.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
pub(crate) unsafe fn micro_tile_strided<T: Float, S: Simd<T>, const MV: usize, const NR: usize>(
    kc: usize,
    a: *const T,
    a_step: usize,
    b: *const T,
    b_step: usize,
    b_col: usize,
    c: *mut T,
    ldc: usize,
    accumulate: bool,
) {
    // SAFETY: forwarded.
    unsafe { tile::<T, S, MV, NR, true>(kc, a, a_step, b, b_step, b_col, c, ldc, accumulate) }
}

/// The register tile behind both entry points; `STRIDED` selects runtime strides
/// over the packed layout's constants.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
unsafe fn tile<T: Float, S: Simd<T>, const MV: usize, const NR: usize, const STRIDED: bool>(
    kc: usize,
    a: *const T,
    a_step: usize,
    b: *const T,
    b_step: usize,
    b_col: usize,
    c: *mut T,
    ldc: usize,
    accumulate: bool,
) {
    let l = S::LANES;
    let mr = MV * l;
    let (a_step, b_step, b_col) = if STRIDED { (a_step, b_step, b_col) } else { (mr, NR, 1) };
    // SAFETY: reads stay within the operands (kc steps of MR elements of Ã, of NR
    // elements of B̃, at the strides above) and the tile (MR rows × NR columns of C); the caller
    // guarantees those ranges.
    unsafe {
        let z = S::zero();
        let mut acc = [[z; MV]; NR];
        let (mut ap, mut bp) = (a, b);
        for _ in 0..kc {
            let mut av = [z; MV];
            for v in 0..MV {
                av[v] = S::load(ap.add(v * l));
            }
            for j in 0..NR {
                let bj = S::splat(*bp.add(j * b_col));
                for v in 0..MV {
                    acc[j][v] = S::mul_add(av[v], bj, acc[j][v]);
                }
            }
            // wrapping: after the last step the pointers may point past the
            // operands (an in-place B with a long step); they are not read then.
            ap = ap.wrapping_add(a_step);
            bp = bp.wrapping_add(b_step);
        }
        for j in 0..NR {
            for v in 0..MV {
                let p = c.add(j * ldc + v * l);
                let r = if accumulate { S::add(S::load(p), acc[j][v]) } else { acc[j][v] };
                S::store(p, r);
            }
        }
    }
}
