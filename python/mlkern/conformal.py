"""Conformal prediction and uncertainty: prediction sets and intervals with a
coverage guarantee, compiled, and MAPIE 1.x's API on top.

Split conformal prediction turns any fitted model into one whose sets (or
intervals) contain the truth with probability at least ``confidence_level`` on
exchangeable data: score a held-out calibration set, take the conformal quantile of
the scores, and include every label (or value) whose score is within it.

The array layer
---------------
conformity_scores(probs, labels, method)      scores of calibration rows
conformal_quantile(scores, confidence_level)  the ⌈(n+1)·level⌉-th smallest score
                                              (``groups=``: one per group)
predict_sets(probs, threshold, method)        (n, K) bool sets (``packed=True``: bits)
residual_scores / cqr_scores                  regression calibration scores
regression_intervals / cqr_intervals          regression intervals
coverage, mean_set_size, mean_width,          metrics
coverage_by_set_size
entropy, margin, ensemble_uncertainty         uncertainty scores (no guarantee)
AdaptiveConformal, StreamingCalibrator        online conformal prediction

Estimator wrappers (MAPIE 1.x's names and semantics: code ports with an import change)
-------------------------------------------------------------------------------
SplitConformalClassifier, SplitConformalRegressor, ConformalizedQuantileRegressor

Conventions shared by every function:

- ``method`` is ``"lac"``, ``"aps"``, ``"raps"`` or ``"topk"`` (also ``"top_k"``).
- Probabilities are an ``(n, K)`` float32 or float64 array whose rows sum to 1
  within ``1e-5`` (MAPIE's tolerance); NaN, infinite or negative entries and rows
  that do not sum to 1 raise ``ValueError`` naming the row. C-contiguous native
  arrays are read in place (others are copied once); float32 is widened element by
  element (sums are float64 either way, so float64 input reproduces MAPIE's
  arithmetic bit for bit).
- Labels are integer class indices ``0..K-1`` (the wrappers encode any label type).
- Comparisons use MAPIE's tolerance ``1e-8``. Equal probabilities are ranked higher
  class index first, always. MAPIE ranks ties in whatever order NumPy's (unstable)
  ``argsort`` leaves them, so on exactly tied probabilities top-k/APS/RAPS scores and
  sets can differ from MAPIE's; on distinct probabilities they are equal.
- Levels become ``alpha`` as MAPIE does (``1 - level`` in decimal), so the quantile's
  rank ``ceil((n + 1)(1 - alpha))`` is MAPIE's at every level.
- float32 probabilities are read as float64 (MAPIE computes float32 calibration
  scores in float32, so its scores can differ from mlkern's by float32 rounding).
- ``random_state`` (randomized APS/RAPS): ``None``, an int, or a NumPy
  ``Generator``/``RandomState`` from which one seed is drawn. Draws depend only on
  the seed and the row, never on the thread count. They are not NumPy's stream, so a
  randomized set equals MAPIE's in distribution, not draw for draw.
"""

from __future__ import annotations

import numbers
import warnings
from decimal import Decimal
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from mlkern import _mlkern
from mlkern._seed import seed_from as _seed
from mlkern._mlkern import StreamingCalibrator

__all__ = [
    "AdaptiveConformal",
    "ConformalizedQuantileRegressor",
    "SplitConformalClassifier",
    "SplitConformalRegressor",
    "StreamingCalibrator",
    "conformal_quantile",
    "conformity_scores",
    "coverage",
    "coverage_by_set_size",
    "cqr_intervals",
    "cqr_scores",
    "ensemble_uncertainty",
    "entropy",
    "margin",
    "mean_set_size",
    "mean_width",
    "predict_sets",
    "regression_intervals",
    "residual_scores",
]

_METHODS = ("lac", "aps", "raps", "topk", "top_k")
_F64 = npt.NDArray[np.float64]


# ---------------------------------------------------------------- argument checks


def _method(method: str) -> str:
    if not isinstance(method, str) or method not in _METHODS:
        raise ValueError(f"method: unknown conformity score {method!r}; expected one of {', '.join(map(repr, _METHODS))}")
    return "topk" if method == "top_k" else method


def _probs(probs: Any) -> Any:
    """``probs`` as a 2-D float32/float64 array (float32/float64 arrays pass through)."""
    if isinstance(probs, np.ndarray) and probs.dtype in (np.float32, np.float64) and probs.ndim == 2:
        return probs
    arr = np.asarray(probs)
    if arr.dtype.kind in "iu":
        arr = arr.astype(np.float64)
    elif arr.dtype.kind == "f" and arr.dtype.itemsize in (4, 8) and not arr.dtype.isnative:
        arr = arr.astype(arr.dtype.newbyteorder("="))  # byte-swapped: one documented copy
    if arr.dtype not in (np.float32, np.float64):
        raise TypeError(f"probs must be a float32 or float64 array, got dtype {arr.dtype}")
    if arr.ndim != 2:
        raise ValueError(f"probs must be 2-D (n_samples, n_classes), got shape {arr.shape}")
    return arr


def _labels(labels: Any, n: int, k: int, name: str = "labels") -> npt.NDArray[np.int64]:
    arr = np.asarray(labels)
    if arr.ndim != 1:
        raise ValueError(f"{name} must be 1-D, got shape {arr.shape}")
    if arr.dtype.kind == "f":
        if arr.size and not np.all(np.isfinite(arr) & (arr == np.round(arr))):
            raise ValueError(f"{name} must hold integer class indices 0..{k - 1}")
    elif arr.dtype.kind not in "iu":
        raise TypeError(f"{name} must hold integer class indices 0..{k - 1}, got dtype {arr.dtype}")
    if arr.dtype.kind == "u" and arr.size and int(arr.max()) >= k:
        raise ValueError(f"{name} holds {int(arr.max())}, not a class index in 0..{k - 1}")
    if arr.shape[0] != n:
        raise ValueError(f"{name} has {arr.shape[0]} entries for {n} rows of probs")
    return np.ascontiguousarray(arr, dtype=np.int64)


