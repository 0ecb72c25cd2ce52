"""scikit-learn-compatible estimators trained on mlkern's kernels.

``LinearRegression`` and ``Ridge`` solve the normal equations of the centred data
(one pass over ``X`` on the packed GEMM, then a blocked Cholesky factorisation).
``LogisticRegression`` minimises scikit-learn's objective by L-BFGS, each loss and
gradient evaluation one fused, parallel pass over ``X``.

Names, parameters, defaults, fitted attributes and return layouts are
scikit-learn's; the estimators pass ``sklearn.utils.estimator_checks``
(``tests/test_learn.py`` runs them). scikit-learn itself is not needed: it is
imported only by scikit-learn's own machinery (``__sklearn_tags__``).

Reproducibility: a fit's result does not depend on the thread count
(``mlkern.set_num_threads``). The rows are summed in chunks whose size depends only
on the shape of ``X`` and the chunks are added in order.

Persistence: estimators pickle, and ``est.save(path)`` / ``mlkern.learn.load(path)``
(or ``Cls.load(path)``) write and read an ``.npz`` file of plain arrays with a
JSON header (``format``: ``"mlkern.learn/1"``), read with ``allow_pickle=False``:
loading never runs code from the file, and a corrupt, truncated or tampered file
is a ``ValueError``.
"""

from __future__ import annotations

import inspect
import json
import numbers
import os
import sys
import time
import warnings
from typing import Any, Callable, ClassVar

import numpy as np
import numpy.typing as npt

from mlkern import _mlkern

__all__ = ["ConvergenceWarning", "LinearRegression", "LogisticRegression", "NotFittedError", "Ridge", "load"]

_FORMAT = "mlkern.learn/1"
_FLOAT_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))


class NotFittedError(ValueError, AttributeError):
    """An estimator used before ``fit`` (a ``ValueError`` and an ``AttributeError``,
    as scikit-learn's ``NotFittedError``)."""


_SK_NOT_FITTED: list[type[Exception]] = []


def _not_fitted(message: str) -> Exception:
    """Our :class:`NotFittedError`; when scikit-learn is loaded, one that is also
    its ``NotFittedError`` (so ``except sklearn.exceptions.NotFittedError`` and
    scikit-learn's checks catch it)."""
    sk = sys.modules.get("sklearn.exceptions")
    if sk is None:
        return NotFittedError(message)
    if not _SK_NOT_FITTED:
        _SK_NOT_FITTED.append(type("NotFittedError", (NotFittedError, sk.NotFittedError), {"__module__": __name__}))
    return _SK_NOT_FITTED[0](message)


class ConvergenceWarning(UserWarning):
    """The solver stopped before meeting its tolerance (as scikit-learn's)."""


# ---------------------------------------------------------------- input checks

def _is_sparse(X: Any) -> bool:
    return hasattr(X, "tocsr") and hasattr(X, "nnz") and hasattr(X, "format")


def _feature_names(X: Any) -> npt.NDArray[Any] | None:
    cols = getattr(X, "columns", None)
    if cols is None or not hasattr(X, "iloc"):
        return None
    names = np.asarray(list(cols), dtype=object)
    if names.size and all(isinstance(c, str) for c in names):
        return names
    return None


def _as_features(X: Any, name: str, estimator: str) -> npt.NDArray[Any]:
    """``X`` as a C-contiguous float32/float64 2-D array (float32 and float64 are
    kept, every other real dtype becomes float64, as scikit-learn converts)."""
    if _is_sparse(X):
        raise TypeError(f"{estimator} does not accept sparse input ({type(X).__name__}); densify it with X.toarray()")
    if X is None:
        raise ValueError(f"{estimator} requires {name} to be passed, but {name} is None")
    if hasattr(X, "iloc") and hasattr(X, "dtypes"):  # pandas: one array
        X = X.to_numpy()
    arr = np.asarray(X)
    if arr.dtype.kind == "c":
        raise ValueError(f"Complex data not supported: {name} has dtype {arr.dtype}")
    if arr.dtype.kind in "OUS":
        try:
            arr = arr.astype(np.float64)
        except (TypeError, ValueError) as e:  # same type as NumPy's, naming X
            raise type(e)(f"{name} must hold numbers; could not convert dtype {arr.dtype} to float: {e}") from None
    elif arr.dtype not in _FLOAT_DTYPES:
        if arr.dtype.kind not in "biuf":
            raise TypeError(f"{name} must hold numbers, got dtype {arr.dtype}")
        arr = arr.astype(np.float64)
    if arr.ndim != 2:
        if arr.ndim < 2:
            raise ValueError(
                f"Expected 2D array, got {arr.ndim}D array instead: {name} of shape {arr.shape}. Reshape your data "
                "either using array.reshape(-1, 1) if your data has a single feature or array.reshape(1, -1) if it "
                "contains a single sample.")
        raise ValueError(f"Found array with dim {arr.ndim}, while dim <= 2 is required: {name} of shape {arr.shape}")
    n, d = arr.shape
    if n == 0:
        raise ValueError(f"Found array with 0 sample(s) (shape={arr.shape}) while a minimum of 1 is required by {estimator}.")
    if d == 0:
        raise ValueError(f"Found array with 0 feature(s) (shape={arr.shape}) while a minimum of 1 is required by {estimator}.")
    return np.ascontiguousarray(arr)


