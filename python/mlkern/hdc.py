"""Hyperdimensional computing: bit-packed hypervectors, fused encoders and
trainable HDC classifiers.

Binary (BSC) hypervectors of dimension ``D`` are ``uint64`` arrays of shape
``(n, ceil(D / 64))`` (or ``(ceil(D / 64),)`` for one vector): bit ``j`` is bit
``j % 64`` of word ``j // 64``, least significant first, as
``np.unpackbits(v.view(np.uint8), bitorder="little")`` reads them on a
little-endian machine, and the padding bits above ``D`` are always zero (functions
that take ``D`` refuse vectors whose padding is not). Real/bipolar (MAP)
hypervectors are float32 arrays ``(n, D)``. Distances count bits with AVX-512
VPOPCNTDQ where the CPU has it (``kernel_name()`` says which popcount runs).

Operations
----------
random(n, D, kind)                ``"binary"`` packed bits or ``"map"`` ±1 float32
bind(a, b)                        XOR (binary) / elementwise product (MAP)
bundle(X)                         bitwise majority over rows, seeded ties (MAP: sum)
permute(x, k, D)                  rotate the D bits as ``np.roll(bits, k)``
hamming, cdist_hamming,           popcount distances (int64), k nearest
topk_hamming
cosine, cdist                     MAP distances, SciPy's definitions
pack_bits / unpack_bits           bool/0-1 (n, D) <-> packed words
sign_pack                         float (n, D) -> packed ``value > 0``

Encoders (``encode(X)`` -> packed binary, or float32 MAP with ``binary=False``)
--------------------------------------------------------------------------------
ProjectionEncoder, SinusoidEncoder, LevelEncoder, NgramEncoder

Models
------
HDClassifier (scikit-learn API), AssociativeMemory

``random_state`` everywhere is ``None`` (fresh entropy), an int, or a NumPy
``Generator``/``RandomState`` from which one seed is drawn. Results depend only on
the seed, never on the thread count.
"""

from __future__ import annotations

import inspect
import json
import numbers
import os
from concurrent.futures import ThreadPoolExecutor
from collections.abc import Sequence
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

from mlkern import _mlkern
from mlkern._seed import seed_from as _seed

__all__ = [
    "AssociativeMemory",
    "HDClassifier",
    "LevelEncoder",
    "NgramEncoder",
    "NotFittedError",
    "ProjectionEncoder",
    "SinusoidEncoder",
    "bind",
    "bundle",
    "cdist",
    "cdist_hamming",
    "cosine",
    "hamming",
    "kernel_name",
    "pack_bits",
    "permute",
    "random",
    "sign_pack",
    "topk_hamming",
    "unpack_bits",
    "words_for",
]

_Packed = npt.NDArray[np.uint64]
_F32 = npt.NDArray[np.float32]


# ---------------------------------------------------------------- validation


def words_for(D: int) -> int:
    """Words of a ``D``-bit hypervector: ``ceil(D / 64)``. ``D`` must be >= 1."""
    return (_dimension(D) + 63) // 64


def _dimension(D: Any, name: str = "D") -> int:
    if isinstance(D, (bool, np.bool_)) or not isinstance(D, numbers.Integral):
        raise TypeError(f"{name} must be an integer, got {type(D).__name__}")
    if int(D) <= 0:
        raise ValueError(f"{name} must be at least 1, got {int(D)}")
    return int(D)


def _is_packed(x: Any) -> bool:
    return isinstance(x, np.ndarray) and x.dtype == np.uint64


def _packed(x: Any, name: str, D: int | None = None) -> tuple[_Packed, bool]:
    """``x`` as a C-contiguous 2-D uint64 array (a copy only if not contiguous) and
    whether it was one vector; checks the words and padding against ``D`` if given."""
    if not isinstance(x, np.ndarray):
        raise TypeError(f"{name} must be a uint64 numpy array of packed hypervectors, got {type(x).__name__}")
    if x.dtype != np.uint64:
        raise TypeError(
            f"{name} must hold packed hypervectors as uint64 words, got dtype {x.dtype}"
            " (pack 0/1 bits with mlkern.hdc.pack_bits, float MAP vectors with sign_pack)"
        )
    if x.ndim not in (1, 2):
        raise ValueError(f"{name} must be 1-D (one vector) or 2-D (rows of vectors), got {x.ndim}-D")
    one = x.ndim == 1
    x2 = np.ascontiguousarray(x.reshape(1, -1) if one else x)
    if x2.shape[1] == 0:
        raise ValueError(f"{name} has 0 words per vector")
    if D is not None:
        words = words_for(D)
        if x2.shape[1] != words:
            raise ValueError(f"{name} has {x2.shape[1]} words per vector; D = {D} needs {words}")
        r = D % 64
        if r and x2.shape[0] and np.any(x2[:, -1] >> np.uint64(r)):
            bad = int(np.flatnonzero(x2[:, -1] >> np.uint64(r))[0])
            raise ValueError(f"{name}: row {bad} has bits set above D = {D} (padding bits must be zero)")
    return x2, one


def _same_words(a: _Packed, an: str, b: _Packed, bn: str) -> None:
    if a.shape[1] != b.shape[1]:
        raise ValueError(f"{an} has {a.shape[1]} words per vector but {bn} has {b.shape[1]}")


def _features(X: Any, name: str = "X", n_features: int | None = None) -> tuple[_F32, bool]:
    """``X`` as C-contiguous float32 ``(n, f)`` (converted once if another dtype or
    layout) and whether it was one sample; NaN and infinities raise."""
    arr = np.asarray(X)
    if arr.dtype == object or not (np.issubdtype(arr.dtype, np.number) or arr.dtype == np.bool_):
        raise TypeError(f"{name} must be numeric, got dtype {arr.dtype}")
    if np.iscomplexobj(arr):
        raise TypeError(f"{name} must be real, got dtype {arr.dtype}")
    if arr.ndim not in (1, 2):
        raise ValueError(f"{name} must be 1-D (one sample) or 2-D (samples x features), got {arr.ndim}-D")
    one = arr.ndim == 1
    x = np.ascontiguousarray(arr.reshape(1, -1) if one else arr, dtype=np.float32)
    if n_features is not None and x.shape[1] != n_features:
        raise ValueError(f"{name} has {x.shape[1]} features, but the encoder expects {n_features}")
    if not np.isfinite(x).all():
        r, c = np.argwhere(~np.isfinite(x))[0]
        raise ValueError(f"{name} holds a non-finite value (NaN or infinity) at row {r}, feature {c}")
    return x, one


