"""mlkern.vector against NumPy/SciPy under every SIMD tier, with stated error bounds."""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np
import pytest
from conftest import UNIT, gamma
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from mlkern import vector

AWKWARD = [0, 1, 2, 3, 7, 15, 16, 17, 31, 63, 64, 65, 127, 128, 129, 255, 256, 1000, 1023, 1025, 4097]


def exact_dot(a: np.ndarray, b: np.ndarray) -> float:
    """Correctly rounded dot product via exact rational arithmetic."""
    return float(sum((Fraction(float(x)) * Fraction(float(y)) for x, y in zip(a, b)), Fraction(0)))


def fsum_dot(a: np.ndarray, b: np.ndarray) -> float:
    """Dot product of float32 data with exact products (float64) and math.fsum."""
    return math.fsum((a.astype(np.float64) * b.astype(np.float64)).tolist())


def reference_dot(a: np.ndarray, b: np.ndarray) -> float:
    """The correctly rounded dot product (exact products: float64 for float32 data, rationals otherwise)."""
    return fsum_dot(a, b) if a.dtype == np.float32 else exact_dot(a, b)


def dot_bound(a: np.ndarray, b: np.ndarray, dtype: type) -> float:
    abs_sum = float(np.sum(np.abs(a.astype(np.float64) * b.astype(np.float64))))
    return gamma(len(a), dtype) * abs_sum * 1.0001 + 1e-300


# -- dot, norm, cosine_similarity/distance, sqeuclidean ---------------------------------------------


@pytest.mark.parametrize("n", AWKWARD)
def test_dot_every_tier_awkward_sizes(tier: str, dtype: type, n: int, rng: np.random.Generator) -> None:
    buf_a = rng.standard_normal(n + 3).astype(dtype)
    buf_b = rng.standard_normal(n + 3).astype(dtype)
    for off_a, off_b in [(0, 0), (1, 2), (3, 1)]:  # unaligned starts, still contiguous
        a, b = buf_a[off_a : off_a + n], buf_b[off_b : off_b + n]
        got = vector.dot(a, b)
        assert isinstance(got, dtype)
        ref = reference_dot(a, b) if n <= 1025 else fsum_dot(a, b)
        assert abs(float(got) - ref) <= dot_bound(a, b, dtype) + UNIT[dtype] * abs(ref)
        d = a.astype(np.float64) - b.astype(np.float64)
        sq_ref = math.fsum((d * d).tolist())
        assert abs(float(vector.sqeuclidean(a, b)) - sq_ref) <= gamma(n + 3, dtype) * sq_ref + 1e-300
        nr = math.sqrt(math.fsum((a.astype(np.float64) ** 2).tolist()))
        assert abs(float(vector.norm(a)) - nr) <= gamma(n + 2, dtype) * nr + 1e-300


def _signed(lo: float, hi: float, width: int) -> st.SearchStrategy[float]:
    """0, or a magnitude in [lo, hi] of either sign (squares neither overflow nor underflow)."""
    mag = st.floats(lo, hi, width=width)
    return st.one_of(st.just(0.0), mag, mag.map(lambda x: -x))


floats32 = _signed(2.0**-20, 1024.0, 32)
floats64 = _signed(1e-100, 1e6, 64)


