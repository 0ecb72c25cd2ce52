//! 1-D convolution and correlation of rows with one shared kernel, with the
//! `full`/`same`/`valid` modes of `scipy.signal.convolve`.
//!
//! Methods:
//! - direct: `full[k] = Σ_j a[k - j] v[j]` computed as a valid correlation of the
//!   zero-padded signal with the reversed kernel by signal's own SIMD kernel
//!   (`kernels/correlate.rs`, one broadcast tap × several output registers). The
//!   interior is read from `a` in place; only the two edges are padded.
//!   Error per output: `γ_m Σ_j |a[k-j] v[j]|`.
//! - fft: one real FFT of length `next_fast_len(n + m - 1)` per row, the kernel's
//!   spectrum computed once per call. Error: O(u log N) relative to `‖a‖‖v‖`.
//! - overlap-add: blocks of `B = N - m + 1` samples, FFT length `N` a power of two
//!   about 8 m; blocks run in parallel, each writes its head into a disjoint part
//!   of the output and keeps its `m - 1` tail, added afterwards (B >= m - 1, so a
//!   tail only reaches the next block).
//! - auto: the cheapest by [`estimate_ns`], a cost model calibrated on the
//!   development machine (see `python -m mlkern calibrate-convolve`), except that
//!   inputs holding NaN or ±inf (one branch-free pass, [`all_finite`]) are computed
//!   directly: an FFT spreads a non-finite value over its whole transform (the row
//!   for `fft`, a block and the next for overlap-add), the direct sum keeps it in
//!   the `m` outputs whose window holds it, and `auto` must not change that pattern.

use std::sync::{Arc, Mutex};

use mlkern_core::threads::{self, Parallelism};
use mlkern_core::{check_matrix, Error, Result};
use num_complex::Complex;
use realfft::{ComplexToReal, RealToComplex};

use crate::dispatch::{kernels, CorrelateFn};
use crate::fft::{next_fast_len, real_forward, real_inverse, FftFloat};

/// Which part of the full convolution to return.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// All `n + m - 1` outputs.
    Full,
    /// The `n` outputs centred on the full result (`full[(m - 1) / 2 ..][..n]`).
    Same,
    /// The `n - m + 1` outputs that need no padding (requires `m <= n`).
    Valid,
}

/// How to compute it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    Auto,
    Direct,
    Fft,
    OverlapAdd,
}

impl Mode {
    pub fn from_name(name: &str) -> Result<Mode> {
        match name {
            "full" => Ok(Mode::Full),
            "same" => Ok(Mode::Same),
            "valid" => Ok(Mode::Valid),
            _ => Err(Error::invalid("mode", format!("unknown mode '{name}'; expected 'full', 'same' or 'valid'"))),
        }
    }
}

impl Method {
    pub fn from_name(name: &str) -> Result<Method> {
        match name {
            "auto" => Ok(Method::Auto),
            "direct" => Ok(Method::Direct),
            "fft" => Ok(Method::Fft),
            "overlap_add" | "oa" => Ok(Method::OverlapAdd),
            _ => Err(Error::invalid(
                "method",
                format!("unknown method '{name}'; expected 'auto', 'direct', 'fft' or 'overlap_add'"),
            )),
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Method::Auto => "auto",
            Method::Direct => "direct",
            Method::Fft => "fft",
            Method::OverlapAdd => "overlap_add",
        }
    }
}

/// `(start in the full result, length)` of the requested mode.
pub fn output_range(n: usize, m: usize, mode: Mode) -> Result<(usize, usize)> {
    if n == 0 {
        return Err(Error::invalid("a", "the signal must not be empty"));
    }
    if m == 0 {
        return Err(Error::invalid("v", "the kernel must not be empty"));
    }
    let full = n.checked_add(m - 1).ok_or_else(|| {
        Error::invalid(
            "v",
            format!("the full convolution of {n} samples with {m} taps has more outputs than fit in memory"),
        )
    })?;
    Ok(match mode {
        Mode::Full => (0, full),
        Mode::Same => ((m - 1) / 2, n),
        Mode::Valid => {
            if m > n {
                return Err(Error::invalid(
                    "v",
                    format!("in 'valid' mode the kernel ({m} taps) must not be longer than the signal ({n} samples)"),
                ));
            }
            (m - 1, n - m + 1)
        }
    })
}

