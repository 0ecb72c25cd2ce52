"""Shared set-up for mlkern's asv benchmarks.

Every benchmark class times mlkern and the peer doing the same work, side by side
(``param`` ``impl``), with both limited to the same thread count.
"""

from __future__ import annotations

import numpy as np

THREADS = 2


def limit_threads(n: int = THREADS) -> object:
    """Sets mlkern's pool and the BLAS pool of NumPy/SciPy to ``n`` threads."""
    import mlkern

    mlkern.set_num_threads(n)
    try:
        from threadpoolctl import threadpool_limits

        return threadpool_limits(n)
    except ImportError:
        return None


def cpu_report() -> str:
    import mlkern

    info = mlkern.cpu_info()
    return f"{info['tier']} ({' '.join(info['features'])})"


def blas_kernels() -> list[dict[str, object]]:
    """threadpoolctl's view of the BLAS libraries of NumPy and SciPy: internal_api,
    version, architecture (the kernel OpenBLAS runs), num_threads. Empty without threadpoolctl."""
    import scipy.linalg  # noqa: F401 - loads SciPy's own OpenBLAS

    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        return []
    keys = ("internal_api", "version", "architecture", "num_threads", "filepath")
    return [{k: lib.get(k) for k in keys} for lib in threadpool_info() if lib.get("user_api") == "blas"]


def rng(seed: int = 0) -> np.random.Generator:
    return np.random.default_rng(seed)
