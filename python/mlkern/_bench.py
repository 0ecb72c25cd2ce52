"""``python -m mlkern bench``: mlkern against NumPy, SciPy and SIMD peers, same run.

Every row times one mlkern call against one peer doing the same work, interleaved
(see ``_timing.py``), after checking that both give the same answer. Thread counts
are set on both sides: ``mlkern.set_num_threads(n)`` and, for NumPy/SciPy's BLAS,
``threadpoolctl.threadpool_limits(n)``.
"""

from __future__ import annotations

import importlib.util
import json
import os
import platform
import subprocess
import sys
import textwrap
from collections.abc import Callable
from functools import partial
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

import mlkern
from mlkern import vector
from mlkern._timing import fmt_time, time_pair


@dataclass
class Row:
    workload: str
    dtype: str
    threads: int
    peer: str
    mlkern_s: float
    peer_s: float
    speedup: float
    pairs: int
    throughput: str = ""  # e.g. "31.2 GB/s" for mlkern
    notes: str = ""
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass
class Config:
    quick: bool
    threads: int
    pairs: int
    min_repeat_s: float
    smoke: bool = False  # tiny sizes, for the test-suite only
    only: tuple[str, ...] = ()  # section names ("dot", "linalg", ...); empty: all


def _have(module: str) -> bool:
    return importlib.util.find_spec(module) is not None


class _Limits:
    """threadpoolctl limits for NumPy/SciPy's BLAS, if threadpoolctl is installed."""

    def __init__(self, n: int) -> None:
        self.n = n
        self.ctx: Any = None

    def __enter__(self) -> _Limits:
        if _have("threadpoolctl"):
            from threadpoolctl import threadpool_limits

            self.ctx = threadpool_limits(self.n)
            self.ctx.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        if self.ctx is not None:
            self.ctx.__exit__(*exc)


# Pause after each repeat when the peer runs a threaded BLAS: OpenBLAS's idle workers
# keep spinning for ~0.1 s after a call and halve the speed of whatever runs next on a
# two-core machine (measured: full speed again after 0.2 s). Single-threaded peers
# (SciPy's cdist, simsimd, numkong) need no pause; mlkern's idle pool does not slow
# NumPy down measurably.
BLAS_SETTLE_S = 0.2


def _row(
    cfg: Config,
    workload: str,
    dtype: Any,
    peer: str,
    ours: Callable[[], Any],
    theirs: Callable[[], Any],
    threaded_peer: bool = False,
    **kw: Any,
) -> Row:
    settle = BLAS_SETTLE_S if threaded_peer and cfg.threads > 1 and not cfg.smoke else 0.0
    t = time_pair(ours, theirs, cfg.pairs, cfg.min_repeat_s, settle_s=settle)
    return Row(workload, np.dtype(dtype).name, cfg.threads, peer, t.ours_s, t.peer_s, t.speedup, t.pairs, **kw)


def _close(a: Any, b: Any, rtol: float, what: str) -> None:
    if not np.allclose(np.asarray(a, np.float64), np.asarray(b, np.float64), rtol=rtol, atol=rtol):
        raise AssertionError(f"{what}: mlkern and the peer disagree; refusing to time a wrong answer")


