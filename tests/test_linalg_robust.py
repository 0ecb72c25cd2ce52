"""mlkern.linalg on hard input, against NumPy/SciPy: rank-deficient and badly scaled
QR (every tier, mode and dtype), NaN/inf patterns of ``auto``, bitwise independence
of the thread count, LU against SciPy, byte-swapped input, counts, ``out=`` with
negative strides, and the allocation-free ``out=`` path."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
import scipy.linalg
import scipy.sparse as sp
from conftest import UNIT

import mlkern
from mlkern import _mlkern, linalg


def hard_matrices(m: int, n: int, dtype: type) -> dict[str, np.ndarray]:
    """Rank-deficient and badly scaled (m, n) matrices."""
    r = np.random.default_rng(m * 1000 + n)
    big = 1e150 if dtype == np.float64 else 1e30
    low = r.standard_normal((m, 3)) @ r.standard_normal((3, n))
    dup = r.standard_normal((m, n))
    dup[:, 1::2] = dup[:, :1]  # every other column a copy of the first
    zero = r.standard_normal((m, n))
    zero[:, [0, n // 2, n - 1]] = 0.0
    graded = r.standard_normal((m, n)) * np.logspace(0, 12, n)[np.newaxis, :]
    out = {
        "constant": np.full((m, n), 2.0),
        "rank3": low,
        "duplicated": dup,
        "zero_columns": zero,
        "all_zero": np.zeros((m, n)),
        "huge": r.standard_normal((m, n)) * big,
        "tiny": r.standard_normal((m, n)) / big,
        "huge_rank1": np.outer(r.standard_normal(m), r.standard_normal(n)) * big,
        "graded": graded,
    }
    return {k: v.astype(dtype) for k, v in out.items()}


def check_qr(a: np.ndarray, q: np.ndarray, r: np.ndarray, what: str) -> None:
    dtype = a.dtype.type
    m, n = a.shape
    tol = 30 * max(m, n) * UNIT[dtype]
    assert np.all(np.isfinite(q)) and np.all(np.isfinite(r)), f"{what}: NaN/inf in Q or R"
    assert np.all(np.tril(r, -1) == 0), what
    q64, r64 = q.astype(np.float64), r.astype(np.float64)
    np.testing.assert_allclose(q64.T @ q64, np.eye(q.shape[1]), rtol=0, atol=tol, err_msg=what)
    # ‖QR - A‖ elementwise within tol · max|A| (normwise backward stability); the
    # product is formed in float64 after scaling so that huge entries do not overflow.
    s = float(np.abs(a).max()) or 1.0
    err = np.abs(q64 @ (r64 / s) - a.astype(np.float64) / s).max()
    assert err <= tol, f"{what}: max|QR - A| / max|A| = {err} > {tol}"


@pytest.mark.parametrize("shape", [(100, 100), (300, 300), (400, 90), (90, 300)])
@pytest.mark.parametrize("mode", ["reduced", "complete", "r"])
def test_qr_hard_matrices(tier: str, dtype: type, shape: tuple, mode: str) -> None:
    for name, a in hard_matrices(*shape, dtype).items():
        what = f"{name} {shape} {mode} {tier}"
        if mode == "r":
            r = linalg.qr(a, mode="r")
            q, r_red = linalg.qr(a)
            np.testing.assert_array_equal(r, r_red, err_msg=what)
            continue
        q, r = linalg.qr(a, mode=mode)
        check_qr(a, q, r, what)


@pytest.mark.parametrize("shape", [(1, 1), (6, 4), (4, 6), (97, 40), (64, 64), (40, 97), (300, 65)])
def test_qr_sign_convention_is_lapacks(tier: str, dtype: type, shape: tuple, rng: np.random.Generator) -> None:
    """Signed R and Q equal numpy.linalg.qr's (LAPACK geqrf/orgqr) for well
    conditioned input, and R's diagonal is -sign(w_jj)·‖w‖ (first column: -sign(a_00)·‖a_:0‖)."""
    a = rng.standard_normal(shape).astype(dtype)
    for mode in ["reduced", "complete"]:
        q, r = linalg.qr(a, mode=mode)
        qn, rn = np.linalg.qr(a, mode=mode)
        tol = 50 * max(shape) * UNIT[dtype]
        np.testing.assert_allclose(r, rn, rtol=0, atol=tol * 10 * np.abs(a).max())
        np.testing.assert_allclose(q[:, : min(shape)], qn[:, : min(shape)], rtol=0, atol=tol * 10)
    if shape[0] > 1:
        want = -np.sign(a[0, 0]) * np.linalg.norm(a[:, 0].astype(np.float64))
        assert np.isclose(r[0, 0], want, rtol=10 * UNIT[dtype] * shape[0])


