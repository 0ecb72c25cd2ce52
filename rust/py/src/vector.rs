//! `mlkern.vector`: dot, norm, cosine, sqeuclidean, cdist, topk.
//!
//! Each function extracts and checks its arguments with the GIL held, then runs the
//! core kernel with the GIL released when the work exceeds [`GIL_RELEASE_MIN`]
//! elements (below that, releasing costs more than it frees).

use mlkern_core::vector::{self, Metric};
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::PyTuple;

use crate::arrays::{new_array, numpy_scalar, pair, same_dtype, with_float, DType, FloatArray, NpyFloat, OutArray};
use crate::errors::to_pyerr;

/// Elements of work from which the GIL is released.
const GIL_RELEASE_MIN: usize = 1 << 13;

/// Runs `f`, with the GIL released when `work` is large.
#[inline]
fn run<R: Send>(py: Python<'_>, work: usize, f: impl FnOnce() -> R + Send) -> R {
    if work >= GIL_RELEASE_MIN {
        py.detach(f)
    } else {
        f()
    }
}

fn pair_scalar<'py, T: NpyFloat>(
    py: Python<'py>,
    a: &FloatArray<'py>,
    b: &FloatArray<'py>,
    op: fn(&[T], &[T]) -> mlkern_core::Result<T>,
) -> PyResult<Bound<'py, PyAny>> {
    let (x, y) = (a.slice::<T>(), b.slice::<T>());
    let r = run(py, x.len(), || op(x, y)).map_err(to_pyerr)?;
    numpy_scalar(py, r)
}

fn two_vectors<'py>(
    a: &Bound<'py, PyAny>,
    b: &Bound<'py, PyAny>,
) -> PyResult<(FloatArray<'py>, FloatArray<'py>, DType)> {
    let a = FloatArray::extract(a, "a", 1)?;
    let b = FloatArray::extract(b, "b", 1)?;
    let dtype = same_dtype(&a, "a", &b, "b")?;
    Ok((a, b, dtype))
}

/// Dot product of two 1-D float32 or float64 arrays of equal length.
///
/// Parameters
/// ----------
/// a, b : array_like, 1-D, float32 or float64 (both the same dtype)
///     C-contiguous arrays are read in place; other layouts and sequences are
///     copied once into a contiguous array.
/// precise : bool, keyword-only
///     If True, use a compensated algorithm (Ogita–Rump–Oishi Dot2 for float64;
///     exact float64 products summed with TwoSum for float32) whose result is as
///     accurate as if computed in twice the precision: error at most
///     ``u*|a·b| + γ_n² Σ|a_i b_i|`` (``u`` the unit roundoff, ``γ_n = n u/(1-n u)``).
///     The default error bound is ``γ_n Σ|a_i b_i|``.
///
/// Returns
/// -------
/// numpy.float32 or numpy.float64
///     ``sum(a * b)``; NaN and inf propagate as in ``numpy.dot``; 0 for empty input.
///
/// Raises
/// ------
/// TypeError
///     If a dtype is not float32/float64 or the dtypes differ.
/// ValueError
///     If an input is not 1-D or the lengths differ.
///
/// Notes
/// -----
/// Vectors of 2**18 elements or more are split into fixed 256 KiB chunks summed in
/// order on mlkern's thread pool, so the result never depends on the thread count.
/// The GIL is released for vectors of 8192 elements or more.
#[pyfunction]
#[pyo3(signature = (a, b, *, precise = false))]
pub(crate) fn dot<'py>(
    py: Python<'py>,
    a: &Bound<'py, PyAny>,
    b: &Bound<'py, PyAny>,
    precise: bool,
) -> PyResult<Bound<'py, PyAny>> {
    let (a, b, dtype) = two_vectors(a, b)?;
    with_float!(dtype, T => {
        if precise {
            pair_scalar::<T>(py, &a, &b, vector::dot_precise::<T>)
        } else {
            pair_scalar::<T>(py, &a, &b, vector::dot::<T>)
        }
    })
}

