"""Linear models in closed form (``LinearRegression``, ``Ridge``) and by L-BFGS
(``LogisticRegression``)."""

from __future__ import annotations

import time
import warnings
from typing import Any, Callable

import numpy as np
import numpy.typing as npt

from mlkern import _mlkern
from mlkern.learn._base import (
    _FLOAT_DTYPES,
    _as_targets,
    _classes,
    _convergence_warning,
    _int_param,
    _LinearClassifier,
    _LinearRegressor,
    _num_param,
    _public,
    _sample_weight,
)


class _LinearRegressorBase(_LinearRegressor):
    """Least squares by the normal equations (LinearRegression, Ridge)."""

    def _alpha(self, t: int) -> npt.NDArray[np.float64]:
        return np.zeros(t)

    def _check_params(self) -> None:
        if not isinstance(self.fit_intercept, (bool, np.bool_)):  # type: ignore[attr-defined]
            raise ValueError(f"The 'fit_intercept' parameter must be a bool, got {self.fit_intercept!r}")  # type: ignore[attr-defined]
        if self.positive:  # type: ignore[attr-defined]
            raise ValueError("positive=True is not supported by mlkern.learn (it needs a constrained solver)")

    def fit(self, X: Any, y: Any, sample_weight: Any = None) -> Any:
        """Fits by the normal equations of the centred data (see the module docstring)."""
        self._check_params()
        x, names = self._fit_features(X)
        yy = _as_targets(y, x.shape[0], type(self).__name__)
        sw = _sample_weight(sample_weight, x.shape[0])
        y2 = np.ascontiguousarray(yy.reshape(x.shape[0], -1), dtype=np.float64)
        t = y2.shape[1]
        alpha = self._alpha(t)
        gram, x_mean, y_mean = _mlkern._learn_centered_gram(x, y2, sw, bool(self.fit_intercept))  # type: ignore[attr-defined]
        d = x.shape[1]
        gxx, gxy = gram[:d, :d], gram[:d, d:]
        coef = np.empty((t, d))
        groups = {float(a) for a in alpha}
        for a in sorted(groups):
            cols = np.flatnonzero(alpha == a)
            a_mat = gxx + a * np.eye(d)
            try:
                sol = _mlkern._learn_solve_spd(np.ascontiguousarray(a_mat), np.ascontiguousarray(gxy[:, cols]))
            except ValueError:
                # Singular (collinear features, d > n): the minimum-norm solution of the
                # normal equations, which is the least-squares one (a documented fallback).
                sol = np.asarray(np.linalg.lstsq(a_mat, gxy[:, cols], rcond=None)[0], dtype=np.float64)
            coef[cols] = sol.T
        intercept = y_mean - coef @ x_mean if self.fit_intercept else np.zeros(t)  # type: ignore[attr-defined]
        out_dtype = x.dtype
        self.coef_ = coef[0].astype(out_dtype) if yy.ndim == 1 else coef.astype(out_dtype)
        if not self.fit_intercept:  # type: ignore[attr-defined]
            self.intercept_ = 0.0
        else:
            self.intercept_ = out_dtype.type(intercept[0]) if yy.ndim == 1 else intercept.astype(out_dtype)
        self._fitted_on(x, names)
        return self


@_public
class LinearRegression(_LinearRegressorBase):
    """Ordinary least squares (scikit-learn's ``LinearRegression``).

    Solves the normal equations of the centred (and, with ``sample_weight``,
    weighted) data by Cholesky; rank-deficient problems (collinear features, more
    features than samples) fall back to NumPy's least-squares solve of the same
    normal equations, which gives the minimum-norm solution as scikit-learn's
    ``lstsq`` does. ``positive=True`` is not supported (``ValueError``);
    ``copy_X``, ``tol`` and ``n_jobs`` are accepted for compatibility and unused
    (``X`` is never modified; threads follow ``mlkern.set_num_threads``).
    """

    def __init__(self, *, fit_intercept: bool = True, copy_X: bool = True, tol: float = 1e-6,
                 n_jobs: int | None = None, positive: bool = False) -> None:
        self.fit_intercept = fit_intercept
        self.copy_X = copy_X
        self.tol = tol
        self.n_jobs = n_jobs
        self.positive = positive


