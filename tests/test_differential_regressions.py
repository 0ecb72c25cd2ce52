"""Plain regression tests for the wrong answers found by the differential campaign
(issue 17) and listed in the sprint brief; each one is also reachable by the
hypothesis tests in tests/test_differential_*.py. References: NumPy/SciPy/pandas."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import scipy.fft as sfft
import scipy.signal as ssig
import scipy.sparse as sp
import scipy.stats as sst
from _strategies import TIERS, kernel_context

from mlkern import linalg, vector
from mlkern import signal as ms


@pytest.mark.parametrize("tier", TIERS)
@pytest.mark.parametrize("stat", ["min", "max"])
@pytest.mark.parametrize("nthreads", [1, 2])
def test_rolling_minmax_after_nan_before_segment_boundary(tier: str, stat: str, nthreads: int) -> None:
    """NaN at 16379, window 3: the segment starting at 16384 (segment_len = 16384)
    must not see the NaN; pandas gives the exact answer."""
    x = np.arange(40000.0) % 7
    x[16379] = np.nan
    with kernel_context(tier, nthreads):
        got = ms.rolling(x, 3, stat)
    ref = getattr(pd.Series(x).rolling(3), stat)().to_numpy()
    np.testing.assert_array_equal(got, ref)


@pytest.mark.parametrize("tier", TIERS)
@pytest.mark.parametrize("n", [257, 300, 513, 1000])
def test_describe_mean_with_one_inf_over_a_block(tier: str, n: int) -> None:
    """More than one block of 256 samples and one +inf: mean is +inf (SciPy), not NaN."""
    x = np.ones(n)
    x[5] = np.inf
    with kernel_context(tier), np.errstate(all="ignore"):
        got = ms.describe(x, axis=0)
        ref = sst.describe(x)
    assert got.mean == np.inf and ref.mean == np.inf
    assert got.minmax == (1.0, np.inf)
    assert np.isnan(got.variance) and np.isnan(got.skewness) and np.isnan(got.kurtosis)


BIG_ENDIAN_CALLS = [
    ("rfft", lambda x: ms.rfft(x)),
    ("irfft", lambda x: ms.irfft(x)),
    ("fft", lambda x: ms.fft(x)),
    ("ifft", lambda x: ms.ifft(x)),
    ("convolve", lambda x: ms.convolve(x, x[:5])),
    ("correlate", lambda x: ms.correlate(x, x[:5])),
    ("convolve_fft", lambda x: ms.convolve(x, x[:5], method="fft")),
    ("choose_convolve_method", lambda x: ms.choose_convolve_method(x, x[:5])),
    ("describe", lambda x: tuple(ms.describe(x, axis=0))),
    ("rolling", lambda x: ms.rolling(x, 4, "mean")),
    ("welch", lambda x: ms.welch(x, nperseg=16)[1]),
    ("spectral_features", lambda x: ms.spectral_features(x, 10.0)["centroid"]),
]


@pytest.mark.parametrize("dtype", [">f4", ">f8"])
@pytest.mark.parametrize("name,call", BIG_ENDIAN_CALLS, ids=[c[0] for c in BIG_ENDIAN_CALLS])
def test_signal_accepts_big_endian(name: str, call: object, dtype: str) -> None:
    """Byte-swapped arrays are accepted everywhere (copied once), with the native answer."""
    native = np.random.default_rng(3).standard_normal(64).astype(dtype.replace(">", "<"))
    swapped = native.astype(dtype)
    ref = call(native)  # type: ignore[operator]
    got = call(swapped)  # type: ignore[operator]
    if isinstance(ref, tuple):
        for g, r in zip(got, ref):
            np.testing.assert_array_equal(g, r)
    else:
        np.testing.assert_array_equal(got, ref)


@pytest.mark.parametrize("dtype", [">f4", ">f8"])
def test_csr_matmul_accepts_big_endian_dense_operand(dtype: str) -> None:
    a = sp.random(30, 20, density=0.3, random_state=1, format="csr", dtype=np.dtype(dtype).newbyteorder("="))
    b = np.random.default_rng(1).standard_normal((20, 7)).astype(dtype)
    ref = a.toarray().astype(np.float64) @ b.astype(np.float64)
    got = linalg.csr_matmul(a, b)
    np.testing.assert_allclose(got, ref, rtol=1e-5 if "4" in dtype else 1e-12, atol=1e-5)
    got1 = linalg.csr_matmul(a, b[:, 0])
    np.testing.assert_allclose(got1, ref[:, 0], rtol=1e-5 if "4" in dtype else 1e-12, atol=1e-5)


@pytest.mark.parametrize("tier", TIERS)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("n", [3, 33, 100])
def test_qr_rank_deficient_constant_matrix(tier: str, dtype: type, n: int) -> None:
    """np.full((100, 100), 2.0, float32): rank 1; q must stay orthonormal, no NaN."""
    a = np.full((n, n), 2.0, dtype)
    with kernel_context(tier):
        q, r = linalg.qr(a)
    assert np.isfinite(q).all() and np.isfinite(r).all()
    u = np.finfo(dtype).eps
    np.testing.assert_allclose(q.astype(np.float64) @ r, a, atol=100 * n * u * 2 * n)
    np.testing.assert_allclose(q.T.astype(np.float64) @ q, np.eye(n), atol=100 * n * u)


@pytest.mark.parametrize("tier", TIERS[-1:])
def test_strassen_keeps_inf(tier: str) -> None:
    """An inf in a: IEEE classical gives inf in that row (all of b positive); the
    Strassen combinations must not turn it into inf - inf = NaN."""
    n = 256
    a = np.ones((n, n))
    a[0, 0] = np.inf
    b = np.ones((n, n))
    with kernel_context(tier):
        got = linalg.matmul(a, b, method="strassen")
    ref = a @ b
    np.testing.assert_array_equal(got, ref)


def test_auto_matmul_above_crossover_keeps_inf() -> None:
    """method="auto" picks Strassen at >= 3072 (float64): the answer must stay NumPy's."""
    n = 3072
    a = np.ones((n, n))
    a[0, 0] = np.inf
    got = linalg.matmul(a, np.ones((n, n)))
    assert np.all(got[0] == np.inf), f"row 0: {np.unique(got[0])}"
    assert np.all(got[1:] == n), f"rows 1..: {np.unique(got[1:])}"


