//! Core's kernels, written once over [`crate::simd::Simd`]; [`crate::dispatch`]
//! instantiates them per tier. (The GEMM, sparse, FFT and correlation kernels live in
//! the crates that use them, `rust/linalg` and `rust/signal`, instantiated there with
//! [`crate::per_tier!`].) Each file's header states the algorithm, how it accumulates, and
//! its error bound; `tests/tiers.rs` checks every tier against those bounds.

pub(crate) mod compensated;
pub(crate) mod peak;
pub(crate) mod reduce;
pub(crate) mod tile;
