//! Half-precision storage: IEEE binary16 (`float16`) and bfloat16 bit patterns
//! (`u16`) widened to `f32`, and `f32` narrowed back.
//!
//! Widening is exact (every f16 and bf16 value is an f32 value) and branch-free, so
//! a loop over a row vectorises at the width of the tier it is compiled for (the
//! attention kernels widen key and value tiles this way):
//! - bf16: the 16 bits are the high half of the f32.
//! - f16: exponent and mantissa shifted into place and multiplied by 2¹¹² (which
//!   rebiases the exponent, and turns f16 subnormals into the right normal f32);
//!   infinities and NaNs (exponent all ones) get the f32 all-ones exponent instead,
//!   NaN payloads and the quiet bit kept (a signalling NaN stays signalling).
//!
//! Narrowing rounds to nearest, ties to even, with the `half` crate (overflow to
//! ±inf, NaN stays NaN); it runs once per output element, off the hot loops.

/// The f32 value of a bfloat16 bit pattern (exact).
#[inline(always)]
pub fn bf16_to_f32(bits: u16) -> f32 {
    f32::from_bits(u32::from(bits) << 16)
}

/// 2¹¹² as an f32: exponent field 127 + 112.
const REBIAS: f32 = f32::from_bits(0x7780_0000);

/// The f32 value of an IEEE binary16 bit pattern (exact).
#[inline(always)]
pub fn f16_to_f32(bits: u16) -> f32 {
    let h = u32::from(bits);
    let sign = (h & 0x8000) << 16;
    let magnitude = h & 0x7fff;
    let shifted = magnitude << 13;
    let finite = (f32::from_bits(shifted) * REBIAS).to_bits();
    let special = shifted | 0x7f80_0000;
    f32::from_bits(if magnitude >= 0x7c00 { special } else { finite } | sign)
}

/// `x` rounded to the nearest bfloat16 (ties to even), as its bit pattern.
#[inline]
pub fn f32_to_bf16(x: f32) -> u16 {
    half::bf16::from_f32(x).to_bits()
}

/// `x` rounded to the nearest binary16 (ties to even), as its bit pattern.
#[inline]
pub fn f32_to_f16(x: f32) -> u16 {
    half::f16::from_f32(x).to_bits()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn f16_widening_matches_half_on_every_pattern() {
        for bits in 0..=u16::MAX {
            let want = half::f16::from_bits(bits).to_f32();
            let got = f16_to_f32(bits);
            if want.is_nan() {
                assert!(got.is_nan(), "{bits:#06x}");
                // `half` sets the quiet bit of signalling NaNs; the payload below it is kept by both.
                assert_eq!(got.to_bits() & 0x003f_ffff, want.to_bits() & 0x003f_ffff, "{bits:#06x} payload");
            } else {
                assert_eq!(got.to_bits(), want.to_bits(), "{bits:#06x}");
            }
        }
    }

    #[test]
    fn bf16_widening_matches_half_on_every_pattern() {
        for bits in 0..=u16::MAX {
            let want = half::bf16::from_bits(bits).to_f32();
            let got = bf16_to_f32(bits);
            if want.is_nan() {
                // `half` quiets signalling NaNs; the shift keeps the pattern as it is.
                assert!(got.is_nan(), "{bits:#06x}");
                assert_eq!(got.to_bits() & 0xffbf_ffff, want.to_bits() & 0xffbf_ffff, "{bits:#06x} payload");
            } else {
                assert_eq!(got.to_bits(), want.to_bits(), "{bits:#06x}");
            }
        }
    }

    #[test]
    fn narrowing_rounds_to_nearest_even() {
        // 1 + 2^-11 is halfway between 1 and the next f16: ties to even gives 1.
        assert_eq!(f32_to_f16(1.0 + f32::EPSILON * 1024.0), 0x3c00);
        assert_eq!(f32_to_f16(65520.0), 0x7c00); // rounds up to +inf
        assert_eq!(f32_to_bf16(1.0 + 1.0 / 256.0), 0x3f80); // tie to even
        assert_eq!(f32_to_bf16(1.0 + 3.0 / 256.0), 0x3f82);
        assert!(half::bf16::from_bits(f32_to_bf16(f32::NAN)).is_nan());
    }
}
