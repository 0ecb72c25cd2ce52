"""mlkern.vector beside NumPy/SciPy: dot, cdist, topk (time and peak memory)."""

from __future__ import annotations

from typing import Any

import numpy as np

from .common import limit_threads, rng


class Dot:
    """``mlkern.vector.dot`` vs ``numpy.dot`` per call."""

    params = (["mlkern", "numpy"], ["float32", "float64"], [16, 1024, 1 << 20, 1 << 24])
    param_names = ["impl", "dtype", "n"]

    def setup(self, impl: str, dtype: str, n: int) -> None:
        from mlkern import vector

        self._limits = limit_threads()
        g = rng(0)
        self.a = g.standard_normal(n).astype(dtype)
        self.b = g.standard_normal(n).astype(dtype)
        self.fn = vector.dot if impl == "mlkern" else np.dot

    def time_dot(self, impl: str, dtype: str, n: int) -> None:
        self.fn(self.a, self.b)


class CdistCosine:
    """1000x768 by 1000x768 float32 cosine similarity: mlkern vs NumPy (normalise+GEMM) vs SciPy."""

    params = (["mlkern", "numpy", "scipy"],)
    param_names = ["impl"]
    timeout = 300

    def setup(self, impl: str) -> None:
        from scipy.spatial.distance import cdist as scipy_cdist

        from mlkern import vector

        self._limits = limit_threads()
        g = rng(1)
        a = g.standard_normal((1000, 768)).astype(np.float32)
        b = g.standard_normal((1000, 768)).astype(np.float32)

        def numpy_cosine() -> Any:
            an = a / np.linalg.norm(a, axis=1, keepdims=True)
            bn = b / np.linalg.norm(b, axis=1, keepdims=True)
            return an @ bn.T

        self.fn = {
            "mlkern": lambda: vector.cdist(a, b, "cosine"),
            "numpy": numpy_cosine,
            "scipy": lambda: scipy_cdist(a, b, "cosine"),
        }[impl]

    def time_cdist_cosine(self, impl: str) -> None:
        self.fn()


class TopK:
    """100 queries against a 100 000 x 768 float32 corpus, k = 10, dot product."""

    params = (["mlkern", "numpy"],)
    param_names = ["impl"]
    timeout = 600

    def setup_cache(self) -> tuple[np.ndarray, np.ndarray]:
        g = rng(2)
        return g.standard_normal((100_000, 768), dtype=np.float32), g.standard_normal((100, 768), dtype=np.float32)

    def setup(self, data: tuple[np.ndarray, np.ndarray], impl: str) -> None:
        from mlkern import _bench, vector

        self._limits = limit_threads()
        corpus, queries = data
        if impl == "mlkern":
            self.fn = lambda: vector.topk(queries, corpus, 10)
        else:
            self.fn = lambda: _bench._numpy_topk(queries, corpus, 10)

    def time_topk(self, data: tuple[np.ndarray, np.ndarray], impl: str) -> None:
        self.fn()

    def peakmem_topk(self, data: tuple[np.ndarray, np.ndarray], impl: str) -> None:
        self.fn()

