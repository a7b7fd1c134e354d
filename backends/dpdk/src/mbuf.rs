//! An owned packet buffer ([`Mbuf`]): its data as byte slices, append, trim; freed on drop.
#![allow(unsafe_code)]

use crate::{sys, MbufError, Mempool};
use std::marker::PhantomData;
use std::ptr::NonNull;

/// One packet buffer, owned: dropping it returns it to its pool (`rte_pktmbuf_free`). It
/// borrows the pool, so it cannot outlive it. Data access covers the first segment (this
/// crate never enables scattered rx, so frames up to the pool's data room are one segment).
#[repr(transparent)]
#[derive(Debug)]
pub struct Mbuf<'p> {
    ptr: NonNull<sys::rte_mbuf>,
    _pool: PhantomData<&'p Mempool<'p>>,
}

// SAFETY: an Mbuf is the only handle to its buffer; freeing it from another thread goes
// through the pool's thread-safe (multi-producer) ops.
unsafe impl Send for Mbuf<'_> {}
// SAFETY: shared access only reads the buffer.
unsafe impl Sync for Mbuf<'_> {}

impl<'p> Mbuf<'p> {
    /// Wraps a raw mbuf.
    ///
    /// # Safety
    /// `ptr` is a valid mbuf owned by nobody else, from a pool that outlives `'p`.
    pub(crate) unsafe fn from_raw(ptr: NonNull<sys::rte_mbuf>) -> Mbuf<'p> {
        Mbuf {
            ptr,
            _pool: PhantomData,
        }
    }

    /// The frame's bytes (first segment).
    pub fn data(&self) -> &[u8] {
        let mut len = 0u16;
        // SAFETY: the mbuf is valid and ours; tb_mbuf_data returns its data pointer and writes
        // data_len, and the bytes [p, p+len) lie inside its buffer. &self keeps it alive and
        // unmodified for the slice's lifetime.
        unsafe {
            let p = sys::tb_mbuf_data(self.ptr.as_ptr(), &mut len);
            if p.is_null() || len == 0 {
                return &[];
            }
            std::slice::from_raw_parts(p, usize::from(len))
        }
    }

    /// The frame's bytes (first segment), writable.
    pub fn data_mut(&mut self) -> &mut [u8] {
        let mut len = 0u16;
        // SAFETY: as in data(); &mut self makes the access exclusive.
        unsafe {
            let p = sys::tb_mbuf_data(self.ptr.as_ptr(), &mut len);
            if p.is_null() || len == 0 {
                return &mut [];
            }
            std::slice::from_raw_parts_mut(p, usize::from(len))
        }
    }

    /// Bytes in the first segment.
    pub fn len(&self) -> usize {
        self.data().len()
    }

    /// Whether the first segment holds no bytes.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The packet's length over all segments.
    pub fn pkt_len(&self) -> usize {
        // SAFETY: a read of a field of a valid mbuf.
        unsafe { sys::tb_mbuf_pkt_len(self.ptr.as_ptr()) as usize }
    }

    /// How many segments the packet has.
    pub fn segments(&self) -> u16 {
        // SAFETY: a read of a field of a valid mbuf.
        unsafe { sys::tb_mbuf_nb_segs(self.ptr.as_ptr()) }
    }

    /// Bytes that can still be appended.
    pub fn tailroom(&self) -> usize {
        // SAFETY: a read of fields of a valid mbuf.
        usize::from(unsafe { sys::tb_mbuf_tailroom(self.ptr.as_ptr()) })
    }

    /// Appends `bytes` to the packet (`rte_pktmbuf_append`).
    pub fn append(&mut self, bytes: &[u8]) -> Result<(), MbufError> {
        let no_room = MbufError::NoRoom {
            wanted: bytes.len(),
            tailroom: self.tailroom(),
        };
        let n = u16::try_from(bytes.len()).map_err(|_| no_room.clone())?;
        // SAFETY: the mbuf is valid and exclusively ours; append returns NULL (changing
        // nothing) or a pointer to n fresh bytes inside the buffer, which we fill at once.
        unsafe {
            let p = sys::tb_pktmbuf_append(self.ptr.as_ptr(), n);
            if p.is_null() {
                return Err(no_room);
            }
            std::ptr::copy_nonoverlapping(bytes.as_ptr(), p.cast::<u8>(), bytes.len());
        }
        Ok(())
    }

    /// Shortens the packet to `len` bytes (no-op if it is not longer).
    pub fn truncate(&mut self, len: usize) {
        let cut = self.pkt_len().saturating_sub(len);
        if cut == 0 || self.segments() != 1 {
            return;
        }
        let cut = u16::try_from(cut).expect("a one-segment packet is under 64 KiB");
        // SAFETY: the mbuf is valid and exclusively ours; trimming fewer bytes than the
        // single segment holds always succeeds.
        unsafe { sys::tb_pktmbuf_trim(self.ptr.as_ptr(), cut) };
    }

    pub(crate) fn pool_ptr(&self) -> *const sys::rte_mempool {
        // SAFETY: a read of a field of a valid mbuf.
        unsafe { sys::tb_mbuf_pool(self.ptr.as_ptr()) }
    }
}

impl Drop for Mbuf<'_> {
    fn drop(&mut self) {
        // SAFETY: we own the mbuf and its pool is alive ('p); nothing refers to it after this.
        unsafe { sys::tb_pktmbuf_free(self.ptr.as_ptr()) };
    }
}
