//! `scipy.stats.describe` per row: nobs, min, max, mean, variance, skewness, kurtosis.
//!
//! Algorithm: one pass over memory. Each row is read in blocks of [`BLOCK`] values
//! (L1-resident); per block the mean is computed, then the central sums
//! `Σ d², Σ d³, Σ d⁴` (`d = x - block mean`) in a second sweep of the same block;
//! blocks are merged with the pairwise update formulas of Chan, Golub and LeVeque
//! (1979) and Pébay (2008). Accumulation is in float64 for both input dtypes, so
//! there is no drift with the row length (the merge is Welford-style: error grows
//! like O(u log(n / BLOCK)) rather than O(u n)). Rows run in parallel.
//!
//! Definitions (as `scipy.stats.describe(x, axis=-1, ddof=1, bias=True)`):
//! variance = M2 / (n - ddof); skewness g1 = m3 / m2^1.5 and (excess) kurtosis
//! g2 = m4 / m2² - 3 with `m_k = M_k / n`; `bias=False` applies the same corrections
//! as SciPy (G1 = g1 √(n(n-1)) / (n-2), G2 = ((n²-1) m4/m2² - 3(n-1)²) / ((n-2)(n-3))).
//! As in SciPy, skewness and kurtosis are NaN when `m2 <= (eps · mean)²` (a
//! constant row; `eps` the machine epsilon of the input dtype).
//!
//! Non-finite values are classified while min/max are scanned and decided before
//! any moment is used, with SciPy's (NumPy's) answers: NaN anywhere in a row makes
//! every statistic of the row NaN; otherwise a row holding ±inf has its true
//! min/max, mean ±inf (NaN when both signs occur) and NaN variance, skewness and
//! kurtosis. (The blocked merge alone would give a NaN mean: `inf - inf` between a
//! block holding the infinity and a finite one.)

use mlkern_core::threads::{self, Parallelism};
use mlkern_core::{check_matrix, Error, Float, Result};

/// Values per block.
pub const BLOCK: usize = 256;

/// The statistics of one row, in float64.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Describe {
    pub nobs: usize,
    pub min: f64,
    pub max: f64,
    pub mean: f64,
    pub variance: f64,
    pub skewness: f64,
    pub kurtosis: f64,
}

/// Running moments: count, mean and central sums M2..M4.
#[derive(Debug, Clone, Copy, Default)]
struct Moments {
    n: f64,
    mean: f64,
    m2: f64,
    m3: f64,
    m4: f64,
}

impl Moments {
    /// Two sweeps over a block that is in L1.
    fn of_block<T: Float>(x: &[T]) -> Moments {
        let n = x.len() as f64;
        let mut s = [0.0f64; 4];
        for c in x.chunks(4) {
            for (acc, &v) in s.iter_mut().zip(c) {
                *acc += v.to_f64();
            }
        }
        let mean = (s[0] + s[1]) + (s[2] + s[3]);
        let mean = mean / n;
        let (mut m2, mut m3, mut m4) = ([0.0f64; 4], [0.0f64; 4], [0.0f64; 4]);
        for c in x.chunks(4) {
            for (l, &v) in c.iter().enumerate() {
                let d = v.to_f64() - mean;
                let d2 = d * d;
                m2[l] += d2;
                m3[l] += d2 * d;
                m4[l] += d2 * d2;
            }
        }
        let sum = |a: [f64; 4]| (a[0] + a[1]) + (a[2] + a[3]);
        Moments { n, mean, m2: sum(m2), m3: sum(m3), m4: sum(m4) }
    }

    /// Pébay's pairwise merge.
    fn merge(self, b: Moments) -> Moments {
        if self.n == 0.0 {
            return b;
        }
        let (na, nb) = (self.n, b.n);
        let n = na + nb;
        let d = b.mean - self.mean;
        let d_n = d / n;
        let d2 = d * d;
        let mean = self.mean + d_n * nb;
        let m2 = self.m2 + b.m2 + d2 * na * nb / n;
        let m3 = self.m3 + b.m3 + d2 * d * na * nb * (na - nb) / (n * n) + 3.0 * d_n * (na * b.m2 - nb * self.m2);
        let m4 = self.m4
            + b.m4
            + d2 * d2 * na * nb * (na * na - na * nb + nb * nb) / (n * n * n)
            + 6.0 * d_n * d_n * (na * na * b.m2 + nb * nb * self.m2)
            + 4.0 * d_n * (na * b.m3 - nb * self.m3);
        Moments { n, mean, m2, m3, m4 }
    }
}

/// What a row holds besides finite values.
#[derive(Debug, Clone, Copy, Default)]
struct NonFinite {
    nan: bool,
    pos_inf: bool,
    neg_inf: bool,
}

impl NonFinite {
    #[inline(always)]
    fn see(&mut self, v: f64) {
        self.nan |= v.is_nan();
        self.pos_inf |= v == f64::INFINITY;
        self.neg_inf |= v == f64::NEG_INFINITY;
    }

    fn any(self) -> bool {
        self.nan || self.pos_inf || self.neg_inf
    }

    /// SciPy's answer for a row with a non-finite value (NumPy arithmetic on the
    /// whole row): NaN anywhere makes everything NaN; otherwise min/max are the true
    /// extremes, the mean is the infinity (NaN when both signs are present, as
    /// `inf - inf`), and variance, skewness and kurtosis are NaN (`inf - mean`).
    fn describe(self, nobs: usize, lo: f64, hi: f64) -> Describe {
        let q = f64::NAN;
        if self.nan {
            return Describe { nobs, min: q, max: q, mean: q, variance: q, skewness: q, kurtosis: q };
        }
        let mean = match (self.pos_inf, self.neg_inf) {
            (true, false) => f64::INFINITY,
            (false, true) => f64::NEG_INFINITY,
            _ => q,
        };
        Describe { nobs, min: lo, max: hi, mean, variance: q, skewness: q, kurtosis: q }
    }
}

