//! Locks that a child process created by `fork()` can always take.
//!
//! `fork()` copies the memory of the whole process but only the calling thread. A
//! lock that another thread held at that moment stays locked forever in the child,
//! and the data it guarded may be half updated. Python programs fork often
//! (`multiprocessing`'s default start method on Linux before 3.14, Dask, Gunicorn), and
//! mlkern's kernels run with the GIL released, so another thread can be inside one
//! of mlkern's critical sections (the buffer pool, the thread-pool slot, the FFT
//! plan caches) when the main thread forks.
//!
//! [`ForkSafeMutex`] solves this without ever touching a lock the child cannot own:
//! a `pthread_atfork` child handler bumps a process-wide *fork generation*; every
//! lock remembers the generation its state was built in, and the first use in a
//! newer generation builds fresh state (from the `init` function the lock was made
//! with) instead of taking the inherited lock. The inherited state is leaked on
//! purpose: it may be locked by a thread that does not exist in the child, or be
//! half updated. Everything mlkern guards this way is a cache (free buffers, FFT
//! plans, the Rayon pool handle), so starting it afresh loses nothing but warm-up.
//!
//! Cost: one relaxed atomic load and compare per lock, on top of the mutex.

use std::sync::atomic::{AtomicBool, AtomicPtr, AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard};

/// Incremented in every child right after `fork()`.
static GENERATION: AtomicU64 = AtomicU64::new(0);
/// Whether the child handler is registered. An atomic, not a `Once`: a `Once` that
/// another thread is running when the process forks stays "running" in the child,
/// and every later call there would wait on it forever.
static REGISTERED: AtomicBool = AtomicBool::new(false);

extern "C" fn after_fork_in_child() {
    // Async-signal-safe: one atomic add, no allocation, no lock.
    GENERATION.fetch_add(1, Ordering::SeqCst);
}

/// Registers the `pthread_atfork` child handler (once per process; later calls do
/// nothing). The Python extension calls it when it is imported, before any mlkern
/// thread exists; [`generation`] calls it too, for Rust users. Returns false if the
/// handler could not be registered (then fork safety is lost, and nothing else).
pub fn register() -> bool {
    if REGISTERED.load(Ordering::Acquire) {
        return true;
    }
    if REGISTERED.swap(true, Ordering::AcqRel) {
        return true; // another thread registers it
    }
    #[cfg(unix)]
    {
        // SAFETY: registers a handler that only performs an atomic add (async-signal-safe,
        // as POSIX requires of child handlers); the function lives for the whole process.
        let rc = unsafe { libc::pthread_atfork(None, None, Some(after_fork_in_child)) };
        if rc != 0 {
            REGISTERED.store(false, Ordering::Release);
            return false;
        }
    }
    true
}

/// The fork generation of this process: 0 in the process that loaded mlkern, one
/// more in each `fork()` child (and so on down the process tree).
pub fn generation() -> u64 {
    register();
    GENERATION.load(Ordering::Acquire)
}

struct Slot<T> {
    generation: u64,
    mutex: Mutex<T>,
}

/// A mutex whose state is rebuilt, not inherited, in a `fork()` child (see the
/// module docs). `init` builds the state on first use in each process.
pub struct ForkSafeMutex<T> {
    slot: AtomicPtr<Slot<T>>,
    init: fn() -> T,
}

// SAFETY: the slot is reached only through the inner Mutex<T>, which is Sync when T is Send.
unsafe impl<T: Send> Sync for ForkSafeMutex<T> {}
// SAFETY: owning the mutex owns a T.
unsafe impl<T: Send> Send for ForkSafeMutex<T> {}

impl<T> std::fmt::Debug for ForkSafeMutex<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ForkSafeMutex").finish_non_exhaustive()
    }
}

impl<T> ForkSafeMutex<T> {
    /// A lock whose state `init()` builds on first use (usable in a `static`).
    pub const fn new(init: fn() -> T) -> Self {
        ForkSafeMutex { slot: AtomicPtr::new(std::ptr::null_mut()), init }
    }

