"""Multi-layer perceptrons: scikit-learn's ``MLPClassifier`` and ``MLPRegressor``.

The epoch loop is scikit-learn's ``_fit_stochastic`` line for line (shuffling,
batches, loss curve, tolerance, early stopping, adaptive learning rate); each
epoch's batches run in Rust (``mlkern-learn``'s ``mlp::epoch``): forward and
backward passes on mlkern's GEMM, each batch split into 64-row blocks across the
pool's threads, the gradients reduced in block order, then Adam or momentum SGD.
"""

from __future__ import annotations

import numbers
import time
import warnings
from typing import Any, Callable, ClassVar

import numpy as np
import numpy.typing as npt

from mlkern import _mlkern
from mlkern.learn._base import (
    _FLOAT_DTYPES,
    _as_targets,
    _check_finite,
    _classes,
    _convergence_warning,
    _Estimator,
    _int_param,
    _num_param,
    _public,
    _r2,
    _sample_weight,
)

_ACTIVATIONS = ("identity", "logistic", "tanh", "relu")
_SOLVERS = ("lbfgs", "sgd", "adam")


def _read_only(a: npt.NDArray[Any]) -> npt.NDArray[Any]:
    a.flags.writeable = False
    return a


def _random_state(rs: Any) -> np.random.RandomState:
    """scikit-learn's ``check_random_state``: ``None`` is NumPy's global
    ``RandomState``, an int seeds a new one, an instance is used as it is."""
    if rs is None or rs is np.random:
        return np.random.mtrand._rand
    if isinstance(rs, numbers.Integral) and not isinstance(rs, (bool, np.bool_)):
        return np.random.RandomState(int(rs))
    if isinstance(rs, np.random.RandomState):
        return rs
    raise ValueError(f"{rs!r} cannot be used to seed a numpy.random.RandomState instance")


