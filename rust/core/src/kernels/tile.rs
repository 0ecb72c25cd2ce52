//! Register-blocked 4 × 4 tile of pairwise reductions for `cdist` and `topk`.
//!
//! Algorithm: rows `a[0..4]` and `b[0..4]` (each `d` contiguous elements) are walked
//! together one register at a time; each step loads 4 + 4 registers and updates 16
//! accumulators (`acc[r][c] op= a[r] ∘ b[c]`), so every load feeds four
//! multiply-adds instead of one. The tail is one zero-padded partial register (zero
//! contributes nothing to either operation). At the end each accumulator is reduced
//! across lanes.
//!
//! Accumulation: one accumulator per pair, `d / LANES` sequential steps per lane,
//! then a pairwise tree over the lanes. Error bound as in `reduce.rs`:
//! `|out[r][c] - exact| <= γ_d Σ_i |a_ri b_ci|` (dot), resp. `γ_{d+1} Σ (a_ri - b_ci)^2`.

use super::reduce::PairOp;
use crate::element::Float;
use crate::simd::Simd;

/// Rows per tile side. Missing rows at matrix edges are filled by repeating a valid
/// row pointer; the caller ignores their results.
pub(crate) const TILE: usize = 4;

/// Computes `out[r][c] = Σ_i op(a[r][i], b[c][i])` for `i < d`.
///
/// # Safety
/// The CPU must support `S`; every pointer must be valid for `d` reads.
#[inline(always)]
pub(crate) unsafe fn tile_4x4<T: Float, S: Simd<T>, Op: PairOp>(
    a: [*const T; TILE],
    b: [*const T; TILE],
    d: usize,
) -> [[T; TILE]; TILE] {
    let l = S::LANES;
    // SAFETY: loads read [i, i + l) with i + l <= d, or the partial tail [i, d).
    unsafe {
        let z = S::zero();
        let mut acc = [[z; TILE]; TILE];
        let mut i = 0;
        while i + l <= d {
            let xa = [S::load(a[0].add(i)), S::load(a[1].add(i)), S::load(a[2].add(i)), S::load(a[3].add(i))];
            let xb = [S::load(b[0].add(i)), S::load(b[1].add(i)), S::load(b[2].add(i)), S::load(b[3].add(i))];
            for r in 0..TILE {
                for c in 0..TILE {
                    acc[r][c] = Op::step::<T, S>(xa[r], xb[c], acc[r][c]);
                }
            }
            i += l;
        }
        if i < d {
            let m = d - i;
            let xa = [
                S::load_partial(a[0].add(i), m),
                S::load_partial(a[1].add(i), m),
                S::load_partial(a[2].add(i), m),
                S::load_partial(a[3].add(i), m),
            ];
            let xb = [
                S::load_partial(b[0].add(i), m),
                S::load_partial(b[1].add(i), m),
                S::load_partial(b[2].add(i), m),
                S::load_partial(b[3].add(i), m),
            ];
            for r in 0..TILE {
                for c in 0..TILE {
                    acc[r][c] = Op::step::<T, S>(xa[r], xb[c], acc[r][c]);
                }
            }
        }
        let mut out = [[T::ZERO; TILE]; TILE];
        for r in 0..TILE {
            for c in 0..TILE {
                out[r][c] = S::reduce_sum(acc[r][c]);
            }
        }
        out
    }
}
