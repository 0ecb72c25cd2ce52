"""Linear algebra on mlkern's own packed SIMD GEMM.

matmul(a, b, *, method="auto", out=None)   ``a @ b``; classical or Strassen–Winograd
qr(a, mode="reduced")                       blocked Householder QR (numpy.linalg.qr modes)
randomized_svd(a, n_components, ...)        Halko–Martinsson–Tropp, sklearn's parameters
csr_matmul(a, b)                            scipy.sparse CSR × dense, multi-threaded

All take float32 or float64 (operands of one dtype; integer or mixed dtypes raise
``TypeError``) and return arrays of that dtype. 2-D inputs in any memory layout
(C, Fortran, transposed or sliced views) are read in place; byte-swapped
(big-endian ``>f4``/``>f8``) arrays are copied once into native byte order.
Results do not depend on the thread count (see :func:`matmul` for the one
exception, ``method="auto"`` on float32 at the Strassen crossover).
"""

from __future__ import annotations

import numbers
from typing import TYPE_CHECKING, Any

import numpy as np

from mlkern import _mlkern
from mlkern._mlkern import matmul, qr

if TYPE_CHECKING:
    import numpy.typing as npt

__all__ = ["csr_matmul", "matmul", "qr", "randomized_svd"]

_NORMALIZERS = ("auto", "none", "LU", "QR")


def _native(arr: np.ndarray) -> np.ndarray:
    """``arr`` in native byte order: a byte-swapped float array is copied once."""
    if arr.dtype.kind == "f" and not arr.dtype.isnative:
        return arr.astype(arr.dtype.newbyteorder("="))
    return arr


def _float_matrix(a: Any, name: str) -> np.ndarray:
    arr = _native(np.asarray(a))
    if arr.dtype not in (np.float32, np.float64):
        raise TypeError(
            f"{name} must be a float32 or float64 array, got dtype {arr.dtype}; "
            "cast it with .astype(numpy.float32) or .astype(numpy.float64)"
        )
    if arr.ndim != 2:
        raise ValueError(f"{name} must be a 2-D array, got a {arr.ndim}-D array of shape {arr.shape}")
    return arr


def _int_param(value: Any, name: str, minimum: int) -> int:
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an int, got {type(value).__name__}")
    if value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value}")
    return int(value)


def _random_state(seed: Any) -> np.random.RandomState | np.random.Generator:
    """sklearn's ``check_random_state`` (a ``numpy.random.Generator`` is accepted too)."""
    if seed is None:
        return np.random.mtrand._rand
    if isinstance(seed, (np.random.RandomState, np.random.Generator)):
        return seed
    if isinstance(seed, (bool, np.bool_)):
        raise TypeError(f"random_state must be None, an int, a RandomState or a Generator, got a bool ({seed!r})")
    if isinstance(seed, numbers.Integral):
        value = int(seed)
        if not 0 <= value < 2**32:
            raise ValueError(f"random_state must be an int in [0, 2**32), got {value}")
        return np.random.RandomState(value)
    raise ValueError(f"random_state must be None, an int, a RandomState or a Generator, got {seed!r}")


def _scale_exponent(amax: float, dtype: np.dtype) -> int:
    """The power of two ``e`` with ``amax / 2**e`` in ``[0.5, 1)`` when ``amax`` is so
    large or so small that the power iterations or the small SVD (which squares
    entries) could overflow or underflow ``dtype``; else 0. Scaling by a power of
    two is exact, so the result is that of the unscaled input."""
    if amax == 0.0:
        return 0
    e = int(np.frexp(amax)[1])
    limit = np.finfo(dtype).maxexp // 8  # float64: 2**±128, float32: 2**±16
    return e if abs(e) > limit else 0


def _svd_flip(u: np.ndarray, vt: np.ndarray, u_based: bool) -> None:
    """sklearn's ``svd_flip``, in place: the largest-magnitude entry of each column
    of ``u`` (or row of ``vt``) becomes positive."""
    if u_based:
        idx = np.argmax(np.abs(u), axis=0)
        signs = np.sign(u[idx, np.arange(u.shape[1])])
    else:
        idx = np.argmax(np.abs(vt), axis=1)
        signs = np.sign(vt[np.arange(vt.shape[0]), idx])
    signs[signs == 0] = 1
    u *= signs[np.newaxis, :]
    vt *= signs[:, np.newaxis]


