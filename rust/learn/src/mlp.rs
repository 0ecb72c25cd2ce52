//! Multi-layer perceptrons: scikit-learn's `MLPClassifier` / `MLPRegressor`
//! training step (Adam or momentum SGD on mini-batches) and forward pass, on
//! mlkern's GEMM.
//!
//! Parameters are one flat buffer in scikit-learn's `_pack` order: every layer's
//! coefficients `Wᵢ` (`fan_in × fan_out`, row-major), then every intercept `bᵢ`.
//!
//! Algorithm of one mini-batch ([`epoch`]): the batch is cut into [`blocks`] row
//! blocks of near-equal size (a function of the batch size only). Each block, on
//! any thread, gathers its rows and runs
//! - the forward pass, `Zᵢ₊₁ = Aᵢ·Wᵢ` on the GEMM, then `+ bᵢ` and the activation
//!   (`relu`, `tanh`, `logistic`, `identity`; the head: `identity`, `exp`,
//!   `logistic`, `softmax`);
//! - the loss of its rows and `δ = (P − Y)·w` (scikit-learn's `_backprop`, the
//!   canonical link of each head);
//! - the backward pass, `∇Wᵢ = Aᵢᵀ·δᵢ₊₁`, `∇bᵢ = Σ δᵢ₊₁`, `δᵢ = (δᵢ₊₁·Wᵢᵀ) ⊙ f'(Aᵢ)`,
//!   on the GEMM, into the block's own gradient buffer.
//!
//! The update then walks the parameters in fixed chunks of [`CHUNK`] (in
//! parallel): the blocks' gradients summed in block order, `+ alpha·W`, divided by
//! the batch's weight sum, and Adam or (Nesterov) momentum SGD applied exactly as
//! scikit-learn's `_stochastic_optimizers` does. No sum depends on the thread
//! count, so a fit is bitwise the same on any number of threads.
//!
//! Accumulation and error: products and gradients accumulate in `T` on the GEMM
//! (`|ε| ≤ γ_k Σ|a||b|`, `k` the inner dimension: `fan_in` forward, the block's
//! rows for `∇W`), the per-block partial gradients are summed in `T` (at most
//! `γ_{blocks}` more). Activations with an exponential are evaluated in float64
//! (`math::exp`, ≤ 2 ulp) and rounded to `T`; losses and weight sums accumulate
//! in float64.

use std::sync::Mutex;

use mlkern_core::simd::Simd;
use mlkern_core::threads::{self, Parallelism};
use mlkern_core::{Error, Float, Result};
use mlkern_linalg::gemm::gemm;
use mlkern_linalg::mat::{MatMut, MatRef};

use crate::dispatch::{self, ElemKernels, LearnFloat};
use crate::math;

/// Most rows in one block of a training batch (a block's activations stay in L2).
pub const BLOCK_ROWS: usize = 64;
/// Rows per block of a forward pass over many rows (prediction).
pub const PREDICT_ROWS: usize = 256;
/// Parameters per chunk of the update (fixed: the order of every sum is too).
pub const CHUNK: usize = 4096;

/// The hidden layers' activation (scikit-learn's `activation`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Activation {
    Identity,
    Logistic,
    Tanh,
    Relu,
}

/// The output layer and its loss (scikit-learn's `out_activation_` and loss).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Head {
    /// Identity output, half squared error (`MLPRegressor`).
    Identity,
    /// Exponential output, half Poisson deviance (`MLPRegressor(loss="poisson")`).
    Exp,
    /// Logistic output, binary log loss per column (binary and multilabel).
    Logistic,
    /// Softmax output, log loss (multiclass).
    Softmax,
}

/// A network's shape: `units = [n_features, hidden…, n_outputs]`.
#[derive(Clone, Copy, Debug)]
pub struct Net<'a> {
    pub units: &'a [usize],
    pub hidden: Activation,
    pub head: Head,
}

/// Where each layer's coefficients and intercept live in the flat parameters.
#[derive(Clone, Debug)]
pub struct Layout {
    pub coef: Vec<usize>,
    pub bias: Vec<usize>,
    /// Number of coefficients (the L2 penalty covers `[0, n_coef)`).
    pub n_coef: usize,
    pub n_params: usize,
    /// Widest layer after the input.
    pub widest: usize,
}

impl Net<'_> {
    /// Checks the shape and computes the parameter layout (checked arithmetic).
    pub fn layout(&self) -> Result<Layout> {
        let u = self.units;
        if u.len() < 2 {
            return Err(Error::invalid("hidden_layer_sizes", "a network needs an input and an output layer"));
        }
        if let Some(i) = u.iter().position(|&n| n == 0) {
            return Err(Error::invalid("hidden_layer_sizes", format!("layer {i} has no units")));
        }
        let over = || Error::invalid("hidden_layer_sizes", "the network has more parameters than memory can hold");
        let (mut coef, mut off) = (Vec::with_capacity(u.len() - 1), 0usize);
        for w in u.windows(2) {
            coef.push(off);
            off = w[0].checked_mul(w[1]).and_then(|c| off.checked_add(c)).ok_or_else(over)?;
        }
        let n_coef = off;
        let mut bias = Vec::with_capacity(u.len() - 1);
        for &n in &u[1..] {
            bias.push(off);
            off = off.checked_add(n).ok_or_else(over)?;
        }
        // Every later product of a row count and a width is bounded by this.
        off.checked_mul(BLOCK_ROWS.max(PREDICT_ROWS) * 2).ok_or_else(over)?;
        Ok(Layout { coef, bias, n_coef, n_params: off, widest: u[1..].iter().copied().max().unwrap_or(1) })
    }

    fn layers(&self) -> usize {
        self.units.len() - 1
    }
}

/// The optimiser and its hyper-parameters (scikit-learn's `solver`).
#[derive(Clone, Copy, Debug)]
pub enum Solver {
    /// `lr_t = learning_rate_init · √(1 − β₂ᵗ) / (1 − β₁ᵗ)`, `w −= lr_t · m / (√v + ε)`.
    Adam { learning_rate_init: f64, beta_1: f64, beta_2: f64, epsilon: f64 },
    /// `v = μ·v − lr·g`, `w += μ·v − lr·g` (Nesterov) or `w += v`.
    Sgd { learning_rate: f64, momentum: f64, nesterov: bool },
}

