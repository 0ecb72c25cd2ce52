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

use crate::element::Float;
use crate::simd::Simd;

/// Largest length the lane engine takes: its work buffer is `n · LANES` values
/// (4 MiB for f64 at 65 536 on AVX-512), beyond which it would live in L3 or memory.
pub const MAX_LEN: usize = 1 << 16;

/// Twiddles and the output permutation for one length (shared by every tier).
#[derive(Debug, Clone)]
pub struct RfftPlan<T> {
    n: usize,
    /// Radix-4 level `l` works on blocks of `h >> 2l` values; its table holds, for
    /// `j < size / 4`, `[w^j, w^2j, w^3j]` as `(re, im)` pairs, `w = exp(-2πi/size)`.
    levels: Vec<Vec<T>>,
    /// `(cos, -sin)(2πk/n)` for `k = 0 ..= h/2`.
    post: Vec<T>,
    /// `bitrev[k]` = where the complex FFT leaves `Z[k]`.
    bitrev: Vec<u32>,
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

/// A complex value per lane.
#[derive(Clone, Copy)]
struct Cv<V> {
    re: V,
    im: V,
}

/// Loads complex element `j` of the work buffer.
#[inline(always)]
unsafe fn load<T: Float, S: Simd<T>>(work: *const T, j: usize) -> Cv<S::V> {
    let l = S::LANES;
    // SAFETY: the caller guarantees element `j` (2·LANES values at 2·LANES·j) is in range.
    unsafe { Cv { re: S::load(work.add(2 * l * j)), im: S::load(work.add(2 * l * j + l)) } }
}

#[inline(always)]
unsafe fn store<T: Float, S: Simd<T>>(work: *mut T, j: usize, v: Cv<S::V>) {
    let l = S::LANES;
    // SAFETY: as for `load`.
    unsafe {
        S::store(work.add(2 * l * j), v.re);
        S::store(work.add(2 * l * j + l), v.im);
    }
}

#[inline(always)]
unsafe fn add<T: Float, S: Simd<T>>(a: Cv<S::V>, b: Cv<S::V>) -> Cv<S::V> {
    // SAFETY: the tier's features are enabled (module contract).
    unsafe { Cv { re: S::add(a.re, b.re), im: S::add(a.im, b.im) } }
}

#[inline(always)]
unsafe fn sub<T: Float, S: Simd<T>>(a: Cv<S::V>, b: Cv<S::V>) -> Cv<S::V> {
    // SAFETY: the tier's features are enabled (module contract).
    unsafe { Cv { re: S::sub(a.re, b.re), im: S::sub(a.im, b.im) } }
}

/// `v · (wr + i·wi)` with the twiddle read (and broadcast) from `w`.
#[inline(always)]
unsafe fn twiddle<T: Float, S: Simd<T>>(v: Cv<S::V>, w: *const T) -> Cv<S::V> {
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

/// The rows of the next batch, which the kernel pulls into cache with software
/// prefetches spread over its butterflies, so that loading them later does not
/// wait on memory. `rows == 0` means there is no next batch.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Upcoming<T> {
    pub src: *const T,
    pub ld: usize,
    pub rows: usize,
    pub len: usize,
}

/// Walks the cache lines of an [`Upcoming`] batch, a few per call.
struct Prefetcher<T> {
    up: Upcoming<T>,
    /// Offset of a row's last byte (addresses are clamped to it).
    last_byte: usize,
    /// The next line: row `row`, byte `offset`.
    row: usize,
    offset: usize,
}

impl<T> Prefetcher<T> {
    fn new(up: Upcoming<T>) -> Self {
        let bytes = up.len * std::mem::size_of::<T>();
        let rows = if bytes == 0 { 0 } else { up.rows };
        Prefetcher { up: Upcoming { rows, ..up }, last_byte: bytes.saturating_sub(1), row: 0, offset: 0 }
    }

