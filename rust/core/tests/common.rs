//! Shared test helpers: a deterministic generator and exact references.
#![allow(dead_code)]

/// Unit roundoff of f32 and of f64.
pub const U32: f64 = f32::EPSILON as f64 / 2.0;
pub const U64: f64 = f64::EPSILON / 2.0;

/// SplitMix64: small, deterministic, good enough for test data.
#[derive(Debug)]
pub struct Rng(pub u64);

impl Rng {
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    /// Uniform in [-1, 1).
    pub fn uniform(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64 * 2.0 - 1.0
    }
    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n as u64) as usize
    }
    pub fn vec_f64(&mut self, n: usize) -> Vec<f64> {
        (0..n).map(|_| self.uniform()).collect()
    }
    pub fn vec_f32(&mut self, n: usize) -> Vec<f32> {
        (0..n).map(|_| self.uniform() as f32).collect()
    }
}

/// Exact sum of `xs` (Shewchuk's non-overlapping partials, as Python's `math.fsum`),
/// rounded once at the end: error <= 2^-52 |sum|.
pub fn fsum(xs: impl IntoIterator<Item = f64>) -> f64 {
    let mut partials: Vec<f64> = Vec::new();
    for mut x in xs {
        let mut i = 0;
        for j in 0..partials.len() {
            let mut y = partials[j];
            if x.abs() < y.abs() {
                std::mem::swap(&mut x, &mut y);
            }
            let hi = x + y;
            let lo = y - (hi - x);
            if lo != 0.0 {
                partials[i] = lo;
                i += 1;
            }
            x = hi;
        }
        partials.truncate(i);
        partials.push(x);
    }
    // Sum the non-overlapping partials from the largest: error <= u |sum| (approximately).
    partials.iter().rev().fold(0.0, |s, &p| s + p)
}

/// Exact dot product of f64 data (products split exactly by FMA), rounded once.
pub fn exact_dot(a: &[f64], b: &[f64]) -> f64 {
    fsum(a.iter().zip(b).flat_map(|(&x, &y)| {
        let p = x * y;
        [p, x.mul_add(y, -p)]
    }))
}

/// `Σ |a_i b_i|` (the condition-number denominator of dot error bounds).
pub fn abs_dot(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| (x * y).abs()).sum::<f64>() * (1.0 + 1e-12)
}

/// `γ_n = n u / (1 - n u)`.
pub fn gamma(n: usize, u: f64) -> f64 {
    let nu = n as f64 * u;
    nu / (1.0 - nu)
}

pub fn widen(v: &[f32]) -> Vec<f64> {
    v.iter().map(|&x| x as f64).collect()
}

/// `Σ a_i b_i` by Ogita–Rump–Oishi Dot2 (error about `u|s| + γ_n² Σ|a_i b_i|`).
pub fn dot2(a: impl Iterator<Item = (f64, f64)>) -> f64 {
    let (mut s, mut c) = (0.0f64, 0.0f64);
    for (x, y) in a {
        let p = x * y;
        let e = x.mul_add(y, -p);
        let t = s + p;
        let z = t - s;
        c += (s - (t - z)) + (p - z) + e;
        s = t;
    }
    s + c
}

/// Every tier this CPU supports with its table from a crate's `for_tier`.
pub fn supported_tables<K>(
    for_tier: fn(mlkern_core::Tier) -> Option<&'static K>,
) -> Vec<(mlkern_core::Tier, &'static K)> {
    let t: Vec<_> = mlkern_core::cpu::available_tiers()
        .iter()
        .map(|&t| (t, for_tier(t).expect("available tier has a table")))
        .collect();
    assert!(!t.is_empty());
    t
}

/// A crate's `for_tier` hands out a table exactly for the supported tiers, each
/// labelled with its own tier.
pub fn check_tables_match_tiers<K>(
    for_tier: fn(mlkern_core::Tier) -> Option<&'static K>,
    tier_of: fn(&K) -> mlkern_core::Tier,
) {
    for t in mlkern_core::Tier::ALL {
        assert_eq!(for_tier(t).is_some(), t.is_supported(), "{t}");
        if let Some(k) = for_tier(t) {
            assert_eq!(tier_of(k), t);
        }
    }
}
