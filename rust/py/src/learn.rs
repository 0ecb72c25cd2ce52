//! `mlkern.learn`: the kernels behind `python/mlkern/learn.py`, which validates
//! estimator parameters, encodes labels (class indices as uint32) and shapes the
//! fitted attributes. `X` is borrowed as float32 or float64 without a copy when
//! C-contiguous; fits and batch predictions release the GIL.

use mlkern_core::threads::num_threads;
use mlkern_learn::kernels::Output;
use mlkern_learn::lbfgs::{Options, Stop};
use mlkern_learn::predict::{self, Linear};
use mlkern_learn::sgd::{self, Ended, Epoch, Loss, Schedule, Settings, Targets};
use mlkern_learn::{linear, logistic};
use numpy::{IntoPyArray, PyArrayMethods, PyReadonlyArray1, PyReadonlyArray2, PyUntypedArrayMethods};
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyTuple};

use crate::arrays::{new_array_for_overwrite, with_float, DType, FloatArray};
use crate::errors::to_pyerr;

/// Runs `f` without the GIL when the call touches more than `4096` values.
pub(crate) fn maybe_detach<R: Send>(py: Python<'_>, values: usize, f: impl FnOnce() -> R + Send) -> R {
    if values > 4096 {
        py.detach(f)
    } else {
        f()
    }
}

fn stop_name(s: Stop) -> &'static str {
    match s {
        Stop::Gradient => "gradient",
        Stop::Reduction => "reduction",
        Stop::MaxIter => "max_iter",
        Stop::LineSearch => "line_search",
        Stop::Callback => "callback",
    }
}

/// _learn_logistic_fit(X, y, n_classes, sample_weight, C, fit_intercept, max_iter,
/// tol, w0, progress) -> (coef (cols, d) f64, intercept (cols,) f64, n_iter, stop, loss)
///
/// `progress(iter, loss, grad_max, n_evals)` runs after every L-BFGS iteration with
/// the GIL held; a false return stops the fit ("callback"). A pending signal
/// (Ctrl-C) also stops it, with stop "interrupted" and the last iterate returned.
#[pyfunction]
#[pyo3(signature = (x, y, n_classes, sample_weight, c, fit_intercept, max_iter, tol, w0, progress))]
pub(crate) fn _learn_logistic_fit<'py>(
    py: Python<'py>,
    x: &Bound<'py, PyAny>,
    y: PyReadonlyArray1<'py, u32>,
    n_classes: usize,
    sample_weight: Option<PyReadonlyArray1<'py, f64>>,
    c: f64,
    fit_intercept: bool,
    max_iter: usize,
    tol: f64,
    w0: Option<PyReadonlyArray1<'py, f64>>,
    progress: Option<Bound<'py, PyAny>>,
) -> PyResult<Bound<'py, PyTuple>> {
    let xa = FloatArray::extract(x, "X", 2)?;
    let (n, d) = (xa.shape[0], xa.shape[1]);
    let y = y.as_slice()?;
    let sw = match &sample_weight {
        Some(s) => Some(s.as_slice()?),
        None => None,
    };
    let w0 = match &w0 {
        Some(w) => Some(w.as_slice()?),
        None => None,
    };
    let opts = Options { max_iter, gtol: tol, ..Options::default() };
    let progress = progress.map(|p| p.unbind());
    let mut interrupted: Option<PyErr> = None;
    let threads = num_threads();
    let fit = with_float!(xa.dtype, T => {
        let data = logistic::ClassData { x: xa.slice::<T>(), n, d, y, sw, n_classes };
        let interrupted = &mut interrupted;
        let progress = &progress;
        py.detach(move || {
            let mut on_iter = |p: &mlkern_learn::lbfgs::Progress| -> bool {
                Python::attach(|py| {
                    if let Err(e) = py.check_signals() {
                        *interrupted = Some(e);
                        return false;
                    }
                    match progress {
                        None => true,
                        Some(f) => match f.bind(py).call1((p.iter, p.f, p.grad_max, p.n_evals)) {
                            Ok(r) => r.is_none() || r.is_truthy().unwrap_or(true),
                            Err(e) => {
                                *interrupted = Some(e);
                                false
                            }
                        },
                    }
                })
            };
            logistic::fit(data, c, fit_intercept, &opts, w0, threads, &mut on_iter)
        })
    })
    .map_err(to_pyerr)?;
    let cols = fit.intercept.len();
    let stop = if interrupted.is_some() { "interrupted" } else { stop_name(fit.outcome.stop) };
    if let Some(e) = interrupted {
        // Not KeyboardInterrupt: the estimator raises whatever stopped the fit after
        // keeping the weights; hand the error object over with the result.
        let coef = fit.coef.into_pyarray(py).reshape([cols, d])?.into_any();
        let items: Vec<Bound<'py, PyAny>> = vec![
            coef,
            fit.intercept.into_pyarray(py).into_any(),
            fit.outcome.n_iter.into_pyobject(py)?.into_any(),
            stop.into_pyobject(py)?.into_any(),
            fit.outcome.f.into_pyobject(py)?.into_any(),
            e.into_value(py).into_bound(py).into_any(),
        ];
        return PyTuple::new(py, items);
    }
    let coef = fit.coef.into_pyarray(py).reshape([cols, d])?.into_any();
    let items: Vec<Bound<'py, PyAny>> = vec![
        coef,
        fit.intercept.into_pyarray(py).into_any(),
        fit.outcome.n_iter.into_pyobject(py)?.into_any(),
        stop.into_pyobject(py)?.into_any(),
        fit.outcome.f.into_pyobject(py)?.into_any(),
        py.None().into_bound(py),
    ];
    PyTuple::new(py, items)
}

