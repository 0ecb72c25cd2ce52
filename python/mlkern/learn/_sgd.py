"""Stochastic gradient descent: ``SGDClassifier`` and ``SGDRegressor`` with
scikit-learn's losses, penalties, learning-rate schedules, averaging, early
stopping and ``partial_fit``; the epochs run in Rust (``rust/learn/src/sgd.rs``),
one-vs-all classes in parallel."""

from __future__ import annotations

import numbers
import time
import warnings
from typing import Any, Callable

import numpy as np
import numpy.typing as npt

from mlkern import _mlkern
from mlkern._seed import seed_from
from mlkern.learn._base import (
    _as_targets,
    _classes,
    _convergence_warning,
    _data_conversion_warning,
    _int_param,
    _LinearClassifier,
    _LinearRegressor,
    _num_param,
    _public,
    _sample_weight,
)

_CLASSIFIER_LOSSES = ("hinge", "log_loss", "modified_huber", "squared_hinge", "perceptron", "squared_error", "huber",
                      "epsilon_insensitive", "squared_epsilon_insensitive")
_REGRESSOR_LOSSES = ("squared_error", "huber", "epsilon_insensitive", "squared_epsilon_insensitive")
_SCHEDULES = ("constant", "optimal", "invscaling", "adaptive")


class _SGDMixin:
    """Parameter checks, the validation split and the Rust call shared by both."""

    _losses: tuple[str, ...]
    loss: str
    penalty: str | None
    alpha: float
    l1_ratio: float
    fit_intercept: bool
    max_iter: int
    tol: float | None
    shuffle: bool
    verbose: int
    epsilon: float
    random_state: Any
    learning_rate: str
    eta0: float
    power_t: float
    early_stopping: bool
    validation_fraction: float
    n_iter_no_change: int
    warm_start: bool
    average: bool | int
    batch_size: int
    callback: Callable[[dict[str, Any]], Any] | None

    def _settings(self, max_iter: int, tol: float | None, track: bool) -> dict[str, Any]:
        if self.loss not in self._losses:
            raise ValueError(f"The loss {self.loss!r} is not supported; choose one of {list(self._losses)}")
        if self.penalty not in ("l2", "l1", "elasticnet", None):
            raise ValueError(f"penalty must be 'l2', 'l1', 'elasticnet' or None, got {self.penalty!r}")
        if self.learning_rate not in _SCHEDULES:
            raise ValueError(f"learning_rate must be one of {list(_SCHEDULES)}, got {self.learning_rate!r}")
        alpha = _num_param(self.alpha, "alpha", 0.0, False)
        if self.learning_rate == "optimal" and alpha == 0:
            raise ValueError("alpha must be > 0 since learning_rate is 'optimal'. alpha is used to compute the "
                             "optimal learning rate.")
        l1_ratio = _num_param(self.l1_ratio, "l1_ratio", 0.0, False, 1.0)
        eta0 = _num_param(self.eta0, "eta0", 0.0, False)
        if self.learning_rate != "optimal" and eta0 <= 0:
            raise ValueError("eta0 must be > 0")
        if isinstance(self.average, (bool, np.bool_)):
            average = int(bool(self.average))
        elif isinstance(self.average, numbers.Integral) and self.average >= 0:
            average = int(self.average)
        else:
            raise ValueError(f"average must be a bool or a non-negative int, got {self.average!r}")
        batch = _int_param(self.batch_size, "batch_size", 1)
        penalty = self.penalty
        return {
            "loss": self.loss, "epsilon": _num_param(self.epsilon, "epsilon", 0.0, False), "alpha": alpha,
            "l1_ratio": {"l2": 0.0, "l1": 1.0}.get(str(penalty), l1_ratio), "penalized": penalty is not None,
            "fit_intercept": bool(self.fit_intercept), "learning_rate": self.learning_rate, "eta0": eta0,
            "power_t": _num_param(self.power_t, "power_t", -np.inf, False), "average": average,
            "shuffle": bool(self.shuffle), "max_iter": max_iter, "tol": tol,
            "n_iter_no_change": _int_param(self.n_iter_no_change, "n_iter_no_change", 1),
            "batch_size": batch, "track_loss": track,
        }

    def _fit_params(self) -> tuple[int, float | None]:
        max_iter = _int_param(self.max_iter, "max_iter", 1)
        tol = None if self.tol is None else _num_param(self.tol, "tol", -np.inf, False)
        if self.early_stopping:
            _num_param(self.validation_fraction, "validation_fraction", 0.0, True, 1.0)
            if not self.validation_fraction < 1:
                raise ValueError("validation_fraction must be in (0, 1)")
        return max_iter, tol

    def _split(self, n: int, strata: npt.NDArray[Any] | None, rng: np.random.Generator,
               sw: npt.NDArray[np.float64] | None = None) -> npt.NDArray[np.bool_] | None:
        """The validation mask of early stopping (stratified by class for a
        classifier), drawn from ``random_state``; None without early stopping."""
        if not self.early_stopping:
            return None
        mask = np.zeros(n, dtype=bool)
        groups = [np.arange(n)] if strata is None else [np.flatnonzero(strata == c) for c in np.unique(strata)]
        for g in groups:
            take = int(round(self.validation_fraction * g.size))
            mask[rng.permutation(g)[:take]] = True
        if mask.sum() < 1 or mask.sum() >= n:
            raise ValueError(f"The validation set from validation_fraction={self.validation_fraction} of {n} samples "
                             "is empty or holds every sample; change validation_fraction or give more samples")
        if sw is not None and not (sw[mask] > 0).any():
            raise ValueError("The sample weights for validation set are all zero, consider using a different random "
                             "state.")
        return mask

    def _run(self, x: npt.NDArray[Any], codes: npt.NDArray[np.uint32] | None, values: npt.NDArray[np.float64] | None,
             positives: npt.NDArray[np.uint32], negative: float, class_weights: npt.NDArray[np.float64],
             sw: npt.NDArray[np.float64] | None, mask: npt.NDArray[np.bool_] | None, settings: dict[str, Any],
             seeds: npt.NDArray[np.uint64], coef: npt.NDArray[np.float64], intercept: npt.NDArray[np.float64],
             avg_coef: npt.NDArray[np.float64], avg_intercept: npt.NDArray[np.float64], t: float,
             classification: bool) -> tuple[Any, ...]:
        n = x.shape[0]
        if mask is None:
            rows, val_rows = np.arange(n, dtype=np.uint32), np.zeros(0, np.uint32)
        else:
            rows, val_rows = np.flatnonzero(~mask).astype(np.uint32), np.flatnonzero(mask).astype(np.uint32)
        return _mlkern._learn_sgd_fit(
            x, codes, values, positives, float(negative), np.ascontiguousarray(class_weights), sw, rows, val_rows,
            settings, seeds, np.ascontiguousarray(coef), np.ascontiguousarray(intercept),
            np.ascontiguousarray(avg_coef), np.ascontiguousarray(avg_intercept), float(t),
            self._progress(rows.size, "problem {problem} epoch {epoch}"), classification)

    def _progress(self, count: int, label: str) -> Callable[..., bool] | None:
        """The per-epoch hook the Rust loop calls (``None`` when nothing listens):
        builds the info dict, prints it with ``verbose``, passes it to ``callback``."""
        cb, verbose, name = self.callback, self.verbose, type(self).__name__
        if cb is None and not verbose:
            return None
        start = time.perf_counter()

        def progress(problem: int, epoch: int, loss: float, objective: float, score: float, eta: float) -> bool:
            info = {"problem": problem, "epoch": epoch, "loss": loss, "objective": objective,
                    "validation_score": score, "eta": eta,
                    "samples_per_s": count * epoch / max(time.perf_counter() - start, 1e-9)}
            if verbose:
                extra = f", validation score {score:.6g}" if np.isfinite(score) else ""
                print(f"[{name}] {label.format(problem=problem, epoch=epoch)}: avg. loss {loss:.6g}, objective "
                      f"{objective:.6g}{extra}, {info['samples_per_s']:.3g} samples/s", flush=True)
            return True if cb is None else cb(info) is not False

        return progress

    def _store(self, res: tuple[Any, ...], average: int, dtype: np.dtype[Any], t0: float,
               n_rows: int) -> tuple[int, str, BaseException | None]:
        coef, intercept, avg_coef, avg_intercept, n_iter, _t, stop, err = res
        self._standard_coef, self._standard_intercept = coef, intercept
        self._average_coef, self._average_intercept = avg_coef, avg_intercept
        # scikit-learn's clock: every row of X (validation rows too) per epoch run.
        self.t_ = float(t0) + int(np.max(n_iter) if n_iter.size else 0) * n_rows
        use_avg = average > 0 and average <= self.t_ - 1
        c, b = (avg_coef, avg_intercept) if use_avg else (coef, intercept)
        self._set_coef(c.astype(dtype), b.astype(dtype))
        return int(np.max(n_iter)) if n_iter.size else 0, str(stop), err

    def _set_coef(self, coef: npt.NDArray[Any], intercept: npt.NDArray[Any]) -> None:
        raise NotImplementedError

    def _state(self) -> tuple[tuple[Any, Any], tuple[Any, Any]]:
        """The standard and averaged weights to continue from (a loaded model has
        only ``coef_``/``intercept_``: both start there)."""
        coef, b = np.atleast_2d(np.asarray(self.coef_, np.float64)), np.atleast_1d(np.asarray(self.intercept_, np.float64))  # type: ignore[attr-defined]
        std = (getattr(self, "_standard_coef", coef), getattr(self, "_standard_intercept", b))
        avg = (getattr(self, "_average_coef", coef), getattr(self, "_average_intercept", b))
        return std, avg

    def _check_loaded(self) -> None:
        super()._check_loaded()  # type: ignore[misc]
        t = np.asarray(self.t_)
        if t.shape != () or t.dtype.kind != "f" or not t >= 1:
            raise ValueError("bad t_")
        self.t_ = float(t)

    def _finish(self, n_iter: int, stop: str, err: BaseException | None, max_iter: int, tol: float | None,
                names: Any, x: npt.NDArray[Any], partial: bool) -> None:
        self._fitted_on(x, names)  # type: ignore[attr-defined]
        if err is not None:
            raise err
        if not partial and tol is not None and stop == "max_iter" and n_iter >= max_iter:
            warnings.warn(f"Maximum number of iteration reached before convergence ({max_iter}). Consider increasing "
                          "max_iter to improve the fit.", _convergence_warning(), stacklevel=3)


