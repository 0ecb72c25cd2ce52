"""mlkern.linalg against NumPy/SciPy/scikit-learn: every tier, every layout, awkward
shapes, stated error bounds, and property tests (hypothesis)."""

from __future__ import annotations

import threading

import numpy as np
import pytest
import scipy.sparse as sp
from conftest import UNIT
from hypothesis import given, settings
from hypothesis import strategies as st

import mlkern
from mlkern import linalg

SHAPES = [(1, 1, 1), (0, 3, 4), (3, 0, 4), (3, 4, 0), (1, 37, 19), (37, 19, 1), (33, 65, 17), (129, 257, 131),
          # skinny: the big operand is read in place (k over several cache blocks)
          (45, 900, 700), (700, 900, 45)]


def bound(a: np.ndarray, b: np.ndarray, dtype: type) -> np.ndarray:
    """2·γ_k |a||b| (classical GEMM bound, doubled for the reference's own rounding)."""
    k = a.shape[1]
    return 2 * (k + 2) * UNIT[dtype] * (np.abs(a).astype(np.float64) @ np.abs(b).astype(np.float64)) + 1e-300


def layouts(x: np.ndarray) -> list[np.ndarray]:
    """C order, Fortran order, a transposed view, a strided slice and an unaligned
    row-major slice (unit inner stride, padded rows) of the same values."""
    big = np.zeros((x.shape[0] * 2 + 1, x.shape[1] * 3 + 2), dtype=x.dtype)
    big[1::2, 2::3][: x.shape[0], : x.shape[1]] = x
    strided = big[1::2, 2::3][: x.shape[0], : x.shape[1]]
    padded = np.zeros((x.shape[0] + 1, x.shape[1] + 1), dtype=x.dtype)[1:, 1:]
    padded[...] = x
    return [x, np.asfortranarray(x), np.ascontiguousarray(x.T).T, strided, padded]


@pytest.mark.parametrize("shape", SHAPES)
def test_matmul_every_tier_and_layout(tier: str, dtype: type, rng: np.random.Generator, shape: tuple) -> None:
    m, k, n = shape
    a = rng.standard_normal((m, k)).astype(dtype)
    b = rng.standard_normal((k, n)).astype(dtype)
    want = a.astype(np.float64) @ b.astype(np.float64)
    for av in layouts(a):
        for bv in layouts(b)[:2] + layouts(b)[4:]:
            got = linalg.matmul(av, bv, method="classical")
            assert got.dtype == dtype and got.shape == (m, n) and got.flags.c_contiguous
            assert np.all(np.abs(got - want) <= bound(a, b, dtype))


def test_matmul_out_layouts_and_transposed_views_are_not_copied(dtype: type, rng: np.random.Generator) -> None:
    a = rng.standard_normal((70, 50)).astype(dtype)
    b = rng.standard_normal((60, 50)).astype(dtype)
    want = a.astype(np.float64) @ b.T.astype(np.float64)
    for out in [np.empty((70, 60), dtype), np.empty((70, 60), dtype, order="F"), np.empty((70, 120), dtype)[:, ::2]]:
        r = linalg.matmul(a, b.T, out=out)
        assert r is out
        assert np.all(np.abs(out - want) <= bound(a, b.T, dtype))


@pytest.mark.parametrize("method", ["classical", "strassen", "auto"])
def test_matmul_methods_large(method: str, dtype: type, rng: np.random.Generator) -> None:
    m, k, n = 301, 259, 283
    a = rng.standard_normal((m, k)).astype(dtype)
    b = rng.standard_normal((k, n)).astype(dtype)
    got = linalg.matmul(a, b, method=method).astype(np.float64)
    want = a.astype(np.float64) @ b.astype(np.float64)
    if method == "strassen":
        # Normwise bound, one level: 18·k·u·max|a|·max|b| (see the docstring).
        assert np.max(np.abs(got - want)) <= 18 * k * UNIT[dtype] * np.abs(a).max() * np.abs(b).max()
    else:
        assert np.all(np.abs(got - want) <= bound(a, b, dtype))