def _levels(confidence_level: float | Iterable[float]) -> tuple[_F64, bool]:
    """Levels as a float64 array, and whether a single level was given."""
    scalar = isinstance(confidence_level, numbers.Real)
    arr = np.atleast_1d(np.asarray(confidence_level, dtype=np.float64))
    if arr.ndim != 1 or arr.size == 0:
        raise ValueError("confidence_level must be a float or a non-empty list of floats")
    bad = ~((arr > 0) & (arr < 1))
    if bad.any():
        raise ValueError(f"confidence_level must lie in the open interval (0, 1), got {arr[bad][0]!r}")
    return np.ascontiguousarray(arr), scalar


def _f64_1d(x: Any, name: str, n: int | None = None) -> _F64:
    arr = np.asarray(x)
    if arr.dtype.kind not in "fiub":
        raise TypeError(f"{name} must be a numeric array, got dtype {arr.dtype}")
    arr = np.ascontiguousarray(arr, dtype=np.float64)
    if arr.ndim != 1:
        raise ValueError(f"{name} must be 1-D, got shape {arr.shape}")
    if n is not None and arr.shape[0] != n:
        raise ValueError(f"{name} has {arr.shape[0]} entries, expected {n}")
    return arr


def _int_groups(groups: Any, n: int, per: str) -> npt.NDArray[np.int64]:
    """``groups`` as a contiguous int64 array of ``n`` entries (one per ``per``)."""
    g = np.asarray(groups)
    if g.dtype.kind not in "iub":
        raise TypeError(f"groups must be an integer array, got dtype {g.dtype}")
    if g.ndim != 1 or g.shape[0] != n:
        raise ValueError(f"groups must be 1-D with one entry per {per} ({n}), got shape {g.shape}")
    return np.ascontiguousarray(g, dtype=np.int64)


def _warn_unreachable(count: int, n: int) -> None:
    if count:
        warnings.warn(
            f"{n} calibration scores are too few for the requested confidence level(s): "
            "the conformal quantile is +inf (every label / an unbounded interval). "
            "Use a larger calibration set or a lower level.",
            UserWarning,
            stacklevel=3,
        )


# ---------------------------------------------------------------- the array layer


def conformity_scores(
    probs: npt.ArrayLike,
    labels: npt.ArrayLike,
    method: str,
    *,
    randomized: bool = False,
    random_state: Any = None,
    lambda_: float = 0.01,
    k_reg: int = 1,
) -> _F64:
    """Conformity scores of calibration rows (larger = less conforming).

    Parameters
    ----------
    probs : (n, K) float32 or float64 array
        Predicted probabilities; rows sum to 1.
    labels : (n,) int array
        True class index of each row, in ``0..K-1``.
    method : {"lac", "aps", "raps", "topk", "top_k"}
        ``lac``: ``1 - p_true``. ``aps``: cumulative sorted (decreasing) probability
        through the true label. ``raps``: APS plus ``lambda_ * max(0, rank - k_reg)``,
        rank of the true label counted from 1. ``topk``: 0-based rank of the true
        label (MAPIE's ``get_true_label_position``).
    randomized : bool, default False
        APS/RAPS only: subtract ``U * p_true`` (``U`` uniform per row, seeded by
        ``random_state``), which makes the coverage exact rather than conservative.
        (MAPIE 1.x's APS always randomizes its calibration scores.)
    lambda_, k_reg : RAPS regularization.

    Returns
    -------
    (n,) float64 array.
    """
    m = _method(method)
    p = _probs(probs)
    y = _labels(labels, p.shape[0], p.shape[1])
    if randomized and m not in ("aps", "raps"):
        raise ValueError("randomized applies to 'aps' and 'raps' only")
    seed = _seed(random_state) if randomized else None
    out = _mlkern._conformity_scores(p, y, m, float(lambda_), _k_reg(k_reg), seed)
    return out.reshape(-1)


def _k_reg(k_reg: int) -> int:
    if isinstance(k_reg, bool) or not isinstance(k_reg, numbers.Integral) or k_reg < 0:
        raise ValueError(f"k_reg must be an integer >= 0, got {k_reg!r}")
    return int(k_reg)


def conformal_quantile(
    scores: npt.ArrayLike,
    confidence_level: float | Iterable[float],
    *,
    groups: npt.ArrayLike | None = None,
) -> Any:
    """The conformal quantile: the ⌈(n + 1)·level⌉-th smallest of ``n`` scores.

    This is the split-conformal threshold (MAPIE's ``np.quantile(scores,
    ceil((n + 1)(1 - alpha)) / n, method="lower")``, computed by selection in O(n)).
    When ⌈(n + 1)·level⌉ > n the quantile is ``+inf`` and a ``UserWarning`` says so.

    Parameters
    ----------
    scores : (n,) array of calibration scores (no NaN).
    confidence_level : float in (0, 1), or a list of them.
    groups : (n,) int array, optional
        Group of each calibration row (for example the true label, for
        class-conditional "Mondrian" LAC): one quantile per group, computed from
        that group's scores alone.

    Returns
    -------
    float, or a (L,) float64 array for a list of levels. With ``groups``:
    ``(group_values, thresholds)``, the sorted distinct groups and thresholds of
    shape ``(G,)`` (or ``(G, L)`` for a list of levels).
    """
    s = _f64_1d(scores, "scores")
    levels, scalar = _levels(confidence_level)
    if groups is None:
        q, unreachable = _mlkern._conformal_quantile(s, levels)
        _warn_unreachable(unreachable, s.shape[0])
        q = q.reshape(-1)
        return float(q[0]) if scalar else q
    g = _int_groups(groups, s.shape[0], "score")
    ids, q, unreachable = _mlkern._group_quantiles(s, g, levels)
    _warn_unreachable(unreachable, int(np.min(np.bincount(np.unique(g, return_inverse=True)[1]))))
    return ids.reshape(-1), (q[:, 0] if scalar else q)