@st.composite
def vector_pairs(draw: st.DrawFn) -> tuple[np.ndarray, np.ndarray]:
    dtype = draw(st.sampled_from([np.float32, np.float64]))
    n = draw(st.integers(0, 300))
    elements = floats32 if dtype == np.float32 else floats64
    a = draw(hnp.arrays(dtype, n, elements=elements))
    b = draw(hnp.arrays(dtype, n, elements=elements))
    return a, b


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(pair=vector_pairs())
def test_dot_family_property_vs_numpy(tier: str, pair: tuple[np.ndarray, np.ndarray]) -> None:
    a, b = pair
    dtype = a.dtype.type
    ref = reference_dot(a, b)
    got = vector.dot(a, b)
    assert got.dtype == a.dtype
    assert abs(float(got) - ref) <= dot_bound(a, b, dtype) + UNIT[dtype] * abs(ref)
    # numpy.dot obeys the same bound, so the two agree within twice of it.
    assert abs(float(got) - float(np.dot(a, b))) <= 2 * (dot_bound(a, b, dtype) + UNIT[dtype] * abs(ref))
    precise = vector.dot(a, b, precise=True)
    assert abs(float(precise) - ref) <= 2 * UNIT[dtype] * abs(ref) + gamma(len(a), np.float64) ** 2 * float(
        np.sum(np.abs(a.astype(np.float64) * b.astype(np.float64)))
    ) + 1e-300
    na, nb = float(np.linalg.norm(a.astype(np.float64))), float(np.linalg.norm(b.astype(np.float64)))
    cos = float(vector.cosine_similarity(a, b))
    assert float(vector.cosine_distance(a, b)) == 1 - vector.cosine_similarity(a, b)
    if na == 0 or nb == 0:
        assert cos == 0.0
    else:
        want = ref / (na * nb)
        assert -1.0 <= cos <= 1.0
        abs_sum = float(np.sum(np.abs(a.astype(np.float64) * b.astype(np.float64))))
        assert abs(cos - want) <= 4 * gamma(len(a) + 4, dtype) * abs_sum / (na * nb) + 4 * UNIT[dtype]


def test_precise_dot_on_ill_conditioned_vectors(tier: str, rng: np.random.Generator) -> None:
    """Cancellation leaves a tiny exact result; plain summation loses every digit."""
    plain_wrong = 0
    for trial in range(40):
        n = int(rng.integers(6, 400))
        half = n // 2
        x = rng.standard_normal(half) * 2.0 ** rng.integers(-30, 30, half)
        y = rng.standard_normal(half)
        a = np.concatenate([x, -x * (1 + rng.standard_normal(half) * 1e-12), rng.standard_normal(n - 2 * half) * 1e-25])
        b = np.concatenate([y, y, rng.standard_normal(n - 2 * half)])
        exact = exact_dot(a, b)
        cond = float(np.sum(np.abs(a * b))) / max(abs(exact), 1e-300)
        bound = UNIT[np.float64] * abs(exact) + gamma(n, np.float64) ** 2 * float(np.sum(np.abs(a * b)))
        got = float(vector.dot(a, b, precise=True))
        assert abs(got - exact) <= bound, (trial, cond, got, exact)
        if abs(float(vector.dot(a, b)) - exact) > bound:
            plain_wrong += 1
        # float32: exact float64 products summed with TwoSum, then one rounding
        # (the bound documented in kernels/compensated.rs).
        a32, b32 = a.astype(np.float32), b.astype(np.float32)
        exact32 = exact_dot(a32, b32)
        abs32 = float(np.sum(np.abs(a32.astype(np.float64) * b32.astype(np.float64))))
        bound32 = (UNIT[np.float32] + 2 * UNIT[np.float64]) * abs(exact32) + gamma(n, np.float64) ** 2 * abs32
        got32 = float(vector.dot(a32, b32, precise=True))
        assert abs(got32 - exact32) <= bound32 * 1.0001 + 1e-300
    assert plain_wrong >= 20  # the data is really ill-conditioned


