"""The ``conformal`` section of ``python -m mlkern bench``: mlkern.conformal against
MAPIE 1.x (and bare NumPy for LAC), same run, same probabilities.

Workload (issue 13): calibration 10 000 rows, test 100 000, K = 10 classes,
Dirichlet(0.3) probabilities, labels drawn from them, level 0.9. Both wrappers wrap a
prefit "estimator" whose ``predict_proba`` returns its input, so the time measured is
the conformal layer's, not a model's. Before timing, mlkern's sets are checked equal
to MAPIE's rule (``get_prediction_sets``) at the same threshold.
"""

from __future__ import annotations

import subprocess
import sys
from functools import partial
from typing import Any

import numpy as np

from mlkern import conformal as C
from mlkern._bench import Config, Row, _row, env_without_blas_overrides


class IdentityProba:
    """A fitted "classifier" whose probabilities are its input rows."""

    _estimator_type = "classifier"

    def __init__(self, k: int) -> None:
        self.classes_ = np.arange(k)
        self.n_features_in_ = k

    def fit(self, X: Any, y: Any) -> IdentityProba:
        return self

    def predict_proba(self, X: Any) -> Any:
        return X

    def predict(self, X: Any) -> Any:
        return np.argmax(X, axis=1)

    def __sklearn_is_fitted__(self) -> bool:
        return True

    def get_params(self, deep: bool = True) -> dict[str, Any]:
        return {"k": len(self.classes_)}

    def set_params(self, **params: Any) -> IdentityProba:
        return self


def dirichlet(rng: np.random.Generator, n: int, k: int) -> tuple[np.ndarray, np.ndarray]:
    p = rng.dirichlet(np.full(k, 0.3), size=n)
    p /= p.sum(axis=1, keepdims=True)
    y = (p.cumsum(axis=1) > rng.random((n, 1))).argmax(axis=1)
    return p, np.minimum(y, k - 1)


def _mapie_rule_sets(method: str, probs: np.ndarray, q: float, scores: np.ndarray) -> np.ndarray:
    """MAPIE's own get_prediction_sets at threshold q (prefit, include_last_label=True)."""
    from mapie.conformity_scores import APSConformityScore, LACConformityScore, RAPSConformityScore

    cls = {"lac": LACConformityScore, "aps": APSConformityScore, "raps": RAPSConformityScore}[method]
    obj = cls()
    obj.quantiles_ = np.array([q])
    if method == "raps":
        obj.lambda_star, obj.k_star = 0.01, 1
    sets = obj.get_prediction_sets(probs[:, :, None], scores, np.array([0.1]), cv="prefit", include_last_label=True)
    return np.asarray(sets[:, :, 0], dtype=bool)


PEAK_SCRIPT = r"""
import sys, numpy as np, mlkern
from mlkern import conformal as C
n, k, which = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
rng = np.random.default_rng(0)
p = rng.dirichlet(np.full(k, 0.3), size=n); p /= p.sum(axis=1, keepdims=True)
def hwm():
    for line in open('/proc/self/status'):
        if line.startswith('VmHWM'):
            return int(line.split()[1]) * 1024
if which == "mlkern":
    C.predict_sets(p[:10], 0.9, "aps")
    before = hwm(); s = C.predict_sets(p, 0.9, "aps")
else:
    from mapie.conformity_scores import APSConformityScore
    o = APSConformityScore(); o.quantiles_ = np.array([0.9])
    o.get_prediction_sets(p[:10, :, None], np.zeros(10), np.array([0.1]), cv="prefit")
    before = hwm(); s = o.get_prediction_sets(p[:, :, None], np.zeros(10), np.array([0.1]), cv="prefit")
print(hwm() - before, s.nbytes)
"""


def peak_extra(which: str, n: int, k: int) -> tuple[int, int]:
    """(peak extra bytes, output bytes) of one APS predict-sets call in a fresh process."""
    r = subprocess.run([sys.executable, "-c", PEAK_SCRIPT, str(n), str(k), which], capture_output=True, text=True,
                       timeout=900, env=env_without_blas_overrides())
    if r.returncode != 0:
        raise RuntimeError(r.stderr)
    a, b = r.stdout.split()
    return int(a), int(b)


def _mapie_wrapper(k: int, method: str, level: float, Xc: np.ndarray, yc: np.ndarray) -> Any:
    from mapie.classification import SplitConformalClassifier

    m = SplitConformalClassifier(IdentityProba(k), confidence_level=level, conformity_score=method, prefit=True,
                                 random_state=0)
    return m.conformalize(Xc, yc)


def _rate(n: int, seconds: float) -> str:
    return f"{n / seconds / 1e6:.1f} M rows/s"


