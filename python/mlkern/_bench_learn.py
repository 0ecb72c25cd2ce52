"""The ``learn`` section of ``python -m mlkern bench``: mlkern.learn against
scikit-learn, same run, same data, both at the bench's thread count (threadpoolctl
for scikit-learn's BLAS, ``mlkern.set_num_threads`` for ours).

Data (issue 12): ``make_classification(1_200_000, 32, random_state=0)`` as float32,
the first 1 000 000 rows train, the last 200 000 test (the MLPs train on the first
200 000). Every fit row reports the test accuracy of both sides; fits are timed in
interleaved pairs (at most 5).
"""

from __future__ import annotations

import dataclasses
from functools import partial
from typing import Any

import numpy as np

import mlkern
from mlkern import learn
from mlkern._bench import Config, Row, _row


def _data(cfg: Config) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    from sklearn.datasets import make_classification

    n_train, n_test = (20_000, 5_000) if cfg.smoke else (1_000_000, 200_000)
    X, y = make_classification(n_train + n_test, 32, random_state=0)
    X = X.astype(np.float32)
    return X[:n_train], y[:n_train], X[n_train:], y[n_train:]


def _fit_row(cfg: Config, workload: str, peer: str, ours: Any, theirs: Any, Xtr: np.ndarray, ytr: np.ndarray,
             Xte: np.ndarray, yte: np.ndarray) -> Row:
    """Times ``fit`` of both and notes their test scores (accuracy or R²)."""
    a, b = ours.fit(Xtr, ytr), theirs.fit(Xtr, ytr)
    sa, sb = a.score(Xte, yte), b.score(Xte, yte)
    fits = dataclasses.replace(cfg, pairs=min(cfg.pairs, 5), min_repeat_s=0.0)
    row = _row(fits, workload, np.float32, peer, partial(ours.fit, Xtr, ytr), partial(theirs.fit, Xtr, ytr),
               threaded_peer=True)
    row.throughput = f"{Xtr.shape[0] / row.mlkern_s / 1e6:.1f} M rows/s"
    row.notes = f"test score mlkern {sa:.4f}, scikit-learn {sb:.4f}"
    row.extra = {"score_mlkern": float(sa), "score_peer": float(sb)}
    it_a, it_b = getattr(ours, "n_iter_", None), getattr(theirs, "n_iter_", None)
    if it_a is not None and it_b is not None:
        row.notes += f"; iterations {int(np.max(it_a))} vs {int(np.max(it_b))}"
    return row


def bench_learn(cfg: Config) -> list[Row]:
    from sklearn import linear_model as sk

    Xtr, ytr, Xte, yte = _data(cfg)
    rows: list[Row] = []

    lr_ours, lr_theirs = learn.LogisticRegression(), sk.LogisticRegression()
    rows.append(_fit_row(cfg, f"LogisticRegression fit {Xtr.shape[0]}x32", "sklearn LogisticRegression",
                         lr_ours, lr_theirs, Xtr, ytr, Xte, yte))

    # Prediction of the fitted models: one row from Python, then the whole batch.
    one = Xte[:1].copy()
    for method in ("predict", "predict_proba"):
        if not np.allclose(np.asarray(getattr(lr_ours, method)(Xte[:1000]), np.float64),
                           np.asarray(getattr(lr_theirs, method)(Xte[:1000]), np.float64), atol=1e-3):
            raise AssertionError(f"LogisticRegression.{method} disagrees with scikit-learn's")
    rows += _predict_rows(cfg, "LogisticRegression", lr_ours, lr_theirs, one, Xtr)

    # SGD, 5 epochs of log loss: scikit-learn's per-sample steps (our default
    # batch_size=1), then our mini-batches of 4096 at the same settings.
    sgd: dict[str, Any] = {"loss": "log_loss", "max_iter": 5, "tol": None, "random_state": 0}
    rows.append(_fit_row(cfg, f"SGDClassifier log_loss 5 epochs {Xtr.shape[0]}x32", "sklearn SGDClassifier",
                         learn.SGDClassifier(**sgd), sk.SGDClassifier(**sgd), Xtr, ytr, Xte, yte))
    row = _fit_row(cfg, f"SGDClassifier batch_size=4096 5 epochs {Xtr.shape[0]}x32", "sklearn SGDClassifier",
                   learn.SGDClassifier(batch_size=4096, **sgd), sk.SGDClassifier(**sgd), Xtr, ytr, Xte, yte)
    rows.append(row)

    # Ridge on a regression target built from the same features.
    rng = np.random.default_rng(1)
    w = rng.standard_normal(32).astype(np.float32)
    ytr_r = Xtr @ w + rng.standard_normal(size=Xtr.shape[0], dtype=np.float32)
    yte_r = Xte @ w + rng.standard_normal(size=Xte.shape[0], dtype=np.float32)
    rows.append(_fit_row(cfg, f"Ridge fit {Xtr.shape[0]}x32", "sklearn Ridge", learn.Ridge(), sk.Ridge(),
                         Xtr, ytr_r, Xte, yte_r))
    rows += _mlp_rows(cfg, Xtr, ytr, Xte, yte)
    return rows


