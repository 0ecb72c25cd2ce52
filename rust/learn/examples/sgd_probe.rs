//! Times 5 epochs of per-sample SGD (log loss) on 1 000 000 × 32 float32 rows,
//! shuffled and in order (for profiling: `cargo run --profile profiling -p
//! mlkern-learn --example sgd_probe [batch_size]`).

use std::time::Instant;

use mlkern_learn::sgd::{self, Loss, Problem, Schedule, Settings, State, Targets};

fn main() {
    let batch: usize = std::env::args().nth(1).and_then(|s| s.parse().ok()).unwrap_or(1);
    let (n, d) = (1_000_000usize, 32usize);
    let mut s = 0x1234_5678u64;
    let mut next = || {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        (s >> 40) as f32 / (1u64 << 24) as f32 - 0.5
    };
    // 2 MiB pages, as NumPy asks for its large arrays (madvise(MADV_HUGEPAGE)).
    let mut x: Vec<f32> = Vec::with_capacity(n * d + (1 << 19));
    let start = x.as_ptr() as usize;
    let offset = ((start + (2 << 20) - 1) & !((2 << 20) - 1)) - start;
    extern "C" {
        fn madvise(addr: *mut std::ffi::c_void, len: usize, advice: i32) -> i32;
    }
    // SAFETY: the range lies inside x's allocation; MADV_HUGEPAGE (14) only advises.
    unsafe { madvise((start + offset) as *mut _, n * d * 4, 14) };
    x.extend((0..offset / 4).map(|_| 0.0));
    x.extend((0..n * d).map(|_| next()));
    let x = &x[offset / 4..];
    let codes: Vec<u32> = (0..n).map(|i| u32::from(x[i * d] + 0.3 * x[i * d + 1] > 0.0)).collect();
    let rows: Vec<u32> = (0..n as u32).collect();
    let p = Problem {
        x,
        d,
        targets: Targets::Classes { codes: &codes, positive: 1, negative: 0.0 },
        sw: None,
        class_weight: (1.0, 1.0),
        rows: &rows,
    };
    for shuffle in [true, false] {
        let settings = Settings {
            loss: Loss::Log,
            alpha: 1e-4,
            l1_ratio: 0.0,
            penalized: true,
            fit_intercept: true,
            schedule: Schedule::Optimal,
            eta0: 0.01,
            power_t: 0.5,
            average: 0,
            shuffle,
            seed: 7,
            max_epochs: 5,
            tol: None,
            n_iter_no_change: 5,
            batch_size: batch,
            track_loss: false,
        };
        let mut st = State::<f32>::new(d, None, 0.0, None, 1.0, 0.01);
        let t = Instant::now();
        sgd::train(&p, &settings, &mut st, None, &mut |_| true, &|| true).unwrap();
        let dt = t.elapsed().as_secs_f64();
        println!("shuffle={shuffle}: {:.3} s, {:.1} ns/sample", dt, dt / (5 * n) as f64 * 1e9);
    }
}
