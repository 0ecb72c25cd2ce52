"""What every mlkern.learn estimator shares: input checks as scikit-learn's
``check_array``, the fitted-state and feature-name bookkeeping, get/set_params,
pickling, the safe ``.npz`` format, and prediction of linear models through the Rust
kernels."""

from __future__ import annotations

import inspect
import json
import numbers
import os
import sys
import warnings
from typing import Any, ClassVar, TypeVar

import numpy as np
import numpy.typing as npt

from mlkern import _mlkern

_FORMAT = "mlkern.learn/1"
_FLOAT_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))


class NotFittedError(ValueError, AttributeError):
    """An estimator used before ``fit`` (a ``ValueError`` and an ``AttributeError``,
    as scikit-learn's ``NotFittedError``)."""

    __module__ = "mlkern.learn"


_SK_NOT_FITTED: list[type[Exception]] = []


def _not_fitted(message: str) -> Exception:
    """Our :class:`NotFittedError`; when scikit-learn is loaded, one that is also
    its ``NotFittedError`` (so ``except sklearn.exceptions.NotFittedError`` and
    scikit-learn's checks catch it)."""
    sk = sys.modules.get("sklearn.exceptions")
    if sk is None:
        return NotFittedError(message)
    if not _SK_NOT_FITTED:
        _SK_NOT_FITTED.append(type("NotFittedError", (NotFittedError, sk.NotFittedError), {"__module__": "mlkern.learn"}))
    return _SK_NOT_FITTED[0](message)


class ConvergenceWarning(UserWarning):
    """The solver stopped before meeting its tolerance (as scikit-learn's)."""

    __module__ = "mlkern.learn"


_REGISTRY: dict[str, type[Any]] = {}
_C = TypeVar("_C", bound=type)


def _public(cls: _C) -> _C:
    """Registers an estimator for :func:`load` and names it ``mlkern.learn.<Name>``
    (where pickles find it)."""
    cls.__module__ = "mlkern.learn"
    _REGISTRY[cls.__name__] = cls
    return cls


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
    if not sw.sum() > 0:
        raise ValueError("Sample weights must contain at least one non-zero number.")
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
    """scikit-learn's ``DataConversionWarning`` when scikit-learn is loaded (so its
    filters apply), else ``UserWarning``; never imports scikit-learn (a second)."""
    sk = sys.modules.get("sklearn.exceptions")
    return getattr(sk, "DataConversionWarning", UserWarning) if sk is not None else UserWarning


def _convergence_warning() -> type[Warning]:
    """scikit-learn's ``ConvergenceWarning`` when scikit-learn is loaded, else ours."""
    sk = sys.modules.get("sklearn.exceptions")
    return getattr(sk, "ConvergenceWarning", ConvergenceWarning) if sk is not None else ConvergenceWarning


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
            if isinstance(v, (tuple, list)) and all(isinstance(i, (int, np.integer)) and not isinstance(i, bool)
                                                    for i in v):
                params[k] = [int(i) for i in v]  # a tuple of ints (hidden_layer_sizes): a JSON list
                continue
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
        import zipfile

        with zipfile.ZipFile(path) as z:
            # save() writes uncompressed members; a compressed one (a possible
            # decompression bomb) is refused before anything is inflated.
            if any(i.compress_type != zipfile.ZIP_STORED or i.file_size != i.compress_size for i in z.infolist()):
                raise ValueError("compressed members are refused")
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
    cls = _REGISTRY.get(str(header.get("estimator")))
    if cls is None:
        raise ValueError(f"{name!r}: unknown estimator {header.get('estimator')!r}")
    params = header.get("params")
    if not isinstance(params, dict) or set(params) - set(cls._param_names()):
        raise ValueError(f"{name!r}: unexpected parameters for {cls.__name__}")
    defaults = {k: p.default for k, p in inspect.signature(cls.__init__).parameters.items()}

    def _plain(k: str, v: Any) -> bool:
        if v is None or isinstance(v, (bool, int, float, str)):
            return True
        # A list of ints only where the parameter is a tuple (hidden_layer_sizes).
        return (isinstance(defaults.get(k), tuple) and isinstance(v, list)
                and all(isinstance(i, int) and not isinstance(i, bool) for i in v))

    if any(not _plain(k, v) for k, v in params.items()):
        raise ValueError(f"{name!r}: parameters must be numbers, strings, bools, None or (for tuple parameters) "
                         "lists of ints")
    params = {k: tuple(v) if isinstance(v, list) else v for k, v in params.items()}
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


