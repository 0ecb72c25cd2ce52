//! `mlkern.conformal`: the kernels behind `python/mlkern/conformal.py`, which
//! converts labels, groups and regression arrays (int64 / float64, C-contiguous),
//! broadcasts thresholds and shapes results. Probabilities are borrowed as float32
//! or float64 without a copy. Calls on more than a few thousand entries release the
//! GIL.

use mlkern_conformal::online::StreamingCalibrator as Calibrator;
use mlkern_conformal::probs::ProbMatrix;
use mlkern_conformal::regression::{self, Score};
use mlkern_conformal::scores::{self, ScoreParams};
use mlkern_conformal::sets::{self, SetParams, SetsOut, Threshold};
use mlkern_conformal::{quantile, uncertainty, Method, Regularization};
use numpy::PyReadonlyArray1;
use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::PyTuple;

use crate::arrays::{new_array, with_float, DType, FloatArray};
use crate::errors::to_pyerr;

/// Runs `f` without the GIL when the call touches more than `4096` entries (below
/// that, releasing and taking the GIL back costs more than it frees).
fn maybe_detach<R: Send>(py: Python<'_>, entries: usize, f: impl FnOnce() -> R + Send) -> R {
    if entries > 4096 {
        py.detach(f)
    } else {
        f()
    }
}

fn params(method: &str, lambda_: f64, k_reg: usize) -> PyResult<(Method, Regularization)> {
    let method = Method::from_name(method).map_err(to_pyerr)?;
    let reg = if method == Method::Raps {
        Regularization::new(lambda_, k_reg).map_err(to_pyerr)?
    } else {
        Regularization::NONE
    };
    Ok((method, reg))
}

/// _conformity_scores(probs, labels, method, lambda_, k_reg, seed) -> (n,) float64
#[pyfunction]
#[pyo3(signature = (probs, labels, method, lambda_, k_reg, seed))]
pub(crate) fn _conformity_scores<'py>(
    py: Python<'py>,
    probs: &Bound<'py, PyAny>,
    labels: PyReadonlyArray1<'py, i64>,
    method: &str,
    lambda_: f64,
    k_reg: usize,
    seed: Option<u64>,
) -> PyResult<Bound<'py, PyAny>> {
    let (method, reg) = params(method, lambda_, k_reg)?;
    let p = FloatArray::extract(probs, "probs", 2)?;
    let labels = labels.as_slice()?;
    let (n, k) = (p.shape[0], p.shape[1]);
    let (arr, out) = new_array::<f64>(py, [n, 1])?;
    let sp = ScoreParams { method, reg, randomized: seed };
    with_float!(p.dtype, T => {
        let m = ProbMatrix::new(p.slice::<T>(), n, k).map_err(to_pyerr)?;
        maybe_detach(py, n.saturating_mul(k), || scores::conformity_scores(m, labels, &sp, out)).map_err(to_pyerr)?;
    });
    Ok(arr)
}

