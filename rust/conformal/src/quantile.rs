//! The conformal quantile: the `k`-th smallest of `n` calibration scores with
//! `k = ⌈(n + 1) · level⌉`, or `+inf` when `k > n` (the level is out of reach of so
//! few scores).
//!
//! `k` is computed exactly as MAPIE computes it: `alpha` is `1 − level` taken in
//! decimal (MAPIE's `float(Decimal("1") - Decimal(str(level)))`, see [`mapie_alpha`]),
//! then `k = ceil((n + 1) · (1 − alpha))` in float64; the order statistic is what NumPy's
//! `np.quantile(scores, k / n, method="lower")` returns (for `n < 2⁵²` the virtual
//! index `⌊(n − 1) · k/n⌋` is exactly `k − 1`). Selection is `O(n)` per level
//! (`select_nth_unstable`) on one `O(n)` scratch copy.

use mlkern_core::{Error, Result};

/// Checks `0 < level < 1`.
pub fn check_level(level: f64) -> Result<()> {
    if level > 0.0 && level < 1.0 {
        Ok(())
    } else {
        Err(Error::invalid("confidence_level", format!("must lie in the open interval (0, 1), got {level}")))
    }
}

/// MAPIE's `alpha` for a confidence level: `1 − level` computed in decimal on the
/// shortest decimal spelling of `level` (what Python's `str(level)` prints, and
/// Rust's `Display` too), rounded once to float64. For `level = 0.58` this is exactly
/// the float64 nearest 0.42, where `1.0 - 0.58` in float64 is one ulp off, and the
/// rank `⌈(n + 1)(1 − alpha)⌉` can differ by one (n = 49).
pub fn mapie_alpha(level: f64) -> f64 {
    let text = format!("{level}");
    let Some(frac) = text.strip_prefix("0.") else {
        return 1.0 - level;
    };
    if frac.is_empty() || !frac.bytes().all(|b| b.is_ascii_digit()) {
        return 1.0 - level;
    }
    // 1 − 0.d = 0.(10^m − d): the nines' complement of d, plus one in the last place.
    let mut digits: Vec<u8> = frac.bytes().map(|b| b'9' - (b - b'0')).collect();
    for d in digits.iter_mut().rev() {
        if *d == b'9' {
            *d = b'0';
        } else {
            *d += 1;
            break;
        }
    }
    let complement = format!("0.{}", String::from_utf8_lossy(&digits));
    complement.parse::<f64>().unwrap_or(1.0 - level)
}

/// The 1-based rank `⌈(n + 1) · (1 − alpha)⌉` with MAPIE's `alpha` ([`mapie_alpha`]),
/// or `None` when it exceeds `n`.
pub fn conformal_rank(n: usize, level: f64) -> Option<usize> {
    let alpha = mapie_alpha(level);
    let k = ((n as f64 + 1.0) * (1.0 - alpha)).ceil();
    if k > n as f64 {
        None
    } else {
        Some((k as usize).max(1))
    }
}

fn check_scores(scores: &[f64]) -> Result<()> {
    if scores.is_empty() {
        return Err(Error::invalid("scores", "the calibration set is empty"));
    }
    if let Some(i) = scores.iter().position(|s| s.is_nan()) {
        return Err(Error::invalid("scores", format!("scores[{i}] is NaN")));
    }
    Ok(())
}

/// The conformal quantile of `scores` at each of `levels` into `out`; returns how
/// many levels were out of reach (`+inf`).
pub fn conformal_quantile(scores: &[f64], levels: &[f64], out: &mut [f64]) -> Result<usize> {
    check_scores(scores)?;
    levels.iter().try_for_each(|&l| check_level(l))?;
    if out.len() != levels.len() {
        return Err(Error::shape("out", format!("{} values for {} levels", out.len(), levels.len())));
    }
    let mut work = try_copy(scores)?;
    Ok(quantiles_of(&mut work, levels, out))
}

