//! Row ↔ lane transposes of the lane engine: rows into the work layout before the
//! FFT, tiles of results back to rows after it.

use mlkern_core::element::Float;
use mlkern_core::simd::Simd;

/// Transposes `rows` rows (`n_read` values each, zero-padded to `n`) into `work`.
///
/// With `h >= LANES / 2` (and more than one lane), each step loads `LANES`
/// consecutive values of every row (`LANES / 2` complex elements), transposes the
/// `LANES × LANES` block in registers and stores it contiguously: transposed vector
/// `i` is value `2jb + i` of every row, which is exactly the work layout (real and
/// imaginary parts alternate). Smaller cases copy value by value.
#[inline(always)]
pub(super) unsafe fn load_rows<T: Float, S: Simd<T>>(
    n: usize,
    src: *const T,
    ld: usize,
    n_read: usize,
    rows: usize,
    work: *mut T,
) {
    let l = S::LANES;
    let h = n / 2;
    // Lanes of elements < h are inside the work buffer (n · LANES values); row r < rows
    // is valid for n_read reads (caller). A source address is formed only for r < rows
    // and 2·jb < n_read; full loads need `avail >= LANES`, partial ones read `avail`.
    // SAFETY: as said, every read stays under n_read: no address outside the source.
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
pub(super) unsafe fn store_tile<T: Float, S: Simd<T>>(
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