def test_strassen_error_growth_is_bounded_and_measured(rng: np.random.Generator) -> None:
    """Max error relative to k·u·max|a|·max|b| for classical vs Strassen (float64,
    reference in extended precision via np.longdouble)."""
    n = 520
    a, b = rng.standard_normal((n, n)), rng.standard_normal((n, n))
    ref = (a.astype(np.longdouble) @ b.astype(np.longdouble)).astype(np.float64)
    scale = n * UNIT[np.float64] * np.abs(a).max() * np.abs(b).max()
    err_c = np.max(np.abs(linalg.matmul(a, b, method="classical") - ref)) / scale
    err_s = np.max(np.abs(linalg.matmul(a, b, method="strassen") - ref)) / scale
    assert err_c <= 1.0
    assert err_s <= 18.0
    assert err_s >= err_c * 0.5  # Strassen is not more accurate: the check can fail


def test_matmul_nan_inf_propagate_like_numpy(dtype: type) -> None:
    a = np.ones((5, 4), dtype)
    b = np.ones((4, 6), dtype)
    a[1, 2] = np.nan
    b[3, 4] = np.inf
    got, want = linalg.matmul(a, b), a @ b
    np.testing.assert_array_equal(np.isnan(got), np.isnan(want))
    np.testing.assert_array_equal(np.isinf(got), np.isinf(want))


def test_matmul_threads_agree(rng: np.random.Generator) -> None:
    a, b = rng.standard_normal((400, 300)), rng.standard_normal((300, 200))
    before = mlkern.get_num_threads()
    try:
        mlkern.set_num_threads(1)
        one = linalg.matmul(a, b)
        mlkern.set_num_threads(2)
        two = linalg.matmul(a, b)
    finally:
        mlkern.set_num_threads(before)
    assert one.tobytes() == two.tobytes()  # bitwise: results do not depend on the thread count
    # Small output, long k: the k-split path.
    a, b = rng.standard_normal((9, 40000)), rng.standard_normal((40000, 7))
    np.testing.assert_allclose(linalg.matmul(a, b), a @ b, rtol=1e-10, atol=1e-9)


