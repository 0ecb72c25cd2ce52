"""Shared hypothesis strategies and helpers of the differential campaign (issue 17).

Every differential test draws its inputs through these helpers:

- sizes at and around the thresholds of mlkern's kernels (SIMD widths of 1/2/4/8/16
  lanes, GEMM micro-tiles, the 4 x 4 cdist/topk tiles, describe's blocks of 256,
  rolling's segments of ``max(16 window, 16384)``, FFT lane batches);
- memory layouts: C, Fortran, strided, negative strides, zero strides
  (``np.broadcast_to``), unaligned (an offset view into a byte buffer), byte-swapped
  (``>f4``/``>f8``) and read-only;
- special values: NaN, +-inf, -0.0, subnormals, 1e+-300 (float64) and 1e+-30 (float32);
- the SIMD tier (every tier the CPU has) and the thread count (1 or 2).

References are NumPy/SciPy/pandas/scikit-learn or plain loops written here, never
mlkern itself. Bounds are stated as formulas next to each check, with
``u`` = unit roundoff of the input dtype and ``gamma_n = n u / (1 - n u)``.

Big arrays are built with NumPy from a drawn seed (drawing 10**5 elements one by one
through hypothesis would be far too slow); hypothesis draws the sizes, the seed, the
layout, the positions and kinds of special values, the tier and the thread count.
"""

from __future__ import annotations

import contextlib
import math
import os
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

import mlkern
from mlkern import _mlkern

TIERS: list[str] = list(mlkern.cpu_info()["available_tiers"])
THREADS = (1, 2)
DTYPES = (np.float32, np.float64)
UNIT = {np.dtype(np.float32): 2.0**-24, np.dtype(np.float64): 2.0**-53}
# Smallest positive subnormal: the absolute error of one underflowing operation is
# at most half of it (gradual underflow, no flush-to-zero).
ETA = {np.dtype(np.float32): float(np.finfo(np.float32).smallest_subnormal),
       np.dtype(np.float64): float(np.finfo(np.float64).smallest_subnormal)}
HUGE = {np.dtype(np.float32): 1e30, np.dtype(np.float64): 1e300}
TINY = {np.dtype(np.float32): 1e-30, np.dtype(np.float64): 1e-300}

LONG = os.environ.get("MLKERN_FUZZ", "") == "long"
# fuzz-long.sh may scale every test's example count (MLKERN_FUZZ_EXAMPLES = factor).
LONG_FACTOR = int(os.environ.get("MLKERN_FUZZ_EXAMPLES", "20") or "20")

SUPPRESS = [HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.data_too_large,
            HealthCheck.filter_too_much]


def budget(n: int) -> settings:
    """``@budget(n)``: n examples in the short profile, ``n * LONG_FACTOR`` in the long one.
    Everything else (seed, deadline, database) comes from the loaded profile."""
    return settings(max_examples=n * LONG_FACTOR if LONG else n, suppress_health_check=SUPPRESS)


def native(dtype: Any) -> np.dtype:
    """``dtype`` in native byte order (">f4" -> float32)."""
    return np.dtype(dtype).newbyteorder("=")


def unit(dtype: Any) -> float:
    return UNIT[native(dtype)]


def eta(dtype: Any) -> float:
    return ETA[native(dtype)]


def gamma(n: int, dtype: Any) -> float:
    """gamma_n = n u / (1 - n u)."""
    nu = n * unit(dtype)
    return nu / (1 - nu)


# -- tiers and threads ---------------------------------------------------------------


@contextlib.contextmanager
def kernel_context(tier: str | None = None, threads: int | None = None) -> Iterator[None]:
    """Runs the body under a SIMD tier and a thread count, restoring both afterwards
    (the discipline of the ``tier`` fixture in conftest.py)."""
    before_tier = mlkern.cpu_info()["tier"]
    before_threads = mlkern.get_num_threads()
    try:
        if tier is not None and tier != before_tier:
            _mlkern._set_tier(tier)
            assert mlkern.cpu_info()["tier"] == tier
        if threads is not None and threads != before_threads:
            mlkern.set_num_threads(threads)
        yield
    finally:
        if mlkern.cpu_info()["tier"] != before_tier:
            _mlkern._set_tier(before_tier)
        if mlkern.get_num_threads() != before_threads:
            mlkern.set_num_threads(before_threads)


tiers = st.sampled_from(TIERS)
threads = st.sampled_from(THREADS)
dtypes = st.sampled_from(DTYPES)


def every_tier(fn: Any, *args: Any, threads: int | None = None, **kwargs: Any) -> list[tuple[str, Any]]:
    """``fn(*args, **kwargs)`` under every tier: [(tier, result), ...]."""
    out = []
    for t in TIERS:
        with kernel_context(t, threads):
            out.append((t, fn(*args, **kwargs)))
    return out


