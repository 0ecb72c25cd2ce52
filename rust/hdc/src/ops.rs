//! Hypervector operations on packed words: random vectors, majority bundling (by a
//! bit counter) and rotation of the `D`-bit vector by any number of bits.
//!
//! Majority: [`BitCounter`] keeps one byte counter per bit, added 8 bits at a time
//! through a 256-entry table that spreads a byte's bits over the bytes of a `u64`
//! (one load and one add per 8 bits, no carries between bytes), flushed into 32-bit
//! counters every 255 additions. Exact integer counts; ties of an even count are
//! decided by caller-supplied random bits. Rotation reads each output word as the
//! (at most three-word, wrapping) bit range it comes from.

use mlkern_core::rng::splitmix64;
use mlkern_core::{checked_size, threads, Error, Result};

use crate::{last_word_mask, words_for};

/// `EXPAND[b]` has byte `k` equal to bit `k` of `b`.
const EXPAND: [u64; 256] = {
    let mut t = [0u64; 256];
    let mut b = 0;
    while b < 256 {
        let mut k = 0;
        while k < 8 {
            t[b] |= (((b >> k) & 1) as u64) << (8 * k);
            k += 1;
        }
        b += 1;
    }
    t
};

/// Per-bit counts of the vectors added to it (see the module docs).
#[derive(Debug, Default)]
pub struct BitCounter {
    bytes: Vec<u64>,
    wide: Vec<u32>,
    pending: u32,
    total: u64,
    words: usize,
}

impl BitCounter {
    /// Clears the counts for vectors of `words` words (reusing the buffers).
    pub fn reset(&mut self, words: usize) {
        self.words = words;
        self.bytes.clear();
        self.bytes.resize(words * 8, 0);
        self.wide.clear();
        self.wide.resize(words * 64, 0);
        self.pending = 0;
        self.total = 0;
    }

    /// Counts the bits of `v` (`words` words).
    #[inline]
    pub fn add(&mut self, v: &[u64]) {
        for (w, &x) in v.iter().enumerate().take(self.words) {
            let b = &mut self.bytes[w * 8..w * 8 + 8];
            for (m, c) in b.iter_mut().enumerate() {
                *c += EXPAND[((x >> (8 * m)) & 0xff) as usize];
            }
        }
        self.bump();
    }

    /// Counts the bits of `a XOR b`.
    #[inline]
    pub fn add_xor(&mut self, a: &[u64], b: &[u64]) {
        for (w, (&x, &y)) in a.iter().zip(b).enumerate().take(self.words) {
            let x = x ^ y;
            let c = &mut self.bytes[w * 8..w * 8 + 8];
            for (m, c) in c.iter_mut().enumerate() {
                *c += EXPAND[((x >> (8 * m)) & 0xff) as usize];
            }
        }
        self.bump();
    }

    fn bump(&mut self) {
        self.total += 1;
        self.pending += 1;
        if self.pending == 255 {
            self.flush();
        }
    }

    fn flush(&mut self) {
        if self.pending == 0 {
            return;
        }
        for (q, c) in self.bytes.iter_mut().enumerate() {
            let wide = &mut self.wide[q * 8..q * 8 + 8];
            for (k, wv) in wide.iter_mut().enumerate() {
                *wv += ((*c >> (8 * k)) & 0xff) as u32;
            }
            *c = 0;
        }
        self.pending = 0;
    }

    /// Vectors added since the last reset.
    pub fn total(&self) -> u64 {
        self.total
    }

    /// The count of bit `j` (flushes first).
    pub fn count(&mut self, j: usize) -> u32 {
        self.flush();
        self.wide[j]
    }

    /// Writes the majority vector: bit `j` is 1 when more than half the vectors
    /// have it, and bit `j % 64` of `tie_bits(j / 64)` on an exact tie; the bits
    /// above `d` are cleared.
    pub fn majority(&mut self, tie_bits: impl Fn(usize) -> u64, d: usize, out: &mut [u64]) {
        self.flush();
        let n = self.total;
        for (w, o) in out.iter_mut().enumerate().take(self.words) {
            let counts = &self.wide[w * 64..w * 64 + 64];
            let mut word = 0u64;
            let mut tie = 0u64;
            for (b, &c) in counts.iter().enumerate() {
                let twice = 2 * u64::from(c);
                word |= u64::from(twice > n) << b;
                tie |= u64::from(twice == n) << b;
            }
            if tie != 0 {
                word |= tie & tie_bits(w);
            }
            *o = word;
        }
        if let Some(last) = out.get_mut(self.words.wrapping_sub(1)) {
            if self.words * 64 > d {
                *last &= last_word_mask(d);
            }
        }
    }
}

