//! The complex FFT of the lane engine: length `h` on whole registers (one row per
//! lane), radix-4 decimation in frequency in place, output bit-reversed; see the
//! header of `kernels/rfft/mod.rs` for the algorithm and its error bound.

use mlkern_core::element::Float;
use mlkern_core::simd::Simd;

use super::prefetch::Prefetcher;
use super::RfftPlan;

/// A complex value per lane.
#[derive(Clone, Copy)]
pub(super) struct Cv<V> {
    pub(super) re: V,
    pub(super) im: V,
}

/// Loads complex element `j` of the work buffer.
#[inline(always)]
pub(super) unsafe fn load<T: Float, S: Simd<T>>(work: *const T, j: usize) -> Cv<S::V> {
    let l = S::LANES;
    // SAFETY: the caller guarantees element `j` (2·LANES values at 2·LANES·j) is in range.
    unsafe { Cv { re: S::load(work.add(2 * l * j)), im: S::load(work.add(2 * l * j + l)) } }
}

#[inline(always)]
pub(super) unsafe fn store<T: Float, S: Simd<T>>(work: *mut T, j: usize, v: Cv<S::V>) {
    let l = S::LANES;
    // SAFETY: as for `load`.
    unsafe {
        S::store(work.add(2 * l * j), v.re);
        S::store(work.add(2 * l * j + l), v.im);
    }
}

#[inline(always)]
pub(super) unsafe fn add<T: Float, S: Simd<T>>(a: Cv<S::V>, b: Cv<S::V>) -> Cv<S::V> {
    // SAFETY: the tier's features are enabled (module contract).
    unsafe { Cv { re: S::add(a.re, b.re), im: S::add(a.im, b.im) } }
}

#[inline(always)]
pub(super) unsafe fn sub<T: Float, S: Simd<T>>(a: Cv<S::V>, b: Cv<S::V>) -> Cv<S::V> {
    // SAFETY: the tier's features are enabled (module contract).
    unsafe { Cv { re: S::sub(a.re, b.re), im: S::sub(a.im, b.im) } }
}

/// `v · (wr + i·wi)` with the twiddle read (and broadcast) from `w`.
#[inline(always)]
pub(super) unsafe fn twiddle<T: Float, S: Simd<T>>(v: Cv<S::V>, w: *const T) -> Cv<S::V> {
    // SAFETY: the caller guarantees two readable values at `w`.
    unsafe {
        let (wr, wi) = (S::splat(*w), S::splat(*w.add(1)));
        Cv { re: S::neg_mul_add(v.im, wi, S::mul(v.re, wr)), im: S::mul_add(v.im, wr, S::mul(v.re, wi)) }
    }
}

/// The radix-4 butterfly before twiddles: `(t0, t1, t2, t3)` with
/// `t0 = (a + c) + (b + d)`, `t2 = (a + c) - (b + d)`, `t1, t3 = (a - c) ∓ i (b - d)`;
/// output `r` of the step is `t_r · w^(jr)`.
#[inline(always)]
unsafe fn butterfly4<T: Float, S: Simd<T>>(a: Cv<S::V>, b: Cv<S::V>, c: Cv<S::V>, d: Cv<S::V>) -> [Cv<S::V>; 4] {
    // SAFETY: the tier's features are enabled (module contract).
    unsafe {
        let (apc, amc) = (add::<T, S>(a, c), sub::<T, S>(a, c));
        let (bpd, bmd) = (add::<T, S>(b, d), sub::<T, S>(b, d));
        [
            add::<T, S>(apc, bpd),
            Cv { re: S::add(amc.re, bmd.im), im: S::sub(amc.im, bmd.re) },
            sub::<T, S>(apc, bpd),
            Cv { re: S::sub(amc.re, bmd.im), im: S::add(amc.im, bmd.re) },
        ]
    }
}

/// One radix-4 decimation-in-frequency step on the `size` elements at `work`.
#[inline(always)]
unsafe fn radix4<T: Float, S: Simd<T>>(work: *mut T, size: usize, tw: &[T], pf: &mut Prefetcher<T>) {
    let q = size / 4;
    for j in 0..q {
        pf.issue(2);
        // SAFETY: j + 3q < size, all inside the block (caller); tw holds 6q values.
        unsafe {
            let [t0, t1, t2, t3] = butterfly4::<T, S>(
                load::<T, S>(work, j),
                load::<T, S>(work, j + q),
                load::<T, S>(work, j + 2 * q),
                load::<T, S>(work, j + 3 * q),
            );
            store::<T, S>(work, j, t0);
            if j == 0 {
                store::<T, S>(work, q, t2);
                store::<T, S>(work, 2 * q, t1);
                store::<T, S>(work, 3 * q, t3);
            } else {
                let w = tw.as_ptr().add(6 * j);
                store::<T, S>(work, j + q, twiddle::<T, S>(t2, w.add(2)));
                store::<T, S>(work, j + 2 * q, twiddle::<T, S>(t1, w));
                store::<T, S>(work, j + 3 * q, twiddle::<T, S>(t3, w.add(4)));
            }
        }
    }
}