def _r2(y: Any, p: Any, sw: npt.NDArray[np.float64] | None) -> float:
    """The coefficient of determination R² (uniform average over targets; 1 for a
    constant target predicted exactly, else 0 there), weighted by ``sw``."""
    yy = np.asarray(y, np.float64)
    yy = yy.reshape(yy.shape[0], -1)
    pp = np.asarray(p, np.float64).reshape(yy.shape)
    w = np.ones(yy.shape[0]) if sw is None else sw
    num = (w[:, None] * (yy - pp) ** 2).sum(axis=0)
    mean = np.average(yy, axis=0, weights=w)
    den = (w[:, None] * (yy - mean) ** 2).sum(axis=0)
    with np.errstate(divide="ignore", invalid="ignore"):
        r2 = np.where(den > 0, 1 - num / np.where(den > 0, den, 1), np.where(num == 0, 1.0, 0.0))
    return float(np.mean(r2))


# ---------------------------------------------------------------- parameters, linear prediction

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


class _LinearClassifier(_LinearPredictor):
    """Scores, labels and accuracy of a fitted linear classifier (``coef_`` of
    ``(1, d)`` for two classes, ``(K, d)`` otherwise; ``classes_``)."""

    _estimator_type = "classifier"
    classes_: Any
    n_iter_: Any

    def __sklearn_tags__(self) -> Any:
        from sklearn.utils import ClassifierTags, Tags, TargetTags

        return Tags(estimator_type="classifier", target_tags=TargetTags(required=True),
                    classifier_tags=ClassifierTags())

    def decision_function(self, X: Any) -> npt.NDArray[Any]:
        """Scores ``X @ coef_.T + intercept_``: ``(n,)`` for two classes, else
        ``(n, n_classes)``."""
        s = self._scores(X)
        return s[:, 0] if s.shape[1] == 1 else s

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
        if n_iter.shape not in ((), (1,)) or n_iter.dtype.kind not in "iu":
            raise ValueError("bad n_iter_")
        if n_iter.shape == ():
            self.n_iter_ = int(n_iter)


class _LinearRegressor(_LinearPredictor):
    """Predictions and R² of a fitted linear regressor."""

    _estimator_type = "regressor"
    _array_attrs: ClassVar[tuple[str, ...]] = ("coef_", "intercept_")

    def __sklearn_tags__(self) -> Any:
        from sklearn.utils import RegressorTags, Tags, TargetTags

        tags = Tags(estimator_type="regressor", target_tags=TargetTags(required=True, multi_output=True,
                                                                      single_output=True),
                    regressor_tags=RegressorTags())
        return tags

    def predict(self, X: Any) -> npt.NDArray[Any]:
        """``X @ coef_.T + intercept_``: ``(n,)`` for a 1-D ``y`` in ``fit``, else
        ``(n, n_targets)``; in ``X``'s float dtype."""
        s = self._scores(X)
        return s[:, 0] if np.ndim(self.coef_) == 1 else s

    def score(self, X: Any, y: Any, sample_weight: Any = None) -> float:
        """The coefficient of determination R² (uniform average over targets)."""
        sw = None if sample_weight is None else np.asarray(sample_weight, np.float64)
        return _r2(y, self.predict(X), sw)

    def _check_loaded(self) -> None:
        coef = np.asarray(self.coef_)
        if coef.dtype not in _FLOAT_DTYPES or coef.ndim not in (1, 2) or coef.shape[-1] != self.n_features_in_ \
                or coef.size == 0:
            raise ValueError("coef_ does not match n_features_in_")
        b = np.asarray(self.intercept_)
        if b.size not in (1, 1 if coef.ndim == 1 else coef.shape[0]) or b.dtype.kind != "f":
            raise ValueError("intercept_ does not match coef_")
        if b.ndim == 0:
            self.intercept_ = b.item() if b.dtype == np.float64 else b[()]
        if not (np.isfinite(coef).all() and np.isfinite(b).all()):
            raise ValueError("non-finite coefficients")
