//! The one Rayon pool owned by mlkern.
//!
//! Sized by [`set_num_threads`], else by `MLKERN_NUM_THREADS`, else by the number of
//! CPUs available to the process. mlkern never uses Rayon's global pool, so it
//! neither fights nor configures other libraries' pools.
//!
//! Pinning: on Linux, when the pool has no more threads than the process may use
//! CPUs, pool thread `i` is pinned to the `i`-th allowed CPU (opt out with
//! `MLKERN_PIN_THREADS=0`). Without it, a pool that wakes after idling often had
//! both of its threads queued on one CPU for ~4 ms (the waker's CPU, until the
//! load balancer moved one), so a 2-thread call ran at 1-thread speed at random:
//! 8 × 1 ms of work took 4 ms or 8 ms (`examples/wake.rs`), and
//! `64×100 000 @ 100 000×32` 5 or 10 ms. Pinned, every call took 4.1 ms.
//!
//! Thread counts have one name and one meaning across the crates. A public kernel
//! takes a [`Parallelism`] (the calling thread only, the whole pool, or at most `n`
//! of its threads; Python's `workers=` argument maps onto it). Below that, every
//! helper here takes `threads: usize`, the number of threads that may take part,
//! the caller included: at most the pool size ([`num_threads`]) are used, and 0 or 1
//! means the calling thread alone. [`Parallelism::threads`] turns the one into the
//! other.
//!
//! Fork safety: a child created by `fork()` inherits the pool's bookkeeping but not
//! its threads, so running work on it would wait forever. The slot that holds the
//! pool is a [`ForkSafeMutex`]: a child starts with an empty slot (and the thread
//! count last set, kept in an atomic) and builds a fresh pool on first use, even if
//! another thread of the parent held the slot's lock at the time of the fork. The
//! stale pool is leaked on purpose: dropping it would signal threads that do not
//! exist in the child.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use crate::error::{Error, Result};
use crate::fork::ForkSafeMutex;

struct PoolSlot {
    threads: usize,
    /// Built on first use in each process.
    pool: Option<Arc<rayon::ThreadPool>>,
}

/// The thread count last given to [`set_num_threads`] (0: never), which a forked
/// child keeps.
static CONFIGURED: AtomicUsize = AtomicUsize::new(0);

static POOL: ForkSafeMutex<PoolSlot> = ForkSafeMutex::new(|| {
    let threads = match CONFIGURED.load(Ordering::Relaxed) {
        0 => default_threads(),
        n => n,
    };
    PoolSlot { threads, pool: None }
});

/// How many threads a routine may use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Parallelism {
    /// The calling thread only.
    Sequential,
    /// mlkern's pool, all of its threads ([`num_threads`]).
    Pool,
    /// At most this many of the pool's threads (0 counts as 1).
    Threads(usize),
}

impl Parallelism {
    /// The thread count this allows now: in `1..=num_threads()`.
    pub fn threads(self) -> usize {
        match self {
            Parallelism::Sequential => 1,
            Parallelism::Pool => num_threads(),
            Parallelism::Threads(n) => n.clamp(1, num_threads()),
        }
    }
}

/// Largest thread count accepted (a typo guard, far above any real machine).
pub const MAX_THREADS: usize = 4096;

fn default_threads() -> usize {
    if let Some(n) = std::env::var("MLKERN_NUM_THREADS")
        .ok()
        .and_then(|v| v.trim().parse::<usize>().ok())
        .filter(|&n| (1..=MAX_THREADS).contains(&n))
    {
        return n;
    }
    std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1)
}

/// Whether the current pool's threads are pinned (see the module header).
static PINNED: AtomicBool = AtomicBool::new(false);

fn build(threads: usize) -> Result<Arc<rayon::ThreadPool>> {
    let pin = std::env::var("MLKERN_PIN_THREADS").map(|v| v.trim() != "0").unwrap_or(true);
    let cpus = if pin { affinity::allowed_cpus() } else { Vec::new() };
    PINNED.store(threads <= cpus.len(), Ordering::Relaxed);
    rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .thread_name(|i| format!("mlkern-{i}"))
        .start_handler(move |i| {
            if threads <= cpus.len() {
                affinity::pin_current_thread(cpus[i]);
            }
        })
        .build()
        .map(Arc::new)
        .map_err(|e| Error::invalid("num_threads", format!("cannot start {threads} threads: {e}")))
}

