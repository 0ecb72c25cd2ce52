//! SGD: every tier against a plain float64 replay of scikit-learn's per-sample rule
//! (in order, L2, optimal rate, log and hinge losses), and mini-batches that do not
//! depend on the thread count.

#[path = "../../core/tests/common.rs"]
mod common;

use common::Rng;
use mlkern_learn::dispatch::for_tier;
use mlkern_learn::sgd::{self, Loss, Problem, Schedule, Settings, State, Targets};

fn settings(loss: Loss, batch: usize, shuffle: bool) -> Settings {
    Settings {
        loss,
        alpha: 1e-3,
        l1_ratio: 0.0,
        penalized: true,
        fit_intercept: true,
        schedule: Schedule::Optimal,
        eta0: 0.01,
        power_t: 0.5,
        average: 0,
        shuffle,
        seed: 3,
        max_epochs: 2,
        tol: None,
        n_iter_no_change: 5,
        batch_size: batch,
        track_loss: true,
    }
}

/// The losses' gradients written out here (not the crate's `Loss::grad`).
fn grad(loss: Loss, y: f64, p: f64) -> f64 {
    match loss {
        Loss::Log => 1.0 / (1.0 + (-p).exp()) - y,
        Loss::Hinge(t) if p * y <= t => -y,
        _ => 0.0,
    }
}

/// scikit-learn's `_plain_sgd` for dense rows in order, L2, no averaging, in f64,
/// with its `optimal` schedule: `typw = sqrt(1/sqrt(alpha))`, `t0 = 1/(alpha·typw)`
/// (the gradient at `(1, −typw)` is ≥ −1 for log and hinge loss, so `max(1, ·) = 1`).
fn replay(x: &[f64], d: usize, y: &[f64], loss: Loss, s: &Settings) -> (Vec<f64>, f64) {
    let n = y.len();
    let (mut w, mut b, mut t) = (vec![0.0; d], 0.0, 1.0);
    let typw = (1.0 / s.alpha.sqrt()).sqrt();
    let init = 1.0 / (typw * s.alpha);
    for _ in 0..s.max_epochs {
        for i in 0..n {
            let xi = &x[i * d..(i + 1) * d];
            let p: f64 = xi.iter().zip(&w).map(|(a, b)| a * b).sum::<f64>() + b;
            let eta = 1.0 / (s.alpha * (init + t - 1.0));
            let update = -eta * grad(loss, y[i], p);
            let shrink = (1.0 - eta * s.alpha).max(0.0);
            w.iter_mut().zip(xi).for_each(|(wj, xj)| *wj = *wj * shrink + update * xj);
            b += update;
            t += 1.0;
        }
    }
    (w, b)
}

#[test]
fn every_tier_replays_sklearns_per_sample_rule() {
    let (n, d) = (300, 13);
    let mut rng = Rng(5);
    let x: Vec<f64> = (0..n * d).map(|_| rng.uniform()).collect();
    let codes: Vec<u32> = (0..n).map(|i| u32::from(x[i * d] + 0.5 * x[i * d + 1] > 0.1)).collect();
    let rows: Vec<u32> = (0..n as u32).collect();
    for (loss, negative) in [(Loss::Log, 0.0), (Loss::Hinge(1.0), -1.0)] {
        let y: Vec<f64> = codes.iter().map(|&c| if c == 1 { 1.0 } else { negative }).collect();
        let s = settings(loss, 1, false);
        let (w_ref, b_ref) = replay(&x, d, &y, loss, &s);
        for tier in mlkern_core::cpu::available_tiers() {
            let k = for_tier(*tier).unwrap();
            let p = Problem {
                x: &x,
                d,
                targets: Targets::Classes { codes: &codes, positive: 1, negative },
                sw: None,
                class_weight: (1.0, 1.0),
                rows: &rows,
            };
            let mut st = State::<f64>::new(d, None, 0.0, None, 1.0, s.eta0);
            let typw = (1.0 / s.alpha.sqrt()).sqrt();
            let init = 1.0 / (typw / loss.grad(1.0, -typw).max(1.0) * s.alpha);
            for _ in 0..s.max_epochs {
                (k.f64.sgd_epoch)(&p, &s, &mut st, &rows, init, false, &|| true).unwrap();
            }
            st.reset_scale();
            let w = st.weights();
            for (a, e) in w.iter().zip(&w_ref) {
                assert!((a - e).abs() <= 1e-9 * (1.0 + e.abs()), "{tier} {loss:?}: {a} vs {e}");
            }
            assert!((st.intercept - b_ref).abs() <= 1e-9 * (1.0 + b_ref.abs()), "{tier} {loss:?} intercept");
            assert_eq!(st.t, (s.max_epochs * n) as f64 + 1.0);
        }
    }
}

