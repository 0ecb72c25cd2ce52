//! Stochastic gradient descent for linear models, scikit-learn's `_plain_sgd`
//! rule for rule: losses, the `optimal` / `invscaling` / `constant` / `adaptive`
//! learning rates, L2 shrinkage by a lazily applied scale factor, Tsuruoka's
//! cumulative L1 penalty, averaged SGD (ASGD) with the same lazy average, the
//! per-epoch `tol` / `n_iter_no_change` rule on the mean objective or on a
//! validation score.
//!
//! Two step sizes of batch:
//! - `batch_size = 1`: one update per sample, in the shuffled order, exactly as
//!   scikit-learn (the shuffle's random order is mlkern's own, so results equal
//!   scikit-learn's in distribution, not bitwise).
//! - `batch_size = b > 1`: the `b` gradients of a batch are taken at the same
//!   weights and added (`w ← s^b·w − η_t·Σ g`, `s = 1 − η_t·α·(1 − ρ)`, `η_t` the
//!   rate of the batch's first sample): with the `optimal` rate this is mini-batch
//!   Pegasos. The batch's gradient is summed over fixed 256-row blocks, in parallel
//!   when the batch has several blocks, and the blocks are added in order: the
//!   result does not depend on the thread count.
//!
//! The weights are kept in the element type of `X` (as scikit-learn's
//! `WeightVector`), the scale factor, intercept and learning rate in float64.
//! One epoch's training rows are a permutation of `rows` drawn from
//! `mlkern_core::rng` with the epoch's seed.

use mlkern_core::{rng, threads, Error, Result};

use crate::dispatch::{kernels, LearnFloat};

/// A pointwise loss `L(y, p)` of the target `y` and the score `p` (scikit-learn's
/// classes and conventions: classification targets are ±1, except `Log`, whose are
/// 0/1).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Loss {
    /// `max(0, θ − y·p)` (`θ = 1`: SVM; `θ = 0`: perceptron).
    Hinge(f64),
    /// `max(0, θ − y·p)²`.
    SquaredHinge(f64),
    /// Half binomial deviance `ln(1 + e^p) − y·p`, `y ∈ {0, 1}`.
    Log,
    /// Smoothed hinge: `(1 − yp)²` on `[−1, 1]`, `−4yp` below.
    ModifiedHuber,
    /// `½(p − y)²`.
    SquaredError,
    /// `½r²` for `|r| ≤ δ`, else `δ(|r| − δ/2)`, `r = y − p`.
    Huber(f64),
    /// `max(0, |y − p| − ε)`.
    EpsilonInsensitive(f64),
    /// `max(0, |y − p| − ε)²`.
    SquaredEpsilonInsensitive(f64),
}

impl Loss {
    /// `L(y, p)`.
    #[inline(always)]
    pub fn loss(self, y: f64, p: f64) -> f64 {
        match self {
            Loss::Hinge(t) => (t - p * y).max(0.0),
            Loss::SquaredHinge(t) => {
                let z = t - p * y;
                if z > 0.0 {
                    z * z
                } else {
                    0.0
                }
            }
            Loss::Log => crate::math::softplus(p) - y * p,
            Loss::ModifiedHuber => {
                let z = p * y;
                if z >= 1.0 {
                    0.0
                } else if z >= -1.0 {
                    (1.0 - z) * (1.0 - z)
                } else {
                    -4.0 * z
                }
            }
            Loss::SquaredError => 0.5 * (p - y) * (p - y),
            Loss::Huber(delta) => {
                let r = (y - p).abs();
                if r <= delta {
                    0.5 * r * r
                } else {
                    delta * (r - 0.5 * delta)
                }
            }
            Loss::EpsilonInsensitive(e) => ((y - p).abs() - e).max(0.0),
            Loss::SquaredEpsilonInsensitive(e) => {
                let r = (y - p).abs() - e;
                if r > 0.0 {
                    r * r
                } else {
                    0.0
                }
            }
        }
    }

    /// `∂L/∂p`.
    #[inline(always)]
    pub fn grad(self, y: f64, p: f64) -> f64 {
        match self {
            Loss::Hinge(t) => {
                if p * y <= t {
                    -y
                } else {
                    0.0
                }
            }
            Loss::SquaredHinge(t) => {
                let z = t - p * y;
                if z > 0.0 {
                    -2.0 * y * z
                } else {
                    0.0
                }
            }
            Loss::Log => crate::math::sigmoid(p) - y,
            Loss::ModifiedHuber => {
                let z = p * y;
                if z >= 1.0 {
                    0.0
                } else if z >= -1.0 {
                    2.0 * (1.0 - z) * -y
                } else {
                    -4.0 * y
                }
            }
            Loss::SquaredError => p - y,
            Loss::Huber(delta) => {
                let r = p - y;
                if r.abs() <= delta {
                    r
                } else {
                    delta * r.signum()
                }
            }
            Loss::EpsilonInsensitive(e) => {
                if y - p > e {
                    -1.0
                } else if p - y > e {
                    1.0
                } else {
                    0.0
                }
            }
            Loss::SquaredEpsilonInsensitive(e) => {
                let z = y - p;
                if z > e {
                    -2.0 * (z - e)
                } else if z < -e {
                    2.0 * (-z - e)
                } else {
                    0.0
                }
            }
        }
    }
}

/// The learning-rate schedule (scikit-learn's `learning_rate`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Schedule {
    Constant,
    /// `η = 1 / (α·(t₀ + t − 1))`, `t₀` from Bottou's heuristic.
    Optimal,
    /// `η = η₀ / t^power_t`.
    InvScaling,
    /// `η₀`, divided by 5 each time `n_iter_no_change` epochs fail to improve.
    Adaptive,
}

