//! Batch prediction of linear models: scores, probabilities and labels of many
//! rows, in parallel row blocks, with the rows' finiteness checked in the same pass
//! (a non-finite row is an error naming it, as scikit-learn refuses NaN).
//!
//! One row costs a dot product per model column; nothing is allocated for models
//! of up to 512 columns.

use mlkern_core::{threads, Error, Result};

use crate::dispatch::{kernels, LearnFloat};
use crate::kernels::Output;

/// A linear model in the element type of the rows it scores.
#[derive(Debug, Clone, Copy)]
pub struct Linear<'a, T> {
    /// `cols × d`.
    pub coef: &'a [T],
    /// `cols`.
    pub intercept: &'a [f64],
    pub d: usize,
}

impl<T: LearnFloat> Linear<'_, T> {
    fn cols(&self) -> usize {
        self.intercept.len()
    }

    fn check(&self, x: &[T], n: usize) -> Result<()> {
        if self.d == 0 || self.cols() == 0 || self.coef.len() != self.cols() * self.d {
            return Err(Error::shape(
                "coef",
                format!("{} values for {} columns of {} features", self.coef.len(), self.cols(), self.d),
            ));
        }
        if x.len() != mlkern_core::error::checked_size("X", n, self.d)? {
            return Err(Error::shape("X", format!("{} values for {} rows of {} features", x.len(), n, self.d)));
        }
        Ok(())
    }
}

fn bad_row(row: usize) -> Error {
    Error::invalid("X", format!("row {row} contains NaN or infinity"))
}

/// Rows per parallel task.
fn task_rows(n: usize, work: usize, threads: usize) -> usize {
    threads::rows_per_task(n, work, threads).max(1)
}

/// Scores (`n × cols`) or probabilities (`n × 2` for a one-column model, else
/// `n × cols`) of the `n` rows of `x` into `out`.
pub fn scores<T: LearnFloat>(
    m: &Linear<'_, T>,
    x: &[T],
    n: usize,
    mode: Output,
    out: &mut [T],
    threads: usize,
) -> Result<()> {
    m.check(x, n)?;
    let width = if mode == Output::Proba && m.cols() == 1 { 2 } else { m.cols() };
    if out.len() != n * width {
        return Err(Error::shape("out", format!("{} values for {n} rows of {width}", out.len())));
    }
    let k = kernels::<T>();
    let d = m.d;
    let per = task_rows(n, d * m.cols(), threads);
    if per >= n {
        return match (k.linear_predict)(x, d, m.coef, m.intercept, mode, out) {
            Some(r) => Err(bad_row(r)),
            None => Ok(()),
        };
    }
    let first_bad = std::sync::atomic::AtomicUsize::new(usize::MAX);
    threads::for_each_chunk_mut(out, per * width, threads, |i, o| {
        let r0 = i * per;
        let rows = o.len() / width;
        if let Some(r) = (k.linear_predict)(&x[r0 * d..(r0 + rows) * d], d, m.coef, m.intercept, mode, o) {
            first_bad.fetch_min(r0 + r, std::sync::atomic::Ordering::Relaxed);
        }
    });
    match first_bad.into_inner() {
        usize::MAX => Ok(()),
        r => Err(bad_row(r)),
    }
}

/// The index of the predicted class of each row: `z > 0` for a one-column model,
/// else the first column of largest score.
pub fn labels<T: LearnFloat>(m: &Linear<'_, T>, x: &[T], n: usize, out: &mut [i64], threads: usize) -> Result<()> {
    m.check(x, n)?;
    if out.len() != n {
        return Err(Error::shape("out", format!("{} labels for {n} rows", out.len())));
    }
    let (cols, d) = (m.cols(), m.d);
    let k = kernels::<T>();
    const STACK: usize = 512;
    let group = (STACK / cols).max(1);
    let run = |r0: usize, o: &mut [i64]| -> Option<usize> {
        let mut stack = [T::ZERO; STACK];
        let mut heap = if cols > STACK { vec![T::ZERO; cols] } else { Vec::new() };
        let buf: &mut [T] = if cols > STACK { &mut heap } else { &mut stack };
        let mut bad = None;
        let mut start = 0;
        while start < o.len() {
            let g = group.min(o.len() - start);
            let rows = &x[(r0 + start) * d..(r0 + start + g) * d];
            let s = &mut buf[..g * cols];
            if let Some(r) = (k.linear_predict)(rows, d, m.coef, m.intercept, Output::Scores, s) {
                bad = bad.or(Some(r0 + start + r));
            }
            for (j, lab) in o[start..start + g].iter_mut().enumerate() {
                let row = &s[j * cols..(j + 1) * cols];
                *lab = if cols == 1 {
                    i64::from(row[0] > T::ZERO)
                } else {
                    let mut best = 0;
                    for (c, v) in row.iter().enumerate() {
                        if *v > row[best] {
                            best = c;
                        }
                    }
                    best as i64
                };
            }
            start += g;
        }
        bad
    };
    let per = task_rows(n, d * cols, threads);
    if per >= n {
        return run(0, out).map_or(Ok(()), |r| Err(bad_row(r)));
    }
    let first_bad = std::sync::atomic::AtomicUsize::new(usize::MAX);
    threads::for_each_chunk_mut(out, per, threads, |i, o| {
        if let Some(r) = run(i * per, o) {
            first_bad.fetch_min(r, std::sync::atomic::Ordering::Relaxed);
        }
    });
    match first_bad.into_inner() {
        usize::MAX => Ok(()),
        r => Err(bad_row(r)),
    }
}
