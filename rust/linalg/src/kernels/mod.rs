//! linalg's own SIMD kernels, written once over [`mlkern_core::simd::Simd`];
//! [`crate::dispatch`] instantiates them per tier with [`mlkern_core::per_tier!`].
//! Each file's header states the algorithm, how it accumulates, and its error bound;
//! `tests/tiers.rs` checks every tier against those bounds.

pub mod micro;
pub mod spmm;
