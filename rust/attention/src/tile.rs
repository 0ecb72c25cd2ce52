//! One task of the forward pass: `BR` queries of one head against all its keys,
//! written once over [`Simd<f32>`] and instantiated per tier by [`crate::dispatch`].
//!
//! Algorithm (Dao et al., flash attention, with the softmax of
//! [`crate::softmax`]): the task's queries are scaled by `scale·log₂e` (scores in
//! base-2 units, for `exp2`) and transposed
//! once into `qt` (`d × BR`, query `i` in column `i`). Then for each tile of `BC`
//! keys:
//! 1. scores `Sᵀ = K·Qᵀ` (`BC × BR`), by a register tile of 4 keys × 2–4 vectors
//!    of queries ([`Shape`]): each step broadcasts `k[j][c]` and multiplies it into a row of `qt`.
//!    Keys and values are read in place when they are float32 (half-precision
//!    tiles are widened into scratch first), so only the queries are repacked;
//! 2. the mask and the causal limit set scores to `-inf` (an additive mask is added,
//!    times `log₂e`);
//! 3. the online softmax turns scores into weights and gives each query's rescale;
//! 4. `O ← rescale·O + P·V`, by a register tile of 4 queries × 2–4 vectors of the
//!    value dimension, held in registers across the tile's keys.
//!
//! At the end each output row is divided by its softmax sum (0 for a query no key
//! was allowed to reach). Nothing of size `seq × seq` exists: a task's memory is
//! `BR·d + BC·BR + BR·dv` floats (plus `BC·(d + dv)` for widened half tiles).
//!
//! Causal tiles beyond the diagonal are never visited; on the diagonal tile the
//! score kernel skips vectors of queries that precede every key of a 4-key block,
//! and the value kernel stops each 4-query block at its last allowed key, so
//! causal attention does about half the arithmetic of full attention at every
//! length.
//!
//! Accumulation: float32, fused multiply-add where the tier has it; scores are sums
//! over `d` in order, outputs sums over the keys in order (so results do not depend
//! on the thread count). Error bound: see `forward` in `lib.rs`.

use mlkern_core::halfconv::{bf16_to_f32, f16_to_f32};
use mlkern_core::simd::Simd;

use crate::softmax::{online_step, Running};
use crate::{Elems, Mask, MaskValues, OutElems, Problem};

/// Register tiles per ISA: `ROWS` keys (score kernel) or queries (value kernel)
/// by `VECS` vectors, `ROWS·VECS` accumulators plus the `VECS` loaded vectors and a
/// broadcast, within the ISA's vector registers (32 on AVX-512 and NEON, 16 on
/// AVX2 and SSE; a spilled accumulator costs more than half the speed).
/// `FMA`: the ISA has fused multiply-add (used by the softmax's `exp2`).
pub trait Shape {
    const ROWS: usize;
    const VECS: usize;
    const FMA: bool;
}

macro_rules! shape {
    ($isa:ty, $rows:literal, $vecs:literal, $fma:literal) => {
        impl Shape for $isa {
            const ROWS: usize = $rows;
            const VECS: usize = $vecs;
            const FMA: bool = $fma;
        }
    };
}

shape!(mlkern_core::simd::scalar::Scalar, 4, 2, false);
#[cfg(target_arch = "x86_64")]
shape!(mlkern_core::simd::sse::Sse, 4, 2, false);
#[cfg(target_arch = "x86_64")]
shape!(mlkern_core::simd::avx2::Avx2, 6, 2, true);
#[cfg(target_arch = "x86_64")]
shape!(mlkern_core::simd::avx512::Avx512, 4, 4, true);
#[cfg(target_arch = "aarch64")]
shape!(mlkern_core::simd::neon::Neon, 4, 4, true);