/// FFT length used by overlap-add for an `m`-tap kernel (saturating: a kernel that
/// long cannot exist in memory, and the cost model then never picks overlap-add).
pub fn overlap_add_fft_len(m: usize) -> usize {
    m.saturating_mul(8).max(1024).checked_next_power_of_two().unwrap_or(usize::MAX)
}

/// Calibrated cost-model constants (nanoseconds), fitted on the development machine
/// (AVX-512, 2 threads) by `python -m mlkern calibrate-convolve`, which also prints,
/// for a grid of signal lengths (10⁴–10⁶) and kernels (8–16 384 taps), each method's
/// time and `auto`'s pick: with these constants `auto` was within 15 % of the fastest
/// method at 21 of 23 grid points.
#[derive(Debug, Clone, Copy)]
pub struct CostModel {
    /// Direct: per output per tap, float64 (float32 costs half).
    pub direct_per_mac: f64,
    /// FFT: per `N log2 N` of one real transform, float64 (float32: 0.6 of it).
    pub fft_per_nlogn: f64,
    /// Fixed cost of a call that uses FFTs (planning lookup, buffers).
    pub fft_fixed: f64,
}

pub const COST: CostModel = CostModel { direct_per_mac: 0.049, fft_per_nlogn: 0.213, fft_fixed: 12_957.0 };

/// Estimated time of one method for `rows` rows, using `threads` threads.
pub fn estimate_ns(method: Method, rows: usize, n: usize, m: usize, len: usize, f32: bool, threads: usize) -> f64 {
    let (rows, t) = (rows as f64, threads.max(1) as f64);
    let nlogn = |x: usize| x as f64 * (x as f64).log2().max(1.0);
    let dscale = if f32 { 0.5 } else { 1.0 };
    let fscale = if f32 { 0.6 } else { 1.0 };
    match method {
        Method::Direct => rows * len as f64 * m as f64 * COST.direct_per_mac * dscale / t,
        Method::Fft => {
            let nf = next_fast_len(n + m - 1);
            // Rows run in parallel; a single row uses one thread.
            let par = t.min(rows).max(1.0);
            COST.fft_fixed + nlogn(nf) * COST.fft_per_nlogn * fscale * (1.0 + 2.0 * rows / par)
        }
        Method::OverlapAdd => {
            let nf = overlap_add_fft_len(m);
            let blocks = n.div_ceil(nf - m + 1) as f64;
            COST.fft_fixed + nlogn(nf) * COST.fft_per_nlogn * fscale * (1.0 + 2.0 * rows * blocks / t)
        }
        Method::Auto => f64::INFINITY,
    }
}

/// The method `auto` picks.
pub fn choose(rows: usize, n: usize, m: usize, len: usize, f32: bool, threads: usize) -> Method {
    [Method::Direct, Method::OverlapAdd, Method::Fft]
        .into_iter()
        .min_by(|x, y| {
            estimate_ns(*x, rows, n, m, len, f32, threads).total_cmp(&estimate_ns(*y, rows, n, m, len, f32, threads))
        })
        .unwrap_or(Method::Direct)
}

