"""Differential campaign, mlkern.signal: rfft/irfft/fft/ifft, convolve/correlate,
choose_convolve_method, describe, rolling, welch, spectral_features against SciPy,
NumPy and pandas computed in long double (u_ld = 2**-64), on every SIMD tier, 1 and
2 threads, awkward sizes (FFT lane batches, powers of two and not, describe blocks
of 256, rolling segments of max(16 window, 16384)), every memory layout and special
values. See tests/_strategies.py.

u = unit roundoff of the input dtype, gamma_n = n u / (1 - n u), eta = smallest subnormal.
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import pandas as pd
import scipy.fft as sfft
import scipy.signal as ssig
import scipy.stats as sst
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
    special_value,
    sum_class,
    threads,
    tiers,
    unit,
    value_class,
)
from hypothesis import given
from hypothesis import strategies as st

from mlkern import signal as ms

LD, CLD = np.longdouble, np.clongdouble
LD_UNIT = float(np.finfo(LD).eps) / 2

POW2 = [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048, 4096]
FFT_LENGTHS = sorted(set(POW2 + [3, 5, 6, 7, 9, 12, 15, 17, 31, 33, 63, 65, 97, 100, 127, 129, 255, 257, 1000,
                                  1009, 1023, 1025]))
# The lane engine takes >= half a register's worth of rows (4 f64 / 8 f32 on AVX-512).
FFT_ROWS = [1, 2, 3, 4, 5, 7, 8, 9, 15, 16, 17]
WORKERS = st.sampled_from([None, 1, 2, -1])


def rows_of(x: np.ndarray, axis: int) -> np.ndarray:
    """The 1-D lines along ``axis`` as rows (values, native)."""
    return np.moveaxis(np.asarray(x), axis, -1).reshape(-1, np.shape(x)[axis])


# -- FFT -----------------------------------------------------------------------------


def fft_bound(n: int, dtype: np.dtype, ref_rows: np.ndarray) -> np.ndarray:
    """Per line: ||X_got - X||_2 <= 5 max(log2 n, 1) u ||X||_2 + n eta (documented),
    plus the long-double reference's own error (negligible)."""
    norms = np.sqrt(np.sum(np.abs(ref_rows.astype(np.complex128)) ** 2, axis=-1))
    lg = max(math.log2(max(n, 2)), 1.0)
    return 5 * lg * unit(dtype) * norms + 4 * n * eta(dtype) + 64 * lg * LD_UNIT * norms


def check_fft_lines(got: np.ndarray, ref: np.ndarray, x_in: np.ndarray, axis: int, n: int, dtype: np.dtype,
                    what: str, real_output: bool = False) -> None:
    g, r, xi = rows_of(got, axis), rows_of(ref, axis), rows_of(x_in, axis)
    bound = fft_bound(n, dtype, r)
    for i in range(g.shape[0]):
        line = xi[i]
        if np.isnan(line).any():
            if not real_output:
                # NaN propagates: every output of that line is NaN (in re or im: a NaN
                # times any twiddle is NaN in at least one part).
                assert np.isnan(g[i]).all(), f"{what}: line {i} holds NaN but output is not all NaN"
            elif np.isnan(np.real(line[0])):
                # irfft: the DC term is added to every output.
                assert np.isnan(g[i]).all(), f"{what}: line {i} has a NaN DC term but output is not all NaN"
            continue
        if not np.isfinite(line).all() or not np.isfinite(r[i].astype(np.complex128)).all():
            continue  # inf: inf - inf patterns depend on the algorithm
        if float(np.max(np.abs(line), initial=0)) * max(n, 1) > float(np.finfo(dtype).max) / 8:
            continue  # may overflow
        err = float(np.sqrt(np.sum(np.abs(g[i].astype(np.complex128) - r[i].astype(np.complex128)) ** 2)))
        assert err <= bound[i], f"{what}: line {i} error {err:.3g} > bound {bound[i]:.3g}"


@st.composite
def fft_input(draw: st.DrawFn, complex_input: bool) -> tuple[np.ndarray, int, int | None]:
    dtype = draw(dtypes)
    n_in = draw(sizes(FFT_LENGTHS, 1, 4096))
    rows = draw(sizes(FFT_ROWS, 1, 17))
    three_d = draw(st.booleans())
    shape = (rows, 2, n_in) if three_d and rows % 2 == 0 else (rows, n_in)
    kinds = ["nan", "inf", "-0.0", "subnormal", "huge", "tiny"]
    x = draw(arrays(shape, dtype, kinds=kinds))
    if complex_input:
        y = draw(arrays(shape, dtype, kinds=kinds))
        cdt = np.complex64 if np.dtype(dtype) == np.float32 else np.complex128
        z = np.empty(shape, cdt)
        z.real, z.imag = x, y
        x = layout(z, draw(st.sampled_from(LAYOUTS)))
    axis = draw(st.sampled_from([-1, -1, 0])) if len(shape) == 2 else -1
    n = draw(st.one_of(st.none(), st.sampled_from(FFT_LENGTHS)))
    return x, axis, n


