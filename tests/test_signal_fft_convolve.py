"""mlkern.signal FFTs and convolution against scipy.fft / scipy.signal / numpy."""

from __future__ import annotations

import inspect

import numpy as np
import pytest
import scipy.fft as sfft
import scipy.signal as ss
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import mlkern
from mlkern import signal as ms

from conftest import gamma

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


@pytest.mark.parametrize("n", [16, 64, 256])
def test_rfft_lane_batches_and_thread_splits(tier: str, dtype: type, n: int) -> None:
    """Row counts around every multiple of the lane count (1, 2, 4, 8, 16 lanes per
    tier) and large enough that two threads split the batches into several tasks;
    zero-padded (n_in < n) and truncated (n_in > n) rows; against SciPy within the
    FFT bound, and bit-identical for 1 and 2 workers."""
    rng = np.random.default_rng(n)
    for rows in (1, 2, 3, 7, 8, 9, 15, 16, 17, 31, 33, 63, 65, 257, 1000):
        for n_in in (n, n - 5, n + 3):
            x = rng.standard_normal((rows, n_in)).astype(dtype)
            ref = sfft.rfft(x.astype(np.float64), n=n)
            got = ms.rfft(x, n=n, workers=1)
            err = np.abs(got - ref).max(axis=1)
            assert (err <= [fft_tol(row, n, dtype) for row in x]).all(), (rows, n_in)
            np.testing.assert_array_equal(ms.rfft(x, n=n, workers=2), got)