/// Reads `coef` `(cols, d)` in `X`'s dtype and `intercept` `(cols,)` float64.
fn model_arrays<'py>(
    coef: &Bound<'py, PyAny>,
    intercept: &PyReadonlyArray1<'py, f64>,
    dtype: DType,
    d: usize,
) -> PyResult<FloatArray<'py>> {
    let w = FloatArray::extract(coef, "coef", 2)?;
    if w.dtype != dtype {
        return Err(PyValueError::new_err(format!(
            "internal error: coef is {} but X is {}",
            w.dtype.name(),
            dtype.name()
        )));
    }
    if w.shape[1] != d {
        return Err(PyValueError::new_err(format!("X has {d} features, but the model was fitted with {}", w.shape[1])));
    }
    if w.shape[0] != intercept.len() {
        return Err(PyValueError::new_err("internal error: coef and intercept disagree"));
    }
    Ok(w)
}

/// _learn_linear_scores(X, coef, intercept, proba) -> (n, cols) scores, or
/// probabilities ((n, 2) for one column), in X's dtype.
#[pyfunction]
pub(crate) fn _learn_linear_scores<'py>(
    py: Python<'py>,
    x: &Bound<'py, PyAny>,
    coef: &Bound<'py, PyAny>,
    intercept: PyReadonlyArray1<'py, f64>,
    proba: bool,
) -> PyResult<Bound<'py, PyAny>> {
    let xa = FloatArray::extract(x, "X", 2)?;
    let (n, d) = (xa.shape[0], xa.shape[1]);
    let w = model_arrays(coef, &intercept, xa.dtype, d)?;
    let b = intercept.as_slice()?;
    let cols = b.len();
    let mode = if proba { Output::Proba } else { Output::Scores };
    let width = if proba && cols == 1 { 2 } else { cols };
    let threads = num_threads();
    with_float!(xa.dtype, T => {
        let (arr, out) = new_array_for_overwrite::<T>(py, [n, width])?;
        let m = Linear { coef: w.slice::<T>(), intercept: b, d };
        let xs = xa.slice::<T>();
        maybe_detach(py, n * d, || predict::scores(&m, xs, n, mode, out, threads)).map_err(to_pyerr)?;
        Ok(arr)
    })
}

