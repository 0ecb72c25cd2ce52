//! `mlkern.learn`'s multi-layer perceptrons: one training epoch and the forward
//! pass (`python/mlkern/learn/_mlp.py` runs scikit-learn's epoch loop around
//! them). The parameters and the optimiser state are NumPy arrays owned by the
//! estimator and updated in place; `X` is borrowed without a copy; both release
//! the GIL.

use mlkern_core::threads::num_threads;
use mlkern_core::Float;
use mlkern_learn::dispatch::LearnFloat;
use mlkern_learn::mlp::{self, Activation, Data, EpochEnd, Head, Net, OptState, Scratch, Settings, Solver};
use numpy::{
    Element, IntoPyArray, PyArray1, PyArrayMethods, PyReadonlyArray1, PyReadonlyArray2, PyUntypedArrayMethods,
};
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::PyTuple;

use crate::arrays::{new_array_for_overwrite, overlaps, with_float, DType, FloatArray, NpyFloat};
use crate::errors::to_pyerr;
use crate::learn::{maybe_detach, watch_signals};

fn activation(name: &str) -> PyResult<Activation> {
    Ok(match name {
        "identity" => Activation::Identity,
        "logistic" => Activation::Logistic,
        "tanh" => Activation::Tanh,
        "relu" => Activation::Relu,
        _ => return Err(PyValueError::new_err(format!("unknown activation {name:?}"))),
    })
}

fn head(name: &str) -> PyResult<Head> {
    Ok(match name {
        "identity" => Head::Identity,
        "exp" => Head::Exp,
        "logistic" => Head::Logistic,
        "softmax" => Head::Softmax,
        _ => return Err(PyValueError::new_err(format!("unknown output activation {name:?}"))),
    })
}

fn solver(name: &str, h: (f64, f64, f64, f64)) -> PyResult<Solver> {
    Ok(match name {
        "adam" => Solver::Adam { learning_rate_init: h.0, beta_1: h.1, beta_2: h.2, epsilon: h.3 },
        "sgd" => Solver::Sgd { learning_rate: h.0, momentum: h.1, nesterov: h.2 != 0.0 },
        _ => return Err(PyValueError::new_err(format!("unknown solver {name:?}"))),
    })
}

/// A writable, C-contiguous 1-D array of `T` (the estimator's own buffers).
fn buffer<'py, T: Element>(obj: &Bound<'py, PyAny>, name: &str) -> PyResult<numpy::PyReadwriteArray1<'py, T>> {
    let arr = obj
        .cast::<PyArray1<T>>()
        .map_err(|_| PyValueError::new_err(format!("internal error: {name} is not a 1-D array of X's dtype")))?;
    arr.try_readwrite().map_err(|_| PyValueError::new_err(format!("internal error: {name} is not writable")))
}

