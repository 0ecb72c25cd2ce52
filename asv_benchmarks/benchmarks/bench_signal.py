"""mlkern.signal beside SciPy, NumPy and pandas: rfft, convolve, describe, rolling, welch."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from .common import limit_threads, rng


class Rfft:
    """rfft of 1000 x 4096 rows, same worker count on both sides."""

    params = (["mlkern", "scipy"], ["float32", "float64"], [1, 2])
    param_names = ["impl", "dtype", "workers"]

    def setup(self, impl: str, dtype: str, workers: int) -> None:
        import scipy.fft as sfft

        from mlkern import signal as ms

        self._limits = limit_threads()
        x = rng(3).standard_normal((1000, 4096)).astype(dtype)
        self.fn: Callable[[], Any] = (lambda: ms.rfft(x, workers=workers)) if impl == "mlkern" else (
            lambda: sfft.rfft(x, workers=workers))

    def time_rfft(self, impl: str, dtype: str, workers: int) -> None:
        self.fn()


class Convolve:
    """A 1 000 000-sample float64 signal with 64, 1 024 and 16 384 taps."""

    params = (["mlkern", "numpy.convolve", "fftconvolve", "oaconvolve"], [64, 1024, 16384])
    param_names = ["impl", "taps"]
    timeout = 300

    def setup(self, impl: str, taps: int) -> None:
        import scipy.signal as ss

        from mlkern import signal as ms

        if impl == "numpy.convolve" and taps > 1024:
            raise NotImplementedError("numpy.convolve takes seconds here")
        self._limits = limit_threads()
        g = rng(4)
        a, v = g.standard_normal(1_000_000), g.standard_normal(taps)
        self.fn: Callable[[], Any] = {
            "mlkern": lambda: ms.convolve(a, v),
            "numpy.convolve": lambda: np.convolve(a, v),
            "fftconvolve": lambda: ss.fftconvolve(a, v),
            "oaconvolve": lambda: ss.oaconvolve(a, v),
        }[impl]

    def time_convolve(self, impl: str, taps: int) -> None:
        self.fn()


class Describe:
    """describe of 1000 rows of 4096 (axis=1 on both sides)."""

    params = (["mlkern", "scipy"],)
    param_names = ["impl"]

    def setup(self, impl: str) -> None:
        import scipy.stats as st

        from mlkern import signal as ms

        self._limits = limit_threads()
        x = rng(5).standard_normal((1000, 4096))
        self.fn: Callable[[], Any] = (lambda: ms.describe(x, axis=1)) if impl == "mlkern" else (
            lambda: st.describe(x, axis=1))

    def time_describe(self, impl: str) -> None:
        self.fn()


class RollingStd:
    """rolling(100).std() over 10 000 000 samples."""

    params = (["mlkern", "pandas"],)
    param_names = ["impl"]
    timeout = 300

    def setup(self, impl: str) -> None:
        from mlkern import signal as ms

        self._limits = limit_threads()
        x = 1e3 + rng(6).standard_normal(10_000_000)
        if impl == "mlkern":
            self.fn: Callable[[], Any] = lambda: ms.rolling(x, 100, "std", axis=0)
        else:
            import pandas as pd

            s = pd.Series(x)
            self.fn = lambda: s.rolling(100).std()

    def time_rolling_std(self, impl: str) -> None:
        self.fn()


class Welch:
    params = (["mlkern", "scipy"],)
    param_names = ["impl"]

    def setup(self, impl: str) -> None:
        import scipy.signal as ss

        from mlkern import signal as ms

        self._limits = limit_threads()
        x = rng(7).standard_normal(1_000_000)
        self.fn: Callable[[], Any] = (lambda: ms.welch(x, nperseg=256)) if impl == "mlkern" else (
            lambda: ss.welch(x, nperseg=256))

    def time_welch(self, impl: str) -> None:
        self.fn()