/// CPU affinity of the pool's threads (Linux; elsewhere nothing is pinned).
mod affinity {
    /// The CPUs this process may run on, ascending.
    #[cfg(target_os = "linux")]
    pub(super) fn allowed_cpus() -> Vec<usize> {
        // SAFETY: a zeroed cpu_set_t is a valid empty set; sched_getaffinity fills it.
        unsafe {
            let mut set: libc::cpu_set_t = std::mem::zeroed();
            if libc::sched_getaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &mut set) != 0 {
                return Vec::new();
            }
            (0..libc::CPU_SETSIZE as usize).filter(|&c| libc::CPU_ISSET(c, &set)).collect()
        }
    }
    /// Restricts the calling thread to `cpu` (best effort).
    #[cfg(target_os = "linux")]
    pub(super) fn pin_current_thread(cpu: usize) {
        // SAFETY: as above; failure leaves the thread unpinned, which is harmless.
        unsafe {
            let mut set: libc::cpu_set_t = std::mem::zeroed();
            libc::CPU_SET(cpu, &mut set);
            let _ = libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set);
        }
    }
    #[cfg(not(target_os = "linux"))]
    pub(super) fn allowed_cpus() -> Vec<usize> {
        Vec::new()
    }
    #[cfg(not(target_os = "linux"))]
    pub(super) fn pin_current_thread(_cpu: usize) {}
}

fn lock() -> std::sync::MutexGuard<'static, PoolSlot> {
    // A panic while holding the lock cannot leave the slot inconsistent.
    POOL.lock()
}

/// The pool for this process, built on first use (or after a fork).
fn pool() -> Result<Arc<rayon::ThreadPool>> {
    let mut slot = lock();
    if let Some(p) = &slot.pool {
        return Ok(Arc::clone(p));
    }
    let pool = build(slot.threads)?;
    slot.pool = Some(Arc::clone(&pool));
    Ok(pool)
}

/// Sets the number of threads mlkern's kernels use (>= 1). Rebuilds the pool.
pub fn set_num_threads(n: usize) -> Result<()> {
    if !(1..=MAX_THREADS).contains(&n) {
        return Err(Error::invalid("n", format!("number of threads must be in 1..={MAX_THREADS}, got {n}")));
    }
    let pool = build(n)?;
    CONFIGURED.store(n, Ordering::Relaxed);
    let old = {
        let mut slot = lock();
        slot.threads = n;
        slot.pool.replace(pool)
    };
    // The old pool is dropped here, outside the lock: its threads exit once idle.
    drop(old);
    Ok(())
}

/// Runs `f` holding the slot's lock (the fork-safety test hook).
pub(crate) fn with_slot_locked(f: impl FnOnce()) {
    let _slot = lock();
    f();
}

/// The number of threads mlkern's kernels use.
pub fn num_threads() -> usize {
    lock().threads
}

/// Runs `f` inside mlkern's pool (Rayon's parallel iterators in `f` use it).
/// Falls back to running `f` on the calling thread if no thread can be started.
pub fn install<R: Send>(f: impl FnOnce() -> R + Send) -> R {
    match pool() {
        Ok(p) => p.install(f),
        Err(_) => f(),
    }
}

/// `[f(0), f(1), .., f(n - 1)]`, computed by the calling thread together with
/// `num_threads() - 1` helpers from the pool, which claim indices from a shared
/// counter. The caller works instead of sleeping, so the pool's wake-up latency is
/// hidden behind useful work (this is what makes short parallel calls, tens of
/// microseconds, scale) — unless the pool is pinned, when `num_threads()` pool
/// threads do the work and the caller waits. Results are returned in index order whichever thread
/// computed them.
pub fn map_indexed<R: Send>(n: usize, f: impl Fn(usize) -> R + Sync) -> Vec<R> {
    map_indexed_capped(n, usize::MAX, f)
}