/// Convolves each of the `rows` rows of `a` (`n` samples each) with `v`, writing the
/// `mode` part into `out` (`rows` × output length). Returns the method used.
pub fn convolve_rows<T: FftFloat>(
    a: &[T],
    rows: usize,
    n: usize,
    v: &[T],
    mode: Mode,
    method: Method,
    par: Parallelism,
    out: &mut [T],
) -> Result<Method> {
    let m = v.len();
    let (start, len) = output_range(n, m, mode)?;
    check_matrix("a", a.len(), rows, n)?;
    check_matrix("out", out.len(), rows, len)?;
    let threads = par.threads();
    let method = match method {
        Method::Auto => match choose(rows, n, m, len, std::mem::size_of::<T>() == 4, threads) {
            // An FFT spreads one NaN/inf over every output it mixes; the direct sum
            // keeps it in the m outputs whose window holds it. `auto` must not change
            // the answer's non-finite pattern, so such inputs are computed directly.
            Method::Direct => Method::Direct,
            fast if all_finite(v, 1) && all_finite(a, threads) => fast,
            _ => Method::Direct,
        },
        other => other,
    };
    if rows == 0 {
        return Ok(method);
    }
    let ctx = Ctx::<T>::new(v, n, start, len, method);
    if rows >= 2 * threads || threads == 1 {
        threads::for_each_chunk_mut(out, len, threads, |r, o| ctx.row(&a[r * n..(r + 1) * n], o, 1));
    } else {
        for (r, o) in out.chunks_mut(len).enumerate() {
            ctx.row(&a[r * n..(r + 1) * n], o, threads);
        }
    }
    Ok(method)
}

/// Values per task of [`all_finite`].
const FINITE_CHUNK: usize = 1 << 16;

/// True when every value of `x` is finite. Branch-free inside a chunk (`v · 0` is ±0
/// for a finite value and NaN for NaN/±inf, and NaN survives the sums), so it
/// vectorises; chunks run on up to `threads` threads.
pub fn all_finite<T: FftFloat>(x: &[T], threads: usize) -> bool {
    let chunk_finite = |c: &[T]| {
        let mut acc = [T::ZERO; 8];
        let mut lanes = c.chunks_exact(8);
        for group in &mut lanes {
            for (a, &v) in acc.iter_mut().zip(group) {
                *a = *a + v * T::ZERO;
            }
        }
        for (a, &v) in acc.iter_mut().zip(lanes.remainder()) {
            *a = *a + v * T::ZERO;
        }
        acc.iter().all(|&a| a == T::ZERO)
    };
    let chunks = x.len().div_ceil(FINITE_CHUNK);
    threads::map_indexed_capped(chunks, threads, |i| {
        chunk_finite(&x[i * FINITE_CHUNK..((i + 1) * FINITE_CHUNK).min(x.len())])
    })
    .into_iter()
    .all(|ok| ok)
}

/// Correlation: `scipy.signal.correlate(a, v, mode)` for real input, i.e. convolution
/// with the reversed kernel.
pub fn correlate_rows<T: FftFloat>(
    a: &[T],
    rows: usize,
    n: usize,
    v: &[T],
    mode: Mode,
    method: Method,
    par: Parallelism,
    out: &mut [T],
) -> Result<Method> {
    let reversed: Vec<T> = v.iter().rev().copied().collect();
    convolve_rows(a, rows, n, &reversed, mode, method, par, out)
}

/// A forward and an inverse real FFT plan of one length.
type RealPlans<T> = (Arc<dyn RealToComplex<T>>, Arc<dyn ComplexToReal<T>>);

/// Per-call state shared by all rows.
struct Ctx<T: FftFloat> {
    /// The kernel reversed (direct method correlates with it).
    w: Vec<T>,
    /// No tap is NaN or ±inf (the zero-padded edges are then exact).
    taps_finite: bool,
    m: usize,
    n: usize,
    start: usize,
    len: usize,
    method: Method,
    corr: CorrelateFn<T>,
    /// FFT methods: the length in use, its plans (looked up once per call), and the
    /// kernel's spectrum pre-scaled by 1/N.
    nfft: usize,
    plans: Option<RealPlans<T>>,
    spectrum: Vec<Complex<T>>,
}

