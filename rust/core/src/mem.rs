//! A thread-safe pool of 64-byte aligned buffers (GEMM packing panels, Strassen
//! temporaries, `mlkern.mem.BufferPool`).
//!
//! Buffers are kept in power-of-two size classes (64 B, 128 B, ..., 2⁶³ B): a
//! request of `n` bytes is served by the smallest class ≥ `n`, so a repeated call
//! with the same sizes finds its buffers again (a *hit*) and allocates nothing. A
//! returned buffer is kept while the bytes held stay within `max_bytes`; otherwise
//! it is freed at once.
//!
//! Initialisation: a buffer is zeroed when it is first allocated and holds
//! whatever was last written when it is reused, so its bytes are always
//! initialised and [`PoolBuf::slice_mut`] never exposes uninitialised memory. (To a
//! NumPy user, a reused buffer looks like `np.empty`.)
//!
//! Every [`PoolBuf`] holds an `Arc` of its pool, so a buffer that outlives every
//! other handle of the pool is still valid; it is freed when dropped.
//!
//! Fork safety: the free lists live behind a [`ForkSafeMutex`], so a `fork()` child
//! starts with empty lists (the inherited ones are leaked in the child) even if
//! another thread of the parent was inside the pool at the time.

use std::alloc::{self, Layout};
use std::ptr::NonNull;
use std::sync::{Arc, OnceLock};

use crate::aligned::{Zeroable, ALIGN};
use crate::error::{Error, Result};
use crate::fork::ForkSafeMutex;

const CLASSES: usize = usize::BITS as usize;
/// Smallest class: one cache line.
const MIN_CLASS: u32 = ALIGN.trailing_zeros();

/// Counters of a [`Pool`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PoolStats {
    /// Requests served by a kept buffer.
    pub hits: u64,
    /// Requests that had to allocate.
    pub misses: u64,
    /// Bytes of kept (free) buffers.
    pub bytes_held: usize,
}

struct Free(NonNull<u8>);
// SAFETY: a free buffer is plain memory owned by the pool, not aliased.
unsafe impl Send for Free {}

struct State {
    free: Vec<Vec<Free>>,
    stats: PoolStats,
}

impl State {
    fn empty() -> State {
        State { free: (0..CLASSES).map(|_| Vec::new()).collect(), stats: PoolStats::default() }
    }
}

/// A pool of 64-byte aligned buffers; see the module docs.
pub struct Pool {
    state: ForkSafeMutex<State>,
    max_bytes: usize,
}

impl std::fmt::Debug for Pool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pool").field("max_bytes", &self.max_bytes).field("stats", &self.stats()).finish()
    }
}

/// Largest class: the largest power of two that a `Layout` accepts (its size
/// rounded up to the alignment must not exceed `isize::MAX`).
const MAX_CLASS: u32 = usize::BITS - 2;

fn class_of(bytes: usize) -> Result<u32> {
    match bytes.max(1).checked_next_power_of_two().map(|b| b.trailing_zeros()) {
        Some(class) if class <= MAX_CLASS => Ok(class.max(MIN_CLASS)),
        _ => Err(Error::out_of_memory("size", format!("{bytes} bytes exceed the largest allocation"))),
    }
}

fn layout(class: u32) -> Layout {
    debug_assert!((MIN_CLASS..=MAX_CLASS).contains(&class));
    // A class is a power of two in [64, 2^62] (checked by class_of), so the layout is valid.
    Layout::from_size_align(1usize << class, ALIGN).expect("pool size classes are valid layouts")
}

impl Pool {
    /// A new, empty pool that keeps at most `max_bytes` of free buffers (`None`: no cap).
    pub fn new(max_bytes: Option<usize>) -> Arc<Pool> {
        Arc::new(Pool { state: ForkSafeMutex::new(State::empty), max_bytes: max_bytes.unwrap_or(usize::MAX) })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        // Every critical section leaves the state consistent, so a poisoned lock is usable.
        self.state.lock()
    }

