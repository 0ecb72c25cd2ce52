"""Signal processing for feature extraction: FFTs, convolution, statistics, spectra.

Conventions
-----------
- Real inputs may be float32 or float64; integer and bool arrays are converted to
  float64 (as SciPy does), float16 to float32. Complex input where real is required
  raises ``TypeError``. Results keep the precision of the input (float32 →
  float32/complex64). Byte-swapped (big-endian, ``>f4``/``>f8``/``>c16``) arrays are
  accepted: they are copied once into native byte order (the same single copy that
  makes rows contiguous).
- Counts (``n``, ``window``, ``nperseg``, ``noverlap``, ``ddof``, ``workers``) must be
  Python/NumPy integers: a bool or a float is a ``TypeError``, a negative (where not
  meaningful) or larger than ``2**63 - 1`` value a ``ValueError``; sizes that cannot
  be allocated a ``MemoryError``.
- Batches: functions work along one axis (``axis=-1`` by default) of an N-D array.
  C-contiguous data along that axis is read in place; any other layout is copied
  once into contiguous rows (documented copy).
- Threads: work runs on mlkern's pool with the GIL released; ``workers`` caps the
  threads of one call (``None``: the whole pool, see ``mlkern.set_num_threads``;
  negative values count back from the pool size as in ``scipy.fft``). Results do
  not depend on the thread count.
- NaN propagates: an FFT of a row with NaN is NaN; ``describe``, ``rolling``,
  ``welch`` and ``spectral_features`` give NaN for a row (or window) holding NaN.
  ``convolve``/``correlate`` with ``method="auto"`` keep the non-finite pattern of
  the direct sum (a NaN or ±inf reaches only the ``len(v)`` outputs whose window
  holds it): inputs holding one are computed directly.
- Infinities in ``rolling``: each window's value is what NumPy computes on that
  window (``numpy.lib.stride_tricks.sliding_window_view(x, w).sum(-1)`` etc.):
  ``sum``/``mean`` ±inf (NaN when both signs are in the window), ``min``/``max``
  the true extreme, ``var``/``std``/``skew`` NaN. pandas differs: ``Rolling``
  converts ±inf to NaN before its C loops
  (``pandas/core/window/rolling.py``, ``_prep_values``), so with the default
  ``min_periods = window`` every pandas window holding an infinity is NaN.
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


# The largest count accepted: NumPy's largest dimension (isize::MAX on 64-bit).
_MAX_COUNT = 2**63 - 1


def _int(value: Any, name: str) -> int:
    """``value`` as an int: ``TypeError`` for a bool, a float or anything not integral,
    ``ValueError`` beyond ``±(2**63 - 1)``."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{name} must be an int, got {type(value).__name__}")
    v = int(value)
    if abs(v) > _MAX_COUNT:
        raise ValueError(f"{name} is too large: {v} (at most {_MAX_COUNT})")
    return v


def _count(value: Any, name: str, minimum: int = 1) -> int:
    """A count: an int (see :func:`_int`) of at least ``minimum``, else ``ValueError``."""
    v = _int(value, name)
    if v < minimum:
        raise ValueError(f"{name} must be at least {minimum}, got {v}")
    return v


def _workers(workers: int | None) -> int:
    """0 means the whole pool; values above the pool size are capped by the pool."""
    if workers is None:
        return 0
    if isinstance(workers, (bool, np.bool_)) or not isinstance(workers, (int, np.integer)):
        raise TypeError(f"workers must be an int or None, got {type(workers).__name__}")
    w = _int(workers, "workers")
    pool = mlkern.get_num_threads()
    if w == 0:
        raise ValueError("workers must not be 0")
    if w < 0:
        w = pool + 1 + w
        if w < 1:
            raise ValueError(f"workers value out of range; got {workers}, must not be less than {-pool}")
    return min(w, pool)


def _native(dt: np.dtype[Any]) -> np.dtype[Any]:
    """``dt`` in the machine's byte order."""
    return dt if dt.isnative else dt.newbyteorder("=")


def _real(x: npt.ArrayLike, name: str) -> np.ndarray:
    """``x`` as a real float32/float64 array (possibly byte-swapped: the caller's
    contiguous copy, :func:`_contiguous`, also puts it in native order)."""
    arr = np.asarray(x)
    if _native(arr.dtype) in _REAL:
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
    if _native(arr.dtype) in _REAL_OF:
        return arr
    if arr.dtype.kind == "c":
        raise TypeError(f"{name} must be complex64 or complex128, got dtype {arr.dtype}")
    real = _real(arr, name)
    return real.astype(_COMPLEX_OF[_native(real.dtype)])