def test_qr_constant_matrix_from_the_issue() -> None:
    q, r = linalg.qr(np.full((100, 100), 2.0, np.float32))
    assert np.isnan(q).sum() == 0 and np.isnan(r).sum() == 0
    q, r = linalg.qr(np.full((300, 300), 2.0))
    assert np.isnan(q).sum() == 0 and np.isnan(r).sum() == 0


def test_randomized_svd_builds_bases_on_rank_deficient_input(dtype: type) -> None:
    a = np.full((300, 120), 2.0, dtype)
    u, s, vt = linalg.randomized_svd(a, 5, random_state=0, power_iteration_normalizer="QR")
    assert np.all(np.isfinite(u)) and np.all(np.isfinite(s)) and np.all(np.isfinite(vt))
    np.testing.assert_allclose(s[0], 2.0 * np.sqrt(300 * 120), rtol=1e-5)


# --- NaN/inf: auto must keep NumPy's non-finite pattern -------------------------------

def nonfinite_operands(n: int, dtype: type) -> tuple[np.ndarray, np.ndarray]:
    a = np.ones((n, n), dtype)
    b = np.ones((n, n), dtype)
    a[1, 2] = np.inf
    a[5, 7] = np.nan
    b[3, 9] = -np.inf
    return a, b


def assert_same_nonfinite(got: np.ndarray, want: np.ndarray) -> None:
    np.testing.assert_array_equal(np.isnan(got), np.isnan(want))
    np.testing.assert_array_equal(np.isposinf(got), np.isposinf(want))
    np.testing.assert_array_equal(np.isneginf(got), np.isneginf(want))


def test_strassen_on_nonfinite_input_is_classical() -> None:
    # The issue's case: Strassen's block differences would give 12 NaN here.
    a = np.ones((8, 8))
    a[1, 2] = np.inf
    want = a @ np.ones((8, 8))
    for method in ("classical", "strassen", "auto"):
        got = linalg.matmul(a, np.ones((8, 8)), method=method)
        assert_same_nonfinite(got, want)
        np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["f64", "f32"])
def test_auto_at_the_crossover_keeps_numpys_nonfinite_pattern(dtype: type) -> None:
    # The measured crossover (3072 float64; 4096 float32, on one thread only): auto
    # would choose Strassen for finite input of this size.
    n = 3072 if dtype == np.float64 else 4096
    a, b = nonfinite_operands(n, dtype)
    with np.errstate(invalid="ignore"):
        want = a.astype(np.float64) @ b.astype(np.float64)
    before = mlkern.get_num_threads()
    try:
        mlkern.set_num_threads(1)
        got = linalg.matmul(a, b, method="auto")
    finally:
        mlkern.set_num_threads(before)
    assert_same_nonfinite(got, want)
    finite = np.isfinite(want)
    np.testing.assert_array_equal(got[finite], want[finite])  # sums of ones: exact


# --- thread count ----------------------------------------------------------------------

def with_threads(t: int, f, *args, **kw):  # type: ignore[no-untyped-def]
    before = mlkern.get_num_threads()
    try:
        mlkern.set_num_threads(t)
        return f(*args, **kw)
    finally:
        mlkern.set_num_threads(before)


def bitwise_equal(x: np.ndarray, y: np.ndarray) -> bool:
    return x.shape == y.shape and x.dtype == y.dtype and x.tobytes() == y.tobytes()


@pytest.mark.parametrize("shape", [(16, 20000, 16), (9, 40000, 7), (64, 30000, 32), (300, 400, 250), (45, 600, 700)])
def test_matmul_bitwise_identical_on_one_and_two_threads(shape: tuple, dtype: type, rng: np.random.Generator) -> None:
    m, k, n = shape
    a = rng.standard_normal((m, k)).astype(dtype)
    b = rng.standard_normal((k, n)).astype(dtype)
    for bv in [b, np.asfortranarray(b)]:
        one = with_threads(1, linalg.matmul, a, bv)
        two = with_threads(2, linalg.matmul, a, bv)
        assert bitwise_equal(one, two), f"{shape}: {np.sum(one != two)} entries differ"
        np.testing.assert_allclose(one, a.astype(np.float64) @ bv.astype(np.float64),
                                   rtol=0, atol=4 * k * UNIT[dtype] * np.abs(a).max() * np.abs(b).max() * 3)


