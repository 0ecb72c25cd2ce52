//! The vector operations (`mlkern_core::vector`) under every supported tier:
//! cdist and topk against brute force, chunked reductions, thread-count independence,
//! and errors for inconsistent shapes. Tests here switch the global tier, so they
//! hold one lock.

mod common;

use std::sync::Mutex;

use common::*;
use mlkern_core::cpu::{self, available_tiers};
use mlkern_core::threads;
use mlkern_core::vector::{self, Metric};

static GLOBAL: Mutex<()> = Mutex::new(());

fn each_tier(mut f: impl FnMut(cpu::Tier)) {
    let _g = GLOBAL.lock().unwrap_or_else(|p| p.into_inner());
    let before = cpu::active();
    for &t in available_tiers() {
        cpu::set_active(t).unwrap();
        f(t);
    }
    cpu::set_active(before).unwrap();
}

fn reference(metric: Metric, x: &[f64], y: &[f64]) -> f64 {
    match metric {
        Metric::Dot => exact_dot(x, y),
        Metric::SqEuclidean | Metric::Euclidean => {
            let d: Vec<f64> = x.iter().zip(y).map(|(p, q)| p - q).collect();
            let s = exact_dot(&d, &d);
            if metric == Metric::Euclidean {
                s.sqrt()
            } else {
                s
            }
        }
        Metric::CosineSimilarity | Metric::CosineDistance => {
            let (nx, ny) = (exact_dot(x, x).sqrt(), exact_dot(y, y).sqrt());
            match (nx == 0.0 || ny == 0.0, metric) {
                (true, Metric::CosineSimilarity) => 0.0, // scikit-learn
                (true, _) => f64::NAN,                   // SciPy
                (false, Metric::CosineSimilarity) => exact_dot(x, y) / (nx * ny),
                (false, _) => 1.0 - exact_dot(x, y) / (nx * ny),
            }
        }
    }
}

const METRICS: [Metric; 5] =
    [Metric::Dot, Metric::CosineSimilarity, Metric::CosineDistance, Metric::SqEuclidean, Metric::Euclidean];

#[test]
fn cdist_matches_pairwise_reference_every_tier_and_shape() {
    let mut rng = Rng(10);
    each_tier(|tier| {
        for (m, n, d) in
            [(0, 3, 4), (3, 0, 4), (1, 1, 0), (1, 1, 1), (5, 7, 3), (9, 13, 17), (33, 70, 65), (70, 5, 128)]
        {
            let a = rng.vec_f32(m * d);
            let mut b = rng.vec_f32(n * d);
            if n > 2 && d > 0 {
                b[d..2 * d].fill(0.0); // a zero row: cosine 0
            }
            for metric in METRICS {
                let mut out = vec![f32::NAN; m * n];
                vector::cdist(&a, m, &b, n, d, metric, &mut out).unwrap();
                for i in 0..m {
                    for j in 0..n {
                        let (x, y) = (widen(&a[i * d..(i + 1) * d]), widen(&b[j * d..(j + 1) * d]));
                        let want = reference(metric, &x, &y);
                        let scale = match metric {
                            Metric::Dot => abs_dot(&x, &y),
                            Metric::CosineSimilarity | Metric::CosineDistance => 1.0,
                            _ => want.abs(),
                        };
                        let tol = 4.0 * gamma(d + 4, 6e-8) * scale + 1e-30;
                        let got = out[i * n + j] as f64;
                        assert!(
                            (got - want).abs() <= tol || (got.is_nan() && want.is_nan()),
                            "{tier} {metric:?} ({m},{n},{d}) [{i},{j}]: {got} vs {want}"
                        );
                    }
                }
            }
        }
    });
}

fn brute_topk(metric: Metric, q: &[f64], c: &[f64], d: usize, k: usize) -> Vec<usize> {
    let n = c.len() / d.max(1);
    let mut scored: Vec<(f64, usize)> = (0..n).map(|j| (reference(metric, q, &c[j * d..(j + 1) * d]), j)).collect();
    scored.sort_by(|x, y| {
        let (kx, ky) = if metric.higher_is_closer() { (-x.0, -y.0) } else { (x.0, y.0) };
        kx.partial_cmp(&ky).unwrap().then(x.1.cmp(&y.1))
    });
    scored.into_iter().take(k).map(|s| s.1).collect()
}