def _check_finite(a: npt.NDArray[Any], name: str) -> None:
    if not np.isfinite(a).all():
        raise ValueError(f"Input {name} contains NaN or infinity.")


def _as_targets(y: Any, n: int, estimator: str) -> npt.NDArray[np.float64]:
    if y is None:
        raise ValueError(f"{estimator} requires y to be passed, but the target y is None")
    if _is_sparse(y):
        raise TypeError("y must be dense; densify it with y.toarray()")
    arr = np.asarray(y)
    if arr.dtype.kind in "OUSc":
        try:
            arr = arr.astype(np.float64)
        except (TypeError, ValueError) as e:
            raise ValueError(f"y must hold numbers: {e}") from None
    arr = np.asarray(arr, dtype=np.float64)
    if arr.ndim not in (1, 2) or arr.shape[0] != n:
        raise ValueError(f"Found input variables with inconsistent numbers of samples: X has {n}, y has shape {arr.shape}")
    _check_finite(arr, "y")
    return arr


def _sample_weight(sample_weight: Any, n: int) -> npt.NDArray[np.float64] | None:
    if sample_weight is None:
        return None
    sw = np.asarray(sample_weight, dtype=np.float64)
    if sw.ndim == 0:
        sw = np.full(n, float(sw))
    if sw.ndim != 1 or sw.shape[0] != n:
        raise ValueError(f"sample_weight.shape == {sw.shape}, expected ({n},)!")
    if not np.isfinite(sw).all():
        raise ValueError("Input sample_weight contains NaN or infinity.")
    if (sw < 0).any():
        raise ValueError("Negative values in data passed to sample_weight")
    return np.ascontiguousarray(sw)


def _classes(y: Any, n: int, estimator: str) -> tuple[npt.NDArray[Any], npt.NDArray[np.uint32]]:
    if y is None:
        raise ValueError(f"{estimator} requires y to be passed, but the target y is None")
    arr = np.asarray(y)
    if arr.ndim == 2 and arr.shape[1] == 1:
        warnings.warn("A column-vector y was passed when a 1d array was expected. Please change the shape of y to "
                      "(n_samples, ), for example using ravel().", _data_conversion_warning(), stacklevel=3)
        arr = arr[:, 0]
    if arr.ndim != 1:
        raise ValueError(f"y should be a 1d array, got an array of shape {arr.shape} instead.")
    if arr.shape[0] != n:
        raise ValueError(f"Found input variables with inconsistent numbers of samples: [{n}, {arr.shape[0]}]")
    if arr.dtype.kind == "f":
        if not np.isfinite(arr).all():
            raise ValueError("Input y contains NaN or infinity.")
        if not np.array_equal(arr, np.round(arr)):
            raise ValueError("Unknown label type: continuous. Maybe you are trying to fit a classifier, which expects "
                             "discrete classes on a regression target with continuous values.")
    if arr.dtype.kind == "O":
        if any(x is None or (isinstance(x, float) and not np.isfinite(x)) for x in arr):
            raise ValueError("Input y contains NaN or None.")
    if arr.dtype.kind in "biu" and arr.size:
        # Integer labels of a modest range: a counting pass instead of a sort.
        lo, hi = int(arr.min()), int(arr.max())
        if hi - lo < 1 << 20:
            offset = (arr.astype(np.int64) - lo) if arr.dtype.kind != "b" else arr.astype(np.int64)
            present = np.flatnonzero(np.bincount(offset, minlength=hi - lo + 1))
            lut = np.zeros(hi - lo + 1, np.uint32)
            lut[present] = np.arange(present.size, dtype=np.uint32)
            return (present + lo).astype(arr.dtype), lut[offset]
    classes, codes = np.unique(arr, return_inverse=True)
    return classes, codes.reshape(-1).astype(np.uint32)