def test_matmul_concurrent_callers(rng: np.random.Generator) -> None:
    a, b = rng.standard_normal((200, 150)), rng.standard_normal((150, 180))
    want = a @ b
    errors: list[float] = []

    def work() -> None:
        for _ in range(5):
            errors.append(float(np.max(np.abs(linalg.matmul(a, b) - want))))

    ts = [threading.Thread(target=work) for _ in range(4)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    assert len(errors) == 20 and max(errors) < 1e-11


@given(
    m=st.integers(0, 40), k=st.integers(0, 40), n=st.integers(0, 40),
    f32=st.booleans(), transpose=st.booleans(), seed=st.integers(0, 2**32 - 1),
)
@settings(max_examples=60, deadline=None)
def test_matmul_property(m: int, k: int, n: int, f32: bool, transpose: bool, seed: int) -> None:
    dtype = np.float32 if f32 else np.float64
    r = np.random.default_rng(seed)
    a = r.uniform(-1, 1, (m, k)).astype(dtype)
    b = r.uniform(-1, 1, (n, k) if transpose else (k, n)).astype(dtype)
    bb = b.T if transpose else b
    got = linalg.matmul(a, bb)
    assert np.all(np.abs(got - a.astype(np.float64) @ bb.astype(np.float64)) <= bound(a, bb, dtype))


@pytest.mark.parametrize("shape", [(1, 1), (6, 4), (4, 6), (97, 40), (64, 64), (40, 97)])
@pytest.mark.parametrize("mode", ["reduced", "complete"])
def test_qr_matches_numpy(shape: tuple, mode: str, dtype: type, rng: np.random.Generator) -> None:
    a = rng.standard_normal(shape).astype(dtype)
    q, r = linalg.qr(a, mode=mode)
    qn, rn = np.linalg.qr(a, mode=mode)
    assert q.shape == qn.shape and r.shape == rn.shape and q.dtype == dtype
    tol = 50 * max(shape) * UNIT[dtype]
    np.testing.assert_allclose(q @ r, a, atol=tol * np.abs(a).max())
    np.testing.assert_allclose(q.T @ q, np.eye(q.shape[1]), atol=tol)
    # Signed: the LAPACK sign convention is promised, so R and Q equal NumPy's.
    np.testing.assert_allclose(r, rn, atol=tol * np.abs(a).max() * 10)
    k = min(shape)
    np.testing.assert_allclose(q[:, :k], qn[:, :k], atol=tol * 10)
    assert np.all(np.tril(r, -1) == 0)
    np.testing.assert_allclose(linalg.qr(a, mode="r"), r[: min(shape)], atol=tol)


def low_rank(rng: np.random.Generator, m: int, n: int, rank: int, noise: float) -> np.ndarray:
    return rng.standard_normal((m, rank)) @ rng.standard_normal((rank, n)) + noise * rng.standard_normal((m, n))


@pytest.mark.parametrize("normalizer", ["auto", "none", "LU", "QR"])
@pytest.mark.parametrize("shape", [(300, 120), (120, 300)])
def test_randomized_svd_matches_sklearn(normalizer: str, shape: tuple, rng: np.random.Generator) -> None:
    extmath = pytest.importorskip("sklearn.utils.extmath")
    a = low_rank(rng, *shape, rank=10, noise=1e-3)
    kw = dict(n_oversamples=10, n_iter=3, power_iteration_normalizer=normalizer, random_state=7)
    u, s, vt = linalg.randomized_svd(a, 8, **kw)
    u2, s2, vt2 = extmath.randomized_svd(a, 8, **kw)
    assert u.shape == u2.shape and s.shape == s2.shape and vt.shape == vt2.shape
    np.testing.assert_allclose(s, s2, rtol=1e-9)
    np.testing.assert_allclose(u, u2, atol=1e-7)
    np.testing.assert_allclose(vt, vt2, atol=1e-7)


def test_randomized_svd_deterministic_and_float32(rng: np.random.Generator) -> None:
    a = low_rank(rng, 200, 90, rank=5, noise=1e-4).astype(np.float32)
    r1 = linalg.randomized_svd(a, 5, random_state=3)
    r2 = linalg.randomized_svd(a, 5, random_state=np.random.RandomState(3))
    for x, y in zip(r1, r2):
        assert x.dtype == np.float32
        np.testing.assert_array_equal(x, y)
    s_exact = np.linalg.svd(a.astype(np.float64), compute_uv=False)[:5]
    np.testing.assert_allclose(r1[1], s_exact, rtol=1e-4)


def test_csr_matmul_matches_scipy(dtype: type, tier: str, rng: np.random.Generator) -> None:
    a = sp.random(300, 170, density=0.05, format="csr", random_state=1, dtype=dtype)
    for n in [1, 5, 64, 67]:
        b = rng.standard_normal((170, n)).astype(dtype)
        want = a.astype(np.float64) @ b.astype(np.float64)
        np.testing.assert_allclose(linalg.csr_matmul(a, b), want, rtol=0, atol=200 * UNIT[dtype] * 10)
    v = rng.standard_normal(170).astype(dtype)
    got = linalg.csr_matmul(sp.csr_matrix(a), v)
    assert got.shape == (300,)
    np.testing.assert_allclose(got, a.astype(np.float64) @ v.astype(np.float64), atol=1e-4 if dtype == np.float32 else 1e-12)
    a64 = sp.csr_array((a.data, a.indices.astype(np.int64), a.indptr.astype(np.int64)), shape=a.shape)
    np.testing.assert_allclose(linalg.csr_matmul(a64, v), got, rtol=0, atol=0)