fn try_copy(scores: &[f64]) -> Result<Vec<f64>> {
    let mut v = Vec::new();
    v.try_reserve_exact(scores.len())
        .map_err(|_| Error::out_of_memory("scores", format!("a scratch copy of {} scores", scores.len())))?;
    v.extend_from_slice(scores);
    Ok(v)
}

/// Quantiles of `work` (reordered in place); returns the count of `+inf` levels.
fn quantiles_of(work: &mut [f64], levels: &[f64], out: &mut [f64]) -> usize {
    let mut unreachable = 0;
    for (o, &level) in out.iter_mut().zip(levels) {
        *o = match conformal_rank(work.len(), level) {
            None => {
                unreachable += 1;
                f64::INFINITY
            }
            Some(k) => *work.select_nth_unstable_by(k - 1, f64::total_cmp).1,
        };
    }
    unreachable
}

/// Group-conditional quantiles: the distinct values of `groups` in increasing order,
/// and for each the conformal quantile of its scores at every level (row-major
/// `(n_groups, n_levels)`), with the count of `+inf` entries.
pub fn group_quantiles(scores: &[f64], groups: &[i64], levels: &[f64]) -> Result<(Vec<i64>, Vec<f64>, usize)> {
    check_scores(scores)?;
    levels.iter().try_for_each(|&l| check_level(l))?;
    if groups.len() != scores.len() {
        return Err(Error::shape("groups", format!("{} groups for {} scores", groups.len(), scores.len())));
    }
    let mut pairs: Vec<(i64, f64)> = Vec::new();
    pairs
        .try_reserve_exact(scores.len())
        .map_err(|_| Error::out_of_memory("scores", format!("a scratch copy of {} scores", scores.len())))?;
    pairs.extend(groups.iter().copied().zip(scores.iter().copied()));
    pairs.sort_unstable_by(|a, b| a.0.cmp(&b.0).then(a.1.total_cmp(&b.1)));
    let (mut ids, mut values, mut unreachable) = (Vec::new(), Vec::new(), 0);
    let mut start = 0;
    while start < pairs.len() {
        let g = pairs[start].0;
        let end = start + pairs[start..].iter().take_while(|p| p.0 == g).count();
        let n = end - start;
        ids.push(g);
        for &level in levels {
            values.push(match conformal_rank(n, level) {
                None => {
                    unreachable += 1;
                    f64::INFINITY
                }
                Some(k) => pairs[start + k - 1].1,
            });
        }
        start = end;
    }
    Ok((ids, values, unreachable))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rank_matches_definition() {
        assert_eq!(conformal_rank(9, 0.9), Some(9));
        assert_eq!(conformal_rank(8, 0.9), None); // ⌈9 · 0.9⌉ = 9 > 8
        assert_eq!(conformal_rank(99, 0.9), Some(90));
        assert_eq!(conformal_rank(1, 0.3), Some(1));
        assert_eq!(conformal_rank(10_000, 0.9), Some(9001));
    }

    #[test]
    fn alpha_is_decimal_complement() {
        assert_eq!(mapie_alpha(0.58), 0.42);
        assert_eq!(mapie_alpha(0.9), 0.1);
        assert_eq!(mapie_alpha(0.999), 0.001);
        assert_eq!(mapie_alpha(0.12345678901234567), 0.8765432109876543);
        assert_eq!(mapie_alpha(1e-7), 0.9999999);
        assert_ne!(1.0 - 0.58, 0.42); // the float64 subtraction is off by one ulp
        assert_eq!(conformal_rank(49, 0.58), Some(30)); // MAPIE's 30th, not the 29th
    }

    #[test]
    fn quantile_is_order_statistic() {
        let s: Vec<f64> = (0..100).rev().map(f64::from).collect();
        let mut out = [0.0; 2];
        let inf = conformal_quantile(&s, &[0.5, 0.995], &mut out).unwrap();
        assert_eq!(out[0], 50.0); // ⌈101 · 0.5⌉ = 51st smallest = 50
        assert!(out[1].is_infinite() && inf == 1);
    }
}