def _data_conversion_warning() -> type[Warning]:
    try:
        from sklearn.exceptions import DataConversionWarning

        return DataConversionWarning  # type: ignore[no-any-return]
    except ImportError:  # pragma: no cover - scikit-learn is optional
        return UserWarning


def _convergence_warning() -> type[Warning]:
    try:
        from sklearn.exceptions import ConvergenceWarning as SkConvergence

        return SkConvergence  # type: ignore[no-any-return]
    except ImportError:  # pragma: no cover - scikit-learn is optional
        return ConvergenceWarning


# ---------------------------------------------------------------- the base class

class _Estimator:
    """get_params/set_params/repr from the constructor's signature, fitted checks,
    feature-name bookkeeping, pickling and the safe file format."""

    _estimator_type: ClassVar[str]
    _array_attrs: ClassVar[tuple[str, ...]] = ()

    @classmethod
    def _param_names(cls) -> list[str]:
        sig = inspect.signature(cls.__init__)
        return [p for p in sig.parameters if p != "self"]

    def get_params(self, deep: bool = True) -> dict[str, Any]:
        """The constructor's parameters (scikit-learn convention)."""
        return {k: getattr(self, k) for k in self._param_names()}

    def set_params(self, **params: Any) -> Any:
        """Sets constructor parameters (scikit-learn convention)."""
        valid = self._param_names()
        for k, v in params.items():
            if k not in valid:
                raise ValueError(f"Invalid parameter {k!r} for estimator {type(self).__name__}. Valid parameters are: {valid!r}.")
            setattr(self, k, v)
        return self

    def __repr__(self) -> str:
        sig = inspect.signature(type(self).__init__)
        shown = []
        for k, p in sig.parameters.items():
            if k == "self":
                continue
            v = getattr(self, k)
            same = v is p.default or (type(v) is type(p.default) and v == p.default)
            if not same:
                shown.append(f"{k}={v!r}")
        return f"{type(self).__name__}({', '.join(shown)})"

    def _check_fitted(self) -> None:
        if not hasattr(self, "n_features_in_"):
            raise _not_fitted(f"This {type(self).__name__} instance is not fitted yet. Call 'fit' with appropriate "
                              "arguments before using this estimator.")

    def __sklearn_is_fitted__(self) -> bool:
        return hasattr(self, "n_features_in_")

    def _fit_features(self, X: Any) -> tuple[npt.NDArray[Any], npt.NDArray[Any] | None]:
        """``X`` checked for ``fit``, and its feature names (stored by
        :meth:`_fitted_on` only once the fit succeeded)."""
        return _as_features(X, "X", type(self).__name__), _feature_names(X)

    def _fitted_on(self, x: npt.NDArray[Any], names: npt.NDArray[Any] | None) -> None:
        if names is not None:
            self.feature_names_in_ = names
        elif hasattr(self, "feature_names_in_"):
            del self.feature_names_in_
        self.n_features_in_ = x.shape[1]
        self._prepare()

    def _predict_features(self, X: Any) -> npt.NDArray[Any]:
        self._check_fitted()
        names = _feature_names(X)
        fitted = getattr(self, "feature_names_in_", None)
        est = type(self).__name__
        if names is not None and fitted is not None:
            if len(names) != len(fitted) or not (names == fitted).all():
                raise ValueError("The feature names should match those that were passed during fit.")
        elif names is not None and fitted is None:
            warnings.warn(f"X has feature names, but {est} was fitted without feature names", UserWarning, stacklevel=3)
        elif names is None and fitted is not None and hasattr(X, "shape"):
            warnings.warn(f"X does not have valid feature names, but {est} was fitted with feature names",
                          UserWarning, stacklevel=3)
        x = _as_features(X, "X", est)
        if x.shape[1] != self.n_features_in_:
            raise ValueError(f"X has {x.shape[1]} features, but {est} is expecting {self.n_features_in_} features as input.")
        return x

    # -- persistence

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        for cache in ("_fast", "_source", "_b", "_named"):
            state.pop(cache, None)
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        if hasattr(self, "n_features_in_"):
            self._prepare()

    def _prepare(self) -> None:
        """Caches what prediction needs (after fit, load or unpickling)."""

    def save(self, path: str | os.PathLike[str]) -> None:
        """Writes the fitted estimator to ``path`` as an ``.npz`` of plain arrays and
        a JSON header (no pickle): see the module docstring."""
        self._check_fitted()
        params = {}
        for k, v in self.get_params().items():
            if isinstance(v, (np.integer, np.floating, np.bool_)):
                v = v.item()
            if not (v is None or isinstance(v, (bool, int, float, str))):
                if k in ("random_state", "callback") or (k == "class_weight" and isinstance(v, dict)):
                    v = None if k != "class_weight" else {str(a): float(b) for a, b in v.items()}
                    if k == "class_weight":
                        raise TypeError("cannot save an estimator with a class_weight dict; use 'balanced' or None")
                else:
                    raise TypeError(f"cannot save parameter {k}={v!r}: only numbers, strings, bools and None are stored")
            params[k] = v
        arrays = {}
        for a in self._array_attrs + ("feature_names_in_",):
            if hasattr(self, a):
                v = np.asarray(getattr(self, a))
                if v.dtype == object:
                    try:
                        v = v.astype(str)
                    except (TypeError, ValueError):
                        raise TypeError(f"cannot save {a}: object arrays are not stored") from None
                arrays[a] = v
        header = {"format": _FORMAT, "estimator": type(self).__name__, "params": params,
                  "n_features_in_": int(self.n_features_in_), "arrays": sorted(arrays)}
        contents: dict[str, Any] = {"__header__": np.array(json.dumps(header)), **arrays}
        with open(path, "wb") as fh:
            np.savez(fh, **contents)

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> Any:
        """Reads an estimator written by :meth:`save`; it must be of this class."""
        est = load(path)
        if type(est) is not cls:
            raise ValueError(f"{os.fspath(path)!r} holds a {type(est).__name__}, not a {cls.__name__}")
        return est

    def _check_loaded(self) -> None:
        """Raises ValueError when the loaded arrays are inconsistent."""


