"""describe, rolling, welch, spectral_features against SciPy, pandas and NumPy."""

from __future__ import annotations

import inspect
import math
import warnings

import numpy as np
import pandas as pd
import pytest
import scipy.signal as ss
import scipy.stats as st
from hypothesis import given, settings
from hypothesis import strategies as hs
from hypothesis.extra import numpy as hnp

from mlkern import signal as ms


def scipy_fields(ref: object) -> list[np.ndarray]:
    """SciPy's describe result as arrays in field order, minmax split."""
    nobs, (lo, hi), mean, var, skew, kurt = ref  # type: ignore[misc]
    return [np.asarray(v, np.float64) for v in (lo, hi, mean, var, skew, kurt)]


def our_fields(got: ms.DescribeResult) -> list[np.ndarray]:
    nobs, (lo, hi), mean, var, skew, kurt = got
    return [np.asarray(v, np.float64) for v in (lo, hi, mean, var, skew, kurt)]


def test_describe_signature_and_fields_are_scipys() -> None:
    """Same argument names and defaults as scipy.stats.describe, same six fields in the
    same order (minmax a (min, max) tuple), so SciPy code unpacks it unchanged."""
    ours = inspect.signature(ms.describe).parameters
    theirs = inspect.signature(st.describe).parameters
    assert list(ours)[: len(theirs)] == list(theirs)
    for name, p in theirs.items():
        assert ours[name].default == p.default, name
    x = np.random.default_rng(0).standard_normal((40, 3))
    got, ref = ms.describe(x), st.describe(x)
    assert type(got)._fields == type(ref)._fields == ("nobs", "minmax", "mean", "variance", "skewness", "kurtosis")
    assert isinstance(got.minmax, tuple) and len(got.minmax) == 2
    nobs, (lo, hi), mean, var, skew, kurt = got  # SciPy's unpacking
    assert nobs == ref.nobs == 40 and lo.shape == (3,)  # axis=0 default: per column
    np.testing.assert_array_equal(lo, ref.minmax[0])
    np.testing.assert_array_equal(hi, ref.minmax[1])
    for g, r in zip(our_fields(got)[2:], scipy_fields(ref)[2:]):
        np.testing.assert_allclose(g, r, rtol=1e-12, atol=1e-14)
    flat = ms.describe(x, axis=None)
    assert flat.nobs == 120
    np.testing.assert_allclose(flat.variance, st.describe(x, axis=None).variance, rtol=1e-12)
    nanx = x.copy()
    nanx[3, 1] = np.nan
    with pytest.raises(ValueError, match="contains nan"):
        ms.describe(nanx, nan_policy="raise")
    with pytest.raises(ValueError, match="omit"):
        ms.describe(nanx, nan_policy="omit")


@pytest.mark.parametrize("shape,axis", [((1000,), -1), ((7, 513), 1), ((300, 5), 0), ((2, 3, 40), 2), ((4, 1), -1)])
@pytest.mark.parametrize("ddof,bias", [(1, True), (0, False), (2, True)])
def test_describe_matches_scipy(dtype: type, shape: tuple[int, ...], axis: int, ddof: int, bias: bool, rng: np.random.Generator) -> None:
    x = (rng.standard_normal(shape) * 3 + 100).astype(dtype)
    got = ms.describe(x, axis=axis, ddof=ddof, bias=bias)
    with np.errstate(divide="ignore", invalid="ignore"):  # SciPy's own n - ddof <= 0 warnings
        ref = st.describe(x.astype(np.float64), axis=axis, ddof=ddof, bias=bias)
    rtol = 1e-4 if dtype == np.float32 else 1e-9
    assert got.nobs == ref.nobs
    # min and max are copies of data: exact for both dtypes.
    np.testing.assert_array_equal(got.minmax[0], ref.minmax[0])
    np.testing.assert_array_equal(got.minmax[1], ref.minmax[1])
    assert np.asarray(got.minmax[0]).dtype == dtype
    np.testing.assert_allclose(got.mean, ref.mean, rtol=rtol)
    with np.errstate(all="ignore"):
        np.testing.assert_allclose(got.variance, ref.variance, rtol=rtol * 10)
        np.testing.assert_allclose(got.skewness, ref.skewness, rtol=rtol * 100, atol=rtol * 100)
        np.testing.assert_allclose(got.kurtosis, ref.kurtosis, rtol=rtol * 100, atol=rtol * 100)


