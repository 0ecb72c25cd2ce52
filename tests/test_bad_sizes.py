"""Bad sizes, counts, shapes and axes for every public function (issue 10 part 3).

Every size/shape/count argument gets huge values (2**62 + 1, 2**63 - 1, 2**63,
2**64 - 1, 2**64), negative ones, zero, bools, floats, None and a string. The call
must end in an ordinary Python exception: ValueError, MemoryError, OverflowError or
TypeError (or their subclasses) -- never pyo3's PanicException (a BaseException that
is not an Exception), never a crash or a hang. Where a value is legitimately
accepted by SciPy's semantics (e.g. ``workers`` above the pool size, ``nperseg``
above the length, ``max_bytes`` huge) the call may also succeed, but still must not
panic.

The calls run in a child process (one for the whole module, restarted after a
crash) with its address space capped, so that a Rust abort, a segfault or an
absurd allocation fails one case instead of the test session or the machine.
"""

from __future__ import annotations

import json
import os
import queue
import subprocess
import sys
import threading
from collections.abc import Callable
from typing import Any

import pytest

HUGE = [2**62 + 1, 2**63 - 1, 2**63, 2**64 - 1, 2**64]
NEGATIVE = [-1, -(2**63), -(2**64) - 1]
BOOLS = [True, False]
FLOATS = [1.5, float("nan"), float("inf")]
OTHER = [None, "3"]
ALLOWED = ("ValueError", "MemoryError", "OverflowError", "TypeError")

# (function, argument) -> (values that must raise, values that may also be accepted)
RAISE, MAY_ACCEPT = "raise", "no_panic"


def count(minimum: int = 1, *, huge: str = RAISE, none: str = RAISE, bools: str = RAISE) -> list[tuple[Any, str]]:
    """Bad values for a count whose smallest valid value is ``minimum``. (The internal
    row kernels are only called by wrappers that refuse bools: there only a panic counts.)"""
    vals: list[tuple[Any, str]] = [(v, huge) for v in HUGE] + [(v, RAISE) for v in NEGATIVE]
    if minimum >= 1:
        vals.append((0, RAISE))
    vals += [(v, bools) for v in BOOLS] + [(v, RAISE) for v in FLOATS + ["3"]]
    vals.append((None, none))
    return vals


def workers_values() -> list[tuple[Any, str]]:
    """``workers``: None is the whole pool, -1..-pool count back (scipy.fft); above the
    pool size it is capped (accepted)."""
    return ([(v, MAY_ACCEPT) for v in HUGE] + [(v, RAISE) for v in [-(2**63), -(2**64) - 1, 0] + BOOLS + FLOATS]
            + [("3", RAISE)])


def axis_values() -> list[tuple[Any, str]]:
    return [(v, RAISE) for v in HUGE + [-(2**63), -(2**64) - 1, 7, -8, 1.5, "3"]]


# Each case: id -> source of an expression evaluated in the child, with {v} the bad value.
SETUP = """
import numpy as np, scipy.sparse as sp, mlkern
from mlkern import vector, signal as ms, linalg, mem, _mlkern
x = np.random.default_rng(0).standard_normal(64)
x2 = np.random.default_rng(0).standard_normal((4, 64))
z = (x + 1j * x[::-1]).astype(np.complex128)
q = np.random.default_rng(1).standard_normal((3, 8))
c = np.random.default_rng(2).standard_normal((20, 8))
a = np.random.default_rng(3).standard_normal((30, 20))
csr = sp.random(10, 8, density=0.3, format="csr", random_state=0)
class DuckCsr:
    format = "csr"
    def __init__(self, shape):
        self.shape = shape
        self.data, self.indices, self.indptr = csr.data, csr.indices, csr.indptr
"""

