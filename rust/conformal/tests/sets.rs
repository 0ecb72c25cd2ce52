//! Prediction sets, conformity scores and quantiles against MAPIE's rules written
//! out naively here (full stable sort, NumPy-style cumsum, masked argmin over the
//! original label order), on every tier this CPU supports, one and two threads,
//! bytes and bit-packed output: rows with ties, exact zeros and tiny entries,
//! thresholds placed exactly on (and one ulp around) cumulative sums, K from 1 to
//! 1000, and enough rows to split into several parallel tasks.

#[path = "../../core/tests/common.rs"]
mod common;

use common::Rng;
use mlkern_conformal::probs::ProbMatrix;
use mlkern_conformal::quantile::conformal_quantile;
use mlkern_conformal::scores::{conformity_scores, ScoreParams};
use mlkern_conformal::sets::{predict_sets, SetParams, SetsOut, Threshold};
use mlkern_conformal::{rng, Method, Regularization, EPSILON};
use mlkern_core::cpu;

/// Labels in decreasing probability, ties higher index first.
fn order(p: &[f64]) -> Vec<usize> {
    let mut idx: Vec<usize> = (0..p.len()).collect();
    idx.sort_by(|&a, &b| p[a].total_cmp(&p[b])); // stable: ties in index order
    idx.reverse();
    idx
}

fn ref_aps(p: &[f64], t: f64, reg: Regularization, u: Option<f64>) -> Vec<u8> {
    let k = p.len();
    let idx = order(p);
    let mut cum = vec![0.0; k];
    let mut c = 0.0;
    for (r, &j) in idx.iter().enumerate() {
        c += p[j];
        cum[j] = c + reg.lambda * ((r + 1) as f64 - reg.k_reg as f64).max(0.0);
    }
    let mut best: Option<(f64, usize)> = None;
    for j in 0..k {
        let d = cum[j] - t;
        if d < -EPSILON {
            continue;
        }
        if best.is_none_or(|(bd, _)| d < bd) {
            best = Some((d, j));
        }
    }
    let Some((_, last)) = best else { return vec![1; k] };
    let mut p_last = p[last];
    if p_last <= EPSILON {
        p_last = p.iter().copied().filter(|&x| x >= EPSILON).fold(f64::INFINITY, f64::min);
    }
    let mut out: Vec<u8> = p.iter().map(|&x| u8::from(x - p_last >= -EPSILON)).collect();
    if let Some(u) = u {
        let denom = p_last;
        out[last] = u8::from((cum[last] - t) / denom - u <= EPSILON);
    }
    out
}

fn ref_topk(p: &[f64], t: f64) -> Vec<u8> {
    let k = p.len();
    if t < 0.0 {
        return vec![0; k];
    }
    let idx = order(p);
    let r = (t.floor() as usize).min(k - 1);
    let cut = p[idx[r]];
    p.iter().map(|&x| u8::from(x - cut >= -EPSILON)).collect()
}

fn ref_lac(p: &[f64], t: f64) -> Vec<u8> {
    p.iter().map(|&x| u8::from((1.0 - x) - t <= EPSILON)).collect()
}

/// Rows of awkward probabilities: ties (quantised), exact zeros, tiny entries.
fn rows(rng: &mut Rng, n: usize, k: usize) -> Vec<f64> {
    let mut out = Vec::with_capacity(n * k);
    for i in 0..n {
        let kind = i % 4;
        let w: Vec<f64> = (0..k)
            .map(|_| {
                let u = rng.uniform().abs();
                match kind {
                    0 => u,
                    1 => (u * 4.0).floor(), // ties and zeros
                    2 => {
                        if u < 0.5 {
                            0.0
                        } else {
                            u
                        }
                    } // many zeros
                    _ => u.powi(8),         // tiny entries
                }
            })
            .collect();
        let s: f64 = w.iter().sum();
        if s == 0.0 {
            out.extend((0..k).map(|_| 1.0 / k as f64));
        } else {
            out.extend(w.iter().map(|x| x / s));
        }
    }
    out
}