/// Statistics of one non-empty row.
pub fn describe_row<T: Float>(x: &[T], ddof: usize, bias: bool) -> Describe {
    let (mut lo, mut hi) = (f64::INFINITY, f64::NEG_INFINITY);
    let mut special = NonFinite::default();
    let mut acc = Moments::default();
    for block in x.chunks(BLOCK) {
        for &v in block {
            let v = v.to_f64();
            special.see(v);
            lo = lo.min(v);
            hi = hi.max(v);
        }
        acc = acc.merge(Moments::of_block(block));
    }
    // Checked before any moment is used: the merge of a block holding ±inf with a
    // finite one computes inf - inf, which is not what the row's mean is.
    if special.any() {
        return special.describe(x.len(), lo, hi);
    }
    if lo == hi && !x.is_empty() {
        // Every sample equal: exactly SciPy's answer (mean = the value, M2 = 0), which
        // the blocked merge reaches only to a few ulps (then m2 could pass SciPy's
        // constant test below and give skewness 1, kurtosis -2).
        acc.mean = lo;
        acc.m2 = 0.0;
    }
    let n = acc.n;
    // Literally M2 / (n - ddof), as NumPy/SciPy (0/0 = NaN when ddof = n).
    let variance = acc.m2 / (n - ddof as f64);
    let (m2, m3, m4) = (acc.m2 / n, acc.m3 / n, acc.m4 / n);
    // SciPy's test for a constant row: m2 <= (eps · mean)² with the machine epsilon
    // of the input's dtype.
    let eps = if std::mem::size_of::<T>() == 4 { f32::EPSILON as f64 } else { f64::EPSILON };
    let constant = m2 <= (eps * acc.mean) * (eps * acc.mean);
    let (mut skew, mut kurt) = if constant { (f64::NAN, f64::NAN) } else { (m3 / m2.powf(1.5), m4 / (m2 * m2) - 3.0) };
    // SciPy corrects only where it can (n > 2 for skewness, n > 3 for kurtosis) and
    // keeps the biased value otherwise.
    if !bias && !constant {
        if n > 2.0 {
            skew *= (n * (n - 1.0)).sqrt() / (n - 2.0);
        }
        if n > 3.0 {
            kurt = ((n * n - 1.0) * m4 / (m2 * m2) - 3.0 * (n - 1.0) * (n - 1.0)) / ((n - 2.0) * (n - 3.0));
        }
    }
    Describe { nobs: x.len(), min: lo, max: hi, mean: acc.mean, variance, skewness: skew, kurtosis: kurt }
}

/// [`describe_row`] for each of `rows` rows of `n` values, in parallel.
pub fn describe_rows<T: Float>(
    x: &[T],
    rows: usize,
    n: usize,
    ddof: usize,
    bias: bool,
    par: Parallelism,
) -> Result<Vec<Describe>> {
    if n == 0 {
        return Err(Error::invalid("x", "the input must not be empty"));
    }
    check_matrix("x", x.len(), rows, n)?;
    Ok(threads::map_rows(rows, n, par.threads(), || (), |_, r| describe_row(&x[r * n..(r + 1) * n], ddof, bias)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merge_equals_direct_two_pass() {
        let x: Vec<f64> = (0..1000).map(|i| ((i * 37) % 101) as f64 * 0.1 + 1e6).collect();
        let d = describe_row(&x, 1, true);
        let n = x.len() as f64;
        let mean = x.iter().sum::<f64>() / n;
        let m = |k: i32| x.iter().map(|v| (v - mean).powi(k)).sum::<f64>() / n;
        assert!((d.mean - mean).abs() < 1e-9);
        assert!((d.variance - m(2) * n / (n - 1.0)).abs() < 1e-9 * m(2));
        assert!((d.skewness - m(3) / m(2).powf(1.5)).abs() < 1e-9);
        assert!((d.kurtosis - (m(4) / (m(2) * m(2)) - 3.0)).abs() < 1e-9);
        let c = describe_row(&[2.0f64; 10], 1, true);
        assert!(c.skewness.is_nan() && c.kurtosis.is_nan() && c.variance == 0.0);
    }

    #[test]
    fn infinity_in_any_block_gives_numpys_answers() {
        for at in [0usize, BLOCK - 1, BLOCK, BLOCK + 1, 2 * BLOCK] {
            let mut x = vec![1.0f64; 2 * BLOCK + 1];
            x[at] = f64::INFINITY;
            let d = describe_row(&x, 1, true);
            assert_eq!((d.min, d.max, d.mean), (1.0, f64::INFINITY, f64::INFINITY), "at {at}");
            assert!(d.variance.is_nan() && d.skewness.is_nan() && d.kurtosis.is_nan());
            let other = (at + BLOCK) % x.len();
            x[other] = f64::NEG_INFINITY;
            let both = describe_row(&x, 1, true);
            assert_eq!((both.min, both.max), (f64::NEG_INFINITY, f64::INFINITY));
            assert!(both.mean.is_nan());
            x[3] = f64::NAN;
            assert!(describe_row(&x, 1, true).min.is_nan());
        }
    }
}