_SGD_DOC = """
    Each epoch visits the training rows in a fresh random order (``shuffle``) and
    updates the weights after every sample, exactly as scikit-learn's SGD
    (``batch_size=1``, the default); the order is drawn by mlkern's generator, so
    results equal scikit-learn's in distribution, not bitwise. ``batch_size=b > 1``
    takes the ``b`` gradients of a batch at the same weights and adds them (mini-batch
    Pegasos under ``learning_rate="optimal"``), summed over 256-row blocks in parallel
    and reduced in order. On ``make_classification(1.2M, 32)`` with 5 epochs of log
    loss, ``b=4096`` reached the test accuracy of ``b=1`` (0.8856 and 0.8854;
    scikit-learn 0.8858) and was 1.0-1.4x faster on two cores (README), so the
    default keeps scikit-learn's own per-sample rule. On small data a large ``b`` means few steps
    per epoch: keep ``b`` well below ``n_samples / 100``.

    Results for a ``random_state`` are reproducible and do not depend on the thread
    count. ``verbose=1`` prints one line per epoch (mean loss, objective,
    samples/s); ``callback(info)`` receives the same as a dict and stops the fit by
    returning ``False``; Ctrl-C stops it within a fraction of a second, keeps the
    last weights and raises ``KeyboardInterrupt``. ``n_jobs`` is accepted and unused
    (threads follow ``mlkern.set_num_threads``).
"""