# describe reads rows in blocks of 256 values (rust/signal/src/describe.rs, BLOCK).
BLOCK = 256
BLOCK_LENGTHS = [1, 2, 3, BLOCK - 1, BLOCK, BLOCK + 1, 2 * BLOCK - 1, 2 * BLOCK, 2 * BLOCK + 1, 5 * BLOCK + 7]


@pytest.mark.parametrize("n", BLOCK_LENGTHS)
def test_describe_blocked_merge_across_block_boundaries(n: int) -> None:
    """Moments merged across blocks equal exact (math.fsum) two-pass moments, within a
    stated bound. Each deviation d = x - mean carries an error of a few u |mean| (the
    mean's own rounding), so m_k = mean(d^k) is off by about k u |mean| sigma^(k-1)
    (sigma = sqrt(m2)); the pairwise merge adds O(u log(n / BLOCK)) relative error.
    Bound used: |Δm_k| <= 64 k u (|mean| + sigma) sigma^(k-1)."""
    rng = np.random.default_rng(n)
    x = 1e6 + rng.standard_normal(n) * 3  # large offset: a naive formula cancels
    got = ms.describe(x, ddof=0)
    mean = math.fsum(x.tolist()) / n
    d = [v - mean for v in x.tolist()]
    m = [math.fsum(t**k for t in d) / n for k in (2, 3, 4)]
    u = 2.0**-53
    sigma = math.sqrt(m[0])
    bound = [64 * k * u * (abs(mean) + sigma) * sigma ** (k - 1) for k in (2, 3, 4)]
    assert got.minmax == (x.min(), x.max())
    assert abs(got.mean - mean) <= 8 * u * abs(mean)
    assert abs(got.variance - m[0]) <= bound[0]
    if n > 1:
        assert abs(got.skewness * m[0] ** 1.5 - m[1]) <= bound[1]
        assert abs((got.kurtosis + 3) * m[0] ** 2 - m[2]) <= bound[2]


NONFINITE_CASES = ["+inf", "-inf", "+inf-inf", "nan", "nan+inf"]


