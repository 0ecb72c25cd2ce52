//! hdc's kernel table: the popcount block, the fused projection encoder, sign
//! packing and bipolar accumulation, compiled once per tier with
//! [`mlkern_core::per_tier!`].
//!
//! Popcount per tier: scalar and x86-64-v2 (and NEON) use [`popcount::Portable`]
//! (`count_ones`: SWAR on scalar, `popcnt` on v2, `cnt` on NEON); x86-64-v3 and -v4
//! the AVX2 nibble lookup. VPOPCNTDQ is not part of x86-64-v4, so its kernel is a
//! separate table entry that [`hamming_for`] hands out only for the v4 tier on a CPU
//! that also reports `avx512vpopcntdq` (Zen 4/5, Ice Lake and later).

use mlkern_core::simd::Simd;
use mlkern_core::Tier;

use crate::encode::{self, EncodedRows, Projection};
use crate::popcount;

/// `(a, a_rows, b, b_rows, words, out, ldo)`: `out[i·ldo + j] = |a_i XOR b_j|`.
pub type BlockFn = fn(&[u64], usize, &[u64], usize, usize, &mut [i64], usize);

/// One popcount implementation and its name (`cpu_info`-style, for the bench).
#[derive(Debug)]
pub struct HammingKernel {
    pub name: &'static str,
    pub block: BlockFn,
}

/// hdc's kernels of one tier.
#[derive(Debug)]
pub struct Kernels {
    pub tier: Tier,
    pub hamming: HammingKernel,
    /// `(x, rows, projection, out)`: see [`encode::project`].
    pub project: fn(&[f32], usize, &Projection<'_>, EncodedRows<'_>),
    /// `(values, d, out)`: bit `j` of `out` is `values[j] > 0` (one row of `d`).
    pub pack_positive: fn(&[f32], usize, &mut [u64]),
    /// `(bits, weight, row)`: `row[j] += bit_j ? weight : −weight` for `j < row.len()`.
    pub bipolar_add: fn(&[u64], f32, &mut [f32]),
}

/// `bit j of out = values[j] > 0` for one `d`-value row.
///
/// # Safety
/// The CPU has `S`'s features.
#[inline(always)]
pub(crate) unsafe fn pack_positive<S: Simd<f32>>(values: &[f32], d: usize, out: &mut [u64]) {
    assert!(values.len() >= d && out.len() >= d.div_ceil(64));
    for (w, o) in out.iter_mut().enumerate().take(d.div_ceil(64)) {
        let c0 = w * 64;
        let n = (d - c0).min(64);
        let mut buf = [0.0f32; 64];
        let src: &[f32] = if n == 64 {
            &values[c0..c0 + 64]
        } else {
            buf[..n].copy_from_slice(&values[c0..c0 + n]);
            &buf
        };
        let mut word = 0u64;
        for v in 0..64 / S::LANES {
            // SAFETY: src holds 64 floats; S's features (contract).
            word |= unsafe { S::positive_mask(S::load(src.as_ptr().add(v * S::LANES))) } << (v * S::LANES);
        }
        *o = word;
    }
}

/// `row[j] += bit_j ? w : −w`.
#[inline(always)]
pub(crate) fn bipolar_add(bits: &[u64], w: f32, row: &mut [f32]) {
    for (chunk, &x) in row.chunks_mut(64).zip(bits) {
        for (b, r) in chunk.iter_mut().enumerate() {
            let s = if (x >> b) & 1 == 1 { w } else { -w };
            *r += s;
        }
    }
}

macro_rules! pop_of {
    (scalar) => {
        popcount::Portable
    };
    (x86_64_v2) => {
        popcount::Portable
    };
    (x86_64_v3) => {
        popcount::Nibble
    };
    (x86_64_v4) => {
        popcount::Nibble
    };
    (neon) => {
        popcount::Portable
    };
}

macro_rules! pop_name {
    (scalar) => {
        "scalar-swar"
    };
    (x86_64_v2) => {
        "popcnt"
    };
    (x86_64_v3) => {
        "avx2-nibble"
    };
    (x86_64_v4) => {
        "avx2-nibble"
    };
    (neon) => {
        "neon-cnt"
    };
}

