"""mlkern.learn beside scikit-learn (issue 12's workloads).

``make_classification(1_200_000, 32, random_state=0)`` as float32, the first
1 000 000 rows train and the last 200 000 test: ``LogisticRegression()`` fit,
``SGDClassifier(loss="log_loss", max_iter=5, tol=None)`` fit, one-row ``predict``
and batch ``predict_proba`` of the fitted logistic model; the MLPs on the first
200 000 rows: ``MLPClassifier((64,), adam, batch_size=256, max_iter=5)`` fit,
one-row and batch prediction, and ``MLPClassifier((256, 256), batch_size=512,
max_iter=2)`` fit on one thread and on two. ``track_`` reports the test accuracy
of each side, so a faster but worse model shows.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .common import limit_threads

_DATA: dict[str, Any] = {}


def _data() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    if not _DATA:
        from sklearn.datasets import make_classification

        X, y = make_classification(1_200_000, 32, random_state=0)
        X = X.astype(np.float32)
        _DATA["split"] = (X[:1_000_000], y[:1_000_000], X[1_000_000:], y[1_000_000:])
    return _DATA["split"]  # type: ignore[no-any-return]


_MLP = {"hidden_layer_sizes": (64,), "solver": "adam", "batch_size": 256, "max_iter": 5, "random_state": 0}


def _estimator(impl: str, name: str) -> Any:
    if impl == "mlkern":
        from mlkern import learn

        mod: Any = learn
        nn: Any = learn
    else:
        from sklearn import linear_model, neural_network

        mod, nn = linear_model, neural_network
    if name == "logistic":
        return mod.LogisticRegression()
    if name == "mlp":
        return nn.MLPClassifier(**_MLP)
    return mod.SGDClassifier(loss="log_loss", max_iter=5, tol=None, random_state=0)


class Fit:
    params = (["mlkern", "sklearn"], ["logistic", "sgd"])
    param_names = ["impl", "model"]
    timeout = 600
    number = 1
    repeat = 3

    def setup(self, impl: str, model: str) -> None:
        self._limits = limit_threads()
        self.Xtr, self.ytr, self.Xte, self.yte = _data()

    def time_fit(self, impl: str, model: str) -> None:
        _estimator(impl, model).fit(self.Xtr, self.ytr)

    def track_test_accuracy(self, impl: str, model: str) -> float:
        return float(_estimator(impl, model).fit(self.Xtr, self.ytr).score(self.Xte, self.yte))


class Predict:
    """One-row and batch prediction of the fitted logistic model (trained on 1M
    rows) and (64,) MLP (trained on 200 000)."""

    params = (["mlkern", "sklearn"], ["logistic", "mlp"])
    param_names = ["impl", "model"]
    timeout = 600

    def setup(self, impl: str, model: str) -> None:
        import warnings

        warnings.simplefilter("ignore")  # the MLP's 5 epochs do not converge
        self._limits = limit_threads()
        Xtr, ytr, self.Xte, _ = _data()
        n = 200_000 if model == "mlp" else Xtr.shape[0]
        self.model = _estimator(impl, model).fit(Xtr[:n], ytr[:n])
        self.one = self.Xte[:1].copy()
        self.batch = Xtr

    def time_predict_one_row(self, impl: str, model: str) -> None:
        self.model.predict(self.one)

    def time_predict_proba_one_row(self, impl: str, model: str) -> None:
        self.model.predict_proba(self.one)

    def time_predict_proba_1m_rows(self, impl: str, model: str) -> None:
        self.model.predict_proba(self.batch)

class FitMLP:
    params = (["mlkern", "sklearn"],)
    param_names = ["impl"]
    timeout = 600
    number = 1
    repeat = 3

    def setup(self, impl: str) -> None:
        import warnings

        warnings.simplefilter("ignore")  # 5 epochs do not converge
        self._limits = limit_threads()
        Xtr, ytr, self.Xte, self.yte = _data()
        self.X, self.y = Xtr[:200_000], ytr[:200_000]

    def time_fit(self, impl: str) -> None:
        _estimator(impl, "mlp").fit(self.X, self.y)

    def track_test_accuracy(self, impl: str) -> float:
        return float(_estimator(impl, "mlp").fit(self.X, self.y).score(self.Xte, self.yte))


class WideMLPThreads:
    """The (256, 256) MLP's fit on one thread and on two (the training runs in
    parallel; results are bitwise equal)."""

    params = ([1, 2],)
    param_names = ["threads"]
    timeout = 600
    number = 1
    repeat = 3

    def setup(self, threads: int) -> None:
        import warnings

        import mlkern

        warnings.simplefilter("ignore")
        Xtr, ytr, _, _ = _data()
        self.X, self.y = Xtr[:200_000], ytr[:200_000]
        self._was = mlkern.get_num_threads()
        mlkern.set_num_threads(threads)

    def teardown(self, threads: int) -> None:
        import mlkern

        mlkern.set_num_threads(self._was)

    def time_fit(self, threads: int) -> None:
        from mlkern import learn

        learn.MLPClassifier(hidden_layer_sizes=(256, 256), batch_size=512, max_iter=2, random_state=0).fit(self.X, self.y)
