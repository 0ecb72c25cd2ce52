"""Bad input to mlkern.linalg: each a clear exception naming the argument, never a crash."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from mlkern import linalg


def test_matmul_bad_inputs() -> None:
    a, b = np.ones((3, 4)), np.ones((4, 5))
    with pytest.raises(ValueError, match="method"):
        linalg.matmul(a, b, method="fast")
    with pytest.raises(ValueError, match="inner dimensions"):
        linalg.matmul(a, np.ones((5, 4)))
    with pytest.raises(ValueError, match="2-D"):
        linalg.matmul(np.ones(4), b)
    with pytest.raises(ValueError, match="2-D"):
        linalg.matmul(a, np.ones((4, 5, 1)))
    with pytest.raises(TypeError, match="same dtype"):
        linalg.matmul(a.astype(np.float32), b)
    with pytest.raises(TypeError, match="float32 or float64"):
        linalg.matmul(a.astype(np.int64), b)


def test_matmul_bad_out() -> None:
    a, b = np.ones((3, 4)), np.ones((4, 5))
    with pytest.raises(ValueError, match="shape"):
        linalg.matmul(a, b, out=np.empty((3, 4)))
    with pytest.raises(TypeError, match="dtype"):
        linalg.matmul(a, b, out=np.empty((3, 5), np.float32))
    ro = np.empty((3, 5))
    ro.flags.writeable = False
    with pytest.raises(ValueError, match="read-only"):
        linalg.matmul(a, b, out=ro)
    with pytest.raises(TypeError, match="ndarray"):
        linalg.matmul(a, b, out=[[0.0] * 5] * 3)
    sq = np.ones((4, 4))
    before = sq.copy()
    with pytest.raises(ValueError, match="shares memory with a"):
        linalg.matmul(sq, np.ones((4, 4)), out=sq)
    with pytest.raises(ValueError, match="shares memory with b"):
        linalg.matmul(np.ones((4, 4)), sq.T, out=sq)
    np.testing.assert_array_equal(sq, before)  # nothing was written
    with pytest.raises(ValueError, match="overlap"):
        linalg.matmul(a, b, out=np.lib.stride_tricks.as_strided(np.empty(20), (3, 5), (8, 8)))


def test_matmul_huge_shapes_are_errors() -> None:
    a = np.lib.stride_tricks.as_strided(np.ones(1), (2**40, 1), (0, 0))
    b = np.lib.stride_tricks.as_strided(np.ones(1), (1, 2**40), (0, 0))
    with pytest.raises(MemoryError):
        linalg.matmul(a, b)


def test_qr_huge_broadcast_view_is_an_error_not_an_abort() -> None:
    # A zero-stride view of a huge shape is read in place; the work copy cannot be made.
    a = np.broadcast_to(np.float64(1.0), (2**29, 2**30))
    with pytest.raises((ValueError, MemoryError), match="cannot be allocated|too large"):
        linalg.qr(a, mode="r")


def test_qr_bad_inputs() -> None:
    with pytest.raises(ValueError, match="mode"):
        linalg.qr(np.ones((3, 3)), mode="economic")
    with pytest.raises(ValueError, match="2-D"):
        linalg.qr(np.ones(3))
    with pytest.raises(TypeError, match="float32 or float64"):
        linalg.qr(np.ones((3, 3), dtype=np.int32))


def test_randomized_svd_bad_inputs() -> None:
    a = np.random.default_rng(0).standard_normal((20, 10))
    for bad in [0, -1, 11]:
        with pytest.raises(ValueError, match="n_components"):
            linalg.randomized_svd(a, bad)
    with pytest.raises(TypeError, match="n_components"):
        linalg.randomized_svd(a, 2.5)
    with pytest.raises(ValueError, match="power_iteration_normalizer"):
        linalg.randomized_svd(a, 2, power_iteration_normalizer="lu")
    with pytest.raises(ValueError, match="n_iter"):
        linalg.randomized_svd(a, 2, n_iter="many")
    with pytest.raises(ValueError, match="n_oversamples"):
        linalg.randomized_svd(a, 2, n_oversamples=-1)
    with pytest.raises(ValueError, match="transpose"):
        linalg.randomized_svd(a, 2, transpose="yes")
    with pytest.raises(ValueError, match="random_state"):
        linalg.randomized_svd(a, 2, random_state="seed")
    with pytest.raises(TypeError, match="float32 or float64"):
        linalg.randomized_svd(a.astype(np.int64), 2)
    with pytest.raises(ValueError, match="2-D"):
        linalg.randomized_svd(a[0], 2)
    bad = a.copy()
    bad[3, 3] = np.nan
    with pytest.raises(ValueError, match="NaN or inf"):
        linalg.randomized_svd(bad, 2, random_state=0)


def test_csr_bad_inputs() -> None:
    a = sp.random(20, 10, density=0.3, format="csr", random_state=0)
    b = np.ones((10, 3))
    with pytest.raises(TypeError, match="CSR"):
        linalg.csr_matmul(a.tocoo(), b)
    with pytest.raises(TypeError, match="CSR"):
        linalg.csr_matmul(a.toarray(), b)
    with pytest.raises(ValueError, match="inner dimensions"):
        linalg.csr_matmul(a, np.ones((9, 3)))
    with pytest.raises(TypeError, match="same dtype"):
        linalg.csr_matmul(a, b.astype(np.float32))
    with pytest.raises(ValueError, match="1-D or 2-D"):
        linalg.csr_matmul(a, np.ones((10, 3, 1)))

    def broken(data: np.ndarray, indices: np.ndarray, indptr: np.ndarray) -> sp.csr_array:
        m = sp.csr_array((20, 10))
        m.data, m.indices, m.indptr = data, indices, indptr  # bypass SciPy's own checks
        return m

    idx = a.indices.copy()
    idx[0] = 10
    with pytest.raises(ValueError, match="out of range"):
        linalg.csr_matmul(broken(a.data, idx, a.indptr), b)
    idx[0] = -3
    with pytest.raises(ValueError, match="negative"):
        linalg.csr_matmul(broken(a.data, idx, a.indptr), b)
    ptr = a.indptr.copy()
    ptr[4], ptr[5] = ptr[5], ptr[4] - 1
    with pytest.raises(ValueError, match="decreases"):
        linalg.csr_matmul(broken(a.data, a.indices, ptr), b)
    with pytest.raises(ValueError, match="indptr has"):
        linalg.csr_matmul(broken(a.data, a.indices, a.indptr[:-1]), b)
    with pytest.raises(ValueError, match="data has"):
        linalg.csr_matmul(broken(a.data[:-1], a.indices, a.indptr), b)
