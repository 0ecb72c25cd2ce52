//! Runtime CPU-feature detection and the active SIMD tier.
//!
//! The tier is detected once, at first use, and kept in one `AtomicU8`. The
//! environment variable `MLKERN_SIMD=<tier>` caps it (read once, at the same
//! time); a tier the CPU does not support falls back to the best available one
//! and records a warning that the Python layer turns into a `RuntimeWarning`.
//! [`set_active`] switches tiers in-process: tests use it to run every kernel under
//! every tier the host supports. It refuses tiers the CPU lacks, which is what makes
//! calling the `#[target_feature]` kernels of [`crate::dispatch`] sound.

use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::OnceLock;

use crate::error::{Error, Result};

/// A SIMD instruction-set level. Kernels exist for each; a higher tier on the same
/// architecture implies every lower one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[repr(u8)]
pub enum Tier {
    /// Plain Rust, no explicit SIMD; the reference every other tier is tested against.
    Scalar = 0,
    /// x86-64-v2: SSE up to SSE4.2 (128-bit, no FMA).
    X86_64V2 = 1,
    /// x86-64-v3: AVX2 + FMA (256-bit).
    X86_64V3 = 2,
    /// x86-64-v4: AVX-512 F/BW/VL/DQ (512-bit, masked tails).
    X86_64V4 = 3,
    /// aarch64 Advanced SIMD (128-bit with FMA).
    Neon = 4,
}

const UNSET: u8 = u8::MAX;
static ACTIVE: AtomicU8 = AtomicU8::new(UNSET);
static WARNINGS: OnceLock<Vec<String>> = OnceLock::new();

impl Tier {
    /// Every tier, in the order `from_u8` expects.
    pub const ALL: [Tier; 5] = [Tier::Scalar, Tier::X86_64V2, Tier::X86_64V3, Tier::X86_64V4, Tier::Neon];

    /// The canonical name (`"scalar"`, `"x86-64-v2"`, `"x86-64-v3"`, `"x86-64-v4"`, `"neon"`).
    pub fn name(self) -> &'static str {
        match self {
            Tier::Scalar => "scalar",
            Tier::X86_64V2 => "x86-64-v2",
            Tier::X86_64V3 => "x86-64-v3",
            Tier::X86_64V4 => "x86-64-v4",
            Tier::Neon => "neon",
        }
    }

    /// Parses a canonical name or a common alias (`sse4.2`, `avx2`, `avx512`), case-insensitively.
    pub fn from_name(name: &str) -> Result<Tier> {
        let lower = name.trim().to_ascii_lowercase();
        Ok(match lower.as_str() {
            "scalar" | "none" | "generic" => Tier::Scalar,
            "x86-64-v2" | "sse" | "sse4.2" | "sse42" | "v2" => Tier::X86_64V2,
            "x86-64-v3" | "avx2" | "v3" => Tier::X86_64V3,
            "x86-64-v4" | "avx512" | "avx-512" | "v4" => Tier::X86_64V4,
            "neon" | "asimd" => Tier::Neon,
            _ => {
                return Err(Error::unsupported(format!(
                    "unknown SIMD tier {name:?}; expected one of scalar, x86-64-v2, x86-64-v3, x86-64-v4, neon"
                )))
            }
        })
    }

    fn from_u8(v: u8) -> Tier {
        Tier::ALL[v as usize]
    }

    /// True when this CPU can execute the tier's kernels.
    pub fn is_supported(self) -> bool {
        available_tiers().contains(&self)
    }
}

impl std::fmt::Display for Tier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// Tiers this CPU supports, best last. Always starts with [`Tier::Scalar`].
pub fn available_tiers() -> &'static [Tier] {
    static TIERS: OnceLock<Vec<Tier>> = OnceLock::new();
    TIERS.get_or_init(detect_tiers)
}

/// The best tier this CPU supports, ignoring `MLKERN_SIMD`.
pub fn best_tier() -> Tier {
    *available_tiers().last().expect("scalar is always available")
}

#[cfg(target_arch = "x86_64")]
fn detect_tiers() -> Vec<Tier> {
    let mut tiers = vec![Tier::Scalar];
    // Every feature the x86-64-v2 functions enable (`dispatch::per_tier!`), sse2
    // being the target's baseline.
    let v2 = is_x86_feature_detected!("sse4.2")
        && is_x86_feature_detected!("sse3")
        && is_x86_feature_detected!("ssse3")
        && is_x86_feature_detected!("sse4.1")
        && is_x86_feature_detected!("popcnt");
    let v3 =
        v2 && is_x86_feature_detected!("avx") && is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma");
    let v4 = v3
        && is_x86_feature_detected!("avx512f")
        && is_x86_feature_detected!("avx512bw")
        && is_x86_feature_detected!("avx512vl")
        && is_x86_feature_detected!("avx512dq");
    for (ok, t) in [(v2, Tier::X86_64V2), (v3, Tier::X86_64V3), (v4, Tier::X86_64V4)] {
        if ok {
            tiers.push(t);
        }
    }
    tiers
}