/// Calls `$f::<S, R, V>($args)` for the `(rows, vecs)` pair, one of the shapes above
/// or a 1-row / 1-vector edge.
macro_rules! with_shape {
    ($f:ident, $S:ty, $rows:expr, $vecs:expr, ($($arg:expr),*)) => {
        match ($rows, $vecs) {
            (6, 4) => $f::<$S, 6, 4>($($arg),*),
            (6, 3) => $f::<$S, 6, 3>($($arg),*),
            (6, 2) => $f::<$S, 6, 2>($($arg),*),
            (6, 1) => $f::<$S, 6, 1>($($arg),*),
            (4, 4) => $f::<$S, 4, 4>($($arg),*),
            (4, 3) => $f::<$S, 4, 3>($($arg),*),
            (4, 2) => $f::<$S, 4, 2>($($arg),*),
            (4, 1) => $f::<$S, 4, 1>($($arg),*),
            (1, 4) => $f::<$S, 1, 4>($($arg),*),
            (1, 3) => $f::<$S, 1, 3>($($arg),*),
            (1, 2) => $f::<$S, 1, 2>($($arg),*),
            (1, 1) => $f::<$S, 1, 1>($($arg),*),
            _ => unreachable!("no register tile of this shape"),
        }
    };
}

/// Rows of the next register tile when `rest` rows are left: the ISA's shape, then
/// 4, then single rows.
#[inline(always)]
fn rows_for<S: Shape>(rest: usize) -> usize {
    if rest >= S::ROWS {
        S::ROWS
    } else if rest >= 4 {
        4
    } else {
        1
    }
}

/// Queries per task (a multiple of every tier's lane count).
pub const BR: usize = 64;
/// Keys per tile.
pub const BC: usize = 64;

/// One worker's buffers, sized once per call for `(d, padded dv)`.
#[derive(Debug)]
pub struct Scratch {
    d: usize,
    dvp: usize,
    qt: Vec<f32>,
    st: Vec<f32>,
    kb: Vec<f32>,
    vb: Vec<f32>,
    o: Vec<f32>,
}

fn zeros(what: &'static str, n: usize) -> mlkern_core::Result<Vec<f32>> {
    let mut v = Vec::new();
    v.try_reserve_exact(n)
        .map_err(|_| mlkern_core::Error::out_of_memory(what, format!("{n} float32 values cannot be allocated")))?;
    v.resize(n, 0.0);
    Ok(v)
}

impl Scratch {
    /// Buffers for `d`-dimensional queries and keys and values padded to `dvp`.
    pub fn new(d: usize, dvp: usize) -> mlkern_core::Result<Self> {
        use mlkern_core::checked_size as size;
        Ok(Scratch {
            d,
            dvp,
            qt: zeros("attention scratch", size("attention scratch", d, BR)?)?,
            st: zeros("attention scratch", BC * BR)?,
            kb: zeros("attention scratch", size("attention scratch", d, BC)?)?,
            vb: zeros("attention scratch", size("attention scratch", dvp, BC)?)?,
            o: zeros("attention scratch", size("attention scratch", dvp, BR)?)?,
        })
    }
}

/// `dst[..] = src[start..start + dst.len()]` widened to f32.
#[inline(always)]
fn widen_into(src: Elems<'_>, start: usize, dst: &mut [f32]) {
    let n = dst.len();
    match src {
        Elems::F32(x) => dst.copy_from_slice(&x[start..start + n]),
        Elems::F16(x) => {
            for (d, &b) in dst.iter_mut().zip(&x[start..start + n]) {
                *d = f16_to_f32(b);
            }
        }
        Elems::Bf16(x) => {
            for (d, &b) in dst.iter_mut().zip(&x[start..start + n]) {
                *d = bf16_to_f32(b);
            }
        }
    }
}

/// `qt[c·BR + i] = scale · q[first + i·d + c]` for the task's `nq` queries, 0 in
/// the columns beyond them.
#[inline(always)]
fn load_queries(q: Elems<'_>, first: usize, nq: usize, d: usize, scale: f32, qt: &mut [f32], row: &mut [f32]) {
    for c in 0..d {
        qt[c * BR + nq..(c + 1) * BR].fill(0.0);
    }
    for i in 0..nq {
        widen_into(q, first + i * d, &mut row[..d]);
        for c in 0..d {
            qt[c * BR + i] = scale * row[c];
        }
    }
}

