"""mlkern.hdc beside NumPy, numkong and torchhd (issue 14's workloads).

Encode 100 000 × 32 float32 to packed D = 10 000 (NumPy ``X @ W > 0`` +
``packbits``, torchhd ``Projection`` + ``hard_quantize``), ``cdist_hamming`` of
1 000 × 1 000 codes of 10 000 bits (numkong ``hammings_packed``), and the digits
classifier (torchhd ``Centroid`` + five ``add_online`` epochs). Optional peers raise
``NotImplementedError`` (asv skips them) when they are not installed; ``track_``
reports test accuracy so a faster but worse model shows.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .common import THREADS, limit_threads, rng


class Encode:
    params = (["mlkern", "numpy", "torchhd"],)
    param_names = ["impl"]
    timeout = 300

    def setup(self, impl: str) -> None:
        from mlkern import hdc

        self._limits = limit_threads()
        self.X = rng(1).standard_normal((100_000, 32), dtype=np.float32)
        enc = hdc.ProjectionEncoder(32, 10_000, random_state=0)
        if impl == "mlkern":
            self.fn: Any = lambda: enc.encode(self.X)
        elif impl == "numpy":
            W = enc.weights_
            self.fn = lambda: np.packbits(self.X @ W > 0, axis=1, bitorder="little")
        else:
            try:
                import torch
                import torchhd
                from torchhd import embeddings
            except ImportError as e:
                raise NotImplementedError("torchhd is not installed") from e
            proj, xt = embeddings.Projection(32, 10_000), torch.from_numpy(self.X)

            def run() -> Any:
                with torch.no_grad():
                    return torchhd.hard_quantize(proj(xt))

            self.fn = run

    def time_encode(self, impl: str) -> None:
        self.fn()

    def peakmem_encode(self, impl: str) -> None:
        self.fn()


class CdistHamming:
    params = (["mlkern", "numkong"],)
    param_names = ["impl"]

    def setup(self, impl: str) -> None:
        from mlkern import hdc

        self._limits = limit_threads()
        A, B = hdc.random(1000, 10_000, random_state=1), hdc.random(1000, 10_000, random_state=2)
        if impl == "mlkern":
            self.fn: Any = lambda: hdc.cdist_hamming(A, B)
        else:
            try:
                import numkong
            except ImportError as e:
                raise NotImplementedError("numkong is not installed") from e
            packed, a8 = numkong.hammings_pack(B.view(np.uint8)), A.view(np.uint8)
            self.fn = lambda: numkong.hammings_packed(a8, packed)

    def time_cdist_hamming(self, impl: str) -> None:
        self.fn()


class DigitsClassifier:
    params = (["mlkern", "torchhd"],)
    param_names = ["impl"]
    timeout = 300

    def setup(self, impl: str) -> None:
        from mlkern import hdc
        from mlkern._bench_hdc import _digits, _torchhd_digits

        self._limits = limit_threads()
        Xtr, Xte, ytr, self.yte = _digits()
        if impl == "mlkern":
            self.fn: Any = lambda: hdc.HDClassifier(D=10_000, random_state=0).fit(Xtr, ytr).predict(Xte)
        else:
            try:
                import torchhd  # noqa: F401
            except ImportError as e:
                raise NotImplementedError("torchhd is not installed") from e
            self.fn = lambda: _torchhd_digits(Xtr, ytr, Xte, 10_000, 5, THREADS)

    def time_fit_predict(self, impl: str) -> None:
        self.fn()

    def track_accuracy(self, impl: str) -> float:
        return float(np.mean(self.fn() == self.yte))