/// The optimiser's state: Adam's moments `m`, `v` (SGD uses `m` as the velocity
/// and leaves `v` empty) and Adam's step count `t`.
#[derive(Debug)]
pub struct OptState<'a, T> {
    pub m: &'a mut [T],
    pub v: &'a mut [T],
    pub t: u64,
}

/// The training data: `x` `(n, units[0])`, targets `y` `(n, n_outputs)` (one-hot
/// or 0/1 columns for classifiers), optional sample weights.
#[derive(Clone, Copy, Debug)]
pub struct Data<'a, T> {
    pub x: &'a [T],
    pub y: &'a [T],
    pub sw: Option<&'a [T]>,
    pub n: usize,
}

/// One gradient slot's scratch: a block's gathered rows, targets and weights,
/// every layer's activations and deltas, and the slot's loss and weight sums.
#[derive(Debug)]
pub struct Slot<T> {
    x: Vec<T>,
    y: Vec<T>,
    w: Vec<T>,
    acts: Vec<Vec<T>>,
    deltas: Vec<Vec<T>>,
    loss: f64,
    weight: f64,
}

/// Everything an epoch writes besides the parameters; made once per fit by
/// [`Scratch::new`], so that the training steps allocate nothing.
#[derive(Debug)]
pub struct Scratch<T> {
    slots: Vec<Mutex<Slot<T>>>,
    /// `slots × n_params` gradients, slot after slot.
    grads: Vec<T>,
    /// The network the scratch was made for, and its layout.
    units: Vec<usize>,
    lay: Layout,
    sumsq: Vec<f64>,
}

fn zeros<T: Float>(len: usize) -> Result<Vec<T>> {
    let mut v = Vec::new();
    v.try_reserve_exact(len).map_err(|_| Error::out_of_memory("MLP scratch", format!("{len} values")))?;
    v.resize(len, T::ZERO);
    Ok(v)
}

impl<T: LearnFloat> Scratch<T> {
    /// Scratch for batches of up to `batch_size` rows.
    pub fn new(net: &Net<'_>, batch_size: usize) -> Result<Self> {
        let lay = net.layout()?;
        let ns = slots(blocks(batch_size.max(1)));
        let (d, k) = (net.units[0], net.units[net.layers()]);
        let rows = BLOCK_ROWS;
        let mut sl = Vec::with_capacity(ns);
        for _ in 0..ns {
            let acts = net.units[1..].iter().map(|&u| zeros(rows * u)).collect::<Result<Vec<_>>>()?;
            let deltas = net.units[1..].iter().map(|&u| zeros(rows * u)).collect::<Result<Vec<_>>>()?;
            let xl = rows.checked_mul(d).ok_or_else(|| Error::invalid("X", "too many features"))?;
            sl.push(Mutex::new(Slot {
                x: zeros(xl)?,
                y: zeros(rows * k)?,
                w: zeros(rows)?,
                acts,
                deltas,
                loss: 0.0,
                weight: 0.0,
            }));
        }
        let g = ns.checked_mul(lay.n_params).ok_or_else(|| Error::out_of_memory("MLP scratch", "gradients"))?;
        let sumsq = vec![0.0; lay.n_params.div_ceil(CHUNK)];
        Ok(Scratch { slots: sl, grads: zeros(g)?, units: net.units.to_vec(), lay, sumsq })
    }
}

/// Blocks of a batch of `rows` rows: `⌈rows / BLOCK_ROWS⌉`.
pub fn blocks(rows: usize) -> usize {
    rows.div_ceil(BLOCK_ROWS).max(1)
}

/// Gradient slots for `nb` blocks: block `j` adds into slot `j mod slots`.
pub fn slots(nb: usize) -> usize {
    nb.min(MAX_SLOTS)
}

/// Most gradient buffers of a batch (bounds the scratch of huge batches).
pub const MAX_SLOTS: usize = 16;

/// The row range `[lo, hi)` of block `j` of `nb` in a batch of `rows` rows.
fn block_range(rows: usize, nb: usize, j: usize) -> (usize, usize) {
    let (base, rem) = (rows / nb, rows % nb);
    let lo = j * base + j.min(rem);
    (lo, lo + base + usize::from(j < rem))
}

/// A raw view of a buffer whose disjoint chunks are written by different tasks.
#[derive(Clone, Copy)]
struct SharedMut<T> {
    ptr: *mut T,
    len: usize,
}
// SAFETY: tasks touch disjoint index ranges (see `chunk`), so sharing the pointer
// across threads races on nothing.
unsafe impl<T: Send> Send for SharedMut<T> {}
// SAFETY: as above.
unsafe impl<T: Send> Sync for SharedMut<T> {}

impl<T> SharedMut<T> {
    fn new(s: &mut [T]) -> Self {
        SharedMut { ptr: s.as_mut_ptr(), len: s.len() }
    }
    /// `[lo, hi)` of the buffer (empty when `lo == hi`).
    ///
    /// # Safety
    /// No other live reference overlaps `[lo, hi)` while the result lives, and the
    /// buffer outlives it.
    #[allow(clippy::mut_from_ref)]
    unsafe fn chunk(&self, lo: usize, hi: usize) -> &mut [T] {
        assert!(lo <= hi && hi <= self.len, "chunk [{lo}, {hi}) outside a buffer of {}", self.len);
        if lo == hi {
            return &mut [];
        }
        // SAFETY: in bounds (checked); exclusive (caller).
        unsafe { std::slice::from_raw_parts_mut(self.ptr.add(lo), hi - lo) }
    }
}

/// The settings of an epoch besides the data and the state.
#[derive(Clone, Copy, Debug)]
pub struct Settings {
    pub alpha: f64,
    pub batch_size: usize,
    pub solver: Solver,
}

/// Why an epoch returned.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum EpochEnd {
    /// Every batch ran: scikit-learn's accumulated loss, `Σ batch_loss · batch_rows`.
    Done(f64),
    /// `keep_going` returned false between two batches.
    Stopped,
}

/// What the blocks of one batch read.
#[derive(Debug)]
pub struct BlockJob<'a, T> {
    pub(crate) net: &'a Net<'a>,
    pub(crate) lay: &'a Layout,
    pub(crate) data: &'a Data<'a, T>,
    pub(crate) params: &'a [T],
    pub(crate) batch: &'a [u32],
    pub(crate) nb: usize,
    pub(crate) ns: usize,
}

