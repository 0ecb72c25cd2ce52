//! Strassen–Winograd matrix product on top of the classical GEMM, and the
//! `matmul` entry point that chooses between them.
//!
//! Algorithm (Winograd's variant: 7 half-size products, 15 additions): with the
//! operands split in 2 × 2 blocks,
//! `S1 = A21 + A22, S2 = S1 - A11, S3 = A11 - A21, S4 = A12 - S2`,
//! `T1 = B12 - B11, T2 = B22 - T1, T3 = B22 - B12, T4 = T2 - B21`,
//! `M1 = A11 B11, M2 = A12 B21, M3 = S4 B22, M4 = A22 T4, M5 = S1 T1, M6 = S2 T2, M7 = S3 T3`,
//! `C11 = M1 + M2, C12 = M1 + M6 + M5 + M3, C21 = M1 + M6 + M7 - M4, C22 = M1 + M6 + M7 + M5`.
//! The products recurse while every dimension of the sub-problem is at least the
//! crossover; below it they run the classical packed GEMM (with all threads). Odd
//! dimensions are peeled: the even part goes through Strassen and the last
//! row/column/rank-1 update through the classical GEMM. Temporaries (`S`, `T` and
//! three product buffers, `(4mk + 4kn + 3mn)/4` elements per level) come from the
//! global pool. The additions are separate passes over memory (not yet folded into
//! packing as in Huang et al., SC16); at the sizes where Strassen pays they cost a
//! few per cent of the run time.
//!
//! Error: Strassen–Winograd is not componentwise stable; the normwise bound
//! (Higham, *Accuracy and Stability*, §23.2.2) grows by about a factor 18 per level:
//! `max|Ĉ - C| <= c_L · k · u · max|A| · max|B|` with `c_L ≈ 18^L` after `L` levels
//! (`tests/strassen.rs` checks this and `benches` print the measured growth).
//!
//! Crossover: [`CROSSOVER_F64`]/[`CROSSOVER_F32`] are the smallest dimensions from
//! which Strassen beats the classical GEMM, measured by `examples/gemm_sweep.rs`
//! (figures in their docs and the README).

use mlkern_core::{mem, Error, Result};

use crate::gemm::{gemm_raw, Dst, Parallelism};
use crate::mat::{MatMut, MatRef};
use crate::pack::Src;
use crate::Scalar;

/// How `matmul` multiplies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    /// Strassen when every dimension is at least the measured crossover and both
    /// operands are finite, else classical: `auto` never changes where NaN and inf
    /// appear (the classical product's pattern is NumPy's).
    Auto,
    /// The packed classical GEMM only.
    Classical,
    /// At least one Strassen level (if every dimension is ≥ 2 and both operands are
    /// finite), recursing while the sub-problems stay above the crossover. An operand
    /// holding NaN or inf is multiplied classically instead: Strassen's differences
    /// `S`, `T` and the sums of the `M` products would form `inf - inf`, turning
    /// entries that are ±inf in NumPy's product into NaN. (Finite operands so large
    /// that the sums of blocks overflow still can; the classical product may not.)
    Strassen,
}

impl Method {
    /// Parses `"auto"`, `"classical"`, `"strassen"`.
    pub fn from_name(name: &str) -> Result<Method> {
        match name {
            "auto" => Ok(Method::Auto),
            "classical" => Ok(Method::Classical),
            "strassen" => Ok(Method::Strassen),
            _ => Err(Error::invalid("method", format!("must be 'auto', 'classical' or 'strassen', got {name:?}"))),
        }
    }
}

/// `method="auto"` uses Strassen when `min(m, n, k)` is at least this (f64). Measured
/// with `examples/gemm_sweep.rs`, Strassen / classical GFLOP/s (classical-equivalent),
/// AMD EPYC Zen 5, 1 thread / 2 threads: 0.88 / 0.77 at 1024, 1.03 / 0.93 at 2048,
/// 1.02 / 0.98 at 3072, 1.19 / 1.10 at 4096 (an earlier Zen 5 session: 1.05–1.07 at
/// 3072). 3072 is where it stops losing on one thread.
pub const CROSSOVER_F64: usize = 3072;
/// The same for f32 on one thread: 0.92 at 1024, 0.93 at 2048, 0.97 at 3072, 1.02 at
/// 4096 against the 64 × 6 tile (it was 1.05 at 3072 against the slower 32 × 12 one).
/// With two or more threads f32 Strassen lost at every size measured (0.79–0.89 up to
/// 4096), so `auto` stays classical there.
pub const CROSSOVER_F32: usize = 4096;
/// Sub-products recurse while their smallest dimension is at least this.
pub const LEAF_F64: usize = 2048;
/// The same for f32.
pub const LEAF_F32: usize = 1024;

