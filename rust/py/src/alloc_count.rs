//! A counting global allocator for the extension: every Rust heap allocation
//! (alloc, alloc_zeroed, realloc) made inside `_mlkern` bumps one relaxed atomic
//! counter, then forwards to the system allocator. Python's own allocations (and
//! NumPy's) do not pass through it. `_mlkern._rust_allocation_count()` reads the
//! counter, so a test can prove from Python that a hot path (a repeated
//! `matmul(..., out=...)`) allocates nothing after warm-up. Cost: one uncontended
//! relaxed `fetch_add` per allocation.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicU64, Ordering};

use pyo3::prelude::*;

static ALLOCATIONS: AtomicU64 = AtomicU64::new(0);

/// The system allocator, counting allocations.
struct CountingSystem;

// SAFETY: every method forwards to `System` with the same arguments, so it upholds
// `GlobalAlloc`'s contract exactly as `System` does; counting touches no memory
// handed out.
unsafe impl GlobalAlloc for CountingSystem {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: same contract as `System.alloc` (forwarded caller guarantees).
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: same contract as `System.alloc_zeroed`.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: same contract as `System.realloc`: `ptr` came from this allocator,
        // which is `System`'s.
        unsafe { System.realloc(ptr, layout, new_size) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: same contract as `System.dealloc`.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: CountingSystem = CountingSystem;

/// Number of Rust heap allocations (and reallocations) made by the extension since
/// it was loaded. Internal: for tests of the "no allocation after warm-up" promises.
#[pyfunction]
pub(crate) fn _rust_allocation_count() -> u64 {
    ALLOCATIONS.load(Ordering::Relaxed)
}
