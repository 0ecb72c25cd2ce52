"""Signal processing for feature extraction: FFTs, convolution, statistics, spectra.

Conventions
-----------
- Real inputs may be float32 or float64; integer and bool arrays are converted to
  float64 (as SciPy does), float16 to float32. Complex input where real is required
  raises ``TypeError``. Results keep the precision of the input (float32 →
  float32/complex64).
- Batches: functions work along one axis (``axis=-1`` by default) of an N-D array.
  C-contiguous data along that axis is read in place; any other layout is copied
  once into contiguous rows (documented copy).
- Threads: work runs on mlkern's pool with the GIL released; ``workers`` caps the
  threads of one call (``None``: the whole pool, see ``mlkern.set_num_threads``;
  negative values count back from the pool size as in ``scipy.fft``). Results do
  not depend on the thread count.
- NaN propagates: an FFT of a row with NaN is NaN; ``describe``, ``rolling``,
  ``welch`` and ``spectral_features`` give NaN for a row (or window) holding NaN.
"""

from __future__ import annotations

import warnings
from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np

if TYPE_CHECKING:  # numpy.typing costs milliseconds to import; annotations only
    import numpy.typing as npt

import mlkern
from mlkern import _mlkern

__all__ = [
    "DescribeResult",
    "choose_convolve_method",
    "convolve",
    "correlate",
    "describe",
    "fft",
    "ifft",
    "irfft",
    "rfft",
    "rolling",
    "spectral_features",
    "welch",
]

_REAL: set[np.dtype[Any]] = {np.dtype(np.float32), np.dtype(np.float64)}
_COMPLEX_OF: dict[np.dtype[Any], np.dtype[Any]] = {
    np.dtype(np.float32): np.dtype(np.complex64),
    np.dtype(np.float64): np.dtype(np.complex128),
}
_REAL_OF: dict[np.dtype[Any], np.dtype[Any]] = {
    np.dtype(np.complex64): np.dtype(np.float32),
    np.dtype(np.complex128): np.dtype(np.float64),
}


def _workers(workers: int | None) -> int:
    """0 means the whole pool."""
    if workers is None:
        return 0
    if isinstance(workers, bool) or not isinstance(workers, (int, np.integer)):
        raise TypeError(f"workers must be an int or None, got {type(workers).__name__}")
    pool = mlkern.get_num_threads()
    if workers == 0:
        raise ValueError("workers must not be 0")
    if workers < 0:
        w = pool + 1 + int(workers)
        if w < 1:
            raise ValueError(f"workers value out of range; got {workers}, must not be less than {-pool}")
        return w
    return int(workers)


def _real(x: npt.ArrayLike, name: str) -> np.ndarray:
    arr = np.asarray(x)
    if arr.dtype in _REAL:
        return arr
    kind = arr.dtype.kind
    if kind == "c":
        raise TypeError(f"{name} must be real, got complex dtype {arr.dtype}")
    if kind in "biu":
        return arr.astype(np.float64)
    if kind == "f" and arr.dtype.itemsize < 4:
        return arr.astype(np.float32)
    raise TypeError(f"{name} must be a real float32/float64 array (integers are converted), got dtype {arr.dtype}")


def _complex(x: npt.ArrayLike, name: str) -> np.ndarray:
    arr = np.asarray(x)
    if arr.dtype in _REAL_OF:
        return arr
    if arr.dtype.kind == "c":
        raise TypeError(f"{name} must be complex64 or complex128, got dtype {arr.dtype}")
    real = _real(arr, name)
    return real.astype(_COMPLEX_OF[real.dtype])


def _rows(arr: np.ndarray, axis: int, name: str) -> tuple[np.ndarray, tuple[int, ...]]:
    """Moves ``axis`` last and flattens the rest: (contiguous 2-D rows, leading shape)."""
    if arr.ndim == 0:
        raise ValueError(f"{name} must have at least one dimension, got a 0-D array")
    try:
        moved = np.moveaxis(arr, axis, -1)
    except np.exceptions.AxisError as e:
        raise ValueError(f"axis {axis} is out of bounds for {name} of dimension {arr.ndim}") from e
    lead = moved.shape[:-1]
    rows = int(np.prod(lead, dtype=np.int64))
    return np.ascontiguousarray(moved.reshape(rows, moved.shape[-1])), lead


