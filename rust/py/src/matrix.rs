//! 2-D float arrays read in place through their strides (C order, Fortran order,
//! transposed and sliced views alike), and 2-D `out=` arrays written in place.
//!
//! Zero-copy for any aligned, native-endian float32/float64 array whose strides are
//! non-negative multiples of the item size; anything else (negative strides,
//! unaligned or byte-swapped data, lists) is copied once by
//! `numpy.ascontiguousarray`, as in `arrays.rs`. `out=` takes strides of either
//! sign (a negative one goes through a pooled row-major scratch block).

use mlkern_linalg::{MatMut, MatRef};
use numpy::npyffi;
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;

use crate::arrays::{
    check_disjoint, contiguous_copy, float_ndarray, header, is_ndarray, out_header, DType, Header, NpyFloat,
};
use crate::errors::to_pyerr;

/// A borrowed strided matrix.
pub(crate) struct Matrix<'py> {
    _owner: Bound<'py, PyAny>,
    data: *const u8,
    pub(crate) dtype: DType,
    pub(crate) rows: usize,
    pub(crate) cols: usize,
    rs: usize,
    cs: usize,
}

/// Element strides of a 2-D header, if usable in place.
fn element_strides(h: &Header, size: usize) -> Option<(usize, usize)> {
    let st = h.strides();
    let conv = |s: isize, dim: isize| -> Option<usize> {
        if dim <= 1 {
            return Some(0); // unused: any value is fine for an extent-1 axis
        }
        (s >= 0 && (s as usize).is_multiple_of(size)).then(|| s as usize / size)
    };
    let dims = h.dims();
    Some((conv(st[0], dims[0])?, conv(st[1], dims[1])?))
}

/// Offset of the last element + 1 (0 if empty), in elements; `None` if it overflows
/// (possible only for a view made by `as_strided` that no memory can back).
fn span(rows: usize, cols: usize, rs: usize, cs: usize) -> Option<usize> {
    if rows == 0 || cols == 0 {
        return Some(0);
    }
    (rows - 1).checked_mul(rs)?.checked_add((cols - 1).checked_mul(cs)?)?.checked_add(1)
}

#[cold]
fn too_large(name: &str) -> PyErr {
    pyo3::exceptions::PyOverflowError::new_err(format!("{name}: shape and strides exceed the address space"))
}

impl<'py> Matrix<'py> {
    pub(crate) fn extract(obj: &Bound<'py, PyAny>, name: &str) -> PyResult<Self> {
        if is_ndarray(obj) {
            // SAFETY: checked just above.
            let h = unsafe { header(obj) };
            if let (2, Some(dtype)) = (h.ndim, h.float_dtype()) {
                if h.aligned_native() {
                    if let Some((rs, cs)) = element_strides(&h, dtype.itemsize()) {
                        return Ok(Self::from_header(obj.clone(), &h, dtype, rs, cs));
                    }
                }
            }
        }
        Self::extract_slow(obj, name)
    }

    fn from_header(owner: Bound<'py, PyAny>, h: &Header, dtype: DType, rs: usize, cs: usize) -> Self {
        let d = h.dims();
        Matrix { _owner: owner, data: h.data, dtype, rows: d[0] as usize, cols: d[1] as usize, rs, cs }
    }

    #[cold]
    fn extract_slow(obj: &Bound<'py, PyAny>, name: &str) -> PyResult<Self> {
        let (arr, _, dtype) = float_ndarray(obj, name, 2)?;
        let copy = contiguous_copy(&arr, dtype)?;
        // SAFETY: ascontiguousarray returns an ndarray.
        let h = unsafe { header(&copy) };
        let cols = h.dims()[1] as usize;
        Ok(Self::from_header(copy.clone(), &h, dtype, cols, 1))
    }

    /// The view as a `MatRef`. `T` must match `self.dtype` (checked).
    pub(crate) fn view<T: NpyFloat>(&self, name: &'static str) -> PyResult<MatRef<'_, T>> {
        assert_eq!(self.dtype, T::DTYPE, "internal error: dtype dispatch mismatch");
        let len = span(self.rows, self.cols, self.rs, self.cs).ok_or_else(|| too_large(name))?;
        let data: &[T] = if len == 0 {
            &[]
        } else {
            // SAFETY: NumPy guarantees every element (i, j) at data + i·rs + j·cs (in
            // elements of T, dtype checked) lies in the array's memory, which `_owner`
            // keeps alive; we only read.
            unsafe { std::slice::from_raw_parts(self.data as *const T, len) }
        };
        MatRef::new(name, data, self.rows, self.cols, self.rs, self.cs).map_err(to_pyerr)
    }

    /// Byte range spanned, for overlap checks.
    pub(crate) fn byte_range(&self) -> (usize, usize) {
        let s = self.data as usize;
        let bytes = span(self.rows, self.cols, self.rs, self.cs)
            .map_or(usize::MAX, |e| e.saturating_mul(self.dtype.itemsize()));
        (s, s.saturating_add(bytes))
    }
}

/// A caller's 2-D `out=` array, written in place through its strides (any sign).
pub(crate) struct OutMatrix<'py> {
    pub(crate) owner: Bound<'py, PyAny>,
    data: *mut u8,
    rows: usize,
    cols: usize,
    /// Element strides; negative ones (`out=buf[::-1]`) are allowed.
    rs: isize,
    cs: isize,
    /// Byte-swapped (big-endian on this machine): written through the scratch path.
    swapped: bool,
}