class _MLP(_Estimator):
    """The shared parameters, checks, epoch loop and forward pass."""

    _head_default: ClassVar[str]
    _array_attrs: ClassVar[tuple[str, ...]] = ("_packed", "_units", "loss_curve_", "n_iter_", "t_")

    hidden_layer_sizes: Any
    activation: str
    solver: str
    alpha: float
    batch_size: Any
    learning_rate: str
    learning_rate_init: float
    power_t: float
    max_iter: int
    loss: str
    shuffle: bool
    random_state: Any
    tol: float
    verbose: Any
    warm_start: bool
    momentum: float
    nesterovs_momentum: bool
    early_stopping: bool
    validation_fraction: float
    beta_1: float
    beta_2: float
    epsilon: float
    n_iter_no_change: Any
    max_fun: int
    callback: Callable[[dict[str, Any]], Any] | None

    _packed: npt.NDArray[Any]
    _best: npt.NDArray[Any]
    _units: npt.NDArray[np.int64]
    _fast: dict[np.dtype[Any], npt.NDArray[Any]]
    _spec: tuple[list[int], str, str]
    out_activation_: str
    loss_: float
    loss_curve_: list[float]
    validation_scores_: list[float] | None
    best_validation_score_: float | None
    best_loss_: float | None
    n_iter_: int
    t_: int
    _no_improvement_count: int
    _optimizer: dict[str, Any]

    # ------------------------------------------------------------ parameters

    def _hidden(self) -> list[int]:
        h = self.hidden_layer_sizes
        sizes = list(h) if hasattr(h, "__iter__") and not isinstance(h, str) else [h]
        out = []
        for s in sizes:
            if isinstance(s, (bool, np.bool_)) or not isinstance(s, numbers.Integral):
                raise ValueError(f"hidden_layer_sizes must hold ints, got {h!r}")
            if int(s) <= 0:
                raise ValueError(f"hidden_layer_sizes must be > 0, got {sizes}.")
            out.append(int(s))
        return out

    def _check_params(self) -> None:
        if self.activation not in _ACTIVATIONS:
            raise ValueError(f"The 'activation' parameter must be one of {list(_ACTIVATIONS)}, got {self.activation!r}")
        if self.solver not in _SOLVERS:
            raise ValueError(f"The 'solver' parameter must be one of {list(_SOLVERS)}, got {self.solver!r}")
        if self.learning_rate not in ("constant", "invscaling", "adaptive"):
            raise ValueError("The 'learning_rate' parameter must be 'constant', 'invscaling' or 'adaptive', got "
                             f"{self.learning_rate!r}")
        _num_param(self.alpha, "alpha", 0, False)
        _num_param(self.learning_rate_init, "learning_rate_init", 0, True)
        _num_param(self.power_t, "power_t", 0, False)
        _int_param(self.max_iter, "max_iter", 1)
        _num_param(self.tol, "tol", 0, False)
        _num_param(self.momentum, "momentum", 0, False, 1)
        _num_param(self.validation_fraction, "validation_fraction", 0, False, 1)
        if not self.validation_fraction < 1:
            raise ValueError(f"The 'validation_fraction' parameter must be < 1, got {self.validation_fraction!r}")
        for name in ("beta_1", "beta_2"):
            v = _num_param(getattr(self, name), name, 0, False, 1)
            if not v < 1:
                raise ValueError(f"The '{name}' parameter must be in [0, 1), got {v!r}")
        _num_param(self.epsilon, "epsilon", 0, True)
        if not (self.n_iter_no_change == np.inf):
            _int_param(self.n_iter_no_change, "n_iter_no_change", 1)
        _int_param(self.max_fun, "max_fun", 1)
        if self.batch_size != "auto":
            _int_param(self.batch_size, "batch_size", 1)
        for name in ("shuffle", "warm_start", "nesterovs_momentum", "early_stopping"):
            if not isinstance(getattr(self, name), (bool, np.bool_)):
                raise ValueError(f"The '{name}' parameter must be a bool, got {getattr(self, name)!r}")
        if self.callback is not None and not callable(self.callback):
            raise TypeError("callback must be callable or None")
        if self.solver == "lbfgs":
            raise ValueError("solver='lbfgs' is not implemented by mlkern.learn's MLPs; use 'adam' or 'sgd'")

    # ------------------------------------------------------------ the network

    @property
    def n_layers_(self) -> int:
        return int(len(self._units))

    @property
    def n_outputs_(self) -> int:
        return int(self._units[-1])

    def _offsets(self) -> tuple[list[tuple[int, int, tuple[int, int]]], list[tuple[int, int]]]:
        u = [int(v) for v in self._units]
        coef, off = [], 0
        for a, b in zip(u[:-1], u[1:]):
            coef.append((off, off + a * b, (a, b)))
            off += a * b
        bias = []
        for b in u[1:]:
            bias.append((off, off + b))
            off += b
        return coef, bias

    @property
    def coefs_(self) -> list[npt.NDArray[Any]]:
        """The weight matrices, ``coefs_[i]`` of shape ``(units[i], units[i + 1])``
        (read-only views of the flat parameter buffer; assign a new list to change
        them)."""
        if not hasattr(self, "_packed"):
            raise AttributeError("coefs_")
        coef, _ = self._offsets()
        return [_read_only(self._packed[a:b].reshape(s)) for a, b, s in coef]

    @coefs_.setter
    def coefs_(self, value: list[Any]) -> None:
        self._assign(list(value), self.intercepts_)

    @property
    def intercepts_(self) -> list[npt.NDArray[Any]]:
        """The bias vectors, ``intercepts_[i]`` of shape ``(units[i + 1],)`` (read-only
        views; assign a new list to change them)."""
        if not hasattr(self, "_packed"):
            raise AttributeError("intercepts_")
        _, bias = self._offsets()
        return [_read_only(self._packed[a:b]) for a, b in bias]

    @intercepts_.setter
    def intercepts_(self, value: list[Any]) -> None:
        self._assign(self.coefs_, list(value))

    def _assign(self, coefs: list[Any], intercepts: list[Any]) -> None:
        coef, bias = self._offsets()
        if len(coefs) != len(coef) or len(intercepts) != len(bias):
            raise ValueError("coefs_ and intercepts_ must have one entry per layer")
        packed = self._packed.copy()
        for (a, b, s), c in zip(coef, coefs):
            c = np.asarray(c)
            if c.shape != s:
                raise ValueError(f"a coefficient matrix of shape {c.shape} where {s} is expected")
            packed[a:b] = c.reshape(-1)
        for (a, b), c in zip(bias, intercepts):
            c = np.asarray(c)
            if c.shape != (b - a,):
                raise ValueError(f"an intercept of shape {c.shape} where {(b - a,)} is expected")
            packed[a:b] = c
        self._packed = packed
        self._prepare()

    def _prepare(self) -> None:
        self._fast = {dt: (self._packed if self._packed.dtype == dt else self._packed.astype(dt)) for dt in _FLOAT_DTYPES}
        self._named = hasattr(self, "feature_names_in_")
        self._spec = ([int(v) for v in self._units], self.activation, self.out_activation_)

    def __getstate__(self) -> dict[str, Any]:
        state = super().__getstate__()
        state.pop("_spec", None)
        return state

    def _init_params(self, units: list[int], dtype: np.dtype[Any], rs: np.random.RandomState) -> None:
        """Glorot-uniform initialisation in scikit-learn's order (each layer's
        coefficients, then its intercept, from ``rs``)."""
        factor = 2.0 if self.activation == "logistic" else 6.0
        coefs, intercepts = [], []
        for fi, fo in zip(units[:-1], units[1:]):
            bound = np.sqrt(factor / (fi + fo))
            coefs.append(rs.uniform(-bound, bound, (fi, fo)).astype(dtype, copy=False))
            intercepts.append(rs.uniform(-bound, bound, fo).astype(dtype, copy=False))
        self._units = np.asarray(units, dtype=np.int64)
        self._packed = np.ascontiguousarray(np.hstack([c.ravel() for c in coefs + intercepts]).astype(dtype))

    def _forward(self, X: Any, mode: str = "raw") -> npt.NDArray[Any]:
        """The head's outputs ``(n, n_outputs)`` in ``X``'s float dtype (``mode``:
        see ``_learn_mlp_predict``)."""
        fast = getattr(self, "_fast", None)
        if fast is not None and type(X) is np.ndarray and X.ndim == 2 and not self._named:
            p = fast.get(X.dtype)
            if p is not None:
                u, act, head = self._spec
                if X.shape[1] == u[0]:
                    return _mlkern._learn_mlp_predict(X, u, act, head, p, mode)
        self._check_fitted()
        if fast is None:
            self._prepare()
        x = self._predict_features(X)
        u, act, head = self._spec
        return _mlkern._learn_mlp_predict(x, u, act, head, self._fast[x.dtype], mode)

    # ------------------------------------------------------------ training

    def _batch(self, n: int) -> int:
        if self.batch_size == "auto":
            return min(200, n)
        if self.batch_size > n:
            warnings.warn("Got `batch_size` less than 1 or larger than sample size. It is going to be clipped",
                          UserWarning, stacklevel=4)
        return int(np.clip(self.batch_size, 1, n))

    def _targets(self, y: Any, n: int, incremental: bool, first: bool, classes: Any) -> npt.NDArray[Any]:
        raise NotImplementedError

    def _score_on(self, x: npt.NDArray[Any], y: Any, sw: npt.NDArray[np.float64] | None) -> float:
        raise NotImplementedError

    def _val_split(self, n: int, y2: npt.NDArray[Any], rs: np.random.RandomState
                   ) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
        """Training and validation rows, drawn from ``rs`` as scikit-learn's
        ``train_test_split`` draws them without stratification (one permutation,
        the first ``ceil(fraction · n)`` rows validate: the same rows); a two-class
        classifier stratifies, as scikit-learn does, with the same count per class
        but other rows."""
        n_val = int(np.ceil(self.validation_fraction * n))
        if n_val < 2 or n - n_val < 1:
            raise ValueError("The validation set is too small. Increase 'validation_fraction' or the size of your "
                             "dataset.")
        strata = self._strata(y2)
        if strata is None:
            perm = rs.permutation(n)
            # scikit-learn's X_train is X[perm[n_val:]] in this order, and the
            # epochs shuffle positions in it: the same rows in the same order.
            return perm[n_val:], perm[:n_val]
        codes = strata
        counts = np.bincount(codes)
        if (counts[counts > 0] < 2).any():
            raise ValueError("The least populated class in y has only 1 member, which is too few. The minimum number "
                             "of groups for any class cannot be less than 2.")
        take = np.floor(counts * n_val / n).astype(np.int64)
        # Hand the remaining validation rows to the classes with the largest remainders.
        rest = n_val - int(take.sum())
        if rest > 0:
            frac = counts * n_val / n - take
            take[np.argsort(-frac, kind="stable")[:rest]] += 1
        val = []
        for c in np.flatnonzero(counts):
            rows = np.flatnonzero(codes == c)
            rs.shuffle(rows)
            val.append(rows[: min(int(take[c]), rows.size - 1)])
        v = np.sort(np.concatenate(val))
        mask = np.ones(n, dtype=bool)
        mask[v] = False
        return np.flatnonzero(mask), v

    def _strata(self, y2: npt.NDArray[Any]) -> npt.NDArray[np.int64] | None:
        return None

    def _fit(self, X: Any, y: Any, sample_weight: Any, incremental: bool, classes: Any = None) -> Any:
        self._check_params()
        hidden = self._hidden()
        x, names = self._fit_features(X)
        _check_finite(x, "X")
        n, d = x.shape
        first = not hasattr(self, "_packed") or (not self.warm_start and not incremental)
        if not first and d != self.n_features_in_:
            raise ValueError(f"X has {d} features, but {type(self).__name__} is expecting {self.n_features_in_} "
                             "features as input.")
        sw = _sample_weight(sample_weight, n)
        y2 = self._targets(y, n, incremental, first, classes)
        dtype = x.dtype
        units = [d, *hidden, y2.shape[1]]
        rs = _random_state(self.random_state)
        if first:
            self._init_params(units, dtype, rs)
            self.n_iter_ = 0
            self.t_ = 0
            self.loss_curve_ = []
            self._no_improvement_count = 0
            if self.early_stopping:
                self.validation_scores_ = []
                self.best_validation_score_ = -np.inf
                self.best_loss_ = None
            else:
                self.best_loss_ = np.inf
                self.validation_scores_ = None
                self.best_validation_score_ = None
            self._best = self._packed.copy()
        else:
            if [int(v) for v in self._units] != units:
                raise ValueError(f"the network's shape {list(self._units)} does not match this fit's {units} (changed "
                                 "hidden_layer_sizes or outputs with warm_start or partial_fit)")
            if self._packed.dtype != dtype:
                self._packed = self._packed.astype(dtype)
        self.out_activation_ = self._head(y2)
        y2 = np.ascontiguousarray(y2, dtype=dtype)
        swt = None if sw is None else np.ascontiguousarray(sw, dtype=dtype)
        try:
            self._stochastic(x, y2, swt, incremental, rs, n)
        finally:
            self._fitted_on(x, names)
        if not np.isfinite(self._packed).all():
            raise ValueError("Solver produced non-finite parameter weights. The input data may contain large values "
                             "and need to be preprocessed.")
        return self

    def _head(self, y2: npt.NDArray[Any]) -> str:
        raise NotImplementedError

    def _new_optimizer(self) -> dict[str, Any]:
        p = self._packed
        st: dict[str, Any] = {"m": np.zeros_like(p), "t": 0, "lr": float(self.learning_rate_init)}
        st["v"] = np.zeros_like(p) if self.solver == "adam" else np.zeros(0, p.dtype)
        return st

    def _stochastic(self, x: npt.NDArray[Any], y2: npt.NDArray[Any], sw: npt.NDArray[Any] | None, incremental: bool,
                    rs: np.random.RandomState, n: int) -> None:
        opt = getattr(self, "_optimizer", None)
        if not incremental or opt is None or opt["m"].dtype != self._packed.dtype:
            opt = self._optimizer = self._new_optimizer()
        if self.early_stopping and incremental:
            raise ValueError("partial_fit does not support early_stopping=True")
        early = self.early_stopping
        x_val: Any
        y_val: Any
        sw_val: Any
        if early:
            train, val = self._val_split(n, y2, rs)
            x_val, y_val = x[val], self._val_targets(y2[val])
            sw_val = None if sw is None else sw[val].astype(np.float64)
        else:
            train = np.arange(n, dtype=np.int64)
            x_val, y_val, sw_val = None, None, None
        n_train = train.size
        batch = self._batch(n_train)
        units = [int(v) for v in self._units]
        # Positions in the training rows, shuffled in place each epoch: the same
        # swaps as scikit-learn's shuffle(sample_idx) (Fisher-Yates on an arange,
        # then a gather), so the same order, without the gather.
        sample_idx = np.arange(n_train, dtype=np.uint32)
        train32 = None if not early else np.ascontiguousarray(train, dtype=np.uint32)
        name = type(self).__name__
        start = time.perf_counter()
        self.n_iter_ = 0
        for _ in range(self.max_iter):
            if self.shuffle:
                rs.shuffle(sample_idx)
            order = sample_idx if train32 is None else train32[sample_idx]
            if self.solver == "adam":
                hyper = (float(self.learning_rate_init), float(self.beta_1), float(self.beta_2), float(self.epsilon))
            else:
                hyper = (opt["lr"], float(self.momentum), float(bool(self.nesterovs_momentum)), 0.0)
            snap = self._snapshot(opt)
            try:
                loss, t, err = _mlkern._learn_mlp_epoch(
                    x, y2, sw, order, units, self.activation, self.out_activation_, float(self.alpha), batch,
                    self.solver, hyper, self._packed, opt["m"], opt["v"], int(opt["t"]))
                if loss is None or err is not None:
                    raise err if err is not None else KeyboardInterrupt()
                opt["t"] = t
                self.n_iter_ += 1
                self.loss_ = float(loss) / n_train
                self.t_ += n_train
                self.loss_curve_.append(self.loss_)
                self._prepare()
                score = self._no_improvement(early, x_val, y_val, sw_val)
                if self.solver == "sgd" and self.learning_rate == "invscaling":
                    opt["lr"] = float(self.learning_rate_init) / (self.t_ + 1) ** self.power_t
            except BaseException:
                # Ctrl-C (or any failure) inside the epoch or its bookkeeping: the
                # last completed epoch's weights, optimiser and records stay.
                self._restore(snap, opt)
                raise
            if self.verbose:
                print(f"Iteration {self.n_iter_}, loss = {self.loss_:.8f}", flush=True)
                if early:
                    print(f"Validation score: {score:f}", flush=True)
            if self.callback is not None:
                info = {"epoch": self.n_iter_, "loss": self.loss_, "validation_score": score,
                        "samples_per_s": n_train * self.n_iter_ / max(time.perf_counter() - start, 1e-9)}
                if self.callback(info) is False:
                    break
            if self._no_improvement_count > self.n_iter_no_change:
                what = "Validation score" if early else "Training loss"
                msg = f"{what} did not improve more than tol={self.tol:f} for {self.n_iter_no_change} consecutive epochs."
                if self.solver == "sgd" and self.learning_rate == "adaptive" and opt["lr"] > 1e-6:
                    opt["lr"] /= 5.0
                    if self.verbose:
                        print(f"{msg} Setting learning rate to {opt['lr']:f}", flush=True)
                    self._no_improvement_count = 0
                else:
                    if self.verbose:
                        small = self.solver == "sgd" and self.learning_rate == "adaptive"
                        print(msg + (" Learning rate too small. Stopping." if small else " Stopping."), flush=True)
                    break
            if incremental:
                break
            if self.n_iter_ == self.max_iter:
                warnings.warn(f"{name} Stochastic Optimizer: Maximum iterations ({self.max_iter}) reached and the "
                              "optimization hasn't converged yet.", _convergence_warning(), stacklevel=4)
        if early:
            self._packed = self._best.copy()
            self._prepare()

    def _val_targets(self, y2: npt.NDArray[Any]) -> Any:
        return y2

    def _snapshot(self, opt: dict[str, Any]) -> tuple[Any, ...]:
        vs = self.validation_scores_
        return (self._packed.copy(), opt["m"].copy(), opt["v"].copy(), opt["t"], opt["lr"], self.n_iter_, self.t_,
                getattr(self, "loss_", None), len(self.loss_curve_), self.best_loss_, self._no_improvement_count,
                None if vs is None else len(vs), self.best_validation_score_, self._best)

    def _restore(self, snap: tuple[Any, ...], opt: dict[str, Any]) -> None:
        (packed, m, v, opt["t"], opt["lr"], self.n_iter_, self.t_, loss, n_curve, self.best_loss_,
         self._no_improvement_count, n_val, self.best_validation_score_, self._best) = snap
        self._packed[:], opt["m"][:], opt["v"][:] = packed, m, v
        if loss is None:
            self.__dict__.pop("loss_", None)
        else:
            self.loss_ = loss
        del self.loss_curve_[n_curve:]
        if n_val is not None and self.validation_scores_ is not None:
            del self.validation_scores_[n_val:]
        self._prepare()

    def _no_improvement(self, early: bool, x_val: Any, y_val: Any, sw_val: Any) -> float:
        """scikit-learn's ``_update_no_improvement_count``; returns the validation
        score (NaN without early stopping)."""
        if early:
            score = self._score_on(x_val, y_val, sw_val)
            if self.validation_scores_ is None or self.best_validation_score_ is None:
                self.validation_scores_, self.best_validation_score_ = [], -np.inf
            self.validation_scores_.append(score)
            if score < self.best_validation_score_ + self.tol:
                self._no_improvement_count += 1
            else:
                self._no_improvement_count = 0
            if score > self.best_validation_score_:
                self.best_validation_score_ = score
                self._best = self._packed.copy()
            return score
        best = float("inf") if self.best_loss_ is None else self.best_loss_
        if self.loss_curve_[-1] > best - self.tol:
            self._no_improvement_count += 1
        else:
            self._no_improvement_count = 0
        if self.loss_curve_[-1] < best:
            self.best_loss_ = self.loss_curve_[-1]
        return float("nan")

    # ------------------------------------------------------------ persistence

    def _check_loaded(self) -> None:
        self._check_params()
        self._hidden()
        u = np.asarray(self._units)
        if u.ndim != 1 or u.size < 2 or u.dtype.kind not in "iu" or (u < 1).any() or int(u[0]) != self.n_features_in_:
            raise ValueError("bad network shape")
        self._units = u.astype(np.int64)
        total = int(sum(int(a) * int(b) for a, b in zip(u[:-1], u[1:])) + int(u[1:].sum()))
        p = np.asarray(self._packed)
        if p.dtype not in _FLOAT_DTYPES or p.shape != (total,) or not np.isfinite(p).all():
            raise ValueError("the parameters do not match the network's shape")
        self._packed = np.ascontiguousarray(p)
        lc = np.asarray(self.loss_curve_, dtype=np.float64)
        if lc.ndim != 1:
            raise ValueError("bad loss_curve_")
        self.loss_curve_ = [float(v) for v in lc]
        for a in ("n_iter_", "t_"):
            v = np.asarray(getattr(self, a))
            if v.shape != () or v.dtype.kind not in "iu" or int(v) < 0:
                raise ValueError(f"bad {a}")
            setattr(self, a, int(v))
        self.out_activation_ = self._head_for_loaded()
        # The training bookkeeping a later partial_fit or warm start reads (the
        # optimiser's moments are not saved: such a fit starts a fresh optimiser).
        self._no_improvement_count = 0
        self._best = self._packed.copy()
        if self.early_stopping:
            self.validation_scores_, self.best_validation_score_, self.best_loss_ = [], -np.inf, None
        else:
            self.validation_scores_ = self.best_validation_score_ = None
            self.best_loss_ = min(self.loss_curve_) if self.loss_curve_ else np.inf
        if self.loss_curve_:
            self.loss_ = self.loss_curve_[-1]

    def _head_for_loaded(self) -> str:
        raise NotImplementedError


