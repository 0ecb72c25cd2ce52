"""Bad input to mlkern.signal: a clear exception naming the argument, or the peer's
documented behaviour."""

from __future__ import annotations

import numpy as np
import pytest

import mlkern

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
    with pytest.raises(ValueError, match="ddof must be at least 0, got -1"):
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


# Every count of mlkern.signal, with a call that passes it (value substituted for C).
COUNT_CALLS = {
    "rfft n": lambda c: ms.rfft(x, n=c),
    "irfft n": lambda c: ms.irfft(x.astype(complex), n=c),
    "fft n": lambda c: ms.fft(x, n=c),
    "ifft n": lambda c: ms.ifft(x, n=c),
    "rolling window": lambda c: ms.rolling(x, c, "mean"),
    "welch nperseg": lambda c: ms.welch(x, nperseg=c),
    "welch noverlap": lambda c: ms.welch(x, nperseg=16, noverlap=c),
    "describe ddof": lambda c: ms.describe(x, ddof=c),
    "rfft workers": lambda c: ms.rfft(x, workers=c),
    "convolve workers": lambda c: ms.convolve(x, x[:3], workers=c),
    "correlate workers": lambda c: ms.correlate(x, x[:3], workers=c),
    "describe workers": lambda c: ms.describe(x, workers=c),
    "rolling workers": lambda c: ms.rolling(x, 3, "sum", workers=c),
    "welch workers": lambda c: ms.welch(x, nperseg=16, workers=c),
    "spectral_features workers": lambda c: ms.spectral_features(x, 1.0, workers=c),
    "rfft axis": lambda c: ms.rfft(x, axis=c),
    "convolve axis": lambda c: ms.convolve(x, x[:3], axis=c),
    "rolling axis": lambda c: ms.rolling(x, 3, "sum", axis=c),
    "describe axis": lambda c: ms.describe(x, axis=c),
    "welch axis": lambda c: ms.welch(x, nperseg=16, axis=c),
}


@pytest.mark.parametrize("call", list(COUNT_CALLS), ids=list(COUNT_CALLS))
def test_every_count_refuses_bools_and_floats_with_type_error(call: str) -> None:
    name = call.split()[1]
    for bad in (True, False, np.True_, 2.0, "3"):
        with pytest.raises(TypeError, match=f"{name} must be an int"):
            COUNT_CALLS[call](bad)


NONNEGATIVE = {"welch noverlap", "describe ddof"}  # 0 is a valid value of these


# What each count's ValueError says (n keeps scipy.fft's wording).
VALUE_MESSAGES = {"n": r"invalid number of data points|n is too large", "window": "window", "nperseg": "nperseg",
                  "noverlap": "noverlap", "ddof": "ddof"}


@pytest.mark.parametrize("call", [c for c in COUNT_CALLS if "workers" not in c and "axis" not in c])
def test_every_count_refuses_negative_and_huge_with_value_error(call: str) -> None:
    message = VALUE_MESSAGES[call.split()[1]]
    for bad in (-1, -(2**40), 2**63, 2**64, 2**70, -(2**70)):
        with pytest.raises(ValueError, match=message):
            COUNT_CALLS[call](bad)
    if call not in NONNEGATIVE:
        with pytest.raises(ValueError, match=message):
            COUNT_CALLS[call](0)


def test_workers_negative_counts_back_and_huge_is_refused() -> None:
    pool = mlkern.get_num_threads()
    np.testing.assert_array_equal(ms.rfft(x, workers=-1), ms.rfft(x, workers=pool))
    np.testing.assert_array_equal(ms.rfft(x, workers=2**40), ms.rfft(x, workers=pool))  # capped by the pool
    for bad in (2**63, 2**70, -(2**70)):
        with pytest.raises(ValueError, match="workers"):
            ms.rfft(x, workers=bad)


