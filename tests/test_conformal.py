"""mlkern.conformal against MAPIE 1.x's rules transcribed into NumPy (argsort,
cumsum, masked argmin: the code paths of mapie/conformity_scores/sets/*.py, which
CI cannot import since MAPIE is an optional peer; ``python -m mlkern bench --only
conformal`` checks equality against MAPIE itself), on every SIMD tier; coverage
over many random splits; the wrappers; the bad inputs."""

from __future__ import annotations

import pickle
import warnings
from decimal import Decimal

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import mlkern
from mlkern import conformal as C

EPS = 1e-8


def mapie_alpha(level: float) -> float:
    """mapie.utils._transform_confidence_level_to_alpha."""
    return float(Decimal("1") - Decimal(str(level)))


def mapie_rank(n: int, level: float) -> int:
    """_compute_classification_quantile's rank: ceil((n + 1)(1 - alpha))."""
    return int(np.ceil((n + 1) * (1 - mapie_alpha(level))))


# ------------------------------------------------------------ NumPy transcriptions of MAPIE


def mapie_order(p: np.ndarray) -> np.ndarray:
    """MAPIE's np.fliplr(np.argsort(p)) with a stable argsort (ties higher index first)."""
    return np.fliplr(np.argsort(p, axis=1, kind="stable"))


def mapie_aps_sets(p: np.ndarray, t: float, lam: float = 0.0, k_reg: int = 0) -> np.ndarray:
    """NaiveConformityScore._get_last_included_proba + APS get_prediction_sets
    (prefit, include_last_label=True); RAPS adds lam * max(0, rank - k_reg)."""
    idx = mapie_order(p)
    ps = np.take_along_axis(p, idx, axis=1)
    cs = np.cumsum(ps, axis=1)
    cs = cs + lam * np.maximum(0, np.cumsum(np.ones(cs.shape), axis=1) - k_reg)
    c = np.take_along_axis(cs, np.argsort(idx, axis=1), axis=1)
    masked = np.ma.masked_less(c - t, -EPS)
    last = masked.argmin(axis=1)
    none = masked.mask.all(axis=1) if np.ndim(masked.mask) else np.zeros(len(p), bool)
    p_last = p[np.arange(len(p)), last]
    tiny = p_last <= EPS
    if tiny.any():
        p_last = p_last.copy()
        p_last[tiny] = np.min(np.ma.masked_less(p, EPS).filled(np.inf), axis=1)[tiny]
    sets = (p - p_last[:, None]) >= -EPS
    sets[none] = True  # mlkern's documented rule when no sum reaches t
    return sets


def mapie_topk_sets(p: np.ndarray, t: float) -> np.ndarray:
    idx = mapie_order(p)
    last = idx[:, int(t)]
    return (p - p[np.arange(len(p)), last][:, None]) >= -EPS


def mapie_lac_sets(p: np.ndarray, t: float) -> np.ndarray:
    return np.less_equal((1 - p) - t, EPS)


def mapie_scores(p: np.ndarray, y: np.ndarray, method: str, lam: float = 0.01, k_reg: int = 1) -> np.ndarray:
    n = len(p)
    if method == "lac":
        return 1 - p[np.arange(n), y]
    pos = np.argsort(mapie_order(p), axis=1)[np.arange(n), y]  # get_true_label_position
    if method == "topk":
        return pos.astype(float)
    idx = mapie_order(p)
    cs = np.cumsum(np.take_along_axis(p, idx, axis=1), axis=1)
    s = cs[np.arange(n), pos]
    if method == "raps":
        s = s + np.maximum(lam * (pos + 1 - k_reg), 0)
    return s


def dirichlet(rng: np.random.Generator, n: int, k: int, a: float = 0.3) -> tuple[np.ndarray, np.ndarray]:
    p = rng.dirichlet(np.full(k, a), size=n)
    p /= p.sum(axis=1, keepdims=True)
    y = (p.cumsum(axis=1) > rng.random((n, 1))).argmax(axis=1)
    return p, y


