//! Does a 2-thread parallel region after idling really run on two CPUs?
//!
//! `cargo run --release -p mlkern-core --example wake` sleeps 200 ms (so the pool's
//! threads go to sleep), then spreads 8 × 1 ms of spinning over 2 threads, 8 times.
//! Ideal: 4 ms per region. Prints when the second thread started and how many
//! items it took. Compare with `MLKERN_PIN_THREADS=0` (see `threads.rs`).

use std::sync::Mutex;
use std::time::{Duration, Instant};

fn main() {
    mlkern_core::threads::set_num_threads(2).expect("two threads");
    let spin = |ms: f64| {
        let t = Instant::now();
        while t.elapsed().as_secs_f64() * 1e3 < ms {}
    };
    for rep in 0..8 {
        std::thread::sleep(Duration::from_millis(200));
        let t0 = Instant::now();
        let starts = Mutex::new(Vec::new());
        mlkern_core::threads::parallel_for(8, 2, |_| {
            let id = std::thread::current().id();
            starts.lock().unwrap_or_else(|p| p.into_inner()).push((id, t0.elapsed().as_secs_f64() * 1e3));
            spin(1.0);
        });
        let total = t0.elapsed().as_secs_f64() * 1e3;
        let s = starts.into_inner().unwrap_or_else(|p| p.into_inner());
        let first = s[0].0;
        let other: Vec<f64> = s.iter().filter(|x| x.0 != first).map(|x| x.1).collect();
        let at = other.first().copied().unwrap_or(f64::NAN);
        println!("rep {rep}: {total:.2} ms; second thread started at {at:.3} ms and took {} of 8", other.len());
    }
}
