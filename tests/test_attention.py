"""mlkern.attention.flash_attention against a float64 evaluation of
softmax(q kᵀ scale + mask) v on every SIMD tier: shapes at tile and lane
boundaries, causal with equal and unequal lengths, boolean and additive masks
broadcast as PyTorch's SDPA, float16/bfloat16 inputs and outputs, out=, bad input,
thread independence, and PyTorch's own SDPA where it is installed."""

from __future__ import annotations

import importlib.util

import ml_dtypes
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import mlkern
from mlkern.attention import flash_attention

U = 2.0**-24


def reference(q, k, v, causal=False, mask=None, scale=None):
    """(result, per-row error bound) in float64; fully masked rows are zero."""
    q, k, v = (np.asarray(x, dtype=np.float64) for x in (q, k, v))
    e = q.shape[-1]
    scale = 1 / np.sqrt(e) if scale is None else float(np.float32(scale))
    s = q @ np.swapaxes(k, -1, -2) * scale
    sq, sk = s.shape[-2:]
    allowed = np.ones(s.shape, dtype=bool)
    if causal:
        allowed &= np.tril(np.ones((sq, sk), dtype=bool))
    if mask is not None:
        m = np.asarray(mask)
        if m.dtype == bool:
            allowed &= np.broadcast_to(m, s.shape)
        else:
            s = s + m.astype(np.float64)
            allowed &= np.broadcast_to(m, s.shape) > -np.inf
    s = np.where(allowed, s, -np.inf)
    smax = s.max(-1, keepdims=True)
    none = smax == -np.inf
    p = np.exp(s - np.where(none, 0, smax))
    tot = p.sum(-1, keepdims=True)
    out = np.where(none, 0, p @ v / np.where(none, 1, tot))
    absdot = np.abs(q) @ np.swapaxes(np.abs(k), -1, -2) * abs(scale)
    smax_abs = np.where(allowed, absdot, 0).max(-1)
    n = allowed.sum(-1)
    vmax = np.abs(v).max(axis=(-1, -2))[..., None]
    bound = (2 * (e + 2) * U * smax_abs + (n + e + 8) * U) * vmax
    return out, bound[..., None]


def rand(rng, shape, dtype=np.float32, spread=1.0):
    return (rng.standard_normal(shape) * spread).astype(dtype)


def check(out, q, k, v, **kw):
    want, bound = reference(q, k, v, **kw)
    assert out.shape == want.shape
    err = np.abs(out.astype(np.float64) - want)
    assert np.all(err <= bound), f"max error {err.max():.3g}, bound {bound.min():.3g}"


SHAPES = [(1, 1, 1, 1), (5, 3, 7, 9), (63, 64, 16, 16), (65, 63, 64, 64), (130, 129, 80, 72), (70, 200, 32, 8)]


@pytest.mark.parametrize("causal", [False, True])
@pytest.mark.parametrize("sq,sk,e,ev", SHAPES)
def test_matches_float64_on_every_tier(tier, sq, sk, e, ev, causal):
    rng = np.random.default_rng(sq * 1000 + sk)
    q, k, v = rand(rng, (2, 3, sq, e)), rand(rng, (2, 3, sk, e)), rand(rng, (2, 3, sk, ev))
    check(flash_attention(q, k, v, causal=causal), q, k, v, causal=causal)


@pytest.mark.parametrize("lead", [(), (4,), (2, 3), (2, 2, 2)])
def test_leading_dimensions(lead):
    rng = np.random.default_rng(1)
    q, k, v = rand(rng, (*lead, 33, 16)), rand(rng, (*lead, 40, 16)), rand(rng, (*lead, 40, 12))
    out = flash_attention(q, k, v)
    assert out.shape == (*lead, 33, 12) and out.dtype == np.float32
    check(out, q, k, v)


MASK_SHAPES = [(70, 66), (2, 1, 70, 66), (1, 3, 70, 66), (2, 3, 70, 66), (2, 1, 1, 66), (70, 1), (1,), (3, 1, 1)]


