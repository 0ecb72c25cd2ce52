//! Popcount tiles: `out[r][c] = popcount(a_r XOR b_c)` summed over the words of `R`
//! rows of `a` and `C` rows of `b`, the inner kernel of every Hamming distance.
//!
//! Algorithm: an `R × C` register tile (4 × 4 for VPOPCNTDQ, 2 × 4 otherwise, in [`block`]) so each loaded word of
//! `a` is used `C` times and each word of `b` `R` times. Three instruction sets:
//! - [`Vpopcnt`] (AVX-512 VPOPCNTDQ): XOR and `vpopcntq` on 8 words at a time, the
//!   last partial group through masked loads (nothing read past the row);
//! - [`Nibble`] (AVX2): the 4-bit lookup of Muła, Kurz & Lemire ("Faster population
//!   counts using AVX2 instructions", 2018): two `vpshufb` per 4 words, `vpsadbw`
//!   into 64-bit lanes; the tail words by `popcnt`;
//! - [`Portable`]: `u64::count_ones`, which is `popcnt` on x86-64-v2, `cnt` + `addv`
//!   on NEON, and the bit-twiddling SWAR count on the scalar tier.
//!
//! Accumulation: exact integer counts in 64-bit lanes; every tier gives the same
//! bits, so tests compare tiers for equality against [`Portable`] on the scalar tier.

/// An `R × C` popcount tile over `words` words.
pub trait PopTile {
    /// # Safety
    /// Each `a[r]` and `b[c]` is valid for `words` reads of `u64`, and the CPU has
    /// the implementing type's features.
    unsafe fn tile<const R: usize, const C: usize>(
        a: [*const u64; R],
        b: [*const u64; C],
        words: usize,
    ) -> [[u64; C]; R];
}

/// `count_ones` on each XOR-ed word (compiled per tier).
#[derive(Debug, Clone, Copy)]
pub struct Portable;

impl PopTile for Portable {
    #[inline(always)]
    unsafe fn tile<const R: usize, const C: usize>(
        a: [*const u64; R],
        b: [*const u64; C],
        words: usize,
    ) -> [[u64; C]; R] {
        let mut acc = [[0u64; C]; R];
        for w in 0..words {
            for r in 0..R {
                // SAFETY: w < words, each row is valid for `words` reads (trait contract).
                let x = unsafe { a[r].add(w).read() };
                for c in 0..C {
                    // SAFETY: as above.
                    acc[r][c] += u64::from((x ^ unsafe { b[c].add(w).read() }).count_ones());
                }
            }
        }
        acc
    }
}

#[cfg(target_arch = "x86_64")]
pub use x86::{Nibble, Vpopcnt};

#[cfg(target_arch = "x86_64")]
mod x86 {
    use std::arch::x86_64::*;

    use super::PopTile;

    /// AVX2 nibble-lookup popcount.
    #[derive(Debug, Clone, Copy)]
    pub struct Nibble;

    /// Per-64-bit-lane popcounts of `v` (AVX2).
    #[inline(always)]
    unsafe fn popcnt_epi64(v: __m256i) -> __m256i {
        // SAFETY: AVX2 is available (trait contract).
        unsafe {
            let lut = _mm256_setr_epi8(
                0, 1, 1, 2, 1, 2, 2, 3, 1, 2, 2, 3, 2, 3, 3, 4, 0, 1, 1, 2, 1, 2, 2, 3, 1, 2, 2, 3, 2, 3, 3, 4,
            );
            let low = _mm256_set1_epi8(0x0f);
            let lo = _mm256_and_si256(v, low);
            let hi = _mm256_and_si256(_mm256_srli_epi16::<4>(v), low);
            let bytes = _mm256_add_epi8(_mm256_shuffle_epi8(lut, lo), _mm256_shuffle_epi8(lut, hi));
            _mm256_sad_epu8(bytes, _mm256_setzero_si256())
        }
    }

    impl PopTile for Nibble {
        #[inline(always)]
        unsafe fn tile<const R: usize, const C: usize>(
            a: [*const u64; R],
            b: [*const u64; C],
            words: usize,
        ) -> [[u64; C]; R] {
            // SAFETY: AVX2 is available and every read below is at w + 4 <= words
            // (vectors) or w < words (tail), inside each row (trait contract).
            unsafe {
                let mut acc = [[_mm256_setzero_si256(); C]; R];
                let mut w = 0;
                while w + 4 <= words {
                    let mut bv = [_mm256_setzero_si256(); C];
                    for c in 0..C {
                        bv[c] = _mm256_loadu_si256(b[c].add(w) as *const __m256i);
                    }
                    for r in 0..R {
                        let av = _mm256_loadu_si256(a[r].add(w) as *const __m256i);
                        for c in 0..C {
                            acc[r][c] = _mm256_add_epi64(acc[r][c], popcnt_epi64(_mm256_xor_si256(av, bv[c])));
                        }
                    }
                    w += 4;
                }
                let mut out = [[0u64; C]; R];
                for r in 0..R {
                    for c in 0..C {
                        let mut lanes = [0u64; 4];
                        _mm256_storeu_si256(lanes.as_mut_ptr() as *mut __m256i, acc[r][c]);
                        let mut s = lanes.iter().sum::<u64>();
                        for t in w..words {
                            s += u64::from((a[r].add(t).read() ^ b[c].add(t).read()).count_ones());
                        }
                        out[r][c] = s;
                    }
                }
                out
            }
        }
    }

    /// AVX-512 VPOPCNTDQ popcount.
    #[derive(Debug, Clone, Copy)]
    pub struct Vpopcnt;

