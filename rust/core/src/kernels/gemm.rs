//! GEMM micro-kernel: one `MR × NR` tile of `C += Ã · B̃` from packed panels.
//!
//! Algorithm (BLIS, Van Zee and van de Geijn 2015): `Ã` is an `MR × kc` micro-panel
//! stored column after column (`MR` contiguous elements per step `p`), `B̃` a
//! `kc × NR` micro-panel stored row after row (`NR` contiguous elements per `p`).
//! The tile lives in `MV · NR` registers (`MR = MV · LANES`): each step loads `MV`
//! registers of `Ã`, broadcasts the `NR` values of `B̃` and issues `MV · NR`
//! independent FMAs. Register budget per tier (accumulators + operands ≤ registers):
//! AVX-512 `2 × 12` (24 + 3 of 32; BLIS's SKX shape), AVX2 `2 × 6` (12 + 3 of 16,
//! BLIS's Haswell shape), SSE `2 × 4`, NEON `2 × 8`, scalar `4 × 4`.
//!
//! Accumulation: each `C[i][j]` is a sequential sum over `p` of `kc` products
//! (fused where the ISA has FMA) added to C at the end, so the classical bound
//! holds: `|Ĉ - C| <= γ_k |A| |B|` elementwise (`γ_k = k u / (1 - k u)`).
//!
//! C layout: columns of the tile are `ldc` apart, rows contiguous (column-major
//! tile); the driver transposes row-major problems so that this always holds.

use crate::element::Float;
use crate::simd::Simd;

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
    let l = S::LANES;
    let mr = MV * l;
    // SAFETY: reads stay within the panels (kc steps of MR resp. NR elements) and
    // the tile (MR rows × NR columns of C); the caller guarantees those ranges.
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
                let bj = S::splat(*bp.add(j));
                for v in 0..MV {
                    acc[j][v] = S::mul_add(av[v], bj, acc[j][v]);
                }
            }
            ap = ap.add(mr);
            bp = bp.add(NR);
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