/// The `auto` crossover for element type `T` on `threads` threads. The only place
/// where a result depends on the thread count: float32 with every dimension at
/// least [`CROSSOVER_F32`] is Strassen on one thread and classical on more.
pub fn crossover<T>(threads: usize) -> usize {
    match (std::mem::size_of::<T>() == 4, threads > 1) {
        (true, true) => usize::MAX,
        (true, false) => CROSSOVER_F32,
        (false, _) => CROSSOVER_F64,
    }
}

fn leaf<T>() -> usize {
    if std::mem::size_of::<T>() == 4 {
        LEAF_F32
    } else {
        LEAF_F64
    }
}

/// `out = a @ b` by `method`.
pub fn matmul<T: Scalar>(
    a: MatRef<'_, T>,
    b: MatRef<'_, T>,
    mut out: MatMut<'_, T>,
    method: Method,
    par: Parallelism,
) -> Result<()> {
    crate::check_product(&a, &b, &out)?;
    let (m, k, n) = (a.rows, a.cols, b.cols);
    let small = m.min(n).min(k);
    let cross = leaf::<T>();
    let levels_from_top = match method {
        Method::Classical => false,
        Method::Auto => small >= crossover::<T>(par.threads()) && all_finite(&a) && all_finite(&b),
        Method::Strassen => small >= 2 && all_finite(&a) && all_finite(&b),
    };
    let c = Dst { ptr: out.ptr(), rs: out.rs, cs: out.cs };
    let (sa, sb) = (Src { ptr: a.ptr(), rs: a.rs, cs: a.cs }, Src { ptr: b.ptr(), rs: b.rs, cs: b.cs });
    // SAFETY: views checked to hold every element; `out` is exclusively borrowed and
    // distinct from the inputs (a Rust borrow guarantees it).
    unsafe {
        if levels_from_top {
            strassen(m, n, k, sa, sb, c, cross, par.threads(), true);
        } else {
            gemm_raw(m, n, k, T::ONE, sa, sb, T::ZERO, c, par.threads());
        }
    }
    Ok(())
}

/// Whether every element of `x` is finite: one pass along its smaller stride,
/// `O(rows · cols)` against the product's `O(m · n · k)`.
fn all_finite<T: Scalar>(x: &MatRef<'_, T>) -> bool {
    let (outer, inner, so, si) = if x.rs <= x.cs { (x.cols, x.rows, x.cs, x.rs) } else { (x.rows, x.cols, x.rs, x.cs) };
    // 0·x is ±0 for finite x and NaN for ±inf and NaN (no branch: vectorises).
    (0..outer).all(|o| {
        (0..inner).fold(T::ZERO, |acc, i| {
            let v = x.data[o * so + i * si];
            acc + v * T::ZERO
        }) == T::ZERO
    })
}

impl<T> Src<T> {
    #[inline(always)]
    unsafe fn at(self, i: usize, j: usize) -> Src<T> {
        // SAFETY: the caller keeps (i, j) inside the matrix.
        Src { ptr: unsafe { self.ptr.add(i * self.rs + j * self.cs) }, rs: self.rs, cs: self.cs }
    }
}

impl<T> Dst<T> {
    #[inline(always)]
    unsafe fn sub(self, i: usize, j: usize) -> Dst<T> {
        // SAFETY: the caller keeps (i, j) inside the matrix.
        Dst { ptr: unsafe { self.ptr.add(i * self.rs + j * self.cs) }, rs: self.rs, cs: self.cs }
    }
    fn src(self) -> Src<T> {
        Src { ptr: self.ptr, rs: self.rs, cs: self.cs }
    }
}

