"""Bad input to mlkern.signal: a clear exception naming the argument, or the peer's
documented behaviour."""

from __future__ import annotations

import numpy as np
import pytest

from mlkern import signal as ms

x = np.ones(64)


def test_fft_bad_inputs() -> None:
    with pytest.raises(ValueError, match=r"invalid number of data points \(0\)"):
        ms.rfft(x, n=0)
    with pytest.raises(ValueError, match=r"invalid number of data points \(0\)"):
        ms.rfft(np.ones(0))
    with pytest.raises(ValueError, match=r"invalid number of data points \(-3\)"):
        ms.fft(x, n=-3)
    with pytest.raises(TypeError, match="x must be real, got complex dtype complex128"):
        ms.rfft(x + 1j)
    with pytest.raises(ValueError, match="norm"):
        ms.rfft(x, norm="unitary")
    with pytest.raises(ValueError, match="axis 3 is out of bounds"):
        ms.rfft(x, axis=3)
    with pytest.raises(ValueError, match="at least one dimension"):
        ms.rfft(np.float64(1.0))
    with pytest.raises(TypeError, match="x must be a real float32/float64 array"):
        ms.rfft(np.array(["a", "b"]))
    with pytest.raises(ValueError, match="workers must not be 0"):
        ms.rfft(x, workers=0)
    with pytest.raises(ValueError, match="workers value out of range"):
        ms.rfft(x, workers=-1000)
    with pytest.raises(TypeError, match="n must be an int"):
        ms.rfft(x, n=3.5)  # type: ignore[arg-type]


def test_convolve_bad_inputs() -> None:
    with pytest.raises(ValueError, match="a: the signal must not be empty"):
        ms.convolve(np.ones(0), np.ones(3))
    with pytest.raises(ValueError, match="v: the kernel must not be empty"):
        ms.convolve(x, np.ones(0))
    with pytest.raises(ValueError, match=r"kernel \(65 taps\) must not be longer than the signal \(64 samples\)"):
        ms.convolve(x, np.ones(65), "valid")
    with pytest.raises(ValueError, match="mode: unknown mode 'circular'"):
        ms.convolve(x, np.ones(3), "circular")
    with pytest.raises(ValueError, match="method: unknown method 'winograd'"):
        ms.correlate(x, np.ones(3), method="winograd")
    with pytest.raises(TypeError, match="v must be real, got complex"):
        ms.convolve(x, np.ones(3) * 1j)
    with pytest.raises(ValueError, match="v must be a 1-D kernel"):
        ms.convolve(x, np.ones((2, 3)))
    with pytest.raises(ValueError, match="a must be 1-D or 2-D"):
        ms.convolve(np.ones((2, 2, 2)), np.ones(3))
    # Integers are converted to float64, as SciPy does.
    np.testing.assert_array_equal(ms.convolve(np.array([1, 2, 3]), np.array([1, 1])), [1.0, 3.0, 5.0, 3.0])
    # NaN propagates to every output whose window holds it (direct), like numpy.convolve.
    a = np.ones(10)
    a[4] = np.nan
    got = ms.convolve(a, np.ones(3), method="direct")
    np.testing.assert_array_equal(np.isnan(got), np.isnan(np.convolve(a, np.ones(3))))


def test_stats_bad_inputs() -> None:
    with pytest.raises(ValueError, match="must not be empty"):
        ms.describe(np.ones(0))
    with pytest.raises(ValueError, match="ddof must be a non-negative int"):
        ms.describe(x, ddof=-1)
    with pytest.raises(TypeError, match="must be real"):
        ms.describe(x + 1j)
    for w in (0, -2, 65):
        with pytest.raises(ValueError, match=r"window must be in 1..=64"):
            ms.rolling(x, w, "mean")
    with pytest.raises(ValueError, match="stat: unknown statistic 'median'"):
        ms.rolling(x, 3, "median")
    with pytest.raises(TypeError, match="window must be an int"):
        ms.rolling(x, 2.5, "mean")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="x must be 1-D or 2-D"):
        ms.rolling(np.ones((2, 2, 2)), 1, "mean")


def test_spectral_bad_inputs() -> None:
    for fs in (0.0, -1.0, np.inf, np.nan):
        with pytest.raises(ValueError, match="fs must be a positive finite number"):
            ms.welch(x, fs=fs)
        with pytest.raises(ValueError, match="fs must be a positive finite number"):
            ms.spectral_features(x, fs)
    with pytest.raises(ValueError, match="nperseg must be a positive int"):
        ms.welch(x, nperseg=0)
    with pytest.raises(ValueError, match="noverlap must be in"):
        ms.welch(x, nperseg=16, noverlap=16)
    with pytest.raises(ValueError, match="bands: each band needs 0 <= lo < hi"):
        ms.spectral_features(x, 1.0, bands=[(0.3, 0.1)])
    with pytest.raises(ValueError, match="must not be empty"):
        ms.welch(np.ones((2, 0)))
    with pytest.raises(TypeError, match="must be real"):
        ms.welch(x.astype(complex))
    nan = x.copy()
    nan[5] = np.nan
    assert np.isnan(ms.welch(nan, nperseg=16)[1]).all()
    assert np.isnan(ms.spectral_features(nan, 1.0)["centroid"])


def test_huge_lengths_raise_memory_error_not_panic() -> None:
    # The output cannot be allocated: a Python MemoryError, never a Rust panic.
    with pytest.raises(MemoryError):
        ms.rfft(np.ones(4), n=2**40)
    with pytest.raises(MemoryError, match="too large to allocate"):
        ms.fft(np.ones(4), n=2**62)
    with pytest.raises(MemoryError):
        ms.irfft(np.ones(4, complex), n=2**44)


def test_empty_batch_with_huge_n_plans_nothing() -> None:
    assert ms.rfft(np.zeros((0, 4)), n=2**40).shape == (0, 2**39 + 1)
    assert ms.fft(np.zeros((0, 4)), n=2**40).shape == (0, 2**40)