@pytest.mark.parametrize("method", ["auto"])
@pytest.mark.parametrize("n,m", [(100_000, 1000), (20_000, 300), (5000, 64)])
def test_convolve_auto_keeps_nan_local(method: str, n: int, m: int) -> None:
    """method="auto": a NaN at 50 spoils exactly the outputs whose window holds it
    (np.convolve), even when auto picks an FFT method."""
    a = np.ones(n)
    a[50] = np.nan
    v = np.ones(m)
    got = ms.convolve(a, v, method=method)
    ref = np.convolve(a, v)
    np.testing.assert_array_equal(np.isnan(got), np.isnan(ref))
    ok = ~np.isnan(ref)
    np.testing.assert_allclose(got[ok], ref[ok], rtol=1e-9)


@pytest.mark.parametrize("tier", TIERS)
@pytest.mark.parametrize("scale,dtype", [(1e-200, np.float64), (1e200, np.float64), (1e-20, np.float32),
                                         (1e20, np.float32), (1e-310, np.float64)])
def test_cosine_of_tiny_and_huge_vectors(tier: str, scale: float, dtype: type) -> None:
    a = (np.array([1.0, 2.0, 3.0]) * scale).astype(dtype)
    b = (np.array([3.0, 2.0, 1.0]) * scale).astype(dtype)
    ref = 10 / 14
    with kernel_context(tier):
        assert vector.cosine_similarity(a, a) == pytest.approx(1, abs=1e-6)
        assert vector.cosine_similarity(a, b) == pytest.approx(ref, rel=1e-5)
        assert vector.cosine_distance(a, b) == pytest.approx(1 - ref, rel=1e-5)


