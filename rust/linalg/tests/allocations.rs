//! A counting global allocator proves the pool's promise: after the first call, a
//! repeated `matmul` into the same output allocates nothing — exactly zero on one
//! thread. With two threads, Rayon's job injector allocates one block per 63 jobs
//! injected from outside the pool (crossbeam's `Injector`): amortised, bounded
//! below one allocation per call (the test's limits), and nothing grows.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

use mlkern_core::threads;
use mlkern_linalg::strassen::{matmul, Method};
use mlkern_linalg::{MatMut, MatRef, Parallelism};

struct Counting;
static ALLOCS: AtomicUsize = AtomicUsize::new(0);

// SAFETY: forwards to the system allocator; only counts.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: same contract as System.alloc.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: same contract as System.dealloc.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn run(a: &[f64], b: &[f64], c: &mut [f64], (m, k, n): (usize, usize, usize), method: Method) {
    matmul(
        MatRef::row_major("a", a, m, k).unwrap(),
        MatRef::row_major("b", b, k, n).unwrap(),
        MatMut::row_major("out", c, m, n).unwrap(),
        method,
        Parallelism::Pool,
    )
    .unwrap();
}

const CASES: [((usize, usize, usize), Method); 3] =
    [((300, 200, 250), Method::Classical), ((64, 5000, 32), Method::Classical), ((130, 120, 110), Method::Strassen)];

fn data(shape: (usize, usize, usize)) -> (Vec<f64>, Vec<f64>, Vec<f64>) {
    let (m, k, n) = shape;
    ((0..m * k).map(|i| (i % 7) as f64).collect(), (0..k * n).map(|i| (i % 5) as f64).collect(), vec![0.0; m * n])
}

/// Resizes the pool and waits for the old pool's threads to exit (the counting
/// allocator sees every thread, and exiting threads free and allocate).
fn resize_pool(n: usize) {
    threads::set_num_threads(n).unwrap();
    std::thread::sleep(std::time::Duration::from_millis(200));
}

#[test]
fn repeated_matmul_allocates_nothing_after_warm_up() {
    resize_pool(1);
    for (shape, method) in CASES {
        let (a, b, mut c) = data(shape);
        run(&a, &b, &mut c, shape, method);
        let before = ALLOCS.load(Ordering::SeqCst);
        for _ in 0..10 {
            run(&a, &b, &mut c, shape, method);
        }
        let allocs = ALLOCS.load(Ordering::SeqCst) - before;
        assert_eq!(allocs, 0, "{shape:?} {method:?}, 1 thread");
    }
    resize_pool(2);
    for (shape, method) in CASES {
        let (a, b, mut c) = data(shape);
        for _ in 0..3 {
            run(&a, &b, &mut c, shape, method);
        }
        let before = ALLOCS.load(Ordering::SeqCst);
        for _ in 0..100 {
            run(&a, &b, &mut c, shape, method);
        }
        let allocs = ALLOCS.load(Ordering::SeqCst) - before;
        // Classical: a few injected jobs per call; Strassen: ~30 (one per parallel
        // addition pass and per GEMM slice), hence one block every two or three calls.
        let limit = if method == Method::Strassen { 50 } else { 5 };
        assert!(allocs <= limit, "{shape:?} {method:?}, 2 threads: {allocs} allocations in 100 calls");
    }
}