def _threshold(threshold: Any, n: int, k: int) -> tuple[_F64, str]:
    """The threshold and how it broadcasts against ``(n, k)`` probabilities."""
    t = np.asarray(threshold, dtype=np.float64)
    if t.size == 1 and t.ndim <= 2 and (t.ndim == 0 or t.shape in ((1,), (1, 1))):
        return t.reshape(1), "scalar"
    if t.shape in ((k,), (1, k)):
        return np.ascontiguousarray(t.reshape(-1)), "class"
    if t.shape == (n, 1):
        return np.ascontiguousarray(t.reshape(-1)), "row"
    if t.shape == (n, k):
        return np.ascontiguousarray(t.reshape(-1)), "entry"
    raise ValueError(
        f"threshold of shape {t.shape} does not broadcast against probs of shape ({n}, {k}): "
        "give a scalar, (K,) per class, (n, 1) per row or (n, K)"
    )


def predict_sets(
    probs: npt.ArrayLike,
    threshold: float | npt.ArrayLike,
    method: str,
    *,
    lambda_: float = 0.01,
    k_reg: int = 1,
    randomized: bool = False,
    random_state: Any = None,
    packed: bool = False,
) -> npt.NDArray[Any]:
    """Prediction sets for a calibrated threshold (MAPIE 1.x's rules).

    - ``lac``: label ``j`` is in the set iff ``(1 - p_j) - q <= 1e-8``.
    - ``topk``: the labels at least as probable (within 1e-8) as the one at 0-based
      rank ``floor(q)``.
    - ``aps`` / ``raps``: labels in decreasing probability until the cumulative sum
      (plus the RAPS penalty) reaches ``q`` within 1e-8, plus every label as
      probable as that last one: MAPIE's ``include_last_label=True``, including its
      handling of ties and of a last label with probability below 1e-8.
      ``randomized=True`` is MAPIE's ``include_last_label="randomized"``.
      When no cumulative sum reaches ``q`` (``q > 1``, or ``+inf``) the set is every
      label (MAPIE would fall back to label 0's probability there).

    Parameters
    ----------
    probs : (n, K) float32/float64 array, rows summing to 1.
    threshold : scalar, (K,) per class (LAC only: class-conditional "Mondrian"
        thresholds), (n, 1) per row (group-conditional thresholds mapped to the
        rows), or (n, K) per entry (LAC only), broadcast like NumPy.
    packed : bool, default False
        Return rows of ``ceil(K / 8)`` uint8 bytes of bits instead of bools, label
        0 in the most significant bit (``np.packbits(sets, axis=1)``;
        ``np.unpackbits(packed, axis=1, count=K).view(bool)`` undoes it).

    Returns
    -------
    (n, K) bool array, or (n, ceil(K/8)) uint8 when ``packed``.
    """
    m = _method(method)
    p = _probs(probs)
    t, kind = _threshold(threshold, p.shape[0], p.shape[1])
    if randomized and m not in ("aps", "raps"):
        raise ValueError("randomized applies to 'aps' and 'raps' only")
    seed = _seed(random_state) if randomized else None
    out: npt.NDArray[Any] = _mlkern._predict_sets(p, t, kind, m, float(lambda_), _k_reg(k_reg), seed, bool(packed))
    return out


def residual_scores(y: npt.ArrayLike, y_pred: npt.ArrayLike, *, sigma: npt.ArrayLike | None = None) -> _F64:
    """Regression calibration scores ``|y - y_pred|``, or ``|y - y_pred| / sigma`` with
    a difficulty estimate ``sigma > 0`` per row (normalised residuals; MAPIE's
    ``AbsoluteConformityScore`` and ``ResidualNormalisedScore`` given ``sigma``).

    Inputs are read as float64 (other dtypes are converted: a documented copy)."""
    yp = _f64_1d(y_pred, "y_pred")
    yy = _f64_1d(y, "y", yp.shape[0])
    if sigma is None:
        return _mlkern._regression_scores("absolute", yy, yp, None).reshape(-1)
    s = _f64_1d(sigma, "sigma", yp.shape[0])
    return _mlkern._regression_scores("normalized", yy, yp, s).reshape(-1)


def cqr_scores(y: npt.ArrayLike, y_lower: npt.ArrayLike, y_upper: npt.ArrayLike) -> _F64:
    """Conformalized quantile regression scores ``max(y_lower - y, y - y_upper)``
    (Romano et al. 2019; MAPIE's ``AbsoluteQuantileRegressionScore``)."""
    lo = _f64_1d(y_lower, "y_lower")
    return _mlkern._regression_scores(
        "cqr", _f64_1d(y, "y", lo.shape[0]), lo, _f64_1d(y_upper, "y_upper", lo.shape[0])
    ).reshape(-1)


def _qs(threshold: Any) -> tuple[_F64, bool]:
    q = np.asarray(threshold, dtype=np.float64)
    scalar = q.ndim == 0
    q = np.ascontiguousarray(np.atleast_1d(q))
    if q.ndim != 1:
        raise ValueError(f"threshold must be a scalar or 1-D (one per level), got shape {q.shape}")
    if np.isnan(q).any():
        raise ValueError("threshold is NaN")
    return q, scalar


def _shape_intervals(out: Any, scalar: bool) -> _F64:
    n = out.shape[0]
    iv = out.reshape(n, 2, -1)
    return iv[:, :, 0] if scalar else iv  # type: ignore[no-any-return]


def regression_intervals(y_pred: npt.ArrayLike, threshold: float | npt.ArrayLike, *, sigma: npt.ArrayLike | None = None) -> _F64:
    """Intervals ``[y_pred - q·sigma, y_pred + q·sigma]`` (``sigma = 1`` when omitted).

    ``threshold`` is a scalar (result ``(n, 2)``) or one per level (``(n, 2, L)``,
    MAPIE's layout). Computed as MAPIE does (``y_pred + (-q)`` below)."""
    yp = _f64_1d(y_pred, "y_pred")
    q, scalar = _qs(threshold)
    s = None if sigma is None else _f64_1d(sigma, "sigma", yp.shape[0])
    return _shape_intervals(_mlkern._intervals(yp, yp, s, -q, q), scalar)