@budget(30)
@given(fft_input(False), st.sampled_from([None, "backward", "ortho", "forward"]), WORKERS, tiers, threads)
def test_rfft_irfft(inp: tuple[np.ndarray, int, int | None], norm: str | None, workers: int | None, tier: str,
                    nthreads: int) -> None:
    x, axis, n = inp
    dt = x.dtype.newbyteorder("=")
    nn = n if n is not None else x.shape[axis]
    with kernel_context(tier, nthreads):
        got = ms.rfft(x, n=n, axis=axis, norm=norm, workers=workers)
    assert got.dtype == (np.complex64 if dt == np.float32 else np.complex128)
    with np.errstate(all="ignore"):
        ref = sfft.rfft(np.array(x, dtype=LD), n=n, axis=axis, norm=norm)
    assert got.shape == ref.shape
    xin = np.array(x, dtype=np.float64)
    xin = np.moveaxis(xin, axis, -1)[..., :nn]
    check_fft_lines(got, ref, np.moveaxis(xin, -1, axis), axis, nn, dt, f"rfft n={nn} axis={axis} tier={tier}")
    # irfft of the reference spectrum (cast to the input precision) back to length nn.
    spec = ref.astype(got.dtype)
    with kernel_context(tier, nthreads):
        back = ms.irfft(spec, n=nn, axis=axis, norm=norm, workers=workers)
    with np.errstate(all="ignore"):
        ref_back = sfft.irfft(spec.astype(CLD), n=nn, axis=axis, norm=norm)
    assert back.dtype == dt and back.shape == ref_back.shape
    flags = np.where(np.isnan(spec.real), np.nan, 0.0)  # NaN in a real part: the lines to check for NaN
    check_fft_lines(back, ref_back, flags, axis, nn, dt, f"irfft n={nn} tier={tier}", real_output=True)


@budget(30)
@given(fft_input(True), st.sampled_from([None, "backward", "ortho", "forward"]), WORKERS, tiers, threads,
       st.booleans())
def test_fft_ifft(inp: tuple[np.ndarray, int, int | None], norm: str | None, workers: int | None, tier: str,
                  nthreads: int, inverse: bool) -> None:
    z, axis, n = inp
    cdt = z.dtype.newbyteorder("=")
    rdt = np.dtype(np.float32) if cdt == np.complex64 else np.dtype(np.float64)
    nn = n if n is not None else z.shape[axis]
    f, rf = (ms.ifft, sfft.ifft) if inverse else (ms.fft, sfft.fft)
    with kernel_context(tier, nthreads):
        got = f(z, n=n, axis=axis, norm=norm, workers=workers)
    assert got.dtype == cdt
    with np.errstate(all="ignore"):
        ref = rf(np.array(z, dtype=CLD), n=n, axis=axis, norm=norm)
    assert got.shape == ref.shape
    zin = np.moveaxis(np.array(z, dtype=np.complex128), axis, -1)[..., :nn]
    flag = np.where(np.isnan(zin), np.nan, np.where(np.isinf(zin), np.inf, 0.0)).real
    check_fft_lines(got, ref, np.moveaxis(flag, -1, axis), axis, nn, rdt,
                    f"{'ifft' if inverse else 'fft'} n={nn} tier={tier}")