def _contiguous(arr: np.ndarray) -> np.ndarray:
    """``arr`` C-contiguous in native byte order: itself when it already is, else one
    copy (which also byte-swaps)."""
    return np.ascontiguousarray(arr, dtype=_native(arr.dtype))


def _rows(arr: np.ndarray, axis: int, name: str) -> tuple[np.ndarray, tuple[int, ...]]:
    """Moves ``axis`` last and flattens the rest: (contiguous native 2-D rows, leading shape)."""
    if arr.ndim == 0:
        raise ValueError(f"{name} must have at least one dimension, got a 0-D array")
    axis = _int(axis, "axis")
    try:
        moved = np.moveaxis(arr, axis, -1)
    except np.exceptions.AxisError as e:
        raise ValueError(f"axis {axis} is out of bounds for {name} of dimension {arr.ndim}") from e
    lead = moved.shape[:-1]
    rows = int(np.prod(lead, dtype=np.int64))
    # Contiguous first (one copy at most, byte swap included), then a free reshape.
    return _contiguous(moved).reshape(rows, moved.shape[-1]), lead


def _unrows(out: np.ndarray, lead: tuple[int, ...], axis: int) -> np.ndarray:
    return np.moveaxis(out.reshape(*lead, out.shape[-1]), -1, axis)


def _check_n(n: int | None, default: int) -> int:
    v = _int(default if n is None else n, "n")
    if v < 1:
        raise ValueError(f"invalid number of data points ({v}) specified")
    return v


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


def _conv_inputs(a: npt.ArrayLike, v: npt.ArrayLike, mode: str, method: str,
                 axis: int) -> tuple[np.ndarray, np.ndarray, bool, bool]:
    """(contiguous rows of ``a`` along ``axis``, kernel, ``a`` was 1-D, rows are columns)."""
    if mode not in _MODES:
        raise ValueError(f"mode: unknown mode {mode!r}; expected 'full', 'same' or 'valid'")
    if method not in _METHODS:
        raise ValueError(f"method: unknown method {method!r}; expected one of {', '.join(map(repr, _METHODS))}")
    av, vv = _real(a, "a"), _real(v, "v")
    if vv.ndim != 1:
        raise ValueError(f"v must be a 1-D kernel, got shape {vv.shape}")
    if av.ndim not in (1, 2):
        raise ValueError(f"a must be 1-D or 2-D (rows of signals), got shape {av.shape}")
    axis = _int(axis, "axis")
    if not -av.ndim <= axis < av.ndim:
        raise ValueError(f"axis {axis} is out of bounds for a of dimension {av.ndim}")
    dt = _native(np.result_type(av.dtype, vv.dtype))
    one = av.ndim == 1
    columns = not one and axis % 2 == 0
    rows = av.reshape(1, -1) if one else (av.T if columns else av)
    # One copy at most per input (layout, dtype and byte order at once).
    return np.ascontiguousarray(rows, dtype=dt), np.ascontiguousarray(vv, dtype=dt), one, columns


def _conv_result(out: np.ndarray, one: bool, columns: bool) -> np.ndarray:
    return out[0] if one else (out.T if columns else out)


def _all_finite(*arrays: np.ndarray) -> bool:
    return all(bool(np.isfinite(x).all()) for x in arrays)


def convolve(a: npt.ArrayLike, v: npt.ArrayLike, mode: str = "full", method: str = "auto", axis: int = -1, *,
             workers: int | None = None) -> np.ndarray:
    """Convolution of a 1-D signal (or each 1-D slice of a 2-D ``a`` along ``axis``)
    with the 1-D kernel ``v``.

    Modes and defaults are those of ``scipy.signal.convolve(in1, in2, mode="full",
    method="auto")`` (argument names ``a``, ``v`` as ``numpy.convolve``): ``"full"``
    (``n + m - 1`` outputs), ``"same"`` (``n`` outputs centred on the full result)
    and ``"valid"`` (``n - m + 1``; a kernel longer than the signal is a
    ``ValueError`` here, where SciPy would swap the inputs). Empty inputs are a
    ``ValueError``.

    ``axis`` (2-D ``a`` only; default ``-1``): the axis the signals run along.
    ``axis=-1`` (or 1) convolves each row, ``axis=0`` each column; the result equals
    ``scipy.signal.convolve(a, v[None, :], mode)`` and ``scipy.signal.convolve(a,
    v[:, None], mode)`` respectively (a 2-D convolution with a one-row or one-column
    kernel). ``-1`` is the default of SciPy's ``fftconvolve(..., axes=-1)``-style
    batch APIs and of ``scipy.ndimage.convolve1d``. Columns are copied once into
    contiguous rows; the result along ``axis=0`` is a transposed view.

    Methods: ``"direct"`` (SIMD sums, error ``γ_m Σ|a v|`` per output), ``"fft"``
    (one FFT per row), ``"overlap_add"`` (blocked FFTs, parallel over blocks) and
    ``"auto"``, which picks the cheapest by a cost model calibrated on the
    development machine (``python -m mlkern calibrate-convolve``; see
    :func:`choose_convolve_method`). The inputs are computed in their common dtype
    (``numpy.result_type``), like SciPy.

    Non-finite values: the direct sum (and ``numpy.convolve``) puts a NaN or ±inf of
    ``a`` into exactly the ``len(v)`` outputs whose window holds it. An FFT mixes
    every value of a transform into every output, so ``"fft"`` turns one non-finite
    value into NaN over its whole row, and ``"overlap_add"`` over its block and the
    next (see :func:`choose_convolve_method` for the block length). ``"auto"`` therefore
    first checks both inputs (one cheap pass) and uses ``"direct"`` when either holds
    a non-finite value: ``auto`` never changes the non-finite pattern of the answer.
    """
    rows, kern, one, columns = _conv_inputs(a, v, mode, method, axis)
    out, _ = _mlkern._convolve_rows(rows, kern, mode, method, False, _workers(workers))
    return _conv_result(out, one, columns)


