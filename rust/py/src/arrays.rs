//! Borrowing NumPy arrays as Rust slices, checking `out=` arrays, and making results.
//!
//! Inputs: a C-contiguous, aligned, native-byte-order float32/float64 ndarray is
//! borrowed in place (no copy) by reading its header once. Anything else that NumPy
//! can turn into such an array (lists, strided views, big-endian data) is converted
//! once with `numpy.ascontiguousarray` — a documented copy. Other dtypes raise
//! `TypeError`, wrong dimensionality `ValueError`.
//!
//! Soundness: we hold a strong reference to every array we read for as long as its
//! slice lives, so it cannot be freed, even with the GIL released. Like NumPy's own
//! C loops we do not guard against another thread writing the same memory at the
//! same time; `out=` arrays are checked not to overlap any input.

use std::ffi::c_void;

use numpy::npyffi::{self, NPY_TYPES, PY_ARRAY_API};
use numpy::{Element, PyArrayDescr};
use pyo3::exceptions::{PyMemoryError, PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::PyTuple;

/// The two element types mlkern's vector kernels take.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum DType {
    F32,
    F64,
}

impl DType {
    pub(crate) fn name(self) -> &'static str {
        match self {
            DType::F32 => "float32",
            DType::F64 => "float64",
        }
    }

    /// Bytes per element.
    pub(crate) fn itemsize(self) -> usize {
        match self {
            DType::F32 => 4,
            DType::F64 => 8,
        }
    }
}

/// Rust element types matching a [`DType`].
pub(crate) trait NpyFloat: Element + mlkern_core::dispatch::HasKernels + mlkern_core::aligned::Zeroable {
    const DTYPE: DType;
}
impl NpyFloat for f32 {
    const DTYPE: DType = DType::F32;
}
impl NpyFloat for f64 {
    const DTYPE: DType = DType::F64;
}

/// A float array viewed as a contiguous row-major buffer.
pub(crate) struct FloatArray<'py> {
    /// The array read (the caller's, or our contiguous copy); keeps the data alive.
    _owner: Bound<'py, PyAny>,
    data: *const u8,
    pub(crate) dtype: DType,
    /// Shape; unused trailing entries are 1.
    pub(crate) shape: [usize; 2],
    len: usize,
}

/// Header fields of an ndarray, read without touching Python.
pub(crate) struct Header {
    pub(crate) ndim: usize,
    type_num: i32,
    byteorder: u8,
    pub(crate) flags: i32,
    pub(crate) data: *const u8,
    dims: *const npyffi::npy_intp,
    strides: *const npyffi::npy_intp,
}

pub(crate) fn is_ndarray(obj: &Bound<'_, PyAny>) -> bool {
    // SAFETY: the GIL is held (we have a Bound); PyArray_Check only reads the type.
    unsafe { npyffi::PyArray_Check(obj.py(), obj.as_ptr()) != 0 }
}

/// # Safety
/// `obj` must be an ndarray (see [`is_ndarray`]).
pub(crate) unsafe fn header(obj: &Bound<'_, PyAny>) -> Header {
    // SAFETY: obj is an ndarray (caller), so its object layout is PyArrayObject and
    // its descr a PyArray_Descr; both stay valid while we hold `obj`.
    unsafe {
        let fields = &*npyffi::_PyArray_GET_ITEM_DATA(obj.as_ptr() as *const npyffi::PyArrayObject);
        let descr = &*npyffi::_PyDataType_GET_ITEM_DATA(fields.descr);
        Header {
            ndim: fields.nd.max(0) as usize,
            type_num: descr.type_num,
            byteorder: descr.byteorder as u8,
            flags: fields.flags,
            data: fields.data as *const u8,
            dims: fields.dimensions,
            strides: fields.strides,
        }
    }
}

impl Header {
    /// Strides in bytes.
    pub(crate) fn strides(&self) -> &[npyffi::npy_intp] {
        if self.ndim == 0 {
            return &[];
        }
        // SAFETY: `strides` points at `nd` entries for as long as the array lives.
        unsafe { std::slice::from_raw_parts(self.strides, self.ndim) }
    }

    pub(crate) fn dims(&self) -> &[npyffi::npy_intp] {
        if self.ndim == 0 {
            return &[];
        }
        // SAFETY: `dimensions` points at `nd` entries for as long as the array lives.
        unsafe { std::slice::from_raw_parts(self.dims, self.ndim) }
    }