def cqr_intervals(
    y_lower: npt.ArrayLike,
    y_upper: npt.ArrayLike,
    threshold: float | npt.ArrayLike,
    threshold_upper: float | npt.ArrayLike | None = None,
) -> _F64:
    """CQR intervals ``[y_lower - q_lo, y_upper + q_up]``; ``q_up = q_lo`` unless
    ``threshold_upper`` is given (MAPIE's asymmetric correction calibrates the two
    sides separately, see :class:`ConformalizedQuantileRegressor`)."""
    lo = _f64_1d(y_lower, "y_lower")
    hi = _f64_1d(y_upper, "y_upper", lo.shape[0])
    ql, scalar = _qs(threshold)
    qu = ql if threshold_upper is None else _qs(threshold_upper)[0]
    if qu.shape != ql.shape:
        raise ValueError("threshold_upper must have the shape of threshold")
    return _shape_intervals(_mlkern._intervals(lo, hi, None, -ql, qu), scalar)


# ---------------------------------------------------------------- metrics


def _sets_3d(sets: Any) -> npt.NDArray[np.bool_]:
    s = np.asarray(sets)
    if s.dtype != np.bool_:
        raise TypeError(f"sets must be a bool array (unpack packed sets first), got dtype {s.dtype}")
    if s.ndim == 2:
        s = s[:, :, None]
    if s.ndim != 3:
        raise ValueError(f"sets must be (n, K) or (n, K, n_levels), got shape {s.shape}")
    return s


def coverage(sets_or_intervals: npt.ArrayLike, y: npt.ArrayLike) -> Any:
    """Fraction of rows whose set contains the label (bool sets ``(n, K[, L])``, ``y``
    class indices), or whose interval ``(n, 2[, L])`` contains ``y`` (``lo <= y <=
    hi``, MAPIE's ``regression_coverage_score``). A float, or one per level."""
    a = np.asarray(sets_or_intervals)
    if a.dtype.kind not in "bf":
        raise TypeError(f"sets must be bool (n, K[, L]) or intervals float (n, 2[, L]), got dtype {a.dtype}")
    if a.dtype == np.bool_:
        s = _sets_3d(a)
        lab = _labels(y, s.shape[0], s.shape[1], "y")
        if s.shape[0] == 0:
            raise ValueError("coverage of an empty set of rows is undefined")
        cov = s[np.arange(s.shape[0]), lab, :].mean(axis=0)
    else:
        iv = a[:, :, None] if a.ndim == 2 else a
        if iv.ndim != 3 or iv.shape[1] != 2:
            raise ValueError(f"intervals must be (n, 2) or (n, 2, n_levels), got shape {a.shape}")
        yy = _f64_1d(y, "y", iv.shape[0])[:, None]
        if iv.shape[0] == 0:
            raise ValueError("coverage of an empty set of rows is undefined")
        cov = ((yy >= iv[:, 0, :]) & (yy <= iv[:, 1, :])).mean(axis=0)
    return float(cov[0]) if a.ndim == 2 else cov


def mean_set_size(sets: npt.ArrayLike) -> Any:
    """Mean number of labels per set: a float, or one per level for ``(n, K, L)``."""
    a = np.asarray(sets)
    s = _sets_3d(a)
    if s.shape[0] == 0:
        raise ValueError("mean set size of zero rows is undefined")
    m = s.sum(axis=1).mean(axis=0)
    return float(m[0]) if a.ndim == 2 else m


def mean_width(intervals: npt.ArrayLike) -> Any:
    """Mean ``upper - lower`` of ``(n, 2[, L])`` intervals: a float or one per level."""
    a = np.asarray(intervals, dtype=np.float64)
    iv = a[:, :, None] if a.ndim == 2 else a
    if iv.ndim != 3 or iv.shape[1] != 2 or iv.shape[0] == 0:
        raise ValueError(f"intervals must be non-empty (n, 2) or (n, 2, n_levels), got shape {a.shape}")
    w = (iv[:, 1, :] - iv[:, 0, :]).mean(axis=0)
    return float(w[0]) if a.ndim == 2 else w


def coverage_by_set_size(sets: npt.ArrayLike, y: npt.ArrayLike) -> tuple[npt.NDArray[np.int64], _F64, npt.NDArray[np.int64]]:
    """Coverage stratified by set size (size-stratified coverage, Angelopoulos et
    al. 2021) of ``(n, K)`` bool sets: ``(sizes, coverage, counts)`` for each set size
    that occurs, in increasing order."""
    s = np.asarray(sets)
    if s.ndim != 2:
        raise ValueError(f"sets must be (n, K) for one level, got shape {s.shape}")
    s3 = _sets_3d(s)[:, :, 0]
    lab = _labels(y, s3.shape[0], s3.shape[1], "y")
    size = s3.sum(axis=1)
    hit = s3[np.arange(s3.shape[0]), lab]
    sizes, inv, counts = np.unique(size, return_inverse=True, return_counts=True)
    cov = np.bincount(inv, weights=hit, minlength=sizes.size) / counts
    return sizes.astype(np.int64), cov, counts.astype(np.int64)


# ---------------------------------------------------------------- uncertainty


def _scale(base: float | None) -> float:
    if base is None:
        return 1.0
    if not (base > 0 and base != 1 and np.isfinite(base)):
        raise ValueError(f"base must be a positive number other than 1, got {base!r}")
    return float(1.0 / np.log(base))


def entropy(probs: npt.ArrayLike, *, base: float | None = None) -> _F64:
    """Shannon entropy of each row, ``-sum_j p_j log p_j`` (``0 log 0 = 0``), in nats or
    in ``base``. Unlike ``scipy.stats.entropy`` it works along the last axis and does
    not renormalise: rows must already sum to 1 (checked)."""
    return _mlkern._entropy(_probs(probs), _scale(base)).reshape(-1)


def margin(probs: npt.ArrayLike) -> _F64:
    """Top-two margin ``p_(1) - p_(2)`` of each row (small = uncertain)."""
    return _mlkern._margin(_probs(probs)).reshape(-1)


