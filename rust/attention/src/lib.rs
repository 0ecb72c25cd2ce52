//! mlkern-attention: CPU flash attention.
//!
//! `out = softmax(q·kᵀ·scale + mask)·v` for `batch × heads` independent heads,
//! computed tile by tile with an online softmax (Dao et al., 2022) so that no
//! `seq_q × seq_k` matrix ever exists; see [`tile`] for the algorithm and
//! [`softmax`] for the exponential.
//!
//! - Inputs: float32, IEEE float16 or bfloat16 (as `u16` bit patterns), all three
//!   of one kind; row-major `(batch, heads, seq, dim)` slices. Accumulation is
//!   float32; the output is float32, float16 or bfloat16 (rounded once at the end).
//! - Query and key lengths may differ; keys and values share theirs; values may
//!   have their own dimension `dv`.
//! - `causal`: query `i` attends to keys `j ≤ i`, counted from the first query and
//!   the first key (the top-left alignment of PyTorch's `is_causal`); with more
//!   queries than keys the queries past the last key attend to every key.
//! - `mask`: boolean (`true` = the key takes part, as PyTorch's SDPA) or additive
//!   float32, broadcast over any of batch, heads, queries and keys (each extent 1
//!   or full). Mask and `causal` may be combined.
//! - A query that no key may reach (all masked) gets an output row of zeros.
//! - Non-finite inputs propagate as the float64 formula computes them: a NaN or
//!   infinite score makes its query's row NaN.
//!
//! Work is split over `batch × heads × ceil(seq_q / 64)` tasks on mlkern's pool
//! (the last query tiles of each head first, which causal attention makes the
//! longest); results do not depend on the thread count.
//!
//! Error bound (float32 output), with `u = 2⁻²⁴`, for every query `i`:
//! `|ô_i − o_i| ≤ (2·(d + 2)·u·scale·max_j Σ_c |q_ic·k_jc| + (n_i + d + 8)·u)·max_j |v_j|`
//! where `n_i` is the number of keys query `i` attends to: the first term is the
//! score error carried through `exp`, the second the rounding of `exp`, the sum
//! and the weighted sum of values. Tested on every tier (`tests/attention.rs`).

pub mod dispatch;
pub mod softmax;
pub mod tile;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;

use mlkern_core::threads::{num_threads, parallel_for};
use mlkern_core::{checked_size, Error, Result, Tier};

use crate::tile::{Scratch, BR};

/// An input tensor, flattened row-major.
#[derive(Debug, Clone, Copy)]
pub enum Elems<'a> {
    F32(&'a [f32]),
    /// IEEE binary16 bit patterns.
    F16(&'a [u16]),
    /// bfloat16 bit patterns.
    Bf16(&'a [u16]),
}

/// The element formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    F32,
    F16,
    Bf16,
}

impl Kind {
    pub fn name(self) -> &'static str {
        match self {
            Kind::F32 => "float32",
            Kind::F16 => "float16",
            Kind::Bf16 => "bfloat16",
        }
    }
}