#[test]
fn topk_matches_brute_force_every_tier() {
    let mut rng = Rng(11);
    each_tier(|tier| {
        for (q, n, d, k) in [(1, 1, 1, 1), (3, 10, 5, 10), (7, 300, 33, 5), (5, 5000, 16, 7), (2, 4100, 3, 50)] {
            // Integer-valued data: every score is exact, so brute force ranks identically
            // (including ties, broken by index).
            let queries: Vec<f64> = (0..q * d).map(|_| (rng.below(7) as f64) - 3.0).collect();
            let corpus: Vec<f64> = (0..n * d).map(|_| (rng.below(7) as f64) - 3.0).collect();
            for metric in [Metric::Dot, Metric::SqEuclidean, Metric::Euclidean] {
                let mut idx = vec![-1i64; q * k];
                let mut scores = vec![0.0f64; q * k];
                vector::topk(&queries, q, &corpus, n, d, k, metric, &mut idx, &mut scores).unwrap();
                for i in 0..q {
                    let want = brute_topk(metric, &queries[i * d..(i + 1) * d], &corpus, d, k);
                    let got: Vec<usize> = idx[i * k..(i + 1) * k].iter().map(|&x| x as usize).collect();
                    assert_eq!(got, want, "{tier} {metric:?} q={q} n={n} d={d} k={k} query {i}");
                    for s in 0..k {
                        let r =
                            reference(metric, &queries[i * d..(i + 1) * d], &corpus[want[s] * d..(want[s] + 1) * d]);
                        assert!((scores[i * k + s] - r).abs() <= 1e-9 * r.abs().max(1.0));
                    }
                }
            }
        }
    });
}

#[test]
fn topk_cosine_agrees_with_cdist() {
    let mut rng = Rng(12);
    let (q, n, d, k) = (6, 3000, 40, 9);
    let queries = rng.vec_f32(q * d);
    let corpus = rng.vec_f32(n * d);
    each_tier(|tier| {
        let mut full = vec![0.0f32; q * n];
        vector::cdist(&queries, q, &corpus, n, d, Metric::CosineSimilarity, &mut full).unwrap();
        let mut idx = vec![0i64; q * k];
        let mut scores = vec![0.0f32; q * k];
        vector::topk(&queries, q, &corpus, n, d, k, Metric::CosineSimilarity, &mut idx, &mut scores).unwrap();
        for i in 0..q {
            let row = &full[i * n..(i + 1) * n];
            let kth = scores[i * k + k - 1];
            for s in 0..k {
                assert_eq!(row[idx[i * k + s] as usize], scores[i * k + s], "{tier}");
                if s > 0 {
                    assert!(scores[i * k + s] <= scores[i * k + s - 1]);
                }
            }
            // Nothing outside the result beats the k-th score.
            let better = row.iter().filter(|&&v| v > kth).count();
            assert!(better < k, "{tier}: {better} scores beat the k-th");
        }
    });
}

#[test]
fn results_do_not_depend_on_thread_count() {
    let _g = GLOBAL.lock().unwrap_or_else(|p| p.into_inner());
    let mut rng = Rng(13);
    let n = vector::PAR_MIN_LEN * 3 + 17;
    let a = rng.vec_f32(n);
    let b = rng.vec_f32(n);
    let (m, nn, d) = (130, 90, 70);
    let x = rng.vec_f64(m * d);
    let y = rng.vec_f64(nn * d);
    let corpus = rng.vec_f32(9000 * 8);
    let mut runs = Vec::new();
    for t in [1, 2, 3] {
        threads::set_num_threads(t).unwrap();
        let dot = vector::dot(&a, &b).unwrap();
        let mut out = vec![0.0; m * nn];
        vector::cdist(&x, m, &y, nn, d, Metric::Euclidean, &mut out).unwrap();
        let mut idx = vec![0i64; 4 * 20];
        let mut sc = vec![0.0f32; 4 * 20];
        vector::topk(&corpus[..4 * 8], 4, &corpus, 9000, 8, 20, Metric::CosineSimilarity, &mut idx, &mut sc).unwrap();
        runs.push((dot.to_bits(), out.iter().map(|v| v.to_bits()).collect::<Vec<_>>(), idx, sc));
    }
    assert!(runs.windows(2).all(|w| w[0] == w[1]));
    // And the long dot is right.
    let exact = exact_dot(&widen(&a), &widen(&b));
    let got = vector::dot(&a, &b).unwrap() as f64;
    assert!((got - exact).abs() <= gamma(n, 6e-8) * abs_dot(&widen(&a), &widen(&b)));
}

