//! Classical GEMM, `C = alpha · A · B + beta · C`, BLIS-style.
//!
//! Loops (Goto & van de Geijn 2008; Van Zee & van de Geijn 2015), outside in:
//! `jc` over `NC`-column blocks of `B`/`C` → `pc` over `KC`-deep slices, where the
//! `KC × NC` block of `B` is packed once into `NR`-wide panels (shared by all
//! threads, sized for L3) → tasks over `MC`-row blocks of `A` (each packs its block
//! into `MR`-high panels, sized for L2) × ranges of `B` panels → `jr` over `B`
//! panels (one `KC × NR` panel stays in L1) → `ir` over `A` panels → the tier's
//! micro-kernel on an `MR × NR` register tile.
//!
//! Block sizes: `KC` keeps one `B̃` micro-panel of the tier's wider tile within 24
//! KiB of L1 (`KC · NR · size`, clamped to 64..=512: 512 for AVX-512 f32 (NR 12 on the
//! narrow tile) and f64 (NR 6); both tiles of a tier share it), `MC` keeps the packed
//! `A` block within half of a 1 MiB L2 (256 rows of the 64 × 6 f32 tile at KC 512, 128
//! for f64), `NC` keeps the packed `B` block within a few MiB of L3 — BLIS's Zen 4
//! values, checked by the sweep in `examples/gemm_sweep.rs` (on Zen 5, KC 256–512 and
//! MC 128–256 measured within noise of each other). `MC` is then balanced so the row
//! blocks have equal height.
//!
//! Parallelism (Rayon, [`Parallelism`]): tasks are (row block × column range)
//! pairs claimed dynamically; each element of C is still summed over `k` in the
//! same order whatever the partition, so results do not depend on the thread
//! count. When the output is small and `k` large (`64 × 100 000 @ 100 000 × 32`),
//! `k` is cut into [`K_SPLIT_PARTS`] (at most) chunks whose boundaries depend only
//! on the shape and the tier's `KC` — never on the thread count, and also on one
//! thread — computed concurrently and added into C in chunk order: bitwise the
//! same result on 1, 2 or more threads. (Only if the chunks' scratch cannot be
//! allocated does a call fall back to the unsplit order: rounding then differs.)
//!
//! Skinny products: an operand whose panels would be reused by at most
//! [`IN_PLACE_MAX_REUSE`] micro-panels of the other is not packed; the micro-kernel
//! reads it in place at its strides (`micro_tile_strided`), and only its partial
//! edge panel is packed. For `X @ Ω` with `X` 5 000×2 000 and `Ω` 2 000×60 this took
//! float64 from 54 to 109 GFLOP/s on one core: the transposing pack of `X` cost as
//! much as the FMAs.
//!
//! Orientation: the micro-kernel writes column-major tiles. A row-major `C` is
//! computed as `Cᵀ = Bᵀ Aᵀ` (free: only strides swap). A `C` with no unit stride
//! goes through a small tile buffer.
//!
//! Error bound (any order of accumulation used here): `|Ĉ - C| <= (γ_k |A||B|)·|alpha| + u|beta C|`
//! elementwise, to first order (`γ_k = k u / (1 - k u)`).
//!
//! Memory: the packed panels come from [`mlkern_core::mem::global`]; after the
//! first call of a shape, a call allocates nothing.

use crate::dispatch::{self, GemmMicro};
pub use mlkern_core::threads::Parallelism;
use mlkern_core::{mem, threads, Result};

use crate::mat::{MatMut, MatRef};
use crate::pack::{pack_a, pack_b, Src};
use crate::Scalar;

/// Elements of the stack buffer an edge tile is computed into (`MR · NR` of every
/// tier fits: checked at compile time in `dispatch.rs`).
pub(crate) const EDGE_TILE_LEN: usize = 512;

/// Cache block sizes for one micro-kernel shape.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Blocking {
    pub mr: usize,
    pub nr: usize,
    pub kc: usize,
    pub mc: usize,
    pub nc: usize,
}

const L1_HALF: usize = 24 << 10;
const L2_HALF: usize = 512 << 10;
const L3_PART: usize = 6 << 20;

