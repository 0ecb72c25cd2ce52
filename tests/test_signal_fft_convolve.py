"""mlkern.signal FFTs and convolution against scipy.fft / scipy.signal / numpy."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.fft as sfft
import scipy.signal as ss
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import mlkern
from mlkern import signal as ms

# FFT error bound used here: |ours - scipy| <= C * u * log2(n) * ||x||_2 * sqrt(n)
# (both are O(u log n) in the 2-norm; C = 8 leaves room for the two algorithms).
UNIT = {np.float32: 2.0**-24, np.float64: 2.0**-53}


def fft_tol(x: np.ndarray, n: int, dtype: type) -> float:
    return 8 * UNIT[dtype] * max(np.log2(max(n, 2)), 1) * float(np.linalg.norm(np.asarray(x, np.complex128))) * np.sqrt(n) + 1e-300


LENGTHS = [1, 2, 3, 5, 7, 16, 17, 64, 97, 100, 128, 1000, 1009, 4096]


@pytest.mark.parametrize("n", LENGTHS)
def test_rfft_irfft_match_scipy(dtype: type, n: int, rng: np.random.Generator) -> None:
    x = rng.standard_normal((3, n)).astype(dtype)
    got = ms.rfft(x)
    assert got.dtype == (np.complex64 if dtype == np.float32 else np.complex128)
    ref = sfft.rfft(x.astype(np.float64))
    assert got.shape == ref.shape
    assert np.abs(got - ref).max() <= fft_tol(x, n, dtype)
    for m in (n, n + 3, max(1, n // 2)):  # zero-padding and truncation
        np.testing.assert_allclose(ms.rfft(x, n=m), sfft.rfft(x, n=m), atol=fft_tol(x, m, dtype))
        back = ms.irfft(sfft.rfft(x.astype(np.float64), n=m), n=m)
        np.testing.assert_allclose(back, sfft.irfft(sfft.rfft(x.astype(np.float64), n=m), n=m), atol=fft_tol(x, m, np.float64))
    for norm in ("backward", "ortho", "forward"):
        np.testing.assert_allclose(ms.rfft(x, norm=norm), sfft.rfft(x, norm=norm), atol=fft_tol(x, n, dtype))
        c = sfft.rfft(x.astype(np.float64))
        np.testing.assert_allclose(ms.irfft(c, n=n, norm=norm), sfft.irfft(c, n=n, norm=norm), atol=fft_tol(x, n, np.float64) * 4)


@pytest.mark.parametrize("rows", [2, 8, 19, 40])
@pytest.mark.parametrize("n", [2, 4, 8, 16, 32, 256, 2048, 4096])
def test_rfft_batched_lane_engine_every_tier(tier: str, dtype: type, n: int, rows: int, rng: np.random.Generator) -> None:
    # Power-of-two lengths with several rows take mlkern's own batched kernel (one row
    # per SIMD lane); batches that do not fill the lanes, zero-padding, truncation,
    # every norm and both worker counts must all agree with SciPy.
    x = rng.standard_normal((rows, n)).astype(dtype)
    for m in (n, 2 * n):  # n == 2 * len pads with zeros; len - 3 (below) truncates
        ref = sfft.rfft(x.astype(np.float64), n=m)
        for w in (1, 2):
            got = ms.rfft(x, n=m, workers=w)
            assert got.dtype == (np.complex64 if dtype == np.float32 else np.complex128)
            assert np.abs(got - ref).max() <= fft_tol(x, m, dtype)
    if n > 4:
        np.testing.assert_allclose(ms.rfft(x[:, 3:], n=n // 2), sfft.rfft(x[:, 3:].astype(np.float64), n=n // 2),
                                   atol=fft_tol(x, n, dtype))
    for norm in ("ortho", "forward"):
        np.testing.assert_allclose(ms.rfft(x, norm=norm), sfft.rfft(x.astype(np.float64), norm=norm),
                                   atol=fft_tol(x, n, dtype))
    assert np.isnan(ms.rfft(np.where(np.arange(n) == n - 1, np.nan, x))[:, 0]).all()


@pytest.mark.parametrize("n", [1, 2, 5, 16, 33, 100, 1024])
def test_complex_fft_ifft_match_scipy(n: int, rng: np.random.Generator) -> None:
    for dt, real in ((np.complex64, np.float32), (np.complex128, np.float64)):
        z = (rng.standard_normal((2, n)) + 1j * rng.standard_normal((2, n))).astype(dt)
        for f, g in ((ms.fft, sfft.fft), (ms.ifft, sfft.ifft)):
            got = f(z)
            assert got.dtype == dt
            np.testing.assert_allclose(got, g(z), atol=fft_tol(z, n, real) * 2)
            np.testing.assert_allclose(f(z, n=n + 5, norm="ortho"), g(z, n=n + 5, norm="ortho"), atol=fft_tol(z, n + 5, real) * 2)
    real_in = rng.standard_normal(n)
    np.testing.assert_allclose(ms.fft(real_in), sfft.fft(real_in), atol=fft_tol(real_in, n, np.float64))


def test_fft_along_any_axis_and_nd(rng: np.random.Generator) -> None:
    x = rng.standard_normal((4, 6, 10))
    for axis in (0, 1, 2, -1, -2):
        np.testing.assert_allclose(ms.rfft(x, axis=axis), sfft.rfft(x, axis=axis), atol=1e-12)
        np.testing.assert_allclose(ms.fft(x, axis=axis), sfft.fft(x, axis=axis), atol=1e-12)
        c = sfft.rfft(x, axis=axis)
        np.testing.assert_allclose(ms.irfft(c, axis=axis), sfft.irfft(c, axis=axis), atol=1e-12)
    # Non-contiguous views and integer input (converted to float64 like SciPy).
    np.testing.assert_allclose(ms.rfft(x[:, ::2, :]), sfft.rfft(x[:, ::2, :]), atol=1e-12)
    ints = rng.integers(-5, 5, (3, 8))
    np.testing.assert_allclose(ms.rfft(ints), sfft.rfft(ints), atol=1e-12)
    assert ms.rfft(np.zeros((0, 8))).shape == (0, 5)


def test_fft_results_independent_of_workers(rng: np.random.Generator) -> None:
    x = rng.standard_normal((64, 512))
    ref = ms.rfft(x, workers=1)
    for w in (2, -1, None):
        np.testing.assert_array_equal(ms.rfft(x, workers=w), ref)


def test_fft_nan_propagates() -> None:
    x = np.ones(16)
    x[3] = np.nan
    assert np.isnan(ms.rfft(x)).all()
    assert not np.isnan(ms.rfft(np.ones(16))).any()


# -- convolution -------------------------------------------------------------------------

METHODS = ["direct", "fft", "overlap_add", "auto"]
MODES = ["full", "same", "valid"]


@pytest.mark.parametrize("n,m", [(1, 1), (2, 1), (5, 3), (3, 5), (64, 64), (100, 7), (1000, 64), (3000, 700), (5000, 1), (257, 33)])
@pytest.mark.parametrize("method", METHODS)
def test_convolve_correlate_match_scipy_every_tier(tier: str, dtype: type, n: int, m: int, method: str, rng: np.random.Generator) -> None:
    a = rng.standard_normal(n).astype(dtype)
    v = rng.standard_normal(m).astype(dtype)
    scale = float(np.abs(a).max() * np.abs(v).sum())
    tol = (1e-5 if dtype == np.float32 else 1e-12) * scale * max(1.0, np.log2(n + m))
    for mode in MODES:
        if mode == "valid" and m > n:
            with pytest.raises(ValueError, match="must not be longer than the signal"):
                ms.convolve(a, v, mode, method)
            continue
        got = ms.convolve(a, v, mode, method)
        ref = ss.convolve(a.astype(np.float64), v.astype(np.float64), mode, method="direct")
        assert got.dtype == dtype and got.shape == ref.shape
        assert np.abs(got - ref).max() <= tol, (mode, method)
        gotc = ms.correlate(a, v, mode, method)
        refc = ss.correlate(a.astype(np.float64), v.astype(np.float64), mode, method="direct")
        assert np.abs(gotc - refc).max() <= tol, (mode, method)


def test_convolve_rows_and_numpy_equivalence(rng: np.random.Generator) -> None:
    a = rng.standard_normal((5, 300))
    v = rng.standard_normal(21)
    for method in METHODS:
        got = ms.convolve(a, v, "same", method)
        assert got.shape == (5, 300)
        for r in range(5):
            np.testing.assert_allclose(got[r], np.convolve(a[r], v, "same"), atol=1e-11)
    # Mixed dtypes: computed in the common type (float64).
    assert ms.convolve(a[0].astype(np.float32), v).dtype == np.float64


def test_overlap_add_many_blocks_and_threads(rng: np.random.Generator) -> None:
    a = rng.standard_normal(100_003)
    v = rng.standard_normal(129)
    ref = ss.oaconvolve(a, v)
    for workers in (1, 2):
        np.testing.assert_allclose(ms.convolve(a, v, method="overlap_add", workers=workers), ref, atol=1e-10)
        np.testing.assert_allclose(ms.convolve(a, v, method="direct", workers=workers), ref, atol=1e-10)
    np.testing.assert_array_equal(ms.convolve(a, v, method="direct", workers=1), ms.convolve(a, v, method="direct", workers=2))


def test_auto_choice_is_sensible() -> None:
    assert ms.choose_convolve_method(np.ones(1_000_000), np.ones(16)) == "direct"
    assert ms.choose_convolve_method(np.ones(1_000_000), np.ones(16_384)) in ("fft", "overlap_add")
    assert ms.choose_convolve_method(np.ones(100), np.ones(100)) == "direct"


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    a=hnp.arrays(np.float64, st.integers(1, 200), elements=st.floats(-100, 100)),
    v=hnp.arrays(np.float64, st.integers(1, 40), elements=st.floats(-100, 100)),
    mode=st.sampled_from(MODES),
    method=st.sampled_from(METHODS),
)
def test_convolve_property_vs_numpy(a: np.ndarray, v: np.ndarray, mode: str, method: str) -> None:
    if mode == "valid" and len(v) > len(a):
        return
    ref = ss.convolve(a, v, mode, method="direct")
    scale = float(np.abs(a).max() * np.abs(v).sum()) + 1e-300
    assert np.abs(ms.convolve(a, v, mode, method) - ref).max() <= 1e-11 * scale * np.log2(len(a) + len(v) + 1)


@settings(max_examples=60, deadline=None)
@given(x=hnp.arrays(np.float64, hnp.array_shapes(min_dims=1, max_dims=3, max_side=12), elements=st.floats(-1e3, 1e3)),
       data=st.data())
def test_rfft_property_vs_scipy(x: np.ndarray, data: st.DataObject) -> None:
    axis = data.draw(st.integers(-x.ndim, x.ndim - 1))
    n = data.draw(st.one_of(st.none(), st.integers(1, 20)))
    np.testing.assert_allclose(ms.rfft(x, n=n, axis=axis), sfft.rfft(x, n=n, axis=axis), atol=1e-9 * (1 + np.abs(x).sum()))


def test_pool_size_caps_workers() -> None:
    before = mlkern.get_num_threads()
    try:
        mlkern.set_num_threads(1)
        x = np.random.default_rng(0).standard_normal((50, 256))
        np.testing.assert_array_equal(ms.rfft(x, workers=8), ms.rfft(x, workers=1))
    finally:
        mlkern.set_num_threads(before)