def bench_dot(cfg: Config) -> list[Row]:
    rows = []
    sizes = [16, 1024, 1 << 20] if cfg.quick else [16, 1024, 1 << 20, 1 << 24]
    if cfg.smoke:
        sizes = [16, 1024]
    peers: dict[str, Callable[[np.ndarray, np.ndarray], Any]] = {"numpy.dot": np.dot}
    for mod in ("numkong", "simsimd"):
        if _have(mod):
            peers[f"{mod}.dot"] = importlib.import_module(mod).dot
    rng = np.random.default_rng(0)
    for dtype in (np.float32, np.float64):
        for n in sizes:
            a = rng.standard_normal(n).astype(dtype)
            b = rng.standard_normal(n).astype(dtype)
            ref = float(np.dot(a.astype(np.float64), b.astype(np.float64)))
            tol = 1e-3 if dtype == np.float32 else 1e-9
            for name, f in peers.items():
                if name != "numpy.dot" and n > (1 << 20):
                    continue  # single-threaded peers; compare the large sizes with NumPy
                _close(vector.dot(a, b), ref, tol * max(1.0, np.sqrt(n) / abs(ref or 1)), "dot")
                _close(float(np.asarray(f(a, b))), ref, tol * max(1.0, np.sqrt(n) / abs(ref or 1)), name)
                row = _row(cfg, f"dot n={n}", dtype, name, lambda: vector.dot(a, b), lambda f=f: f(a, b),  # type: ignore[misc]
                           threaded_peer=name == "numpy.dot" and n >= 1 << 17)
                gbs = 2 * a.nbytes / row.mlkern_s / 1e9
                row.throughput = f"{gbs:.1f} GB/s" if n >= 1 << 20 else ""
                rows.append(row)
    return rows