# -- sizes ---------------------------------------------------------------------------

# Lengths at and around the SIMD widths (1/2/4/8/16 lanes), unrolled multiples of them
# (x4 accumulators), and the 4 x 4 tiles.
SIMD_SIZES = sorted({0, 1, 2, 3, 4, 5, 7, 8, 9, 15, 16, 17, 31, 32, 33, 47, 48, 49, 63, 64, 65,
                     127, 128, 129, 255, 256, 257})


def around(points: Sequence[int], spread: int = 1, lo: int = 0) -> list[int]:
    """Each point and its neighbours within ``spread``."""
    return sorted({p + d for p in points for d in range(-spread, spread + 1) if p + d >= lo})


def sizes(points: Sequence[int], lo: int = 0, hi: int | None = None) -> st.SearchStrategy[int]:
    """A threshold-adjacent size, or (a quarter of the time) any size in [lo, hi]."""
    pts = [p for p in points if p >= lo and (hi is None or p <= hi)]
    top = hi if hi is not None else max(pts)
    return st.one_of(st.sampled_from(pts), st.sampled_from(pts), st.sampled_from(pts), st.integers(lo, top))


# -- data ----------------------------------------------------------------------------

SPECIAL_KINDS = ("nan", "inf", "-inf", "-0.0", "subnormal", "huge", "-huge", "tiny", "max")


def special_value(kind: str, dtype: Any) -> float:
    dt = native(dtype)
    return {
        "nan": math.nan,
        "inf": math.inf,
        "-inf": -math.inf,
        "-0.0": -0.0,
        "subnormal": float(np.finfo(dt).smallest_subnormal) * 3,
        "huge": HUGE[dt],
        "-huge": -HUGE[dt],
        "tiny": TINY[dt],
        "max": float(np.finfo(dt).max),
    }[kind]


NONFINITE = ("nan", "inf", "-inf")
FINITE_SPECIALS = ("-0.0", "subnormal", "tiny")  # harmless for error bounds: tiny magnitudes


@st.composite
def specials(draw: st.DrawFn, kinds: Sequence[str] = SPECIAL_KINDS, max_count: int = 3) -> list[tuple[float, str]]:
    """[(position in [0, 1), kind), ...]: where and what to put into an array."""
    count = draw(st.integers(0, max_count))
    return [(draw(st.floats(0, 1, exclude_max=True)), draw(st.sampled_from(list(kinds)))) for _ in range(count)]


def put_specials(x: np.ndarray, spots: list[tuple[float, str]]) -> np.ndarray:
    """``x`` (a fresh array) with the drawn special values written at the drawn positions."""
    flat = x.reshape(-1)
    if flat.size:
        for pos, kind in spots:
            flat[int(pos * flat.size)] = special_value(kind, x.dtype)
    return x


BASES = ("normal", "uniform", "integers", "offset", "scaled_up", "scaled_down")


def base_array(seed: int, shape: tuple[int, ...], dtype: Any, base: str = "normal") -> np.ndarray:
    """Finite well-behaved data of ``shape`` (C order, native).

    normal/uniform: N(0, 1) / U(-1, 1); integers: small integers (sums exact); offset:
    100 + N(0, 1) (cancellation for centred statistics); scaled_up/down: N(0, 1) times
    2**+-40 in float64, 2**+-20 in float32 (products neither overflow nor underflow)."""
    rng = np.random.default_rng(seed)
    f32 = np.dtype(dtype) == np.float32
    if base == "normal":
        x = rng.standard_normal(shape)
    elif base == "uniform":
        x = rng.uniform(-1, 1, shape)
    elif base == "integers":
        x = rng.integers(-8, 9, shape).astype(np.float64)
    elif base == "offset":
        x = 100 + rng.standard_normal(shape)
    elif base == "scaled_up":
        x = rng.standard_normal(shape) * 2.0 ** (20 if f32 else 40)
    elif base == "scaled_down":
        x = rng.standard_normal(shape) * 2.0 ** (-20 if f32 else -40)
    else:
        raise AssertionError(base)
    return np.ascontiguousarray(x.astype(dtype))


# Memory layouts: every one holds the same values as its source, except "broadcast",
# which repeats the first index along axis 0 (a zero stride); the reference is
# always computed from the values of the array that is passed.
LAYOUTS = ("C", "F", "strided", "negative", "broadcast", "unaligned", "byteswapped", "readonly")
LAYOUTS_1D = ("C", "strided", "negative", "broadcast", "unaligned", "byteswapped", "readonly")


