//! `mlkern.signal`: the row-wise kernels behind the Python functions in
//! `python/mlkern/signal.py`, which handle axes, dtypes and result shapes.
//!
//! Every function here takes C-contiguous 2-D float32/float64 rows (complex data
//! as float rows of twice the width, i.e. `x.view(float)`), releases the GIL and
//! runs on mlkern's pool, with at most `workers` threads (0 = the whole pool).

use mlkern_core::threads::Parallelism;
use mlkern_signal::convolve::{self, Method, Mode};
use mlkern_signal::describe;
use mlkern_signal::fft::{self, Norm};
use mlkern_signal::rolling::{self, Stat};
use mlkern_signal::spectral;
use num_complex::Complex;
use pyo3::exceptions::{PyMemoryError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::PyTuple;

use crate::arrays::{new_array, new_array_for_overwrite, pair, with_float, DType, FloatArray, NpyFloat};
use crate::errors::to_pyerr;

/// `workers` as the Python layer passes it (0: the whole pool, else at most that many).
fn parallelism(workers: usize) -> Parallelism {
    if workers == 0 {
        Parallelism::Pool
    } else {
        Parallelism::Threads(workers)
    }
}

/// Views interleaved (re, im) floats as complex numbers.
fn as_complex<T: NpyFloat>(v: &[T]) -> &[Complex<T>] {
    // SAFETY: Complex<T> is #[repr(C)] { re: T, im: T }: same alignment as T and
    // twice its size, so 2k floats are exactly k complex values.
    unsafe { std::slice::from_raw_parts(v.as_ptr() as *const Complex<T>, v.len() / 2) }
}

fn as_complex_mut<T: NpyFloat>(v: &mut [T]) -> &mut [Complex<T>] {
    // SAFETY: as in `as_complex`; the borrow is exclusive.
    unsafe { std::slice::from_raw_parts_mut(v.as_mut_ptr() as *mut Complex<T>, v.len() / 2) }
}

/// `2 · complex_len` floats of `T` per row, checked (a wrapped width would allocate
/// a wrong-sized result) and no more bytes than NumPy allows one dimension
/// (`isize::MAX`, even for an empty batch); `MemoryError` otherwise.
fn float_width<T>(complex_len: usize, what: &str) -> PyResult<usize> {
    let fits = |w: &usize| w.checked_mul(std::mem::size_of::<T>()).is_some_and(|b| b <= isize::MAX as usize);
    complex_len.checked_mul(2).filter(fits).ok_or_else(|| {
        PyMemoryError::new_err(format!("{what}: a result row of {complex_len} complex values is too large to allocate"))
    })
}

fn even_width(x: &FloatArray<'_>) -> PyResult<usize> {
    if !x.shape[1].is_multiple_of(2) {
        return Err(PyValueError::new_err("internal: complex rows must have an even float width"));
    }
    Ok(x.shape[1] / 2)
}

/// _rfft_rows(x, n, norm, workers) -> (rows, 2 * (n // 2 + 1)) float array (complex view)
#[pyfunction]
#[pyo3(signature = (x, n, norm, workers))]
pub(crate) fn _rfft_rows<'py>(
    py: Python<'py>,
    x: &Bound<'py, PyAny>,
    n: usize,
    norm: Option<&str>,
    workers: usize,
) -> PyResult<Bound<'py, PyAny>> {
    let norm = Norm::from_name(norm).map_err(to_pyerr)?;
    let x = FloatArray::extract(x, "x", 2)?;
    let (rows, n_in) = (x.shape[0], x.shape[1]);
    with_float!(x.dtype, T => {
        let src = x.slice::<T>();
        let (arr, dst) = new_array_for_overwrite::<T>(py, [rows, float_width::<T>(n / 2 + 1, "n")?])?;
        py.detach(|| fft::rfft_rows(src, rows, n_in, n, norm, parallelism(workers), as_complex_mut(dst))).map_err(to_pyerr)?;
        Ok(arr)
    })
}