/// _predict_sets(probs, threshold, kind, method, lambda_, k_reg, seed, packed, argmax)
/// -> (n, K) bool, or (n, ceil(K / 8)) uint8 when packed; with `argmax`, the tuple
/// (sets, (n,) int64 most probable labels). `kind` says how the float64
/// `threshold` broadcasts: "scalar", "class", "row" or "entry".
#[pyfunction]
#[pyo3(signature = (probs, threshold, kind, method, lambda_, k_reg, seed, packed, argmax=false))]
pub(crate) fn _predict_sets<'py>(
    py: Python<'py>,
    probs: &Bound<'py, PyAny>,
    threshold: PyReadonlyArray1<'py, f64>,
    kind: &str,
    method: &str,
    lambda_: f64,
    k_reg: usize,
    seed: Option<u64>,
    packed: bool,
    argmax: bool,
) -> PyResult<Bound<'py, PyAny>> {
    let (method, reg) = params(method, lambda_, k_reg)?;
    let p = FloatArray::extract(probs, "probs", 2)?;
    let (n, k) = (p.shape[0], p.shape[1]);
    let q = threshold.as_slice()?;
    let q = match kind {
        "scalar" => Threshold::Scalar(*q.first().ok_or_else(|| PyValueError::new_err("threshold: empty"))?),
        "class" => Threshold::PerClass(q),
        "row" => Threshold::PerRow(q),
        "entry" => Threshold::PerEntry(q),
        _ => return Err(PyValueError::new_err(format!("internal: threshold kind {kind:?}"))),
    };
    let sp = SetParams { method, reg, randomized: seed };
    let (arr, bytes): (Bound<'py, PyAny>, &mut [u8]) = if packed {
        new_array::<u8>(py, [n, k.div_ceil(8)])?
    } else {
        let (arr, b) = new_array::<bool>(py, [n, k])?;
        // SAFETY: bool and u8 have the same size and alignment; the slice is zeroed
        // (valid `false`) and the kernels store only 0 and 1, both valid bools.
        let b = unsafe { std::slice::from_raw_parts_mut(b.as_mut_ptr() as *mut u8, b.len()) };
        (arr, b)
    };
    let (labels_arr, labels) = if argmax {
        let (a, l) = new_array::<i64>(py, [n, 1])?;
        (Some(a), Some(l))
    } else {
        (None, None)
    };
    with_float!(p.dtype, T => {
        let m = ProbMatrix::new(p.slice::<T>(), n, k).map_err(to_pyerr)?;
        let out = if packed { SetsOut::Packed(bytes) } else { SetsOut::Bytes(bytes) };
        maybe_detach(py, n.saturating_mul(k), || sets::predict_sets(m, q, &sp, out, labels)).map_err(to_pyerr)?;
    });
    match labels_arr {
        Some(l) => Ok(PyTuple::new(py, [arr, l.call_method1("reshape", (n,))?])?.into_any()),
        None => Ok(arr),
    }
}

/// _conformal_quantile(scores, levels) -> ((L,) float64, number of +inf levels)
#[pyfunction]
pub(crate) fn _conformal_quantile<'py>(
    py: Python<'py>,
    scores: PyReadonlyArray1<'py, f64>,
    levels: PyReadonlyArray1<'py, f64>,
) -> PyResult<Bound<'py, PyTuple>> {
    let (s, l) = (scores.as_slice()?, levels.as_slice()?);
    let (arr, out) = new_array::<f64>(py, [l.len(), 1])?;
    let inf = maybe_detach(py, s.len(), || quantile::conformal_quantile(s, l, out)).map_err(to_pyerr)?;
    PyTuple::new(py, [arr, inf.into_pyobject(py)?.into_any()])
}

/// _group_quantiles(scores, groups, levels) -> (groups (G,), (G, L) float64, n_inf)
#[pyfunction]
pub(crate) fn _group_quantiles<'py>(
    py: Python<'py>,
    scores: PyReadonlyArray1<'py, f64>,
    groups: PyReadonlyArray1<'py, i64>,
    levels: PyReadonlyArray1<'py, f64>,
) -> PyResult<Bound<'py, PyTuple>> {
    let (s, g, l) = (scores.as_slice()?, groups.as_slice()?, levels.as_slice()?);
    let (ids, values, inf) = maybe_detach(py, s.len(), || quantile::group_quantiles(s, g, l)).map_err(to_pyerr)?;
    let (ga, gd) = new_array::<i64>(py, [ids.len(), 1])?;
    gd.copy_from_slice(&ids);
    let (va, vd) = new_array::<f64>(py, [ids.len(), l.len()])?;
    vd.copy_from_slice(&values);
    PyTuple::new(py, [ga, va, inf.into_pyobject(py)?.into_any()])
}

/// _regression_scores(kind, y, a, b) -> (n,) float64; kind "absolute" (b None),
/// "normalized" (b = sigma) or "cqr" (a, b = lower, upper predictions)
#[pyfunction]
#[pyo3(signature = (kind, y, a, b))]
pub(crate) fn _regression_scores<'py>(
    py: Python<'py>,
    kind: &str,
    y: PyReadonlyArray1<'py, f64>,
    a: PyReadonlyArray1<'py, f64>,
    b: Option<PyReadonlyArray1<'py, f64>>,
) -> PyResult<Bound<'py, PyAny>> {
    let score = match kind {
        "absolute" => Score::Absolute,
        "normalized" => Score::Normalized,
        "cqr" => Score::Cqr,
        _ => return Err(PyValueError::new_err(format!("internal: regression score {kind:?}"))),
    };
    let (y, a) = (y.as_slice()?, a.as_slice()?);
    let b = match &b {
        Some(b) => Some(b.as_slice()?),
        None => None,
    };
    let (arr, out) = new_array::<f64>(py, [a.len(), 1])?;
    maybe_detach(py, a.len(), || regression::scores(score, y, a, b, out)).map_err(to_pyerr)?;
    Ok(arr)
}

