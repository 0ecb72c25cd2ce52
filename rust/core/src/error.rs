//! The one error type of the core crates. The binding maps each variant to a
//! Python exception class (`ValueError`, `TypeError`), see `rust/py/src/errors.rs`.

/// Result alias used across mlkern's Rust crates.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong with a caller's input or configuration.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// Two operands whose sizes must agree do not.
    #[error("{what}: {detail}")]
    ShapeMismatch { what: &'static str, detail: String },
    /// An argument has a value outside its domain (k <= 0, zero threads, ...).
    #[error("{name}: {detail}")]
    InvalidArgument { name: &'static str, detail: String },
    /// A requested SIMD tier is unknown or not supported by this CPU.
    #[error("{0}")]
    Unsupported(String),
}

impl Error {
    #[cold]
    pub(crate) fn shape(what: &'static str, detail: impl Into<String>) -> Self {
        Error::ShapeMismatch { what, detail: detail.into() }
    }

    #[cold]
    pub(crate) fn invalid(name: &'static str, detail: impl Into<String>) -> Self {
        Error::InvalidArgument { name, detail: detail.into() }
    }
}

/// Checks that `len` elements form a row-major `(rows, cols)` matrix (no overflow);
/// the shape check every row-wise kernel starts with.
pub fn check_matrix(name: &'static str, len: usize, rows: usize, cols: usize) -> Result<()> {
    match rows.checked_mul(cols) {
        Some(want) if want == len => Ok(()),
        _ => Err(Error::shape(name, format!("buffer of {len} elements is not a ({rows}, {cols}) matrix"))),
    }
}
