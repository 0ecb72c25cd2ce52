//! `mlkern.linalg` bindings: matmul, qr, and the building blocks of the Python-level
//! `randomized_svd` and `csr_matmul` (`_lu_pl`, `_svd_jacobi`, `_csr_matmul`).
//!
//! Arguments are checked with the GIL held; the work runs with it released.

use mlkern_linalg::qr::{factor as qr_factor, QrMode};
use mlkern_linalg::sparse::{csr_matmul, Csr, CsrIdx};
use mlkern_linalg::strassen::{self, Method};
use mlkern_linalg::{lu, svd, MatMut, Parallelism};
use numpy::PyReadonlyArray1;
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::PyTuple;

use crate::arrays::{check_same_dtype, new_array, pair, with_float, DType, FloatArray, NpyFloat};
use crate::errors::to_pyerr;
use crate::matrix::{Matrix, OutMatrix};

/// Makes sure mlkern's Rayon pool exists before the first product (it is built on
/// first use, allocating), so that a repeated `matmul(..., out=...)` allocates
/// nothing from its first call on, whichever path that call takes. After the first
/// call: one atomic load. (An atomic, not a `Once`: see `mlkern_core::fork`.)
fn pool_ready() {
    static READY: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);
    if !READY.load(std::sync::atomic::Ordering::Acquire) {
        mlkern_core::threads::install(|| ());
        READY.store(true, std::sync::atomic::Ordering::Release);
    }
}

/// Matrix product ``a @ b`` of two 2-D float32 or float64 arrays.
///
/// Parameters
/// ----------
/// a : ndarray, shape (m, k)
/// b : ndarray, shape (k, n), same dtype as ``a``
///     Any memory layout is read in place: C order, Fortran order, transposed views
///     (``x.T``) and sliced views with non-negative strides. Negative strides,
///     unaligned or byte-swapped arrays and lists are copied once.
/// method : {"auto", "classical", "strassen"}, keyword-only
///     ``"classical"``: mlkern's packed, cache-blocked SIMD GEMM. ``"strassen"``:
///     Strassen–Winograd recursion on top of it (at least one level). ``"auto"``:
///     Strassen when every dimension is at least the crossover measured on the
///     development machine (3072 for float64; 4096 for float32, on one thread only), else
///     classical. Both ``"auto"`` and ``"strassen"`` first check that both operands
///     are finite (one cheap pass over each) and multiply classically if not, so
///     neither changes where NaN and inf appear (Strassen forms differences of
///     blocks: an inf would become ``inf - inf`` = NaN). Finite operands so large
///     that Strassen's block sums overflow can still give inf/NaN where the
///     classical product is finite.
/// out : ndarray, shape (m, n), optional, keyword-only
///     Written in place (any non-overlapping strides, negative ones included, e.g.
///     ``out=buf[::-1]``: those go through a pooled scratch block, then one copy);
///     must be writeable, aligned (a byte-swapped ``out`` is written through a
///     scratch block too), of the result dtype, and
///     share no memory with ``a`` or ``b``. A repeated call with the same shapes
///     allocates no Rust heap memory after the first.
///
/// Returns
/// -------
/// ndarray, shape (m, n)
///     ``out`` if given, else a new C-ordered array.
///
/// Raises
/// ------
/// TypeError
///     Non-float dtype, mixed dtypes, ``out`` of the wrong dtype.
/// ValueError
///     Not 2-D, inner dimensions differ, unknown ``method``, bad or aliased ``out``.
/// MemoryError
///     The result cannot be allocated.
///
/// Notes
/// -----
/// Error bound (classical): ``|C - a@b| <= γ_k |a||b|`` elementwise with
/// ``γ_k = k·u/(1 - k·u)`` (u the unit roundoff), like any BLAS. Strassen satisfies
/// only a normwise bound: ``max|C - a@b| <= c·k·u·max|a|·max|b|`` with c about 18
/// per recursion level. NaN and inf propagate as in NumPy (``classical`` and
/// ``auto``). Runs on mlkern's thread pool with the GIL released; results are
/// bitwise the same on any number of threads (a long ``k`` with a small output is
/// cut into chunks fixed by the shape and summed in a fixed order), except that
/// ``auto`` on float32 at or above the crossover picks Strassen on one thread and
/// the classical product on more. Operands are packed into cache-sized panels, except
/// the large operand of a skinny product (the other side at most 8 register tiles
/// wide, e.g. ``(64, 100000) @ (100000, 32)``), which is read where it lies.
#[pyfunction]
#[pyo3(signature = (a, b, *, method = "auto", out = None))]
pub(crate) fn matmul<'py>(
    py: Python<'py>,
    a: &Bound<'py, PyAny>,
    b: &Bound<'py, PyAny>,
    method: &str,
    out: Option<&Bound<'py, PyAny>>,
) -> PyResult<Bound<'py, PyAny>> {
    let method = Method::from_name(method).map_err(to_pyerr)?;
    pool_ready();
    let (a, b) = (Matrix::extract(a, "a")?, Matrix::extract(b, "b")?);
    let dtype = check_same_dtype(a.dtype, "a", b.dtype, "b")?;
    if a.cols != b.rows {
        return Err(PyValueError::new_err(format!(
            "b: inner dimensions differ: a has shape ({}, {}) and b has shape ({}, {})",
            a.rows, a.cols, b.rows, b.cols
        )));
    }
    let shape = [a.rows, b.cols];
    with_float!(dtype, T => {
        let (av, bv) = (a.view::<T>("a")?, b.view::<T>("b")?);
        match out {
            Some(o) => {
                let mut om = OutMatrix::check(o, dtype, shape, &[(&a, "a"), (&b, "b")])?;
                om.run::<T>(py, |ov| strassen::matmul(av, bv, ov, method, Parallelism::Pool))?;
                Ok(om.owner)
            }
            None => {
                let (arr, data) = new_array::<T>(py, shape)?;
                let ov = MatMut::row_major("out", data, shape[0], shape[1]).map_err(to_pyerr)?;
                py.detach(|| strassen::matmul(av, bv, ov, method, Parallelism::Pool)).map_err(to_pyerr)?;
                Ok(arr)
            }
        }
    })
}

