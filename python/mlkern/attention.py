"""Attention on the CPU: tiled flash attention with float32 accumulation.

flash_attention(q, k, v, *, causal=False, mask=None, scale=None, out=None, out_dtype=None)
    ``softmax(q @ k.T * scale + mask) @ v`` for every head, computed tile by tile
    with an online softmax (Dao et al., 2022): no ``seq_q x seq_k`` matrix is ever
    made, so the extra memory is a few small buffers per thread whatever the length.

Layout is PyTorch's ``scaled_dot_product_attention``: ``q`` is ``(..., Sq, E)``,
``k`` ``(..., Sk, E)``, ``v`` ``(..., Sk, Ev)``, the result ``(..., Sq, Ev)``, with the
same leading dimensions (``(batch, heads)``, ``(heads,)`` or none) on all three.
Inputs may be float32, float16 or bfloat16 (``ml_dtypes.bfloat16``, the dtype JAX
and the ecosystem use); they are read in place, widened to float32 on the fly.
"""

from __future__ import annotations

import math
import numbers
from typing import Any

import numpy as np
import numpy.typing as npt

from mlkern import _mlkern

__all__ = ["flash_attention"]

_HALF = {"float16", "bfloat16"}


def _kind(arr: np.ndarray, name: str) -> str:
    kind = arr.dtype.name
    if kind == "float32" or kind in _HALF:
        return kind
    if kind == "float64":
        raise TypeError(
            f"{name}: float64 is not supported; flash_attention computes in float32 "
            f"(pass {name}.astype(np.float32))"
        )
    raise TypeError(f"{name}: expected float32, float16 or bfloat16 values, got {arr.dtype}")


def _as_array(x: Any, name: str) -> np.ndarray:
    if not isinstance(x, np.ndarray):
        x = np.asarray(x)
        if x.dtype == np.float64:
            x = x.astype(np.float32)
    if np.ndim(x) < 2:
        raise ValueError(f"{name}: expected an array of shape (..., seq, dim), got shape {x.shape}")
    arr: np.ndarray = np.asarray(x)
    if not arr.dtype.isnative:  # byte-swapped: the kernels read native values (copied once)
        arr = arr.astype(arr.dtype.newbyteorder("="))
    return arr


def _flat(x: np.ndarray) -> np.ndarray:
    """A 1-D view of ``x`` (copied only when it is not C-contiguous), as uint16
    bits for the half formats."""
    x = np.ascontiguousarray(x)
    if x.dtype.name in _HALF:
        x = x.view(np.uint16)
    return x.reshape(-1)


def _out_dtype(out_dtype: Any, kind: str) -> str:
    if out_dtype is None:
        return "float32"
    if isinstance(out_dtype, str) and out_dtype == "bfloat16":
        name = "bfloat16"
    else:
        try:
            name = np.dtype(out_dtype).name
        except TypeError as e:
            raise TypeError(f"out_dtype: not a dtype: {out_dtype!r}") from e
    if name != "float32" and name != kind:
        raise ValueError(f"out_dtype: must be float32 or the inputs' dtype ({kind}), got {name}")
    return name


def _mask(mask: Any, lead: tuple[int, ...], sq: int, sk: int) -> tuple[np.ndarray, tuple[int, int, int, int]]:
    """The mask as a 1-D bool or float32 array of shape ``(B|1, H|1, Sq|1, Sk|1)``."""
    m = np.asarray(mask)
    if m.dtype == np.bool_:
        pass
    elif np.issubdtype(m.dtype, np.floating) or m.dtype.name == "bfloat16":
        m = m.astype(np.float32, copy=False)
    else:
        raise TypeError(f"mask: expected a bool or floating-point array, got {m.dtype}")
    full = (*lead, sq, sk)
    try:
        ok = np.broadcast_shapes(m.shape, full) == full
    except ValueError:
        ok = False
    if not ok:
        raise ValueError(f"mask: shape {m.shape} does not broadcast to the attention shape {full}")
    padded = (1,) * (len(full) - m.ndim) + m.shape
    m = m.reshape(padded)
    mlead = padded[:-2]
    if len(lead) <= 1:
        mb, mh = 1, (mlead[0] if lead else 1)
    else:
        mh = mlead[-1]
        outer = mlead[:-1]
        if all(e == 1 for e in outer):
            mb = 1
        elif outer == lead[:-1]:
            mb = math.prod(outer)
        else:  # a batch broadcast (B1, 1, ...) that (B, H) cannot express: materialise it
            m = np.broadcast_to(m, (*lead[:-1], mh, padded[-2], padded[-1]))
            mb = math.prod(lead[:-1])
    shape = (mb, mh, padded[-2], padded[-1])
    return np.ascontiguousarray(m).reshape(-1), shape


