//! `mlkern.vector`: dot, norm, cosine_similarity, cosine_distance, sqeuclidean, cdist, topk.
//!
//! Each function extracts and checks its arguments with the GIL held, then runs the
//! core kernel with the GIL released when the work exceeds [`GIL_RELEASE_MIN`]
//! elements (below that, releasing costs more than it frees).

use mlkern_core::vector::{self, Metric};
use mlkern_linalg::pairwise::GemmDots;
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::PyTuple;

use crate::arrays::{
    count_arg, new_array, numpy_scalar, pair, same_dtype, with_float, DType, FloatArray, NpyFloat, OutArray,
};
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

/// Cosine similarity ``a·b / (|a| |b|)`` of two 1-D arrays of the same dtype, as
/// ``sklearn.metrics.pairwise.cosine_similarity`` computes it for one pair.
///
/// The result is clamped to [-1, 1]. If either vector is all zeros the similarity
/// is 0 (scikit-learn's convention). Tiny and huge vectors (``1e-200``, ``1e300``;
/// ``1e-25`` in float32), whose squared norms would under- or overflow, are scaled
/// by powers of two first, so they get the right cosine. NaN in an input gives
/// NaN; an infinite element gives NaN. Returns a NumPy scalar of the input dtype.
#[pyfunction]
pub(crate) fn cosine_similarity<'py>(
    py: Python<'py>,
    a: &Bound<'py, PyAny>,
    b: &Bound<'py, PyAny>,
) -> PyResult<Bound<'py, PyAny>> {
    let (a, b, dtype) = two_vectors(a, b)?;
    with_float!(dtype, T => pair_scalar::<T>(py, &a, &b, vector::cosine_similarity::<T>))
}

/// Cosine distance ``1 - cosine_similarity(a, b)`` of two 1-D arrays, in [0, 2], as
/// ``sklearn.metrics.pairwise.cosine_distances`` computes it for one pair (1 when
/// either vector is all zeros; SciPy's ``scipy.spatial.distance.cosine`` gives NaN
/// there, and so does ``cdist(..., metric="cosine")``, which follows SciPy).
#[pyfunction]
pub(crate) fn cosine_distance<'py>(
    py: Python<'py>,
    a: &Bound<'py, PyAny>,
    b: &Bound<'py, PyAny>,
) -> PyResult<Bound<'py, PyAny>> {
    let (a, b, dtype) = two_vectors(a, b)?;
    with_float!(dtype, T => pair_scalar::<T>(py, &a, &b, vector::cosine_distance::<T>))
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

/// Pairwise distances (or similarities) between the rows of ``a`` (m, d) and ``b``
/// (n, d), as an (m, n) array: ``scipy.spatial.distance.cdist`` for the metrics
/// they share.
///
/// Parameters
/// ----------
/// a, b : array_like, 2-D, float32 or float64 (both the same dtype)
///     C-contiguous arrays are read in place; other layouts (and byte-swapped
///     arrays) are copied once.
/// metric : {"euclidean", "sqeuclidean", "cosine", "cosine_similarity", "dot"}
///     Distances with SciPy's meaning: ``"euclidean"`` (default, as SciPy),
///     ``"sqeuclidean"`` (from ``|a|² + |b|² - 2 a·b`` where that cannot cancel,
///     ``d² > (|a|² + |b|²) / 2``; near pairs, and any non-finite or underflowing
///     one, are summed directly as ``Σ (a - b)²``), ``"cosine"`` = ``1 - similarity``, the similarity clamped to
///     [-1, 1] first (NaN where a row is all zeros, as SciPy). Similarities under
///     names that say so: ``"cosine_similarity"`` (0 where a row is all zeros, as
///     ``sklearn.metrics.pairwise.cosine_similarity``) and ``"dot"`` (``a_i · b_j``).
///     Cosines of tiny or huge rows are computed from rows scaled by powers of two.
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
/// Runs on mlkern's thread pool with the GIL released. The dot products come from
/// the packed GEMM (``linalg.matmul``'s kernels, ``a @ b.T`` without a copy) and are
/// turned into scores in place; each entry is summed in one order fixed by ``d``,
/// so results do not depend on the thread count or the shapes, and :func:`topk`
/// reports exactly these scores. Error per entry: dot as for ``dot`` with n = d;
/// cosine ``2 γ_{d+6}``; sqeuclidean ``4 γ_{d+2} d²`` (the direct sum's bound is
/// ``γ_{d+2} d²``), euclidean half that relative error.
#[pyfunction]
#[pyo3(signature = (a, b, metric = "euclidean", *, out = None))]
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
                run(py, work, || vector::cdist_by_products(x, m, y, n, d, metric, dst, &GemmDots)).map_err(to_pyerr)?;
                Ok(o.owner)
            }
            None => {
                let (arr, dst) = new_array::<T>(py, [m, n])?;
                run(py, work, || vector::cdist_by_products(x, m, y, n, d, metric, dst, &GemmDots)).map_err(to_pyerr)?;
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
///     Number of neighbours, ``1 <= k <= n`` (a bool is a TypeError).
/// metric : {"euclidean", "sqeuclidean", "cosine", "cosine_similarity", "dot"}
///     As in :func:`cdist`. Distances (``"euclidean"``, the default as in
///     scikit-learn's ``kneighbors``, ``"sqeuclidean"``, ``"cosine"``) rank the
///     smallest first; similarities (``"cosine_similarity"``, ``"dot"``) the largest.
///
/// Returns
/// -------
/// scores : numpy.ndarray of the input dtype, shape (q, k)
///     The scores of the chosen rows, best first, exactly as
///     ``cdist(queries, corpus, metric)`` reports them (values first, as
///     ``torch.topk`` and ``kneighbors``).
/// indices : numpy.ndarray of int64, shape (q, k)
///     Row indices into ``corpus``. Equal scores rank the lower index first; NaN
///     scores rank last.
///
/// Notes
/// -----
/// Fused: the dot products of at most 256 queries × 512 corpus rows at a time come
/// from the packed GEMM into a pooled block, are turned into scores as :func:`cdist`
/// does and offered to bounded per-query heaps, so extra memory is O(q · k) plus one
/// such block (at most 512 KiB for float32) per worker thread, never O(q · n).
/// Multi-threaded over corpus chunks with the GIL released; results do not depend on
/// the thread count.
#[pyfunction]
#[pyo3(signature = (queries, corpus, k, metric = "euclidean"))]
pub(crate) fn topk<'py>(
    py: Python<'py>,
    queries: &Bound<'py, PyAny>,
    corpus: &Bound<'py, PyAny>,
    k: &Bound<'py, PyAny>,
    metric: &str,
) -> PyResult<Bound<'py, PyTuple>> {
    let k = count_arg(k, "k")?;
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
        run(py, work, || vector::topk_by_products(x, q, y, n, d, k, metric, idx, scores, &GemmDots)).map_err(to_pyerr)?;
        pair(py, score_arr, idx_arr)
    })
}