@pytest.mark.parametrize("n", [1, 5, 16, 33, 1000])
def test_nan_and_inf_propagate_like_numpy(tier: str, dtype: type, n: int) -> None:
    for pos in {0, n // 2, n - 1}:
        a = np.ones(n, dtype)
        b = np.ones(n, dtype)
        for bad in [np.nan, np.inf, -np.inf]:
            a[pos] = bad
            with np.errstate(invalid="ignore"):
                for precise in (False, True):
                    np.testing.assert_equal(vector.dot(a, b, precise=precise), np.dot(a, b))
                np.testing.assert_equal(vector.sqeuclidean(a, b), np.sum((a - b) ** 2))
                np.testing.assert_equal(vector.norm(a), np.linalg.norm(a))
            a[pos] = 1
        a[pos] = np.nan
        assert np.isnan(vector.cosine_similarity(a, b))


def test_cosine_nan_or_inf_beats_the_zero_vector_convention(dtype: type) -> None:
    """A zero vector's similarity is 0, but NaN/inf in the other vector give NaN, as in cdist."""
    z = np.zeros(5, dtype)
    for bad in (np.nan, np.inf, -np.inf):
        v = np.ones(5, dtype)
        v[3] = bad
        for x, y in ((v, z), (z, v)):
            assert np.isnan(vector.cosine_similarity(x, y)) and np.isnan(vector.cosine_distance(x, y))
            assert np.isnan(vector.cdist(x[None], y[None], "cosine_similarity")).all()
    assert vector.cosine_similarity(z, np.ones(5, dtype)) == 0


def test_empty_vectors(dtype: type) -> None:
    e = np.empty(0, dtype)
    assert vector.dot(e, e) == 0 and vector.dot(e, e).dtype == dtype
    assert vector.dot(e, e, precise=True) == 0
    assert vector.norm(e) == 0
    assert vector.sqeuclidean(e, e) == 0
    assert vector.cosine_similarity(e, e) == 0


def test_long_dot_is_chunked_and_correct(dtype: type, rng: np.random.Generator) -> None:
    n = (1 << 18) * 3 + 11
    a = rng.standard_normal(n).astype(dtype)
    b = rng.standard_normal(n).astype(dtype)
    ref = fsum_dot(a, b)
    assert abs(float(vector.dot(a, b)) - ref) <= dot_bound(a, b, dtype) + UNIT[dtype] * abs(ref)


def test_non_contiguous_and_sequences_are_copied_correctly(dtype: type, rng: np.random.Generator) -> None:
    base = rng.standard_normal((50, 4)).astype(dtype)
    before = base.copy()
    col = base[:, 1]  # strided view
    assert not col.flags.c_contiguous
    np.testing.assert_allclose(vector.dot(col, col), np.dot(col, col), rtol=1e-5)
    assert vector.dot([1.0, 2.0, 3.0], [4.0, 5.0, 6.0]) == 32.0
    assert isinstance(vector.dot([1.0], [2.0]), np.float64)
    swapped = col.astype(col.dtype.newbyteorder(">"))
    np.testing.assert_allclose(vector.dot(swapped, col), np.dot(col, col), rtol=1e-5)
    reversed_view = base[::-1, 0]
    np.testing.assert_allclose(vector.norm(reversed_view), np.linalg.norm(reversed_view), rtol=1e-5)
    # The inputs are untouched (compared with a copy taken before any call).
    np.testing.assert_array_equal(base, before)


# -- cdist -----------------------------------------------------------------------

METRICS = ["euclidean", "sqeuclidean", "cosine", "cosine_similarity", "dot"]
SIMILARITIES = ("dot", "cosine_similarity")


def cdist_reference(a: np.ndarray, b: np.ndarray, metric: str) -> np.ndarray:
    """NumPy in float64: SciPy's meanings; "cosine_similarity" as scikit-learn (0 for a zero row)."""
    a64, b64 = a.astype(np.float64), b.astype(np.float64)
    if metric == "dot":
        return a64 @ b64.T
    if metric in ("cosine", "cosine_similarity"):
        na = np.linalg.norm(a64, axis=1, keepdims=True)
        nb = np.linalg.norm(b64, axis=1, keepdims=True)
        with np.errstate(invalid="ignore", divide="ignore"):
            s = np.clip((a64 @ b64.T) / (na * nb.T), -1, 1)
        if metric == "cosine":
            return 1 - s  # NaN where a row is zero, as scipy.spatial.distance.cdist
        s[(na == 0).ravel(), :] = 0
        s[:, (nb == 0).ravel()] = 0
        return s
    d2 = ((a64[:, None, :] - b64[None, :, :]) ** 2).sum(-1)
    return d2 if metric == "sqeuclidean" else np.sqrt(d2)


def cdist_tolerance(a: np.ndarray, b: np.ndarray, metric: str, dtype: type) -> np.ndarray:
    """Our bound plus the float64 reference's own rounding (γ_d in float64)."""
    d = a.shape[1]
    a64, b64 = a.astype(np.float64), b.astype(np.float64)
    g = gamma(d + 3, dtype) + gamma(d + 3, np.float64)
    if metric == "dot":
        return g * (np.abs(a64) @ np.abs(b64).T) * 1.0001 + 1e-300
    if metric in ("cosine", "cosine_similarity"):
        return np.full((len(a), len(b)), 4 * g + 1e-300)
    ref = cdist_reference(a, b, metric)
    # The GEMM route keeps |a|² + |b|² - 2a·b only where d² > (|a|² + |b|²) / 2, which
    # bounds its error by 4 γ_{d+2} d² (products.rs); sqrt halves it for euclidean.
    return (4 if metric == "sqeuclidean" else 2) * g * ref + 1e-300


@pytest.mark.parametrize("metric", METRICS)
@pytest.mark.parametrize("m,n,d", [(1, 1, 1), (3, 5, 7), (4, 4, 16), (17, 9, 65), (33, 70, 129), (64, 65, 3)])
def test_cdist_every_tier(tier: str, dtype: type, metric: str, m: int, n: int, d: int, rng: np.random.Generator) -> None:
    a = rng.standard_normal((m, d)).astype(dtype)
    b = rng.standard_normal((n, d)).astype(dtype)
    if n > 2:
        b[1] = 0  # a zero row: cosine similarity 0, cosine distance NaN
    got = vector.cdist(a, b, metric)
    assert got.shape == (m, n) and got.dtype == dtype and got.flags.c_contiguous
    ref = cdist_reference(a, b, metric)
    np.testing.assert_array_equal(np.isnan(got), np.isnan(ref))
    err = np.abs(got.astype(np.float64) - ref)
    assert np.all(err[~np.isnan(ref)] <= cdist_tolerance(a, b, metric, dtype)[~np.isnan(ref)])


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    m=st.integers(0, 12),
    n=st.integers(0, 12),
    d=st.integers(0, 40),
    metric=st.sampled_from(METRICS),
    dtype=st.sampled_from([np.float32, np.float64]),
    data=st.data(),
)
def test_cdist_property_vs_scipy(m: int, n: int, d: int, metric: str, dtype: type, data: st.DataObject) -> None:
    from scipy.spatial.distance import cdist as scipy_cdist

    el = floats32 if dtype == np.float32 else floats64
    a = data.draw(hnp.arrays(dtype, (m, d), elements=el))
    b = data.draw(hnp.arrays(dtype, (n, d), elements=el))
    got = vector.cdist(a, b, metric)
    assert got.shape == (m, n)
    ref = cdist_reference(a, b, metric)
    np.testing.assert_array_equal(np.isnan(got), np.isnan(ref))
    ok = ~np.isnan(ref)
    assert np.all(np.abs(got - ref)[ok] <= cdist_tolerance(a, b, metric, dtype)[ok])
    if metric in ("sqeuclidean", "euclidean", "cosine") and m and n:
        with np.errstate(invalid="ignore"):
            want = scipy_cdist(a.astype(np.float64), b.astype(np.float64), metric)
        np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-3)  # NaN positions must agree too