    fn shape_text(&self) -> String {
        shape_text(&self.dims().iter().map(|&d| d as usize).collect::<Vec<_>>())
    }

    pub(crate) fn float_dtype(&self) -> Option<DType> {
        if self.type_num == NPY_TYPES::NPY_FLOAT as i32 {
            Some(DType::F32)
        } else if self.type_num == NPY_TYPES::NPY_DOUBLE as i32 {
            Some(DType::F64)
        } else {
            None
        }
    }

    /// C-contiguous, aligned and in native byte order: readable in place.
    pub(crate) fn aligned_native(&self) -> bool {
        let swapped = if cfg!(target_endian = "little") { b'>' } else { b'<' };
        self.flags & npyffi::NPY_ARRAY_ALIGNED != 0 && self.byteorder != swapped
    }

    fn borrowable(&self) -> bool {
        const NEEDED: i32 = npyffi::NPY_ARRAY_C_CONTIGUOUS | npyffi::NPY_ARRAY_ALIGNED;
        let swapped = if cfg!(target_endian = "little") { b'>' } else { b'<' };
        self.flags & NEEDED == NEEDED && self.byteorder != swapped
    }
}

/// `(2, 3)` as Python writes shapes.
pub(crate) fn shape_text(shape: &[usize]) -> String {
    match shape {
        [] => "()".into(),
        [n] => format!("({n},)"),
        _ => format!("({})", shape.iter().map(|d| d.to_string()).collect::<Vec<_>>().join(", ")),
    }
}

fn numpy_attr<'py>(
    py: Python<'py>,
    cell: &'static PyOnceLock<Py<PyAny>>,
    name: &str,
) -> PyResult<&'py Bound<'py, PyAny>> {
    cell.get_or_try_init(py, || Ok::<_, PyErr>(py.import("numpy")?.getattr(name)?.unbind())).map(|f| f.bind(py))
}

fn dtype_text(obj: &Bound<'_, PyAny>) -> String {
    obj.getattr("dtype").and_then(|d| d.str()).map(|s| s.to_string()).unwrap_or_else(|_| "unknown".into())
}

#[cold]
fn not_float(name: &str, obj: &Bound<'_, PyAny>) -> PyErr {
    PyTypeError::new_err(format!(
        "{name} must be a float32 or float64 array, got dtype {}; cast it with .astype(numpy.float32) or .astype(numpy.float64)",
        dtype_text(obj)
    ))
}

#[cold]
fn wrong_ndim(name: &str, ndim: usize, h: &Header) -> PyErr {
    PyValueError::new_err(format!(
        "{name} must be a {ndim}-D array, got a {}-D array of shape {}",
        h.ndim,
        h.shape_text()
    ))
}

/// `obj` as an ndarray (converting sequences with `numpy.asarray`), checked to be a
/// float32/float64 array of `ndim` dimensions: the slow path of every extraction.
#[cold]
pub(crate) fn float_ndarray<'py>(
    obj: &Bound<'py, PyAny>,
    name: &str,
    ndim: usize,
) -> PyResult<(Bound<'py, PyAny>, Header, DType)> {
    static ASARRAY: PyOnceLock<Py<PyAny>> = PyOnceLock::new();
    let arr = if is_ndarray(obj) {
        obj.clone()
    } else {
        numpy_attr(obj.py(), &ASARRAY, "asarray")?.call1((obj,)).map_err(|e| {
            PyTypeError::new_err(format!(
                "{name} must be a float32 or float64 array (or a sequence NumPy can convert), got {}: {e}",
                obj.get_type().name().map(|n| n.to_string()).unwrap_or_default()
            ))
        })?
    };
    // SAFETY: `arr` is an ndarray: either it passed the check or numpy.asarray made it.
    let h = unsafe { header(&arr) };
    let dtype = h.float_dtype().ok_or_else(|| not_float(name, &arr))?;
    if h.ndim != ndim {
        return Err(wrong_ndim(name, ndim, &h));
    }
    Ok((arr, h, dtype))
}

