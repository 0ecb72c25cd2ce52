//! The extension module `mlkern._mlkern`: the only crate that knows Python.
//!
//! Layout: `arrays.rs` (borrowing NumPy buffers, `out=` checks, results),
//! `errors.rs` (core errors → Python exceptions), `cpu.rs` (cpu_info, threads),
//! `matrix.rs` (strided 2-D views), and one file per Python submodule (`vector.rs`,
//! `signal.rs`, `linalg.rs`, `mem.rs`, `conformal.rs`, `hdc.rs`, `learn.rs`, `attention.rs`).

mod alloc_count;
mod arrays;
mod attention;
mod conformal;
mod cpu;
mod errors;
mod hdc;
mod learn;
mod learn_mlp;
mod linalg;
mod matrix;
mod mem;
mod signal;
mod vector;

use std::ffi::CString;

use pyo3::exceptions::PyRuntimeWarning;
use pyo3::prelude::*;

#[pymodule(gil_used = false)]
fn _mlkern(m: &Bound<'_, PyModule>) -> PyResult<()> {
    let py = m.py();
    // Fork safety from the start (see mlkern_core::fork): the atfork handler, and the
    // process-wide buffer pool built now, while no other mlkern thread exists (a
    // lazy OnceLock initialised on a worker thread could be mid-way at a fork).
    mlkern_core::fork::register();
    mlkern_core::mem::global();
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    m.add_function(wrap_pyfunction!(cpu::cpu_info, m)?)?;
    m.add_function(wrap_pyfunction!(cpu::set_num_threads, m)?)?;
    m.add_function(wrap_pyfunction!(cpu::get_num_threads, m)?)?;
    m.add_function(wrap_pyfunction!(cpu::_set_tier, m)?)?;
    m.add_function(wrap_pyfunction!(cpu::_hold_locks, m)?)?;
    m.add_function(wrap_pyfunction!(vector::dot, m)?)?;
    m.add_function(wrap_pyfunction!(vector::norm, m)?)?;
    m.add_function(wrap_pyfunction!(vector::cosine_similarity, m)?)?;
    m.add_function(wrap_pyfunction!(vector::cosine_distance, m)?)?;
    m.add_function(wrap_pyfunction!(vector::sqeuclidean, m)?)?;
    m.add_function(wrap_pyfunction!(vector::cdist, m)?)?;
    m.add_function(wrap_pyfunction!(vector::topk, m)?)?;
    m.add_function(wrap_pyfunction!(linalg::matmul, m)?)?;
    m.add_function(wrap_pyfunction!(attention::_flash_attention, m)?)?;
    m.add_function(wrap_pyfunction!(linalg::qr, m)?)?;
    m.add_function(wrap_pyfunction!(linalg::_lu_pl, m)?)?;
    m.add_function(wrap_pyfunction!(linalg::_svd_jacobi, m)?)?;
    m.add_function(wrap_pyfunction!(linalg::_csr_matmul, m)?)?;
    m.add_function(wrap_pyfunction!(alloc_count::_rust_allocation_count, m)?)?;
    m.add_class::<mem::BufferPool>()?;
    m.add_class::<mem::_PoolMemory>()?;
    m.add_function(wrap_pyfunction!(cpu::_fma_ceiling, m)?)?;
    m.add_function(wrap_pyfunction!(signal::_rfft_rows, m)?)?;
    m.add_function(wrap_pyfunction!(signal::_irfft_rows, m)?)?;
    m.add_function(wrap_pyfunction!(signal::_fft_rows, m)?)?;
    m.add_function(wrap_pyfunction!(signal::_convolve_rows, m)?)?;
    m.add_function(wrap_pyfunction!(signal::_choose_convolve_method, m)?)?;
    m.add_function(wrap_pyfunction!(signal::_describe_rows, m)?)?;
    m.add_function(wrap_pyfunction!(signal::_rolling_rows, m)?)?;
    m.add_function(wrap_pyfunction!(signal::_welch_rows, m)?)?;
    m.add_function(wrap_pyfunction!(signal::_spectral_features_rows, m)?)?;
    m.add_function(wrap_pyfunction!(conformal::_conformity_scores, m)?)?;
    m.add_function(wrap_pyfunction!(conformal::_predict_sets, m)?)?;
    m.add_function(wrap_pyfunction!(conformal::_conformal_quantile, m)?)?;
    m.add_function(wrap_pyfunction!(conformal::_group_quantiles, m)?)?;
    m.add_function(wrap_pyfunction!(conformal::_regression_scores, m)?)?;
    m.add_function(wrap_pyfunction!(conformal::_cqr_side_scores, m)?)?;
    m.add_function(wrap_pyfunction!(conformal::_cqr_side_rank, m)?)?;
    m.add_function(wrap_pyfunction!(conformal::_order_statistic, m)?)?;
    m.add_function(wrap_pyfunction!(conformal::_intervals, m)?)?;
    m.add_function(wrap_pyfunction!(conformal::_entropy, m)?)?;
    m.add_function(wrap_pyfunction!(conformal::_margin, m)?)?;
    m.add_function(wrap_pyfunction!(conformal::_ensemble_uncertainty, m)?)?;
    m.add_class::<conformal::StreamingCalibrator>()?;
    m.add_function(wrap_pyfunction!(hdc::_hdc_kernel, m)?)?;
    m.add_function(wrap_pyfunction!(hdc::_hdc_random, m)?)?;
    m.add_function(wrap_pyfunction!(hdc::_hdc_hamming_rows, m)?)?;
    m.add_function(wrap_pyfunction!(hdc::_hdc_cdist_hamming, m)?)?;
    m.add_function(wrap_pyfunction!(hdc::_hdc_topk_hamming, m)?)?;
    m.add_function(wrap_pyfunction!(hdc::_hdc_bundle, m)?)?;
    m.add_function(wrap_pyfunction!(hdc::_hdc_permute, m)?)?;
    m.add_function(wrap_pyfunction!(hdc::_hdc_project, m)?)?;
    m.add_function(wrap_pyfunction!(hdc::_hdc_level_encode, m)?)?;
    m.add_function(wrap_pyfunction!(hdc::_hdc_ngram_encode, m)?)?;
    m.add_function(wrap_pyfunction!(hdc::_hdc_accumulate, m)?)?;
    m.add_function(wrap_pyfunction!(hdc::_hdc_pack_positive, m)?)?;
    m.add_function(wrap_pyfunction!(hdc::_hdc_retrain_epoch, m)?)?;
    m.add_function(wrap_pyfunction!(learn::_learn_logistic_fit, m)?)?;
    m.add_function(wrap_pyfunction!(learn::_learn_linear_scores, m)?)?;
    m.add_function(wrap_pyfunction!(learn::_learn_linear_labels, m)?)?;
    m.add_function(wrap_pyfunction!(learn::_learn_centered_gram, m)?)?;
    m.add_function(wrap_pyfunction!(learn::_learn_solve_spd, m)?)?;
    m.add_function(wrap_pyfunction!(learn::_learn_sgd_fit, m)?)?;
    m.add_function(wrap_pyfunction!(learn::_learn_sgd_softmax_fit, m)?)?;
    m.add_function(wrap_pyfunction!(learn_mlp::_learn_mlp_epoch, m)?)?;
    m.add_function(wrap_pyfunction!(learn_mlp::_learn_mlp_predict, m)?)?;
    // Detect the CPU tier now (first use) and surface MLKERN_SIMD problems.
    for w in mlkern_core::cpu::startup_warnings() {
        let msg = CString::new(w.as_str()).unwrap_or_default();
        PyErr::warn(py, &py.get_type::<PyRuntimeWarning>(), &msg, 1)?;
    }
    Ok(())
}