@budget(8)
@given(st.sampled_from([8192, 16384, 32768, 65536]), st.sampled_from([4, 8, 9]), dtypes, tiers, threads)
def test_rfft_long_power_of_two_lane_batches(n: int, rows: int, dtype: type, tier: str, nthreads: int) -> None:
    """The batched lane kernel up to its 65 536 maximum, a NaN row among finite ones."""
    x = base_array(n + rows, (rows, n), dtype)
    x[1, n // 3] = np.nan
    with kernel_context(tier, nthreads):
        got = ms.rfft(x)
    ref = sfft.rfft(x.astype(LD))
    check_fft_lines(got, ref, x, -1, n, np.dtype(dtype), f"rfft lanes n={n} rows={rows} tier={tier}")


# -- convolve / correlate --------------------------------------------------------------


def conv_full_ref(a_rows: np.ndarray, v: np.ndarray) -> np.ndarray:
    with np.errstate(all="ignore"):
        return np.stack([np.convolve(r, v) for r in a_rows])


def cut(full: np.ndarray, n: int, m: int, mode: str) -> np.ndarray:
    if mode == "full":
        return full
    if mode == "same":
        s = (m - 1) // 2
        return full[:, s : s + n]
    return full[:, m - 1 : n]


@st.composite
def conv_case(draw: st.DrawFn) -> tuple[np.ndarray, np.ndarray, str]:
    dtype = draw(dtypes)
    one_d = draw(st.booleans())
    rows = 1 if one_d else draw(sizes([1, 2, 3, 4, 5, 8], 1, 8))
    n = draw(sizes([1, 2, 3, 7, 8, 15, 16, 17, 63, 64, 65, 100, 255, 256, 1000, 1024, 2000, 5000, 12000], 1, 12000))
    m = draw(sizes([1, 2, 3, 4, 5, 7, 8, 9, 16, 17, 31, 32, 33, 64, 65, 100, 200, 513], 1, 600))
    while rows * n * m > 2_500_000 and m > 1:
        m //= 2
    mode = draw(st.sampled_from(["full", "same", "valid"]))
    if mode == "valid" and m > n:
        mode = "full"
    kinds = ["nan", "inf", "-inf", "-0.0", "subnormal", "tiny"]
    a = draw(arrays((n,) if one_d else (rows, n), dtype, kinds=kinds))
    v = draw(arrays((m,), draw(st.sampled_from([dtype, dtype, np.float64])), kinds=kinds))
    return a, v, mode


@budget(30)
@given(conv_case(), st.sampled_from(["auto", "direct", "fft", "overlap_add"]), WORKERS, tiers, threads)
def test_convolve_correlate(case: tuple[np.ndarray, np.ndarray, str], method: str, workers: int | None, tier: str,
                            nthreads: int) -> None:
    """Every mode, convolve and correlate, for each drawn input."""
    a, v, _ = case
    dt = np.result_type(a.dtype.newbyteorder("="), v.dtype.newbyteorder("="))
    a_rows = np.atleast_2d(np.array(a, dtype=LD))
    vv = np.array(v, dtype=LD)
    n, m = a_rows.shape[1], vv.size
    fin_a = np.nan_to_num(a_rows, nan=0, posinf=0, neginf=0)
    norm_a = np.sqrt(np.sum(fin_a.astype(np.float64) ** 2, axis=1))
    special_a = ~np.isfinite(a_rows).all(axis=1)
    special_v = not np.isfinite(vv).all()
    for correlate in (False, True):
        f = ms.correlate if correlate else ms.convolve
        vk = vv[::-1] if correlate else vv
        full = conv_full_ref(a_rows, vk)
        fin_v = np.nan_to_num(vk, nan=0, posinf=0, neginf=0)
        absfull = conv_full_ref(np.abs(fin_a), np.abs(fin_v)).astype(np.float64)
        for mode in ("full", "same", "valid"):
            if mode == "valid" and m > n:
                continue
            with kernel_context(tier, nthreads):
                got = f(a, v, mode=mode, method=method, workers=workers)
            assert got.dtype == dt
            ref, absref = cut(full, n, m, mode), cut(absfull, n, m, mode)
            g = np.atleast_2d(got)
            assert g.shape == ref.shape, (g.shape, ref.shape)
            # Direct: |dy_k| <= gamma_m sum_j |a_{k-j} v_j| + m eta. FFT-based methods add
            # 8 (log2 N + 1) u ||a_row||_2 ||v||_1 (normwise FFT error, N <= 8 (n + m)),
            # and an absolute floor for gradual underflow: each of the (log2 N + 1) passes of
            # the forward and inverse transforms rounds N sums that may be subnormal, at most
            # eta/2 each, so 2 (log2 N + 1) N eta (only matters for subnormal outputs).
            bound = gamma(m + 1, dt) * absref + 2 * m * eta(dt)
            if method != "direct":
                big_n = 8 * (n + m)
                bound = bound + 8 * (math.log2(big_n) + 1) * unit(dt) * (
                    norm_a * float(np.sum(np.abs(fin_v.astype(np.float64)))))[:, None]
                bound = bound + 2 * (math.log2(big_n) + 1) * big_n * eta(dt)
            what = f"{'correlate' if correlate else 'convolve'} {mode} {method} a={a.shape} m={m} tier={tier}"
            if method in ("direct", "auto"):
                # IEEE classes of each output's sum of products, as np.convolve gives them;
                # under "auto" too: NaN/inf stay where the direct sum puts them (no spreading).
                cls = value_class(ref.astype(np.float64))
                assert_classes(g, cls, what)
                ok = cls == 0
                assert_close(np.where(ok, g, 0.0), np.where(ok, ref.astype(np.float64), 0.0),
                             np.where(ok, bound, 0.0), what)
            elif not special_v:
                ok = ~special_a
                assert_close(g[ok], ref[ok].astype(np.float64), bound[ok], what)


@budget(10)
@given(st.integers(0, 2**32 - 1), dtypes, sizes([1, 2, 5, 64, 300], 1, 300), sizes([1, 2, 3, 7, 8], 1, 9),
       sizes([1, 3, 4, 33], 1, 40), st.sampled_from(["full", "same", "valid"]),
       st.sampled_from(["auto", "direct", "fft", "overlap_add"]), st.booleans())
def test_convolve_2d_along_axis(seed: int, dtype: type, n: int, cols: int, m: int, mode: str, method: str,
                                correlate: bool) -> None:
    """convolve/correlate on 2-D take axis (api-after.md): axis=0 convolves each column."""
    if mode == "valid" and m > n:
        mode = "full"
    x = base_array(seed, (n, cols), dtype)
    v = base_array(seed + 1, (m,), dtype)
    f = ms.correlate if correlate else ms.convolve
    got0 = f(x, v, mode=mode, method=method, axis=0)
    got1 = f(np.ascontiguousarray(x.T), v, mode=mode, method=method, axis=1)
    vk = v.astype(LD)[::-1] if correlate else v.astype(LD)
    ref = cut(conv_full_ref(x.T.astype(LD), vk), n, m, mode).astype(np.float64)
    absref = cut(conv_full_ref(np.abs(x.T.astype(LD)), np.abs(vk)), n, m, mode).astype(np.float64)
    # gamma_m sum|a||v| + (FFT methods) 8 (log2 N + 1) u ||a_col||_2 ||v||_1.
    bound = gamma(m + 1, dtype) * absref + 8 * (math.log2(8 * (n + m)) + 1) * unit(dtype) * (
        np.sqrt(np.sum(x.T.astype(np.float64) ** 2, axis=1)) * np.sum(np.abs(v.astype(np.float64))))[:, None]
    assert_close(got0.T, ref, bound, f"axis=0 {mode} {method}")
    assert_close(got1, ref, bound, f"axis=1 {mode} {method}")


@budget(15)
@given(conv_case(), tiers)
def test_choose_convolve_method_is_what_auto_uses(case: tuple[np.ndarray, np.ndarray, str], tier: str) -> None:
    a, v, mode = case
    a, v = np.nan_to_num(np.array(a)), np.nan_to_num(np.array(v))
    with kernel_context(tier):
        chosen = ms.choose_convolve_method(a, v, mode)
        assert chosen in ("direct", "fft", "overlap_add")
        np.testing.assert_array_equal(ms.convolve(a, v, mode, method="auto"), ms.convolve(a, v, mode, method=chosen))


# -- describe ----------------------------------------------------------------------------


def describe_check(got: ms.DescribeResult, x: np.ndarray, axis: int, ddof: int, bias: bool, what: str) -> None:
    dt = x.dtype.newbyteorder("=")
    rows = rows_of(np.array(x, dtype=LD), axis)
    n = rows.shape[1]
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref = sst.describe(rows, axis=1, ddof=ddof, bias=bias)
    assert got.nobs == n, what
    fields = {"min": got.minmax[0], "max": got.minmax[1], "mean": got.mean, "variance": got.variance,
              "skewness": got.skewness, "kurtosis": got.kurtosis}
    for name, val in fields.items():
        arr = np.asarray(val)
        assert arr.dtype == dt, f"{what}: {name} has dtype {arr.dtype}, expected {dt}"
        assert arr.shape == tuple(np.delete(x.shape, axis % x.ndim)), f"{what}: {name} shape {arr.shape}"
    g = {k: np.asarray(v, dtype=np.float64).reshape(-1) for k, v in fields.items()}
    r = {"min": ref.minmax[0], "max": ref.minmax[1], "mean": ref.mean, "variance": ref.variance,
         "skewness": ref.skewness, "kurtosis": ref.kurtosis}
    u, u64 = unit(dt), 2.0**-53
    fmax = float(np.finfo(dt).max)
    for i, row in enumerate(rows):
        finite = np.isfinite(row).all()
        if np.isnan(row).any():
            for k in g:
                assert np.isnan(g[k][i]), f"{what}: row {i} holds NaN, {k} = {g[k][i]!r}"
            continue
        # min and max are exact.
        for k in ("min", "max"):
            assert g[k][i] == float(r[k][i]), f"{what}: row {i} {k} {g[k][i]!r} != {float(r[k][i])!r}"
        if not finite:
            # inf: mean is +-inf (NaN if both signs), the central moments NaN (scipy).
            c = int(sum_class(row.astype(np.float64)[None, :])[0])
            assert int(value_class(np.array([g["mean"][i]]))[0]) == c, f"{what}: row {i} mean {g['mean'][i]!r}"
            for k in ("variance", "skewness", "kurtosis"):
                assert np.isnan(g[k][i]), f"{what}: row {i} holds inf, {k} = {g[k][i]!r} (expected NaN)"
            continue
        absx = np.abs(row)
        if float(absx.max()) > (1e150 if dt == np.float64 else 1e300):
            continue  # moments may overflow float64
        mu = np.mean(row)
        d = row - mu
        s2, s3, s4 = float(np.sum(d**2)), float(np.sum(np.abs(d) ** 3)), float(np.sum(d**4))
        # float64 accumulation (blocked two-pass, pairwise merges):
        # |d mean| <= u|mean| + 4 gamma_n(f64) mean|x|.
        e_mu = 4 * n * u64 * float(np.mean(absx))
        assert abs(g["mean"][i] - float(r["mean"][i])) <= u * abs(float(r["mean"][i])) + e_mu + eta(dt), \
            f"{what}: row {i} mean {g['mean'][i]!r} vs {float(r['mean'][i])!r}"
        dof = n - ddof
        if dof > 0:
            # |d var| <= u|var| + (16 gamma_n(f64) sum d^2 + n e_mu^2) / (n - ddof).
            ev = u * abs(float(r["variance"][i])) + (16 * n * u64 * s2 + n * e_mu**2) / dof + eta(dt)
            if abs(float(r["variance"][i])) <= fmax:
                assert abs(g["variance"][i] - float(r["variance"][i])) <= ev, \
                    f"{what}: row {i} variance {g['variance'][i]!r} vs {float(r['variance'][i])!r} (bound {ev:.3g})"
        else:
            assert value_class(np.array([g["variance"][i]]))[0] == value_class(np.array([float(r["variance"][i])]))[0] \
                or np.isnan(g["variance"][i]), f"{what}: n - ddof <= 0: variance {g['variance'][i]!r}"
        m2 = s2 / n
        resolution = float(np.finfo(np.float64).resolution)
        if m2 <= (resolution * float(abs(mu))) ** 2 or s2 == 0:
            # Constant row: NaN skewness and kurtosis, as SciPy.
            if s2 == 0:
                assert np.isnan(g["skewness"][i]) and np.isnan(g["kurtosis"][i]), \
                    f"{what}: constant row {i}: skewness {g['skewness'][i]!r} kurtosis {g['kurtosis'][i]!r}"
            continue
        if m2 <= (1e-6 * float(absx.max())) ** 2:
            continue  # nearly constant: SciPy's heuristic and ours may disagree
        d2 = (16 * n * u64 * s2 + n * e_mu**2) / s2
        g1, g2 = float(r["skewness"][i]), float(r["kurtosis"][i])
        corr = 1.0 if bias else max(1.0, (n - 1) * (n + 1) / max((n - 2) * (n - 3), 1))
        # |d g1| <= corr (d m3 / m2^1.5 + 1.5 |g1| d2) + u|g1|, d m3 = (16 gamma_n s3 + 3 e_mu s2) / n.
        eskew = corr * ((16 * n * u64 * s3 + 3 * e_mu * s2) / n / m2**1.5 + 1.5 * abs(g1) * d2) + u * abs(g1) + 1e-300
        ekurt = corr * ((16 * n * u64 * s4 + 4 * e_mu * s3) / n / m2**2 + 2 * (abs(g2) + 3) * d2) \
            + u * (abs(g2) + 3) + 1e-300
        for k, ref_v, e in (("skewness", g1, eskew), ("kurtosis", g2, ekurt)):
            if np.isnan(ref_v):
                assert np.isnan(g[k][i]), f"{what}: row {i} {k} {g[k][i]!r}, SciPy gives NaN"
            else:
                assert abs(g[k][i] - ref_v) <= e, f"{what}: row {i} {k} {g[k][i]!r} vs {ref_v!r} (bound {e:.3g})"


@st.composite
def describe_case(draw: st.DrawFn) -> tuple[np.ndarray, int]:
    dtype = draw(dtypes)
    n = draw(sizes([1, 2, 3, 4, 5, 7, 8, 16, 255, 256, 257, 511, 512, 513, 767, 768, 769, 1000, 4097], 1, 5000))
    cols = draw(sizes([1, 2, 3, 5, 8, 9], 1, 9))
    shape_kind = draw(st.sampled_from(["1d", "cols", "rows"]))
    kinds = ["nan", "inf", "-inf", "-0.0", "subnormal", "huge", "tiny"]
    if shape_kind == "1d":
        return draw(arrays((n,), dtype, kinds=kinds)), 0
    if shape_kind == "cols":
        return draw(arrays((n, cols), dtype, kinds=kinds)), 0
    return draw(arrays((cols, n), dtype, kinds=kinds)), draw(st.sampled_from([1, -1]))


@budget(40)
@given(describe_case(), st.sampled_from([0, 1, 2]), st.booleans(), WORKERS, tiers, threads)
def test_describe(case: tuple[np.ndarray, int], ddof: int, bias: bool, workers: int | None, tier: str,
                  nthreads: int) -> None:
    x, axis = case
    with kernel_context(tier, nthreads), np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        got = ms.describe(x, axis=axis, ddof=ddof, bias=bias, workers=workers)
    describe_check(got, x, axis, ddof, bias, f"describe {x.shape} axis={axis} ddof={ddof} bias={bias} tier={tier}")


def test_describe_defaults_are_scipys() -> None:
    """describe(x, axis=0, ddof=1, bias=True) with SciPy's field names (api-after.md)."""
    x = np.arange(12.0).reshape(4, 3) ** 2
    got = ms.describe(x)
    ref = sst.describe(x)
    assert got._fields[:2] == ("nobs", "minmax") and got.nobs == 4
    np.testing.assert_allclose(got.mean, ref.mean)
    np.testing.assert_allclose(got.minmax[0], ref.minmax[0])
    np.testing.assert_allclose(got.variance, ref.variance)
    np.testing.assert_allclose(got.skewness, ref.skewness)
    np.testing.assert_allclose(got.kurtosis, ref.kurtosis)


# -- rolling ------------------------------------------------------------------------------

STATS = ("mean", "std", "var", "min", "max", "sum", "skew")


def segment_len(window: int) -> int:
    return max(16 * window, 16384)


def window_sums(d: np.ndarray, w: int) -> tuple[np.ndarray, np.ndarray]:
    """(sum over each full window, the reference's error bound), long double."""
    n = d.size
    if n * w <= 4_000_000:
        view = np.lib.stride_tricks.sliding_window_view(d, w)
        s = view.sum(axis=1)
        err = 2 * (math.log2(max(w, 2)) + 1) * LD_UNIT * np.abs(view).sum(axis=1)
        return s, err.astype(np.float64)
    p = np.concatenate([[LD(0)], np.cumsum(d)])
    pa = np.concatenate([[LD(0)], np.cumsum(np.abs(d))])
    s = p[w:] - p[:-w]
    return s, (4 * LD_UNIT * pa[w:]).astype(np.float64)


def window_counts(mask: np.ndarray, w: int) -> np.ndarray:
    c = np.concatenate([[0], np.cumsum(mask.astype(np.int64))])
    return c[w:] - c[:-w]


def rolling_reference(x: np.ndarray, w: int, stat: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(reference, bound, known) for one series; known False = not checked."""
    dt = x.dtype.newbyteorder("=")
    u = unit(dt)
    xv = np.array(x, dtype=LD)
    n = xv.size
    out = np.full(n, np.nan)
    bound = np.zeros(n)
    known = np.zeros(n, bool)
    known[: w - 1] = True  # the first window - 1 outputs are NaN
    nan_c = window_counts(np.isnan(xv), w)
    pos_c = window_counts(xv == np.inf, w)
    neg_c = window_counts(xv == -np.inf, w)
    big = np.abs(np.nan_to_num(xv, nan=0, posinf=0, neginf=0)) > (1e150 if dt == np.float64 else 1e15)
    seg = segment_len(w)
    # A huge finite value taints the running sums of its segment (and the next window).
    taint = np.zeros(n, bool)
    for j in np.flatnonzero(big):
        taint[j : min(n, (j // seg + 2) * seg + w)] = True
    tail = slice(w - 1, None)
    fin = np.where(np.isfinite(xv), xv, 0)
    if stat in ("min", "max"):
        if n * w <= 4_000_000:
            view = np.lib.stride_tricks.sliding_window_view(xv, w)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                mm = view.min(axis=1) if stat == "min" else view.max(axis=1)
        else:
            s = pd.Series(xv.astype(np.float64)).rolling(w)
            mm = (s.min() if stat == "min" else s.max()).to_numpy()[w - 1 :]
        out[tail] = np.where(nan_c > 0, np.nan, mm.astype(np.float64))
        known[tail] = True
        return out, bound, known  # exact
    c = np.mean(fin[~big]) if (~big).any() else LD(0)
    d = fin - c
    # The kernel sums x - c' for a shift c' near the data of the segment: |c' - c| <= R.
    r_shift = float(np.max(np.abs(d[~big]), initial=0))
    s1, e1 = window_sums(d, w)
    sabs, _ = window_sums(np.abs(fin) + r_shift + abs(float(c)), w)
    cls = np.where((nan_c > 0) | ((pos_c > 0) & (neg_c > 0)), 2, np.where(pos_c > 0, 1, np.where(neg_c > 0, -1, 0)))
    if stat in ("sum", "mean"):
        # Compensated sums of x - c': |d sum| <= 8 u sum_w (|x| + |c| + R) (+ reference error);
        # mean: / w, + u|mean|.
        val = (s1 + w * c).astype(np.float64)
        b = 8 * u * sabs.astype(np.float64) + e1 + 2 * w * eta(dt)
        if stat == "mean":
            val, b = val / w, b / w + u * np.abs(val / w)
        out[tail] = np.where(cls == 2, np.nan, np.where(cls == 1, np.inf, np.where(cls == -1, -np.inf, val)))
        bound[tail] = b
        known[tail] = ~taint[tail] & ((cls != 0) | (sabs.astype(np.float64) <= float(np.finfo(dt).max) / 4))
        return out, bound, known
    s2, e2 = window_sums(d * d, w)
    s3, _ = window_sums(d * d * d, w)
    s2b, _ = window_sums((np.abs(d) + r_shift) ** 2, w)  # powers of x - c' for the bounds
    s3a, _ = window_sums((np.abs(d) + r_shift) ** 3, w)
    mu = s1 / w
    m2 = s2 / w - mu * mu  # biased, about the window mean
    special = (nan_c > 0) | (pos_c > 0) | (neg_c > 0)
    # Running power sums of x - c (c a shift near the data):
    # |d var| <= (16 u sum_w (|x - c| + R)^2 + ref err) / (w - 1) + u var.
    if stat in ("var", "std"):
        var = (m2 * w / (w - 1)).astype(np.float64) if w > 1 else np.full(n - w + 1, np.nan)
        ev = (16 * u * s2b.astype(np.float64) + e2) / max(w - 1, 1) + u * np.abs(var) + 2 * eta(dt)
        if stat == "std":
            sd = np.sqrt(np.maximum(var, 0))
            b = np.minimum(np.sqrt(ev), ev / np.where(sd > 0, 2 * sd, np.inf)) + u * sd
            val = sd
        else:
            val, b = var, ev
        out[tail] = np.where(special, np.nan, val)
        bound[tail] = b
        known[tail] = ~taint[tail]
        return out, bound, known
    # skew (pandas' adjusted Fisher-Pearson): G1 = sqrt(w (w-1)) / (w-2) m3 / m2^1.5;
    # NaN below 3 samples or when the window variance is <= 1e-14.
    m3 = s3 / w - 3 * mu * (s2 / w) + 2 * mu**3
    with np.errstate(all="ignore"):
        g1 = (m3 / m2**1.5).astype(np.float64)
        corr = math.sqrt(w * (w - 1)) / (w - 2) if w > 2 else np.nan
        val = corr * g1
        m2f = m2.astype(np.float64)
        d2 = 16 * u * s2b.astype(np.float64) / w / m2f
        b = corr * (16 * u * s3a.astype(np.float64) / w / m2f**1.5 + 1.5 * np.abs(g1) * d2) + u * np.abs(val)
    tiny_var = m2f * w / max(w - 1, 1) <= 1e-14
    out[tail] = np.where(special | tiny_var | (w < 3), np.nan, val)
    bound[tail] = b
    near = (m2f > 1e-17) & (m2f < 1e-11)  # the two libraries' thresholds may differ here
    known[tail] = ~taint[tail] & ~near
    return out, bound, known


def check_rolling(got: np.ndarray, x: np.ndarray, w: int, stat: str, what: str) -> None:
    ref, bound, known = rolling_reference(x, w, stat)
    g = np.asarray(got, dtype=np.float64)
    if stat in ("min", "max"):
        same = (g == ref) | (np.isnan(g) & np.isnan(ref))
        bad = known & ~same
        if bad.any():
            i = np.flatnonzero(bad)[:5]
            raise AssertionError(f"{what}: {int(bad.sum())} windows differ, e.g. at {i.tolist()}: "
                                 f"got {g[i].tolist()} expected {ref[i].tolist()}")
        return
    rc = value_class(ref)
    assert_classes(np.where(known, g, 0.0), np.where(known, rc, 0), what)
    ok = known & (rc == 0)
    assert_close(np.where(ok, g, 0.0), np.where(ok, ref, 0.0), np.where(ok, bound, 0.0), what)


@st.composite
def rolling_case(draw: st.DrawFn) -> tuple[np.ndarray, int]:
    dtype = draw(dtypes)
    w = draw(sizes([1, 2, 3, 4, 5, 7, 8, 15, 16, 17, 100, 1023, 1024, 1025, 2000], 1, 2100))
    seg = segment_len(w)
    n = draw(st.one_of(st.sampled_from([seg - 1, seg, seg + 1, seg + w, 2 * seg + 1, seg + w - 1]),
                       sizes([1, 2, 3, 7, 8, 100, 1000], 1, 3000)))
    n = max(n, w)
    bases = ["normal", "uniform", "integers", "offset", "scaled_up"]
    x = base_array(draw(st.integers(0, 2**32 - 1)), (n,), dtype, draw(st.sampled_from(bases)))
    # Special values, some of them just before / at a segment boundary.
    for _ in range(draw(st.integers(0, 3))):
        kind = draw(st.sampled_from(["nan", "inf", "-inf", "-0.0", "subnormal", "huge", "max"]))
        near_boundary = draw(st.booleans()) and n > seg
        pos = seg - draw(st.integers(0, w + 1)) if near_boundary else draw(st.integers(0, n - 1))
        x[min(max(pos, 0), n - 1)] = special_value(kind, dtype)
    return layout(x, draw(st.sampled_from(["C", "strided", "negative", "unaligned", "byteswapped", "readonly"]))), w


@budget(40)
@given(rolling_case(), st.sampled_from(STATS), WORKERS, tiers, threads)
def test_rolling_1d(case: tuple[np.ndarray, int], stat: str, workers: int | None, tier: str, nthreads: int) -> None:
    x, w = case
    with kernel_context(tier, nthreads):
        got = ms.rolling(x, w, stat, workers=workers)
    assert got.shape == x.shape and got.dtype == x.dtype.newbyteorder("=")
    check_rolling(got, x, w, stat, f"rolling {stat} n={x.size} window={w} tier={tier} threads={nthreads}")


@budget(15)
@given(st.integers(0, 2**32 - 1), dtypes, st.sampled_from(STATS), sizes([1, 2, 3, 8, 17], 1, 40),
       sizes([1, 2, 3, 5], 1, 6), tiers)
def test_rolling_2d_is_per_column_like_a_dataframe(seed: int, dtype: type, stat: str, w: int, cols: int,
                                                   tier: str) -> None:
    """rolling(x, window, stat, *, axis=0) on 2-D: per column by default, as
    ``pandas.DataFrame(x).rolling(window)`` (api-after.md); axis=1 is per row."""
    n = w + int(np.random.default_rng(seed).integers(0, 60))
    x = base_array(seed, (n, cols), dtype)
    with kernel_context(tier):
        got = ms.rolling(x, w, stat)
        got_rows = ms.rolling(np.ascontiguousarray(x.T), w, stat, axis=1)
    for j in range(cols):
        check_rolling(got[:, j], x[:, j], w, stat, f"rolling 2-D {stat} column {j}")
        check_rolling(got_rows[j], x[:, j], w, stat, f"rolling 2-D axis=1 {stat} row {j}")
    ref = getattr(pd.DataFrame(x.astype(np.float64)).rolling(w), stat)().to_numpy()
    tol = 1e-3 if np.dtype(dtype) == np.float32 else 1e-8
    np.testing.assert_allclose(got, ref, rtol=tol, atol=tol)


# -- welch, spectral_features ------------------------------------------------------------


@st.composite
def welch_case(draw: st.DrawFn) -> tuple[np.ndarray, int, int | None]:
    dtype = draw(dtypes)
    nperseg = draw(sizes([1, 2, 3, 4, 8, 15, 16, 17, 64, 100, 128, 255, 256, 257, 512], 1, 600))
    segs = draw(sizes([1, 2, 3, 63, 64, 65, 130], 1, 130))
    nov = draw(st.one_of(st.none(), st.integers(0, max(nperseg - 1, 0))))
    step = nperseg - (nperseg // 2 if nov is None else nov)
    n = nperseg + step * (segs - 1) + draw(st.integers(0, 3))
    n = min(n, 40000)
    rows = draw(sizes([1, 2, 3], 1, 3))
    kinds = ["nan", "-0.0", "subnormal", "tiny"]
    x = draw(arrays((rows, n) if rows > 1 else (n,), dtype, kinds=kinds,
                    bases=["normal", "uniform", "integers", "offset"]))
    return x, nperseg, nov


@budget(25)
@given(welch_case(), st.sampled_from([1.0, 100.0, 0.5]), WORKERS, tiers, threads)
def test_welch(case: tuple[np.ndarray, int, int | None], fs: float, workers: int | None, tier: str,
               nthreads: int) -> None:
    x, nperseg, nov = case
    dt = x.dtype.newbyteorder("=")
    with kernel_context(tier, nthreads), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        f, p = ms.welch(x, fs=fs, nperseg=nperseg, noverlap=nov, workers=workers)
        fr, pr = ssig.welch(np.array(x, dtype=LD), fs=fs, nperseg=nperseg, noverlap=nov)
    np.testing.assert_allclose(f, fr.astype(np.float64), rtol=1e-15)
    assert p.dtype == dt and p.shape == pr.shape
    # Per bin: |dP_k| <= scale (2 |X_k| dX + dX^2) with dX = 8 (log2 N + 2) u sqrt(N max_seg sum (w x)^2)
    # (normwise FFT error of one windowed, detrended segment), scale = 2 / (fs sum w^2).
    win = ssig.get_window("hann", nperseg).astype(np.float64)
    rows = np.atleast_2d(np.array(x, dtype=np.float64))
    pr2 = np.atleast_2d(pr.astype(np.float64))
    p2 = np.atleast_2d(p)
    for i, row in enumerate(rows):
        if np.isnan(row).any():
            assert np.isnan(p2[i]).all(), "a row holding NaN gives NaN"
            continue
        segs = np.lib.stride_tricks.sliding_window_view(row, nperseg)[:: nperseg - (nperseg // 2 if nov is None else nov)]
        energy = float(np.max(np.sum((segs * win) ** 2, axis=1), initial=0))
        big_n = nperseg
        dx = 8 * (math.log2(max(big_n, 2)) + 2) * unit(dt) * math.sqrt(big_n * energy)
        scale = 2 / (fs * float(np.sum(win**2))) if np.sum(win**2) > 0 else 0.0
        xk = np.sqrt(np.maximum(pr2[i], 0) / scale) if scale else np.zeros_like(pr2[i])
        bound = scale * (2 * xk * dx + dx**2) + u_slack(dt)
        assert_close(p2[i], pr2[i], bound, f"welch nperseg={nperseg} noverlap={nov} row {i} tier={tier}")


def u_slack(dt: np.dtype) -> float:
    return 1e3 * eta(dt) + 1e-300


@budget(25)
@given(st.integers(0, 2**32 - 1), dtypes, sizes([1, 2, 3, 4, 7, 8, 64, 255, 256, 257, 1000, 1024], 1, 1100),
       sizes([1, 2, 3, 4, 5], 1, 5), st.sampled_from([1.0, 250.0]), tiers, threads)
def test_spectral_features(seed: int, dtype: type, n: int, rows: int, fs: float, tier: str, nthreads: int) -> None:
    rng = np.random.default_rng(seed)
    t = np.arange(n) / fs
    x = (np.sin(2 * np.pi * (fs / 7) * t)[None, :] * rng.uniform(0.5, 2, (rows, 1))
         + 0.3 * rng.standard_normal((rows, n))).astype(dtype)
    if rows > 1:
        x[-1] = 0  # a zero signal: NaN centroid, spread, entropy, roll-off
    bands = [(0.0, fs / 8), (fs / 8, fs / 4), (fs / 4, fs)]
    with kernel_context(tier, nthreads):
        got = ms.spectral_features(x, fs, bands=bands)
    f, pk = ssig.periodogram(x.astype(LD), fs, window="boxcar", detrend=False, scaling="density", axis=-1)
    f, pk = f.astype(np.float64), np.atleast_2d(pk.astype(np.float64))
    df = fs / n
    u = unit(dtype)
    lg = math.log2(max(n, 2)) + 2
    for i in range(rows):
        p = pk[i]
        tot = float(np.sum(p) * df)
        # Total power: |d| <= 16 log2(N) u total (normwise FFT error, squared magnitudes).
        e_tot = 16 * lg * u * tot + 1e-300
        ms_x = float(np.mean(x[i].astype(np.float64) ** 2))
        assert abs(float(got["total_power"][i]) - tot) <= e_tot, (i, got["total_power"][i], tot)
        assert abs(float(got["total_power"][i]) - ms_x) <= e_tot + 4 * n * u * ms_x, "equals mean(x**2)"
        for (lo, hi), gp in zip(bands, got["band_powers"][i]):
            ref_b = float(np.sum(p[(f >= lo) & (f < hi)]) * df)
            # A bin whose frequency k fs / n is within rounding of a band edge may fall on
            # either side (k * fs / n and k * (fs / n) round differently).
            edge = (np.abs(f - lo) <= 1e-9 * fs) | (np.abs(f - hi) <= 1e-9 * fs)
            slack = float(np.sum(p[edge]) * df)
            assert abs(float(gp) - ref_b) <= e_tot + slack, (i, lo, hi, gp, ref_b)
        if tot == 0:
            for k in ("centroid", "spread", "entropy", "rolloff"):
                assert np.isnan(got[k][i]), (k, got[k][i])
            continue
        q = p / np.sum(p)
        cen = float(np.sum(f * q))
        spread = float(np.sqrt(np.sum((f - cen) ** 2 * q)))
        with np.errstate(all="ignore"):
            ent = float(-np.sum(np.where(q > 0, q * np.log(q), 0)) / math.log(len(p))) if len(p) > 1 else 0.0
        fmax = float(f[-1]) if len(f) else 0.0
        # Ratios of sums of P: relative error of P is ~16 log2(N) u of the total.
        rel = 16 * lg * u
        assert abs(float(got["centroid"][i]) - cen) <= 4 * rel * fmax + 1e-12, ("centroid", got["centroid"][i], cen)
        assert abs(float(got["spread"][i]) - spread) <= 4 * rel * fmax + math.sqrt(4 * rel) * fmax * 0.01 + 1e-9, \
            ("spread", got["spread"][i], spread)
        if len(p) > 1:
            assert abs(float(got["entropy"][i]) - ent) <= 8 * rel * math.log(len(p)) + 1e-9, \
                ("entropy", got["entropy"][i], ent)
        # Discrete choices: the chosen bin is optimal within the error of P.
        k_dom = int(np.argmin(np.abs(f - float(got["dominant_frequency"][i]))))
        assert abs(f[k_dom] - float(got["dominant_frequency"][i])) <= 1e-12 * fs, "a bin frequency k fs / n"
        assert p[k_dom] >= p.max() - 2 * rel * np.sum(p), ("dominant", k_dom, p[k_dom], p.max())
        assert abs(float(got["dominant_power"][i]) - p.max()) <= 2 * rel * np.sum(p) + 1e-300
        k_roll = int(np.argmin(np.abs(f - float(got["rolloff"][i]))))
        cum = np.cumsum(p)
        thr = 0.85 * cum[-1]
        assert cum[k_roll] >= thr - rel * cum[-1] and (k_roll == 0 or cum[k_roll - 1] < thr + rel * cum[-1]), \
            ("rolloff", k_roll)
