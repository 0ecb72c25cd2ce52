//! The MLP kernels (`mlp.rs`): the forward pass on every SIMD tier against a
//! float64 forward pass written out here; the backward pass against central
//! finite differences of the loss; one epoch on every tier against the portable
//! tier; bitwise independence from the thread count; bad input.

#[path = "../../core/tests/common.rs"]
mod common;

use common::*;
use mlkern_core::Tier;
use mlkern_learn::dispatch::{for_tier, ElemKernels, Kernels, LearnFloat};
use mlkern_learn::mlp::{self, Activation, Data, EpochEnd, Head, Net, OptState, Scratch, Settings, Solver};

fn tiers() -> Vec<(Tier, &'static Kernels)> {
    supported_tables(for_tier)
}

/// A small deterministic generator (xorshift), values in [-1, 1).
struct Gen(u64);
impl Gen {
    fn next(&mut self) -> f64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 >> 11) as f64 / (1u64 << 52) as f64 - 1.0
    }
    fn vec(&mut self, n: usize, scale: f64) -> Vec<f64> {
        (0..n).map(|_| self.next() * scale).collect()
    }
}

fn n_params(units: &[usize]) -> usize {
    units.windows(2).map(|w| w[0] * w[1]).sum::<usize>() + units[1..].iter().sum::<usize>()
}

/// The reference forward pass, float64, straight from the definitions.
fn forward_ref(units: &[usize], act: Activation, head: Head, p: &[f64], x: &[f64]) -> Vec<f64> {
    let l = units.len() - 1;
    let mut a = x.to_vec();
    let mut off = 0;
    let mut boff = units.windows(2).map(|w| w[0] * w[1]).sum::<usize>();
    for i in 0..l {
        let (fi, fo) = (units[i], units[i + 1]);
        let mut z: Vec<f64> =
            (0..fo).map(|c| p[boff + c] + (0..fi).map(|r| a[r] * p[off + r * fo + c]).sum::<f64>()).collect();
        off += fi * fo;
        boff += fo;
        if i + 1 < l {
            for v in &mut z {
                *v = match act {
                    Activation::Identity => *v,
                    Activation::Relu => v.max(0.0),
                    Activation::Tanh => v.tanh(),
                    Activation::Logistic => 1.0 / (1.0 + (-*v).exp()),
                };
            }
        } else {
            match head {
                Head::Identity => {}
                Head::Exp => z.iter_mut().for_each(|v| *v = v.exp()),
                Head::Logistic => z.iter_mut().for_each(|v| *v = 1.0 / (1.0 + (-*v).exp())),
                Head::Softmax => {
                    let m = z.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
                    let s: f64 = z.iter().map(|v| (v - m).exp()).sum();
                    z.iter_mut().for_each(|v| *v = (*v - m).exp() / s);
                }
            }
        }
        a = z;
    }
    a
}

const ACTS: [Activation; 4] = [Activation::Identity, Activation::Logistic, Activation::Tanh, Activation::Relu];
const HEADS: [Head; 4] = [Head::Identity, Head::Exp, Head::Logistic, Head::Softmax];

fn cast<T: LearnFloat>(v: &[f64]) -> Vec<T> {
    v.iter().map(|&x| T::from_f64(x)).collect()
}

