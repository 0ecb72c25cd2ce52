//! Direct "valid" correlation: `out[i] = Σ_{j < m} a[i + j] · w[j]` for every
//! `i < out.len()`, the inner loop of direct convolution (`mlkern.signal`).
//!
//! Algorithm: vectorised across outputs. A block of 4 registers (`4 · LANES`
//! consecutive outputs) stays in accumulators while the taps are walked: for tap
//! `j`, `w[j]` is broadcast and multiplied with the 4 unaligned registers of `a`
//! starting at `i + j`. Every load hits L1 (a sliding window), and each tap costs 4
//! multiply-adds per `4 · LANES` outputs. Remaining outputs use single registers,
//! then one masked/partial register.
//!
//! Accumulation: each output is a plain sum of `m` products in tap order (fused
//! where the ISA has FMA). Error bound: `|out[i] - exact| <= γ_m Σ_j |a[i+j] w[j]|`.

use mlkern_core::element::Float;
use mlkern_core::simd::Simd;

/// # Safety
/// The CPU must support `S`; `a.len() >= out.len() + w.len() - 1` (checked by the
/// safe wrapper in `dispatch.rs`), and `w` is non-empty.
#[inline(always)]
pub(crate) unsafe fn correlate_valid<T: Float, S: Simd<T>>(a: &[T], w: &[T], out: &mut [T]) {
    let (n, l) = (out.len(), S::LANES);
    let (pa, po) = (a.as_ptr(), out.as_mut_ptr());
    // SAFETY: for an output block starting at i of width k <= n - i, the loads read
    // a[i + j .. i + j + k] with j < m, inside a (a.len() >= n + m - 1); stores
    // write out[i .. i + k].
    unsafe {
        let mut i = 0;
        while i + 4 * l <= n {
            let mut acc = [S::zero(); 4];
            for (j, &wj) in w.iter().enumerate() {
                let x = S::splat(wj);
                let p = pa.add(i + j);
                acc[0] = S::mul_add(S::load(p), x, acc[0]);
                acc[1] = S::mul_add(S::load(p.add(l)), x, acc[1]);
                acc[2] = S::mul_add(S::load(p.add(2 * l)), x, acc[2]);
                acc[3] = S::mul_add(S::load(p.add(3 * l)), x, acc[3]);
            }
            for (k, v) in acc.into_iter().enumerate() {
                S::store(po.add(i + k * l), v);
            }
            i += 4 * l;
        }
        while i + l <= n {
            let mut acc = S::zero();
            for (j, &wj) in w.iter().enumerate() {
                acc = S::mul_add(S::load(pa.add(i + j)), S::splat(wj), acc);
            }
            S::store(po.add(i), acc);
            i += l;
        }
        if i < n {
            let k = n - i;
            let mut acc = S::zero();
            for (j, &wj) in w.iter().enumerate() {
                acc = S::mul_add(S::load_partial(pa.add(i + j), k), S::splat(wj), acc);
            }
            S::store_partial(po.add(i), k, acc);
        }
    }
}
