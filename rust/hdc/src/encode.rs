//! The fused encoders: a projection `z = x·W` of each sample (`W` is `f × Dpad`,
//! zero-padded to whole words), an optional nonlinearity, then either the sign
//! packed into bits (binary codes) or the values themselves (MAP codes). No
//! `n × D` float matrix is ever materialised for binary codes.
//!
//! Algorithm: a register tile of `R` samples × 64 columns (one output word per
//! sample): per feature `k`, `64 / LANES` vectors of `W`'s row `k` and `R`
//! broadcasts of `x_rk` feed `R · 64 / LANES` fused multiply-adds; the tile's sign
//! bits are one compare into a mask per vector (`Simd::positive_mask`). `W` comes in
//! panel-major order ([`panel_major`]: the `f × 64` panel of each output word
//! contiguous, made once by the encoder's owner); each task walks chunks of
//! [`ROW_CHUNK_BYTES`] of samples and, for each, every word's panel: both stay in L1.
//!
//! Accumulation: a serial fused (FMA tiers) or unfused (scalar tier) float32 sum
//! over the `f` features, in feature order; |z − z_exact| ≤ f·u·Σ|x_k w_k| with u =
//! 2⁻²⁴. A sign can therefore differ between tiers only where |z| is within that
//! bound of 0, which is what the tier tests allow. Bit = `z > 0` (0 for ±0 and for
//! the padding columns, where `W` is zero).
//!
//! Record (level) and n-gram encoding bundle XOR-bound hypervectors by majority
//! ([`crate::ops::BitCounter`]); their MAP forms sum the bipolar products.

use mlkern_core::simd::Simd;

use crate::last_word_mask;
use crate::ops::BitCounter;

/// Bytes of samples per chunk inside a task (half of a 48 KiB L1, beside one panel).
pub const ROW_CHUNK_BYTES: usize = 24 * 1024;

/// The map applied to each projection `z_c` (column `c`) before the sign.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Nonlinearity {
    /// `z`: Gaussian random projection (sign codes estimate the angle).
    Identity,
    /// `cos(z + b_c) · sin(z)`, OnlineHD's nonlinear encoder (`b` the bias row).
    Sinusoid,
}

/// Where encoded rows go: packed bits (`rows × words`) or float32 values
/// (`rows × d`).
#[derive(Debug)]
pub enum EncodedRows<'a> {
    Bits(&'a mut [u64]),
    Values(&'a mut [f32]),
}

/// The projection problem shared by a call: `W` in panel-major order (see
/// [`panel_major`]), bias, dimension.
#[derive(Debug, Clone, Copy)]
pub struct Projection<'a> {
    /// `words × f × 64` floats: panel `j` holds `W[k][64j..64j + 64]` for `k < f`.
    pub w: &'a [f32],
    pub features: usize,
    pub d: usize,
    pub bias: &'a [f32],
    pub nonlinearity: Nonlinearity,
}

/// `W` (`f × dpad`, row-major, `dpad = 64 · words`) in the panel-major order the
/// encoder reads: the `f × 64` panel of each output word contiguous.
pub fn panel_major(w: &[f32], f: usize, dpad: usize) -> Vec<f32> {
    let words = dpad / 64;
    let mut panels = vec![0.0f32; f * dpad];
    for j in 0..words {
        for k in 0..f {
            panels[(j * f + k) * 64..(j * f + k + 1) * 64]
                .copy_from_slice(&w[k * dpad + j * 64..k * dpad + j * 64 + 64]);
        }
    }
    panels
}

impl Projection<'_> {
    pub fn words(&self) -> usize {
        self.d.div_ceil(64)
    }
    pub fn dpad(&self) -> usize {
        self.words() * 64
    }
}

/// `R × (V · LANES)` tile of projections: rows `x[r]` (each `f` features) against
/// `V · LANES` columns of `W` starting at `w` (row stride `dpad`).
///
/// # Safety
/// Each `x[r]` is valid for `f` reads and `w` for `(f − 1)·dpad + V·LANES` reads; the
/// CPU has `S`'s features.
#[inline(always)]
unsafe fn tile<S: Simd<f32>, const R: usize, const V: usize>(
    x: [*const f32; R],
    f: usize,
    w: *const f32,
    dpad: usize,
) -> [[S::V; V]; R] {
    // SAFETY: reads as promised by the caller.
    unsafe {
        let mut acc = [[S::zero(); V]; R];
        for k in 0..f {
            let row = w.add(k * dpad);
            let mut wv = [S::zero(); V];
            for v in 0..V {
                wv[v] = S::load(row.add(v * S::LANES));
            }
            for r in 0..R {
                let xv = S::splat(x[r].add(k).read());
                for v in 0..V {
                    acc[r][v] = S::mul_add(xv, wv[v], acc[r][v]);
                }
            }
        }
        acc
    }
}

