//! Cosines that stay right for tiny and huge vectors.
//!
//! Fast path: `a·b`, `|a|²` and `|b|²` come from the tier's dot kernel in the input
//! precision and `cos = a·b / (|a| |b|)`. That is accurate while both squared norms
//! lie in `[sqrt(MIN_POSITIVE), sqrt(MAX)]` (float32: about `[1e-19, 1.8e19]`): then no
//! product overflows (`|a_i b_i| <= |a||b| <= sqrt(MAX)`), and products that
//! underflow lose at most `d · 2^-149` (float32; `2^-1074` float64) absolutely, less
//! than `d · 2^-86` relative to `|a||b|`.
//!
//! Outside that range (`vector.cosine_similarity` of two vectors of 1e-200, or of
//! 1e-25 in float32, whose squares underflow to 0), the vectors are scaled by powers
//! of two so that their largest `|element|` is in `[1, 2)` (exact: a power-of-two
//! scaling changes only exponents) and the cosine is accumulated in float64 from the
//! scaled values, the idea of LAPACK's scaled `nrm2`. Error: `γ_{d+2}` relative in
//! float64, before rounding to the input precision.
//!
//! A row whose squared norm is out of range is marked with [`SCALE_ROW`] in place
//! of its inverse norm; kernels route the pairs that touch such a row here.

use crate::dispatch::PairFn;
use crate::element::Float;

/// Inverse-norm marker of a row whose cosines take the scaled path.
pub(crate) const SCALE_ROW: f64 = -1.0;

/// True when a squared norm is outside the fast path's range (NaN is not: NaN
/// propagates through the fast path as it should).
#[inline]
fn out_of_range<T: Float>(sumsq: T) -> bool {
    let s = sumsq.to_f64();
    s < T::MIN_POSITIVE.to_f64().sqrt() || s > T::MAX.to_f64().sqrt()
}

/// Largest `|x_i|` as float64; NaN if any element is NaN.
fn abs_max<T: Float>(x: &[T]) -> f64 {
    let mut m = 0.0f64;
    for &v in x {
        let v = v.to_f64();
        if v.is_nan() {
            return f64::NAN;
        }
        m = m.max(v.abs());
    }
    m
}

/// `x · 2^k` for any `k` in [-2200, 2200], in at most three exact steps that never
/// overflow for the `x` this module passes (`|x|` within a factor 4 of `2^-k`).
#[inline]
fn times_pow2(mut x: f64, mut k: i32) -> f64 {
    while k != 0 {
        let step = k.clamp(-1000, 1000);
        x *= f64::from_bits(((1023 + step) as u64) << 52);
        k -= step;
    }
    x
}

/// The inverse norm `1 / |row|` that the fast path multiplies by; `zero` for a row
/// of zeros (0 gives scikit-learn's similarity 0, NaN SciPy's distance NaN);
/// [`SCALE_ROW`] when the row's cosines need the scaled path. A row holding inf
/// gets `1 / inf = 0`, and its cosines come out NaN, as NumPy's formula gives.
pub(crate) fn inverse_norm<T: Float>(row: &[T], dot: PairFn<T>, zero: T) -> T {
    let sumsq = dot(row, row);
    if sumsq == T::ZERO && abs_max(row) == 0.0 {
        return zero;
    }
    if out_of_range(sumsq) && abs_max(row).is_finite() {
        return T::from_f64(SCALE_ROW);
    }
    T::ONE / sumsq.sqrt()
}