#[test]
fn inconsistent_shapes_are_errors() {
    assert!(vector::dot(&[1.0f32, 2.0], &[1.0]).is_err());
    assert!(vector::sqeuclidean(&[1.0f64], &[]).is_err());
    let mut out = vec![0.0f32; 4];
    assert!(vector::cdist(&[0.0f32; 6], 2, &[0.0; 6], 2, 3, Metric::Dot, &mut out[..3]).is_err());
    assert!(vector::cdist(&[0.0f32; 5], 2, &[0.0; 6], 2, 3, Metric::Dot, &mut out).is_err());
    let (mut i, mut s) = (vec![0i64; 2], vec![0.0f32; 2]);
    let e = vector::topk(&[0.0f32; 3], 1, &[0.0; 3], 1, 3, 2, Metric::Dot, &mut i, &mut s).unwrap_err();
    assert!(e.to_string().contains("exceeds"), "{e}");
    assert!(vector::topk(&[0.0f32; 3], 1, &[0.0; 3], 1, 3, 0, Metric::Dot, &mut i, &mut s).is_err());
    assert!(Metric::from_name("manhattan").is_err());
    // Zero vectors: similarity 0, distance 1 (scikit-learn); NaN input: NaN.
    assert_eq!(vector::cosine_similarity(&[0.0f32; 4], &[1.0; 4]).unwrap(), 0.0);
    assert_eq!(vector::cosine_distance(&[0.0f32; 4], &[1.0; 4]).unwrap(), 1.0);
    assert!(vector::cosine_similarity(&[f64::NAN, 1.0], &[1.0, 1.0]).unwrap().is_nan());
    assert_eq!(vector::dot_precise(&[f64::INFINITY, 1.0], &[1.0, 1.0]).unwrap(), f64::INFINITY);
}

/// Rows of 1e-200 / 1e200 (float64) and 1e-25 / 1e25 (float32) whose squared norms
/// under- or overflow: the cosine of a scaled pair equals that of the unscaled one.
#[test]
fn cosine_of_tiny_and_huge_rows_every_tier() {
    let mut rng = Rng(14);
    let (m, n, d) = (5, 6, 19);
    let a = rng.vec_f64(m * d);
    let b = rng.vec_f64(n * d);
    each_tier(|tier| {
        for metric in [Metric::CosineSimilarity, Metric::CosineDistance] {
            let mut want = vec![0.0f64; m * n];
            vector::cdist(&a, m, &b, n, d, metric, &mut want).unwrap();
            for (sa, sb) in
                [(1e-200, 1.0), (1.0, 1e-200), (1e-200, 1e-200), (1e200, 1e-200), (1e300, 1e300), (1e-310, 1.0)]
            {
                let xa: Vec<f64> = a.iter().map(|v| v * sa).collect();
                let xb: Vec<f64> = b.iter().map(|v| v * sb).collect();
                let mut got = vec![0.0f64; m * n];
                vector::cdist(&xa, m, &xb, n, d, metric, &mut got).unwrap();
                for (g, w) in got.iter().zip(&want) {
                    assert!((g - w).abs() <= 1e-6, "{tier} {metric:?} {sa} {sb}: {g} vs {w}");
                }
                let (mut idx, mut sc) = (vec![0i64; m * 3], vec![0.0f64; m * 3]);
                vector::topk(&xa, m, &xb, n, d, 3, metric, &mut idx, &mut sc).unwrap();
                for i in 0..m {
                    for s in 0..3 {
                        assert_eq!(sc[i * 3 + s], got[i * n + idx[i * 3 + s] as usize], "{tier} topk {metric:?}");
                    }
                }
            }
            let af: Vec<f32> = a.iter().map(|&v| v as f32).collect();
            let bf: Vec<f32> = b.iter().map(|&v| v as f32).collect();
            for (sa, sb) in [(1e-25f32, 1.0f32), (1e-25, 1e-25), (1e25, 1e-25), (1e-40, 1.0)] {
                let xa: Vec<f32> = af.iter().map(|v| v * sa).collect();
                let xb: Vec<f32> = bf.iter().map(|v| v * sb).collect();
                let mut got = vec![0.0f32; m * n];
                vector::cdist(&xa, m, &xb, n, d, metric, &mut got).unwrap();
                // 1e-40 is subnormal in float32: the scaled values carry fewer bits.
                let tol = if sa < 1e-38 { 1e-2 } else { 1e-5 };
                for (g, w) in got.iter().zip(&want) {
                    assert!((*g as f64 - w).abs() <= tol, "{tier} {metric:?} {sa} {sb}: {g} vs {w}");
                }
            }
        }
        let tiny = [3e-200f64, 4e-200];
        assert!((vector::cosine_similarity(&tiny, &[4e-200, 3e-200]).unwrap() - 0.96).abs() < 1e-15, "{tier}");
        let tiny32 = [3e-25f32, 4e-25];
        assert!((vector::cosine_similarity(&tiny32, &[4e-25, 3e-25]).unwrap() - 0.96).abs() < 1e-6, "{tier}");
    });
}
