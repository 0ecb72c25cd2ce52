//! The lock every test of a binary takes before it switches the process-wide SIMD
//! tier or pool size (tests of one binary run concurrently on threads).

use std::sync::{Mutex, MutexGuard};

pub static SERIAL: Mutex<()> = Mutex::new(());

/// Takes [`SERIAL`] (a test that panicked while holding it does not poison the rest).
#[allow(dead_code)] // not every test binary uses the helper
pub fn serial() -> MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|p| p.into_inner())
}