/// [`map_indexed`] with at most `threads` threads taking part (the caller
/// included); `threads <= 1` runs everything on the calling thread.
pub fn map_indexed_capped<R: Send>(n: usize, threads: usize, f: impl Fn(usize) -> R + Sync) -> Vec<R> {
    let helpers = num_threads().min(threads).saturating_sub(1).min(n.saturating_sub(1));
    let pool = match pool() {
        Ok(p) if helpers > 0 => p,
        _ => return (0..n).map(f).collect(),
    };
    let next = AtomicUsize::new(0);
    let slots: Vec<Mutex<Option<R>>> = (0..n).map(|_| Mutex::new(None)).collect();
    let work = || loop {
        let i = next.fetch_add(1, Ordering::Relaxed);
        if i >= n {
            break;
        }
        let r = f(i);
        *slots[i].lock().unwrap_or_else(|p| p.into_inner()) = Some(r);
    };
    // A pinned pool does all the work itself: the caller is not pinned, and working
    // beside the helpers it could share a CPU with the one pinned there for
    // milliseconds (measured: rfft of 1000×4096 on 2 threads 1.8 ms → 3.1 ms).
    let pinned = PINNED.load(Ordering::Relaxed);
    pool.in_place_scope(|s| {
        for _ in 0..helpers + usize::from(pinned) {
            s.spawn(|_| work());
        }
        if !pinned {
            work();
        }
    });
    slots
        .into_iter()
        .map(|m| {
            m.into_inner()
                .unwrap_or_else(|p| p.into_inner())
                .expect("the scope ends only after every index was computed")
        })
        .collect()
}

/// Calls `f(i)` for every `i < n` on at most `threads` of the pool's threads,
/// which claim indices from a shared counter (dynamic load balance). Unlike
/// [`map_indexed`] it allocates nothing: the tasks are `rayon::join` stack jobs, so
/// hot loops (GEMM) stay allocation-free after warm-up. The caller waits in
/// `install`, so use it for work of tens of microseconds or more.
pub fn parallel_for(n: usize, threads: usize, f: impl Fn(usize) + Sync) {
    let t = num_threads().min(threads).min(n);
    if t <= 1 {
        (0..n).for_each(f);
        return;
    }
    let next = AtomicUsize::new(0);
    let work = || loop {
        let i = next.fetch_add(1, Ordering::Relaxed);
        if i >= n {
            break;
        }
        f(i);
    };
    install(|| fork(t, &work));
}

/// Runs `work` on `t` threads of the current pool (recursive `join`).
fn fork(t: usize, work: &(impl Fn() + Sync)) {
    if t <= 1 {
        work();
    } else {
        let h = t / 2;
        rayon::join(|| fork(h, work), || fork(t - h, work));
    }
}

/// Calls `f(chunk_index, chunk)` for consecutive `chunk_len`-element chunks of
/// `data` (the last may be shorter), on at most `threads` threads including the
/// caller. Chunks are disjoint, so `f` may write its chunk freely.
pub fn for_each_chunk_mut<T: Send>(
    data: &mut [T],
    chunk_len: usize,
    threads: usize,
    f: impl Fn(usize, &mut [T]) + Sync,
) {
    let chunks: Vec<Mutex<&mut [T]>> = data.chunks_mut(chunk_len.max(1)).map(Mutex::new).collect();
    map_indexed_capped(chunks.len(), threads, |i| {
        let mut guard = chunks[i].lock().unwrap_or_else(|p| p.into_inner());
        f(i, &mut guard)
    });
}

/// Rows per parallel task for row-wise kernels: about four tasks per thread (for
/// load balance), or all rows in one task when the work (`rows · row_work`) is too
/// small to be worth splitting.
pub fn rows_per_task(rows: usize, row_work: usize, threads: usize) -> usize {
    let threads = num_threads().min(threads).max(1);
    if threads == 1 || rows.saturating_mul(row_work) < (1 << 15) {
        return rows.max(1);
    }
    rows.div_ceil(4 * threads).max(1)
}

/// Calls `f(&mut state, r, out_row)` for each row `r` of `out` (rows of `row_len`
/// elements), tasks of [`rows_per_task`] rows in parallel on at most `threads`
/// threads; `init` makes each task's scratch `state` once.
pub fn for_each_row_mut<T: Send, S>(
    out: &mut [T],
    row_len: usize,
    row_work: usize,
    threads: usize,
    init: impl Fn() -> S + Sync,
    f: impl Fn(&mut S, usize, &mut [T]) + Sync,
) {
    if row_len == 0 {
        return;
    }
    let rows = out.len() / row_len;
    let per = rows_per_task(rows, row_work, threads);
    for_each_chunk_mut(out, per * row_len, threads, |c, chunk| {
        let mut state = init();
        for (k, row) in chunk.chunks_mut(row_len).enumerate() {
            f(&mut state, c * per + k, row);
        }
    });
}