_MLP_DOC = """
    Training runs scikit-learn's epoch loop exactly (the same Glorot
    initialisation and epoch shuffles drawn from ``random_state``'s
    ``RandomState``, the same batches, loss, tolerance, ``n_iter_no_change``,
    adaptive learning rate and early stopping); each epoch's batches run in Rust,
    forward and backward on mlkern's GEMM, every batch cut into 64-row blocks
    spread over the pool's threads and their gradients summed in block order. So
    for a given ``random_state`` the fit follows scikit-learn's up to rounding (the
    early-stopping validation split is drawn from the same generator but picks
    other rows when stratified), and it is bitwise the same on any thread count.

    ``solver='lbfgs'`` is not implemented (a ``ValueError``). float32 ``X`` trains
    in float32 (the parameters are float32), anything else in float64.
    ``verbose`` prints scikit-learn's per-epoch lines; ``callback(info)`` gets
    ``{"epoch", "loss", "validation_score", "samples_per_s"}`` after every epoch
    and stops the fit by returning ``False``. Ctrl-C stops the fit between two
    batches, restores the last completed epoch's weights and raises
    ``KeyboardInterrupt``. Prediction runs in ``X``'s float dtype, 256-row blocks
    in parallel; one C-contiguous row takes a fast path with no Python-side
    validation beyond a dtype lookup.
"""