/// A C-contiguous, aligned, native-endian copy of `arr` (the documented copy).
#[cold]
pub(crate) fn contiguous_copy<'py>(arr: &Bound<'py, PyAny>, dtype: DType) -> PyResult<Bound<'py, PyAny>> {
    static ASCONTIGUOUS: PyOnceLock<Py<PyAny>> = PyOnceLock::new();
    numpy_attr(arr.py(), &ASCONTIGUOUS, "ascontiguousarray")?.call1((arr, dtype.name()))
}

impl<'py> FloatArray<'py> {
    /// Reads `obj` as a `ndim`-D (1 or 2) float array named `name` in error messages.
    #[inline]
    pub(crate) fn extract(obj: &Bound<'py, PyAny>, name: &str, ndim: usize) -> PyResult<Self> {
        if is_ndarray(obj) {
            // SAFETY: checked just above.
            let h = unsafe { header(obj) };
            if h.ndim == ndim && h.borrowable() {
                if let Some(dtype) = h.float_dtype() {
                    return Ok(Self::from_header(obj.clone(), &h, dtype));
                }
            }
        }
        Self::extract_slow(obj, name, ndim)
    }

    fn from_header(owner: Bound<'py, PyAny>, h: &Header, dtype: DType) -> Self {
        let mut shape = [1usize; 2];
        for (s, &d) in shape.iter_mut().zip(h.dims()) {
            *s = d as usize;
        }
        let len = h.dims().iter().map(|&d| d as usize).product();
        FloatArray { _owner: owner, data: h.data, dtype, shape, len }
    }

    /// Lists, strided or byte-swapped arrays: checked, then copied contiguous once.
    #[cold]
    fn extract_slow(obj: &Bound<'py, PyAny>, name: &str, ndim: usize) -> PyResult<Self> {
        let (arr, h, dtype) = float_ndarray(obj, name, ndim)?;
        if h.borrowable() {
            return Ok(Self::from_header(arr, &h, dtype));
        }
        let copy = contiguous_copy(&arr, dtype)?;
        // SAFETY: ascontiguousarray returns an ndarray.
        let h = unsafe { header(&copy) };
        debug_assert!(h.borrowable());
        Ok(Self::from_header(copy, &h, dtype))
    }

    /// The elements, row-major. `T` must match `self.dtype` (checked).
    #[inline]
    pub(crate) fn slice<T: NpyFloat>(&self) -> &[T] {
        assert_eq!(self.dtype, T::DTYPE, "internal error: dtype dispatch mismatch");
        if self.len == 0 {
            return &[];
        }
        // SAFETY: the array is C-contiguous, aligned, native-endian, of `len` elements
        // of type T (dtype checked above), and `owner` keeps it alive while `&self` lives.
        unsafe { std::slice::from_raw_parts(self.data as *const T, self.len) }
    }

    /// Address range of the data, for overlap checks.
    pub(crate) fn byte_range(&self) -> (usize, usize) {
        let start = self.data as usize;
        (start, start + self.len * self.dtype.itemsize())
    }

    pub(crate) fn shape_text(&self, ndim: usize) -> String {
        shape_text(&self.shape[..ndim])
    }
}

/// Both operands must share a dtype (mlkern never silently promotes).
pub(crate) fn same_dtype(a: &FloatArray<'_>, an: &str, b: &FloatArray<'_>, bn: &str) -> PyResult<DType> {
    check_same_dtype(a.dtype, an, b.dtype, bn)
}

/// [`same_dtype`] on the dtypes themselves.
pub(crate) fn check_same_dtype(a: DType, an: &str, b: DType, bn: &str) -> PyResult<DType> {
    if a != b {
        return Err(PyTypeError::new_err(format!(
            "{an} and {bn} must have the same dtype, got {} and {}; cast one with .astype()",
            a.name(),
            b.name()
        )));
    }
    Ok(a)
}

/// A NumPy scalar of `T`'s dtype holding `v`.
pub(crate) fn numpy_scalar<T: NpyFloat>(py: Python<'_>, v: T) -> PyResult<Bound<'_, PyAny>> {
    let descr = PyArrayDescr::of::<T>(py);
    let mut value = v;
    // SAFETY: `value` is a valid T and `descr` describes T; PyArray_Scalar copies the
    // bytes into a new scalar object (it does not keep the pointer nor steal `descr`).
    unsafe {
        let ptr = PY_ARRAY_API.PyArray_Scalar(
            py,
            &mut value as *mut T as *mut c_void,
            descr.as_ptr() as *mut npyffi::PyArray_Descr,
            std::ptr::null_mut(),
        );
        Bound::from_owned_ptr_or_err(py, ptr)
    }
}

/// A new zero-filled C-contiguous array and a mutable view of its elements. Raises
/// `MemoryError` (never panics) when the shape is too large or NumPy cannot allocate it.
pub(crate) fn new_array<'py, T: Element>(
    py: Python<'py>,
    shape: [usize; 2],
) -> PyResult<(Bound<'py, PyAny>, &'py mut [T])> {
    allocate(py, shape)
}

