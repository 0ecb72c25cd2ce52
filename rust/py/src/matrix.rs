//! 2-D float arrays read in place through their strides (C order, Fortran order,
//! transposed and sliced views alike), and 2-D `out=` arrays written in place.
//!
//! Zero-copy for any aligned, native-endian float32/float64 array whose strides are
//! non-negative multiples of the item size; anything else (negative strides,
//! unaligned or byte-swapped data, lists) is copied once by
//! `numpy.ascontiguousarray`, as in `arrays.rs`.

use mlkern_linalg::{MatMut, MatRef};
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

/// Offset of the last element + 1 (0 if empty), in elements.
fn span(rows: usize, cols: usize, rs: usize, cs: usize) -> usize {
    if rows == 0 || cols == 0 {
        0
    } else {
        (rows - 1) * rs + (cols - 1) * cs + 1
    }
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
        let len = span(self.rows, self.cols, self.rs, self.cs);
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
        (s, s + span(self.rows, self.cols, self.rs, self.cs) * self.dtype.itemsize())
    }
}

/// A caller's 2-D `out=` array, written in place through its strides.
pub(crate) struct OutMatrix<'py> {
    pub(crate) owner: Bound<'py, PyAny>,
    data: *mut u8,
    rows: usize,
    cols: usize,
    rs: usize,
    cs: usize,
}

impl<'py> OutMatrix<'py> {
    /// Checks dtype, shape, writeability, layout, and that `obj` shares no memory
    /// with any input.
    pub(crate) fn check(
        obj: &Bound<'py, PyAny>,
        dtype: DType,
        shape: [usize; 2],
        inputs: &[(&Matrix<'py>, &str)],
    ) -> PyResult<Self> {
        let h = out_header(obj, dtype, &shape)?;
        let (rs, cs) = match (h.aligned_native(), element_strides(&h, dtype.itemsize())) {
            (true, Some(s)) => s,
            _ => {
                return Err(PyValueError::new_err(
                    "out must be aligned, in native byte order, with non-negative strides",
                ))
            }
        };
        let out = OutMatrix { owner: obj.clone(), data: h.data as *mut u8, rows: shape[0], cols: shape[1], rs, cs };
        let o0 = out.data as usize;
        let ranges: Vec<_> = inputs.iter().map(|(m, name)| (m.byte_range(), *name)).collect();
        check_disjoint((o0, o0 + span(shape[0], shape[1], rs, cs) * dtype.itemsize()), &ranges)?;
        Ok(out)
    }

    /// The destination as a `MatMut` (rejects self-overlapping strides).
    pub(crate) fn view<T: NpyFloat>(&mut self) -> PyResult<MatMut<'_, T>> {
        let len = span(self.rows, self.cols, self.rs, self.cs);
        let data: &mut [T] = if len == 0 {
            &mut []
        } else {
            // SAFETY: writeable, aligned, native, dtype T (checked), elements inside
            // the array's memory, disjoint from every input; `owner` keeps it alive.
            unsafe { std::slice::from_raw_parts_mut(self.data as *mut T, len) }
        };
        MatMut::new("out", data, self.rows, self.cols, self.rs, self.cs).map_err(to_pyerr)
    }
}
