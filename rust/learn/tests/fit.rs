//! The logistic objective against finite differences, L-BFGS on known problems, the
//! fits' independence from the thread count, the closed-form pieces (centred Gram,
//! Cholesky) against plain float64 formulas, and the errors for bad input.

#[path = "../../core/tests/common.rs"]
mod common;

use common::Rng;
use mlkern_learn::lbfgs::{self, Options, Stop};
use mlkern_learn::linear;
use mlkern_learn::logistic::{self, ClassData, Objective};

fn data(n: usize, d: usize, k: usize, seed: u64) -> (Vec<f64>, Vec<u32>, Vec<f64>) {
    let mut rng = Rng(seed);
    let x: Vec<f64> = (0..n * d).map(|_| rng.uniform()).collect();
    let y: Vec<u32> = (0..n)
        .map(|i| {
            let s: f64 = (0..d).map(|j| x[i * d + j] * (j as f64 - 1.5)).sum();
            ((s + 0.3 * rng.uniform()).abs() * 2.0) as u32 % k as u32
        })
        .collect();
    let sw: Vec<f64> = (0..n).map(|_| 0.5 + rng.uniform().abs()).collect();
    (x, y, sw)
}

#[test]
fn gradient_matches_central_differences() {
    for (k, intercept, weighted) in [(2, true, false), (2, false, true), (3, true, true), (5, true, false)] {
        let (x, y, sw) = data(700, 6, k, k as u64);
        let d = ClassData { x: &x, n: 700, d: 6, y: &y, sw: weighted.then_some(&sw[..]), n_classes: k };
        let mut obj = Objective::new(d, 0.7, intercept, 2).unwrap();
        let p = obj.n_params();
        let mut rng = Rng(9);
        let w: Vec<f64> = (0..p).map(|_| rng.uniform()).collect();
        let mut g = vec![0.0; p];
        obj.eval(&w, &mut g);
        let mut scratch = vec![0.0; p];
        for i in 0..p {
            let h = 1e-6;
            let (mut a, mut b) = (w.clone(), w.clone());
            a[i] += h;
            b[i] -= h;
            let fd = (obj.eval(&a, &mut scratch) - obj.eval(&b, &mut scratch)) / (2.0 * h);
            assert!((fd - g[i]).abs() <= 1e-7 * (1.0 + g[i].abs()), "k={k} param {i}: {fd} vs {}", g[i]);
        }
    }
}

#[test]
fn lbfgs_solves_rosenbrock_and_honours_its_stops() {
    let mut f = |x: &[f64], g: &mut [f64]| -> mlkern_core::Result<f64> {
        let (a, b) = (x[0], x[1]);
        g[0] = -2.0 * (1.0 - a) - 400.0 * a * (b - a * a);
        g[1] = 200.0 * (b - a * a);
        Ok((1.0 - a).powi(2) + 100.0 * (b - a * a).powi(2))
    };
    let mut x = vec![-1.2, 1.0];
    let opts = Options { gtol: 1e-9, max_iter: 1000, ..Options::default() };
    let out = lbfgs::minimize(&mut x, &mut f, &opts, &mut |_| true).unwrap();
    assert!(out.stop.converged(), "{out:?}");
    assert!((x[0] - 1.0).abs() < 1e-6 && (x[1] - 1.0).abs() < 1e-6, "{x:?}");
    let mut x = vec![-1.2, 1.0];
    let out = lbfgs::minimize(&mut x, &mut f, &Options { max_iter: 3, ..opts }, &mut |_| true).unwrap();
    assert_eq!((out.stop, out.n_iter), (Stop::MaxIter, 3));
    let mut x = vec![-1.2, 1.0];
    let mut seen = Vec::new();
    let out = lbfgs::minimize(&mut x, &mut f, &opts, &mut |p| {
        seen.push(p.f);
        p.iter < 5
    })
    .unwrap();
    assert_eq!((out.stop, out.n_iter, seen.len()), (Stop::Callback, 5, 5));
    assert!(seen.windows(2).all(|w| w[1] <= w[0]), "f must decrease: {seen:?}");
    let mut bad = |_: &[f64], _: &mut [f64]| -> mlkern_core::Result<f64> { Ok(f64::NAN) };
    assert!(lbfgs::minimize(&mut [0.0], &mut bad, &opts, &mut |_| true).is_err());
}

#[test]
fn logistic_fit_does_not_depend_on_the_thread_count() {
    let (x, y, sw) = data(10_000, 9, 3, 11);
    let x32: Vec<f32> = x.iter().map(|&v| v as f32).collect();
    let one = logistic::fit(
        ClassData { x: &x32, n: 10_000, d: 9, y: &y, sw: Some(&sw), n_classes: 3 },
        1.0,
        true,
        &Options::default(),
        None,
        1,
        &mut |_| true,
    )
    .unwrap();
    let two = logistic::fit(
        ClassData { x: &x32, n: 10_000, d: 9, y: &y, sw: Some(&sw), n_classes: 3 },
        1.0,
        true,
        &Options::default(),
        None,
        2,
        &mut |_| true,
    )
    .unwrap();
    assert_eq!(one.coef, two.coef);
    assert_eq!(one.intercept, two.intercept);
    assert_eq!(one.outcome.n_iter, two.outcome.n_iter);
    assert!(logistic::chunk_rows(10_000, 9, 3) < 10_000, "the test must cover several chunks");
}

