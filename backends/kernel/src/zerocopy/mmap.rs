//! mmap + write: the file mapped into memory and written from the mapping (网络编程进阶主题 §1.4: one CPU
//! copy fewer than read + write, since the page cache is the buffer).

use super::sendfile::write_all_counted;
use super::{syscall_result, Path, PathReport};
use crate::net::KernelStream;
use std::fs::File;
use std::io;
use std::ops::Range;
use std::os::fd::AsRawFd;

/// A read-only shared mapping, unmapped on drop.
struct Mapping {
    ptr: *mut libc::c_void,
    len: usize,
}

impl Mapping {
    fn new(file: &File, offset: u64, len: usize) -> io::Result<Mapping> {
        // SAFETY: a fresh read-only shared mapping of an open file; the kernel picks the
        // address. Writers changing the file under us change what we send, never memory
        // safety (we only read through the mapping as bytes).
        let ptr = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ,
                libc::MAP_SHARED,
                file.as_raw_fd(),
                offset as libc::off_t,
            )
        };
        if ptr == libc::MAP_FAILED {
            return Err(io::Error::last_os_error());
        }
        Ok(Mapping { ptr, len })
    }
    fn bytes(&self) -> &[u8] {
        // SAFETY: the mapping is `len` readable bytes, alive as long as `self`.
        unsafe { std::slice::from_raw_parts(self.ptr.cast::<u8>(), self.len) }
    }
}

impl Drop for Mapping {
    fn drop(&mut self) {
        // SAFETY: unmapping exactly the region mmap returned, once.
        unsafe { libc::munmap(self.ptr, self.len) };
    }
}

/// Writes `head`, then `range` of `file` from a memory mapping.
pub async fn send_file_mmap(
    stream: &mut KernelStream,
    head: &[u8],
    file: &File,
    range: Range<u64>,
) -> io::Result<PathReport> {
    let mut report = PathReport::new(Path::MmapWrite);
    write_all_counted(stream, head, &mut report).await?;
    let len = (range.end - range.start) as usize;
    if len == 0 {
        return Ok(report);
    }
    // mmap offsets must be page aligned: map from the page containing `start`.
    // SAFETY: sysconf has no memory effects.
    let page = syscall_result(unsafe { libc::sysconf(libc::_SC_PAGESIZE) } as isize)? as u64;
    let base = range.start / page * page;
    let skip = (range.start - base) as usize;
    let map = Mapping::new(file, base, skip + len)?;
    report.costs.syscall(1);
    write_all_counted(stream, &map.bytes()[skip..], &mut report).await?;
    report.costs.syscall(1); // munmap
    Ok(report)
}
