"""describe, rolling, welch, spectral_features against SciPy, pandas and NumPy."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
import scipy.signal as ss
import scipy.stats as st
from hypothesis import given, settings
from hypothesis import strategies as hs
from hypothesis.extra import numpy as hnp

from mlkern import signal as ms


@pytest.mark.parametrize("shape,axis", [((1000,), -1), ((7, 513), 1), ((300, 5), 0), ((2, 3, 40), 2), ((4, 1), -1)])
@pytest.mark.parametrize("ddof,bias", [(1, True), (0, False), (2, True)])
def test_describe_matches_scipy(dtype: type, shape: tuple[int, ...], axis: int, ddof: int, bias: bool, rng: np.random.Generator) -> None:
    x = (rng.standard_normal(shape) * 3 + 100).astype(dtype)
    got = ms.describe(x, axis=axis, ddof=ddof, bias=bias)
    with np.errstate(divide="ignore", invalid="ignore"):  # SciPy's own n - ddof <= 0 warnings
        ref = st.describe(x.astype(np.float64), axis=axis, ddof=ddof, bias=bias)
    rtol = 1e-4 if dtype == np.float32 else 1e-9
    assert got.nobs == ref.nobs
    np.testing.assert_allclose(got.min, ref.minmax[0], rtol=rtol)
    np.testing.assert_allclose(got.max, ref.minmax[1], rtol=rtol)
    np.testing.assert_allclose(got.mean, ref.mean, rtol=rtol)
    with np.errstate(all="ignore"):
        np.testing.assert_allclose(got.variance, ref.variance, rtol=rtol * 10)
        np.testing.assert_allclose(got.skewness, ref.skewness, rtol=rtol * 100, atol=rtol * 100)
        np.testing.assert_allclose(got.kurtosis, ref.kurtosis, rtol=rtol * 100, atol=rtol * 100)
    assert got.minmax == (got.min, got.max)


def test_describe_is_accurate_on_large_offsets() -> None:
    """float64 accumulation and pairwise merging: no cancellation from a huge mean."""
    rng = np.random.default_rng(1)
    x = 1e9 + rng.standard_normal(100_000)
    got = ms.describe(x)
    exact_mean = math.fsum(x.tolist()) / len(x)
    exact_var = math.fsum(((x - exact_mean) ** 2).tolist()) / (len(x) - 1)
    assert abs(got.mean - exact_mean) <= 1e-15 * 1e9 * 4
    assert abs(got.variance - exact_var) <= 1e-6 * exact_var


def test_describe_nan_and_constant_rows() -> None:
    x = np.array([[1.0, 2.0, np.nan, 4.0], [3.0, 3.0, 3.0, 3.0], [1.0, 2.0, 3.0, 5.0]])
    got = ms.describe(x)
    assert all(np.isnan(v[0]) for v in got[1:])
    assert got.variance[1] == 0 and np.isnan(got.skewness[1]) and np.isnan(got.kurtosis[1])
    ref = st.describe(x[2])
    np.testing.assert_allclose(got.skewness[2], ref.skewness)


STATS = ["mean", "std", "var", "min", "max", "sum", "skew"]


@pytest.mark.parametrize("stat", STATS)
@pytest.mark.parametrize("window", [1, 2, 3, 10, 100, 1000])
def test_rolling_matches_pandas(stat: str, window: int, rng: np.random.Generator) -> None:
    x = rng.standard_normal(5000) * 10 + 50
    x[[100, 2500]] = np.nan
    got = ms.rolling(x, window, stat)
    ref = getattr(pd.Series(x).rolling(window), stat)().to_numpy()
    np.testing.assert_array_equal(np.isnan(got), np.isnan(ref))
    ok = ~np.isnan(ref)
    np.testing.assert_allclose(got[ok], ref[ok], rtol=1e-8, atol=1e-9)


def test_rolling_rows_threads_and_float32(rng: np.random.Generator) -> None:
    x = rng.standard_normal((3, 70_000)).astype(np.float32)
    got = ms.rolling(x, 50, "std")
    assert got.dtype == np.float32 and got.shape == x.shape
    for r in range(3):
        ref = pd.Series(x[r].astype(np.float64)).rolling(50).std().to_numpy()
        np.testing.assert_allclose(got[r, 49:], ref[49:], rtol=1e-4)
    np.testing.assert_array_equal(ms.rolling(x, 50, "skew", workers=1), ms.rolling(x, 50, "skew", workers=2))


def test_rolling_std_does_not_drift_over_ten_million_samples() -> None:
    rng = np.random.default_rng(7)
    x = 1e3 + rng.standard_normal(10_000_000)
    got = ms.rolling(x, 100, "std")
    last = x[-100:]
    m = math.fsum(last.tolist()) / 100
    ref = math.sqrt(math.fsum(((last - m) ** 2).tolist()) / 99)
    assert abs(got[-1] - ref) <= 1e-9 * ref


def test_rolling_infinities() -> None:
    x = np.array([1.0, 2.0, np.inf, 3.0, 4.0, 5.0])
    assert np.isinf(ms.rolling(x, 2, "sum")[2:4]).all()
    assert ms.rolling(x, 2, "sum")[4] == 7.0  # exact again once inf has left
    assert np.isnan(ms.rolling(x, 2, "std")[2:4]).all() and ms.rolling(x, 2, "std")[5] > 0
    assert ms.rolling(x, 2, "max")[3] == np.inf


@settings(max_examples=60, deadline=None)
@given(x=hnp.arrays(np.float64, hs.integers(1, 300), elements=hs.floats(-1e4, 1e4)), data=hs.data())
def test_rolling_property_vs_pandas(x: np.ndarray, data: hs.DataObject) -> None:
    window = data.draw(hs.integers(1, len(x)))
    stat = data.draw(hs.sampled_from(["mean", "sum", "min", "max", "std"]))
    got = ms.rolling(x, window, stat)
    ref = getattr(pd.Series(x).rolling(window), stat)().to_numpy()
    np.testing.assert_array_equal(np.isnan(got), np.isnan(ref))
    ok = ~np.isnan(ref)
    np.testing.assert_allclose(got[ok], ref[ok], rtol=1e-7, atol=1e-7 * (1 + np.abs(x).max()))


@pytest.mark.parametrize("n,nperseg", [(1000, 256), (10_000, 128), (257, 256), (300, 31), (5000, 1)])
def test_welch_matches_scipy(dtype: type, n: int, nperseg: int, rng: np.random.Generator) -> None:
    x = (rng.standard_normal((2, n)) + 3).astype(dtype)
    f, p = ms.welch(x, fs=250.0, nperseg=nperseg)
    fr, pr = ss.welch(x, fs=250.0, nperseg=nperseg)
    np.testing.assert_allclose(f, fr)
    assert p.dtype == pr.dtype == dtype
    np.testing.assert_allclose(p, pr, rtol=1e-4 if dtype == np.float32 else 1e-10, atol=1e-12)
    f2, p2 = ms.welch(x.T, fs=250.0, nperseg=nperseg, axis=0)
    np.testing.assert_allclose(p2, ss.welch(x.T, fs=250.0, nperseg=nperseg, axis=0)[1], rtol=1e-4, atol=1e-12)


def test_welch_nperseg_longer_than_signal_warns_like_scipy() -> None:
    x = np.random.default_rng(0).standard_normal(100)
    with pytest.warns(UserWarning, match="nperseg = 256 is greater than input length"):
        f, p = ms.welch(x)
    np.testing.assert_allclose(p, ss.welch(x, nperseg=100)[1], rtol=1e-10)


def reference_features(x: np.ndarray, fs: float, bands: list[tuple[float, float]]) -> dict[str, float]:
    n = len(x)
    spec = np.fft.rfft(x)
    p = np.abs(spec) ** 2 / (fs * n)
    p[1:] *= 2
    if n % 2 == 0:
        p[-1] /= 2
    f = np.fft.rfftfreq(n, 1 / fs)
    df = fs / n
    s = p.sum()
    q = p / s
    c = (f * p).sum() / s
    cum = np.cumsum(p)
    return {
        "total_power": s * df,
        "centroid": c,
        "spread": math.sqrt(((f - c) ** 2 * p).sum() / s),
        "entropy": float(-(q[q > 0] * np.log(q[q > 0])).sum() / np.log(len(p))),
        "rolloff": f[np.argmax(cum >= 0.85 * s)],
        "dominant_frequency": f[np.argmax(p)],
        "dominant_power": p.max(),
        "band_powers": [p[(f >= lo) & (f < hi)].sum() * df for lo, hi in bands],
    }


@pytest.mark.parametrize("n", [64, 101, 1000])
def test_spectral_features_match_numpy_reference(n: int, rng: np.random.Generator) -> None:
    x = rng.standard_normal((3, n)) + np.sin(np.arange(n) * 0.3)
    bands = [(0.0, 5.0), (5.0, 20.0), (20.0, 1e9)]
    got = ms.spectral_features(x, 50.0, bands=bands)
    for r in range(3):
        ref = reference_features(x[r], 50.0, bands)
        for k, v in ref.items():
            np.testing.assert_allclose(got[k][r], v, rtol=1e-9, atol=1e-12, err_msg=k)
    # Parseval: total power is the mean square.
    np.testing.assert_allclose(got["total_power"], (x**2).mean(axis=1), rtol=1e-10)
    one = ms.spectral_features(x[0], 50.0)
    assert one["centroid"].shape == () and one["band_powers"].shape == (0,)
    zero = ms.spectral_features(np.zeros(16), 1.0)
    assert np.isnan(zero["centroid"]) and zero["total_power"] == 0