/// Euclidean norm ``sqrt(sum(a**2))`` of a 1-D float32 or float64 array.
///
/// Computed as ``numpy.linalg.norm`` does for 1-D input (``sqrt(dot(a, a))``), so it
/// overflows to inf exactly where NumPy's does. Returns a NumPy scalar of the input
/// dtype; 0 for an empty array.
#[pyfunction]
pub(crate) fn norm<'py>(py: Python<'py>, a: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyAny>> {
    let a = FloatArray::extract(a, "a", 1)?;
    with_float!(a.dtype, T => {
        let x = a.slice::<T>();
        let r = run(py, x.len(), || vector::norm(x));
        numpy_scalar(py, r)
    })
}

/// Cosine similarity ``a·b / (|a| |b|)`` of two 1-D arrays of the same dtype.
///
/// The result is clamped to [-1, 1]. If either vector has zero norm the similarity is
/// 0 (scikit-learn's ``cosine_similarity`` convention; SciPy's ``cosine`` distance
/// would give NaN). Norms are ``sqrt(sum(a**2))`` in the input precision, so a vector
/// whose squared norm underflows (``|a| < ~1e-19`` in float32) counts as zero, as in
/// ``numpy.linalg.norm``. NaN in an input gives NaN. Returns a NumPy scalar.
#[pyfunction]
pub(crate) fn cosine<'py>(
    py: Python<'py>,
    a: &Bound<'py, PyAny>,
    b: &Bound<'py, PyAny>,
) -> PyResult<Bound<'py, PyAny>> {
    let (a, b, dtype) = two_vectors(a, b)?;
    with_float!(dtype, T => pair_scalar::<T>(py, &a, &b, vector::cosine::<T>))
}

/// Squared Euclidean distance ``sum((a - b)**2)`` of two 1-D arrays of the same dtype,
/// accumulated from the differences directly (no cancellation from expanding the
/// square). Returns a NumPy scalar of the input dtype.
#[pyfunction]
pub(crate) fn sqeuclidean<'py>(
    py: Python<'py>,
    a: &Bound<'py, PyAny>,
    b: &Bound<'py, PyAny>,
) -> PyResult<Bound<'py, PyAny>> {
    let (a, b, dtype) = two_vectors(a, b)?;
    with_float!(dtype, T => pair_scalar::<T>(py, &a, &b, vector::sqeuclidean::<T>))
}

fn two_matrices<'py>(
    a: &Bound<'py, PyAny>,
    an: &'static str,
    b: &Bound<'py, PyAny>,
    bn: &'static str,
) -> PyResult<(FloatArray<'py>, FloatArray<'py>, DType)> {
    let a = FloatArray::extract(a, an, 2)?;
    let b = FloatArray::extract(b, bn, 2)?;
    let dtype = same_dtype(&a, an, &b, bn)?;
    if a.shape[1] != b.shape[1] {
        return Err(PyValueError::new_err(format!(
            "{an} and {bn} must have the same number of columns, got {an} of shape {} and {bn} of shape {}",
            a.shape_text(2),
            b.shape_text(2)
        )));
    }
    Ok((a, b, dtype))
}

