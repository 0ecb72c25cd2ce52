"""Type stubs of the compiled extension (checked with ``python -m mypy.stubtest mlkern._mlkern``)."""

from typing import Literal, TypeAlias, TypedDict, type_check_only

import numpy as np
import numpy.typing as npt

__version__: str
__all__ = [
    "__version__",
    "_set_tier",
    "cdist",
    "cosine",
    "cpu_info",
    "dot",
    "get_num_threads",
    "norm",
    "set_num_threads",
    "sqeuclidean",
    "topk",
]

_Float: TypeAlias = np.float32 | np.float64
_FloatArray: TypeAlias = npt.NDArray[np.float32] | npt.NDArray[np.float64]
_Metric: TypeAlias = Literal["dot", "cosine", "sqeuclidean", "euclidean"]

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
def dot(a: npt.ArrayLike, b: npt.ArrayLike, *, precise: bool = False) -> _Float: ...
def norm(a: npt.ArrayLike) -> _Float: ...
def cosine(a: npt.ArrayLike, b: npt.ArrayLike) -> _Float: ...
def sqeuclidean(a: npt.ArrayLike, b: npt.ArrayLike) -> _Float: ...
def cdist(
    a: npt.ArrayLike,
    b: npt.ArrayLike,
    metric: _Metric = "dot",
    *,
    out: _FloatArray | None = None,
) -> _FloatArray: ...
def topk(
    queries: npt.ArrayLike,
    corpus: npt.ArrayLike,
    k: int,
    metric: _Metric = "dot",
) -> tuple[npt.NDArray[np.int64], _FloatArray]: ...
