//! `mlkern.hdc`: the kernels behind `python/mlkern/hdc.py`, which checks dtypes,
//! shapes and padding bits (naming the argument) and makes operands C-contiguous
//! (a copy only when they are not). Packed codes are `uint64`, features float32.
//! Every call that does real work releases the GIL.

use mlkern_hdc::encode::{self, Nonlinearity, Projection};
use mlkern_hdc::{dispatch, distance, ops, train};
use numpy::{
    IntoPyArray, PyArray1, PyArrayMethods, PyReadonlyArray1, PyReadonlyArray2, PyReadonlyArray3, PyReadwriteArray2,
    PyUntypedArrayMethods,
};
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;

use crate::errors::to_pyerr;

fn matrix<'py, T: numpy::Element>(py: Python<'py>, v: Vec<T>, rows: usize, cols: usize) -> PyResult<Bound<'py, PyAny>> {
    Ok(v.into_pyarray(py).reshape([rows, cols])?.into_any())
}

/// Runs `work` without the GIL; its result is `rows` packed `d`-bit codes.
fn packed<'py>(
    py: Python<'py>,
    rows: usize,
    d: usize,
    work: impl FnOnce() -> mlkern_core::Result<Vec<u64>> + Send,
) -> PyResult<Bound<'py, PyAny>> {
    let words = mlkern_hdc::words_for(d).map_err(to_pyerr)?;
    let v = py.detach(work).map_err(to_pyerr)?;
    matrix(py, v, rows, words)
}

fn nonlinearity(name: &str) -> PyResult<Nonlinearity> {
    match name {
        "identity" => Ok(Nonlinearity::Identity),
        "sinusoid" => Ok(Nonlinearity::Sinusoid),
        _ => Err(PyValueError::new_err(format!("nonlinearity must be 'identity' or 'sinusoid', got {name:?}"))),
    }
}

/// The popcount kernel the active tier uses (e.g. "avx512-vpopcntdq").
#[pyfunction]
pub(crate) fn _hdc_kernel() -> &'static str {
    dispatch::hamming().name
}

/// _hdc_random(n, d, seed) -> (n, words) uint64
#[pyfunction]
pub(crate) fn _hdc_random<'py>(py: Python<'py>, n: usize, d: usize, seed: u64) -> PyResult<Bound<'py, PyAny>> {
    packed(py, n, d, || ops::random(n, d, seed))
}

/// _hdc_hamming_rows(a, b) -> (n,) int64
#[pyfunction]
pub(crate) fn _hdc_hamming_rows<'py>(
    py: Python<'py>,
    a: PyReadonlyArray2<'py, u64>,
    b: PyReadonlyArray2<'py, u64>,
) -> PyResult<Bound<'py, PyAny>> {
    let (rows, words) = (a.shape()[0], a.shape()[1]);
    let (a, b) = (a.as_slice()?, b.as_slice()?);
    let v = py.detach(|| distance::hamming_rows(a, b, rows, words)).map_err(to_pyerr)?;
    Ok(PyArray1::from_vec(py, v).into_any())
}

/// _hdc_cdist_hamming(XA, XB) -> (m, n) int64
#[pyfunction]
pub(crate) fn _hdc_cdist_hamming<'py>(
    py: Python<'py>,
    xa: PyReadonlyArray2<'py, u64>,
    xb: PyReadonlyArray2<'py, u64>,
) -> PyResult<Bound<'py, PyAny>> {
    let (m, words, n) = (xa.shape()[0], xa.shape()[1], xb.shape()[0]);
    let (a, b) = (xa.as_slice()?, xb.as_slice()?);
    let v = py.detach(|| distance::cdist_hamming(a, m, b, n, words)).map_err(to_pyerr)?;
    matrix(py, v, m, n)
}

/// _hdc_topk_hamming(queries, memory, k) -> ((q, k) int64 indices, (q, k) int64 distances)
#[pyfunction]
pub(crate) fn _hdc_topk_hamming<'py>(
    py: Python<'py>,
    queries: PyReadonlyArray2<'py, u64>,
    memory: PyReadonlyArray2<'py, u64>,
    k: usize,
) -> PyResult<(Bound<'py, PyAny>, Bound<'py, PyAny>)> {
    let (q, words, n) = (queries.shape()[0], queries.shape()[1], memory.shape()[0]);
    let (a, b) = (queries.as_slice()?, memory.as_slice()?);
    let (i, d) = py.detach(|| distance::topk_hamming(a, q, b, n, words, k)).map_err(to_pyerr)?;
    Ok((matrix(py, i, q, k)?, matrix(py, d, q, k)?))
}

/// _hdc_bundle(X, d, seed) -> (words,) uint64
#[pyfunction]
pub(crate) fn _hdc_bundle<'py>(
    py: Python<'py>,
    x: PyReadonlyArray2<'py, u64>,
    d: usize,
    seed: u64,
) -> PyResult<Bound<'py, PyAny>> {
    let rows = x.shape()[0];
    let x = x.as_slice()?;
    let v = py.detach(|| ops::bundle(x, rows, d, seed)).map_err(to_pyerr)?;
    Ok(PyArray1::from_vec(py, v).into_any())
}

/// _hdc_permute(X, k, d) -> (n, words) uint64
#[pyfunction]
pub(crate) fn _hdc_permute<'py>(
    py: Python<'py>,
    x: PyReadonlyArray2<'py, u64>,
    k: i64,
    d: usize,
) -> PyResult<Bound<'py, PyAny>> {
    let (rows, words) = (x.shape()[0], x.shape()[1]);
    let x = x.as_slice()?;
    let v = py.detach(|| ops::permute(x, rows, d, k)).map_err(to_pyerr)?;
    matrix(py, v, rows, words)
}