#[test]
fn minibatches_do_not_depend_on_the_thread_count() {
    let (n, d) = (5000, 9);
    let mut rng = Rng(8);
    let x: Vec<f32> = (0..n * d).map(|_| rng.uniform() as f32).collect();
    let codes: Vec<u32> = (0..n).map(|i| u32::from(x[i * d] > 0.0)).collect();
    let rows: Vec<u32> = (0..n as u32).collect();
    let p = Problem {
        x: &x,
        d,
        targets: Targets::Classes { codes: &codes, positive: 1, negative: 0.0 },
        sw: None,
        class_weight: (1.0, 1.0),
        rows: &rows,
    };
    let mut runs = Vec::new();
    for threads in [1, 2, 1] {
        mlkern_core::threads::set_num_threads(threads).unwrap();
        let mut st = State::<f32>::new(d, None, 0.0, None, 1.0, 0.01);
        sgd::train(&p, &settings(Loss::Log, 1000, true), &mut st, None, &mut |_| true, &|| true).unwrap();
        runs.push((st.weights(), st.intercept));
    }
    assert_eq!(runs[0], runs[1]);
    assert_eq!(runs[0], runs[2]);
    // And they learn: the sign of the first feature decides the class.
    assert!(runs[0].0[0] > 1.0, "{:?}", runs[0].0);
}

#[test]
fn bad_problems_are_refused() {
    let x = vec![0.0f64; 20];
    let codes = vec![0u32; 5];
    let rows: Vec<u32> = vec![0, 1, 9];
    let p = Problem {
        x: &x,
        d: 4,
        targets: Targets::Classes { codes: &codes, positive: 1, negative: -1.0 },
        sw: None,
        class_weight: (1.0, 1.0),
        rows: &rows,
    };
    let mut st = State::<f64>::new(4, None, 0.0, None, 1.0, 0.01);
    assert!(sgd::train(&p, &settings(Loss::Hinge(1.0), 1, true), &mut st, None, &mut |_| true, &|| true).is_err());
    let rows = vec![0u32, 1];
    let p = Problem { rows: &rows, ..p };
    let bad = Settings { alpha: 0.0, ..settings(Loss::Hinge(1.0), 1, true) };
    assert!(sgd::train(&p, &bad, &mut st, None, &mut |_| true, &|| true).is_err());
    let mut short = State::<f64>::new(3, None, 0.0, None, 1.0, 0.01);
    assert!(sgd::train(&p, &settings(Loss::Hinge(1.0), 1, true), &mut short, None, &mut |_| true, &|| true).is_err());
}