/// The last two levels of a block of 8 (a radix-4 step of size 8 followed by
/// radix-2 steps) in registers: the same arithmetic and output order as
/// `radix4(8)` + four radix-2 butterflies, with the size-8 twiddles
/// `w = (1 - i)/√2`, `w² = -i`, `w³ = -(1 + i)/√2` applied as constants.
#[inline(always)]
unsafe fn leaf8<T: Float, S: Simd<T>>(work: *mut T) {
    // SAFETY: the block of 8 elements at `work` is in range (caller).
    unsafe {
        let x: [Cv<S::V>; 8] = std::array::from_fn(|j| load::<T, S>(work, j));
        let c = S::splat(T::from_f64(std::f64::consts::FRAC_1_SQRT_2));
        let mut p = [x[0]; 8];
        for j in 0..2 {
            let [t0, t1, t2, t3] = butterfly4::<T, S>(x[j], x[j + 2], x[j + 4], x[j + 6]);
            if j == 0 {
                (p[0], p[2], p[4], p[6]) = (t0, t2, t1, t3);
            } else {
                p[1] = t0;
                p[3] = Cv { re: t2.im, im: S::sub(S::zero(), t2.re) };
                p[5] = Cv { re: S::mul(S::add(t1.re, t1.im), c), im: S::mul(S::sub(t1.im, t1.re), c) };
                p[7] =
                    Cv { re: S::mul(S::sub(t3.im, t3.re), c), im: S::mul(S::add(t3.re, t3.im), S::sub(S::zero(), c)) };
            }
        }
        for q in 0..4 {
            store::<T, S>(work, 2 * q, add::<T, S>(p[2 * q], p[2 * q + 1]));
            store::<T, S>(work, 2 * q + 1, sub::<T, S>(p[2 * q], p[2 * q + 1]));
        }
    }
}

/// Bytes of work buffer that the inner levels keep in L1 (of the 32–48 KiB most
/// cores have, leaving room for twiddles and the stack).
const L1_BLOCK_BYTES: usize = 32 << 10;

/// In-place complex FFT of the `h` elements at `work`, output bit-reversed.
///
/// Levels whose blocks are larger than [`L1_BLOCK_BYTES`] run breadth first (one
/// streaming pass over the buffer each); then each block of that size runs all of
/// its remaining levels while it sits in L1. (Iterative, not recursive: a recursive
/// function could not be inlined into the tier's `#[target_feature]` function.)
///
/// # Safety
/// The tier's features are available; `work` is valid for `h` complex elements
/// (`2 · LANES · h` values) and `plan` is the plan of length `2h`.
#[inline(always)]
pub(super) unsafe fn complex_fft<T: Float, S: Simd<T>>(
    plan: &RfftPlan<T>,
    work: *mut T,
    h: usize,
    pf: &mut Prefetcher<T>,
) {
    let elem = 2 * S::LANES; // values per complex element
    let l1_block = (L1_BLOCK_BYTES / (elem * std::mem::size_of::<T>())).max(4);
    // SAFETY: every block below lies inside the h elements at `work` (caller).
    unsafe {
        let (size, level) = stream_levels::<T, S>(plan, work, h, l1_block, pf);
        for block in 0..h / size {
            finish_block::<T, S>(plan, work.add(elem * size * block), size, level, pf);
        }
    }
}

/// The breadth-first levels: radix-4 steps over the whole buffer while a block is
/// larger than `l1_block` elements. Returns the block size and level reached.
///
/// # Safety
/// As [`complex_fft`].
#[inline(always)]
unsafe fn stream_levels<T: Float, S: Simd<T>>(
    plan: &RfftPlan<T>,
    work: *mut T,
    h: usize,
    l1_block: usize,
    pf: &mut Prefetcher<T>,
) -> (usize, usize) {
    let elem = 2 * S::LANES;
    let (mut size, mut level) = (h, 0);
    // SAFETY: the h / size blocks of `size` elements tile the buffer exactly.
    unsafe {
        while size >= 4 && size > l1_block {
            for b in 0..h / size {
                radix4::<T, S>(work.add(elem * size * b), size, &plan.levels[level], pf);
            }
            size /= 4;
            level += 1;
        }
    }
    (size, level)
}

/// Every level from `level` on, of the block of `size` elements at `base`, while it
/// sits in L1: radix-4 steps down to a block of 8 ([`leaf8`]) or of 2 (a final
/// twiddle-free radix-2 level), whichever `log2 size` leads to.
///
/// # Safety
/// As [`complex_fft`], with `base` the start of a block of `size` elements inside
/// the buffer and `level` the plan level of blocks of that size.
#[inline(always)]
unsafe fn finish_block<T: Float, S: Simd<T>>(
    plan: &RfftPlan<T>,
    base: *mut T,
    size: usize,
    level: usize,
    pf: &mut Prefetcher<T>,
) {
    let elem = 2 * S::LANES;
    let (mut s, mut lv) = (size, level);
    // SAFETY: the size / s sub-blocks of `s` elements tile the block exactly.
    unsafe {
        while s >= 4 {
            if s == 8 {
                for b in 0..size / 8 {
                    pf.issue(2);
                    leaf8::<T, S>(base.add(elem * 8 * b));
                }
                return;
            }
            for b in 0..size / s {
                radix4::<T, S>(base.add(elem * s * b), s, &plan.levels[lv], pf);
            }
            s /= 4;
            lv += 1;
        }
        if s == 2 {
            for p in (0..size).step_by(2) {
                let (a, b) = (load::<T, S>(base, p), load::<T, S>(base, p + 1));
                store::<T, S>(base, p, add::<T, S>(a, b));
                store::<T, S>(base, p + 1, sub::<T, S>(a, b));
            }
        }
    }
}
