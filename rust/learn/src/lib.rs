//! mlkern-learn: the array layer behind `mlkern.learn`.
//!
//! - [`math`]: branch-free float64 `exp`/`ln` that vectorise inside the kernels.
//! - [`kernels`] and [`dispatch`]: the per-tier row kernels (the fused logistic
//!   loss-and-gradient pass, linear prediction), instantiated with
//!   `mlkern_core::per_tier!`.
//! - [`lbfgs`]: L-BFGS with a strong-Wolfe line search and SciPy's stopping rules.
//! - [`logistic`]: scikit-learn's logistic objective (binary and multinomial),
//!   evaluated in one deterministic parallel pass, and its fit.
//! - [`linear`]: least squares and ridge in closed form (centred Gram matrix on the
//!   packed GEMM, blocked Cholesky).
//! - [`predict`]: batch prediction of linear models.
//! - [`mlp`]: multi-layer perceptrons (scikit-learn's MLP training step with Adam or
//!   momentum SGD, and the forward pass), on the GEMM, deterministic on any thread
//!   count.
//! - [`sgd`]: scikit-learn's SGD for linear models (per sample, or in mini-batches
//!   summed in parallel), every loss, penalty and learning-rate schedule.
//!
//! Every function validates its input and returns `Result<_, mlkern_core::Error>`;
//! none panics on user input.

pub mod dispatch;
pub mod kernels;
pub mod lbfgs;
pub mod linear;
pub mod logistic;
pub mod math;
pub mod mlp;
pub mod predict;
pub mod sgd;
