//! Rolling-window statistics matching `pandas.Series.rolling(window).<stat>()`:
//! the first `window - 1` outputs are NaN, every later output covers the last
//! `window` samples; `std`/`var` use ddof = 1; `skew` is pandas' adjusted
//! Fisher–Pearson coefficient (NaN below 3 samples or when the window variance is
//! <= 1e-14). A window holding NaN gives NaN (pandas' `min_periods = window`).
//!
//! Sums (`sum`, `mean`, `var`, `std`, `skew`): running power sums of `x - c` (`c` a
//! shift near the data, so the variance formula does not cancel) updated with one
//! compensated (TwoSum) add of `new - old` per step: O(1) per sample. Each update's
//! own rounding (`u |x - c|^k`) is not compensated, so the sums drift like
//! `u sqrt(steps) max|x - c|^k`; each segment of [`segment_len`] samples therefore
//! starts from an exact recomputation of its first window, which is also what makes
//! segments independent: they run in parallel and the result does not depend on
//! the thread count. Windows of at most [`DIRECT_MAX_WINDOW`] samples are instead
//! computed from their values (two passes, O(window) per output): their variance can
//! be far below `(x - c)²` (two nearly equal samples), where that drift would be a
//! large relative error. `min`/`max`: a monotone deque, O(1) amortised per sample;
//! each segment replays the `window - 1` samples before it, counting only the NaNs
//! it has seen enter.
//!
//! Infinite values: each window's value is what NumPy computes on the window's
//! values: `sum`/`mean` ±inf (NaN when both signs are present), `var`/`std`/`skew`
//! NaN while an infinity is in the window, `min`/`max` the true extreme (running
//! sums count infinities instead of adding them, so they are exact again once the
//! infinity has left). pandas differs: it converts ±inf to NaN before computing
//! (`pandas/core/window/rolling.py`, `_prep_values`), so every pandas window holding
//! an infinity is NaN.

use std::collections::VecDeque;

use mlkern_core::threads::{self, Parallelism};
use mlkern_core::{check_matrix, Error, Float, Result};

/// The statistic computed over each window.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stat {
    Mean,
    Std,
    Var,
    Min,
    Max,
    Sum,
    Skew,
}

impl Stat {
    pub fn from_name(name: &str) -> Result<Stat> {
        Ok(match name {
            "mean" => Stat::Mean,
            "std" => Stat::Std,
            "var" => Stat::Var,
            "min" => Stat::Min,
            "max" => Stat::Max,
            "sum" => Stat::Sum,
            "skew" => Stat::Skew,
            _ => {
                return Err(Error::invalid(
                    "stat",
                    format!("unknown statistic '{name}'; expected one of mean, std, var, min, max, sum, skew"),
                ))
            }
        })
    }
}

/// Samples per independently started segment: short enough that the shift stays
/// near the data on trending series, long enough that the exact start (O(window))
/// costs at most ~6 % extra.
pub fn segment_len(window: usize) -> usize {
    window.saturating_mul(16).max(1 << 14)
}

/// A compensated running sum: Knuth's branch-free TwoSum recovers each addition's
/// rounding error exactly, and the errors are summed separately (the same accuracy
/// as Kahan–Babuška–Neumaier, without its data-dependent branch, which mispredicts
/// on noisy data).
#[derive(Debug, Clone, Copy, Default)]
struct KbnSum {
    s: f64,
    c: f64,
}

impl KbnSum {
    #[inline(always)]
    fn add(&mut self, v: f64) {
        let t = self.s + v;
        let z = t - self.s;
        self.c += (self.s - (t - z)) + (v - z);
        self.s = t;
    }
    #[inline(always)]
    fn get(&self) -> f64 {
        self.s + self.c
    }
}

/// Window state for the sum-based statistics.
#[derive(Debug, Default)]
struct Sums {
    shift: f64,
    s1: KbnSum,
    s2: KbnSum,
    s3: KbnSum,
    nan: usize,
    pos_inf: usize,
    neg_inf: usize,
}

impl Sums {
    /// Classifies `v`: its finite shifted value, or 0 after counting it (sign = +1 in, -1 out).
    #[inline(always)]
    fn shifted(&mut self, v: f64, sign: isize) -> f64 {
        if v.is_finite() {
            return v - self.shift;
        }
        let counter = if v.is_nan() {
            &mut self.nan
        } else if v > 0.0 {
            &mut self.pos_inf
        } else {
            &mut self.neg_inf
        };
        *counter = counter.wrapping_add_signed(sign);
        0.0
    }