/// What the update of one batch reads.
#[derive(Clone, Copy, Debug)]
pub struct Update {
    pub(crate) n_coef: usize,
    pub(crate) n_params: usize,
    pub(crate) solver: Solver,
    pub(crate) alpha: f64,
    /// The batch's weight sum (its row count without sample weights).
    pub(crate) weight: f64,
    /// Adam's step count, this step included.
    pub(crate) t: u64,
    pub(crate) ns: usize,
}

/// One pass over `order` (the rows, in the epoch's order) in batches of
/// `settings.batch_size`, updating `params` and `opt` after every batch
/// (scikit-learn's inner loop of `_fit_stochastic`). A batch whose sample weights
/// sum to zero carries no information and is skipped.
#[allow(clippy::too_many_arguments)]
pub fn epoch<T: LearnFloat>(
    net: &Net<'_>,
    data: &Data<'_, T>,
    order: &[u32],
    s: &Settings,
    params: &mut [T],
    opt: &mut OptState<'_, T>,
    scratch: &mut Scratch<T>,
    threads: usize,
    keep_going: &(dyn Fn() -> bool + Sync),
) -> Result<EpochEnd> {
    epoch_with(dispatch::kernels::<T>(), net, data, order, s, params, opt, scratch, threads, keep_going)
}

/// [`epoch`] on the kernels of one tier (tests compare the tiers).
#[allow(clippy::too_many_arguments)]
pub fn epoch_with<T: LearnFloat>(
    k: &ElemKernels<T>,
    net: &Net<'_>,
    data: &Data<'_, T>,
    order: &[u32],
    s: &Settings,
    params: &mut [T],
    opt: &mut OptState<'_, T>,
    scratch: &mut Scratch<T>,
    threads: usize,
    keep_going: &(dyn Fn() -> bool + Sync),
) -> Result<EpochEnd> {
    if scratch.units != net.units {
        return Err(Error::invalid("scratch", "was made for another network"));
    }
    // The scratch's layout, borrowed beside its buffers (computing it again
    // would allocate on every epoch).
    let Scratch { slots: slot_bufs, grads, lay, sumsq: sumsq_parts, .. } = scratch;
    let slot_bufs: &[Mutex<Slot<T>>] = slot_bufs;
    check_data(net, data)?;
    check_params(lay, params)?;
    let need_v = matches!(s.solver, Solver::Adam { .. });
    if opt.m.len() != lay.n_params || opt.v.len() != if need_v { lay.n_params } else { 0 } {
        return Err(Error::shape("optimizer state", "does not match the parameters"));
    }
    if s.batch_size == 0 || slots(blocks(s.batch_size.min(order.len()).max(1))) > slot_bufs.len() {
        return Err(Error::invalid("batch_size", "must be at least 1 and fit the scratch"));
    }
    if let Some(&bad) = order.iter().find(|&&r| r as usize >= data.n) {
        return Err(Error::invalid("order", format!("row {bad} of {} rows", data.n)));
    }
    if !(s.alpha >= 0.0 && s.alpha.is_finite()) {
        return Err(Error::invalid("alpha", "must be finite and >= 0"));
    }
    let n_params = lay.n_params;
    threads::install(|| {
        let mut sumsq = penalty_sumsq(params, lay.n_coef, sumsq_parts);
        let mut total = 0.0f64;
        for batch in order.chunks(s.batch_size) {
            if !keep_going() {
                return Ok(EpochEnd::Stopped);
            }
            let nb = blocks(batch.len());
            let ns = slots(nb);
            {
                let job = BlockJob { net, lay, data, params: &*params, batch, nb, ns };
                let grads = SharedMut::new(grads);
                threads::parallel_for(ns, threads, |j| {
                    let mut slot = slot_bufs[j].lock().unwrap_or_else(|p| p.into_inner());
                    // SAFETY: slot `j` alone writes gradients `[j·n, (j+1)·n)`, and
                    // `grads` is not otherwise borrowed during the batch's blocks.
                    let g = unsafe { grads.chunk(j * n_params, (j + 1) * n_params) };
                    (k.mlp_slot)(&job, j, &mut slot, g);
                });
            }
            let (mut loss, mut weight) = (0.0, 0.0);
            for sl in &slot_bufs[..ns] {
                let sl = sl.lock().unwrap_or_else(|p| p.into_inner());
                loss += sl.loss;
                weight += sl.weight;
            }
            if weight > 0.0 {
                total += (loss + 0.5 * s.alpha * sumsq) / weight * batch.len() as f64;
                opt.t += 1;
                let up =
                    Update { n_coef: lay.n_coef, n_params, solver: s.solver, alpha: s.alpha, weight, t: opt.t, ns };
                sumsq = update(&up, grads, params, opt, sumsq_parts, threads, k.mlp_update);
            }
        }
        Ok(EpochEnd::Done(total))
    })
}

fn check_data<T>(net: &Net<'_>, data: &Data<'_, T>) -> Result<()> {
    let (d, k) = (net.units[0], net.units[net.layers()]);
    mlkern_core::error::check_matrix("X", data.x.len(), data.n, d)?;
    mlkern_core::error::check_matrix("y", data.y.len(), data.n, k)?;
    if data.n > u32::MAX as usize {
        return Err(Error::invalid("X", "more than 2^32 - 1 rows"));
    }
    if let Some(w) = data.sw {
        if w.len() != data.n {
            return Err(Error::shape("sample_weight", format!("{} weights for {} rows", w.len(), data.n)));
        }
    }
    Ok(())
}

fn check_params<T>(lay: &Layout, params: &[T]) -> Result<()> {
    if params.len() != lay.n_params {
        return Err(Error::shape("params", format!("{} values for a network of {}", params.len(), lay.n_params)));
    }
    Ok(())
}

/// `Σ W²` over the coefficients, in fixed chunks summed in order.
fn penalty_sumsq<T: Float>(params: &[T], n_coef: usize, parts: &mut [f64]) -> f64 {
    for (c, p) in parts.iter_mut().enumerate() {
        let (lo, hi) = (c * CHUNK, ((c + 1) * CHUNK).min(n_coef));
        *p = if lo < hi { params[lo..hi].iter().map(|w| w.to_f64() * w.to_f64()).sum() } else { 0.0 };
    }
    parts.iter().sum()
}