/// Calls `column(j)` for every `j < n` of an `(m, n)` elementwise pass, columns split
/// across `threads` when the pass is large (the additions are memory-bound).
fn by_columns(m: usize, n: usize, threads: usize, column: impl Fn(usize) + Sync) {
    let chunks = if threads > 1 && m.saturating_mul(n) >= 1 << 16 { 4 * threads } else { 1 };
    let per = n.div_ceil(chunks).max(1);
    mlkern_core::threads::parallel_for(n.div_ceil(per), threads, |ci| {
        (ci * per..((ci + 1) * per).min(n)).for_each(&column)
    });
}

/// `z = x + sy · y` elementwise over `(m, n)`; `z` may be `x` or `y` itself.
/// Column-contiguous views (the usual case after orientation) take a vectorised
/// loop; columns are split across `threads` (the additions are memory-bound).
///
/// # Safety
/// All three views valid for the block.
unsafe fn lin<T: Scalar>(m: usize, n: usize, x: Src<T>, sy: T, y: Src<T>, z: Dst<T>, threads: usize) {
    let contiguous = x.rs == 1 && y.rs == 1 && z.rs == 1;
    by_columns(m, n, threads, |j| {
        let _ = (&x, &y, &z); // capture the Send/Sync wrappers, not their raw fields
                              // SAFETY: column j of every view is inside the block (caller); `z` may alias
                              // `x`/`y` only elementwise (each element read before it is written).
        unsafe {
            let (xp, yp, zp) = (x.ptr.add(j * x.cs), y.ptr.add(j * y.cs), z.ptr.add(j * z.cs));
            if contiguous {
                for i in 0..m {
                    *zp.add(i) = *xp.add(i) + sy * *yp.add(i);
                }
            } else {
                for i in 0..m {
                    *zp.add(i * z.rs) = *xp.add(i * x.rs) + sy * *yp.add(i * y.rs);
                }
            }
        }
    });
}

/// `out_r = f(x11, x12, x21, x22)_r` for r < 4, elementwise over `(m, n)`: the four
/// operand sums of one side (`S1..S4` or `T1..T4`) in one pass over memory.
///
/// # Safety
/// All eight views valid for the block; outputs distinct from the inputs.
unsafe fn quad<T: Scalar>(
    m: usize,
    n: usize,
    x: [Src<T>; 4],
    out: [Dst<T>; 4],
    threads: usize,
    f: impl Fn([T; 4]) -> [T; 4] + Sync,
) {
    let contiguous = x.iter().all(|v| v.rs == 1) && out.iter().all(|v| v.rs == 1);
    by_columns(m, n, threads, |j| {
        let _ = (&x, &out);
        // SAFETY: column j of every view is inside the block (caller).
        unsafe {
            let xp = x.map(|v| v.ptr.add(j * v.cs));
            let op = out.map(|v| v.ptr.add(j * v.cs));
            if contiguous {
                for i in 0..m {
                    let r = f([*xp[0].add(i), *xp[1].add(i), *xp[2].add(i), *xp[3].add(i)]);
                    for q in 0..4 {
                        *op[q].add(i) = r[q];
                    }
                }
            } else {
                for i in 0..m {
                    let r = f(std::array::from_fn(|q| *xp[q].add(i * x[q].rs)));
                    for q in 0..4 {
                        *op[q].add(i * out[q].rs) = r[q];
                    }
                }
            }
        }
    });
}

/// Sizes of one level's temporaries: `(mh·kh, kh·nh, mh·nh, 4·mh·kh + 4·kh·nh + 3·mh·nh)`,
/// `None` on overflow.
fn temporaries_len(mh: usize, kh: usize, nh: usize) -> Option<(usize, usize, usize, usize)> {
    let (sa, sb, sc) = (mh.checked_mul(kh)?, kh.checked_mul(nh)?, mh.checked_mul(nh)?);
    let total = sa.checked_mul(4)?.checked_add(sb.checked_mul(4)?)?.checked_add(sc.checked_mul(3)?)?;
    Some((sa, sb, sc, total))
}