@pytest.mark.parametrize("normalizer", ["auto", "QR", "none"])
def test_randomized_svd_tall_bitwise_identical_on_one_and_two_threads(normalizer: str, dtype: type) -> None:
    r = np.random.default_rng(3)
    a = (r.standard_normal((20000, 12)) @ r.standard_normal((12, 40)) + 1e-3 * r.standard_normal((20000, 40)))
    a = a.astype(dtype)
    kw = dict(random_state=1, power_iteration_normalizer=normalizer, n_iter=2 if normalizer == "none" else 4)
    one = with_threads(1, linalg.randomized_svd, a, 6, **kw)
    two = with_threads(2, linalg.randomized_svd, a, 6, **kw)
    for x, y in zip(one, two):
        assert bitwise_equal(x, y)


def test_qr_tall_bitwise_identical_on_one_and_two_threads(dtype: type) -> None:
    a = np.random.default_rng(4).standard_normal((30000, 40)).astype(dtype)
    one, two = with_threads(1, linalg.qr, a), with_threads(2, linalg.qr, a)
    assert bitwise_equal(one[0], two[0]) and bitwise_equal(one[1], two[1])


# --- LU against SciPy --------------------------------------------------------------------

@pytest.mark.parametrize("shape", [(1, 1), (7, 7), (50, 20), (20, 50), (65, 64), (130, 129)])
def test_lu_permuted_l_matches_scipy(tier: str, dtype: type, shape: tuple, rng: np.random.Generator) -> None:
    a = rng.standard_normal(shape).astype(dtype)
    pl = _mlkern._lu_pl(a)
    p, lo, up = scipy.linalg.lu(a.astype(np.float64))
    k = min(shape)
    assert pl.shape == (shape[0], k) and pl.dtype == dtype
    # Same pivots: the unit entry of column j of P·L sits in SciPy's pivot row.
    pivot_rows = np.argmax(p, axis=0)[:k]
    np.testing.assert_array_equal(pl[pivot_rows, np.arange(k)], np.ones(k, dtype))
    # Same P·L to a stated bound (partial pivoting: |l| <= 1, errors of γ_n·growth).
    tol = 20 * max(shape) * UNIT[dtype]
    np.testing.assert_allclose(pl, (p @ lo), rtol=0, atol=tol)
    # And P·L·U rebuilds a with SciPy's U: |PLU - a| <= γ_n |PL||U| (doubled).
    rebuilt = pl.astype(np.float64) @ up
    bound = 2 * tol * (np.abs(pl).astype(np.float64) @ np.abs(up)) + 1e-300
    assert np.all(np.abs(rebuilt - a) <= bound + tol * np.abs(a).max())


# --- byte-swapped input -------------------------------------------------------------------

def swapped(x: np.ndarray) -> np.ndarray:
    return x.astype(x.dtype.newbyteorder(">" if np.little_endian else "<"))


def test_every_linalg_function_takes_byte_swapped_input(dtype: type, rng: np.random.Generator) -> None:
    a = rng.standard_normal((60, 40)).astype(dtype)
    b = rng.standard_normal((40, 30)).astype(dtype)
    sa, sb = swapped(a), swapped(b)
    assert not sa.dtype.isnative
    np.testing.assert_array_equal(linalg.matmul(sa, sb), linalg.matmul(a, b))
    np.testing.assert_array_equal(linalg.matmul(sa, b, method="strassen"), linalg.matmul(a, b, method="strassen"))
    out = swapped(np.zeros((60, 30), dtype))
    assert linalg.matmul(sa, sb, out=out) is out
    np.testing.assert_array_equal(out, linalg.matmul(a, b))
    for mode in ["reduced", "complete"]:
        for x, y in zip(linalg.qr(sa, mode=mode), linalg.qr(a, mode=mode)):
            np.testing.assert_array_equal(x, y)
    np.testing.assert_array_equal(linalg.qr(sa, mode="r"), linalg.qr(a, mode="r"))
    for x, y in zip(linalg.randomized_svd(sa, 5, random_state=0), linalg.randomized_svd(a, 5, random_state=0)):
        np.testing.assert_array_equal(x, y)
    np.testing.assert_array_equal(_mlkern._lu_pl(sa), _mlkern._lu_pl(a))
    csr = sp.random(50, 40, density=0.2, format="csr", random_state=2, dtype=dtype)
    csr_swapped = sp.csr_array((swapped(csr.data), csr.indices, csr.indptr), shape=csr.shape)
    np.testing.assert_array_equal(linalg.csr_matmul(csr, sb), linalg.csr_matmul(csr, b))
    np.testing.assert_array_equal(linalg.csr_matmul(csr_swapped, b), linalg.csr_matmul(csr, b))
    np.testing.assert_array_equal(linalg.csr_matmul(csr, sb[:, 0]), linalg.csr_matmul(csr, b[:, 0]))


