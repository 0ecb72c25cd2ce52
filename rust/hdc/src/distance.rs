//! Hamming distances between packed hypervectors: row-wise, all pairs
//! (`cdist_hamming`) and the `k` nearest (`topk_hamming`).
//!
//! Algorithm: the popcount blocks of [`crate::popcount`] over cache blocks of `b`
//! (about 256 KiB of rows, kept in L2 while a task's rows of `a` stream past), tasks
//! of rows of `a` in parallel. Top-k keys each distance with its index
//! (`dist · 2³² + index`, unique keys), keeps per query the keys below the `k`-th
//! smallest so far (cut back by selection) while blocks of queries meet blocks of
//! memory, and sorts the final `k`, so ties go to the lower index. Exact integers.

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
    let mut out = crate::zeroed::<i64>("hamming", rows)?;
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
    let mut out = crate::zeroed::<i64>("cdist_hamming", len)?;
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

/// Queries per block of [`topk_hamming`] (their codes stay in L2 while memory streams).
const Q_BLOCK: usize = 64;
/// Memory rows per distance block of [`topk_hamming`].
const M_BLOCK: usize = 64;

/// The `k` smallest keys seen so far of one query: candidates below `bound` are
/// appended, and the buffer is cut back to `k` by selection when it reaches `4k`.
#[derive(Debug)]
struct Candidates {
    keys: Vec<u64>,
    bound: u64,
    k: usize,
}

impl Candidates {
    fn new(k: usize) -> Self {
        Candidates { keys: Vec::with_capacity(4 * k + 1), bound: u64::MAX, k }
    }
    #[inline]
    fn offer(&mut self, key: u64) {
        if key < self.bound {
            self.keys.push(key);
            if self.keys.len() >= 4 * self.k {
                self.trim();
            }
        }
    }
    fn trim(&mut self) {
        if self.keys.len() > self.k {
            self.keys.select_nth_unstable(self.k - 1);
            self.keys.truncate(self.k);
            // The k-th smallest key (all before it are smaller: keys are unique).
            self.bound = self.keys[self.k - 1];
        }
    }
}

/// The `k` rows of `memory` nearest each query: `(indices, distances)`, both
/// `q × k`, nearest first, ties to the lower index.
///
/// Tasks take a block of up to [`Q_BLOCK`] queries and a slice of memory (memory is
/// split too when there are fewer query blocks than threads), stream that slice
/// once in blocks of [`M_BLOCK`] rows, and keep each query's candidates; the slices'
/// candidates are merged per query at the end.
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
    let mut idx = crate::zeroed::<i64>("topk_hamming", len)?;
    let mut dist = crate::zeroed::<i64>("topk_hamming", len)?;
    if q == 0 {
        return Ok((idx, dist));
    }
    let kern = dispatch::hamming();
    let threads = threads::num_threads().max(1);
    let q_blocks = q.div_ceil(Q_BLOCK.min(q.div_ceil(threads)).max(1));
    let q_per = q.div_ceil(q_blocks);
    let small = q.saturating_mul(n).saturating_mul(words) < (1 << 16);
    let m_splits = if small { 1 } else { (threads / q_blocks).max(1).min(n.div_ceil(M_BLOCK)) };
    let m_per = n.div_ceil(m_splits);
    let tasks = q_blocks * m_splits;
    let found: Vec<Vec<Candidates>> = threads::map_indexed_capped(tasks, if small { 1 } else { usize::MAX }, |t| {
        let (qb, ms) = (t / m_splits, t % m_splits);
        let (q0, q1) = (qb * q_per, ((qb + 1) * q_per).min(q));
        let (m0, m1) = (ms * m_per, ((ms + 1) * m_per).min(n));
        let nq = q1 - q0;
        let mut cands: Vec<Candidates> = (0..nq).map(|_| Candidates::new(k)).collect();
        let mut block = vec![0i64; nq * M_BLOCK];
        let mut j0 = m0;
        while j0 < m1 {
            let bj = (m1 - j0).min(M_BLOCK);
            (kern.block)(
                &queries[q0 * words..q1 * words],
                nq,
                &memory[j0 * words..(j0 + bj) * words],
                bj,
                words,
                &mut block,
                M_BLOCK,
            );
            for (r, c) in cands.iter_mut().enumerate() {
                for (jj, &d) in block[r * M_BLOCK..r * M_BLOCK + bj].iter().enumerate() {
                    c.offer(((d as u64) << 32) | (j0 + jj) as u64);
                }
            }
            j0 += bj;
        }
        cands
    });
    let mut merged: Vec<Vec<u64>> = vec![Vec::new(); q];
    for (t, cands) in found.into_iter().enumerate() {
        let q0 = (t / m_splits) * q_per;
        for (r, c) in cands.into_iter().enumerate() {
            merged[q0 + r].extend_from_slice(&c.keys);
        }
    }
    for (r, keys) in merged.iter_mut().enumerate() {
        if keys.len() > k {
            keys.select_nth_unstable(k - 1);
            keys.truncate(k);
        }
        keys.sort_unstable();
        for (t, &key) in keys.iter().enumerate() {
            idx[r * k + t] = (key & 0xffff_ffff) as i64;
            dist[r * k + t] = (key >> 32) as i64;
        }
    }
    Ok((idx, dist))
}
