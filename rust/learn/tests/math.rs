//! `math.rs` against the standard library's libm, in ulps, over the ranges the
//! kernels use and their edges.

#[path = "../../core/tests/common.rs"]
mod common;

use common::Rng;
use mlkern_learn::math;

fn ulps(a: f64, b: f64) -> f64 {
    if a == b {
        return 0.0;
    }
    let scale = b.abs().max(f64::MIN_POSITIVE);
    (a - b).abs() / (scale * f64::EPSILON)
}

fn worst(points: impl Iterator<Item = f64>, f: fn(f64) -> f64, reference: fn(f64) -> f64) -> (f64, f64) {
    points.map(|x| (ulps(f(x), reference(x)), x)).fold((0.0, 0.0), |m, v| if v.0 > m.0 { v } else { m })
}

fn spread(lo: f64, hi: f64, n: usize, seed: u64) -> impl Iterator<Item = f64> {
    let mut rng = Rng(seed);
    (0..n).map(move |_| lo + (hi - lo) * (rng.uniform() * 0.5 + 0.5))
}

#[test]
fn exp_is_within_2_ulp_and_clamps() {
    for (lo, hi) in [(-708.0, 709.0), (-1.0, 1.0), (-1e-8, 1e-8), (-40.0, 0.0)] {
        let (e, x) = worst(spread(lo, hi, 200_000, 1), math::exp, f64::exp);
        assert!(e <= 2.0, "exp({x}) off by {e} ulp");
    }
    assert_eq!(math::exp(0.0), 1.0);
    assert_eq!(math::exp(-800.0), 0.0);
    assert_eq!(math::exp(f64::NEG_INFINITY), 0.0);
    assert_eq!(math::exp(710.0), f64::INFINITY);
    assert_eq!(math::exp(f64::INFINITY), f64::INFINITY);
    assert!(math::exp(f64::NAN).is_nan());
    // The top of the range: 2^1024 is built as 2^512 · 2^512.
    assert!(ulps(math::exp(709.7), 709.7f64.exp()) <= 2.0);
}

#[test]
fn ln_is_within_2_ulp_on_normal_inputs() {
    for (lo, hi) in [(1.0, 2.0), (0.5, 1.5), (1.0, 1e6), (1e-300, 1e-290), (0.999_999, 1.000_001)] {
        let (e, x) = worst(spread(lo, hi, 200_000, 2), math::ln, f64::ln);
        assert!(e <= 2.0, "ln({x}) off by {e} ulp");
    }
    assert_eq!(math::ln(1.0), 0.0);
    assert!(ulps(math::ln(std::f64::consts::SQRT_2), std::f64::consts::SQRT_2.ln()) <= 2.0);
}

#[test]
fn log1p_sigmoid_within_3_ulp_and_softplus_within_4() {
    let (e, x) = worst(spread(0.0, 1.0, 200_000, 3), math::log1p_small, f64::ln_1p);
    assert!(e <= 3.0, "log1p_small({x}) off by {e} ulp");
    let (e, x) = worst(spread(0.0, 1e-12, 50_000, 4), math::log1p_small, f64::ln_1p);
    assert!(e <= 3.0, "log1p_small({x}) off by {e} ulp (where 1 + e rounds)");
    let softplus = |z: f64| z.max(0.0) + (-z.abs()).exp().ln_1p();
    let sigmoid = |z: f64| if z >= 0.0 { 1.0 / (1.0 + (-z).exp()) } else { z.exp() / (1.0 + z.exp()) };
    for (lo, hi) in [(-40.0, 40.0), (-700.0, 700.0), (-1e-6, 1e-6)] {
        let (e, x) = worst(spread(lo, hi, 200_000, 5), math::softplus, softplus);
        assert!(e <= 4.0, "softplus({x}) off by {e} ulp");
        let (e, x) = worst(spread(lo, hi, 200_000, 6), math::sigmoid, sigmoid);
        assert!(e <= 3.0, "sigmoid({x}) off by {e} ulp");
    }
    assert_eq!(math::sigmoid(800.0), 1.0);
    assert_eq!(math::sigmoid(-800.0), 0.0);
    assert_eq!(math::softplus(-800.0), 0.0);
    assert_eq!(math::softplus(800.0), 800.0);
}