    /// The cap on free bytes kept.
    pub fn max_bytes(&self) -> usize {
        self.max_bytes
    }

    /// Current counters.
    pub fn stats(&self) -> PoolStats {
        self.lock().stats
    }

    /// Runs `f` holding the pool's lock (the fork-safety test hook).
    pub(crate) fn with_locked(&self, f: impl FnOnce()) {
        let _state = self.lock();
        f();
    }

    /// Frees every kept buffer.
    pub fn clear(&self) {
        let mut st = self.lock();
        for (class, list) in st.free.iter_mut().enumerate() {
            for Free(p) in list.drain(..) {
                // SAFETY: allocated by `take_bytes` with `layout(class)`.
                unsafe { alloc::dealloc(p.as_ptr(), layout(class as u32)) };
            }
        }
        st.stats.bytes_held = 0;
    }

    /// A buffer of at least `bytes` bytes, 64-byte aligned: zeroed when newly
    /// allocated, holding earlier contents when reused.
    pub fn take_bytes(self: &Arc<Self>, bytes: usize) -> Result<PoolBuf> {
        let class = class_of(bytes)?;
        {
            let mut st = self.lock();
            if let Some(Free(ptr)) = st.free[class as usize].pop() {
                st.stats.hits += 1;
                st.stats.bytes_held -= 1usize << class;
                return Ok(PoolBuf { ptr, class, pool: Arc::clone(self) });
            }
            st.stats.misses += 1;
        }
        // SAFETY: the layout has non-zero size (at least 64 bytes).
        let raw = unsafe { alloc::alloc_zeroed(layout(class)) };
        let ptr = NonNull::new(raw)
            .ok_or_else(|| Error::out_of_memory("size", format!("cannot allocate {} bytes", 1usize << class)))?;
        Ok(PoolBuf { ptr, class, pool: Arc::clone(self) })
    }

    /// A buffer of at least `len` elements of `T`.
    pub fn take<T: Zeroable>(self: &Arc<Self>, len: usize) -> Result<PoolBuf> {
        let bytes = len
            .checked_mul(std::mem::size_of::<T>())
            .ok_or_else(|| Error::out_of_memory("size", format!("{len} elements overflow the address space")))?;
        self.take_bytes(bytes)
    }

    fn give_back(&self, ptr: NonNull<u8>, class: u32) {
        let size = 1usize << class;
        let mut st = self.lock();
        if st.stats.bytes_held.saturating_add(size) <= self.max_bytes {
            st.free[class as usize].push(Free(ptr));
            st.stats.bytes_held += size;
            return;
        }
        drop(st);
        // SAFETY: allocated by `take_bytes` with this layout; the caller gave up ownership.
        unsafe { alloc::dealloc(ptr.as_ptr(), layout(class)) };
    }
}

impl Drop for Pool {
    fn drop(&mut self) {
        self.clear();
    }
}

/// A buffer borrowed from a [`Pool`]; goes back to it when dropped.
pub struct PoolBuf {
    ptr: NonNull<u8>,
    class: u32,
    pool: Arc<Pool>,
}

// SAFETY: PoolBuf owns its memory exclusively, like a Box<[u8]>.
unsafe impl Send for PoolBuf {}
// SAFETY: shared access hands out only raw pointers / shared slices.
unsafe impl Sync for PoolBuf {}

impl std::fmt::Debug for PoolBuf {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PoolBuf").field("bytes", &self.bytes()).finish()
    }
}

impl PoolBuf {
    /// Capacity in bytes (a power of two ≥ the request).
    pub fn bytes(&self) -> usize {
        1usize << self.class
    }

    /// Start of the buffer (64-byte aligned).
    pub fn as_mut_ptr(&self) -> *mut u8 {
        self.ptr.as_ptr()
    }

