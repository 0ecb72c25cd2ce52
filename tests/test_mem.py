"""mlkern.mem.BufferPool: reuse, alignment, the cap, thread safety, lifetimes, bad input."""

from __future__ import annotations

import gc
import threading

import numpy as np
import pytest

from mlkern.mem import BufferPool


def test_reuse_alignment_and_stats() -> None:
    pool = BufferPool()
    a = pool.empty((100, 3), np.float64)
    assert a.shape == (100, 3) and a.dtype == np.float64 and a.flags.writeable and a.flags.c_contiguous
    assert a.ctypes.data % 64 == 0
    addr = a.ctypes.data
    a[:] = 1.5
    assert pool.stats() == {"hits": 0, "misses": 1, "bytes_held": 0}
    del a
    gc.collect()
    assert pool.stats()["bytes_held"] == 4096
    b = pool.empty(750, "float32")  # 3000 bytes: the same 4 KiB class
    assert b.ctypes.data == addr and pool.stats()["hits"] == 1


def test_views_keep_memory_alive() -> None:
    pool = BufferPool()
    a = pool.empty((8, 8), np.int32)
    view = a[2:4]
    del a
    gc.collect()
    assert pool.stats()["bytes_held"] == 0  # the view still uses it
    view[:] = 7
    del view
    gc.collect()
    assert pool.stats()["bytes_held"] > 0


def test_cap_and_clear() -> None:
    pool = BufferPool(max_bytes=1024)
    assert pool.max_bytes == 1024
    x = pool.empty(1000, np.float64)  # 8 KiB class: over the cap
    del x
    gc.collect()
    assert pool.stats()["bytes_held"] == 0
    y = pool.empty(10, np.float64)
    del y
    gc.collect()
    assert pool.stats()["bytes_held"] == 128
    pool.clear()
    assert pool.stats()["bytes_held"] == 0


def test_arrays_outlive_the_pool() -> None:
    pool = BufferPool()
    a = pool.empty((1000,), np.float64)
    a[:] = np.arange(1000)
    del pool
    gc.collect()
    assert a.sum() == 999 * 1000 / 2


def test_thread_safety() -> None:
    pool = BufferPool(max_bytes=1 << 20)
    failures: list[str] = []

    def work(seed: int) -> None:
        for i in range(200):
            arr = pool.empty((seed + 1, i % 7 + 1), np.float32)
            arr[:] = seed
            if not np.all(arr == seed):
                failures.append(f"{seed}:{i}")

    ts = [threading.Thread(target=work, args=(s,)) for s in range(8)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    gc.collect()
    st = pool.stats()
    assert not failures and st["hits"] + st["misses"] == 1600 and st["hits"] > 1000


def test_bad_input() -> None:
    with pytest.raises(ValueError, match="max_bytes"):
        BufferPool(max_bytes=-1)
    pool = BufferPool()
    with pytest.raises(ValueError, match="negative"):
        pool.empty((3, -1))
    with pytest.raises(TypeError, match="shape"):
        pool.empty("big")
    with pytest.raises(TypeError, match="Python objects"):
        pool.empty(3, object)
    with pytest.raises(MemoryError, match="overflows"):
        pool.empty((2**62, 2**62))
    with pytest.raises(MemoryError):
        pool.empty((2**61,), np.float64)  # 16 EiB: the allocator refuses
    # Just past the largest size class (2**62 bytes): MemoryError, not a Rust panic
    # (pyo3's PanicException is a BaseException, which `except Exception` misses).
    for n in (2**62 + 1, 2**63 - 1):
        with pytest.raises(MemoryError):
            pool.empty(n, np.uint8)
    with pytest.raises(OverflowError):
        pool.empty(2**64, np.uint8)
    for bad in (True, (3, False), 2.5):
        with pytest.raises(TypeError, match="shape"):
            pool.empty(bad)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="max_bytes must be an int, got bool"):
        BufferPool(max_bytes=True)  # type: ignore[arg-type]
    z = pool.empty((0, 5))
    assert z.shape == (0, 5)


def test_fresh_buffers_are_zeroed_reused_keep_contents() -> None:
    pool = BufferPool()
    a = pool.empty(1000, np.float64)
    assert not a.any()  # first allocation: zeroed (no reference to uninitialised memory)
    a[:] = 7.0
    del a
    b = pool.empty(1000, np.float64)
    assert pool.stats()["hits"] == 1
    assert (b == 7.0).all()  # reused: like numpy.empty, holds what was written last
