//! mlkern-core: the pure-Rust heart of mlkern.
//!
//! - [`cpu`]: runtime CPU-feature detection, the active SIMD [`Tier`] kept in one atomic.
//! - [`simd`]: a thin per-ISA vector trait (scalar, SSE, AVX2+FMA, AVX-512, NEON).
//! - [`kernels`]: kernels written once over that trait; [`dispatch`] instantiates them
//!   per tier behind `#[target_feature]` and picks the table for the active tier.
//! - [`vector`]: the user-facing vector operations (dot, norms, cdist, fused top-k).
//! - [`halfconv`]: float16 / bfloat16 storage widened to f32 and narrowed back.
//! - [`aligned`]: 64-byte aligned buffers; [`mem`]: the pool they are recycled through.
//!   [`threads`]: the one Rayon pool.
//!
//! Nothing here knows Python; every function that takes user input returns
//! `Result<_, Error>` and never panics on it.

pub mod aligned;
pub mod cpu;
pub mod dispatch;
pub mod element;
pub mod error;
pub mod fork;
pub mod halfconv;
pub mod kernels;
pub mod mem;
pub mod rng;
pub mod simd;
pub mod threads;
pub mod vector;

pub use cpu::Tier;
pub use element::Float;
pub use error::{check_matrix, checked_size, Error, Result};
