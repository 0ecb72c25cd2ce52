"""Type stubs of the compiled extension (checked with ``python -m mypy.stubtest mlkern._mlkern``)."""

from typing import Any, Literal, TypeAlias, TypedDict, final, type_check_only

import numpy as np
import numpy.typing as npt

__version__: str
__all__ = [
    "BufferPool",
    "StreamingCalibrator",
    "_conformal_quantile",
    "_conformity_scores",
    "_cqr_side_rank",
    "_cqr_side_scores",
    "_ensemble_uncertainty",
    "_entropy",
    "_group_quantiles",
    "_hdc_accumulate",
    "_hdc_bundle",
    "_hdc_cdist_hamming",
    "_hdc_hamming_rows",
    "_hdc_kernel",
    "_hdc_level_encode",
    "_hdc_ngram_encode",
    "_hdc_pack_positive",
    "_hdc_permute",
    "_hdc_project",
    "_hdc_random",
    "_hdc_retrain_epoch",
    "_hdc_topk_hamming",
    "_intervals",
    "_learn_centered_gram",
    "_learn_linear_labels",
    "_learn_linear_scores",
    "_learn_logistic_fit",
    "_learn_sgd_fit",
    "_learn_sgd_softmax_fit",
    "_learn_mlp_epoch",
    "_learn_mlp_predict",
    "_flash_attention",
    "_learn_solve_spd",
    "_margin",
    "_order_statistic",
    "_predict_sets",
    "_regression_scores",
    "__version__",
    "_PoolMemory",
    "_csr_matmul",
    "_rust_allocation_count",
    "_fma_ceiling",
    "_hold_locks",
    "_lu_pl",
    "_svd_jacobi",
    "_choose_convolve_method",
    "_convolve_rows",
    "_describe_rows",
    "_fft_rows",
    "_irfft_rows",
    "_rfft_rows",
    "_rolling_rows",
    "_set_tier",
    "_spectral_features_rows",
    "_welch_rows",
    "cdist",
    "cosine_distance",
    "cosine_similarity",
    "cpu_info",
    "dot",
    "get_num_threads",
    "matmul",
    "norm",
    "qr",
    "set_num_threads",
    "sqeuclidean",
    "topk",
]

_Float: TypeAlias = np.float32 | np.float64
_FloatArray: TypeAlias = npt.NDArray[np.float32] | npt.NDArray[np.float64]
_Metric: TypeAlias = Literal["euclidean", "sqeuclidean", "cosine", "cosine_similarity", "dot"]

@type_check_only
class CpuInfo(TypedDict):
    tier: str
    best_tier: str
    available_tiers: list[str]
    features: list[str]
    num_threads: int
    arch: str

def cpu_info() -> CpuInfo: ...
def set_num_threads(n: int) -> None: ...
def get_num_threads() -> int: ...
def _set_tier(name: str) -> None: ...
def _hold_locks(seconds: float) -> None: ...
def dot(a: npt.ArrayLike, b: npt.ArrayLike, *, precise: bool = False) -> _Float: ...
def norm(a: npt.ArrayLike) -> _Float: ...
def cosine_similarity(a: npt.ArrayLike, b: npt.ArrayLike) -> _Float: ...
def cosine_distance(a: npt.ArrayLike, b: npt.ArrayLike) -> _Float: ...
def sqeuclidean(a: npt.ArrayLike, b: npt.ArrayLike) -> _Float: ...
def cdist(
    a: npt.ArrayLike,
    b: npt.ArrayLike,
    metric: _Metric = "euclidean",
    *,
    out: _FloatArray | None = None,
) -> _FloatArray: ...
def topk(
    queries: npt.ArrayLike,
    corpus: npt.ArrayLike,
    k: int,
    metric: _Metric = "euclidean",
) -> tuple[_FloatArray, npt.NDArray[np.int64]]: ...

# mlkern.signal's row kernels (called by python/mlkern/signal.py; complex data is
# passed as float rows of twice the width). workers = 0 means the whole pool.
def _rfft_rows(x: _FloatArray, n: int, norm: str | None, workers: int) -> _FloatArray: ...
def _irfft_rows(x: _FloatArray, n: int, norm: str | None, workers: int) -> _FloatArray: ...
def _fft_rows(x: _FloatArray, n: int, inverse: bool, norm: str | None, workers: int) -> _FloatArray: ...
def _convolve_rows(
    a: _FloatArray, v: _FloatArray, mode: str, method: str, correlate: bool, workers: int
) -> tuple[_FloatArray, str]: ...
def _choose_convolve_method(rows: int, n: int, m: int, mode: str, is_f32: bool) -> str: ...
def _describe_rows(x: _FloatArray, ddof: int, bias: bool, workers: int) -> _FloatArray: ...
def _rolling_rows(x: _FloatArray, window: int, stat: str, workers: int) -> _FloatArray: ...
def _welch_rows(x: _FloatArray, fs: float, nperseg: int, noverlap: int, workers: int) -> _FloatArray: ...
def _spectral_features_rows(
    x: _FloatArray, fs: float, bands: list[tuple[float, float]], workers: int
) -> npt.NDArray[np.float64]: ...

