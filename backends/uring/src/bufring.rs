//! A provided-buffer ring (IORING_REGISTER_PBUF_RING): the kernel picks a free buffer for
//! each multishot recv completion and names it in the completion's flags; we give a buffer
//! back (recycle it) once its bytes are consumed. One ring of equal buffers per worker.

use io_uring::Submitter;
use std::alloc::{alloc_zeroed, dealloc, Layout};
use std::io;
use std::sync::atomic::{AtomicU16, Ordering};

/// The buffer group id of the worker's ring.
pub(crate) const BGID: u16 = 7;

pub(crate) struct BufRing {
    ring: *mut u8,
    layout: Layout,
    bufs: Box<[u8]>,
    entries: u16,
    size: usize,
    tail: u16,
}

impl BufRing {
    /// `entries` (a power of two) buffers of `size` bytes, registered with `submitter`.
    pub(crate) fn new(submitter: &Submitter<'_>, entries: u16, size: usize) -> io::Result<BufRing> {
        assert!(entries.is_power_of_two());
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
            bufs: vec![0u8; entries as usize * size].into_boxed_slice(),
            entries,
            size,
            tail: 0,
        };
        // SAFETY: the ring memory is page aligned, `entries` entries long, and lives (with the
        // buffers) until Drop, after the ring is unregistered.
        unsafe { submitter.register_buf_ring_with_flags(ring as u64, entries, BGID, 0)? };
        for bid in 0..entries {
            r.add(bid);
        }
        r.publish();
        Ok(r)
    }

    fn add(&mut self, bid: u16) {
        let idx = (self.tail & (self.entries - 1)) as usize;
        let addr = self.bufs[bid as usize * self.size..].as_ptr() as u64;
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

    /// Hands buffer `bid` back to the kernel.
    pub(crate) fn recycle(&mut self, bid: u16) {
        self.add(bid);
        self.publish();
    }

    /// The bytes of buffer `bid`.
    pub(crate) fn buf(&self, bid: u16) -> &[u8] {
        &self.bufs[bid as usize * self.size..(bid as usize + 1) * self.size]
    }
}

impl Drop for BufRing {
    fn drop(&mut self) {
        // SAFETY: allocated in `new` with this layout; the ring (and its registration) is gone
        // by now (the driver drops the IoUring first).
        unsafe { dealloc(self.ring, self.layout) };
    }
}
