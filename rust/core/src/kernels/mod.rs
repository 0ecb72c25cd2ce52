//! Kernels written once over [`crate::simd::Simd`]; [`crate::dispatch`] instantiates
//! them per tier. Each file's header states the algorithm, how it accumulates, and
//! its error bound; `tests/tiers.rs` checks every tier against those bounds.

pub(crate) mod compensated;
pub(crate) mod correlate;
pub(crate) mod gemm;
pub(crate) mod peak;
pub(crate) mod reduce;
pub mod rfft;
pub mod spmm;
pub(crate) mod tile;