/// Pairwise scores between the rows of ``a`` (m, d) and ``b`` (n, d), as an (m, n) array.
///
/// Parameters
/// ----------
/// a, b : array_like, 2-D, float32 or float64 (both the same dtype)
///     C-contiguous arrays are read in place; other layouts are copied once.
/// metric : {"dot", "cosine", "sqeuclidean", "euclidean"}
///     ``"cosine"`` is the cosine *similarity* (0 for zero rows, clamped to [-1, 1]);
///     SciPy's ``"cosine"`` is the distance ``1 - similarity``. ``"sqeuclidean"`` and
///     ``"euclidean"`` accumulate squared differences directly.
/// out : numpy.ndarray, optional
///     Writeable, C-contiguous (m, n) array of the input dtype, not overlapping ``a``
///     or ``b``. Checked before anything is written; returned.
///
/// Returns
/// -------
/// numpy.ndarray of shape (m, n) and the input dtype.
///
/// Notes
/// -----
/// Runs on mlkern's thread pool with the GIL released; each entry is computed by
/// one 4 × 4 register tile, so results do not depend on the thread count. Error per
/// entry as for ``dot`` with n = d.
#[pyfunction]
#[pyo3(signature = (a, b, metric = "dot", *, out = None))]
pub(crate) fn cdist<'py>(
    py: Python<'py>,
    a: &Bound<'py, PyAny>,
    b: &Bound<'py, PyAny>,
    metric: &str,
    out: Option<&Bound<'py, PyAny>>,
) -> PyResult<Bound<'py, PyAny>> {
    let metric = Metric::from_name(metric).map_err(to_pyerr)?;
    let (a, b, dtype) = two_matrices(a, "a", b, "b")?;
    let (m, n, d) = (a.shape[0], b.shape[0], a.shape[1]);
    let work = m.saturating_mul(n).saturating_mul(d.max(1));
    with_float!(dtype, T => {
        let (x, y) = (a.slice::<T>(), b.slice::<T>());
        match out {
            Some(o) => {
                let mut o = OutArray::check(o, dtype, [m, n], &[(&a, "a"), (&b, "b")])?;
                let dst = o.slice_mut::<T>();
                run(py, work, || vector::cdist(x, m, y, n, d, metric, dst)).map_err(to_pyerr)?;
                Ok(o.owner)
            }
            None => {
                let (arr, dst) = new_array::<T>(py, [m, n])?;
                run(py, work, || vector::cdist(x, m, y, n, d, metric, dst)).map_err(to_pyerr)?;
                Ok(arr)
            }
        }
    })
}

/// The ``k`` rows of ``corpus`` closest to each query, best first.
///
/// Parameters
/// ----------
/// queries : array_like, 2-D (q, d), float32 or float64
/// corpus : array_like, 2-D (n, d), same dtype as ``queries``
/// k : int
///     Number of neighbours, ``1 <= k <= n``.
/// metric : {"dot", "cosine", "sqeuclidean", "euclidean"}
///     Similarities (dot, cosine) rank higher first; distances rank lower first.
///
/// Returns
/// -------
/// indices : numpy.ndarray of int64, shape (q, k)
///     Row indices into ``corpus``, best first. Equal scores rank the lower index
///     first; NaN scores rank last.
/// scores : numpy.ndarray of the input dtype, shape (q, k)
///     The matching scores, as ``cdist(queries, corpus, metric)`` would report them.
///
/// Notes
/// -----
/// Fused: scores are computed tile by tile and offered to bounded per-query heaps,
/// so extra memory is O(q · k) per worker thread, never O(q · n). Multi-threaded over
/// corpus chunks with the GIL released; results do not depend on the thread count.
#[pyfunction]
#[pyo3(signature = (queries, corpus, k, metric = "dot"))]
pub(crate) fn topk<'py>(
    py: Python<'py>,
    queries: &Bound<'py, PyAny>,
    corpus: &Bound<'py, PyAny>,
    k: i64,
    metric: &str,
) -> PyResult<Bound<'py, PyTuple>> {
    let metric = Metric::from_name(metric).map_err(to_pyerr)?;
    let (qa, ca, dtype) = two_matrices(queries, "queries", corpus, "corpus")?;
    let (q, n, d) = (qa.shape[0], ca.shape[0], qa.shape[1]);
    if k < 1 {
        return Err(PyValueError::new_err(format!("k must be a positive integer, got {k}")));
    }
    let k = usize::try_from(k).unwrap_or(usize::MAX);
    if k > n {
        return Err(PyValueError::new_err(format!(
            "k = {k} exceeds the number of corpus rows ({n}); corpus has shape {}",
            ca.shape_text(2)
        )));
    }
    let work = q.saturating_mul(n).saturating_mul(d.max(1));
    with_float!(dtype, T => {
        let (x, y) = (qa.slice::<T>(), ca.slice::<T>());
        let (idx_arr, idx) = new_array::<i64>(py, [q, k])?;
        let (score_arr, scores) = new_array::<T>(py, [q, k])?;
        run(py, work, || vector::topk(x, q, y, n, d, k, metric, idx, scores)).map_err(to_pyerr)?;
        pair(py, idx_arr, score_arr)
    })
}