impl Blocking {
    /// Block sizes for a product with inner dimension `k`: when `k < KC` the
    /// slices are shallower, so `MC` and `NC` grow to fill the same cache budget
    /// (fewer, larger tasks; e.g. `100 000×32 @ 32×64`).
    /// `KC` is the same for both tiles of a tier (sized for the wider `B̃` panel), so
    /// an entry of C is summed in the same order whichever tile computes it.
    pub(crate) fn for_kernel<T: Scalar>(g: &GemmMicro<T>, k: usize) -> Self {
        let size = std::mem::size_of::<T>();
        let (mr, nr) = (g.mr, g.nr);
        let tiles = dispatch::kernels::<T>();
        let widest = tiles.gemm.nr.max(tiles.gemm_narrow.nr);
        let kc = (L1_HALF / (widest * size)).clamp(64, 512) / 8 * 8;
        let depth = k.clamp(1, kc);
        let mc = ((L2_HALF / (depth * size)) / mr).max(1) * mr;
        let nc = ((L3_PART / (depth * size)) / nr).max(1) * nr;
        Blocking { mr, nr, kc, mc, nc }
    }
}

/// A strided destination: element `(i, j)` at `ptr + i * rs + j * cs`.
#[derive(Clone, Copy)]
pub(crate) struct Dst<T> {
    pub ptr: *mut T,
    pub rs: usize,
    pub cs: usize,
}

// SAFETY: Src/Dst are raw views handed to worker threads; the driver guarantees that
// concurrent tasks write disjoint elements and that the memory outlives the call.
unsafe impl<T: Send> Send for Src<T> {}
// SAFETY: as above.
unsafe impl<T: Sync> Sync for Src<T> {}
// SAFETY: as above.
unsafe impl<T: Send> Send for Dst<T> {}
// SAFETY: as above.
unsafe impl<T: Sync> Sync for Dst<T> {}

impl<T> Dst<T> {
    /// # Safety
    /// `(i, j)` must be inside the destination.
    #[inline(always)]
    unsafe fn at(self, i: usize, j: usize) -> *mut T {
        // SAFETY: in bounds (caller).
        unsafe { self.ptr.add(i * self.rs + j * self.cs) }
    }
}

/// The register tile for a product whose `MR` side (rows of C as the driver
/// orients it) has `rows` rows: the tier's narrow tile when `rows` fits in its `mr`
/// and the wide tile's panel would be at least half empty, else the wide tile.
pub(crate) fn tile_for<T: Scalar>(rows: usize) -> GemmMicro<T> {
    let k = dispatch::kernels::<T>();
    if k.gemm_narrow.mr < k.gemm.mr && rows <= k.gemm_narrow.mr {
        k.gemm_narrow
    } else {
        k.gemm
    }
}

/// The active tier's register tile and cache blocks for `T`, `rows` rows on the
/// tile's `MR` side and inner dimension `k`, as `(mr, nr, kc, mc, nc)`: what tests
/// build their edge shapes from.
#[doc(hidden)]
pub fn block_sizes<T: Scalar>(rows: usize, k: usize) -> (usize, usize, usize, usize, usize) {
    let b = Blocking::for_kernel(&tile_for::<T>(rows), k);
    (b.mr, b.nr, b.kc, b.mc, b.nc)
}

/// `C = alpha · A · B + beta · C` for `A: (m, k)`, `B: (k, n)`, `C: (m, n)` with any
/// strides. `beta == 0` overwrites `C` without reading it (NaNs in `C` do not
/// propagate), as BLAS does; `alpha == 0` or `k == 0` only scales `C`.
pub fn gemm<T: Scalar>(
    alpha: T,
    a: MatRef<'_, T>,
    b: MatRef<'_, T>,
    beta: T,
    mut c: MatMut<'_, T>,
    par: Parallelism,
) -> Result<()> {
    crate::check_product(&a, &b, &c)?;
    let (m, k, n) = (a.rows, a.cols, b.cols);
    let dst = Dst { ptr: c.ptr(), rs: c.rs, cs: c.cs };
    let (sa, sb) = (Src { ptr: a.ptr(), rs: a.rs, cs: a.cs }, Src { ptr: b.ptr(), rs: b.rs, cs: b.cs });
    // SAFETY: the views were checked to hold every element; `c` is borrowed mutably
    // for the call, so nothing else reads or writes it.
    unsafe { gemm_raw(m, n, k, alpha, sa, sb, beta, dst, par.threads()) };
    Ok(())
}

/// `C = beta · C` (`beta == 0`: zeros, without reading C).
///
/// # Safety
/// `c` valid for the `(m, n)` block.
pub(crate) unsafe fn scale<T: Scalar>(m: usize, n: usize, beta: T, c: Dst<T>) {
    if beta == T::ONE {
        return;
    }
    for j in 0..n {
        for i in 0..m {
            // SAFETY: inside the block (caller).
            unsafe {
                let p = c.at(i, j);
                *p = if beta == T::ZERO { T::ZERO } else { beta * *p };
            }
        }
    }
}

