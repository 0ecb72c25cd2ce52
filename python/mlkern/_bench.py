"""``python -m mlkern bench``: mlkern against NumPy, SciPy and SIMD peers, same run.

Every row times one mlkern call against one peer doing the same work, interleaved
(see ``_timing.py``), after checking that both give the same answer. Thread counts
are set on both sides: ``mlkern.set_num_threads(n)`` and, for NumPy/SciPy's BLAS,
``threadpoolctl.threadpool_limits(n)``.

Peers run at their best: ``OPENBLAS_CORETYPE`` and ``OPENBLAS_L2_SIZE`` (set on some
machines) force OpenBLAS onto other kernels than it would pick for this CPU (e.g.
Haswell's AVX2 kernels on an AVX-512 CPU: float32 GEMM ~60 instead of ~200 GFLOP/s),
and OpenBLAS reads them once, when NumPy loads it. ``python -m mlkern`` therefore
restarts itself without them (``reexec_without_blas_overrides``) before anything is
measured, and the table header names the kernel each BLAS library runs
(``blas_libraries``, from threadpoolctl).
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


# Environment variables that make OpenBLAS run other kernels than the ones it picks
# for this CPU. Read once when the library loads, so only a fresh process can drop them.
BLAS_OVERRIDES = ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")
# Set in the restarted process: JSON of the variables that were dropped (also the loop guard).
DROPPED_MARKER = "MLKERN_BENCH_DROPPED_BLAS_ENV"


def env_without_blas_overrides(env: dict[str, str] | None = None) -> dict[str, str]:
    """A copy of ``env`` (default: this process's) without ``BLAS_OVERRIDES``."""
    env = dict(os.environ if env is None else env)
    return {k: v for k, v in env.items() if k not in BLAS_OVERRIDES}


def reexec_without_blas_overrides(argv: list[str] | None = None) -> None:
    """Replace this process by ``python <argv>`` without the variables in
    ``BLAS_OVERRIDES``, if any of them is set; otherwise return.

    ``argv`` is what follows the interpreter; by default the command line this
    process was started with (``sys.orig_argv``, flags included). The new process
    finds ``DROPPED_MARKER`` set (to what was dropped), so it never restarts again,
    even if something puts the variables back.
    """
    present = {k: os.environ[k] for k in BLAS_OVERRIDES if k in os.environ}
    if not present or DROPPED_MARKER in os.environ:
        return
    env = env_without_blas_overrides()
    env[DROPPED_MARKER] = json.dumps(present)
    cmd = [sys.executable, *(sys.orig_argv[1:] if argv is None else argv)]
    sys.stdout.flush()
    sys.stderr.flush()
    if os.name == "nt":  # no exec on Windows: run the child, pass its exit code on
        raise SystemExit(subprocess.call(cmd, env=env))
    os.execve(sys.executable, cmd, env)


def blas_env_status() -> dict[str, dict[str, str]]:
    """``dropped``: the ``BLAS_OVERRIDES`` this process was restarted without;
    ``present``: those set in this process (what its OpenBLAS runs with)."""
    try:
        dropped = json.loads(os.environ.get(DROPPED_MARKER, "{}"))
    except ValueError:
        dropped = {}
    present = {k: os.environ[k] for k in BLAS_OVERRIDES if k in os.environ}
    return {"dropped": dropped, "present": present}


def _assignments(env: dict[str, str]) -> str:
    return " ".join(f"{k}={v}" for k, v in env.items())


def blas_env_line() -> str:
    """One header line: were the BLAS overrides set, and were they dropped."""
    status = blas_env_status()
    dropped, present = status["dropped"], status["present"]
    parts = []
    if dropped:
        parts.append(f"dropped {_assignments(dropped)} (restarted without them, so OpenBLAS picks its kernels for this CPU)")
    if present:
        parts.append(f"WARNING: {_assignments(present)}"
                     + " set in this process: the BLAS peers run the kernels it forces"
                     + ("" if dropped else "; `python -m mlkern bench` restarts without them"))
    if not parts:
        parts.append(f"{' and '.join(BLAS_OVERRIDES)} not set")
    return "BLAS environment: " + "; ".join(parts)


def load_peer_libraries() -> None:
    """Import the peers' native libraries (SciPy and scikit-learn bring their own
    BLAS/OpenMP), so that threadpoolctl sees them all before the table starts."""
    for mod in ("scipy.linalg", "scipy.spatial.distance", "sklearn.utils.extmath"):
        try:
            importlib.import_module(mod)
        except ImportError:
            pass


def blas_libraries() -> list[dict[str, Any]]:
    """threadpoolctl's view of every native thread pool loaded in this process:
    user_api, internal_api, version, architecture (the kernel OpenBLAS runs),
    threading_layer, num_threads, filepath. Empty without threadpoolctl."""
    if not _have("threadpoolctl"):
        return []
    from threadpoolctl import threadpool_info

    keys = ("user_api", "internal_api", "version", "architecture", "threading_layer", "num_threads", "filepath")
    return [{k: lib.get(k) for k in keys} for lib in threadpool_info()]


def blas_library_lines(libs: list[dict[str, Any]]) -> list[str]:
    """The kernel of each library, one line each, for the table header."""
    if not libs:
        return ["  (threadpoolctl not installed: pip install threadpoolctl to see the BLAS kernels)"]
    return [_blas_library_line(lib) for lib in libs]


def _blas_library_line(lib: dict[str, Any]) -> str:
    name = " ".join(str(x) for x in (lib["internal_api"], lib["version"]) if x)
    return (f"  {lib['user_api']}: {name}, kernel {lib['architecture'] or '-'}, {lib['num_threads']} thread(s), "
            f"{os.path.basename(str(lib['filepath']))}")


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


def _numpy_cosine_distance(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """SciPy's cosine distance, 1 - a_i.b_j / (|a_i| |b_j|), the NumPy way: normalise, one GEMM."""
    an = a / np.linalg.norm(a, axis=1, keepdims=True)
    bn = b / np.linalg.norm(b, axis=1, keepdims=True)
    result: np.ndarray = 1 - an @ bn.T
    return result


def _numpy_sqeuclidean(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """|a_i|^2 + |b_j|^2 - 2 a_i.b_j with one GEMM (sklearn's euclidean_distances), clipped at 0."""
    d2 = np.einsum("ij,ij->i", a, a)[:, None] + np.einsum("ij,ij->i", b, b)[None, :] - 2 * (a @ b.T)
    result: np.ndarray = np.maximum(d2, 0, out=d2)
    return result


def _numpy_euclidean(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    result: np.ndarray = np.sqrt(_numpy_sqeuclidean(a, b))
    return result


def bench_cdist(cfg: Config) -> list[Row]:
    """``vector.cdist`` per metric (SciPy's meaning of each name) against
    ``scipy.spatial.distance.cdist`` (one thread, exact loops) and the NumPy/sklearn
    formulation on the threaded BLAS (one GEMM)."""
    from scipy.spatial.distance import cdist as scipy_cdist

    m = n = 64 if cfg.smoke else 1000
    d = 768
    rng = np.random.default_rng(1)
    a = rng.standard_normal((m, d)).astype(np.float32)
    b = rng.standard_normal((n, d)).astype(np.float32)
    shape = f"{m}x{d} by {n}x{d}"
    flops = 2.0 * m * n * d
    numpy_peers = {"euclidean": _numpy_euclidean, "sqeuclidean": _numpy_sqeuclidean, "cosine": _numpy_cosine_distance}
    rows = []

    def add(row: Row) -> None:
        row.throughput = f"{flops / row.mlkern_s / 1e9:.0f} GFLOP/s"
        rows.append(row)

    for metric in ("euclidean", "sqeuclidean", "cosine"):
        ours = partial(vector.cdist, a, b, metric)
        got = ours()
        _close(got, scipy_cdist(a, b, metric), 1e-4, f"cdist {metric} vs scipy")
        _close(got, numpy_peers[metric](a, b), 1e-3, f"cdist {metric} vs numpy")
        add(_row(cfg, f"cdist {metric} {shape}", np.float32, "scipy cdist", ours, partial(scipy_cdist, a, b, metric)))
        add(_row(cfg, f"cdist {metric} {shape}", np.float32, "numpy GEMM formulation", ours,
                 partial(numpy_peers[metric], a, b), threaded_peer=True))
    if _have("sklearn"):
        from sklearn.metrics.pairwise import cosine_similarity as sk_cosine_similarity

        ours = partial(vector.cdist, a, b, "cosine_similarity")
        _close(ours(), sk_cosine_similarity(a, b), 1e-4, "cdist cosine_similarity vs sklearn")
        add(_row(cfg, f"cdist cosine_similarity {shape}", np.float32, "sklearn cosine_similarity", ours,
                 partial(sk_cosine_similarity, a, b), threaded_peer=True))
    if _have("simsimd"):
        import simsimd

        def simsimd_cosine() -> Any:
            return simsimd.cdist(a, b, metric="cosine", threads=cfg.threads)

        ours = partial(vector.cdist, a, b, "cosine")
        _close(ours(), np.asarray(simsimd_cosine()), 1e-3, "cdist cosine vs simsimd")
        add(_row(cfg, f"cdist cosine {shape}", np.float32, "simsimd cdist", ours, simsimd_cosine))
    return rows


def _numpy_topk(queries: np.ndarray, corpus: np.ndarray, k: int, metric: str = "dot") -> tuple[np.ndarray, np.ndarray]:
    """(scores, indices), each (q, k), best first, the NumPy way: one GEMM for every
    score, argpartition, then sort the k. ``metric``: "dot" (largest first) or
    "euclidean" (smallest first, |c|^2 - 2 c.q + |q|^2 ranked, sqrt of the k kept)."""
    if metric not in ("dot", "euclidean"):
        raise ValueError(f"metric must be 'dot' or 'euclidean', got {metric!r}")
    sims = corpus @ queries.T  # (n, q)
    if metric == "dot":
        keys = -sims  # argpartition/argsort rank smallest first
    else:
        keys = np.einsum("ij,ij->i", corpus, corpus)[:, None] - 2 * sims
    part = np.argpartition(keys, k - 1, axis=0)[:k]  # (k, q) unordered
    top = np.take_along_axis(keys, part, 0)
    order = np.argsort(top, axis=0, kind="stable")
    idx = np.take_along_axis(part, order, 0).T
    top = np.take_along_axis(top, order, 0).T
    if metric == "dot":
        scores = -top
    else:
        scores = np.sqrt(np.maximum(top + np.einsum("ij,ij->i", queries, queries)[:, None], 0))
    return scores, idx


PEAK_SCRIPT = textwrap.dedent(
    """
    import sys, numpy as np
    def hwm():
        for line in open("/proc/self/status"):
            if line.startswith("VmHWM"):
                return int(line.split()[1]) * 1024
    q, n, d, k, threads = map(int, sys.argv[1:6]); which, metric = sys.argv[6:8]
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
    vector.topk(queries[:1], corpus[:16], 1, metric=metric)   # load code paths before the baseline
    _numpy_topk(queries[:1], corpus[:16], 1, metric)
    base = hwm()
    if which == "mlkern":
        vector.topk(queries, corpus, k, metric=metric)
    else:
        _numpy_topk(queries, corpus, k, metric)
    print(hwm() - base)
    """
)


def peak_extra_bytes(which: str, q: int, n: int, d: int, k: int, threads: int, metric: str = "dot") -> int:
    """Peak memory a topk call adds, read from VmHWM in a fresh process."""
    r = subprocess.run([sys.executable, "-c", PEAK_SCRIPT, str(q), str(n), str(d), str(k), str(threads), which, metric],
                       capture_output=True, text=True, timeout=600, env=env_without_blas_overrides())
    if r.returncode != 0:
        raise RuntimeError(r.stderr)
    return int(r.stdout.strip())


def bench_topk(cfg: Config) -> list[Row]:
    """Fused ``vector.topk`` against NumPy's GEMM + argpartition, for a similarity
    ("dot", largest first) and the default distance ("euclidean", smallest first)."""
    q, n, d, k = (100, 100_000, 768, 10)
    if cfg.smoke:
        q, n = 8, 2000
    rng = np.random.default_rng(2)
    corpus = rng.standard_normal((n, d), dtype=np.float32)
    queries = rng.standard_normal((q, d), dtype=np.float32)
    rows = []
    for metric in ("dot", "euclidean"):
        scores, idx = vector.topk(queries, corpus, k, metric=metric)
        ref_scores, ref_idx = _numpy_topk(queries, corpus, k, metric)
        _close(scores, ref_scores, 1e-4, f"topk {metric} scores")
        agree = float(np.mean(idx == ref_idx))
        if agree < 0.99:  # float32 rounding may swap near-ties, nothing more
            raise AssertionError(f"topk {metric} indices agree only {agree:.3f} with NumPy")
        row = _row(cfg, f"topk {metric} q={q} corpus={n}x{d} k={k}", np.float32, "numpy GEMM+argpartition",
                   partial(vector.topk, queries, corpus, k, metric=metric), partial(_numpy_topk, queries, corpus, k, metric),
                   threaded_peer=True)
        row.throughput = f"{2.0 * q * n * d / row.mlkern_s / 1e9:.0f} GFLOP/s"
        if sys.platform.startswith("linux") and not cfg.smoke:
            ours_b = peak_extra_bytes("mlkern", q, n, d, k, cfg.threads, metric)
            peer_b = peak_extra_bytes("numpy", q, n, d, k, cfg.threads, metric)
            row.extra = {"peak_extra_bytes_mlkern": ours_b, "peak_extra_bytes_peer": peer_b}
            row.notes = f"peak extra memory: mlkern {ours_b / 2**20:.1f} MiB, numpy {peer_b / 2**20:.1f} MiB"
        rows.append(row)
    return rows


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


def mlp_shapes(hidden: list[int], batch: int = 256) -> list[tuple[int, int, int, str]]:
    """The products of one dense layer of an MLP with ``batch`` rows and ``h`` units
    in and out, as ``(m, k, n, layout)``: the forward ``X @ W``, the weight gradient
    ``X.T @ dY`` and the input gradient ``dY @ W.T`` (layout "TN"/"NT": that operand
    is a transposed view, as frameworks pass it; "NN": both C-contiguous)."""
    out = []
    for h in hidden:
        out += [(batch, h, h, "NN"), (h, batch, h, "TN"), (batch, h, h, "NT")]
    return out


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
    squares = [64, 128] if cfg.smoke else ([64, 256, 1024] if cfg.quick else [64, 128, 256, 512, 1024, 2048])
    skinny = [(2000, 32, 64), (64, 2000, 32), (256, 64, 256)] if cfg.smoke else \
        [(100_000, 32, 64), (64, 100_000, 32), (2048, 64, 2048)]
    shapes: list[tuple[int, int, int, str]] = [(n, n, n, "") for n in squares] + [(*s, "") for s in skinny]
    shapes += mlp_shapes([64] if cfg.smoke or cfg.quick else [64, 128, 256])
    for threads in thread_counts:
        with _Threads(threads):
            for dtype in (np.float32, np.float64):
                for m, k, n, layout in shapes:
                    a = rng.standard_normal((k, m) if layout[:1] == "T" else (m, k)).astype(dtype)
                    b = rng.standard_normal((n, k) if layout[1:] == "T" else (k, n)).astype(dtype)
                    a, b = (a.T if layout[:1] == "T" else a), (b.T if layout[1:] == "T" else b)
                    _close(linalg.matmul(a, b), np.matmul(a, b), 1e-3 if dtype == np.float32 else 1e-9, "matmul")
                    name = f"{'A.T' if layout[:1] == 'T' else 'A'}{m}x{k} @ {'B.T' if layout[1:] == 'T' else 'B'}{k}x{n}"
                    name = f"matmul mlp {name}" if layout else f"matmul {m}x{k} @ {k}x{n}"
                    row = _row(cfg, name, dtype, "numpy a @ b (OpenBLAS)",
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
        r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                           env=env_without_blas_overrides())
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
    """Short summary of the BLAS libraries loaded: ``openblas 0.3.31 (SkylakeX), ...``."""
    if not _have("threadpoolctl"):
        return "unknown (install threadpoolctl)"
    libs = [f"{i['internal_api']} {i['version']} ({i.get('architecture') or '-'})"
            for i in blas_libraries() if i["user_api"] == "blas"]
    return ", ".join(libs) or "none found"


def run(cfg: Config, out: Callable[[str], None] = print) -> dict[str, Any]:
    from mlkern._bench_conformal import bench_conformal  # imports this module
    from mlkern._bench_attention import bench_attention
    from mlkern._bench_hdc import bench_hdc
    from mlkern._bench_learn import bench_learn

    mlkern.set_num_threads(cfg.threads)
    rows: list[Row] = []
    with _Limits(cfg.threads):
        for section in (bench_dot, bench_cdist, bench_topk, bench_signal, bench_conformal, bench_hdc, bench_learn,
                        bench_attention, bench_linalg):
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
        libraries = blas_libraries()  # inside the limits: num_threads as the peers ran
    result = {
        "cpu": mlkern.cpu_info(),
        "versions": versions(),
        "blas": blas_info(),
        "blas_libraries": libraries,
        "blas_env": blas_env_status(),
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