#[cfg(target_arch = "aarch64")]
fn detect_tiers() -> Vec<Tier> {
    let mut tiers = vec![Tier::Scalar];
    if std::arch::is_aarch64_feature_detected!("neon") {
        tiers.push(Tier::Neon);
    }
    tiers
}

#[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
fn detect_tiers() -> Vec<Tier> {
    vec![Tier::Scalar]
}

/// CPU feature flags of interest to mlkern that this CPU has, in a fixed order.
pub fn features() -> Vec<&'static str> {
    let mut found = Vec::new();
    #[cfg(target_arch = "x86_64")]
    {
        macro_rules! probe {
            ($($f:tt),*) => { $( if is_x86_feature_detected!($f) { found.push($f); } )* };
        }
        probe!(
            "sse2",
            "sse3",
            "ssse3",
            "sse4.1",
            "sse4.2",
            "popcnt",
            "avx",
            "avx2",
            "fma",
            "f16c",
            "bmi2",
            "avx512f",
            "avx512bw",
            "avx512vl",
            "avx512dq",
            "avx512cd",
            "avx512vnni",
            "avx512bf16",
            "avx512fp16",
            "avx512vpopcntdq",
            "avx512vbmi",
            "avx512vbmi2",
            "avx512bitalg",
            "avx512ifma",
            "avxvnni"
        );
    }
    #[cfg(target_arch = "aarch64")]
    {
        macro_rules! probe {
            ($($f:tt),*) => { $( if std::arch::is_aarch64_feature_detected!($f) { found.push($f); } )* };
        }
        probe!("neon", "fp16", "dotprod", "i8mm", "bf16", "sve", "sve2");
    }
    found
}

/// Reads `MLKERN_SIMD` and chooses the starting tier; records warnings for bad values.
fn initial_tier() -> (Tier, Vec<String>) {
    let best = best_tier();
    let mut warnings = Vec::new();
    let tier = match std::env::var("MLKERN_SIMD") {
        Err(_) => best,
        Ok(v) if v.trim().is_empty() => best,
        Ok(v) => match Tier::from_name(&v) {
            Ok(t) if t.is_supported() => t,
            Ok(t) => {
                // A tier this CPU lacks (too high, or another architecture's).
                warnings
                    .push(format!("MLKERN_SIMD={v} asks for tier {t}, which this CPU does not support; using {best}"));
                best
            }
            Err(e) => {
                warnings.push(format!("MLKERN_SIMD ignored: {e}; using {best}"));
                best
            }
        },
    };
    (tier, warnings)
}

/// The tier the dispatch table uses now (detected and capped on first call).
#[inline]
pub fn active() -> Tier {
    let v = ACTIVE.load(Ordering::Relaxed);
    if v != UNSET {
        return Tier::from_u8(v);
    }
    init()
}

#[cold]
fn init() -> Tier {
    let warnings = WARNINGS.get_or_init(|| {
        let (tier, warnings) = initial_tier();
        // Only the first initialiser stores; a concurrent set_active wins if it came first.
        let _ = ACTIVE.compare_exchange(UNSET, tier as u8, Ordering::Relaxed, Ordering::Relaxed);
        warnings
    });
    let _ = warnings;
    Tier::from_u8(ACTIVE.load(Ordering::Relaxed))
}

/// Warnings produced while reading `MLKERN_SIMD` (empty when it was absent or valid).
pub fn startup_warnings() -> &'static [String] {
    active();
    WARNINGS.get().map(Vec::as_slice).unwrap_or(&[])
}

/// Switches the active tier in-process (for tests and benchmarks).
///
/// Fails with [`Error::Unsupported`] when this CPU cannot run `tier`.
pub fn set_active(tier: Tier) -> Result<()> {
    active();
    if !tier.is_supported() {
        return Err(Error::unsupported(format!(
            "SIMD tier {tier} is not supported by this CPU (available: {})",
            available_tiers().iter().map(|t| t.name()).collect::<Vec<_>>().join(", ")
        )));
    }
    ACTIVE.store(tier as u8, Ordering::Relaxed);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for t in Tier::ALL {
            assert_eq!(Tier::from_name(t.name()).unwrap(), t);
        }
        assert_eq!(Tier::from_name("AVX512").unwrap(), Tier::X86_64V4);
        assert!(Tier::from_name("avx1024").is_err());
    }

    #[test]
    fn scalar_always_available_and_first() {
        assert_eq!(available_tiers()[0], Tier::Scalar);
        assert!(active().is_supported());
    }
}