/// _irfft_rows(x, n, norm, workers) -> (rows, n) float array; x is a complex view
#[pyfunction]
#[pyo3(signature = (x, n, norm, workers))]
pub(crate) fn _irfft_rows<'py>(
    py: Python<'py>,
    x: &Bound<'py, PyAny>,
    n: usize,
    norm: Option<&str>,
    workers: usize,
) -> PyResult<Bound<'py, PyAny>> {
    let norm = Norm::from_name(norm).map_err(to_pyerr)?;
    let x = FloatArray::extract(x, "x", 2)?;
    let (rows, m_in) = (x.shape[0], even_width(&x)?);
    with_float!(x.dtype, T => {
        let src = as_complex(x.slice::<T>());
        let (arr, dst) = new_array_for_overwrite::<T>(py, [rows, n])?;
        py.detach(|| fft::irfft_rows(src, rows, m_in, n, norm, parallelism(workers), dst)).map_err(to_pyerr)?;
        Ok(arr)
    })
}

/// _fft_rows(x, n, inverse, norm, workers) -> (rows, 2 n) float array; x is a complex view
#[pyfunction]
#[pyo3(signature = (x, n, inverse, norm, workers))]
pub(crate) fn _fft_rows<'py>(
    py: Python<'py>,
    x: &Bound<'py, PyAny>,
    n: usize,
    inverse: bool,
    norm: Option<&str>,
    workers: usize,
) -> PyResult<Bound<'py, PyAny>> {
    let norm = Norm::from_name(norm).map_err(to_pyerr)?;
    let x = FloatArray::extract(x, "x", 2)?;
    let (rows, n_in) = (x.shape[0], even_width(&x)?);
    with_float!(x.dtype, T => {
        let src = as_complex(x.slice::<T>());
        let (arr, dst) = new_array_for_overwrite::<T>(py, [rows, float_width::<T>(n, "n")?])?;
        py.detach(|| fft::fft_rows(src, rows, n_in, n, inverse, norm, parallelism(workers), as_complex_mut(dst)))
            .map_err(to_pyerr)?;
        Ok(arr)
    })
}

/// _convolve_rows(a, v, mode, method, correlate, workers) -> (out, method_used)
#[pyfunction]
#[pyo3(signature = (a, v, mode, method, correlate, workers))]
pub(crate) fn _convolve_rows<'py>(
    py: Python<'py>,
    a: &Bound<'py, PyAny>,
    v: &Bound<'py, PyAny>,
    mode: &str,
    method: &str,
    correlate: bool,
    workers: usize,
) -> PyResult<Bound<'py, PyTuple>> {
    let mode = Mode::from_name(mode).map_err(to_pyerr)?;
    let method = Method::from_name(method).map_err(to_pyerr)?;
    let a = FloatArray::extract(a, "a", 2)?;
    let v = FloatArray::extract(v, "v", 1)?;
    let (rows, n) = (a.shape[0], a.shape[1]);
    let (_, len) = convolve::output_range(n, v.shape[0], mode).map_err(to_pyerr)?;
    with_float!(a.dtype, T => {
        let (src, kern) = (a.slice::<T>(), v.slice::<T>());
        let (arr, dst) = new_array::<T>(py, [rows, len])?;
        let f = if correlate { convolve::correlate_rows::<T> } else { convolve::convolve_rows::<T> };
        let used = py.detach(|| f(src, rows, n, kern, mode, method, parallelism(workers), dst)).map_err(to_pyerr)?;
        pair(py, arr, pyo3::types::PyString::new(py, used.name()).into_any())
    })
}

/// _choose_convolve_method(rows, n, m, mode, is_f32) -> the method `auto` would use
#[pyfunction]
pub(crate) fn _choose_convolve_method(
    rows: usize,
    n: usize,
    m: usize,
    mode: &str,
    is_f32: bool,
) -> PyResult<&'static str> {
    let mode = Mode::from_name(mode).map_err(to_pyerr)?;
    let (_, len) = convolve::output_range(n, m, mode).map_err(to_pyerr)?;
    let threads = mlkern_core::threads::num_threads();
    Ok(convolve::choose(rows, n, m, len, is_f32, threads).name())
}