/// See [`update_chunk`].
pub type UpdateFn<T> = fn(&Update, &[T], &mut [T], &mut [T], &mut [T], usize) -> f64;
/// See [`slot_step`].
pub type SlotFn<T> = fn(&BlockJob<'_, T>, usize, &mut Slot<T>, &mut [T]);
/// See [`forward_rows`].
pub type ForwardFn<T> = fn(&Net<'_>, &Layout, &[T], &[T], usize, &mut [T], &mut [T], &mut [T]) -> bool;

/// The update over every chunk of the parameters; returns the new `Σ W²`.
fn update<T: LearnFloat>(
    up: &Update,
    grads: &[T],
    params: &mut [T],
    opt: &mut OptState<'_, T>,
    sumsq: &mut [f64],
    threads: usize,
    f: UpdateFn<T>,
) -> f64 {
    let n = up.n_params;
    let chunks = n.div_ceil(CHUNK);
    let has_v = !opt.v.is_empty();
    let (pw, pm, pv, ps) =
        (SharedMut::new(params), SharedMut::new(opt.m), SharedMut::new(opt.v), SharedMut::new(sumsq));
    let run = |c: usize| {
        let (lo, hi) = (c * CHUNK, ((c + 1) * CHUNK).min(n));
        // SAFETY: chunk `c` alone touches `[lo, hi)` of the parameters and of the
        // optimiser state and entry `c` of `sumsq`; nothing else borrows them.
        let (w, m, v, s) = unsafe {
            (
                pw.chunk(lo, hi),
                pm.chunk(lo, hi),
                if has_v { pv.chunk(lo, hi) } else { pv.chunk(0, 0) },
                ps.chunk(c, c + 1),
            )
        };
        s[0] = f(up, grads, w, m, v, lo);
    };
    if chunks == 1 || threads <= 1 {
        (0..chunks).for_each(run);
    } else {
        threads::parallel_for(chunks, threads, run);
    }
    sumsq.iter().sum()
}

// ---------------------------------------------------------------- the kernels

/// The hidden activation applied in place to `z` (`rows × cols`) after adding the
/// intercept `b` (`cols`).
#[inline(always)]
fn bias_activate<T: Float>(z: &mut [T], b: &[T], f: Activation) {
    let cols = b.len();
    for row in z.chunks_exact_mut(cols) {
        match f {
            Activation::Identity => row.iter_mut().zip(b).for_each(|(z, &b)| *z = *z + b),
            Activation::Relu => row.iter_mut().zip(b).for_each(|(z, &b)| {
                let v = *z + b;
                // NaN stays NaN (as NumPy's maximum), so a diverging fit shows.
                #[allow(clippy::neg_cmp_op_on_partial_ord)]
                let keep = !(v <= T::ZERO);
                *z = if keep { v } else { T::ZERO };
            }),
            Activation::Logistic => {
                row.iter_mut().zip(b).for_each(|(z, &b)| *z = T::from_f64(math::sigmoid((*z + b).to_f64())))
            }
            Activation::Tanh => row.iter_mut().zip(b).for_each(|(z, &b)| *z = T::from_f64(tanh((*z + b).to_f64()))),
        }
    }
}

/// `tanh x = 1 − 2 / (e^{2x} + 1)` (saturating: `e^{2x}` overflows to ∞ and gives
/// 1); below `|x| < 1/8`, where that subtraction would cancel, the Taylor series
/// to `x¹⁵` (the next term is below 1e-18 relative there). Error: at most about
/// `2/|2x|` ulp from the cancellation just above 1/8 (tested ≤ 1e-14 relative).
#[inline(always)]
pub(crate) fn tanh(x: f64) -> f64 {
    if x.abs() < 0.125 {
        let x2 = x * x;
        let p = -929_569.0 / 638_512_875.0;
        let p = 21_844.0 / 6_081_075.0 + x2 * p;
        let p = -1_382.0 / 155_925.0 + x2 * p;
        let p = 62.0 / 2_835.0 + x2 * p;
        let p = -17.0 / 315.0 + x2 * p;
        let p = 2.0 / 15.0 + x2 * p;
        let p = -1.0 / 3.0 + x2 * p;
        return x + x * x2 * p;
    }
    1.0 - 2.0 / (math::exp(2.0 * x) + 1.0)
}

/// Public for the tests: the float64 `tanh` of the hidden layers.
#[doc(hidden)]
pub fn tanh_for_tests(x: f64) -> f64 {
    tanh(x)
}

/// The head applied in place to `z` (`rows × k`) after adding `b`; the
/// elementwise heads run over the whole block at once (they vectorise across rows).
#[inline(always)]
fn bias_head<T: Float>(z: &mut [T], b: &[T], h: Head) {
    let k = b.len();
    for row in z.chunks_exact_mut(k) {
        row.iter_mut().zip(b).for_each(|(z, &b)| *z = *z + b);
    }
    match h {
        Head::Identity => {}
        Head::Exp => z.iter_mut().for_each(|z| *z = T::from_f64(math::exp(z.to_f64()))),
        Head::Logistic => z.iter_mut().for_each(|z| *z = T::from_f64(math::sigmoid(z.to_f64()))),
        Head::Softmax => {
            for row in z.chunks_exact_mut(k) {
                let mut mx = f64::NEG_INFINITY;
                row.iter().for_each(|z| mx = mx.max(z.to_f64()));
                let mut sum = 0.0;
                row.iter_mut().for_each(|z| {
                    let e = T::from_f64(math::exp(z.to_f64() - mx));
                    sum += e.to_f64();
                    *z = e;
                });
                let inv = 1.0 / sum;
                row.iter_mut().for_each(|z| *z = T::from_f64(z.to_f64() * inv));
            }
        }
    }
}

/// `xlogy(y, p) = y · ln p`, 0 where `y == 0`.
#[inline(always)]
fn xlogy(y: f64, p: f64) -> f64 {
    if y == 0.0 {
        0.0
    } else {
        y * math::ln(p)
    }
}

/// The loss of one row (scikit-learn's `LOSS_FUNCTIONS`, before the weight).
#[inline(always)]
fn row_loss<T: Float>(h: Head, p: &[T], y: &[T]) -> f64 {
    let eps = 2.0 * T::UNIT_ROUNDOFF; // np.finfo(dtype).eps
    let clip = |p: f64| p.clamp(eps, 1.0 - eps);
    match h {
        Head::Identity => {
            let s: f64 = p.iter().zip(y).map(|(&p, &y)| (y.to_f64() - p.to_f64()).powi(2)).sum();
            0.5 * s / p.len() as f64
        }
        Head::Exp => p
            .iter()
            .zip(y)
            .map(|(&p, &y)| {
                let (p, y) = (p.to_f64(), y.to_f64());
                xlogy(y, y / p) - y + p
            })
            .sum(),
        Head::Logistic => -p
            .iter()
            .zip(y)
            .map(|(&p, &y)| {
                let (p, y) = (clip(p.to_f64()), y.to_f64());
                xlogy(y, p) + xlogy(1.0 - y, 1.0 - p)
            })
            .sum::<f64>(),
        Head::Softmax => -p.iter().zip(y).map(|(&p, &y)| xlogy(y.to_f64(), clip(p.to_f64()))).sum::<f64>(),
    }
}

/// `δ ← δ ⊙ f'(a)` for the activation output `a` (scikit-learn's `DERIVATIVES`).
#[inline(always)]
fn derivative<T: Float>(a: &[T], delta: &mut [T], f: Activation) {
    match f {
        Activation::Identity => {}
        Activation::Relu => delta.iter_mut().zip(a).for_each(|(d, &a)| {
            if a == T::ZERO {
                *d = T::ZERO
            }
        }),
        Activation::Logistic => delta.iter_mut().zip(a).for_each(|(d, &a)| *d = *d * a * (T::ONE - a)),
        Activation::Tanh => delta.iter_mut().zip(a).for_each(|(d, &a)| *d = *d * (T::ONE - a * a)),
    }
}

/// `out (m × n) = a · b + beta · out` on the GEMM, one thread.
#[inline(always)]
fn mm<T: LearnFloat>(a: MatRef<'_, T>, b: MatRef<'_, T>, beta: T, out: &mut [T], m: usize, n: usize) {
    let c = MatMut::row_major("out", out, m, n).expect("scratch sized for the layer");
    gemm(T::ONE, a, b, beta, c, Parallelism::Sequential).expect("shapes checked by the caller");
}

/// `out[r] = a[r, :] · w` for a one-column layer (`w` of `fi`), `rows` rows: a
/// SIMD dot product per row ([`crate::kernels::dot`], four accumulators) instead
/// of a one-column GEMM (whose packing would dominate).
///
/// # Safety
/// The CPU has `S`'s features.
#[inline(always)]
unsafe fn column_product<T: Float, S: Simd<T>>(a: &[T], w: &[T], rows: usize, out: &mut [T]) {
    let fi = w.len();
    assert!(rows.checked_mul(fi).is_some_and(|need| a.len() >= need) && out.len() >= rows);
    for (r, o) in out[..rows].iter_mut().enumerate() {
        // SAFETY: row r of `a` and `w` hold `fi` elements (asserted); S's features (caller).
        *o = unsafe { crate::kernels::dot::<T, S>(a.as_ptr().add(r * fi), w.as_ptr(), fi) };
    }
}

fn rm<'a, T>(data: &'a [T], rows: usize, cols: usize) -> MatRef<'a, T> {
    MatRef::row_major("a", &data[..rows * cols], rows, cols).expect("scratch sized for the layer")
}

