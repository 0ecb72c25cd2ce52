//! L-BFGS (Nocedal 1980; Liu & Nocedal 1989) with a strong-Wolfe line search
//! (Nocedal & Wright, *Numerical Optimization*, Algorithms 3.5 and 3.6: bracketing,
//! then zoom by safeguarded cubic interpolation), for smooth unconstrained problems.
//!
//! The stopping rules are those of SciPy's L-BFGS-B as scikit-learn calls it:
//! `max |∇f| ≤ gtol`, or a relative reduction `(f_k − f_{k+1}) / max(|f_k|,
//! |f_{k+1}|, 1) ≤ ftol`, or `max_iter` iterations. The first step is `1/‖∇f‖₂`
//! along `−∇f` (as L-BFGS-B's first step), later steps start at 1 with the
//! initial inverse Hessian `(sᵀy / yᵀy)·I`. Pairs with `sᵀy ≤ ε·yᵀy` are not
//! stored (the update would not be positive definite).
//!
//! Memory: `2·m + 4` vectors of the parameter length, allocated once per call.

use mlkern_core::{Error, Result};

/// Solver settings.
#[derive(Debug, Clone, Copy)]
pub struct Options {
    pub max_iter: usize,
    pub gtol: f64,
    pub ftol: f64,
    /// Stored correction pairs (`m`, SciPy's `maxcor`).
    pub memory: usize,
    /// Function evaluations per line search (SciPy's `maxls`).
    pub max_ls: usize,
}

impl Default for Options {
    /// scikit-learn's `LogisticRegression` settings: 100 iterations, `gtol = 1e-4`,
    /// `ftol = 64·ε`, `m = 10`, 50 line-search evaluations.
    fn default() -> Self {
        Options { max_iter: 100, gtol: 1e-4, ftol: 64.0 * f64::EPSILON, memory: 10, max_ls: 50 }
    }
}

/// Why [`minimize`] stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stop {
    /// `max |∇f| ≤ gtol`.
    Gradient,
    /// The relative reduction of `f` fell to `ftol`.
    Reduction,
    /// `max_iter` iterations ran (not converged).
    MaxIter,
    /// No step satisfying the Wolfe conditions was found (not converged).
    LineSearch,
    /// The progress callback asked to stop.
    Callback,
}

impl Stop {
    /// Whether the stop means convergence.
    pub fn converged(self) -> bool {
        matches!(self, Stop::Gradient | Stop::Reduction)
    }
}

/// The result of [`minimize`] (the minimiser is left in `x`).
#[derive(Debug, Clone, Copy)]
pub struct Outcome {
    pub f: f64,
    pub n_iter: usize,
    pub n_evals: usize,
    pub stop: Stop,
}

/// What the progress callback sees after each iteration.
#[derive(Debug, Clone, Copy)]
pub struct Progress {
    pub iter: usize,
    pub f: f64,
    pub grad_max: f64,
    pub n_evals: usize,
}

/// `f(x)`, writing `∇f(x)` into its second argument.
pub type ObjectiveFn<'a> = dyn FnMut(&[f64], &mut [f64]) -> Result<f64> + 'a;

