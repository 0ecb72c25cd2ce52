//! Top-level functions: `cpu_info`, the thread knob, and the test-only tier switch.

use mlkern_core::cpu::{self, Tier};
use mlkern_core::threads;
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList};

use crate::errors::to_pyerr;

/// What mlkern found on this CPU and what it runs.
///
/// Returns
/// -------
/// dict with keys
///     ``"tier"``: the active SIMD tier (``"scalar"``, ``"x86-64-v2"``, ``"x86-64-v3"``,
///     ``"x86-64-v4"`` or ``"neon"``); ``"best_tier"``: the best this CPU supports;
///     ``"available_tiers"``: supported tiers, best last; ``"features"``: detected CPU
///     flags (``"avx512f"``, ``"fma"``, ``"neon"``, ...); ``"num_threads"``: the size
///     of mlkern's thread pool; ``"arch"``: the target architecture.
///
/// Notes
/// -----
/// ``MLKERN_SIMD=<tier>`` caps the tier at import; ``MLKERN_NUM_THREADS`` sets the
/// initial thread count.
#[pyfunction]
pub(crate) fn cpu_info(py: Python<'_>) -> PyResult<Bound<'_, PyDict>> {
    let d = PyDict::new(py);
    d.set_item("tier", cpu::active().name())?;
    d.set_item("best_tier", cpu::best_tier().name())?;
    let tiers: Vec<&str> = cpu::available_tiers().iter().map(|t| t.name()).collect();
    d.set_item("available_tiers", PyList::new(py, tiers)?)?;
    d.set_item("features", PyList::new(py, cpu::features())?)?;
    d.set_item("num_threads", threads::num_threads())?;
    d.set_item("arch", std::env::consts::ARCH)?;
    Ok(d)
}

/// Sets the number of threads mlkern's kernels use (an int >= 1).
///
/// Rebuilds mlkern's one Rayon pool; other libraries' pools are not touched. Also
/// settable at start-up with ``MLKERN_NUM_THREADS``.
///
/// Raises TypeError for a bool or a non-integer, ValueError for ``n < 1`` or more than
/// 4096 threads.
#[pyfunction]
pub(crate) fn set_num_threads(py: Python<'_>, n: &Bound<'_, PyAny>) -> PyResult<()> {
    let n = crate::arrays::count_arg(n, "n")?;
    if n < 1 {
        return Err(PyValueError::new_err(format!("n must be a positive integer, got {n}")));
    }
    let n = usize::try_from(n).unwrap_or(usize::MAX);
    py.detach(|| threads::set_num_threads(n)).map_err(to_pyerr)
}

/// The number of threads mlkern's kernels use.
#[pyfunction]
pub(crate) fn get_num_threads() -> usize {
    threads::num_threads()
}

/// Test hook: switch the active SIMD tier in this process. Raises ValueError for an
/// unknown tier or one this CPU does not support. Not thread-safe with respect to
/// calls running concurrently (they may use either tier's kernels; both are correct).
#[pyfunction]
pub(crate) fn _set_tier(name: &str) -> PyResult<()> {
    let tier = Tier::from_name(name).map_err(to_pyerr)?;
    cpu::set_active(tier).map_err(to_pyerr)
}

/// Measured FMA throughput of one core in GFLOP/s for ``dtype`` ("float32" or
/// "float64") on the active tier: median of 5 runs of ~20 ms of 16 independent
/// register FMA chains (``mlkern_core::kernels::peak``). The ceiling GEMM figures are
/// reported against.
#[pyfunction]
pub(crate) fn _fma_ceiling(py: Python<'_>, dtype: &str) -> PyResult<f64> {
    fn run<T: mlkern_core::dispatch::HasKernels>() -> f64 {
        mlkern_core::dispatch::kernels::<T>().fma_probe.gflops(1_000_000, 5)
    }
    match dtype {
        "float32" => Ok(py.detach(run::<f32>)),
        "float64" => Ok(py.detach(run::<f64>)),
        _ => Err(PyValueError::new_err(format!("dtype must be 'float32' or 'float64', got {dtype:?}"))),
    }
}

/// Test hook: another thread holds mlkern's internal locks (the thread-pool slot,
/// the process-wide buffer pool and the FFT plan caches) for ``seconds`` with the GIL
/// released, so a test can ``os.fork()`` while they are held and check that the
/// child still runs every kernel.
#[pyfunction]
pub(crate) fn _hold_locks(py: Python<'_>, seconds: f64) -> PyResult<()> {
    if !(0.0..=60.0).contains(&seconds) {
        return Err(PyValueError::new_err(format!("seconds must be in [0, 60], got {seconds}")));
    }
    let d = std::time::Duration::from_secs_f64(seconds);
    py.detach(|| {
        mlkern_core::fork::hold_core_locks_for_test(|| {
            mlkern_signal::fft::with_plan_caches_locked_for_test(|| std::thread::sleep(d))
        })
    });
    Ok(())
}