/// Everything that stays fixed during a fit.
#[derive(Debug, Clone, Copy)]
pub struct Settings {
    pub loss: Loss,
    pub alpha: f64,
    /// `l1_ratio` (0 for `penalty="l2"`, 1 for `"l1"`).
    pub l1_ratio: f64,
    /// Whether any penalty is applied (`penalty != None`).
    pub penalized: bool,
    pub fit_intercept: bool,
    pub schedule: Schedule,
    pub eta0: f64,
    pub power_t: f64,
    /// ASGD: averaging starts at sample `average` (0: off).
    pub average: u64,
    pub shuffle: bool,
    pub seed: u64,
    pub max_epochs: usize,
    /// `None`: run every epoch.
    pub tol: Option<f64>,
    pub n_iter_no_change: usize,
    pub batch_size: usize,
    /// Compute the epoch's mean loss and objective even without `tol` (for
    /// progress reports).
    pub track_loss: bool,
}

/// One binary (or regression) model's running state, in the layout scikit-learn
/// keeps it: `w = wscale · v`; the average is `(aw + average_a·v) / average_b`
/// until [`State::finish`].
#[derive(Debug, Clone)]
pub struct State<T> {
    pub v: Vec<T>,
    pub wscale: f64,
    pub intercept: f64,
    pub aw: Vec<T>,
    pub average_a: f64,
    pub average_b: f64,
    pub average_intercept: f64,
    /// Learning-rate clock (scikit-learn's `t_`): samples seen plus one.
    pub t: f64,
    /// Cumulative L1 penalty `u` and the per-feature penalties taken `q`.
    pub u: f64,
    pub q: Vec<T>,
    pub eta: f64,
    pub best: f64,
    pub no_improvement: usize,
    pub epochs: usize,
}

impl<T: LearnFloat> State<T> {
    /// A model of `d` features from its weights and intercept, averaged weights and
    /// intercept (`None`: zeros) and clock `t` (1 for a fresh model), as
    /// scikit-learn restarts `_plain_sgd` on every `partial_fit`.
    pub fn new(
        d: usize,
        coef: Option<&[f64]>,
        intercept: f64,
        average: Option<(&[f64], f64)>,
        t: f64,
        eta0: f64,
    ) -> Self {
        let load =
            |c: Option<&[f64]>| c.map_or_else(|| vec![T::ZERO; d], |c| c.iter().map(|&x| T::from_f64(x)).collect());
        State {
            v: load(coef),
            wscale: 1.0,
            intercept,
            aw: load(average.map(|a| a.0)),
            average_a: 0.0,
            average_b: 1.0,
            average_intercept: average.map_or(0.0, |a| a.1),
            t,
            u: 0.0,
            q: vec![T::ZERO; d],
            eta: eta0,
            best: f64::INFINITY,
            no_improvement: 0,
            epochs: 0,
        }
    }

    /// Folds the scale into `v` and the lazy average into `aw` (scikit-learn's
    /// `reset_wscale`).
    pub fn reset_scale(&mut self) {
        if self.average_a != 0.0 || self.average_b != 1.0 {
            let (a, b) = (self.average_a, self.average_b);
            for (aw, &v) in self.aw.iter_mut().zip(&self.v) {
                *aw = T::from_f64((aw.to_f64() + a * v.to_f64()) / b);
            }
            self.average_a = 0.0;
            self.average_b = 1.0;
        }
        let s = self.wscale;
        for v in self.v.iter_mut() {
            *v = T::from_f64(v.to_f64() * s);
        }
        self.wscale = 1.0;
    }

    /// The weights `w` (scale folded in), float64.
    pub fn weights(&self) -> Vec<f64> {
        self.v.iter().map(|v| v.to_f64() * self.wscale).collect()
    }

    /// The averaged weights (valid once averaging started; call after
    /// [`State::reset_scale`]).
    pub fn averaged(&self) -> Vec<f64> {
        self.aw.iter().map(|v| v.to_f64()).collect()
    }
}

/// The targets of a problem.
#[derive(Debug, Clone, Copy)]
pub enum Targets<'a> {
    /// One-vs-all: rows whose class index is `positive` have target +1, the others
    /// `negative` (−1, or 0 for [`Loss::Log`]).
    Classes { codes: &'a [u32], positive: u32, negative: f64 },
    /// Regression targets.
    Values(&'a [f64]),
}

/// One binary or regression problem.
#[derive(Debug, Clone, Copy)]
pub struct Problem<'a, T> {
    /// `n × d`, row-major.
    pub x: &'a [T],
    pub d: usize,
    pub targets: Targets<'a>,
    /// Sample weights (`None`: all 1).
    pub sw: Option<&'a [f64]>,
    /// Class weights of the positive and the other rows (`(1, 1)` for regression).
    pub class_weight: (f64, f64),
    /// The training rows (the others are validation rows).
    pub rows: &'a [u32],
}

impl<T> Problem<'_, T> {
    /// Rows of `X`.
    pub fn n(&self) -> usize {
        match self.targets {
            Targets::Classes { codes, .. } => codes.len(),
            Targets::Values(v) => v.len(),
        }
    }

    /// Row `r`'s target and weight (sample weight × class weight).
    #[inline(always)]
    pub fn target(&self, r: usize) -> (f64, f64) {
        let sw = self.sw.map_or(1.0, |w| w[r]);
        match self.targets {
            Targets::Classes { codes, positive, negative } => {
                if codes[r] == positive {
                    (1.0, sw * self.class_weight.0)
                } else {
                    (negative, sw * self.class_weight.1)
                }
            }
            Targets::Values(v) => (v[r], sw),
        }
    }

    /// Prefetches what [`Problem::target`] of row `r` reads.
    #[inline(always)]
    fn prefetch_target(&self, r: usize) {
        match self.targets {
            Targets::Classes { codes, .. } => mlkern_core::simd::prefetch(codes[r..].as_ptr()),
            Targets::Values(v) => mlkern_core::simd::prefetch(v[r..].as_ptr()),
        }
        if let Some(w) = self.sw {
            mlkern_core::simd::prefetch(w[r..].as_ptr());
        }
    }
}

/// What one epoch reports.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Epoch {
    pub epoch: usize,
    /// Mean loss and mean objective (loss + penalty) over the epoch's samples;
    /// NaN when not tracked.
    pub loss: f64,
    pub objective: f64,
    /// The validation score (accuracy or R²), NaN without validation.
    pub score: f64,
    pub eta: f64,
}