@_public
class Ridge(_LinearRegressorBase):
    """Linear least squares with an L2 penalty (scikit-learn's ``Ridge``):
    minimises ``‖y − Xw‖² + alpha·‖w‖²`` (weighted by ``sample_weight``), the
    intercept unpenalised.

    ``solver`` must be ``"auto"`` or ``"cholesky"`` (both: the normal equations by
    Cholesky); ``alpha`` may be one value or one per target. ``max_iter``,
    ``tol``, ``copy_X`` and ``random_state`` are accepted for compatibility and
    unused; ``n_iter_`` is ``None`` as for scikit-learn's Cholesky solver.
    """

    def __init__(self, alpha: float | npt.ArrayLike = 1.0, *, fit_intercept: bool = True, copy_X: bool = True,
                 max_iter: int | None = None, tol: float = 1e-4, solver: str = "auto", positive: bool = False,
                 random_state: Any = None) -> None:
        self.alpha = alpha
        self.fit_intercept = fit_intercept
        self.copy_X = copy_X
        self.max_iter = max_iter
        self.tol = tol
        self.solver = solver
        self.positive = positive
        self.random_state = random_state

    def _check_params(self) -> None:
        super()._check_params()
        if self.solver not in ("auto", "cholesky"):
            raise ValueError(f"solver must be 'auto' or 'cholesky' in mlkern.learn.Ridge, got {self.solver!r}")

    def _alpha(self, t: int) -> npt.NDArray[np.float64]:
        a = np.asarray(self.alpha, dtype=np.float64).reshape(-1)
        if a.size == 1:
            a = np.full(t, a[0])
        if a.size != t:
            raise ValueError(f"Number of targets and number of penalties do not correspond: {t} != {a.size}")
        if not (np.isfinite(a).all() and (a >= 0).all()):
            raise ValueError(f"alpha must be non-negative and finite, got {self.alpha!r}")
        return a

    def fit(self, X: Any, y: Any, sample_weight: Any = None) -> Ridge:
        """Fits by Cholesky on the centred normal equations plus ``alpha·I``."""
        super().fit(X, y, sample_weight)
        self.n_iter_ = None
        return self


