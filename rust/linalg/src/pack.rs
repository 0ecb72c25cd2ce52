//! Packing for the GEMM driver: copies a block of `A` into `MR`-row micro-panels and
//! a block of `B` into `NR`-column micro-panels, in the order the micro-kernel reads
//! them (see `crate::kernels::micro`). Panels at the block's edge are padded
//! with zeros, so the micro-kernel always runs on full tiles. `A` is scaled by
//! `alpha` on the way (free: the copy touches every element anyway).
//!
//! Both routines read any strides; the common layouts get a contiguous inner loop
//! (A column-major / B row-major: `MR` resp. `NR` consecutive elements per step;
//! otherwise one source row/column at a time, written with a stride).

use mlkern_core::simd::prefetch;
use mlkern_core::Float;

/// Prefetches the `len` contiguous elements at `ptr` (the range may run past the
/// matrix: a prefetch never faults). The strided packing paths read one short run
/// per source row or column; prefetching the run of the *next* k-block while packing
/// this one lets the many streams (64 rows of A for `64×k @ k×32`) arrive while
/// the micro-kernels compute, instead of one demand miss after another.
#[inline(always)]
fn prefetch_run<T>(ptr: *const T, len: usize) {
    let step = (64 / std::mem::size_of::<T>()).max(1);
    for p in (0..len).step_by(step) {
        prefetch(ptr.wrapping_add(p));
    }
}

/// Steps per block of the transposing pack (see `pack_panels`).
const TRANSPOSE_STEPS: usize = 64;

/// A strided source block: element `(i, j)` at `ptr + i * rs + j * cs`.
#[derive(Clone, Copy)]
pub(crate) struct Src<T> {
    pub ptr: *const T,
    pub rs: usize,
    pub cs: usize,
}

/// Packs the `rows × kc` block of `a` into `ceil(rows / mr)` panels of `kc × mr`.
///
/// # Safety
/// `a` must be valid for reads of the whole block; `dst` must hold
/// `ceil(rows / mr) * mr * kc` elements.
pub(crate) unsafe fn pack_a<T: Float>(a: Src<T>, rows: usize, kc: usize, mr: usize, alpha: T, dst: &mut [T]) {
    let panels = rows.div_ceil(mr);
    assert!(dst.len() >= panels * mr * kc, "pack_a: destination too short");
    // SAFETY: forwarded; dst holds every panel (checked above) and is ours alone.
    unsafe { pack_panels(a, rows, kc, mr, alpha, 0..panels, dst.as_mut_ptr()) }
}

/// Packs the `kc × cols` block of `b` into `ceil(cols / nr)` panels of `kc × nr`,
/// panels `first..first + count` only (for parallel packing): the `A` packing of `bᵀ`.
///
/// # Safety
/// `b` must be valid for reads of the whole block; `dst` must be valid for writes of
/// `ceil(cols / nr) * nr * kc` elements, and no one else may access the panels in
/// `panels` during the call (concurrent calls pack disjoint panel ranges).
pub(crate) unsafe fn pack_b<T: Float>(
    b: Src<T>,
    kc: usize,
    cols: usize,
    nr: usize,
    panels: std::ops::Range<usize>,
    dst: *mut T,
) {
    let bt = Src { ptr: b.ptr, rs: b.cs, cs: b.rs };
    // SAFETY: forwarded caller guarantees.
    unsafe { pack_panels(bt, cols, kc, nr, T::ONE, panels, dst) }
}

/// Packs panels `panels` of the `rows × kc` block of `x`: panel `q` holds rows
/// `q·r .. q·r + r` as `kc` steps of `r` contiguous elements (times `alpha`), rows
/// past `rows` as zeros.
///
/// # Safety
/// `x` valid for reads of the block; `dst` valid for writes of those panels
/// (`r · kc` elements each, panel `q` at `dst + q·r·kc`), which nobody else accesses.
unsafe fn pack_panels<T: Float>(
    x: Src<T>,
    rows: usize,
    kc: usize,
    r: usize,
    alpha: T,
    panels: std::ops::Range<usize>,
    dst: *mut T,
) {
    let scale = alpha != T::ONE;
    for panel in panels {
        let r0 = panel * r;
        let h = r.min(rows - r0);
        // SAFETY: this panel's kc·r elements are ours alone (caller).
        let out = unsafe { std::slice::from_raw_parts_mut(dst.add(panel * r * kc), r * kc) };
        // SAFETY: reads rows r0..r0 + h, columns 0..kc of the block (caller).
        unsafe {
            let base = x.ptr.add(r0 * x.rs);
            if x.rs == 1 {
                for p in 0..kc {
                    let col = base.add(p * x.cs);
                    let o = &mut out[p * r..(p + 1) * r];
                    for i in 0..h {
                        o[i] = *col.add(i);
                    }
                    o[h..].fill(T::ZERO);
                }
            } else {
                // A transpose in blocks of one cache line of output per step (`lane`
                // rows) by TRANSPOSE_STEPS steps: the rows are read along their unit
                // stride, and both the block read and the block written stay in L1
                // (row by row over all kc steps, the writes of one row touched kc
                // lines of a panel larger than L1: `a @ b.T` at 256³ float32 ran at
                // 0.78× OpenBLAS on one thread).
                let lane = (64 / std::mem::size_of::<T>()).max(1);
                for i0 in (0..h).step_by(lane) {
                    let i1 = (i0 + lane).min(h);
                    for p0 in (0..kc).step_by(TRANSPOSE_STEPS) {
                        let p1 = (p0 + TRANSPOSE_STEPS).min(kc);
                        for i in i0..i1 {
                            let row = base.add(i * x.rs);
                            for p in p0..p1 {
                                out[p * r + i] = *row.add(p * x.cs);
                            }
                        }
                    }
                    if x.cs == 1 {
                        for i in i0..i1 {
                            prefetch_run(base.add(i * x.rs).wrapping_add(kc), kc);
                        }
                    }
                }
                if h < r {
                    for p in 0..kc {
                        out[p * r + h..(p + 1) * r].fill(T::ZERO);
                    }
                }
            }
        }
        if scale {
            out.iter_mut().for_each(|v| *v = *v * alpha);
        }
    }
}