def bench_conformal(cfg: Config) -> list[Row]:
    rng = np.random.default_rng(13)
    n_cal, n_test, k, level = (1000, 5000, 10, 0.9) if cfg.smoke else (10_000, 100_000, 10, 0.9)
    pc, yc = dirichlet(rng, n_cal, k)
    pt, _ = dirichlet(rng, n_test, k)
    rows: list[Row] = []

    # LAC sets against the bare NumPy rule (no MAPIE needed).
    q = C.conformal_quantile(C.conformity_scores(pc, yc, "lac"), level)
    ours, bare = C.predict_sets(pt, q, "lac"), pt >= 1 - q
    if np.mean(ours == bare) < 0.999:  # they differ only by MAPIE's 1e-8 tolerance
        raise AssertionError("LAC sets disagree with probs >= 1 - qhat")
    row = _row(cfg, f"LAC predict_sets n={n_test} K={k}", np.float64, "numpy probs >= 1 - qhat",
               partial(C.predict_sets, pt, q, "lac"), lambda: pt >= 1 - q)
    row.throughput = _rate(n_test, row.mlkern_s)
    rows.append(row)

    try:
        import mapie  # noqa: F401
    except ImportError:
        row.notes = "MAPIE not installed: the MAPIE rows are skipped (pip install mapie)"
        return rows

    # The wrappers end to end against MAPIE's (quantile included) where MAPIE is
    # deterministic: LAC and top-k sets and labels, absolute-residual intervals, at
    # levels where 1 - level in float64 and in decimal round differently.
    from mapie.classification import SplitConformalClassifier as MapieClassifier

    for lv in (0.58, 0.67, 0.9):
        for score in ("lac", "top_k"):
            theirs = MapieClassifier(IdentityProba(k), confidence_level=lv, conformity_score=score, prefit=True)
            mine = C.SplitConformalClassifier(IdentityProba(k), confidence_level=lv, conformity_score=score)
            a, b = theirs.conformalize(pc[:49], yc[:49]).predict_set(pt), mine.conformalize(pc[:49], yc[:49]).predict_set(pt)
            if not (np.array_equal(a[0], b[0]) and np.array_equal(a[1], b[1])):
                raise AssertionError(f"{score} wrapper differs from MAPIE's at level {lv}")
    rows[0].notes = "LAC/top-k wrappers equal MAPIE's at levels 0.58, 0.67, 0.9 (n_cal=49)"

    # APS and RAPS predict_set of the wrappers, sets checked against MAPIE's rule.
    for method in ("aps", "raps"):
        ours_w = C.SplitConformalClassifier(IdentityProba(k), confidence_level=level, conformity_score=method,
                                            prefit=True).conformalize(pc, yc)
        theirs_w = _mapie_wrapper(k, method, level, pc, yc)
        qm = float(ours_w.quantiles_[0])
        want = _mapie_rule_sets(method, pt, qm, ours_w.conformity_scores_)
        got = ours_w.predict_set(pt)[1][:, :, 0]
        if not np.array_equal(got, want):
            raise AssertionError(f"{method} sets differ from MAPIE's rule at the same threshold")
        row = _row(cfg, f"{method.upper()} predict_set n={n_test} K={k}", np.float64, "mapie SplitConformalClassifier",
                   partial(ours_w.predict_set, pt), partial(theirs_w.predict_set, pt))
        row.throughput = _rate(n_test, row.mlkern_s)
        row.notes = "sets equal MAPIE's rule at mlkern's threshold"
        rows.append(row)

    # K = 1000 APS: calibration 10 000, test 10 000.
    kb, nb = (100, 1000) if cfg.smoke else (1000, 10_000)
    pcb, ycb = dirichlet(rng, nb, kb)
    ptb, _ = dirichlet(rng, nb, kb)
    ours_b = C.SplitConformalClassifier(IdentityProba(kb), conformity_score="aps").conformalize(pcb, ycb)
    theirs_b = _mapie_wrapper(kb, "aps", level, pcb, ycb)
    want = _mapie_rule_sets("aps", ptb, float(ours_b.quantiles_[0]), ours_b.conformity_scores_)
    if not np.array_equal(ours_b.predict_set(ptb)[1][:, :, 0], want):
        raise AssertionError("APS K=1000 sets differ from MAPIE's rule")
    row = _row(cfg, f"APS predict_set n={nb} K={kb}", np.float64, "mapie SplitConformalClassifier",
               partial(ours_b.predict_set, ptb), partial(theirs_b.predict_set, ptb))
    row.throughput = _rate(nb, row.mlkern_s)
    if sys.platform.startswith("linux") and not cfg.smoke:
        ob, out_b = peak_extra("mlkern", nb, kb)
        mb, _ = peak_extra("mapie", nb, kb)
        row.extra = {"peak_extra_bytes_mlkern": ob, "peak_extra_bytes_peer": mb, "output_bytes": out_b}
        row.notes = (f"peak extra memory: mlkern {ob / 2**20:.1f} MiB ({ob / out_b:.2f}x the output), "
                     f"MAPIE {mb / 2**20:.1f} MiB")
    rows.append(row)
    row = _row(cfg, f"APS conformalize n={nb} K={kb}", np.float64, "mapie SplitConformalClassifier",
               lambda: C.SplitConformalClassifier(IdentityProba(kb), conformity_score="aps").conformalize(pcb, ycb),
               lambda: _mapie_wrapper(kb, "aps", level, pcb, ycb))
    rows.append(row)

    # One-row predict_set of a prefit wrapper: overhead beyond predict_proba.
    one = pt[:1].copy()
    for method in ("lac", "aps"):
        ours_w = C.SplitConformalClassifier(IdentityProba(k), conformity_score=method).conformalize(pc, yc)
        theirs_w = _mapie_wrapper(k, method, level, pc, yc)
        row = _row(cfg, f"{method.upper()} predict_set one row K={k}", np.float64, "mapie SplitConformalClassifier",
                   partial(ours_w.predict_set, one), partial(theirs_w.predict_set, one))
        row.notes = "overhead per call (the estimator's predict_proba returns its input)"
        rows.append(row)
    return rows
