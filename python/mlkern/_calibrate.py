"""``python -m mlkern calibrate-convolve``: measure the convolution methods and fit
the cost model that ``method="auto"`` uses (``rust/signal/src/convolve.rs``, ``COST``).

Model (nanoseconds, float64; float32 direct costs 0.5 and FFTs 0.6 of it):
  direct       = direct_per_mac * outputs * taps / threads
  fft          = fft_fixed + fft_per_nlogn * N log2 N * (1 + 2 rows / min(threads, rows)),
                 N = next 5-smooth length >= n + m - 1
  overlap_add  = fft_fixed + fft_per_nlogn * N log2 N * (1 + 2 rows blocks / threads),
                 N = next power of two >= max(8 m, 1024), blocks = ceil(n / (N - m + 1))
Each constant is the median over the grid of (measured time - fixed) / (model term);
the table shows, per grid point, every method's time and what ``auto`` picks.
"""

from __future__ import annotations

import math
import statistics
import time
from collections.abc import Callable
from functools import partial
from typing import Any

import numpy as np

import mlkern
from mlkern import signal as ms

GRID = [(n, m) for n in (10_000, 100_000, 1_000_000) for m in (8, 32, 64, 128, 256, 1024, 4096, 16384) if m < n]


def _best_time(f: Callable[[], Any], repeats: int = 3) -> float:
    f()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        f()
        times.append(time.perf_counter() - t0)
    return min(times)


def _fast_len(n: int) -> int:
    best = 1 << (n - 1).bit_length()
    p5 = 1
    while p5 < best:
        p35 = p5
        while p35 < best:
            q = p35
            while q < n:
                q *= 2
            best = min(best, q)
            p35 *= 3
        p5 *= 5
    return best


def _nlogn(x: int) -> float:
    return x * max(math.log2(x), 1.0)


def calibrate(out: Callable[[str], None] = print) -> dict[str, float]:
    threads = mlkern.get_num_threads()
    rng = np.random.default_rng(0)
    rows: list[tuple[int, int, dict[str, float], str]] = []
    for n, m in GRID:
        a = rng.standard_normal(n)
        v = rng.standard_normal(m)
        t = {meth: _best_time(partial(ms.convolve, a, v, method=meth)) for meth in ("direct", "fft", "overlap_add")
             if not (meth == "direct" and n * m > 4e9)}
        rows.append((n, m, t, ms.choose_convolve_method(a, v)))
    direct = [r[2]["direct"] * 1e9 * threads / ((r[0] + r[1] - 1) * r[1]) for r in rows if "direct" in r[2]]
    small_fft = [r[2]["fft"] for r in rows if r[0] == 10_000]
    fixed = max(min(small_fft) * 1e9 * 0.3, 5_000.0)
    fft_c = [(r[2]["fft"] * 1e9 - fixed) / (_nlogn(_fast_len(r[0] + r[1] - 1)) * 3) for r in rows]
    oa_c = []
    for n, m, tm, _ in rows:
        nf = max(8 * m, 1024)
        nf = 1 << (nf - 1).bit_length()
        blocks = math.ceil(n / (nf - m + 1))
        oa_c.append((tm["overlap_add"] * 1e9 - fixed) / (_nlogn(nf) * (1 + 2 * blocks / threads)))
    consts = {
        "direct_per_mac": statistics.median(direct),
        "fft_per_nlogn": statistics.median(fft_c + oa_c),
        "fft_fixed": fixed,
    }
    out(f"convolution methods, float64, {threads} thread(s); times in ms (best of 3)")
    out(f"{'n':>9} {'taps':>6} {'direct':>9} {'fft':>9} {'overlap_add':>12}  {'auto picks':<12} fastest")
    hits = 0
    for n, m, tm, auto in rows:
        fastest = min(tm, key=lambda k: tm[k])
        hits += auto == fastest or tm[auto] <= 1.15 * tm[fastest]
        cells = " ".join(f"{tm[k] * 1e3:9.3f}" if k in tm else f"{'-':>9}" for k in ("direct", "fft"))
        out(f"{n:>9} {m:>6} {cells} {tm['overlap_add'] * 1e3:12.3f}  {auto:<12} {fastest}")
    out(f"\nauto within 15 % of the fastest method at {hits} of {len(rows)} grid points")
    out("fitted constants (paste into rust/signal/src/convolve.rs, COST):")
    out("  CostModel { direct_per_mac: %.4f, fft_per_nlogn: %.3f, fft_fixed: %.1f }" % (
        consts["direct_per_mac"], consts["fft_per_nlogn"], consts["fft_fixed"]))
    return consts
