//! Packing for the GEMM driver: copies a block of `A` into `MR`-row micro-panels and
//! a block of `B` into `NR`-column micro-panels, in the order the micro-kernel reads
//! them (see `mlkern_core::kernels::gemm`). Panels at the block's edge are padded
//! with zeros, so the micro-kernel always runs on full tiles. `A` is scaled by
//! `alpha` on the way (free: the copy touches every element anyway).
//!
//! Panels are at most 64 rows/columns (the micro-kernel shapes are far smaller).
//! Both routines read any strides; the common layouts get a contiguous inner loop
//! (A column-major / B row-major: `MR` resp. `NR` consecutive elements per step;
//! otherwise one source row/column at a time, written with a stride).

use mlkern_core::Float;

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
                // One step p at a time: `h` source streams read in order, the panel
                // written contiguously (strided scalar stores were 3× slower).
                let mut rows = [std::ptr::null::<T>(); 64];
                for (i, r) in rows.iter_mut().enumerate().take(h) {
                    *r = base.add(i * a.rs);
                }
                for p in 0..kc {
                    let o = &mut out[p * mr..(p + 1) * mr];
                    let off = p * a.cs;
                    for i in 0..h {
                        o[i] = *rows[i].add(off);
                    }
                    o[h..].fill(T::ZERO);
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
                let mut cols = [std::ptr::null::<T>(); 64];
                for (j, c) in cols.iter_mut().enumerate().take(w) {
                    *c = base.add(j * b.cs);
                }
                for p in 0..kc {
                    let o = &mut out[p * nr..(p + 1) * nr];
                    let off = p * b.rs;
                    for j in 0..w {
                        o[j] = *cols[j].add(off);
                    }
                    o[w..].fill(T::ZERO);
                }
            }
        }
    }
}
