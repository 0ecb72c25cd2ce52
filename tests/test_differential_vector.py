"""Differential campaign, mlkern.vector: dot, norm, sqeuclidean, cosine_similarity,
cosine_distance, cdist (every metric, out=) and topk, against long-double NumPy
loops and SciPy/scikit-learn, on every SIMD tier, 1 and 2 threads, awkward sizes,
every memory layout and special values. See tests/_strategies.py for the machinery.

Bounds (u = unit roundoff of the input dtype, gamma_n = n u / (1 - n u), eta = the
smallest subnormal): the reference is computed in long double (u_ld = 2**-64 on
x86-64), whose own error is added where it is not negligible.
"""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest
import scipy.spatial.distance as ssd
from _strategies import (
    FINITE_SPECIALS,
    SIMD_SIZES,
    TIERS,
    arrays,
    assert_classes,
    assert_close,
    budget,
    dtypes,
    eta,
    every_tier,
    gamma,
    kernel_context,
    sizes,
    sum_class,
    threads,
    tiers,
    unit,
    value_class,
)
from hypothesis import given
from hypothesis import strategies as st

import mlkern
from mlkern import vector

LD = np.longdouble
LD_UNIT = float(np.finfo(LD).eps) / 2
# Vectors split into 256 KiB chunks from 2**18 elements on (thread-independent sums).
PAR_SIZES = [2**18 - 1, 2**18, 2**18 + 1, 2**18 + 65537]
TILE_SIZES = [0, 1, 2, 3, 4, 5, 7, 8, 9, 12, 13, 16, 17, 31, 32, 33, 63, 64, 65, 66]
METRICS = ("euclidean", "sqeuclidean", "cosine", "dot", "cosine_similarity")
DISTANCES = ("euclidean", "sqeuclidean", "cosine")


def ld(x: np.ndarray) -> np.ndarray:
    return np.array(x, dtype=LD)


def terms_in(dtype: np.dtype, f: object, *xs: np.ndarray) -> np.ndarray:
    """``f`` applied to the inputs in the input precision (where overflow happens)."""
    with np.errstate(all="ignore"):
        return np.asarray(f(*(np.asarray(x, dtype=dtype) for x in xs)), dtype=np.float64)  # type: ignore[operator]


def products(*xs: np.ndarray) -> np.ndarray:
    """Products in long double: a kernel may fuse them into FMAs, so a finite product
    that would overflow the input precision is not an infinity (its sum is then
    "unpredictable", see check_sum); only inf/NaN inputs make infinite terms."""
    with np.errstate(all="ignore"):
        out = ld(xs[0])
        for x in xs[1:]:
            out = out * ld(x)
        return out


# -- dot, norm, sqeuclidean ----------------------------------------------------------


@st.composite
def vector_pair(draw: st.DrawFn, big: bool = True) -> tuple[np.ndarray, np.ndarray]:
    dtype = draw(dtypes)
    pts = SIMD_SIZES + [1000, 1023, 1024, 1025, 4095, 4097, 8191, 8192, 8193] + (PAR_SIZES if big else [])
    n = draw(sizes(pts, 0, max(pts)))
    a = draw(arrays((n,), dtype))
    b = draw(arrays((n,), dtype))
    return a, b


def underflowing(terms: np.ndarray, dtype: np.dtype) -> int:
    """How many (long double) terms fall below the normal range of ``dtype`` and are not
    representable there: gradual underflow rounds each by at most eta / 2 (sums of
    subnormals are exact), a flush-to-zero kernel loses them all."""
    with np.errstate(all="ignore"):
        t = terms[np.isfinite(terms)]
        tiny = np.abs(t) < float(np.finfo(dtype).tiny)
        return int(np.sum(tiny & (t.astype(dtype).astype(LD) != t)))


