"""mlkern.vector beside NumPy/SciPy: dot, cdist, topk (time and peak memory); the BLAS kernels the peers run."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from typing import Any

import numpy as np

from . import DROPPED_BLAS_ENV
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


class Cdist:
    """1000x768 by 1000x768 float32, each metric with SciPy's meaning of its name: mlkern vs
    SciPy's cdist vs NumPy's one-GEMM formulation (sklearn's, on the threaded BLAS)."""

    params = (["euclidean", "sqeuclidean", "cosine"], ["mlkern", "numpy", "scipy"])
    param_names = ["metric", "impl"]
    timeout = 300

    def setup(self, metric: str, impl: str) -> None:
        from scipy.spatial.distance import cdist as scipy_cdist

        from mlkern import _bench, vector

        self._limits = limit_threads()
        g = rng(1)
        a = g.standard_normal((1000, 768)).astype(np.float32)
        b = g.standard_normal((1000, 768)).astype(np.float32)
        numpy_formulation = {"euclidean": _bench._numpy_euclidean, "sqeuclidean": _bench._numpy_sqeuclidean,
                             "cosine": _bench._numpy_cosine_distance}[metric]
        self.fn: Any = {
            "mlkern": lambda: vector.cdist(a, b, metric),
            "numpy": lambda: numpy_formulation(a, b),
            "scipy": lambda: scipy_cdist(a, b, metric),
        }[impl]

    def time_cdist(self, metric: str, impl: str) -> None:
        self.fn()


class TopK:
    """100 queries against a 100 000 x 768 float32 corpus, k = 10: a similarity ("dot",
    largest first) and the default distance ("euclidean", smallest first)."""

    params = (["dot", "euclidean"], ["mlkern", "numpy"])
    param_names = ["metric", "impl"]
    timeout = 600

    def setup_cache(self) -> tuple[np.ndarray, np.ndarray]:
        g = rng(2)
        return g.standard_normal((100_000, 768), dtype=np.float32), g.standard_normal((100, 768), dtype=np.float32)

    def setup(self, data: tuple[np.ndarray, np.ndarray], metric: str, impl: str) -> None:
        from mlkern import _bench, vector

        self._limits = limit_threads()
        corpus, queries = data
        if impl == "mlkern":
            self.fn = lambda: vector.topk(queries, corpus, 10, metric=metric)
        else:
            self.fn = lambda: _bench._numpy_topk(queries, corpus, 10, metric)

    def time_topk(self, data: tuple[np.ndarray, np.ndarray], metric: str, impl: str) -> None:
        self.fn()

    def peakmem_topk(self, data: tuple[np.ndarray, np.ndarray], metric: str, impl: str) -> None:
        self.fn()


# What a benchmark process starts with: NumPy with OpenBLAS loaded, nothing else.
_KERNEL_PROBE = (
    "import json, numpy, scipy.linalg, threadpoolctl, os; print(json.dumps({os.path.basename(i['filepath']): "
    "i['architecture'] for i in threadpoolctl.threadpool_info() if i['internal_api'] == 'openblas'}))"
)


class BlasPeers:
    """Which kernel NumPy/SciPy's OpenBLAS runs inside an asv benchmark process.

    ``track_openblas_kernels_not_native`` counts the OpenBLAS libraries whose kernel
    (threadpoolctl's ``architecture``) differs from the one a process started without
    ``OPENBLAS_CORETYPE``/``OPENBLAS_L2_SIZE`` picks: 0 when the peers run at their
    best. The kernels and the dropped variables are printed (``asv run -e``).
    """

    timeout = 120

    def setup(self) -> None:
        from .common import blas_kernels

        self.kernels = {os.path.basename(str(lib["filepath"])): lib["architecture"] for lib in blas_kernels()
                        if lib["internal_api"] == "openblas"}
        env = {k: v for k, v in os.environ.items() if k not in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")}
        r = subprocess.run([sys.executable, "-c", _KERNEL_PROBE], capture_output=True, text=True, env=env, timeout=100)
        self.native = json.loads(r.stdout) if r.returncode == 0 else {}

    def track_openblas_kernels_not_native(self) -> int:
        print(f"OpenBLAS kernels in this benchmark process: {self.kernels}; a clean process picks {self.native}; "
              f"dropped at start: {DROPPED_BLAS_ENV or 'nothing'}", file=sys.stderr)
        return sum(1 for name, arch in self.kernels.items() if self.native.get(name, arch) != arch)

    track_openblas_kernels_not_native.unit = "libraries"  # type: ignore[attr-defined]