fn thresholds(p: &[f64]) -> Vec<f64> {
    let idx = order(p);
    let mut c = 0.0;
    let mut t = vec![0.0, 0.5, 0.9, 0.999, 1.0, 1.5, f64::INFINITY];
    for &j in idx.iter().take(6) {
        c += p[j];
        for v in [c, c + EPSILON, c - EPSILON] {
            t.extend([v, f64::from_bits(v.to_bits() + 1), f64::from_bits(v.to_bits().saturating_sub(1))]);
        }
    }
    t
}

fn check_all_sets(n: usize, k: usize, seed: u64) {
    let mut rng = Rng(seed);
    let p = rows(&mut rng, n, k);
    let p32: Vec<f32> = p.iter().map(|&x| x as f32).collect();
    let probs = ProbMatrix::new(&p, n, k).unwrap();
    let probs32 = ProbMatrix::new(&p32, n, k).unwrap();
    let mut got = vec![9u8; n * k];
    let mut packed = vec![9u8; n * k.div_ceil(8)];
    for t in thresholds(&p[..k]) {
        for (method, reg) in [
            (Method::Aps, Regularization::NONE),
            (Method::Raps, Regularization { lambda: 0.01, k_reg: 1 }),
            (Method::Raps, Regularization { lambda: 0.2, k_reg: 3 }),
            (Method::TopK, Regularization::NONE),
            (Method::Lac, Regularization::NONE),
        ] {
            let randoms: &[Option<u64>] =
                if matches!(method, Method::Aps | Method::Raps) { &[None, Some(5)] } else { &[None] };
            for &randomized in randoms {
                let tt = if method == Method::TopK && t.is_finite() { (t * 3.0).floor() } else { t };
                let params = SetParams { method, reg, randomized };
                let mut labels = vec![-1i64; n];
                predict_sets(probs, Threshold::Scalar(tt), &params, SetsOut::Bytes(&mut got), Some(&mut labels))
                    .unwrap();
                for i in 0..n {
                    let row = &p[i * k..(i + 1) * k];
                    let first_max = (0..k).fold(0, |b, j| if row[j] > row[b] { j } else { b });
                    assert_eq!(labels[i], first_max as i64, "argmax (bytes) {method:?} row {i}");
                    let want = match method {
                        Method::Lac => ref_lac(row, tt),
                        Method::TopK => ref_topk(row, tt),
                        _ => ref_aps(row, tt, reg, randomized.map(|s| rng::uniform(s, i as u64))),
                    };
                    assert_eq!(
                        &got[i * k..(i + 1) * k],
                        &want[..],
                        "{method:?} {reg:?} rand={randomized:?} t={tt} row {i} p={row:?}"
                    );
                }
                let mut best = vec![-1i64; n];
                predict_sets(probs, Threshold::Scalar(tt), &params, SetsOut::Packed(&mut packed), Some(&mut best))
                    .unwrap();
                for i in 0..n {
                    let row = &p[i * k..(i + 1) * k];
                    let first_max = (0..k).fold(0, |b, j| if row[j] > row[b] { j } else { b });
                    assert_eq!(best[i], first_max as i64, "argmax row {i}");
                }
                for i in 0..n {
                    for j in 0..k {
                        let bit = (packed[i * k.div_ceil(8) + j / 8] >> (7 - j % 8)) & 1;
                        assert_eq!(bit, got[i * k + j], "packed {method:?} row {i} label {j}");
                    }
                }
                // float32 input: the same rules on the widened values.
                predict_sets(probs32, Threshold::Scalar(tt), &params, SetsOut::Bytes(&mut got), None).unwrap();
                for i in (0..n).step_by(7) {
                    let row: Vec<f64> = p32[i * k..(i + 1) * k].iter().map(|&x| f64::from(x)).collect();
                    let want = match method {
                        Method::Lac => ref_lac(&row, tt),
                        Method::TopK => ref_topk(&row, tt),
                        _ => ref_aps(&row, tt, reg, randomized.map(|s| rng::uniform(s, i as u64))),
                    };
                    assert_eq!(&got[i * k..(i + 1) * k], &want[..], "f32 {method:?} t={tt} row {i}");
                }
            }
        }
    }
}

