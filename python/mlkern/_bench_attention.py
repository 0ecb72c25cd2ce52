"""The ``attention`` section of ``python -m mlkern bench``: mlkern.attention's
flash_attention against PyTorch's ``scaled_dot_product_attention`` (where
installed; both at the bench's thread count) and otherwise NumPy's materialised
``softmax(q kᵀ / √d) v``, same run, same inputs.

Workloads (issue 15): batch 1, 8 heads, dim 64, float32, seq 512 and 2 048 (and
8 192 with PyTorch, outside ``--quick``), full and causal; bfloat16 at seq 2 048
against PyTorch's bfloat16 SDPA. Each answer is checked against the peer's before
it is timed; the notes give GFLOP/s (``4·h·s²·d`` for full, half for causal) and
causal's speed-up over our own full attention.
"""

from __future__ import annotations

import importlib.util
from functools import partial
from typing import Any

import numpy as np

from mlkern._bench import Config, Row, _close, _row
from mlkern.attention import flash_attention


def _numpy_attention(q: np.ndarray, k: np.ndarray, v: np.ndarray, causal: bool) -> np.ndarray:
    s = q @ np.swapaxes(k, -1, -2) * np.float32(1 / np.sqrt(q.shape[-1]))
    if causal:
        s = np.where(np.tril(np.ones(s.shape[-2:], dtype=bool)), s, np.float32(-np.inf))
    s -= s.max(-1, keepdims=True)
    np.exp(s, out=s)
    s /= s.sum(-1, keepdims=True)
    return np.asarray(s @ v)


def bench_attention(cfg: Config) -> list[Row]:
    rows: list[Row] = []
    rng = np.random.default_rng(15)
    have_torch = importlib.util.find_spec("torch") is not None
    heads, d = (2, 16) if cfg.smoke else (8, 64)
    seqs = [64, 130] if cfg.smoke else ([512, 2048] if cfg.quick or not have_torch else [512, 2048, 8192])
    torch: Any = None
    if have_torch:
        torch = importlib.import_module("torch")
        torch.set_num_threads(cfg.threads)
    full_s: dict[int, float] = {}
    for seq in seqs:
        q, k, v = (rng.standard_normal((1, heads, seq, d), dtype=np.float32) for _ in range(3))
        for causal in (False, True):
            ours = partial(flash_attention, q, k, v, causal=causal)
            if torch is not None:
                tq, tk, tv = (torch.from_numpy(x) for x in (q, k, v))

                def theirs(tq: Any = tq, tk: Any = tk, tv: Any = tv, causal: bool = causal) -> Any:
                    return torch.nn.functional.scaled_dot_product_attention(tq, tk, tv, is_causal=causal)

                peer = "torch sdpa"
            else:
                theirs = partial(_numpy_attention, q, k, v, causal)
                peer = "numpy softmax(qk^T)v"
            _close(ours(), np.asarray(theirs()), 1e-4, f"flash_attention seq {seq}")
            name = f"attention {'causal' if causal else 'full'} b1 h{heads} s{seq} d{d}"
            row = _row(cfg, name, np.float32, peer, ours, theirs, threaded_peer=True)
            flops = 4.0 * heads * seq * seq * d * (0.5 if causal else 1.0)
            row.throughput = f"{flops / row.mlkern_s / 1e9:.1f} GFLOP/s"
            row.notes = f"{peer} {flops / row.peer_s / 1e9:.1f} GFLOP/s"
            if causal:
                row.notes += f"; causal {full_s[seq] / row.mlkern_s:.2f}x faster than our full"
            else:
                full_s[seq] = row.mlkern_s
            rows.append(row)
    if torch is not None:
        import ml_dtypes

        seq = 130 if cfg.smoke else 2048
        q, k, v = (rng.standard_normal((1, heads, seq, d), dtype=np.float32).astype(ml_dtypes.bfloat16)
                   for _ in range(3))
        tq, tk, tv = (torch.from_numpy(x.view(np.int16)).view(torch.bfloat16) for x in (q, k, v))

        def torch_bf16() -> Any:
            return torch.nn.functional.scaled_dot_product_attention(tq, tk, tv)

        ours = partial(flash_attention, q, k, v, out_dtype=ml_dtypes.bfloat16)
        _close(ours().astype(np.float32), torch_bf16().float().numpy(), 2e-2, "bfloat16 flash_attention")
        row = _row(cfg, f"attention full b1 h{heads} s{seq} d{d}", ml_dtypes.bfloat16, "torch sdpa bfloat16",
                   ours, torch_bf16, threaded_peer=True)
        flops = 4.0 * heads * seq * seq * d
        row.throughput = f"{flops / row.mlkern_s / 1e9:.1f} GFLOP/s"
        row.notes = f"torch {flops / row.peer_s / 1e9:.1f} GFLOP/s"
        rows.append(row)
    return rows