_PARAMS_DOC = """
    Parameters
    ----------
    hidden_layer_sizes : array-like of int, default=(100,)
    activation : {'identity', 'logistic', 'tanh', 'relu'}, default='relu'
    solver : {'adam', 'sgd'}, default='adam'
    alpha : float, default=0.0001 (L2 penalty)
    batch_size : int or 'auto', default='auto' (``min(200, n_samples)``)
    learning_rate : {'constant', 'invscaling', 'adaptive'}, default='constant' (sgd)
    learning_rate_init : float, default=0.001
    power_t : float, default=0.5 (invscaling)
    max_iter : int, default=200 (epochs)
    shuffle : bool, default=True
    random_state : int, RandomState or None
    tol : float, default=1e-4
    verbose : bool, default=False
    warm_start : bool, default=False
    momentum : float, default=0.9 (sgd)
    nesterovs_momentum : bool, default=True (sgd)
    early_stopping : bool, default=False
    validation_fraction : float, default=0.1
    beta_1, beta_2, epsilon : float, defaults 0.9, 0.999, 1e-8 (adam)
    n_iter_no_change : int, default=10
    max_fun : int, default=15000 (lbfgs only; accepted)
    callback : callable or None, default=None (mlkern's addition)

    Attributes
    ----------
    coefs_, intercepts_ : lists of arrays (views of one flat parameter buffer)
    loss_, loss_curve_, best_loss_, validation_scores_, best_validation_score_,
    n_iter_, t_, n_layers_, n_outputs_, out_activation_, n_features_in_,
    feature_names_in_
"""


