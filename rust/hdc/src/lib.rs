//! mlkern-hdc: hyperdimensional computing on bit-packed hypervectors.
//!
//! A binary (BSC) hypervector of dimension `D` is `ceil(D / 64)` little-endian
//! `u64` words: bit `j` of the vector is bit `j % 64` of word `j / 64`, and the
//! padding bits above `D` in the last word are always zero (every function here
//! writes them zero; [`check_padding`] is the check for callers that take vectors
//! from users, as the Python layer does). A stack of `n` vectors is a row-major
//! `(n, words)` slice.
//!
//! - [`popcount`]: the per-tier popcount tiles (AVX-512 VPOPCNTDQ, AVX2 nibble
//!   lookup, `popcnt`/NEON `cnt` through `count_ones`), picked by [`dispatch`].
//! - [`distance`]: row-wise Hamming, the blocked `cdist_hamming` and `topk_hamming`.
//! - [`encode`]: the fused encoders (project → nonlinearity → sign → pack, no float
//!   matrix materialised), record (level) and n-gram encoding.
//! - [`ops`]: random hypervectors, majority bundling, rotation by any bit count.
//! - [`train`]: the bipolar accumulation of class prototypes.
//!
//! Nothing here knows Python; every function that takes user sizes checks them and
//! returns `Result`.

pub mod dispatch;
pub mod distance;
pub mod encode;
pub mod ops;
pub mod popcount;
pub mod train;

use mlkern_core::{checked_size, Error, Result};

/// Words of a `d`-bit hypervector: `ceil(d / 64)`; `d = 0` is refused.
pub fn words_for(d: usize) -> Result<usize> {
    if d == 0 {
        return Err(Error::invalid("D", "the dimension must be at least 1"));
    }
    Ok(d.div_ceil(64))
}

/// The mask of the valid bits of a `d`-bit vector's last word.
#[inline]
pub fn last_word_mask(d: usize) -> u64 {
    match d % 64 {
        0 => u64::MAX,
        r => (1u64 << r) - 1,
    }
}

/// Checks that `data` is `rows` vectors of `d` bits (`words_for(d)` words each) with
/// zero padding bits; `name` is the argument named in the error.
pub fn check_padding(name: &'static str, data: &[u64], rows: usize, d: usize) -> Result<()> {
    let words = words_for(d)?;
    let len = checked_size(name, rows, words)?;
    if data.len() != len {
        return Err(Error::shape(name, format!("{} words hold {rows} vectors of {words} words", data.len())));
    }
    let mask = !last_word_mask(d);
    if mask != 0 {
        if let Some(r) = (0..rows).find(|&r| data[r * words + words - 1] & mask != 0) {
            return Err(Error::invalid(
                name,
                format!("row {r} has bits set above D = {d} in its last word (padding bits must be zero)"),
            ));
        }
    }
    Ok(())
}

/// A zeroed vector of `len` elements, or [`Error::out_of_memory`] naming `what`
/// when it cannot be had (never an allocation panic or abort): every output of the
/// crate is made here.
pub fn zeroed<T: Clone + Default>(what: &'static str, len: usize) -> Result<Vec<T>> {
    let mut v = Vec::new();
    v.try_reserve_exact(len).map_err(|_| {
        Error::out_of_memory(what, format!("{len} elements of {} bytes cannot be allocated", std::mem::size_of::<T>()))
    })?;
    v.resize(len, T::default());
    Ok(v)
}
