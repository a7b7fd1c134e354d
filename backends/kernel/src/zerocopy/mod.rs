//! Zero-copy I/O paths on kernel sockets (网络编程进阶主题 §1), each reporting what it cost: sendfile with
//! TCP_CORK and a read/write fallback, the plain read/write baseline, and splice/tee proxying
//! (with a user-space copy proxy as its baseline). Every syscall a path
//! makes is counted (EAGAIN attempts included), so the counts can be checked against
//! `strace -c`; CPU copies are bytes the CPU moved between user and kernel memory.

mod mmap;
mod msg_zerocopy;
mod rusage;
mod sendfile;
mod splice;

pub use mmap::send_file_mmap;
pub use msg_zerocopy::{send_zerocopy, ZeroCopyReport};
pub use rusage::{thread_usage, Usage};
pub use sendfile::send_file;
pub use splice::{copy_proxy, splice_proxy, ProxyReport};

use std::io;
use testbed_model::CostCounters;

/// Which path moved the bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Path {
    /// sendfile(2): page cache to socket, no user-space copy.
    Sendfile,
    /// pread(2) + write(2): two CPU copies per byte.
    ReadWrite,
    /// mmap(2) + write(2): one CPU copy per byte (mapping → socket buffer).
    MmapWrite,
}

/// Syscalls of a transfer by kind (EAGAIN and EINTR attempts included), to hold against
/// `strace -c`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Calls {
    /// sendfile(2).
    pub sendfile: u64,
    /// pread64(2).
    pub pread: u64,
    /// write(2).
    pub write: u64,
    /// setsockopt(2) (TCP_CORK on and off).
    pub setsockopt: u64,
}

/// What a transfer did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PathReport {
    /// The path that ran (sendfile falls back to read/write on files it cannot send).
    pub path: Path,
    /// Bytes written to the socket (head included).
    pub bytes: u64,
    /// Syscalls and copies of this transfer (`costs.syscalls` is the sum of `calls`).
    pub costs: CostCounters,
    /// Syscalls by kind.
    pub calls: Calls,
}

impl PathReport {
    pub(crate) fn new(path: Path) -> PathReport {
        PathReport {
            path,
            bytes: 0,
            costs: CostCounters::default(),
            calls: Calls::default(),
        }
    }
}

/// A raw syscall's return value as io::Result (negative: errno).
pub(crate) fn syscall_result(r: isize) -> io::Result<usize> {
    if r < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(r as usize)
    }
}

/// Writes `head` then `range` of `file` with pread + write (the baseline path).
pub async fn send_file_copying(
    stream: &mut crate::KernelStream,
    head: &[u8],
    file: &std::fs::File,
    range: std::ops::Range<u64>,
) -> io::Result<PathReport> {
    let mut report = PathReport::new(Path::ReadWrite);
    sendfile::write_all_counted(stream, head, &mut report).await?;
    sendfile::copy_range(stream, file, range, &mut report).await?;
    Ok(report)
}
