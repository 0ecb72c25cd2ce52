"""Differential campaign, mlkern.mem and the top level: BufferPool.empty against
numpy.empty (shape, dtype, strides, flags), 64-byte alignment, reuse and stats;
cpu_info / set_num_threads / get_num_threads."""

from __future__ import annotations

import gc

import numpy as np
import pytest
from _strategies import TIERS, budget, kernel_context
from hypothesis import given
from hypothesis import strategies as st

import mlkern
from mlkern import _mlkern, mem

DTYPES = ["u1", "i2", "<i4", ">i8", "f2", "f4", ">f4", "f8", ">f8", "c8", "c16", "?", "U3", "S5", "M8[ns]",
          "m8[s]", [("a", "<i4"), ("b", ">f8")], "V7"]

shapes = st.one_of(st.integers(0, 5000), st.lists(st.integers(0, 12), min_size=0, max_size=4).map(tuple),
                   st.lists(st.integers(0, 9), min_size=1, max_size=4))


@budget(30)
@given(shapes, st.sampled_from(DTYPES + [None]), st.sampled_from([None, 0, 1, 4096, 1 << 30]))
def test_empty_is_like_numpy_empty(shape: int | tuple[int, ...] | list[int], dtype: object,
                                   max_bytes: int | None) -> None:
    pool = mem.BufferPool(max_bytes)
    assert pool.max_bytes == max_bytes
    ref = np.empty(shape, dtype=dtype)  # type: ignore[call-overload]
    got = pool.empty(shape, dtype)  # type: ignore[arg-type]
    assert isinstance(got, np.ndarray)
    assert got.shape == ref.shape and got.dtype == ref.dtype
    assert got.strides == ref.strides or ref.size == 0  # strides of an empty array are arbitrary
    assert got.flags.c_contiguous and got.flags.writeable and got.flags.aligned
    assert got.ctypes.data % 64 == 0 or got.nbytes == 0, "64-byte aligned"
    # Writes persist and are visible through views.
    if got.size and got.dtype.kind in "fiu":
        got.reshape(-1)[...] = np.arange(got.size) % 7
        np.testing.assert_array_equal(got.reshape(-1), np.arange(got.size) % 7)
    pool_stats = pool.stats()
    assert set(pool_stats) == {"hits", "misses", "bytes_held"}
    del got
    gc.collect()
    again = pool.empty(shape, dtype)  # type: ignore[arg-type]
    assert again.shape == ref.shape
    s = pool.stats()
    assert s["hits"] + s["misses"] == 2 or ref.nbytes == 0
    if max_bytes is None and ref.nbytes:
        assert s["hits"] == 1, f"a returned buffer is reused: {s}"
    del again
    gc.collect()
    if max_bytes == 0:
        assert pool.stats()["bytes_held"] == 0, "over the cap: freed at once"
    pool.clear()
    assert pool.stats()["bytes_held"] == 0


@pytest.mark.parametrize("nbytes", [1, 63, 64, 65, 4096, 1 << 20])
def test_first_allocation_is_zeroed(nbytes: int) -> None:
    """The pool hands out zeroed memory on first allocation (common.md; the lead's
    mem.rs change): no stale heap contents reach Python."""
    junk = [np.full(nbytes, 0xAB, np.uint8) for _ in range(4)]
    del junk
    pool = mem.BufferPool()
    a = pool.empty(nbytes, np.uint8)
    assert not a.any(), "fresh BufferPool memory must be zeroed"


@pytest.mark.parametrize("dtype", ["O", [("a", "O")]])
def test_object_dtypes_refused(dtype: object) -> None:
    with pytest.raises(TypeError):
        mem.BufferPool().empty(3, dtype)  # type: ignore[arg-type]


def test_cpu_info_and_threads() -> None:
    info = mlkern.cpu_info()
    assert set(info) >= {"tier", "best_tier", "available_tiers", "features", "num_threads", "arch"}
    assert info["tier"] in info["available_tiers"] and info["best_tier"] == info["available_tiers"][-1]
    assert info["available_tiers"][0] == "scalar"
    for t in TIERS:
        with kernel_context(t, 1):
            assert mlkern.cpu_info()["tier"] == t
            assert mlkern.get_num_threads() == 1 == mlkern.cpu_info()["num_threads"]
    with kernel_context(None, 2):
        assert mlkern.get_num_threads() == 2
    with pytest.raises(TypeError):
        mlkern.set_num_threads(True)  # api-after.md: a bool is not a count
    with pytest.raises(ValueError):
        _mlkern._set_tier("x86-64-v9")


def test_rust_allocation_count_helper() -> None:
    """_mlkern._rust_allocation_count() -> int (api-after.md), non-decreasing."""
    c0 = _mlkern._rust_allocation_count()
    assert isinstance(c0, int)
    # A pool miss always reaches the allocator (a fresh BufferPool has nothing to
    # reuse): the counter must move.
    mlkern.mem.BufferPool().empty(1 << 16)
    assert _mlkern._rust_allocation_count() > c0