impl Elems<'_> {
    pub fn len(&self) -> usize {
        match self {
            Elems::F32(x) => x.len(),
            Elems::F16(x) | Elems::Bf16(x) => x.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn kind(&self) -> Kind {
        match self {
            Elems::F32(_) => Kind::F32,
            Elems::F16(_) => Kind::F16,
            Elems::Bf16(_) => Kind::Bf16,
        }
    }
}

/// The output, flattened row-major `(batch, heads, seq_q, dv)` (and, inside
/// [`forward`], one task's rows of it).
#[derive(Debug)]
pub enum OutElems<'a> {
    F32(&'a mut [f32]),
    F16(&'a mut [u16]),
    Bf16(&'a mut [u16]),
}

impl OutElems<'_> {
    pub fn len(&self) -> usize {
        match self {
            OutElems::F32(x) => x.len(),
            OutElems::F16(x) | OutElems::Bf16(x) => x.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The same rows, borrowed for a shorter time.
    fn reborrow(&mut self) -> OutElems<'_> {
        match self {
            OutElems::F32(x) => OutElems::F32(x),
            OutElems::F16(x) => OutElems::F16(x),
            OutElems::Bf16(x) => OutElems::Bf16(x),
        }
    }
}

/// Sizes of one problem.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Dims {
    pub batch: usize,
    pub heads: usize,
    /// Queries per head.
    pub sq: usize,
    /// Keys (and values) per head.
    pub sk: usize,
    /// Query and key dimension.
    pub d: usize,
    /// Value dimension.
    pub dv: usize,
}

/// A mask's values, row-major over its `shape`.
#[derive(Debug, Clone, Copy)]
pub enum MaskValues<'a> {
    /// `true`: the key takes part.
    Keep(&'a [bool]),
    /// Added to the scaled scores.
    Add(&'a [f32]),
}

/// A mask of shape `(batch | 1, heads | 1, sq | 1, sk | 1)`, broadcast over the
/// extents that are 1.
#[derive(Debug, Clone, Copy)]
pub struct Mask<'a> {
    pub values: MaskValues<'a>,
    pub shape: [usize; 4],
}

/// A checked attention problem (made only by [`Problem::new`], which the kernels
/// rely on for every length).
#[derive(Debug, Clone, Copy)]
pub struct Problem<'a> {
    q: Elems<'a>,
    k: Elems<'a>,
    v: Elems<'a>,
    dims: Dims,
    mask: Option<Mask<'a>>,
    causal: bool,
    /// `scale·log₂e` (scores in base-2 units; see [`softmax`]).
    scale_log2e: f32,
}

fn expect_len(name: &'static str, got: usize, extents: &[usize]) -> Result<()> {
    let mut want = 1usize;
    for &e in extents {
        want = checked_size(name, want, e)?;
    }
    if got != want {
        let shape: Vec<String> = extents.iter().map(|e| e.to_string()).collect();
        return Err(Error::shape(name, format!("{got} values do not form a ({}) array", shape.join(", "))));
    }
    Ok(())
}

impl<'a> Problem<'a> {
    /// Checks the lengths of `q` `(batch, heads, sq, d)`, `k` `(batch, heads, sk, d)`,
    /// `v` `(batch, heads, sk, dv)` and the mask against `dims`. `scale = None` is
    /// `1/√d`. Refused: mixed element kinds, `d = 0`, `sk = 0` (a softmax over no
    /// keys), a non-finite scale, a mask extent that is neither 1 nor the full one.
    pub fn new(
        q: Elems<'a>,
        k: Elems<'a>,
        v: Elems<'a>,
        dims: Dims,
        mask: Option<Mask<'a>>,
        causal: bool,
        scale: Option<f64>,
    ) -> Result<Self> {
        let Dims { batch, heads, sq, sk, d, dv } = dims;
        if k.kind() != q.kind() || v.kind() != q.kind() {
            return Err(Error::invalid(
                "k, v",
                format!(
                    "q, k and v must have one dtype, got {}, {} and {}",
                    q.kind().name(),
                    k.kind().name(),
                    v.kind().name()
                ),
            ));
        }
        if d == 0 {
            return Err(Error::invalid("q", "the query and key dimension must be at least 1"));
        }
        if sk == 0 {
            return Err(Error::invalid("k", "there must be at least one key (a softmax over no keys is undefined)"));
        }
        expect_len("q", q.len(), &[batch, heads, sq, d])?;
        expect_len("k", k.len(), &[batch, heads, sk, d])?;
        expect_len("v", v.len(), &[batch, heads, sk, dv])?;
        if let Some(m) = &mask {
            let full = [batch, heads, sq, sk];
            for (axis, (&e, &f)) in m.shape.iter().zip(&full).enumerate() {
                if e != 1 && e != f {
                    return Err(Error::shape(
                        "mask",
                        format!("extent {e} of axis {axis} is neither 1 nor {f}, so it does not broadcast"),
                    ));
                }
            }
            let len = match m.values {
                MaskValues::Keep(x) => x.len(),
                MaskValues::Add(x) => x.len(),
            };
            expect_len("mask", len, &m.shape)?;
        }
        let scale = match scale {
            None => 1.0 / (d as f64).sqrt(),
            Some(s) if s.is_finite() && ((s * std::f64::consts::LOG2_E) as f32).is_finite() => s,
            Some(s) => return Err(Error::invalid("scale", format!("must be finite, got {s}"))),
        };
        Ok(Problem { q, k, v, dims, mask, causal, scale_log2e: (scale * std::f64::consts::LOG2_E) as f32 })
    }

    pub fn dims(&self) -> Dims {
        self.dims
    }

    pub fn kind(&self) -> Kind {
        self.q.kind()
    }

    /// Multiply-adds the computation performs, counting 2 per query–key pair and
    /// dimension as benchmarks do (`4·b·h·sq·sk·d` for full attention with `dv = d`;
    /// causal counts only the allowed pairs).
    pub fn flops(&self) -> f64 {
        let Dims { batch, heads, sq, sk, d, dv } = self.dims;
        let pairs =
            if self.causal { (0..sq).map(|i| (i + 1).min(sk) as f64).sum::<f64>() } else { sq as f64 * sk as f64 };
        2.0 * (batch * heads) as f64 * pairs * (d + dv) as f64
    }
}

/// Computes attention into `out` (`(batch, heads, sq, dv)`) on at most `threads`
/// threads of mlkern's pool with the active tier's kernels. `stop` is polled
/// between tasks; `Ok(false)` means it asked to stop and `out` is incomplete.
pub fn forward(p: &Problem<'_>, out: OutElems<'_>, threads: usize, stop: &(dyn Fn() -> bool + Sync)) -> Result<bool> {
    run(dispatch::TABLES.active(), p, out, threads, stop)
}

/// [`forward`] with the kernels of `tier` (refused when this CPU lacks it).
pub fn forward_on(
    tier: Tier,
    p: &Problem<'_>,
    out: OutElems<'_>,
    threads: usize,
    stop: &(dyn Fn() -> bool + Sync),
) -> Result<bool> {
    let k = dispatch::TABLES
        .for_tier(tier)
        .ok_or_else(|| Error::unsupported(format!("this CPU does not support the {tier} tier")))?;
    run(k, p, out, threads, stop)
}

/// Splits `out` into the output rows of each task: head-major, then query tiles.
fn task_rows<'o, T>(
    out: &'o mut [T],
    sq: usize,
    dv: usize,
    wrap: fn(&'o mut [T]) -> OutElems<'o>,
) -> Vec<Mutex<OutElems<'o>>> {
    out.chunks_mut(sq * dv).flat_map(|head| head.chunks_mut(BR * dv)).map(|rows| Mutex::new(wrap(rows))).collect()
}