macro_rules! hdc_tier {
    ($module:ident, $tier:expr, $isa:ty, $features:literal) => {
        mod $module {
            use super::*;

            #[target_feature(enable = $features)]
            fn block_k(a: &[u64], ar: usize, b: &[u64], br: usize, words: usize, out: &mut [i64], ldo: usize) {
                // SAFETY: this function carries the tier's features.
                unsafe { popcount::block::<pop_of!($module), 2>(a, ar, b, br, words, out, ldo) }
            }
            fn block(a: &[u64], ar: usize, b: &[u64], br: usize, words: usize, out: &mut [i64], ldo: usize) {
                // SAFETY: the table holding this wrapper is only handed out on CPUs
                // with the tier's features.
                unsafe { block_k(a, ar, b, br, words, out, ldo) }
            }
            #[target_feature(enable = $features)]
            fn project_k(x: &[f32], rows: usize, p: &Projection<'_>, out: EncodedRows<'_>) {
                // SAFETY: the tier's features are enabled here.
                unsafe { encode::project::<$isa>(x, rows, p, out) }
            }
            fn project(x: &[f32], rows: usize, p: &Projection<'_>, out: EncodedRows<'_>) {
                // SAFETY: as for `block`.
                unsafe { project_k(x, rows, p, out) }
            }
            #[target_feature(enable = $features)]
            fn pack_k(v: &[f32], d: usize, out: &mut [u64]) {
                // SAFETY: the tier's features are enabled here.
                unsafe { pack_positive::<$isa>(v, d, out) }
            }
            fn pack(v: &[f32], d: usize, out: &mut [u64]) {
                // SAFETY: as for `block`.
                unsafe { pack_k(v, d, out) }
            }
            #[target_feature(enable = $features)]
            fn bipolar_k(bits: &[u64], w: f32, row: &mut [f32]) {
                bipolar_add(bits, w, row)
            }
            fn bipolar(bits: &[u64], w: f32, row: &mut [f32]) {
                // SAFETY: as for `block`.
                unsafe { bipolar_k(bits, w, row) }
            }

            pub(super) static TABLE: Kernels = Kernels {
                tier: $tier,
                hamming: HammingKernel { name: pop_name!($module), block },
                project,
                pack_positive: pack,
                bipolar_add: bipolar,
            };
        }
    };
}

// `unsafe`: every kernel in a tier's table is behind that tier's `$features` above.
mlkern_core::per_tier!(unsafe hdc_tier =>
    /// hdc's kernels, one table per tier of this architecture.
    pub static TABLES: Kernels);

/// hdc's table of `tier`, if this CPU supports it.
pub fn for_tier(tier: Tier) -> Option<&'static Kernels> {
    TABLES.for_tier(tier)
}

/// The active tier's table.
pub fn active() -> &'static Kernels {
    TABLES.active()
}

#[cfg(target_arch = "x86_64")]
mod vpopcnt {
    use super::*;

    #[target_feature(
        enable = "sse2,sse3,ssse3,sse4.1,sse4.2,popcnt,avx,avx2,fma,avx512f,avx512bw,avx512vl,avx512dq,avx512vpopcntdq"
    )]
    fn block_k(a: &[u64], ar: usize, b: &[u64], br: usize, words: usize, out: &mut [i64], ldo: usize) {
        // SAFETY: the features VPOPCNTDQ needs are enabled on this function.
        unsafe { popcount::block::<popcount::Vpopcnt, 4>(a, ar, b, br, words, out, ldo) }
    }
    fn block(a: &[u64], ar: usize, b: &[u64], br: usize, words: usize, out: &mut [i64], ldo: usize) {
        // SAFETY: KERNEL is private; `hamming_for` returns it only when the v4 tier is
        // supported (its features checked by mlkern_core::cpu) and the CPU reports
        // avx512vpopcntdq.
        unsafe { block_k(a, ar, b, br, words, out, ldo) }
    }
    pub(super) static KERNEL: HammingKernel = HammingKernel { name: "avx512-vpopcntdq", block };

    pub(super) fn detected() -> bool {
        std::arch::is_x86_feature_detected!("avx512vpopcntdq")
    }
}

/// The popcount kernel for `tier` on this CPU: VPOPCNTDQ for x86-64-v4 where the
/// CPU has it, else the tier table's.
pub fn hamming_for(tier: Tier) -> Option<&'static HammingKernel> {
    let table = for_tier(tier)?;
    #[cfg(target_arch = "x86_64")]
    if tier == Tier::X86_64V4 && vpopcnt::detected() {
        return Some(&vpopcnt::KERNEL);
    }
    Some(&table.hamming)
}

/// The popcount kernel of the active tier.
pub fn hamming() -> &'static HammingKernel {
    hamming_for(mlkern_core::cpu::active()).unwrap_or(&active().hamming)
}

/// Every popcount kernel this CPU can run, each with the tier it belongs to
/// (the tier table's own and, on v4, VPOPCNTDQ): what the tier tests iterate.
pub fn all_hamming() -> Vec<(Tier, &'static HammingKernel)> {
    let mut v = Vec::new();
    for &t in mlkern_core::cpu::available_tiers() {
        if let Some(k) = for_tier(t) {
            v.push((t, &k.hamming));
            if let Some(h) = hamming_for(t) {
                if !std::ptr::eq(h, &k.hamming) {
                    v.push((t, h));
                }
            }
        }
    }
    v
}