def _mlp_rows(cfg: Config, Xtr: np.ndarray, ytr: np.ndarray, Xte: np.ndarray, yte: np.ndarray) -> list[Row]:
    """The MLP workloads of issue 12 on the first 200 000 training rows."""
    import warnings

    from sklearn import neural_network as sknn

    n = min(200_000, Xtr.shape[0])
    X2, y2 = Xtr[:n], ytr[:n]
    rows: list[Row] = []
    small: dict[str, Any] = {"hidden_layer_sizes": (64,), "solver": "adam", "batch_size": 256, "max_iter": 5,
                             "random_state": 0}
    ours, theirs = learn.MLPClassifier(**small), sknn.MLPClassifier(**small)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # max_iter=5 does not converge, on either side
        rows.append(_fit_row(cfg, f"MLPClassifier (64,) adam 5 epochs {n}x32", "sklearn MLPClassifier", ours, theirs,
                             X2, y2, Xte, yte))
        big: dict[str, Any] = {"hidden_layer_sizes": (256, 256), "batch_size": 512, "max_iter": 1 if cfg.smoke else 2,
                               "random_state": 0}
        wide = learn.MLPClassifier(**big)

        def one_thread() -> None:
            was = mlkern.get_num_threads()
            mlkern.set_num_threads(1)
            try:
                wide.fit(X2, y2)
            finally:
                mlkern.set_num_threads(was)

        fits = dataclasses.replace(cfg, pairs=min(cfg.pairs, 3), min_repeat_s=0.0)
        row = _row(fits, f"MLPClassifier (256, 256) {big['max_iter']} epochs {n}x32", np.float32, "mlkern on 1 thread",
                   partial(wide.fit, X2, y2), one_thread)
        row.notes = f"the same fit on {cfg.threads} threads against 1 (bitwise equal results)"
        rows.append(row)
    one = Xte[:1].copy()
    # The two fits follow the same trajectory up to float32 rounding: probabilities
    # agree closely, labels on all but a few borderline rows.
    if not (np.allclose(ours.predict_proba(Xte[:1000]), theirs.predict_proba(Xte[:1000]), atol=0.02)
            and np.mean(ours.predict(Xte[:1000]) == theirs.predict(Xte[:1000])) > 0.99):
        raise AssertionError("MLPClassifier disagrees with scikit-learn's")
    rows += _predict_rows(cfg, "MLPClassifier (64,)", ours, theirs, one, Xtr)
    return rows


def _predict_rows(cfg: Config, name: str, ours: Any, theirs: Any, one: np.ndarray, batch: np.ndarray) -> list[Row]:
    """One-row ``predict`` and ``predict_proba`` from Python, then the batch's
    ``predict_proba``, of two fitted models."""
    rows = []
    for method in ("predict", "predict_proba"):
        row = _row(cfg, f"{name} {method} one row", np.float32, f"sklearn {method}",
                   partial(getattr(ours, method), one), partial(getattr(theirs, method), one))
        row.notes = "per call, from Python"
        rows.append(row)
    row = _row(cfg, f"{name} predict_proba {batch.shape[0]} rows", np.float32, "sklearn predict_proba",
               partial(ours.predict_proba, batch), partial(theirs.predict_proba, batch), threaded_peer=True)
    row.throughput = f"{batch.shape[0] / row.mlkern_s / 1e6:.0f} M rows/s"
    rows.append(row)
    return rows