@pytest.mark.parametrize("k", [True, False, np.True_])
def test_topk_refuses_bool_k(k: object) -> None:
    q = np.ones((2, 3))
    with pytest.raises(TypeError):
        vector.topk(q, q, k)  # type: ignore[arg-type]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("method", ["auto", "classical"])
def test_matmul_16x20000x16_same_on_1_and_2_threads(dtype: type, method: str) -> None:
    rng = np.random.default_rng(0)
    a = rng.standard_normal((16, 20000)).astype(dtype)
    b = rng.standard_normal((20000, 16)).astype(dtype)
    outs = []
    for t in (1, 2):
        with kernel_context(None, t):
            outs.append(linalg.matmul(a, b, method=method))
    np.testing.assert_array_equal(outs[0], outs[1])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_randomized_svd_same_on_1_and_2_threads(dtype: type) -> None:
    a = np.random.default_rng(0).standard_normal((500, 20000 // 40)).astype(dtype)
    outs = []
    for t in (1, 2):
        with kernel_context(None, t):
            outs.append(linalg.randomized_svd(a, 8, random_state=0))
    for x, y in zip(*outs):
        np.testing.assert_array_equal(x, y)


def test_fft_nan_row_does_not_leak_into_other_rows() -> None:
    x = np.random.default_rng(0).standard_normal((8, 1024))
    x[3, 7] = np.nan
    got = ms.rfft(x)
    ref = sfft.rfft(x)
    assert np.isnan(got[3]).all()
    rest = np.r_[0:3, 4:8]
    np.testing.assert_allclose(got[rest], ref[rest], atol=1e-10)


# -- new bugs found by this campaign ------------------------------------------------------


@pytest.mark.parametrize("dtype", [">f4", ">f8"])
def test_randomized_svd_accepts_big_endian(dtype: str) -> None:
    """Found by test_randomized_svd_matches_sklearn: a byte-swapped ``a`` raised
    TypeError ("got dtype >f8"); it must be accepted (copied once) with the native answer."""
    a = np.random.default_rng(5).standard_normal((40, 30)).astype(dtype.replace(">", "<"))
    ref = linalg.randomized_svd(a, 3, random_state=0)
    got = linalg.randomized_svd(a.astype(dtype), 3, random_state=0)
    for g, r in zip(got, ref):
        np.testing.assert_array_equal(g, r)


@pytest.mark.parametrize("tier", TIERS)
@pytest.mark.parametrize("window", [1, 2])
def test_rolling_sum_does_not_drift_within_a_segment(tier: str, window: int) -> None:
    """Found by test_rolling_1d: the running sum adds the rounded difference new - old,
    so its error grows like sqrt(position) u max|x| across a 16384-sample segment
    (rolling(x, 1, "sum") differs from x by ~40 ulps at the end of the segment, while
    pandas is exact). Bound for a drift-free compensated sum: 4 u sum_window |x|."""
    x = np.random.default_rng(0).standard_normal(16383)
    with kernel_context(tier):
        got = ms.rolling(x, window, "sum")
    view = np.lib.stride_tricks.sliding_window_view(x.astype(np.longdouble), window)
    ref = view.sum(axis=1).astype(np.float64)
    bound = 4 * 2.0**-53 * np.abs(view).sum(axis=1).astype(np.float64)
    err = np.abs(got[window - 1 :] - ref)
    assert np.all(err <= bound), f"max err {err.max():.3g} at {int(np.argmax(err - bound))}, bound there {bound[np.argmax(err - bound)]:.3g}"


@pytest.mark.parametrize("tier", TIERS)
@pytest.mark.parametrize("method", ["direct", "auto"])
def test_convolve_nonfinite_kernel_tap_does_not_reach_the_padded_edges(tier: str, method: str) -> None:
    """Found by test_convolve_correlate: the direct method zero-pads the edges and
    multiplies the padding by every tap, so an inf/NaN tap of v made the edge outputs
    that do not involve it 0 * inf = NaN. np.convolve: convolve(ones(256), [-inf, 1, 1])
    ends in [.., -inf, 2, 1]; mlkern gave [.., -inf, nan, nan]."""
    a = np.ones(256)
    with kernel_context(tier):
        for v in (np.array([-np.inf, 1.0, 1.0]), np.array([1.0, 1.0, np.nan])):
            with np.errstate(all="ignore"):
                np.testing.assert_array_equal(ms.convolve(a, v, method=method), np.convolve(a, v))
                np.testing.assert_array_equal(ms.correlate(a, v, method=method), np.correlate(a, v, "full"))
                for mode in ("same", "valid"):
                    np.testing.assert_array_equal(ms.convolve(a, v, mode, method=method),
                                                  ssig.convolve(a, v, mode, method="direct"))


@pytest.mark.parametrize("n", [2, 3])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_describe_unbiased_small_samples_keep_scipys_values(n: int, dtype: type) -> None:
    """Found by probing describe(bias=False) at n = 2, 3: SciPy applies the bias
    correction only where it is defined (skewness n > 2, kurtosis n > 3) and keeps the
    biased value otherwise; mlkern gave NaN (x = [1, 2]: SciPy skewness 0.0,
    kurtosis -2.0; x = 3 normal samples: SciPy kurtosis -1.5)."""
    x = np.random.default_rng(0).standard_normal(n).astype(dtype)
    got = ms.describe(x, axis=0, bias=False)
    ref = sst.describe(x.astype(np.float64), bias=False)
    rtol = 1e-5 if dtype == np.float32 else 1e-12
    np.testing.assert_allclose(got.skewness, ref.skewness, rtol=rtol, atol=rtol)
    np.testing.assert_allclose(got.kurtosis, ref.kurtosis, rtol=rtol, atol=rtol)


@pytest.mark.parametrize("tier", TIERS)
@pytest.mark.parametrize("n", [255, 256, 257, 1000])
@pytest.mark.parametrize("bias", [True, False])
def test_describe_constant_row_has_nan_skewness_and_kurtosis(tier: str, n: int, bias: bool) -> None:
    """Found by test_describe (a broadcast, i.e. constant, column): np.full(n, 0.1) with
    n >= 255 gave skewness ~1.0 and kurtosis ~-2.0 (variance 1.2e-32, just above the
    (resolution * mean)**2 = 1e-32 threshold); SciPy (and mlkern's docstring) say NaN
    skewness and kurtosis for a constant row (SciPy's variance is 0 or 1.9e-34 here)."""
    x = np.full(n, 0.1)
    with kernel_context(tier), np.errstate(all="ignore"):
        got = ms.describe(x, axis=0, bias=bias)
        ref = sst.describe(x, bias=bias)
    assert np.isnan(ref.skewness) and np.isnan(ref.kurtosis)
    assert np.isnan(got.skewness) and np.isnan(got.kurtosis), (got.skewness, got.kurtosis)
    # A mean within 16 ulps of 0.1 (blocked float64 sums): variance <= (16 u 0.1)**2.
    assert got.variance <= (16 * 2.0**-53 * 0.1) ** 2


@pytest.mark.parametrize("tier", TIERS)
@pytest.mark.parametrize("shape", [(100, 31), (100, 100), (64, 20)])
def test_qr_rank_one_repeated_rows(tier: str, shape: tuple[int, int]) -> None:
    """Found by test_qr (a broadcast, rank-1 matrix): on the scalar tier
    qr(np.broadcast_to(default_rng(0).standard_normal(31).astype(float32), (100, 31)))
    had NaN in q and r (same family as the np.full((100, 100), 2.0) bug)."""
    row = np.random.default_rng(0).standard_normal(shape[1]).astype(np.float32)
    a = np.broadcast_to(row, shape)
    with kernel_context(tier):
        q, r = linalg.qr(a)
    assert np.isfinite(q).all() and np.isfinite(r).all()
    k = min(shape)
    u = np.finfo(np.float32).eps
    np.testing.assert_allclose(q.astype(np.float64) @ r, a, atol=100 * k * u * np.abs(row).max() * shape[0])
    np.testing.assert_allclose(q.T.astype(np.float64) @ q, np.eye(k), atol=100 * k * u)