/// The cosine similarity of `a` and `b` by the scaled path, unclamped; `None` when
/// either is a zero vector; NaN when either holds NaN or inf.
pub(crate) fn scaled_similarity<T: Float>(a: &[T], b: &[T]) -> Option<f64> {
    let (ma, mb) = (abs_max(a), abs_max(b));
    if !ma.is_finite() || !mb.is_finite() {
        return Some(f64::NAN);
    }
    if ma == 0.0 || mb == 0.0 {
        return None;
    }
    let (ka, kb) = (-(ma.log2().floor() as i32), -(mb.log2().floor() as i32));
    let (mut ab, mut aa, mut bb) = (0.0f64, 0.0f64, 0.0f64);
    for (&x, &y) in a.iter().zip(b) {
        let (x, y) = (times_pow2(x.to_f64(), ka), times_pow2(y.to_f64(), kb));
        ab += x * y;
        aa += x * x;
        bb += y * y;
    }
    Some(ab / (aa.sqrt() * bb.sqrt()))
}

/// Cosine similarity of two vectors, clamped to [-1, 1]: the fast path, or the
/// scaled one when a squared norm is out of range. `None` for a zero vector.
pub(crate) fn similarity<T: Float>(a: &[T], b: &[T], dot: PairFn<T>) -> Option<T> {
    let (ab, aa, bb) = (dot(a, b), dot(a, a), dot(b, b));
    let zero = |s: T, x: &[T]| s == T::ZERO && abs_max(x) == 0.0;
    if zero(aa, a) || zero(bb, b) {
        // NaN or inf in either vector makes the cosine NaN, zero vector or not (as the
        // fast path, and `cdist`, give it).
        if !abs_max(a).is_finite() || !abs_max(b).is_finite() {
            return Some(T::from_f64(f64::NAN));
        }
        return None;
    }
    let scale = |s: T, x: &[T]| out_of_range(s) && abs_max(x).is_finite();
    let c =
        if scale(aa, a) || scale(bb, b) { T::from_f64(scaled_similarity(a, b)?) } else { ab / (aa.sqrt() * bb.sqrt()) };
    Some(super::metric::clamp_unit(c))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plain_dot<T: Float>(a: &[T], b: &[T]) -> T {
        a.iter().zip(b).fold(T::ZERO, |s, (&x, &y)| s + x * y)
    }

    #[test]
    fn tiny_and_huge_vectors_get_the_right_cosine() {
        for scale in [1e-200, 1e-310, 1e200, 1e300] {
            let a = [3.0 * scale, 4.0 * scale];
            let b = [4.0 * scale, 3.0 * scale];
            let c = similarity::<f64>(&a, &b, plain_dot).unwrap();
            assert!((c - 24.0 / 25.0).abs() < 1e-12, "{scale}: {c}");
        }
        for scale in [1e-25f32, 1e-30, 1e25, 1e37] {
            let a = [3.0 * scale, 4.0 * scale];
            let b = [4.0 * scale, 3.0 * scale];
            let c = similarity::<f32>(&a, &b, plain_dot).unwrap();
            assert!((c - 0.96).abs() < 1e-6, "{scale}: {c}");
        }
    }

    #[test]
    fn zero_nan_and_inf() {
        assert_eq!(similarity::<f64>(&[0.0, 0.0], &[1.0, 2.0], plain_dot), None);
        assert!(similarity::<f64>(&[f64::NAN, 1.0], &[0.0, 0.0], plain_dot).unwrap().is_nan());
        assert!(similarity::<f64>(&[0.0, 0.0], &[f64::INFINITY, 1.0], plain_dot).unwrap().is_nan());
        assert!(similarity::<f64>(&[f64::NAN, 1.0], &[1.0, 2.0], plain_dot).unwrap().is_nan());
        assert!(similarity::<f64>(&[f64::INFINITY, 1e-300], &[1e-300, 2e-300], plain_dot).unwrap().is_nan());
        assert!(inverse_norm::<f64>(&[0.0, -0.0], plain_dot, f64::NAN).is_nan());
        assert_eq!(inverse_norm::<f64>(&[1e-200, 0.0], plain_dot, 0.0), SCALE_ROW);
        assert_eq!(inverse_norm::<f64>(&[3.0, 4.0], plain_dot, 0.0), 0.2);
    }
}
