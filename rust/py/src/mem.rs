//! `mlkern.mem.BufferPool`: NumPy arrays whose 64-byte aligned memory comes from,
//! and goes back to, a pool (`mlkern_core::mem::Pool`).
//!
//! Each array's base object is a small `_PoolMemory` holding the pooled buffer; when
//! the array and every view of it are garbage-collected, the base is dropped and
//! the buffer returns to the pool (or is freed if the pool is over its cap). The
//! base also holds the pool, so arrays outliving the `BufferPool` stay valid.

use std::ffi::c_void;
use std::sync::Arc;

use mlkern_core::mem::{Pool, PoolBuf};
use numpy::npyffi::{self, NpyTypes, PY_ARRAY_API};
use numpy::{PyArrayDescr, PyArrayDescrMethods};
use pyo3::exceptions::{PyMemoryError, PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::PyDict;

use crate::errors::to_pyerr;

/// The memory behind arrays from :meth:`BufferPool.empty` (internal).
#[pyclass(module = "mlkern._mlkern", frozen)]
pub(crate) struct _PoolMemory {
    _buf: PoolBuf,
}

/// A thread-safe pool of 64-byte aligned buffers for NumPy arrays.
///
/// Parameters
/// ----------
/// max_bytes : int or None
///     The most bytes of *free* buffers the pool keeps for reuse; a buffer returned
///     beyond it is freed at once. ``None`` (default): no cap.
///
/// Notes
/// -----
/// Buffers are kept in power-of-two size classes: a request is served by the
/// smallest class that fits (so capacity is at most twice the request), and a later
/// request of the same class reuses it without touching the allocator. Memory is
/// returned when the array and all its views are garbage-collected. The pool is safe
/// to use from many threads.
#[pyclass(module = "mlkern.mem", frozen)]
pub(crate) struct BufferPool {
    pool: Arc<Pool>,
    cap: Option<usize>,
}

fn parse_shape(shape: &Bound<'_, PyAny>) -> PyResult<Vec<usize>> {
    let dims: Vec<i64> = match shape.extract::<Vec<Bound<'_, PyAny>>>() {
        Ok(items) => items.iter().map(|d| crate::arrays::count_arg(d, "shape")).collect::<PyResult<_>>()?,
        Err(_) => vec![crate::arrays::count_arg(shape, "shape")?],
    };
    if dims.len() > 32 {
        return Err(PyValueError::new_err(format!("shape: at most 32 dimensions, got {}", dims.len())));
    }
    dims.iter()
        .map(|&d| usize::try_from(d).map_err(|_| PyValueError::new_err(format!("shape: negative dimension {d}"))))
        .collect()
}

#[pymethods]
impl BufferPool {
    #[new]
    #[pyo3(signature = (max_bytes = None))]
    fn new(max_bytes: Option<&Bound<'_, PyAny>>) -> PyResult<Self> {
        let max_bytes = max_bytes.map(|b| crate::arrays::count_arg(b, "max_bytes")).transpose()?;
        let cap = match max_bytes {
            None => None,
            Some(b) if b >= 0 => Some(b as usize),
            Some(b) => return Err(PyValueError::new_err(format!("max_bytes must be >= 0 or None, got {b}"))),
        };
        Ok(BufferPool { pool: Pool::new(cap), cap })
    }

    /// The cap given at construction (``None``: unlimited).
    #[getter]
    fn max_bytes(&self) -> Option<usize> {
        self.cap
    }

    /// A new writeable, C-contiguous array of ``shape`` and ``dtype`` whose memory
    /// (64-byte aligned) comes from the pool. Treat its contents as arbitrary, like
    /// ``numpy.empty``: a fresh buffer is zeroed, a reused one holds whatever was
    /// written last.
    ///
    /// ``dtype`` may be anything ``numpy.dtype`` accepts except types holding
    /// Python objects (TypeError). Raises TypeError for a shape that is not an int
    /// or a sequence of ints (bools included), ValueError for negative dimensions and
    /// MemoryError when the size overflows or cannot be allocated.
    #[pyo3(signature = (shape, dtype = None))]
    fn empty<'py>(
        &self,
        py: Python<'py>,
        shape: &Bound<'py, PyAny>,
        dtype: Option<&Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let dims = parse_shape(shape)?;
        let descr = match dtype {
            Some(d) => PyArrayDescr::new(py, d)?,
            None => numpy::dtype::<f64>(py),
        };
        if descr.has_object() {
            return Err(PyTypeError::new_err("dtype: types holding Python objects cannot live in a BufferPool"));
        }
        let item = descr.itemsize();
        let nbytes = dims
            .iter()
            .try_fold(item, |acc, &d| acc.checked_mul(d))
            .filter(|&b| b <= isize::MAX as usize)
            .ok_or_else(|| PyMemoryError::new_err("shape: the array size overflows"))?;
        let buf = self.pool.take_bytes(nbytes).map_err(to_pyerr)?;
        let data = buf.as_mut_ptr();
        let owner = Bound::new(py, _PoolMemory { _buf: buf })?;
        let mut npy_dims: Vec<npyffi::npy_intp> = dims.iter().map(|&d| d as npyffi::npy_intp).collect();
        // SAFETY: the GIL is held; `descr` is a new reference that NewFromDescr steals;
        // `data` points at >= nbytes bytes, 64-byte aligned, kept alive by `owner`,
        // which becomes the array's base (SetBaseObject steals the reference we pass).
        unsafe {
            let subtype = npyffi::get_type_object(py, NpyTypes::PyArray_Type);
            let raw = PY_ARRAY_API.PyArray_NewFromDescr(
                py,
                subtype,
                descr.into_dtype_ptr(),
                npy_dims.len() as std::os::raw::c_int,
                npy_dims.as_mut_ptr(),
                std::ptr::null_mut(),
                data as *mut c_void,
                npyffi::NPY_ARRAY_CARRAY,
                std::ptr::null_mut(),
            );
            let arr = Bound::from_owned_ptr_or_err(py, raw)?;
            let base = owner.into_ptr();
            if PY_ARRAY_API.PyArray_SetBaseObject(py, arr.as_ptr() as *mut npyffi::PyArrayObject, base) < 0 {
                return Err(PyErr::fetch(py));
            }
            Ok(arr)
        }
    }

    /// ``{"hits": int, "misses": int, "bytes_held": int}``: requests served from a
    /// kept buffer, requests that allocated, and bytes of free buffers kept.
    fn stats<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let s = self.pool.stats();
        let d = PyDict::new(py);
        d.set_item("hits", s.hits)?;
        d.set_item("misses", s.misses)?;
        d.set_item("bytes_held", s.bytes_held)?;
        Ok(d)
    }

    /// Frees every kept buffer (arrays in use are unaffected).
    fn clear(&self) {
        self.pool.clear();
    }

    fn __repr__(&self) -> String {
        let s = self.pool.stats();
        match self.cap {
            Some(c) => format!("BufferPool(max_bytes={c}) [bytes_held={}]", s.bytes_held),
            None => format!("BufferPool(max_bytes=None) [bytes_held={}]", s.bytes_held),
        }
    }
}