fn check_forward<T: LearnFloat>(k: &ElemKernels<T>, tier: Tier, tol: f64) {
    let mut g = Gen(0x9e37_79b9_7f4a_7c15);
    // Widths at and around the vector widths: the dense path (fan-in ≤ 64, width a
    // multiple of the lanes: 4-vector tiles, then single vectors), the one-column
    // path and the GEMM.
    for units in [
        vec![3, 1],
        vec![7, 17, 1],
        vec![16, 64, 3],
        vec![20, 80, 48, 2],
        vec![24, 48, 32, 1],
        vec![64, 16, 8],
        vec![33, 65, 9, 2],
        vec![1, 5, 5, 5, 4],
    ] {
        for &act in &ACTS {
            for &head in &HEADS {
                let np = n_params(&units);
                let p = g.vec(np, 0.5);
                for rows in [1usize, 2, 255, 256, 257] {
                    // An unaligned start: X begins one element into its buffer.
                    let xb = g.vec(rows * units[0] + 1, 1.0);
                    let (xt, pt) = (cast::<T>(&xb), cast::<T>(&p));
                    let (xr, pr): (Vec<f64>, Vec<f64>) =
                        (xt.iter().map(|v| v.to_f64()).collect(), pt.iter().map(|v| v.to_f64()).collect());
                    let kk = *units.last().unwrap();
                    let mut out = vec![T::ZERO; rows * kk];
                    let net = Net { units: &units, hidden: act, head };
                    let bad = mlp::predict_with(k, &net, &pt, &xt[1..], rows, &mut out, 2).unwrap();
                    assert_eq!(bad, None);
                    for r in 0..rows {
                        let want = forward_ref(&units, act, head, &pr, &xr[1 + r * units[0]..1 + (r + 1) * units[0]]);
                        for c in 0..kk {
                            let got = out[r * kk + c].to_f64();
                            let err = (got - want[c]).abs();
                            assert!(
                                err <= tol * (1.0 + want[c].abs()),
                                "{tier:?} {units:?} {act:?} {head:?} rows={rows} r={r} c={c}: {got} vs {}",
                                want[c]
                            );
                        }
                    }
                }
            }
        }
    }
}

#[test]
fn forward_matches_the_float64_reference_on_every_tier() {
    for (tier, k) in tiers() {
        check_forward::<f64>(&k.f64, tier, 1e-12);
        check_forward::<f32>(&k.f32, tier, 2e-5);
    }
}

#[test]
fn a_non_finite_row_is_reported() {
    mlkern_core::threads::set_num_threads(2).unwrap();
    let units = [2usize, 3, 1];
    let p = vec![0.1f64; n_params(&units)];
    // 600 rows run on the calling thread, 9000 in parallel blocks.
    for n in [600usize, 9000] {
        for bad in [0usize, 300, n - 1] {
            let mut x = vec![0.5f64; 2 * n];
            x[2 * bad + 1] = f64::NAN;
            x[2 * (n - 1)] = f64::INFINITY;
            let mut out = vec![0.0; n];
            let net = Net { units: &units, hidden: Activation::Relu, head: Head::Logistic };
            assert_eq!(mlp::predict(&net, &p, &x, n, &mut out, 2).unwrap(), Some(bad), "n={n}");
        }
    }
}

#[test]
fn tanh_is_within_1e_14_of_std() {
    let mut worst = 0.0f64;
    for i in -40_000..=40_000 {
        let x = i as f64 * 1e-4 + 1e-9;
        let (got, want) = (mlp::tanh_for_tests(x), x.tanh());
        worst = worst.max((got - want).abs() / want.abs().max(f64::MIN_POSITIVE));
    }
    for x in [1e-300, -1e-20, 0.0624999, 0.0625001, 0.1249999, 0.1250001, 20.0, -400.0, 800.0] {
        let (got, want) = (mlp::tanh_for_tests(x), f64::tanh(x));
        worst = worst.max((got - want).abs() / want.abs());
    }
    assert!(worst <= 1e-14, "worst relative error {worst:e}");
}

/// Runs one epoch of plain SGD (momentum 0) on all `n` rows in one batch:
/// returns (loss at `p`, `p` after a step of `lr`).
#[allow(clippy::too_many_arguments)]
fn sgd_step(
    k: &ElemKernels<f64>,
    net: &Net<'_>,
    data: &Data<'_, f64>,
    p: &[f64],
    alpha: f64,
    lr: f64,
    batch: usize,
    threads: usize,
) -> (f64, Vec<f64>) {
    let mut w = p.to_vec();
    let mut m = vec![0.0; w.len()];
    let mut v: Vec<f64> = Vec::new();
    let mut st = OptState { m: &mut m, v: &mut v, t: 0 };
    let s = Settings {
        alpha,
        batch_size: batch,
        solver: Solver::Sgd { learning_rate: lr, momentum: 0.0, nesterov: false },
    };
    let mut scratch = Scratch::new(net, batch).unwrap();
    let order: Vec<u32> = (0..data.n as u32).collect();
    let end = mlp::epoch_with(k, net, data, &order, &s, &mut w, &mut st, &mut scratch, threads, &|| true).unwrap();
    let EpochEnd::Done(total) = end else { panic!("stopped") };
    (total / data.n as f64, w)
}