/// The result array of a kernel that writes every element. It is zero-filled too:
/// handing a kernel `&mut [T]` over memory nobody has written would be a reference
/// to uninitialised memory (undefined behaviour in Rust, whatever the kernel does).
/// NumPy allocates with `calloc`, so large arrays come zeroed from the kernel
/// without a clearing pass; small ones cost one `memset`.
pub(crate) fn new_array_for_overwrite<'py, T: Element>(
    py: Python<'py>,
    shape: [usize; 2],
) -> PyResult<(Bound<'py, PyAny>, &'py mut [T])> {
    allocate(py, shape)
}

fn allocate<'py, T: Element>(py: Python<'py>, shape: [usize; 2]) -> PyResult<(Bound<'py, PyAny>, &'py mut [T])> {
    use numpy::PyArrayDescrMethods;
    let len = shape[0]
        .checked_mul(shape[1])
        .filter(|&n| n <= isize::MAX as usize / std::mem::size_of::<T>().max(1))
        .ok_or_else(|| {
            PyMemoryError::new_err(format!("a result of shape {} is too large to allocate", shape_text(&shape)))
        })?;
    let mut dims = [shape[0] as npyffi::npy_intp, shape[1] as npyffi::npy_intp];
    let descr = T::get_dtype(py).into_dtype_ptr();
    // SAFETY: `dims` holds two valid dimensions (their product fits in isize, checked
    // above); PyArray_Zeros steals the reference to `descr` and returns a new array or
    // NULL with MemoryError set, which from_owned_ptr_or_err turns into a PyErr.
    let raw = unsafe { PY_ARRAY_API.PyArray_Zeros(py, 2, dims.as_mut_ptr(), descr, 0) };
    // SAFETY: `raw` is an owned reference returned by NumPy, or NULL with an error set.
    let arr = unsafe { Bound::from_owned_ptr_or_err(py, raw)? };
    // SAFETY: `arr` is the ndarray just created.
    let data = unsafe { header(&arr) }.data as *mut T;
    let view: &'py mut [T] = if len == 0 {
        &mut []
    } else {
        // SAFETY: a fresh, zero-filled (initialised) aligned array of `len` T, unseen
        // by anyone else; kept alive by `arr`.
        unsafe { std::slice::from_raw_parts_mut(data, len) }
    };
    Ok((arr, view))
}

/// Header of `obj` checked as an `out=` destination: an ndarray of `dtype`, of
/// exactly `shape`, writeable. Layout is checked by the caller.
pub(crate) fn out_header(obj: &Bound<'_, PyAny>, dtype: DType, shape: &[usize]) -> PyResult<Header> {
    if !is_ndarray(obj) {
        return Err(PyTypeError::new_err(format!(
            "out must be a numpy.ndarray, got {}",
            obj.get_type().name().map(|n| n.to_string()).unwrap_or_default()
        )));
    }
    // SAFETY: checked just above.
    let h = unsafe { header(obj) };
    if h.float_dtype() != Some(dtype) {
        return Err(PyTypeError::new_err(format!(
            "out has dtype {} but the result is {}",
            dtype_text(obj),
            dtype.name()
        )));
    }
    // Compared in place (no Vec): this runs on every call of a hot `out=` loop.
    let dims = h.dims();
    if dims.len() != shape.len() || dims.iter().zip(shape).any(|(&d, &want)| d as usize != want) {
        let dims: Vec<usize> = dims.iter().map(|&d| d as usize).collect(); // error path only
        return Err(PyValueError::new_err(format!(
            "out has shape {} but the result has shape {}",
            shape_text(&dims),
            shape_text(shape)
        )));
    }
    if h.flags & npyffi::NPY_ARRAY_WRITEABLE == 0 {
        return Err(PyValueError::new_err("out is read-only"));
    }
    Ok(h)
}