/// `C = A · B` (overwrite) by Strassen–Winograd; see the module docs.
///
/// # Safety
/// As [`gemm_raw`]: `a`, `b` readable, `c` writable with distinct elements, no overlap.
unsafe fn strassen<T: Scalar>(
    m: usize,
    n: usize,
    k: usize,
    a: Src<T>,
    b: Src<T>,
    c: Dst<T>,
    cross: usize,
    threads: usize,
    top: bool,
) {
    let small = m.min(n).min(k);
    // SAFETY: every block below lies inside A, B, C or a temporary of the stated size.
    unsafe {
        if small < 2 || (!top && small < cross) {
            return gemm_raw(m, n, k, T::ONE, a, b, T::ZERO, c, threads);
        }
        if c.rs != 1 && c.cs == 1 {
            // Row-major C: recurse on Cᵀ = Bᵀ Aᵀ so that C and the (column-major)
            // temporaries are walked contiguously by the additions.
            let (at, bt) = (Src { ptr: b.ptr, rs: b.cs, cs: b.rs }, Src { ptr: a.ptr, rs: a.cs, cs: a.rs });
            return strassen(n, m, k, at, bt, Dst { ptr: c.ptr, rs: c.cs, cs: c.rs }, cross, threads, top);
        }
        let (mh, kh, nh) = (m / 2, k / 2, n / 2);
        // k may be huge behind a zero-stride view: sizes are checked, and a size that
        // overflows or cannot be allocated falls back to the classical product.
        let sizes = temporaries_len(mh, kh, nh);
        let Some((sz_a, sz_b, sz_c, total)) = sizes else {
            return gemm_raw(m, n, k, T::ONE, a, b, T::ZERO, c, threads);
        };
        let Ok(mut buf) = mem::global().take::<T>(total) else {
            return gemm_raw(m, n, k, T::ONE, a, b, T::ZERO, c, threads);
        };
        let base = buf.slice_mut::<T>(total).as_mut_ptr();
        let tmp = Temporaries::carve(base, (mh, kh), (sz_a, sz_b, sz_c));
        let half = Half { mh, kh, nh, cross, threads };
        half.operand_sums(a, b, &tmp);
        half.products_into(a, b, c, &tmp);
        drop(buf);
        peel_odd_edges(m, n, k, a, b, c, threads);
    }
}

/// One level's temporaries: the operand sums `S1..S4` (`mh × kh`), `T1..T4`
/// (`kh × nh`) and three product buffers `P, Q, R` (`mh × nh`), column-major.
struct Temporaries<T> {
    s: [Dst<T>; 4],
    t: [Dst<T>; 4],
    p: Dst<T>,
    q: Dst<T>,
    r: Dst<T>,
}

impl<T> Temporaries<T> {
    /// Carves the temporaries out of one buffer at `base` of
    /// `4·sz_a + 4·sz_b + 3·sz_c` elements.
    ///
    /// # Safety
    /// `base` valid for that many elements.
    unsafe fn carve(base: *mut T, (mh, kh): (usize, usize), (sz_a, sz_b, sz_c): (usize, usize, usize)) -> Self {
        // SAFETY: every offset is inside the buffer (caller).
        let tmp = |off: usize, rows: usize| Dst { ptr: unsafe { base.add(off) }, rs: 1, cs: rows };
        let [p, q, r] = std::array::from_fn(|i| tmp(4 * sz_a + 4 * sz_b + i * sz_c, mh));
        Temporaries {
            s: std::array::from_fn(|i| tmp(i * sz_a, mh)),
            t: std::array::from_fn(|i| tmp(4 * sz_a + i * sz_b, kh)),
            p,
            q,
            r,
        }
    }
}

/// The half-size problem of one Strassen level.
#[derive(Clone, Copy)]
struct Half {
    mh: usize,
    kh: usize,
    nh: usize,
    cross: usize,
    threads: usize,
}