#[test]
fn the_gradient_matches_central_differences_of_the_loss() {
    let mut g = Gen(12345);
    let k = &mlkern_learn::dispatch::TABLES.active().f64;
    for &act in &ACTS {
        // Widths off the vector lanes (the GEMM) and on them (the dense kernels).
        for (head, kk, wide) in [
            (Head::Identity, 1usize, false),
            (Head::Exp, 2, false),
            (Head::Logistic, 2, true),
            (Head::Softmax, 3, false),
            (Head::Softmax, 16, true),
            (Head::Identity, 1, true),
        ] {
            let units = if wide { [4usize, 16, 32, kk] } else { [4usize, 6, 5, kk] };
            // Three 50-row blocks; for the last two configurations 17 · 64 + 1 rows
            // in 18 blocks, so that slots 0 and 1 add a second block into their
            // gradients (the accumulating GEMM, dense and bias paths).
            let n = if kk == 16 || (head == Head::Identity && wide) { 17 * 64 + 1 } else { 150 };
            let x = g.vec(n * 4, 1.0);
            let y: Vec<f64> = match head {
                Head::Identity => g.vec(n, 2.0),
                Head::Exp => g.vec(n * kk, 1.0).iter().map(|v| v.abs() * 2.0).collect(),
                Head::Logistic => g.vec(n * kk, 1.0).iter().map(|v| f64::from(*v > 0.0)).collect(),
                Head::Softmax => (0..n).flat_map(|i| (0..kk).map(move |c| f64::from(c == i % kk))).collect(),
            };
            let sw: Vec<f64> = g.vec(n, 1.0).iter().map(|v| v.abs() + 0.1).collect();
            let data = Data { x: &x, y: &y, sw: Some(&sw), n };
            let net = Net { units: &units, hidden: act, head };
            let p = g.vec(n_params(&units), 0.4);
            let alpha = 0.3;
            let (_, stepped) = sgd_step(k, &net, &data, &p, alpha, 1.0, n, 1);
            let grad: Vec<f64> = p.iter().zip(&stepped).map(|(a, b)| a - b).collect();
            for i in (0..p.len()).step_by(if n > 1000 { 13 } else { 3 }) {
                // ReLU has kinks: a smaller step makes crossing one unlikely.
                let h = if act == Activation::Relu { 1e-7 } else { 1e-5 };
                let (mut pp, mut pm) = (p.clone(), p.clone());
                pp[i] += h;
                pm[i] -= h;
                let lp = sgd_step(k, &net, &data, &pp, alpha, 0.0, n, 1).0;
                let lm = sgd_step(k, &net, &data, &pm, alpha, 0.0, n, 1).0;
                let fd = (lp - lm) / (2.0 * h);
                assert!(
                    (fd - grad[i]).abs() <= 1e-6 * (1.0 + fd.abs()),
                    "{act:?} {head:?} param {i}: {} vs {fd}",
                    grad[i]
                );
            }
        }
    }
}

fn epoch_data(n: usize, d: usize, kk: usize) -> (Vec<f64>, Vec<f64>, Vec<f64>) {
    let mut g = Gen(777);
    let x = g.vec(n * d, 1.0);
    let y = (0..n).flat_map(|i| (0..kk).map(move |c| f64::from(c == i % kk))).collect();
    let sw = g.vec(n, 1.0).iter().map(|v| v.abs()).collect();
    (x, y, sw)
}