/// Encodes `x` (`rows × f`) into `out` (see the module docs).
///
/// # Safety
/// The CPU has `S`'s features. Sizes are checked (assert) here: `x.len() = rows·f`,
/// `w.len() = f·dpad`, `bias` empty or `dpad`, `out` `rows·words` or `rows·d`.
#[inline(always)]
pub unsafe fn project<S: Simd<f32>>(x: &[f32], rows: usize, p: &Projection<'_>, out: EncodedRows<'_>) {
    let (f, d, words, dpad) = (p.features, p.d, p.words(), p.dpad());
    assert!(Some(x.len()) == rows.checked_mul(f) && Some(p.w.len()) == f.checked_mul(dpad));
    assert!(p.bias.is_empty() || p.bias.len() == dpad);
    assert!(S::LANES <= 64 && 64 % S::LANES == 0);
    match &out {
        EncodedRows::Bits(o) => assert_eq!(o.len(), rows * words),
        EncodedRows::Values(o) => assert_eq!(o.len(), rows * d),
    }
    // SAFETY: forwarded (features; sizes asserted above).
    unsafe {
        match S::LANES {
            16 => project_tiles::<S, 6, 4>(x, rows, p, out),
            8 => project_tiles::<S, 1, 8>(x, rows, p, out),
            4 => project_tiles::<S, 1, 16>(x, rows, p, out),
            _ => project_tiles::<S, 1, 64>(x, rows, p, out),
        }
    }
}

/// [`project`] with `R` samples per tile and `V` vectors per 64 columns.
///
/// Loop order: chunks of [`ROW_CHUNK_BYTES`] of samples (in L1), then each word's panel of
/// `W` (`f × 64`, contiguous, in L1), then tiles of `R` samples.
#[inline(always)]
unsafe fn project_tiles<S: Simd<f32>, const R: usize, const V: usize>(
    x: &[f32],
    rows: usize,
    p: &Projection<'_>,
    mut out: EncodedRows<'_>,
) {
    debug_assert_eq!(V * S::LANES, 64);
    let (f, d, words) = (p.features, p.d, p.words());
    let panels = p.w;
    let chunk = (ROW_CHUNK_BYTES / (4 * f.max(1))).clamp(R, 32 * R) / R * R;
    let mut r0 = 0;
    while r0 < rows {
        let r1 = (r0 + chunk).min(rows);
        for j in 0..words {
            let panel = panels[j * f * 64..].as_ptr();
            let mut r = r0;
            while r + R <= r1 {
                let xs: [*const f32; R] = std::array::from_fn(|i| x[(r + i) * f..].as_ptr());
                // SAFETY: rows r..r+R exist (f reads each); panel j holds f·64 floats;
                // S's features (contract).
                let acc = unsafe { tile::<S, R, V>(xs, f, panel, 64) };
                for (i, a) in acc.iter().enumerate() {
                    // SAFETY: features (contract).
                    unsafe { emit::<S, V>(a, r + i, j, p, d, words, &mut out) };
                }
                r += R;
            }
            while r < r1 {
                // SAFETY: as above, one row.
                let acc = unsafe { tile::<S, 1, V>([x[r * f..].as_ptr()], f, panel, 64) };
                // SAFETY: features (contract).
                unsafe { emit::<S, V>(&acc[0], r, j, p, d, words, &mut out) };
                r += 1;
            }
        }
        r0 = r1;
    }
}

/// Writes word `j` of sample `r` from its 64 projections.
#[inline(always)]
unsafe fn emit<S: Simd<f32>, const V: usize>(
    acc: &[S::V; V],
    r: usize,
    j: usize,
    p: &Projection<'_>,
    d: usize,
    words: usize,
    out: &mut EncodedRows<'_>,
) {
    let mask = if j + 1 == words { last_word_mask(d) } else { u64::MAX };
    if p.nonlinearity == Nonlinearity::Identity {
        if let EncodedRows::Bits(o) = out {
            let mut word = 0u64;
            for (v, a) in acc.iter().enumerate() {
                // SAFETY: features (contract).
                word |= unsafe { S::positive_mask(*a) } << (v * S::LANES);
            }
            o[r * words + j] = word & mask;
            return;
        }
    }
    let mut z = [0.0f32; 64];
    for (v, a) in acc.iter().enumerate() {
        // SAFETY: z holds 64 = V·LANES floats.
        unsafe { S::store(z.as_mut_ptr().add(v * S::LANES), *a) };
    }
    if p.nonlinearity == Nonlinearity::Sinusoid {
        let b = if p.bias.is_empty() { &[0.0f32; 64][..] } else { &p.bias[j * 64..j * 64 + 64] };
        for (zc, bc) in z.iter_mut().zip(b) {
            *zc = (*zc + bc).cos() * zc.sin();
        }
    }
    match out {
        EncodedRows::Bits(o) => {
            let word = z.iter().enumerate().fold(0u64, |w, (c, &v)| w | (u64::from(v > 0.0) << c));
            o[r * words + j] = word & mask;
        }
        EncodedRows::Values(o) => {
            let c0 = j * 64;
            let n = (d - c0).min(64);
            o[r * d + c0..r * d + c0 + n].copy_from_slice(&z[..n]);
        }
    }
}