/// QR decomposition ``a = q @ r`` of a 2-D float32/float64 array (blocked Householder).
///
/// Parameters
/// ----------
/// a : ndarray, shape (m, n)
/// mode : {"reduced", "complete", "r"}
///     As in ``numpy.linalg.qr``: ``"reduced"`` gives ``q (m, K)``, ``r (K, n)`` with
///     ``K = min(m, n)``; ``"complete"`` gives ``q (m, m)``, ``r (m, n)``; ``"r"``
///     gives ``r`` only.
///
/// Returns
/// -------
/// (q, r) or r
///     C-ordered arrays of ``a``'s dtype. Signs follow LAPACK's ``geqrf`` (each
///     reflector maps the partly reduced column ``w`` to ``-sign(w_jj)·‖w‖·e_j``, so
///     ``r[j, j]`` has the sign opposite to ``w_jj``; a column already zero below
///     the diagonal is left as it is), so results match ``numpy.linalg.qr`` up to
///     rounding. Rank-deficient, constant and badly scaled input is fine: tiny
///     columns are rescaled as in LAPACK's ``larfg``.
///
/// Notes
/// -----
/// Panels of 16 columns, trailing updates and the formation of ``q`` by mlkern's
/// GEMM (compact WY). Backward stable: ``‖a - q r‖ <= c·m·n·u·‖a‖`` and
/// ``‖qᵀq - I‖ <= c·m·n·u``. NaN/inf in ``a`` propagate. GIL released; results
/// do not depend on the thread count.
#[pyfunction]
#[pyo3(signature = (a, mode = "reduced"))]
pub(crate) fn qr<'py>(py: Python<'py>, a: &Bound<'py, PyAny>, mode: &str) -> PyResult<Bound<'py, PyAny>> {
    let mode = QrMode::from_name(mode).map_err(to_pyerr)?;
    let a = Matrix::extract(a, "a")?;
    let (m, n) = (a.rows, a.cols);
    let k = m.min(n);
    with_float!(a.dtype, T => {
        let av = a.view::<T>("a")?;
        let threads = mlkern_core::threads::num_threads();
        let f = py.detach(|| qr_factor(av, threads)).map_err(to_pyerr)?;
        let r_rows = if mode == QrMode::Complete { m } else { k };
        let (r_arr, r_data) = new_array::<T>(py, [r_rows, n])?;
        let mut rv = MatMut::row_major("r", r_data, r_rows, n).map_err(to_pyerr)?;
        f.write_r(&mut rv).map_err(to_pyerr)?;
        if mode == QrMode::R {
            return Ok(r_arr);
        }
        let q_cols = if mode == QrMode::Complete { m } else { k };
        let (q_arr, q_data) = new_array::<T>(py, [m, q_cols])?;
        let mut qv = MatMut::row_major("q", q_data, m, q_cols).map_err(to_pyerr)?;
        py.detach(|| f.write_q(&mut qv, mlkern_core::threads::num_threads())).map_err(to_pyerr)?;
        Ok(pair(py, q_arr, r_arr)?.into_any())
    })
}