fn run(
    k: &dispatch::Kernels,
    p: &Problem<'_>,
    out: OutElems<'_>,
    threads: usize,
    stop: &(dyn Fn() -> bool + Sync),
) -> Result<bool> {
    let Dims { batch, heads, sq, d, dv, .. } = p.dims;
    expect_len("out", out.len(), &[batch, heads, sq, dv])?;
    if out.is_empty() {
        return Ok(true);
    }
    let tiles = sq.div_ceil(BR);
    let tasks = batch * heads * tiles;
    let rows = match out {
        OutElems::F32(x) => task_rows(x, sq, dv, OutElems::F32),
        OutElems::F16(x) => task_rows(x, sq, dv, OutElems::F16),
        OutElems::Bf16(x) => task_rows(x, sq, dv, OutElems::Bf16),
    };
    debug_assert_eq!(rows.len(), tasks);
    let dvp = dv.div_ceil(k.lanes) * k.lanes;
    let workers = num_threads().min(threads).min(tasks).max(1);
    let scratch = (0..workers).map(|_| Scratch::new(d, dvp).map(Mutex::new)).collect::<Result<Vec<_>>>()?;
    let stopped = AtomicBool::new(false);
    parallel_for(tasks, threads, |n| {
        if stopped.load(Ordering::Relaxed) {
            return;
        }
        if stop() {
            stopped.store(true, Ordering::Relaxed);
            return;
        }
        let (g, t) = (n / tiles, tiles - 1 - n % tiles);
        let mut rows = rows[g * tiles + t].lock().unwrap_or_else(|e| e.into_inner());
        // One buffer per worker: a free one is found unless the thread count
        // changed during the call, when the task waits for one instead.
        let mut s = match scratch.iter().find_map(|s| s.try_lock().ok()) {
            Some(s) => s,
            None => scratch[n % workers].lock().unwrap_or_else(|e| e.into_inner()),
        };
        (k.task)(p, g, t, &mut s, rows.reborrow());
    });
    Ok(!stopped.load(Ordering::Relaxed))
}
