//! The online softmax of one key tile (Milakov & Gimelshein; Dao et al.'s flash
//! attention), in the transposed layout of [`crate::tile`]: row `j` of the tile
//! holds key `j`'s scores against the `BR` queries of the task, one query per
//! column, so every per-query reduction (running maximum, sum) is a vertical
//! operation across rows and the loops below vectorise over the queries at the
//! width of the tier they are compiled for (the functions are `#[inline(always)]`
//! and run inside the tier's `#[target_feature]` function).
//!
//! Scores arrive in base-2 units (the queries were scaled by `scale·log₂e`, an
//! additive mask by `log₂e`), so the weights are `2^(score − max)`: `exp2` splits
//! `x = n + r`, `|r| ≤ 1/2`, `n` by the `1.5·2²³` shift (exact), evaluates `2^r` by
//! its Taylor polynomial to degree 7 (Horner; truncation below `5·10⁻⁹`, fused
//! multiply-adds on the tiers that have them) and scales by `2ⁿ` from its exponent
//! bits. Measured against float64 (`tests/attention.rs`): at most 2 ulp on
//! [−126, 127]. Below −126 it returns 0 (so a masked score, −inf, weighs exactly
//! nothing, and results never go subnormal), above 127 it saturates at 2¹²⁷ (the
//! softmax only passes arguments ≤ 0), and NaN gives NaN.

use crate::tile::{Shape, BR};

const SHIFT: f32 = 12_582_912.0; // 1.5 · 2^23
const EXP2_LO: f32 = -126.0;
const EXP2_HI: f32 = 127.0;
// ln(2)^k / k!
const C: [f32; 7] =
    [6.931_472e-1, 2.402_265e-1, 5.550_411e-2, 9.618_129e-3, 1.333_355_8e-3, 1.540_353e-4, 1.525_273_4e-5];

/// `a·b + c`: fused where `FMA` (the tier has the instruction, so `mul_add`
/// compiles to it inside the tier's `#[target_feature]` function), else two roundings.
#[inline(always)]
fn mul_add<const FMA: bool>(a: f32, b: f32, c: f32) -> f32 {
    if FMA {
        a.mul_add(b, c)
    } else {
        a * b + c
    }
}

/// `2^x` (see the module header for the bound and the range).
#[inline(always)]
pub fn exp2<const FMA: bool>(x: f32) -> f32 {
    // NaN fails both comparisons and stays NaN.
    let lo = if x < EXP2_LO { EXP2_LO } else { x };
    let xc = if lo > EXP2_HI { EXP2_HI } else { lo };
    let t = xc + SHIFT;
    let n = t - SHIFT;
    let r = xc - n;
    let mut p = C[6];
    for &c in C[..6].iter().rev() {
        p = mul_add::<FMA>(p, r, c);
    }
    let y = mul_add::<FMA>(p, r, 1.0);
    // n ∈ [-126, 127]: its low bits are t's mantissa bits.
    let ni = (t.to_bits() as i32).wrapping_sub(SHIFT.to_bits() as i32);
    let scale = f32::from_bits(((ni + 127) as u32) << 23);
    let v = y * scale;
    if x < EXP2_LO {
        0.0
    } else {
        v
    }
}

/// [`exp2`] with the fused multiply-add of ISA `S` where it has one.
#[inline(always)]
fn exp2_on<S: Shape>(x: f32) -> f32 {
    if S::FMA {
        exp2::<true>(x)
    } else {
        exp2::<false>(x)
    }
}

/// Running state of the `BR` queries of one task: the maximum score seen so far
/// (`-inf` before any unmasked key), the sum of `exp(score − max)`, and the
/// factor the accumulated output must be multiplied by after the last step.
#[derive(Debug, Clone)]
pub(crate) struct Running {
    pub max: [f32; BR],
    pub sum: [f32; BR],
    pub rescale: [f32; BR],
}

impl Running {
    pub fn new() -> Self {
        Running { max: [f32::NEG_INFINITY; BR], sum: [0.0; BR], rescale: [0.0; BR] }
    }
}

/// Turns the scores of `keys` tile rows (`tile[j·BR + i]`, key `j`, query `i`,
/// base-2 units) into `2^(score − new max)` in place and updates `run`; afterwards
/// `run.rescale[i]` is `2^(old max − new max)`, the factor for query `i`'s output
/// accumulated over the earlier tiles.
///
/// A query with no unmasked key yet keeps max `-inf`; its exponentials are taken
/// against 0 instead, so they are exactly 0 (never `-inf − -inf` = NaN).
#[inline(always)]
pub(crate) fn online_step<S: Shape>(tile: &mut [f32], keys: usize, run: &mut Running) {
    let mut max = run.max;
    for row in tile.chunks_exact(BR).take(keys) {
        let row: &[f32; BR] = row.try_into().expect("chunks_exact gives BR values");
        for i in 0..BR {
            // A select of values (one `max` instruction), not a conditional store
            // (which x86 vectorises as a slow masked store). NaN never wins.
            let (r, m) = (row[i], max[i]);
            max[i] = if r > m { r } else { m };
        }
    }
    let mut base = [0.0f32; BR];
    for i in 0..BR {
        base[i] = if max[i] == f32::NEG_INFINITY { 0.0 } else { max[i] };
        run.rescale[i] = exp2_on::<S>(run.max[i] - base[i]);
        run.max[i] = max[i];
    }
    let mut sum = [0.0f32; BR];
    for row in tile.chunks_exact_mut(BR).take(keys) {
        let row: &mut [f32; BR] = row.try_into().expect("chunks_exact gives BR values");
        for i in 0..BR {
            let p = exp2_on::<S>(row[i] - base[i]);
            row[i] = p;
            sum[i] += p;
        }
    }
    for i in 0..BR {
        run.sum[i] = run.rescale[i] * run.sum[i] + sum[i];
    }
}