def ensemble_uncertainty(probs: npt.ArrayLike, *, base: float | None = None) -> tuple[_F64, _F64, _F64]:
    """Total, aleatoric and epistemic uncertainty of stacked ensemble probabilities
    ``(n_models, n, K)``: total ``H(mean_m p_m)``, aleatoric ``mean_m H(p_m)``
    (expected entropy) and epistemic ``total - aleatoric`` (mutual information)."""
    a = np.asarray(probs)
    if a.ndim != 3:
        raise ValueError(f"probs must be (n_models, n_samples, n_classes), got shape {a.shape}")
    m, n, k = a.shape
    flat = _probs(np.ascontiguousarray(a).reshape(m * n, k))
    out = _mlkern._ensemble_uncertainty(flat, m, _scale(base))
    return out[0], out[1], out[2]


# ---------------------------------------------------------------- online


class AdaptiveConformal:
    """Adaptive conformal inference (Gibbs & Candès 2021) for a stream whose
    distribution drifts: after each observation the working miscoverage level moves
    by ``gamma * (alpha - err_t)`` (``err_t = 1`` when the set or interval missed),
    in O(1), so the long-run miscoverage tends to ``alpha = 1 - confidence_level``.

    Use ``level`` (the working confidence level, clipped to [0, 1]) to pick each
    step's threshold, e.g. ``calibrator.quantile(aci.level)`` with a
    :class:`StreamingCalibrator`, then ``update(covered)``.
    """

    def __init__(self, confidence_level: float = 0.9, gamma: float = 0.005) -> None:
        _levels(confidence_level)
        if not (gamma > 0 and np.isfinite(gamma)):
            raise ValueError(f"gamma must be a positive finite step size, got {gamma!r}")
        self.confidence_level = float(confidence_level)
        self.gamma = float(gamma)
        self.alpha_t = 1.0 - self.confidence_level
        self.n_updates = 0
        self.n_errors = 0

    @property
    def level(self) -> float:
        """The working confidence level ``1 - alpha_t`` clipped to [0, 1]; 1 means an
        infinite threshold (every label), 0 an empty set."""
        return min(1.0, max(0.0, 1.0 - self.alpha_t))

    def threshold(self, calibrator: StreamingCalibrator) -> float:
        """This step's threshold from ``calibrator``: ``+inf`` when ``level >= 1``,
        ``-inf`` when ``level <= 0``."""
        lv = self.level
        if lv >= 1.0:
            return float("inf")
        if lv <= 0.0:
            return float("-inf")
        return calibrator.quantile(lv)

    def update(self, covered: bool) -> float:
        """Records whether the last set/interval covered the truth; returns the new
        working level."""
        err = 0.0 if bool(covered) else 1.0
        self.alpha_t += self.gamma * ((1.0 - self.confidence_level) - err)
        self.n_updates += 1
        self.n_errors += int(err)
        return self.level

    def __repr__(self) -> str:
        return f"AdaptiveConformal(confidence_level={self.confidence_level}, gamma={self.gamma}, level={self.level:.4f})"


# ---------------------------------------------------------------- estimator wrappers


def _clone(estimator: Any) -> Any:
    from sklearn.base import clone

    return clone(estimator)


def _check_not_empty(X: Any) -> None:
    shape = getattr(X, "shape", None)
    n = shape[0] if shape is not None and len(shape) else len(X)
    if n == 0:
        raise ValueError("the conformalization set is empty")


def _fitted_clone(prefit: bool, is_fitted: bool, estimator: Any, X: Any, y: Any, fit_params: dict[str, Any] | None) -> Any:
    """A clone of ``estimator`` fitted on ``(X, y)``: the wrappers' ``fit``
    (``prefit=False`` only, once)."""
    if prefit:
        raise ValueError("fit is not available with prefit=True: the estimator is already fitted")
    if is_fitted:
        raise ValueError("fit has already been called")
    est = _clone(estimator)
    est.fit(X, y, **(fit_params or {}))
    return est


def _need(flag: bool, method: str, before: str) -> None:
    if not flag:
        raise ValueError(f"call {before} before {method}")