def _unrows(out: np.ndarray, lead: tuple[int, ...], axis: int) -> np.ndarray:
    return np.moveaxis(out.reshape(*lead, out.shape[-1]), -1, axis)


def _check_n(n: int | None, default: int) -> int:
    if n is None:
        n = default
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)):
        raise TypeError(f"n must be an int, got {type(n).__name__}")
    if n < 1:
        raise ValueError(f"invalid number of data points ({n}) specified")
    return int(n)


# -- FFT ------------------------------------------------------------------------


def rfft(x: npt.ArrayLike, n: int | None = None, axis: int = -1, norm: str | None = None, *,
         workers: int | None = None) -> np.ndarray:
    """FFT of real input along ``axis``, as ``scipy.fft.rfft``.

    Parameters
    ----------
    x : array_like, real (float32/float64; integers become float64)
    n : int, optional
        Length of the transform: the axis is truncated or zero-padded to ``n``.
    axis : int
    norm : {None, "backward", "ortho", "forward"}
    workers : int, optional
        Maximum threads for this call (default: mlkern's pool).

    Returns
    -------
    numpy.ndarray, complex64 for float32 input, complex128 otherwise, with
    ``n // 2 + 1`` values along ``axis``.

    Notes
    -----
    Power-of-two ``n`` up to 65 536 with at least half a SIMD register's worth of
    rows (4 float64 or 8 float32 rows on AVX-512) runs mlkern's batched kernel: one
    row per SIMD lane, in-place radix-4 FFT on whole registers, for the CPU's tier.
    Other cases use RustFFT/RealFFT. Plans are cached per length; batches of rows
    run in parallel. Error: ``‖X̂ − X‖₂ ≤ 5 log2(n) u ‖X‖₂`` (tested on every tier),
    O(u log n) relative to the transform's 2-norm for every engine.
    """
    arr = _real(x, "x")
    rows, lead = _rows(arr, axis, "x")
    n = _check_n(n, rows.shape[1])
    out = _mlkern._rfft_rows(rows, n, norm, _workers(workers))
    return _unrows(out.view(_COMPLEX_OF[out.dtype]), lead, axis)


def irfft(x: npt.ArrayLike, n: int | None = None, axis: int = -1, norm: str | None = None, *,
          workers: int | None = None) -> np.ndarray:
    """Inverse of :func:`rfft`, as ``scipy.fft.irfft``: ``n`` real outputs (default
    ``2 * (m - 1)`` for ``m`` inputs along ``axis``). The imaginary parts of the DC
    and (even ``n``) Nyquist terms are ignored."""
    arr = _complex(x, "x")
    rows, lead = _rows(arr, axis, "x")
    n = _check_n(n, 2 * (rows.shape[1] - 1))
    real_rows = rows.view(_REAL_OF[rows.dtype])
    out = _mlkern._irfft_rows(real_rows, n, norm, _workers(workers))
    return _unrows(out, lead, axis)


def _cfft(x: npt.ArrayLike, n: int | None, axis: int, norm: str | None, workers: int | None, inverse: bool) -> np.ndarray:
    arr = _complex(x, "x")
    rows, lead = _rows(arr, axis, "x")
    n = _check_n(n, rows.shape[1])
    out = _mlkern._fft_rows(rows.view(_REAL_OF[rows.dtype]), n, inverse, norm, _workers(workers))
    return _unrows(out.view(_COMPLEX_OF[out.dtype]), lead, axis)


def fft(x: npt.ArrayLike, n: int | None = None, axis: int = -1, norm: str | None = None, *,
        workers: int | None = None) -> np.ndarray:
    """Complex FFT along ``axis``, as ``scipy.fft.fft`` (real input is promoted to
    complex of the same precision)."""
    return _cfft(x, n, axis, norm, workers, inverse=False)