CALLS: dict[tuple[str, str], tuple[str, list[tuple[Any, str]]]] = {
    ("set_num_threads", "n"): ("mlkern.set_num_threads({v})", count()),
    ("vector.topk", "k"): ("vector.topk(q, c, {v})", count()),
    ("signal.rfft", "n"): ("ms.rfft(x, n={v})", count(none=MAY_ACCEPT)),
    ("signal.irfft", "n"): ("ms.irfft(z, n={v})", count(none=MAY_ACCEPT)),
    ("signal.fft", "n"): ("ms.fft(z, n={v})", count(none=MAY_ACCEPT)),
    ("signal.ifft", "n"): ("ms.ifft(z, n={v})", count(none=MAY_ACCEPT)),
    ("signal.rfft", "axis"): ("ms.rfft(x2, axis={v})", axis_values()),
    ("signal.irfft", "axis"): ("ms.irfft(z, axis={v})", axis_values()),
    ("signal.fft", "axis"): ("ms.fft(z, axis={v})", axis_values()),
    ("signal.rfft", "workers"): ("ms.rfft(x2, workers={v})", workers_values()),
    ("signal.convolve", "workers"): ("ms.convolve(x2, x[:5], workers={v})", workers_values()),
    ("signal.correlate", "workers"): ("ms.correlate(x, x[:5], workers={v})", workers_values()),
    ("signal.convolve", "axis"): ("ms.convolve(x2, x[:5], axis={v})", axis_values()),
    ("signal.describe", "axis"): ("ms.describe(x2, axis={v})", axis_values()),
    ("signal.describe", "ddof"): ("ms.describe(x2, axis=1, ddof={v})",
                                  [(v, MAY_ACCEPT) for v in HUGE] + [(v, RAISE) for v in NEGATIVE + BOOLS + FLOATS]
                                  + [(None, RAISE), ("3", RAISE)]),
    ("signal.describe", "workers"): ("ms.describe(x2, axis=1, workers={v})", workers_values()),
    ("signal.rolling", "window"): ("ms.rolling(x, {v}, 'mean')", count()),
    ("signal.rolling", "axis"): ("ms.rolling(x2, 3, 'mean', axis={v})", axis_values()),
    ("signal.rolling", "workers"): ("ms.rolling(x2, 3, 'max', workers={v})", workers_values()),
    ("signal.welch", "nperseg"): ("ms.welch(x, nperseg={v})", count(huge=MAY_ACCEPT, none=MAY_ACCEPT)),
    ("signal.welch", "noverlap"): ("ms.welch(x, nperseg=16, noverlap={v})", count(0, none=MAY_ACCEPT)),
    ("signal.welch", "axis"): ("ms.welch(x2, nperseg=16, axis={v})", axis_values()),
    ("signal.welch", "workers"): ("ms.welch(x2, nperseg=16, workers={v})", workers_values()),
    ("signal.spectral_features", "axis"): ("ms.spectral_features(x2, 10.0, axis={v})", axis_values()),
    ("signal.spectral_features", "workers"): ("ms.spectral_features(x2, 10.0, workers={v})",
                                              workers_values()),
    ("linalg.randomized_svd", "n_components"): ("linalg.randomized_svd(a, {v}, random_state=0)", count()),
    ("linalg.randomized_svd", "n_oversamples"): ("linalg.randomized_svd(a, 2, n_oversamples={v}, random_state=0)",
                                                 count(0)),
    ("linalg.randomized_svd", "n_iter"): ("linalg.randomized_svd(a, 2, n_iter={v}, random_state=0)",
                                          [(v, RAISE) for v in NEGATIVE + BOOLS + FLOATS + [None, "3"]]),
    ("linalg.randomized_svd", "random_state"): ("linalg.randomized_svd(a, 2, random_state={v})",
                                                [(v, RAISE) for v in HUGE + NEGATIVE + BOOLS + FLOATS + ["3"]]),
    ("linalg.csr_matmul", "a.shape[0]"): ("linalg.csr_matmul(DuckCsr(({v}, 8)), np.ones(8))", count()),
    ("linalg.csr_matmul", "a.shape[1]"): ("linalg.csr_matmul(DuckCsr((10, {v})), np.ones(8))", count()),
    ("mem.BufferPool", "max_bytes"): ("mem.BufferPool(max_bytes={v})",
                                      [(v, MAY_ACCEPT) for v in HUGE] + [(v, RAISE) for v in NEGATIVE + BOOLS + FLOATS]
                                      + [("3", RAISE)]),
    ("mem.BufferPool.empty", "shape (uint8)"): ("mem.BufferPool().empty({v}, np.uint8)", count(0)),
    ("mem.BufferPool.empty", "shape (float64)"): ("mem.BufferPool().empty({v}, np.float64)", count(0)),
    ("mem.BufferPool.empty", "shape[1]"): ("mem.BufferPool().empty((3, {v}), np.float32)", count(0)),
    ("mem.BufferPool.empty", "overflowing product"): (
        "mem.BufferPool().empty({v}, np.float64)",
        [((2**31, 2**31, 2**31), RAISE), ((2**32, 2**32), RAISE), ((2**40, 2**30, 0, 2**60), MAY_ACCEPT),
         ((2**21,) * 3, RAISE), ([2**62 + 1, 1], RAISE), ((2**63 - 1, 2), RAISE)]),
    # Internal row kernels: reachable from Python, so they must not panic either.
    ("_mlkern._rfft_rows", "n"): ("_mlkern._rfft_rows(x2, {v}, None, 0)", count(bools=MAY_ACCEPT)),
    ("_mlkern._irfft_rows", "n"): ("_mlkern._irfft_rows(x2, {v}, None, 0)", count(bools=MAY_ACCEPT)),
    ("_mlkern._fft_rows", "n"): ("_mlkern._fft_rows(x2, {v}, False, None, 0)", count(bools=MAY_ACCEPT)),
    ("_mlkern._rolling_rows", "window"): ("_mlkern._rolling_rows(x2, {v}, 'mean', 0)", count(bools=MAY_ACCEPT)),
    ("_mlkern._welch_rows", "nperseg"): ("_mlkern._welch_rows(x2, 1.0, {v}, 0, 0)", count(bools=MAY_ACCEPT)),
    ("_mlkern._welch_rows", "noverlap"): ("_mlkern._welch_rows(x2, 1.0, 16, {v}, 0)",
                                          [(v, RAISE) for v in HUGE + NEGATIVE + FLOATS + [16, 17]] + [(v, MAY_ACCEPT) for v in BOOLS]),
    ("_mlkern._describe_rows", "ddof"): ("_mlkern._describe_rows(x2, {v}, True, 0)",
                                         [(v, MAY_ACCEPT) for v in HUGE] + [(v, RAISE) for v in NEGATIVE + FLOATS]),
    ("_mlkern._choose_convolve_method", "n"): ("_mlkern._choose_convolve_method(1, {v}, 5, 'full', False)",
                                               [(v, MAY_ACCEPT) for v in HUGE] + [(v, RAISE) for v in NEGATIVE]),
    ("_mlkern._choose_convolve_method", "rows, m"): ("_mlkern._choose_convolve_method({v}, 100, {v}, 'same', True)",
                                                     [(v, MAY_ACCEPT) for v in HUGE] + [(0, MAY_ACCEPT)]),
    ("_mlkern._csr_matmul", "shape"): ("_mlkern._csr_matmul(csr.data, csr.indices, csr.indptr, ({v}, {v}), np.ones((8, 1)))",
                                       count(bools=MAY_ACCEPT)),
}