/// `st[r·BR + x·L ..]` for `KT` keys and `VT` query vectors: `Σ_c k[r][c]·qt[c][..]`.
///
/// # Safety
/// The tier's features are enabled; `qt` is valid for reads of `d` rows of `BR`
/// (from its column offset, `VT·LANES` values each), `k` for `KT` rows of `d` values
/// `ldk` apart, `st` for writes of `KT` rows of `VT·LANES` values `BR` apart.
#[inline(always)]
unsafe fn score_block<S: Simd<f32>, const KT: usize, const VT: usize>(
    qt: *const f32,
    k: *const f32,
    ldk: usize,
    d: usize,
    st: *mut f32,
) {
    // SAFETY: the caller's contract covers every offset below.
    unsafe {
        let mut acc = [[S::zero(); VT]; KT];
        for c in 0..d {
            let mut q = [S::zero(); VT];
            for x in 0..VT {
                q[x] = S::load(qt.add(c * BR + x * S::LANES));
            }
            for r in 0..KT {
                let kb = S::splat(*k.add(r * ldk + c));
                for x in 0..VT {
                    acc[r][x] = S::mul_add(kb, q[x], acc[r][x]);
                }
            }
        }
        for r in 0..KT {
            for x in 0..VT {
                S::store(st.add(r * BR + x * S::LANES), acc[r][x]);
            }
        }
    }
}

/// Scores of `nk` keys (rows of `k`, `ldk` apart) against the task's queries into
/// `st`. With `causal_off = Some(j0 − i0)` (a diagonal tile) a 4-key block skips
/// the query vectors that lie wholly before its first key; those entries are left
/// as they are, for the causal mask to overwrite.
///
/// # Safety
/// The tier's features are enabled; `k` is valid for reads of `nk` rows of `d`
/// values `ldk` apart; `qt.len() ≥ d·BR`, `st.len() ≥ BC·BR`, `nk ≤ BC`.
#[inline(always)]
unsafe fn scores<S: Simd<f32> + Shape>(
    qt: &[f32],
    k: *const f32,
    ldk: usize,
    nk: usize,
    d: usize,
    st: &mut [f32],
    causal_off: Option<isize>,
) {
    debug_assert!(qt.len() >= d * BR && st.len() >= BC * BR && nk <= BC);
    let l = S::LANES;
    let nv = BR / l;
    let mut jb = 0;
    while jb < nk {
        let kt = rows_for::<S>(nk - jb);
        let vmin = match causal_off {
            Some(off) => ((jb as isize + off).max(0) as usize / l).min(nv),
            None => 0,
        };
        let mut v = vmin;
        while v < nv {
            let vt = if nv - v >= S::VECS { S::VECS } else { 1 };
            // SAFETY: rows jb..jb+kt < nk of k and st, query vectors v..v+vt ≤ nv
            // of qt (BR = nv·l columns), all within the lengths asserted above.
            unsafe {
                let qp = qt.as_ptr().add(v * l);
                let kp = k.add(jb * ldk);
                let sp = st.as_mut_ptr().add(jb * BR + v * l);
                with_shape!(score_block, S, kt, vt, (qp, kp, ldk, d, sp))
            }
            v += vt;
        }
        jb += kt;
    }
}

/// `o[r][x·L ..] = rescale[r]·o[r][..] + Σ_{j < nj} p[j][r]·v[j][x·L ..]` for `RT`
/// queries and `VT` vectors of the value dimension.
///
/// # Safety
/// The tier's features are enabled; `p` is valid for reads of `nj` rows of `RT`
/// values `BR` apart, `v` for `nj` rows of `VT·LANES` values `ldv` apart, `o` for
/// reads and writes of `RT` rows of `VT·LANES` values `ldo` apart, `rescale` for `RT`.
#[inline(always)]
unsafe fn value_block<S: Simd<f32>, const RT: usize, const VT: usize>(
    p: *const f32,
    v: *const f32,
    ldv: usize,
    nj: usize,
    o: *mut f32,
    ldo: usize,
    rescale: *const f32,
) {
    // SAFETY: the caller's contract covers every offset below.
    unsafe {
        let mut acc = [[S::zero(); VT]; RT];
        for r in 0..RT {
            let a = S::splat(*rescale.add(r));
            for x in 0..VT {
                acc[r][x] = S::mul(S::load(o.add(r * ldo + x * S::LANES)), a);
            }
        }
        for j in 0..nj {
            let mut vv = [S::zero(); VT];
            for x in 0..VT {
                vv[x] = S::load(v.add(j * ldv + x * S::LANES));
            }
            for r in 0..RT {
                let pb = S::splat(*p.add(j * BR + r));
                for x in 0..VT {
                    acc[r][x] = S::mul_add(pb, vv[x], acc[r][x]);
                }
            }
        }
        for r in 0..RT {
            for x in 0..VT {
                S::store(o.add(r * ldo + x * S::LANES), acc[r][x]);
            }
        }
    }
}