def load(path: str | os.PathLike[str]) -> Any:
    """Reads an estimator written by ``save`` (any of this module's classes).

    The file is read with ``allow_pickle=False`` and every array is checked against
    the header; anything unexpected is a ``ValueError``."""
    name = os.fspath(path)
    try:
        with np.load(path, allow_pickle=False) as f:
            header = json.loads(str(f["__header__"]))
            if not isinstance(header, dict) or header.get("format") != _FORMAT:
                raise ValueError(f"not an {_FORMAT} file")
            listed = header.get("arrays")
            if not isinstance(listed, list) or set(listed) != set(f.files) - {"__header__"}:
                raise ValueError("the arrays do not match the header")
            arrays = {k: f[k] for k in listed}
    except FileNotFoundError:
        raise
    except Exception as e:  # zipfile.BadZipFile, EOFError, OSError, KeyError, JSON errors
        raise ValueError(f"{name!r} is not a readable mlkern.learn file ({type(e).__name__}: {e})") from None
    cls = _REGISTRY.get(header.get("estimator"))  # type: ignore[arg-type]
    if cls is None:
        raise ValueError(f"{name!r}: unknown estimator {header.get('estimator')!r}")
    params = header.get("params")
    if not isinstance(params, dict) or set(params) - set(cls._param_names()):
        raise ValueError(f"{name!r}: unexpected parameters for {cls.__name__}")
    if any(not (v is None or isinstance(v, (bool, int, float, str))) for v in params.values()):
        raise ValueError(f"{name!r}: parameters must be numbers, strings, bools or None")
    nfeat = header.get("n_features_in_")
    if not isinstance(nfeat, int) or isinstance(nfeat, bool) or not 1 <= nfeat <= 1 << 31:
        raise ValueError(f"{name!r}: bad n_features_in_")
    for k, v in arrays.items():
        if k not in cls._array_attrs + ("feature_names_in_",):
            raise ValueError(f"{name!r}: unexpected array {k!r}")
        if v.dtype == object:
            raise ValueError(f"{name!r}: object arrays are refused")
    try:
        est = cls(**params)
        est.n_features_in_ = nfeat
        for k, v in arrays.items():
            if k == "feature_names_in_":
                v = v.astype(object)
            setattr(est, k, v)
        est._check_loaded()
        est._prepare()
    except (TypeError, ValueError, KeyError, AttributeError) as e:
        raise ValueError(f"{name!r} is not a valid {cls.__name__} file ({e})") from None
    return est