def awkward(rng: np.random.Generator, n: int, k: int) -> np.ndarray:
    """Rows with ties, exact zeros and tiny entries."""
    w = rng.random((n, k))
    w[0::4] = np.floor(w[0::4] * 4)
    w[1::4][w[1::4] < 0.5] = 0.0
    w[2::4] = w[2::4] ** 12
    w[w.sum(axis=1) == 0] = 1.0
    return w / w.sum(axis=1, keepdims=True)


KS = [1, 2, 3, 7, 10, 16, 17, 33, 100]


# ------------------------------------------------------------ exact rules, every tier


@pytest.mark.parametrize("k", KS)
def test_sets_equal_mapie_rules(tier: str, k: int, rng: np.random.Generator) -> None:
    p = np.concatenate([dirichlet(rng, 300, k)[0], awkward(rng, 300, k)])
    idx = mapie_order(p[:1])[0]
    ts = [0.0, 0.5, 0.9, 0.95, 0.999, 1.0, 1.5] + [float(np.cumsum(p[0][idx])[i]) for i in range(min(k, 4))]
    for t in ts:
        np.testing.assert_array_equal(C.predict_sets(p, t, "lac"), mapie_lac_sets(p, t), err_msg=f"lac t={t}")
        np.testing.assert_array_equal(C.predict_sets(p, t, "aps"), mapie_aps_sets(p, t), err_msg=f"aps t={t}")
        np.testing.assert_array_equal(
            C.predict_sets(p, t, "raps", lambda_=0.05, k_reg=2), mapie_aps_sets(p, t, 0.05, 2), err_msg=f"raps t={t}"
        )
    for t in range(k):
        np.testing.assert_array_equal(C.predict_sets(p, float(t), "top_k"), mapie_topk_sets(p, t), err_msg=f"topk {t}")
    assert C.predict_sets(p, float(k + 3), "topk").all()
    assert not C.predict_sets(p, -1.0, "topk").any()


@pytest.mark.parametrize("k", KS)
def test_scores_equal_mapie_definitions(tier: str, k: int, rng: np.random.Generator) -> None:
    p = np.concatenate([dirichlet(rng, 200, k)[0], awkward(rng, 200, k)])
    y = rng.integers(0, k, size=len(p))
    for m in ["lac", "aps", "raps", "topk"]:
        want = mapie_scores(p, y, m)
        got = C.conformity_scores(p, y, m)
        np.testing.assert_array_equal(got, want, err_msg=m)


def test_float32_input_reads_widened_values(rng: np.random.Generator) -> None:
    p32 = awkward(rng, 500, 12).astype(np.float32)
    p32 /= p32.sum(axis=1, keepdims=True)
    p64 = p32.astype(np.float64)
    for m in ["lac", "aps", "raps", "topk"]:
        t = 3.0 if m == "topk" else 0.8
        np.testing.assert_array_equal(C.predict_sets(p32, t, m), C.predict_sets(p64, t, m), err_msg=m)


