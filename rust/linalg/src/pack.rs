//! Packing for the GEMM driver: copies a block of `A` into `MR`-row micro-panels and
//! a block of `B` into `NR`-column micro-panels, in the order the micro-kernel reads
//! them (see `mlkern_core::kernels::gemm`). Panels at the block's edge are padded
//! with zeros, so the micro-kernel always runs on full tiles. `A` is scaled by
//! `alpha` on the way (free: the copy touches every element anyway).
//!
//! Both routines read any strides; the common layouts get a contiguous inner loop
//! (A column-major / B row-major: `MR` resp. `NR` consecutive elements per step;
//! otherwise one source row/column at a time, written with a stride).

use mlkern_core::kernels::prefetch;
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
    let scale = alpha != T::ONE;
    for (panel, out) in dst.chunks_exact_mut(mr * kc).take(rows.div_ceil(mr)).enumerate() {
        let r0 = panel * mr;
        let h = mr.min(rows - r0);
        // SAFETY: reads rows r0..r0 + h, columns 0..kc of the block (caller).
        unsafe {
            let base = a.ptr.add(r0 * a.rs);
            if a.rs == 1 {
                for p in 0..kc {
                    let col = base.add(p * a.cs);
                    let o = &mut out[p * mr..(p + 1) * mr];
                    for i in 0..h {
                        o[i] = *col.add(i);
                    }
                    o[h..].fill(T::ZERO);
                    if scale {
                        o[..h].iter_mut().for_each(|x| *x = *x * alpha);
                    }
                }
            } else {
                // One source row at a time (contiguous reads when cs = 1), written
                // with stride mr: measured faster than gathering h streams per step,
                // especially with two threads packing at once.
                for i in 0..h {
                    let row = base.add(i * a.rs);
                    for p in 0..kc {
                        out[p * mr + i] = *row.add(p * a.cs);
                    }
                    if a.cs == 1 {
                        prefetch_run(row.wrapping_add(kc), kc);
                    }
                }
                if h < mr {
                    for p in 0..kc {
                        out[p * mr + h..(p + 1) * mr].fill(T::ZERO);
                    }
                }
                if scale {
                    out.iter_mut().for_each(|x| *x = *x * alpha);
                }
            }
        }
    }
}

/// Packs the `kc × cols` block of `b` into `ceil(cols / nr)` panels of `kc × nr`,
/// panels `first..first + count` only (for parallel packing).
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
    for panel in panels {
        let c0 = panel * nr;
        let w = nr.min(cols - c0);
        // SAFETY: this panel's kc·nr elements are ours alone (caller).
        let out = unsafe { std::slice::from_raw_parts_mut(dst.add(panel * nr * kc), nr * kc) };
        // SAFETY: reads rows 0..kc, columns c0..c0 + w of the block (caller).
        unsafe {
            let base = b.ptr.add(c0 * b.cs);
            if b.cs == 1 {
                for p in 0..kc {
                    let row = base.add(p * b.rs);
                    let o = &mut out[p * nr..(p + 1) * nr];
                    for j in 0..w {
                        o[j] = *row.add(j);
                    }
                    o[w..].fill(T::ZERO);
                }
            } else {
                for j in 0..w {
                    let col = base.add(j * b.cs);
                    for p in 0..kc {
                        out[p * nr + j] = *col.add(p * b.rs);
                    }
                    if b.rs == 1 {
                        prefetch_run(col.wrapping_add(kc), kc);
                    }
                }
                if w < nr {
                    for p in 0..kc {
                        out[p * nr + w..(p + 1) * nr].fill(T::ZERO);
                    }
                }
            }
        }
    }
}
