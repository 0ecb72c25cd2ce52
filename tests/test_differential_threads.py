"""Results do not depend on the thread count (DESIGN.md, signal.py's conventions):
every parallel public function gives bitwise equal results on 1 and 2 threads, on
sizes above each kernel's parallel threshold, on every tier. (A property, not a
differential test: the values themselves are checked in test_differential_*.py.)"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
import scipy.sparse as sp
from _strategies import TIERS, base_array, kernel_context

from mlkern import linalg, vector
from mlkern import signal as ms

X = base_array(1, (300_001,), np.float64)
Y = base_array(2, (300_001,), np.float64)
A = base_array(3, (130, 70), np.float32)
B = base_array(4, (90, 70), np.float32)
C = base_array(5, (5000, 16), np.float64)
S = base_array(6, (9, 4096), np.float64)
CSR = sp.random(3000, 500, density=0.05, format="csr", random_state=7)
D = base_array(8, (500, 20), np.float64)

CALLS: dict[str, Callable[[], Any]] = {
    "dot": lambda: vector.dot(X, Y),
    "dot_precise": lambda: vector.dot(X, Y, precise=True),
    "norm": lambda: vector.norm(X),
    "sqeuclidean": lambda: vector.sqeuclidean(X, Y),
    "cdist": lambda: vector.cdist(A, B, "sqeuclidean"),
    "cdist_dot": lambda: vector.cdist(A, B, "dot"),
    "topk": lambda: vector.topk(A[:20].astype(np.float64), C[:, :16].repeat(5, axis=1)[:, :70], 7),
    "rfft": lambda: ms.rfft(S),
    "fft_odd": lambda: ms.fft(S[:, :4095]),
    "irfft": lambda: ms.irfft(ms.rfft(S)),
    "convolve_oa": lambda: ms.convolve(X[:100_000], Y[:700], method="overlap_add"),
    "convolve_fft": lambda: ms.convolve(S, Y[:300], method="fft"),
    "convolve_direct": lambda: ms.convolve(S, Y[:30], method="direct"),
    "describe": lambda: tuple(ms.describe(S, axis=-1)),
    "rolling_long": lambda: ms.rolling(X, 5, "var"),
    "rolling_skew": lambda: ms.rolling(X[:100_000], 300, "skew"),
    "rolling_max": lambda: ms.rolling(X, 7, "max"),
    "welch": lambda: ms.welch(X[:200_000], nperseg=256)[1],
    "spectral_features": lambda: tuple(ms.spectral_features(S, 100.0).values()),
    "matmul": lambda: linalg.matmul(base_array(9, (300, 400), np.float64), base_array(10, (400, 200), np.float64)),
    "matmul_skinny": lambda: linalg.matmul(base_array(13, (16, 20000), np.float32), base_array(14, (20000, 16), np.float32)),
    "qr": lambda: linalg.qr(base_array(11, (400, 150), np.float64)),
    "randomized_svd": lambda: linalg.randomized_svd(base_array(12, (600, 300), np.float32), 10, random_state=0),
    "randomized_svd_tall": lambda: linalg.randomized_svd(base_array(15, (2000, 40), np.float64), 20, random_state=0),
    "csr_matmul": lambda: linalg.csr_matmul(CSR, D),
}


def flat(r: Any) -> list[np.ndarray]:
    if isinstance(r, (tuple, list)):
        return [np.asarray(v) for v in r]
    return [np.asarray(r)]


@pytest.mark.parametrize("tier", [TIERS[0], TIERS[-1]])
@pytest.mark.parametrize("name", list(CALLS))
def test_same_result_on_1_and_2_threads(name: str, tier: str) -> None:
    outs = []
    for t in (1, 2):
        with kernel_context(tier, t):
            outs.append(flat(CALLS[name]()))
    for x, y in zip(*outs):
        np.testing.assert_array_equal(x, y, err_msg=f"{name} tier={tier}: 1 vs 2 threads")