/// Why [`train`] stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ended {
    /// `n_iter_no_change` epochs without improvement.
    Converged,
    MaxEpochs,
    /// The progress callback asked to stop.
    Stopped,
}

/// Scores the model on validation rows (accuracy of the sign for ±1 targets, R²
/// otherwise).
pub type ValidationFn<'a> = dyn Fn(&[f64], f64) -> f64 + Sync + 'a;

/// Runs up to `s.max_epochs` epochs on `p` from `st`. `validation` turns on
/// early stopping (the score is maximised instead of the objective minimised);
/// `on_epoch` sees each epoch and may stop the fit; `poll` runs about every 65 536
/// samples and stops the fit mid-epoch when it returns `false` (Ctrl-C).
pub fn train<T: LearnFloat>(
    p: &Problem<'_, T>,
    s: &Settings,
    st: &mut State<T>,
    validation: Option<&ValidationFn<'_>>,
    on_epoch: &mut dyn FnMut(&Epoch) -> bool,
    poll: &(dyn Fn() -> bool + Sync),
) -> Result<Ended> {
    check(p, s, st)?;
    let k = kernels::<T>();
    let mut order: Vec<u32> = p.rows.to_vec();
    let mut scratch = BatchScratch::new(p.d, s.batch_size.min(p.rows.len()))?;
    let optimal_init = optimal_t0(s.loss, s.alpha);
    let track = s.track_loss || (s.tol.is_some() && validation.is_none());
    for _ in 0..s.max_epochs {
        let epoch_seed = rng::splitmix64(s.seed, st.epochs as u64);
        if s.shuffle {
            shuffle(&mut order, epoch_seed);
        }
        let sums = if s.batch_size <= 1 {
            (k.sgd_epoch)(p, s, st, &order, optimal_init, track, poll)
        } else {
            batch_epoch(p, s, st, &order, optimal_init, track, poll, &mut scratch)
        };
        let Some((loss_sum, objective_sum)) = sums else {
            return Ok(Ended::Stopped);
        };
        st.epochs += 1;
        if !st.intercept.is_finite() || !st.v.iter().all(|v| v.to_f64().is_finite()) || !st.wscale.is_finite() {
            return Err(Error::invalid(
                "X",
                format!(
                    "floating-point under-/overflow occurred at epoch #{}; scaling the data (StandardScaler) or a smaller learning rate may help",
                    st.epochs
                ),
            ));
        }
        let count = p.rows.len().max(1) as f64;
        let (loss, objective) = if track { (loss_sum / count, objective_sum / count) } else { (f64::NAN, f64::NAN) };
        let score = validation.map_or(f64::NAN, |f| f(&st.weights(), st.intercept));
        let report = Epoch { epoch: st.epochs, loss, objective, score, eta: st.eta };
        if !on_epoch(&report) {
            return Ok(Ended::Stopped);
        }
        let value = if validation.is_some() { -score } else { objective };
        if stopping_rule(s, value, &mut st.best, &mut st.no_improvement, &mut st.eta) {
            return Ok(Ended::Converged);
        }
    }
    Ok(Ended::MaxEpochs)
}

/// scikit-learn's end-of-epoch rule on `value` (the objective, or minus the
/// validation score): counts epochs that fail to improve on the best by `tol`;
/// after `n_iter_no_change` of them the adaptive rate is divided by 5, or the fit
/// has converged (returns true). Without `tol`, never.
fn stopping_rule(s: &Settings, value: f64, best: &mut f64, no_improvement: &mut usize, eta: &mut f64) -> bool {
    let Some(tol) = s.tol else {
        return false;
    };
    if value > *best - tol {
        *no_improvement += 1;
    } else {
        *no_improvement = 0;
    }
    if value < *best {
        *best = value;
    }
    if *no_improvement >= s.n_iter_no_change {
        if s.schedule == Schedule::Adaptive && *eta > 1e-6 {
            *eta /= 5.0;
            *no_improvement = 0;
        } else {
            return true;
        }
    }
    false
}

fn check<T: LearnFloat>(p: &Problem<'_, T>, s: &Settings, st: &State<T>) -> Result<()> {
    let n = p.n();
    if p.d == 0 || p.x.len() != mlkern_core::error::checked_size("X", n, p.d)? {
        return Err(Error::shape("X", format!("{} values for {n} rows of {} features", p.x.len(), p.d)));
    }
    if p.sw.is_some_and(|w| w.len() != n) {
        return Err(Error::shape("sample_weight", format!("sample weights for {n} rows expected")));
    }
    if p.rows.iter().any(|&r| r as usize >= n) {
        return Err(Error::invalid("rows", "a training row index is out of range"));
    }
    if st.v.len() != p.d || st.aw.len() != p.d || st.q.len() != p.d {
        return Err(Error::shape("coef", format!("the model has {} weights for {} features", st.v.len(), p.d)));
    }
    if !(s.alpha >= 0.0 && s.alpha.is_finite()) || (s.schedule == Schedule::Optimal && s.alpha <= 0.0) {
        return Err(Error::invalid(
            "alpha",
            format!("must be finite and >= 0 (> 0 for learning_rate='optimal'), got {}", s.alpha),
        ));
    }
    if !(0.0..=1.0).contains(&s.l1_ratio) {
        return Err(Error::invalid("l1_ratio", format!("must be in [0, 1], got {}", s.l1_ratio)));
    }
    if s.schedule != Schedule::Optimal && !(s.eta0 > 0.0 && s.eta0.is_finite()) {
        return Err(Error::invalid("eta0", format!("must be > 0 for this learning_rate, got {}", s.eta0)));
    }
    Ok(())
}

/// `t₀` of the `optimal` rate (Bottou's heuristic, as scikit-learn):
/// `typw = sqrt(1/sqrt(α))`, `η₀ = typw / max(1, L'(1, −typw))`, `t₀ = 1/(η₀·α)`.
fn optimal_t0(loss: Loss, alpha: f64) -> f64 {
    let typw = (1.0 / alpha.sqrt()).sqrt();
    let initial = typw / loss.grad(1.0, -typw).max(1.0);
    1.0 / (initial * alpha)
}