/// _learn_linear_labels(X, coef, intercept) -> (n,) int64 class indices.
#[pyfunction]
pub(crate) fn _learn_linear_labels<'py>(
    py: Python<'py>,
    x: &Bound<'py, PyAny>,
    coef: &Bound<'py, PyAny>,
    intercept: PyReadonlyArray1<'py, f64>,
) -> PyResult<Bound<'py, PyAny>> {
    let xa = FloatArray::extract(x, "X", 2)?;
    let (n, d) = (xa.shape[0], xa.shape[1]);
    let w = model_arrays(coef, &intercept, xa.dtype, d)?;
    let b = intercept.as_slice()?;
    let threads = num_threads();
    let mut out = vec![0i64; n];
    with_float!(xa.dtype, T => {
        let m = Linear { coef: w.slice::<T>(), intercept: b, d };
        let xs = xa.slice::<T>();
        let o = &mut out;
        maybe_detach(py, n * d, move || predict::labels(&m, xs, n, o, threads)).map_err(to_pyerr)?;
    });
    Ok(out.into_pyarray(py).into_any())
}

/// _learn_centered_gram(X, Y, sample_weight, fit_intercept) -> (gram (d+t, d+t),
/// x_mean (d,), y_mean (t,)), all float64.
#[pyfunction]
pub(crate) fn _learn_centered_gram<'py>(
    py: Python<'py>,
    x: &Bound<'py, PyAny>,
    y: PyReadonlyArray2<'py, f64>,
    sample_weight: Option<PyReadonlyArray1<'py, f64>>,
    fit_intercept: bool,
) -> PyResult<Bound<'py, PyTuple>> {
    let xa = FloatArray::extract(x, "X", 2)?;
    let (n, d) = (xa.shape[0], xa.shape[1]);
    let t = y.shape()[1];
    if y.shape()[0] != n {
        return Err(PyValueError::new_err(format!("X has {n} rows but y has {}", y.shape()[0])));
    }
    let ys = y.as_slice()?;
    let sw = match &sample_weight {
        Some(s) => Some(s.as_slice()?),
        None => None,
    };
    let threads = num_threads();
    let g = with_float!(xa.dtype, T => {
        let xs = xa.slice::<T>();
        py.detach(|| linear::centered_gram(xs, n, d, ys, t, sw, fit_intercept, threads))
    })
    .map_err(to_pyerr)?;
    let gram = g.gram.into_pyarray(py).reshape([d + t, d + t])?.into_any();
    PyTuple::new(py, [gram, g.x_mean.into_pyarray(py).into_any(), g.y_mean.into_pyarray(py).into_any()])
}

/// _learn_solve_spd(A (n, n), B (n, k)) -> X (n, k) float64; ValueError naming
/// "a" when A is not numerically positive definite.
#[pyfunction]
pub(crate) fn _learn_solve_spd<'py>(
    py: Python<'py>,
    a: PyReadonlyArray2<'py, f64>,
    b: PyReadonlyArray2<'py, f64>,
) -> PyResult<Bound<'py, PyAny>> {
    let n = a.shape()[0];
    if a.shape()[1] != n || b.shape()[0] != n {
        return Err(PyValueError::new_err(format!(
            "a must be square and match b, got {:?} and {:?}",
            a.shape(),
            b.shape()
        )));
    }
    let k = b.shape()[1];
    let mut am = a.as_array().iter().copied().collect::<Vec<f64>>();
    let mut bm = b.as_array().iter().copied().collect::<Vec<f64>>();
    py.detach(|| linear::solve_spd(&mut am, n, &mut bm, k)).map_err(to_pyerr)?;
    Ok(bm.into_pyarray(py).reshape([n, k])?.into_any())
}