def _map(x: Any, name: str) -> tuple[npt.NDArray[np.floating[Any]], bool]:
    arr = np.asarray(x)
    if not np.issubdtype(arr.dtype, np.floating):
        raise TypeError(f"{name} must be a float MAP hypervector array, got dtype {arr.dtype}")
    if arr.ndim not in (1, 2):
        raise ValueError(f"{name} must be 1-D or 2-D, got {arr.ndim}-D")
    return (arr.reshape(1, -1) if arr.ndim == 1 else arr), arr.ndim == 1


# ---------------------------------------------------------------- operations


def kernel_name() -> str:
    """The popcount kernel Hamming distances use on this CPU and tier, e.g.
    ``"avx512-vpopcntdq"``, ``"avx2-nibble"``, ``"popcnt"``, ``"scalar-swar"``."""
    return _mlkern._hdc_kernel()


def random(n: int, D: int, kind: str = "binary", random_state: Any = None) -> npt.NDArray[Any]:
    """``n`` random hypervectors of dimension ``D``.

    ``kind="binary"``: uniform random bits, packed ``(n, ceil(D/64))`` uint64 (padding
    zero); ``kind="map"``: uniform ±1 float32 ``(n, D)``.
    """
    D = _dimension(D)
    n = int(n)
    if n < 0:
        raise ValueError(f"n must be non-negative, got {n}")
    seed = _seed(random_state)
    if kind == "binary":
        out: npt.NDArray[Any] = _mlkern._hdc_random(n, D, seed)
        return out
    if kind == "map":
        bits = unpack_bits(_mlkern._hdc_random(n, D, seed), D)
        return np.where(bits, np.float32(1.0), np.float32(-1.0))
    raise ValueError(f"kind must be 'binary' or 'map', got {kind!r}")


def pack_bits(bits: npt.ArrayLike) -> _Packed:
    """Packs a ``(n, D)`` (or ``(D,)``) array of 0/1 or bool into uint64 words."""
    b = np.asarray(bits)
    if b.ndim not in (1, 2):
        raise ValueError(f"bits must be 1-D or 2-D, got {b.ndim}-D")
    if b.dtype != np.bool_:
        if not np.issubdtype(b.dtype, np.integer) or ((b != 0) & (b != 1)).any():
            raise ValueError("bits must be bool or hold only 0 and 1")
    one = b.ndim == 1
    b2 = b.reshape(1, -1) if one else b
    D = _dimension(b2.shape[1], "bits.shape[-1]")
    words = words_for(D)
    by = np.packbits(b2.astype(bool), axis=1, bitorder="little")
    buf = np.zeros((b2.shape[0], words * 8), np.uint8)
    buf[:, : by.shape[1]] = by
    out = buf.view("<u8").astype(np.uint64, copy=False)
    return out[0] if one else out


def unpack_bits(x: _Packed, D: int) -> npt.NDArray[np.bool_]:
    """The ``(n, D)`` (or ``(D,)``) bool bits of packed hypervectors."""
    x2, one = _packed(x, "x", _dimension(D))
    bits = np.unpackbits(x2.astype("<u8", copy=False).view(np.uint8), axis=1, bitorder="little")[:, :D].astype(bool)
    return bits[0] if one else bits


def sign_pack(values: npt.ArrayLike) -> _Packed:
    """Packs ``values > 0`` of a float ``(n, D)`` (or ``(D,)``) array into uint64
    words: a MAP hypervector (or class prototype) to its binary code. NaN and ±0 pack
    as 0."""
    v = np.asarray(values)
    if not np.issubdtype(v.dtype, np.floating):
        raise TypeError(f"values must be float, got dtype {v.dtype}")
    if v.ndim not in (1, 2):
        raise ValueError(f"values must be 1-D or 2-D, got {v.ndim}-D")
    one = v.ndim == 1
    v2 = v.reshape(1, -1) if one else v
    _dimension(v2.shape[1], "values.shape[-1]")
    if v2.dtype == np.float32:
        out: _Packed = _mlkern._hdc_pack_positive(np.ascontiguousarray(v2))
    else:  # compared in the input's precision (a float32 cast could flush tiny positives)
        out = pack_bits(v2 > 0)
    return out[0] if one else out


def bind(a: npt.NDArray[Any], b: npt.NDArray[Any]) -> npt.NDArray[Any]:
    """Binds two hypervectors (or stacks of equal shape, or a stack and one vector):
    XOR for packed binary (uint64) codes, the elementwise product for MAP floats."""
    if _is_packed(a) or _is_packed(b):
        a2, _ = _packed(a, "a")
        b2, _ = _packed(b, "b")
        _same_words(a2, "a", b2, "b")
        return np.asarray(np.bitwise_xor(a, b))
    fa, _ = _map(a, "a")
    fb, _ = _map(b, "b")
    if fa.shape[1] != fb.shape[1]:
        raise ValueError(f"a has D = {fa.shape[1]} but b has D = {fb.shape[1]}")
    return np.asarray(np.multiply(a, b))


def bundle(X: npt.NDArray[Any], random_state: Any = None) -> npt.NDArray[Any]:
    """Bundles the rows of a 2-D stack into one hypervector.

    Binary: the bitwise majority; a bit set in exactly half of an even number of
    rows is a seeded random bit (``random_state``). MAP: the sum over rows.
    """
    if _is_packed(X):
        if X.ndim != 2:
            raise ValueError(f"X must be a 2-D stack of packed hypervectors, got {X.ndim}-D")
        x2, _ = _packed(X, "X")
        if x2.shape[0] == 0:
            raise ValueError("X is empty: cannot bundle 0 hypervectors")
        out: _Packed = _mlkern._hdc_bundle(x2, x2.shape[1] * 64, _seed(random_state))
        return out
    m, one = _map(X, "X")
    if one:
        raise ValueError("X must be a 2-D stack of hypervectors, got 1-D")
    if m.shape[0] == 0:
        raise ValueError("X is empty: cannot bundle 0 hypervectors")
    return np.asarray(m.sum(axis=0, dtype=np.float32 if m.dtype == np.float32 else m.dtype))