/// Fisher–Yates with the counter-based draws of `seed`; `j` uniform in `0..=i` by
/// Lemire's multiply-shift (no division; the bias is below `i / 2⁶⁴`).
fn shuffle(order: &mut [u32], seed: u64) {
    for i in (1..order.len()).rev() {
        let j = ((u128::from(rng::splitmix64(seed, i as u64)) * (i as u128 + 1)) >> 64) as usize;
        order.swap(i, j);
    }
}

/// The rate for clock `t` (`eta`: the constant/adaptive rate).
#[inline(always)]
fn rate(s: &Settings, eta: f64, t: f64, optimal_init: f64) -> f64 {
    match s.schedule {
        Schedule::Optimal => 1.0 / (s.alpha * (optimal_init + t - 1.0)),
        Schedule::InvScaling => s.eta0 / t.powf(s.power_t),
        Schedule::Constant | Schedule::Adaptive => eta,
    }
}

const MAX_DLOSS: f64 = 1e12;
/// Samples ahead whose row is prefetched in a shuffled epoch: per-sample steps
/// (a long dependency chain each), and mini-batch blocks (independent rows, so
/// further ahead to cover the memory latency).
const PREFETCH_AHEAD: usize = 8;
const BLOCK_PREFETCH_AHEAD: usize = 32;
const POLL_EVERY: usize = 1 << 16;

/// `wscale` below this is folded into the weights (scikit-learn's thresholds).
fn reset_threshold<T: LearnFloat>() -> f64 {
    if std::mem::size_of::<T>() == 4 {
        1e-6
    } else {
        1e-9
    }
}

/// One epoch of per-sample SGD in `order` (see the module header); returns the
/// loss and objective sums, or `None` when `poll` stopped it.
///
/// # Safety
/// The CPU has `S`'s features.
#[inline(always)]
pub unsafe fn sample_epoch<T: LearnFloat, S: mlkern_core::simd::Simd<T>>(
    p: &Problem<'_, T>,
    s: &Settings,
    st: &mut State<T>,
    order: &[u32],
    optimal_init: f64,
    track: bool,
    poll: &(dyn Fn() -> bool + Sync),
) -> Option<(f64, f64)> {
    use crate::kernels::{axpy, dot};
    let d = p.d;
    // The pointer arithmetic below relies on these (the table's fn is safe to call).
    assert!(st.v.len() == d && st.aw.len() == d && st.q.len() == d && p.x.len() == p.n() * d);
    let l1_ratio = if s.penalized { s.l1_ratio } else { 0.0 };
    let l2_on = s.penalized && l1_ratio < 1.0;
    let l1_on = s.penalized && l1_ratio > 0.0;
    let threshold = reset_threshold::<T>();
    let (mut loss_sum, mut objective_sum) = (0.0, 0.0);
    for (i, &row) in order.iter().enumerate() {
        if i % POLL_EVERY == POLL_EVERY - 1 && !poll() {
            return None;
        }
        let r = row as usize;
        if let Some(&ahead) = order.get(i + PREFETCH_AHEAD) {
            // The row, its target and its weight, a few samples ahead (random rows
            // of a shuffled epoch miss every cache otherwise).
            let a = ahead as usize;
            prefetch_row(&p.x[a * d..(a + 1) * d]);
            p.prefetch_target(a);
        }
        let x = &p.x[r * d..(r + 1) * d];
        let (y, weight) = p.target(r);
        // SAFETY: x and v hold d values each; S's features (caller).
        let pred = unsafe { dot::<T, S>(st.v.as_ptr(), x.as_ptr(), d) }.to_f64() * st.wscale + st.intercept;
        let eta = rate(s, st.eta, st.t, optimal_init);
        if track {
            let l = s.loss.loss(y, pred);
            loss_sum += l;
            objective_sum += l;
            if s.penalized {
                let (sq, l1) = norms(&st.v, st.wscale);
                objective_sum += s.alpha * ((1.0 - l1_ratio) * 0.5 * sq + l1_ratio * l1);
            }
        }
        let update = -eta * s.loss.grad(y, pred).clamp(-MAX_DLOSS, MAX_DLOSS) * weight;
        if l2_on {
            st.wscale *= (1.0 - (1.0 - l1_ratio) * eta * s.alpha).max(0.0);
            if st.wscale < threshold {
                st.reset_scale();
            }
        }
        if update != 0.0 {
            // 1/wscale does not depend on this sample's score: off the critical path.
            let inv = 1.0 / st.wscale;
            // SAFETY: as above; v and x do not overlap.
            unsafe { axpy::<T, S>(st.v.as_mut_ptr(), T::from_f64(update * inv), x.as_ptr(), d) };
        }
        if s.fit_intercept {
            st.intercept += update;
        }
        if s.average > 0 && s.average as f64 <= st.t {
            let num = st.t - s.average as f64 + 1.0;
            let mu = 1.0 / num;
            if update != 0.0 {
                let c = T::from_f64(st.average_a * (-update / st.wscale));
                // SAFETY: as above; aw and x do not overlap.
                unsafe { axpy::<T, S>(st.aw.as_mut_ptr(), c, x.as_ptr(), d) };
            }
            if num > 1.0 {
                st.average_b /= 1.0 - mu;
            }
            st.average_a += mu * st.average_b * st.wscale;
            st.average_intercept += (st.intercept - st.average_intercept) / num;
        }
        if l1_on {
            st.u += l1_ratio * eta * s.alpha;
            l1_penalty(&mut st.v, &mut st.q, st.u, st.wscale);
        }
        st.t += 1.0;
    }
    Some((loss_sum, objective_sum))
}

/// `(‖w‖², ‖w‖₁)` of `w = scale · v`.
fn norms<T: LearnFloat>(v: &[T], scale: f64) -> (f64, f64) {
    let (mut sq, mut l1) = (0.0, 0.0);
    for x in v {
        let x = x.to_f64();
        sq += x * x;
        l1 += x.abs();
    }
    (sq * scale * scale, l1 * scale.abs())
}