# ---------------------------------------------------------------- linear models

def _num_param(v: Any, name: str, low: float, low_open: bool, high: float = float("inf")) -> float:
    if isinstance(v, (bool, np.bool_)) or not isinstance(v, numbers.Real):
        raise TypeError(f"The '{name}' parameter must be a real number, got {v!r}")
    f = float(v)
    ok = (f > low if low_open else f >= low) and f <= high and not np.isnan(f)
    if not ok:
        raise ValueError(f"The '{name}' parameter must be {'>' if low_open else '>='} {low}, got {v!r}")
    return f


def _int_param(v: Any, name: str, low: int) -> int:
    if isinstance(v, (bool, np.bool_)) or not isinstance(v, numbers.Integral) or int(v) < low:
        raise ValueError(f"The '{name}' parameter must be an int >= {low}, got {v!r}")
    return int(v)


class _LinearPredictor(_Estimator):
    """Prediction of a fitted ``coef_`` / ``intercept_`` model through the Rust
    kernels, with a fast path for C-contiguous float arrays (no copy, no Python-side
    validation beyond a dtype lookup; the kernel checks the feature count and
    finiteness)."""

    _fast: dict[np.dtype[Any], npt.NDArray[Any]]
    _b: npt.NDArray[np.float64]
    coef_: Any
    intercept_: Any

    def _model(self) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
        """``(coef (cols, d), intercept (cols,))`` in float64."""
        coef = np.asarray(self.coef_, dtype=np.float64)
        coef = coef.reshape(-1, coef.shape[-1])
        # intercept_ is 0.0 without an intercept (scikit-learn), whatever the targets.
        b = np.broadcast_to(np.asarray(self.intercept_, np.float64), (coef.shape[0],))
        return coef, b

    def _prepare(self) -> None:
        coef, b = self._model()
        self._b = np.ascontiguousarray(b.reshape(-1))
        self._fast = {dt: np.ascontiguousarray(coef, dtype=dt) for dt in _FLOAT_DTYPES}
        self._named = hasattr(self, "feature_names_in_")
        # What the cache was built from: assigning new coef_/intercept_ rebuilds it.
        self._source = (self.coef_, self.intercept_)

    def _rows(self, X: Any) -> tuple[npt.NDArray[Any], npt.NDArray[Any]]:
        fast = getattr(self, "_fast", None)
        if fast is not None and (self._source[0] is not self.coef_ or self._source[1] is not self.intercept_):
            self._prepare()
            fast = self._fast
        if fast is not None and type(X) is np.ndarray and X.ndim == 2 and not self._named:
            w = fast.get(X.dtype)
            if w is not None and X.shape[1] == w.shape[1]:
                return X, w
        self._check_fitted()
        if fast is None:
            self._prepare()
        x = self._predict_features(X)
        return x, self._fast[x.dtype]

    def _scores(self, X: Any) -> npt.NDArray[Any]:
        x, w = self._rows(X)
        return _mlkern._learn_linear_scores(x, w, self._b, False)