/// The driver behind [`gemm`], on raw strided views.
///
/// # Safety
/// `a`, `b` valid for reads of `(m, k)` resp. `(k, n)`; `c` valid for reads and
/// writes of `(m, n)`, with pairwise distinct elements, not overlapping `a` or `b`.
pub(crate) unsafe fn gemm_raw<T: Scalar>(
    m: usize,
    n: usize,
    k: usize,
    alpha: T,
    a: Src<T>,
    b: Src<T>,
    beta: T,
    c: Dst<T>,
    threads: usize,
) {
    // SAFETY: forwarded caller guarantees.
    unsafe { gemm_raw_ordered(m, n, k, alpha, a, b, beta, c, threads, KSplit::ByShape) }
}

/// Whether a product may cut `k` into chunks ([`gemm_split_k`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum KSplit {
    /// When the output is small for `k`: the chunk boundaries, and so the rounding,
    /// depend on `(m, n, k)`.
    ByShape,
    /// Never: every entry is summed over `k` in the same order (`KC` slices in
    /// order, each sequential), whatever `m`, `n` and the thread count; its rounding
    /// depends only on `k`, its row and column, and the tier.
    Never,
}

/// [`gemm_raw`] with the `k`-split rule chosen by the caller.
///
/// # Safety
/// As [`gemm_raw`].
#[allow(clippy::too_many_arguments)]
pub(crate) unsafe fn gemm_raw_ordered<T: Scalar>(
    m: usize,
    n: usize,
    k: usize,
    alpha: T,
    a: Src<T>,
    b: Src<T>,
    beta: T,
    c: Dst<T>,
    threads: usize,
    split: KSplit,
) {
    if m == 0 || n == 0 {
        return;
    }
    // SAFETY: every access below stays inside the blocks the caller vouched for.
    unsafe {
        if k == 0 || alpha == T::ZERO {
            scale(m, n, beta, c);
            return;
        }
        // About 2²³ multiply-adds (~40 µs on one core at float32) per extra thread:
        // below that, waking the pool costs more than it saves (measured on Zen 5:
        // 128³ took 21 µs on one thread and 28 µs on two, 256×128 @ 128×128 39 and
        // 47 µs; 256³ 155 and 124 µs).
        let threads = threads.min(1 + m.saturating_mul(n).saturating_mul(k) / (1 << 23));
        if c.rs != 1 && c.cs == 1 && !keeps_row_major_orientation(m, n, &a, &b) {
            // Row-major C: compute Cᵀ = Bᵀ Aᵀ, whose tiles are column-major.
            let (at, bt) = (Src { ptr: b.ptr, rs: b.cs, cs: b.rs }, Src { ptr: a.ptr, rs: a.cs, cs: a.rs });
            let ct = Dst { ptr: c.ptr, rs: c.cs, cs: c.rs };
            return gemm_oriented(n, m, k, alpha, at, bt, beta, ct, threads, split);
        }
        gemm_oriented(m, n, k, alpha, a, b, beta, c, threads, split)
    }
}

/// Whether a row-major `C` is computed as it stands (tiles copied out through the
/// tile buffer) rather than as `Cᵀ = Bᵀ Aᵀ`: when only this orientation lets the
/// big operand be read in place as `B̃`, the broadcast side. `Qᵀ X` of randomized
/// SVD (60×5 000 @ 5 000×2 000): transposed, X is the in-place `Ã` at 93 GFLOP/s
/// float64 on one core; as it stands, X is the in-place `B̃` at 101 (2 threads:
/// 159 → 184), despite the tile copies.
fn keeps_row_major_orientation<T: Scalar>(m: usize, n: usize, a: &Src<T>, b: &Src<T>) -> bool {
    // Transposed, the product is Bᵀ Aᵀ: its B̃ side is Aᵀ, facing n rows.
    let at = Src { ptr: a.ptr, rs: a.cs, cs: a.rs };
    reads_b_in_place(m, tile_for::<T>(m).mr, b) && !reads_b_in_place(n, tile_for::<T>(n).mr, &at)
}

/// How many chunks of `k` a product with this small an output is cut into (at
/// most; see [`gemm_split_k`]).
pub(crate) const K_SPLIT_PARTS: usize = 8;