@settings(max_examples=60)
@given(
    k=st.integers(1, 40),
    n=st.integers(0, 30),
    t=st.floats(-0.5, 1.6, allow_nan=False),
    seed=st.integers(0, 2**31),
    quantise=st.booleans(),
)
def test_property_sets_match_rules(k: int, n: int, t: float, seed: int, quantise: bool) -> None:
    r = np.random.default_rng(seed)
    w = r.random((n, k))
    if quantise:
        w = np.floor(w * 3)
        w[w.sum(axis=1) == 0] = 1
    p = w / w.sum(axis=1, keepdims=True)
    np.testing.assert_array_equal(C.predict_sets(p, t, "aps"), mapie_aps_sets(p, t))
    np.testing.assert_array_equal(C.predict_sets(p, t, "lac"), mapie_lac_sets(p, t))
    packed = C.predict_sets(p, t, "aps", packed=True)
    assert packed.dtype == np.uint8 and packed.shape == (n, (k + 7) // 8)
    np.testing.assert_array_equal(np.unpackbits(packed, axis=1, count=k).view(bool), mapie_aps_sets(p, t))


def test_quantile_is_order_statistic(rng: np.random.Generator) -> None:
    for n in [1, 2, 9, 10, 49, 99, 149, 1000, 10_001]:
        s = rng.random(n)
        for level in [0.05, 0.5, 0.57, 0.58, 0.59, 0.67, 0.68, 0.82, 0.9, 0.95]:
            k = mapie_rank(n, level)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                got = C.conformal_quantile(s, level)
            if k > n:
                assert got == np.inf
            else:
                assert got == np.sort(s)[k - 1]
                # MAPIE's formula: np.quantile(..., method="lower")
                assert got == np.quantile(s, k / n, method="lower")
    q = C.conformal_quantile(np.arange(100.0), [0.5, 0.9])
    np.testing.assert_array_equal(q, [50.0, 90.0])


def test_quantile_unreachable_warns() -> None:
    with pytest.warns(UserWarning, match="too few"):
        assert C.conformal_quantile([0.1, 0.2, 0.3], 0.9) == np.inf


def test_group_quantiles(rng: np.random.Generator) -> None:
    s = rng.random(3000)
    g = rng.integers(-2, 3, size=3000)
    ids, q = C.conformal_quantile(s, 0.9, groups=g)
    np.testing.assert_array_equal(ids, np.unique(g))
    for i, gid in enumerate(ids):
        assert q[i] == C.conformal_quantile(s[g == gid], 0.9)
    ids2, q2 = C.conformal_quantile(s, [0.8, 0.9], groups=g)
    assert q2.shape == (ids.size, 2) and np.array_equal(q2[:, 1], q)


def test_threshold_broadcasting(rng: np.random.Generator) -> None:
    p, _ = dirichlet(rng, 50, 6)
    per_class = rng.random(6)
    np.testing.assert_array_equal(C.predict_sets(p, per_class, "lac"), (1 - p) - per_class <= EPS)
    per_row = rng.random((50, 1))
    want = np.stack([mapie_aps_sets(p[i : i + 1], per_row[i, 0])[0] for i in range(50)])
    np.testing.assert_array_equal(C.predict_sets(p, per_row, "aps"), want)
    per_entry = rng.random((50, 6))
    np.testing.assert_array_equal(C.predict_sets(p, per_entry, "lac"), (1 - p) - per_entry <= EPS)
    with pytest.raises(ValueError, match="per-class"):
        C.predict_sets(p, per_class, "aps")
    with pytest.raises(ValueError, match="broadcast"):
        C.predict_sets(p, np.ones(5), "lac")


def test_randomized_is_seeded_and_thread_independent(rng: np.random.Generator) -> None:
    p, y = dirichlet(rng, 20_000, 10)
    before = mlkern.get_num_threads()
    try:
        mlkern.set_num_threads(1)
        a = C.predict_sets(p, 0.9, "aps", randomized=True, random_state=7)
        s1 = C.conformity_scores(p, y, "raps", randomized=True, random_state=7)
        mlkern.set_num_threads(2)
        b = C.predict_sets(p, 0.9, "aps", randomized=True, random_state=7)
        s2 = C.conformity_scores(p, y, "raps", randomized=True, random_state=7)
    finally:
        mlkern.set_num_threads(before)
    np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(s1, s2)
    c = C.predict_sets(p, 0.9, "aps", randomized=True, random_state=8)
    assert not np.array_equal(a, c)
    plain = C.predict_sets(p, 0.9, "aps")
    # Randomization only ever removes the last label.
    assert not (a & ~plain).any() and (plain.sum(1) - a.sum(1)).max() <= 1


# ------------------------------------------------------------ coverage


def _coverage_runs(method: str, randomized: bool, rng: np.random.Generator, runs: int = 200) -> np.ndarray:
    n_cal, n_test, k, level = 500, 2000, 8, 0.9
    covs = []
    for _ in range(runs):
        p, y = dirichlet(rng, n_cal + n_test, k, a=0.5)
        s = C.conformity_scores(p[:n_cal], y[:n_cal], method, randomized=randomized, random_state=rng.integers(2**32))
        q = C.conformal_quantile(s, level)
        sets = C.predict_sets(p[n_cal:], q, method, randomized=randomized, random_state=rng.integers(2**32))
        covs.append(C.coverage(sets, y[n_cal:]))
    return np.array(covs)


@pytest.mark.parametrize(("method", "randomized"), [("lac", False), ("aps", True), ("raps", True)])
def test_coverage_is_exact_for_continuous_scores(method: str, randomized: bool, rng: np.random.Generator) -> None:
    covs = _coverage_runs(method, randomized, rng)
    # E[coverage] lies in [level, level + 1/(n+1)]; the mean of 200 runs has standard
    # error ≈ sd(cov)/sqrt(200); allow 4 of them.
    se = covs.std(ddof=1) / np.sqrt(covs.size)
    assert 0.9 - 4 * se <= covs.mean() <= 0.9 + 1 / 501 + 4 * se, (covs.mean(), se)


@pytest.mark.parametrize("method", ["aps", "raps", "topk"])
def test_coverage_at_least_level_for_conservative_sets(method: str, rng: np.random.Generator) -> None:
    covs = _coverage_runs(method, False, rng, runs=100)
    se = covs.std(ddof=1) / np.sqrt(covs.size)
    assert covs.mean() >= 0.9 - 4 * se


def test_mondrian_coverage_per_class(rng: np.random.Generator) -> None:
    k, level = 4, 0.9
    per_class = []
    for _ in range(100):
        # A classifier that is much worse on class 3: marginal LAC under-covers it.
        p, y = dirichlet(rng, 4000, k, a=1.0)
        bad = y == 3
        p[bad] = np.roll(p[bad], 1, axis=1)
        s = C.conformity_scores(p[:2000], y[:2000], "lac")
        _, q = C.conformal_quantile(s, level, groups=y[:2000])
        sets = C.predict_sets(p[2000:], q, "lac")
        yt = y[2000:]
        per_class.append([C.coverage(sets[yt == c], yt[yt == c]) for c in range(k)])
    mean = np.array(per_class).mean(axis=0)
    assert (mean >= level - 0.01).all(), mean


# ------------------------------------------------------------ regression


def test_regression_scores_and_intervals(rng: np.random.Generator) -> None:
    y, yp = rng.normal(size=1000), rng.normal(size=1000)
    sig = rng.random(1000) + 0.1
    np.testing.assert_array_equal(C.residual_scores(y, yp), np.abs(y - yp))
    np.testing.assert_array_equal(C.residual_scores(y, yp, sigma=sig), np.abs((y - yp) / sig))
    iv = C.regression_intervals(yp, 0.7)
    assert iv.shape == (1000, 2)
    np.testing.assert_array_equal(iv[:, 0], yp + (-0.7))
    np.testing.assert_array_equal(iv[:, 1], yp + 0.7)
    iv3 = C.regression_intervals(yp, [0.5, 0.7], sigma=sig)
    assert iv3.shape == (1000, 2, 2)
    np.testing.assert_array_equal(iv3[:, 1, 1], yp + 0.7 * sig)
    lo, hi = yp - 1, yp + 1
    np.testing.assert_array_equal(C.cqr_scores(y, lo, hi), np.maximum(-(y - lo), y - hi))
    civ = C.cqr_intervals(lo, hi, 0.2, 0.3)
    np.testing.assert_array_equal(civ[:, 0], lo + (-0.2))
    np.testing.assert_array_equal(civ[:, 1], hi + 0.3)


def test_regression_wrapper_coverage_and_mapie_formula(rng: np.random.Generator) -> None:
    from sklearn.linear_model import LinearRegression

    X = rng.normal(size=(6000, 3))
    y = X @ [1.0, -2.0, 0.5] + rng.normal(size=6000)
    est = LinearRegression().fit(X[:2000], y[:2000])
    scr = C.SplitConformalRegressor(est, confidence_level=[0.8, 0.9], prefit=True).conformalize(X[2000:4000], y[2000:4000])
    pred, iv = scr.predict_interval(X[4000:])
    assert iv.shape == (2000, 2, 2)
    res = np.abs(y[2000:4000] - est.predict(X[2000:4000]))
    for i, level in enumerate([0.8, 0.9]):
        q = np.quantile(res, mapie_rank(2000, level) / 2000, method="lower")  # MAPIE's formula
        np.testing.assert_array_equal(iv[:, 1, i], pred + q)
        assert abs(C.coverage(iv[:, :, i], y[4000:]) - level) < 0.03
    np.testing.assert_array_equal(scr.predict(X[4000:]), pred)


def test_cqr_wrapper(rng: np.random.Generator) -> None:
    from sklearn.linear_model import QuantileRegressor

    X = rng.normal(size=(3000, 2))
    y = X[:, 0] + rng.normal(size=3000) * (1 + np.abs(X[:, 1]))
    models = [QuantileRegressor(quantile=q, alpha=0.0, solver="highs").fit(X[:1000], y[:1000]) for q in (0.05, 0.95, 0.5)]
    cqr = C.ConformalizedQuantileRegressor(models, confidence_level=0.9, prefit=True).conformalize(X[1000:2000], y[1000:2000])
    med, iv = cqr.predict_interval(X[2000:])
    _, ivs = cqr.predict_interval(X[2000:], symmetric_correction=True)
    lo, hi = models[0].predict(X[1000:2000]), models[1].predict(X[1000:2000])
    yc = y[1000:2000]
    n = 1000
    # MAPIE's asymmetric correction (_MapieQuantileRegressor.predict): both sides at
    # ceil((n + 1)(1 - alpha/2)), alpha in decimal.
    kq = int(np.ceil((1 - mapie_alpha(0.9) / 2) * (n + 1)))
    ql = np.sort(lo - yc)[kq - 1]
    qu = np.sort(yc - hi)[kq - 1]
    np.testing.assert_array_equal(iv[:, 0, 0], models[0].predict(X[2000:]) + (-ql))
    np.testing.assert_array_equal(iv[:, 1, 0], models[1].predict(X[2000:]) + qu)
    assert C.coverage(iv[:, :, 0], y[2000:]) > 0.86 and C.coverage(ivs[:, :, 0], y[2000:]) > 0.86
    np.testing.assert_array_equal(med, models[2].predict(X[2000:]))


# ------------------------------------------------------------ metrics, uncertainty, online


def test_metrics(rng: np.random.Generator) -> None:
    sets = rng.random((100, 5)) < 0.4
    y = rng.integers(0, 5, 100)
    assert C.coverage(sets, y) == sets[np.arange(100), y].mean()
    assert C.mean_set_size(sets) == sets.sum(1).mean()
    sizes, cov, counts = C.coverage_by_set_size(sets, y)
    assert counts.sum() == 100
    for s, c in zip(sizes, cov):
        m = sets.sum(1) == s
        assert c == pytest.approx(sets[m][np.arange(m.sum()), y[m]].mean())
    iv = np.stack([np.zeros(10), np.arange(10.0)], axis=1)
    assert C.mean_width(iv) == 4.5
    np.testing.assert_array_equal(C.coverage(sets[:, :, None].repeat(2, 2), y), [C.coverage(sets, y)] * 2)


def test_uncertainty_matches_scipy(tier: str, rng: np.random.Generator) -> None:
    from scipy.stats import entropy as sp_entropy

    p = np.concatenate([dirichlet(rng, 200, 7)[0], awkward(rng, 50, 7)])
    np.testing.assert_allclose(C.entropy(p), sp_entropy(p, axis=1), rtol=1e-13, atol=1e-15)
    np.testing.assert_allclose(C.entropy(p, base=2), sp_entropy(p, base=2, axis=1), rtol=1e-13, atol=1e-15)
    top2 = np.sort(p, axis=1)[:, ::-1]
    np.testing.assert_array_equal(C.margin(p), top2[:, 0] - top2[:, 1])
    ens = np.stack([dirichlet(rng, 250, 7)[0] for _ in range(5)])
    tot, ale, epi = C.ensemble_uncertainty(ens)
    np.testing.assert_allclose(tot, sp_entropy(ens.mean(0), axis=1), rtol=1e-12)
    np.testing.assert_allclose(ale, sp_entropy(ens, axis=2).mean(0), rtol=1e-12)
    np.testing.assert_allclose(epi, np.maximum(tot - ale, 0), rtol=1e-9, atol=1e-12)
    assert (epi >= 0).all()


def test_streaming_calibrator_and_aci(rng: np.random.Generator) -> None:
    cal = C.StreamingCalibrator()
    seen: list[float] = []
    for i in range(3000):
        v = float(np.round(rng.random() * 50))
        cal.add(v)
        seen.append(v)
        if i % 250 == 0 or i == 2999:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                assert cal.quantile(0.9) == C.conformal_quantile(np.array(seen), 0.9)
    cal.add(np.array([1.0, 2.0]))
    assert len(cal) == 3002
    cal2 = pickle.loads(pickle.dumps(cal))
    assert len(cal2) == 3002 and cal2.quantile(0.5) == cal.quantile(0.5)
    with pytest.raises(ValueError, match="NaN"):
        cal.add(float("nan"))
    with pytest.raises(ValueError, match="NaN"):
        cal.add(np.array([1.0, np.nan]))
    assert len(cal) == 3002
    with pytest.raises(ValueError):
        C.StreamingCalibrator().quantile(0.9)
    # ACI on a stream whose noise doubles halfway: long-run miscoverage ≈ alpha.
    aci, stream = C.AdaptiveConformal(0.9, gamma=0.01), C.StreamingCalibrator()
    for i in range(200):
        stream.add(abs(rng.normal()))
    miss = 0
    for t in range(20_000):
        scale = 1.0 if t < 10_000 else 3.0
        r = abs(rng.normal()) * scale
        covered = r <= aci.threshold(stream)
        miss += not covered
        aci.update(covered)
        stream.add(r)
    assert abs(miss / 20_000 - 0.1) < 0.01


# ------------------------------------------------------------ classification wrapper


def _fit_logreg(rng: np.random.Generator, labels: np.ndarray | None = None):  # type: ignore[no-untyped-def]
    from sklearn.datasets import make_classification
    from sklearn.linear_model import LogisticRegression

    X, y = make_classification(6000, 10, n_informative=6, n_classes=4, random_state=0)
    if labels is not None:
        y = labels[y]
    return LogisticRegression(max_iter=500).fit(X[:2000], y[:2000]), X, y


@pytest.mark.parametrize("score", ["lac", "aps", "raps", "top_k"])
def test_classifier_wrapper(score: str, rng: np.random.Generator) -> None:
    est, X, y = _fit_logreg(rng, np.array(["ant", "bee", "cat", "dog"]))
    scc = C.SplitConformalClassifier(est, confidence_level=[0.8, 0.95], conformity_score=score, prefit=True)
    scc.conformalize(X[2000:4000], y[2000:4000])
    labels, sets = scc.predict_set(X[4000:])
    assert labels.dtype.kind == "U" and sets.shape == (2000, 4, 2) and sets.dtype == bool
    yt = np.searchsorted(est.classes_, y[4000:])
    for i, level in enumerate([0.8, 0.95]):
        assert C.coverage(sets[:, :, i], yt) >= level - 0.03
    assert C.mean_set_size(sets[:, :, 0]) <= C.mean_set_size(sets[:, :, 1])
    np.testing.assert_array_equal(scc.predict(X[4000:]), labels)
    # The wrapper's sets are the array layer's on the estimator's probabilities.
    probs = est.predict_proba(X[4000:])
    method = "topk" if score == "top_k" else score
    np.testing.assert_array_equal(sets[:, :, 1], C.predict_sets(probs, scc.quantiles_[1], method))
    one_label, one_set = scc.predict_set(X[4000:4001])
    assert one_set.shape == (1, 4, 2)


def test_classifier_wrapper_groups_and_mondrian(rng: np.random.Generator) -> None:
    est, X, y = _fit_logreg(rng)
    g = (X[:, 0] > 0).astype(int)
    scc = C.SplitConformalClassifier(est, conformity_score="aps").conformalize(X[2000:4000], y[2000:4000], groups=g[2000:4000])
    _, sets = scc.predict_set(X[4000:], groups=g[4000:])
    for gv in (0, 1):
        m = g[4000:] == gv
        assert C.coverage(sets[m][:, :, 0], y[4000:][m]) >= 0.87
    with pytest.raises(ValueError, match="groups"):
        scc.predict_set(X[4000:])
    mon = C.SplitConformalClassifier(est, class_conditional=True).conformalize(X[2000:4000], y[2000:4000])
    _, ms = mon.predict_set(X[4000:])
    for c in range(4):
        m = y[4000:] == c
        assert C.coverage(ms[m][:, :, 0], y[4000:][m]) >= 0.86


def test_wrapper_misuse_errors(rng: np.random.Generator) -> None:
    est, X, y = _fit_logreg(rng)
    scc = C.SplitConformalClassifier(est)
    with pytest.raises(ValueError, match="before predict_set"):
        scc.predict_set(X[:5])
    with pytest.raises(ValueError, match="prefit"):
        scc.fit(X, y)
    with pytest.raises(ValueError, match="empty"):
        scc.conformalize(X[:0], y[:0])
    with pytest.raises(ValueError, match="does not know"):
        C.SplitConformalClassifier(est).conformalize(X[2000:2010], np.full(10, 9))
    with pytest.raises(ValueError, match="open interval"):
        C.SplitConformalClassifier(est, confidence_level=1.0)
    with pytest.raises(ValueError, match="unknown conformity score"):
        C.SplitConformalClassifier(est, conformity_score="naive")
    s2 = C.SplitConformalClassifier(est, prefit=False).fit(X[:2000], y[:2000]).conformalize(X[2000:4000], y[2000:4000])
    assert s2.predict_set(X[:3])[1].shape == (3, 4, 1)
    with pytest.warns(UserWarning, match="too few"):
        tiny = C.SplitConformalClassifier(est, confidence_level=0.99).conformalize(X[2000:2010], y[2000:2010])
    assert tiny.predict_set(X[:3])[1].all()
    with pytest.raises(TypeError):
        C.SplitConformalClassifier(est, 0.9, "aps", True, -1)  # type: ignore[misc]  # MAPIE's positional n_jobs
    with pytest.raises(ValueError, match="include_last_label"):
        s2.predict_set(X[:3], conformity_score_params={"include_last_label": False})


def test_rank_matches_mapie_at_awkward_levels(rng: np.random.Generator) -> None:
    # 1 - 0.58 in float64 is one ulp below 0.42: the float rank is the 29th, MAPIE's the 30th.
    s = rng.random(49)
    assert C.conformal_quantile(s, 0.58) == np.sort(s)[29]
    cal = C.StreamingCalibrator()
    cal.add(s)
    assert cal.quantile(0.58) == np.sort(s)[29]


def test_randomized_wrapper_draws_fresh_test_noise(rng: np.random.Generator) -> None:
    est, X, y = _fit_logreg(rng)
    scc = C.SplitConformalClassifier(est, conformity_score="aps", randomized=True, random_state=3)
    scc.conformalize(X[2000:4000], y[2000:4000])
    # Same rows at calibration and test: the randomized sets must not be the
    # calibration draws replayed (independent U per stream).
    p = est.predict_proba(X[2000:4000])
    cal_u_sets = C.predict_sets(p, scc.quantiles_[0], "aps", randomized=True, random_state=scc._seed)
    _, sets = scc.predict_set(X[2000:4000])
    assert not np.array_equal(sets[:, :, 0], cal_u_sets)
    _, again = scc.predict_set(X[2000:4000])
    np.testing.assert_array_equal(sets, again)  # reproducible
    _, det = scc.predict_set(X[2000:4000], conformity_score_params={"include_last_label": True})
    assert (det.sum(1) >= sets.sum(1)).all()


# ------------------------------------------------------------ bad input


@pytest.mark.parametrize(
    ("probs", "match"),
    [
        (np.array([[0.5, np.nan]]), "NaN or infinity"),
        (np.array([[1.5, -0.5]]), "negative"),
        (np.array([[0.5, 0.6]]), "sums to"),
        (np.array([[np.inf, 0.0]]), "NaN or infinity"),
    ],
)
def test_bad_probabilities(probs: np.ndarray, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        C.predict_sets(probs, 0.5, "aps")
    with pytest.raises(ValueError, match=match):
        C.conformity_scores(probs, [0], "lac")
    with pytest.raises(ValueError, match=match):
        C.entropy(probs)


def test_bad_arguments(rng: np.random.Generator) -> None:
    p, y = dirichlet(rng, 10, 3)
    with pytest.raises(ValueError, match="labels"):
        C.conformity_scores(p, np.full(10, 3), "aps")
    with pytest.raises(ValueError, match="labels"):
        C.conformity_scores(p, y[:5], "aps")
    with pytest.raises(TypeError, match="labels"):
        C.conformity_scores(p, y.astype(str), "aps")
    with pytest.raises(ValueError, match="unknown conformity score"):
        C.predict_sets(p, 0.5, "naive")
    with pytest.raises(ValueError, match="NaN"):
        C.predict_sets(p, np.nan, "lac")
    with pytest.raises(ValueError, match="2-D"):
        C.predict_sets(p[0], 0.5, "lac")
    with pytest.raises(TypeError, match="float32 or float64"):
        C.predict_sets(p.astype(object), 0.5, "lac")
    with pytest.raises(ValueError, match="at least one class"):
        C.predict_sets(np.zeros((3, 0)), 0.5, "lac")
    with pytest.raises(ValueError, match="empty"):
        C.conformal_quantile(np.array([]), 0.9)
    with pytest.raises(ValueError, match="open interval"):
        C.conformal_quantile(np.ones(10), 0.0)
    with pytest.raises(ValueError, match="open interval"):
        C.conformal_quantile(np.ones(10), [0.5, 1.2])
    with pytest.raises(ValueError, match="NaN"):
        C.conformal_quantile(np.array([1.0, np.nan]), 0.5)
    with pytest.raises(ValueError, match="randomized"):
        C.predict_sets(p, 0.5, "lac", randomized=True)
    with pytest.raises(ValueError, match="lambda_"):
        C.predict_sets(p, 0.5, "raps", lambda_=-1.0)
    with pytest.raises(ValueError, match="sigma"):
        C.residual_scores(y, y, sigma=np.zeros(10))
    with pytest.raises(ValueError, match="y_pred"):
        C.residual_scores(y, np.full(10, np.nan))
    with pytest.raises(ValueError, match="y"):
        C.residual_scores(y[:3], y)
    assert C.predict_sets(np.zeros((0, 4)), 0.5, "aps").shape == (0, 4)
    np.testing.assert_array_equal(C.predict_sets(p.astype(">f8"), 0.5, "aps"), C.predict_sets(p, 0.5, "aps"))
    with pytest.raises(TypeError, match="integer class indices"):
        C.conformity_scores(p, np.zeros(10, dtype=bool), "aps")
    with pytest.raises(ValueError, match="class index"):
        C.conformity_scores(p, np.full(10, 2**63, dtype=np.uint64), "aps")
    with pytest.raises(TypeError, match="dtype"):
        C.coverage(np.array([[1, 0]]), [0])
    cal = C.StreamingCalibrator()
    cal.add([1, 2, 3])
    assert len(cal) == 3
    with pytest.raises(TypeError, match="bool"):
        cal.add(True)
    with pytest.raises(TypeError, match="real number"):
        cal.add("x")
    # K differing between calibration and test in the wrapper:
    from sklearn.linear_model import LogisticRegression

    est = LogisticRegression().fit(rng.normal(size=(30, 2)), np.arange(30) % 3)
    scc = C.SplitConformalClassifier(est).conformalize(rng.normal(size=(30, 2)), np.arange(30) % 3)
    scc._n_classes = 4
    with pytest.raises(ValueError, match="classes"):
        scc.predict_set(rng.normal(size=(2, 2)))
