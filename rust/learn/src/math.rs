//! Branch-free `exp` and `ln` in float64, written so that LLVM vectorises a loop
//! over a block of values at the width of the tier the loop is compiled for (the
//! kernels in `kernels.rs` call them on blocks of 64 rows).
//!
//! Algorithm: Cody–Waite range reduction and a polynomial, as fdlibm.
//! - `exp(x)`: `x = n·ln2 + r`, `|r| ≤ ln2/2`, `n = round(x/ln2)` by the `1.5·2⁵²`
//!   shift; `ln2` split in a 32-bit head (so `n·ln2_hi` is exact) and a tail;
//!   `e^r` by its Taylor series to degree 13 (truncation below `4·10⁻¹⁸`), evaluated
//!   by Estrin's scheme (a 4-deep dependency chain, for latency); the
//!   result scaled by `2ⁿ` built from its exponent bits. Inputs below −708.39 give 0
//!   (no subnormal results), above 709.78 give +inf.
//! - `ln(x)`, `x > 0` normal: `x = 2ᵏ·f`, `f ∈ [√2/2, √2)`, `s = (f−1)/(f+1)`,
//!   `ln f = 2s + s·R(s²)` with fdlibm's minimax coefficients `Lg1..Lg7`.
//! - `log1p_small(e)` for `e ∈ [0, 1]`: `ln(1+e)·e/((1+e)−1)` (Goldberg's trick,
//!   exact where `1+e` rounds).
//!
//! No fused multiply-add is used (so the scalar and SSE tiers do not call a
//! software `fma`). Measured error against the standard library (the tests in
//! `tests/math.rs`): at most 2 ulp for `exp` on [−708, 709], 2 ulp for `ln` on
//! normal inputs, 3 ulp for `log1p_small` and `sigmoid`, 4 ulp for `softplus`.

// fdlibm's constants, as printed there (more digits than an f64 holds).
#![allow(clippy::excessive_precision)]

const LN2_HI: f64 = 6.931_471_803_691_238_164_90e-1; // 32 significant bits
const LN2_LO: f64 = 1.908_214_929_270_587_700_02e-10;
const LOG2E: f64 = std::f64::consts::LOG2_E;
const SHIFT: f64 = 6_755_399_441_055_744.0; // 1.5 · 2^52
const EXP_MIN: f64 = -708.39;
const EXP_MAX: f64 = 709.78;

/// `e^x` (see the module header for the bound and the clamping).
#[inline(always)]
pub fn exp(x: f64) -> f64 {
    let xc = x.clamp(EXP_MIN, EXP_MAX);
    let t = xc * LOG2E + SHIFT;
    let n = t - SHIFT;
    let r = (xc - n * LN2_HI) - n * LN2_LO;
    // e^r = Σ r^j / j! (j ≤ 13) by Estrin's scheme: pairs, then powers r², r⁴, r⁸,
    // so the dependency chain is 4 multiply-adds deep instead of 13 (the latency
    // matters in per-sample SGD, where each exp sits on the critical path).
    let r2 = r * r;
    let r4 = r2 * r2;
    let r8 = r4 * r4;
    let q0 = 1.0 + r;
    let q1 = 1.0 / 2.0 + r * (1.0 / 6.0);
    let q2 = 1.0 / 24.0 + r * (1.0 / 120.0);
    let q3 = 1.0 / 720.0 + r * (1.0 / 5_040.0);
    let q4 = 1.0 / 40_320.0 + r * (1.0 / 362_880.0);
    let q5 = 1.0 / 3_628_800.0 + r * (1.0 / 39_916_800.0);
    let q6 = 1.0 / 479_001_600.0 + r * (1.0 / 6_227_020_800.0);
    let s0 = q0 + r2 * q1;
    let s1 = q2 + r2 * q3;
    let s2 = q4 + r2 * q5;
    let u0 = s0 + r4 * s1;
    let u1 = s2 + r4 * q6;
    let p = u0 + r8 * u1;
    // n is an integer in [-1022, 1024]; its low bits sit in t's mantissa. 2^n for
    // n = 1024 is not representable: scale by 2^(n-1) twice.
    let ni = (t.to_bits() as i64).wrapping_sub(SHIFT.to_bits() as i64);
    let half = ni >> 1;
    let s1 = f64::from_bits(((half + 1023) as u64) << 52);
    let s2 = f64::from_bits(((ni - half + 1023) as u64) << 52);
    let y = p * s1 * s2;
    let y = if x > EXP_MAX { f64::INFINITY } else { y };
    let y = if x < EXP_MIN { 0.0 } else { y };
    if x.is_nan() {
        x
    } else {
        y
    }
}

const LG1: f64 = 6.666_666_666_666_735_130e-01;
const LG2: f64 = 3.999_999_999_940_941_908e-01;
const LG3: f64 = 2.857_142_874_366_239_149e-01;
const LG4: f64 = 2.222_219_843_214_978_396e-01;
const LG5: f64 = 1.818_357_216_161_805_012e-01;
const LG6: f64 = 1.531_383_769_920_937_332e-01;
const LG7: f64 = 1.479_819_860_511_658_591e-01;

/// `ln x` for positive normal `x` (other inputs: unspecified but finite or NaN,
/// never a trap; the callers pass values in `[1, K]` or `(0, 2]`).
#[inline(always)]
pub fn ln(x: f64) -> f64 {
    let bits = x.to_bits();
    let mut k = ((bits >> 52) & 0x7ff) as i64 - 1023;
    // f in [1, 2)
    let mut f = f64::from_bits((bits & 0x000f_ffff_ffff_ffff) | 0x3ff0_0000_0000_0000);
    let big = f > std::f64::consts::SQRT_2;
    f = if big { f * 0.5 } else { f };
    k += i64::from(big);
    let s = (f - 1.0) / (f + 1.0);
    let z = s * s;
    let r = z * (LG1 + z * (LG2 + z * (LG3 + z * (LG4 + z * (LG5 + z * (LG6 + z * LG7))))));
    let kf = k as f64;
    // 2s + s·R, with the k·ln2 split so the head product is exact.
    kf * LN2_HI + ((2.0 * s + s * r) + kf * LN2_LO)
}

/// `ln(1 + e)` for `e ∈ [0, 1]`, accurate also where `1 + e` rounds.
#[inline(always)]
pub fn log1p_small(e: f64) -> f64 {
    let u = 1.0 + e;
    let d = u - 1.0;
    if d == 0.0 {
        e
    } else {
        ln(u) * (e / d)
    }
}

/// `ln(1 + e^z)`, the binomial log-loss's log-partition, without overflow.
#[inline(always)]
pub fn softplus(z: f64) -> f64 {
    z.max(0.0) + log1p_small(exp(-z.abs()))
}

/// `1 / (1 + e^-z)` without overflow.
#[inline(always)]
pub fn sigmoid(z: f64) -> f64 {
    let e = exp(-z.abs());
    let inv = 1.0 / (1.0 + e);
    if z >= 0.0 {
        inv
    } else {
        e * inv
    }
}