def _init_mlp(self: _MLP, hidden_layer_sizes: Any, activation: str, solver: str, alpha: float, batch_size: Any,
              learning_rate: str, learning_rate_init: float, power_t: float, max_iter: int, shuffle: bool,
              random_state: Any, tol: float, verbose: Any, warm_start: bool, momentum: float,
              nesterovs_momentum: bool, early_stopping: bool, validation_fraction: float, beta_1: float,
              beta_2: float, epsilon: float, n_iter_no_change: Any, max_fun: int,
              callback: Callable[[dict[str, Any]], Any] | None) -> None:
    self.hidden_layer_sizes = hidden_layer_sizes
    self.activation = activation
    self.solver = solver
    self.alpha = alpha
    self.batch_size = batch_size
    self.learning_rate = learning_rate
    self.learning_rate_init = learning_rate_init
    self.power_t = power_t
    self.max_iter = max_iter
    self.shuffle = shuffle
    self.random_state = random_state
    self.tol = tol
    self.verbose = verbose
    self.warm_start = warm_start
    self.momentum = momentum
    self.nesterovs_momentum = nesterovs_momentum
    self.early_stopping = early_stopping
    self.validation_fraction = validation_fraction
    self.beta_1 = beta_1
    self.beta_2 = beta_2
    self.epsilon = epsilon
    self.n_iter_no_change = n_iter_no_change
    self.max_fun = max_fun
    self.callback = callback


