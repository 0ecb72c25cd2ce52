//! Batched FFTs over the rows of a row-major buffer.
//!
//! Engines: for the forward real FFT of power-of-two lengths up to
//! `kernels::rfft::MAX_LEN` with at least half a SIMD register's worth of rows,
//! mlkern's own batched kernel (`crate::kernels::rfft`: one row per SIMD
//! lane, dispatched per tier); otherwise RealFFT (real ↔ half-complex) and RustFFT
//! (complex), which choose their own SIMD code at run time. Plans are cached per
//! length, behind one mutex per element type, so repeated calls cost a hash lookup. Rows
//! run in parallel tasks on mlkern's pool (`threads::for_each_row_mut`, the caller
//! takes part); each task allocates its scratch once.
//!
//! Conventions follow `scipy.fft`: `n` truncates or zero-pads each row; `norm`
//! "backward" scales the inverse by 1/n, "ortho" both by 1/sqrt(n), "forward" the
//! forward by 1/n. Accuracy is RustFFT's: relative error O(u log n) in the 2-norm.

use std::sync::{Arc, MutexGuard};

use mlkern_core::fork::ForkSafeMutex;

use std::collections::HashMap;

use mlkern_core::dispatch::HasKernels;

use crate::dispatch;
use crate::kernels::rfft::RfftPlan;
use mlkern_core::threads::{self, Parallelism};
use mlkern_core::{check_matrix, mem, Error, Float, Result};
use num_complex::Complex;
use realfft::RealFftPlanner;
use rustfft::{FftNum, FftPlanner};

/// SciPy's `norm` argument.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Norm {
    Backward,
    Ortho,
    Forward,
}

impl Norm {
    /// Parses `None`/`"backward"`, `"ortho"`, `"forward"`.
    pub fn from_name(name: Option<&str>) -> Result<Norm> {
        match name {
            None | Some("backward") => Ok(Norm::Backward),
            Some("ortho") => Ok(Norm::Ortho),
            Some("forward") => Ok(Norm::Forward),
            Some(other) => Err(Error::invalid(
                "norm",
                format!("invalid norm value {other:?}; should be 'backward', 'ortho' or 'forward'"),
            )),
        }
    }

    fn scale(self, n: usize, inverse: bool) -> f64 {
        match (self, inverse) {
            (Norm::Ortho, _) => 1.0 / (n as f64).sqrt(),
            (Norm::Backward, true) | (Norm::Forward, false) => 1.0 / n as f64,
            _ => 1.0,
        }
    }
}

/// The planners of one element type: plan caches behind fork-safe locks (a child
/// of `fork()` starts with empty caches rather than wait on a lock that another
/// thread of the parent held; see `mlkern_core::fork`).
pub struct Planners<T: FftNum> {
    real: ForkSafeMutex<RealFftPlanner<T>>,
    complex: ForkSafeMutex<FftPlanner<T>>,
    lanes: ForkSafeMutex<HashMap<usize, Arc<RfftPlan<T>>>>,
}

impl<T: FftNum + Float> Planners<T> {
    const fn new() -> Self {
        Planners {
            real: ForkSafeMutex::new(RealFftPlanner::new),
            complex: ForkSafeMutex::new(FftPlanner::new),
            lanes: ForkSafeMutex::new(HashMap::new),
        }
    }
    /// The lane engine's plan for length `n` (cached), if it takes that length.
    fn lanes(&self, n: usize) -> Option<Arc<RfftPlan<T>>> {
        let mut cache = self.lanes.lock();
        if let Some(p) = cache.get(&n) {
            return Some(p.clone());
        }
        let plan = Arc::new(RfftPlan::new(n)?);
        cache.insert(n, plan.clone());
        Some(plan)
    }
    fn real(&self) -> MutexGuard<'_, RealFftPlanner<T>> {
        self.real.lock()
    }
    fn complex(&self) -> MutexGuard<'_, FftPlanner<T>> {
        self.complex.lock()
    }
    /// Runs `f` holding every lock (the fork-safety test hook).
    fn with_locked(&self, f: impl FnOnce()) {
        let (_r, _c, _l) = (self.real.lock(), self.complex.lock(), self.lanes.lock());
        f();
    }
}