impl Half {
    /// `S1..S4` from the blocks of `A` and `T1..T4` from those of `B` (Winograd's
    /// operand sums), one pass over each operand.
    ///
    /// # Safety
    /// `a`, `b` readable over `2mh × 2kh` resp. `2kh × 2nh`; `tmp` as carved.
    unsafe fn operand_sums<T: Scalar>(self, a: Src<T>, b: Src<T>, tmp: &Temporaries<T>) {
        let Half { mh, kh, nh, threads, .. } = self;
        // SAFETY: the blocks lie inside A, B and the temporaries (caller).
        unsafe {
            let (a11, a12, a21, a22) = (a, a.at(0, kh), a.at(mh, 0), a.at(mh, kh));
            let (b11, b12, b21, b22) = (b, b.at(0, nh), b.at(kh, 0), b.at(kh, nh));
            quad(mh, kh, [a11, a12, a21, a22], tmp.s, threads, |[x11, x12, x21, x22]| {
                let s1 = x21 + x22;
                let s2 = s1 - x11;
                [s1, s2, x11 - x21, x12 - s2]
            });
            quad(kh, nh, [b11, b12, b21, b22], tmp.t, threads, |[y11, y12, y21, y22]| {
                let t1 = y12 - y11;
                let t2 = y22 - t1;
                [t1, t2, y22 - y12, t2 - y21]
            });
        }
    }

    /// The seven half-size products (recursing) and their sums into the four
    /// blocks of `C`, in the order that needs only three product buffers.
    ///
    /// # Safety
    /// `a`, `b` readable and `c` writable over the even part; `tmp` holds the
    /// operand sums of [`Half::operand_sums`].
    unsafe fn products_into<T: Scalar>(self, a: Src<T>, b: Src<T>, c: Dst<T>, tmp: &Temporaries<T>) {
        let Half { mh, kh, nh, cross, threads } = self;
        let (s, t, p, q, r) = (&tmp.s, &tmp.t, tmp.p, tmp.q, tmp.r);
        let one = T::ONE;
        // SAFETY: the blocks lie inside A, B, C and the temporaries (caller).
        unsafe {
            let (a11, a12, a22) = (a, a.at(0, kh), a.at(mh, kh));
            let (b11, b21, b22) = (b, b.at(kh, 0), b.at(kh, nh));
            let (c11, c12, c21, c22) = (c, c.sub(0, nh), c.sub(mh, 0), c.sub(mh, nh));
            let rec = |x: Src<T>, y: Src<T>, z: Dst<T>| strassen(mh, nh, kh, x, y, z, cross, threads, false);
            rec(a11, b11, p); // M1
            rec(a12, b21, c11); // M2
            lin(mh, nh, c11.src(), one, p.src(), c11, threads); // C11 = M1 + M2
            rec(s[1].src(), t[1].src(), r); // M6
            lin(mh, nh, p.src(), one, r.src(), p, threads); // P = U2 = M1 + M6
            rec(s[2].src(), t[2].src(), r); // M7
            lin(mh, nh, p.src(), one, r.src(), c21, threads); // C21 = U3 = U2 + M7
            rec(s[0].src(), t[0].src(), q); // M5
            lin(mh, nh, c21.src(), one, q.src(), c22, threads); // C22 = U3 + M5
            rec(s[3].src(), b22, r); // M3
            lin(mh, nh, p.src(), one, q.src(), c12, threads); // C12 = U2 + M5
            lin(mh, nh, c12.src(), one, r.src(), c12, threads); //      + M3
            rec(a22, t[3].src(), r); // M4
            lin(mh, nh, c21.src(), -one, r.src(), c21, threads); // C21 = U3 - M4
        }
    }
}

/// Odd dimensions, peeled with the classical GEMM after the even part: the rank-1
/// update of the last `k` step, then the last column and the last row of `C`.
///
/// # Safety
/// As [`strassen`].
#[allow(clippy::too_many_arguments)]
unsafe fn peel_odd_edges<T: Scalar>(m: usize, n: usize, k: usize, a: Src<T>, b: Src<T>, c: Dst<T>, threads: usize) {
    let (m2, k2, n2) = (m / 2 * 2, k / 2 * 2, n / 2 * 2);
    let one = T::ONE;
    // SAFETY: the edges lie inside A, B and C (caller).
    unsafe {
        if k2 < k {
            gemm_raw(m2, n2, 1, one, a.at(0, k2), b.at(k2, 0), one, c, threads);
        }
        if n2 < n {
            gemm_raw(m2, 1, k, one, a, b.at(0, n2), T::ZERO, c.sub(0, n2), threads);
        }
        if m2 < m {
            gemm_raw(1, n, k, one, a.at(m2, 0), b, T::ZERO, c.sub(m2, 0), threads);
        }
    }
}