/// Tsuruoka et al.'s cumulative L1 penalty, as scikit-learn's `l1penalty` (dense):
/// weights `v` (scaled by `ws`), penalties taken so far `q`, total penalty `u`.
fn l1_penalty<T: LearnFloat>(v: &mut [T], q: &mut [T], u: f64, ws: f64) {
    for (w, q) in v.iter_mut().zip(q.iter_mut()) {
        let z = w.to_f64();
        let qv = q.to_f64();
        let nw = if ws * z > 0.0 {
            (z - (u + qv) / ws).max(0.0)
        } else if ws * z < 0.0 {
            (z + (u - qv) / ws).min(0.0)
        } else {
            z
        };
        *q = T::from_f64(qv + ws * (nw - z));
        *w = T::from_f64(nw);
    }
}

/// Prefetches every cache line of `row` (a row of 32 float32 spans three lines
/// when it does not start on a line boundary, as NumPy's 16-byte alignment allows).
#[inline(always)]
fn prefetch_row<T>(row: &[T]) {
    let bytes = std::mem::size_of_val(row);
    let start = row.as_ptr() as usize;
    let mut line = start & !63;
    while line < start + bytes {
        // The first line starts at `row` itself, so every address passed is inside it.
        let at = line.max(start);
        mlkern_core::simd::prefetch(at as *const u8);
        line += 64;
    }
}

/// Rows per block of a mini-batch's gradient (the unit of parallel work and of
/// the ordered reduction).
pub const BATCH_BLOCK: usize = 256;

/// Per-block partial gradients of a mini-batch.
#[derive(Debug)]
struct BatchScratch<T> {
    parts: Vec<std::sync::Mutex<BlockPart<T>>>,
}

/// One block's gradient, intercept gradient and loss, with its scratch rows.
#[derive(Debug)]
struct BlockPart<T> {
    g: Vec<T>,
    gb: f64,
    loss: f64,
    rows: Vec<T>,
    res: Vec<f64>,
}

impl<T: LearnFloat> BatchScratch<T> {
    /// Scratch for batches of `batch` rows (at most the training rows).
    fn new(d: usize, batch: usize) -> Result<Self> {
        let blocks = if batch <= 1 { 0 } else { batch.div_ceil(BATCH_BLOCK) };
        let per_block = mlkern_core::error::checked_size("X", batch.min(BATCH_BLOCK), d)?;
        let total = mlkern_core::error::checked_size("X", blocks, per_block + d)?;
        let mut probe: Vec<T> = Vec::new();
        probe
            .try_reserve_exact(total)
            .map_err(|_| Error::out_of_memory("batch_size", format!("{total} values of scratch")))?;
        drop(probe);
        let part = || BlockPart {
            g: vec![T::ZERO; d],
            gb: 0.0,
            loss: 0.0,
            rows: vec![T::ZERO; per_block],
            res: vec![0.0; BATCH_BLOCK],
        };
        Ok(BatchScratch { parts: (0..blocks).map(|_| std::sync::Mutex::new(part())).collect() })
    }
}

/// One epoch of mini-batch SGD (see the module header).
#[allow(clippy::too_many_arguments)]
fn batch_epoch<T: LearnFloat>(
    p: &Problem<'_, T>,
    s: &Settings,
    st: &mut State<T>,
    order: &[u32],
    optimal_init: f64,
    track: bool,
    poll: &(dyn Fn() -> bool + Sync),
    scratch: &mut BatchScratch<T>,
) -> Option<(f64, f64)> {
    let k = kernels::<T>();
    let l1_ratio = if s.penalized { s.l1_ratio } else { 0.0 };
    let (mut loss_sum, mut objective_sum) = (0.0, 0.0);
    let mut seen_since_poll = 0;
    for batch in order.chunks(s.batch_size) {
        seen_since_poll += batch.len();
        if seen_since_poll >= POLL_EVERY {
            seen_since_poll = 0;
            if !poll() {
                return None;
            }
        }
        let eta = rate(s, st.eta, st.t, optimal_init);
        let blocks = batch.len().div_ceil(BATCH_BLOCK);
        let (v, wscale, b) = (&st.v[..], st.wscale, st.intercept);
        let parts = &scratch.parts;
        let work = |i: usize| {
            let rows = &batch[i * BATCH_BLOCK..((i + 1) * BATCH_BLOCK).min(batch.len())];
            let mut part = parts[i].lock().unwrap_or_else(|e| e.into_inner());
            let BlockPart { g, gb, loss, rows: buf, res } = &mut *part;
            g.iter_mut().for_each(|x| *x = T::ZERO);
            let (sb, sl) = (k.sgd_block_grad)(p, s.loss, rows, v, wscale, b, track, g, buf, res);
            *gb = sb;
            *loss = sl;
        };
        if blocks > 1 {
            threads::parallel_for(blocks, usize::MAX, work);
        } else {
            work(0);
        }
        // Shrink for every sample of the batch, then the summed step.
        if s.penalized && l1_ratio < 1.0 {
            let shrink = (1.0 - (1.0 - l1_ratio) * eta * s.alpha).max(0.0).powi(batch.len() as i32);
            st.wscale *= shrink;
            if st.wscale < reset_threshold::<T>() {
                st.reset_scale();
            }
        }
        let c = -eta / st.wscale;
        let mut gsum = 0.0;
        for part in parts.iter().take(blocks) {
            let part = part.lock().unwrap_or_else(|e| e.into_inner());
            for (vj, gj) in st.v.iter_mut().zip(&part.g) {
                *vj = T::from_f64(vj.to_f64() + c * gj.to_f64());
            }
            gsum += part.gb;
            loss_sum += part.loss;
        }
        if track && s.penalized {
            let (sq, l1) = norms(&st.v, st.wscale);
            objective_sum += batch.len() as f64 * s.alpha * ((1.0 - l1_ratio) * 0.5 * sq + l1_ratio * l1);
        }
        if s.fit_intercept {
            st.intercept -= eta * gsum;
        }
        if s.average > 0 && s.average as f64 <= st.t {
            // The running mean over batches, each weighted by its size.
            st.reset_scale();
            let num = st.t - s.average as f64 + batch.len() as f64;
            let f = batch.len() as f64 / num;
            for (a, w) in st.aw.iter_mut().zip(&st.v) {
                *a = T::from_f64(a.to_f64() + (w.to_f64() - a.to_f64()) * f);
            }
            st.average_intercept += (st.intercept - st.average_intercept) * f;
        }
        if s.penalized && l1_ratio > 0.0 {
            st.u += l1_ratio * eta * s.alpha * batch.len() as f64;
            l1_penalty(&mut st.v, &mut st.q, st.u, st.wscale);
        }
        st.t += batch.len() as f64;
    }
    Some((loss_sum, objective_sum + loss_sum))
}