def layout(x: np.ndarray, kind: str) -> np.ndarray:
    """A view of ``x``'s values (see LAYOUTS) in the memory layout ``kind``."""
    if kind == "C":
        return np.ascontiguousarray(x)
    if kind == "F":
        return np.asfortranarray(x)
    if kind == "strided":
        big = np.zeros(tuple(2 * s + 1 for s in x.shape), x.dtype)
        view = big[tuple(slice(1, None, 2) for _ in x.shape)]
        view[...] = x
        return view
    if kind == "negative":
        rev = tuple(slice(None, None, -1) for _ in x.shape)
        return np.ascontiguousarray(x[rev])[rev]
    if kind == "broadcast":
        if x.ndim == 0 or x.shape[0] == 0:
            return x
        return np.broadcast_to(x[:1], x.shape)
    if kind == "unaligned":
        item = x.dtype.itemsize
        raw = np.zeros(x.nbytes + item, np.uint8)
        view = raw[1 : 1 + x.nbytes].view(x.dtype).reshape(x.shape)
        view[...] = x
        assert x.size == 0 or not view.flags.aligned
        return view
    if kind == "byteswapped":
        return x.astype(x.dtype.newbyteorder(">"))
    if kind == "readonly":
        y = np.array(x)
        y.flags.writeable = False
        return y
    raise AssertionError(kind)


layouts = st.sampled_from(LAYOUTS)
layouts_1d = st.sampled_from(LAYOUTS_1D)


def values(x: np.ndarray) -> np.ndarray:
    """A native-order float64 copy of the values of ``x`` (for references)."""
    return np.array(x, dtype=np.float64)


@st.composite
def arrays(draw: st.DrawFn, shape: tuple[int, ...], dtype: Any, *, kinds: Sequence[str] | None = SPECIAL_KINDS,
           bases: Sequence[str] = BASES, layout_kinds: Sequence[str] | None = None) -> np.ndarray:
    """A float array of ``shape``/``dtype``: drawn base data, optional special values,
    then a drawn memory layout."""
    seed = draw(st.integers(0, 2**32 - 1))
    base = draw(st.sampled_from(list(bases)))
    x = base_array(seed, shape, dtype, base)
    if kinds:
        x = put_specials(x, draw(specials(kinds)))
    kinds_l = layout_kinds if layout_kinds is not None else (LAYOUTS if len(shape) >= 2 else LAYOUTS_1D)
    return layout(x, draw(st.sampled_from(list(kinds_l))))


# -- special-value classification of sums (what IEEE arithmetic must give) ------------


def sum_class(terms: np.ndarray, axis: int = -1) -> np.ndarray:
    """For sums of float64 ``terms`` (products already formed, NaN where a term is NaN,
    e.g. inf * 0), the class any summation order must give: 0 = finite, 1 = +inf,
    -1 = -inf, 2 = NaN (a NaN term, or both infinities). Finite parts are assumed not to
    overflow (callers only use this when they cannot)."""
    nan = np.isnan(terms).any(axis=axis)
    pos = (terms == np.inf).any(axis=axis)
    neg = (terms == -np.inf).any(axis=axis)
    cls = np.where(pos, 1, 0) + np.where(neg, -1, 0)
    return np.where(nan | (pos & neg), 2, cls)


def value_class(v: np.ndarray) -> np.ndarray:
    v = np.asarray(v, dtype=np.float64)
    return np.where(np.isnan(v), 2, np.where(v == np.inf, 1, np.where(v == -np.inf, -1, 0)))


def assert_close(got: np.ndarray, ref: np.ndarray, bound: np.ndarray | float, what: str = "") -> None:
    """|got - ref| <= bound elementwise (all three finite where checked)."""
    got = np.asarray(got, dtype=np.float64)
    ref = np.asarray(ref, dtype=np.float64)
    err = np.abs(got - ref)
    bad = ~(err <= bound)
    if np.any(bad):
        idx = np.argwhere(bad)[:5]
        b = np.broadcast_to(bound, err.shape)
        detail = "; ".join(f"at {tuple(i)}: got {got[tuple(i)]!r} ref {ref[tuple(i)]!r} err {err[tuple(i)]:.3g} "
                           f"bound {b[tuple(i)]:.3g}" for i in idx)
        raise AssertionError(f"{what}: {int(bad.sum())} of {bad.size} entries outside the bound: {detail}")


def assert_classes(got: np.ndarray, expected_class: np.ndarray, what: str = "") -> None:
    """Non-finite pattern: where the expected class is NaN/+inf/-inf, got must be it;
    where it is finite, got must be finite."""
    gc = value_class(got)
    bad = gc != expected_class
    if np.any(bad):
        idx = np.argwhere(bad)[:5]
        g = np.asarray(got)
        detail = "; ".join(f"at {tuple(i)}: got {g[tuple(i)]!r}, expected class {int(expected_class[tuple(i)])}"
                           for i in idx)
        raise AssertionError(f"{what}: {int(bad.sum())} wrong special values "
                             f"(class 0 finite, 1 +inf, -1 -inf, 2 nan): {detail}")