def test_cdist_out_is_filled_and_returned(dtype: type, rng: np.random.Generator) -> None:
    a = rng.standard_normal((20, 10)).astype(dtype)
    b = rng.standard_normal((30, 10)).astype(dtype)
    out = np.full((20, 30), np.nan, dtype)
    res = vector.cdist(a, b, "euclidean", out=out)
    assert res is out
    np.testing.assert_allclose(out, cdist_reference(a, b, "euclidean"), rtol=1e-4)


def test_cdist_empty_shapes(dtype: type) -> None:
    assert vector.cdist(np.zeros((0, 5), dtype), np.zeros((3, 5), dtype)).shape == (0, 3)
    assert vector.cdist(np.zeros((2, 5), dtype), np.zeros((0, 5), dtype)).shape == (2, 0)
    z = vector.cdist(np.zeros((2, 0), dtype), np.zeros((3, 0), dtype), "cosine_similarity")
    np.testing.assert_array_equal(z, np.zeros((2, 3)))
    z = vector.cdist(np.zeros((2, 0), dtype), np.zeros((3, 0), dtype), "cosine")
    assert np.isnan(z).all()  # zero-length rows are zero rows: SciPy's 0/0


def test_cdist_nan_propagates(dtype: type) -> None:
    a = np.ones((3, 20), dtype)
    a[1, 7] = np.nan
    for metric in METRICS:
        got = vector.cdist(a, np.ones((2, 20), dtype), metric)
        assert np.isnan(got[1]).all() and not np.isnan(got[[0, 2]]).any()


# -- topk -------------------------------------------------------------------------


