"""Bad input gets a clear exception naming the argument, and nothing is written."""

from __future__ import annotations

import numpy as np
import pytest

from mlkern import vector

f32 = np.float32
f64 = np.float64


@pytest.mark.parametrize("fn", [vector.dot, vector.cosine_similarity, vector.cosine_distance, vector.sqeuclidean])
def test_pair_functions_reject_bad_vectors(fn) -> None:  # type: ignore[no-untyped-def]
    a = np.ones(4, f32)
    with pytest.raises(TypeError, match=r"a must be a float32 or float64 array, got dtype int64"):
        fn(np.ones(4, np.int64), a)
    with pytest.raises(TypeError, match=r"b must be a float32 or float64 array, got dtype float16"):
        fn(a, np.ones(4, np.float16))
    with pytest.raises(TypeError, match=r"b must be a float32 or float64 array, got dtype complex128"):
        fn(a, np.ones(4, complex))
    with pytest.raises(TypeError, match=r"same dtype, got float32 and float64"):
        fn(a, np.ones(4, f64))
    with pytest.raises(ValueError, match=r"lengths differ: 4 and 5"):
        fn(a, np.ones(5, f32))
    with pytest.raises(ValueError, match=r"a must be a 1-D array, got a 0-D array of shape \(\)"):
        fn(np.float32(1.0), a)
    with pytest.raises(ValueError, match=r"b must be a 1-D array, got a 2-D array of shape \(2, 2\)"):
        fn(a, np.ones((2, 2), f32))
    with pytest.raises(ValueError, match=r"a must be a 1-D array, got a 3-D array of shape \(1, 2, 2\)"):
        fn(np.ones((1, 2, 2), f32), a)
    with pytest.raises(TypeError, match=r"a must be a float32 or float64 array"):
        fn("hello", a)
    with pytest.raises(TypeError, match=r"a must be a float32 or float64 array"):
        fn([object()], a)
    with pytest.raises(TypeError):
        fn(None, a)


def test_norm_rejects_bad_input() -> None:
    with pytest.raises(TypeError, match="a must be a float32 or float64 array, got dtype bool"):
        vector.norm(np.ones(3, bool))
    with pytest.raises(ValueError, match="a must be a 1-D array"):
        vector.norm(np.ones((3, 3)))


def test_dot_precise_is_keyword_only() -> None:
    with pytest.raises(TypeError):
        vector.dot(np.ones(2), np.ones(2), True)  # type: ignore[misc]


def test_cdist_rejects_bad_shapes_and_metrics() -> None:
    a, b = np.ones((3, 4), f32), np.ones((5, 4), f32)
    with pytest.raises(ValueError, match=r"a and b must have the same number of columns, got a of shape \(3, 4\) and b of shape \(5, 3\)"):
        vector.cdist(a, np.ones((5, 3), f32))
    with pytest.raises(ValueError, match=r"a must be a 2-D array, got a 1-D array of shape \(4,\)"):
        vector.cdist(np.ones(4, f32), b)
    with pytest.raises(ValueError, match=r"b must be a 2-D array, got a 3-D array"):
        vector.cdist(a, np.ones((1, 5, 4), f32))
    with pytest.raises(ValueError, match=r"metric: unknown metric 'cityblock'"):
        vector.cdist(a, b, "cityblock")
    with pytest.raises(TypeError, match="same dtype"):
        vector.cdist(a, b.astype(f64))
    with pytest.raises(TypeError, match="a must be a float32 or float64 array, got dtype int32"):
        vector.cdist(a.astype(np.int32), b)


def _out_untouched(out: np.ndarray, fill: float = -7.0) -> bool:
    return bool(np.all(out == fill))