/// _cqr_side_scores(y, lower, upper) -> (lower - y, y - upper)
#[pyfunction]
pub(crate) fn _cqr_side_scores<'py>(
    py: Python<'py>,
    y: PyReadonlyArray1<'py, f64>,
    lower: PyReadonlyArray1<'py, f64>,
    upper: PyReadonlyArray1<'py, f64>,
) -> PyResult<Bound<'py, PyTuple>> {
    let (y, lo, hi) = (y.as_slice()?, lower.as_slice()?, upper.as_slice()?);
    let (la, ld) = new_array::<f64>(py, [lo.len(), 1])?;
    let (ua, ud) = new_array::<f64>(py, [lo.len(), 1])?;
    regression::cqr_side_scores(y, lo, hi, ld, ud).map_err(to_pyerr)?;
    PyTuple::new(py, [la, ua])
}

/// _cqr_side_rank(n, level) -> the rank of each CQR side (asymmetric), or None
#[pyfunction]
pub(crate) fn _cqr_side_rank(n: usize, level: f64) -> PyResult<Option<usize>> {
    quantile::check_level(level).map_err(to_pyerr)?;
    Ok(regression::cqr_side_rank(n, level))
}

/// _order_statistic(scores, k) -> the k-th smallest (1-based), +inf for None
#[pyfunction]
#[pyo3(signature = (scores, k))]
pub(crate) fn _order_statistic(scores: PyReadonlyArray1<'_, f64>, k: Option<usize>) -> PyResult<f64> {
    regression::order_statistic(scores.as_slice()?, k).map_err(to_pyerr)
}

/// _intervals(a, b, scale, lo, hi) -> (n, 2 L) float64: [a + lo·s | b + hi·s]
#[pyfunction]
#[pyo3(signature = (a, b, scale, lo, hi))]
pub(crate) fn _intervals<'py>(
    py: Python<'py>,
    a: PyReadonlyArray1<'py, f64>,
    b: PyReadonlyArray1<'py, f64>,
    scale: Option<PyReadonlyArray1<'py, f64>>,
    lo: PyReadonlyArray1<'py, f64>,
    hi: PyReadonlyArray1<'py, f64>,
) -> PyResult<Bound<'py, PyAny>> {
    let (a, b, lo, hi) = (a.as_slice()?, b.as_slice()?, lo.as_slice()?, hi.as_slice()?);
    let s = match &scale {
        Some(s) => Some(s.as_slice()?),
        None => None,
    };
    let (arr, out) = new_array::<f64>(py, [a.len(), 2 * lo.len()])?;
    maybe_detach(py, a.len(), || regression::intervals(a, b, s, lo, hi, out)).map_err(to_pyerr)?;
    Ok(arr)
}

/// _entropy(probs, scale) -> (n,) float64
#[pyfunction]
pub(crate) fn _entropy<'py>(py: Python<'py>, probs: &Bound<'py, PyAny>, scale: f64) -> PyResult<Bound<'py, PyAny>> {
    let p = FloatArray::extract(probs, "probs", 2)?;
    let (n, k) = (p.shape[0], p.shape[1]);
    let (arr, out) = new_array::<f64>(py, [n, 1])?;
    with_float!(p.dtype, T => {
        let m = ProbMatrix::new(p.slice::<T>(), n, k).map_err(to_pyerr)?;
        maybe_detach(py, n.saturating_mul(k), || uncertainty::entropy(m, scale, out)).map_err(to_pyerr)?;
    });
    Ok(arr)
}