/// Layers with at most this many inputs take [`dense`] instead of the GEMM: their
/// weight tile (`fan_in × 4` vectors) stays in L1, and packing would cost as
/// much as the product.
pub const DENSE_MAX_FAN_IN: usize = 64;

/// Whether [`dense`] computes a `fi → fo` layer for SIMD type `S`.
#[inline(always)]
fn use_dense<T: Float, S: Simd<T>>(fi: usize, fo: usize) -> bool {
    fi <= DENSE_MAX_FAN_IN && fo.is_multiple_of(S::LANES)
}

/// `out (rows × fo) = a (rows × fi) · w (fi × fo)`, `fo` a multiple of `S::LANES`:
/// tiles of four rows by four vectors of columns held in registers, each weight
/// vector loaded once per four rows, each input broadcast once per tile; the sum
/// over `fi` runs in order with fused multiply-adds where the ISA has them.
///
/// # Safety
/// The CPU has `S`'s features. (Bounds are checked by the slices.)
#[inline(always)]
unsafe fn dense<T: Float, S: Simd<T>>(a: &[T], rows: usize, fi: usize, w: &[T], fo: usize, out: &mut [T]) {
    let fits = |len: usize, r: usize, c: usize| r.checked_mul(c).is_some_and(|need| len >= need);
    assert!(
        fits(a.len(), rows, fi) && fits(w.len(), fi, fo) && fits(out.len(), rows, fo) && fo.is_multiple_of(S::LANES)
    );
    let mut r = 0;
    while r + 4 <= rows {
        // SAFETY: rows r..r + 4 are inside `a` and `out` (asserted above).
        unsafe { dense_rows::<T, S, 4>(a.as_ptr().add(r * fi), fi, w.as_ptr(), fo, out.as_mut_ptr().add(r * fo)) };
        r += 4;
    }
    while r < rows {
        // SAFETY: row r is inside `a` and `out`.
        unsafe { dense_rows::<T, S, 1>(a.as_ptr().add(r * fi), fi, w.as_ptr(), fo, out.as_mut_ptr().add(r * fo)) };
        r += 1;
    }
}

/// `R` rows of [`dense`].
///
/// # Safety
/// The CPU has `S`'s features; `a` holds `R · fi`, `w` `fi · fo`, `out` `R · fo`
/// elements; `fo` is a multiple of `S::LANES`.
#[inline(always)]
unsafe fn dense_rows<T: Float, S: Simd<T>, const R: usize>(
    a: *const T,
    fi: usize,
    w: *const T,
    fo: usize,
    out: *mut T,
) {
    let l = S::LANES;
    let mut c = 0;
    // SAFETY: every load reads row i < fi of `w` at columns c.. c + 4l ≤ fo (or
    // c + l ≤ fo), every broadcast reads `a[r · fi + i]`, r < R; every store
    // writes `out[r · fo + c ..]` inside the row (caller's sizes).
    unsafe {
        while c + 4 * l <= fo {
            let mut acc = [[S::zero(); 4]; R];
            for i in 0..fi {
                let wp = w.add(i * fo + c);
                let wv = [S::load(wp), S::load(wp.add(l)), S::load(wp.add(2 * l)), S::load(wp.add(3 * l))];
                for (r, row) in acc.iter_mut().enumerate() {
                    let x = S::splat(*a.add(r * fi + i));
                    for v in 0..4 {
                        row[v] = S::mul_add(x, wv[v], row[v]);
                    }
                }
            }
            for (r, row) in acc.iter().enumerate() {
                for (v, &x) in row.iter().enumerate() {
                    S::store(out.add(r * fo + c + v * l), x);
                }
            }
            c += 4 * l;
        }
        while c < fo {
            let mut acc = [S::zero(); R];
            for i in 0..fi {
                let wv = S::load(w.add(i * fo + c));
                for (r, x) in acc.iter_mut().enumerate() {
                    *x = S::mul_add(S::splat(*a.add(r * fi + i)), wv, *x);
                }
            }
            for (r, &x) in acc.iter().enumerate() {
                S::store(out.add(r * fo + c), x);
            }
            c += l;
        }
    }
}