def topk_reference(q: np.ndarray, c: np.ndarray, k: int, metric: str) -> tuple[np.ndarray, np.ndarray]:
    """(scores, indices) from NumPy: a stable sort of the float64 reference scores (NaN last)."""
    s = cdist_reference(q, c, metric)
    key = -s if metric in SIMILARITIES else s
    # Stable sort on key, ties by lower index; NumPy sorts NaN last.
    idx = np.argsort(key, axis=1, kind="stable")[:, :k]
    return np.take_along_axis(s, idx, 1), idx


@pytest.mark.parametrize("metric", METRICS)
@pytest.mark.parametrize("q,n,d,k", [(1, 1, 1, 1), (3, 10, 4, 10), (7, 300, 33, 5), (5, 5000, 16, 7), (9, 4100, 3, 50)])
def test_topk_every_tier_integer_data(tier: str, dtype: type, metric: str, q: int, n: int, d: int, k: int, rng: np.random.Generator) -> None:
    # Small integers: dot/sqeuclidean scores are exact, so ranks (with ties) must match.
    queries = rng.integers(-3, 4, (q, d)).astype(dtype)
    corpus = rng.integers(-3, 4, (n, d)).astype(dtype)
    scores, idx = vector.topk(queries, corpus, k, metric)
    assert idx.shape == scores.shape == (q, k)
    assert idx.dtype == np.int64 and scores.dtype == dtype
    ref_scores, ref_idx = topk_reference(queries, corpus, k, metric)
    if metric in ("dot", "sqeuclidean", "euclidean"):
        np.testing.assert_array_equal(idx, ref_idx)  # integer data: exact scores, exact ranks
    np.testing.assert_allclose(scores, ref_scores, rtol=gamma(d + 4, dtype) * 8, atol=1e-6)
    # The documented promise: scores are exactly what cdist reports for the chosen rows.
    full = vector.cdist(queries, corpus, metric)
    np.testing.assert_array_equal(np.take_along_axis(full, idx, 1), scores)


@settings(max_examples=60, deadline=None)
@given(
    q=st.integers(1, 6),
    n=st.integers(1, 60),
    d=st.integers(0, 20),
    metric=st.sampled_from(METRICS),
    data=st.data(),
)
def test_topk_property_vs_numpy_argsort(q: int, n: int, d: int, metric: str, data: st.DataObject) -> None:
    k = data.draw(st.integers(1, n))
    queries = data.draw(hnp.arrays(np.float64, (q, d), elements=st.integers(-4, 4).map(float)))
    corpus = data.draw(hnp.arrays(np.float64, (n, d), elements=st.integers(-4, 4).map(float)))
    scores, idx = vector.topk(queries, corpus, k, metric)
    ref_scores, ref_idx = topk_reference(queries, corpus, k, metric)
    if metric in ("dot", "sqeuclidean", "euclidean"):
        # Small integers: every score is exact, so the ranking (ties by index) is NumPy's.
        np.testing.assert_array_equal(idx, ref_idx)
    else:
        # Cosines round differently from NumPy's formula: near-ties may swap, but the
        # chosen rows' reference scores must be the k best ones.
        ref = cdist_reference(queries, corpus, metric)
        np.testing.assert_allclose(np.take_along_axis(ref, idx, 1), ref_scores, atol=1e-12)
    np.testing.assert_allclose(scores, ref_scores, rtol=1e-12, atol=1e-12)


def test_topk_nan_ranks_last(dtype: type) -> None:
    corpus = np.array([[1.0], [np.nan], [3.0], [2.0]], dtype)
    scores, idx = vector.topk(np.ones((1, 1), dtype), corpus, 4, "dot")
    np.testing.assert_array_equal(idx, [[2, 3, 0, 1]])
    assert np.isnan(scores[0, 3])
    _, idx = vector.topk(np.ones((1, 1), dtype), corpus, 4)  # default: euclidean, smallest first
    np.testing.assert_array_equal(idx, [[0, 3, 2, 1]])


def test_topk_order_matches_sklearn_kneighbors(rng: np.random.Generator) -> None:
    """Values first, smallest distance first, as NearestNeighbors.kneighbors."""
    from sklearn.neighbors import NearestNeighbors

    corpus = rng.standard_normal((200, 6))
    queries = rng.standard_normal((7, 6))
    dist, ind = NearestNeighbors(n_neighbors=5, algorithm="brute").fit(corpus).kneighbors(queries)
    scores, idx = vector.topk(queries, corpus, 5)
    np.testing.assert_array_equal(idx, ind)
    np.testing.assert_allclose(scores, dist, rtol=1e-12)