/// Runs `work` on a scoped thread while this (detached) thread checks for pending
/// signals every 20 ms: a signal's exception goes to `stash` and `flag` is raised
/// for `work` to see. Returns `work`'s result once it ends.
pub(crate) fn watch_signals<R: Send>(
    flag: &std::sync::atomic::AtomicBool,
    stash: &(dyn Fn(PyErr) + Sync),
    work: impl FnOnce() -> R + Send,
) -> R {
    let done = std::sync::atomic::AtomicBool::new(false);
    let watcher = std::thread::current();
    std::thread::scope(|scope| {
        let handle = scope.spawn(|| {
            let r = work();
            done.store(true, std::sync::atomic::Ordering::Release);
            watcher.unpark();
            r
        });
        while !done.load(std::sync::atomic::Ordering::Acquire) {
            std::thread::park_timeout(std::time::Duration::from_millis(20));
            if !flag.load(std::sync::atomic::Ordering::Relaxed) {
                if let Err(e) = Python::attach(|py| py.check_signals()) {
                    stash(e);
                    flag.store(true, std::sync::atomic::Ordering::Relaxed);
                }
            }
        }
        match handle.join() {
            Ok(r) => r,
            Err(p) => std::panic::resume_unwind(p),
        }
    })
}

/// The `Settings` from the dict `_sgd.py` builds.
fn parse_settings(settings: &Bound<'_, PyDict>) -> PyResult<Settings> {
    let get = |k: &str| -> PyResult<Bound<'_, PyAny>> {
        settings.get_item(k)?.ok_or_else(|| PyValueError::new_err(format!("internal error: settings lacks {k}")))
    };
    Ok(Settings {
        loss: sgd_loss(&get("loss")?.extract::<String>()?, get("epsilon")?.extract()?)?,
        alpha: get("alpha")?.extract()?,
        l1_ratio: get("l1_ratio")?.extract()?,
        penalized: get("penalized")?.extract()?,
        fit_intercept: get("fit_intercept")?.extract()?,
        schedule: sgd_schedule(&get("learning_rate")?.extract::<String>()?)?,
        eta0: get("eta0")?.extract()?,
        power_t: get("power_t")?.extract()?,
        average: get("average")?.extract()?,
        shuffle: get("shuffle")?.extract()?,
        seed: 0,
        max_epochs: get("max_iter")?.extract()?,
        tol: get("tol")?.extract()?,
        n_iter_no_change: get("n_iter_no_change")?.extract()?,
        batch_size: get("batch_size")?.extract()?,
        track_loss: get("track_loss")?.extract()?,
    })
}

