//! mlkern-signal: the feature-extraction layer behind `mlkern.signal`.
//!
//! - [`fft`]: batched real/complex FFTs over contiguous rows (RustFFT/RealFFT
//!   engines behind a thread-safe plan cache), SciPy's `n`/`norm` conventions.
//! - [`convolve`]: direct (SIMD, from signal's own per-tier table in [`dispatch`]), FFT and overlap-add
//!   convolution and correlation with `full`/`same`/`valid` modes and a calibrated
//!   automatic choice.
//! - [`describe`]: one-pass moments per row (blocked two-pass in L1, merged with
//!   Chan/Pébay formulas). [`rolling`]: O(n) rolling statistics.
//! - [`spectral`]: Welch's method and per-row spectral features.
//! - [`kernels`] and [`dispatch`]: signal's own SIMD kernels (the lane-batched real
//!   FFT, direct correlation), instantiated per tier with `mlkern_core::per_tier!`.
//!
//! All functions take row-major buffers plus dimensions, validate them, return
//! `Result<_, mlkern_core::Error>` and never panic on user input.

pub mod convolve;
pub mod describe;
pub mod dispatch;
pub mod fft;
pub mod kernels;
pub mod rolling;
pub mod spectral;

pub use fft::{FftFloat, Norm};