@_public
class MLPClassifier(_MLP):
    __doc__ = """Multi-layer perceptron classifier (scikit-learn's ``MLPClassifier``):
    log loss with a logistic output for two classes and for multilabel indicator
    ``y``, softmax for more classes.
""" + _MLP_DOC + _PARAMS_DOC + """    classes_ : the labels (any type), or ``arange(n_labels)`` for multilabel ``y``
"""

    _estimator_type = "classifier"
    _array_attrs: ClassVar[tuple[str, ...]] = _MLP._array_attrs + ("classes_", "_multilabel")
    classes_: Any
    loss: str = "log_loss"

    def __init__(self, hidden_layer_sizes: Any = (100,), activation: str = "relu", *, solver: str = "adam",
                 alpha: float = 0.0001, batch_size: Any = "auto", learning_rate: str = "constant",
                 learning_rate_init: float = 0.001, power_t: float = 0.5, max_iter: int = 200, shuffle: bool = True,
                 random_state: Any = None, tol: float = 1e-4, verbose: Any = False, warm_start: bool = False,
                 momentum: float = 0.9, nesterovs_momentum: bool = True, early_stopping: bool = False,
                 validation_fraction: float = 0.1, beta_1: float = 0.9, beta_2: float = 0.999, epsilon: float = 1e-8,
                 n_iter_no_change: Any = 10, max_fun: int = 15000,
                 callback: Callable[[dict[str, Any]], Any] | None = None) -> None:
        _init_mlp(self, hidden_layer_sizes, activation, solver, alpha, batch_size, learning_rate, learning_rate_init,
                  power_t, max_iter, shuffle, random_state, tol, verbose, warm_start, momentum,
                  nesterovs_momentum, early_stopping, validation_fraction, beta_1, beta_2, epsilon, n_iter_no_change,
                  max_fun, callback)

    def __sklearn_tags__(self) -> Any:
        from sklearn.utils import ClassifierTags, InputTags, Tags, TargetTags

        return Tags(estimator_type="classifier", target_tags=TargetTags(required=True),
                    classifier_tags=ClassifierTags(multi_label=True), input_tags=InputTags())

    def fit(self, X: Any, y: Any, sample_weight: Any = None) -> MLPClassifier:
        """Trains the network on ``(X, y)`` from a fresh initialisation (or from
        the current weights with ``warm_start=True``)."""
        return self._fit(X, y, sample_weight, incremental=False)  # type: ignore[no-any-return]

    def partial_fit(self, X: Any, y: Any, sample_weight: Any = None, classes: Any = None) -> MLPClassifier:
        """One epoch over ``(X, y)``; ``classes`` (all labels) is required on the
        first call."""
        if self.solver not in ("sgd", "adam"):
            raise AttributeError(f"partial_fit is only available for stochastic optimizers. {self.solver} is not "
                                 "stochastic.")
        return self._fit(X, y, sample_weight, incremental=True, classes=classes)  # type: ignore[no-any-return]

    def _targets(self, y: Any, n: int, incremental: bool, first: bool, classes: Any) -> npt.NDArray[Any]:
        arr = np.asarray(y) if y is not None else None
        if arr is not None and arr.ndim == 2 and arr.shape[1] > 1:
            return self._multilabel_targets(arr, n, incremental, first)
        labels, codes = _classes(y, n, type(self).__name__)
        fitted = getattr(self, "classes_", None) is not None
        known = np.asarray(self.classes_) if fitted else None
        if incremental:
            # scikit-learn's _check_partial_fit_first_call.
            if not fitted and classes is None:
                raise ValueError("classes must be passed on the first call to partial_fit.")
            if classes is not None:
                given = np.unique(np.asarray(classes))
                if fitted and not np.array_equal(np.asarray(self.classes_), given):
                    raise ValueError(f"`classes={given!r}` is not the same as on last call to partial_fit, was: "
                                     f"{self.classes_!r}")
                known = given
        elif not fitted or not self.warm_start:
            known = labels
        elif set(labels.tolist()) != set(np.asarray(known).tolist()):
            raise ValueError("warm_start can only be used where `y` has the same classes as in the previous call to "
                             f"fit. Previously got {self.classes_}, `y` has {labels}")
        assert known is not None
        if not first and bool(getattr(self, "_multilabel", False)):
            raise ValueError("this classifier was fitted on multilabel y; pass a 2-D indicator y")
        pos = np.clip(np.searchsorted(known, labels), 0, max(known.size - 1, 0))
        if known.size == 0 or not (known[pos] == labels).all():
            raise ValueError(f"`y` has classes not in `self.classes_`. `self.classes_` has {known}. 'y' has {labels}.")
        k = known.size
        if k < 2:
            raise ValueError(f"This solver needs samples of at least 2 classes in the data, but the data contains only "
                             f"one class: {known[0] if k else None!r}")
        # Only now, with every check passed, does the estimator change.
        self.classes_, self._multilabel = known, np.asarray(False)
        idx = pos[codes]
        if k == 2:
            return (idx == 1).astype(np.float64).reshape(-1, 1)  # type: ignore[no-any-return]
        out = np.zeros((n, k), np.float64)
        out[np.arange(n), idx] = 1.0
        return out

    def _multilabel_targets(self, arr: npt.NDArray[Any], n: int, incremental: bool, first: bool) -> npt.NDArray[Any]:
        if arr.shape[0] != n:
            raise ValueError(f"Found input variables with inconsistent numbers of samples: [{n}, {arr.shape[0]}]")
        vals = np.unique(arr)
        if not np.isin(vals, (0, 1)).all():
            raise ValueError("Multioutput target data is not supported with label binarization; a 2-D y must be a "
                             "0/1 multilabel indicator matrix")
        k = arr.shape[1]
        if first and not incremental or not hasattr(self, "classes_"):
            self.classes_ = np.arange(k)
            self._multilabel = np.asarray(True)
        elif not bool(self._multilabel) or np.asarray(self.classes_).size != k:
            raise ValueError(f"y has {k} label columns, but this classifier was fitted on {np.asarray(self.classes_)}")
        return arr.astype(np.float64)

    def _strata(self, y2: npt.NDArray[Any]) -> npt.NDArray[np.int64] | None:
        # scikit-learn stratifies only with one output column (two classes).
        return y2[:, 0].astype(np.int64) if y2.shape[1] == 1 else None

    def _head(self, y2: npt.NDArray[Any]) -> str:
        return "softmax" if y2.shape[1] > 1 and not bool(self._multilabel) else "logistic"

    def _head_for_loaded(self) -> str:
        self._multilabel = np.asarray(bool(np.asarray(self._multilabel)))
        k = np.asarray(self.classes_).size
        cols = k if (bool(self._multilabel) or k > 2) else 1
        if k < 2 or cols != int(self._units[-1]):
            raise ValueError("classes_ does not match the network's outputs")
        return "softmax" if cols > 1 and not bool(self._multilabel) else "logistic"

    def _val_targets(self, y2: npt.NDArray[Any]) -> Any:
        return self._decode(y2)

    def _decode(self, p: npt.NDArray[Any]) -> npt.NDArray[Any]:
        if bool(self._multilabel):
            return (p > 0.5).astype(np.int64)
        if p.shape[1] == 1:
            return self.classes_[(p[:, 0] > 0.5).astype(np.intp)]  # type: ignore[no-any-return]
        return self.classes_[np.argmax(p, axis=1)]  # type: ignore[no-any-return]

    def _score_on(self, x: npt.NDArray[Any], y: Any, sw: npt.NDArray[np.float64] | None) -> float:
        p = self._forward(x)
        if not np.isfinite(p).all():
            return float("nan")
        pred = self._decode(p)
        hit = (pred == y).all(axis=1) if pred.ndim == 2 else (pred == y)
        return float(np.average(hit.astype(np.float64), weights=sw))

    def predict(self, X: Any) -> npt.NDArray[Any]:
        """The predicted classes (an indicator matrix for multilabel ``y``)."""
        if bool(getattr(self, "_multilabel", False)):
            return self._decode(self._forward(X))
        idx = self._forward(X, "labels")  # checks fitted before classes_ is read
        return self.classes_[idx]  # type: ignore[no-any-return]

    def predict_proba(self, X: Any) -> npt.NDArray[Any]:
        """Class probabilities ``(n, n_classes)`` in ``classes_`` order."""
        return self._forward(X, "proba")

    def predict_log_proba(self, X: Any) -> npt.NDArray[Any]:
        """``log(predict_proba(X))``."""
        p = self.predict_proba(X)
        return np.log(p, out=p)  # type: ignore[no-any-return]

    def score(self, X: Any, y: Any, sample_weight: Any = None) -> float:
        """Mean accuracy (subset accuracy for multilabel ``y``)."""
        pred = self.predict(X)
        y = np.asarray(y)
        hit = (pred == y).all(axis=1) if pred.ndim == 2 else (pred == y)
        return float(np.average(hit.astype(np.float64), weights=sample_weight))


