//! Class-prototype training on binary codes: the bipolar accumulation
//! `C[c] += w · (2·h − 1)` of selected samples (centroids and OnlineHD/AdaptHD
//! retraining updates), and the sign-packing of prototypes back into codes.
//!
//! Accumulation: float32 adds of ±w in sample order per class row (exact while the
//! running sums stay integers below 2²⁴, as they do for unit weights). Classes in
//! parallel: each task owns whole rows of `C`, so the result does not depend on the
//! thread count.

use mlkern_core::{checked_size, threads, Error, Result};

use crate::dispatch;

/// For each `s` in `samples`: `C[classes[s]] += weights[s] · bipolar(codes[samples[s]])`.
///
/// `codes` is `n × words`, `c` is `k × d` (row-major float32, updated in place).
pub fn accumulate(
    codes: &[u64],
    n: usize,
    d: usize,
    samples: &[i64],
    classes: &[i64],
    weights: &[f32],
    c: &mut [f32],
    k: usize,
) -> Result<()> {
    let words = crate::words_for(d)?;
    if codes.len() != checked_size("codes", n, words)? {
        return Err(Error::shape("codes", format!("{} words are not {n} rows of {words}", codes.len())));
    }
    if c.len() != checked_size("prototypes", k, d)? {
        return Err(Error::shape("prototypes", format!("{} values are not {k} rows of {d}", c.len())));
    }
    if samples.len() != classes.len() || samples.len() != weights.len() {
        return Err(Error::shape("samples", "samples, classes and weights must have one entry each"));
    }
    if let Some(&s) = samples.iter().find(|&&s| s < 0 || s as usize >= n) {
        return Err(Error::invalid("samples", format!("index {s} is outside 0..{n}")));
    }
    if let Some(&y) = classes.iter().find(|&&y| y < 0 || y as usize >= k) {
        return Err(Error::invalid("classes", format!("class {y} is outside 0..{k}")));
    }
    if k == 0 {
        return Ok(());
    }
    let add = dispatch::active().bipolar_add;
    let threads = if samples.len() * d < (1 << 16) { 1 } else { usize::MAX };
    threads::for_each_chunk_mut(c, d, threads, |class, row| {
        for ((&s, &y), &w) in samples.iter().zip(classes).zip(weights) {
            if y as usize == class {
                let s = s as usize;
                add(&codes[s * words..(s + 1) * words], w, row);
            }
        }
    });
    Ok(())
}

/// Packs `values > 0` of each of the `rows` rows of `d` floats into codes.
pub fn pack_positive(values: &[f32], rows: usize, d: usize) -> Result<Vec<u64>> {
    let words = crate::words_for(d)?;
    if values.len() != checked_size("values", rows, d)? {
        return Err(Error::shape("values", format!("{} values are not {rows} rows of {d}", values.len())));
    }
    let mut out = crate::zeroed::<u64>("sign_pack", checked_size("values", rows, words)?)?;
    if rows == 0 {
        return Ok(out);
    }
    let pack = dispatch::active().pack_positive;
    threads::for_each_row_mut(&mut out, words, d, usize::MAX, || (), |_, r, o| pack(&values[r * d..(r + 1) * d], d, o));
    Ok(out)
}

/// One retraining round of a binary HDC classifier, in place.
///
/// The prototypes' codes are the signs of `c` (`k × d`); each sample's similarity
/// to class `j` is `1 − 2·|code_i XOR proto_j| / d` (the bipolar cosine). A sample
/// whose class `y_i` does not lead its most similar other class `r_i` (the first
/// of equal ones) by more than `margin` — `s_r + margin ≥ s_y` — adds `lr` times
/// its bipolar code to `c[y_i]` and subtracts it from `c[r_i]`; all updates use the
/// prototypes from the start of the round. Returns how many samples updated.
pub fn retrain_epoch(
    codes: &[u64],
    n: usize,
    d: usize,
    labels: &[i64],
    c: &mut [f32],
    k: usize,
    lr: f32,
    margin: f64,
) -> Result<usize> {
    let words = crate::words_for(d)?;
    if codes.len() != checked_size("codes", n, words)? || labels.len() != n {
        return Err(Error::shape(
            "codes",
            format!("{} words and {} labels are not {n} rows of {words}", codes.len(), labels.len()),
        ));
    }
    if c.len() != checked_size("prototypes", k, d)? {
        return Err(Error::shape("prototypes", format!("{} values are not {k} rows of {d}", c.len())));
    }
    if let Some(&y) = labels.iter().find(|&&y| y < 0 || y as usize >= k) {
        return Err(Error::invalid("labels", format!("class {y} is outside 0..{k}")));
    }
    if k < 2 || n == 0 {
        return Ok(0);
    }
    let protos = pack_positive(c, k, d)?;
    let ham = crate::distance::cdist_hamming(codes, n, &protos, k, words)?;
    let mut samples = Vec::new();
    let mut classes = Vec::new();
    for i in 0..n {
        let y = labels[i] as usize;
        let row = &ham[i * k..(i + 1) * k];
        let sim = |j: usize| 1.0 - 2.0 * row[j] as f64 / d as f64;
        let mut rival = usize::MAX;
        for j in 0..k {
            if j != y && (rival == usize::MAX || sim(j) > sim(rival)) {
                rival = j;
            }
        }
        if sim(rival) + margin >= sim(y) {
            samples.push(i as i64);
            classes.push(y as i64);
            samples.push(i as i64);
            classes.push(rival as i64);
        }
    }
    let weights: Vec<f32> = (0..samples.len()).map(|t| if t % 2 == 0 { lr } else { -lr }).collect();
    accumulate(codes, n, d, &samples, &classes, &weights, c, k)?;
    Ok(samples.len() / 2)
}