/// APS/RAPS with one threshold per row, each on (or one ulp around, or ε around)
/// a cumulative sum of its own row, so every row meets MAPIE's compare edges.
fn check_per_row_thresholds(n: usize, k: usize, seed: u64) {
    let mut rng = Rng(seed);
    let p = rows(&mut rng, n, k);
    let probs = ProbMatrix::new(&p, n, k).unwrap();
    let ts: Vec<f64> = (0..n)
        .map(|i| {
            let row = &p[i * k..(i + 1) * k];
            let idx = order(row);
            let c: f64 = idx.iter().take(1 + i % k.min(4)).map(|&j| row[j]).sum();
            let c = match i % 5 {
                0 => c,
                1 => f64::from_bits(c.to_bits() + 1),
                2 => f64::from_bits(c.to_bits() - 1),
                3 => c + EPSILON,
                _ => c - EPSILON,
            };
            if i % 11 == 10 {
                f64::INFINITY
            } else {
                c
            }
        })
        .collect();
    let mut got = vec![9u8; n * k];
    for (method, reg) in [
        (Method::Aps, Regularization::NONE),
        (Method::Raps, Regularization { lambda: 0.01, k_reg: 1 }),
        (Method::Raps, Regularization { lambda: 0.2, k_reg: 3 }),
    ] {
        let params = SetParams { method, reg, randomized: None };
        let mut labels = vec![-1i64; n];
        predict_sets(probs, Threshold::PerRow(&ts), &params, SetsOut::Bytes(&mut got), Some(&mut labels)).unwrap();
        for i in 0..n {
            let row = &p[i * k..(i + 1) * k];
            let want = ref_aps(row, ts[i], reg, None);
            assert_eq!(&got[i * k..(i + 1) * k], &want[..], "per-row {method:?} {reg:?} t={} row {i} p={row:?}", ts[i]);
            let first_max = (0..k).fold(0, |b, j| if row[j] > row[b] { j } else { b });
            assert_eq!(labels[i], first_max as i64, "per-row argmax row {i}");
        }
        // float32 input: the same rules on the widened values.
        let p32: Vec<f32> = p.iter().map(|&x| x as f32).collect();
        predict_sets(
            ProbMatrix::new(&p32, n, k).unwrap(),
            Threshold::PerRow(&ts),
            &params,
            SetsOut::Bytes(&mut got),
            None,
        )
        .unwrap();
        for i in 0..n {
            let row: Vec<f64> = p32[i * k..(i + 1) * k].iter().map(|&x| f64::from(x)).collect();
            assert_eq!(&got[i * k..(i + 1) * k], &ref_aps(&row, ts[i], reg, None)[..], "per-row f32 row {i}");
        }
    }
}