class SplitConformalClassifier:
    """Split conformal classification with MAPIE 1.x's API.

    Parameters
    ----------
    estimator : classifier with ``predict_proba`` and ``classes_`` (scikit-learn's or
        mlkern's). Fitted already when ``prefit=True``.
    confidence_level : float or list of floats, default 0.9
    conformity_score : {"lac", "aps", "raps", "top_k", "topk"}, default "lac"
    prefit : bool, default True
    randomized : bool, default False
        APS/RAPS: randomized calibration scores and sets (exact coverage, sets may be
        empty). ``False`` is MAPIE's ``include_last_label=True`` rule.
    random_state : seed for ``randomized``.
    lambda_, k_reg : RAPS regularization, used as given (MAPIE 1.x tunes them on a
        split of the conformalization set instead).
    class_conditional : bool, default False
        LAC only: one threshold per class ("Mondrian" conformal prediction, which
        MAPIE 1.x removed), so coverage holds within each class.
    n_jobs, verbose : accepted for MAPIE compatibility; mlkern's kernels run on its
        own pool (``mlkern.set_num_threads``) and print nothing.

    Arguments after ``prefit`` are keyword-only, so MAPIE code that passes
    ``n_jobs`` positionally fails loudly instead of meaning something else.

    Differences from MAPIE: APS calibration scores are randomized only with
    ``randomized=True`` (MAPIE's APS always randomizes them); ``conformalize`` and
    ``predict_set`` take ``groups=`` for group-conditional coverage; a level out of
    reach of the calibration set gives full sets and a ``UserWarning`` instead of an
    error.
    """

    def __init__(
        self,
        estimator: Any = None,
        confidence_level: float | Iterable[float] = 0.9,
        conformity_score: str = "lac",
        prefit: bool = True,
        *,
        n_jobs: int | None = None,
        verbose: int = 0,
        random_state: Any = None,
        randomized: bool = False,
        lambda_: float = 0.01,
        k_reg: int = 1,
        class_conditional: bool = False,
    ) -> None:
        if estimator is None:
            from sklearn.linear_model import LogisticRegression

            estimator = LogisticRegression()
        self._estimator = estimator
        self._levels, self._scalar = _levels(confidence_level)
        self.confidence_level = confidence_level
        self._method = _method(conformity_score)
        if randomized and self._method not in ("aps", "raps"):
            raise ValueError("randomized applies to 'aps' and 'raps' only")
        if class_conditional and self._method != "lac":
            raise ValueError("class_conditional applies to conformity_score='lac' only")
        self._prefit = bool(prefit)
        self._is_fitted = self._prefit
        self._is_conformalized = False
        self._randomized = bool(randomized)
        self._random_state = random_state
        self.n_jobs, self.verbose = n_jobs, verbose
        self._lambda = float(lambda_)
        self._k_reg = _k_reg(k_reg)
        self._class_conditional = bool(class_conditional)

    def fit(self, X_train: Any, y_train: Any, fit_params: dict[str, Any] | None = None) -> SplitConformalClassifier:
        """Fits a clone of the estimator (``prefit=False`` only)."""
        self._estimator = _fitted_clone(self._prefit, self._is_fitted, self._estimator, X_train, y_train, fit_params)
        self._is_fitted = True
        return self

    def _encode(self, y: Any) -> npt.NDArray[np.int64]:
        classes = self.classes_
        y = np.asarray(y)
        if y.ndim == 2 and y.shape[1] == 1:
            y = y.ravel()
        if y.ndim != 1:
            raise ValueError(f"y_conformalize must be 1-D, got shape {y.shape}")
        idx = np.searchsorted(classes, y)
        idx = np.clip(idx, 0, len(classes) - 1)
        bad = classes[idx] != y
        if np.any(bad):
            raise ValueError(f"y_conformalize holds labels the estimator does not know: {np.unique(y[bad])[:5]!r}")
        return np.asarray(idx, dtype=np.int64)

    def conformalize(
        self,
        X_conformalize: Any,
        y_conformalize: Any,
        groups: Any = None,
        predict_params: dict[str, Any] | None = None,
    ) -> SplitConformalClassifier:
        """Scores the conformalization set and stores the threshold(s)."""
        _need(self._is_fitted, "conformalize", "fit")
        if self._is_conformalized:
            raise ValueError("conformalize has already been called")
        _check_not_empty(X_conformalize)
        self._predict_params = predict_params or {}
        self.classes_ = np.asarray(self._estimator.classes_)
        probs = _probs(self._estimator.predict_proba(X_conformalize, **self._predict_params))
        if probs.shape[0] == 0:
            raise ValueError("the conformalization set is empty")
        y = self._encode(y_conformalize)
        if y.shape[0] != probs.shape[0]:
            raise ValueError(f"y_conformalize has {y.shape[0]} labels for {probs.shape[0]} rows of X_conformalize")
        self._n_classes = probs.shape[1]
        self._seed = _seed(self._random_state) if self._randomized else None
        # Test rows draw from a stream of their own (row i must not reuse calibration
        # row i's U, or the coverage argument breaks); still reproducible per seed.
        seed_source = self._seed if self._seed is not None else _seed(self._random_state)
        self._predict_seed = (seed_source * 0x9E3779B97F4A7C15 + 0x632BE59BD9B4E019) % (1 << 64)
        scores = _mlkern._conformity_scores(probs, y, self._method, self._lambda, self._k_reg, self._seed).reshape(-1)
        self.conformity_scores_ = scores
        self._group_ids: npt.NDArray[np.int64] | None = None
        if self._class_conditional or groups is not None:
            g = y if self._class_conditional else _int_groups(groups, probs.shape[0], "row of X")
            ids, q, unreachable = _mlkern._group_quantiles(scores, g, self._levels)
            if self._class_conditional:
                full = np.full((self._n_classes, self._levels.size), np.inf)
                full[ids.reshape(-1)] = q
                missing = self._n_classes - ids.shape[0]
                _warn_unreachable(unreachable + missing, int(np.min(np.bincount(y)) if missing == 0 else 0))
                self.quantiles_ = full
            else:
                _warn_unreachable(unreachable, int(np.min(np.unique(g, return_counts=True)[1])))
                self._group_ids = ids.reshape(-1)
                self.quantiles_ = q
        else:
            q, unreachable = _mlkern._conformal_quantile(scores, self._levels)
            _warn_unreachable(unreachable, scores.shape[0])
            self.quantiles_ = q.reshape(-1)
        # Thresholds laid out per level, ready for the kernel (no work per call).
        if self._class_conditional:
            self._thresholds = [(np.ascontiguousarray(self.quantiles_[:, i]), "class") for i in range(self._levels.size)]
        elif self._group_ids is None:
            self._thresholds = [(self.quantiles_[i : i + 1].copy(), "scalar") for i in range(self._levels.size)]
        else:
            self._thresholds = []
        self._is_conformalized = True
        return self

    def predict(self, X: Any) -> npt.NDArray[Any]:
        """Point predictions: the most probable class."""
        _need(self._is_conformalized, "predict", "conformalize")
        probs = self._estimator.predict_proba(X, **self._predict_params)
        return self.classes_[np.argmax(probs, axis=1)]  # type: ignore[no-any-return]

    def predict_set(
        self, X: Any, conformity_score_params: dict[str, Any] | None = None, groups: Any = None
    ) -> tuple[npt.NDArray[Any], npt.NDArray[np.bool_]]:
        """``(labels (n,), sets (n, K, n_levels))``: the point prediction and one bool
        set per confidence level (MAPIE's layout; ``sets[:, :, i]`` is level ``i``).

        ``conformity_score_params={"include_last_label": "randomized"}`` (APS/RAPS)
        randomizes the sets as MAPIE's option does; ``True`` (the default) is the
        deterministic rule; ``False`` is not supported (``ValueError``)."""
        _need(self._is_conformalized, "predict_set", "conformalize")
        include = (conformity_score_params or {}).get("include_last_label", "randomized" if self._randomized else True)
        if include not in (True, "randomized"):
            raise ValueError(f"include_last_label={include!r} is not supported: use True or 'randomized'")
        if include == "randomized" and self._method not in ("aps", "raps"):
            raise ValueError("include_last_label='randomized' applies to 'aps' and 'raps' only")
        probs = _probs(self._estimator.predict_proba(X, **self._predict_params))
        if probs.shape[1] != self._n_classes:
            raise ValueError(f"the estimator returned {probs.shape[1]} classes, calibrated on {self._n_classes}")
        thresholds = self._thresholds
        if self._group_ids is not None:
            if groups is None:
                raise ValueError("this classifier was conformalized with groups=: pass groups= to predict_set too")
            g = _int_groups(groups, probs.shape[0], "row of X")
            pos = np.searchsorted(self._group_ids, g)
            pos = np.clip(pos, 0, self._group_ids.size - 1)
            if np.any(self._group_ids[pos] != g):
                raise ValueError("groups holds a group absent from the conformalization set")
            thresholds = [(np.ascontiguousarray(self.quantiles_[pos, i]), "row") for i in range(self._levels.size)]
        seed = self._predict_seed if include == "randomized" else None
        lam, kr, m = self._lambda, self._k_reg, self._method
        # The first level's call also returns the argmax labels (same pass over probs).
        t, kind = thresholds[0]
        first, best = _mlkern._predict_sets(probs, t, kind, m, lam, kr, seed, False, True)
        labels = self.classes_[best]
        if len(thresholds) == 1:
            return labels, first[:, :, None]
        stacked = np.empty((len(thresholds), probs.shape[0], probs.shape[1]), dtype=np.bool_)
        stacked[0] = first
        for i, (t, kind) in enumerate(thresholds[1:], start=1):
            stacked[i] = _mlkern._predict_sets(probs, t, kind, m, lam, kr, seed, False)
        return labels, np.moveaxis(stacked, 0, 2)

    @property
    def conformity_scores(self) -> _F64:
        _need(self._is_conformalized, "conformity_scores", "conformalize")
        return self.conformity_scores_