/// Record encoding of one sample: the majority of `ids[i] XOR levels[level[i]]`
/// over its features (`words`-word rows), ties broken by `tie_bits(word)`.
pub fn level_record(
    level: &[u32],
    ids: &[u64],
    levels: &[u64],
    words: usize,
    d: usize,
    counter: &mut BitCounter,
    tie_bits: impl Fn(usize) -> u64,
    out: &mut [u64],
) {
    counter.reset(words);
    for (i, &l) in level.iter().enumerate() {
        let id = &ids[i * words..(i + 1) * words];
        let lv = &levels[l as usize * words..(l as usize + 1) * words];
        counter.add_xor(id, lv);
    }
    counter.majority(tie_bits, d, out);
}

/// N-gram encoding of one token sequence: the majority over its windows of
/// `XOR_i rotated[N−1−i][token_{p+i}]` (`rotated[s]` is the codebook rotated by `s`
/// bits, `vocab × words` each), ties broken by `tie_bits(word)`; `gram` is the
/// caller's reusable buffer for one window's vector.
pub fn ngram_sequence(
    tokens: &[u32],
    rotated: &[u64],
    n: usize,
    vocab: usize,
    words: usize,
    d: usize,
    (counter, gram): &mut (BitCounter, Vec<u64>),
    tie_bits: impl Fn(usize) -> u64,
    out: &mut [u64],
) {
    counter.reset(words);
    gram.resize(words, 0);
    for p in 0..=tokens.len() - n {
        gram.fill(0);
        for i in 0..n {
            let book = &rotated[(n - 1 - i) * vocab * words..];
            let t = tokens[p + i] as usize;
            for (g, &v) in gram.iter_mut().zip(&book[t * words..(t + 1) * words]) {
                *g ^= v;
            }
        }
        counter.add(gram);
    }
    counter.majority(tie_bits, d, out);
}

fn check_projection(x: &[f32], rows: usize, p: &Projection<'_>) -> mlkern_core::Result<()> {
    use mlkern_core::{checked_size, Error};
    crate::words_for(p.d)?;
    if x.len() != checked_size("X", rows, p.features)? {
        return Err(Error::shape("X", format!("{} values are not {rows} rows of {} features", x.len(), p.features)));
    }
    if p.w.len() != checked_size("W", p.features, p.dpad())? {
        return Err(Error::shape("W", format!("{} values are not {} rows of {}", p.w.len(), p.features, p.dpad())));
    }
    if !(p.bias.is_empty() || p.bias.len() == p.dpad()) {
        return Err(Error::shape("bias", format!("{} values, expected {}", p.bias.len(), p.dpad())));
    }
    if let Some(i) = x.iter().position(|v| !v.is_finite()) {
        return Err(Error::invalid(
            "X",
            format!("non-finite value at row {}, feature {}", i / p.features.max(1), i % p.features.max(1)),
        ));
    }
    Ok(())
}

/// Encodes `x` (`rows × f`) into packed codes (`rows × words`) with the active tier,
/// rows in parallel.
pub fn encode_bits(x: &[f32], rows: usize, p: &Projection<'_>) -> mlkern_core::Result<Vec<u64>> {
    encode_bits_with(crate::dispatch::active(), x, rows, p)
}

/// [`encode_bits`] with a given tier's table (for the tier tests).
pub fn encode_bits_with(
    k: &crate::dispatch::Kernels,
    x: &[f32],
    rows: usize,
    p: &Projection<'_>,
) -> mlkern_core::Result<Vec<u64>> {
    check_projection(x, rows, p)?;
    let words = p.words();
    let mut out = crate::zeroed::<u64>("encode", mlkern_core::checked_size("encode", rows, words)?)?;
    if rows == 0 {
        return Ok(out);
    }
    let f = p.features;
    let per = mlkern_core::threads::rows_per_task(rows, words * 64 * f, usize::MAX);
    mlkern_core::threads::for_each_chunk_mut(&mut out, per * words, usize::MAX, |c, o| {
        let r0 = c * per;
        let n = o.len() / words;
        (k.project)(&x[r0 * f..(r0 + n) * f], n, p, EncodedRows::Bits(o));
    });
    Ok(out)
}

