//! `mlkern.attention`: the flash attention forward pass. `python/mlkern/attention.py`
//! checks shapes and dtypes, broadcasts nothing and flattens q, k, v, the mask and
//! the output to 1-D C-contiguous views (float32, or the uint16 bits of float16 and
//! bfloat16); this borrows them without a copy, re-checks every length in
//! `Problem::new`, and runs the kernels with the GIL released and Ctrl-C watched.

use mlkern_attention::{forward, Dims, Elems, Mask, MaskValues, OutElems, Problem};
use mlkern_core::threads::num_threads;
use numpy::{PyArray1, PyArrayMethods, PyReadonlyArray1, PyReadwriteArray1};
use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;

use crate::errors::to_pyerr;
use crate::learn::watch_signals;

enum In<'py> {
    F32(PyReadonlyArray1<'py, f32>),
    Bits(PyReadonlyArray1<'py, u16>),
}

fn input<'py>(obj: &Bound<'py, PyAny>, name: &str, kind: &str) -> PyResult<In<'py>> {
    let wrong = || PyTypeError::new_err(format!("internal error: {name} is not a 1-D array for {kind}"));
    Ok(match kind {
        "float32" => In::F32(obj.cast::<PyArray1<f32>>().map_err(|_| wrong())?.try_readonly()?),
        "float16" | "bfloat16" => In::Bits(obj.cast::<PyArray1<u16>>().map_err(|_| wrong())?.try_readonly()?),
        _ => return Err(PyValueError::new_err(format!("unknown element kind {kind:?}"))),
    })
}

fn elems<'a>(a: &'a In<'_>, kind: &str) -> PyResult<Elems<'a>> {
    Ok(match (a, kind) {
        (In::F32(x), _) => Elems::F32(x.as_slice()?),
        (In::Bits(x), "float16") => Elems::F16(x.as_slice()?),
        (In::Bits(x), _) => Elems::Bf16(x.as_slice()?),
    })
}

enum MaskIn<'py> {
    Keep(PyReadonlyArray1<'py, bool>),
    Add(PyReadonlyArray1<'py, f32>),
}

enum Out<'py> {
    F32(PyReadwriteArray1<'py, f32>),
    Bits(PyReadwriteArray1<'py, u16>),
}

/// _flash_attention(q, k, v, kind, dims, mask, mask_shape, causal, scale, out, out_kind)
///
/// `dims = (batch, heads, sq, sk, d, dv)`; `kind`/`out_kind` are "float32",
/// "float16" or "bfloat16"; `mask` is a 1-D bool or float32 array of
/// `mask_shape = (batch|1, heads|1, sq|1, sk|1)`, or None. Writes `out` in place.
#[pyfunction]
#[pyo3(signature = (q, k, v, kind, dims, mask, mask_shape, causal, scale, out, out_kind))]
#[allow(clippy::too_many_arguments)]
pub(crate) fn _flash_attention(
    py: Python<'_>,
    q: &Bound<'_, PyAny>,
    k: &Bound<'_, PyAny>,
    v: &Bound<'_, PyAny>,
    kind: &str,
    dims: (usize, usize, usize, usize, usize, usize),
    mask: Option<&Bound<'_, PyAny>>,
    mask_shape: Option<[usize; 4]>,
    causal: bool,
    scale: Option<f64>,
    out: &Bound<'_, PyAny>,
    out_kind: &str,
) -> PyResult<()> {
    let (qa, ka, va) = (input(q, "q", kind)?, input(k, "k", kind)?, input(v, "v", kind)?);
    let mask_in = match mask {
        None => None,
        Some(m) => Some(if let Ok(b) = m.cast::<PyArray1<bool>>() {
            MaskIn::Keep(b.try_readonly()?)
        } else {
            let f = m
                .cast::<PyArray1<f32>>()
                .map_err(|_| PyTypeError::new_err("internal error: mask is not a 1-D bool or float32 array"))?;
            MaskIn::Add(f.try_readonly()?)
        }),
    };
    let mask = match (&mask_in, mask_shape) {
        (None, _) => None,
        (Some(m), Some(shape)) => Some(Mask {
            values: match m {
                MaskIn::Keep(b) => MaskValues::Keep(b.as_slice()?),
                MaskIn::Add(f) => MaskValues::Add(f.as_slice()?),
            },
            shape,
        }),
        (Some(_), None) => return Err(PyValueError::new_err("internal error: a mask needs its shape")),
    };
    let (batch, heads, sq, sk, d, dv) = dims;
    let dims = Dims { batch, heads, sq, sk, d, dv };
    let p = Problem::new(elems(&qa, kind)?, elems(&ka, kind)?, elems(&va, kind)?, dims, mask, causal, scale)
        .map_err(to_pyerr)?;
    // A read-write borrow of an array that shares memory with a borrowed input fails
    // here (rust-numpy's borrow tracking), so `out` never aliases q, k, v or the mask.
    let wrong_out = || PyTypeError::new_err(format!("internal error: out is not a 1-D array for {out_kind}"));
    let mut out_arr = match out_kind {
        "float32" => Out::F32(out.cast::<PyArray1<f32>>().map_err(|_| wrong_out())?.try_readwrite()?),
        "float16" | "bfloat16" => Out::Bits(out.cast::<PyArray1<u16>>().map_err(|_| wrong_out())?.try_readwrite()?),
        _ => return Err(PyValueError::new_err(format!("unknown output kind {out_kind:?}"))),
    };
    let out_elems = match (&mut out_arr, out_kind) {
        (Out::F32(x), _) => OutElems::F32(x.as_slice_mut()?),
        (Out::Bits(x), "float16") => OutElems::F16(x.as_slice_mut()?),
        (Out::Bits(x), _) => OutElems::Bf16(x.as_slice_mut()?),
    };
    let failure: std::sync::Mutex<Option<PyErr>> = std::sync::Mutex::new(None);
    let stash = |e: PyErr| {
        let mut f = failure.lock().unwrap_or_else(|p| p.into_inner());
        if f.is_none() {
            *f = Some(e);
        }
    };
    let interrupted = std::sync::atomic::AtomicBool::new(false);
    let stop = || interrupted.load(std::sync::atomic::Ordering::Relaxed);
    let threads = num_threads();
    let small = p.flops() < 2e6;
    let finished = if small {
        forward(&p, out_elems, threads, &|| false)
    } else {
        py.detach(|| watch_signals(&interrupted, &stash, || forward(&p, out_elems, threads, &stop)))
    }
    .map_err(to_pyerr)?;
    if let Some(e) = failure.into_inner().unwrap_or_else(|p| p.into_inner()) {
        return Err(e);
    }
    if !finished {
        return Err(pyo3::exceptions::PyKeyboardInterrupt::new_err("flash_attention was interrupted"));
    }
    Ok(())
}
