//! One row of a CSR × dense product: `out[0..n] = Σ_e data[e] · B[idx[e], 0..n]`.
//!
//! Algorithm: the row's column indices are validated first (each `< kdim`; negative
//! values wrap to huge unsigned ones and fail too). Then the `n` output columns are
//! walked in chunks of up to 8 registers; for each chunk every stored entry
//! broadcasts its value and adds `value · B[idx, chunk]` into register accumulators,
//! so the output row is written once. A single column (`n == 1`, the matrix-vector
//! product) uses four scalar accumulators instead.
//!
//! Accumulation: entries are added in storage order (one FMA each where the ISA has
//! it), so `|out - exact| <= γ_nnz Σ_e |data[e] B[idx[e], j]|` (`γ_nnz = nnz·u/(1 - nnz·u)`,
//! `nnz` the row's stored entries); with one column, four interleaved partial sums.

use mlkern_core::element::Float;
use mlkern_core::simd::Simd;

/// Column-index types of a CSR matrix (`int32` and `int64` in SciPy).
pub trait CsrIndex: Copy + Send + Sync + 'static {
    /// The index as an offset; negative values map to values ≥ 2⁶³ (always out of range).
    fn offset(self) -> usize;
}
impl CsrIndex for i32 {
    #[inline(always)]
    fn offset(self) -> usize {
        self as i64 as u64 as usize
    }
}
impl CsrIndex for i64 {
    #[inline(always)]
    fn offset(self) -> usize {
        self as u64 as usize
    }
}

const CHUNK: usize = 8;

/// Returns `false` (writing nothing) if an index is `>= kdim`.
///
/// # Safety
/// The CPU must support `S`; `b` must be valid for reads of rows `0..kdim`, each of
/// `n` elements, `ldb` apart; `data.len() == idx.len()`; `out.len() == n`.
#[inline(always)]
pub(crate) unsafe fn csr_row<T: Float, S: Simd<T>, I: CsrIndex>(
    data: &[T],
    idx: &[I],
    b: *const T,
    ldb: usize,
    kdim: usize,
    out: &mut [T],
) -> bool {
    if idx.iter().any(|&i| i.offset() >= kdim) {
        return false;
    }
    let n = out.len();
    let l = S::LANES;
    // SAFETY: every index is < kdim (checked above), so each B row read is in range
    // (caller); loads/stores touch columns [j, j + width) with j + width <= n.
    unsafe {
        if n == 1 {
            let mut s = [T::ZERO; 4];
            let mut quads = data.chunks_exact(4).zip(idx.chunks_exact(4));
            for (d, i) in &mut quads {
                for q in 0..4 {
                    s[q] = s[q] + d[q] * *b.add(i[q].offset() * ldb);
                }
            }
            let tail = data.len() / 4 * 4;
            for (d, i) in data[tail..].iter().zip(&idx[tail..]) {
                s[0] = s[0] + *d * *b.add(i.offset() * ldb);
            }
            out[0] = (s[0] + s[1]) + (s[2] + s[3]);
            return true;
        }
        let o = out.as_mut_ptr();
        let mut j = 0;
        while j + CHUNK * l <= n {
            let mut acc = [S::zero(); CHUNK];
            for (&d, &i) in data.iter().zip(idx) {
                let (dv, row) = (S::splat(d), b.add(i.offset() * ldb + j));
                for v in 0..CHUNK {
                    acc[v] = S::mul_add(dv, S::load(row.add(v * l)), acc[v]);
                }
            }
            for v in 0..CHUNK {
                S::store(o.add(j + v * l), acc[v]);
            }
            j += CHUNK * l;
        }
        while j < n {
            let w = l.min(n - j);
            let mut acc = S::zero();
            for (&d, &i) in data.iter().zip(idx) {
                let row = b.add(i.offset() * ldb + j);
                let x = if w == l { S::load(row) } else { S::load_partial(row, w) };
                acc = S::mul_add(S::splat(d), x, acc);
            }
            if w == l {
                S::store(o.add(j), acc);
            } else {
                S::store_partial(o.add(j), w, acc);
            }
            j += w;
        }
    }
    true
}
