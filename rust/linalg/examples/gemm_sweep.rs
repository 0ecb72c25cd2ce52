//! Prints GFLOP/s of mlkern's GEMM (classical and Strassen) and the measured FMA
//! ceiling of the active tier, per thread count. Used to pick the block sizes and
//! the Strassen crossover:
//! `cargo run --release -p mlkern-linalg --example gemm_sweep -- [f32|f64] [N | MxKxN ...]`.

use std::time::Instant;

use mlkern_core::dispatch::{self, HasKernels};
use mlkern_core::threads;
use mlkern_linalg::strassen::{matmul, Method};
use mlkern_linalg::{MatMut, MatRef, Parallelism, Scalar};

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

/// FMA ceiling of one core, GFLOP/s (median of 7 runs of ~50 ms).
fn fma_ceiling<T: HasKernels>() -> f64 {
    dispatch::kernels::<T>().fma_probe.gflops(4_000_000, 7)
}

fn run<T: Scalar + From<f32>>(shapes: &[(usize, usize, usize)]) {
    println!("{}: FMA ceiling {:.1} GFLOP/s per core", std::any::type_name::<T>(), fma_ceiling::<T>());
    for &(m, k, n) in shapes {
        let a: Vec<T> = (0..m * k).map(|i| T::from(((i * 7 % 13) as f32) / 13.0 - 0.5)).collect();
        let b: Vec<T> = (0..k * n).map(|i| T::from(((i * 5 % 11) as f32) / 11.0 - 0.5)).collect();
        let mut c = vec![T::from(0.0); m * n];
        let flops = 2.0 * (m * k * n) as f64;
        for t in [1usize, 2] {
            threads::set_num_threads(t).unwrap();
            for method in [Method::Classical, Method::Strassen] {
                if method == Method::Strassen && (m.min(k).min(n) < 512 || m != k || k != n) {
                    continue;
                }
                // About 10 s of work at 100 GFLOP/s per point, 9 to 200 repeats.
                let reps = (1e12 / flops).clamp(9.0, 200.0) as usize;
                let times: Vec<f64> = (0..reps + 1)
                    .map(|_| {
                        let s = Instant::now();
                        matmul(
                            MatRef::row_major("a", &a, m, k).unwrap(),
                            MatRef::row_major("b", &b, k, n).unwrap(),
                            MatMut::row_major("out", &mut c, m, n).unwrap(),
                            method,
                            Parallelism::Pool,
                        )
                        .unwrap();
                        s.elapsed().as_secs_f64()
                    })
                    .skip(1)
                    .collect();
                let gf = flops / median(times) / 1e9;
                println!("{m}x{k}x{n} threads={t} {method:?}: {gf:7.1} GFLOP/s (classical-equivalent)");
            }
        }
    }
}

/// `N` (a square) or `MxKxN`.
fn shape(arg: &str) -> Option<(usize, usize, usize)> {
    let dims: Vec<usize> = arg.split('x').map(|d| d.parse().ok()).collect::<Option<_>>()?;
    match dims[..] {
        [n] => Some((n, n, n)),
        [m, k, n] => Some((m, k, n)),
        _ => None,
    }
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let dtype = args.first().cloned().unwrap_or_else(|| "f64".into());
    let sizes: Vec<(usize, usize, usize)> = args.iter().skip(1).filter_map(|s| shape(s)).collect();
    let sizes = if sizes.is_empty() { vec![(256, 256, 256), (1024, 1024, 1024), (2048, 2048, 2048)] } else { sizes };
    if dtype == "f32" {
        run::<f32>(&sizes)
    } else {
        run::<f64>(&sizes)
    }
}
