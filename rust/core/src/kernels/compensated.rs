//! Compensated ("precise") dot products whose result is as accurate as if computed
//! in twice the working precision and then rounded.
//!
//! f64: Ogita, Rump and Oishi, "Accurate sum and dot product", SIAM J. Sci. Comput.
//! 26(6), 2005, algorithm Dot2: each product is split exactly into `p + e` with one
//! FMA (TwoProduct), each running sum into `s + e` with Knuth's TwoSum, and the error
//! terms are summed in ordinary precision. `L` interleaved lanes run Dot2
//! independently (so the compiler can keep them in one SIMD register); the lane sums
//! are then merged with TwoSum. Bound (their Prop. 5.5, which holds for any order of
//! the error-free transformations):
//! `|res - a·b| <= u |a·b| + γ_n^2 Σ|a_i b_i|`, `u = 2^-53`, `γ_n = n u / (1 - n u)`.
//! The second term does not grow with n the way `γ_n Σ|a_i b_i|` does for a plain
//! dot: for n = 10^6 it is ~1e-20 relative to `Σ|a_i b_i|`.
//!
//! f32: each product of two f32 is exact in f64 (24 + 24 bits < 53), so the products
//! are summed in f64 with TwoSum (Sum2 of the same paper) and the f64 result rounded
//! once to f32. Bound: `|res - a·b| <= u32 |a·b| + 2 u64 |a·b| + γ_n(f64)^2 Σ|a_i b_i|`.
//!
//! On tiers without FMA, `f64::mul_add` is still exact (a software fma), only slower.

/// Interleaved lanes for a tier whose f64 registers hold `simd_lanes` values: that
/// many, or 4 where there are no vectors (independent chains still overlap).
pub(crate) const fn lanes(simd_lanes: usize) -> usize {
    if simd_lanes < 2 {
        4
    } else {
        simd_lanes
    }
}

/// Knuth's TwoSum: `a + b = s + e` exactly.
#[inline(always)]
fn two_sum(a: f64, b: f64) -> (f64, f64) {
    let s = a + b;
    let z = s - a;
    (s, (a - (s - z)) + (b - z))
}

/// Merges lane sums with TwoSum and adds the accumulated error terms.
#[inline(always)]
fn merge_lanes<const L: usize>(s: [f64; L], c: [f64; L]) -> f64 {
    let mut total = s[0];
    let mut err = c[0];
    for l in 1..L {
        let (t, e) = two_sum(total, s[l]);
        total = t;
        err += e + c[l];
    }
    total + err
}

/// Compensated sum of `split(a_i, b_i) = (p_i, e_i)` (exact product `p_i + e_i`) on
/// `L` interleaved lanes: TwoSum on the `p_i`, plain sums of every error term.
#[inline(always)]
fn dot2_lanes<X: Copy, const L: usize>(a: &[X], b: &[X], split: impl Fn(X, X) -> (f64, f64)) -> f64 {
    let n = a.len().min(b.len());
    let (a, b) = (&a[..n], &b[..n]);
    let mut s = [0.0f64; L];
    let mut c = [0.0f64; L];
    let mut step = |l: usize, x: X, y: X| {
        let (p, ep) = split(x, y);
        let (t, es) = two_sum(s[l], p);
        s[l] = t;
        c[l] += ep + es;
    };
    let mut ac = a.chunks_exact(L);
    let mut bc = b.chunks_exact(L);
    for (xa, xb) in (&mut ac).zip(&mut bc) {
        for l in 0..L {
            step(l, xa[l], xb[l]);
        }
    }
    for (l, (&x, &y)) in ac.remainder().iter().zip(bc.remainder()).enumerate() {
        step(l, x, y);
    }
    merge_lanes(s, c)
}

/// Dot2 on `L` interleaved lanes (f64): TwoProduct by FMA.
#[inline(always)]
pub(crate) fn dot2_f64<const L: usize>(a: &[f64], b: &[f64]) -> f64 {
    dot2_lanes::<f64, L>(a, b, |x, y| {
        let p = x * y;
        (p, x.mul_add(y, -p))
    })
}

/// Sum2 of exact f64 products of f32 inputs on `L` interleaved lanes, rounded to f32.
#[inline(always)]
pub(crate) fn dot2_f32<const L: usize>(a: &[f32], b: &[f32]) -> f32 {
    dot2_lanes::<f32, L>(a, b, |x, y| (x as f64 * y as f64, 0.0)) as f32
}