def ifft(x: npt.ArrayLike, n: int | None = None, axis: int = -1, norm: str | None = None, *,
         workers: int | None = None) -> np.ndarray:
    """Inverse complex FFT along ``axis``, as ``scipy.fft.ifft``."""
    return _cfft(x, n, axis, norm, workers, inverse=True)


# -- convolution -------------------------------------------------------------------

_MODES = ("full", "same", "valid")
_METHODS = ("auto", "direct", "fft", "overlap_add")


def _conv_inputs(a: npt.ArrayLike, v: npt.ArrayLike, mode: str, method: str) -> tuple[np.ndarray, np.ndarray, bool]:
    if mode not in _MODES:
        raise ValueError(f"mode: unknown mode {mode!r}; expected 'full', 'same' or 'valid'")
    if method not in _METHODS:
        raise ValueError(f"method: unknown method {method!r}; expected one of {', '.join(map(repr, _METHODS))}")
    av, vv = _real(a, "a"), _real(v, "v")
    if vv.ndim != 1:
        raise ValueError(f"v must be a 1-D kernel, got shape {vv.shape}")
    if av.ndim not in (1, 2):
        raise ValueError(f"a must be 1-D or 2-D (rows of signals), got shape {av.shape}")
    dt = np.result_type(av.dtype, vv.dtype)
    one = av.ndim == 1
    rows = np.ascontiguousarray(av.reshape(1, -1) if one else av, dtype=dt)
    return rows, np.ascontiguousarray(vv, dtype=dt), one


def convolve(a: npt.ArrayLike, v: npt.ArrayLike, mode: str = "full", method: str = "auto", *,
             workers: int | None = None) -> np.ndarray:
    """Convolution of a 1-D signal (or each row of a 2-D ``a``) with the 1-D kernel ``v``.

    Modes are those of ``scipy.signal.convolve``: ``"full"`` (``n + m - 1``
    outputs), ``"same"`` (``n`` outputs centred on the full result) and ``"valid"``
    (``n - m + 1``; a kernel longer than the signal is a ``ValueError`` here, where
    SciPy would swap the inputs). Empty inputs are a ``ValueError``.

    Methods: ``"direct"`` (SIMD sums, error ``γ_m Σ|a v|`` per output), ``"fft"``
    (one FFT per row), ``"overlap_add"`` (blocked FFTs, parallel over blocks) and
    ``"auto"``, which picks the cheapest by a cost model calibrated on the
    development machine (``python -m mlkern calibrate-convolve``; see
    :func:`choose_convolve_method`). The inputs are computed in their common dtype
    (``numpy.result_type``), like SciPy.
    """
    rows, kern, one = _conv_inputs(a, v, mode, method)
    out, _ = _mlkern._convolve_rows(rows, kern, mode, method, False, _workers(workers))
    return out[0] if one else out


def correlate(a: npt.ArrayLike, v: npt.ArrayLike, mode: str = "full", method: str = "auto", *,
              workers: int | None = None) -> np.ndarray:
    """Cross-correlation, as ``scipy.signal.correlate`` for real input:
    ``convolve(a, v[::-1], mode, method)``."""
    rows, kern, one = _conv_inputs(a, v, mode, method)
    out, _ = _mlkern._convolve_rows(rows, kern, mode, method, True, _workers(workers))
    return out[0] if one else out


def choose_convolve_method(a: npt.ArrayLike, v: npt.ArrayLike, mode: str = "full") -> str:
    """The method ``method="auto"`` uses for these inputs: ``"direct"``, ``"fft"`` or
    ``"overlap_add"``."""
    rows, kern, _ = _conv_inputs(a, v, mode, "auto")
    return str(_mlkern._choose_convolve_method(rows.shape[0], rows.shape[1], kern.shape[0], mode,
                                               rows.dtype == np.float32))