/// Signed element strides of a 2-D header whose byte strides are multiples of the
/// item size (an extent-1 axis: 0).
fn signed_element_strides(h: &Header, size: usize) -> Option<(isize, isize)> {
    let (st, dims) = (h.strides(), h.dims());
    let conv = |s: isize, dim: isize| -> Option<isize> {
        if dim <= 1 {
            return Some(0);
        }
        (s.unsigned_abs().is_multiple_of(size)).then(|| s / size as isize)
    };
    Some((conv(st[0], dims[0])?, conv(st[1], dims[1])?))
}

/// Byte range `[lo, hi)` touched by a `(rows, cols)` view at `data` with signed
/// element strides (empty view: `(data, data)`); `None` if it overflows (an
/// `as_strided` view no memory can back).
fn signed_byte_range(
    data: usize,
    rows: usize,
    cols: usize,
    rs: isize,
    cs: isize,
    size: usize,
) -> Option<(usize, usize)> {
    if rows == 0 || cols == 0 {
        return Some((data, data));
    }
    let ext = |n: usize, s: isize| isize::try_from(n - 1).ok()?.checked_mul(s)?.checked_mul(size as isize);
    let (er, ec) = (ext(rows, rs)?, ext(cols, cs)?);
    let lo = er.min(0).checked_add(ec.min(0))?;
    let hi = er.max(0).checked_add(ec.max(0))?;
    Some((data.checked_add_signed(lo)?, data.checked_add_signed(hi)?.checked_add(size)?))
}

impl<'py> OutMatrix<'py> {
    /// Checks dtype, shape, writeability, layout, and that `obj` shares no memory
    /// with any input. Allocates nothing unless it fails (a repeated `out=` call is
    /// allocation-free).
    pub(crate) fn check(
        obj: &Bound<'py, PyAny>,
        dtype: DType,
        shape: [usize; 2],
        inputs: &[(&Matrix<'py>, &str)],
    ) -> PyResult<Self> {
        let h = out_header(obj, dtype, &shape)?;
        let (rs, cs) = match (h.flags & npyffi::NPY_ARRAY_ALIGNED != 0, signed_element_strides(&h, dtype.itemsize())) {
            (true, Some(s)) => s,
            _ => return Err(PyValueError::new_err("out must be aligned (strides multiples of the item size)")),
        };
        let swapped = !h.aligned_native();
        let (rows, cols) = (shape[0], shape[1]);
        let out = OutMatrix { owner: obj.clone(), data: h.data as *mut u8, rows, cols, rs, cs, swapped };
        let range = signed_byte_range(out.data as usize, rows, cols, rs, cs, dtype.itemsize())
            .ok_or_else(|| too_large("out"))?;
        for &(m, name) in inputs {
            check_disjoint(range, &[(m.byte_range(), name)])?;
        }
        Ok(out)
    }

    /// Runs `f` (with the GIL released) on the destination as a `MatMut`. Strides of
    /// either sign are fine: with a negative one (or a byte-swapped `out`), `f`
    /// writes a row-major scratch block from the memory pool (allocation-free after
    /// warm-up), copied into `out` afterwards (byte-swapped if `out` is).
    /// Self-overlapping strides are rejected before `f` runs.
    pub(crate) fn run<T: NpyFloat>(
        &mut self,
        py: Python<'_>,
        f: impl for<'m> FnOnce(MatMut<'m, T>) -> mlkern_core::Result<()> + Send,
    ) -> PyResult<()> {
        let (rows, cols) = (self.rows, self.cols);
        let (ars, acs) = (self.rs.unsigned_abs(), self.cs.unsigned_abs());
        let lo = signed_byte_range(self.data as usize, rows, cols, self.rs, self.cs, T::DTYPE.itemsize())
            .ok_or_else(|| too_large("out"))?
            .0;
        let len = span(rows, cols, ars, acs).ok_or_else(|| too_large("out"))?;
        let data: &mut [T] = if len == 0 {
            &mut []
        } else {
            // Writeable, aligned, dtype T (checked; a byte-swapped `out` is only written,
            // and any bytes are a valid float); `owner` keeps the memory alive.
            // SAFETY: as said, and [lo, lo + len·size) is inside it, disjoint from inputs.
            unsafe { std::slice::from_raw_parts_mut(lo as *mut T, len) }
        };
        // Validates the absolute strides (no two elements alias) for both paths.
        MatMut::new("out", &mut *data, rows, cols, ars, acs).map_err(to_pyerr)?;
        if (self.rs >= 0 && self.cs >= 0 && !self.swapped) || rows == 0 || cols == 0 {
            let view = MatMut::new("out", data, rows, cols, ars, acs).map_err(to_pyerr)?;
            return py.detach(|| f(view)).map_err(to_pyerr);
        }
        // rows·cols <= len: the strides were just checked not to alias.
        let mut scratch = mlkern_core::mem::global().take::<T>(rows * cols).map_err(to_pyerr)?;
        let tmp = scratch.slice_mut::<T>(rows * cols);
        py.detach(|| f(MatMut::row_major("out", &mut *tmp, rows, cols)?)).map_err(to_pyerr)?;
        let (rs, cs) = (self.rs, self.cs);
        let flip = |i: usize, ext: usize, s: isize| if s < 0 { ext - 1 - i } else { i };
        let dst = data;
        for i in 0..rows {
            for j in 0..cols {
                let mut v = tmp[i * cols + j];
                if self.swapped {
                    // SAFETY: the bytes of one float, which any byte pattern is.
                    let bytes = unsafe {
                        std::slice::from_raw_parts_mut(&mut v as *mut T as *mut u8, std::mem::size_of::<T>())
                    };
                    bytes.reverse();
                }
                // Element (i, j) of out sits at offset flip(i)·|rs| + flip(j)·|cs| from lo.
                dst[flip(i, rows, rs) * ars + flip(j, cols, cs) * acs] = v;
            }
        }
        Ok(())
    }
}