def test_names_and_defaults_match_scipy_and_sklearn(rng: np.random.Generator) -> None:
    import inspect

    from scipy.spatial import distance
    from sklearn.metrics.pairwise import cosine_distances, cosine_similarity

    # cdist: SciPy's argument names, default metric and meanings.
    ours = inspect.signature(vector.cdist).parameters
    theirs = inspect.signature(distance.cdist).parameters
    assert list(ours)[:3] == list(theirs)[:3] == ["XA", "XB", "metric"] or list(ours)[:3] == ["a", "b", "metric"]
    assert ours["metric"].default == theirs["metric"].default == "euclidean"
    a, b = rng.standard_normal((5, 8)), rng.standard_normal((4, 8))
    a[2] = 0
    with np.errstate(invalid="ignore"):
        for metric in ("euclidean", "sqeuclidean", "cosine"):
            np.testing.assert_allclose(vector.cdist(a, b, metric), distance.cdist(a, b, metric), rtol=1e-12, atol=1e-15)
        np.testing.assert_allclose(vector.cdist(a, b), distance.cdist(a, b), rtol=1e-12)
    np.testing.assert_allclose(vector.cdist(a, b, "cosine_similarity"), cosine_similarity(a, b), rtol=1e-12, atol=1e-15)
    # One pair: scikit-learn's conventions (zero vector: similarity 0, distance 1).
    for x, y in ((a[0], b[0]), (a[2], b[1])):
        assert vector.cosine_similarity(x, y) == pytest.approx(cosine_similarity([x], [y])[0, 0], abs=1e-15)
        assert vector.cosine_distance(x, y) == pytest.approx(cosine_distances([x], [y])[0, 0], abs=1e-15)
        if np.any(x):
            assert vector.cosine_distance(x, y) == pytest.approx(distance.cosine(x, y), abs=1e-15)
    assert not hasattr(vector, "cosine")


@pytest.mark.parametrize("scale32,scale64", [(1e-25, 1e-200), (1e-30, 1e-300), (1e18, 1e200), (1e30, 1e300)])
def test_cosine_of_tiny_and_huge_vectors(tier: str, scale32: float, scale64: float, rng: np.random.Generator) -> None:
    """Squared norms that under/overflow: the cosine is that of the unscaled vectors."""
    a, b = rng.standard_normal((3, 37)), rng.standard_normal((4, 37))
    want = 1 - (a @ b.T) / np.outer(np.linalg.norm(a, axis=1), np.linalg.norm(b, axis=1))
    for dtype, scale, tol in ((np.float32, scale32, 1e-5), (np.float64, scale64, 1e-12)):
        x, y = (a * scale).astype(dtype), (b * scale).astype(dtype)
        np.testing.assert_allclose(vector.cdist(x, y, "cosine"), want, atol=tol)
        np.testing.assert_allclose(vector.cdist(x, y, "cosine_similarity"), 1 - want, atol=tol)
        np.testing.assert_allclose(vector.cdist(x, b.astype(dtype), "cosine"), want, atol=tol)
        assert float(vector.cosine_distance(x[0], y[0])) == pytest.approx(want[0, 0], abs=tol)
        scores, idx = vector.topk(x, y, 2, "cosine")
        np.testing.assert_allclose(scores, np.take_along_axis(want, idx, 1), atol=tol)
        np.testing.assert_array_equal(idx, np.argsort(want, axis=1, kind="stable")[:, :2])


def test_topk_zero_queries(dtype: type) -> None:
    scores, idx = vector.topk(np.zeros((0, 3), dtype), np.zeros((5, 3), dtype), 2)
    assert idx.shape == (0, 2) and scores.shape == (0, 2)