    /// Exact state of `window`, with the shift (for var/std/skew) the finite mean of
    /// `near`, a stretch of data at the segment's start.
    fn exact<T: Float>(window: &[T], near: &[T], centred: bool) -> Sums {
        let mut st = Sums::default();
        if centred {
            let (mut s, mut k) = (KbnSum::default(), 0usize);
            for v in near.iter().map(|v| v.to_f64()).filter(|v| v.is_finite()) {
                s.add(v);
                k += 1;
            }
            st.shift = if k > 0 { s.get() / k as f64 } else { 0.0 };
        }
        for &v in window {
            let y = st.shifted(v.to_f64(), 1);
            st.s1.add(y);
            st.s2.add(y * y);
            st.s3.add(y * y * y);
        }
        st
    }

    #[inline(always)]
    fn roll(&mut self, new: f64, old: Option<f64>, cubes: bool) {
        let yn = self.shifted(new, 1);
        let yo = match old {
            Some(o) => self.shifted(o, -1),
            None => 0.0,
        };
        self.s1.add(yn - yo);
        self.s2.add(yn * yn - yo * yo);
        if cubes {
            self.s3.add(yn * yn * yn - yo * yo * yo);
        }
    }

    /// The statistic of the current (full) window; `k` holds the window's constants.
    #[inline(always)]
    fn value<const STAT: u8>(&self, k: &WindowConsts) -> f64 {
        if self.nan > 0 {
            return f64::NAN;
        }
        let infinite = self.pos_inf + self.neg_inf > 0;
        match STAT {
            SUM | MEAN => {
                let s = if infinite {
                    match (self.pos_inf > 0, self.neg_inf > 0) {
                        (true, true) => f64::NAN,
                        (true, false) => f64::INFINITY,
                        _ => f64::NEG_INFINITY,
                    }
                } else {
                    self.s1.get() + self.shift * k.n
                };
                if STAT == SUM {
                    s
                } else {
                    s * k.inv_n
                }
            }
            VAR | STD => {
                if infinite || k.n < 2.0 {
                    return f64::NAN;
                }
                let s1 = self.s1.get();
                let var = ((self.s2.get() - s1 * s1 * k.inv_n) * k.inv_nm1).max(0.0);
                if STAT == STD {
                    var.sqrt()
                } else {
                    var
                }
            }
            _ => {
                // SKEW
                if infinite || k.n < 3.0 {
                    return f64::NAN;
                }
                let a = self.s1.get() * k.inv_n;
                let b = self.s2.get() * k.inv_n - a * a;
                if b <= 1e-14 {
                    return f64::NAN;
                }
                let c = self.s3.get() * k.inv_n - a * a * a - 3.0 * a * b;
                k.skew_factor * c / (b * b.sqrt())
            }
        }
    }
}

const SUM: u8 = 0;
const MEAN: u8 = 1;
const VAR: u8 = 2;
const STD: u8 = 3;
const SKEW: u8 = 4;

/// Per-window constants, computed once per call (no divisions per sample).
#[derive(Debug, Clone, Copy)]
struct WindowConsts {
    n: f64,
    inv_n: f64,
    inv_nm1: f64,
    /// sqrt(n (n - 1)) / (n - 2), pandas' skew adjustment.
    skew_factor: f64,
}

impl WindowConsts {
    fn new(w: usize) -> Self {
        let n = w as f64;
        WindowConsts { n, inv_n: 1.0 / n, inv_nm1: 1.0 / (n - 1.0), skew_factor: (n * (n - 1.0)).sqrt() / (n - 2.0) }
    }
}

/// The sum-based statistics over positions `p0 .. p0 + out.len()`, monomorphised per
/// statistic so the loop carries no dispatch.
fn rolling_sums<T: Float, const STAT: u8>(x: &[T], w: usize, p0: usize, out: &mut [T]) {
    let nan = <T as Float>::from_f64(f64::NAN);
    let centred = matches!(STAT, VAR | STD | SKEW);
    let cubes = STAT == SKEW;
    let k = WindowConsts::new(w);
    // State of the window ending just before p0, computed exactly.
    let near = &x[p0.saturating_sub(w)..(p0 + w).min(x.len())];
    let mut st = Sums::exact(&x[p0.saturating_sub(w)..p0], near, centred);
    let seg = &x[p0..p0 + out.len()];
    for (j, (o, &v)) in out.iter_mut().zip(seg).enumerate() {
        let i = p0 + j;
        let old = if i >= w { Some(x[i - w].to_f64()) } else { None };
        st.roll(v.to_f64(), old, cubes);
        *o = if i + 1 < w { nan } else { <T as Float>::from_f64(st.value::<STAT>(&k)) };
    }
}

/// Windows up to this length are computed from their values, not by running sums.
pub const DIRECT_MAX_WINDOW: usize = 8;