/// `O ← rescale·O + P·V` for the task's `nq` queries over `nk` keys (`v` rows
/// `ldv` apart, `dvp` values each, a multiple of the lane count). With
/// `causal_off = Some(j0 − i0)` each 4-query block stops after its last allowed key.
///
/// # Safety
/// The tier's features are enabled; `v` is valid for reads of `nk` rows of `dvp`
/// values `ldv` apart; `st.len() ≥ BC·BR`, `o.len() ≥ BR·dvp`, `nq ≤ BR`, `nk ≤ BC`.
#[inline(always)]
unsafe fn accumulate<S: Simd<f32> + Shape>(
    st: &[f32],
    v: *const f32,
    ldv: usize,
    nk: usize,
    nq: usize,
    dvp: usize,
    o: &mut [f32],
    rescale: &[f32; BR],
    causal_off: Option<isize>,
) {
    debug_assert!(st.len() >= BC * BR && o.len() >= BR * dvp && nq <= BR && nk <= BC && dvp.is_multiple_of(S::LANES));
    let l = S::LANES;
    let nvec = dvp / l;
    let mut i = 0;
    while i < nq {
        let rt = rows_for::<S>(nq - i);
        let nj = match causal_off {
            // query i + rt − 1 (the block's last) may use keys j ≤ i + rt − 1 − off.
            Some(off) => ((i + rt) as isize - off).clamp(0, nk as isize) as usize,
            None => nk,
        };
        let mut x = 0;
        while x < nvec {
            let vt = if nvec - x >= S::VECS { S::VECS } else { 1 };
            // SAFETY: queries i..i+rt ≤ nq ≤ BR (columns of st, rows of o), keys
            // j < nj ≤ nk (rows of st and v), value vectors x..x+vt ≤ nvec.
            unsafe {
                let pp = st.as_ptr().add(i);
                let vp = v.add(x * l);
                let op = o.as_mut_ptr().add(i * dvp + x * l);
                let rp = rescale.as_ptr().add(i);
                with_shape!(value_block, S, rt, vt, (pp, vp, ldv, nj, op, dvp, rp))
            }
            x += vt;
        }
        i += rt;
    }
}

/// Applies `mask` (head `(b, h)`) to the scores of queries `i0..i0+nq` against
/// keys `j0..j0+nk`.
#[inline(always)]
fn apply_mask(mask: &Mask<'_>, b: usize, h: usize, i0: usize, nq: usize, j0: usize, nk: usize, st: &mut [f32]) {
    let [mb, mh, mq, mk] = mask.shape;
    let sj = usize::from(mk != 1);
    let si = if mq == 1 { 0 } else { mk };
    let sh = if mh == 1 { 0 } else { mq * mk };
    let sb = if mb == 1 { 0 } else { mh * mq * mk };
    let base = b * sb + h * sh;
    match mask.values {
        MaskValues::Keep(m) => {
            for i in 0..nq {
                let row = base + (i0 + i) * si;
                for j in 0..nk {
                    if !m[row + (j0 + j) * sj] {
                        st[j * BR + i] = f32::NEG_INFINITY;
                    }
                }
            }
        }
        MaskValues::Add(m) => {
            for i in 0..nq {
                let row = base + (i0 + i) * si;
                for j in 0..nk {
                    st[j * BR + i] += m[row + (j0 + j) * sj] * std::f32::consts::LOG2_E;
                }
            }
        }
    }
}

/// Sets the scores of key `j` against the queries before it (`i < j + off`) to `-inf`.
#[inline(always)]
fn mask_causal(st: &mut [f32], nk: usize, off: isize) {
    for (j, row) in st.chunks_exact_mut(BR).take(nk).enumerate() {
        let limit = (j as isize + off).clamp(0, BR as isize) as usize;
        row[..limit].fill(f32::NEG_INFINITY);
    }
}