def case_list() -> list[tuple[str, str, str, str]]:
    """[(group id, value repr, expectation, source), ...]"""
    out = []
    for (fn, arg), (template, vals) in CALLS.items():
        for v, expect in vals:
            src = template.replace("{v}", repr(v) if not isinstance(v, float) else f"float({str(v)!r})")
            out.append((f"{fn}({arg})", repr(v), expect, src))
    return out


CHILD = r"""
import json, resource, sys
resource.setrlimit(resource.RLIMIT_AS, (8 << 30, 8 << 30))
cases = json.loads(sys.stdin.readline())
start = int(sys.argv[1])
exec(SETUP_SRC)
for i in range(start, len(cases)):
    src = cases[i]
    print(json.dumps({"start": i}), flush=True)
    try:
        eval(src)
        out = "accepted"
    except Exception as e:
        out = "exc:" + type(e).__name__ + ":" + ",".join(c.__name__ for c in type(e).__mro__) + ":" + str(e)[:200]
    except BaseException as e:
        out = "base:" + type(e).__name__ + ":" + str(e)[:300]
    print(json.dumps({"done": i, "out": out}), flush=True)
"""

CASE_TIMEOUT = 60.0


def run_cases(sources: list[str]) -> dict[int, str]:
    """Runs every source in child processes: {index: outcome}. Outcomes: "accepted",
    "exc:<Type>:<mro>:<msg>", "base:<Type>:<msg>", "crash:<rc>", "hang"."""
    results: dict[int, str] = {}
    start = 0
    child = CHILD.replace("exec(SETUP_SRC)", f"exec({SETUP!r})")
    env = dict(os.environ, MLKERN_NUM_THREADS="2", OPENBLAS_NUM_THREADS="1")
    while start < len(sources):
        p = subprocess.Popen([sys.executable, "-c", child, str(start)], stdin=subprocess.PIPE,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd="/")
        assert p.stdin is not None and p.stdout is not None
        p.stdin.write(json.dumps(sources) + "\n")
        p.stdin.flush()
        lines: queue.Queue[str | None] = queue.Queue()

        def pump(stream: Any = p.stdout) -> None:
            for line in stream:
                lines.put(line)
            lines.put(None)

        threading.Thread(target=pump, daemon=True).start()
        current = start
        while True:
            try:
                line = lines.get(timeout=CASE_TIMEOUT)
            except queue.Empty:
                p.kill()
                results[current] = "hang"
                start = current + 1
                break
            if line is None:
                rc = p.wait()
                if current < len(sources) and current not in results:
                    err = (p.stderr.read() if p.stderr else "")[-300:]
                    results[current] = f"crash:{rc}:{err}"
                start = current + 1
                break
            msg = json.loads(line)
            if "start" in msg:
                current = msg["start"]
            else:
                results[msg["done"]] = msg["out"]
                current = msg["done"] + 1
        p.wait()
    return results