    /// The first `len` elements as a mutable slice: zeros on a fresh buffer, earlier
    /// contents on a reused one (initialised bytes either way; any bit pattern is a
    /// valid `T`).
    ///
    /// # Panics
    /// If `len` elements do not fit (a bug in the caller, never user input).
    pub fn slice_mut<T: Zeroable>(&mut self, len: usize) -> &mut [T] {
        assert!(len.saturating_mul(std::mem::size_of::<T>()) <= self.bytes(), "PoolBuf too small");
        // SAFETY: the buffer holds `bytes()` initialised bytes (zeroed on allocation,
        // only ever written through slices since), is aligned to 64 >= align_of T,
        // every bit pattern is a valid T (Zeroable: plain numbers) and &mut self is unique.
        unsafe { std::slice::from_raw_parts_mut(self.ptr.as_ptr() as *mut T, len) }
    }
}

impl Drop for PoolBuf {
    fn drop(&mut self) {
        self.pool.give_back(self.ptr, self.class);
    }
}

/// Free bytes the process-wide pool keeps (1 GiB).
pub const GLOBAL_MAX_BYTES: usize = 1 << 30;

/// The process-wide pool used for packing buffers and temporaries.
pub fn global() -> &'static Arc<Pool> {
    static GLOBAL: OnceLock<Arc<Pool>> = OnceLock::new();
    GLOBAL.get_or_init(|| Pool::new(Some(GLOBAL_MAX_BYTES)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reuse_alignment_and_cap() {
        let pool = Pool::new(Some(4096));
        let a = pool.take::<f64>(100).unwrap();
        assert_eq!(a.as_mut_ptr() as usize % ALIGN, 0);
        assert_eq!(a.bytes(), 1024);
        let p = a.as_mut_ptr();
        drop(a);
        assert_eq!(pool.stats(), PoolStats { hits: 0, misses: 1, bytes_held: 1024 });
        let b = pool.take::<f64>(128).unwrap();
        assert_eq!(b.as_mut_ptr(), p, "same class is reused");
        assert_eq!(pool.stats().hits, 1);
        let big = pool.take_bytes(8192).unwrap();
        drop(big); // over the cap: freed, not kept
        assert_eq!(pool.stats().bytes_held, 0);
        drop(b);
        assert_eq!(pool.stats().bytes_held, 1024);
        pool.clear();
        assert_eq!(pool.stats().bytes_held, 0);
    }

    #[test]
    fn huge_requests_are_errors() {
        let pool = Pool::new(None);
        assert!(pool.take_bytes(usize::MAX).is_err());
        assert!(pool.take::<f64>(usize::MAX / 2).is_err());
        assert!(pool.take_bytes(1 << 62).is_err(), "the allocator refuses 4 EiB");
        // Just past the largest class: an error, not a Layout panic.
        for bytes in [(1usize << 62) + 1, 1 << 63, (1 << 63) + 1, isize::MAX as usize] {
            assert!(matches!(pool.take_bytes(bytes), Err(Error::OutOfMemory { .. })), "{bytes}");
        }
    }

    #[test]
    fn fresh_buffers_are_zeroed() {
        let pool = Pool::new(None);
        let mut a = pool.take::<u64>(1000).unwrap();
        assert!(a.slice_mut::<u64>(1000).iter().all(|&v| v == 0));
        a.slice_mut::<u64>(1000).fill(7);
        drop(a);
        let mut b = pool.take::<u64>(1000).unwrap();
        assert_eq!(pool.stats().hits, 1);
        assert!(b.slice_mut::<u64>(1000).iter().all(|&v| v == 7), "reuse keeps contents");
    }

    #[test]
    fn buffers_outlive_their_pool_handle() {
        let pool = Pool::new(None);
        let mut buf = pool.take::<f32>(10).unwrap();
        drop(pool);
        buf.slice_mut::<f32>(10).fill(1.5);
        assert_eq!(buf.slice_mut::<f32>(10)[9], 1.5);
    }
}