# --- counts ---------------------------------------------------------------------------------

@pytest.mark.parametrize("name", ["n_components", "n_oversamples", "n_iter", "random_state"])
def test_counts_refuse_bools_and_negatives(name: str) -> None:
    a = np.random.default_rng(0).standard_normal((30, 20))
    kw: dict = {"n_components": 2}
    for bad in [True, False, np.bool_(True)]:
        with pytest.raises(TypeError, match=name):
            linalg.randomized_svd(a, **{**kw, name: bad})
    for bad in [-1, -(2**70)]:
        with pytest.raises(ValueError, match=name):
            linalg.randomized_svd(a, **{**kw, name: bad})
    with pytest.raises(TypeError if name != "random_state" else ValueError, match=name):
        linalg.randomized_svd(a, **{**kw, name: 2.0})


def test_huge_counts_are_errors_not_crashes() -> None:
    a = np.random.default_rng(0).standard_normal((30, 20))
    with pytest.raises((ValueError, MemoryError)):
        linalg.randomized_svd(a, 2, n_oversamples=2**62)
    with pytest.raises(ValueError, match="random_state"):
        linalg.randomized_svd(a, 2, random_state=2**40)
    with pytest.raises((ValueError, MemoryError, OverflowError)):
        _mlkern._csr_matmul(np.ones(1), np.zeros(1, np.int32), np.zeros(2, np.int32), (2**64 - 1, 1), np.ones((1, 1)))
    with pytest.raises(OverflowError):
        _mlkern._csr_matmul(np.ones(1), np.zeros(1, np.int32), np.zeros(2, np.int32), (-1, 1), np.ones((1, 1)))


# --- badly scaled randomized_svd -------------------------------------------------------------

@pytest.mark.parametrize("scale", [1e300, 1e-300, 1e200, 1.0])
def test_randomized_svd_of_finite_badly_scaled_input(scale: float) -> None:
    r = np.random.default_rng(8)
    base = r.standard_normal((200, 6)) @ r.standard_normal((6, 80)) + 1e-6 * r.standard_normal((200, 80))
    a = base * scale
    assert np.all(np.isfinite(a))
    u, s, vt = linalg.randomized_svd(a, 4, random_state=0)
    s_ref = np.linalg.svd(base, compute_uv=False)[:4] * scale
    np.testing.assert_allclose(s, s_ref, rtol=1e-9)
    u0, s0, vt0 = linalg.randomized_svd(base, 4, random_state=0)
    np.testing.assert_allclose(u, u0, atol=1e-10)
    np.testing.assert_allclose(vt, vt0, atol=1e-10)


def test_randomized_svd_float32_badly_scaled() -> None:
    r = np.random.default_rng(9)
    base = (r.standard_normal((150, 5)) @ r.standard_normal((5, 60))).astype(np.float32)
    for scale in [1e36, 1e-36, 1e30]:  # unscaled, 1e±36 overflow/underflow the power iterations
        a = (base * np.float32(scale)).astype(np.float32)
        s = linalg.randomized_svd(a, 3, random_state=0)[1]
        s_ref = np.linalg.svd(base.astype(np.float64), compute_uv=False)[:3] * scale
        np.testing.assert_allclose(s, s_ref, rtol=1e-4)


# --- out= strides -------------------------------------------------------------------------------

