//! Registered resources of one ring: a small pool of registered buffers
//! (IORING_REGISTER_BUFFERS, for READ_FIXED and fixed-buffer SEND_ZC) and a sparse registered
//! file table (IORING_REGISTER_FILES2, addressed with `types::Fixed`). Leases hand them out.
//! A lease lives with the operations using it (the driver keeps it while an abandoned
//! operation is in flight); a released file slot is cleared at the driver's next park, so the
//! ring does not hold the file open.

use io_uring::Submitter;
use std::cell::RefCell;
use std::io;
use std::os::fd::RawFd;
use std::rc::Rc;

/// Bytes per registered buffer.
pub(crate) const BUF_SIZE: usize = 64 * 1024;
/// Registered buffers per ring.
const BUFS: u16 = 64;
/// Slots in the registered file table.
const FILES: u32 = 64;

pub(crate) struct Fixed {
    /// The registered memory: BUFS buffers of BUF_SIZE, back to back. Heap memory that does not
    /// move; freed after the ring is closed (the driver declares `fixed` after `ring`).
    mem: Box<[u8]>,
    free_bufs: Rc<RefCell<Vec<u16>>>,
    free_files: Vec<u32>,
    released_files: Rc<RefCell<Vec<u32>>>,
}

/// A registered buffer, given back to the pool on drop.
pub(crate) struct BufLease {
    pub(crate) index: u16,
    pub(crate) ptr: *mut u8,
    pool: Rc<RefCell<Vec<u16>>>,
}

impl Drop for BufLease {
    fn drop(&mut self) {
        self.pool.borrow_mut().push(self.index);
    }
}

/// A slot of the registered file table holding a file, cleared after drop.
pub(crate) struct FileLease {
    pub(crate) index: u32,
    released: Rc<RefCell<Vec<u32>>>,
}

impl Drop for FileLease {
    fn drop(&mut self) {
        self.released.borrow_mut().push(self.index);
    }
}

impl Fixed {
    pub(crate) fn new(submitter: &Submitter<'_>) -> io::Result<Fixed> {
        let mut mem = vec![0u8; BUFS as usize * BUF_SIZE].into_boxed_slice();
        let base = mem.as_mut_ptr();
        let iov: Vec<libc::iovec> = (0..BUFS as usize)
            .map(|i| libc::iovec {
                iov_base: base.wrapping_add(i * BUF_SIZE).cast(),
                iov_len: BUF_SIZE,
            })
            .collect();
        // SAFETY: the iovecs cover `mem`, which lives (unmoved: a boxed slice) until after the
        // ring that registered it is closed.
        unsafe { submitter.register_buffers(&iov)? };
        submitter.register_files_sparse(FILES)?;
        Ok(Fixed {
            mem,
            free_bufs: Rc::new(RefCell::new((0..BUFS).rev().collect())),
            free_files: (0..FILES).rev().collect(),
            released_files: Rc::new(RefCell::new(Vec::new())),
        })
    }

    /// A free registered buffer, if any.
    pub(crate) fn buf(&mut self) -> Option<BufLease> {
        let index = self.free_bufs.borrow_mut().pop()?;
        Some(BufLease {
            index,
            ptr: self
                .mem
                .as_mut_ptr()
                .wrapping_add(index as usize * BUF_SIZE),
            pool: self.free_bufs.clone(),
        })
    }

    /// Registers `fd` in a free file slot (`None` when all are taken).
    pub(crate) fn file(
        &mut self,
        submitter: &Submitter<'_>,
        fd: RawFd,
    ) -> io::Result<Option<FileLease>> {
        self.reclaim(submitter);
        let Some(index) = self.free_files.pop() else {
            return Ok(None);
        };
        if let Err(e) = submitter.register_files_update(index, &[fd]) {
            self.free_files.push(index);
            return Err(e);
        }
        Ok(Some(FileLease {
            index,
            released: self.released_files.clone(),
        }))
    }

    /// Clears released file slots (the ring's reference to their files goes away).
    pub(crate) fn reclaim(&mut self, submitter: &Submitter<'_>) {
        let mut released = self.released_files.borrow_mut();
        for index in released.drain(..) {
            // A failure leaves the slot out of the free list rather than risk reusing it.
            if submitter.register_files_update(index, &[-1]).is_ok() {
                self.free_files.push(index);
            }
        }
    }
}
