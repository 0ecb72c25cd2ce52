"""Differential campaign, mlkern.linalg: matmul (classical, strassen, auto, out=),
qr (every mode), randomized_svd (against scikit-learn, same random_state) and
csr_matmul (against SciPy), on every SIMD tier, 1 and 2 threads, shapes at and around
the GEMM micro-tiles (MR x NR = 4x4 scalar; 4|8 x 4 SSE; 8|16 x 6 AVX2; AVX-512
32 x 6 f64 and 32 x 12 f32), KC (512 on AVX-512 and AVX2) and the in-place skinny path, every
memory layout and special values. References in long double (u_ld = 2**-64).

u = unit roundoff of the input dtype, gamma_k = k u / (1 - k u), eta = smallest subnormal.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.sparse as sp
from _strategies import (
    LAYOUTS,
    arrays,
    assert_classes,
    assert_close,
    base_array,
    budget,
    dtypes,
    eta,
    gamma,
    kernel_context,
    layout,
    sizes,
    sum_class,
    threads,
    tiers,
    unit,
)
from hypothesis import given
from hypothesis import strategies as st
from sklearn.utils.extmath import randomized_svd as sk_randomized_svd

import mlkern
from mlkern import linalg

LD = np.longdouble
LD_UNIT = float(np.finfo(LD).eps) / 2
MN_SIZES = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 11, 12, 13, 15, 16, 17, 24, 31, 32, 33, 48, 64, 65, 97]
K_SIZES = [0, 1, 2, 3, 7, 8, 9, 16, 17, 63, 64, 65, 255, 256, 257, 383, 384, 385, 511, 512, 513]


def ld_matmul(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    m, k = a.shape
    n = b.shape[1]
    if k == 0 or m == 0 or n == 0:
        return np.zeros((m, n), LD)
    with np.errstate(all="ignore"):
        return np.array(a, dtype=LD) @ np.array(b, dtype=LD)


def product_classes(a: np.ndarray, b: np.ndarray, dt: np.dtype) -> np.ndarray:
    """IEEE class of each (a @ b)_ij (see _strategies.sum_class); -3 where finite
    parts may overflow in the input precision (not checked)."""
    m, k = a.shape
    n = b.shape[1]
    if k == 0:
        return np.zeros((m, n), int)
    # Products in long double: FMA kernels do not overflow on a finite product.
    with np.errstate(all="ignore"):
        t = np.array(a, dtype=LD)[:, :, None] * np.array(b, dtype=LD)[None, :, :]
    cls = sum_class(t, axis=1)
    fin = np.where(np.isfinite(t), np.abs(t), 0).sum(axis=1)
    return np.where(fin <= float(np.finfo(dt).max) / 4, cls, -3)


def check_product(got: np.ndarray, a: np.ndarray, b: np.ndarray, method: str, what: str) -> None:
    dt = np.dtype(got.dtype)
    k = a.shape[1]
    cls = product_classes(a, b, dt)
    if method == "strassen":
        # Strassen's sums of blocks multiply sums of entries: when k max|a| max|b| is
        # beyond the range (its normwise bound is then infinite) an intermediate may
        # overflow to inf and cancel to NaN where classical stays finite; not checked.
        with np.errstate(all="ignore"):
            fa = np.where(np.isfinite(np.array(a, np.float64)), np.abs(np.array(a, np.float64)), 0)
            fb = np.where(np.isfinite(np.array(b, np.float64)), np.abs(np.array(b, np.float64)), 0)
            scale = 4 * max(k, 1) * float(np.max(fa, initial=0)) * float(np.max(fb, initial=0))
        if not scale <= float(np.finfo(dt).max):
            cls = np.full_like(cls, -3)
    known = cls != -3
    assert_classes(np.where(known, got, 0.0), np.where(known, cls, 0), what)
    ok = cls == 0
    av = np.where(np.isfinite(np.array(a, np.float64)), np.array(a, np.float64), 0)
    bv = np.where(np.isfinite(np.array(b, np.float64)), np.array(b, np.float64), 0)
    ref = ld_matmul(av, bv).astype(np.float64)
    if method == "classical":
        # Elementwise: |C - ab| <= gamma_k |a||b| + k eta (+ u_ld reference error).
        absab = ld_matmul(np.abs(av), np.abs(bv)).astype(np.float64)
        bound = gamma(k + 1, dt) * absab + 2 * k * eta(dt) + 4 * k * LD_UNIT * absab
    else:
        # Strassen (one level below the 3072 crossover): normwise,
        # max|C - ab| <= 18 * 2 k u max|a| max|b| (documented c ~ 18 per level; x2 margin).
        ma = float(np.max(np.abs(av), initial=0))
        mb = float(np.max(np.abs(bv), initial=0))
        bound = np.full(ref.shape, 36 * max(k, 1) * unit(dt) * ma * mb + 2 * k * eta(dt))
        absab = ld_matmul(np.abs(av), np.abs(bv)).astype(np.float64)
        bound = np.maximum(bound, gamma(k + 1, dt) * absab)
    assert_close(np.where(ok, got, 0.0), np.where(ok, ref, 0.0), np.where(ok, bound, 0.0), what)


@st.composite
def matmul_case(draw: st.DrawFn) -> tuple[np.ndarray, np.ndarray]:
    dtype = draw(dtypes)
    m = draw(sizes(MN_SIZES, 0, 100))
    n = draw(sizes(MN_SIZES, 0, 100))
    k = draw(sizes(K_SIZES, 0, 520))
    while m * n * k > 600_000 and k > 1:
        k //= 2
    kinds = ["nan", "inf", "-inf", "-0.0", "subnormal", "tiny", "huge"]
    a = draw(arrays((m, k), dtype, kinds=kinds))
    b = draw(arrays((k, n), dtype, kinds=kinds))
    if draw(st.booleans()) and m == k:
        a = layout(np.ascontiguousarray(a), "C").T  # a transposed view
    return a, b


@budget(40)
@given(matmul_case(), st.sampled_from(["auto", "classical", "strassen"]), tiers, threads)
def test_matmul(case: tuple[np.ndarray, np.ndarray], method: str, tier: str, nthreads: int) -> None:
    a, b = case
    dt = a.dtype.newbyteorder("=")
    with kernel_context(tier, nthreads):
        got = linalg.matmul(a, b, method=method)
    assert got.shape == (a.shape[0], b.shape[1]) and got.dtype == dt
    check_product(got, a, b, "classical" if method != "strassen" else "strassen",
                  f"matmul {method} {a.shape}@{b.shape} tier={tier} threads={nthreads}")


OUT_LAYOUTS = ("C", "F", "strided", "negative", "transposed", "negative_rows", "unaligned")


def out_array(shape: tuple[int, int], dt: np.dtype, kind: str) -> np.ndarray:
    m, n = shape
    if kind == "C":
        return np.full(shape, np.nan, dt)
    if kind == "F":
        return np.asfortranarray(np.full(shape, np.nan, dt))
    if kind == "strided":
        return np.full((2 * m + 1, 3 * n + 2), np.nan, dt)[1::2, 2::3]
    if kind == "negative":
        return np.full(shape, np.nan, dt)[::-1, ::-1]
    if kind == "negative_rows":
        return np.full((m, 2 * n + 1), np.nan, dt)[::-1, 1::2]
    if kind == "transposed":
        return np.full((n, m), np.nan, dt).T
    raw = np.zeros(m * n * dt.itemsize + dt.itemsize, np.uint8)
    v = raw[1 : 1 + m * n * dt.itemsize].view(dt).reshape(shape)
    v[...] = np.nan
    return v


@budget(25)
@given(matmul_case(), st.sampled_from(OUT_LAYOUTS), st.sampled_from(["classical", "strassen"]), tiers, threads)
def test_matmul_out_layouts(case: tuple[np.ndarray, np.ndarray], kind: str, method: str, tier: str,
                            nthreads: int) -> None:
    """out= in any non-overlapping strides, negative ones included (api-after.md);
    every element written; the result is out itself."""
    a, b = case
    dt = a.dtype.newbyteorder("=")
    out = out_array((a.shape[0], b.shape[1]), dt, kind)
    if kind == "unaligned":
        try:
            with kernel_context(tier, nthreads):
                r = linalg.matmul(a, b, method=method, out=out)
        except ValueError:
            return  # refusing an unaligned out= is allowed (said so in the message)
    else:
        with kernel_context(tier, nthreads):
            r = linalg.matmul(a, b, method=method, out=out)
    assert r is out
    check_product(np.array(out), a, b, method, f"matmul out={kind} {method} {a.shape}@{b.shape} tier={tier}")


@budget(6)
@given(st.sampled_from([(16, 20000, 16), (64, 5000, 32), (200, 300, 150), (8, 100000, 4), (300, 64, 300)]),
       dtypes, tiers, st.sampled_from(["auto", "classical", "strassen"]))
def test_matmul_does_not_depend_on_thread_count(shape: tuple[int, int, int], dtype: type, tier: str,
                                                method: str) -> None:
    """Results do not depend on the thread count (DESIGN.md): bitwise equal on 1 and 2 threads."""
    m, k, n = shape
    a = base_array(m + k, (m, k), dtype)
    b = base_array(k + n, (k, n), dtype)
    outs = []
    for t in (1, 2):
        with kernel_context(tier, t):
            outs.append(linalg.matmul(a, b, method=method))
    np.testing.assert_array_equal(outs[0], outs[1], err_msg=f"{shape} {method} tier={tier}: 1 vs 2 threads")
    check_product(outs[0], a, b, "classical" if method != "strassen" else "strassen", f"{shape} {method}")


# -- qr ---------------------------------------------------------------------------------


@st.composite
def qr_case(draw: st.DrawFn) -> np.ndarray:
    dtype = draw(dtypes)
    m = draw(sizes([1, 2, 3, 4, 7, 8, 15, 16, 17, 31, 32, 33, 64, 65, 100, 129], 1, 160))
    n = draw(sizes([1, 2, 3, 4, 7, 8, 15, 16, 17, 31, 32, 33, 64, 65, 100, 129], 1, 160))
    kind = draw(st.sampled_from(["random", "random", "rank_deficient", "constant", "zero_columns", "graded"]))
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    if kind == "random":
        a = base_array(seed, (m, n), dtype, draw(st.sampled_from(["normal", "uniform", "integers", "offset"])))
    elif kind == "rank_deficient":
        r = int(rng.integers(0, min(m, n) + 1))
        a = (rng.standard_normal((m, r)) @ rng.standard_normal((r, n))).astype(dtype)
    elif kind == "constant":
        a = np.full((m, n), draw(st.sampled_from([2.0, -1.0, 1e-3, 0.0])), dtype)
    elif kind == "zero_columns":
        a = base_array(seed, (m, n), dtype)
        a[:, rng.random(n) < 0.5] = 0
    else:
        a = (rng.standard_normal((m, n)) * np.logspace(0, -6, n)[None, :]).astype(dtype)
    return layout(a, draw(st.sampled_from(LAYOUTS)))


@budget(40)
@given(qr_case(), st.sampled_from(["reduced", "complete", "r"]), tiers, threads)
def test_qr(a: np.ndarray, mode: str, tier: str, nthreads: int) -> None:
    dt = a.dtype.newbyteorder("=")
    m, n = a.shape
    k = min(m, n)
    with kernel_context(tier, nthreads):
        res = linalg.qr(a, mode=mode)
    av = np.array(a, dtype=np.float64)
    norm_a = float(np.linalg.norm(av))
    # Backward stable (docstring): ||a - q r||_F <= c m n u ||a||_F and
    # ||q^T q - I||_F <= c m n u, with c = 1 here (observed errors are ~sqrt(mn) u).
    tol = max(m * n, 16) * unit(dt)
    if mode == "r":
        r = res
        assert r.shape == (k, n)
        q = None
    else:
        q, r = res
        assert q.shape == ((m, k) if mode == "reduced" else (m, m))
        assert r.shape == ((k, n) if mode == "reduced" else (m, n))
        assert q.dtype == dt
        assert np.isfinite(q).all(), f"qr {mode} {a.shape}: q holds NaN/inf for finite input"
        qq = q.astype(np.float64)
        orth = float(np.linalg.norm(qq.T @ qq - np.eye(qq.shape[1])))
        assert orth <= tol * math.sqrt(qq.shape[1]) + 10 * unit(dt), f"qr {mode} {a.shape}: ||q^T q - I|| = {orth:.3g}"
        rec = float(np.linalg.norm(av - qq @ r.astype(np.float64)))
        assert rec <= tol * norm_a + 1e-300, f"qr {mode} {a.shape} tier={tier}: ||a - qr|| = {rec:.3g}, ||a|| = {norm_a:.3g}"
    assert r.dtype == dt
    assert np.isfinite(r).all(), f"qr {mode} {a.shape}: r holds NaN/inf for finite input"
    assert np.all(np.tril(r.astype(np.float64), -1) == 0), "r is upper triangular"
    # |r_jj| equals LAPACK's up to the same backward error (singular values of the
    # leading columns are preserved); compared only where the diagonal is well above it.
    rr = np.linalg.qr(av, mode="r")
    dg, dref = np.abs(np.diag(r.astype(np.float64))), np.abs(np.diag(rr))
    assert np.all(np.abs(dg[:k] - dref[:k]) <= 4 * tol * norm_a * max(1, math.sqrt(k)) + 1e-300) or \
        (np.sort(dref) < 1e3 * tol * norm_a).any()


@pytest.mark.parametrize("mode", ["reduced", "complete", "r"])
def test_qr_special_values_propagate(mode: str) -> None:
    a = np.eye(5)
    a[2, 3] = np.nan
    res = linalg.qr(a, mode=mode)
    r = res if mode == "r" else res[1]
    assert not np.isfinite(r).all()


# -- randomized_svd ------------------------------------------------------------------------


@st.composite
def svd_case(draw: st.DrawFn) -> tuple[np.ndarray, int, np.ndarray]:
    dtype = draw(dtypes)
    m = draw(sizes([5, 8, 16, 17, 31, 40, 64, 65, 100, 150], 5, 160))
    n = draw(sizes([5, 8, 16, 17, 31, 40, 64, 65, 100, 150], 5, 160))
    k = draw(st.integers(1, min(m, n, 12)))
    seed = draw(st.integers(0, 2**31))
    rng = np.random.default_rng(seed)
    r = min(m, n)
    # A clear gap after k: singular values 10, 9, ..., then 1e-3-level noise.
    s = np.concatenate([np.linspace(10, 10 - 0.7 * (k - 1), k), 1e-3 * rng.random(r - k)])
    u, _ = np.linalg.qr(rng.standard_normal((m, r)))
    v, _ = np.linalg.qr(rng.standard_normal((n, r)))
    a = ((u * s) @ v.T).astype(dtype)
    return layout(a, draw(st.sampled_from(["C", "F", "strided", "negative", "byteswapped", "readonly"]))), k, s


@budget(20)
@given(svd_case(), st.sampled_from([0, 1, 2, 4, "auto"]), st.sampled_from(["auto", "none", "LU", "QR"]),
       st.sampled_from([True, False, "auto"]), st.integers(0, 2**31), tiers, threads, st.sampled_from([0, 5, 10]))
def test_randomized_svd_matches_sklearn(case: tuple[np.ndarray, int, np.ndarray], n_iter: int | str, pin: str,
                                        transpose: bool | str, seed: int, tier: str, nthreads: int,
                                        n_oversamples: int) -> None:
    a, k, s_true = case
    dt = a.dtype.newbyteorder("=")
    kw = dict(n_oversamples=n_oversamples, n_iter=n_iter, power_iteration_normalizer=pin, transpose=transpose,
              random_state=seed)
    with kernel_context(tier, nthreads):
        u, s, vt = linalg.randomized_svd(a, k, **kw)  # type: ignore[arg-type]
    us, ss, vts = sk_randomized_svd(np.array(a, dtype=np.float64), k, **kw)  # type: ignore[arg-type]
    m, n = a.shape
    assert u.shape == (m, k) and s.shape == (k,) and vt.shape == (k, n)
    assert u.dtype == dt and s.dtype == dt and vt.dtype == dt
    # Both are the same algorithm on the same Gaussian sketch: singular values agree to
    # c sqrt(mn) u sigma_max + the sketch's own error, which for a gap of >= 10**3 and
    # any n_iter is below sigma_{k+1} ~ 1e-3 (Halko et al. 2011, thm 10.6); c = 64.
    tol_s = 64 * math.sqrt(m * n) * unit(dt) * 10 + 2e-3
    # Without re-normalisation, q power iterations scale the sketch's columns by
    # sigma^(2q): rounding in the input precision then costs (sigma_1 / sigma_k)^(2q) u
    # of the smaller directions (sklearn's reference runs in float64).
    q_eff = (7 if k < 0.1 * min(m, n) else 4) if n_iter == "auto" else int(n_iter)
    unnormalised = pin == "none" or (pin == "auto" and q_eff <= 2)
    if unnormalised:
        tol_s += 64 * (s_true[0] / s_true[k - 1]) ** (2 * q_eff) * unit(dt) * s_true[0]
    assert_close(s, ss, tol_s, f"randomized_svd S {a.shape} k={k}")
    assert np.all(np.diff(s.astype(np.float64)) <= 1e-6 * 10), "S descending"
    # Singular vectors (gap-separated, same sign convention): per column
    # |u_i - u_i,sk| <= (c sqrt(mn) u sigma_1 + 2e-3) / gap_i.
    gaps = np.minimum(np.abs(np.diff(np.concatenate([[np.inf], s_true[:k]]))),
                      np.abs(np.diff(np.concatenate([s_true[:k], [s_true[k] if len(s_true) > k else 0]]))))
    for i in range(k):
        tol_v = 8 * tol_s / max(float(gaps[i]), 1e-3)
        if tol_v < 0.5:
            assert_close(u[:, i], us[:, i], tol_v, f"U[:, {i}]")
            assert_close(vt[i], vts[i], tol_v, f"Vt[{i}]")
    # Orthonormal columns.
    assert float(np.linalg.norm(u.astype(np.float64).T @ u - np.eye(k))) <= 1e3 * math.sqrt(m) * unit(dt) + 1e-10


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape,k", [((300, 200), 10), ((64, 2000), 5), ((2000, 40), 20)])
def test_randomized_svd_does_not_depend_on_thread_count(dtype: type, shape: tuple[int, int], k: int) -> None:
    a = base_array(7, shape, dtype)
    outs = []
    for t in (1, 2):
        with kernel_context(None, t):
            outs.append(linalg.randomized_svd(a, k, random_state=0))
    for x, y, name in zip(outs[0], outs[1], "USV"):
        np.testing.assert_array_equal(x, y, err_msg=f"randomized_svd {name} {shape}: 1 vs 2 threads")


# -- csr_matmul --------------------------------------------------------------------------


@st.composite
def csr_case(draw: st.DrawFn) -> tuple[object, np.ndarray]:
    dtype = draw(dtypes)
    m = draw(sizes([0, 1, 2, 3, 7, 8, 9, 63, 64, 65, 200], 0, 300))
    k = draw(sizes([0, 1, 2, 3, 7, 8, 9, 63, 64, 65, 200], 0, 300))
    n = draw(sizes([0, 1, 2, 7, 8, 9, 15, 16, 17, 33], 0, 40))
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    density = draw(st.sampled_from([0.0, 0.01, 0.1, 0.5, 1.0]))
    nnz = int(density * m * k)
    rows = np.sort(rng.integers(0, max(m, 1), nnz)) if m else np.zeros(0, int)
    cols = rng.integers(0, max(k, 1), nnz) if k else np.zeros(0, int)
    if not (m and k):
        rows, cols, nnz = rows[:0], cols[:0], 0
    data = rng.standard_normal(nnz).astype(dtype)
    if nnz and draw(st.booleans()):
        data[rng.integers(0, nnz, 1 + nnz // 20)] = 0.0  # explicit zeros
    counts = np.bincount(rows, minlength=m)
    indptr = np.concatenate([[0], np.cumsum(counts)])
    idx_dtype = draw(st.sampled_from([np.int32, np.int64]))
    # Unsorted indices and duplicate entries (summed), as scipy allows.
    mat_type = draw(st.sampled_from([sp.csr_matrix, sp.csr_array]))
    a = mat_type((data, cols.astype(idx_dtype), indptr.astype(idx_dtype)), shape=(m, k))
    kinds = ["nan", "inf", "-0.0", "subnormal", "tiny"]
    one_d = draw(st.booleans())
    b = draw(arrays((k,) if one_d else (k, n), dtype, kinds=kinds))
    return a, b


@budget(30)
@given(csr_case(), tiers, threads)
def test_csr_matmul(case: tuple[object, np.ndarray], tier: str, nthreads: int) -> None:
    a, b = case
    dt = np.dtype(a.data.dtype).newbyteorder("=")  # type: ignore[attr-defined]
    with kernel_context(tier, nthreads):
        got = linalg.csr_matmul(a, b)
    bv = np.array(b, dtype=np.float64)
    b2 = bv[:, None] if bv.ndim == 1 else bv
    dense = a.toarray().astype(np.float64)  # type: ignore[attr-defined]
    assert got.shape == ((dense.shape[0],) if b.ndim == 1 else (dense.shape[0], b2.shape[1]))
    assert got.dtype == dt
    g = got[:, None] if b.ndim == 1 else got
    # IEEE classes over the *stored* entries (an explicit zero times NaN is NaN).
    coo = a.tocoo()  # type: ignore[attr-defined]
    r_i, c_i, vals = coo.row, coo.col, coo.data.astype(np.float64)
    m, ncol = dense.shape[0], b2.shape[1]
    cls = np.zeros((m, ncol), int)
    with np.errstate(all="ignore"):
        for row in range(m):
            sel = r_i == row
            if sel.any():
                t = vals[sel].astype(LD)[:, None] * b2[c_i[sel]].astype(LD)
                cls[row] = sum_class(t, axis=0)
    assert_classes(g, cls, "csr_matmul classes")
    fin_b = np.where(np.isfinite(b2), b2, 0)
    ref = (np.array(dense, LD) @ np.array(fin_b, LD)) if m and ncol else np.zeros((m, ncol))
    # Sum over the *stored* entries (duplicates are not merged first): sum_s |a_s| |b_{j_s}|.
    abs_a = sp.csr_matrix((np.abs(a.data.astype(np.float64)), a.indices, a.indptr), shape=a.shape)  # type: ignore[attr-defined]
    absref = abs_a @ np.abs(fin_b) if m and ncol else np.zeros((m, ncol))
    per_row = np.diff(a.indptr).astype(int)  # type: ignore[attr-defined]
    # |d y_ic| <= gamma_r sum_j |a_ij b_jc| + r eta, r = stored entries of row i.
    bound = np.array([gamma(int(r) + 1, dt) for r in per_row])[:, None] * absref + 2 * per_row[:, None] * eta(dt)
    ok = cls == 0
    assert_close(np.where(ok, g, 0.0), np.where(ok, np.asarray(ref, dtype=np.float64), 0.0), np.where(ok, bound, 0.0),
                 f"csr_matmul {dense.shape} @ {b.shape} tier={tier}")


def test_linalg_all() -> None:
    assert set(linalg.__all__) == {"csr_matmul", "matmul", "qr", "randomized_svd"}
    assert mlkern.get_num_threads() >= 1


@pytest.mark.parametrize("special", [np.nan, np.inf])
@pytest.mark.parametrize("tier", ["scalar", "x86-64-v4"])
def test_csr_explicit_zero_times_special_is_nan_as_scipy(special: float, tier: str) -> None:
    """A stored zero is an entry: 0 * NaN = 0 * inf = NaN, as SciPy's CSR product gives."""
    data = np.array([0.0, 2.0, 1.0])
    a = sp.csr_matrix((data, np.array([1, 0, 2]), np.array([0, 2, 3])), shape=(2, 3))
    b = np.array([[1.0, 2.0], [special, 1.0], [3.0, 4.0]])
    if tier not in mlkern.cpu_info()["available_tiers"]:
        pytest.skip(tier)
    with kernel_context(tier):
        got = linalg.csr_matmul(a, b)
    with np.errstate(all="ignore"):
        ref = a @ b
    np.testing.assert_array_equal(got, ref)
    assert np.isnan(got[0, 0])