/// _learn_mlp_epoch(X, Y, sample_weight, order, units, activation, head, alpha,
/// batch_size, solver, hyper, params, m, v, t) -> (accumulated loss or None when
/// interrupted, t, error): one epoch of `mlp::epoch`, in place on params/m/v.
#[pyfunction]
#[pyo3(signature = (x, y, sample_weight, order, units, activation_name, head_name, alpha, batch_size, solver_name, hyper, params, m, v, t))]
#[allow(clippy::too_many_arguments)]
pub(crate) fn _learn_mlp_epoch<'py>(
    py: Python<'py>,
    x: &Bound<'py, PyAny>,
    y: &Bound<'py, PyAny>,
    sample_weight: Option<&Bound<'py, PyAny>>,
    order: PyReadonlyArray1<'py, u32>,
    units: Vec<usize>,
    activation_name: &str,
    head_name: &str,
    alpha: f64,
    batch_size: usize,
    solver_name: &str,
    hyper: (f64, f64, f64, f64),
    params: &Bound<'py, PyAny>,
    m: &Bound<'py, PyAny>,
    v: &Bound<'py, PyAny>,
    t: u64,
) -> PyResult<Bound<'py, PyTuple>> {
    let xa = FloatArray::extract(x, "X", 2)?;
    let n = xa.shape[0];
    let net = Net { units: &units, hidden: activation(activation_name)?, head: head(head_name)? };
    let s = Settings { alpha, batch_size, solver: solver(solver_name, hyper)? };
    let order = order.as_slice()?;
    let threads = num_threads();
    let failure: std::sync::Mutex<Option<PyErr>> = std::sync::Mutex::new(None);
    let stash = |e: PyErr| {
        let mut f = failure.lock().unwrap_or_else(|p| p.into_inner());
        if f.is_none() {
            *f = Some(e);
        }
    };
    let interrupted = std::sync::atomic::AtomicBool::new(false);
    let poll = || !interrupted.load(std::sync::atomic::Ordering::Relaxed);
    let (end, t) = with_float!(xa.dtype, T => {
        run_epoch::<T>(py, &xa, y, sample_weight, n, order, &net, &s, params, m, v, t, threads, &interrupted, &stash, &poll)?
    });
    let err = failure.into_inner().unwrap_or_else(|p| p.into_inner());
    let loss = match end {
        EpochEnd::Done(l) => l.into_pyobject(py)?.into_any(),
        EpochEnd::Stopped => py.None().into_bound(py),
    };
    let items: Vec<Bound<'py, PyAny>> = vec![
        loss,
        t.into_pyobject(py)?.into_any(),
        match err {
            Some(e) => e.into_value(py).into_bound(py).into_any(),
            None => py.None().into_bound(py),
        },
    ];
    PyTuple::new(py, items)
}

#[allow(clippy::too_many_arguments)]
fn run_epoch<'py, T: LearnFloat + NpyFloat>(
    py: Python<'py>,
    xa: &FloatArray<'py>,
    y: &Bound<'py, PyAny>,
    sample_weight: Option<&Bound<'py, PyAny>>,
    n: usize,
    order: &[u32],
    net: &Net<'_>,
    s: &Settings,
    params: &Bound<'py, PyAny>,
    m: &Bound<'py, PyAny>,
    v: &Bound<'py, PyAny>,
    t: u64,
    threads: usize,
    interrupted: &std::sync::atomic::AtomicBool,
    stash: &(dyn Fn(PyErr) + Sync),
    poll: &(dyn Fn() -> bool + Sync),
) -> PyResult<(EpochEnd, u64)> {
    let ya: PyReadonlyArray2<'py, T> =
        y.extract().map_err(|_| PyValueError::new_err("internal error: Y must be a 2-D array of X's dtype"))?;
    let swa: Option<PyReadonlyArray1<'py, T>> = match sample_weight {
        Some(w) => Some(w.extract().map_err(|_| PyValueError::new_err("internal error: sample_weight dtype"))?),
        None => None,
    };
    if ya.shape()[0] != n {
        return Err(PyValueError::new_err("internal error: Y and X disagree"));
    }
    let (mut pw, mut mw, mut vw) = (buffer::<T>(params, "params")?, buffer::<T>(m, "m")?, buffer::<T>(v, "v")?);
    // X is borrowed without NumPy's borrow flag: it must not share memory with the
    // buffers this epoch writes (for example X = est.coefs_[0]).
    let range = |a: &numpy::PyReadwriteArray1<'py, T>| {
        let start = a.as_array().as_ptr() as usize;
        (start, start + a.len() * std::mem::size_of::<T>())
    };
    let x_range = xa.byte_range();
    for (r, name) in [
        (range(&pw), "the network's parameters"),
        (range(&mw), "the optimiser state"),
        (range(&vw), "the optimiser state"),
    ] {
        if overlaps(x_range, r) {
            return Err(PyValueError::new_err(format!("X shares memory with {name}; pass a copy of X")));
        }
    }
    let data = Data {
        x: xa.slice::<T>(),
        y: ya.as_slice()?,
        sw: match &swa {
            Some(w) => Some(w.as_slice()?),
            None => None,
        },
        n,
    };
    let (p, ms, vs) = (pw.as_slice_mut()?, mw.as_slice_mut()?, vw.as_slice_mut()?);
    let mut scratch = Scratch::<T>::new(net, s.batch_size.min(order.len().max(1))).map_err(to_pyerr)?;
    let mut opt = OptState { m: ms, v: vs, t };
    let end = py
        .detach(|| {
            watch_signals(interrupted, stash, || {
                mlp::epoch(net, &data, order, s, p, &mut opt, &mut scratch, threads, poll)
            })
        })
        .map_err(to_pyerr)?;
    Ok((end, opt.t))
}