/// ``P @ L`` of the partially pivoted LU factorisation of ``a`` (m × n) — SciPy's
/// ``scipy.linalg.lu(a, permute_l=True)[0]``, shape (m, min(m, n)). Internal: the
/// power-iteration normaliser of ``randomized_svd``.
#[pyfunction]
pub(crate) fn _lu_pl<'py>(py: Python<'py>, a: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyAny>> {
    let a = Matrix::extract(a, "a")?;
    let (m, k) = (a.rows, a.rows.min(a.cols));
    with_float!(a.dtype, T => {
        let av = a.view::<T>("a")?;
        let (arr, data) = new_array::<T>(py, [m, k])?;
        let mut ov = MatMut::row_major("out", data, m, k).map_err(to_pyerr)?;
        py.detach(|| lu::lu_permuted_l(av, &mut ov)).map_err(to_pyerr)?;
        Ok(arr)
    })
}

/// Thin SVD ``(u, s, vt)`` of a small (p × q, p ≥ q) matrix by one-sided Jacobi,
/// singular values descending. Internal: the dense step of ``randomized_svd``.
#[pyfunction]
pub(crate) fn _svd_jacobi<'py>(py: Python<'py>, a: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyTuple>> {
    let a = Matrix::extract(a, "a")?;
    let (p, q) = (a.rows, a.cols);
    with_float!(a.dtype, T => {
        let av = a.view::<T>("a")?;
        let (u, s, vt) = py.detach(|| svd::jacobi_svd(av)).map_err(to_pyerr)?;
        let (ua, ud) = new_array::<T>(py, [p, q])?;
        ud.copy_from_slice(&u);
        let (sa, sd) = new_array::<T>(py, [1, q])?;
        sd.copy_from_slice(&s);
        let (va, vd) = new_array::<T>(py, [q, q])?;
        vd.copy_from_slice(&vt);
        let sa = sa.call_method1("reshape", (q,))?;
        PyTuple::new(py, [ua, sa, va])
    })
}

fn csr_typed<'py, T: NpyFloat + mlkern_linalg::Scalar, I: CsrIdx + numpy::Element>(
    py: Python<'py>,
    data: &FloatArray<'py>,
    indices: &Bound<'py, PyAny>,
    indptr: &Bound<'py, PyAny>,
    shape: (usize, usize),
    b: &FloatArray<'py>,
    n: usize,
) -> PyResult<Bound<'py, PyAny>> {
    let idx: PyReadonlyArray1<'py, I> = indices.extract()?;
    let ptr: PyReadonlyArray1<'py, I> = indptr.extract()?;
    let (idx, ptr) = (idx.as_slice()?, ptr.as_slice()?);
    let csr = Csr { rows: shape.0, cols: shape.1, data: data.slice::<T>(), indices: idx, indptr: ptr };
    let bs = b.slice::<T>();
    let (arr, out) = new_array::<T>(py, [shape.0, n])?;
    py.detach(|| csr_matmul(csr, bs, n, out, Parallelism::Pool)).map_err(to_pyerr)?;
    Ok(arr)
}

/// CSR (data, indices, indptr, shape) times a C-contiguous (k, n) matrix. Internal:
/// see ``mlkern.linalg.csr_matmul``.
#[pyfunction]
pub(crate) fn _csr_matmul<'py>(
    py: Python<'py>,
    data: &Bound<'py, PyAny>,
    indices: &Bound<'py, PyAny>,
    indptr: &Bound<'py, PyAny>,
    shape: (usize, usize),
    b: &Bound<'py, PyAny>,
) -> PyResult<Bound<'py, PyAny>> {
    let data = FloatArray::extract(data, "a.data", 1)?;
    let b = FloatArray::extract(b, "b", 2)?;
    check_same_dtype(data.dtype, "a", b.dtype, "b")?;
    if b.shape[0] != shape.1 {
        return Err(PyValueError::new_err(format!(
            "b: inner dimensions differ: a has shape ({}, {}) and b has {} rows",
            shape.0, shape.1, b.shape[0]
        )));
    }
    let n = b.shape[1];
    let wide = indices.getattr("dtype")?.getattr("itemsize")?.extract::<usize>()? == 8;
    with_float!(data.dtype, T => {
        if wide {
            csr_typed::<T, i64>(py, &data, indices, indptr, shape, &b, n)
        } else {
            csr_typed::<T, i32>(py, &data, indices, indptr, shape, &b, n)
        }
    })
}