fn dotp(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

fn max_abs(a: &[f64]) -> f64 {
    a.iter().fold(0.0f64, |m, v| m.max(v.abs()))
}

/// Minimises `f` from `x` (overwritten with the last iterate). `fg(x, g)` returns
/// `f(x)` and writes `∇f(x)` into `g`; an error from it ends the call.
/// `on_iter` runs after every iteration; returning `false` stops (with `x` the
/// iterate just completed).
pub fn minimize(
    x: &mut [f64],
    fg: &mut ObjectiveFn<'_>,
    opts: &Options,
    on_iter: &mut dyn FnMut(&Progress) -> bool,
) -> Result<Outcome> {
    let n = x.len();
    let m = opts.memory.max(1);
    let mut g = vec![0.0; n];
    let mut xn = vec![0.0; n];
    let mut gn = vec![0.0; n];
    let mut dir = vec![0.0; n];
    let mut s_hist = vec![vec![0.0; n]; m];
    let mut y_hist = vec![vec![0.0; n]; m];
    let mut rho = vec![0.0; m];
    let mut alpha = vec![0.0; m];
    let (mut stored, mut newest) = (0usize, 0usize);
    let mut f = fg(x, &mut g)?;
    let mut evals = 1;
    if !f.is_finite() || !g.iter().all(|v| v.is_finite()) {
        return Err(Error::invalid("x", "the loss or its gradient is not finite at the starting point"));
    }
    if max_abs(&g) <= opts.gtol || n == 0 {
        return Ok(Outcome { f, n_iter: 0, n_evals: evals, stop: Stop::Gradient });
    }
    for iter in 1..=opts.max_iter {
        // Direction: -H g by the two-loop recursion (steepest descent when empty).
        dir.iter_mut().zip(&g).for_each(|(d, gi)| *d = -gi);
        for j in 0..stored {
            let i = (newest + m - j) % m;
            alpha[i] = rho[i] * dotp(&s_hist[i], &dir);
            let a = alpha[i];
            dir.iter_mut().zip(&y_hist[i]).for_each(|(d, y)| *d -= a * y);
        }
        let mut step0 = if stored > 0 {
            let (s, y) = (&s_hist[newest], &y_hist[newest]);
            let gamma = dotp(s, y) / dotp(y, y);
            dir.iter_mut().for_each(|d| *d *= gamma);
            for j in (0..stored).rev() {
                let i = (newest + m - j) % m;
                let b = rho[i] * dotp(&y_hist[i], &dir);
                let c = alpha[i] - b;
                dir.iter_mut().zip(&s_hist[i]).for_each(|(d, s)| *d += c * s);
            }
            1.0
        } else {
            1.0 / dotp(&g, &g).sqrt()
        };
        let mut slope = dotp(&g, &dir);
        if slope.is_nan() || slope >= 0.0 {
            // Not a descent direction (rounding): restart from steepest descent.
            stored = 0;
            dir.iter_mut().zip(&g).for_each(|(d, gi)| *d = -gi);
            slope = -dotp(&g, &g);
            step0 = 1.0 / (-slope).sqrt();
        }
        let ls = line_search(x, f, &g, &dir, slope, step0, opts.max_ls, fg, &mut xn, &mut gn)?;
        evals += ls.evals;
        let Some(f_new) = ls.f else {
            if stored > 0 {
                // Retry from steepest descent with the memory cleared, as L-BFGS-B does.
                stored = 0;
                continue;
            }
            return Ok(Outcome { f, n_iter: iter - 1, n_evals: evals, stop: Stop::LineSearch });
        };
        // Store the pair (s, y) if it keeps H positive definite; a refused pair must
        // not overwrite the oldest stored one, so it is tested before it is written.
        let (mut sy, mut yy) = (0.0, 0.0);
        for i in 0..n {
            let (si, yi) = (xn[i] - x[i], gn[i] - g[i]);
            sy += si * yi;
            yy += yi * yi;
        }
        if sy > f64::EPSILON * yy && sy > 0.0 {
            let slot = if stored == 0 { 0 } else { (newest + 1) % m };
            for i in 0..n {
                s_hist[slot][i] = xn[i] - x[i];
                y_hist[slot][i] = gn[i] - g[i];
            }
            rho[slot] = 1.0 / sy;
            newest = slot;
            stored = (stored + 1).min(m);
        }
        x.copy_from_slice(&xn);
        g.copy_from_slice(&gn);
        let f_old = f;
        f = f_new;
        let grad_max = max_abs(&g);
        if !on_iter(&Progress { iter, f, grad_max, n_evals: evals }) {
            return Ok(Outcome { f, n_iter: iter, n_evals: evals, stop: Stop::Callback });
        }
        if grad_max <= opts.gtol {
            return Ok(Outcome { f, n_iter: iter, n_evals: evals, stop: Stop::Gradient });
        }
        if (f_old - f) / f_old.abs().max(f.abs()).max(1.0) <= opts.ftol {
            return Ok(Outcome { f, n_iter: iter, n_evals: evals, stop: Stop::Reduction });
        }
    }
    Ok(Outcome { f, n_iter: opts.max_iter, n_evals: evals, stop: Stop::MaxIter })
}

struct Search {
    /// The accepted value (`xn`, `gn` hold its point and gradient), or `None`.
    f: Option<f64>,
    evals: usize,
}

/// A point on the line: step, value, slope.
#[derive(Clone, Copy)]
struct Pt {
    a: f64,
    f: f64,
    d: f64,
}

/// The minimiser of the cubic through `p` and `q` (values and slopes), kept inside
/// the middle 80 % of `[p.a, q.a]`; the midpoint if the cubic has none.
fn cubic_step(p: Pt, q: Pt) -> f64 {
    let (lo, hi) = if p.a < q.a { (p.a, q.a) } else { (q.a, p.a) };
    let d1 = p.d + q.d - 3.0 * (p.f - q.f) / (p.a - q.a);
    let disc = d1 * d1 - p.d * q.d;
    let mid = 0.5 * (lo + hi);
    if disc.is_nan() || disc < 0.0 {
        return mid;
    }
    let d2 = (q.a - p.a).signum() * disc.sqrt();
    let a = q.a - (q.a - p.a) * (q.d + d2 - d1) / (q.d - p.d + 2.0 * d2);
    let w = hi - lo;
    if a.is_finite() {
        a.clamp(lo + 0.1 * w, hi - 0.1 * w)
    } else {
        mid
    }
}

const C1: f64 = 1e-4;
const C2: f64 = 0.9;

/// Strong-Wolfe line search along `dir` from `(x, f0, g)` with slope `slope < 0`.
#[allow(clippy::too_many_arguments)]
fn line_search(
    x: &[f64],
    f0: f64,
    _g: &[f64],
    dir: &[f64],
    slope: f64,
    step0: f64,
    max_ls: usize,
    fg: &mut ObjectiveFn<'_>,
    xn: &mut [f64],
    gn: &mut [f64],
) -> Result<Search> {
    let mut evals = 0;
    let mut eval = |a: f64, xn: &mut [f64], gn: &mut [f64], evals: &mut usize| -> Result<Pt> {
        for i in 0..x.len() {
            xn[i] = x[i] + a * dir[i];
        }
        let f = fg(xn, gn)?;
        *evals += 1;
        let d = dotp(gn, dir);
        // A non-finite value is treated as "too far" (the step is cut).
        Ok(if f.is_finite() && d.is_finite() { Pt { a, f, d } } else { Pt { a, f: f64::INFINITY, d: f64::NAN } })
    };
    let origin = Pt { a: 0.0, f: f0, d: slope };
    let mut prev = origin;
    let mut a = step0;
    let (mut lo, mut hi);
    loop {
        if evals >= max_ls {
            return Ok(Search { f: None, evals });
        }
        let p = eval(a, xn, gn, &mut evals)?;
        if p.f > f0 + C1 * a * slope || (evals > 1 && p.f >= prev.f) {
            (lo, hi) = (prev, p);
            break;
        }
        if p.d.abs() <= -C2 * slope {
            return Ok(Search { f: Some(p.f), evals });
        }
        if p.d >= 0.0 {
            (lo, hi) = (p, prev);
            break;
        }
        prev = p;
        a *= 2.0;
    }
    // Zoom: lo satisfies the sufficient decrease and has the lowest value so far.
    loop {
        if evals >= max_ls {
            return Ok(Search { f: None, evals });
        }
        let a = if hi.d.is_finite() && hi.f.is_finite() { cubic_step(lo, hi) } else { 0.5 * (lo.a + hi.a) };
        let p = eval(a, xn, gn, &mut evals)?;
        if p.f > f0 + C1 * a * slope || p.f >= lo.f {
            hi = p;
        } else {
            if p.d.abs() <= -C2 * slope {
                return Ok(Search { f: Some(p.f), evals });
            }
            if p.d * (hi.a - lo.a) >= 0.0 {
                hi = lo;
            }
            lo = p;
        }
        if (hi.a - lo.a).abs() <= 1e-16 * lo.a.abs().max(1e-300) {
            break;
        }
    }
    // The bracket collapsed: accept lo if it decreased f (re-evaluate to leave its
    // gradient in gn), else fail.
    if lo.a > 0.0 && lo.f < f0 && evals < max_ls + 1 {
        let p = eval(lo.a, xn, gn, &mut evals)?;
        return Ok(Search { f: Some(p.f), evals });
    }
    Ok(Search { f: None, evals })
}
