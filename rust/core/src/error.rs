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
    /// The memory a call needs cannot be allocated (or its size overflows).
    #[error("{what}: {detail}")]
    OutOfMemory { what: &'static str, detail: String },
}

/// The constructors every crate uses (one spelling of each kind of error).
impl Error {
    /// Two operands whose sizes must agree do not (`ValueError` in Python).
    #[cold]
    pub fn shape(what: &'static str, detail: impl Into<String>) -> Self {
        Error::ShapeMismatch { what, detail: detail.into() }
    }

    /// An argument outside its domain (`ValueError` in Python).
    #[cold]
    pub fn invalid(name: &'static str, detail: impl Into<String>) -> Self {
        Error::InvalidArgument { name, detail: detail.into() }
    }

    /// A SIMD tier unknown or not supported by this CPU (`ValueError` in Python).
    #[cold]
    pub fn unsupported(detail: impl Into<String>) -> Self {
        Error::Unsupported(detail.into())
    }

    /// Memory for `what` cannot be had (`MemoryError` in Python).
    #[cold]
    pub fn out_of_memory(what: &'static str, detail: impl Into<String>) -> Self {
        Error::OutOfMemory { what, detail: detail.into() }
    }
}

/// `a * b`, or an [`Error::OutOfMemory`] naming `what` when the product overflows:
/// the checked multiplication for every size a caller's dimensions multiply into.
#[inline]
pub fn checked_size(what: &'static str, a: usize, b: usize) -> Result<usize> {
    a.checked_mul(b).ok_or_else(|| Error::out_of_memory(what, format!("{a} x {b} elements overflow the address space")))
}

/// Checks that `len` elements form a row-major `(rows, cols)` matrix (no overflow);
/// the shape check every row-wise kernel starts with.
pub fn check_matrix(name: &'static str, len: usize, rows: usize, cols: usize) -> Result<()> {
    match rows.checked_mul(cols) {
        Some(want) if want == len => Ok(()),
        _ => Err(Error::shape(name, format!("buffer of {len} elements is not a ({rows}, {cols}) matrix"))),
    }
}