impl<T: FftFloat> Ctx<T> {
    fn new(v: &[T], n: usize, start: usize, len: usize, method: Method) -> Self {
        let m = v.len();
        let nfft = match method {
            Method::Fft => next_fast_len(n + m - 1),
            Method::OverlapAdd => overlap_add_fft_len(m),
            _ => 0,
        };
        let plans = (nfft > 0).then(|| (real_forward::<T>(nfft), real_inverse::<T>(nfft)));
        let spectrum = match &plans {
            Some((fwd, _)) => {
                let mut buf = fwd.make_input_vec();
                buf[..m].copy_from_slice(v);
                let mut spec = fwd.make_output_vec();
                let _ = fwd.process(&mut buf, &mut spec);
                let s = <T as mlkern_core::Float>::from_f64(1.0 / nfft as f64);
                spec.iter().map(|c| Complex::new(c.re * s, c.im * s)).collect()
            }
            None => Vec::new(),
        };
        Ctx {
            w: v.iter().rev().copied().collect(),
            taps_finite: all_finite(v, 1),
            m,
            n,
            start,
            len,
            method,
            corr: kernels::<T>().correlate_valid,
            nfft,
            plans,
            spectrum,
        }
    }

    /// One row of output, on up to `threads` threads.
    fn row(&self, a: &[T], out: &mut [T], threads: usize) {
        match self.method {
            Method::Fft => self.fft_row(a, out),
            Method::OverlapAdd => self.overlap_add_row(a, out, threads),
            _ => {
                let chunk = (self.len.div_ceil(4 * threads)).max(4096);
                threads::for_each_chunk_mut(out, chunk, threads, |c, o| {
                    self.direct_range(a, self.start + c * chunk, o)
                });
            }
        }
    }

    /// `out[i] = full[k0 + i]` by direct summation.
    fn direct_range(&self, a: &[T], k0: usize, out: &mut [T]) {
        let (m, n) = (self.m, self.n);
        let (lo, hi) = (k0, k0 + out.len());
        // Interior outputs k in [m - 1, n) read a[k - (m - 1) ..= k] without padding.
        let int_lo = lo.max(m - 1);
        let int_hi = hi.min(n);
        if int_lo < int_hi {
            (self.corr)(&a[int_lo + 1 - m..int_hi], &self.w, &mut out[int_lo - lo..int_hi - lo]);
        }
        let left_end = int_lo.min(hi).max(lo);
        self.padded_range(a, lo, left_end, &mut out[..left_end - lo]);
        let right_start = int_hi.max(left_end);
        if right_start < hi {
            self.padded_range(a, right_start, hi, &mut out[right_start - lo..]);
        }
    }

    /// Full outputs `k0..k1` through an explicitly zero-padded copy of the window.
    /// With a non-finite tap, `0 · tap` would be NaN where `numpy.convolve` (which
    /// sums only the taps that meet the signal) has a number, so then each output is
    /// the dot product of just the overlapping parts instead.
    fn padded_range(&self, a: &[T], k0: usize, k1: usize, out: &mut [T]) {
        if k0 >= k1 {
            return;
        }
        let m = self.m;
        if !self.taps_finite {
            for (o, k) in out.iter_mut().zip(k0..k1) {
                // full[k] = Σ_i a[k + 1 - m + i] w[i] over the i with 0 <= k + 1 - m + i < n.
                let lo = (m - 1).saturating_sub(k);
                let hi = m.min(self.n + m - 1 - k);
                let first = k + 1 + lo - m;
                (self.corr)(&a[first..first + (hi - lo)], &self.w[lo..hi], std::slice::from_mut(o));
            }
            return;
        }
        // Padded signal p[i] = a[i - (m - 1)] (zero outside); outputs need p[k0 .. k1 + m - 1].
        let tmp: Vec<T> =
            (k0..k1 + m - 1).map(|i| if i + 1 >= m && i + 1 - m < self.n { a[i + 1 - m] } else { T::ZERO }).collect();
        (self.corr)(&tmp, &self.w, out);
    }

    /// The circular convolution of `seg` (zero-padded to `nfft`) with the kernel: one
    /// forward FFT, the product with the kernel's spectrum, one inverse FFT. It equals
    /// the linear convolution on its first `seg.len() + m - 1` values.
    fn filter_block(&self, seg: &[T]) -> Vec<T> {
        let Some((fwd, inv)) = &self.plans else { return Vec::new() };
        let mut buf = fwd.make_input_vec();
        buf[..seg.len()].copy_from_slice(seg);
        let mut spec = fwd.make_output_vec();
        let _ = fwd.process(&mut buf, &mut spec);
        for (s, k) in spec.iter_mut().zip(&self.spectrum) {
            *s = *s * *k;
        }
        zero_dc_nyquist_imag(&mut spec, self.nfft);
        let _ = inv.process(&mut spec, &mut buf);
        buf
    }

