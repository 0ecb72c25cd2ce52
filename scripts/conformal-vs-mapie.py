"""mlkern.conformal against MAPIE itself, end to end (not run by CI: MAPIE is an
optional peer). Compares the LAC/top-k SplitConformalClassifier (sets and labels),
SplitConformalRegressor and ConformalizedQuantileRegressor (both corrections) on
n in {49, 149, 999, 5000} and levels where 1 - level in float64 and in decimal
differ. Prints the number of mismatches (0 expected). Usage:
    pip install ".[bench]" && python scripts/conformal-vs-mapie.py
"""
import numpy as np, warnings
warnings.simplefilter("ignore")
from mlkern import conformal as C
from mlkern._bench_conformal import IdentityProba, dirichlet
from mapie.classification import SplitConformalClassifier as MS
from mapie.regression import SplitConformalRegressor as MR, ConformalizedQuantileRegressor as MQ
from sklearn.linear_model import LinearRegression, QuantileRegressor
rng = np.random.default_rng(1)
bad = 0
for n in (49, 149, 999, 5000):
    for level in (0.57, 0.58, 0.59, 0.66, 0.67, 0.68, 0.82, 0.89, 0.9, 0.91, 0.93, 0.95):
        pc, yc = dirichlet(rng, n, 10); pt, _ = dirichlet(rng, 500, 10)
        for score in ("lac", "top_k"):
            m = MS(IdentityProba(10), confidence_level=level, conformity_score=score, prefit=True).conformalize(pc, yc)
            o = C.SplitConformalClassifier(IdentityProba(10), confidence_level=level, conformity_score=score).conformalize(pc, yc)
            ml, ms = m.predict_set(pt); ol, os_ = o.predict_set(pt)
            bad += (not np.array_equal(ms, os_)) + (not np.array_equal(ml, ol))
        X = rng.normal(size=(n, 2)); y = X[:, 0] + rng.normal(size=n); Xt = rng.normal(size=(300, 2))
        est = LinearRegression().fit(X, y)
        mr = MR(est, confidence_level=level, prefit=True).conformalize(X, y)
        orr = C.SplitConformalRegressor(est, confidence_level=level).conformalize(X, y)
        bad += not np.array_equal(mr.predict_interval(Xt)[1], orr.predict_interval(Xt)[1])
        a = 1 - level
        models = [QuantileRegressor(quantile=q, alpha=0.0, solver="highs").fit(X, y) for q in (0.1, 0.9, 0.5)]
        mq = MQ(models, confidence_level=level, prefit=True).conformalize(X, y)
        oq = C.ConformalizedQuantileRegressor(models, confidence_level=level, prefit=True).conformalize(X, y)
        for sym in (False, True):
            try:
                a1 = mq.predict_interval(Xt, symmetric_correction=sym)
            except ValueError:
                continue
            a2 = oq.predict_interval(Xt, symmetric_correction=sym)
            if not (np.array_equal(a1[1], a2[1]) and np.array_equal(a1[0], a2[0])):
                bad += 1; print("cqr mismatch", n, level, sym, np.abs(a1[1]-a2[1]).max())
print("mismatches:", bad)