#[test]
fn minibatch_steps_equal_their_float64_formula_on_every_tier() {
    // One epoch, in order, of batches that cross the 256-row blocks: each step is
    // w <- s^b w - eta_t * sum_i g_i x_i with every g_i at the batch's weights.
    let mut rng = Rng(11);
    for d in [1usize, 3, 7, 8, 17, 33] {
        let n = 1100;
        let x: Vec<f64> = (0..n * d).map(|_| rng.uniform()).collect();
        let codes: Vec<u32> = (0..n).map(|i| u32::from(x[i * d] > 0.0)).collect();
        let rows: Vec<u32> = (0..n as u32).collect();
        let batch = 300;
        let s = Settings { max_epochs: 1, ..settings(Loss::Log, batch, false) };
        // Reference.
        let (mut w, mut b, mut t) = (vec![0.0; d], 0.0, 1.0);
        let typw = (1.0 / s.alpha.sqrt()).sqrt();
        let init = 1.0 / (typw * s.alpha);
        for chunk in rows.chunks(batch) {
            let eta = 1.0 / (s.alpha * (init + t - 1.0));
            let mut g = vec![0.0; d];
            let mut gb = 0.0;
            for &r in chunk {
                let r = r as usize;
                let xi = &x[r * d..(r + 1) * d];
                let p: f64 = xi.iter().zip(&w).map(|(a, c)| a * c).sum::<f64>() + b;
                let gr = grad(Loss::Log, f64::from(codes[r]), p);
                g.iter_mut().zip(xi).for_each(|(gj, xj)| *gj += gr * xj);
                gb += gr;
            }
            let shrink = (1.0 - eta * s.alpha).powi(chunk.len() as i32);
            w.iter_mut().zip(&g).for_each(|(wj, gj)| *wj = *wj * shrink - eta * gj);
            b -= eta * gb;
            t += chunk.len() as f64;
        }
        // The whole epoch on the active tier.
        let p = Problem {
            x: &x,
            d,
            targets: Targets::Classes { codes: &codes, positive: 1, negative: 0.0 },
            sw: None,
            class_weight: (1.0, 1.0),
            rows: &rows,
        };
        let mut st = State::<f64>::new(d, None, 0.0, None, 1.0, s.eta0);
        sgd::train(&p, &s, &mut st, None, &mut |_| true, &|| true).unwrap();
        st.reset_scale();
        for (a, e) in st.weights().iter().zip(&w) {
            assert!((a - e).abs() <= 1e-9 * (1.0 + e.abs()), "d={d}: {a} vs {e}");
        }
        assert!((st.intercept - b).abs() <= 1e-9 * (1.0 + b.abs()), "d={d} intercept");
        // Every tier's block kernel on a shuffled block of up to 256 rows.
        let wv: Vec<f64> = (0..d).map(|_| rng.uniform()).collect();
        for m in [1usize, 5, 64, 255, 256] {
            let block: Vec<u32> = (0..m).map(|_| rng.below(n) as u32).collect();
            let (mut g_ref, mut gb_ref) = (vec![0.0; d], 0.0);
            for &r in &block {
                let r = r as usize;
                let xi = &x[r * d..(r + 1) * d];
                let pr: f64 = 0.5 * xi.iter().zip(&wv).map(|(a, c)| a * c).sum::<f64>() + 0.25;
                let gr = grad(Loss::Log, f64::from(codes[r]), pr);
                g_ref.iter_mut().zip(xi).for_each(|(gj, xj)| *gj += gr * xj);
                gb_ref += gr;
            }
            for tier in mlkern_core::cpu::available_tiers() {
                let k = for_tier(*tier).unwrap();
                let (mut g, mut buf, mut res) = (vec![0.0; d], vec![0.0; 256 * d], vec![0.0; 256]);
                let (gb, _) =
                    (k.f64.sgd_block_grad)(&p, Loss::Log, &block, &wv, 0.5, 0.25, false, &mut g, &mut buf, &mut res);
                assert!((gb - gb_ref).abs() <= 1e-12 * m as f64, "{tier} d={d} m={m}");
                for (a, e) in g.iter().zip(&g_ref) {
                    assert!((a - e).abs() <= 1e-12 * m as f64, "{tier} d={d} m={m}: {a} vs {e}");
                }
            }
        }
    }
}