    fn fft_row(&self, a: &[T], out: &mut [T]) {
        let full = self.filter_block(a);
        out.copy_from_slice(&full[self.start..self.start + self.len]);
    }

    fn overlap_add_row(&self, a: &[T], out: &mut [T], threads: usize) {
        let (m, n) = (self.m, self.n);
        let block = self.nfft - m + 1;
        let mut full = vec![T::ZERO; n + m - 1];
        let blocks = n.div_ceil(block);
        let tails: Vec<Mutex<Vec<T>>> = (0..blocks).map(|_| Mutex::new(Vec::new())).collect();
        threads::for_each_chunk_mut(&mut full[..n], block, threads, |b, head| {
            let seg = &a[b * block..b * block + head.len()];
            let y = self.filter_block(seg);
            head.copy_from_slice(&y[..seg.len()]);
            *tails[b].lock().unwrap_or_else(|p| p.into_inner()) = y[seg.len()..seg.len() + m - 1].to_vec();
        });
        for (b, tail) in tails.into_iter().enumerate() {
            let tail = tail.into_inner().unwrap_or_else(|p| p.into_inner());
            let at = (b * block + block).min(n);
            for (dst, t) in full[at..at + tail.len()].iter_mut().zip(tail) {
                *dst = *dst + t;
            }
        }
        out.copy_from_slice(&full[self.start..self.start + self.len]);
    }
}

/// A product of real-signal spectra has real DC and Nyquist terms; drop rounding
/// residue in their imaginary parts (the inverse real FFT expects zero there).
fn zero_dc_nyquist_imag<T: FftFloat>(spec: &mut [Complex<T>], nfft: usize) {
    spec[0].im = T::ZERO;
    if nfft.is_multiple_of(2) {
        if let Some(last) = spec.last_mut() {
            last.im = T::ZERO;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn naive(a: &[f64], v: &[f64]) -> Vec<f64> {
        let mut y = vec![0.0; a.len() + v.len() - 1];
        for (i, &x) in a.iter().enumerate() {
            for (j, &w) in v.iter().enumerate() {
                y[i + j] += x * w;
            }
        }
        y
    }

    #[test]
    fn every_method_and_mode_matches_naive() {
        let mut s = 7u64;
        let mut rnd = || {
            s = s.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            (s >> 11) as f64 / (1u64 << 53) as f64 - 0.5
        };
        for &(n, m) in &[(1, 1), (5, 3), (3, 5), (100, 7), (1000, 64), (3000, 700), (5000, 1)] {
            let a: Vec<f64> = (0..2 * n).map(|_| rnd()).collect();
            let v: Vec<f64> = (0..m).map(|_| rnd()).collect();
            for mode in [Mode::Full, Mode::Same, Mode::Valid] {
                let Ok((start, len)) = output_range(n, m, mode) else {
                    assert!(mode == Mode::Valid && m > n);
                    continue;
                };
                for method in [Method::Direct, Method::Fft, Method::OverlapAdd, Method::Auto] {
                    for t in [1usize, 2] {
                        let mut out = vec![f64::NAN; 2 * len];
                        convolve_rows(&a, 2, n, &v, mode, method, Parallelism::Threads(t), &mut out).unwrap();
                        for r in 0..2 {
                            let want = naive(&a[r * n..(r + 1) * n], &v);
                            let scale: f64 = v.iter().map(|x| x.abs()).sum::<f64>();
                            for i in 0..len {
                                let (g, w) = (out[r * len + i], want[start + i]);
                                assert!(
                                    (g - w).abs() <= 1e-12 * scale * (n as f64).sqrt().max(8.0),
                                    "{method:?} {mode:?} n={n} m={m} r={r} i={i}: {g} vs {w}"
                                );
                            }
                        }
                    }
                }
            }
        }
    }
}
