//! Mapping core errors to Python exceptions (one place, like polars' `error.rs`).
//!
//! Wrong dtype is a `TypeError` (raised in `arrays.rs`); everything the core
//! reports — inconsistent shapes, values out of range, unsupported tiers — is a
//! `ValueError` whose message names the argument, except memory that cannot be
//! had (or sizes that overflow), a `MemoryError`.

use mlkern_core::Error;
use pyo3::exceptions::{PyMemoryError, PyValueError};
use pyo3::PyErr;

/// Converts a core error into the Python exception users catch.
#[cold]
pub(crate) fn to_pyerr(e: Error) -> PyErr {
    match e {
        Error::ShapeMismatch { .. } | Error::InvalidArgument { .. } | Error::Unsupported(_) => {
            PyValueError::new_err(e.to_string())
        }
        Error::OutOfMemory { .. } => PyMemoryError::new_err(e.to_string()),
    }
}