@_public
class MLPRegressor(_MLP):
    __doc__ = """Multi-layer perceptron regressor (scikit-learn's ``MLPRegressor``):
    half squared error with an identity output (``loss='squared_error'``) or half
    Poisson deviance with an exponential output (``loss='poisson'``), one or
    several targets.
""" + _MLP_DOC + _PARAMS_DOC

    _estimator_type = "regressor"
    _array_attrs: ClassVar[tuple[str, ...]] = _MLP._array_attrs + ("_y_ndim",)

    def __init__(self, loss: str = "squared_error", hidden_layer_sizes: Any = (100,), activation: str = "relu", *,
                 solver: str = "adam", alpha: float = 0.0001, batch_size: Any = "auto",
                 learning_rate: str = "constant", learning_rate_init: float = 0.001, power_t: float = 0.5,
                 max_iter: int = 200, shuffle: bool = True, random_state: Any = None, tol: float = 1e-4,
                 verbose: Any = False, warm_start: bool = False, momentum: float = 0.9,
                 nesterovs_momentum: bool = True, early_stopping: bool = False, validation_fraction: float = 0.1,
                 beta_1: float = 0.9, beta_2: float = 0.999, epsilon: float = 1e-8, n_iter_no_change: Any = 10,
                 max_fun: int = 15000, callback: Callable[[dict[str, Any]], Any] | None = None) -> None:
        _init_mlp(self, hidden_layer_sizes, activation, solver, alpha, batch_size, learning_rate, learning_rate_init,
                  power_t, max_iter, shuffle, random_state, tol, verbose, warm_start, momentum,
                  nesterovs_momentum, early_stopping, validation_fraction, beta_1, beta_2, epsilon, n_iter_no_change,
                  max_fun, callback)
        self.loss = loss

    def __sklearn_tags__(self) -> Any:
        from sklearn.utils import RegressorTags, Tags, TargetTags

        return Tags(estimator_type="regressor",
                    target_tags=TargetTags(required=True, multi_output=True, single_output=True),
                    regressor_tags=RegressorTags())

    def _check_params(self) -> None:
        if self.loss not in ("squared_error", "poisson"):
            raise ValueError(f"The 'loss' parameter must be 'squared_error' or 'poisson', got {self.loss!r}")
        super()._check_params()

    def fit(self, X: Any, y: Any, sample_weight: Any = None) -> MLPRegressor:
        """Trains the network on ``(X, y)``."""
        return self._fit(X, y, sample_weight, incremental=False)  # type: ignore[no-any-return]

    def partial_fit(self, X: Any, y: Any, sample_weight: Any = None) -> MLPRegressor:
        """One epoch over ``(X, y)``."""
        if self.solver not in ("sgd", "adam"):
            raise AttributeError(f"partial_fit is only available for stochastic optimizers. {self.solver} is not "
                                 "stochastic.")
        return self._fit(X, y, sample_weight, incremental=True)  # type: ignore[no-any-return]

    def _targets(self, y: Any, n: int, incremental: bool, first: bool, classes: Any) -> npt.NDArray[Any]:
        arr = _as_targets(y, n, type(self).__name__)
        if arr.ndim == 2 and arr.shape[1] == 1:
            from mlkern.learn._base import _data_conversion_warning

            warnings.warn("A column-vector y was passed when a 1d array was expected. Please change the shape of y "
                          "to (n_samples, ), for example using ravel().", _data_conversion_warning(), stacklevel=4)
            arr = arr[:, 0]
        if self.loss == "poisson" and (arr < 0).any():
            raise ValueError("Some value(s) of y are negative which is not allowed for Poisson regression.")
        if first:
            self._y_ndim = np.asarray(arr.ndim, dtype=np.int64)
        return arr.reshape(n, -1)

    def _head(self, y2: npt.NDArray[Any]) -> str:
        return "exp" if self.loss == "poisson" else "identity"

    def _head_for_loaded(self) -> str:
        nd = np.asarray(self._y_ndim)
        if nd.shape != () or int(nd) not in (1, 2) or (int(nd) == 1 and int(self._units[-1]) != 1):
            raise ValueError("bad _y_ndim")
        self._y_ndim = nd.astype(np.int64)
        return "exp" if self.loss == "poisson" else "identity"

    def predict(self, X: Any) -> npt.NDArray[Any]:
        """Predictions: ``(n,)`` for one target, else ``(n, n_outputs)``."""
        p = self._forward(X)
        return p[:, 0] if p.shape[1] == 1 else p

    def _score_on(self, x: npt.NDArray[Any], y: Any, sw: npt.NDArray[np.float64] | None) -> float:
        p = self._forward(x)
        if not np.isfinite(p).all():
            return float("nan")
        return _r2(y, p, sw)

    def score(self, X: Any, y: Any, sample_weight: Any = None) -> float:
        """The coefficient of determination R² (uniform average over targets)."""
        p = self.predict(X)
        return _r2(np.asarray(y, np.float64), p, None if sample_weight is None else np.asarray(sample_weight, np.float64))