class SplitConformalRegressor:
    """Split conformal regression with MAPIE 1.x's API.

    ``conformity_score="absolute"`` (MAPIE's default): intervals ``y_pred ± q``.
    ``"normalized"`` (also spelled MAPIE's ``"residual_normalized"``): intervals
    ``y_pred ± q·sigma(X)`` with ``sigma`` from ``difficulty_estimator.predict(X)``
    (a fitted regressor of the absolute residual, all predictions > 0): MAPIE's
    residual-normalised score given its residual model (MAPIE fits that model on
    part of the conformalization set itself; here you bring it).

    A level out of reach of the calibration set gives infinite bounds and a
    ``UserWarning`` (MAPIE raises there).
    """

    def __init__(
        self,
        estimator: Any = None,
        confidence_level: float | Iterable[float] = 0.9,
        conformity_score: str = "absolute",
        prefit: bool = True,
        *,
        n_jobs: int | None = None,
        verbose: int = 0,
        difficulty_estimator: Any = None,
    ) -> None:
        if estimator is None:
            from sklearn.linear_model import LinearRegression

            estimator = LinearRegression()
        if conformity_score == "residual_normalized":
            conformity_score = "normalized"
        if conformity_score not in ("absolute", "normalized"):
            raise ValueError(
                f"conformity_score must be 'absolute' or 'normalized' ('residual_normalized'), got {conformity_score!r}"
            )
        self.n_jobs, self.verbose = n_jobs, verbose
        if conformity_score == "normalized" and difficulty_estimator is None:
            raise ValueError("conformity_score='normalized' needs difficulty_estimator= (a fitted regressor of |y - y_pred|)")
        self._estimator = estimator
        self._levels, self._scalar = _levels(confidence_level)
        self.confidence_level = confidence_level
        self._score = conformity_score
        self._difficulty = difficulty_estimator
        self._prefit = bool(prefit)
        self._is_fitted = self._prefit
        self._is_conformalized = False

    def fit(self, X_train: Any, y_train: Any, fit_params: dict[str, Any] | None = None) -> SplitConformalRegressor:
        """Fits a clone of the estimator (``prefit=False`` only)."""
        self._estimator = _fitted_clone(self._prefit, self._is_fitted, self._estimator, X_train, y_train, fit_params)
        self._is_fitted = True
        return self

    def _sigma(self, X: Any, n: int) -> _F64 | None:
        if self._difficulty is None:
            return None
        return _f64_1d(self._difficulty.predict(X), "sigma", n)

    def conformalize(self, X_conformalize: Any, y_conformalize: Any, predict_params: dict[str, Any] | None = None) -> SplitConformalRegressor:
        _need(self._is_fitted, "conformalize", "fit")
        if self._is_conformalized:
            raise ValueError("conformalize has already been called")
        _check_not_empty(X_conformalize)
        self._predict_params = predict_params or {}
        yp = _f64_1d(self._estimator.predict(X_conformalize, **self._predict_params), "y_pred")
        y = _f64_1d(y_conformalize, "y_conformalize", yp.shape[0])
        if yp.shape[0] == 0:
            raise ValueError("the conformalization set is empty")
        self.conformity_scores_ = residual_scores(y, yp, sigma=self._sigma(X_conformalize, yp.shape[0]))
        q, unreachable = _mlkern._conformal_quantile(self.conformity_scores_, self._levels)
        _warn_unreachable(unreachable, yp.shape[0])
        self.quantiles_ = q.reshape(-1)
        self._is_conformalized = True
        return self

    def predict(self, X: Any) -> _F64:
        _need(self._is_conformalized, "predict", "conformalize")
        return np.asarray(self._estimator.predict(X, **self._predict_params), dtype=np.float64)

    def predict_interval(self, X: Any) -> tuple[_F64, _F64]:
        """``(predictions (n,), intervals (n, 2, n_levels))``."""
        _need(self._is_conformalized, "predict_interval", "conformalize")
        yp = _f64_1d(self._estimator.predict(X, **self._predict_params), "y_pred")
        q = self.quantiles_
        out = _mlkern._intervals(yp, yp, self._sigma(X, yp.shape[0]), -q, q)
        return yp, out.reshape(yp.shape[0], 2, -1)