@pytest.mark.parametrize("n", [1, 2, BLOCK - 1, BLOCK, BLOCK + 1, 2 * BLOCK + 1, 1000])
@pytest.mark.parametrize("case", NONFINITE_CASES)
def test_describe_nonfinite_equals_scipy_at_every_block_position(dtype: type, n: int, case: str) -> None:
    """Every field equals scipy.stats.describe (NaN == NaN) with ±inf/NaN at, just
    before and just after each block boundary and at both ends."""
    base = (np.arange(n, dtype=np.float64) % 17 - 8).astype(dtype)
    spots = sorted({p for b in range(0, n + 1, BLOCK) for p in (b - 1, b, b + 1) if 0 <= p < n} | {0, n - 1})
    rows = []
    for p in spots:
        row = base.copy()
        q = (p + BLOCK // 2) % n  # a second spot, in another block when there is one
        if case == "+inf":
            row[p] = np.inf
        elif case == "-inf":
            row[p] = -np.inf
        elif case == "+inf-inf":
            row[p], row[q] = np.inf, -np.inf
        elif case == "nan":
            row[p] = np.nan
        else:
            row[p], row[q] = np.nan, np.inf
        rows.append(row)
    x = np.array(rows)
    with np.errstate(all="ignore"):
        ref = st.describe(x, axis=1)
        ref_unbiased = st.describe(x, axis=1, bias=False)
    for got, want in ((ms.describe(x, axis=1), ref), (ms.describe(x, axis=1, bias=False), ref_unbiased)):
        assert got.nobs == want.nobs
        for g, w, name in zip(our_fields(got), scipy_fields(want), ("min", "max", "mean", "variance", "skewness", "kurtosis")):
            np.testing.assert_array_equal(g, w, err_msg=f"{case} n={n} {name}")


def test_describe_one_inf_in_a_row_longer_than_a_block() -> None:
    """The reported case: 257 samples, one +inf. NumPy/SciPy: mean = inf."""
    x = np.ones(257)
    x[0] = np.inf
    got = ms.describe(x)
    assert got.mean == np.inf and got.minmax == (1.0, np.inf)
    assert np.isnan(got.variance) and np.isnan(got.skewness) and np.isnan(got.kurtosis)


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
    got = ms.describe(x, axis=1)
    assert all(np.isnan(v[0]) for v in our_fields(got))
    assert got.variance[1] == 0 and np.isnan(got.skewness[1]) and np.isnan(got.kurtosis[1])
    ref = st.describe(x[2])
    np.testing.assert_allclose(got.skewness[2], ref.skewness)


STATS = ["mean", "std", "var", "min", "max", "sum", "skew"]


def segment_len(window: int) -> int:
    """rolling's restart period (rust/signal/src/rolling.rs, segment_len)."""
    return max(16 * window, 1 << 14)


def pandas_rolling(x: np.ndarray, window: int, stat: str) -> np.ndarray:
    """pandas on each column of a 2-D array (or on a 1-D series)."""
    frame = pd.DataFrame(x) if x.ndim == 2 else pd.Series(x)
    return getattr(frame.rolling(window), stat)().to_numpy()


def assert_rolling_close(got: np.ndarray, ref: np.ndarray, msg: str = "") -> None:
    np.testing.assert_array_equal(np.isnan(got), np.isnan(ref), err_msg=msg)
    ok = ~np.isnan(ref)
    np.testing.assert_allclose(got[ok], ref[ok], rtol=1e-8, atol=1e-9, err_msg=msg)


@pytest.mark.parametrize("stat", STATS)
@pytest.mark.parametrize("window", [1, 2, 3, 10, 100, 1000])
def test_rolling_matches_pandas(stat: str, window: int, rng: np.random.Generator) -> None:
    # 40 000 samples: more than two restart segments for every window here, with NaNs
    # inside the first segment and on both sides of the boundaries.
    x = rng.standard_normal(40_000) * 10 + 50
    x[[100, 2500, 16_383, 16_390, 32_767, 32_768]] = np.nan
    assert len(x) > 2 * segment_len(window)
    got = ms.rolling(x, window, stat)
    assert_rolling_close(got, pandas_rolling(x, window, stat))


def test_rolling_reported_nan_before_segment_boundary() -> None:
    """The reported case: a NaN 5 samples before the first restart (16384) made the
    min/max replay count a NaN it never saw leave (the count went below zero)."""
    x = np.arange(40_000.0) % 7
    x[16_379] = np.nan
    for stat in STATS:
        assert_rolling_close(ms.rolling(x, 3, stat), pandas_rolling(x, 3, stat), stat)


BOUNDARY_WINDOWS = [1, 2, 3, 7, 1500, 5000]


@pytest.mark.parametrize("window", BOUNDARY_WINDOWS)
@pytest.mark.parametrize("workers", [1, 2])
def test_rolling_nan_around_every_segment_boundary(window: int, workers: int) -> None:
    """Every statistic against pandas with one NaN per row at a fixed offset from
    every segment boundary: at it, just before and after it, and where it leaves the
    window during the next segment's warm-up replay (offsets -w-2 .. -w+1)."""
    seg = segment_len(window)
    n = 3 * seg + 17
    w = window
    offsets = sorted({-w - 2, -w - 1, -w, -w + 1, -2, -1, 0, 1, 2, w - 1, w})
    rng = np.random.default_rng(window)
    base = rng.standard_normal(n) * 10 + 50
    cols = []
    for d in offsets:
        col = base.copy()
        for b in range(seg, n, seg):
            if 0 <= b + d < n:
                col[b + d] = np.nan
        cols.append(col)
    x = np.stack(cols, axis=1)  # (n, len(offsets)): each column a series (axis=0 default)
    for stat in STATS:
        got = ms.rolling(x, window, stat, workers=workers)
        assert_rolling_close(got, pandas_rolling(x, window, stat), f"{stat} w={window}")
        # Same numbers along rows (axis=1), and independent of the thread count.
        np.testing.assert_array_equal(ms.rolling(np.ascontiguousarray(x.T), window, stat, axis=1, workers=3 - workers),
                                      got.T)


def numpy_windows(x: np.ndarray, window: int, stat: str) -> np.ndarray:
    """NumPy's value of each full window (the rule for infinities), NaN before."""
    from numpy.lib.stride_tricks import sliding_window_view

    v = sliding_window_view(x, window)
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # ddof=1 of one sample
        if stat == "skew":
            vals = st.skew(v, axis=-1, bias=False)
            vals = np.where(np.isfinite(v).all(axis=-1), vals, np.nan)
        elif stat in ("var", "std"):
            vals = getattr(v, stat)(axis=-1, ddof=1)
        else:
            vals = getattr(v, stat)(axis=-1)
    return np.concatenate([np.full(window - 1, np.nan), vals])


@pytest.mark.parametrize("window", [1, 2, 3, 50, 1200])
def test_rolling_infinities_follow_numpy_per_window(window: int) -> None:
    """The documented rule: a window holding ±inf has NumPy's value on that window
    (sum/mean ±inf, NaN with both signs; min/max the true extreme; var/std/skew NaN),
    exactly; pandas (which turns ±inf into NaN first) agrees on every other window.
    Infinities sit at, before and after segment boundaries."""
    seg = segment_len(window)
    n = 2 * seg + 11
    rng = np.random.default_rng(5)
    x = rng.standard_normal(n) * 10 + 50
    for b, sign in ((seg, 1), (2 * seg, -1)):
        x[b - window - 1] = sign * np.inf
        x[b - 1] = -sign * np.inf
        x[b + 1] = sign * np.inf
    x[7] = np.inf
    x[8] = -np.inf
    has_inf = np.convolve(np.isinf(x), np.ones(window), "full")[: n] > 0
    has_inf[: window - 1] = False
    for stat in STATS:
        got = ms.rolling(x, window, stat)
        want = numpy_windows(x, window, stat)
        # Exact on windows holding an infinity: the same ±inf, or NaN.
        np.testing.assert_array_equal(got[has_inf], want[has_inf], err_msg=stat)
        ref = pandas_rolling(np.where(np.isinf(x), np.nan, x), window, stat)
        assert_rolling_close(got[~has_inf], ref[~has_inf], stat)


def test_rolling_infinities() -> None:
    x = np.array([1.0, 2.0, np.inf, 3.0, 4.0, 5.0])
    assert np.isinf(ms.rolling(x, 2, "sum")[2:4]).all()
    assert ms.rolling(x, 2, "sum")[4] == 7.0  # exact again once inf has left
    assert np.isnan(ms.rolling(x, 2, "std")[2:4]).all() and ms.rolling(x, 2, "std")[5] > 0
    assert ms.rolling(x, 2, "max")[3] == np.inf
    assert ms.rolling(x, 2, "min")[3] == 3.0
    both = np.array([1.0, np.inf, -np.inf, 2.0])
    np.testing.assert_array_equal(ms.rolling(both, 2, "sum"), [np.nan, np.inf, np.nan, -np.inf])
    np.testing.assert_array_equal(ms.rolling(both, 2, "mean"), [np.nan, np.inf, np.nan, -np.inf])
    np.testing.assert_array_equal(ms.rolling(both, 2, "max"), [np.nan, np.inf, np.inf, 2.0])


def test_rolling_signature_and_axis_follow_pandas(rng: np.random.Generator) -> None:
    """``window`` as pandas names it; 2-D input rolls down columns by default, as
    ``pandas.DataFrame.rolling``; ``axis=1`` rolls along rows; ddof=1 for std/var
    and min_periods = window, pandas' defaults."""
    params = inspect.signature(ms.rolling).parameters
    assert list(params)[:4] == ["x", "window", "stat", "axis"] and params["axis"].default == 0
    assert "window" in inspect.signature(pd.DataFrame.rolling).parameters
    assert inspect.signature(pd.core.window.rolling.Rolling.std).parameters["ddof"].default == 1
    x = rng.standard_normal((500, 4))
    for stat in STATS:
        assert_rolling_close(ms.rolling(x, 20, stat), getattr(pd.DataFrame(x).rolling(20), stat)().to_numpy())
        assert_rolling_close(ms.rolling(x.T, 20, stat, axis=1), getattr(pd.DataFrame(x).rolling(20), stat)().to_numpy().T)
        assert_rolling_close(ms.rolling(x.T, 20, stat, axis=-1), getattr(pd.DataFrame(x).rolling(20), stat)().to_numpy().T)
    with pytest.raises(ValueError, match="window must be in 1..=4"):
        ms.rolling(x, 20, "mean", axis=1)
    with pytest.raises(ValueError, match="axis 2 is out of bounds"):
        ms.rolling(x, 2, "mean", axis=2)


def test_rolling_rows_threads_and_float32(rng: np.random.Generator) -> None:
    x = rng.standard_normal((3, 70_000)).astype(np.float32)
    got = ms.rolling(x, 50, "std", axis=1)
    assert got.dtype == np.float32 and got.shape == x.shape
    for r in range(3):
        ref = pd.Series(x[r].astype(np.float64)).rolling(50).std().to_numpy()
        np.testing.assert_allclose(got[r, 49:], ref[49:], rtol=1e-4)
    np.testing.assert_array_equal(ms.rolling(x, 50, "skew", axis=1, workers=1), ms.rolling(x, 50, "skew", axis=1, workers=2))


def test_rolling_std_does_not_drift_over_ten_million_samples() -> None:
    rng = np.random.default_rng(7)
    x = 1e3 + rng.standard_normal(10_000_000)
    got = ms.rolling(x, 100, "std")
    last = x[-100:]
    m = math.fsum(last.tolist()) / 100
    ref = math.sqrt(math.fsum(((last - m) ** 2).tolist()) / 99)
    assert abs(got[-1] - ref) <= 1e-9 * ref


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


# welch sums segments in fixed tasks of 64 (rust/signal/src/spectral.rs, SEGMENTS_PER_TASK).
SEGMENTS_PER_TASK = 64


@pytest.mark.parametrize("nseg", [1, 63, 64, 65, 128, 129, 200])
@pytest.mark.parametrize("workers", [1, 2])
def test_welch_across_segment_tasks(dtype: type, nseg: int, workers: int) -> None:
    """Segment counts at and around the task boundaries, rows fewer and more than the
    threads, against SciPy; the result does not depend on the thread count; a NaN in
    the first segment of the second task makes exactly its row NaN (as SciPy)."""
    nperseg, noverlap = 32, 16
    n = noverlap + nseg * (nperseg - noverlap)
    rng = np.random.default_rng(nseg)
    x = (rng.standard_normal((3, n)) * 2 + 1).astype(dtype)
    if nseg > SEGMENTS_PER_TASK:
        x[1, SEGMENTS_PER_TASK * (nperseg - noverlap) + noverlap + 3] = np.nan
    _, got = ms.welch(x, fs=3.0, nperseg=nperseg, noverlap=noverlap, workers=workers)
    _, ref = ss.welch(x.astype(np.float64), fs=3.0, nperseg=nperseg, noverlap=noverlap)
    rtol = 1e-4 if dtype == np.float32 else 1e-10
    np.testing.assert_array_equal(np.isnan(got), np.isnan(ref))
    ok = ~np.isnan(ref)
    np.testing.assert_allclose(got[ok], ref[ok], rtol=rtol, atol=1e-12 * np.abs(ref[ok]).max())
    assert np.isnan(got[1]).all() == (nseg > SEGMENTS_PER_TASK)
    _, other = ms.welch(x, fs=3.0, nperseg=nperseg, noverlap=noverlap, workers=3 - workers)
    np.testing.assert_array_equal(got, other)


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