/// `dst = src` (one row of at most a few hundred values) with vector moves, not
/// a `memcpy` call per row.
///
/// # Safety
/// The CPU has `S`'s features.
#[inline(always)]
unsafe fn copy_row<T: Float, S: Simd<T>>(src: &[T], dst: &mut [T]) {
    let n = src.len().min(dst.len());
    let l = S::LANES;
    let mut i = 0;
    // SAFETY: every access is inside `[0, n)` of both slices.
    unsafe {
        while i + l <= n {
            S::store(dst.as_mut_ptr().add(i), S::load(src.as_ptr().add(i)));
            i += l;
        }
    }
    // The tail, element by element (shorter than a vector: no memcpy call).
    #[allow(clippy::manual_memcpy)]
    for j in i..n {
        dst[j] = src[j];
    }
}

/// `out (fi × fo) = aᵀ · d` (or `+=` unless `overwrite`) for `a` `(rows × fi)` and
/// `d` `(rows × fo)`, `fo` a multiple of `S::LANES`: the gradient of a layer with
/// few inputs. Tiles of four output rows by four vectors stay in registers while
/// the `rows` are summed in order.
///
/// # Safety
/// The CPU has `S`'s features. (Bounds are checked by the assertion.)
#[inline(always)]
unsafe fn dense_at<T: Float, S: Simd<T>>(
    a: &[T],
    d: &[T],
    rows: usize,
    fi: usize,
    fo: usize,
    overwrite: bool,
    out: &mut [T],
) {
    let fits = |len: usize, r: usize, c: usize| r.checked_mul(c).is_some_and(|need| len >= need);
    assert!(
        fits(a.len(), rows, fi) && fits(d.len(), rows, fo) && fits(out.len(), fi, fo) && fo.is_multiple_of(S::LANES)
    );
    let l = S::LANES;
    let t = AtTile { a: a.as_ptr(), d: d.as_ptr(), out: out.as_mut_ptr(), rows, fi, fo, overwrite };
    let mut c = 0;
    // SAFETY: every tile lies inside `out` (i + NI ≤ fi, c + NV·l ≤ fo) and reads
    // rows < `rows` of `a` and `d` (asserted sizes); S's features (caller).
    unsafe {
        while c + 4 * l <= fo {
            let mut i = 0;
            while i + 4 <= fi {
                at_tile::<T, S, 4, 4>(&t, i, c);
                i += 4;
            }
            while i < fi {
                at_tile::<T, S, 1, 4>(&t, i, c);
                i += 1;
            }
            c += 4 * l;
        }
        while c < fo {
            let mut i = 0;
            while i + 4 <= fi {
                at_tile::<T, S, 4, 1>(&t, i, c);
                i += 4;
            }
            while i < fi {
                at_tile::<T, S, 1, 1>(&t, i, c);
                i += 1;
            }
            c += l;
        }
    }
}

/// The operands of [`dense_at`].
struct AtTile<T> {
    a: *const T,
    d: *const T,
    out: *mut T,
    rows: usize,
    fi: usize,
    fo: usize,
    overwrite: bool,
}

/// Output rows `i..i + NI`, columns `c..c + NV · LANES` of [`dense_at`].
///
/// # Safety
/// As [`dense_at`]: the tile is inside `out`, the CPU has `S`'s features.
#[inline(always)]
unsafe fn at_tile<T: Float, S: Simd<T>, const NI: usize, const NV: usize>(t: &AtTile<T>, i: usize, c: usize) {
    let l = S::LANES;
    // SAFETY: the caller keeps the tile inside the operands.
    unsafe {
        let mut acc = [[S::zero(); NV]; NI];
        for r in 0..t.rows {
            let drow = t.d.add(r * t.fo + c);
            let arow = t.a.add(r * t.fi + i);
            let mut dv = [S::zero(); NV];
            for (v, x) in dv.iter_mut().enumerate() {
                *x = S::load(drow.add(v * l));
            }
            for (ii, row) in acc.iter_mut().enumerate() {
                let x = S::splat(*arow.add(ii));
                for v in 0..NV {
                    row[v] = S::mul_add(x, dv[v], row[v]);
                }
            }
        }
        for (ii, row) in acc.iter().enumerate() {
            for (v, &x) in row.iter().enumerate() {
                let o = t.out.add((i + ii) * t.fo + c + v * l);
                S::store(o, if t.overwrite { x } else { S::add(S::load(o), x) });
            }
        }
    }
}

/// Layer `i` of `rows` rows: `out = f(a · Wᵢ + bᵢ)` (`f` the hidden activation, or
/// the head for the last layer), the product on [`column_product`] for one
/// output, [`dense`] for few inputs, else the GEMM.
///
/// # Safety
/// The CPU has `S`'s features.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
unsafe fn layer<T: LearnFloat, S: Simd<T>>(
    net: &Net<'_>,
    lay: &Layout,
    params: &[T],
    i: usize,
    a: &[T],
    rows: usize,
    out: &mut [T],
) {
    let (fi, fo) = (net.units[i], net.units[i + 1]);
    let w = &params[lay.coef[i]..lay.coef[i] + fi * fo];
    let b = &params[lay.bias[i]..lay.bias[i] + fo];
    let out = &mut out[..rows * fo];
    if fo == 1 {
        // SAFETY: the CPU has S's features (caller).
        unsafe { column_product::<T, S>(&a[..rows * fi], w, rows, out) };
    } else if use_dense::<T, S>(fi, fo) {
        // SAFETY: the CPU has S's features (caller).
        unsafe { dense::<T, S>(a, rows, fi, w, fo, out) };
    } else {
        mm(rm(a, rows, fi), rm(w, fi, fo), T::ZERO, out, rows, fo);
    }
    if i + 1 < net.layers() {
        bias_activate(out, b, net.hidden);
    } else {
        bias_head(out, b, net.head);
    }
}