    /// Rows `w..w + 8` of each of the `N` rows at `p`: all eight words when `m` is
    /// `0xff`, else only the lanes set in `m` (the others zero, not read).
    #[inline(always)]
    unsafe fn load<const N: usize>(p: [*const u64; N], w: usize, m: __mmask8) -> [__m512i; N] {
        // SAFETY: AVX-512F is available and the lanes read are inside each row
        // (caller: `w + 8 <= words` for a full mask, the set lanes below `words` else).
        unsafe {
            let mut v = [_mm512_setzero_si512(); N];
            for i in 0..N {
                v[i] = if m == 0xff {
                    _mm512_loadu_si512(p[i].add(w) as *const __m512i)
                } else {
                    _mm512_maskz_loadu_epi64(m, p[i].add(w) as *const i64)
                };
            }
            v
        }
    }

    /// `acc[r][c] += popcount(av[r] XOR bv[c])` per 64-bit lane.
    #[inline(always)]
    unsafe fn accumulate<const R: usize, const C: usize>(
        acc: &mut [[__m512i; C]; R],
        av: &[__m512i; R],
        bv: &[__m512i; C],
    ) {
        // SAFETY: AVX-512F and VPOPCNTDQ are available (trait contract); registers only.
        unsafe {
            for r in 0..R {
                for c in 0..C {
                    acc[r][c] = _mm512_add_epi64(acc[r][c], _mm512_popcnt_epi64(_mm512_xor_si512(av[r], bv[c])));
                }
            }
        }
    }

    impl PopTile for Vpopcnt {
        #[inline(always)]
        unsafe fn tile<const R: usize, const C: usize>(
            a: [*const u64; R],
            b: [*const u64; C],
            words: usize,
        ) -> [[u64; C]; R] {
            // SAFETY: AVX-512F and VPOPCNTDQ are available; full loads read w..w+8 <=
            // words, the masked tail loads read only lanes below `words - w` (masked
            // lanes are not accessed), all inside each row (trait contract).
            unsafe {
                let mut acc = [[_mm512_setzero_si512(); C]; R];
                let mut w = 0;
                while w + 8 <= words {
                    accumulate(&mut acc, &load(a, w, 0xff), &load(b, w, 0xff));
                    w += 8;
                }
                if w < words {
                    let m: __mmask8 = ((1u32 << (words - w)) - 1) as __mmask8;
                    accumulate(&mut acc, &load(a, w, m), &load(b, w, m));
                }
                let mut out = [[0u64; C]; R];
                for r in 0..R {
                    for c in 0..C {
                        out[r][c] = _mm512_reduce_add_epi64(acc[r][c]) as u64;
                    }
                }
                out
            }
        }
    }
}

/// Columns of the register tile in [`block`].
pub const TILE_C: usize = 4;

/// `out[i·ldo + j] = popcount(a_i XOR b_j)` for the `a_rows × b_rows` block (rows of
/// `words` words), by `TR × TILE_C` tiles and their edges (`1 × TILE_C`, `1 × 1`).
///
/// # Safety
/// The CPU has `P`'s features. (The slices are bounds-checked here: `a` holds
/// `a_rows · words`, `b` `b_rows · words` and `out` `(a_rows − 1)·ldo + b_rows` elements.)
#[inline(always)]
pub unsafe fn block<P: PopTile, const TR: usize>(
    a: &[u64],
    a_rows: usize,
    b: &[u64],
    b_rows: usize,
    words: usize,
    out: &mut [i64],
    ldo: usize,
) {
    if a_rows == 0 || b_rows == 0 {
        return;
    }
    assert!(a.len() >= a_rows * words && b.len() >= b_rows * words && ldo >= b_rows);
    assert!(out.len() >= (a_rows - 1) * ldo + b_rows);
    let pa = |i: usize| a[i * words..].as_ptr();
    let pb = |j: usize| b[j * words..].as_ptr();
    let mut i = 0;
    while i < a_rows {
        let r = if a_rows - i >= TR { TR } else { 1 };
        let mut j = 0;
        while j < b_rows {
            let c = (b_rows - j).min(TILE_C);
            // SAFETY: rows i..i+r of a and j..j+c of b exist (asserted above), each
            // valid for `words` reads; the CPU has P's features (contract).
            unsafe {
                if c == TILE_C && r == TR {
                    let t = P::tile::<TR, 4>(
                        std::array::from_fn(|dr| pa(i + dr)),
                        [pb(j), pb(j + 1), pb(j + 2), pb(j + 3)],
                        words,
                    );
                    for (dr, row) in t.iter().enumerate() {
                        out[(i + dr) * ldo + j..][..4].iter_mut().zip(row).for_each(|(o, &v)| *o = v as i64);
                    }
                } else if c == TILE_C {
                    let t = P::tile::<1, 4>([pa(i)], [pb(j), pb(j + 1), pb(j + 2), pb(j + 3)], words);
                    out[i * ldo + j..][..4].iter_mut().zip(&t[0]).for_each(|(o, &v)| *o = v as i64);
                } else {
                    for dr in 0..r {
                        for dc in 0..c {
                            let t = P::tile::<1, 1>([pa(i + dr)], [pb(j + dc)], words);
                            out[(i + dr) * ldo + j + dc] = t[0][0] as i64;
                        }
                    }
                }
            }
            j += c;
        }
        i += r;
    }
}

/// `popcount(a XOR b)` over the shorter of the two.
///
/// # Safety
/// The CPU has `P`'s features.
#[inline(always)]
pub unsafe fn hamming<P: PopTile>(a: &[u64], b: &[u64]) -> u64 {
    let words = a.len().min(b.len());
    // SAFETY: both are valid for `words` reads; features per the contract.
    unsafe { P::tile::<1, 1>([a.as_ptr()], [b.as_ptr()], words)[0][0] }
}
