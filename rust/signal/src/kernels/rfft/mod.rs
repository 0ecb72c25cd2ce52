//! Real FFT of a batch of rows, one row per SIMD lane ("lanes across rows").
//!
//! Algorithm. For a power-of-two length `n = 2h`, up to `LANES` rows are transposed
//! into a work buffer in which complex element `j` of every row is one pair of
//! registers `(re, im)`: `z_r[j] = x_r[2j] + i·x_r[2j+1]`. A complex FFT of length
//! `h` then runs on whole registers — radix-4 decimation in frequency, in place;
//! levels whose blocks exceed L1 stream over the buffer, then each L1-sized block
//! finishes every later level while it stays in L1; one twiddle-free radix-2 level
//! ends the transform when `log2 h` is odd. Because every lane is a
//! different row, no lane ever talks to another: there are no shuffles, and every
//! tier (AVX-512, AVX2, SSE, NEON, scalar) runs the same code with its own width.
//! Each radix-4 step writes its four outputs in the order (0, 2, 1, 3), which makes
//! the whole transform's output plain bit-reversed; the real post-pass reads `Z` in
//! that order and untangles the two half-length spectra,
//!
//! ```text
//! E = (Z[k] + conj Z[h-k]) / 2,   O = -i (Z[k] - conj Z[h-k]) / 2,   W = exp(-2πi/n)
//! X[k] = E + W^k O,               X[h-k] = conj(E - W^k O),          k = 0 ..= h/2
//! ```
//!
//! (with `Z[h] = Z[0]`), scales by the caller's normalisation and transposes the
//! `h + 1` outputs back to rows.
//!
//! Accumulation: every output passes through `log2 n` butterfly levels; twiddles
//! are computed in f64 from exact angles (`cos`/`sin` of `2πj/N`, no recurrences) and
//! rounded once to `T`.
//!
//! Error bound: the Cooley–Tukey bound, `‖X̂ − X‖₂ ≤ c · log2(n) · u · ‖X‖₂` with a
//! small constant `c` (`u` the unit roundoff of `T`); `tests/tiers.rs` checks every
//! tier with `c = 5` against an f64 transform.

mod complex;
mod prefetch;
mod transpose;

use mlkern_core::element::Float;
use mlkern_core::simd::Simd;

use complex::{complex_fft, load, twiddle, Cv};
use prefetch::Prefetcher;
pub use prefetch::Upcoming;
use transpose::{load_rows, store_tile};

/// Largest length the lane engine takes: its work buffer is `n · LANES` values
/// (4 MiB for f64 at 65 536 on AVX-512), beyond which it would live in L3 or memory.
pub const MAX_LEN: usize = 1 << 16;

/// Twiddles and the output permutation for one length (shared by every tier).
#[derive(Debug, Clone)]
pub struct RfftPlan<T> {
    pub(super) n: usize,
    /// Radix-4 level `l` works on blocks of `h >> 2l` values; its table holds, for
    /// `j < size / 4`, `[w^j, w^2j, w^3j]` as `(re, im)` pairs, `w = exp(-2πi/size)`.
    pub(super) levels: Vec<Vec<T>>,
    /// `(cos, -sin)(2πk/n)` for `k = 0 ..= h/2`.
    pub(super) post: Vec<T>,
    /// `bitrev[k]` = where the complex FFT leaves `Z[k]`.
    pub(super) bitrev: Vec<u32>,
}

impl<T: Float> RfftPlan<T> {
    /// The plan for length `n`, or `None` unless `n` is a power of two in `2..=MAX_LEN`.
    pub fn new(n: usize) -> Option<Self> {
        if !n.is_power_of_two() || !(2..=MAX_LEN).contains(&n) {
            return None;
        }
        let h = n / 2;
        let tau = 2.0 * std::f64::consts::PI;
        let mut levels = Vec::new();
        let mut size = h;
        while size >= 4 {
            let mut t = Vec::with_capacity(6 * size / 4);
            for j in 0..size / 4 {
                for m in 1..=3 {
                    let angle = tau * (m * j) as f64 / size as f64;
                    t.push(T::from_f64(angle.cos()));
                    t.push(T::from_f64(-angle.sin()));
                }
            }
            levels.push(t);
            size /= 4;
        }
        let post = (0..=h / 2)
            .flat_map(|k| {
                let angle = tau * k as f64 / n as f64;
                [T::from_f64(angle.cos()), T::from_f64(-angle.sin())]
            })
            .collect();
        let bits = h.trailing_zeros();
        let bitrev = (0..h as u32).map(|k| if bits == 0 { 0 } else { k.reverse_bits() >> (32 - bits) }).collect();
        Some(RfftPlan { n, levels, post, bitrev })
    }

    /// The transform length `n`.
    pub fn len(&self) -> usize {
        self.n
    }

    /// Always false: plans exist only for `n >= 2`.
    pub fn is_empty(&self) -> bool {
        false
    }

    /// Work-buffer length (in `T`) the kernel of a tier with `lanes` lanes needs.
    pub fn work_len(&self, lanes: usize) -> usize {
        self.n * lanes
    }
}