/// Thresholds and penalties that saturate `c' − q` (|q| ≳ 10¹⁵, q = −∞, an
/// infinite penalty): later ranks tie with the last one in MAPIE's argmin, which
/// then takes the lowest label index, whatever its probability. Every row is
/// repeated 11 times, so that a whole block of 8 takes the AVX-512 row kernel and
/// 3 rows the walk.
fn check_saturated_ties() {
    let cases: [(&[f64], f64, Regularization); 6] = [
        (&[0.2, 0.8], f64::NEG_INFINITY, Regularization::NONE),
        (&[0.2, 0.8], -1e17, Regularization::NONE),
        (&[5e-8, 0.99999995], -1e9, Regularization::NONE),
        (&[0.2, 0.3, 0.5], 1.5e308, Regularization { lambda: 1e308, k_reg: 0 }),
        (&[0.1, 0.2, 0.3, 0.4, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0], -1e16, Regularization::NONE),
        (&[0.05, 0.1, 0.15, 0.2, 0.25, 0.25], 1e300, Regularization { lambda: f64::MAX, k_reg: 2 }),
    ];
    for (row, t, reg) in cases {
        let k = row.len();
        let p: Vec<f64> = (0..11).flat_map(|_| row.iter().copied()).collect();
        let probs = ProbMatrix::new(&p, 11, k).unwrap();
        let method = if reg.lambda > 0.0 { Method::Raps } else { Method::Aps };
        let params = SetParams { method, reg, randomized: None };
        let mut got = vec![9u8; p.len()];
        let mut labels = vec![-1i64; 11];
        predict_sets(probs, Threshold::Scalar(t), &params, SetsOut::Bytes(&mut got), Some(&mut labels)).unwrap();
        let want = ref_aps(row, t, reg, None);
        let first_max = (0..k).fold(0, |b, j| if row[j] > row[b] { j } else { b });
        for i in 0..11 {
            assert_eq!(&got[i * k..(i + 1) * k], &want[..], "saturated {row:?} t={t} {reg:?} row {i}");
            assert_eq!(labels[i], first_max as i64, "saturated argmax row {i}");
        }
    }
}

/// The tier and thread count are process-wide: one test walks all of them.
#[test]
fn sets_match_mapie_rules_every_tier_and_thread_count() {
    for &tier in cpu::available_tiers() {
        cpu::set_active(tier).unwrap();
        for threads in [1, 2] {
            mlkern_core::threads::set_num_threads(threads).unwrap();
            for (n, k) in
                [(9, 1), (9, 2), (12, 3), (16, 8), (40, 10), (20, 16), (20, 17), (12, 33), (8, 100), (2, 1000)]
            {
                check_all_sets(n, k, 100 + k as u64);
            }
            for k in [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17] {
                check_per_row_thresholds(203, k, 300 + k as u64);
            }
            check_saturated_ties();
        }
    }
    // Several parallel tasks (rows × work above the split threshold), 2 threads.
    check_all_sets(5000, 10, 7);
    cpu::set_active(cpu::available_tiers()[cpu::available_tiers().len() - 1]).unwrap();
}

#[test]
fn scores_match_mapie_definitions() {
    let mut rng = Rng(3);
    for k in [1usize, 2, 5, 17, 100] {
        let n = 200;
        let p = rows(&mut rng, n, k);
        let labels: Vec<i64> = (0..n).map(|_| rng.below(k) as i64).collect();
        let probs = ProbMatrix::new(&p, n, k).unwrap();
        let mut got = vec![0.0; n];
        for (method, reg, randomized) in [
            (Method::Lac, Regularization::NONE, None),
            (Method::TopK, Regularization::NONE, None),
            (Method::Aps, Regularization::NONE, None),
            (Method::Aps, Regularization::NONE, Some(9)),
            (Method::Raps, Regularization { lambda: 0.3, k_reg: 2 }, None),
            (Method::Raps, Regularization { lambda: 0.3, k_reg: 2 }, Some(9)),
        ] {
            conformity_scores(probs, &labels, &ScoreParams { method, reg, randomized }, &mut got).unwrap();
            for i in 0..n {
                let row = &p[i * k..(i + 1) * k];
                let y = labels[i] as usize;
                let idx = order(row);
                let pos = idx.iter().position(|&j| j == y).unwrap();
                let cum = idx[..=pos].iter().fold(0.0, |c, &j| c + row[j]);
                let want = match method {
                    Method::Lac => 1.0 - row[y],
                    Method::TopK => pos as f64,
                    _ => {
                        let u = randomized.map_or(0.0, |s| rng::uniform(s, i as u64));
                        let c = if randomized.is_some() { cum - u * row[y] } else { cum };
                        c + (reg.lambda * ((pos + 1) as f64 - reg.k_reg as f64)).max(0.0)
                    }
                };
                assert_eq!(got[i].to_bits(), want.to_bits(), "{method:?} k={k} row {i}: {} vs {want}", got[i]);
            }
        }
    }
}