/// The statistic of one full window from its values: the mean, then the central
/// sums `Σ d²`, `Σ d³` (`d = x - mean`). Plain IEEE arithmetic gives NumPy's answers
/// for NaN and ±inf (`inf - inf` is NaN).
#[inline(always)]
fn window_value<T: Float, const STAT: u8>(win: &[T], k: &WindowConsts) -> f64 {
    let sum: f64 = win.iter().map(|v| v.to_f64()).sum();
    if STAT == SUM {
        return sum;
    }
    let mean = sum * k.inv_n;
    if STAT == MEAN {
        return mean;
    }
    let (mut s2, mut s3) = (0.0f64, 0.0f64);
    for v in win {
        let d = v.to_f64() - mean;
        s2 += d * d;
        s3 += d * d * d;
    }
    match STAT {
        VAR | STD => {
            if k.n < 2.0 {
                return f64::NAN;
            }
            let var = s2 * k.inv_nm1;
            if STAT == STD {
                var.sqrt()
            } else {
                var
            }
        }
        _ => {
            // SKEW, with the running path's rule for a (near-)constant window.
            let b = s2 * k.inv_n;
            if k.n < 3.0 || b <= 1e-14 {
                return f64::NAN;
            }
            k.skew_factor * (s3 * k.inv_n) / (b * b.sqrt())
        }
    }
}

/// The sum-based statistics of short windows, each from its own values.
fn rolling_direct<T: Float, const STAT: u8>(x: &[T], w: usize, p0: usize, out: &mut [T]) {
    let nan = <T as Float>::from_f64(f64::NAN);
    let k = WindowConsts::new(w);
    for (j, o) in out.iter_mut().enumerate() {
        let i = p0 + j;
        *o = if i + 1 < w { nan } else { <T as Float>::from_f64(window_value::<T, STAT>(&x[i + 1 - w..=i], &k)) };
    }
}

/// The sum-based statistic `STAT` over positions `p0 .. p0 + out.len()`.
fn rolling_stat<T: Float, const STAT: u8>(x: &[T], w: usize, p0: usize, out: &mut [T]) {
    if w <= DIRECT_MAX_WINDOW {
        rolling_direct::<T, STAT>(x, w, p0, out)
    } else {
        rolling_sums::<T, STAT>(x, w, p0, out)
    }
}

/// Outputs `out[i]` for positions `p0 .. p0 + out.len()` of the row `x`.
fn rolling_segment<T: Float>(x: &[T], w: usize, stat: Stat, p0: usize, out: &mut [T]) {
    let nan = <T as Float>::from_f64(f64::NAN);
    match stat {
        Stat::Min | Stat::Max => {
            let better = |a: f64, b: f64| if stat == Stat::Max { a >= b } else { a <= b };
            let mut dq: VecDeque<usize> = VecDeque::with_capacity(w.min(1 << 20));
            let mut nans = 0usize;
            let start = p0.saturating_sub(w - 1);
            for i in start..p0 + out.len() {
                let v = x[i].to_f64();
                if v.is_nan() {
                    nans += 1;
                } else {
                    while dq.back().is_some_and(|&j| better(v, x[j].to_f64())) {
                        dq.pop_back();
                    }
                    dq.push_back(i);
                }
                // Only a NaN this replay counted can leave: one before `start` was never seen.
                if i >= start + w && x[i - w].to_f64().is_nan() {
                    nans -= 1;
                }
                while dq.front().is_some_and(|&j| j + w <= i) {
                    dq.pop_front();
                }
                if i >= p0 {
                    out[i - p0] = if i + 1 < w || nans > 0 { nan } else { dq.front().map_or(nan, |&j| x[j]) };
                }
            }
        }
        Stat::Sum => rolling_stat::<T, SUM>(x, w, p0, out),
        Stat::Mean => rolling_stat::<T, MEAN>(x, w, p0, out),
        Stat::Var => rolling_stat::<T, VAR>(x, w, p0, out),
        Stat::Std => rolling_stat::<T, STD>(x, w, p0, out),
        Stat::Skew => rolling_stat::<T, SKEW>(x, w, p0, out),
    }
}