/// The gradient sums of one block of a mini-batch at fixed weights: `g += Σ wᵢ·
/// ∂L·xᵢ` (in `T`), returning `(Σ wᵢ·∂L, Σ L)`. The block's rows are copied into
/// `rows_buf` while their scores are taken (independent across rows, so the loads
/// of these random rows overlap), then the gradient is accumulated in registers
/// (`kernels::block_grad`).
///
/// # Safety
/// The CPU has `S`'s features.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
pub unsafe fn block_grad<T: LearnFloat, S: mlkern_core::simd::Simd<T>>(
    p: &Problem<'_, T>,
    loss: Loss,
    rows: &[u32],
    v: &[T],
    wscale: f64,
    intercept: f64,
    track: bool,
    g: &mut [T],
    rows_buf: &mut [T],
    res: &mut [f64],
) -> (f64, f64) {
    use crate::kernels::dot;
    let d = p.d;
    let m = rows.len();
    assert!(v.len() == d && g.len() == d && m <= BATCH_BLOCK && rows_buf.len() >= m * d && res.len() >= m);
    let (mut gb, mut l) = (0.0, 0.0);
    let mut ys = [0.0f64; BATCH_BLOCK];
    let mut ws = [0.0f64; BATCH_BLOCK];
    for (i, &row) in rows.iter().enumerate() {
        if let Some(&ahead) = rows.get(i + BLOCK_PREFETCH_AHEAD) {
            let a = ahead as usize;
            prefetch_row(&p.x[a * d..(a + 1) * d]);
            p.prefetch_target(a);
        }
        let r = row as usize;
        let x = &p.x[r * d..(r + 1) * d];
        rows_buf[i * d..(i + 1) * d].copy_from_slice(x);
        // SAFETY: x and v hold d values; S's features (caller).
        res[i] = unsafe { dot::<T, S>(v.as_ptr(), x.as_ptr(), d) }.to_f64() * wscale + intercept;
        (ys[i], ws[i]) = p.target(r);
    }
    if track {
        for i in 0..m {
            l += loss.loss(ys[i], res[i]);
        }
    }
    if loss == Loss::Log {
        // Branch-free, so the block's sigmoids vectorise.
        for ((c, &y), &w) in res[..m].iter_mut().zip(&ys[..m]).zip(&ws[..m]) {
            *c = (crate::math::sigmoid(*c) - y) * w;
        }
    } else {
        for i in 0..m {
            res[i] = loss.grad(ys[i], res[i]).clamp(-MAX_DLOSS, MAX_DLOSS) * ws[i];
        }
    }
    for &c in &res[..m] {
        gb += c;
    }
    // SAFETY: rows_buf holds m rows of d values, g holds d; S's features (caller).
    unsafe { crate::kernels::block_grad::<T, S>(rows_buf.as_ptr(), m, d, res, 1, 0, g.as_mut_ptr()) };
    (gb, l)
}

/// Weighted accuracy of `sign(x·w + b)` against the ±1 (or 0/1) targets, or
/// weighted R², on the rows `rows` of `p`, weighted by the sample weights only.
pub fn validation_score<T: LearnFloat>(
    p: &Problem<'_, T>,
    rows: &[u32],
    classification: bool,
    w: &[f64],
    b: f64,
) -> f64 {
    let d = p.d;
    let pred = |r: usize| (0..d).map(|j| p.x[r * d + j].to_f64() * w[j]).sum::<f64>() + b;
    let sw = |r: usize| p.sw.map_or(1.0, |s| s[r]);
    let y = |r: usize| p.target(r).0;
    let total: f64 = rows.iter().map(|&r| sw(r as usize)).sum();
    if classification {
        let hit: f64 = rows
            .iter()
            .map(|&r| if (pred(r as usize) > 0.0) == (y(r as usize) > 0.0) { sw(r as usize) } else { 0.0 })
            .sum();
        hit / total
    } else {
        let mean = rows.iter().map(|&r| sw(r as usize) * y(r as usize)).sum::<f64>() / total;
        let (mut num, mut den) = (0.0, 0.0);
        for &r in rows {
            let (r, wt) = (r as usize, sw(r as usize));
            num += wt * (y(r) - pred(r)).powi(2);
            den += wt * (y(r) - mean).powi(2);
        }
        if den > 0.0 {
            1.0 - num / den
        } else if num == 0.0 {
            1.0
        } else {
            0.0
        }
    }
}

