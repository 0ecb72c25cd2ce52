"""mlkern.linalg against NumPy (OpenBLAS), scikit-learn and SciPy, in the same run.

Thread counts are set on both sides (``mlkern.set_num_threads`` and threadpoolctl).
"""

from __future__ import annotations

import numpy as np

import mlkern
from mlkern import linalg

try:
    from threadpoolctl import threadpool_limits
except ImportError:  # pragma: no cover - asv environments install it
    threadpool_limits = None


class _Threads:
    def setup_threads(self, threads: int) -> None:
        mlkern.set_num_threads(threads)
        self._limits = threadpool_limits(threads) if threadpool_limits else None

    def teardown(self, *args: object) -> None:
        if self._limits is not None:
            self._limits.unregister()


class Matmul(_Threads):
    params = (
        ["256x256x256", "1024x1024x1024", "2048x2048x2048", "100000x32x64", "64x100000x32", "2048x64x2048"],
        ["float32", "float64"],
        [1, 2],
        ["mlkern", "numpy"],
    )
    param_names = ["m_k_n", "dtype", "threads", "impl"]
    timeout = 300

    def setup(self, shape: str, dtype: str, threads: int, impl: str) -> None:
        m, k, n = (int(x) for x in shape.split("x"))
        rng = np.random.default_rng(0)
        self.a = rng.standard_normal((m, k)).astype(dtype)
        self.b = rng.standard_normal((k, n)).astype(dtype)
        self.setup_threads(threads)

    def time_matmul(self, shape: str, dtype: str, threads: int, impl: str) -> None:
        if impl == "mlkern":
            linalg.matmul(self.a, self.b)
        else:
            self.a @ self.b


class MatmulSmall(_Threads):
    """Small and medium squares and the three products of one dense MLP layer with
    batch 256 (forward ``X @ W``, weight gradient ``X.T @ dY``, input gradient
    ``dY @ W.T``; the transposed operands are views, as frameworks pass them)."""

    params = (
        ["64", "128", "256", "512", "mlp64", "mlp128", "mlp256"],
        ["NN", "TN", "NT"],
        ["float32", "float64"],
        [1, 2],
        ["mlkern", "numpy"],
    )
    param_names = ["size", "layout", "dtype", "threads", "impl"]

    def setup(self, size: str, layout: str, dtype: str, threads: int, impl: str) -> None:
        h = int(size.removeprefix("mlp"))
        m, k, n = (256, h, h) if size.startswith("mlp") else (h, h, h)
        if layout == "TN":
            m, k = k, m  # X.T @ dY: (h, 256) @ (256, h)
        rng = np.random.default_rng(0)
        a = rng.standard_normal((k, m) if layout == "TN" else (m, k)).astype(dtype)
        b = rng.standard_normal((n, k) if layout == "NT" else (k, n)).astype(dtype)
        self.a = a.T if layout == "TN" else a
        self.b = b.T if layout == "NT" else b
        self.setup_threads(threads)

    def time_matmul(self, size: str, layout: str, dtype: str, threads: int, impl: str) -> None:
        if impl == "mlkern":
            linalg.matmul(self.a, self.b)
        else:
            self.a @ self.b


class Strassen(_Threads):
    params = ([2048, 3072, 4096], ["strassen", "classical"])
    param_names = ["n", "method"]
    timeout = 600

    def setup(self, n: int, method: str) -> None:
        rng = np.random.default_rng(1)
        self.a, self.b = rng.standard_normal((n, n)), rng.standard_normal((n, n))
        self.setup_threads(1)

    def time_matmul(self, n: int, method: str) -> None:
        linalg.matmul(self.a, self.b, method=method)


class RandomizedSVD(_Threads):
    params = ([1, 2], ["mlkern", "sklearn"])
    param_names = ["threads", "impl"]
    timeout = 300

    def setup(self, threads: int, impl: str) -> None:
        rng = np.random.default_rng(2)
        self.x = rng.standard_normal((5000, 50)) @ rng.standard_normal((50, 2000))
        self.x += 0.01 * rng.standard_normal(self.x.shape)
        from sklearn.utils.extmath import randomized_svd  # imported here, not timed

        self.sk = randomized_svd
        self.setup_threads(threads)

    def time_randomized_svd(self, threads: int, impl: str) -> None:
        if impl == "mlkern":
            linalg.randomized_svd(self.x, 50, n_iter=2, random_state=0)
        else:
            self.sk(self.x, 50, n_iter=2, random_state=0)


class CsrMatmul(_Threads):
    params = (["mlkern", "scipy"],)
    param_names = ["impl"]

    def setup(self, impl: str) -> None:
        import scipy.sparse as sp

        self.a = sp.random(100_000, 10_000, density=0.01, format="csr", random_state=0)
        self.b = np.random.default_rng(3).standard_normal((10_000, 64))
        self.setup_threads(2)

    def time_csr_matmul(self, impl: str) -> None:
        if impl == "mlkern":
            linalg.csr_matmul(self.a, self.b)
        else:
            self.a @ self.b
