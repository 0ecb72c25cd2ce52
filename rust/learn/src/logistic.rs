//! Logistic regression: binary (one column, `P(y=1) = σ(x·w + b)`) and multinomial
//! (softmax over `K ≥ 3` columns), with scikit-learn's objective
//!
//! `f(w) = Σᵢ sᵢ·ℓᵢ / Σᵢ sᵢ + ½·λ·‖W‖²`, `λ = 1 / (C · Σᵢ sᵢ)` (intercepts not
//! penalised), `ℓ` the half-binomial or half-multinomial log-loss,
//!
//! minimised by L-BFGS (`lbfgs.rs`). Each evaluation of `f` and `∇f` is one fused,
//! parallel pass over `X` (`kernels::logistic_chunk`). The rows are cut into chunks
//! whose size depends only on the shape (never on the thread count); every chunk
//! sums its loss and gradient on its own and the chunks are added in order, so the
//! fit is bitwise the same on any number of threads.

use std::sync::Mutex;

use mlkern_core::{threads, Error, Result};

use crate::dispatch::{kernels, LearnFloat};
use crate::kernels::{ChunkState, LogisticChunk, BLOCK};
use crate::lbfgs::{self, Options, Outcome, Progress};

/// Training rows of a classifier.
#[derive(Debug, Clone, Copy)]
pub struct ClassData<'a, T> {
    /// `n × d`, row-major.
    pub x: &'a [T],
    pub n: usize,
    pub d: usize,
    /// Class index per row, `< n_classes`.
    pub y: &'a [u32],
    /// Non-negative finite row weights (`None`: all 1).
    pub sw: Option<&'a [f64]>,
    pub n_classes: usize,
}

impl<T: LearnFloat> ClassData<'_, T> {
    /// Checks sizes, labels, weights, and that `X` is finite.
    pub fn validate(&self, threads: usize) -> Result<()> {
        let len = mlkern_core::error::checked_size("X", self.n, self.d)?;
        if self.x.len() != len {
            return Err(Error::shape(
                "X",
                format!("{} values for {} rows of {} features", self.x.len(), self.n, self.d),
            ));
        }
        if self.n == 0 || self.d == 0 {
            return Err(Error::invalid(
                "X",
                format!("needs at least one row and one feature, got ({}, {})", self.n, self.d),
            ));
        }
        if self.y.len() != self.n {
            return Err(Error::shape("y", format!("X has {} rows but y has {}", self.n, self.y.len())));
        }
        if self.n_classes < 2 {
            return Err(Error::invalid("y", "needs samples of at least 2 classes"));
        }
        if let Some(&bad) = self.y.iter().find(|&&c| c as usize >= self.n_classes) {
            return Err(Error::invalid("y", format!("class index {bad} out of range for {} classes", self.n_classes)));
        }
        if let Some(w) = self.sw {
            if w.len() != self.n {
                return Err(Error::shape(
                    "sample_weight",
                    format!("X has {} rows but sample_weight has {}", self.n, w.len()),
                ));
            }
            if w.iter().any(|v| !(v.is_finite() && *v >= 0.0)) {
                return Err(Error::invalid("sample_weight", "must be finite and non-negative"));
            }
            if w.iter().sum::<f64>() <= 0.0 {
                return Err(Error::invalid("sample_weight", "the weights sum to zero"));
            }
        }
        if !all_finite_parallel(self.x, threads) {
            return Err(Error::invalid("X", "contains NaN or infinity"));
        }
        Ok(())
    }

    fn sw_sum(&self) -> f64 {
        self.sw.map_or(self.n as f64, |w| w.iter().sum())
    }
}

/// Whether every value of `x` is finite, checked in parallel blocks.
pub fn all_finite_parallel<T: LearnFloat>(x: &[T], threads: usize) -> bool {
    const PART: usize = 1 << 16;
    let parts = x.len().div_ceil(PART);
    let bad = std::sync::atomic::AtomicBool::new(false);
    threads::parallel_for(parts, threads, |i| {
        let s = &x[i * PART..((i + 1) * PART).min(x.len())];
        if !crate::kernels::all_finite(s) {
            bad.store(true, std::sync::atomic::Ordering::Relaxed);
        }
    });
    !bad.load(std::sync::atomic::Ordering::Relaxed)
}

/// Upper bound on the chunk states' memory (bytes): with wide models the chunks
/// get longer rather than more numerous.
const STATE_BUDGET: usize = 64 << 20;
/// Chunks per pass aimed at (load balance on any thread count).
const TARGET_CHUNKS: usize = 128;
/// Fewest rows per chunk.
const MIN_CHUNK_ROWS: usize = 16 * BLOCK;

/// Rows per chunk for `n` rows and a model of `cols × d` (a function of the shape
/// only).
pub fn chunk_rows(n: usize, d: usize, cols: usize) -> usize {
    let per_state = cols
        .saturating_mul(d.saturating_add(1))
        .saturating_mul(8 + 8 + std::mem::size_of::<f64>())
        .saturating_add(BLOCK.saturating_mul(cols).saturating_mul(8))
        .max(1);
    let max_chunks = (STATE_BUDGET / per_state).clamp(1, TARGET_CHUNKS);
    let rows = n.div_ceil(max_chunks).max(MIN_CHUNK_ROWS);
    rows.div_ceil(BLOCK) * BLOCK
}

/// The logistic objective of one training set (see the module header).
#[derive(Debug)]
pub struct Objective<'a, T> {
    data: ClassData<'a, T>,
    /// 1 (binary) or `n_classes`.
    pub cols: usize,
    pub fit_intercept: bool,
    /// `λ = 1 / (C · Σ s)`.
    pub l2: f64,
    sw_sum: f64,
    rows_per_chunk: usize,
    states: Vec<Mutex<ChunkState<T>>>,
    coef_t: Vec<T>,
    intercept: Vec<f64>,
    threads: usize,
}