/// `out=` (byte range `out`) must share no memory with any input (`(range, name)`).
/// Allocates nothing unless it fails.
pub(crate) fn check_disjoint(out: (usize, usize), inputs: &[((usize, usize), &str)]) -> PyResult<()> {
    for &(range, name) in inputs {
        if overlaps(out, range) {
            return Err(PyValueError::new_err(format!("out shares memory with {name}; pass a separate output array")));
        }
    }
    Ok(())
}

/// Whether two byte ranges `[start, end)` share a byte.
pub(crate) fn overlaps(a: (usize, usize), b: (usize, usize)) -> bool {
    a.0 < b.1 && b.0 < a.1
}

/// A caller-provided `out=` array checked to be writable in place with the result.
pub(crate) struct OutArray<'py> {
    pub(crate) owner: Bound<'py, PyAny>,
    data: *mut u8,
    len: usize,
}

impl<'py> OutArray<'py> {
    /// Checks `obj` as the destination of a `(shape)` result of `dtype`, not
    /// overlapping any of `inputs`. Nothing is written here.
    pub(crate) fn check(
        obj: &Bound<'py, PyAny>,
        dtype: DType,
        shape: [usize; 2],
        inputs: &[(&FloatArray<'py>, &str)],
    ) -> PyResult<Self> {
        let h = out_header(obj, dtype, &shape)?;
        if !h.borrowable() {
            return Err(PyValueError::new_err("out must be C-contiguous, aligned and in native byte order"));
        }
        let len: usize = shape.iter().product();
        let out = OutArray { owner: obj.clone(), data: h.data as *mut u8, len };
        let start = out.data as usize;
        let ranges: Vec<_> = inputs.iter().map(|(a, name)| (a.byte_range(), *name)).collect();
        check_disjoint((start, start + len * dtype.itemsize()), &ranges)?;
        Ok(out)
    }

    /// The destination elements. `T` must be the dtype `check` was given.
    pub(crate) fn slice_mut<T: NpyFloat>(&mut self) -> &mut [T] {
        if self.len == 0 {
            return &mut [];
        }
        // SAFETY: checked writeable, C-contiguous, aligned, native, of dtype T and
        // `len` elements, disjoint from the inputs; `owner` keeps it alive.
        unsafe { std::slice::from_raw_parts_mut(self.data as *mut T, self.len) }
    }
}

/// A count argument (`k`, `n`, a thread count, ...) as a Python int would be read:
/// any integer type (`int`, NumPy integers, anything with `__index__`) but never a
/// `bool` (`TypeError`, although Python's `bool` is an `int`), nor a float
/// (`TypeError`); an int beyond 64 bits is an `OverflowError`. Range checks are the
/// caller's (each names its own bounds).
pub(crate) fn count_arg(obj: &Bound<'_, PyAny>, name: &str) -> PyResult<i64> {
    let type_name = || obj.get_type().name().map(|n| n.to_string()).unwrap_or_default();
    if obj.is_instance_of::<pyo3::types::PyBool>() || type_name() == "bool" {
        return Err(PyTypeError::new_err(format!("{name} must be an int, got bool")));
    }
    obj.extract::<i64>().map_err(|e| {
        if e.is_instance_of::<pyo3::exceptions::PyOverflowError>(obj.py()) {
            pyo3::exceptions::PyOverflowError::new_err(format!("{name} = {obj} does not fit in 64 bits"))
        } else {
            PyTypeError::new_err(format!("{name} must be an int, got {}", type_name()))
        }
    })
}

/// Builds a tuple `(x, y)`.
pub(crate) fn pair<'py>(py: Python<'py>, x: Bound<'py, PyAny>, y: Bound<'py, PyAny>) -> PyResult<Bound<'py, PyTuple>> {
    PyTuple::new(py, [x, y])
}

/// Evaluates `$body` with the type alias `$t` bound to the Rust element type of
/// `$dtype` (`f32` or `f64`): one generic code path for both dtypes.
macro_rules! with_float {
    ($dtype:expr, $t:ident => $body:expr) => {
        match $dtype {
            DType::F32 => {
                type $t = f32;
                $body
            }
            DType::F64 => {
                type $t = f64;
                $body
            }
        }
    };
}
pub(crate) use with_float;