def correlate(a: npt.ArrayLike, v: npt.ArrayLike, mode: str = "full", method: str = "auto", axis: int = -1, *,
              workers: int | None = None) -> np.ndarray:
    """Cross-correlation, as ``scipy.signal.correlate(in1, in2, mode="full",
    method="auto")`` for real input: ``convolve(a, v[::-1], mode, method, axis)``
    (same ``axis`` rule, default ``-1``, and the same non-finite rule for ``auto``)."""
    rows, kern, one, columns = _conv_inputs(a, v, mode, method, axis)
    out, _ = _mlkern._convolve_rows(rows, kern, mode, method, True, _workers(workers))
    return _conv_result(out, one, columns)


def choose_convolve_method(a: npt.ArrayLike, v: npt.ArrayLike, mode: str = "full", axis: int = -1) -> str:
    """The method ``method="auto"`` uses for these inputs: ``"direct"``, ``"fft"`` or
    ``"overlap_add"`` (``"direct"`` whenever ``a`` or ``v`` holds NaN or ±inf).
    Overlap-add cuts each signal into blocks of ``N - len(v) + 1`` samples, ``N`` the
    power of two at or above ``max(8 len(v), 1024)``."""
    rows, kern, _, _ = _conv_inputs(a, v, mode, "auto", axis)
    chosen = str(_mlkern._choose_convolve_method(rows.shape[0], rows.shape[1], kern.shape[0], mode,
                                                 rows.dtype == np.float32))
    if chosen != "direct" and not _all_finite(rows, kern):
        return "direct"
    return chosen


# -- statistics ----------------------------------------------------------------------


class DescribeResult(NamedTuple):
    """Result of :func:`describe`: the six fields of ``scipy.stats.describe``, in its
    order (``nobs, minmax, mean, variance, skewness, kurtosis``), ``minmax`` a
    ``(min, max)`` tuple, so code written for SciPy unpacks it unchanged."""

    nobs: int
    minmax: tuple[Any, Any]
    mean: Any
    variance: Any
    skewness: Any
    kurtosis: Any


_NAN_POLICIES = ("propagate", "raise", "omit")


