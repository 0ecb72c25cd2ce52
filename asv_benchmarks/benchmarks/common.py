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


def rng(seed: int = 0) -> np.random.Generator:
    return np.random.default_rng(seed)
