//! Hamming distances between packed hypervectors: row-wise, all pairs
//! (`cdist_hamming`) and the `k` nearest (`topk_hamming`).
//!
//! Algorithm: the popcount blocks of [`crate::popcount`] over cache blocks of `b`
//! (about 256 KiB of rows, kept in L2 while a task's rows of `a` stream past), tasks
//! of rows of `a` in parallel. Top-k keys each distance with its index
//! (`dist · 2³² + index`), selects the `k` smallest in O(n) and sorts them, so ties
//! go to the lower index. Exact integers throughout.

use mlkern_core::{checked_size, threads, Error, Result};

use crate::dispatch::{self, HammingKernel};

/// Bytes of `b` per cache block.
const B_BLOCK_BYTES: usize = 256 * 1024;

fn check_rows(name: &'static str, data: &[u64], rows: usize, words: usize) -> Result<()> {
    if data.len() != checked_size(name, rows, words)? {
        return Err(Error::shape(name, format!("{} words are not {rows} rows of {words}", data.len())));
    }
    Ok(())
}

/// `|a_i XOR b_i|` for each of the `rows` row pairs (`rows × words` each).
pub fn hamming_rows(a: &[u64], b: &[u64], rows: usize, words: usize) -> Result<Vec<i64>> {
    check_rows("a", a, rows, words)?;
    check_rows("b", b, rows, words)?;
    let k = dispatch::hamming();
    let mut out = vec![0i64; rows];
    threads::for_each_row_mut(
        &mut out,
        1,
        words,
        usize::MAX,
        || (),
        |_, r, o| {
            (k.block)(&a[r * words..(r + 1) * words], 1, &b[r * words..(r + 1) * words], 1, words, o, 1);
        },
    );
    Ok(out)
}

/// All-pairs Hamming distances (`m × n`, row-major) with the active kernel.
pub fn cdist_hamming(a: &[u64], m: usize, b: &[u64], n: usize, words: usize) -> Result<Vec<i64>> {
    cdist_hamming_with(dispatch::hamming(), a, m, b, n, words)
}

/// [`cdist_hamming`] with a given popcount kernel (the tier tests use every one).
pub fn cdist_hamming_with(
    k: &HammingKernel,
    a: &[u64],
    m: usize,
    b: &[u64],
    n: usize,
    words: usize,
) -> Result<Vec<i64>> {
    check_rows("XA", a, m, words)?;
    check_rows("XB", b, n, words)?;
    let len = checked_size("cdist_hamming", m, n)?;
    let mut out = vec![0i64; len];
    if len == 0 {
        return Ok(out);
    }
    let b_rows = (B_BLOCK_BYTES / (8 * words.max(1))).max(4) / 4 * 4;
    let per = threads::rows_per_task(m, n.saturating_mul(words), usize::MAX).next_multiple_of(4);
    threads::for_each_chunk_mut(&mut out, per * n, usize::MAX, |c, chunk| {
        let i0 = c * per;
        let rows = chunk.len() / n;
        let mut j0 = 0;
        while j0 < n {
            let bj = (n - j0).min(b_rows);
            (k.block)(
                &a[i0 * words..(i0 + rows) * words],
                rows,
                &b[j0 * words..(j0 + bj) * words],
                bj,
                words,
                &mut chunk[j0..],
                n,
            );
            j0 += bj;
        }
    });
    Ok(out)
}

/// The `k` rows of `memory` nearest each query: `(indices, distances)`, both
/// `q × k`, nearest first, ties to the lower index.
pub fn topk_hamming(
    queries: &[u64],
    q: usize,
    memory: &[u64],
    n: usize,
    words: usize,
    k: usize,
) -> Result<(Vec<i64>, Vec<i64>)> {
    check_rows("queries", queries, q, words)?;
    check_rows("memory", memory, n, words)?;
    if k == 0 || k > n {
        return Err(Error::invalid("k", format!("k = {k} must be in 1..={n} (the rows of memory)")));
    }
    if n > u32::MAX as usize || words.saturating_mul(64) > u32::MAX as usize {
        return Err(Error::invalid("memory", "at most 2^32 - 1 rows of at most 2^32 - 1 bits"));
    }
    let len = checked_size("topk_hamming", q, k)?;
    let kern = dispatch::hamming();
    let mut idx = vec![0i64; len];
    let mut dist = vec![0i64; len];
    let rows: Vec<(Vec<i64>, Vec<i64>)> = threads::map_rows(
        q,
        n.saturating_mul(words),
        usize::MAX,
        || (vec![0i64; n], vec![0u64; n]),
        |(d, keys), r| {
            (kern.block)(&queries[r * words..(r + 1) * words], 1, memory, n, words, d, n);
            for (j, (key, &dj)) in keys.iter_mut().zip(d.iter()).enumerate() {
                *key = ((dj as u64) << 32) | j as u64;
            }
            if k < n {
                keys.select_nth_unstable(k - 1);
            }
            let best = &mut keys[..k];
            best.sort_unstable();
            (best.iter().map(|&x| (x & 0xffff_ffff) as i64).collect(), best.iter().map(|&x| (x >> 32) as i64).collect())
        },
    );
    for (r, (i, d)) in rows.into_iter().enumerate() {
        idx[r * k..(r + 1) * k].copy_from_slice(&i);
        dist[r * k..(r + 1) * k].copy_from_slice(&d);
    }
    Ok((idx, dist))
}