CASES = case_list()
GROUPS = sorted({c[0] for c in CASES}, key=lambda g: [c[0] for c in CASES].index(g))


@pytest.fixture(scope="module")
def outcomes() -> dict[int, str]:
    return run_cases([c[3] for c in CASES])


def verdict(outcome: str, expect: str) -> str | None:
    """None if fine, else what is wrong."""
    if outcome.startswith("exc:"):
        _, name, mro, msg = outcome.split(":", 3)
        if any(a in mro.split(",") for a in ALLOWED):
            return None
        return f"raised {name} (not one of {', '.join(ALLOWED)}): {msg}"
    if outcome == "accepted":
        return None if expect == MAY_ACCEPT else "accepted (no exception)"
    if outcome.startswith("base:"):
        return f"PANIC (BaseException, not an Exception): {outcome[5:]}"
    return outcome  # crash / hang


@pytest.mark.parametrize("group", GROUPS)
def test_bad_size_gives_an_ordinary_exception(group: str, outcomes: dict[int, str]) -> None:
    failures = []
    for i, (g, value, expect, src) in enumerate(CASES):
        if g != group:
            continue
        problem = verdict(outcomes.get(i, "not run"), expect)
        if problem:
            failures.append(f"  {src}  ->  {problem}")
    assert not failures, f"{group}: {len(failures)} bad value(s) not refused cleanly:\n" + "\n".join(failures)


def test_every_public_function_is_covered() -> None:
    """Every public function that takes a size/count/axis argument has a group here."""
    import mlkern
    from mlkern import linalg, signal, vector

    with_sizes: dict[str, Callable[..., Any]] = {
        "vector.topk": vector.topk, "signal.rfft": signal.rfft, "signal.irfft": signal.irfft,
        "signal.fft": signal.fft, "signal.ifft": signal.ifft, "signal.describe": signal.describe,
        "signal.rolling": signal.rolling, "signal.welch": signal.welch,
        "signal.spectral_features": signal.spectral_features, "linalg.randomized_svd": linalg.randomized_svd,
        "linalg.csr_matmul": linalg.csr_matmul, "set_num_threads": mlkern.set_num_threads,
    }
    covered = {g.split("(")[0] for g in GROUPS}
    assert set(with_sizes) <= covered, set(with_sizes) - covered


WRAPPING_N = [("fft", 2**63), ("ifft", 2**63), ("rfft", 2**64 - 1), ("_fft_rows", 2**63), ("_rfft_rows", 2**64 - 1)]


@pytest.mark.parametrize("name,n", WRAPPING_N)
def test_fft_huge_n_is_refused_before_sizes_wrap(name: str, n: int) -> None:
    """``2 * n`` (complex rows as floats) must be checked: on today's wheel fft(z, n=2**63)
    wraps it to 0 and fails later with "out: buffer of 0 elements is not a (1, 2**63)
    matrix" (a release-build wrap; a debug build panics). Expected: MemoryError /
    OverflowError / ValueError about n or the result size."""
    import numpy as np

    from mlkern import _mlkern
    from mlkern import signal as ms

    z = np.ones(8, np.complex128)
    x2 = np.ones((2, 8))
    call = {
        "fft": lambda: ms.fft(z, n=n), "ifft": lambda: ms.ifft(z, n=n), "rfft": lambda: ms.rfft(np.ones(8), n=n),
        "_fft_rows": lambda: _mlkern._fft_rows(x2, n, False, None, 0),
        "_rfft_rows": lambda: _mlkern._rfft_rows(x2, n, None, 0),
    }[name]
    with pytest.raises((MemoryError, OverflowError, ValueError)) as info:
        call()
    assert "buffer of 0 elements" not in str(info.value), f"size arithmetic wrapped: {info.value}"