    /// The slot of this process's fork generation, built if missing or inherited.
    fn current(&self) -> &Slot<T> {
        let generation = generation();
        let mut p = self.slot.load(Ordering::Acquire);
        loop {
            // SAFETY: a non-null slot pointer always comes from Box::into_raw below and is
            // freed only in Drop (which has &mut self), so it is valid for `&self`'s lifetime.
            if let Some(slot) = unsafe { p.as_ref() } {
                if slot.generation == generation {
                    return slot;
                }
            }
            let fresh = Box::into_raw(Box::new(Slot { generation, mutex: Mutex::new((self.init)()) }));
            match self.slot.compare_exchange(p, fresh, Ordering::AcqRel, Ordering::Acquire) {
                // The inherited slot (if any) is leaked: see the module docs.
                Ok(_) => p = fresh,
                Err(now) => {
                    // SAFETY: `fresh` was never shared; another thread installed its own.
                    drop(unsafe { Box::from_raw(fresh) });
                    p = now;
                }
            }
        }
    }

    /// Locks the state of this process. A poisoned lock is used as is: every user of
    /// this type keeps its state consistent at each step (a cache).
    pub fn lock(&self) -> MutexGuard<'_, T> {
        self.current().mutex.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl<T> Drop for ForkSafeMutex<T> {
    fn drop(&mut self) {
        let p = *self.slot.get_mut();
        if !p.is_null() {
            // SAFETY: `p` came from Box::into_raw and nothing else can reach it now.
            drop(unsafe { Box::from_raw(p) });
        }
    }
}

/// Test hook: runs `inner` holding the locks of core (the thread-pool slot and the
/// process-wide buffer pool), so a test can `fork()` while another thread is inside
/// mlkern's critical sections.
#[doc(hidden)]
pub fn hold_core_locks_for_test(inner: impl FnOnce()) {
    crate::threads::with_slot_locked(|| crate::mem::global().with_locked(inner));
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;
    use std::time::{Duration, Instant};

    /// Used only by the fork test (tests run in parallel threads).
    static COUNTER: ForkSafeMutex<u32> = ForkSafeMutex::new(|| 7);

    #[test]
    fn starts_from_init_and_keeps_state() {
        static UNTOUCHED: ForkSafeMutex<u32> = ForkSafeMutex::new(|| 7);
        let m = ForkSafeMutex::new(|| 1u32);
        *m.lock() += 1;
        assert_eq!(*m.lock(), 2);
        assert_eq!(*UNTOUCHED.lock(), 7);
    }

    /// A fork taken while another thread holds the lock: the child still locks it
    /// (fresh state) and exits; with a plain Mutex the child would hang.
    #[test]
    fn child_locks_what_another_thread_held_at_fork() {
        let (held_tx, held_rx) = std::sync::mpsc::channel();
        let (release_tx, release_rx) = std::sync::mpsc::channel::<()>();
        let holder = std::thread::spawn(move || {
            let mut g = COUNTER.lock();
            *g = 99;
            held_tx.send(()).unwrap();
            release_rx.recv().unwrap();
        });
        held_rx.recv().unwrap();
        // SAFETY: fork() itself is sound; the child only locks (which may allocate: glibc's
        // malloc is usable in a fork child, the test's point is the lock) and _exits.
        let pid = unsafe { libc::fork() };
        if pid == 0 {
            let v = *COUNTER.lock();
            // SAFETY: _exit is async-signal-safe and ends the child at once.
            unsafe { libc::_exit(if v == 7 { 0 } else { 2 }) };
        }
        assert!(pid > 0, "fork failed");
        let t0 = Instant::now();
        let mut status = 0;
        loop {
            // SAFETY: waits for our own child without blocking.
            let r = unsafe { libc::waitpid(pid, &mut status, libc::WNOHANG) };
            if r == pid {
                break;
            }
            if t0.elapsed() > Duration::from_secs(20) {
                // SAFETY: kills our own child.
                unsafe { libc::kill(pid, libc::SIGKILL) };
                panic!("the child deadlocked on a lock held at fork time");
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        release_tx.send(()).unwrap();
        holder.join().unwrap();
        assert!(libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0, "child status {status}");
        assert_eq!(*COUNTER.lock(), 99, "the parent's state is untouched");
    }
}