/// Output this small relative to `k` splits `k` into chunks instead of rows: about
/// four per thread on two threads, claimed dynamically, so that a helper thread
/// that wakes late (a descheduled vCPU on a shared machine) still takes its share
/// instead of leaving the caller to run a whole half alone (measured: with two
/// parts, single calls of `64×100 000 @ 100 000×32` took 5 or 10 ms at random).
/// The count depends on the shape only, not on the thread count, so that the
/// summation order (and so the result) is the same on any number of threads.
fn split_k(m: usize, n: usize, k: usize, kc: usize) -> usize {
    if k < 4 * kc || m.saturating_mul(n) > k.saturating_mul(64) {
        return 1;
    }
    K_SPLIT_PARTS.min(k / (2 * kc)).max(1)
}

/// The driver once `C` has a unit row stride (or none): the `k`-split for small
/// outputs, else the blocked loops.
///
/// # Safety
/// As [`gemm_raw`].
#[allow(clippy::too_many_arguments)]
unsafe fn gemm_oriented<T: Scalar>(
    m: usize,
    n: usize,
    k: usize,
    alpha: T,
    a: Src<T>,
    b: Src<T>,
    beta: T,
    c: Dst<T>,
    threads: usize,
    split: KSplit,
) {
    let g = tile_for::<T>(m);
    let blk = Blocking::for_kernel(&g, k);
    let parts = if split == KSplit::ByShape { split_k(m, n, k, blk.kc) } else { 1 };
    // SAFETY: forwarded caller guarantees.
    unsafe {
        if parts > 1 {
            gemm_split_k(m, n, k, alpha, a, b, beta, c, parts, threads, &g, blk);
        } else {
            gemm_blocked(m, n, k, alpha, a, b, beta, c, threads, &g, blk);
        }
    }
}

/// The BLIS loop nest: `jc` over `NC`-column blocks, `pc` over `KC`-deep slices
/// (the `B` block prepared once per slice by [`prepare_b_block`]), then tasks over
/// row blocks × ranges of `B` panels ([`run_task`]), claimed by the threads.
///
/// # Safety
/// As [`gemm_raw`].
#[allow(clippy::too_many_arguments)]
unsafe fn gemm_blocked<T: Scalar>(
    m: usize,
    n: usize,
    k: usize,
    alpha: T,
    a: Src<T>,
    b: Src<T>,
    beta: T,
    c: Dst<T>,
    threads: usize,
    g: &GemmMicro<T>,
    blk: Blocking,
) {
    // SAFETY: forwarded caller guarantees.
    unsafe {
        if beta != T::ZERO && beta != T::ONE {
            scale(m, n, beta, c);
        }
        let overwrite_first = beta == T::ZERO;
        let b_in_place = reads_b_in_place(m, blk.mr, &b);
        // Bounded by the block sizes (KC·NC): no user size multiplies here.
        let bbuf_len = blk.kc * n.min(blk.nc).div_ceil(blk.nr) * blk.nr;
        let Ok(mut bbuf) = mem::global().take::<T>(bbuf_len) else {
            return gemm_fallback(m, n, k, alpha, a, b, overwrite_first, c);
        };
        let bpack = Dst { ptr: bbuf.slice_mut::<T>(bbuf_len).as_mut_ptr(), rs: 0, cs: 0 };
        let driver =
            Driver { alpha, a, b, c, g: *g, blk, a_in_place: reads_a_in_place(n, alpha, &blk, &a), bpack, bbuf_len };
        let (row_blocks, mc) = row_partition(m, threads, b_in_place, &blk);
        for jc in (0..n).step_by(blk.nc) {
            let ncb = blk.nc.min(n - jc);
            let panels = ncb.div_ceil(blk.nr);
            // Enough tasks for every thread (and some balance), each at least 4 panels
            // wide. But when B is read in place and A packed, every task packs the
            // whole A block of its rows again: then one task per thread (256³ with a
            // transposed B, float32, two threads: four tasks took 224 µs, two 178 µs;
            // one thread 196 µs).
            let tasks = if b_in_place && !driver.a_in_place { threads } else { 2 * threads };
            let col_splits = tasks.div_ceil(row_blocks).clamp(1, panels.div_ceil(4).max(1));
            let per_split = panels.div_ceil(col_splits);
            for pc in (0..k).step_by(blk.kc) {
                let kcb = blk.kc.min(k - pc);
                let bsrc = Src { ptr: b.ptr.add(pc * b.rs + jc * b.cs), rs: b.rs, cs: b.cs };
                let b_strided = prepare_b_block(bsrc, kcb, ncb, &blk, b_in_place, bpack, threads);
                let slice = Slice { jc, pc, kcb, ncb, accumulate: !(pc == 0 && overwrite_first), b_strided };
                threads::parallel_for(row_blocks * col_splits, threads, |task| {
                    let _ = (&driver, &slice); // capture the Send/Sync wrappers, not their raw fields
                    let (rb, cs) = (task / col_splits, task % col_splits);
                    let ic = rb * mc;
                    let prange = (cs * per_split).min(panels)..((cs + 1) * per_split).min(panels);
                    if ic < m && !prange.is_empty() {
                        run_task(&driver, &slice, ic, mc.min(m - ic), prange);
                    }
                });
            }
        }
    }
}