def flash_attention(
    q: npt.ArrayLike,
    k: npt.ArrayLike,
    v: npt.ArrayLike,
    *,
    causal: bool = False,
    mask: npt.ArrayLike | None = None,
    scale: float | None = None,
    out: np.ndarray | None = None,
    out_dtype: npt.DTypeLike | None = None,
) -> np.ndarray:
    """Scaled dot-product attention, ``softmax(q @ kᵀ * scale + mask) @ v``.

    Parameters
    ----------
    q : array, shape (..., Sq, E)
        Queries: float32, float16 or ``ml_dtypes.bfloat16``.
    k : array, shape (..., Sk, E)
        Keys, the dtype of ``q``.
    v : array, shape (..., Sk, Ev)
        Values, the dtype of ``q``. The leading dimensions ``...`` (for example
        ``(batch, heads)``) are the same on ``q``, ``k`` and ``v``.
    causal : bool
        Query ``i`` attends to keys ``j <= i`` only, counting both from the start:
        the top-left alignment of PyTorch's ``is_causal`` (``torch.ones(Sq, Sk).tril()``).
        With ``Sq > Sk`` the queries past the last key attend to every key; with
        ``Sq < Sk`` the keys past ``Sq - 1`` are never attended to. Fully masked key
        tiles are skipped, so causal attention costs about half of full attention.
    mask : array of bool or float, optional
        Broadcast to ``(..., Sq, Sk)`` as NumPy (and PyTorch's SDPA) broadcast:
        ``(Sq, Sk)``, ``(B, 1, Sq, Sk)``, ``(B, 1, 1, Sk)`` (key padding), ...
        Boolean: ``True`` means the key takes part (PyTorch's convention). Float: added
        to the scaled scores (``-inf`` excludes a key). May be combined with ``causal``.
        A broadcast mask is not copied unless its batch axes broadcast in a way
        ``(batch, heads)`` cannot express; a float mask other than float32 is converted.
    scale : float, optional
        Multiplies the scores; default ``1 / sqrt(E)``.
    out : ndarray, optional
        C-contiguous, writable, shape ``(..., Sq, Ev)``, of the result dtype; it must
        not share memory with the inputs.
    out_dtype : dtype, optional
        float32 (the default) or the inputs' dtype; with ``out`` given and
        ``out_dtype`` omitted, ``out``'s dtype. The float32 result is rounded once.

    Returns
    -------
    ndarray, shape (..., Sq, Ev)

    Notes
    -----
    Accumulation is float32 throughout (scores, softmax sums, the weighted sum of
    values), so float16/bfloat16 inputs give float32-accurate results for the values
    they hold. With ``u = 2**-24``, each output row ``i`` is within
    ``(2 (E+2) u scale max_j sum_c |q_ic k_jc| + (n_i + E + 8) u) max_j |v_j|`` of the
    exact result, ``n_i`` the number of keys query ``i`` attends to (tested on every
    SIMD tier against float64).

    A query that no key may reach (its mask row all ``False`` or ``-inf``) gets a row
    of zeros, never NaN. Otherwise non-finite values propagate as the formula in
    float64 computes them: a NaN or an infinite score makes its query's row NaN.

    ``Sq = 0`` gives an empty result; ``Sk = 0`` (a softmax over no keys) and ``E = 0``
    raise ``ValueError``. Non-contiguous inputs are copied once. The work runs on
    mlkern's thread pool (``mlkern.set_num_threads``) with the GIL released; results
    do not depend on the thread count. Ctrl-C interrupts a long call
    (``KeyboardInterrupt``; ``out`` is then incomplete).

    Examples
    --------
    >>> import numpy as np, mlkern
    >>> rng = np.random.default_rng(0)
    >>> q, k, v = (rng.standard_normal((2, 4, 128, 64), dtype=np.float32) for _ in range(3))
    >>> o = mlkern.attention.flash_attention(q, k, v, causal=True)
    >>> o.shape, o.dtype
    ((2, 4, 128, 64), dtype('float32'))
    """
    qa, ka, va = _as_array(q, "q"), _as_array(k, "k"), _as_array(v, "v")
    kind = _kind(qa, "q")
    for arr, name in ((ka, "k"), (va, "v")):
        if arr.dtype != qa.dtype:
            raise TypeError(f"{name}: dtype {arr.dtype} differs from q's {qa.dtype}; q, k and v must have one dtype")
    if not (qa.ndim == ka.ndim == va.ndim):
        raise ValueError(f"q, k, v: dimensions differ ({qa.ndim}, {ka.ndim}, {va.ndim})")
    lead = qa.shape[:-2]
    if ka.shape[:-2] != lead or va.shape[:-2] != lead:
        raise ValueError(
            f"k, v: leading dimensions {ka.shape[:-2]} and {va.shape[:-2]} differ from q's {lead}"
        )
    sq, e = qa.shape[-2:]
    sk = ka.shape[-2]
    if ka.shape[-1] != e:
        raise ValueError(f"k: its last dimension {ka.shape[-1]} differs from q's {e}")
    if va.shape[-2] != sk:
        raise ValueError(f"v: {va.shape[-2]} values for {sk} keys")
    ev = va.shape[-1]
    if e == 0:
        raise ValueError("q: the query and key dimension E must be at least 1")
    if sk == 0:
        raise ValueError("k: there must be at least one key (a softmax over no keys is undefined)")
    if not isinstance(causal, (bool, np.bool_)):
        raise TypeError(f"causal: expected a bool, got {type(causal).__name__}")
    if scale is not None:
        if isinstance(scale, (bool, np.bool_)) or not isinstance(scale, numbers.Real):
            raise TypeError(f"scale: expected a real number, got {type(scale).__name__}")
        scale = float(scale)
    if len(lead) == 0:
        batch, heads = 1, 1
    elif len(lead) == 1:
        batch, heads = 1, lead[0]
    else:
        batch, heads = math.prod(lead[:-1]), lead[-1]

    if out_dtype is None and out is not None and isinstance(out, np.ndarray):
        if out.dtype.name not in ("float32", kind):
            raise TypeError(f"out: dtype {out.dtype}, expected float32 or the inputs' dtype ({kind})")
        out_dtype = out.dtype
    res_kind = _out_dtype(out_dtype, kind)
    shape = (*lead, sq, ev)
    if out is None:
        # float32, or the inputs' own dtype (so bfloat16 needs no import here)
        res_dtype = qa.dtype if res_kind == kind else np.dtype(np.float32)
        result = np.empty(shape, dtype=res_dtype)
    else:
        if not isinstance(out, np.ndarray):
            raise TypeError(f"out: expected a NumPy array, got {type(out).__name__}")
        if out.shape != shape:
            raise ValueError(f"out: shape {out.shape}, expected {shape}")
        if out.dtype.name != res_kind:
            raise TypeError(f"out: dtype {out.dtype}, expected {res_kind}")
        if not out.dtype.isnative:
            raise TypeError("out: must be in native byte order")
        if not out.flags.c_contiguous:
            raise ValueError("out: must be C-contiguous")
        if not out.flags.writeable:
            raise ValueError("out: is read-only")
        result = out

    mflat, mshape = (None, None) if mask is None else _mask(mask, lead, sq, sk)
    qf, kf, vf = _flat(qa), _flat(ka), _flat(va)
    if out is not None:
        inputs: list[tuple[np.ndarray | None, str]] = [(qf, "q"), (kf, "k"), (vf, "v"), (mflat, "mask")]
        for buf, name in inputs:
            if buf is not None and np.may_share_memory(result, buf):
                raise ValueError(f"out: shares memory with {name}")
    if result.size == 0:
        return result
    rflat = result.reshape(-1)
    if res_kind in _HALF:
        rflat = rflat.view(np.uint16)
    _mlkern._flash_attention(
        qf, kf, vf, kind, (batch, heads, sq, sk, e, ev), mflat, mshape, bool(causal), scale, rflat, res_kind
    )
    return result