/// _learn_mlp_predict(X, units, activation, head, params, mode) -> the network's
/// outputs in X's dtype: `mode="raw"` the head's values `(n, n_outputs)`;
/// `"proba"` the same, but `(n, 2)` columns `[1 - p, p]` for one logistic output;
/// `"labels"` int64 class indices (`p > 0.5` for one output, else the argmax).
#[pyfunction]
pub(crate) fn _learn_mlp_predict<'py>(
    py: Python<'py>,
    x: &Bound<'py, PyAny>,
    units: Vec<usize>,
    activation_name: &str,
    head_name: &str,
    params: &Bound<'py, PyAny>,
    mode: &str,
) -> PyResult<Bound<'py, PyAny>> {
    let xa = FloatArray::extract(x, "X", 2)?;
    let (n, d) = (xa.shape[0], xa.shape[1]);
    if units.first() != Some(&d) {
        return Err(PyValueError::new_err(format!(
            "X has {d} features, but the network is expecting {} features as input",
            units.first().copied().unwrap_or(0)
        )));
    }
    let net = Net { units: &units, hidden: activation(activation_name)?, head: head(head_name)? };
    let k = *units.last().unwrap_or(&1);
    let threads = num_threads();
    let nan = || PyValueError::new_err("Input X contains NaN or infinity.");
    with_float!(xa.dtype, T => {
        let pr = params
            .cast::<PyArray1<T>>()
            .map_err(|_| PyValueError::new_err("internal error: params is not a 1-D array of X's dtype"))?
            .try_readonly()
            .map_err(|_| PyValueError::new_err("internal error: params is being written"))?;
        let ps = pr.as_slice()?;
        let xs = xa.slice::<T>();
        let work = n.saturating_mul(ps.len());
        match mode {
            "raw" | "proba" => {
                let two = mode == "proba" && k == 1 && net.head == Head::Logistic;
                let (arr, out) = new_array_for_overwrite::<T>(py, [n, if two { 2 } else { k }])?;
                let bad = maybe_detach(py, work, || {
                    let r = mlp::predict(&net, ps, xs, n, &mut out[..n * k], threads);
                    if two {
                        // In place, from the last row back: row r's p sits at r ≤ 2r.
                        for r in (0..n).rev() {
                            let p = out[r];
                            out[2 * r] = T::ONE - p;
                            out[2 * r + 1] = p;
                        }
                    }
                    r
                })
                .map_err(to_pyerr)?;
                if bad.is_some() {
                    return Err(nan());
                }
                Ok(arr)
            }
            "labels" => {
                let mut raw = vec![T::ZERO; n * k];
                let bad = maybe_detach(py, work, || mlp::predict(&net, ps, xs, n, &mut raw, threads)).map_err(to_pyerr)?;
                if bad.is_some() {
                    return Err(nan());
                }
                let labels: Vec<i64> = if k == 1 {
                    raw.iter().map(|&p| i64::from(p.to_f64() > 0.5)).collect()
                } else {
                    raw.chunks_exact(k)
                        .map(|row| {
                            let mut best = 0;
                            for (c, v) in row.iter().enumerate() {
                                if v.to_f64() > row[best].to_f64() {
                                    best = c;
                                }
                            }
                            best as i64
                        })
                        .collect()
                };
                Ok(labels.into_pyarray(py).into_any())
            }
            _ => Err(PyValueError::new_err(format!("internal error: unknown mode {mode:?}"))),
        }
    })
}