@_public
class SGDClassifier(_SGDMixin, _LinearClassifier):
    __doc__ = """Linear classifiers (SVM, logistic regression, ...) trained by SGD
    (scikit-learn's ``SGDClassifier``): losses ``hinge``, ``log_loss``,
    ``modified_huber``, ``squared_hinge``, ``perceptron`` and the regression losses;
    penalties ``l2``, ``l1``, ``elasticnet`` or None; learning rates ``optimal``,
    ``constant``, ``invscaling``, ``adaptive``; ``average``; early stopping on a
    stratified validation split; ``partial_fit``. Several classes are fitted
    one-vs-all, in parallel, or with ``multi_class="multinomial"`` (three or more
    classes, ``loss="log_loss"``) as one softmax model: every sample updates every
    class by ``(p_k − [k = y])·x`` (true multinomial logistic regression; per-sample
    steps, no averaging). ``predict_proba`` is then the softmax.
""" + _SGD_DOC

    _losses = _CLASSIFIER_LOSSES
    _array_attrs = ("coef_", "intercept_", "classes_", "n_iter_", "t_")

    def __init__(self, loss: str = "hinge", *, penalty: str | None = "l2", alpha: float = 0.0001,
                 l1_ratio: float = 0.15, fit_intercept: bool = True, max_iter: int = 1000, tol: float | None = 1e-3,
                 shuffle: bool = True, verbose: int = 0, epsilon: float = 0.1, n_jobs: int | None = None,
                 random_state: Any = None, learning_rate: str = "optimal", eta0: float = 0.01, power_t: float = 0.5,
                 early_stopping: bool = False, validation_fraction: float = 0.1, n_iter_no_change: int = 5,
                 class_weight: Any = None, warm_start: bool = False, average: bool | int = False,
                 multi_class: str = "ovr", batch_size: int = 1,
                 callback: Callable[[dict[str, Any]], Any] | None = None) -> None:
        self.loss = loss
        self.penalty = penalty
        self.alpha = alpha
        self.l1_ratio = l1_ratio
        self.fit_intercept = fit_intercept
        self.max_iter = max_iter
        self.tol = tol
        self.shuffle = shuffle
        self.verbose = verbose
        self.epsilon = epsilon
        self.n_jobs = n_jobs
        self.random_state = random_state
        self.learning_rate = learning_rate
        self.eta0 = eta0
        self.power_t = power_t
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.n_iter_no_change = n_iter_no_change
        self.class_weight = class_weight
        self.warm_start = warm_start
        self.average = average
        self.multi_class = multi_class
        self.batch_size = batch_size
        self.callback = callback

    def _set_coef(self, coef: npt.NDArray[Any], intercept: npt.NDArray[Any]) -> None:
        self.coef_, self.intercept_ = coef, intercept

    def _softmax(self, k: int) -> bool:
        """Whether this fit is the true multinomial one (three or more classes)."""
        if self.multi_class not in ("ovr", "multinomial"):
            raise ValueError(f"multi_class must be 'ovr' or 'multinomial', got {self.multi_class!r}")
        if self.multi_class == "ovr" or k < 3:
            return False
        if self.loss != "log_loss":
            raise ValueError("multi_class='multinomial' needs loss='log_loss' (the softmax loss)")
        if self.average or self.batch_size != 1:
            raise ValueError("multi_class='multinomial' takes per-sample steps: use batch_size=1 and average=False")
        return True

    def _class_weights(self, classes: npt.NDArray[Any], codes: npt.NDArray[np.uint32], partial: bool) -> npt.NDArray[np.float64]:
        cw, k = self.class_weight, classes.size
        if cw is None:
            return np.ones(k)
        if isinstance(cw, str):
            if cw != "balanced":
                raise ValueError(f"class_weight must be 'balanced', a dict or None, got {cw!r}")
            if partial:
                raise ValueError("class_weight 'balanced' is not supported for partial_fit: its weights depend on "
                                 "the whole data; compute them with compute_class_weight and pass a dict")
            counts = np.bincount(codes, minlength=k).astype(np.float64)
            return codes.size / (k * np.where(counts > 0, counts, 1))
        if isinstance(cw, dict):
            out = np.ones(k)
            for label, weight in cw.items():
                idx = np.flatnonzero(classes == label)
                if idx.size == 0:
                    raise ValueError(f"The classes, {[label]}, are not in class")
                out[idx[0]] = float(weight)
            return out
        raise ValueError(f"class_weight must be 'balanced', a dict or None, got {cw!r}")

    def fit(self, X: Any, y: Any, coef_init: Any = None, intercept_init: Any = None,
            sample_weight: Any = None) -> SGDClassifier:
        """Fits up to ``max_iter`` epochs (fewer when ``tol`` stops it); refits from
        zeros unless ``warm_start`` or ``coef_init`` say otherwise."""
        max_iter, tol = self._fit_params()
        x, names = self._fit_features(X)
        classes, codes = _classes(y, x.shape[0], type(self).__name__)
        if classes.size < 2:
            raise ValueError(f"The number of classes has to be greater than one; got {classes.size} class")
        prev = None
        if coef_init is not None:
            prev = (np.asarray(coef_init, np.float64), np.zeros(1) if intercept_init is None else np.asarray(intercept_init, np.float64))
        elif self.warm_start and hasattr(self, "coef_") and np.array_equal(self.classes_, classes):
            prev = (np.asarray(self.coef_, np.float64), np.asarray(self.intercept_, np.float64))  # as scikit-learn
        self._train(x, classes, codes, sample_weight, max_iter, tol, prev, t=1.0, partial=False, names=names)
        return self

    def partial_fit(self, X: Any, y: Any, classes: Any = None, sample_weight: Any = None) -> SGDClassifier:
        """One epoch over ``(X, y)`` continuing the current weights; ``classes``
        (every label that will appear) is required on the first call."""
        first = not hasattr(self, "classes_")
        if first and classes is None:
            raise ValueError("classes must be passed on the first call to partial_fit.")
        x, names = (self._fit_features(X) if first else (self._predict_features(X), getattr(self, "feature_names_in_", None)))
        if first:
            all_classes, _ = _classes(np.asarray(classes), np.asarray(classes).shape[0], type(self).__name__)
        else:
            all_classes = self.classes_
            if classes is not None and not np.array_equal(np.unique(np.asarray(classes)), all_classes):
                raise ValueError(f"`classes={np.unique(np.asarray(classes))!r}` is not the same as on the first call "
                                 f"to partial_fit, was: {all_classes!r}")
        yy = np.asarray(y)
        if yy.ndim != 1 or yy.shape[0] != x.shape[0]:
            raise ValueError(f"Found input variables with inconsistent numbers of samples: [{x.shape[0]}, {yy.shape}]")
        pos = np.searchsorted(all_classes, yy)
        pos = np.clip(pos, 0, all_classes.size - 1)
        if not np.array_equal(all_classes[pos], yy):
            bad = yy[all_classes[pos] != yy][0]
            raise ValueError(f"y holds the label {bad!r}, which is not in classes {all_classes!r}")
        if all_classes.size < 2:
            raise ValueError("The number of classes has to be greater than one; got 1 class")
        prev, avg = (None, None) if first else self._state()
        self._fit_params()
        self._train(x, all_classes, pos.astype(np.uint32), sample_weight, 1, None, prev, t=1.0 if first else self.t_,
                    partial=True, names=names, avg=avg)
        return self

    def _train(self, x: npt.NDArray[Any], classes: npt.NDArray[Any], codes: npt.NDArray[np.uint32], sample_weight: Any,
               max_iter: int, tol: float | None, prev: Any, t: float, partial: bool, names: Any,
               avg: Any = None) -> None:
        n, d = x.shape
        k = classes.size
        cols = 1 if k == 2 else k
        track = bool(self.verbose) or self.callback is not None
        settings = self._settings(max_iter, tol, track)
        sw = _sample_weight(sample_weight, n)
        cw = self._class_weights(classes, codes, partial)
        negative = 0.0 if self.loss == "log_loss" else -1.0
        if cols == 1:
            positives = np.array([1], np.uint32)
            class_weights = np.array([[cw[1], cw[0]]])
        else:
            positives = np.arange(k, dtype=np.uint32)
            class_weights = np.stack([cw, np.ones(k)], axis=1)
        rng = np.random.default_rng(seed_from(self.random_state))
        mask = self._split(n, codes, rng, sw)
        seeds = rng.integers(0, 2**63, size=cols, dtype=np.uint64)
        if self._softmax(k):
            self._train_softmax(x, classes, codes, sw, cw, mask, settings, int(seeds[0]), prev, t, max_iter, tol,
                                partial, names)
            return
        coef = np.zeros((cols, d)) if prev is None else np.asarray(prev[0], np.float64).reshape(cols, d)
        intercept = np.zeros(cols) if prev is None else np.broadcast_to(np.asarray(prev[1], np.float64), (cols,)).copy()
        if coef.shape != (cols, d):
            raise ValueError(f"Provided coef_init does not match dataset: expected shape {(cols, d)}")
        avg_coef = np.zeros((cols, d)) if avg is None else np.asarray(avg[0], np.float64).reshape(cols, d)
        avg_b = np.zeros(cols) if avg is None else np.asarray(avg[1], np.float64).reshape(cols)
        res = self._run(x, np.ascontiguousarray(codes, np.uint32), None, positives, negative, class_weights, sw, mask,
                        settings, seeds, coef, intercept, avg_coef, avg_b, t, True)
        self.classes_ = classes
        n_iter, stop, err = self._store(res, settings["average"], x.dtype, t, n)
        self.n_iter_ = n_iter
        self._finish(n_iter, stop, err, max_iter, tol, names, x, partial)

    def _train_softmax(self, x: npt.NDArray[Any], classes: npt.NDArray[Any], codes: npt.NDArray[np.uint32],
                       sw: npt.NDArray[np.float64] | None, cw: npt.NDArray[np.float64], mask: Any,
                       settings: dict[str, Any], seed: int, prev: Any, t: float, max_iter: int, tol: float | None,
                       partial: bool, names: Any) -> None:
        n, d = x.shape
        k = classes.size
        coef = np.zeros((k, d)) if prev is None else np.asarray(prev[0], np.float64).reshape(k, d)
        intercept = np.zeros(k) if prev is None else np.broadcast_to(np.asarray(prev[1], np.float64), (k,)).copy()
        rows = np.arange(n, dtype=np.uint32) if mask is None else np.flatnonzero(~mask).astype(np.uint32)
        val_rows = np.zeros(0, np.uint32) if mask is None else np.flatnonzero(mask).astype(np.uint32)
        c, b, n_iter, _t_end, stop, err = _mlkern._learn_sgd_softmax_fit(
            x, np.ascontiguousarray(codes, np.uint32), np.ascontiguousarray(cw, np.float64), sw, rows, val_rows,
            settings, seed, np.ascontiguousarray(coef), np.ascontiguousarray(intercept), float(t),
            self._progress(rows.size, "multinomial epoch {epoch}"))
        self.classes_ = classes
        self._standard_coef, self._standard_intercept = c, b
        self._average_coef, self._average_intercept = c, b
        self.t_ = float(t) + int(n_iter) * n
        self._set_coef(c.astype(x.dtype), b.astype(x.dtype))
        self.n_iter_ = int(n_iter)
        self._finish(int(n_iter), str(stop), err, max_iter, tol, names, x, partial)

    @property
    def predict_proba(self) -> Callable[[Any], npt.NDArray[Any]]:
        """Class probabilities, for ``loss="log_loss"`` (the logistic function of each
        one-vs-all score, normalised over classes) and ``"modified_huber"``
        (``(clip(score, −1, 1) + 1) / 2``, normalised); other losses have none
        (``AttributeError``, as scikit-learn)."""
        if self.loss not in ("log_loss", "modified_huber"):
            raise AttributeError(f"probability estimates are not available for loss={self.loss!r}")
        return self._predict_proba

    @property
    def predict_log_proba(self) -> Callable[[Any], npt.NDArray[Any]]:
        """``log(predict_proba(X))``, for the losses that have ``predict_proba``."""
        proba = self.predict_proba

        def log_proba(X: Any) -> npt.NDArray[Any]:
            with np.errstate(divide="ignore"):
                return np.log(proba(X))  # type: ignore[no-any-return]

        return log_proba

    def _predict_proba(self, X: Any) -> npt.NDArray[Any]:
        if self.loss == "log_loss" and (np.shape(self.coef_)[0] == 1 or self.multi_class == "multinomial"):
            # The logistic function, or the softmax of the multinomial model.
            x, w = self._rows(X)
            return _mlkern._learn_linear_scores(x, w, self._b, True)
        s = self.decision_function(X)
        if self.loss == "log_loss":
            p = 1.0 / (1.0 + np.exp(-s))
        else:
            p = (np.clip(s, -1, 1) + 1) / 2
        if p.ndim == 1:
            return np.stack([1 - p, p], axis=1)
        total = p.sum(axis=1, keepdims=True)
        with np.errstate(invalid="ignore", divide="ignore"):
            out = np.where(total > 0, p / np.where(total > 0, total, 1), 1.0 / p.shape[1])
        return out  # type: ignore[no-any-return]