#[test]
fn bad_class_data_is_refused() {
    let (x, y, sw) = data(50, 3, 2, 1);
    let ok = ClassData { x: &x, n: 50, d: 3, y: &y, sw: None, n_classes: 2 };
    assert!(ok.validate(1).is_ok());
    let mut nan = x.clone();
    nan[77] = f64::NAN;
    let neg: Vec<f64> = sw.iter().map(|v| -v).collect();
    let big_label: Vec<u32> = y.iter().map(|&v| v + 5).collect();
    for (bad, what) in [
        (ClassData { x: &nan, ..ok }, "X"),
        (ClassData { n: 49, ..ok }, "X"),
        (ClassData { x: &x[..0], n: 0, y: &y[..0], ..ok }, "X"),
        (ClassData { y: &y[..49], ..ok }, "y"),
        (ClassData { y: &big_label, ..ok }, "y"),
        (ClassData { n_classes: 1, ..ok }, "y"),
        (ClassData { sw: Some(&neg), ..ok }, "sample_weight"),
        (ClassData { sw: Some(&sw[..3]), ..ok }, "sample_weight"),
    ] {
        let e = bad.validate(1).unwrap_err().to_string();
        assert!(e.contains(what), "{e}");
    }
    assert!(Objective::new(ok, 0.0, true, 1).is_err());
    assert!(Objective::new(ok, f64::NAN, true, 1).is_err());
}

#[test]
fn centered_gram_matches_the_float64_formula() {
    let (n, d, t) = (9000, 5, 2);
    let mut rng = Rng(3);
    let x: Vec<f32> = (0..n * d).map(|i| (rng.uniform() + (i % d) as f64) as f32).collect();
    let y: Vec<f64> = (0..n * t).map(|_| rng.uniform() * 10.0).collect();
    let sw: Vec<f64> = (0..n).map(|_| rng.uniform().abs()).collect();
    for (w, intercept) in [(None, true), (Some(&sw[..]), true), (Some(&sw[..]), false)] {
        let g = linear::centered_gram(&x, n, d, &y, t, w, intercept, 2).unwrap();
        let wt = |i: usize| w.map_or(1.0, |s| s[i]);
        let tot: f64 = (0..n).map(wt).sum();
        let col = |i: usize, j: usize| if j < d { f64::from(x[i * d + j]) } else { y[i * t + j - d] };
        let mean: Vec<f64> = (0..d + t)
            .map(|j| if intercept { (0..n).map(|i| wt(i) * col(i, j)).sum::<f64>() / tot } else { 0.0 })
            .collect();
        for a in 0..d + t {
            assert!((g.x_mean.iter().chain(&g.y_mean).nth(a).unwrap() - mean[a]).abs() < 1e-12 * (1.0 + mean[a].abs()));
            for b in 0..d + t {
                let r: f64 = (0..n).map(|i| wt(i) * (col(i, a) - mean[a]) * (col(i, b) - mean[b])).sum();
                let got = g.gram[a * (d + t) + b];
                assert!((got - r).abs() <= 1e-10 * (1.0 + r.abs()), "({a},{b}) {got} vs {r}");
            }
        }
        // The chunked sums do not depend on the thread count.
        assert_eq!(linear::centered_gram(&x, n, d, &y, t, w, intercept, 1).unwrap().gram, g.gram);
    }
    assert!(linear::centered_gram(&x, n, d, &y, t, Some(&sw[..5]), true, 1).is_err());
    let mut bad = x.clone();
    bad[3] = f32::INFINITY;
    assert!(linear::centered_gram(&bad, n, d, &y, t, None, true, 1).is_err());
}

#[test]
fn solve_spd_across_block_boundaries() {
    let mut rng = Rng(5);
    for n in [1usize, 2, 63, 64, 65, 127, 128, 129, 150] {
        let m: Vec<f64> = (0..n * n).map(|_| rng.uniform()).collect();
        let mut a = vec![0.0; n * n];
        for i in 0..n {
            for j in 0..n {
                a[i * n + j] =
                    (0..n).map(|p| m[i * n + p] * m[j * n + p]).sum::<f64>() + if i == j { 1.0 } else { 0.0 };
            }
        }
        let x: Vec<f64> = (0..n * 2).map(|_| rng.uniform()).collect();
        let mut b = vec![0.0; n * 2];
        for i in 0..n {
            for c in 0..2 {
                b[i * 2 + c] = (0..n).map(|p| a[i * n + p] * x[p * 2 + c]).sum();
            }
        }
        let mut af = a.clone();
        linear::solve_spd(&mut af, n, &mut b, 2).unwrap();
        for (got, want) in b.iter().zip(&x) {
            assert!((got - want).abs() < 1e-9 * n as f64, "n={n}: {got} vs {want}");
        }
    }
    let mut sing = vec![1.0; 9];
    assert!(linear::solve_spd(&mut sing, 3, &mut [1.0, 1.0, 1.0], 1).is_err());
    assert!(linear::solve_spd(&mut [1.0, 0.0, 0.0, f64::NAN], 2, &mut [1.0, 1.0], 1).is_err());
    assert!(linear::solve_spd(&mut [1.0; 3], 2, &mut [1.0, 1.0], 1).is_err());
}
