"""mlkern.attention.flash_attention beside PyTorch's scaled_dot_product_attention
(issue 15's workloads): batch 1, 8 heads, dim 64, float32, seq 512 / 2 048 / 8 192,
full and causal; bfloat16 at seq 2 048. PyTorch is an optional peer: without it
those parameter sets raise ``NotImplementedError`` (asv skips them). ``peakmem_``
shows that the extra memory stays O(seq · dim).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .common import THREADS, limit_threads, rng


def _torch() -> Any:
    try:
        import torch
    except ImportError as e:
        raise NotImplementedError("torch is not installed") from e
    torch.set_num_threads(THREADS)
    return torch


class FlashAttention:
    params = (["mlkern", "torch"], [512, 2048, 8192], [False, True])
    param_names = ["impl", "seq", "causal"]
    timeout = 600

    def setup(self, impl: str, seq: int, causal: bool) -> None:
        import mlkern

        self._limits = limit_threads()
        mlkern.set_num_threads(THREADS)
        self.q, self.k, self.v = (rng(i).standard_normal((1, 8, seq, 64), dtype=np.float32) for i in range(3))
        if impl == "torch":
            torch = _torch()
            tq, tk, tv = (torch.from_numpy(x) for x in (self.q, self.k, self.v))
            self.run = lambda: torch.nn.functional.scaled_dot_product_attention(tq, tk, tv, is_causal=causal)
        else:
            from mlkern.attention import flash_attention

            self.run = lambda: flash_attention(self.q, self.k, self.v, causal=causal)

    def time_forward(self, impl: str, seq: int, causal: bool) -> None:
        self.run()

    def peakmem_forward(self, impl: str, seq: int, causal: bool) -> None:
        self.run()


class FlashAttentionBf16:
    params = (["mlkern", "torch"],)
    param_names = ["impl"]
    timeout = 300

    def setup(self, impl: str) -> None:
        import ml_dtypes

        import mlkern

        self._limits = limit_threads()
        mlkern.set_num_threads(THREADS)
        q, k, v = (rng(i).standard_normal((1, 8, 2048, 64), dtype=np.float32).astype(ml_dtypes.bfloat16)
                   for i in range(3))
        if impl == "torch":
            torch = _torch()
            tq, tk, tv = (torch.from_numpy(x.view(np.int16)).view(torch.bfloat16) for x in (q, k, v))
            self.run = lambda: torch.nn.functional.scaled_dot_product_attention(tq, tk, tv)
        else:
            from mlkern.attention import flash_attention

            self.run = lambda: flash_attention(q, k, v, out_dtype=ml_dtypes.bfloat16)

    def time_forward(self, impl: str) -> None:
        self.run()