def permute(x: npt.NDArray[Any], k: int, D: int | None = None) -> npt.NDArray[Any]:
    """Rotates hypervectors by ``k`` positions: the ``D`` bits (or MAP values) as
    ``np.roll(bits, k, axis=-1)``, across word boundaries. ``D`` is required for
    packed codes; their padding bits must be zero."""
    if not isinstance(k, numbers.Integral) or isinstance(k, (bool, np.bool_)):
        raise TypeError(f"k must be an integer, got {type(k).__name__}")
    if _is_packed(x) or D is not None:
        if D is None:
            raise ValueError("D is required to permute packed hypervectors")
        x2, one = _packed(x, "x", _dimension(D))
        out: _Packed = _mlkern._hdc_permute(x2, int(k), int(D))
        return out[0] if one else out
    m, _ = _map(x, "x")
    return np.roll(x, int(k), axis=-1)


def hamming(a: _Packed, b: _Packed) -> Any:
    """Hamming distance (count of differing bits) of packed hypervectors: an int64
    scalar for two vectors, ``(n,)`` for two stacks of ``n`` (row with row) or a stack
    and one vector."""
    a2, ao = _packed(a, "a")
    b2, bo = _packed(b, "b")
    _same_words(a2, "a", b2, "b")
    if ao and bo:
        return np.int64(_mlkern._hdc_hamming_rows(a2, b2)[0])
    if ao or bo:
        stack, one = (b2, a2) if ao else (a2, b2)
        return _mlkern._hdc_cdist_hamming(stack, one)[:, 0]
    if a2.shape[0] != b2.shape[0]:
        raise ValueError(f"a has {a2.shape[0]} rows but b has {b2.shape[0]}")
    out: npt.NDArray[np.int64] = _mlkern._hdc_hamming_rows(a2, b2)
    return out


def cdist_hamming(XA: _Packed, XB: _Packed) -> npt.NDArray[np.int64]:
    """All-pairs Hamming distances, int64 ``(m, n)``: ``out[i, j] = |XA[i] XOR XB[j]|``
    (bit counts; ``scipy.spatial.distance.cdist(..., "hamming")`` on the unpacked bits
    is ``out / D``)."""
    a2, _ = _packed(XA, "XA")
    b2, _ = _packed(XB, "XB")
    _same_words(a2, "XA", b2, "XB")
    out: npt.NDArray[np.int64] = _mlkern._hdc_cdist_hamming(a2, b2)
    return out


def topk_hamming(queries: _Packed, memory: _Packed, k: int) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    """The ``k`` rows of ``memory`` nearest each query by Hamming distance:
    ``(indices, distances)``, int64 ``(q, k)`` (``(k,)`` for one query), nearest
    first, ties to the lower index."""
    q2, one = _packed(queries, "queries")
    m2, _ = _packed(memory, "memory")
    _same_words(q2, "queries", m2, "memory")
    if not isinstance(k, numbers.Integral) or isinstance(k, (bool, np.bool_)):
        raise TypeError(f"k must be an integer, got {type(k).__name__}")
    if not 1 <= int(k) <= m2.shape[0]:
        raise ValueError(f"k = {int(k)} must be between 1 and the {m2.shape[0]} rows of memory")
    idx, dist = _mlkern._hdc_topk_hamming(q2, m2, int(k))
    return (idx[0], dist[0]) if one else (idx, dist)


def cosine(u: npt.ArrayLike, v: npt.ArrayLike) -> float:
    """Cosine distance of two MAP hypervectors, ``1 - u·v / (|u| |v|)``, as
    ``scipy.spatial.distance.cosine`` (similarity is ``1 - cosine(u, v)``)."""
    uu = np.asarray(u, dtype=np.float64)
    vv = np.asarray(v, dtype=np.float64)
    if uu.ndim != 1 or vv.ndim != 1 or uu.shape != vv.shape:
        raise ValueError(f"u and v must be 1-D of the same length, got shapes {uu.shape} and {vv.shape}")
    nu, nv = float(np.linalg.norm(uu)), float(np.linalg.norm(vv))
    if nu == 0.0 or nv == 0.0:
        raise ValueError("cosine distance of a zero vector is undefined")
    return 1.0 - float(uu @ vv) / (nu * nv)


def cdist(XA: npt.ArrayLike, XB: npt.ArrayLike, metric: str = "cosine") -> npt.NDArray[Any]:
    """Pairwise distances of MAP hypervector stacks (``mlkern.vector.cdist``, SciPy's
    metric names and definitions; default ``"cosine"``). For packed binary codes use
    :func:`cdist_hamming`."""
    if _is_packed(XA) or _is_packed(XB):
        raise TypeError("cdist is for MAP (float) hypervectors; use cdist_hamming for packed codes")
    from mlkern import vector

    return vector.cdist(XA, XB, metric)  # type: ignore[arg-type]


# ---------------------------------------------------------------- encoders


class _Encoder:
    """Shared parts of the encoders: dimension, mode, seed, pickling."""

    def __init__(self, D: int, binary: bool, random_state: Any) -> None:
        self.D = _dimension(D)
        self.binary = bool(binary)
        self.random_state = random_state
        self._seed = _seed(random_state)

    @property
    def words(self) -> int:
        return words_for(self.D)

    def __repr__(self) -> str:
        keys = list(inspect.signature(type(self).__init__).parameters)[1:]
        args = ", ".join(f"{k}={getattr(self, k)!r}" for k in keys)
        return f"{type(self).__name__}({args})"


_GAUSSIAN_SLICES = 4