def check_sum(got: float, terms_dt: np.ndarray, exact: LD, abs_sum: float, n: int, dtype: np.dtype,
              what: str) -> None:
    """A sum of n terms: class as IEEE requires; if finite and predictable,
    |got - exact| <= gamma_n * sum|terms| + n_under * eta / 2 + u |exact| (final
    rounding), n_under = terms that underflow inexactly (no flush to zero)."""
    finite_terms = terms_dt[np.isfinite(terms_dt)]
    fmax = float(np.finfo(dtype).max)
    predictable = float(np.sum(np.abs(finite_terms))) <= fmax / 4
    if not predictable:
        return
    cls = int(sum_class(terms_dt[None, :])[0]) if n else 0
    assert int(value_class(np.array([got]))[0]) == cls, f"{what}: got {got!r}, expected class {cls}"
    if cls == 0:
        bound = gamma(n + 1, dtype) * abs_sum + underflowing(terms_dt, dtype) * eta(dtype) / 2 \
            + unit(dtype) * abs(float(exact)) + 4 * n * LD_UNIT * abs_sum
        assert abs(float(got) - float(exact)) <= bound, f"{what}: got {got!r}, exact {float(exact)!r}, bound {bound:.3g}"


@budget(40)
@given(vector_pair(), threads)
def test_dot_every_tier(pair: tuple[np.ndarray, np.ndarray], nthreads: int) -> None:
    a, b = pair
    dt, n = a.dtype.newbyteorder("="), a.size
    terms = products(a, b)
    exact = np.sum(ld(a) * ld(b)) if np.isfinite(terms).all() else LD(0)
    abs_sum = float(np.sum(np.abs(ld(a) * ld(b)))) if np.isfinite(terms).all() else 0.0
    for t, got in every_tier(vector.dot, a, b, threads=nthreads):
        assert isinstance(got, np.generic) and got.dtype == dt
        check_sum(float(got), terms, exact, abs_sum, n, dt, f"dot n={n} tier={t}")
    for t, got in every_tier(vector.dot, a, b, precise=True, threads=nthreads):
        # Compensated: |got - exact| <= u |exact| + gamma_n**2 sum|a b| (docstring).
        if np.isfinite(terms).all() and float(np.sum(np.abs(terms))) <= float(np.finfo(dt).max) / 4:
            bound = unit(dt) * abs(float(exact)) + gamma(n, dt) ** 2 * abs_sum + 2 * n * eta(dt) \
                + 4 * n * LD_UNIT * abs_sum
            assert abs(float(got) - float(exact)) <= bound, (t, n, got, exact, bound)


@budget(40)
@given(vector_pair(), threads)
def test_norm_sqeuclidean_every_tier(pair: tuple[np.ndarray, np.ndarray], nthreads: int) -> None:
    a, b = pair
    dt, n = a.dtype.newbyteorder("="), a.size
    fmax = float(np.finfo(dt).max)
    sq_terms = products(a, a)
    sq_exact = np.sum(ld(a) ** 2)
    diff = terms_in(dt, np.subtract, a, b)  # the difference is rounded (and may overflow) in the input dtype
    d_terms = products(diff, diff)
    d_exact = np.sum((ld(a) - ld(b)) ** 2) if np.isfinite(d_terms).all() else LD(0)
    for t, got in every_tier(vector.norm, a, threads=nthreads):
        assert got.dtype == dt
        cls = int(sum_class(sq_terms[None, :])[0]) if n else 0
        if cls == 2:
            assert np.isnan(got), (t, got)
        elif cls == 1 or float(sq_exact) > 2 * fmax:
            # Overflows where numpy.linalg.norm does: sqrt(dot(a, a)) = inf.
            assert got == np.inf, (t, got)
        elif float(sq_exact) <= fmax / 4:
            # |got - r| <= gamma_{n+2} r + sqrt(n eta): sqrt halves the relative error of the sum.
            r = float(np.sqrt(sq_exact))
            assert abs(float(got) - r) <= gamma(n + 2, dt) * r + np.sqrt(n * eta(dt)) * 2, (t, n, got, r)
    for t, got in every_tier(vector.sqeuclidean, a, b, threads=nthreads):
        assert got.dtype == dt
        # Differences then squares in the input precision:
        # |got - exact| <= gamma_{n+2} sum (a-b)**2 + n eta.
        check_sum(float(got), d_terms, d_exact, float(abs(d_exact)), n + 2, dt, f"sqeuclidean n={n} tier={t}")