/// _describe_rows(x, ddof, bias, workers) -> (rows, 6) array: min, max, mean, variance, skewness, kurtosis
#[pyfunction]
#[pyo3(signature = (x, ddof, bias, workers))]
pub(crate) fn _describe_rows<'py>(
    py: Python<'py>,
    x: &Bound<'py, PyAny>,
    ddof: usize,
    bias: bool,
    workers: usize,
) -> PyResult<Bound<'py, PyAny>> {
    let x = FloatArray::extract(x, "x", 2)?;
    let (rows, n) = (x.shape[0], x.shape[1]);
    with_float!(x.dtype, T => {
        let src = x.slice::<T>();
        let stats = py.detach(|| describe::describe_rows(src, rows, n, ddof, bias, parallelism(workers))).map_err(to_pyerr)?;
        let (arr, dst) = new_array::<T>(py, [rows, 6])?;
        for (d, s) in dst.chunks_mut(6).zip(&stats) {
            let vals = [s.min, s.max, s.mean, s.variance, s.skewness, s.kurtosis];
            for (o, v) in d.iter_mut().zip(vals) {
                *o = <T as mlkern_core::Float>::from_f64(v);
            }
        }
        Ok(arr)
    })
}

/// _rolling_rows(x, window, stat, workers) -> array shaped like x
#[pyfunction]
#[pyo3(signature = (x, window, stat, workers))]
pub(crate) fn _rolling_rows<'py>(
    py: Python<'py>,
    x: &Bound<'py, PyAny>,
    window: usize,
    stat: &str,
    workers: usize,
) -> PyResult<Bound<'py, PyAny>> {
    let stat = Stat::from_name(stat).map_err(to_pyerr)?;
    let x = FloatArray::extract(x, "x", 2)?;
    let (rows, n) = (x.shape[0], x.shape[1]);
    with_float!(x.dtype, T => {
        let src = x.slice::<T>();
        let (arr, dst) = new_array::<T>(py, [rows, n])?;
        py.detach(|| rolling::rolling_rows(src, rows, n, window, stat, parallelism(workers), dst)).map_err(to_pyerr)?;
        Ok(arr)
    })
}

/// _welch_rows(x, fs, nperseg, noverlap, workers) -> (rows, nperseg // 2 + 1) array
#[pyfunction]
#[pyo3(signature = (x, fs, nperseg, noverlap, workers))]
pub(crate) fn _welch_rows<'py>(
    py: Python<'py>,
    x: &Bound<'py, PyAny>,
    fs: f64,
    nperseg: usize,
    noverlap: usize,
    workers: usize,
) -> PyResult<Bound<'py, PyAny>> {
    let x = FloatArray::extract(x, "x", 2)?;
    let (rows, n) = (x.shape[0], x.shape[1]);
    with_float!(x.dtype, T => {
        let src = x.slice::<T>();
        let (arr, dst) = new_array::<T>(py, [rows, nperseg / 2 + 1])?;
        py.detach(|| spectral::welch_rows(src, rows, n, fs, nperseg, noverlap, parallelism(workers), dst)).map_err(to_pyerr)?;
        Ok(arr)
    })
}

/// _spectral_features_rows(x, fs, bands, workers) -> (rows, 7 + len(bands)) float64 array
#[pyfunction]
#[pyo3(signature = (x, fs, bands, workers))]
pub(crate) fn _spectral_features_rows<'py>(
    py: Python<'py>,
    x: &Bound<'py, PyAny>,
    fs: f64,
    bands: Vec<(f64, f64)>,
    workers: usize,
) -> PyResult<Bound<'py, PyAny>> {
    let x = FloatArray::extract(x, "x", 2)?;
    let (rows, n) = (x.shape[0], x.shape[1]);
    let feats = with_float!(x.dtype, T => {
        let src = x.slice::<T>();
        py.detach(|| spectral::spectral_features_rows(src, rows, n, fs, &bands, parallelism(workers))).map_err(to_pyerr)?
    });
    let width = bands.len().checked_add(7).ok_or_else(|| PyValueError::new_err("bands: too many bands"))?;
    let (arr, dst) = new_array::<f64>(py, [rows, width])?;
    for (d, f) in dst.chunks_mut(width).zip(&feats) {
        let head = [f.total_power, f.centroid, f.spread, f.entropy, f.rolloff, f.dominant_frequency, f.dominant_power];
        d[..7].copy_from_slice(&head);
        d[7..].copy_from_slice(&f.band_powers);
    }
    Ok(arr)
}