def test_cdist_out_errors_write_nothing() -> None:
    a, b = np.ones((3, 4), f32), np.ones((5, 4), f32)
    out = np.full((3, 6), -7.0, f32)
    with pytest.raises(ValueError, match=r"out has shape \(3, 6\) but the result has shape \(3, 5\)"):
        vector.cdist(a, b, out=out)
    assert _out_untouched(out)
    out = np.full((3, 5), -7.0, f64)
    with pytest.raises(TypeError, match="out has dtype float64 but the result is float32"):
        vector.cdist(a, b, out=out)
    assert _out_untouched(out)
    out = np.full((3, 5), -7.0, f32)
    out.flags.writeable = False
    with pytest.raises(ValueError, match="out is read-only"):
        vector.cdist(a, b, out=out)
    assert _out_untouched(out)
    big = np.full((5, 10), -7.0, f32)
    with pytest.raises(ValueError, match="out must be C-contiguous"):
        vector.cdist(a, b, out=big[:3, ::2])
    assert _out_untouched(big)
    with pytest.raises(TypeError, match="out must be a numpy.ndarray, got list"):
        vector.cdist(a, b, out=[[0.0] * 5] * 3)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"out has shape \(15,\)"):
        vector.cdist(a, b, out=np.zeros(15, f32))


def test_cdist_out_aliasing_an_input_is_refused() -> None:
    sq = np.arange(16, dtype=f32).reshape(4, 4)
    before = sq.copy()
    with pytest.raises(ValueError, match="out shares memory with a"):
        vector.cdist(sq, np.ones((4, 4), f32), out=sq)
    with pytest.raises(ValueError, match="out shares memory with b"):
        vector.cdist(np.ones((4, 4), f32), sq, out=sq)
    buf = np.zeros(40, f32)
    with pytest.raises(ValueError, match="out shares memory with a"):
        vector.cdist(buf[:8].reshape(2, 4), np.ones((2, 4), f32), out=buf[6:10].reshape(2, 2))
    np.testing.assert_array_equal(sq, before)


def test_topk_rejects_bad_k_and_shapes() -> None:
    q, c = np.ones((2, 3), f32), np.ones((5, 3), f32)
    for k in (0, -1):
        with pytest.raises(ValueError, match=f"k must be a positive integer, got {k}"):
            vector.topk(q, c, k)
    with pytest.raises(ValueError, match=r"k = 6 exceeds the number of corpus rows \(5\)"):
        vector.topk(q, c, 6)
    with pytest.raises(ValueError, match=r"k = 1 exceeds the number of corpus rows \(0\)"):
        vector.topk(q, np.ones((0, 3), f32), 1)
    with pytest.raises(ValueError, match="queries and corpus must have the same number of columns"):
        vector.topk(q, np.ones((5, 4), f32), 1)
    with pytest.raises(ValueError, match="queries must be a 2-D array"):
        vector.topk(np.ones(3, f32), c, 1)
    with pytest.raises(TypeError, match="same dtype"):
        vector.topk(q, c.astype(f64), 1)
    with pytest.raises(ValueError, match="metric: unknown metric"):
        vector.topk(q, c, 1, "hamming")
    with pytest.raises(TypeError, match="k must be an int, got float"):
        vector.topk(q, c, 1.5)  # type: ignore[arg-type]
    for flag in (True, False, np.True_):
        with pytest.raises(TypeError, match="k must be an int, got bool"):
            vector.topk(q, c, flag)  # type: ignore[arg-type]
    with pytest.raises(OverflowError, match="k = 1180591620717411303424 does not fit in 64 bits"):
        vector.topk(q, c, 2**70)
    # NumPy integers are counts like ints.
    assert vector.topk(q, c, np.int64(2))[1].shape == (2, 2)


def test_huge_declared_sizes_fail_cleanly() -> None:
    # A broadcast view claims a huge shape with almost no memory: it must be copied
    # (non-contiguous) and NumPy refuses the allocation with MemoryError, not a crash.
    huge = np.broadcast_to(np.ones(1, f32), (2**40,))
    with pytest.raises((MemoryError, ValueError)):
        vector.dot(huge, huge)