# -- statistics ----------------------------------------------------------------------


class DescribeResult(NamedTuple):
    """Result of :func:`describe` (the fields of ``scipy.stats.describe``, with
    ``minmax`` split into ``min`` and ``max``)."""

    nobs: int
    min: Any
    max: Any
    mean: Any
    variance: Any
    skewness: Any
    kurtosis: Any

    @property
    def minmax(self) -> tuple[Any, Any]:
        """``(min, max)``, as SciPy's field of that name."""
        return self.min, self.max


def describe(x: npt.ArrayLike, axis: int = -1, ddof: int = 1, bias: bool = True, *,
             workers: int | None = None) -> DescribeResult:
    """Summary statistics along ``axis``, with the definitions of
    ``scipy.stats.describe(x, axis, ddof, bias)``: ``variance`` divides by
    ``n - ddof``; ``skewness`` and ``kurtosis`` (Fisher, excess) are the biased
    moment ratios unless ``bias=False``. NaN in a row makes that row's statistics
    NaN; skewness and kurtosis of a constant row are NaN (as SciPy).

    One pass over memory per row, float64 accumulation (blocked two-pass in L1,
    merged with Chan/Pébay's pairwise formulas); rows run in parallel. An empty axis
    is a ``ValueError``.
    """
    if isinstance(ddof, bool) or not isinstance(ddof, (int, np.integer)) or ddof < 0:
        raise ValueError(f"ddof must be a non-negative int, got {ddof!r}")
    arr = _real(x, "x")
    rows, lead = _rows(arr, axis, "x")
    if rows.shape[1] == 0:
        raise ValueError("the input must not be empty along axis")
    if rows.shape[0] == 0:
        empty = np.empty(lead, arr.dtype)
        return DescribeResult(0, empty, empty, empty, empty, empty, empty)
    stats = _mlkern._describe_rows(rows, int(ddof), bool(bias), _workers(workers))
    cols = [stats[:, k].reshape(lead) for k in range(6)]
    if not lead:
        cols = [c[()] for c in cols]
    return DescribeResult(int(rows.shape[1]), *cols)


_STATS = ("mean", "std", "var", "min", "max", "sum", "skew")


def rolling(x: npt.ArrayLike, window: int, stat: str, *, workers: int | None = None) -> np.ndarray:
    """Rolling-window ``stat`` over a 1-D series or each row of a 2-D array, as
    ``pandas.Series.rolling(window).<stat>()``.

    ``stat`` is one of ``mean``, ``std``, ``var`` (ddof = 1), ``min``, ``max``,
    ``sum``, ``skew``. The first ``window - 1`` outputs are NaN, as is any window
    holding NaN. ``window`` must be in ``1..=len``. O(n) in the window: compensated
    running sums restarted exactly every ``max(16 window, 16384)`` samples (no drift;
    the restarts also let one long series run on several threads), and a monotone
    deque for ``min``/``max``.
    """
    if stat not in _STATS:
        raise ValueError(f"stat: unknown statistic {stat!r}; expected one of {', '.join(_STATS)}")
    if isinstance(window, bool) or not isinstance(window, (int, np.integer)):
        raise TypeError(f"window must be an int, got {type(window).__name__}")
    arr = _real(x, "x")
    if arr.ndim not in (1, 2):
        raise ValueError(f"x must be 1-D or 2-D (rows of series), got shape {arr.shape}")
    n = arr.shape[-1]
    if window < 1 or window > n:
        raise ValueError(f"window must be in 1..={n} (the series length), got {window}")
    rows = np.ascontiguousarray(arr.reshape(-1, n))
    out = _mlkern._rolling_rows(rows, int(window), stat, _workers(workers))
    return out.reshape(arr.shape)


# -- spectra ---------------------------------------------------------------------------


def _check_fs(fs: float) -> float:
    fsf = float(fs)
    if not np.isfinite(fsf) or fsf <= 0:
        raise ValueError(f"fs must be a positive finite number, got {fs!r}")
    return fsf