impl<'a, T: LearnFloat> Objective<'a, T> {
    /// `c`: scikit-learn's `C` (`inf`: no penalty). `data` must have passed
    /// [`ClassData::validate`].
    pub fn new(data: ClassData<'a, T>, c: f64, fit_intercept: bool, threads: usize) -> Result<Self> {
        if c.is_nan() || c <= 0.0 {
            return Err(Error::invalid("C", format!("must be positive, got {c}")));
        }
        let cols = if data.n_classes == 2 { 1 } else { data.n_classes };
        mlkern_core::error::checked_size("coef", cols, data.d + 1)?;
        if data.n_classes > data.n.max(2) {
            return Err(Error::invalid("y", format!("{} classes for {} rows", data.n_classes, data.n)));
        }
        let sw_sum = data.sw_sum();
        let rows_per_chunk = chunk_rows(data.n, data.d, cols);
        let n_chunks = data.n.div_ceil(rows_per_chunk);
        let states = (0..n_chunks).map(|_| Mutex::new(ChunkState::new(cols, data.d))).collect();
        Ok(Objective {
            data,
            cols,
            fit_intercept,
            l2: if c.is_infinite() { 0.0 } else { 1.0 / (c * sw_sum) },
            sw_sum,
            rows_per_chunk,
            states,
            coef_t: vec![T::ZERO; cols * data.d],
            intercept: vec![0.0; cols],
            threads,
        })
    }

    /// Length of the parameter vector: `cols·d` coefficients (row-major by column
    /// of the model), then `cols` intercepts if fitted.
    pub fn n_params(&self) -> usize {
        self.cols * self.data.d + if self.fit_intercept { self.cols } else { 0 }
    }

    /// `f(w)`, and `∇f(w)` into `grad`.
    pub fn eval(&mut self, w: &[f64], grad: &mut [f64]) -> f64 {
        let (d, cols) = (self.data.d, self.cols);
        assert!(w.len() == self.n_params() && grad.len() == w.len());
        for (t, &v) in self.coef_t.iter_mut().zip(&w[..cols * d]) {
            *t = T::from_f64(v);
        }
        if self.fit_intercept {
            self.intercept.copy_from_slice(&w[cols * d..]);
        }
        let k = kernels::<T>();
        let (data, rows, coef, intercept) = (&self.data, self.rows_per_chunk, &self.coef_t[..], &self.intercept[..]);
        let states = &self.states;
        threads::parallel_for(states.len(), self.threads, |c| {
            let (r0, r1) = (c * rows, ((c + 1) * rows).min(data.n));
            let chunk = LogisticChunk {
                x: &data.x[r0 * d..r1 * d],
                d,
                y: &data.y[r0..r1],
                sw: data.sw.map(|s| &s[r0..r1]),
                cols,
                coef,
                intercept,
            };
            let mut st = states[c].lock().unwrap_or_else(|p| p.into_inner());
            (k.logistic_chunk)(&chunk, &mut st);
        });
        grad.iter_mut().for_each(|g| *g = 0.0);
        let mut loss = 0.0;
        for s in &self.states {
            let st = s.lock().unwrap_or_else(|p| p.into_inner());
            loss += st.loss;
            for (g, v) in grad[..cols * d].iter_mut().zip(&st.grad[..cols * d]) {
                *g += v;
            }
            if self.fit_intercept {
                for (g, v) in grad[cols * d..].iter_mut().zip(&st.grad[cols * d..]) {
                    *g += v;
                }
            }
        }
        let inv = 1.0 / self.sw_sum;
        grad.iter_mut().for_each(|g| *g *= inv);
        let mut penalty = 0.0;
        for (g, &v) in grad[..cols * d].iter_mut().zip(&w[..cols * d]) {
            *g += self.l2 * v;
            penalty += v * v;
        }
        loss * inv + 0.5 * self.l2 * penalty
    }
}

/// A fitted logistic model.
#[derive(Debug, Clone)]
pub struct LogisticFit {
    /// `cols × d`.
    pub coef: Vec<f64>,
    /// `cols` (zeros without an intercept).
    pub intercept: Vec<f64>,
    pub outcome: Outcome,
}

/// Fits by L-BFGS from `w0` (the parameter layout of [`Objective::n_params`]; zeros
/// when `None`). `on_iter` sees every iteration and may stop the fit (the result
/// then holds the last completed iteration).
pub fn fit<T: LearnFloat>(
    data: ClassData<'_, T>,
    c: f64,
    fit_intercept: bool,
    opts: &Options,
    w0: Option<&[f64]>,
    threads: usize,
    on_iter: &mut dyn FnMut(&Progress) -> bool,
) -> Result<LogisticFit> {
    data.validate(threads)?;
    let mut obj = Objective::new(data, c, fit_intercept, threads)?;
    let p = obj.n_params();
    let mut w = vec![0.0; p];
    if let Some(w0) = w0 {
        if w0.len() != p {
            return Err(Error::shape("coef_init", format!("{} values for {} parameters", w0.len(), p)));
        }
        if !w0.iter().all(|v| v.is_finite()) {
            return Err(Error::invalid("coef_init", "contains NaN or infinity"));
        }
        w.copy_from_slice(w0);
    }
    let outcome = lbfgs::minimize(&mut w, &mut |w, g| Ok(obj.eval(w, g)), opts, on_iter)?;
    let (cols, d) = (obj.cols, data.d);
    let intercept = if fit_intercept { w[cols * d..].to_vec() } else { vec![0.0; cols] };
    w.truncate(cols * d);
    Ok(LogisticFit { coef: w, intercept, outcome })
}
