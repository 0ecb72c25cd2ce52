"""mlkern.conformal beside MAPIE 1.x and bare NumPy (issue 13's workloads).

Calibration 10 000 rows, test 100 000, K = 10, Dirichlet(0.3) probabilities, level
0.9; K = 1000 with 10 000 rows each. MAPIE is optional: its parameter values raise
``NotImplementedError`` (asv skips them) when it is not installed. ``track_`` figures
report the coverage and set size the sets reach, so a faster but wrong kernel shows.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from .common import limit_threads, rng


def _data(seed: int, n: int, k: int) -> tuple[np.ndarray, np.ndarray]:
    p = rng(seed).dirichlet(np.full(k, 0.3), size=n)
    p /= p.sum(axis=1, keepdims=True)
    y = (p.cumsum(axis=1) > rng(seed + 1).random((n, 1))).argmax(axis=1)
    return p, np.minimum(y, k - 1)


def _wrapper(impl: str, k: int, score: str, pc: np.ndarray, yc: np.ndarray) -> Any:
    from mlkern._bench_conformal import IdentityProba

    if impl == "mapie":
        try:
            from mapie.classification import SplitConformalClassifier
        except ImportError as e:
            raise NotImplementedError("MAPIE is not installed") from e
        return SplitConformalClassifier(IdentityProba(k), conformity_score=score, prefit=True).conformalize(pc, yc)
    from mlkern.conformal import SplitConformalClassifier as Ours

    return Ours(IdentityProba(k), conformity_score=score).conformalize(pc, yc)


class PredictSet:
    """``predict_set`` of a prefit wrapper whose estimator returns its input."""

    params = (["mlkern", "mapie"], ["lac", "aps", "raps"], [10, 1000])
    param_names = ["impl", "score", "k"]
    timeout = 300

    def setup(self, impl: str, score: str, k: int) -> None:
        self._limits = limit_threads()
        n_cal, n_test = (10_000, 100_000) if k == 10 else (10_000, 10_000)
        pc, yc = _data(1, n_cal, k)
        self.pt, self.yt = _data(3, n_test, k)
        self.model = _wrapper(impl, k, score, pc, yc)

    def time_predict_set(self, impl: str, score: str, k: int) -> None:
        self.model.predict_set(self.pt)

    def peakmem_predict_set(self, impl: str, score: str, k: int) -> None:
        self.model.predict_set(self.pt)

    def track_coverage(self, impl: str, score: str, k: int) -> float:
        sets = self.model.predict_set(self.pt)[1][:, :, 0]
        return float(sets[np.arange(len(self.yt)), self.yt].mean())

    def track_mean_set_size(self, impl: str, score: str, k: int) -> float:
        return float(self.model.predict_set(self.pt)[1].sum(axis=1).mean())


class LacSets:
    """LAC sets of 100 000 x 10 probabilities: the kernel against ``probs >= 1 - q``."""

    params = (["mlkern", "numpy"],)
    param_names = ["impl"]

    def setup(self, impl: str) -> None:
        from mlkern import conformal as C

        self._limits = limit_threads()
        p, _ = _data(5, 100_000, 10)
        q = 0.93
        self.fn: Callable[[], Any] = (lambda: C.predict_sets(p, q, "lac")) if impl == "mlkern" else (lambda: p >= 1 - q)

    def time_lac_sets(self, impl: str) -> None:
        self.fn()


class OneRow:
    """One-row ``predict_set`` of a prefit APS wrapper: the per-call overhead."""

    params = (["mlkern", "mapie"],)
    param_names = ["impl"]

    def setup(self, impl: str) -> None:
        pc, yc = _data(7, 10_000, 10)
        self.row = _data(9, 1, 10)[0]
        self.model = _wrapper(impl, 10, "aps", pc, yc)

    def time_one_row(self, impl: str) -> None:
        self.model.predict_set(self.row)


class Conformalize:
    """Calibration of 10 000 rows at K = 1000 (APS scores and the quantile)."""

    params = (["mlkern", "mapie"],)
    param_names = ["impl"]
    timeout = 300

    def setup(self, impl: str) -> None:
        self._limits = limit_threads()
        self.pc, self.yc = _data(11, 10_000, 1000)
        _wrapper(impl, 1000, "aps", self.pc[:100], self.yc[:100])  # raises NotImplementedError without MAPIE
        self.impl = impl

    def time_conformalize(self, impl: str) -> None:
        _wrapper(impl, 1000, "aps", self.pc, self.yc)
