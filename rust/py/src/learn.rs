//! `mlkern.learn`: the kernels behind `python/mlkern/learn.py`, which validates
//! estimator parameters, encodes labels (class indices as uint32) and shapes the
//! fitted attributes. `X` is borrowed as float32 or float64 without a copy when
//! C-contiguous; fits and batch predictions release the GIL.

use mlkern_core::threads::num_threads;
use mlkern_learn::kernels::Output;
use mlkern_learn::lbfgs::{Options, Stop};
use mlkern_learn::predict::{self, Linear};
use mlkern_learn::{linear, logistic};
use numpy::{IntoPyArray, PyArrayMethods, PyReadonlyArray1, PyReadonlyArray2, PyUntypedArrayMethods};
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::PyTuple;

use crate::arrays::{new_array_for_overwrite, with_float, DType, FloatArray};
use crate::errors::to_pyerr;

/// Runs `f` without the GIL when the call touches more than `4096` values.
fn maybe_detach<R: Send>(py: Python<'_>, values: usize, f: impl FnOnce() -> R + Send) -> R {
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