def _gaussian(seed: int, n_features: int, D: int, scale: float = 1.0) -> _F32:
    """Normal weights of standard deviation ``scale``, drawn directly in the encoder
    kernel's panel-major order ``(words · f, 64)`` (the ``f × 64`` panel of each output
    word contiguous), zero in the padding columns ``D..words·64``."""
    words = words_for(D)
    panels = np.empty((words, n_features, 64), np.float32)
    # Four fixed slices from four spawned streams, filled on up to two threads (NumPy
    # releases the GIL while it fills): the values depend on the seed only.
    bounds = np.linspace(0, words, _GAUSSIAN_SLICES + 1).astype(int)
    streams = np.random.SeedSequence(seed).spawn(_GAUSSIAN_SLICES)

    def fill(i: int) -> None:
        part = panels[bounds[i] : bounds[i + 1]].reshape(-1)
        np.random.default_rng(streams[i]).standard_normal(out=part, dtype=np.float32)

    if panels.size >= 1 << 16 and min(2, _mlkern.get_num_threads()) > 1:
        with ThreadPoolExecutor(2) as pool:
            list(pool.map(fill, range(_GAUSSIAN_SLICES)))
    else:
        for i in range(_GAUSSIAN_SLICES):
            fill(i)
    panels[-1, :, 64 - (words * 64 - D) :] = 0.0
    if scale != 1.0:
        panels *= np.float32(scale)
    return panels.reshape(words * n_features, 64)


def _weights(panels: _F32, n_features: int, D: int) -> _F32:
    """The ``(n_features, D)`` weight matrix of panel-major weights (a copy)."""
    words = panels.shape[0] // n_features
    return np.ascontiguousarray(panels.reshape(words, n_features, 64).transpose(1, 0, 2).reshape(n_features, words * 64)[:, :D])


class ProjectionEncoder(_Encoder):
    """Gaussian random projection and sign: ``code = (X @ W > 0)`` packed, with
    ``W`` standard normal ``(n_features, D)``. The normalised Hamming distance of two
    codes estimates the angle between the samples over π (Charikar's SimHash).

    ``encode`` is fused: project, sign and pack in one pass over ``X``, no ``n × D``
    float matrix materialised (``binary=False`` returns that float32 projection).
    Batched and multi-threaded; the codes depend only on ``random_state``.
    """

    _nonlinearity: Literal["identity", "sinusoid"] = "identity"

    def __init__(self, n_features: int, D: int, binary: bool = True, random_state: Any = None) -> None:
        super().__init__(D, binary, random_state)
        self.n_features = _dimension(n_features, "n_features")
        self._w = _gaussian(self._seed, self.n_features, self.D)
        self._bias = np.zeros(0, np.float32)

    @property
    def weights_(self) -> _F32:
        """The projection matrix ``W``, ``(n_features, D)`` float32 (assembled on access
        from the kernel's panel-major copy)."""
        return _weights(self._w, self.n_features, self.D)

    def encode(self, X: npt.ArrayLike) -> npt.NDArray[Any]:
        """Codes of the rows of ``X`` (``(n, n_features)``, or one sample ``(n_features,)``):
        packed uint64 ``(n, words)``, or float32 ``(n, D)`` with ``binary=False``. ``X`` is
        read as C-contiguous float32 (other dtypes or layouts are converted once)."""
        x, one = _features(X, "X", self.n_features)
        out = _mlkern._hdc_project(x, self._w, self._bias, self.D, self._nonlinearity, self.binary)
        return out[0] if one else out


class SinusoidEncoder(ProjectionEncoder):
    """OnlineHD's nonlinear encoder: ``h = cos(X @ W + b) * sin(X @ W)`` with ``W``
    normal of standard deviation ``scale`` and ``b`` uniform on ``[0, 2π)``; binary
    codes are ``h > 0`` packed (fused like :class:`ProjectionEncoder`), MAP codes ``h``.

    ``scale`` (default ``1/sqrt(n_features)``) sets the kernel's bandwidth: with
    standardised features ``X @ W`` is then about standard normal, as in OnlineHD,
    which L2-normalises samples and uses standard-normal ``W``."""

    _nonlinearity: Literal["identity", "sinusoid"] = "sinusoid"

    def __init__(self, n_features: int, D: int, binary: bool = True, random_state: Any = None, scale: float | None = None) -> None:
        super().__init__(n_features, D, binary, random_state)
        self.scale = float(1.0 / np.sqrt(self.n_features) if scale is None else scale)
        if not (self.scale > 0 and np.isfinite(self.scale)):
            raise ValueError(f"scale must be a positive number, got {scale!r}")
        self._w = _gaussian(self._seed, self.n_features, self.D, self.scale)
        b = np.random.default_rng([self._seed, 1]).uniform(0.0, 2 * np.pi, self.D).astype(np.float32)
        self.bias_ = b
        self._bias = np.zeros(self.words * 64, np.float32)
        self._bias[: self.D] = b


def _level_bits(seed: int, levels: int, D: int) -> npt.NDArray[np.bool_]:
    """``levels`` correlated bit vectors: level 0 random, each next level flips a
    further ``D / (2 (levels - 1))`` positions of one random permutation, so level 0
    and the last differ in ``D / 2`` bits (as torchhd's ``level``)."""
    rng = np.random.default_rng([seed, 2])
    base = rng.random(D) < 0.5
    rank = np.empty(D, np.int64)
    rank[rng.permutation(D)] = np.arange(D)
    flips = np.round(np.arange(levels) * (D / 2) / max(levels - 1, 1)).astype(np.int64)
    return base[None, :] ^ (rank[None, :] < flips[:, None])