@_public
class SGDRegressor(_SGDMixin, _LinearRegressor):
    __doc__ = """Linear regression trained by SGD (scikit-learn's ``SGDRegressor``):
    losses ``squared_error``, ``huber``, ``epsilon_insensitive``,
    ``squared_epsilon_insensitive``; the penalties, schedules, averaging, early
    stopping (on R² of a validation split) and ``partial_fit`` of ``SGDClassifier``.
""" + _SGD_DOC

    _losses = _REGRESSOR_LOSSES
    _array_attrs = ("coef_", "intercept_", "n_iter_", "t_")

    def __init__(self, loss: str = "squared_error", *, penalty: str | None = "l2", alpha: float = 0.0001,
                 l1_ratio: float = 0.15, fit_intercept: bool = True, max_iter: int = 1000, tol: float | None = 1e-3,
                 shuffle: bool = True, verbose: int = 0, epsilon: float = 0.1, random_state: Any = None,
                 learning_rate: str = "invscaling", eta0: float = 0.01, power_t: float = 0.25,
                 early_stopping: bool = False, validation_fraction: float = 0.1, n_iter_no_change: int = 5,
                 warm_start: bool = False, average: bool | int = False, batch_size: int = 1,
                 callback: Callable[[dict[str, Any]], Any] | None = None) -> None:
        self.loss = loss
        self.penalty = penalty
        self.alpha = alpha
        self.l1_ratio = l1_ratio
        self.fit_intercept = fit_intercept
        self.max_iter = max_iter
        self.tol = tol
        self.shuffle = shuffle
        self.verbose = verbose
        self.epsilon = epsilon
        self.random_state = random_state
        self.learning_rate = learning_rate
        self.eta0 = eta0
        self.power_t = power_t
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.n_iter_no_change = n_iter_no_change
        self.warm_start = warm_start
        self.average = average
        self.batch_size = batch_size
        self.callback = callback

    def __sklearn_tags__(self) -> Any:
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = False
        return tags

    def _set_coef(self, coef: npt.NDArray[Any], intercept: npt.NDArray[Any]) -> None:
        self.coef_, self.intercept_ = coef[0], intercept.reshape(1)

    def fit(self, X: Any, y: Any, coef_init: Any = None, intercept_init: Any = None,
            sample_weight: Any = None) -> SGDRegressor:
        """Fits up to ``max_iter`` epochs (fewer when ``tol`` stops it)."""
        max_iter, tol = self._fit_params()
        x, names = self._fit_features(X)
        yy = self._targets(y, x.shape[0])
        prev = None
        if coef_init is not None:
            prev = (np.asarray(coef_init, np.float64), np.zeros(1) if intercept_init is None else np.asarray(intercept_init, np.float64))
        elif self.warm_start and hasattr(self, "coef_"):
            prev = (np.asarray(self.coef_, np.float64), np.asarray(self.intercept_, np.float64))  # as scikit-learn
        self._train(x, yy, sample_weight, max_iter, tol, prev, 1.0, False, names)
        return self

    def partial_fit(self, X: Any, y: Any, sample_weight: Any = None) -> SGDRegressor:
        """One epoch over ``(X, y)`` continuing the current weights."""
        first = not hasattr(self, "coef_")
        x, names = (self._fit_features(X) if first else (self._predict_features(X), getattr(self, "feature_names_in_", None)))
        yy = self._targets(y, x.shape[0])
        prev, avg = (None, None) if first else self._state()
        self._fit_params()
        self._train(x, yy, sample_weight, 1, None, prev, 1.0 if first else self.t_, True, names, avg)
        return self

    def _targets(self, y: Any, n: int) -> npt.NDArray[np.float64]:
        yy = _as_targets(y, n, type(self).__name__)
        if yy.ndim == 2 and yy.shape[1] == 1:
            warnings.warn("A column-vector y was passed when a 1d array was expected. Please change the shape of y "
                          "to (n_samples, ), for example using ravel().", _data_conversion_warning(), stacklevel=3)
            yy = yy[:, 0]
        if yy.ndim != 1:
            raise ValueError(f"y should be a 1d array, got an array of shape {yy.shape} instead.")
        return yy

    def _train(self, x: npt.NDArray[Any], y: npt.NDArray[np.float64], sample_weight: Any, max_iter: int,
               tol: float | None, prev: Any, t: float, partial: bool, names: Any, avg: Any = None) -> None:
        n, d = x.shape
        track = bool(self.verbose) or self.callback is not None
        settings = self._settings(max_iter, tol, track)
        sw = _sample_weight(sample_weight, n)
        rng = np.random.default_rng(seed_from(self.random_state))
        mask = self._split(n, None, rng, sw)
        seeds = rng.integers(0, 2**63, size=1, dtype=np.uint64)
        coef = np.zeros((1, d)) if prev is None else np.asarray(prev[0], np.float64).reshape(1, -1)
        if coef.shape != (1, d):
            raise ValueError(f"Provided coef_init does not match dataset: expected {d} coefficients")
        intercept = np.zeros(1) if prev is None else np.asarray(prev[1], np.float64).reshape(1)
        avg_coef = np.zeros((1, d)) if avg is None else np.asarray(avg[0], np.float64).reshape(1, d)
        avg_b = np.zeros(1) if avg is None else np.asarray(avg[1], np.float64).reshape(1)
        res = self._run(x, None, np.ascontiguousarray(y), np.zeros(1, np.uint32), 0.0, np.ones((1, 2)), sw, mask,
                        settings, seeds, coef, intercept, avg_coef, avg_b, t, False)
        n_iter, stop, err = self._store(res, settings["average"], x.dtype, t, n)
        self.n_iter_ = n_iter
        self._finish(n_iter, stop, err, max_iter, tol, names, x, partial)