fn run_epoch<T: LearnFloat>(k: &ElemKernels<T>, solver: Solver, batch: usize, threads: usize) -> (Vec<T>, Vec<T>, f64) {
    let units = [13usize, 70, 33, 4];
    // 2500 rows: batch 5000 is one batch of 40 blocks in 16 slots (accumulating).
    let n = 2500;
    let (x, y, sw) = epoch_data(n, 13, 4);
    let (x, y, sw) = (cast::<T>(&x), cast::<T>(&y), cast::<T>(&sw));
    let data = Data { x: &x, y: &y, sw: Some(&sw), n };
    let net = Net { units: &units, hidden: Activation::Tanh, head: Head::Softmax };
    let mut w = cast::<T>(&Gen(5).vec(n_params(&units), 0.3));
    let mut m = vec![T::ZERO; w.len()];
    let mut v = if matches!(solver, Solver::Adam { .. }) { vec![T::ZERO; w.len()] } else { Vec::new() };
    let mut st = OptState { m: &mut m, v: &mut v, t: 0 };
    let s = Settings { alpha: 1e-3, batch_size: batch, solver };
    let mut scratch = Scratch::new(&net, batch).unwrap();
    let order: Vec<u32> = (0..n as u32).rev().collect();
    let EpochEnd::Done(total) =
        mlp::epoch_with(k, &net, &data, &order, &s, &mut w, &mut st, &mut scratch, threads, &|| true).unwrap()
    else {
        panic!("stopped")
    };
    (w, m, total)
}

const ADAM: Solver = Solver::Adam { learning_rate_init: 1e-3, beta_1: 0.9, beta_2: 0.999, epsilon: 1e-8 };
const NESTEROV: Solver = Solver::Sgd { learning_rate: 0.05, momentum: 0.9, nesterov: true };

#[test]
fn an_epoch_agrees_across_tiers() {
    let all = tiers();
    let base = all.iter().find(|(t, _)| *t == Tier::Scalar).map(|(_, k)| *k).unwrap_or(all[0].1);
    for solver in [ADAM, NESTEROV] {
        // batch 130: three blocks of 44, 43 and 43 rows (not multiples of the
        // 4-row tiles).
        let (w0, _, l0) = run_epoch::<f64>(&base.f64, solver, 130, 2);
        let (w0f, _, _) = run_epoch::<f32>(&base.f32, solver, 130, 2);
        for (tier, k) in &all {
            let (w, _, l) = run_epoch::<f64>(&k.f64, solver, 130, 2);
            assert!((l - l0).abs() <= 1e-9 * l0.abs(), "{tier:?}: loss {l} vs {l0}");
            for (a, b) in w.iter().zip(&w0) {
                assert!((a - b).abs() <= 1e-9 * (1.0 + b.abs()), "{tier:?} {solver:?}: {a} vs {b}");
            }
            let (wf, _, _) = run_epoch::<f32>(&k.f32, solver, 130, 2);
            for (a, b) in wf.iter().zip(&w0f) {
                assert!((a - b).abs() <= 2e-3 * (1.0 + b.abs()), "{tier:?} {solver:?} f32: {a} vs {b}");
            }
        }
    }
}

#[test]
fn an_epoch_is_bitwise_the_same_on_one_and_two_threads() {
    mlkern_core::threads::set_num_threads(2).unwrap();
    let k = &mlkern_learn::dispatch::TABLES.active();
    for batch in [1usize, 64, 200, 1000, 2000, 5000] {
        for solver in [ADAM, NESTEROV] {
            let one = run_epoch::<f32>(&k.f32, solver, batch, 1);
            let two = run_epoch::<f32>(&k.f32, solver, batch, 2);
            assert_eq!(one.0, two.0, "batch {batch}");
            assert_eq!(one.1, two.1);
            assert_eq!(one.2.to_bits(), two.2.to_bits());
        }
    }
}