/// `out[r] = rolling(x[r], window).stat()` for `rows` rows of `n` samples.
pub fn rolling_rows<T: Float>(
    x: &[T],
    rows: usize,
    n: usize,
    window: usize,
    stat: Stat,
    par: Parallelism,
    out: &mut [T],
) -> Result<()> {
    if window == 0 {
        return Err(Error::invalid("window", "window must be at least 1"));
    }
    if window > n {
        return Err(Error::invalid("window", format!("window ({window}) is longer than the series ({n} samples)")));
    }
    check_matrix("x", x.len(), rows, n)?;
    check_matrix("out", out.len(), rows, n)?;
    let seg = segment_len(window);
    let segs_per_row = n.div_ceil(seg);
    // One work item per (row, segment); items never straddle rows.
    let items = rows.checked_mul(segs_per_row).ok_or_else(|| Error::invalid("x", "too many rows and segments"))?;
    let slots: Vec<std::sync::Mutex<&mut [T]>> =
        out.chunks_mut(n).flat_map(|row| row.chunks_mut(seg)).map(std::sync::Mutex::new).collect();
    threads::map_indexed_capped(items, par.threads(), |it| {
        let (r, s) = (it / segs_per_row, it % segs_per_row);
        let mut o = slots[it].lock().unwrap_or_else(|p| p.into_inner());
        rolling_segment(&x[r * n..(r + 1) * n], window, stat, s * seg, &mut o);
    });
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn naive(x: &[f64], w: usize, stat: Stat) -> Vec<f64> {
        (0..x.len())
            .map(|i| {
                if i + 1 < w {
                    return f64::NAN;
                }
                let win = &x[i + 1 - w..=i];
                if win.iter().any(|v| v.is_nan()) {
                    return f64::NAN; // pandas' min_periods = window
                }
                let n = w as f64;
                let mean = win.iter().sum::<f64>() / n;
                let m = |k: i32| win.iter().map(|v| (v - mean).powi(k)).sum::<f64>() / n;
                match stat {
                    Stat::Sum => win.iter().sum(),
                    Stat::Mean => mean,
                    Stat::Var => m(2) * n / (n - 1.0),
                    Stat::Std => (m(2) * n / (n - 1.0)).sqrt(),
                    Stat::Min => win.iter().cloned().fold(f64::INFINITY, f64::min),
                    Stat::Max => win.iter().cloned().fold(f64::NEG_INFINITY, f64::max),
                    Stat::Skew => (n * (n - 1.0)).sqrt() / (n - 2.0) * m(3) / m(2).powf(1.5),
                }
            })
            .collect()
    }

    #[test]
    fn nan_around_segment_boundaries_matches_naive() {
        // A NaN at every offset from -w-2 to +w of the first boundary, one row each:
        // the min/max replay must not count a NaN it never saw enter.
        for w in [1usize, 2, 3, 9] {
            let seg = segment_len(w);
            let n = 2 * seg + 5;
            for d in -(w as isize) - 2..=w as isize {
                let mut x: Vec<f64> = (0..n).map(|i| (i % 7) as f64).collect();
                x[(seg as isize + d) as usize] = f64::NAN;
                for stat in [Stat::Min, Stat::Max, Stat::Sum, Stat::Std] {
                    let mut got = vec![0.0; n];
                    rolling_rows(&x, 1, n, w, stat, Parallelism::Threads(2), &mut got).unwrap();
                    let want = naive(&x, w, stat);
                    for i in seg - w - 3..seg + w + 3 {
                        let (g, e) = (got[i], want[i]);
                        assert!(g.is_nan() == e.is_nan(), "{stat:?} w={w} d={d} i={i}: {g} vs {e}");
                        assert!(e.is_nan() || (g - e).abs() <= 1e-12, "{stat:?} w={w} d={d} i={i}: {g} vs {e}");
                    }
                }
            }
        }
    }

    #[test]
    fn matches_naive_across_segments_and_threads() {
        let x: Vec<f64> = (0..200_000).map(|i| ((i * 7919) % 1000) as f64 * 0.01 + 1e4).collect();
        for stat in [Stat::Mean, Stat::Std, Stat::Var, Stat::Min, Stat::Max, Stat::Sum, Stat::Skew] {
            for w in [1usize, 3, 100] {
                let want = naive(&x[..5000], w, stat);
                let mut a = vec![0.0; x.len()];
                let mut b = vec![0.0; x.len()];
                rolling_rows(&x, 1, x.len(), w, stat, Parallelism::Sequential, &mut a).unwrap();
                rolling_rows(&x, 1, x.len(), w, stat, Parallelism::Threads(4), &mut b).unwrap();
                assert!(a.iter().zip(&b).all(|(p, q)| p.to_bits() == q.to_bits()), "{stat:?} thread-dependent");
                for i in 0..5000 {
                    let (g, e) = (a[i], want[i]);
                    assert!(g.is_nan() == e.is_nan(), "{stat:?} w={w} i={i}: {g} vs {e}");
                    if !e.is_nan() {
                        assert!((g - e).abs() <= 1e-9 * e.abs().max(1.0), "{stat:?} w={w} i={i}: {g} vs {e}");
                    }
                }
            }
        }
    }
}