def describe(a: npt.ArrayLike, axis: int | None = 0, ddof: int = 1, bias: bool = True,
             nan_policy: str = "propagate", *, workers: int | None = None) -> DescribeResult:
    """Summary statistics along ``axis``, as ``scipy.stats.describe(a, axis=0, ddof=1,
    bias=True, nan_policy="propagate")``: same arguments, defaults (``axis=0``;
    ``None`` flattens) and result fields.

    ``variance`` divides by ``n - ddof``; ``skewness`` and ``kurtosis`` (Fisher,
    excess) are the biased moment ratios unless ``bias=False``. Skewness and kurtosis
    of a constant slice (``m2 <= (eps · mean)²``) are NaN, as SciPy. Non-finite
    values give SciPy's answers: NaN anywhere makes every field of that slice NaN
    (``nan_policy="propagate"``; ``"raise"`` raises ``ValueError``; ``"omit"`` is not
    supported, a ``ValueError``); ±inf gives the true min/max, mean ±inf (NaN with
    both signs) and NaN variance, skewness and kurtosis.

    One pass over memory per slice, float64 accumulation (blocked two-pass in L1,
    merged with Chan/Pébay's pairwise formulas); slices run in parallel. An empty
    axis is a ``ValueError``.
    """
    ddof = _count(ddof, "ddof", minimum=0)
    if nan_policy not in _NAN_POLICIES:
        raise ValueError(f"nan_policy must be one of {', '.join(map(repr, _NAN_POLICIES))}, got {nan_policy!r}")
    if nan_policy == "omit":
        raise ValueError("nan_policy='omit' is not supported by mlkern.signal.describe; drop the NaNs first")
    arr = _real(a, "a")
    if axis is None:
        arr, axis = arr.reshape(-1), 0
    rows, lead = _rows(arr, axis, "a")
    if rows.shape[1] == 0:
        raise ValueError("the input must not be empty along axis")
    if nan_policy == "raise" and np.isnan(rows).any():
        raise ValueError("The input contains nan values")
    if rows.shape[0] == 0:
        empty = np.empty(lead, rows.dtype)
        return DescribeResult(int(rows.shape[1]), (empty, empty.copy()), empty.copy(), empty.copy(), empty.copy(),
                              empty.copy())
    stats = _mlkern._describe_rows(rows, ddof, bool(bias), _workers(workers))
    cols = [stats[:, k].reshape(lead) for k in range(6)]
    if not lead:
        cols = [c[()] for c in cols]
    lo, hi, mean, var, skew, kurt = cols
    return DescribeResult(int(rows.shape[1]), (lo, hi), mean, var, skew, kurt)


_STATS = ("mean", "std", "var", "min", "max", "sum", "skew")


def rolling(x: npt.ArrayLike, window: int, stat: str, axis: int = 0, *, workers: int | None = None) -> np.ndarray:
    """Rolling-window ``stat`` over a 1-D series, as
    ``pandas.Series(x).rolling(window).<stat>()``, or along ``axis`` of a 2-D array:
    ``axis=0`` (the default) rolls down each column, as
    ``pandas.DataFrame(x).rolling(window).<stat>()``; ``axis=1`` (or ``-1``) along each row.

    ``stat`` is one of ``mean``, ``std``, ``var`` (ddof = 1), ``min``, ``max``,
    ``sum``, ``skew``. The first ``window - 1`` outputs are NaN, as is any window
    holding NaN (pandas' ``min_periods = window``). ``window`` must be in
    ``1..=len`` (an int; a bool is a ``TypeError``).

    Infinities (differs from pandas): each window's value is NumPy's on that window,
    ``sliding_window_view(x, window, axis).<stat>(-1)``: ``sum``/``mean`` ±inf (NaN
    when both signs are in the window), ``min``/``max`` the true extreme,
    ``var``/``std``/``skew`` NaN. pandas converts ±inf to NaN before computing, so
    its windows holding an infinity are NaN.

    O(n) in the window: compensated running sums restarted exactly every
    ``max(16 window, 16384)`` samples (no drift; the restarts also let one long
    series run on several threads, with a result independent of the thread count),
    and a monotone deque for ``min``/``max``. A 2-D input along ``axis=0`` is copied
    once into contiguous rows (and the result is a transposed view).
    """
    if stat not in _STATS:
        raise ValueError(f"stat: unknown statistic {stat!r}; expected one of {', '.join(_STATS)}")
    window = _int(window, "window")
    arr = _real(x, "x")
    if arr.ndim not in (1, 2):
        raise ValueError(f"x must be 1-D or 2-D (rows of series), got shape {arr.shape}")
    rows, lead = _rows(arr, axis, "x")
    n = rows.shape[1]
    if window < 1 or window > n:
        raise ValueError(f"window must be in 1..={n} (the series length), got {window}")
    out = _mlkern._rolling_rows(rows, window, stat, _workers(workers))
    return _unrows(out, lead, _int(axis, "axis"))


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
    if _int(nperseg, "nperseg") < 1:
        raise ValueError(f"nperseg must be a positive int, got {nperseg!r}")
    nperseg = int(nperseg)
    if nperseg > n:
        warnings.warn(f"nperseg = {nperseg} is greater than input length = {n}, using nperseg = {n}",
                      UserWarning, stacklevel=2)
        nperseg = n
    nov = nperseg // 2 if noverlap is None else _int(noverlap, "noverlap")
    if not 0 <= nov < nperseg:
        raise ValueError(f"noverlap must be in 0..{nperseg - 1}, got {noverlap}")
    pxx = _mlkern._welch_rows(rows, fsf, nperseg, nov, _workers(workers))
    return np.fft.rfftfreq(nperseg, 1.0 / fsf), _unrows(pxx, lead, axis)


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