#[test]
fn bad_input_is_an_error() {
    let units = [3usize, 4, 1];
    let net = Net { units: &units, hidden: Activation::Relu, head: Head::Logistic };
    assert!(Net { units: &[3], ..net }.layout().is_err());
    assert!(Net { units: &[3, 0, 1], ..net }.layout().is_err());
    assert!(Net { units: &[usize::MAX / 2, 4, 1], ..net }.layout().is_err());
    let x = vec![0.0f64; 30];
    let y = vec![0.0f64; 10];
    let mut w = vec![0.0f64; n_params(&units)];
    let mut m = vec![0.0; w.len()];
    let mut v = vec![0.0; w.len()];
    let mut scratch = Scratch::new(&net, 10).unwrap();
    let s = Settings { alpha: 1e-4, batch_size: 10, solver: ADAM };
    let mut go = |data: Data<'_, f64>, order: &[u32], s: &Settings, w: &mut [f64]| {
        let mut st = OptState { m: &mut m, v: &mut v, t: 0 };
        mlp::epoch(&net, &data, order, s, w, &mut st, &mut scratch, 1, &|| true)
    };
    let order: Vec<u32> = (0..10).collect();
    assert!(go(Data { x: &x, y: &y, sw: None, n: 10 }, &order, &s, &mut w).is_ok());
    assert!(go(Data { x: &x[..29], y: &y, sw: None, n: 10 }, &order, &s, &mut w).is_err());
    assert!(go(Data { x: &x, y: &y[..9], sw: None, n: 10 }, &order, &s, &mut w).is_err());
    assert!(go(Data { x: &x, y: &y, sw: Some(&y[..5]), n: 10 }, &order, &s, &mut w).is_err());
    assert!(go(Data { x: &x, y: &y, sw: None, n: 10 }, &[10], &s, &mut w).is_err());
    assert!(go(Data { x: &x, y: &y, sw: None, n: 10 }, &order, &Settings { batch_size: 0, ..s }, &mut w).is_err());
    // A batch of 1000 rows (repeats) needs 16 slots; the scratch has 1.
    assert!(
        go(Data { x: &x, y: &y, sw: None, n: 10 }, &[0; 1000], &Settings { batch_size: 1000, ..s }, &mut w).is_err()
    );
    assert!(go(Data { x: &x, y: &y, sw: None, n: 10 }, &order, &Settings { alpha: f64::NAN, ..s }, &mut w).is_err());
    assert!(go(Data { x: &x, y: &y, sw: None, n: 10 }, &order, &s, &mut w[..3]).is_err());
    let mut out = vec![0.0; 10];
    assert!(mlp::predict(&net, &w, &x, 11, &mut out, 1).is_err());
    assert!(mlp::predict(&net, &w[..3], &x, 10, &mut out, 1).is_err());
}

#[test]
fn stopping_between_batches_returns_stopped() {
    let k = &mlkern_learn::dispatch::TABLES.active().f64;
    let units = [2usize, 3, 1];
    let net = Net { units: &units, hidden: Activation::Relu, head: Head::Logistic };
    let (x, y) = (vec![0.5f64; 200], vec![1.0f64; 100]);
    let data = Data { x: &x, y: &y, sw: None, n: 100 };
    let mut w = vec![0.1f64; n_params(&units)];
    let (mut m, mut v) = (vec![0.0; w.len()], vec![0.0; w.len()]);
    let mut st = OptState { m: &mut m, v: &mut v, t: 0 };
    let mut scratch = Scratch::new(&net, 10).unwrap();
    let s = Settings { alpha: 0.0, batch_size: 10, solver: ADAM };
    let calls = std::sync::atomic::AtomicUsize::new(0);
    let stop = || calls.fetch_add(1, std::sync::atomic::Ordering::Relaxed) < 3;
    let order: Vec<u32> = (0..100).collect();
    assert_eq!(
        mlp::epoch_with(k, &net, &data, &order, &s, &mut w, &mut st, &mut scratch, 1, &stop).unwrap(),
        EpochEnd::Stopped
    );
    assert_eq!(st.t, 3, "three batches ran before the stop");
}