/// `[f(&mut state, r) for r in 0..rows]`, computed like [`for_each_row_mut`].
pub fn map_rows<R: Send, S>(
    rows: usize,
    row_work: usize,
    threads: usize,
    init: impl Fn() -> S + Sync,
    f: impl Fn(&mut S, usize) -> R + Sync,
) -> Vec<R> {
    let per = rows_per_task(rows, row_work, threads);
    map_indexed_capped(rows.div_ceil(per), threads, |c| {
        let mut state = init();
        (c * per..((c + 1) * per).min(rows)).map(|r| f(&mut state, r)).collect::<Vec<R>>()
    })
    .into_iter()
    .flatten()
    .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The pool is global: tests that resize it run one at a time.
    static SERIAL: Mutex<()> = Mutex::new(());

    #[test]
    fn set_and_get() {
        let _g = SERIAL.lock().unwrap_or_else(|p| p.into_inner());
        set_num_threads(3).unwrap();
        assert_eq!(num_threads(), 3);
        assert_eq!(install(rayon::current_num_threads), 3);
        assert!(set_num_threads(0).is_err());
        assert_eq!(num_threads(), 3);
        set_num_threads(2).unwrap();
        assert_eq!(install(rayon::current_num_threads), 2);
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn pool_threads_are_pinned_to_distinct_cpus() {
        let _g = SERIAL.lock().unwrap_or_else(|p| p.into_inner());
        let cpus = affinity::allowed_cpus();
        if std::env::var("MLKERN_PIN_THREADS").is_ok_and(|v| v.trim() == "0") || cpus.len() < 2 {
            return; // pinning is off (or there is nothing to spread over) by configuration
        }
        set_num_threads(2).unwrap();
        let seen = map_rayon_threads(affinity::allowed_cpus);
        assert!(seen.iter().all(|c| c.len() == 1), "{seen:?}");
        assert_ne!(seen[0], seen[1]);
        // More threads than CPUs: nobody is pinned.
        set_num_threads(cpus.len() + 1).unwrap();
        assert!(map_rayon_threads(affinity::allowed_cpus).iter().all(|c| c.len() == cpus.len()));
        set_num_threads(2).unwrap();
    }

    /// `f()` evaluated on every pool thread, in thread-index order.
    #[cfg(target_os = "linux")]
    fn map_rayon_threads<R: Send>(f: impl Fn() -> R + Sync) -> Vec<R> {
        let p = pool().unwrap();
        let n = p.current_num_threads();
        let out: Vec<Mutex<Option<R>>> = (0..n).map(|_| Mutex::new(None)).collect();
        p.broadcast(|ctx| *out[ctx.index()].lock().unwrap() = Some(f()));
        out.into_iter().map(|m| m.into_inner().unwrap().unwrap()).collect()
    }

    #[test]
    fn parallel_for_visits_every_index_once() {
        let _g = SERIAL.lock().unwrap_or_else(|p| p.into_inner());
        for t in [1, 2, 3] {
            set_num_threads(t).unwrap();
            for n in [0usize, 1, 5, 200] {
                let hits: Vec<AtomicUsize> = (0..n).map(|_| AtomicUsize::new(0)).collect();
                parallel_for(n, usize::MAX, |i| {
                    hits[i].fetch_add(1, Ordering::Relaxed);
                });
                assert!(hits.iter().all(|h| h.load(Ordering::Relaxed) == 1));
            }
        }
    }

    #[test]
    fn map_indexed_keeps_order_with_any_thread_count() {
        let _g = SERIAL.lock().unwrap_or_else(|p| p.into_inner());
        for t in [1, 2, 3] {
            set_num_threads(t).unwrap();
            for n in [0usize, 1, 2, 7, 100] {
                assert_eq!(map_indexed(n, |i| i * i), (0..n).map(|i| i * i).collect::<Vec<_>>());
            }
        }
    }
}