/// Calls `f(r, row)` for each `words`-word row `r` of `out`, rows in parallel
/// (one word of work per element: small outputs stay on one thread).
fn for_each_word_row(out: &mut [u64], words: usize, f: impl Fn(usize, &mut [u64]) + Sync) {
    threads::for_each_row_mut(out, words, words, usize::MAX, || (), |_, r, row| f(r, row));
}

/// `n` random `d`-bit vectors (`n × words`): word `(r, w)` is
/// `splitmix64(seed, r·words + w)`, the padding cleared. Independent of threads.
pub fn random(n: usize, d: usize, seed: u64) -> Result<Vec<u64>> {
    let words = words_for(d)?;
    let len = checked_size("random", n, words)?;
    let mask = last_word_mask(d);
    let mut out = crate::zeroed::<u64>("random", len)?;
    for_each_word_row(&mut out, words, |r, row| {
        for (w, o) in row.iter_mut().enumerate() {
            *o = splitmix64(seed, (r * words + w) as u64);
        }
        row[words - 1] &= mask;
    });
    Ok(out)
}

/// Mixed into the seed of bundling's tie bits, so that a bundle seeded like the
/// random vectors it bundles does not break its ties with one of them.
const BUNDLE_TIES: u64 = 0x6A09_E667_F3BC_C908;

/// The majority of the `rows` vectors of `stack` (`rows × words`), ties broken by
/// `splitmix64(seed ^ BUNDLE_TIES, w)` for word `w`; 64-word chunks in parallel.
pub fn bundle(stack: &[u64], rows: usize, d: usize, seed: u64) -> Result<Vec<u64>> {
    let words = words_for(d)?;
    if stack.len() != checked_size("X", rows, words)? {
        return Err(Error::shape("X", format!("{} words are not {rows} rows of {words}", stack.len())));
    }
    if rows == 0 {
        return Err(Error::invalid("X", "cannot bundle an empty stack (0 vectors)"));
    }
    const CHUNK: usize = 64;
    let mut out = vec![0u64; words];
    let threads = if rows * words < (1 << 16) { 1 } else { usize::MAX };
    threads::for_each_chunk_mut(&mut out, CHUNK, threads, |c, o| {
        let w0 = c * CHUNK;
        let mut counter = BitCounter::default();
        counter.reset(o.len());
        for r in 0..rows {
            counter.add(&stack[r * words + w0..r * words + w0 + o.len()]);
        }
        let dd = (d - w0 * 64).min(o.len() * 64);
        counter.majority(|w| splitmix64(seed ^ BUNDLE_TIES, (w0 + w) as u64), dd, o);
    });
    Ok(out)
}

/// The `len ≤ 64` bits of the `d`-bit vector `x` starting at bit `start < d`,
/// wrapping from bit `d − 1` to bit 0.
#[inline]
fn bits_at(x: &[u64], d: usize, start: usize, len: usize) -> u64 {
    let first = (d - start).min(len);
    let mut v = contiguous(x, start, first);
    if first < len {
        v |= contiguous(x, 0, len - first) << first;
    }
    v
}

/// The `len ≤ 64` bits of `x` from bit `s` (all inside the vector).
#[inline]
fn contiguous(x: &[u64], s: usize, len: usize) -> u64 {
    let (q, sh) = (s / 64, s % 64);
    let mut v = x[q] >> sh;
    if sh > 0 && q + 1 < x.len() {
        v |= x[q + 1] << (64 - sh);
    }
    if len < 64 {
        v &= (1u64 << len) - 1;
    }
    v
}

/// Rotates each of the `rows` `d`-bit vectors of `x` by `k` bits as `np.roll(bits,
/// k)` does: bit `i` moves to bit `(i + k) mod d`.
pub fn permute(x: &[u64], rows: usize, d: usize, k: i64) -> Result<Vec<u64>> {
    let words = words_for(d)?;
    if x.len() != checked_size("x", rows, words)? {
        return Err(Error::shape("x", format!("{} words are not {rows} rows of {words}", x.len())));
    }
    let k = (i128::from(k).rem_euclid(d as i128)) as usize; // d < 2^64: no overflow
    let mut out = crate::zeroed::<u64>("permute", x.len())?;
    if rows == 0 {
        return Ok(out);
    }
    for_each_word_row(&mut out, words, |r, o| {
        let src = &x[r * words..(r + 1) * words];
        for (w, ow) in o.iter_mut().enumerate() {
            let len = (d - w * 64).min(64);
            // Output bit j = input bit (j − k) mod d.
            let start = (w * 64 + d - k) % d;
            *ow = bits_at(src, d, start, len);
        }
    });
    Ok(out)
}