# linalg
def matmul(
    a: npt.ArrayLike,
    b: npt.ArrayLike,
    *,
    method: Literal["auto", "classical", "strassen"] = "auto",
    out: _FloatArray | None = None,
) -> _FloatArray: ...
def qr(
    a: npt.ArrayLike, mode: Literal["reduced", "complete", "r"] = "reduced"
) -> tuple[_FloatArray, _FloatArray] | _FloatArray: ...
def _lu_pl(a: npt.ArrayLike) -> _FloatArray: ...
def _svd_jacobi(a: npt.ArrayLike) -> tuple[_FloatArray, _FloatArray, _FloatArray]: ...
def _csr_matmul(
    data: npt.ArrayLike,
    indices: npt.NDArray[np.int32] | npt.NDArray[np.int64],
    indptr: npt.NDArray[np.int32] | npt.NDArray[np.int64],
    shape: tuple[int, int],
    b: npt.ArrayLike,
) -> _FloatArray: ...
def _rust_allocation_count() -> int: ...
def _fma_ceiling(dtype: str) -> float: ...

# mem
@type_check_only
class PoolStats(TypedDict):
    hits: int
    misses: int
    bytes_held: int

@final
class _PoolMemory: ...

@final
class BufferPool:
    def __new__(cls, max_bytes: int | None = None) -> BufferPool: ...
    @property
    def max_bytes(self) -> int | None: ...
    def empty(self, shape: int | tuple[int, ...] | list[int], dtype: npt.DTypeLike | None = None) -> np.ndarray: ...
    def stats(self) -> PoolStats: ...
    def clear(self) -> None: ...

# conformal (internal: see mlkern.conformal)
def _conformity_scores(
    probs: npt.ArrayLike, labels: npt.NDArray[np.int64], method: str, lambda_: float, k_reg: int, seed: int | None
) -> npt.NDArray[np.float64]: ...
def _predict_sets(
    probs: npt.ArrayLike,
    threshold: npt.NDArray[np.float64],
    kind: str,
    method: str,
    lambda_: float,
    k_reg: int,
    seed: int | None,
    packed: bool,
    argmax: bool = False,
) -> Any: ...
def _conformal_quantile(
    scores: npt.NDArray[np.float64], levels: npt.NDArray[np.float64]
) -> tuple[npt.NDArray[np.float64], int]: ...
def _group_quantiles(
    scores: npt.NDArray[np.float64], groups: npt.NDArray[np.int64], levels: npt.NDArray[np.float64]
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.float64], int]: ...
def _regression_scores(
    kind: str, y: npt.NDArray[np.float64], a: npt.NDArray[np.float64], b: npt.NDArray[np.float64] | None
) -> npt.NDArray[np.float64]: ...
def _cqr_side_scores(
    y: npt.NDArray[np.float64], lower: npt.NDArray[np.float64], upper: npt.NDArray[np.float64]
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]: ...
def _cqr_side_rank(n: int, level: float) -> int | None: ...
def _order_statistic(scores: npt.NDArray[np.float64], k: int | None) -> float: ...
def _intervals(
    a: npt.NDArray[np.float64],
    b: npt.NDArray[np.float64],
    scale: npt.NDArray[np.float64] | None,
    lo: npt.NDArray[np.float64],
    hi: npt.NDArray[np.float64],
) -> npt.NDArray[np.float64]: ...
def _entropy(probs: npt.ArrayLike, scale: float) -> npt.NDArray[np.float64]: ...
def _margin(probs: npt.ArrayLike) -> npt.NDArray[np.float64]: ...
def _ensemble_uncertainty(probs: npt.ArrayLike, m: int, scale: float) -> npt.NDArray[np.float64]: ...

@final
class StreamingCalibrator:
    """A streaming conformal calibrator: ``add`` scores as they arrive (O(log n)
    each), ask ``quantile(confidence_level)`` at any time (the ⌈(n+1)·level⌉-th
    smallest score so far, ``+inf`` when too few). Pickles."""

    def __new__(cls) -> StreamingCalibrator: ...
    def add(self, scores: float | npt.NDArray[np.float64]) -> None: ...
    def quantile(self, confidence_level: float) -> float: ...
    def sorted_scores(self) -> npt.NDArray[np.float64]: ...
    def __len__(self) -> int: ...
    def __getstate__(self) -> npt.NDArray[np.float64]: ...
    def __setstate__(self, state: npt.NDArray[np.float64]) -> None: ...

# hdc (python/mlkern/hdc.py checks dtypes, shapes and padding before calling these)
_U64: TypeAlias = npt.NDArray[np.uint64]