/// _margin(probs) -> (n,) float64
#[pyfunction]
pub(crate) fn _margin<'py>(py: Python<'py>, probs: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyAny>> {
    let p = FloatArray::extract(probs, "probs", 2)?;
    let (n, k) = (p.shape[0], p.shape[1]);
    let (arr, out) = new_array::<f64>(py, [n, 1])?;
    with_float!(p.dtype, T => {
        let m = ProbMatrix::new(p.slice::<T>(), n, k).map_err(to_pyerr)?;
        maybe_detach(py, n.saturating_mul(k), || uncertainty::margin(m, out)).map_err(to_pyerr)?;
    });
    Ok(arr)
}

/// _ensemble_uncertainty(probs (m·n, K), m, scale) -> (3, n) float64
#[pyfunction]
pub(crate) fn _ensemble_uncertainty<'py>(
    py: Python<'py>,
    probs: &Bound<'py, PyAny>,
    m: usize,
    scale: f64,
) -> PyResult<Bound<'py, PyAny>> {
    let p = FloatArray::extract(probs, "probs", 2)?;
    let (rows, k) = (p.shape[0], p.shape[1]);
    if m == 0 || !rows.is_multiple_of(m) {
        return Err(PyValueError::new_err("probs: an ensemble needs at least one member"));
    }
    let n = rows / m;
    let (arr, out) = new_array::<f64>(py, [3, n])?;
    with_float!(p.dtype, T => {
        let d = p.slice::<T>();
        maybe_detach(py, rows.saturating_mul(k), || uncertainty::ensemble(d, m, n, k, scale, out)).map_err(to_pyerr)?;
    });
    Ok(arr)
}

/// A streaming conformal calibrator: ``add`` scores as they arrive (O(log n) each),
/// ask ``quantile(confidence_level)`` at any time.
#[pyclass(module = "mlkern._mlkern")]
#[derive(Debug, Default)]
pub(crate) struct StreamingCalibrator {
    inner: Calibrator,
}

#[pymethods]
impl StreamingCalibrator {
    #[new]
    fn new() -> Self {
        Self::default()
    }

    /// add(scores): adds one score (a real number) or a 1-D array of them (any real
    /// dtype, converted to float64). NaN anywhere: nothing is added.
    fn add(&mut self, scores: &Bound<'_, PyAny>) -> PyResult<()> {
        let py = scores.py();
        if scores.is_instance_of::<pyo3::types::PyBool>() {
            return Err(PyTypeError::new_err("scores must be real numbers, got a bool"));
        }
        if let Ok(v) = scores.extract::<f64>() {
            return self.inner.add(v).map_err(to_pyerr);
        }
        let converted = py
            .import("numpy")?
            .call_method1("ascontiguousarray", (scores, "float64"))
            .map_err(|e| PyTypeError::new_err(format!("scores must be a real number or a 1-D array of them: {e}")))?;
        let arr: PyReadonlyArray1<'_, f64> = converted
            .extract()
            .map_err(|_| PyValueError::new_err("scores must be a real number or a 1-D array of them"))?;
        let s = arr.as_slice()?;
        if let Some(i) = s.iter().position(|v| v.is_nan()) {
            return Err(PyValueError::new_err(format!("scores: scores[{i}] is NaN (nothing was added)")));
        }
        s.iter().try_for_each(|&v| self.inner.add(v)).map_err(to_pyerr)
    }

    /// quantile(confidence_level) -> the ⌈(n + 1)·level⌉-th smallest score so far
    /// (+inf when n is too small for the level).
    fn quantile(&self, confidence_level: f64) -> PyResult<f64> {
        self.inner.quantile(confidence_level).map_err(to_pyerr)
    }

    fn __len__(&self) -> usize {
        self.inner.len()
    }

    /// The scores in increasing order (float64 array).
    fn sorted_scores<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let s = self.inner.sorted();
        let (arr, out) = new_array::<f64>(py, [s.len(), 1])?;
        out.copy_from_slice(&s);
        arr.call_method1("reshape", (s.len(),))
    }

    fn __getstate__<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        self.sorted_scores(py)
    }

    fn __setstate__(&mut self, state: &Bound<'_, PyAny>) -> PyResult<()> {
        let mut fresh = StreamingCalibrator::default();
        fresh.add(state)?;
        *self = fresh;
        Ok(())
    }

    fn __repr__(&self) -> String {
        format!("StreamingCalibrator(n_scores={})", self.inner.len())
    }
}