/// Row blocks of the blocked driver and their height (whole micro-panels). At least
/// one row block per thread when m allows: splitting columns instead would pack the
/// same A block once per task. But when B is read in place, A is a few panels and B
/// is the big operand: then threads split the columns, so that each reads its own
/// part of B (split rows, every thread streamed all of B: `X @ Ω` ran 11 ms on 2
/// threads, 11 on 1).
fn row_partition(m: usize, threads: usize, b_in_place: bool, blk: &Blocking) -> (usize, usize) {
    let by_cache = m.div_ceil(blk.mc);
    let row_blocks = if b_in_place { by_cache } else { by_cache.max(threads.min(m.div_ceil(blk.mr))) };
    (row_blocks, m.div_ceil(row_blocks).div_ceil(blk.mr) * blk.mr)
}

/// Prepares the `kcb × ncb` block of `B` at `bsrc` for the macro-loops: packed into
/// `NR`-wide panels at `bpack` (in parallel for big blocks), or, read in place,
/// only its partial last panel packed (zero-padded to `NR` columns); returns the
/// in-place view then.
///
/// # Safety
/// `bsrc` readable over the block; `bpack` writable for `kcb · ceil(ncb / NR) · NR`
/// elements and not in use by anyone else.
unsafe fn prepare_b_block<T: Scalar>(
    bsrc: Src<T>,
    kcb: usize,
    ncb: usize,
    blk: &Blocking,
    b_in_place: bool,
    bpack: Dst<T>,
    threads: usize,
) -> Option<InPlace<T>> {
    let panels = ncb.div_ceil(blk.nr);
    // SAFETY: forwarded caller guarantees; concurrent packers take disjoint panels.
    unsafe {
        if b_in_place {
            if !ncb.is_multiple_of(blk.nr) {
                pack_b(bsrc, kcb, ncb, blk.nr, panels - 1..panels, bpack.ptr);
            }
            return Some(InPlace { ptr: bsrc.ptr, step: bsrc.rs, col: bsrc.cs });
        }
        // Parallel packing costs a pool wake-up: only worth it for big blocks.
        let pack_chunks = if threads > 1 && kcb * ncb >= 1 << 18 { threads } else { 1 };
        let per_chunk = panels.div_ceil(pack_chunks);
        threads::parallel_for(pack_chunks, threads, |t| {
            let _ = (&bsrc, &bpack); // capture the Send/Sync wrappers, not their raw fields
            let range = (t * per_chunk).min(panels)..((t + 1) * per_chunk).min(panels);
            pack_b(bsrc, kcb, ncb, blk.nr, range, bpack.ptr);
        });
        None
    }
}

/// What every task of one blocked product shares.
struct Driver<T: 'static> {
    alpha: T,
    a: Src<T>,
    b: Src<T>,
    c: Dst<T>,
    g: GemmMicro<T>,
    blk: Blocking,
    a_in_place: bool,
    bpack: Dst<T>,
    bbuf_len: usize,
}

/// One `KC`-deep slice of one `NC`-column block: columns `jc..jc + ncb`, steps
/// `pc..pc + kcb`, its `B` block prepared (in place, or packed at `Driver::bpack`).
struct Slice<T> {
    jc: usize,
    pc: usize,
    kcb: usize,
    ncb: usize,
    accumulate: bool,
    b_strided: Option<InPlace<T>>,
}