/// The real FFT of `rows <= LANES` rows: row `r` reads `n_read <= n` values at
/// `src + r·ld_src` (zero-padded to `n`) and writes `n/2 + 1` interleaved complex
/// values, times `scale`, at `out + r·ld_out`. `next` names the following batch
/// (prefetched during the FFT).
///
/// Three steps: rows into lanes ([`load_rows`]), the complex FFT of half length on
/// whole registers ([`complex_fft`]), then the real post-pass that untangles the two
/// half-length spectra and writes rows back ([`write_ends`], [`untangle`]).
///
/// # Safety
/// The tier's features are available; `1 <= rows <= LANES`; each source row is
/// valid for `n_read` reads, `work` for `plan.work_len(LANES)` writes, each output
/// row for `n + 2` writes; `work` overlaps neither.
#[inline(always)]
pub(crate) unsafe fn rfft_rows<T: Float, S: Simd<T>>(
    plan: &RfftPlan<T>,
    src: *const T,
    ld_src: usize,
    n_read: usize,
    rows: usize,
    scale: T,
    work: *mut T,
    out: *mut T,
    ld_out: usize,
    next: Upcoming<T>,
) {
    let h = plan.n / 2;
    // SAFETY: ranges as stated in the contract, which is each step's contract.
    unsafe {
        load_rows::<T, S>(plan.n, src, ld_src, n_read, rows, work);
        complex_fft::<T, S>(plan, work, h, &mut Prefetcher::new(next));
        write_ends::<T, S>(plan, work, rows, scale, out, ld_out);
        untangle::<T, S>(plan, work, rows, scale, out, ld_out);
    }
}

/// `k = 0` of the post-pass: `X[0] = Re Z0 + Im Z0` and `X[h] = Re Z0 - Im Z0`, both
/// real, times `scale`, for each of the `rows` output rows.
///
/// # Safety
/// As [`rfft_rows`], after the complex FFT has filled `work`.
#[inline(always)]
unsafe fn write_ends<T: Float, S: Simd<T>>(
    plan: &RfftPlan<T>,
    work: *const T,
    rows: usize,
    scale: T,
    out: *mut T,
    ld_out: usize,
) {
    let (h, l) = (plan.n / 2, S::LANES);
    // SAFETY: element 0 of `work` exists; positions 0, 1, 2h, 2h + 1 are inside
    // each output row of n + 2 values; rows <= LANES <= 16.
    unsafe {
        let z0 = load::<T, S>(work, 0);
        let s = S::splat(scale);
        let mut ends = [T::ZERO; 2 * 16];
        S::store(ends.as_mut_ptr(), S::mul(S::add(z0.re, z0.im), s));
        S::store(ends.as_mut_ptr().add(l), S::mul(S::sub(z0.re, z0.im), s));
        for r in 0..rows {
            let o = out.add(r * ld_out);
            *o = ends[r];
            *o.add(1) = T::ZERO;
            *o.add(2 * h) = ends[l + r];
            *o.add(2 * h + 1) = T::ZERO;
        }
    }
}

/// `k = 1 ..= h/2` of the post-pass, in tiles of `LANES / 2` values (so a tile is one
/// register per row after the transpose): from `a = Z[k]`, `b = Z[h - k]` (read in
/// bit-reversed order), `E = (a + conj b)/2`, `O = -i (a - conj b)/2`, then
/// `X[k] = E + W^k O` goes to `front` and `X[h - k] = conj(E - W^k O)` to `back`, in
/// ascending position order, each tile stored to rows by [`store_tile`].
///
/// # Safety
/// As [`rfft_rows`], after the complex FFT has filled `work`.
#[inline(always)]
unsafe fn untangle<T: Float, S: Simd<T>>(
    plan: &RfftPlan<T>,
    work: *const T,
    rows: usize,
    scale: T,
    out: *mut T,
    ld_out: usize,
) {
    let h = plan.n / 2;
    let tile_len = (S::LANES / 2).max(1);
    // SAFETY: k and h - k are < h, so their bit-reversed positions index elements
    // of `work`; `post` holds h/2 + 1 pairs; the tiles' positions kb..kb + count and
    // h + 1 - kb - count.. are <= h, inside each output row (n + 2 values).
    unsafe {
        let half = S::splat(scale * T::from_f64(0.5));
        let mut front = [S::zero(); 32];
        let mut back = [S::zero(); 32];
        let mut kb = 1;
        while kb <= h / 2 {
            let count = tile_len.min(h / 2 + 1 - kb);
            // A full tile has a trip count known at compile time (LANES / 2), so the
            // compiler unrolls it and keeps `front`/`back` in registers.
            let trips = if count == tile_len { tile_len } else { count };
            for t in 0..trips {
                let k = kb + t;
                let a = load::<T, S>(work, *plan.bitrev.get_unchecked(k) as usize);
                let b = load::<T, S>(work, *plan.bitrev.get_unchecked(h - k) as usize);
                let e = Cv { re: S::mul(S::add(a.re, b.re), half), im: S::mul(S::sub(a.im, b.im), half) };
                let o = Cv { re: S::mul(S::add(a.im, b.im), half), im: S::mul(S::sub(b.re, a.re), half) };
                let wo = twiddle::<T, S>(o, plan.post.as_ptr().add(2 * k));
                front[2 * t] = S::add(e.re, wo.re);
                front[2 * t + 1] = S::add(e.im, wo.im);
                let back_slot = trips - 1 - t;
                back[2 * back_slot] = S::sub(e.re, wo.re);
                back[2 * back_slot + 1] = S::sub(wo.im, e.im);
            }
            store_tile::<T, S>(&mut front, count, rows, out, ld_out, kb);
            store_tile::<T, S>(&mut back, count, rows, out, ld_out, h + 1 - kb - count);
            kb += count;
        }
    }
}