_QUANTILE_PARAMS = {
    "GradientBoostingRegressor": ("loss", "quantile", "alpha"),
    "HistGradientBoostingRegressor": ("loss", "quantile", "quantile"),
    "QuantileRegressor": (None, None, "quantile"),
    "LGBMRegressor": ("objective", "quantile", "alpha"),
}


class ConformalizedQuantileRegressor:
    """Conformalized quantile regression (Romano et al. 2019) with MAPIE 1.x's API.

    ``prefit=True``: ``estimator`` is a list of three fitted regressors predicting the
    lower quantile, the upper quantile and the median (MAPIE's order). ``prefit=False``:
    a quantile regressor (scikit-learn's ``GradientBoostingRegressor(loss="quantile")``,
    ``HistGradientBoostingRegressor(loss="quantile")``, ``QuantileRegressor``, or
    LightGBM's) cloned and fitted at ``alpha/2``, ``1 - alpha/2`` and 0.5 for one
    confidence level.

    ``predict_interval(X, symmetric_correction=False)`` corrects each side with its
    own scores at level ``1 - alpha/2`` (MAPIE's default); ``True`` uses the symmetric
    score ``max(lo - y, y - hi)``. A level out of reach of the calibration set gives
    infinite bounds and a ``UserWarning`` (MAPIE raises there).
    """

    def __init__(self, estimator: Any = None, confidence_level: float | Iterable[float] = 0.9, prefit: bool = False) -> None:
        self._levels, self._scalar = _levels(confidence_level)
        self.confidence_level = confidence_level
        self._prefit = bool(prefit)
        if self._prefit:
            if not isinstance(estimator, (list, tuple)) or len(estimator) != 3:
                raise ValueError("with prefit=True, estimator must be a list of three fitted regressors [lower, upper, median]")
        elif self._levels.size != 1:
            raise ValueError("prefit=False fits quantile models for one confidence level only")
        if estimator is None:
            from sklearn.linear_model import QuantileRegressor

            estimator = QuantileRegressor(solver="highs", alpha=0.0)
        self._estimator = estimator
        self._estimators: Sequence[Any] = list(estimator) if self._prefit else []
        self._is_fitted = self._prefit
        self._is_conformalized = False

    def fit(self, X_train: Any, y_train: Any, fit_params: dict[str, Any] | None = None) -> ConformalizedQuantileRegressor:
        if self._prefit:
            raise ValueError("fit is not available with prefit=True: the estimators are already fitted")
        name = type(self._estimator).__name__
        if name not in _QUANTILE_PARAMS:
            raise ValueError(f"{name} is not a known quantile regressor; fit the three models yourself and use prefit=True")
        loss_name, loss_value, q_name = _QUANTILE_PARAMS[name]
        alpha = float(Decimal("1") - Decimal(str(float(self._levels[0]))))  # MAPIE's alpha
        models = []
        for q in (alpha / 2, 1 - alpha / 2, 0.5):
            est = _clone(self._estimator)
            params: dict[str, Any] = {q_name: q}
            if loss_name is not None:
                params[loss_name] = loss_value
            est.set_params(**params)
            est.fit(X_train, y_train, **(fit_params or {}))
            models.append(est)
        self._estimators = models
        self._is_fitted = True
        return self

    def _predict3(self, X: Any) -> tuple[_F64, _F64, _F64]:
        lo, hi, med = (_f64_1d(e.predict(X, **self._predict_params), "y_pred") for e in self._estimators)
        return lo, hi, med

    def conformalize(self, X_conformalize: Any, y_conformalize: Any, predict_params: dict[str, Any] | None = None) -> ConformalizedQuantileRegressor:
        _need(self._is_fitted, "conformalize", "fit")
        if self._is_conformalized:
            raise ValueError("conformalize has already been called")
        _check_not_empty(X_conformalize)
        self._predict_params = predict_params or {}
        lo, hi, _ = self._predict3(X_conformalize)
        y = _f64_1d(y_conformalize, "y_conformalize", lo.shape[0])
        if lo.shape[0] == 0:
            raise ValueError("the conformalization set is empty")
        n = lo.shape[0]
        self.conformity_scores_ = cqr_scores(y, lo, hi)
        q, unreachable = _mlkern._conformal_quantile(self.conformity_scores_, self._levels)
        self._q_symmetric = q.reshape(-1)
        low, up = _mlkern._cqr_side_scores(y, lo, hi)
        low, up = low.reshape(-1), up.reshape(-1)
        ql, qu = [], []
        for level in self._levels:
            rank = _mlkern._cqr_side_rank(n, float(level))
            unreachable += 2 * (rank is None)
            ql.append(_mlkern._order_statistic(low, rank))
            qu.append(_mlkern._order_statistic(up, rank))
        _warn_unreachable(unreachable, n)
        self._q_low, self._q_up = np.array(ql), np.array(qu)
        self._is_conformalized = True
        return self

    def predict(self, X: Any) -> _F64:
        _need(self._is_conformalized, "predict", "conformalize")
        return self._predict3(X)[2]

    def predict_interval(self, X: Any, symmetric_correction: bool = False) -> tuple[_F64, _F64]:
        """``(median predictions (n,), intervals (n, 2, n_levels))``."""
        _need(self._is_conformalized, "predict_interval", "conformalize")
        lo, hi, med = self._predict3(X)
        if symmetric_correction:
            q = self._q_symmetric
            out = _mlkern._intervals(lo, hi, None, -q, q)
        else:
            out = _mlkern._intervals(lo, hi, None, -self._q_low, self._q_up)
        return med, out.reshape(med.shape[0], 2, -1)