/// The forward pass of `rows` rows of `x` (`rows × units[0]`) into `acts` (one
/// buffer per layer, `rows × units[i + 1]` each, the last the head's output).
#[inline(always)]
unsafe fn forward_into<T: LearnFloat, S: Simd<T>>(
    net: &Net<'_>,
    lay: &Layout,
    params: &[T],
    x: &[T],
    rows: usize,
    acts: &mut [Vec<T>],
) {
    let l = net.layers();
    for i in 0..l {
        let fo = net.units[i + 1];
        let (before, after) = acts.split_at_mut(i);
        let out = &mut after[0][..rows * fo];
        let a: &[T] = if i == 0 { x } else { &before[i - 1] };
        // SAFETY: the CPU has S's features (caller).
        unsafe { layer::<T, S>(net, lay, params, i, a, rows, out) };
    }
}

/// Slot `s` of a batch: its blocks `s, s + ns, …` in order, each forward,
/// loss, `δ` and backward, the gradients summed into `grad` (`n_params`).
///
/// # Safety
/// The CPU has `S`'s features.
#[inline(always)]
pub unsafe fn slot_step<T: LearnFloat, S: Simd<T>>(
    job: &BlockJob<'_, T>,
    s: usize,
    slot: &mut Slot<T>,
    grad: &mut [T],
) {
    let net = job.net;
    let lay = job.lay;
    let l = net.layers();
    let (d, k) = (net.units[0], net.units[l]);
    let (x, y) = (job.data.x, job.data.y);
    slot.loss = 0.0;
    slot.weight = 0.0;
    let mut first = true;
    let mut j = s;
    while j < job.nb {
        let (lo, hi) = block_range(job.batch.len(), job.nb, j);
        let rows = hi - lo;
        for (r, &row) in job.batch[lo..hi].iter().enumerate() {
            let row = row as usize;
            // SAFETY: the CPU has S's features (caller).
            unsafe { copy_row::<T, S>(&x[row * d..(row + 1) * d], &mut slot.x[r * d..(r + 1) * d]) };
            for c in 0..k {
                slot.y[r * k + c] = y[row * k + c];
            }
            slot.w[r] = job.data.sw.map_or(T::ONE, |w| w[row]);
        }
        // SAFETY: the CPU has S's features (caller).
        unsafe { forward_into::<T, S>(net, lay, job.params, &slot.x, rows, &mut slot.acts) };
        // Loss and δ of the head: (P − Y)·w.
        {
            let p = &slot.acts[l - 1][..rows * k];
            let dl = &mut slot.deltas[l - 1][..rows * k];
            for r in 0..rows {
                let w = slot.w[r];
                let (pr, yr) = (&p[r * k..(r + 1) * k], &slot.y[r * k..(r + 1) * k]);
                slot.loss += w.to_f64() * row_loss(net.head, pr, yr);
                slot.weight += w.to_f64();
                for c in 0..k {
                    dl[r * k + c] = (pr[c] - yr[c]) * w;
                }
            }
        }
        let beta = if first { T::ZERO } else { T::ONE };
        for i in (0..l).rev() {
            let (fi, fo) = (net.units[i], net.units[i + 1]);
            let delta = rm(&slot.deltas[i], rows, fo);
            let a_in = if i == 0 { rm(&slot.x, rows, fi) } else { rm(&slot.acts[i - 1], rows, fi) };
            // ∇Wᵢ (+)= Aᵢᵀ · δᵢ₊₁ (one column: Σ_r δ_r · A[r, :])
            let gw = &mut grad[lay.coef[i]..lay.coef[i] + fi * fo];
            if fo == 1 {
                let a: &[T] = if i == 0 { &slot.x } else { &slot.acts[i - 1] };
                if first {
                    gw.iter_mut().for_each(|g| *g = T::ZERO);
                }
                for (r, &dr) in slot.deltas[i][..rows].iter().enumerate() {
                    gw.iter_mut().zip(&a[r * fi..(r + 1) * fi]).for_each(|(g, &x)| *g = *g + dr * x);
                }
            } else if use_dense::<T, S>(fi, fo) {
                let a: &[T] = if i == 0 { &slot.x } else { &slot.acts[i - 1] };
                // SAFETY: the CPU has S's features (caller).
                unsafe { dense_at::<T, S>(a, &slot.deltas[i], rows, fi, fo, first, gw) };
            } else {
                mm(a_in.t(), delta, beta, gw, fi, fo);
            }
            // ∇bᵢ (+)= Σ_rows δᵢ₊₁
            let gb = &mut grad[lay.bias[i]..lay.bias[i] + fo];
            if first {
                gb.iter_mut().for_each(|g| *g = T::ZERO);
            }
            for row in slot.deltas[i][..rows * fo].chunks_exact(fo) {
                gb.iter_mut().zip(row).for_each(|(g, &v)| *g = *g + v);
            }
            if i > 0 {
                // δᵢ = (δᵢ₊₁ · Wᵢᵀ) ⊙ f'(Aᵢ)
                let w = rm(&job.params[lay.coef[i]..lay.coef[i] + fi * fo], fi, fo);
                let (lower, upper) = slot.deltas.split_at_mut(i);
                let delta = rm(&upper[0], rows, fo);
                let out = &mut lower[i - 1][..rows * fi];
                if fo == 1 {
                    // An outer product: δᵢ[r, :] = δᵢ₊₁[r] · wᵢ.
                    let wc = &job.params[lay.coef[i]..lay.coef[i] + fi];
                    for (r, &dr) in upper[0][..rows].iter().enumerate() {
                        out[r * fi..(r + 1) * fi].iter_mut().zip(wc).for_each(|(o, &w)| *o = dr * w);
                    }
                } else {
                    mm(delta, w.t(), T::ZERO, out, rows, fi);
                }
                derivative(&slot.acts[i - 1][..rows * fi], out, net.hidden);
            }
        }
        first = false;
        j += job.ns;
    }
}

