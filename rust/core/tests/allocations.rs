//! Counts heap allocations with a counting global allocator (shared/MEASURING.md):
//! after a warm-up call, the per-call vector kernels allocate nothing, and cdist /
//! topk allocate only their documented scratch (O(m + n) norms, O(q · k) heaps).

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

use mlkern_core::threads;
use mlkern_core::vector::{self, Metric};

struct Counting;

static ALLOCS: AtomicUsize = AtomicUsize::new(0);
static BYTES: AtomicUsize = AtomicUsize::new(0);

thread_local! {
    /// Allocations made by this thread (no destructor, const-initialised: safe to
    /// touch from inside the allocator).
    static HERE: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
}

// SAFETY: forwards to the system allocator; only counts.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCS.fetch_add(1, Ordering::Relaxed);
        BYTES.fetch_add(layout.size(), Ordering::Relaxed);
        let _ = HERE.try_with(|c| c.set(c.get() + 1));
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

/// Tests in this binary run one at a time so counts are not mixed.
static SERIAL: Mutex<()> = Mutex::new(());

/// Allocations made by the calling thread while `f` runs (other threads, such as
/// pool threads of an earlier test still starting or exiting, are not counted).
fn count_here<R>(f: impl FnOnce() -> R) -> (usize, R) {
    let a0 = HERE.with(|c| c.get());
    let r = f();
    (HERE.with(|c| c.get()) - a0, r)
}

fn count<R>(f: impl FnOnce() -> R) -> (usize, usize, R) {
    let (a0, b0) = (ALLOCS.load(Ordering::SeqCst), BYTES.load(Ordering::SeqCst));
    let r = f();
    (ALLOCS.load(Ordering::SeqCst) - a0, BYTES.load(Ordering::SeqCst) - b0, r)
}

#[test]
fn per_call_kernels_allocate_nothing() {
    let _g = SERIAL.lock().unwrap_or_else(|p| p.into_inner());
    for n in [0usize, 16, 1024, 100_000] {
        let a: Vec<f32> = (0..n).map(|i| i as f32 * 0.25).collect();
        let b: Vec<f64> = (0..n).map(|i| i as f64 * 0.5).collect();
        let warm = || {
            vector::dot(&a, &a).unwrap();
            vector::dot_precise(&a, &a).unwrap();
            vector::sqeuclidean(&b, &b).unwrap();
            vector::cosine_similarity(&b, &b).unwrap();
            vector::norm(&a);
        };
        warm();
        // Below PAR_MIN_LEN every one of these runs on the calling thread.
        assert!(n < vector::PAR_MIN_LEN);
        let (allocs, _) = count_here(warm);
        assert_eq!(allocs, 0, "n = {n}: {allocs} allocations");
    }
}

#[test]
fn cdist_and_topk_allocate_only_small_scratch() {
    let _g = SERIAL.lock().unwrap_or_else(|p| p.into_inner());
    threads::set_num_threads(2).unwrap();
    let (m, n, d) = (200, 3000, 64);
    let a: Vec<f32> = (0..m * d).map(|i| (i % 13) as f32).collect();
    let b: Vec<f32> = (0..n * d).map(|i| (i % 11) as f32).collect();
    let mut out = vec![0.0f32; m * n];
    for metric in
        [Metric::Dot, Metric::CosineSimilarity, Metric::CosineDistance, Metric::SqEuclidean, Metric::Euclidean]
    {
        vector::cdist(&a, m, &b, n, d, metric, &mut out).unwrap();
        let (_, bytes, _) = count(|| vector::cdist(&a, m, &b, n, d, metric, &mut out).unwrap());
        // Norms (m + n values) plus the pool's bookkeeping: far below the m * n output.
        assert!(bytes < 4 * (m + n) + 64 * 1024, "{metric:?}: {bytes} bytes");
    }
    let (q, k) = (20, 10);
    let (mut idx, mut sc) = (vec![0i64; q * k], vec![0.0f32; q * k]);
    for metric in [Metric::Dot, Metric::CosineSimilarity, Metric::CosineDistance] {
        vector::topk(&a[..q * d], q, &b, n, d, k, metric, &mut idx, &mut sc).unwrap();
        let (_, bytes, _) = count(|| vector::topk(&a[..q * d], q, &b, n, d, k, metric, &mut idx, &mut sc).unwrap());
        // Heaps of q * k entries per corpus chunk (n / 2048 chunks), never q * n scores.
        let chunks = n.div_ceil(2048);
        assert!(bytes < chunks * q * k * 64 + 64 * 1024, "{metric:?}: {bytes} bytes");
        assert!(bytes < q * n * 4, "{metric:?}: {bytes} bytes is O(q * n)");
    }
}