class LevelEncoder(_Encoder):
    """Record encoding: each feature ``i`` has a random ID hypervector, each of
    ``levels`` quantisation levels of ``[low, high]`` a level hypervector (correlated:
    nearby levels share most bits); a sample is the bundle (majority, seeded ties) of
    ``ID_i XOR L[level(x_i)]`` over its features. MAP: the sum of ``ID_i * L[level]``
    with ±1 vectors. Values outside ``[low, high]`` take the end levels."""

    def __init__(
        self,
        n_features: int,
        D: int,
        levels: int = 100,
        low: float = 0.0,
        high: float = 1.0,
        binary: bool = True,
        random_state: Any = None,
    ) -> None:
        super().__init__(D, binary, random_state)
        self.n_features = _dimension(n_features, "n_features")
        self.levels = _dimension(levels, "levels")
        self.low, self.high = float(low), float(high)
        if not (np.isfinite(self.low) and np.isfinite(self.high) and self.high > self.low):
            raise ValueError(f"need finite low < high, got low={low!r}, high={high!r}")
        ids = unpack_bits(_mlkern._hdc_random(self.n_features, self.D, self._seed), self.D)
        lv = _level_bits(self._seed, self.levels, self.D)
        self.ids_ = pack_bits(ids)
        self.level_vectors_ = pack_bits(lv)
        self._ids_map = np.where(ids, np.float32(1), np.float32(-1))
        self._lv_map = np.where(lv, np.float32(1), np.float32(-1))

    def quantize(self, X: npt.ArrayLike) -> npt.NDArray[np.uint32]:
        """The level index of each value: ``round((x - low) / (high - low) · (levels - 1))``
        clipped to ``[0, levels - 1]``."""
        x, _ = _features(X, "X", self.n_features)
        t = (x.astype(np.float64) - self.low) / (self.high - self.low) * (self.levels - 1)
        return np.ascontiguousarray(np.clip(np.rint(t), 0, self.levels - 1).astype(np.uint32))

    def encode(self, X: npt.ArrayLike) -> npt.NDArray[Any]:
        """Codes of the rows of ``X``: packed ``(n, words)`` or float32 ``(n, D)``."""
        one = np.ndim(X) == 1
        idx = self.quantize(X)
        if self.binary:
            out = _mlkern._hdc_level_encode(idx, self.ids_, self.level_vectors_, self.D, self._seed)
        else:
            out = np.zeros((idx.shape[0], self.D), np.float32)
            for i in range(self.n_features):
                out += self._ids_map[i] * self._lv_map[idx[:, i]]
        return out[0] if one else out


class NgramEncoder(_Encoder):
    """Token sequences: each token of a ``vocab_size`` vocabulary has a random
    hypervector; a window of ``n`` tokens is ``permute(T[t_0], n-1) XOR ... XOR
    permute(T[t_{n-2}], 1) XOR T[t_{n-1}]`` (torchhd's ``ngrams``), and a sequence is
    the bundle (majority, seeded ties) of its windows. MAP: products and sums of ±1
    vectors. Every sequence needs at least ``n`` tokens."""

    def __init__(self, vocab_size: int, D: int, n: int = 3, binary: bool = True, random_state: Any = None) -> None:
        super().__init__(D, binary, random_state)
        self.vocab_size = _dimension(vocab_size, "vocab_size")
        self.n = _dimension(n, "n")
        book = _mlkern._hdc_random(self.vocab_size, self.D, self._seed)
        self.codebook_ = book
        self._rotated = np.ascontiguousarray(np.stack([_mlkern._hdc_permute(book, s, self.D) for s in range(self.n)]))
        self._book_map = np.where(unpack_bits(book, self.D), np.float32(1), np.float32(-1))

    def _sequences(self, X: Any) -> tuple[npt.NDArray[np.uint32], npt.NDArray[np.int64], bool]:
        if isinstance(X, np.ndarray) and X.ndim == 2:
            seqs: list[Any] = list(X)
            one = False
        elif isinstance(X, np.ndarray) and X.ndim == 1 and X.dtype != object:
            seqs, one = [X], True
        elif isinstance(X, (list, tuple)) or (isinstance(X, np.ndarray) and X.dtype == object):
            seqs, one = list(X), False
        else:
            raise TypeError("X must be a sequence of token arrays or a 2-D integer array")
        arrays = []
        for i, s in enumerate(seqs):
            a = np.asarray(s)
            if a.ndim != 1 or not (np.issubdtype(a.dtype, np.integer) or a.size == 0):
                raise TypeError(f"X[{i}] must be a 1-D integer token array")
            if a.size < self.n:
                raise ValueError(f"X[{i}] has {a.size} tokens, fewer than n = {self.n}")
            if a.size and (a.min() < 0 or a.max() >= self.vocab_size):
                raise ValueError(f"X[{i}] holds tokens outside 0..{self.vocab_size - 1}")
            arrays.append(a.astype(np.uint32))
        offsets = np.zeros(len(arrays) + 1, np.int64)
        offsets[1:] = np.cumsum([a.size for a in arrays])
        tokens = np.concatenate(arrays) if arrays else np.zeros(0, np.uint32)
        return np.ascontiguousarray(tokens), offsets, one

    def encode(self, X: Any) -> npt.NDArray[Any]:
        """Codes of token sequences (a list of 1-D int arrays, a 2-D int array of
        equal-length rows, or one 1-D sequence): packed ``(n, words)`` or float32 ``(n, D)``."""
        tokens, offsets, one = self._sequences(X)
        if self.binary:
            out = _mlkern._hdc_ngram_encode(tokens, offsets, self._rotated, self.D, self._seed)
        else:
            out = np.zeros((offsets.size - 1, self.D), np.float32)
            for r in range(offsets.size - 1):
                t = tokens[offsets[r] : offsets[r + 1]]
                w = t.size - self.n + 1
                gram = np.ones((w, self.D), np.float32)
                for i in range(self.n):
                    gram *= np.roll(self._book_map[t[i : i + w]], self.n - 1 - i, axis=1)
                out[r] = gram.sum(axis=0)
        return out[0] if one else out


# ---------------------------------------------------------------- models

class NotFittedError(ValueError, AttributeError):
    """A model used before ``fit`` (as scikit-learn's ``NotFittedError``, a
    ``ValueError`` and an ``AttributeError``)."""


_ENCODERS = {"projection": ProjectionEncoder, "sinusoid": SinusoidEncoder, "level": LevelEncoder}
_FORMAT = "mlkern.hdc.HDClassifier/1"


