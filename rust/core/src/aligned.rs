//! 64-byte aligned, heap-allocated buffers of plain numbers.
//!
//! One cache line (and one AVX-512 register) of alignment: kernels reading an
//! [`AlignedVec`] never split a load across cache lines. Used for the copies mlkern
//! makes of non-contiguous inputs and for per-call scratch (row norms).

use std::alloc::{self, Layout};
use std::ops::{Deref, DerefMut};
use std::ptr::NonNull;

use crate::error::{Error, Result};

/// Alignment of every [`AlignedVec`], in bytes.
pub const ALIGN: usize = 64;

/// Element types an [`AlignedVec`] may hold: plain numbers for which all-zero bytes
/// are a valid value.
///
/// # Safety
/// Implementors must be `Copy`, have no drop glue and accept the all-zero bit pattern.
pub unsafe trait Zeroable: Copy + 'static {}
// SAFETY: primitive numbers; zero bytes are 0 / 0.0.
unsafe impl Zeroable for f32 {}
// SAFETY: as above.
unsafe impl Zeroable for f64 {}
// SAFETY: as above.
unsafe impl Zeroable for i64 {}
// SAFETY: as above.
unsafe impl Zeroable for u32 {}
// SAFETY: as above.
unsafe impl Zeroable for u64 {}
// SAFETY: as above.
unsafe impl Zeroable for u8 {}

/// A fixed-length, zero-initialised, 64-byte aligned buffer.
#[derive(Debug)]
pub struct AlignedVec<T: Zeroable> {
    ptr: NonNull<T>,
    len: usize,
}

// SAFETY: AlignedVec owns its elements like a Vec<T>; T: Copy plain data.
unsafe impl<T: Zeroable + Send> Send for AlignedVec<T> {}
// SAFETY: shared access only hands out &[T].
unsafe impl<T: Zeroable + Sync> Sync for AlignedVec<T> {}

impl<T: Zeroable> AlignedVec<T> {
    /// `len` zeros. Fails (rather than aborting) when the size overflows or the
    /// allocator refuses.
    pub fn zeroed(len: usize) -> Result<Self> {
        if len == 0 || std::mem::size_of::<T>() == 0 {
            return Ok(AlignedVec { ptr: NonNull::dangling(), len });
        }
        let layout = Self::layout(len)?;
        // SAFETY: layout has non-zero size (len > 0, size_of::<T>() > 0).
        let raw = unsafe { alloc::alloc_zeroed(layout) } as *mut T;
        let ptr = NonNull::new(raw)
            .ok_or_else(|| Error::out_of_memory("size", format!("cannot allocate {} bytes", layout.size())))?;
        Ok(AlignedVec { ptr, len })
    }

    /// A copy of `src`, aligned.
    pub fn from_slice(src: &[T]) -> Result<Self> {
        let mut v = Self::zeroed(src.len())?;
        v.copy_from_slice(src);
        Ok(v)
    }

    fn layout(len: usize) -> Result<Layout> {
        let bytes = len
            .checked_mul(std::mem::size_of::<T>())
            .ok_or_else(|| Error::out_of_memory("size", format!("{len} elements overflow the address space")))?;
        Layout::from_size_align(bytes, ALIGN.max(std::mem::align_of::<T>()))
            .map_err(|_| Error::out_of_memory("size", format!("{bytes} bytes exceed the largest allocation")))
    }
}

impl<T: Zeroable> Deref for AlignedVec<T> {
    type Target = [T];
    fn deref(&self) -> &[T] {
        // SAFETY: ptr is valid for len initialised elements (or dangling with len 0).
        unsafe { std::slice::from_raw_parts(self.ptr.as_ptr(), self.len) }
    }
}

impl<T: Zeroable> DerefMut for AlignedVec<T> {
    fn deref_mut(&mut self) -> &mut [T] {
        // SAFETY: as in deref, and we hold &mut self.
        unsafe { std::slice::from_raw_parts_mut(self.ptr.as_ptr(), self.len) }
    }
}

impl<T: Zeroable> Drop for AlignedVec<T> {
    fn drop(&mut self) {
        if self.len == 0 || std::mem::size_of::<T>() == 0 {
            return;
        }
        let layout = Self::layout(self.len).expect("layout was valid at allocation");
        // SAFETY: allocated in `zeroed` with this exact layout.
        unsafe { alloc::dealloc(self.ptr.as_ptr() as *mut u8, layout) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aligned_and_zeroed() {
        for len in [0usize, 1, 7, 63, 64, 65, 1000] {
            let v = AlignedVec::<f32>::zeroed(len).unwrap();
            assert_eq!(v.len(), len);
            assert!(v.iter().all(|&x| x == 0.0));
            if len > 0 {
                assert_eq!(v.as_ptr() as usize % ALIGN, 0);
            }
        }
    }

    #[test]
    fn huge_sizes_are_errors_not_aborts() {
        assert!(AlignedVec::<f64>::zeroed(usize::MAX / 4).is_err());
        assert!(AlignedVec::<f64>::zeroed(usize::MAX).is_err());
    }

    #[test]
    fn from_slice_copies() {
        let v = AlignedVec::from_slice(&[1.0f64, 2.0, 3.0]).unwrap();
        assert_eq!(&v[..], &[1.0, 2.0, 3.0]);
    }
}
