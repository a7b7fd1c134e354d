//! A provided-buffer ring (IORING_REGISTER_PBUF_RING): the kernel picks a free buffer for
//! each multishot recv completion and names it in the completion's flags; we give a buffer
//! back (recycle it) once its bytes are consumed. One ring of equal buffers per worker. The
//! ring is registered at its largest size; buffers are added in chunks as the worker's live
//! connections grow (never past that size), so a small server does not pay for a large one.

use io_uring::Submitter;
use std::alloc::{alloc_zeroed, dealloc, Layout};
use std::io;
use std::sync::atomic::{AtomicU16, Ordering};

/// The buffer group id of the worker's ring.
pub(crate) const BGID: u16 = 7;
/// Buffers added at a time.
const CHUNK: u16 = 128;

pub(crate) struct BufRing {
    ring: *mut u8,
    layout: Layout,
    /// Buffer memory, `CHUNK` buffers per allocation (heap memory that never moves).
    chunks: Vec<Box<[u8]>>,
    /// Ring entries (a power of two): the most buffers there can ever be.
    entries: u16,
    /// Buffers handed to the kernel so far (≤ `entries`).
    count: u16,
    size: usize,
    tail: u16,
}

impl BufRing {
    /// A ring of `entries` (a power of two, ≤ 32768) slots registered with `submitter`,
    /// holding `initial` buffers of `size` bytes to start with.
    pub(crate) fn new(
        submitter: &Submitter<'_>,
        entries: u16,
        initial: u16,
        size: usize,
    ) -> io::Result<BufRing> {
        if !entries.is_power_of_two() || entries > 32768 || size == 0 || size > u32::MAX as usize {
            return Err(io::ErrorKind::InvalidInput.into());
        }
        let layout =
            Layout::from_size_align(entries as usize * 16, 4096).map_err(io::Error::other)?;
        // SAFETY: a non-zero-sized, page-aligned allocation, zeroed (tail starts at 0).
        let ring = unsafe { alloc_zeroed(layout) };
        if ring.is_null() {
            return Err(io::ErrorKind::OutOfMemory.into());
        }
        let mut r = BufRing {
            ring,
            layout,
            chunks: Vec::new(),
            entries,
            count: 0,
            size,
            tail: 0,
        };
        // SAFETY: the ring memory is page aligned, `entries` entries long, and lives (with the
        // buffers) until Drop, after the ring is unregistered.
        unsafe { submitter.register_buf_ring_with_flags(ring as u64, entries, BGID, 0)? };
        r.grow_to(initial);
        Ok(r)
    }

    /// Buffers handed to the kernel so far.
    pub(crate) fn count(&self) -> u16 {
        self.count
    }

    /// The most buffers this ring can hold.
    pub(crate) fn capacity(&self) -> u16 {
        self.entries
    }

    /// Adds buffers (whole chunks) until there are at least `want` (capped at the ring's
    /// size); returns how many were added.
    pub(crate) fn grow_to(&mut self, want: u16) -> u16 {
        let want = want.min(self.entries);
        let before = self.count;
        while self.count < want {
            let n = CHUNK.min(self.entries - self.count);
            self.chunks
                .push(vec![0u8; CHUNK as usize * self.size].into_boxed_slice());
            for bid in self.count..self.count + n {
                self.add(bid);
            }
            self.count += n;
        }
        if self.count != before {
            self.publish();
        }
        self.count - before
    }

    fn addr(&self, bid: u16) -> *const u8 {
        let chunk = &self.chunks[(bid / CHUNK) as usize];
        chunk[(bid % CHUNK) as usize * self.size..].as_ptr()
    }

    fn add(&mut self, bid: u16) {
        let idx = (self.tail & (self.entries - 1)) as usize;
        let addr = self.addr(bid) as u64;
        // SAFETY: entry `idx` is inside the ring allocation (16 bytes each: addr u64, len u32,
        // bid u16, resv u16); the kernel reads it only after the tail is published.
        unsafe {
            let e = self.ring.add(idx * 16);
            std::ptr::write_unaligned(e.cast::<u64>(), addr);
            std::ptr::write_unaligned(e.add(8).cast::<u32>(), self.size as u32);
            std::ptr::write_unaligned(e.add(12).cast::<u16>(), bid);
        }
        self.tail = self.tail.wrapping_add(1);
    }

    fn publish(&self) {
        // SAFETY: the tail is the u16 at offset 14 of the ring (overlaying the first entry's
        // reserved field), 2-byte aligned in a page-aligned allocation, shared with the kernel:
        // only ever accessed atomically here.
        let tail = unsafe { &*(self.ring.add(14).cast::<AtomicU16>()) };
        tail.store(self.tail, Ordering::Release);
    }

    /// Hands buffer `bid` back to the kernel (ignored for an id this ring never handed out:
    /// a kernel bug, not something to write past the ring for).
    pub(crate) fn recycle(&mut self, bid: u16) {
        if bid >= self.count {
            return;
        }
        self.add(bid);
        self.publish();
    }

    /// The bytes of buffer `bid` (empty for an id this ring never handed out).
    pub(crate) fn buf(&self, bid: u16) -> &[u8] {
        if bid >= self.count {
            return &[];
        }
        let chunk = &self.chunks[(bid / CHUNK) as usize];
        let at = (bid % CHUNK) as usize * self.size;
        &chunk[at..at + self.size]
    }
}

impl Drop for BufRing {
    fn drop(&mut self) {
        // SAFETY: allocated in `new` with this layout; the ring (and its registration) is gone
        // by now (the driver drops the IoUring first).
        unsafe { dealloc(self.ring, self.layout) };
    }
}