/// Encodes `x` into float32 MAP values (`rows × d`), rows in parallel.
pub fn encode_values_with(
    k: &crate::dispatch::Kernels,
    x: &[f32],
    rows: usize,
    p: &Projection<'_>,
) -> mlkern_core::Result<Vec<f32>> {
    check_projection(x, rows, p)?;
    let d = p.d;
    let mut out = crate::zeroed::<f32>("encode", mlkern_core::checked_size("encode", rows, d)?)?;
    if rows == 0 {
        return Ok(out);
    }
    let f = p.features;
    let per = mlkern_core::threads::rows_per_task(rows, d * f, usize::MAX);
    mlkern_core::threads::for_each_chunk_mut(&mut out, per * d, usize::MAX, |c, o| {
        let r0 = c * per;
        let n = o.len() / d;
        (k.project)(&x[r0 * f..(r0 + n) * f], n, p, EncodedRows::Values(o));
    });
    Ok(out)
}

/// The tie bits of sample `r`, word `w` of a bundling encoder seeded with `seed`.
#[inline]
pub fn tie_bits(seed: u64, r: usize, words: usize, w: usize) -> u64 {
    mlkern_core::rng::splitmix64(seed ^ 0xB5AD_4ECE_DA1C_E2A9, (r * words + w) as u64)
}

/// Record-encodes `rows` samples of `f` features: `level` is `rows × f` level indices (each `<
/// n_levels`), `ids` `f × words`, `levels` `n_levels × words`.
pub fn level_encode(
    level: &[u32],
    rows: usize,
    f: usize,
    ids: &[u64],
    levels: &[u64],
    n_levels: usize,
    d: usize,
    seed: u64,
) -> mlkern_core::Result<Vec<u64>> {
    use mlkern_core::{checked_size, Error};
    let words = crate::words_for(d)?;
    if level.len() != checked_size("levels", rows, f)? {
        return Err(Error::shape("levels", "level indices must be rows x features"));
    }
    if ids.len() != checked_size("ids", f, words)? || levels.len() != checked_size("levels", n_levels, words)? {
        return Err(Error::shape("codebooks", "id and level codebooks must be features x words and levels x words"));
    }
    if let Some(&l) = level.iter().find(|&&l| l as usize >= n_levels) {
        return Err(Error::invalid("levels", format!("level index {l} is not below {n_levels}")));
    }
    let mut out = crate::zeroed::<u64>("encode", checked_size("encode", rows, words)?)?;
    if rows == 0 {
        return Ok(out);
    }
    mlkern_core::threads::for_each_row_mut(&mut out, words, f * words, usize::MAX, BitCounter::default, |ctr, r, o| {
        level_record(&level[r * f..(r + 1) * f], ids, levels, words, d, ctr, |w| tie_bits(seed, r, words, w), o);
    });
    Ok(out)
}

/// N-gram-encodes token sequences given as CSR (`offsets` of `rows + 1`, tokens
/// `< vocab`): `rotated` holds the codebook rotated by 0..n bits (`n × vocab × words`).
pub fn ngram_encode(
    tokens: &[u32],
    offsets: &[usize],
    rotated: &[u64],
    n: usize,
    vocab: usize,
    d: usize,
    seed: u64,
) -> mlkern_core::Result<Vec<u64>> {
    use mlkern_core::{checked_size, Error};
    let words = crate::words_for(d)?;
    if n == 0 {
        return Err(Error::invalid("n", "the n-gram size must be at least 1"));
    }
    if rotated.len() != checked_size("codebook", checked_size("codebook", n, vocab)?, words)? {
        return Err(Error::shape("codebook", "rotated codebooks must be n x vocab x words"));
    }
    let rows = offsets.len().saturating_sub(1);
    for r in 0..rows {
        let (s, e) = (offsets[r], offsets[r + 1]);
        if s > e || e > tokens.len() {
            return Err(Error::invalid(
                "offsets",
                format!("sequence {r} spans {s}..{e} outside the {} tokens", tokens.len()),
            ));
        }
        if e - s < n {
            return Err(Error::invalid("X", format!("sequence {r} has {} tokens, fewer than n = {n}", e - s)));
        }
    }
    if let Some(&t) = tokens.iter().find(|&&t| t as usize >= vocab) {
        return Err(Error::invalid("X", format!("token {t} is not below the vocabulary size {vocab}")));
    }
    let mut out = crate::zeroed::<u64>("encode", checked_size("encode", rows, words)?)?;
    if rows == 0 {
        return Ok(out);
    }
    let work = tokens.len() / rows.max(1) * n * words;
    mlkern_core::threads::for_each_row_mut(&mut out, words, work, usize::MAX, Default::default, |state, r, o| {
        ngram_sequence(
            &tokens[offsets[r]..offsets[r + 1]],
            rotated,
            n,
            vocab,
            words,
            d,
            state,
            |w| tie_bits(seed, r, words, w),
            o,
        );
    });
    Ok(out)
}