# -- cosine --------------------------------------------------------------------------


def scaled_cosine(a: np.ndarray, b: np.ndarray) -> float:
    """Cosine similarity in long double after exact power-of-two scaling of each vector
    (right for tiny and huge vectors); 0 for a zero vector (sklearn's convention)."""
    x, y = ld(a), ld(b)
    mx, my = np.max(np.abs(x), initial=0), np.max(np.abs(y), initial=0)
    if mx == 0 or my == 0:
        return 0.0
    x = np.ldexp(x, -np.frexp(mx)[1])
    y = np.ldexp(y, -np.frexp(my)[1])
    c = np.sum(x * y) / (np.sqrt(np.sum(x * x)) * np.sqrt(np.sum(y * y)))
    return float(min(1, max(-1, c)))


def scaled_cosine_matrix(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """scaled_cosine of every pair of rows (NaN rows give NaN; zero rows 0)."""
    def scaled(v: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        x = ld(v)
        mx = np.max(np.abs(np.where(np.isfinite(x), x, 0)), axis=1, initial=0)
        e = np.frexp(np.where(mx > 0, mx, 1))[1]
        xs = np.ldexp(x, -e[:, None])
        return xs, np.sqrt(np.sum(xs * xs, axis=1))
    with np.errstate(all="ignore"):
        xs, nx = scaled(a)
        ys, ny = scaled(b)
        if a.shape[1] == 0:
            return np.zeros((a.shape[0], b.shape[0]))
        c = (xs @ ys.T) / (nx[:, None] * ny[None, :])
        c = np.where((nx[:, None] == 0) | (ny[None, :] == 0), 0, np.clip(c, -1, 1))
        return c.astype(np.float64)


@st.composite
def cosine_pair(draw: st.DrawFn) -> tuple[np.ndarray, np.ndarray]:
    dtype = draw(dtypes)
    n = draw(sizes(SIMD_SIZES + [1000, 1025, 8193], 1, 8193))
    kinds = list(FINITE_SPECIALS) + ["nan", "huge", "-huge"]
    a = draw(arrays((n,), dtype, kinds=kinds))
    b = draw(arrays((n,), dtype, kinds=kinds))
    # Scale whole vectors to the extremes: 1e-200/1e200 (f64), 1e-20/1e20 (f32).
    sa = draw(st.sampled_from([1.0, 1e-200, 1e200, 1e-20, 1e20, 2.0**-1070]))
    sb = draw(st.sampled_from([1.0, 1e-200, 1e200, 1e-20, 1e20]))
    with np.errstate(all="ignore"):
        a = (np.array(a, dtype=np.float64) * sa).astype(a.dtype)
        b = (np.array(b, dtype=np.float64) * sb).astype(b.dtype)
    return a, b


@budget(40)
@given(cosine_pair(), threads)
def test_cosine_similarity_and_distance(pair: tuple[np.ndarray, np.ndarray], nthreads: int) -> None:
    a, b = pair
    dt, n = a.dtype.newbyteorder("="), a.size
    if np.isinf(a).any() or np.isinf(b).any():
        return  # no defined answer (inf/inf); only NaN is specified
    has_nan = np.isnan(a).any() or np.isnan(b).any()
    ref = scaled_cosine(a, b) if not has_nan else np.nan
    # |got - ref| <= 2 gamma_{n+6}: gamma_n sum|a||b| / (|a||b|) <= gamma_n (Cauchy-Schwarz)
    # for the dot, plus the relative errors of the two norms, the scaling and the division.
    bound = 2 * gamma(n + 6, dt)
    for t, got in every_tier(vector.cosine_similarity, a, b, threads=nthreads):
        assert np.asarray(got).dtype == dt
        if has_nan:
            assert np.isnan(got), (t, got)
        else:
            assert abs(float(got) - ref) <= bound, f"cosine_similarity tier={t} n={n}: got {got!r} ref {ref!r}"
            assert -1 <= got <= 1
    for t, got in every_tier(vector.cosine_distance, a, b, threads=nthreads):
        if has_nan:
            assert np.isnan(got), (t, got)
        else:
            assert abs(float(got) - (1 - ref)) <= bound + unit(dt), \
                f"cosine_distance tier={t} n={n}: got {got!r} ref {1 - ref!r}"


# -- cdist ---------------------------------------------------------------------------


def reference_scores(a: np.ndarray, b: np.ndarray, metric: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(reference, bound, expected class) per (i, j); class -3 means "unpredictable"
    (finite parts may overflow in the input precision): not checked."""
    dt = a.dtype.newbyteorder("=")
    fmax = float(np.finfo(dt).max)
    x, y = ld(a), ld(b)
    m, d = a.shape
    n = b.shape[0]
    if metric in ("dot",):
        terms = products(np.asarray(a)[:, None, :], np.asarray(b)[None, :, :])
        with np.errstate(all="ignore"):
            ref = x @ y.T if x.size and y.size else np.zeros((m, n), LD)
            absum = np.abs(x) @ np.abs(y).T if x.size and y.size else np.zeros((m, n), LD)
        # |got - ref| <= gamma_d sum_k |a_ik b_jk| + d eta.
        bound = gamma(d + 1, dt) * absum.astype(np.float64) + d * eta(dt) + unit(dt) * np.abs(ref.astype(np.float64))
    elif metric in ("sqeuclidean", "euclidean"):
        diff = terms_in(dt, lambda p, q: p[:, None, :] - q[None, :, :], a, b)
        terms = products(diff, diff)
        with np.errstate(all="ignore"):
            sq = np.sum((x[:, None, :] - y[None, :, :]) ** 2, axis=2) if d else np.zeros((m, n), LD)
        sqf = sq.astype(np.float64)
        # The GEMM route keeps |a|^2 + |b|^2 - 2ab only where d^2 > (|a|^2 + |b|^2) / 2
        # (else it sums (a - b)^2 directly), which bounds its error by 4 gamma_{d+2} d^2
        # (rust/core/src/vector/products.rs).
        if metric == "sqeuclidean":
            # |got - ref| <= 4 gamma_{d+3} sum (a - b)**2 + d eta.
            ref, bound = sq, 4 * gamma(d + 3, dt) * sqf + d * eta(dt)
        else:
            # sqrt halves the relative error: |got - ref| <= 2 gamma_{d+3} ref + sqrt(d eta).
            ref = np.sqrt(sq)
            bound = 2 * gamma(d + 3, dt) * ref.astype(np.float64) + 2 * np.sqrt(d * eta(dt))
    else:
        terms = np.zeros((m, n, 0))
        ref = scaled_cosine_matrix(a, b)
        zero = (np.abs(x).max(axis=1, initial=0)[:, None] == 0) | (np.abs(y).max(axis=1, initial=0)[None, :] == 0)
        if metric == "cosine":
            # 1 - similarity (SciPy's distance); NaN where a row is all zero.
            ref = np.where(zero, np.nan, 1 - ref)
        # |got - ref| <= 2 gamma_{d+6} (+ u for 1 - s).
        bound = np.full((m, n), 2 * gamma(d + 6, dt) + unit(dt))
        nanrow = np.isnan(x).any(axis=1)[:, None] | np.isnan(y).any(axis=1)[None, :]
        infrow = np.isinf(x).any(axis=1)[:, None] | np.isinf(y).any(axis=1)[None, :]
        cls = np.where(nanrow | (zero & (metric == "cosine")), 2, 0)
        cls = np.where(infrow & ~nanrow, -3, cls)
        # Scaled norms are promised for the 1-D cosine functions only: in cdist/topk a
        # row whose squared norm over- or underflows in the input dtype is not checked.
        fmax, fmin = float(np.finfo(dt).max), float(np.finfo(dt).tiny)
        with np.errstate(all="ignore"):
            sa = np.sum(np.where(np.isfinite(x), x, 0) ** 2, axis=1)  # long double: no underflow
            sb = np.sum(np.where(np.isfinite(y), y, 0) ** 2, axis=1)
        odd_a = ((sa > fmax / 4) | ((sa < 1e6 * fmin) & (sa > 0)))[:, None]
        odd_b = ((sb > fmax / 4) | ((sb < 1e6 * fmin) & (sb > 0)))[None, :]
        cls = np.where((odd_a | odd_b) & ~nanrow, -3, cls)
        return ref.astype(np.float64), bound, cls
    cls = sum_class(terms, axis=2) if d else np.zeros((m, n), int)
    finite_abs = np.where(np.isfinite(terms), np.abs(terms), 0).sum(axis=2) if d else np.zeros((m, n))
    cls = np.where(finite_abs <= fmax / 4, cls, -3)
    with np.errstate(all="ignore"):
        return np.where(cls == 0, ref.astype(np.float64), 0.0), np.asarray(bound, np.float64), cls


def check_scores(got: np.ndarray, a: np.ndarray, b: np.ndarray, metric: str, what: str) -> None:
    ref, bound, cls = reference_scores(a, b, metric)
    known = cls != -3
    assert_classes(np.where(known, got, 0.0), np.where(known, cls, 0), what)
    ok = known & (cls == 0)
    assert_close(np.where(ok, got, 0.0), np.where(ok, ref, 0.0), np.where(ok, bound, 0.0), what)


@st.composite
def matrix_pair(draw: st.DrawFn, max_work: int = 300_000) -> tuple[np.ndarray, np.ndarray]:
    dtype = draw(dtypes)
    m = draw(sizes(TILE_SIZES, 0, 70))
    n = draw(sizes(TILE_SIZES, 0, 70))
    d = draw(sizes(SIMD_SIZES, 0, 257))
    if m * n * d > max_work:
        d = max_work // max(1, m * n)
    a = draw(arrays((m, d), dtype))
    b = draw(arrays((n, d), dtype))
    return a, b


@budget(30)
@given(matrix_pair(), st.sampled_from(METRICS), tiers, threads, st.booleans())
def test_cdist_every_metric(pair: tuple[np.ndarray, np.ndarray], metric: str, tier: str, nthreads: int,
                            use_out: bool) -> None:
    a, b = pair
    dt = a.dtype.newbyteorder("=")
    with kernel_context(tier, nthreads):
        if use_out:
            out = np.full((a.shape[0], b.shape[0]), np.nan, dt)
            got = vector.cdist(a, b, metric, out=out)
            assert got is out
        else:
            got = vector.cdist(a, b, metric)
    assert got.shape == (a.shape[0], b.shape[0]) and got.dtype == dt
    check_scores(got, a, b, metric, f"cdist {metric} {a.shape}x{b.shape} tier={tier} threads={nthreads}")


@budget(10)
@given(matrix_pair(), tiers)
def test_cdist_matches_scipy_on_ordinary_data(pair: tuple[np.ndarray, np.ndarray], tier: str) -> None:
    """SciPy as a second reference (finite inputs, non-zero rows): cdist's default is
    "euclidean" and "cosine" is SciPy's distance."""
    a, b = (np.nan_to_num(np.array(v, dtype=np.float64), posinf=1.0, neginf=-1.0, nan=0.5) + 0.25 for v in pair)
    a, b = a.astype(pair[0].dtype.newbyteorder("=")), b.astype(pair[0].dtype.newbyteorder("="))
    if a.shape[1] == 0 or a.shape[0] == 0 or b.shape[0] == 0 or (np.abs(a) > 1e15).any() or (np.abs(b) > 1e15).any():
        return
    if (np.abs(a).max(axis=1) < 1e-10).any() or (np.abs(b).max(axis=1) < 1e-10).any():
        return
    tol = 64 * gamma(a.shape[1] + 8, a.dtype)
    with kernel_context(tier):
        for metric in ("euclidean", "sqeuclidean", "cosine"):
            ref = ssd.cdist(a.astype(np.float64), b.astype(np.float64), metric)
            got = vector.cdist(a, b, metric)
            scale = ref.max() if metric != "cosine" else 1.0
            np.testing.assert_allclose(got, ref, rtol=tol, atol=tol * scale, err_msg=metric)
        np.testing.assert_allclose(vector.cdist(a, b), ssd.cdist(a, b), rtol=tol, atol=tol * 10,
                                   err_msg="default metric must be euclidean")


# -- topk ----------------------------------------------------------------------------


def check_topk(scores: np.ndarray, idx: np.ndarray, q: np.ndarray, c: np.ndarray, k: int, metric: str,
               what: str) -> None:
    """Indices distinct and in range; scores are the reference scores of those rows
    (cdist's bound); ordered best first with NaN last; no unselected row is better
    than the worst selected one by more than twice the bound."""
    nq, n = q.shape[0], c.shape[0]
    assert scores.shape == (nq, k) and idx.shape == (nq, k), what
    assert idx.dtype == np.int64, what
    ref, bound, cls = reference_scores(q, c, metric)
    larger_better = metric in ("dot", "cosine_similarity")
    for i in range(nq):
        row = idx[i]
        assert len(set(row.tolist())) == k and row.min(initial=0) >= 0 and row.max(initial=0) < n, (what, row)
        known = cls[i] != -3
        if not known.all():
            continue
        r = np.where(cls[i] == 0, ref[i], np.where(cls[i] == 1, np.inf, np.where(cls[i] == -1, -np.inf, np.nan)))
        key = -r if larger_better else r
        # NaN ranks last.
        nan_sel = np.isnan(r[row])
        n_nan_total = int(np.isnan(r).sum())
        n_finite = n - n_nan_total
        assert not nan_sel[: min(k, n_finite)].any(), f"{what}: NaN ranked before a number in row {i}"
        assert_close(np.where(cls[i][row] == 0, scores[i], 0.0), np.where(cls[i][row] == 0, r[row], 0.0),
                     np.where(cls[i][row] == 0, bound[i][row], 0.0), f"{what} scores row {i}")
        num = ~np.isnan(scores[i])
        s = scores[i][num].astype(np.float64)
        if larger_better:
            assert np.all(np.diff(s) <= 0), f"{what}: row {i} not descending: {s}"
        else:
            assert np.all(np.diff(s) >= 0), f"{what}: row {i} not ascending: {s}"
        if k < n_finite:
            worst = np.nanmax(key[row])
            others = np.setdiff1d(np.arange(n), row)
            slack = 2 * np.max(bound[i]) if bound[i].size else 0
            better = key[others][~np.isnan(key[others])] < worst - slack
            assert not better.any(), f"{what}: row {i} left out a better row"


@st.composite
def topk_case(draw: st.DrawFn) -> tuple[np.ndarray, np.ndarray, int]:
    dtype = draw(dtypes)
    nq = draw(sizes([1, 2, 3, 4, 5, 7, 8, 9, 17], 1, 20))
    n = draw(sizes([1, 2, 3, 4, 5, 8, 9, 63, 64, 65, 2047, 2048, 2049, 4100], 1, 4100))
    d = draw(sizes([1, 2, 3, 4, 7, 8, 9, 16, 17, 33], 1, 40))
    k = draw(st.one_of(st.sampled_from([1, 2, 4, 5, n]), st.integers(1, n)))
    k = min(max(k, 1), n)
    kinds = ["nan", "-0.0", "subnormal", "tiny"]
    q = draw(arrays((nq, d), dtype, kinds=kinds))
    c = draw(arrays((n, d), dtype, kinds=kinds))
    return q, c, k


@budget(25)
@given(topk_case(), st.sampled_from(METRICS), tiers, threads)
def test_topk_every_metric(case: tuple[np.ndarray, np.ndarray, int], metric: str, tier: str, nthreads: int) -> None:
    q, c, k = case
    with kernel_context(tier, nthreads):
        scores, idx = vector.topk(q, c, k, metric)
    check_topk(scores, idx, q, c, k, metric, f"topk {metric} q={q.shape} c={c.shape} k={k} tier={tier}")


@budget(25)
@given(st.integers(0, 2**32 - 1), st.sampled_from(METRICS), dtypes, tiers, threads,
       sizes([1, 4, 5, 63, 64, 65, 2047, 2048, 2049, 2100], 1, 2100), st.booleans())
def test_topk_exact_ties_rank_lower_index_first(seed: int, metric: str, dtype: type, tier: str, nthreads: int,
                                                n: int, with_nan: bool) -> None:
    """Small-integer data: every score is exact (for dot/sqeuclidean/euclidean of
    integers, and the cosines of duplicated rows are equal), so the order must be
    exactly a stable sort of the reference: ties -> lower index, NaN last."""
    rng = np.random.default_rng(seed)
    d = int(rng.integers(1, 9))
    base = rng.integers(-2, 3, (7, d)).astype(dtype)
    c = base[rng.integers(0, 7, n)]  # many exact duplicates -> ties
    if with_nan:
        c[rng.integers(0, n, 1 + n // 10), 0] = np.nan
    q = rng.integers(-2, 3, (3, d)).astype(dtype)
    k = int(rng.integers(1, n + 1))
    with kernel_context(tier, nthreads):
        scores, idx = vector.topk(q, c, k, metric)
        full = vector.cdist(q, c, metric)
    if metric in ("cosine", "cosine_similarity"):
        # Exact ranking key of the cosine of integer vectors: sign(dot) dot^2 / (|q|^2 |c|^2)
        # as a Fraction (monotone in the cosine). Rows with equal keys compute bitwise
        # equal cosines only if (dot, |c|^2, max|c|) agree too; a query where two rows
        # tie in exact arithmetic without that is ambiguous and not checked.
        ref = np.empty((q.shape[0], n))
        skip = set()
        for i, qi in enumerate(q.astype(np.int64)):
            keys: dict[object, tuple[int, int, int]] = {}
            nq = int(qi @ qi)
            for j in range(n):
                cj = c[j]
                if np.isnan(cj).any():
                    ref[i, j] = np.nan
                    continue
                cj = cj.astype(np.int64)
                dotv, nc = int(qi @ cj), int(cj @ cj)
                if nq == 0 or nc == 0:
                    ref[i, j] = np.nan if metric == "cosine" else 0.0
                    continue
                key = Fraction(dotv * abs(dotv), nq * nc)
                triple = (dotv, nc, int(np.abs(cj).max()))
                if keys.setdefault(key, triple) != triple:
                    skip.add(i)
                sim = float(key)
                ref[i, j] = (1 - sim) if metric == "cosine" else sim
            # float(key) is monotone in the exact key; exact ties stay exact ties.
    else:
        skip = set()
        q64, c64 = q.astype(np.float64), c.astype(np.float64)
        if metric == "dot":
            ref = q64 @ c64.T
        else:
            ref = ((q64[:, None, :] - c64[None, :, :]) ** 2).sum(axis=2)
            if metric == "euclidean":
                ref = np.sqrt(ref)
    larger = metric in ("dot", "cosine_similarity")
    for i in range(q.shape[0]):
        if i in skip:
            continue
        key = -ref[i] if larger else ref[i]
        order = np.argsort(key, kind="stable")[:k]  # NaN sorts last
        np.testing.assert_array_equal(idx[i], order, err_msg=f"{metric} row {i} n={n} k={k} tier={tier}")
        np.testing.assert_array_equal(scores[i], full[i, order], err_msg=f"{metric} row {i}: scores vs cdist")


def test_topk_returns_scores_first() -> None:
    """(scores, indices), like torch.topk and sklearn's kneighbors (api-after.md)."""
    q = np.array([[0.0, 0.0]])
    c = np.array([[3.0, 4.0], [1.0, 0.0], [0.0, 2.0]])
    scores, idx = vector.topk(q, c, 2)  # default metric: euclidean
    assert idx.dtype == np.int64
    np.testing.assert_array_equal(idx, [[1, 2]])
    np.testing.assert_array_equal(scores, [[1.0, 2.0]])


def test_vector_cosine_is_gone() -> None:
    assert not hasattr(vector, "cosine")
    assert {"cosine_similarity", "cosine_distance", "cdist", "topk", "dot", "norm", "sqeuclidean"} <= set(vector.__all__)


@pytest.mark.parametrize("tier", TIERS)
def test_cosine_zero_vector_conventions(tier: str) -> None:
    z, v = np.zeros(5), np.arange(5.0)
    with kernel_context(tier):
        assert vector.cosine_similarity(z, v) == 0
        assert vector.cosine_distance(z, v) == 1
        d = vector.cdist(np.stack([z, v]), np.stack([v, z]), "cosine")
        assert np.isnan(d[0, 0]) and np.isnan(d[1, 1]) and np.isnan(d[0, 1]) and abs(d[1, 0]) < 1e-15
        s = vector.cdist(np.stack([z, v]), np.stack([v, z]), "cosine_similarity")
        assert s[0, 0] == 0 and s[1, 1] == 0 and abs(s[1, 0] - 1) < 1e-15
    assert mlkern.cpu_info()["tier"] in TIERS


@pytest.mark.parametrize("tier", TIERS)
@pytest.mark.parametrize("value,dtype", [(1e30, np.float32), (1e300, np.float64), (1e-30, np.float32),
                                         (1e-300, np.float64), (3e19, np.float32), (1e154, np.float64)])
def test_norm_overflows_where_numpy_does(tier: str, value: float, dtype: type) -> None:
    """norm is sqrt(dot(a, a)) in the input precision: inf (or 0) exactly where NumPy's is."""
    a = np.full(7, value, dtype)
    with np.errstate(all="ignore"):
        ref = np.sqrt(np.dot(a, a))
    with kernel_context(tier):
        got = vector.norm(a)
    if np.isinf(ref) or ref == 0:
        assert got == ref, (got, ref)
    else:
        assert abs(float(got) - float(ref)) <= 4 * 2 * unit(dtype) * float(ref)


@pytest.mark.parametrize("tier", TIERS)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("n", [1, 7, 64, 1025])
def test_dot_gradual_underflow_no_flush_to_zero(tier: str, dtype: type, n: int) -> None:
    """Subnormal inputs times 1 are exact products and sums of subnormals are exact:
    the dot must equal the exact value (a flush-to-zero/DAZ kernel gives 0)."""
    sub = np.finfo(dtype).smallest_subnormal
    a = (np.arange(1, n + 1) % 5 * sub).astype(dtype)
    b = np.ones(n, dtype)
    exact = float(np.sum(a.astype(np.float64)))
    with kernel_context(tier):
        assert float(vector.dot(a, b)) == exact
        assert float(vector.cdist(a[None, :], b[None, :], "dot")[0, 0]) == exact
        assert float(vector.sqeuclidean(a, np.zeros(n, dtype))) == 0.0 or n == 0  # squares underflow to 0