@pytest.mark.parametrize("causal", [False, True])
@pytest.mark.parametrize("mshape", MASK_SHAPES)
def test_boolean_masks_broadcast_like_torch(tier, mshape, causal):
    rng = np.random.default_rng(len(mshape))
    q, k, v = rand(rng, (2, 3, 70, 24)), rand(rng, (2, 3, 66, 24)), rand(rng, (2, 3, 66, 20))
    mask = rng.random(mshape) < 0.6
    out = flash_attention(q, k, v, mask=mask, causal=causal)
    check(out, q, k, v, mask=mask, causal=causal)


@pytest.mark.parametrize("mdtype", [np.float32, np.float64, np.float16])
def test_additive_masks(tier, mdtype):
    rng = np.random.default_rng(3)
    q, k, v = rand(rng, (1, 2, 65, 32)), rand(rng, (1, 2, 130, 32)), rand(rng, (1, 2, 130, 32))
    mask = rng.uniform(-3, 3, (65, 130)).astype(mdtype)
    mask[rng.random(mask.shape) < 0.2] = -np.inf
    check(flash_attention(q, k, v, mask=mask), q, k, v, mask=mask.astype(np.float32))


def test_batch_broadcast_that_needs_materialising():
    rng = np.random.default_rng(4)
    q, k, v = rand(rng, (2, 2, 3, 9, 8)), rand(rng, (2, 2, 3, 9, 8)), rand(rng, (2, 2, 3, 9, 8))
    mask = rng.random((2, 1, 3, 9, 9)) < 0.7
    check(flash_attention(q, k, v, mask=mask), q, k, v, mask=mask)


def test_fully_masked_rows_are_zero_not_nan(tier):
    rng = np.random.default_rng(5)
    q, k, v = rand(rng, (67, 16)), rand(rng, (70, 16)), rand(rng, (70, 16))
    v[0, 0] = np.inf  # a zero weight must not turn it into NaN
    mask = np.ones((67, 70), dtype=bool)
    mask[5] = False
    mask[66] = False
    out = flash_attention(q, k, v, mask=mask)
    assert np.all(out[5] == 0) and np.all(out[66] == 0)
    fmask = np.where(mask, 0.0, -np.inf).astype(np.float32)
    assert np.all(flash_attention(q, k, v, mask=fmask)[5] == 0)


@pytest.mark.parametrize("dt", [np.float16, ml_dtypes.bfloat16], ids=["f16", "bf16"])
@pytest.mark.parametrize("causal", [False, True])
def test_half_inputs_accumulate_in_float32(tier, dt, causal):
    rng = np.random.default_rng(6)
    q, k, v = rand(rng, (1, 2, 70, 64), dt), rand(rng, (1, 2, 75, 64), dt), rand(rng, (1, 2, 75, 64), dt)
    out = flash_attention(q, k, v, causal=causal)
    assert out.dtype == np.float32
    check(out, q, k, v, causal=causal)
    same = flash_attention(q, k, v, causal=causal, out_dtype=dt)
    assert same.dtype == np.dtype(dt)
    np.testing.assert_array_equal(same.view(np.uint16), out.astype(dt).view(np.uint16))


def test_out_and_scale():
    rng = np.random.default_rng(7)
    q, k, v = rand(rng, (2, 50, 16)), rand(rng, (2, 60, 16)), rand(rng, (2, 60, 16))
    out = np.full((2, 50, 16), np.nan, dtype=np.float32)
    r = flash_attention(q, k, v, scale=0.3, out=out)
    assert r is out
    check(out, q, k, v, scale=0.3)
    check(flash_attention(q, k, v, scale=-2), q, k, v, scale=-2.0)
    # non-contiguous inputs are copied, with the same result
    qt = np.asfortranarray(q)
    np.testing.assert_array_equal(flash_attention(qt, k, v), flash_attention(q, k, v))