/// Test hook: runs `f` holding the locks of both element types' plan caches.
#[doc(hidden)]
pub fn with_plan_caches_locked_for_test(f: impl FnOnce()) {
    f32::planners().with_locked(|| f64::planners().with_locked(f));
}

impl<T: FftNum> std::fmt::Debug for Planners<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Planners")
    }
}

/// Element types with FFT engines (f32, f64).
pub trait FftFloat: FftNum + Float + HasKernels + mlkern_core::aligned::Zeroable {
    fn planners() -> &'static Planners<Self>;
    /// This type's kernels in one of signal's tables.
    fn select_signal(k: &'static dispatch::Kernels) -> &'static dispatch::ElemKernels<Self>;
}

impl FftFloat for f32 {
    fn planners() -> &'static Planners<f32> {
        static P: Planners<f32> = Planners::new();
        &P
    }
    #[inline(always)]
    fn select_signal(k: &'static dispatch::Kernels) -> &'static dispatch::ElemKernels<f32> {
        &k.f32
    }
}

impl FftFloat for f64 {
    fn planners() -> &'static Planners<f64> {
        static P: Planners<f64> = Planners::new();
        &P
    }
    #[inline(always)]
    fn select_signal(k: &'static dispatch::Kernels) -> &'static dispatch::ElemKernels<f64> {
        &k.f64
    }
}

/// Forward real plan of length `n` (cached).
pub fn real_forward<T: FftFloat>(n: usize) -> Arc<dyn realfft::RealToComplex<T>> {
    T::planners().real().plan_fft_forward(n)
}

/// Inverse real plan of length `n` (cached).
pub fn real_inverse<T: FftFloat>(n: usize) -> Arc<dyn realfft::ComplexToReal<T>> {
    T::planners().real().plan_fft_inverse(n)
}

fn check_n(n: usize) -> Result<()> {
    if n == 0 {
        return Err(Error::invalid("n", "invalid number of data points (0) specified"));
    }
    Ok(())
}

/// `dst = src` truncated or zero-padded to `dst.len()` (SciPy's `n` argument).
#[inline]
fn copy_padded<E: Copy>(dst: &mut [E], src: &[E], zero: E) {
    let keep = dst.len().min(src.len());
    dst[..keep].copy_from_slice(&src[..keep]);
    dst[keep..].fill(zero);
}

#[inline]
fn scale_in_place<T: FftFloat>(v: &mut [Complex<T>], s: f64) {
    if s != 1.0 {
        let s = <T as Float>::from_f64(s);
        for c in v {
            *c = Complex::new(c.re * s, c.im * s);
        }
    }
}

/// `out[r] = rfft(x[r] truncated/zero-padded to n)`, rows of `n / 2 + 1` values.
pub fn rfft_rows<T: FftFloat>(
    x: &[T],
    rows: usize,
    n_in: usize,
    n: usize,
    norm: Norm,
    par: Parallelism,
    out: &mut [Complex<T>],
) -> Result<()> {
    check_n(n)?;
    check_matrix("x", x.len(), rows, n_in)?;
    let m = n / 2 + 1;
    check_matrix("out", out.len(), rows, m)?;
    if rows == 0 {
        return Ok(()); // before planning: no n-sized plan for an empty batch
    }
    let scale = norm.scale(n, false);
    let engine = dispatch::kernels::<T>().rfft;
    if 2 * rows >= engine.lanes {
        if let Some(plan) = T::planners().lanes(n) {
            rfft_rows_lanes(&plan, engine, x, rows, n_in, <T as Float>::from_f64(scale), par, complex_as_floats(out));
            return Ok(());
        }
    }
    let plan = real_forward::<T>(n);
    threads::for_each_row_mut(
        out,
        m,
        n,
        par.threads(),
        || (plan.make_input_vec(), plan.make_scratch_vec()),
        |(buf, scratch), r, dst| {
            copy_padded(buf, &x[r * n_in..(r + 1) * n_in], T::ZERO);
            // Lengths match the plan by construction, so this cannot fail.
            let _ = plan.process_with_scratch(buf, dst, scratch);
            scale_in_place(dst, scale);
        },
    );
    Ok(())
}

/// The interleaved `(re, im)` values of `v`.
fn complex_as_floats<T: FftFloat>(v: &mut [Complex<T>]) -> &mut [T] {
    // SAFETY: `Complex<T>` is `#[repr(C)]` `{ re: T, im: T }`, so `v` is `2 · len`
    // consecutive `T` with `T`'s alignment; the borrow stays exclusive.
    unsafe { std::slice::from_raw_parts_mut(v.as_mut_ptr() as *mut T, 2 * v.len()) }
}

/// [`rfft_rows`] on the lane engine: batches of `lanes` rows, tasks of several
/// batches in parallel, one pooled work buffer per task.
fn rfft_rows_lanes<T: FftFloat>(
    plan: &RfftPlan<T>,
    engine: dispatch::RfftLanes<T>,
    x: &[T],
    rows: usize,
    n_in: usize,
    scale: T,
    par: Parallelism,
    out: &mut [T],
) {
    let (n, lanes) = (plan.len(), engine.lanes);
    let out_row = n + 2;
    let batches = rows.div_ceil(lanes);
    let per_task = threads::rows_per_task(batches, 5 * n * lanes, par.threads());
    let work_len = plan.work_len(lanes);
    // Never more than the rows there are, so the product cannot wrap.
    let task_len = per_task.saturating_mul(lanes).saturating_mul(out_row);
    threads::for_each_chunk_mut(out, task_len, par.threads(), |c, chunk| {
        // From mlkern's buffer pool: the kernel overwrites all of it, so it needs
        // neither clearing nor a fresh allocation per call.
        let mut pooled = mem::global().take::<T>(work_len);
        let mut owned = Vec::new();
        let work: &mut [T] = match pooled.as_mut() {
            Ok(buf) => buf.slice_mut::<T>(work_len),
            Err(_) => {
                owned.resize(work_len, T::ZERO);
                &mut owned
            }
        };
        let task_rows = chunk.len() / out_row;
        for b in (0..task_rows).step_by(lanes) {
            let r0 = c * per_task * lanes + b;
            let batch = lanes.min(task_rows - b);
            let src = &x[r0 * n_in..(r0 + batch) * n_in];
            // The task's next batch, prefetched while this one computes.
            let next_rows = lanes.min(task_rows.saturating_sub(b + lanes));
            let next = &x[(r0 + batch) * n_in..(r0 + batch + next_rows) * n_in];
            let dst = &mut chunk[b * out_row..];
            (engine.run)(plan, src, n_in, n_in.min(n), batch, scale, work, dst, out_row, next, next_rows);
        }
    });
}

/// `out[r] = irfft(x[r], n)`: the first `min(m_in, n / 2 + 1)` values of each row
/// are used (the rest zero); the imaginary parts of the DC and, for even `n`,
/// Nyquist terms are ignored, as in `scipy.fft.irfft`.
pub fn irfft_rows<T: FftFloat>(
    x: &[Complex<T>],
    rows: usize,
    m_in: usize,
    n: usize,
    norm: Norm,
    par: Parallelism,
    out: &mut [T],
) -> Result<()> {
    check_n(n)?;
    check_matrix("x", x.len(), rows, m_in)?;
    check_matrix("out", out.len(), rows, n)?;
    if rows == 0 {
        return Ok(());
    }
    let plan = real_inverse::<T>(n);
    let m = n / 2 + 1;
    let scale = <T as Float>::from_f64(norm.scale(n, true));
    threads::for_each_row_mut(
        out,
        n,
        n,
        par.threads(),
        || (plan.make_input_vec(), plan.make_scratch_vec()),
        |(buf, scratch), r, dst| {
            copy_padded(buf, &x[r * m_in..(r + 1) * m_in], Complex::new(T::ZERO, T::ZERO));
            buf[0].im = T::ZERO;
            if n.is_multiple_of(2) {
                buf[m - 1].im = T::ZERO;
            }
            let _ = plan.process_with_scratch(buf, dst, scratch);
            if scale != T::ONE {
                for v in dst.iter_mut() {
                    *v = *v * scale;
                }
            }
        },
    );
    Ok(())
}

/// `out[r] = fft(x[r], n)` (or `ifft` when `inverse`), rows of `n` complex values.
pub fn fft_rows<T: FftFloat>(
    x: &[Complex<T>],
    rows: usize,
    n_in: usize,
    n: usize,
    inverse: bool,
    norm: Norm,
    par: Parallelism,
    out: &mut [Complex<T>],
) -> Result<()> {
    check_n(n)?;
    check_matrix("x", x.len(), rows, n_in)?;
    check_matrix("out", out.len(), rows, n)?;
    if rows == 0 {
        return Ok(());
    }
    let plan = {
        let mut p = T::planners().complex();
        if inverse {
            p.plan_fft_inverse(n)
        } else {
            p.plan_fft_forward(n)
        }
    };
    let scale = norm.scale(n, inverse);
    threads::for_each_row_mut(
        out,
        n,
        n,
        par.threads(),
        || vec![Complex::new(T::ZERO, T::ZERO); plan.get_inplace_scratch_len()],
        |scratch, r, dst| {
            copy_padded(dst, &x[r * n_in..(r + 1) * n_in], Complex::new(T::ZERO, T::ZERO));
            plan.process_with_scratch(dst, scratch);
            scale_in_place(dst, scale);
        },
    );
    Ok(())
}

/// The smallest `2^a 3^b 5^c >= n` (a fast FFT length).
pub fn next_fast_len(n: usize) -> usize {
    if n <= 6 {
        return n.max(1);
    }
    // Saturating: beyond 2^63 no length fits in memory anyway.
    let mut best = n.checked_next_power_of_two().unwrap_or(usize::MAX);
    let mut p5 = 1usize;
    while p5 < best {
        let mut p35 = p5;
        while p35 < best {
            // Smallest power-of-two multiple of p35 that reaches n.
            let mut q = p35;
            while q < n {
                q = q.saturating_mul(2);
            }
            best = best.min(q);
            p35 = p35.saturating_mul(3);
        }
        p5 = p5.saturating_mul(5);
    }
    best
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fast_lengths() {
        assert_eq!(next_fast_len(1), 1);
        assert_eq!(next_fast_len(7), 8);
        assert_eq!(next_fast_len(1000), 1000);
        assert_eq!(next_fast_len(1001), 1024);
        assert_eq!(next_fast_len(1_064_959), 1_080_000); // 2^6 3^3 5^4
        for n in 1..2000 {
            let f = next_fast_len(n);
            let mut r = f;
            for p in [2, 3, 5] {
                while r.is_multiple_of(p) {
                    r /= p;
                }
            }
            assert!(f >= n && r == 1, "{n} -> {f}");
            // Minimal: nothing between n and f is 5-smooth.
            let smooth = |mut x: usize| {
                for p in [2, 3, 5] {
                    while x.is_multiple_of(p) {
                        x /= p;
                    }
                }
                x == 1
            };
            assert!((n..f).all(|x| !smooth(x)), "{n} -> {f} is not minimal");
        }
    }

    #[test]
    fn rfft_of_impulse_and_roundtrip() {
        let x = [1.0f64, 0.0, 0.0, 0.0, 0.0];
        let mut out = vec![Complex::new(0.0, 0.0); 3];
        rfft_rows(&x, 1, 5, 5, Norm::Backward, Parallelism::Sequential, &mut out).unwrap();
        assert!(out.iter().all(|c| (c.re - 1.0).abs() < 1e-15 && c.im.abs() < 1e-15));
        let mut back = vec![0.0; 5];
        irfft_rows(&out, 1, 3, 5, Norm::Backward, Parallelism::Sequential, &mut back).unwrap();
        assert!(back.iter().zip(&x).all(|(a, b)| (a - b).abs() < 1e-15));
        assert!(rfft_rows(&x, 1, 5, 0, Norm::Backward, Parallelism::Sequential, &mut out).is_err());
    }
}