/// _hdc_project(X, W, bias, d, nonlinearity, binary) -> (n, words) uint64 or (n, d) float32
///
/// `W` is float32 in panel-major order, `(words, f, 64)` as 2-D `(words·f, 64)`,
/// zero in the columns from `d` on; `bias` is empty or `(words·64,)`.
#[pyfunction]
pub(crate) fn _hdc_project<'py>(
    py: Python<'py>,
    x: PyReadonlyArray2<'py, f32>,
    w: PyReadonlyArray2<'py, f32>,
    bias: PyReadonlyArray1<'py, f32>,
    d: usize,
    nonlinearity: &str,
    binary: bool,
) -> PyResult<Bound<'py, PyAny>> {
    let nl = self::nonlinearity(nonlinearity)?;
    let (rows, f) = (x.shape()[0], x.shape()[1]);
    let (xs, ws, bs) = (x.as_slice()?, w.as_slice()?, bias.as_slice()?);
    let p = Projection { w: ws, features: f, d, bias: bs, nonlinearity: nl };
    let k = dispatch::active();
    if binary {
        packed(py, rows, d, || encode::encode_bits_with(k, xs, rows, &p))
    } else {
        let v = py.detach(|| encode::encode_values_with(k, xs, rows, &p)).map_err(to_pyerr)?;
        matrix(py, v, rows, d)
    }
}

/// _hdc_level_encode(levels (n, f) uint32, ids (f, words), codebook (L, words), d, seed) -> (n, words)
#[pyfunction]
pub(crate) fn _hdc_level_encode<'py>(
    py: Python<'py>,
    level: PyReadonlyArray2<'py, u32>,
    ids: PyReadonlyArray2<'py, u64>,
    codebook: PyReadonlyArray2<'py, u64>,
    d: usize,
    seed: u64,
) -> PyResult<Bound<'py, PyAny>> {
    let (rows, f) = (level.shape()[0], level.shape()[1]);
    let n_levels = codebook.shape()[0];
    let (l, i, c) = (level.as_slice()?, ids.as_slice()?, codebook.as_slice()?);
    packed(py, rows, d, || encode::level_encode(l, rows, f, i, c, n_levels, d, seed))
}

/// _hdc_ngram_encode(tokens uint32, offsets int64 (n+1,), rotated (N, V, words), d, seed) -> (n, words)
#[pyfunction]
pub(crate) fn _hdc_ngram_encode<'py>(
    py: Python<'py>,
    tokens: PyReadonlyArray1<'py, u32>,
    offsets: PyReadonlyArray1<'py, i64>,
    rotated: PyReadonlyArray3<'py, u64>,
    d: usize,
    seed: u64,
) -> PyResult<Bound<'py, PyAny>> {
    let (n, vocab) = (rotated.shape()[0], rotated.shape()[1]);
    let offsets: Vec<usize> = offsets
        .as_slice()?
        .iter()
        .map(|&o| usize::try_from(o).map_err(|_| PyValueError::new_err("offsets: negative offset")))
        .collect::<PyResult<_>>()?;
    let rows = offsets.len().saturating_sub(1);
    let (t, r) = (tokens.as_slice()?, rotated.as_slice()?);
    packed(py, rows, d, || encode::ngram_encode(t, &offsets, r, n, vocab, d, seed))
}

/// _hdc_accumulate(codes, d, samples, classes, weights, prototypes) -> None (in place)
#[pyfunction]
pub(crate) fn _hdc_accumulate<'py>(
    py: Python<'py>,
    codes: PyReadonlyArray2<'py, u64>,
    d: usize,
    samples: PyReadonlyArray1<'py, i64>,
    classes: PyReadonlyArray1<'py, i64>,
    weights: PyReadonlyArray1<'py, f32>,
    mut prototypes: PyReadwriteArray2<'py, f32>,
) -> PyResult<()> {
    let n = codes.shape()[0];
    let k = prototypes.shape()[0];
    let (c, s, y, w) = (codes.as_slice()?, samples.as_slice()?, classes.as_slice()?, weights.as_slice()?);
    let p = prototypes.as_slice_mut()?;
    py.detach(|| train::accumulate(c, n, d, s, y, w, p, k)).map_err(to_pyerr)
}

/// _hdc_pack_positive(values (n, d) float32) -> (n, words) uint64: bit = value > 0
#[pyfunction]
pub(crate) fn _hdc_pack_positive<'py>(
    py: Python<'py>,
    values: PyReadonlyArray2<'py, f32>,
) -> PyResult<Bound<'py, PyAny>> {
    let (rows, d) = (values.shape()[0], values.shape()[1]);
    let words = mlkern_hdc::words_for(d).map_err(to_pyerr)?;
    let v = values.as_slice()?;
    let out = py.detach(|| train::pack_positive(v, rows, d)).map_err(to_pyerr)?;
    matrix(py, out, rows, words)
}

/// _hdc_retrain_epoch(codes, d, labels, prototypes, lr, margin) -> samples updated (in place)
#[pyfunction]
pub(crate) fn _hdc_retrain_epoch<'py>(
    py: Python<'py>,
    codes: PyReadonlyArray2<'py, u64>,
    d: usize,
    labels: PyReadonlyArray1<'py, i64>,
    mut prototypes: PyReadwriteArray2<'py, f32>,
    lr: f32,
    margin: f64,
) -> PyResult<usize> {
    let n = codes.shape()[0];
    let k = prototypes.shape()[0];
    let (c, y) = (codes.as_slice()?, labels.as_slice()?);
    let p = prototypes.as_slice_mut()?;
    py.detach(|| train::retrain_epoch(c, n, d, y, p, k, lr, margin)).map_err(to_pyerr)
}