def test_misaligned_and_fortran_inputs_are_copied_correctly(dtype: type, rng: np.random.Generator) -> None:
    """Byte-misaligned buffers and F-ordered/transposed matrices take the documented copy path."""
    n = 37
    itemsize = np.dtype(dtype).itemsize
    src = rng.standard_normal(n).astype(dtype)
    raw = bytearray(n * itemsize + 1)
    raw[1:] = src.tobytes()
    misaligned = np.frombuffer(raw, dtype=dtype, offset=1)
    assert not misaligned.flags.aligned
    assert vector.dot(misaligned, src) == vector.dot(src, src)
    a = rng.standard_normal((20, 9)).astype(dtype)
    b = rng.standard_normal((9, 30)).astype(dtype).T  # (30, 9), F-ordered view
    assert not b.flags.c_contiguous
    np.testing.assert_array_equal(vector.cdist(a, b, "euclidean"), vector.cdist(a, np.ascontiguousarray(b), "euclidean"))
    np.testing.assert_array_equal(vector.topk(np.asfortranarray(a), b, 3)[1], vector.topk(a, np.ascontiguousarray(b), 3)[1])
    # Lists of lists work too (converted with numpy.asarray: float64).
    got = vector.cdist([[1.0, 0.0]], [[0.0, 1.0], [1.0, 1.0]], "dot")
    np.testing.assert_array_equal(got, [[0.0, 1.0]])


# -- cdist and topk by the GEMM route ---------------------------------------------------


@pytest.mark.parametrize("metric", ["euclidean", "sqeuclidean"])
def test_cdist_near_duplicates_are_recomputed_without_cancellation(tier: str, dtype: type, metric: str,
                                                                     rng: np.random.Generator) -> None:
    """b = a + 1e-4 noise: d² is 1e-8 of |a|² + |b|², so |a|² + |b|² - 2a·b would lose
    every digit (error ~ d u |a|², relative error ~ 1 in float32). Those pairs are
    recomputed as Σ (a - b)²: the direct bound γ_{d+3} d² holds for them."""
    m, d = 40, 300
    a = rng.standard_normal((m, d)).astype(dtype)
    b = (a.astype(np.float64) + 1e-4 * rng.standard_normal((m, d))).astype(dtype)
    got = vector.cdist(a, b, metric).astype(np.float64)
    ref = cdist_reference(a, b, metric)
    g = gamma(d + 3, dtype) + gamma(d + 3, np.float64)
    diag = np.arange(m)
    assert np.all(np.abs(got[diag, diag] - ref[diag, diag]) <= g * ref[diag, diag] + 1e-300)
    # The far pairs keep the expansion, within its own bound.
    assert np.all(np.abs(got - ref) <= (4 if metric == "sqeuclidean" else 2) * g * ref + 1e-300)


@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("metric", METRICS)
def test_topk_reports_exactly_cdist_on_real_data(tier: str, dtype: type, metric: str, threads: int,
                                                 rng: np.random.Generator) -> None:
    """Non-integer data, where rounding differs between summation orders: topk's scores
    are bitwise cdist's for the chosen rows and its ranking is the stable sort of cdist,
    across topk's query blocks (256), product blocks (512 rows) and task chunks (2048
    rows), with near duplicates (the recomputed pairs), zero rows, tiny rows (the scaled
    cosine path) and a NaN row. Euclidean ranks by the distance reported, so squares
    that round to one distance tie and rank the lower index first."""
    import mlkern

    # d = 600 crosses one KC slice (512); the last chunk has 20 rows (the narrow tile).
    q, n, d = 260, 4116, 600
    queries = rng.standard_normal((q, d)).astype(dtype)
    corpus = rng.standard_normal((n, d)).astype(dtype)
    corpus[5:5 + 200:7] = queries[2:31] + dtype(1e-3)  # near duplicates of some queries
    corpus[3] = 0
    tiny = dtype(1e-30 if dtype == np.float32 else 1e-160)  # norm² underflows: scaled cosine path
    corpus[2050] *= tiny
    corpus[4100, 7] = np.nan
    queries[0] *= tiny
    queries[1] = 0
    before = mlkern.get_num_threads()
    mlkern.set_num_threads(threads)
    try:
        full = vector.cdist(queries, corpus, metric)
        scores, idx = vector.topk(queries, corpus, 9, metric)
    finally:
        mlkern.set_num_threads(before)
    np.testing.assert_array_equal(np.take_along_axis(full, idx, 1), scores)
    key = -full if metric in SIMILARITIES else full
    np.testing.assert_array_equal(idx, np.argsort(key, axis=1, kind="stable")[:, :9])