def test_huge_fft_sizes_raise_memory_error_not_panic() -> None:
    """The largest n accepted (2**63 - 1, NumPy's largest dimension) and a few below:
    the output row (n // 2 + 1 complex values, i.e. 2 (n // 2 + 1) floats; n complex
    for fft) does not fit, never an overflow or a Rust panic."""
    for n in (2**63 - 1, 2**63 - 2, 2**62 + 1, 2**48):
        for f in (ms.rfft, ms.fft, ms.ifft):
            with pytest.raises(MemoryError):
                f(np.ones(4), n=n)
        with pytest.raises(MemoryError):
            ms.irfft(np.ones(4, complex), n=n)
    with pytest.raises(ValueError, match="n is too large"):
        ms.rfft(np.ones(4), n=2**64)
    # An empty batch allocates nothing and plans nothing, for any n whose row fits
    # a NumPy dimension.
    assert ms.rfft(np.zeros((0, 4)), n=2**58).shape == (0, 2**57 + 1)
    for n in (2**62, 2**63 - 1):  # 2 (n // 2 + 1) float64 per row: more bytes than a dimension may hold
        with pytest.raises(MemoryError):
            ms.rfft(np.zeros((0, 4)), n=n)
        with pytest.raises(MemoryError):
            ms.fft(np.zeros((0, 4)), n=n)


def test_huge_window_nperseg_are_value_errors() -> None:
    with pytest.raises(ValueError, match=r"window must be in 1..=64"):
        ms.rolling(x, 2**62, "max")
    with pytest.warns(UserWarning, match="greater than input length"):  # reduced to len, as SciPy
        np.testing.assert_array_equal(ms.welch(x, nperseg=2**62)[1], ms.welch(x, nperseg=64)[1])
    with pytest.raises(ValueError, match="noverlap must be in"):
        ms.welch(x, nperseg=16, noverlap=2**62)


def swapped(a: np.ndarray) -> np.ndarray:
    """``a`` with the same values in the opposite byte order (``>f8`` on x86)."""
    return a.astype(a.dtype.newbyteorder("S"))


# Every public function of mlkern.signal on one real (or complex) input.
PUBLIC_CALLS = {
    "rfft": lambda a: ms.rfft(a, axis=0),
    "irfft": lambda a: ms.irfft(a),
    "fft": lambda a: ms.fft(a),
    "ifft": lambda a: ms.ifft(a, axis=0),
    "convolve": lambda a: ms.convolve(a, a[:5, 0]),
    "convolve axis=0": lambda a: ms.convolve(a, a[:5, 0], axis=0, method="fft"),
    "correlate": lambda a: ms.correlate(a, a[:5, 0], "same", method="overlap_add"),
    "choose_convolve_method": lambda a: ms.choose_convolve_method(a, a[:5, 0]),
    "describe": lambda a: ms.describe(a, axis=1),
    "rolling": lambda a: ms.rolling(a, 4, "std"),
    "welch": lambda a: ms.welch(a, nperseg=16, axis=0),
    "spectral_features": lambda a: ms.spectral_features(a, 2.0, bands=[(0.1, 0.5)]),
}


def flat(result: object) -> list[np.ndarray]:
    if isinstance(result, dict):
        return [np.asarray(v) for v in result.values()]
    if isinstance(result, tuple):
        return [a for r in result for a in flat(r)]
    return [np.asarray(result)]


@pytest.mark.parametrize("call", list(PUBLIC_CALLS))
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_byte_swapped_input_equals_native(call: str, dtype: type) -> None:
    """``>f4``/``>f8`` (``>c8``/``>c16`` for the complex FFTs) are accepted, copied once
    into native order, and give exactly the native result."""
    rng = np.random.default_rng(3)
    a = rng.standard_normal((40, 3)).astype(dtype)
    if call in ("irfft", "fft", "ifft"):
        a = (a + 1j * rng.standard_normal(a.shape)).astype(np.result_type(dtype, np.complex64))
    b = swapped(a)
    assert not b.dtype.isnative and np.array_equal(a, b)
    f = PUBLIC_CALLS[call]
    got, want = f(b), f(a)
    for g, w in zip(flat(got), flat(want), strict=True):
        assert g.dtype == w.dtype and g.dtype.isnative
        np.testing.assert_array_equal(g, w)
    if call == "rfft":  # and through a non-contiguous, byte-swapped view
        np.testing.assert_array_equal(ms.rfft(b[::2], axis=0), ms.rfft(a[::2], axis=0))