/// Trains several independent problems (one-vs-all classes) in parallel, each on
/// its own state and seed (`seeds[i]`); results do not depend on the thread count.
/// `on_epoch(i, epoch)` may stop problem `i`.
#[allow(clippy::too_many_arguments)]
pub fn train_all<T: LearnFloat>(
    problems: &[Problem<'_, T>],
    s: &Settings,
    seeds: &[u64],
    states: &mut [State<T>],
    validation: Option<(&[u32], bool)>,
    on_epoch: &(dyn Fn(usize, &Epoch) -> bool + Sync),
    poll: &(dyn Fn() -> bool + Sync),
    threads: usize,
) -> Result<Vec<Ended>> {
    if problems.len() != states.len() || seeds.len() != states.len() {
        return Err(Error::shape("coef", "one state and one seed per problem"));
    }
    if let Some(p) = problems.first() {
        if validation.is_some_and(|(rows, _)| rows.iter().any(|&r| r as usize >= p.n())) {
            return Err(Error::invalid("rows", "a validation row index is out of range"));
        }
        if !crate::logistic::all_finite_parallel(p.x, threads) {
            return Err(Error::invalid("X", "contains NaN or infinity"));
        }
        if let Targets::Values(v) = p.targets {
            if !v.iter().all(|y| y.is_finite()) {
                return Err(Error::invalid("y", "contains NaN or infinity"));
            }
        }
    }
    let slots: Vec<std::sync::Mutex<&mut State<T>>> = states.iter_mut().map(std::sync::Mutex::new).collect();
    let results: Vec<std::sync::Mutex<Option<Result<Ended>>>> =
        (0..problems.len()).map(|_| std::sync::Mutex::new(None)).collect();
    threads::parallel_for(problems.len(), threads, |i| {
        let p = &problems[i];
        let settings = Settings { seed: seeds[i], ..*s };
        let mut st = slots[i].lock().unwrap_or_else(|e| e.into_inner());
        let val = validation.map(|(rows, cls)| move |w: &[f64], b: f64| validation_score(p, rows, cls, w, b));
        let r = match &val {
            Some(f) => train(p, &settings, &mut st, Some(f), &mut |e| on_epoch(i, e), poll),
            None => train(p, &settings, &mut st, None, &mut |e| on_epoch(i, e), poll),
        };
        *results[i].lock().unwrap_or_else(|e| e.into_inner()) = Some(r);
    });
    results
        .into_iter()
        .map(|m| m.into_inner().unwrap_or_else(|e| e.into_inner()).unwrap_or(Ok(Ended::Stopped)))
        .collect()
}

/// A softmax (multinomial) model's running state: `W = wscale · v`, `K × d`.
#[derive(Debug, Clone)]
pub struct SoftmaxState<T> {
    pub v: Vec<T>,
    pub wscale: f64,
    pub intercept: Vec<f64>,
    pub t: f64,
    pub u: f64,
    pub q: Vec<T>,
    pub eta: f64,
    pub best: f64,
    pub no_improvement: usize,
    pub epochs: usize,
}

impl<T: LearnFloat> SoftmaxState<T> {
    /// `k` classes of `d` features from `coef` (`k × d`) and `intercept`, clock `t`.
    pub fn new(k: usize, d: usize, coef: &[f64], intercept: &[f64], t: f64, eta0: f64) -> Self {
        SoftmaxState {
            v: coef.iter().map(|&c| T::from_f64(c)).collect(),
            wscale: 1.0,
            intercept: intercept.to_vec(),
            t,
            u: 0.0,
            q: vec![T::ZERO; k * d],
            eta: eta0,
            best: f64::INFINITY,
            no_improvement: 0,
            epochs: 0,
        }
    }

    /// Folds the scale into `v`.
    pub fn reset_scale(&mut self) {
        let s = self.wscale;
        self.v.iter_mut().for_each(|v| *v = T::from_f64(v.to_f64() * s));
        self.wscale = 1.0;
    }
}

/// One epoch of per-sample softmax SGD (the multinomial log loss
/// `ln Σ_k e^{z_k} − z_y`, gradient `(p_k − [k = y])·x` for every class), with the
/// schedule, L2 scale and L1 penalty of [`sample_epoch`]. `codes` are the class
/// indices, `cw` the class weights.
///
/// # Safety
/// The CPU has `S`'s features.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
pub unsafe fn softmax_epoch<T: LearnFloat, S: mlkern_core::simd::Simd<T>>(
    x: &[T],
    d: usize,
    codes: &[u32],
    sw: Option<&[f64]>,
    cw: &[f64],
    s: &Settings,
    st: &mut SoftmaxState<T>,
    order: &[u32],
    optimal_init: f64,
    track: bool,
    poll: &(dyn Fn() -> bool + Sync),
) -> Option<(f64, f64)> {
    use crate::kernels::{axpy, dot};
    let k = st.intercept.len();
    // The pointer arithmetic below relies on these (the table's fn is safe to call).
    assert!(st.v.len() == k * d && st.q.len() == k * d && x.len() == codes.len() * d && cw.len() == k);
    let l1_ratio = if s.penalized { s.l1_ratio } else { 0.0 };
    let threshold = reset_threshold::<T>();
    let (mut loss_sum, mut objective_sum) = (0.0, 0.0);
    let mut z = vec![0.0f64; k];
    for (i, &row) in order.iter().enumerate() {
        if i % POLL_EVERY == POLL_EVERY - 1 && !poll() {
            return None;
        }
        if let Some(&ahead) = order.get(i + PREFETCH_AHEAD) {
            let a = ahead as usize;
            prefetch_row(&x[a * d..(a + 1) * d]);
            mlkern_core::simd::prefetch(codes[a..].as_ptr());
        }
        let r = row as usize;
        let xr = &x[r * d..(r + 1) * d];
        let y = codes[r] as usize;
        for c in 0..k {
            // SAFETY: class c's weights and the row hold d values; S's features (caller).
            z[c] =
                unsafe { dot::<T, S>(st.v.as_ptr().add(c * d), xr.as_ptr(), d) }.to_f64() * st.wscale + st.intercept[c];
        }
        let eta = rate(s, st.eta, st.t, optimal_init);
        let zy = z[y];
        let mx = z.iter().fold(f64::NEG_INFINITY, |m, &v| m.max(v));
        let mut total = 0.0;
        for v in z.iter_mut() {
            *v = crate::math::exp(*v - mx);
            total += *v;
        }
        if track {
            let l = crate::math::ln(total) + mx - zy;
            loss_sum += l;
            objective_sum += l;
            if s.penalized {
                let (sq, l1) = norms(&st.v, st.wscale);
                objective_sum += s.alpha * ((1.0 - l1_ratio) * 0.5 * sq + l1_ratio * l1);
            }
        }
        let weight = sw.map_or(1.0, |w| w[r]) * cw[y];
        if s.penalized && l1_ratio < 1.0 {
            st.wscale *= (1.0 - (1.0 - l1_ratio) * eta * s.alpha).max(0.0);
            if st.wscale < threshold {
                st.reset_scale();
            }
        }
        let inv_total = 1.0 / total;
        let inv_scale = 1.0 / st.wscale;
        for c in 0..k {
            let g = z[c] * inv_total - if c == y { 1.0 } else { 0.0 };
            let update = -eta * g * weight;
            if update != 0.0 {
                // SAFETY: as above; v and the row do not overlap.
                unsafe { axpy::<T, S>(st.v.as_mut_ptr().add(c * d), T::from_f64(update * inv_scale), xr.as_ptr(), d) };
            }
            if s.fit_intercept {
                st.intercept[c] += update;
            }
        }
        if s.penalized && l1_ratio > 0.0 {
            st.u += l1_ratio * eta * s.alpha;
            l1_penalty(&mut st.v, &mut st.q, st.u, st.wscale);
        }
        st.t += 1.0;
    }
    Some((loss_sum, objective_sum))
}

/// The softmax problem: class indices and weights, and the training rows.
#[derive(Debug, Clone, Copy)]
pub struct SoftmaxProblem<'a, T> {
    pub x: &'a [T],
    pub d: usize,
    pub codes: &'a [u32],
    pub sw: Option<&'a [f64]>,
    /// One weight per class.
    pub class_weight: &'a [f64],
    pub rows: &'a [u32],
}