/// One task: rows `ic..ic + mcb` of C against the `B` panels `prange` of `slice`.
/// Packs its `A` block (or only the partial last panel when `A` is read in place)
/// into a pooled buffer and runs the macro-loop; without memory for the buffer, the
/// unpacked loop computes the same block.
///
/// # Safety
/// As [`gemm_raw`] for `d`'s views; `slice`'s `B` block prepared; tasks running at
/// the same time have disjoint `(rows, panels)`.
unsafe fn run_task<T: Scalar>(d: &Driver<T>, slice: &Slice<T>, ic: usize, mcb: usize, prange: std::ops::Range<usize>) {
    let (blk, a, b, c) = (d.blk, d.a, d.b, d.c);
    let (pc, jc, kcb) = (slice.pc, slice.jc, slice.kcb);
    // SAFETY: every block below lies inside A, B, C or the buffers (caller).
    unsafe {
        let asrc = Src { ptr: a.ptr.add(ic * a.rs + pc * a.cs), rs: a.rs, cs: a.cs };
        let alen = mcb.div_ceil(blk.mr) * blk.mr * kcb; // <= MC·KC: the block sizes
        let Ok(mut abuf) = mem::global().take::<T>(alen) else {
            // Out of memory for a panel: unpacked fallback for this block.
            let j0 = jc + prange.start * blk.nr;
            let j1 = (jc + prange.end * blk.nr).min(jc + slice.ncb);
            let bsub = Src { ptr: b.ptr.add(pc * b.rs + j0 * b.cs), rs: b.rs, cs: b.cs };
            let csub = Dst { ptr: c.at(ic, j0), rs: c.rs, cs: c.cs };
            return gemm_fallback(mcb, j1 - j0, kcb, d.alpha, asrc, bsub, !slice.accumulate, csub);
        };
        let apack = abuf.slice_mut::<T>(alen);
        let a_strided = if d.a_in_place {
            // Only a partial last panel is packed (zero-padded to MR rows).
            let full = mcb / blk.mr * blk.mr;
            if full < mcb {
                let tail = Src { ptr: asrc.ptr.add(full * a.rs), ..asrc };
                pack_a(tail, mcb - full, kcb, blk.mr, d.alpha, &mut apack[full * kcb..]);
            }
            Some(InPlace { ptr: asrc.ptr, step: a.cs, col: 0 })
        } else {
            pack_a(asrc, mcb, kcb, blk.mr, d.alpha, apack);
            None
        };
        let bpanels = std::slice::from_raw_parts(d.bpack.ptr as *const T, d.bbuf_len);
        let cblock = Dst { ptr: c.at(ic, jc), rs: c.rs, cs: c.cs };
        let operands = Operands { apack, a_strided, bpack: bpanels, b_strided: slice.b_strided };
        macro_loop(&d.g, blk, kcb, mcb, slice.ncb, operands, prange, cblock, slice.accumulate);
    }
}

/// An operand block read where it lies: step `p` at `ptr + p · step`; for `B`,
/// column `j` at `+ j · col`. (`A` in place needs unit row stride: `MR` contiguous
/// elements per step.)
#[derive(Clone, Copy)]
struct InPlace<T> {
    ptr: *const T,
    step: usize,
    col: usize,
}

// SAFETY: a read-only view handed to worker threads; the memory outlives the call.
unsafe impl<T: Sync> Send for InPlace<T> {}
// SAFETY: as above.
unsafe impl<T: Sync> Sync for InPlace<T> {}

/// The operands of one macro-loop: packed panels, and the blocks read in place
/// (whose partial edge panel is still packed).
struct Operands<'a, T> {
    apack: &'a [T],
    a_strided: Option<InPlace<T>>,
    bpack: &'a [T],
    b_strided: Option<InPlace<T>>,
}

/// Read an operand in place when the other dimension spans at most this many
/// micro-panels (so each of its panels would be reused at most this often).
/// Measured with 0, 4, 8, 16 and unlimited on the skinny shapes of the benchmark
/// and on 1024³ (1 and 2 threads), with the 32 × 12 f32 and 16 × 12 f64 tiles: 8
/// takes every skinny shape and leaves the large products packed, where reading in
/// place gained nothing measurable. Counted in panels, the limit is 256 rows of `A`
/// for the 32-row tiles (f64's MR went 16 → 32; 512 rows for the 64-row f32 tile), so
/// 256³ reads `B` in place too, and 48 columns of `B` (NR 6) for both dtypes (`qᵀ X` of randomized
/// SVD, 60 columns, is packed in f64 now; the randomized_svd rows of the bench did
/// not slow: 1.31× → 1.32× on one thread, 2.15× → 2.47× on two).
const IN_PLACE_MAX_REUSE: usize = 8;

/// Whether `B` is read in place instead of packed: its columns or rows are
/// contiguous, and `m` spans few `MR` panels, so a packed `B̃` panel would be reused
/// only a few times. Then the pack costs about as much as the product: for
/// `64×100 000 @ 100 000×32` float32 (`m = 32`, one panel) a transposing pack takes
/// one load and one store per element of `B` against one cycle of FMAs; packing
/// it ran at 0.91× NumPy, in place at 2.1× (1 thread, `benches` sweep in the
/// closing note of issue 3).
fn reads_b_in_place<T>(m: usize, mr: usize, b: &Src<T>) -> bool {
    (b.rs == 1 || b.cs == 1) && m.div_ceil(mr) <= IN_PLACE_MAX_REUSE
}