def _hdc_kernel() -> str: ...
def _hdc_random(n: int, d: int, seed: int) -> _U64: ...
def _hdc_hamming_rows(a: _U64, b: _U64) -> npt.NDArray[np.int64]: ...
def _hdc_cdist_hamming(xa: _U64, xb: _U64) -> npt.NDArray[np.int64]: ...
def _hdc_topk_hamming(queries: _U64, memory: _U64, k: int) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]: ...
def _hdc_bundle(x: _U64, d: int, seed: int) -> _U64: ...
def _hdc_permute(x: _U64, k: int, d: int) -> _U64: ...
def _hdc_project(
    x: npt.NDArray[np.float32],
    w: npt.NDArray[np.float32],
    bias: npt.NDArray[np.float32],
    d: int,
    nonlinearity: Literal["identity", "sinusoid"],
    binary: bool,
) -> npt.NDArray[Any]: ...
def _hdc_level_encode(level: npt.NDArray[np.uint32], ids: _U64, codebook: _U64, d: int, seed: int) -> _U64: ...
def _hdc_ngram_encode(
    tokens: npt.NDArray[np.uint32], offsets: npt.NDArray[np.int64], rotated: _U64, d: int, seed: int
) -> _U64: ...
def _hdc_accumulate(
    codes: _U64,
    d: int,
    samples: npt.NDArray[np.int64],
    classes: npt.NDArray[np.int64],
    weights: npt.NDArray[np.float32],
    prototypes: npt.NDArray[np.float32],
) -> None: ...
def _hdc_pack_positive(values: npt.NDArray[np.float32]) -> _U64: ...
def _hdc_retrain_epoch(
    codes: _U64, d: int, labels: npt.NDArray[np.int64], prototypes: npt.NDArray[np.float32], lr: float, margin: float
) -> int: ...

# -- mlkern.learn (python/mlkern/learn.py)
_F64: TypeAlias = npt.NDArray[np.float64]
def _learn_logistic_fit(
    x: npt.ArrayLike,
    y: npt.NDArray[np.uint32],
    n_classes: int,
    sample_weight: _F64 | None,
    c: float,
    fit_intercept: bool,
    max_iter: int,
    tol: float,
    w0: _F64 | None,
    progress: Any | None,
) -> tuple[_F64, _F64, int, str, float, BaseException | None]: ...
def _learn_linear_scores(
    x: npt.ArrayLike, coef: npt.NDArray[np.floating[Any]], intercept: _F64, proba: bool
) -> npt.NDArray[np.floating[Any]]: ...
def _learn_linear_labels(x: npt.ArrayLike, coef: npt.NDArray[np.floating[Any]], intercept: _F64) -> npt.NDArray[np.int64]: ...
def _learn_centered_gram(
    x: npt.ArrayLike, y: _F64, sample_weight: _F64 | None, fit_intercept: bool
) -> tuple[_F64, _F64, _F64]: ...
def _learn_solve_spd(a: _F64, b: _F64) -> _F64: ...
def _learn_sgd_fit(
    x: npt.ArrayLike,
    codes: npt.NDArray[np.uint32] | None,
    values: _F64 | None,
    positives: npt.NDArray[np.uint32],
    negative: float,
    class_weights: _F64,
    sample_weight: _F64 | None,
    rows: npt.NDArray[np.uint32],
    val_rows: npt.NDArray[np.uint32],
    settings: dict[str, Any],
    seeds: npt.NDArray[np.uint64],
    coef: _F64,
    intercept: _F64,
    avg_coef: _F64,
    avg_intercept: _F64,
    t: float,
    progress: Any | None,
    classification: bool,
) -> tuple[_F64, _F64, _F64, _F64, npt.NDArray[np.int64], float, str, BaseException | None]: ...
def _learn_sgd_softmax_fit(
    x: npt.ArrayLike,
    codes: npt.NDArray[np.uint32],
    class_weights: _F64,
    sample_weight: _F64 | None,
    rows: npt.NDArray[np.uint32],
    val_rows: npt.NDArray[np.uint32],
    settings: dict[str, Any],
    seed: int,
    coef: _F64,
    intercept: _F64,
    t: float,
    progress: Any | None,
) -> tuple[_F64, _F64, int, float, str, BaseException | None]: ...
def _learn_mlp_epoch(
    x: npt.ArrayLike,
    y: npt.NDArray[Any],
    sample_weight: npt.NDArray[Any] | None,
    order: npt.NDArray[np.uint32],
    units: list[int],
    activation_name: str,
    head_name: str,
    alpha: float,
    batch_size: int,
    solver_name: str,
    hyper: tuple[float, float, float, float],
    params: npt.NDArray[Any],
    m: npt.NDArray[Any],
    v: npt.NDArray[Any],
    t: int,
) -> tuple[float | None, int, BaseException | None]: ...
def _flash_attention(
    q: npt.NDArray[Any],
    k: npt.NDArray[Any],
    v: npt.NDArray[Any],
    kind: str,
    dims: tuple[int, int, int, int, int, int],
    mask: npt.NDArray[Any] | None,
    mask_shape: tuple[int, int, int, int] | None,
    causal: bool,
    scale: float | None,
    out: npt.NDArray[Any],
    out_kind: str,
) -> None:
    """Flash attention into ``out`` (1-D views; see ``mlkern.attention``)."""
    ...

def _learn_mlp_predict(
    x: npt.ArrayLike,
    units: list[int],
    activation_name: str,
    head_name: str,
    params: npt.NDArray[Any],
    mode: str,
) -> npt.NDArray[Any]: ...