def welch(x: npt.ArrayLike, fs: float = 1.0, nperseg: int = 256, noverlap: int | None = None, axis: int = -1, *,
          workers: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Welch's power spectral density, as ``scipy.signal.welch(x, fs, nperseg=nperseg)``
    with SciPy's defaults: periodic Hann window, ``noverlap = nperseg // 2``, constant
    detrending, one-sided density scaling, mean over segments.

    Returns ``(f, Pxx)``: ``f`` (float64) has ``nperseg // 2 + 1`` frequencies, ``Pxx``
    the input's precision. If ``nperseg`` exceeds the signal length it is reduced to
    it with a ``UserWarning``, as SciPy does.
    """
    fsf = _check_fs(fs)
    arr = _real(x, "x")
    rows, lead = _rows(arr, axis, "x")
    n = rows.shape[1]
    if n == 0:
        raise ValueError("x must not be empty along axis")
    if isinstance(nperseg, bool) or not isinstance(nperseg, (int, np.integer)) or nperseg < 1:
        raise ValueError(f"nperseg must be a positive int, got {nperseg!r}")
    if nperseg > n:
        warnings.warn(f"nperseg = {nperseg} is greater than input length = {n}, using nperseg = {n}",
                      UserWarning, stacklevel=2)
        nperseg = n
    nov = nperseg // 2 if noverlap is None else int(noverlap)
    if not 0 <= nov < nperseg:
        raise ValueError(f"noverlap must be in 0..{nperseg - 1}, got {noverlap}")
    pxx = _mlkern._welch_rows(rows, fsf, int(nperseg), nov, _workers(workers))
    return np.fft.rfftfreq(int(nperseg), 1.0 / fsf), _unrows(pxx, lead, axis)


_FEATURES = ("total_power", "centroid", "spread", "entropy", "rolloff", "dominant_frequency", "dominant_power")


def spectral_features(x: npt.ArrayLike, fs: float, *, bands: list[tuple[float, float]] | None = None,
                      axis: int = -1, workers: int | None = None) -> dict[str, np.ndarray]:
    """Spectral features of each signal along ``axis``, from its one-sided periodogram
    ``P_k = c_k |X_k|² / (fs n)`` (``c_k = 2`` except DC and Nyquist; no window, no
    detrending) at ``f_k = k fs / n``, ``Δf = fs / n``:

    - ``total_power``: ``Σ P_k Δf`` (equals ``mean(x**2)``);
    - ``centroid``: ``Σ f_k P_k / Σ P_k``; ``spread``: ``sqrt(Σ (f_k - centroid)² P_k / Σ P_k)``;
    - ``entropy``: ``-Σ p_k ln p_k / ln K`` with ``p_k = P_k / Σ P``, K bins (0 = a pure tone, 1 = flat);
    - ``rolloff``: the smallest ``f_k`` with ``Σ_{i<=k} P_i >= 0.85 Σ P``;
    - ``dominant_frequency`` / ``dominant_power``: ``argmax`` and ``max`` of ``P`` (per Hz);
    - ``band_powers``: for each ``(lo, hi)`` in ``bands``, ``Σ_{lo <= f_k < hi} P_k Δf``
      (last axis of length ``len(bands)``).

    Returns a dict of float64 arrays shaped like ``x`` without ``axis``. A zero signal
    has NaN centroid, spread, entropy and roll-off.
    """
    fsf = _check_fs(fs)
    arr = _real(x, "x")
    rows, lead = _rows(arr, axis, "x")
    if rows.shape[1] == 0:
        raise ValueError("x must not be empty along axis")
    band_list = [(float(lo), float(hi)) for lo, hi in (bands or [])]
    table = _mlkern._spectral_features_rows(rows, fsf, band_list, _workers(workers))
    result = {name: table[:, k].reshape(lead) for k, name in enumerate(_FEATURES)}
    result["band_powers"] = table[:, len(_FEATURES):].reshape(*lead, len(band_list))
    return result