def test_byte_swapped_inputs_are_read_by_value():
    rng = np.random.default_rng(13)
    q, k, v = rand(rng, (20, 8), np.float16), rand(rng, (30, 8), np.float16), rand(rng, (30, 8), np.float16)
    swapped = [x.astype(x.dtype.newbyteorder(">")) for x in (q, k, v)]
    np.testing.assert_array_equal(flash_attention(*swapped), flash_attention(q, k, v))
    with pytest.raises(TypeError, match="native byte order"):
        flash_attention(q, k, v, out=np.empty((20, 8), np.dtype(">f4")))


def test_causal_alignment_is_top_left():
    rng = np.random.default_rng(8)
    q, k, v = rand(rng, (10, 8)), rand(rng, (4, 8)), rand(rng, (4, 8))
    out = flash_attention(q, k, v, causal=True)
    # query 0 sees key 0 only; queries 3.. see every key
    np.testing.assert_allclose(out[0], v[0], rtol=1e-6)
    np.testing.assert_allclose(out[9], flash_attention(q[9:], k, v)[0], rtol=1e-6)
    q2, k2 = rand(rng, (4, 8)), rand(rng, (10, 8))
    v2 = rand(rng, (10, 8))
    np.testing.assert_allclose(flash_attention(q2, k2, v2, causal=True), flash_attention(q2, k2[:4], v2[:4], causal=True), rtol=1e-6)


def test_non_finite_inputs_propagate():
    rng = np.random.default_rng(9)
    q, k, v = rand(rng, (70, 8)), rand(rng, (70, 8)), rand(rng, (70, 8))
    q[3, 2] = np.nan
    q[68, 0] = np.inf
    out = flash_attention(q, k, v)
    assert np.isnan(out[3]).all() and np.isnan(out[68]).all()
    assert np.isfinite(np.delete(out, [3, 68], axis=0)).all()


def test_results_do_not_depend_on_threads():
    rng = np.random.default_rng(10)
    q, k, v = rand(rng, (1, 4, 300, 64)), rand(rng, (1, 4, 300, 64)), rand(rng, (1, 4, 300, 64))
    before = mlkern.get_num_threads()
    try:
        mlkern.set_num_threads(1)
        one = flash_attention(q, k, v, causal=True)
        mlkern.set_num_threads(2)
        two = flash_attention(q, k, v, causal=True)
    finally:
        mlkern.set_num_threads(before)
    np.testing.assert_array_equal(one, two)


def test_concurrent_calls_from_python_threads():
    from concurrent.futures import ThreadPoolExecutor

    rng = np.random.default_rng(11)
    qs = [rand(rng, (2, 200, 32)) for _ in range(6)]
    want = [flash_attention(q, q, q) for q in qs]
    with ThreadPoolExecutor(3) as ex:
        got = list(ex.map(lambda q: flash_attention(q, q, q), qs))
    for a, b in zip(want, got):
        np.testing.assert_array_equal(a, b)


@settings(max_examples=40, deadline=None)
@given(
    sq=st.integers(1, 90),
    sk=st.integers(1, 90),
    e=st.integers(1, 40),
    ev=st.integers(1, 20),
    causal=st.booleans(),
    seed=st.integers(0, 2**32 - 1),
)
def test_property_against_float64(sq, sk, e, ev, causal, seed):
    rng = np.random.default_rng(seed)
    q, k, v = rand(rng, (sq, e), spread=2), rand(rng, (sk, e), spread=2), rand(rng, (sk, ev))
    check(flash_attention(q, k, v, causal=causal), q, k, v, causal=causal)


def test_empty_queries():
    out = flash_attention(np.zeros((2, 0, 8), np.float32), np.ones((2, 3, 8), np.float32), np.ones((2, 3, 5), np.float32))
    assert out.shape == (2, 0, 5)