/// _learn_sgd_softmax_fit(X, codes, class_weights (K,), sample_weight, rows, val_rows,
/// settings, seed, coef (K, d), intercept (K,), t, progress) -> (coef, intercept,
/// n_iter, t, stop, error): multinomial SGD (see `sgd::train_softmax`).
#[pyfunction]
#[pyo3(signature = (x, codes, class_weights, sample_weight, rows, val_rows, settings, seed, coef, intercept, t, progress))]
pub(crate) fn _learn_sgd_softmax_fit<'py>(
    py: Python<'py>,
    x: &Bound<'py, PyAny>,
    codes: PyReadonlyArray1<'py, u32>,
    class_weights: PyReadonlyArray1<'py, f64>,
    sample_weight: Option<PyReadonlyArray1<'py, f64>>,
    rows: PyReadonlyArray1<'py, u32>,
    val_rows: PyReadonlyArray1<'py, u32>,
    settings: &Bound<'py, PyDict>,
    seed: u64,
    coef: PyReadonlyArray2<'py, f64>,
    intercept: PyReadonlyArray1<'py, f64>,
    t: f64,
    progress: Option<Bound<'py, PyAny>>,
) -> PyResult<Bound<'py, PyTuple>> {
    let xa = FloatArray::extract(x, "X", 2)?;
    let (n, d) = (xa.shape[0], xa.shape[1]);
    let k = intercept.len();
    if coef.shape() != [k, d] || codes.len() != n {
        return Err(PyValueError::new_err("internal error: coef, intercept and codes disagree with X"));
    }
    let s = Settings { seed, ..parse_settings(settings)? };
    let sw = match &sample_weight {
        Some(w) => Some(w.as_slice()?),
        None => None,
    };
    let (codes, cw, rows, vrows) =
        (codes.as_slice()?, class_weights.as_slice()?, rows.as_slice()?, val_rows.as_slice()?);
    let (c0, b0) = (coef.as_slice()?, intercept.as_slice()?);
    let progress = progress.map(|p| p.unbind());
    let failure: std::sync::Mutex<Option<PyErr>> = std::sync::Mutex::new(None);
    let stash = |e: PyErr| {
        let mut f = failure.lock().unwrap_or_else(|p| p.into_inner());
        if f.is_none() {
            *f = Some(e);
        }
    };
    let interrupted = std::sync::atomic::AtomicBool::new(false);
    let poll = || !interrupted.load(std::sync::atomic::Ordering::Relaxed);
    let mut on_epoch = |e: &Epoch| -> bool {
        if !poll() {
            return false;
        }
        Python::attach(|py| match &progress {
            None => true,
            Some(f) => match f.bind(py).call1((0usize, e.epoch, e.loss, e.objective, e.score, e.eta)) {
                Ok(r) => r.is_none() || r.is_truthy().unwrap_or(true),
                Err(err) => {
                    stash(err);
                    false
                }
            },
        })
    };
    let threads = num_threads();
    let validation = (!vrows.is_empty()).then_some(vrows);
    let out = with_float!(xa.dtype, T => {
        let xs = xa.slice::<T>();
        let p = sgd::SoftmaxProblem { x: xs, d, codes, sw, class_weight: cw, rows };
        let mut st = sgd::SoftmaxState::<T>::new(k, d, c0, b0, t, s.eta0);
        let ended = py.detach(|| {
            watch_signals(&interrupted, &stash, || sgd::train_softmax(&p, &s, &mut st, validation, &mut on_epoch, &poll, threads))
        });
        ended.map(|e| {
            st.reset_scale();
            let coef: Vec<f64> = st.v.iter().map(|v| mlkern_core::Float::to_f64(*v)).collect();
            (coef, st.intercept.clone(), st.epochs as i64, st.t, e)
        })
    })
    .map_err(to_pyerr)?;
    let (cf, ic, iters, t_end, ended) = out;
    let stop = match ended {
        Ended::Converged => "converged",
        Ended::Stopped => "stopped",
        Ended::MaxEpochs => "max_iter",
    };
    let err = failure.into_inner().unwrap_or_else(|p| p.into_inner());
    let items: Vec<Bound<'py, PyAny>> = vec![
        cf.into_pyarray(py).reshape([k, d])?.into_any(),
        ic.into_pyarray(py).into_any(),
        iters.into_pyobject(py)?.into_any(),
        t_end.into_pyobject(py)?.into_any(),
        stop.into_pyobject(py)?.into_any(),
        match err {
            Some(e) => e.into_value(py).into_bound(py).into_any(),
            None => py.None().into_bound(py),
        },
    ];
    PyTuple::new(py, items)
}

fn sgd_loss(name: &str, epsilon: f64) -> PyResult<Loss> {
    Ok(match name {
        "hinge" => Loss::Hinge(1.0),
        "perceptron" => Loss::Hinge(0.0),
        "squared_hinge" => Loss::SquaredHinge(1.0),
        "log_loss" => Loss::Log,
        "modified_huber" => Loss::ModifiedHuber,
        "squared_error" => Loss::SquaredError,
        "huber" => Loss::Huber(epsilon),
        "epsilon_insensitive" => Loss::EpsilonInsensitive(epsilon),
        "squared_epsilon_insensitive" => Loss::SquaredEpsilonInsensitive(epsilon),
        _ => return Err(PyValueError::new_err(format!("unknown loss {name:?}"))),
    })
}

fn sgd_schedule(name: &str) -> PyResult<Schedule> {
    Ok(match name {
        "constant" => Schedule::Constant,
        "optimal" => Schedule::Optimal,
        "invscaling" => Schedule::InvScaling,
        "adaptive" => Schedule::Adaptive,
        _ => return Err(PyValueError::new_err(format!("unknown learning_rate {name:?}"))),
    })
}