    /// Prefetches the next `count` lines (none once the batch is covered).
    #[inline(always)]
    fn issue(&mut self, count: usize) {
        for _ in 0..count {
            if self.row >= self.up.rows {
                return;
            }
            let row = self.up.src.wrapping_add(self.row * self.up.ld) as *const u8;
            super::prefetch(row.wrapping_add(self.offset.min(self.last_byte)));
            if self.offset > self.last_byte {
                self.row += 1;
                self.offset = 0;
            } else {
                self.offset += 64;
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
#[inline(always)]
unsafe fn complex_fft<T: Float, S: Simd<T>>(plan: &RfftPlan<T>, work: *mut T, h: usize, pf: &mut Prefetcher<T>) {
    let elem = 2 * S::LANES; // values per complex element
    let l1_block = (L1_BLOCK_BYTES / (elem * std::mem::size_of::<T>())).max(4);
    let (mut size, mut level) = (h, 0);
    // SAFETY: every block below lies inside the h elements at `work` (caller).
    unsafe {
        while size >= 4 && size > l1_block {
            for b in 0..h / size {
                radix4::<T, S>(work.add(elem * size * b), size, &plan.levels[level], pf);
            }
            size /= 4;
            level += 1;
        }
        for block in 0..h / size {
            let base = work.add(elem * size * block);
            let (mut s, mut lv) = (size, level);
            while s >= 4 {
                if s == 8 {
                    for b in 0..size / 8 {
                        pf.issue(2);
                        leaf8::<T, S>(base.add(elem * 8 * b));
                    }
                    s = 1;
                    break;
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
}

/// Transposes `rows` rows (`n_read` values each, zero-padded to `n`) into `work`.
///
/// With `h >= LANES / 2` (and more than one lane), each step loads `LANES`
/// consecutive values of every row (`LANES / 2` complex elements), transposes the
/// `LANES × LANES` block in registers and stores it contiguously: transposed vector
/// `i` is value `2jb + i` of every row, which is exactly the work layout (real and
/// imaginary parts alternate). Smaller cases copy value by value.
#[inline(always)]
unsafe fn load_rows<T: Float, S: Simd<T>>(
    n: usize,
    src: *const T,
    ld: usize,
    n_read: usize,
    rows: usize,
    work: *mut T,
) {
    let l = S::LANES;
    let h = n / 2;
    // SAFETY: lanes of elements < h are inside the work buffer (n · LANES values);
    // row r < rows is valid for n_read reads (caller). A source address is formed
    // only for a row that exists (r < rows) and a value that exists
    // (2·jb < n_read), and every read stays under n_read (full loads need
    // `avail >= LANES`, partial ones read `avail`): no address outside the source.
    unsafe {
        if l >= 2 && h >= l / 2 {
            let mut m = [S::zero(); 16];
            for jb in (0..h).step_by(l / 2) {
                let avail = n_read.saturating_sub(2 * jb);
                for (r, v) in m[..l].iter_mut().enumerate() {
                    *v = if r >= rows || avail == 0 {
                        S::zero()
                    } else if avail >= l {
                        S::load(src.add(r * ld + 2 * jb))
                    } else {
                        S::load_partial(src.add(r * ld + 2 * jb), avail)
                    };
                }
                S::transpose(&mut m[..l]);
                for (i, v) in m[..l].iter().enumerate() {
                    S::store(work.add(2 * l * jb + i * l), *v);
                }
            }
            return;
        }
        for j in 0..h {
            for r in 0..l {
                let w = work.add(2 * l * j + r);
                let at = |i: usize| if r < rows && i < n_read { *src.add(r * ld + i) } else { T::ZERO };
                *w = at(2 * j);
                *w.add(l) = at(2 * j + 1);
            }
        }
    }
}

/// Writes the `count` complex values held in `tile` (as `(re, im)` register pairs,
/// lane `r` for row `r`) to positions `at..at + count` of the first `rows` output
/// rows. A full tile (`2 · count == LANES`) is transposed in registers and stored
/// one vector per row; otherwise value by value.
#[inline(always)]
unsafe fn store_tile<T: Float, S: Simd<T>>(
    tile: &mut [S::V],
    count: usize,
    rows: usize,
    out: *mut T,
    ld: usize,
    at: usize,
) {
    let l = S::LANES;
    // SAFETY: positions at..at + count are inside each of the `rows` output rows
    // (caller); `tile` holds 2 · count registers.
    unsafe {
        if 2 * count == l {
            S::transpose(&mut tile[..l]);
            for r in 0..rows {
                S::store(out.add(r * ld + 2 * at), tile[r]);
            }
            return;
        }
        let mut buf = [T::ZERO; 2 * 16 * 16];
        for (i, v) in tile[..2 * count].iter().enumerate() {
            S::store(buf.as_mut_ptr().add(i * l), *v);
        }
        for r in 0..rows {
            let o = out.add(r * ld + 2 * at);
            for i in 0..2 * count {
                *o.add(i) = buf[i * l + r];
            }
        }
    }
}

/// The real FFT of `rows <= LANES` rows: row `r` reads `n_read <= n` values at
/// `src + r·ld_src` (zero-padded to `n`) and writes `n/2 + 1` interleaved complex
/// values, times `scale`, at `out + r·ld_out`. `next` names the following batch
/// (prefetched during the FFT).
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
    let n = plan.n;
    let h = n / 2;
    let l = S::LANES;
    // SAFETY: ranges as stated in the contract; every index below is < h (work) or
    // <= h (output, 2h + 2 = n + 2 values per row).
    unsafe {
        load_rows::<T, S>(n, src, ld_src, n_read, rows, work);
        complex_fft::<T, S>(plan, work, h, &mut Prefetcher::new(next));

        // k = 0: X[0] = Re Z0 + Im Z0, X[h] = Re Z0 - Im Z0, both real.
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

        // k = 1 ..= h/2 in tiles of `LANES / 2` values (so a tile is one register
        // per row after the transpose); `front` gets X[k], `back` X[h - k] in
        // ascending position order.
        let tile_len = (l / 2).max(1);
        let half = S::splat(scale * T::from_f64(0.5));
        let mut front = [S::zero(); 32];
        let mut back = [S::zero(); 32];
        let mut kb = 1;
        while kb <= h / 2 {
            let count = tile_len.min(h / 2 + 1 - kb);
            // A full tile has a trip count known at compile time (LANES / 2), so the
            // compiler unrolls it and keeps `front`/`back` in registers.
            let trips = if count == tile_len { (S::LANES / 2).max(1) } else { count };
            for t in 0..trips {
                let k = kb + t;
                let a = load::<T, S>(work, *plan.bitrev.get_unchecked(k) as usize);
                let b = load::<T, S>(work, *plan.bitrev.get_unchecked(h - k) as usize);
                // E = (a + conj b)/2, O = -i (a - conj b)/2, both scaled.
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