def _thin_svd(b: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """SVD of the small ``(l, n)`` matrix ``b``: QR of ``bᵀ`` then one-sided Jacobi
    on the ``l × l`` triangle (``b = Rᵀ Qbᵀ = Ur S (Qb Vr)ᵀ``)."""
    rows, cols = b.shape
    if rows > cols:
        return _mlkern._svd_jacobi(b)
    qb, r = qr(b.T)
    ur, s, vrt = _mlkern._svd_jacobi(r.T)
    return ur, s, matmul(vrt, qb.T)


def randomized_svd(
    a: npt.ArrayLike,
    n_components: int,
    *,
    n_oversamples: int = 10,
    n_iter: int | str = "auto",
    power_iteration_normalizer: str = "auto",
    transpose: bool | str = "auto",
    flip_sign: bool = True,
    random_state: Any = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Truncated SVD by randomized range finding (Halko, Martinsson and Tropp 2011).

    Parameters mean what they mean in ``sklearn.utils.extmath.randomized_svd``, and
    for the same ``random_state`` the same Gaussian test matrix is drawn (NumPy's
    legacy ``RandomState.normal``), so results agree with scikit-learn's to rounding.

    Parameters
    ----------
    a : ndarray, shape (m, n), float32 or float64
    n_components : int
        Number of singular triplets, ``1 <= n_components <= min(m, n)``.
    n_oversamples : int, default 10
        Extra random vectors; the sketch has ``n_components + n_oversamples`` columns.
    n_iter : int or "auto"
        Power iterations; ``"auto"`` is 7 if ``n_components < 0.1 * min(m, n)``, else 4.
    power_iteration_normalizer : {"auto", "none", "LU", "QR"}
        Re-normalisation between power iterations; ``"auto"`` is ``"none"`` for
        ``n_iter <= 2`` and ``"LU"`` otherwise.
    transpose : bool or "auto"
        Work on ``a.T`` (a view, no copy); ``"auto"``: when ``m < n``.
    flip_sign : bool, default True
        sklearn's sign convention (``svd_flip``), making the output deterministic.
    random_state : None, int, numpy.random.RandomState or numpy.random.Generator

    Returns
    -------
    U : ndarray, shape (m, n_components)
    S : ndarray, shape (n_components,), descending
    Vt : ndarray, shape (n_components, n)

    Raises
    ------
    TypeError
        Non-float dtype; a count (``n_components``, ``n_oversamples``, ``n_iter``,
        an int ``random_state``) that is not an int, or is a bool.
    ValueError
        Not 2-D; ``n_components`` out of range; negative ``n_oversamples``/``n_iter``;
        ``random_state`` outside ``[0, 2**32)``; unknown ``power_iteration_normalizer``
        or ``transpose``; NaN or inf in ``a``; the power iterations overflowed (only
        possible with ``power_iteration_normalizer="none"`` and many iterations: the
        message says so).

    Notes
    -----
    Every product runs on mlkern's GEMM (``a.T`` is read in place), the orthonormal
    bases come from :func:`qr`, and the small dense SVD is a one-sided Jacobi SVD of
    the ``l × l`` triangular factor (``l = n_components + n_oversamples``), accurate
    to ``O(l·u)·σ_max``. Any finite input is fine, however scaled: when ``max|a|``
    is beyond ``2**±128`` (float64; ``2**±16`` for float32) ``a`` is scaled by a
    power of two (one copy, exact) and ``S`` scaled back (a singular value beyond the
    dtype's range is then ``inf``, with NumPy's overflow warning). Results are
    bitwise the same on any number of threads.
    """
    m_arr = _float_matrix(a, "a")
    n_components = _int_param(n_components, "n_components", 1)
    n_oversamples = _int_param(n_oversamples, "n_oversamples", 0)
    m, n = m_arr.shape
    if n_components > min(m, n):
        raise ValueError(f"n_components must be <= min(a.shape) = {min(m, n)}, got {n_components}")
    if isinstance(n_iter, str):
        if n_iter != "auto":
            raise ValueError(f"n_iter must be an int >= 0 or 'auto', got {n_iter!r}")
        n_iter = 7 if n_components < 0.1 * min(m, n) else 4
    n_iter = _int_param(n_iter, "n_iter", 0)
    if power_iteration_normalizer not in _NORMALIZERS:
        raise ValueError(
            f"power_iteration_normalizer must be one of {_NORMALIZERS}, got {power_iteration_normalizer!r}"
        )
    if power_iteration_normalizer == "auto":
        power_iteration_normalizer = "none" if n_iter <= 2 else "LU"
    if transpose == "auto":
        transpose = m < n
    elif not isinstance(transpose, (bool, np.bool_)):
        raise ValueError(f"transpose must be True, False or 'auto', got {transpose!r}")
    rng = _random_state(random_state)
    size = n_components + n_oversamples
    amax = max(abs(float(np.max(m_arr))), abs(float(np.min(m_arr))))  # NaN if a has a NaN
    if not np.isfinite(amax):
        raise ValueError("a must not contain NaN or inf")
    exponent = _scale_exponent(amax, m_arr.dtype)
    if exponent:
        m_arr = np.ldexp(m_arr, -exponent).astype(m_arr.dtype, copy=False)

    mat = m_arr.T if transpose else m_arr
    q = rng.normal(size=(mat.shape[1], size)).astype(mat.dtype, copy=False)
    for _ in range(n_iter):
        if power_iteration_normalizer == "none":
            q = matmul(mat.T, matmul(mat, q))
        elif power_iteration_normalizer == "LU":
            q = _mlkern._lu_pl(matmul(mat.T, _mlkern._lu_pl(matmul(mat, q))))
        else:
            q = qr(matmul(mat.T, qr(matmul(mat, q))[0]))[0]
    q = qr(matmul(mat, q))[0]
    b = matmul(q.T, mat)
    uhat, s, vt = _thin_svd(b)
    if not np.all(np.isfinite(s)):
        raise ValueError(
            f"randomized_svd overflowed {m_arr.dtype} in the power iterations "
            f"(power_iteration_normalizer={power_iteration_normalizer!r}, n_iter={n_iter}); "
            "use power_iteration_normalizer='LU' or 'QR'"
        )
    # Only the kept triplets are formed and sign-flipped (the flip is per column,
    # so this equals flipping all l and slicing, as scikit-learn does).
    k = n_components
    u = matmul(q, uhat[:, :k])
    vt = np.ascontiguousarray(vt[:k])
    s = np.ldexp(s[:k], exponent).astype(s.dtype, copy=False) if exponent else s[:k].copy()
    if flip_sign:
        _svd_flip(u, vt, u_based=not transpose)
    if transpose:
        return np.ascontiguousarray(vt.T), s, np.ascontiguousarray(u.T)
    return u, s, vt


def csr_matmul(a: Any, b: npt.ArrayLike) -> np.ndarray:
    """Sparse CSR matrix times a dense vector or matrix: ``a @ b``.

    Parameters
    ----------
    a : scipy.sparse CSR array or matrix, shape (m, k), float32 or float64
        Read in place through its ``data``, ``indices`` and ``indptr`` (int32 or
        int64 indices). Duplicate entries are summed, unsorted indices are fine.
    b : ndarray, shape (k,) or (k, n), same dtype as ``a``
        C-contiguous input is read in place; other layouts and byte-swapped
        (``>f8``) arrays are copied once (native byte order).

    Returns
    -------
    ndarray, shape (m,) or (m, n)

    Raises
    ------
    TypeError
        ``a`` is not CSR (convert with ``a.tocsr()``), dtypes are not float or differ.
    ValueError
        Invalid CSR structure (``indptr`` of the wrong length, not starting at 0,
        decreasing, or past the stored entries; column indices out of range or
        negative), ``b`` of the wrong shape or dimensionality.

    Notes
    -----
    Rows are split across mlkern's thread pool (GIL released); each output row is
    accumulated in registers and written once. Each entry's error is at most
    ``γ_r Σ|a_ij b_jc|`` for a row of ``r`` stored entries.
    """
    if getattr(a, "format", None) != "csr" or not hasattr(a, "indptr"):
        raise TypeError(f"a must be a scipy.sparse CSR array or matrix, got {type(a).__name__}; use a.tocsr()")
    rows, cols = (int(d) for d in a.shape)
    idx, ptr = np.asarray(a.indices), np.asarray(a.indptr)
    if idx.dtype.kind not in "iu" or ptr.dtype.kind not in "iu":
        raise TypeError("a.indices and a.indptr must be integer arrays")
    wide = idx.dtype.itemsize > 4 or ptr.dtype.itemsize > 4 or idx.dtype.kind == "u" or ptr.dtype.kind == "u"
    index_dtype = np.int64 if wide else np.int32
    idx = np.ascontiguousarray(idx, dtype=index_dtype)
    ptr = np.ascontiguousarray(ptr, dtype=index_dtype)
    bb = _native(np.asarray(b))
    if bb.ndim not in (1, 2):
        raise ValueError(f"b must be a 1-D or 2-D array, got a {bb.ndim}-D array of shape {bb.shape}")
    if bb.dtype not in (np.float32, np.float64):
        raise TypeError(f"b must be a float32 or float64 array, got dtype {bb.dtype}")
    vector = bb.ndim == 1
    data = _native(np.asarray(a.data))
    out = _mlkern._csr_matmul(data, idx, ptr, (rows, cols), bb.reshape(-1, 1) if vector else bb)
    return out.reshape(-1) if vector else out
