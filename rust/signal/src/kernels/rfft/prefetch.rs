//! Software prefetch of the next batch's rows, spread over the butterflies.

/// The rows of the next batch, which the kernel pulls into cache with software
/// prefetches spread over its butterflies, so that loading them later does not
/// wait on memory. `rows == 0` means there is no next batch.
#[derive(Debug, Clone, Copy)]
pub struct Upcoming<T> {
    pub src: *const T,
    pub ld: usize,
    pub rows: usize,
    pub len: usize,
}

/// Walks the cache lines of an [`Upcoming`] batch, a few per call.
pub(super) struct Prefetcher<T> {
    up: Upcoming<T>,
    /// Offset of a row's last byte (addresses are clamped to it).
    last_byte: usize,
    /// The next line: row `row`, byte `offset`.
    row: usize,
    offset: usize,
}

impl<T> Prefetcher<T> {
    pub(super) fn new(up: Upcoming<T>) -> Self {
        let bytes = up.len * std::mem::size_of::<T>();
        let rows = if bytes == 0 { 0 } else { up.rows };
        Prefetcher { up: Upcoming { rows, ..up }, last_byte: bytes.saturating_sub(1), row: 0, offset: 0 }
    }

    /// Prefetches the next `count` lines (none once the batch is covered).
    #[inline(always)]
    pub(super) fn issue(&mut self, count: usize) {
        for _ in 0..count {
            if self.row >= self.up.rows {
                return;
            }
            let row = self.up.src.wrapping_add(self.row * self.up.ld) as *const u8;
            mlkern_core::simd::prefetch(row.wrapping_add(self.offset.min(self.last_byte)));
            if self.offset > self.last_byte {
                self.row += 1;
                self.offset = 0;
            } else {
                self.offset += 64;
            }
        }
    }
}