/// [`train`] for the softmax model: per-sample steps only (`batch_size` must be 1),
/// no averaging; early stopping scores the accuracy of the argmax on `validation`.
pub fn train_softmax<T: LearnFloat>(
    p: &SoftmaxProblem<'_, T>,
    s: &Settings,
    st: &mut SoftmaxState<T>,
    validation: Option<&[u32]>,
    on_epoch: &mut dyn FnMut(&Epoch) -> bool,
    poll: &(dyn Fn() -> bool + Sync),
    threads: usize,
) -> Result<Ended> {
    let (n, d, k) = (p.codes.len(), p.d, st.intercept.len());
    if d == 0 || p.x.len() != mlkern_core::error::checked_size("X", n, d)? {
        return Err(Error::shape("X", format!("{} values for {n} rows of {d} features", p.x.len())));
    }
    if k < 2
        || p.class_weight.len() != k
        || st.v.len() != mlkern_core::error::checked_size("coef", k, d)?
        || st.q.len() != st.v.len()
    {
        return Err(Error::shape("coef", format!("a model of {k} classes and {d} features expected")));
    }
    if p.codes.iter().any(|&c| c as usize >= k)
        || p.rows.iter().chain(validation.unwrap_or(&[])).any(|&r| r as usize >= n)
    {
        return Err(Error::invalid("y", "a class or row index is out of range"));
    }
    if p.sw.is_some_and(|w| w.len() != n) {
        return Err(Error::shape("sample_weight", format!("sample weights for {n} rows expected")));
    }
    if s.batch_size != 1 || s.average != 0 {
        return Err(Error::unsupported("multinomial SGD takes per-sample steps (batch_size=1) without averaging"));
    }
    if !(s.alpha > 0.0 || s.schedule != Schedule::Optimal) {
        return Err(Error::invalid("alpha", "must be > 0 for learning_rate='optimal'"));
    }
    if !crate::logistic::all_finite_parallel(p.x, threads) {
        return Err(Error::invalid("X", "contains NaN or infinity"));
    }
    let kern = kernels::<T>();
    let mut order: Vec<u32> = p.rows.to_vec();
    let optimal_init = optimal_t0(Loss::Log, s.alpha);
    let track = s.track_loss || (s.tol.is_some() && validation.is_none());
    for _ in 0..s.max_epochs {
        if s.shuffle {
            shuffle(&mut order, rng::splitmix64(s.seed, st.epochs as u64));
        }
        let Some((loss_sum, objective_sum)) =
            (kern.sgd_softmax_epoch)(p.x, d, p.codes, p.sw, p.class_weight, s, st, &order, optimal_init, track, poll)
        else {
            return Ok(Ended::Stopped);
        };
        st.epochs += 1;
        if !st.intercept.iter().all(|b| b.is_finite()) || !st.v.iter().all(|v| v.to_f64().is_finite()) {
            return Err(Error::invalid(
                "X",
                format!("floating-point under-/overflow occurred at epoch #{}", st.epochs),
            ));
        }
        let count = p.rows.len().max(1) as f64;
        let (loss, objective) = if track { (loss_sum / count, objective_sum / count) } else { (f64::NAN, f64::NAN) };
        let score = validation.map_or(f64::NAN, |rows| softmax_accuracy(p, st, rows));
        if !on_epoch(&Epoch { epoch: st.epochs, loss, objective, score, eta: st.eta }) {
            return Ok(Ended::Stopped);
        }
        let value = if validation.is_some() { -score } else { objective };
        if stopping_rule(s, value, &mut st.best, &mut st.no_improvement, &mut st.eta) {
            return Ok(Ended::Converged);
        }
    }
    Ok(Ended::MaxEpochs)
}

/// Weighted accuracy of the argmax of the scores on `rows`.
fn softmax_accuracy<T: LearnFloat>(p: &SoftmaxProblem<'_, T>, st: &SoftmaxState<T>, rows: &[u32]) -> f64 {
    let (d, k) = (p.d, st.intercept.len());
    let (mut hit, mut total) = (0.0, 0.0);
    for &r in rows {
        let r = r as usize;
        let mut best = (f64::NEG_INFINITY, 0);
        for c in 0..k {
            let z: f64 = (0..d).map(|j| p.x[r * d + j].to_f64() * st.v[c * d + j].to_f64()).sum::<f64>() * st.wscale
                + st.intercept[c];
            if z > best.0 {
                best = (z, c);
            }
        }
        let w = p.sw.map_or(1.0, |s| s[r]);
        total += w;
        if best.1 == p.codes[r] as usize {
            hit += w;
        }
    }
    hit / total.max(f64::MIN_POSITIVE)
}