class HDClassifier:
    """A hyperdimensional classifier with the scikit-learn API.

    Training: samples are encoded (``encoder``: ``"projection"``, ``"sinusoid"`` or
    ``"level"``, or an encoder instance), class prototypes start as the centroids
    (sums of bipolar codes), then ``epochs`` rounds of OnlineHD/AdaptHD-style
    retraining: every sample whose true class does not lead the others by more than
    ``margin`` in similarity (the mispredicted ones, and the barely right ones) adds
    ``lr`` times its code to its class and subtracts it from the class that beat or
    nearly beat it. An epoch with no such sample ends training.

    ``binary=True``: codes are packed bits, prototypes are kept as float32 sums and
    binarised (``> 0``) after each epoch; similarity is ``1 - 2·hamming/D`` (the
    bipolar cosine), computed with the popcount kernels. ``binary=False``: MAP codes
    (float32), cosine similarity to the float prototypes, OnlineHD's weighted update.

    ``predict_proba`` is the softmax of the similarities divided by ``temperature``
    (default ``1/sqrt(D)``, the spread of the similarity of two random codes).
    Pickles, and saves to / loads from a safe ``.npz`` (no pickle) with ``save``/``load``.
    """

    _estimator_type = "classifier"

    def __init__(
        self,
        D: int = 10000,
        encoder: Any = "projection",
        binary: bool = True,
        epochs: int = 20,
        lr: float = 1.0,
        margin: float = 0.05,
        temperature: float | None = None,
        random_state: Any = None,
    ) -> None:
        self.D = D
        self.encoder = encoder
        self.binary = binary
        self.epochs = epochs
        self.lr = lr
        self.margin = margin
        self.temperature = temperature
        self.random_state = random_state

    # -- scikit-learn plumbing

    def get_params(self, deep: bool = True) -> dict[str, Any]:
        """The constructor's parameters (scikit-learn convention)."""
        return {k: getattr(self, k) for k in ("D", "encoder", "binary", "epochs", "lr", "margin", "temperature", "random_state")}

    def set_params(self, **params: Any) -> HDClassifier:
        """Sets constructor parameters (scikit-learn convention)."""
        valid = self.get_params()
        for k, v in params.items():
            if k not in valid:
                raise ValueError(f"invalid parameter {k!r} for HDClassifier; valid: {sorted(valid)}")
            setattr(self, k, v)
        return self

    def __repr__(self) -> str:
        return "HDClassifier(" + ", ".join(f"{k}={v!r}" for k, v in self.get_params().items()) + ")"

    def __sklearn_tags__(self) -> Any:
        from sklearn.utils import ClassifierTags, Tags, TargetTags

        return Tags(estimator_type="classifier", target_tags=TargetTags(required=True), classifier_tags=ClassifierTags())

    # -- fitting

    def _check_params(self) -> None:
        _dimension(self.D)
        if not isinstance(self.epochs, numbers.Integral) or self.epochs < 0:
            raise ValueError(f"epochs must be a non-negative integer, got {self.epochs!r}")
        if not (isinstance(self.lr, numbers.Real) and self.lr > 0 and np.isfinite(self.lr)):
            raise ValueError(f"lr must be a positive number, got {self.lr!r}")
        if not (isinstance(self.margin, numbers.Real) and 0 <= self.margin < 2):
            raise ValueError(f"margin must be in [0, 2), got {self.margin!r}")
        if self.temperature is not None and not (self.temperature > 0):
            raise ValueError(f"temperature must be positive or None, got {self.temperature!r}")

    def _make_encoder(self, n_features: int) -> Any:
        if isinstance(self.encoder, str):
            if self.encoder not in _ENCODERS:
                raise ValueError(f"encoder must be one of {sorted(_ENCODERS)} or an encoder instance, got {self.encoder!r}")
            return _ENCODERS[self.encoder](n_features, self.D, binary=self.binary, random_state=self.random_state)
        enc = self.encoder
        if not hasattr(enc, "encode") or getattr(enc, "D", None) != self.D or bool(getattr(enc, "binary", None)) != bool(self.binary):
            raise ValueError("an encoder instance must have encode(), D equal to the classifier's D and the same binary mode")
        return enc

    def _encode(self, X: Any) -> npt.NDArray[Any]:
        self._check_fitted()
        x, _ = _features(X, "X")
        if x.shape[1] != self.n_features_in_:
            raise ValueError(f"X has {x.shape[1]} features, but HDClassifier was fitted with {self.n_features_in_}")
        return self.encoder_.encode(x)  # type: ignore[no-any-return]

    def _labels(self, y: Any, n: int) -> tuple[npt.NDArray[Any], npt.NDArray[np.int64]]:
        y = np.asarray(y)
        if y.ndim != 1:
            raise ValueError(f"y must be 1-D, got shape {y.shape}")
        if y.shape[0] != n:
            raise ValueError(f"X has {n} samples but y has {y.shape[0]}")
        if y.dtype.kind == "f" and not np.isfinite(y).all():
            raise ValueError("y holds NaN or infinite labels")
        classes, codes = np.unique(y, return_inverse=True)
        return classes, codes.astype(np.int64)

    def fit(self, X: npt.ArrayLike, y: npt.ArrayLike) -> HDClassifier:
        """Centroid training followed by up to ``epochs`` retraining rounds."""
        self._check_params()
        x, _ = _features(X, "X")
        if x.shape[0] == 0:
            raise ValueError("X is empty: cannot fit on 0 samples")
        self.classes_, yi = self._labels(y, x.shape[0])
        self.n_features_in_ = x.shape[1]
        self.encoder_ = self._make_encoder(x.shape[1])
        H = self.encoder_.encode(x)
        self.prototypes_ = np.zeros((self.classes_.size, self.D), np.float32)
        self._add(H, np.arange(x.shape[0]), yi, np.ones(x.shape[0], np.float32))
        self.n_iter_ = 0
        for _ in range(int(self.epochs)):
            self.n_iter_ += 1
            if self._retrain(H, yi) == 0:
                break
        self._refresh()
        return self

    def partial_fit(self, X: npt.ArrayLike, y: npt.ArrayLike, classes: npt.ArrayLike | None = None) -> HDClassifier:
        """One online pass over a batch: its samples join their class prototypes and
        one retraining round runs on the batch. ``classes`` (every label that will
        ever appear) is required on the first call."""
        x, _ = _features(X, "X")
        y = np.asarray(y)
        if y.ndim != 1 or y.shape[0] != x.shape[0]:
            raise ValueError(f"X has {x.shape[0]} samples but y has shape {y.shape}")
        if not hasattr(self, "classes_"):
            if classes is not None:
                first = np.unique(np.asarray(classes))
                if not np.isin(y, first).all():
                    bad = y[~np.isin(y, first)][0]
                    raise ValueError(f"y holds the label {bad!r}, which is not in classes")
            if classes is None:
                raise ValueError("classes must be given on the first call to partial_fit")
            self._check_params()
            self.classes_ = np.unique(np.asarray(classes))
            self.n_features_in_ = x.shape[1]
            self.encoder_ = self._make_encoder(x.shape[1])
            self.prototypes_ = np.zeros((self.classes_.size, self.D), np.float32)
            self.n_iter_ = 0
            self._refresh()
        elif classes is not None and not np.array_equal(np.unique(np.asarray(classes)), self.classes_):
            raise ValueError("classes differs from the classes of the first partial_fit call")
        if x.shape[0] == 0:
            return self
        yi = np.searchsorted(self.classes_, y)
        yi = np.clip(yi, 0, self.classes_.size - 1)
        if not np.array_equal(self.classes_[yi], y):
            bad = y[self.classes_[yi] != y][0]
            raise ValueError(f"y holds the label {bad!r}, which is not in classes")
        H = self._encode(x)
        self._add(H, np.arange(x.shape[0]), yi.astype(np.int64), np.ones(x.shape[0], np.float32))
        self._refresh()
        self._retrain(H, yi.astype(np.int64))
        self.n_iter_ += 1
        self._refresh()
        return self

    def _add(self, H: npt.NDArray[Any], samples: Any, classes: Any, weights: Any) -> None:
        samples = np.ascontiguousarray(samples, dtype=np.int64)
        classes = np.ascontiguousarray(classes, dtype=np.int64)
        weights = np.ascontiguousarray(weights, dtype=np.float32)
        if self.binary:
            _mlkern._hdc_accumulate(H, self.D, samples, classes, weights, self.prototypes_)
        else:
            for c in np.unique(classes):
                sel = classes == c
                self.prototypes_[c] += weights[sel] @ H[samples[sel]]

    def _refresh(self) -> None:
        if self.binary:
            self._codes = sign_pack(self.prototypes_)
        else:
            norms = np.linalg.norm(self.prototypes_, axis=1)
            self._unit = self.prototypes_ / np.where(norms > 0, norms, 1)[:, None]

    def _similarity(self, H: npt.NDArray[Any]) -> npt.NDArray[np.float64]:
        if self.binary:
            return 1.0 - 2.0 * cdist_hamming(H, self._codes) / self.D
        from mlkern import linalg

        norms = np.linalg.norm(H, axis=1)
        sims = linalg.matmul(np.ascontiguousarray(H, np.float32), np.ascontiguousarray(self._unit.T))
        return np.asarray(sims, np.float64) / np.where(norms > 0, norms, 1)[:, None]

    def _retrain(self, H: npt.NDArray[Any], yi: npt.NDArray[np.int64]) -> int:
        if self.binary:  # one compiled round: similarities, selection and updates
            return int(_mlkern._hdc_retrain_epoch(H, self.D, np.ascontiguousarray(yi, np.int64), self.prototypes_,
                                                  float(self.lr), float(self.margin)))
        self._refresh()
        s = self._similarity(H)
        n = s.shape[0]
        rows = np.arange(n)
        st = s[rows, yi].copy()
        s[rows, yi] = -np.inf
        rival = np.argmax(s, axis=1) if s.shape[1] > 1 else np.zeros(n, np.int64)
        sr = s[rows, rival]
        bad = np.flatnonzero(sr + self.margin >= st) if s.shape[1] > 1 else np.zeros(0, np.int64)
        if bad.size == 0:
            return 0
        if self.binary:
            w = np.full(bad.size, self.lr, np.float32)
            samples = np.concatenate([bad, bad])
            classes = np.concatenate([yi[bad], rival[bad]])
            self._add(H, samples, classes, np.concatenate([w, -w]))
        else:
            self._add(H, bad, yi[bad], self.lr * (1.0 - st[bad]).astype(np.float32))
            self._add(H, bad, rival[bad], -self.lr * (1.0 - sr[bad]).astype(np.float32))
        return int(bad.size)

    # -- prediction

    def _check_fitted(self) -> None:
        if not hasattr(self, "prototypes_"):
            raise NotFittedError("This HDClassifier instance is not fitted yet; call fit or partial_fit first")

    def similarity(self, X: npt.ArrayLike) -> npt.NDArray[np.float64]:
        """Similarity of each sample to each class prototype, ``(n, n_classes)``
        (bipolar cosine: ``1 - 2·hamming/D`` for binary codes)."""
        return self._similarity(self._encode(X))

    def decision_function(self, X: npt.ArrayLike) -> npt.NDArray[np.float64]:
        """scikit-learn's decision values: the similarities ``(n, n_classes)``, or for
        two classes ``(n,)``, the second class's similarity minus the first's."""
        s = self.similarity(X)
        return s[:, 1] - s[:, 0] if s.shape[1] == 2 else s

    def predict(self, X: npt.ArrayLike) -> npt.NDArray[Any]:
        """The class of the most similar prototype (ties to the first class)."""
        s = self.similarity(X)
        return self.classes_[np.argmax(s, axis=1)]  # type: ignore[no-any-return]

    def predict_proba(self, X: npt.ArrayLike) -> npt.NDArray[np.float64]:
        """Softmax of the similarities over ``temperature`` (default ``1/sqrt(D)``)."""
        s = self.similarity(X)
        t = self.temperature if self.temperature is not None else 1.0 / np.sqrt(self.D)
        z = s / t
        z -= z.max(axis=1, keepdims=True)
        e = np.exp(z)
        return e / e.sum(axis=1, keepdims=True)  # type: ignore[no-any-return]

    def score(self, X: npt.ArrayLike, y: npt.ArrayLike) -> float:
        """Mean accuracy on ``(X, y)``."""
        return float(np.mean(self.predict(X) == np.asarray(y)))

    # -- persistence

    def save(self, path: str | os.PathLike[str]) -> None:
        """Saves the fitted model to an ``.npz`` file: arrays and a JSON header, no
        pickle (so :meth:`load` runs no code from the file). A built-in encoder is
        stored by its parameters and seed; an encoder instance must be one of this
        module's."""
        self._check_fitted()
        enc = self.encoder_
        kind = {v: k for k, v in _ENCODERS.items()}.get(type(enc))
        if kind is None:
            raise TypeError(f"cannot save an HDClassifier with encoder {type(enc).__name__}")
        enc_params: dict[str, Any] = {"n_features": int(enc.n_features), "D": int(enc.D), "binary": bool(enc.binary),
                                      "random_state": int(enc._seed)}
        if kind == "sinusoid":
            enc_params["scale"] = float(enc.scale)
        if kind == "level":
            enc_params.update(levels=int(enc.levels), low=float(enc.low), high=float(enc.high))
        params = self.get_params()
        params["encoder"] = kind
        params["D"], params["epochs"] = int(params["D"]), int(params["epochs"])
        params["binary"], params["lr"], params["margin"] = bool(params["binary"]), float(params["lr"]), float(params["margin"])
        if params["temperature"] is not None:
            params["temperature"] = float(params["temperature"])
        rs = params["random_state"]
        params["random_state"] = int(rs) if isinstance(rs, numbers.Integral) else None
        header = {"format": _FORMAT, "params": params, "encoder": {"kind": kind, "params": enc_params}, "n_iter": self.n_iter_}
        classes = self.classes_
        if classes.dtype == object:
            raise TypeError("cannot save object-dtype class labels; use numbers or fixed-width strings")
        with open(path, "wb") as fh:
            np.savez(fh, header=np.array(json.dumps(header)), classes=classes, prototypes=self.prototypes_)

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> HDClassifier:
        """Loads a model written by :meth:`save` (``allow_pickle=False``: a file that
        needs pickle is refused)."""
        name = os.fspath(path)
        try:
            with np.load(path, allow_pickle=False) as f:
                header = json.loads(str(f["header"]))
                classes, prototypes = f["classes"], f["prototypes"]
        except (KeyError, ValueError, OSError) as e:
            raise ValueError(f"{name!r} is not an mlkern HDClassifier file ({e})") from None
        try:
            if not isinstance(header, dict) or header.get("format") != _FORMAT:
                raise ValueError("wrong format tag")
            params, enc, n_iter = dict(header["params"]), dict(header["encoder"]), int(header["n_iter"])
            kind, ep = enc["kind"], dict(enc["params"])
            if kind not in _ENCODERS or params.get("encoder") != kind:
                raise ValueError(f"unknown encoder {kind!r}")
            allowed = {"n_features", "D", "binary", "random_state"} | {"sinusoid": {"scale"}, "level": {"levels", "low", "high"}}.get(kind, set())
            if set(ep) - allowed or set(params) - set(cls().get_params()):
                raise ValueError("unexpected parameters")
            D = int(params["D"])
            if not (isinstance(params["D"], int) and isinstance(ep["D"], int) and isinstance(ep["n_features"], int)):
                raise ValueError("sizes must be integers")
            if ep["D"] != D or bool(ep["binary"]) != bool(params["binary"]):
                raise ValueError("the encoder's D or mode differs from the classifier's")
            if prototypes.dtype != np.float32 or prototypes.ndim != 2 or classes.ndim != 1 or prototypes.shape != (classes.size, D):
                raise ValueError("prototypes do not match the classes and D")
            if not 1 <= ep["n_features"] <= 2**31 or ("levels" in ep and not 1 <= int(ep["levels"]) <= 2**20):
                raise ValueError("sizes out of range")
            if classes.dtype == object:
                raise ValueError("object labels")
        except (KeyError, TypeError, ValueError) as e:
            raise ValueError(f"{name!r} is not a valid mlkern HDClassifier file ({e})") from None
        m = cls(**params)
        m._check_params()
        m.encoder_ = _ENCODERS[kind](**ep)
        m.classes_ = classes
        m.n_features_in_ = int(ep["n_features"])
        m.prototypes_ = np.ascontiguousarray(prototypes)
        m.n_iter_ = n_iter
        m._refresh()
        return m

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state.pop("_codes", None)
        state.pop("_unit", None)
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        if "prototypes_" in state:
            self._refresh()