class _LinearRegressorBase(_LinearPredictor):
    _estimator_type = "regressor"
    _array_attrs = ("coef_", "intercept_")

    def __sklearn_tags__(self) -> Any:
        from sklearn.utils import RegressorTags, Tags, TargetTags

        tags = Tags(estimator_type="regressor", target_tags=TargetTags(required=True, multi_output=True,
                                                                      single_output=True),
                    regressor_tags=RegressorTags())
        return tags

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

    def predict(self, X: Any) -> npt.NDArray[Any]:
        """``X @ coef_.T + intercept_``: ``(n,)`` for a 1-D ``y`` in ``fit``, else
        ``(n, n_targets)``; in ``X``'s float dtype."""
        s = self._scores(X)
        return s[:, 0] if np.ndim(self.coef_) == 1 else s

    def score(self, X: Any, y: Any, sample_weight: Any = None) -> float:
        """The coefficient of determination R² (uniform average over targets)."""
        y = np.asarray(y, dtype=np.float64)
        p = np.asarray(self.predict(X), dtype=np.float64).reshape(y.shape)
        sw = np.ones(y.shape[0]) if sample_weight is None else np.asarray(sample_weight, np.float64)
        yy, pp = y.reshape(y.shape[0], -1), p.reshape(y.shape[0], -1)
        num = (sw[:, None] * (yy - pp) ** 2).sum(axis=0)
        mean = np.average(yy, axis=0, weights=sw)
        den = (sw[:, None] * (yy - mean) ** 2).sum(axis=0)
        with np.errstate(divide="ignore", invalid="ignore"):
            r2 = np.where(den > 0, 1 - num / np.where(den > 0, den, 1), np.where(num == 0, 1.0, 0.0))
        return float(np.mean(r2))

    def _check_loaded(self) -> None:
        coef = np.asarray(self.coef_)
        if coef.dtype not in _FLOAT_DTYPES or coef.ndim not in (1, 2) or coef.shape[-1] != self.n_features_in_:
            raise ValueError("coef_ does not match n_features_in_")
        b = np.asarray(self.intercept_)
        if b.size not in (1, 1 if coef.ndim == 1 else coef.shape[0]) or b.dtype.kind != "f":
            raise ValueError("intercept_ does not match coef_")
        if b.ndim == 0:
            self.intercept_ = b.item() if b.dtype == np.float64 else b[()]
        if not (np.isfinite(coef).all() and np.isfinite(b).all()):
            raise ValueError("non-finite coefficients")


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


class LogisticRegression(_LinearPredictor):
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

    _estimator_type = "classifier"
    _array_attrs = ("coef_", "intercept_", "classes_", "n_iter_")
    classes_: Any
    n_iter_: Any

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

    def __sklearn_tags__(self) -> Any:
        from sklearn.utils import ClassifierTags, Tags, TargetTags

        return Tags(estimator_type="classifier", target_tags=TargetTags(required=True),
                    classifier_tags=ClassifierTags())

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

    def decision_function(self, X: Any) -> npt.NDArray[Any]:
        """Scores ``X @ coef_.T + intercept_``: ``(n,)`` for two classes, else
        ``(n, n_classes)``."""
        s = self._scores(X)
        return s[:, 0] if s.shape[1] == 1 else s

    def predict_proba(self, X: Any) -> npt.NDArray[Any]:
        """Class probabilities ``(n, n_classes)`` in ``X``'s float dtype (the
        logistic function for two classes, the softmax otherwise)."""
        x, w = self._rows(X)
        return _mlkern._learn_linear_scores(x, w, self._b, True)

    def predict_log_proba(self, X: Any) -> npt.NDArray[Any]:
        """``log(predict_proba(X))``."""
        with np.errstate(divide="ignore"):
            return np.log(self.predict_proba(X))  # type: ignore[no-any-return]

    def predict(self, X: Any) -> npt.NDArray[Any]:
        """The class of largest score (``classes_[1]`` where the binary score is > 0)."""
        x, w = self._rows(X)
        return self.classes_[_mlkern._learn_linear_labels(x, w, self._b)]  # type: ignore[no-any-return]

    def score(self, X: Any, y: Any, sample_weight: Any = None) -> float:
        """Mean accuracy on ``(X, y)`` (weighted by ``sample_weight``)."""
        hit = (self.predict(X) == np.asarray(y)).astype(np.float64)
        return float(np.average(hit, weights=sample_weight))

    def _check_loaded(self) -> None:
        coef = np.asarray(self.coef_)
        k = np.asarray(self.classes_).size
        cols = 1 if k == 2 else k
        if k < 2 or coef.dtype not in _FLOAT_DTYPES or coef.shape != (cols, self.n_features_in_):
            raise ValueError("coef_ does not match classes_ and n_features_in_")
        b = np.asarray(self.intercept_)
        if b.shape != (cols,) or b.dtype.kind != "f" or not (np.isfinite(coef).all() and np.isfinite(b).all()):
            raise ValueError("intercept_ does not match coef_")
        n_iter = np.asarray(self.n_iter_)
        if n_iter.shape != (1,) or n_iter.dtype.kind not in "iu":
            raise ValueError("bad n_iter_")


_REGISTRY: dict[str, type[_Estimator]] = {c.__name__: c for c in (LinearRegression, Ridge, LogisticRegression)}