/// Whether `A` is read in place: unit row stride (the kernel loads `MR` contiguous
/// elements per step), no `alpha` to fold into a pack, and `n` spans few `NR` panels.
fn reads_a_in_place<T: Scalar>(n: usize, alpha: T, blk: &Blocking, a: &Src<T>) -> bool {
    a.rs == 1 && alpha == T::ONE && n.div_ceil(blk.nr) <= IN_PLACE_MAX_REUSE
}

/// The `jr`/`ir` loops over one block of A and a range of B panels.
///
/// # Safety
/// `c` valid for the `(mcb, ncb)` block; packed panels hold `kcb` steps (for an
/// operand read in place, its partial last panel only), and in-place blocks are
/// readable over `(mcb, kcb)` resp. `(kcb, ncb)`.
unsafe fn macro_loop<T: Scalar>(
    g: &GemmMicro<T>,
    blk: Blocking,
    kcb: usize,
    mcb: usize,
    ncb: usize,
    ops: Operands<'_, T>,
    panels: std::ops::Range<usize>,
    c: Dst<T>,
    accumulate: bool,
) {
    let (mr, nr) = (blk.mr, blk.nr);
    let mut tile = [T::ZERO; EDGE_TILE_LEN];
    debug_assert!(mr * nr <= tile.len());
    let strided = ops.a_strided.is_some() || ops.b_strided.is_some();
    // Ã step p at a.0 + p·a.1 (unit row stride); B̃ (p, j) at b.0 + p·b.1 + j·b.2.
    let a_panel = |ip: usize| match ops.a_strided {
        Some(s) if ip * mr + mr <= mcb => (s.ptr.wrapping_add(ip * mr), s.step),
        _ => (ops.apack[ip * mr * kcb..].as_ptr(), mr),
    };
    let b_panel = |jp: usize| match ops.b_strided {
        Some(s) if jp * nr + nr <= ncb => (s.ptr.wrapping_add(jp * nr * s.col), s.step, s.col),
        _ => (ops.bpack[jp * nr * kcb..].as_ptr(), nr, 1),
    };
    let mut run =
        |ip: usize, (ap, a_step): (*const T, usize), jp: usize, (bp, b_step, b_col): (*const T, usize, usize)| {
            let (i0, j0) = (ip * mr, jp * nr);
            let (h, w) = (mr.min(mcb - i0), nr.min(ncb - j0));
            let direct = h == mr && w == nr && c.rs == 1;
            let (cp, ldc, acc) = if direct {
                (c.ptr.wrapping_add(i0 * c.rs + j0 * c.cs), c.cs, accumulate)
            } else {
                (tile.as_mut_ptr(), mr, false)
            };
            // SAFETY: panels (packed: kcb·mr / kcb·nr elements; in place: inside the
            // blocks, caller) and a full column-major C tile are in bounds; else the
            // kernel writes `tile` (mr·nr <= 512, ldc = mr), copied out in part.
            unsafe {
                if strided {
                    (g.kernel_strided)(kcb, ap, a_step, bp, b_step, b_col, cp, ldc, acc);
                } else {
                    (g.kernel)(kcb, ap, bp, cp, ldc, acc);
                }
                if direct {
                    return;
                }
                // Walk C along its unit stride (rows of a row-major C).
                let (outer, inner) = if c.cs == 1 { (h, w) } else { (w, h) };
                for o in 0..outer {
                    for q in 0..inner {
                        let (i, j) = if c.cs == 1 { (o, q) } else { (q, o) };
                        let p = c.at(i0 + i, j0 + j);
                        let t = tile[i + j * mr];
                        *p = if accumulate { *p + t } else { t };
                    }
                }
            }
        };
    if ops.a_strided.is_some() && ops.b_strided.is_none() {
        // A in place (few, small B panels): each Ã panel, fetched from its strided
        // rows once, meets every B̃ panel while it sits in L1.
        for ip in 0..mcb.div_ceil(mr) {
            let a = a_panel(ip);
            panels.clone().for_each(|jp| run(ip, a, jp, b_panel(jp)));
        }
    } else {
        // BLIS order: one B̃ panel stays in L1 while the Ã panels stream from L2.
        for jp in panels {
            let b = b_panel(jp);
            (0..mcb.div_ceil(mr)).for_each(|ip| run(ip, a_panel(ip), jp, b));
        }
    }
}

