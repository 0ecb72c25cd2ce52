"""Honest timing: interleaved pairs, calibrated repeats, medians of per-pair ratios.

Follows shared/MEASURING.md: both sides are warmed up, each repeat loops a call
until it lasts at least ``min_repeat_s`` (then divides), and ours/peer repeats
alternate so that machine noise hits both alike. The reported speed-up is the median
of the per-pair ratios ``peer_time / our_time``.

Against a threaded peer, each repeat is preceded by a pause (``settle_s``): thread
pools keep spinning for a while after a call (OpenBLAS for ~0.1 s here), and on a
two-core machine the spinning threads of one side would otherwise steal the cores of
the other side's next repeat.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


@dataclass
class PairTiming:
    ours_s: float  # median seconds per call
    peer_s: float
    speedup: float  # median of per-pair peer/ours ratios (> 1: mlkern faster)
    pairs: int


def calls_per_repeat(f: Callable[[], Any], min_repeat_s: float) -> int:
    """The number of calls of ``f`` that lasts at least ``min_repeat_s``."""
    number = 1
    while True:
        t0 = time.perf_counter()
        for _ in range(number):
            f()
        dt = time.perf_counter() - t0
        if dt >= min_repeat_s or number >= 1 << 24:
            return number
        number = max(number * 2, int(number * min_repeat_s / max(dt, 1e-9) * 1.2))


def _repeat(f: Callable[[], Any], number: int) -> float:
    t0 = time.perf_counter()
    for _ in range(number):
        f()
    return (time.perf_counter() - t0) / number


def _settled(f: Callable[[], Any], number: int, settle_s: float) -> float:
    if settle_s > 0:
        time.sleep(settle_s)
    return _repeat(f, number)


def time_pair(
    ours: Callable[[], Any], peer: Callable[[], Any], pairs: int, min_repeat_s: float, settle_s: float = 0.0
) -> PairTiming:
    """Times ``ours`` against ``peer`` in interleaved pairs (after warming both up),
    pausing ``settle_s`` after each repeat so neither side's idle threads disturb the other."""
    for f in (ours, peer, ours, peer):
        f()
    n_ours = calls_per_repeat(ours, min_repeat_s)
    n_peer = calls_per_repeat(peer, min_repeat_s)
    t_ours, t_peer, ratios = [], [], []
    for i in range(pairs):
        # Alternate which side goes first, so neither always follows the other.
        if i % 2 == 0:
            a = _settled(ours, n_ours, settle_s)
            b = _settled(peer, n_peer, settle_s)
        else:
            b = _settled(peer, n_peer, settle_s)
            a = _settled(ours, n_ours, settle_s)
        t_ours.append(a)
        t_peer.append(b)
        ratios.append(b / a)
    return PairTiming(statistics.median(t_ours), statistics.median(t_peer), statistics.median(ratios), pairs)


def fmt_time(s: float) -> str:
    if s < 1e-6:
        return f"{s * 1e9:.0f} ns"
    if s < 1e-3:
        return f"{s * 1e6:.1f} µs"
    if s < 1:
        return f"{s * 1e3:.2f} ms"
    return f"{s:.2f} s"