#[test]
fn quantile_is_the_conformal_order_statistic() {
    let mut rng = Rng(4);
    for n in [1usize, 2, 9, 10, 49, 99, 1000, 10_001] {
        let s: Vec<f64> = (0..n).map(|_| (rng.uniform() * 50.0).round()).collect();
        let mut sorted = s.clone();
        sorted.sort_by(f64::total_cmp);
        // MAPIE's alpha is 1 − level in decimal: written out here as literals.
        let levels = [0.05, 0.5, 0.58, 0.8, 0.9, 0.95, 0.99];
        let alphas = [0.95, 0.5, 0.42, 0.2, 0.1, 0.05, 0.01];
        let mut out = [0.0; 7];
        conformal_quantile(&s, &levels, &mut out).unwrap();
        for (l, &level) in levels.iter().enumerate() {
            let kf = ((n as f64 + 1.0) * (1.0 - alphas[l])).ceil() as usize;
            let want = if kf > n { f64::INFINITY } else { sorted[kf - 1] };
            assert_eq!(out[l], want, "n={n} level={level}");
        }
    }
}

#[test]
fn bad_inputs_are_errors() {
    let p = [0.5, 0.5, 0.2, 0.8];
    let probs = ProbMatrix::new(&p, 2, 2).unwrap();
    let mut out = [0u8; 4];
    let aps = SetParams { method: Method::Aps, reg: Regularization::NONE, randomized: None };
    assert!(predict_sets(probs, Threshold::Scalar(f64::NAN), &aps, SetsOut::Bytes(&mut out), None).is_err());
    assert!(predict_sets(probs, Threshold::PerClass(&[0.1, 0.2]), &aps, SetsOut::Bytes(&mut out), None).is_err());
    assert!(predict_sets(probs, Threshold::PerRow(&[0.1]), &aps, SetsOut::Bytes(&mut out), None).is_err());
    assert!(predict_sets(probs, Threshold::Scalar(0.5), &aps, SetsOut::Bytes(&mut out[..3]), None).is_err());
    let bad = [0.5, 0.6, 0.2, 0.8];
    let e = predict_sets(
        ProbMatrix::new(&bad, 2, 2).unwrap(),
        Threshold::Scalar(0.5),
        &aps,
        SetsOut::Bytes(&mut out),
        None,
    );
    assert!(e.unwrap_err().to_string().contains("row 0"));
    let nan = [0.5, 0.5, f64::NAN, 0.8];
    let e = predict_sets(
        ProbMatrix::new(&nan, 2, 2).unwrap(),
        Threshold::Scalar(0.5),
        &aps,
        SetsOut::Bytes(&mut out),
        None,
    );
    assert!(e.unwrap_err().to_string().contains("row 1"));
    let mut s = [0.0; 2];
    let lac = ScoreParams { method: Method::Lac, reg: Regularization::NONE, randomized: None };
    assert!(conformity_scores(probs, &[0, 2], &lac, &mut s).is_err());
    assert!(conformity_scores(probs, &[0, -1], &lac, &mut s).is_err());
    assert!(conformity_scores(probs, &[0], &lac, &mut s).is_err());
    assert!(conformal_quantile(&[], &[0.9], &mut [0.0]).is_err());
    assert!(conformal_quantile(&[1.0], &[1.0], &mut [0.0]).is_err());
    assert!(conformal_quantile(&[1.0], &[0.0], &mut [0.0]).is_err());
    assert!(conformal_quantile(&[f64::NAN], &[0.5], &mut [0.0]).is_err());
    assert!(ProbMatrix::new(&p, 3, 2).is_err());
    assert!(ProbMatrix::<f64>::new(&[], 0, 0).is_err());
}