/// `k` cut into `parts` chunks of a whole number of `KC` blocks (boundaries from
/// the shape alone), computed concurrently, each chunk by the single-threaded
/// blocked driver: chunk 0 writes C (with `beta`), chunk `p > 0` its own `m × n`
/// scratch block; then C += scratch block 1, 2, … in that order. The same chunks,
/// the same per-chunk order and the same reduction order on any thread count: the
/// result is bitwise independent of `threads`.
///
/// # Safety
/// As [`gemm_raw`].
#[allow(clippy::too_many_arguments)]
unsafe fn gemm_split_k<T: Scalar>(
    m: usize,
    n: usize,
    k: usize,
    alpha: T,
    a: Src<T>,
    b: Src<T>,
    beta: T,
    c: Dst<T>,
    parts: usize,
    threads: usize,
    g: &GemmMicro<T>,
    blk: Blocking,
) {
    let g = *g;
    let per = k.div_ceil(parts).div_ceil(blk.kc) * blk.kc;
    let parts = k.div_ceil(per);
    let block = m.checked_mul(n);
    let scratch_len = block.and_then(|mn| mn.checked_mul(parts - 1));
    let taken = scratch_len.map(|len| (len, mem::global().take::<T>(len)));
    let (Some(block), Some((len, Ok(mut scratch)))) = (block, taken) else {
        // No scratch: the unsplit order (documented: rounding differs from the split).
        // SAFETY: forwarded caller guarantees.
        return unsafe { gemm_blocked(m, n, k, alpha, a, b, beta, c, threads, &g, blk) };
    };
    let sbuf = Dst { ptr: scratch.slice_mut::<T>(len).as_mut_ptr(), rs: 1, cs: m };
    threads::parallel_for(parts, threads, |p| {
        let _ = (&a, &b, &c, &sbuf);
        let k0 = p * per;
        let kp = per.min(k - k0);
        let bk = Blocking::for_kernel(&g, kp);
        // SAFETY: part p reads columns k0..k0+kp of A / rows of B, writes C (p = 0)
        // or its own m·n slice of the scratch buffer (p > 0): disjoint writes.
        unsafe {
            let ap = Src { ptr: a.ptr.add(k0 * a.cs), rs: a.rs, cs: a.cs };
            let bp = Src { ptr: b.ptr.add(k0 * b.rs), rs: b.rs, cs: b.cs };
            if p == 0 {
                gemm_blocked(m, n, kp, alpha, ap, bp, beta, c, 1, &g, bk);
            } else {
                let d = Dst { ptr: sbuf.ptr.add((p - 1) * block), rs: 1, cs: m };
                gemm_blocked(m, n, kp, alpha, ap, bp, T::ZERO, d, 1, &g, bk);
            }
        }
    });
    // SAFETY: C is the caller's block; the scratch holds (parts - 1)·m·n elements.
    unsafe { add_partial_sums(m, n, parts - 1, sbuf.ptr, c) };
}

/// `C += S_1 + … + S_q`, added one block after the other (a fixed order) for the
/// `q` column-major `m × n` blocks at `s`.
///
/// # Safety
/// `c` valid for the `(m, n)` block; `s` valid for reads of `q·m·n` elements.
unsafe fn add_partial_sums<T: Scalar>(m: usize, n: usize, q: usize, s: *const T, c: Dst<T>) {
    for p in 0..q {
        for j in 0..n {
            for i in 0..m {
                // SAFETY: inside C (caller of gemm_split_k) and inside block p of the
                // scratch buffer (q·m·n elements).
                unsafe { *c.at(i, j) = *c.at(i, j) + *s.add(p * m * n + i + j * m) };
            }
        }
    }
}

/// Unpacked triple loop, used only when a packing buffer cannot be allocated.
unsafe fn gemm_fallback<T: Scalar>(
    m: usize,
    n: usize,
    k: usize,
    alpha: T,
    a: Src<T>,
    b: Src<T>,
    overwrite: bool,
    c: Dst<T>,
) {
    for j in 0..n {
        for i in 0..m {
            let mut s = T::ZERO;
            for p in 0..k {
                // SAFETY: inside A and B (caller).
                s = s + unsafe { *a.ptr.add(i * a.rs + p * a.cs) * *b.ptr.add(p * b.rs + j * b.cs) };
            }
            // SAFETY: inside C (caller).
            unsafe {
                let q = c.at(i, j);
                *q = if overwrite { alpha * s } else { *q + alpha * s };
            }
        }
    }
}