@_public
class LogisticRegression(_LinearClassifier):
    """Logistic regression (scikit-learn's ``LogisticRegression``), binary or
    multinomial (softmax for three or more classes), L2-penalised, fitted by L-BFGS.

    Objective (scikit-learn's): ``Σ sᵢ·ℓᵢ / Σ sᵢ + ‖W‖² / (2·C·Σ sᵢ)``, with the
    half log-loss ``ℓ`` and the row weights ``s`` (``sample_weight`` times
    ``class_weight``). Each loss-and-gradient evaluation is one fused pass over
    ``X`` on mlkern's pool; L-BFGS keeps 10 pairs and uses a strong-Wolfe line
    search, with SciPy's stopping rules (``max|∇f| ≤ tol``, relative reduction
    ``≤ 64·ε``, ``max_iter`` iterations). The iterates differ from SciPy's
    L-BFGS-B (another line search), so at the default ``tol`` the coefficients
    agree with scikit-learn's to about ``tol``; both converge to the same
    minimiser (the tests compare at ``tol=1e-10``).

    ``penalty``: ``"l2"`` (default) or ``None``; ``solver``: ``"lbfgs"`` only.
    ``float32`` ``X`` is read as float32 (scores in float32, losses, gradients and
    the parameters in float64). ``verbose=1`` prints one line per iteration
    (loss, gradient, rows/s); ``callback(info)`` receives the same as a dict
    after every iteration and stops the fit by returning ``False``. Ctrl-C stops
    the fit within one iteration and raises ``KeyboardInterrupt`` after storing the
    last completed iteration's weights. ``dual``, ``intercept_scaling``,
    ``random_state`` and ``n_jobs`` are accepted and unused (threads follow
    ``mlkern.set_num_threads``); the fit does not depend on the thread count.
    """

    _array_attrs = ("coef_", "intercept_", "classes_", "n_iter_")

    def __init__(self, penalty: str | None = "l2", *, dual: bool = False, tol: float = 1e-4, C: float = 1.0,
                 fit_intercept: bool = True, intercept_scaling: float = 1, class_weight: Any = None,
                 random_state: Any = None, solver: str = "lbfgs", max_iter: int = 100, verbose: int = 0,
                 warm_start: bool = False, n_jobs: int | None = None, callback: Callable[[dict[str, Any]], Any] | None = None) -> None:
        self.penalty = penalty
        self.dual = dual
        self.tol = tol
        self.C = C
        self.fit_intercept = fit_intercept
        self.intercept_scaling = intercept_scaling
        self.class_weight = class_weight
        self.random_state = random_state
        self.solver = solver
        self.max_iter = max_iter
        self.verbose = verbose
        self.warm_start = warm_start
        self.n_jobs = n_jobs
        self.callback = callback

    def _check_params(self) -> tuple[float, float, int]:
        if self.penalty not in ("l2", None, "none"):
            raise ValueError(f"penalty must be 'l2' or None for solver 'lbfgs', got {self.penalty!r}")
        if self.solver != "lbfgs":
            raise ValueError(f"solver must be 'lbfgs' in mlkern.learn.LogisticRegression, got {self.solver!r}")
        if self.dual:
            raise ValueError("dual=True is not supported by the lbfgs solver")
        C = _num_param(self.C, "C", 0.0, True)
        tol = _num_param(self.tol, "tol", 0.0, False)
        max_iter = _int_param(self.max_iter, "max_iter", 0)
        if self.penalty in (None, "none"):
            C = float("inf")
        return C, tol, max_iter

    def _row_weights(self, classes: npt.NDArray[Any], codes: npt.NDArray[np.uint32],
                     sw: npt.NDArray[np.float64] | None) -> npt.NDArray[np.float64] | None:
        cw = self.class_weight
        if cw is None:
            return sw
        k = classes.size
        if isinstance(cw, str):
            if cw != "balanced":
                raise ValueError(f"class_weight must be 'balanced', a dict or None, got {cw!r}")
            # scikit-learn's weighted form: Σ s / (K · Σ_{class} s).
            counts = np.bincount(codes, weights=sw, minlength=k)
            per_class = counts.sum() / (k * np.where(counts > 0, counts, 1))
        elif isinstance(cw, dict):
            per_class = np.ones(k)
            for label, weight in cw.items():
                idx = np.flatnonzero(classes == label)
                if idx.size == 0:
                    raise ValueError(f"The classes, {[label]}, are not in class")
                per_class[idx[0]] = float(weight)
        else:
            raise ValueError(f"class_weight must be 'balanced', a dict or None, got {cw!r}")
        w: npt.NDArray[np.float64] = np.asarray(per_class[codes], dtype=np.float64)
        return w if sw is None else w * sw

    def fit(self, X: Any, y: Any, sample_weight: Any = None) -> LogisticRegression:
        """Fits by L-BFGS (see the class docstring). ``warm_start=True`` starts from
        the previous fit's coefficients when the classes and features agree."""
        C, tol, max_iter = self._check_params()
        prev = (self.coef_, self.intercept_, self.classes_) if self.warm_start and hasattr(self, "coef_") else None
        x, names = self._fit_features(X)
        name = type(self).__name__
        classes, codes = _classes(y, x.shape[0], name)
        sw = _sample_weight(sample_weight, x.shape[0])
        if classes.size < 2:
            raise ValueError(f"This solver needs samples of at least 2 classes in the data, but the data contains only "
                             f"one class: {classes[0]!r}")
        sw = self._row_weights(classes, codes, sw)
        if sw is not None and not (sw[np.isin(codes, np.unique(codes))] > 0).any():
            raise ValueError("sample_weight is zero for every sample")
        if sw is not None:
            present = np.unique(codes[sw > 0])
            if present.size < 2:
                raise ValueError("This solver needs samples of at least 2 classes with positive sample_weight, but "
                                 "the weighted data contains only one class")
        cols = 1 if classes.size == 2 else classes.size
        w0 = None
        if prev is not None and np.array_equal(prev[2], classes) and prev[0].shape == (cols, x.shape[1]):
            w0 = np.concatenate([np.asarray(prev[0], np.float64).ravel()] +
                                ([np.asarray(prev[1], np.float64)] if self.fit_intercept else []))
        n = x.shape[0]
        start = time.perf_counter()
        cb = self.callback
        verbose = self.verbose

        def progress(it: int, loss: float, gmax: float, evals: int) -> bool:
            info = {"iteration": it, "loss": loss, "grad_max": gmax, "n_evals": evals,
                    "samples_per_s": n * evals / max(time.perf_counter() - start, 1e-9)}
            if verbose:
                print(f"[{name}] iteration {it}: loss {loss:.6g}, max|grad| {gmax:.3g}, "
                      f"{info['samples_per_s']:.3g} samples/s", flush=True)
            if cb is not None:
                return cb(info) is not False
            return True

        coef, intercept, n_iter, stop, _loss, err = _mlkern._learn_logistic_fit(
            x, codes, classes.size, sw, C, bool(self.fit_intercept), max_iter, tol, w0,
            progress if (cb is not None or verbose) else None)
        dt = x.dtype
        self.classes_ = classes
        self.coef_ = coef.astype(dt)
        self.intercept_ = intercept.astype(dt) if self.fit_intercept else np.zeros(cols, dt)
        self.n_iter_ = np.array([n_iter], dtype=np.int32)
        self._fitted_on(x, names)
        if err is not None:
            raise err
        if stop in ("max_iter", "line_search"):
            what = ("lbfgs failed to converge after {} iteration(s) (status=1): STOP: TOTAL NO. OF ITERATIONS REACHED "
                    "LIMIT".format(n_iter) if stop == "max_iter" else
                    "lbfgs stopped: the line search found no acceptable step (ABNORMAL_TERMINATION_IN_LNSRCH)")
            warnings.warn(what + ". Increase the number of iterations (max_iter) or scale the data.",
                          _convergence_warning(), stacklevel=2)
        return self

    def predict_proba(self, X: Any) -> npt.NDArray[Any]:
        """Class probabilities ``(n, n_classes)`` in ``X``'s float dtype (the
        logistic function for two classes, the softmax otherwise)."""
        x, w = self._rows(X)
        return _mlkern._learn_linear_scores(x, w, self._b, True)

    def predict_log_proba(self, X: Any) -> npt.NDArray[Any]:
        """``log(predict_proba(X))``."""
        with np.errstate(divide="ignore"):
            return np.log(self.predict_proba(X))  # type: ignore[no-any-return]