def test_bad_input_names_the_argument():
    f32 = np.ones((2, 4, 8), np.float32)
    with pytest.raises(TypeError, match="q: float64"):
        flash_attention(f32.astype(np.float64), f32, f32)
    with pytest.raises(TypeError, match="k: dtype"):
        flash_attention(f32, f32.astype(np.float16), f32)
    with pytest.raises(TypeError, match="q: expected float32"):
        flash_attention(f32.astype(np.int8), f32, f32)
    with pytest.raises(ValueError, match="k: its last dimension"):
        flash_attention(f32, np.ones((2, 4, 7), np.float32), f32)
    with pytest.raises(ValueError, match="leading dimensions"):
        flash_attention(f32, np.ones((3, 4, 8), np.float32), np.ones((3, 4, 8), np.float32))
    with pytest.raises(ValueError, match="v: 5 values for 4 keys"):
        flash_attention(f32, f32, np.ones((2, 5, 8), np.float32))
    with pytest.raises(ValueError, match="q: expected an array"):
        flash_attention(np.ones(8, np.float32), f32, f32)
    with pytest.raises(ValueError, match="E must be at least 1"):
        z = np.ones((2, 4, 0), np.float32)
        flash_attention(z, z, f32)
    with pytest.raises(ValueError, match="at least one key"):
        flash_attention(f32, np.ones((2, 0, 8), np.float32), np.ones((2, 0, 8), np.float32))
    with pytest.raises(ValueError, match="mask: shape"):
        flash_attention(f32, f32, f32, mask=np.ones((3, 4), bool))
    with pytest.raises(TypeError, match="mask: expected a bool"):
        flash_attention(f32, f32, f32, mask=np.ones((4, 4), np.int32))
    with pytest.raises(ValueError, match="scale: must be finite"):
        flash_attention(f32, f32, f32, scale=float("nan"))
    with pytest.raises(TypeError, match="scale"):
        flash_attention(f32, f32, f32, scale="1")
    with pytest.raises(TypeError, match="causal"):
        flash_attention(f32, f32, f32, causal=1)
    with pytest.raises(ValueError, match="out_dtype"):
        flash_attention(f32, f32, f32, out_dtype=np.float16)
    with pytest.raises(ValueError, match="out: shape"):
        flash_attention(f32, f32, f32, out=np.empty((2, 4, 7), np.float32))
    with pytest.raises(TypeError, match="out: dtype"):
        flash_attention(f32, f32, f32, out=np.empty((2, 4, 8), np.float64))
    ro = np.empty((2, 4, 8), np.float32)
    ro.flags.writeable = False
    with pytest.raises(ValueError, match="read-only"):
        flash_attention(f32, f32, f32, out=ro)
    with pytest.raises(ValueError, match="C-contiguous"):
        flash_attention(f32, f32, f32, out=np.empty((2, 8, 4), np.float32).transpose(0, 2, 1))
    q = np.ones((2, 4, 8), np.float32)
    with pytest.raises(ValueError, match="shares memory with q"):
        flash_attention(q, f32, f32, out=q)
    huge = np.lib.stride_tricks.as_strided(np.ones(1, np.float32), (1 << 40, 1, 8), (0, 0, 0))
    with pytest.raises((ValueError, MemoryError)):
        flash_attention(huge, f32[:1], f32[:1])


@pytest.mark.skipif(importlib.util.find_spec("torch") is None, reason="PyTorch is an optional peer")
def test_agrees_with_torch_sdpa():
    import torch

    rng = np.random.default_rng(12)
    q, k, v = rand(rng, (2, 3, 70, 32)), rand(rng, (2, 3, 90, 32)), rand(rng, (2, 3, 90, 32))
    mask = rng.random((2, 1, 70, 90)) < 0.7
    t = [torch.from_numpy(x) for x in (q, k, v)]
    want = torch.nn.functional.scaled_dot_product_attention(*t, attn_mask=torch.from_numpy(mask)).numpy()
    np.testing.assert_allclose(flash_attention(q, k, v, mask=mask), want, atol=2e-6)
    want = torch.nn.functional.scaled_dot_product_attention(*t, is_causal=True).numpy()
    np.testing.assert_allclose(flash_attention(q, k, v, causal=True), want, atol=2e-6)