/// Divides the task's output rows by their softmax sums and stores them.
#[inline(always)]
fn finish(o: &[f32], dvp: usize, dv: usize, nq: usize, sum: &[f32; BR], out: OutElems<'_>) {
    let row = |i: usize| {
        let inv = 1.0 / sum[i];
        o[i * dvp..i * dvp + dv].iter().map(move |&x| if sum[i] == 0.0 { 0.0 } else { x * inv })
    };
    match out {
        OutElems::F32(out) => {
            for i in 0..nq {
                for (d, x) in out[i * dv..(i + 1) * dv].iter_mut().zip(row(i)) {
                    *d = x;
                }
            }
        }
        OutElems::F16(out) => {
            for i in 0..nq {
                for (d, x) in out[i * dv..(i + 1) * dv].iter_mut().zip(row(i)) {
                    *d = mlkern_core::halfconv::f32_to_f16(x);
                }
            }
        }
        OutElems::Bf16(out) => {
            for i in 0..nq {
                for (d, x) in out[i * dv..(i + 1) * dv].iter_mut().zip(row(i)) {
                    *d = mlkern_core::halfconv::f32_to_bf16(x);
                }
            }
        }
    }
}

/// Task `t` (queries `t·BR ..`) of head `g` (`b·heads + h`): writes those queries'
/// output rows into `out` (`nq·dv` values).
///
/// # Safety
/// The tier's features are enabled. (Everything else is checked: `p` was validated
/// by `Problem::new`, and the sizes of `s` and `out` are asserted.)
#[inline(always)]
pub(crate) unsafe fn run_task<S: Simd<f32> + Shape>(
    p: &Problem<'_>,
    g: usize,
    t: usize,
    s: &mut Scratch,
    out: OutElems<'_>,
) {
    let dm = p.dims;
    let (d, dv, sq, sk) = (dm.d, dm.dv, dm.sq, dm.sk);
    let l = S::LANES;
    let dvp = dv.div_ceil(l) * l;
    assert!(g < dm.batch * dm.heads && t * BR < sq, "task ({g}, {t}) is outside the problem");
    assert!(s.d == d && s.dvp >= dvp, "the scratch was made for another problem");
    let i0 = t * BR;
    let nq = BR.min(sq - i0);
    assert_eq!(out.len(), nq * dv, "the output rows of task ({g}, {t})");
    let (b, h) = (g / dm.heads, g % dm.heads);

    let Scratch { qt, st, kb, vb, o, .. } = s;
    load_queries(p.q, (g * sq + i0) * d, nq, d, p.scale_log2e, qt, kb);
    let o = &mut o[..BR * dvp];
    o.fill(0.0);
    let mut run = Running::new();
    let key_end = if p.causal { sk.min(i0 + nq) } else { sk };
    let mut j0 = 0;
    while j0 < key_end {
        let nk = BC.min(key_end - j0);
        let krow = (g * sk + j0) * d;
        let kp = match p.k {
            Elems::F32(k) => k[krow..krow + nk * d].as_ptr(),
            other => {
                widen_into(other, krow, &mut kb[..nk * d]);
                kb.as_ptr()
            }
        };
        let vrow = (g * sk + j0) * dv;
        let (vp, ldv) = match p.v {
            Elems::F32(v) if dv == dvp => (v[vrow..vrow + nk * dv].as_ptr(), dv),
            other => {
                for j in 0..nk {
                    widen_into(other, vrow + j * dv, &mut vb[j * dvp..j * dvp + dv]);
                    vb[j * dvp + dv..(j + 1) * dvp].fill(0.0);
                }
                (vb.as_ptr(), dvp)
            }
        };
        let diagonal = p.causal && j0 + nk - 1 > i0;
        let off = diagonal.then_some(j0 as isize - i0 as isize);
        // SAFETY: kp holds nk rows of d values, d apart (a sub-slice of k checked
        // above, or kb); qt and st have the sizes Scratch::new gave them (asserted).
        unsafe { scores::<S>(qt, kp, d, nk, d, st, off) };
        if let Some(mask) = &p.mask {
            apply_mask(mask, b, h, i0, nq, j0, nk, st);
        }
        if let Some(off) = off {
            mask_causal(st, nk, off);
        }
        online_step::<S>(st, nk, &mut run);
        // SAFETY: vp holds nk rows of dvp values ldv apart (the checked sub-slice
        // of v when dv = dvp, else vb); o has BR·dvp values; nq ≤ BR, nk ≤ BC.
        unsafe { accumulate::<S>(st, vp, ldv, nk, nq, dvp, o, &run.rescale, off) };
        j0 += nk;
    }
    finish(o, dvp, dv, nq, &run.sum, out);
}