def _numpy_cosine(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    an = a / np.linalg.norm(a, axis=1, keepdims=True)
    bn = b / np.linalg.norm(b, axis=1, keepdims=True)
    result: np.ndarray = an @ bn.T
    return result


def bench_cdist(cfg: Config) -> list[Row]:
    from scipy.spatial.distance import cdist as scipy_cdist

    m = n = 64 if cfg.smoke else 1000
    d = 768
    rng = np.random.default_rng(1)
    a = rng.standard_normal((m, d)).astype(np.float32)
    b = rng.standard_normal((n, d)).astype(np.float32)
    ours = vector.cdist(a, b, "cosine")
    _close(ours, _numpy_cosine(a, b), 1e-4, "cdist cosine vs numpy")
    _close(ours, 1 - scipy_cdist(a, b, "cosine"), 1e-4, "cdist cosine vs scipy")
    shape = f"{m}x{d} by {n}x{d}"
    flops = 2.0 * m * n * d
    rows = []

    def gflops(r: Row) -> Row:
        r.throughput = f"{flops / r.mlkern_s / 1e9:.0f} GFLOP/s"
        return r

    rows.append(gflops(_row(cfg, f"cdist cosine {shape}", np.float32, "numpy normalise+GEMM",
                            lambda: vector.cdist(a, b, "cosine"), lambda: _numpy_cosine(a, b), threaded_peer=True)))
    rows.append(gflops(_row(cfg, f"cdist cosine {shape}", np.float32, "scipy cdist",
                            lambda: vector.cdist(a, b, "cosine"), lambda: scipy_cdist(a, b, "cosine"),
                            notes="scipy returns 1 - similarity")))
    if _have("simsimd"):
        import simsimd

        _close(ours, 1 - np.asarray(simsimd.cdist(a, b, metric="cosine", threads=cfg.threads)), 1e-3, "simsimd cdist")
        rows.append(gflops(_row(cfg, f"cdist cosine {shape}", np.float32, "simsimd cdist",
                                lambda: vector.cdist(a, b, "cosine"),
                                lambda: simsimd.cdist(a, b, metric="cosine", threads=cfg.threads),
                                notes="simsimd returns 1 - similarity")))
    _close(vector.cdist(a, b, "sqeuclidean"), scipy_cdist(a, b, "sqeuclidean"), 1e-4, "cdist sqeuclidean")
    rows.append(gflops(_row(cfg, f"cdist sqeuclidean {shape}", np.float32, "scipy cdist",
                            lambda: vector.cdist(a, b, "sqeuclidean"), lambda: scipy_cdist(a, b, "sqeuclidean"))))
    return rows


def _numpy_topk(queries: np.ndarray, corpus: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    scores = corpus @ queries.T  # (n, q)
    part = np.argpartition(-scores, k - 1, axis=0)[:k]  # (k, q) unordered
    top = np.take_along_axis(scores, part, 0)
    order = np.argsort(-top, axis=0, kind="stable")
    idx = np.take_along_axis(part, order, 0).T
    return idx, np.take_along_axis(top, order, 0).T


PEAK_SCRIPT = textwrap.dedent(
    """
    import sys, numpy as np
    def hwm():
        for line in open("/proc/self/status"):
            if line.startswith("VmHWM"):
                return int(line.split()[1]) * 1024
    q, n, d, k, which, threads = map(str, sys.argv[1:7]); q, n, d, k, threads = int(q), int(n), int(d), int(k), int(threads)
    rng = np.random.default_rng(2)
    corpus = rng.standard_normal((n, d), dtype=np.float32)
    queries = rng.standard_normal((q, d), dtype=np.float32)
    import mlkern
    from mlkern import vector
    from mlkern._bench import _numpy_topk
    mlkern.set_num_threads(threads)
    try:
        from threadpoolctl import threadpool_limits; threadpool_limits(threads)
    except ImportError:
        pass
    vector.topk(queries[:1], corpus[:16], 1)   # load code paths before the baseline
    _numpy_topk(queries[:1], corpus[:16], 1)
    base = hwm()
    if which == "mlkern":
        vector.topk(queries, corpus, k)
    else:
        _numpy_topk(queries, corpus, k)
    print(hwm() - base)
    """
)


def peak_extra_bytes(which: str, q: int, n: int, d: int, k: int, threads: int) -> int:
    """Peak memory a topk call adds, read from VmHWM in a fresh process."""
    r = subprocess.run([sys.executable, "-c", PEAK_SCRIPT, str(q), str(n), str(d), str(k), which, str(threads)],
                       capture_output=True, text=True, timeout=600)
    if r.returncode != 0:
        raise RuntimeError(r.stderr)
    return int(r.stdout.strip())


def bench_topk(cfg: Config) -> list[Row]:
    q, n, d, k = (100, 100_000, 768, 10)
    if cfg.smoke:
        q, n = 8, 2000
    rng = np.random.default_rng(2)
    corpus = rng.standard_normal((n, d), dtype=np.float32)
    queries = rng.standard_normal((q, d), dtype=np.float32)
    idx, sc = vector.topk(queries, corpus, k)
    ref_idx, ref_sc = _numpy_topk(queries, corpus, k)
    _close(sc, ref_sc, 1e-4, "topk scores")
    agree = float(np.mean(idx == ref_idx))
    if agree < 0.99:  # float32 rounding may swap near-ties, nothing more
        raise AssertionError(f"topk indices agree only {agree:.3f} with NumPy")
    row = _row(cfg, f"topk q={q} corpus={n}x{d} k={k}", np.float32, "numpy GEMM+argpartition",
               lambda: vector.topk(queries, corpus, k), lambda: _numpy_topk(queries, corpus, k), threaded_peer=True)
    row.throughput = f"{2.0 * q * n * d / row.mlkern_s / 1e9:.0f} GFLOP/s"
    if sys.platform.startswith("linux") and not cfg.smoke:
        ours_b = peak_extra_bytes("mlkern", q, n, d, k, cfg.threads)
        peer_b = peak_extra_bytes("numpy", q, n, d, k, cfg.threads)
        row.extra = {"peak_extra_bytes_mlkern": ours_b, "peak_extra_bytes_peer": peer_b}
        row.notes = f"peak extra memory: mlkern {ours_b / 2**20:.1f} MiB, numpy {peer_b / 2**20:.1f} MiB"
    return [row]


def bench_signal(cfg: Config) -> list[Row]:
    """The workloads of the signal issue, each peer called as a user would call it."""
    import scipy.fft as sfft
    import scipy.signal as ss
    import scipy.stats as sst

    from mlkern import signal as ms

    rows: list[Row] = []
    rng = np.random.default_rng(3)
    nrows, width = (50, 512) if cfg.smoke else (1000, 4096)
    base = rng.standard_normal((nrows, width))
    for dtype in (np.float64, np.float32):
        x = base.astype(dtype)
        _close(np.abs(ms.rfft(x)), np.abs(sfft.rfft(x)), 1e-3, "rfft")
        for w in (1, 2):
            rows.append(_row(cfg, f"rfft {nrows}x{width} workers={w}", dtype, f"scipy.fft.rfft workers={w}",
                             partial(ms.rfft, x, workers=w), partial(sfft.rfft, x, workers=w)))
    n = 20_000 if cfg.smoke else 1_000_000
    a = rng.standard_normal(n)
    for taps in (64, 1024, 16384):
        v = rng.standard_normal(taps)
        ref = ss.oaconvolve(a, v)
        _close(ms.convolve(a, v), ref, 1e-9, "convolve")
        chosen = ms.choose_convolve_method(a, v)
        peers: dict[str, Callable[[], Any]] = {
            "scipy.signal.fftconvolve": partial(ss.fftconvolve, a, v),
            "scipy.signal.oaconvolve": partial(ss.oaconvolve, a, v),
        }
        if taps <= 1024:
            peers["numpy.convolve"] = partial(np.convolve, a, v)
        for peer, f in peers.items():
            rows.append(_row(cfg, f"convolve n={n} taps={taps}", np.float64, peer, partial(ms.convolve, a, v), f,
                             notes=f"auto chose {chosen}"))
        if taps == 64:
            rows.append(_row(cfg, f"convolve direct n={n} taps=64", np.float64, "numpy.convolve",
                             partial(ms.convolve, a, v, method="direct"), partial(np.convolve, a, v)))
    _close(ms.describe(base, axis=1).variance, sst.describe(base, axis=1).variance, 1e-9, "describe")
    rows.append(_row(cfg, f"describe {nrows}x{width}", np.float64, "scipy.stats.describe",
                     lambda: ms.describe(base, axis=1), lambda: sst.describe(base, axis=1)))
    if _have("pandas"):
        import pandas as pd

        series = 1e3 + rng.standard_normal(200_000 if cfg.smoke else 10_000_000)
        ps = pd.Series(series)
        got, ref = ms.rolling(series, 100, "std", axis=0), ps.rolling(100).std().to_numpy()
        _close(got[99:], ref[99:], 1e-9, "rolling std")
        rows.append(_row(cfg, f"rolling std n={len(series)} window=100", np.float64, "pandas rolling().std()",
                         lambda: ms.rolling(series, 100, "std", axis=0), lambda: ps.rolling(100).std()))
    sig = rng.standard_normal(50_000 if cfg.smoke else 1_000_000)
    _close(ms.welch(sig, nperseg=256)[1], ss.welch(sig, nperseg=256)[1], 1e-9, "welch")
    rows.append(_row(cfg, f"welch n={len(sig)} nperseg=256", np.float64, "scipy.signal.welch",
                     lambda: ms.welch(sig, nperseg=256), lambda: ss.welch(sig, nperseg=256)))
    return rows


class _Threads:
    """Both sides on ``n`` threads for a block: mlkern's pool and the BLAS."""

    def __init__(self, n: int) -> None:
        self.n, self.before = n, mlkern.get_num_threads()
        self.limits = _Limits(n)

    def __enter__(self) -> _Threads:
        mlkern.set_num_threads(self.n)
        self.limits.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self.limits.__exit__(*exc)
        mlkern.set_num_threads(self.before)


def _gflops(flops: float, seconds: float, ceiling: float, threads: int) -> str:
    g = flops / seconds / 1e9
    return f"{g:.0f} GFLOP/s = {100 * g / (ceiling * threads):.0f}% of FMA ceiling"


def bench_linalg(cfg: Config) -> list[Row]:
    """The workloads of the linear-algebra issue. GFLOP/s are reported against the FMA
    ceiling measured in this run (``_mlkern._fma_ceiling``: 16 independent register
    FMA chains on one core) times the thread count."""
    import scipy.sparse as sparse
    from sklearn.utils.extmath import randomized_svd as sk_rsvd

    from mlkern import _mlkern, linalg

    rows: list[Row] = []
    rng = np.random.default_rng(4)
    ceiling = {d: _mlkern._fma_ceiling(np.dtype(d).name) for d in (np.float32, np.float64)}
    thread_counts = sorted({1, cfg.threads})
    squares = [64, 128] if cfg.smoke else ([256, 1024] if cfg.quick else [256, 1024, 2048])
    skinny = [(2000, 32, 64), (64, 2000, 32), (256, 64, 256)] if cfg.smoke else \
        [(100_000, 32, 64), (64, 100_000, 32), (2048, 64, 2048)]
    shapes = [(n, n, n) for n in squares] + skinny
    for threads in thread_counts:
        with _Threads(threads):
            for dtype in (np.float32, np.float64):
                for m, k, n in shapes:
                    a = rng.standard_normal((m, k)).astype(dtype)
                    b = rng.standard_normal((k, n)).astype(dtype)
                    _close(linalg.matmul(a, b), np.matmul(a, b), 1e-3 if dtype == np.float32 else 1e-9, "matmul")
                    row = _row(cfg, f"matmul {m}x{k} @ {k}x{n}", dtype, "numpy a @ b (OpenBLAS)",
                               partial(linalg.matmul, a, b), partial(np.matmul, a, b), threaded_peer=True)
                    row.threads = threads
                    flops = 2.0 * m * k * n
                    row.throughput = _gflops(flops, row.mlkern_s, ceiling[dtype], threads)
                    row.notes = f"numpy {flops / row.peer_s / 1e9:.0f} GFLOP/s"
                    row.extra["fma_ceiling_gflops_per_core"] = round(ceiling[dtype], 1)
                    rows.append(row)
    # Strassen against our own classical GEMM, 1 thread, float64.
    n = 256 if cfg.smoke else (2048 if cfg.quick else 4096)
    with _Threads(1):
        a, b = rng.standard_normal((n, n)), rng.standard_normal((n, n))
        _close(linalg.matmul(a, b, method="strassen"), linalg.matmul(a, b, method="classical"), 1e-9, "strassen")
        row = _row(cfg, f"matmul strassen {n}x{n}", np.float64, "mlkern classical",
                   partial(linalg.matmul, a, b, method="strassen"), partial(linalg.matmul, a, b, method="classical"))
        row.threads = 1
        row.throughput = _gflops(2.0 * n**3, row.mlkern_s, ceiling[np.float64], 1) + " (classical-equivalent)"
        rows.append(row)
    # randomized SVD of a noisy rank-50 matrix.
    m, n, rank = (500, 200, 10) if cfg.smoke else (5000, 2000, 50)
    x = rng.standard_normal((m, rank)) @ rng.standard_normal((rank, n)) + 0.01 * rng.standard_normal((m, n))
    for threads in thread_counts:
        with _Threads(threads):
            ours = partial(linalg.randomized_svd, x, rank, n_iter=2, random_state=0)
            theirs = partial(sk_rsvd, x, rank, n_iter=2, random_state=0)
            u, s, vt = ours()
            u2, s2, vt2 = theirs()
            err, err_sk = (float(np.linalg.norm(x - (uu * ss) @ vv)) for uu, ss, vv in ((u, s, vt), (u2, s2, vt2)))
            if err > err_sk * (1 + 1e-6):
                raise AssertionError(f"randomized_svd reconstruction {err} worse than sklearn's {err_sk}")
            row = _row(cfg, f"randomized_svd {m}x{n} k={rank} n_iter=2", np.float64,
                       "sklearn randomized_svd", ours, theirs, threaded_peer=True)
            row.threads = threads
            # Lower bound for any implementation of these parameters: the six
            # m×n×(k + oversamples) products (n_iter=2) at the measured FMA ceiling.
            width = rank + 10
            floor_s = 6 * 2.0 * m * n * width / (ceiling[np.float64] * threads * 1e9)
            row.notes = (f"reconstruction error {err:.6g} vs sklearn {err_sk:.6g}; its 6 products need "
                         f"{floor_s * 1e3:.0f} ms at the FMA ceiling (max speed-up {row.peer_s / floor_s:.2f}x)")
            rows.append(row)
    # CSR × dense.
    rows_, cols, width = (5000, 1000, 16) if cfg.smoke else (100_000, 10_000, 64)
    sp = sparse.random(rows_, cols, density=0.01, format="csr", random_state=0, dtype=np.float64)
    dense = rng.standard_normal((cols, width))
    _close(linalg.csr_matmul(sp, dense), sp @ dense, 1e-9, "csr_matmul")
    rows.append(_row(cfg, f"csr_matmul {rows_}x{cols} 1% @ {cols}x{width}", np.float64, "scipy.sparse a @ b",
                     partial(linalg.csr_matmul, sp, dense), partial(sp.__matmul__, dense)))
    return rows


def import_overhead_s(repeats: int = 7) -> float:
    """Median time ``import mlkern`` adds after ``import numpy``, in fresh processes."""
    code = "import numpy, time; t = time.perf_counter(); import mlkern; print(time.perf_counter() - t)"
    times = []
    for _ in range(repeats):
        r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
        times.append(float(r.stdout.strip()))
    times.sort()
    return times[len(times) // 2]


def versions() -> dict[str, str]:
    out = {"python": platform.python_version(), "mlkern": mlkern.__version__, "numpy": np.__version__}
    for mod in ("scipy", "sklearn", "simsimd", "numkong", "threadpoolctl"):
        if _have(mod):
            try:
                out[mod] = str(importlib.import_module(mod).__version__)
            except Exception:  # noqa: BLE001 - a peer without __version__ is still a peer
                out[mod] = "?"
    return out


def blas_info() -> str:
    if not _have("threadpoolctl"):
        return "unknown (install threadpoolctl)"
    from threadpoolctl import threadpool_info

    libs = [f"{i.get('internal_api')} {i.get('version')}" for i in threadpool_info() if i.get("user_api") == "blas"]
    return ", ".join(libs) or "none found"


def run(cfg: Config, out: Callable[[str], None] = print) -> dict[str, Any]:
    mlkern.set_num_threads(cfg.threads)
    rows: list[Row] = []
    with _Limits(cfg.threads):
        for section in (bench_dot, bench_cdist, bench_topk, bench_signal, bench_linalg):
            if cfg.only and section.__name__.removeprefix("bench_") not in cfg.only:
                continue
            try:
                new = section(cfg)
            except ImportError as e:  # a peer is not installed: say so, keep going
                out(f"{section.__name__}: skipped, a peer is missing ({e}); pip install 'mlkern[bench]'")
                continue
            rows.extend(new)
            for r in new:
                out(format_row(r))
    result = {
        "cpu": mlkern.cpu_info(),
        "versions": versions(),
        "blas": blas_info(),
        "threads": cfg.threads,
        "quick": cfg.quick,
        "import_overhead_s": None if cfg.smoke else import_overhead_s(3 if cfg.quick else 7),
        "rows": [asdict(r) for r in rows],
    }
    return result


HEADER = (f"{'workload':<44} {'dtype':<8} {'thr':>3} {'mlkern':>10} {'peer':<26} {'peer time':>10} "
          f"{'speed-up':>9}  notes")


def format_row(r: Row) -> str:
    notes = "; ".join(x for x in (r.throughput, r.notes) if x)
    return (f"{r.workload:<44} {r.dtype:<8} {r.threads:>3} {fmt_time(r.mlkern_s):>10} {r.peer:<26} "
            f"{fmt_time(r.peer_s):>10} {r.speedup:>8.2f}x  {notes}")


def default_threads() -> int:
    return min(2, os.cpu_count() or 1)


def to_json(result: dict[str, Any]) -> str:
    return json.dumps(result, indent=2)
