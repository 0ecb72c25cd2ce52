//! Strided matrix views: `(rows, cols)` with a row stride and a column stride in
//! elements, so row-major, column-major (`x.T`) and sliced matrices are all read in
//! place. Constructors check, without overflow, that every element lies inside the
//! slice; [`MatMut::new`] also checks that no two elements share memory.

use mlkern_core::{Error, Result};

/// Offset of the last element, or `None` if it overflows (empty matrices: 0).
fn extent(rows: usize, cols: usize, rs: usize, cs: usize) -> Option<usize> {
    if rows == 0 || cols == 0 {
        return Some(0);
    }
    (rows - 1).checked_mul(rs)?.checked_add((cols - 1).checked_mul(cs)?)?.checked_add(1)
}

fn check_extent(name: &'static str, len: usize, rows: usize, cols: usize, rs: usize, cs: usize) -> Result<()> {
    match extent(rows, cols, rs, cs) {
        Some(e) if e <= len => Ok(()),
        _ => Err(Error::shape(
            name,
            format!("a ({rows}, {cols}) view with strides ({rs}, {cs}) does not fit in {len} elements"),
        )),
    }
}

/// A read-only strided matrix view.
#[derive(Debug, Clone, Copy)]
pub struct MatRef<'a, T> {
    pub(crate) data: &'a [T],
    pub(crate) rows: usize,
    pub(crate) cols: usize,
    pub(crate) rs: usize,
    pub(crate) cs: usize,
}

impl<'a, T> MatRef<'a, T> {
    /// `(rows, cols)` with element `(i, j)` at `data[i * rs + j * cs]`.
    pub fn new(name: &'static str, data: &'a [T], rows: usize, cols: usize, rs: usize, cs: usize) -> Result<Self> {
        check_extent(name, data.len(), rows, cols, rs, cs)?;
        Ok(MatRef { data, rows, cols, rs, cs })
    }

    /// A C-ordered (row-major) matrix.
    pub fn row_major(name: &'static str, data: &'a [T], rows: usize, cols: usize) -> Result<Self> {
        Self::new(name, data, rows, cols, cols, 1)
    }

    /// The transpose, as a view (no copy).
    pub fn t(self) -> Self {
        MatRef { data: self.data, rows: self.cols, cols: self.rows, rs: self.cs, cs: self.rs }
    }

    pub fn rows(&self) -> usize {
        self.rows
    }

    pub fn cols(&self) -> usize {
        self.cols
    }

    #[inline(always)]
    pub(crate) fn ptr(&self) -> *const T {
        self.data.as_ptr()
    }

    /// A column-major copy (`(i, j)` at `i + j · rows`), converted by `f`: the work
    /// array of the factorisations. An error, not an abort, when the copy cannot be
    /// allocated (a broadcast view of a huge shape has a tiny slice behind it).
    pub(crate) fn to_col_major<U>(self, f: impl Fn(T) -> U) -> Result<Vec<U>>
    where
        T: Copy,
    {
        let too_big = || Error::invalid("a", format!("a ({}, {}) work copy cannot be allocated", self.rows, self.cols));
        let len = self.rows.checked_mul(self.cols).ok_or_else(too_big)?;
        let mut w = Vec::new();
        w.try_reserve_exact(len).map_err(|_| too_big())?;
        for j in 0..self.cols {
            w.extend((0..self.rows).map(|i| f(self.data[i * self.rs + j * self.cs])));
        }
        Ok(w)
    }
}

/// A writable strided matrix view whose elements are pairwise distinct in memory.
#[derive(Debug)]
pub struct MatMut<'a, T> {
    pub(crate) data: &'a mut [T],
    pub(crate) rows: usize,
    pub(crate) cols: usize,
    pub(crate) rs: usize,
    pub(crate) cs: usize,
}

impl<'a, T> MatMut<'a, T> {
    /// Like [`MatRef::new`]; also rejects strides under which two elements alias
    /// (the smaller stride times its extent must not exceed the larger stride).
    pub fn new(name: &'static str, data: &'a mut [T], rows: usize, cols: usize, rs: usize, cs: usize) -> Result<Self> {
        check_extent(name, data.len(), rows, cols, rs, cs)?;
        if rows == 0 || cols == 0 {
            return Ok(MatMut { data, rows, cols, rs, cs });
        }
        if rows > 1 && cols > 1 {
            let ((s_small, n_small), s_big) = if rs <= cs { ((rs, rows), cs) } else { ((cs, cols), rs) };
            if s_small == 0 || s_small.saturating_mul(n_small) > s_big {
                return Err(Error::invalid(
                    name,
                    format!("strides ({rs}, {cs}) make elements of a ({rows}, {cols}) matrix overlap"),
                ));
            }
        } else if (rows > 1 && rs == 0) || (cols > 1 && cs == 0) {
            return Err(Error::invalid(name, "a zero stride makes elements overlap"));
        }
        Ok(MatMut { data, rows, cols, rs, cs })
    }

    /// A C-ordered (row-major) matrix.
    pub fn row_major(name: &'static str, data: &'a mut [T], rows: usize, cols: usize) -> Result<Self> {
        Self::new(name, data, rows, cols, cols, 1)
    }

    pub fn rows(&self) -> usize {
        self.rows
    }

    pub fn cols(&self) -> usize {
        self.cols
    }

    /// Reborrows as a shorter-lived view.
    pub fn rb(&mut self) -> MatMut<'_, T> {
        MatMut { data: self.data, rows: self.rows, cols: self.cols, rs: self.rs, cs: self.cs }
    }

    /// Read-only view of the same elements.
    pub fn as_ref(&self) -> MatRef<'_, T> {
        MatRef { data: self.data, rows: self.rows, cols: self.cols, rs: self.rs, cs: self.cs }
    }

    #[inline(always)]
    pub(crate) fn ptr(&mut self) -> *mut T {
        self.data.as_mut_ptr()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn extents_and_aliasing() {
        let v = vec![0.0f64; 12];
        assert!(MatRef::row_major("a", &v, 3, 4).is_ok());
        assert!(MatRef::row_major("a", &v, 4, 4).is_err());
        assert!(MatRef::new("a", &v, 4, 3, 1, 4).is_ok()); // column-major
        assert!(MatRef::new("a", &v, usize::MAX, 2, usize::MAX, 1).is_err()); // overflow
        assert!(MatRef::new("a", &v, 0, usize::MAX, 7, 7).is_ok()); // empty
        let mut w = vec![0.0f64; 12];
        assert!(MatMut::new("out", &mut w, 3, 4, 4, 1).is_ok());
        assert!(MatMut::new("out", &mut w, 3, 4, 1, 2).is_err()); // rows overlap columns
        assert!(MatMut::new("out", &mut w, 3, 1, 0, 1).is_err());
        assert!(MatMut::new("out", &mut w, 1, 3, 5, 1).is_ok());
    }
}
