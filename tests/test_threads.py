"""The thread knob, fork safety, concurrent calls, and GIL release."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

import mlkern
from mlkern import vector


@pytest.fixture
def restore_threads():  # type: ignore[no-untyped-def]
    before = mlkern.get_num_threads()
    yield
    mlkern.set_num_threads(before)


def test_set_get_num_threads(restore_threads) -> None:  # type: ignore[no-untyped-def]
    for n in (1, 2, 3):
        mlkern.set_num_threads(n)
        assert mlkern.get_num_threads() == n
        assert mlkern.cpu_info()["num_threads"] == n
    for bad in (0, -1):
        with pytest.raises(ValueError, match="n must be a positive integer"):
            mlkern.set_num_threads(bad)
    with pytest.raises(ValueError, match="number of threads must be in"):
        mlkern.set_num_threads(10**6)
    with pytest.raises(TypeError, match="n must be an int, got float"):
        mlkern.set_num_threads(2.5)  # type: ignore[arg-type]
    for flag in (True, False, np.True_):
        with pytest.raises(TypeError, match="n must be an int, got bool"):
            mlkern.set_num_threads(flag)  # type: ignore[arg-type]
    with pytest.raises(OverflowError):
        mlkern.set_num_threads(2**64)
    assert mlkern.get_num_threads() == 3
    mlkern.set_num_threads(np.int64(2))
    assert mlkern.get_num_threads() == 2


def test_env_sets_initial_threads() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLKERN_")}
    env["MLKERN_NUM_THREADS"] = "1"
    r = subprocess.run([sys.executable, "-c", "import mlkern; print(mlkern.get_num_threads())"],
                       capture_output=True, text=True, env=env, timeout=60)
    assert r.stdout.strip() == "1", r.stderr


def test_results_independent_of_thread_count(restore_threads) -> None:  # type: ignore[no-untyped-def]
    rng = np.random.default_rng(0)
    a = rng.standard_normal((300, 64)).astype(np.float32)
    b = rng.standard_normal((500, 64)).astype(np.float32)
    v = rng.standard_normal(1 << 20)
    outs = []
    for n in (1, 2, 3):
        mlkern.set_num_threads(n)
        outs.append((vector.cdist(a, b, "cosine"), vector.topk(a, b, 7, "euclidean"), vector.dot(v, v)))
    for o in outs[1:]:
        np.testing.assert_array_equal(o[0], outs[0][0])
        np.testing.assert_array_equal(o[1][0], outs[0][1][0])
        np.testing.assert_array_equal(o[1][1], outs[0][1][1])
        assert o[2] == outs[0][2]


FORK_SCRIPT = textwrap.dedent(
    """
    import os, signal, sys, warnings
    import numpy as np, mlkern
    from mlkern import vector
    warnings.simplefilter("ignore", DeprecationWarning)
    mlkern.set_num_threads(2)
    rng = np.random.default_rng(1)
    a = rng.standard_normal((400, 64)).astype(np.float32)
    ref = vector.cdist(a, a, "dot")          # the pool is running in the parent
    pid = os.fork()
    if pid == 0:
        signal.alarm(20)                      # a hang in the child fails loudly
        got = vector.cdist(a, a, "dot")       # needs a working pool in the child
        _, idx = vector.topk(a, a, 3)
        ok = np.array_equal(got, ref) and mlkern.get_num_threads() == 2
        mlkern.set_num_threads(1)
        ok = ok and np.array_equal(vector.cdist(a, a, "dot"), ref)
        os._exit(0 if ok else 3)
    _, status = os.waitpid(pid, 0)
    assert np.array_equal(vector.cdist(a, a, "dot"), ref)   # the parent still works
    print("child", os.waitstatus_to_exitcode(status))
    """
)


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_forked_child_does_not_hang() -> None:
    r = subprocess.run([sys.executable, "-c", FORK_SCRIPT], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "child 0", (r.stdout, r.stderr)


FORK_WHILE_LOCKED_SCRIPT = textwrap.dedent(
    """
    import os, signal, sys, threading, time, warnings
    import numpy as np, mlkern
    from mlkern import linalg, mem, vector
    from mlkern import signal as ms
    warnings.simplefilter("ignore", DeprecationWarning)
    mlkern.set_num_threads(2)
    rng = np.random.default_rng(3)
    A, B = rng.standard_normal((300, 200)), rng.standard_normal((200, 250))
    X = rng.standard_normal((64, 1024))
    q = rng.standard_normal((50, 16))
    ref = (linalg.matmul(A, B), ms.rfft(X), vector.cdist(q, q))   # pools and plan caches warm
    mode = sys.argv[1]
    if mode == "locks":
        # Another thread sits inside mlkern's critical sections (thread-pool slot,
        # buffer pool, FFT plan caches) with the GIL released while we fork.
        worker = threading.Thread(target=mlkern._mlkern._hold_locks, args=(4.0,))
    else:
        # Another thread is inside long kernel calls (GEMM with pooled packing buffers).
        big = rng.standard_normal((1500, 1500))
        stop = time.monotonic() + 3.0
        def work():
            while time.monotonic() < stop:
                linalg.matmul(big, big)
        worker = threading.Thread(target=work)
    worker.start()
    time.sleep(0.5)
    t0 = time.monotonic()
    pid = os.fork()
    if pid == 0:
        signal.alarm(20)                      # a deadlock in the child fails loudly
        got = (linalg.matmul(A, B), ms.rfft(X), vector.cdist(q, q))
        ok = all(np.array_equal(g, r) for g, r in zip(got, ref))
        ok = ok and mem.BufferPool().empty((3, 4)).shape == (3, 4) and mlkern.get_num_threads() == 2
        os._exit(0 if ok else 3)
    _, status = os.waitpid(pid, 0)
    elapsed = time.monotonic() - t0
    worker.join()
    print("child", os.waitstatus_to_exitcode(status), "fast" if elapsed < 3.0 else f"slow {elapsed:.1f}s")
    """
)


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
@pytest.mark.parametrize("mode", ["locks", "kernel"])
def test_fork_while_another_thread_is_inside_mlkern(mode: str) -> None:
    """The child of a fork() taken while another thread holds mlkern's locks (or runs a
    long kernel) finishes its own calls within seconds: it never waits for a lock that
    a thread which does not exist in the child held at the fork."""
    r = subprocess.run([sys.executable, "-c", FORK_WHILE_LOCKED_SCRIPT, mode], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "child 0 fast", (r.stdout, r.stderr)


def test_concurrent_calls_from_python_threads(restore_threads) -> None:  # type: ignore[no-untyped-def]
    mlkern.set_num_threads(2)
    rng = np.random.default_rng(2)
    jobs = []
    for i in range(24):
        dt = np.float32 if i % 2 else np.float64
        a = rng.standard_normal((64 + i, 48)).astype(dt)
        b = rng.standard_normal((300, 48)).astype(dt)
        v = rng.standard_normal(20000 + i).astype(dt)
        jobs.append((a, b, v, vector.cdist(a, b, "euclidean"), vector.topk(a, b, 5, "cosine_similarity"), vector.dot(v, v)))

    def check(job):  # type: ignore[no-untyped-def]
        a, b, v, d_ref, t_ref, dot_ref = job
        for _ in range(5):
            np.testing.assert_array_equal(vector.cdist(a, b, "euclidean"), d_ref)
            sc, idx = vector.topk(a, b, 5, "cosine_similarity")
            np.testing.assert_array_equal(idx, t_ref[1])
            np.testing.assert_array_equal(sc, t_ref[0])
            assert vector.dot(v, v) == dot_ref
        return True

    def knob():  # type: ignore[no-untyped-def]
        for n in (1, 2, 1, 2):
            mlkern.set_num_threads(n)
            time.sleep(0.01)
        return True

    with ThreadPoolExecutor(8) as ex:
        futures = [ex.submit(check, j) for j in jobs] + [ex.submit(knob)]
        assert all(f.result(timeout=120) for f in futures)


def test_gil_is_released_during_long_cdist(restore_threads) -> None:  # type: ignore[no-untyped-def]
    """While a long cdist runs in another thread, this thread keeps running Python.

    If the call held the GIL, this thread would stall for the whole call: the longest
    gap between its loop iterations would be about the call's duration. Released, the
    gaps stay near the interpreter's switch interval (5 ms).
    """
    mlkern.set_num_threads(1)
    rng = np.random.default_rng(3)
    a = rng.standard_normal((3000, 512))
    b = rng.standard_normal((3000, 512))
    in_call = threading.Event()
    done = threading.Event()
    elapsed = []

    def work() -> None:
        t0 = time.perf_counter()
        in_call.set()
        vector.cdist(a, b, "sqeuclidean")
        elapsed.append(time.perf_counter() - t0)
        done.set()

    t = threading.Thread(target=work)
    t.start()
    in_call.wait()
    last = time.perf_counter()
    longest_gap = 0.0
    while not done.is_set():
        now = time.perf_counter()
        longest_gap = max(longest_gap, now - last)
        last = now
    t.join()
    assert elapsed[0] > 0.06, "workload too small to tell"
    assert longest_gap < 0.5 * elapsed[0], (longest_gap, elapsed[0])