def test_matmul_out_any_strides_including_negative(dtype: type, rng: np.random.Generator) -> None:
    a = rng.standard_normal((37, 29)).astype(dtype)
    b = rng.standard_normal((29, 23)).astype(dtype)
    want = a.astype(np.float64) @ b.astype(np.float64)
    tol = 4 * 29 * UNIT[dtype] * (np.abs(a).astype(np.float64) @ np.abs(b)) + 1e-300
    buf = np.zeros((80, 70), dtype)
    outs = [
        np.zeros((37, 23), dtype)[::-1],
        np.zeros((37, 23), dtype)[:, ::-1],
        np.zeros((37, 23), dtype)[::-1, ::-1],
        np.zeros((37, 23), dtype, order="F")[::-1],
        buf[::-2, 1::3][:37, :23],
        buf[5::2, ::-3][:37, :23],
        np.zeros((23, 37), dtype).T[::-1],
        np.zeros((74, 46), dtype)[::2, ::2],
    ]
    for out in outs:
        out[...] = np.nan
        got = linalg.matmul(a, b, out=out)
        assert got is out
        assert np.all(np.abs(out - want) <= tol), out.strides
    for method in ["strassen", "auto"]:
        out = np.zeros((37, 23), dtype)[::-1, ::-1]
        linalg.matmul(a, b, method=method, out=out)
        np.testing.assert_array_equal(out, linalg.matmul(a, b, method=method))


def test_matmul_out_negative_strides_still_refuses_overlap() -> None:
    a, b = np.ones((4, 4)), np.ones((4, 4))
    with pytest.raises(ValueError, match="shares memory with a"):
        linalg.matmul(a, b, out=a[::-1])
    with pytest.raises(ValueError, match="overlap"):
        linalg.matmul(a, b, out=np.lib.stride_tricks.as_strided(np.empty(20)[-1:], (4, 4), (-8, -8)))


def out_loop_growth(a: np.ndarray, b: np.ndarray, out: np.ndarray) -> int:
    """Fewest Rust allocations seen in three batches of 200 ``matmul(a, b, out=out)``
    after warm-up. (The counter is process-wide: a pool thread retired by an earlier
    ``set_num_threads`` may free and allocate while it exits, a one-off; an
    allocation per call shows up as >= 200 in every batch.)"""
    for _ in range(3):
        linalg.matmul(a, b, out=out)
    batches = []
    for _ in range(3):
        start = _mlkern._rust_allocation_count()
        for _ in range(200):
            linalg.matmul(a, b, out=out)
        batches.append(_mlkern._rust_allocation_count() - start)
    return min(batches)


@pytest.mark.parametrize("threads", [1, 2])
def test_repeated_matmul_out_allocates_nothing_from_python(threads: int, dtype: type) -> None:
    """The counting allocator of the extension (``_rust_allocation_count``) sees no
    Rust heap allocation in 200 calls after warm-up, for C-ordered and negative-stride
    ``out=``. Small shapes run on one thread; a two-thread product may make Rayon
    allocate one job block per 63 injections (allowed: at most 5 in 200 calls)."""
    r = np.random.default_rng(0)
    cases = [((64, 48), (48, 40)), ((300, 200), (200, 250))]
    for sa, sb in cases:
        a, b = r.standard_normal(sa).astype(dtype), r.standard_normal(sb).astype(dtype)
        for out in [np.empty((sa[0], sb[1]), dtype), np.empty((sa[0], sb[1]), dtype)[::-1]]:
            grown = with_threads(threads, out_loop_growth, a, b, out)
            allowed = 0 if threads == 1 or sa == (64, 48) else 5
            assert grown <= allowed, f"{sa}@{sb} out strides {out.strides}: {grown} allocations in 200 calls"


def test_repeated_matmul_out_allocates_nothing_in_a_fresh_interpreter() -> None:
    """Default thread count, never set: the first call is the warm-up."""
    code = (
        "import numpy as np\n"
        "from mlkern import linalg, _mlkern\n"
        "a, b, o = np.ones((64, 48)), np.ones((48, 40)), np.empty((64, 40))\n"
        "for _ in range(3): linalg.matmul(a, b, out=o)\n"
        # The counter counts every thread: let the pool's threads, started by the first
        # call, finish starting (thread names, thread-locals) before counting.
        "import time; time.sleep(0.5)\n"
        "s = _mlkern._rust_allocation_count()\n"
        "for _ in range(500): linalg.matmul(a, b, out=o)\n"
        "print(_mlkern._rust_allocation_count() - s)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert int(done.stdout.strip()) == 0, done.stdout


def test_allocation_counter_counts() -> None:
    start = _mlkern._rust_allocation_count()
    linalg.matmul(np.ones((3, 4)), np.ones((4, 5)))  # error-free call that makes a new array
    linalg.qr(np.ones((5, 3)))  # the work copy is a Rust Vec
    assert _mlkern._rust_allocation_count() > start