def test_rfft_of_rows_with_no_values() -> None:
    """Rows of length 0 zero-padded to n: all zeros (no address of a missing row or
    value is formed)."""
    for rows in (1, 7, 16, 17):
        for n in (2, 8, 64, 1024):
            got = ms.rfft(np.zeros((rows, 0)), n=n)
            assert got.shape == (rows, n // 2 + 1)
            np.testing.assert_array_equal(got, 0)


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


def mode_slice(full: np.ndarray, n: int, m: int, mode: str) -> np.ndarray:
    """The ``mode`` part of a full convolution (last axis), as scipy.signal.convolve."""
    start, length = {"full": (0, n + m - 1), "same": ((m - 1) // 2, n), "valid": (m - 1, n - m + 1)}[mode]
    return full[..., start:start + length]


def direct_bound(a: np.ndarray, v: np.ndarray, mode: str, dtype: type) -> np.ndarray:
    """Per-output bound of |ours - SciPy direct in float64| for a direct sum: each side's
    error is at most γ_m Σ_j |a[k-j] v[j]| (any summation order, with or without FMA),
    computed in the input dtype for ours and in float64 for the reference."""
    m = len(v)
    mags = np.convolve(np.abs(a).astype(np.float64), np.abs(v).astype(np.float64))
    return (gamma(m, dtype) + gamma(m, np.float64)) * mode_slice(mags, len(a), m, mode) + 1e-300


def fft_bound(a: np.ndarray, v: np.ndarray, ref: np.ndarray, dtype: type, method: str) -> float:
    """Max-norm bound of an FFT convolution's error (fft or overlap-add): a transform of
    length N has 2-norm error <= c log2(N) u times its result's 2-norm; propagating the
    forward transforms of a and v through the product and the inverse transform gives
    ||ŷ - y||_2 <= c u log2(N) (2 ||a||_2 ||v||_2 + ||y||_2), c = 5 (the constant the
    tiers test for mlkern's FFT), doubled for overlap-add (each output is the sum of
    at most two blocks), plus the direct reference's own error."""
    n, m = len(a), len(v)
    # An upper bound of either method's transform length (only its log2 enters).
    nfft = max(n + m - 1, 8 * m, 1024)
    a64, v64 = a.astype(np.float64), v.astype(np.float64)
    norms = 2 * np.linalg.norm(a64) * np.linalg.norm(v64) + np.linalg.norm(ref)
    c = 5 * (2 if method == "overlap_add" else 1)
    return c * UNIT[dtype] * np.log2(nfft) * norms + gamma(m, np.float64) * float(np.abs(a64).max() * np.abs(v64).sum())


def conv_bound(a: np.ndarray, v: np.ndarray, mode: str, method: str, ref: np.ndarray, dtype: type) -> np.ndarray | float:
    used = ms.choose_convolve_method(a, v, mode) if method == "auto" else method
    return direct_bound(a, v, mode, dtype) if used == "direct" else fft_bound(a, v, ref, dtype, used)


@pytest.mark.parametrize("n,m", [(1, 1), (2, 1), (5, 3), (3, 5), (64, 64), (100, 7), (1000, 64), (3000, 700), (5000, 1), (257, 33)])
@pytest.mark.parametrize("method", METHODS)
def test_convolve_correlate_match_scipy_every_tier(tier: str, dtype: type, n: int, m: int, method: str, rng: np.random.Generator) -> None:
    a = rng.standard_normal(n).astype(dtype)
    v = rng.standard_normal(m).astype(dtype)
    for mode in MODES:
        if mode == "valid" and m > n:
            with pytest.raises(ValueError, match="must not be longer than the signal"):
                ms.convolve(a, v, mode, method)
            continue
        got = ms.convolve(a, v, mode, method)
        ref = ss.convolve(a.astype(np.float64), v.astype(np.float64), mode, method="direct")
        assert got.dtype == dtype and got.shape == ref.shape
        assert (np.abs(got - ref) <= conv_bound(a, v, mode, method, ref, dtype)).all(), (mode, method)
        gotc = ms.correlate(a, v, mode, method)
        refc = ss.correlate(a.astype(np.float64), v.astype(np.float64), mode, method="direct")
        assert (np.abs(gotc - refc) <= conv_bound(a, v[::-1].copy(), mode, method, refc, dtype)).all(), (mode, method)


def test_convolve_signature_matches_scipy() -> None:
    """The positional arguments and defaults of scipy.signal.convolve/correlate
    (``mode="full"``, ``method="auto"``; names ``a``, ``v`` as numpy.convolve), then
    ``axis`` (default -1)."""
    for ours, theirs in ((ms.convolve, ss.convolve), (ms.correlate, ss.correlate)):
        po, pt = list(inspect.signature(ours).parameters.values()), list(inspect.signature(theirs).parameters.values())
        assert [p.name for p in po[:2]] == [p.name for p in inspect.signature(np.convolve).parameters.values()][:2]
        assert [(p.name, p.default) for p in po[2:4]] == [(p.name, p.default) for p in pt[2:4]]
        assert po[4].name == "axis" and po[4].default == -1
    a = np.random.default_rng(0).standard_normal(50)
    np.testing.assert_allclose(ms.convolve(a, a[:5]), ss.convolve(a, a[:5]), atol=1e-13)


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("mode", MODES)
def test_convolve_correlate_2d_axis(method: str, mode: str, rng: np.random.Generator) -> None:
    """2-D ``a``: ``axis=-1`` (default) convolves each row, as
    ``scipy.signal.convolve(a, v[None, :])``; ``axis=0`` each column, as
    ``scipy.signal.convolve(a, v[:, None])``."""
    a = rng.standard_normal((6, 300))
    v = rng.standard_normal(21)
    for f, g in ((ms.convolve, ss.convolve), (ms.correlate, ss.correlate)):
        rows = f(a, v, mode, method)
        ref_rows = g(a, v[None, :], mode, method="direct")
        cols = f(a.T, v, mode, method, axis=0)
        ref_cols = g(a.T, v[:, None], mode, method="direct")
        assert rows.shape == ref_rows.shape and cols.shape == ref_cols.shape
        vv = v if f is ms.convolve else v[::-1].copy()
        for r in range(6):
            bound = conv_bound(a[r], vv, mode, method, ref_rows[r], np.float64)
            assert (np.abs(rows[r] - ref_rows[r]) <= bound).all()
            assert (np.abs(cols[:, r] - ref_cols[:, r]) <= bound).all()
        np.testing.assert_array_equal(f(a, v, mode, method, axis=1), rows)
        np.testing.assert_array_equal(f(a.T, v, mode, method, axis=-2), cols)
    with pytest.raises(ValueError, match="axis 2 is out of bounds"):
        ms.convolve(a, v, axis=2)
    with pytest.raises(ValueError, match="axis 1 is out of bounds"):
        ms.convolve(a[0], v, axis=1)


def test_convolve_rows_and_numpy_equivalence(rng: np.random.Generator) -> None:
    a = rng.standard_normal((5, 300))
    v = rng.standard_normal(21)
    for method in METHODS:
        got = ms.convolve(a, v, "same", method)
        assert got.shape == (5, 300)
        for r in range(5):
            ref = np.convolve(a[r], v, "same")
            assert (np.abs(got[r] - ref) <= conv_bound(a[r], v, "same", method, ref, np.float64)).all()
    # Mixed dtypes: computed in the common type (float64).
    assert ms.convolve(a[0].astype(np.float32), v).dtype == np.float64


def overlap_add_block(m: int) -> int:
    """Samples per overlap-add block (rust/signal/src/convolve.rs): N - m + 1."""
    return (1 << int(np.ceil(np.log2(max(8 * m, 1024))))) - m + 1


@pytest.mark.parametrize("m", [1, 2, 129, 1000])
@pytest.mark.parametrize("blocks", [1, 2, 5])
@pytest.mark.parametrize("extra", [-1, 0, 1])
def test_overlap_add_across_block_boundaries(m: int, blocks: int, extra: int) -> None:
    """Signals of whole blocks and one sample more or less, 1 and 2 rows, 1 and 2
    threads (a single row splits its blocks over threads), against SciPy direct
    within the stated FFT bound; the result does not depend on the thread count."""
    n = blocks * overlap_add_block(m) + extra
    rng = np.random.default_rng(n + m)
    v = rng.standard_normal(m)
    for rows in (1, 2):
        a = rng.standard_normal((rows, n))
        got = {w: ms.convolve(a, v, method="overlap_add", workers=w) for w in (1, 2)}
        np.testing.assert_array_equal(got[1], got[2])
        for r in range(rows):
            ref = ss.convolve(a[r], v, method="direct")
            assert (np.abs(got[1][r] - ref) <= fft_bound(a[r], v, ref, np.float64, "overlap_add")).all()


def test_overlap_add_many_blocks_and_threads(rng: np.random.Generator) -> None:
    a = rng.standard_normal(100_003)
    v = rng.standard_normal(129)
    ref = ss.convolve(a, v, method="direct")
    for workers in (1, 2):
        got = ms.convolve(a, v, method="overlap_add", workers=workers)
        assert (np.abs(got - ref) <= fft_bound(a, v, ref, np.float64, "overlap_add")).all()
        got = ms.convolve(a, v, method="direct", workers=workers)
        assert (np.abs(got - ref) <= direct_bound(a, v, "full", np.float64)).all()
    np.testing.assert_array_equal(ms.convolve(a, v, method="direct", workers=1), ms.convolve(a, v, method="direct", workers=2))


def test_auto_choice_is_sensible() -> None:
    assert ms.choose_convolve_method(np.ones(1_000_000), np.ones(16)) == "direct"
    assert ms.choose_convolve_method(np.ones(1_000_000), np.ones(16_384)) in ("fft", "overlap_add")
    assert ms.choose_convolve_method(np.ones(100), np.ones(100)) == "direct"


def nonfinite_reach(a: np.ndarray, m: int, mode: str) -> np.ndarray:
    """Outputs whose window holds a non-finite value of ``a`` (the direct sum's pattern)."""
    return mode_slice(np.convolve(~np.isfinite(a), np.ones(m)) > 0, len(a), m, mode)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_auto_keeps_the_direct_nonfinite_pattern(mode: str, bad: float) -> None:
    """``auto`` would pick an FFT method for these sizes; with one NaN/±inf in ``a``
    (or in ``v``) it computes directly, so only the ``len(v)`` outputs whose window
    holds it are non-finite, as numpy.convolve; finite outputs within the direct bound."""
    rng = np.random.default_rng(1)
    a = rng.standard_normal(30_000)
    v = rng.standard_normal(3000)
    assert ms.choose_convolve_method(a, v, mode) in ("fft", "overlap_add")
    a[12_345] = bad
    assert ms.choose_convolve_method(a, v, mode) == "direct"
    got = ms.convolve(a, v, mode)
    ref = ss.convolve(a, v, mode, method="direct")
    reach = nonfinite_reach(a, len(v), mode)
    np.testing.assert_array_equal(~np.isfinite(got), reach)
    np.testing.assert_array_equal(np.isnan(got), np.isnan(ref))
    assert (np.abs(got[~reach] - ref[~reach]) <= direct_bound(a, v, mode, np.float64)[~reach]).all()
    gotc = ms.correlate(a, v, mode)
    np.testing.assert_array_equal(~np.isfinite(gotc), mode_slice(np.convolve(~np.isfinite(a), np.ones(len(v))) > 0,
                                                                  len(a), len(v), mode))
    # A non-finite tap: every output that uses it (all of them, for a full-length row).
    a[12_345] = 0.0
    v[7] = bad
    assert ms.choose_convolve_method(a, v, mode) == "direct"
    np.testing.assert_array_equal(np.isnan(ms.convolve(a, v, mode)), np.isnan(ss.convolve(a, v, mode, method="direct")))


def test_explicit_fft_methods_spread_nonfinite_as_documented() -> None:
    """``method="fft"`` mixes the whole row: one NaN makes every output NaN;
    ``"overlap_add"`` spreads it over its block's outputs (and the next block's
    head), never beyond."""
    rng = np.random.default_rng(2)
    a = rng.standard_normal(20_000)
    v = rng.standard_normal(100)
    a[5000] = np.nan
    assert np.isnan(ms.convolve(a, v, method="fft")).all()
    oa = ms.convolve(a, v, method="overlap_add")
    block = overlap_add_block(len(v))
    b = 5000 // block
    nan_at = np.flatnonzero(np.isnan(oa))
    assert nan_at.min() >= b * block and nan_at.max() < (b + 1) * block + len(v) - 1
    assert len(nan_at) > len(v)  # wider than the direct pattern
    assert np.isfinite(oa[: b * block]).all()


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
    assert (np.abs(ms.convolve(a, v, mode, method) - ref) <= conv_bound(a, v, mode, method, ref, np.float64)).all()


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