/// The update of parameters `[lo, lo + w.len())`: the slots' gradients summed in
/// slot order, `+ alpha · W` on coefficients, `/ weight`, then the solver's step.
/// Returns `Σ W²` of the chunk's coefficients after the step. Each step is a
/// separate branch-free loop over the chunk (they vectorise).
#[inline(always)]
pub fn update_chunk<T: LearnFloat>(up: &Update, grads: &[T], w: &mut [T], m: &mut [T], v: &mut [T], lo: usize) -> f64 {
    let n = up.n_params;
    let len = w.len();
    let inv = T::from_f64(1.0 / up.weight);
    let alpha = T::from_f64(up.alpha);
    let coef_end = up.n_coef.saturating_sub(lo).min(len);
    let mut g = [T::ZERO; CHUNK];
    let g = &mut g[..len];
    g.copy_from_slice(&grads[lo..lo + len]);
    for s in 1..up.ns {
        g.iter_mut().zip(&grads[s * n + lo..s * n + lo + len]).for_each(|(a, &b)| *a = *a + b);
    }
    g[..coef_end].iter_mut().zip(&w[..coef_end]).for_each(|(g, &w)| *g = *g + alpha * w);
    g.iter_mut().for_each(|g| *g = *g * inv);
    match up.solver {
        Solver::Adam { learning_rate_init, beta_1, beta_2, epsilon } => {
            let t = up.t.min(i32::MAX as u64) as i32;
            let lr = learning_rate_init * (1.0 - beta_2.powi(t)).sqrt() / (1.0 - beta_1.powi(t));
            let (b1, b2, lr, eps) = (T::from_f64(beta_1), T::from_f64(beta_2), T::from_f64(lr), T::from_f64(epsilon));
            let (c1, c2) = (T::ONE - b1, T::ONE - b2);
            for i in 0..len {
                let gi = g[i];
                let mi = b1 * m[i] + c1 * gi;
                let vi = b2 * v[i] + c2 * (gi * gi);
                m[i] = mi;
                v[i] = vi;
                w[i] = w[i] + (-lr) * mi / (vi.sqrt() + eps);
            }
        }
        Solver::Sgd { learning_rate, momentum, nesterov } => {
            let (mu, lr) = (T::from_f64(momentum), T::from_f64(learning_rate));
            for i in 0..len {
                let gi = g[i];
                let vel = mu * m[i] - lr * gi;
                m[i] = vel;
                let step = if nesterov { mu * vel - lr * gi } else { vel };
                w[i] = w[i] + step;
            }
        }
    }
    w[..coef_end].iter().map(|&x| x.to_f64() * x.to_f64()).sum()
}

/// The forward pass of `rows ≤ PREDICT_ROWS` rows into `out` (`rows × n_outputs`),
/// with two ping-pong buffers of `PREDICT_ROWS · widest` values.
///
/// # Safety
/// The CPU has `S`'s features.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
pub unsafe fn forward_rows<T: LearnFloat, S: Simd<T>>(
    net: &Net<'_>,
    lay: &Layout,
    params: &[T],
    x: &[T],
    rows: usize,
    a: &mut [T],
    b: &mut [T],
    out: &mut [T],
) -> bool {
    let l = net.layers();
    // The contract (rows ≤ PREDICT_ROWS, buffers of PREDICT_ROWS · widest) checked:
    // the entry is a safe function pointer in a public table.
    assert!(rows <= PREDICT_ROWS && a.len() >= rows * lay.widest && b.len() >= rows * lay.widest);
    if !crate::kernels::all_finite(&x[..rows * net.units[0]]) {
        return false;
    }
    for i in 0..l {
        let fo = net.units[i + 1];
        // Layer 0 reads x and writes a; odd layers read a and write b; even ones
        // read b and write a; the last writes out.
        let last = i + 1 == l;
        let (src, dst): (&[T], &mut [T]) = if i == 0 {
            (x, if last { &mut *out } else { &mut *a })
        } else if i % 2 == 1 {
            (&*a, if last { &mut *out } else { &mut *b })
        } else {
            (&*b, if last { &mut *out } else { &mut *a })
        };
        // SAFETY: the CPU has S's features (caller).
        unsafe { layer::<T, S>(net, lay, params, i, src, rows, &mut dst[..rows * fo]) };
    }
    true
}

/// The network's outputs for `n` rows of `x` into `out` (`n × n_outputs`): the
/// head's values (probabilities, or regression values). Rows go in blocks of
/// [`PREDICT_ROWS`], in parallel on up to `threads` threads. Returns the first row
/// holding a non-finite value, if any (its outputs are then unspecified).
pub fn predict<T: LearnFloat>(
    net: &Net<'_>,
    params: &[T],
    x: &[T],
    n: usize,
    out: &mut [T],
    threads: usize,
) -> Result<Option<usize>> {
    predict_with(dispatch::kernels::<T>(), net, params, x, n, out, threads)
}

/// [`predict`] on the kernels of one tier.
pub fn predict_with<T: LearnFloat>(
    kern: &ElemKernels<T>,
    net: &Net<'_>,
    params: &[T],
    x: &[T],
    n: usize,
    out: &mut [T],
    threads: usize,
) -> Result<Option<usize>> {
    let lay = net.layout()?;
    check_params(&lay, params)?;
    let (d, k) = (net.units[0], net.units[net.layers()]);
    mlkern_core::error::check_matrix("X", x.len(), n, d)?;
    mlkern_core::error::check_matrix("out", out.len(), n, k)?;
    let blocks = n.div_ceil(PREDICT_ROWS);
    let work = lay.n_params.saturating_mul(n);
    let parts = if work < 1 << 16 { 1 } else { threads.max(1).min(blocks) };
    let per = blocks.div_ceil(parts.max(1)).max(1);
    let bad = std::sync::atomic::AtomicUsize::new(usize::MAX);
    let buf = PREDICT_ROWS.min(n.max(1)) * lay.widest;
    let outs = SharedMut::new(out);
    let run = |p: usize| {
        let (mut a, mut b) = (vec![T::ZERO; buf], vec![T::ZERO; buf]);
        for blk in p * per..((p + 1) * per).min(blocks) {
            let (lo, hi) = (blk * PREDICT_ROWS, ((blk + 1) * PREDICT_ROWS).min(n));
            let xs = &x[lo * d..hi * d];
            // SAFETY: block `blk` alone writes rows `[lo, hi)` of `out`.
            let o = unsafe { outs.chunk(lo * k, hi * k) };
            if !(kern.mlp_forward)(net, &lay, params, xs, hi - lo, &mut a, &mut b, o) {
                let r = xs.iter().position(|v| !v.to_f64().is_finite()).unwrap_or(0);
                bad.fetch_min(lo + r / d, std::sync::atomic::Ordering::Relaxed);
            }
        }
    };
    if parts <= 1 {
        if blocks > 0 {
            run(0);
        }
    } else {
        threads::parallel_for(parts, threads, run);
    }
    let b = bad.into_inner();
    Ok((b != usize::MAX).then_some(b))
}