/// _learn_sgd_fit(X, codes, values, positives, negative, class_weights, sample_weight,
/// rows, val_rows, settings: dict, seeds, coef, intercept, avg_coef, avg_intercept, t,
/// progress, classification) -> (coef, intercept, avg_coef, avg_intercept, n_iter (P,),
/// t, stop, error)
///
/// `P` independent problems on the same `X`, trained in parallel: for a classifier,
/// `codes` (uint32 class index per row) with problem `i` taking class
/// `positives[i]` as +1 and the rest as `negative`, weighted by `class_weights[i]` =
/// (positive, negative); for a regressor, `values` (one problem). `progress(problem,
/// epoch, loss, objective, score, eta)` runs after each epoch with the GIL; a false
/// return stops that problem. Ctrl-C stops the fit within 20 ms of the next poll.
#[pyfunction]
#[pyo3(signature = (x, codes, values, positives, negative, class_weights, sample_weight, rows, val_rows, settings, seeds, coef, intercept, avg_coef, avg_intercept, t, progress, classification))]
pub(crate) fn _learn_sgd_fit<'py>(
    py: Python<'py>,
    x: &Bound<'py, PyAny>,
    codes: Option<PyReadonlyArray1<'py, u32>>,
    values: Option<PyReadonlyArray1<'py, f64>>,
    positives: PyReadonlyArray1<'py, u32>,
    negative: f64,
    class_weights: PyReadonlyArray2<'py, f64>,
    sample_weight: Option<PyReadonlyArray1<'py, f64>>,
    rows: PyReadonlyArray1<'py, u32>,
    val_rows: PyReadonlyArray1<'py, u32>,
    settings: &Bound<'py, PyDict>,
    seeds: PyReadonlyArray1<'py, u64>,
    coef: PyReadonlyArray2<'py, f64>,
    intercept: PyReadonlyArray1<'py, f64>,
    avg_coef: PyReadonlyArray2<'py, f64>,
    avg_intercept: PyReadonlyArray1<'py, f64>,
    t: f64,
    progress: Option<Bound<'py, PyAny>>,
    classification: bool,
) -> PyResult<Bound<'py, PyTuple>> {
    let xa = FloatArray::extract(x, "X", 2)?;
    let (n, d) = (xa.shape[0], xa.shape[1]);
    let problems = positives.len();
    let same = |a: &[usize], b: [usize; 2], what: &str| -> PyResult<()> {
        if a != b {
            return Err(PyValueError::new_err(format!("internal error: {what} has shape {a:?}, expected {b:?}")));
        }
        Ok(())
    };
    same(class_weights.shape(), [problems, 2], "class_weights")?;
    same(coef.shape(), [problems, d], "coef")?;
    same(avg_coef.shape(), [problems, d], "avg_coef")?;
    let s = parse_settings(settings)?;
    let codes_s = match &codes {
        Some(c) => Some(c.as_slice()?),
        None => None,
    };
    let values_s = match &values {
        Some(v) => Some(v.as_slice()?),
        None => None,
    };
    let sw = match &sample_weight {
        Some(w) => Some(w.as_slice()?),
        None => None,
    };
    let (pos, cw) = (positives.as_slice()?, class_weights.as_slice()?);
    let targets: Vec<Targets<'_>> = match (codes_s, values_s) {
        (Some(c), None) if c.len() == n => {
            pos.iter().map(|&p| Targets::Classes { codes: c, positive: p, negative }).collect()
        }
        (None, Some(v)) if v.len() == n && problems == 1 => vec![Targets::Values(v)],
        _ => {
            return Err(PyValueError::new_err(
                "internal error: give codes (classifier) or values (regressor) for every row",
            ))
        }
    };
    let (rows, vrows, seeds) = (rows.as_slice()?, val_rows.as_slice()?, seeds.as_slice()?);
    let (c0, b0, a0, ab0) = (coef.as_slice()?, intercept.as_slice()?, avg_coef.as_slice()?, avg_intercept.as_slice()?);
    if seeds.len() != problems || b0.len() != problems || ab0.len() != problems {
        return Err(PyValueError::new_err("internal error: per-problem arrays disagree"));
    }
    let progress = progress.map(|p| p.unbind());
    let failure: std::sync::Mutex<Option<PyErr>> = std::sync::Mutex::new(None);
    let threads = num_threads();
    let validation = (!vrows.is_empty()).then_some((vrows, classification));
    let stash = |e: PyErr| {
        let mut f = failure.lock().unwrap_or_else(|p| p.into_inner());
        if f.is_none() {
            *f = Some(e);
        }
    };
    // The work runs on mlkern's pool; this thread watches for signals (only the
    // main thread sees them) and raises `interrupted`, which the workers poll.
    let interrupted = std::sync::atomic::AtomicBool::new(false);
    let poll = || !interrupted.load(std::sync::atomic::Ordering::Relaxed);
    let on_epoch = |i: usize, e: &Epoch| -> bool {
        if !poll() || failure.lock().unwrap_or_else(|p| p.into_inner()).is_some() {
            return false;
        }
        Python::attach(|py| match &progress {
            None => true,
            Some(f) => match f.bind(py).call1((i, e.epoch, e.loss, e.objective, e.score, e.eta)) {
                Ok(r) => r.is_none() || r.is_truthy().unwrap_or(true),
                Err(err) => {
                    stash(err);
                    false
                }
            },
        })
    };
    let result = with_float!(xa.dtype, T => {
        let xs = xa.slice::<T>();
        let probs: Vec<sgd::Problem<'_, T>> = (0..problems)
            .map(|i| sgd::Problem { x: xs, d, targets: targets[i], sw, class_weight: (cw[2 * i], cw[2 * i + 1]), rows })
            .collect();
        let mut states: Vec<sgd::State<T>> = (0..problems)
            .map(|i| {
                sgd::State::new(d, Some(&c0[i * d..(i + 1) * d]), b0[i], Some((&a0[i * d..(i + 1) * d], ab0[i])), t, s.eta0)
            })
            .collect();
        let ended = py.detach(|| {
            watch_signals(&interrupted, &stash, || sgd::train_all(&probs, &s, seeds, &mut states, validation, &on_epoch, &poll, threads))
        });
        ended.map(|ended| {
            let mut out = (Vec::with_capacity(problems * d), Vec::new(), Vec::with_capacity(problems * d), Vec::new(), Vec::new(), 0.0);
            for st in states.iter_mut() {
                st.reset_scale();
                out.0.extend(st.weights());
                out.1.push(st.intercept);
                out.2.extend(st.averaged());
                out.3.push(st.average_intercept);
                out.4.push(st.epochs as i64);
                out.5 = st.t;
            }
            (out, ended)
        })
    })
    .map_err(to_pyerr)?;
    let ((cf, ic, ac, ai, iters, t_end), ended) = result;
    let stop = if ended.iter().all(|e| *e == Ended::Converged) {
        "converged"
    } else if ended.contains(&Ended::Stopped) {
        "stopped"
    } else {
        "max_iter"
    };
    let err = failure.into_inner().unwrap_or_else(|p| p.into_inner());
    let items: Vec<Bound<'py, PyAny>> = vec![
        cf.into_pyarray(py).reshape([problems, d])?.into_any(),
        ic.into_pyarray(py).into_any(),
        ac.into_pyarray(py).reshape([problems, d])?.into_any(),
        ai.into_pyarray(py).into_any(),
        iters.into_pyarray(py).into_any(),
        t_end.into_pyobject(py)?.into_any(),
        stop.into_pyobject(py)?.into_any(),
        match err {
            Some(e) => e.into_value(py).into_bound(py).into_any(),
            None => py.None().into_bound(py),
        },
    ];
    PyTuple::new(py, items)
}