class AssociativeMemory:
    """Nearest-prototype lookup over packed binary hypervectors (item memory /
    cleanup memory): ``add`` stores rows with optional labels, ``query`` returns the
    ``k`` nearest by Hamming distance (``topk_hamming``: nearest first, ties to the
    earlier stored row)."""

    def __init__(self, D: int) -> None:
        self.D = _dimension(D)
        self._rows: list[_Packed] = []
        self._labels: list[Any] = []
        self._memory: _Packed | None = None

    def __len__(self) -> int:
        return sum(r.shape[0] for r in self._rows)

    @property
    def memory(self) -> _Packed:
        """The stored vectors, ``(len(self), words)``."""
        if self._memory is None:
            self._memory = np.ascontiguousarray(np.concatenate(self._rows)) if self._rows else np.zeros((0, words_for(self.D)), np.uint64)
        return self._memory

    def add(self, vectors: _Packed, labels: Sequence[Any] | npt.ArrayLike | None = None) -> AssociativeMemory:
        """Stores packed vectors (one or a stack), each with a label (default: its index)."""
        v, _ = _packed(vectors, "vectors", self.D)
        start = len(self)
        if labels is None:
            labs: list[Any] = list(range(start, start + v.shape[0]))
        else:
            labs = list(np.asarray(labels).reshape(-1))
            if len(labs) != v.shape[0]:
                raise ValueError(f"{v.shape[0]} vectors but {len(labs)} labels")
        self._rows.append(v.copy())
        self._labels.extend(labs)
        self._memory = None
        return self

    def query(self, queries: _Packed, k: int = 1) -> tuple[npt.NDArray[Any], npt.NDArray[np.int64]]:
        """``(labels, distances)`` of the ``k`` stored vectors nearest each query,
        ``(q, k)`` (``(k,)`` for one query)."""
        if len(self) == 0:
            raise ValueError("the memory is empty: add vectors first")
        _packed(queries, "queries", self.D)
        idx, dist = topk_hamming(queries, self.memory, k)
        labels = np.asarray(self._labels, dtype=object if any(isinstance(x, str) for x in self._labels) else None)
        return labels[idx], dist

    def cleanup(self, queries: _Packed) -> _Packed:
        """The stored vector nearest each query (the classic HDC clean-up)."""
        if len(self) == 0:
            raise ValueError("the memory is empty: add vectors first")
        _packed(queries, "queries", self.D)
        idx, _ = topk_hamming(queries, self.memory, 1)
        return self.memory[idx[..., 0]]

