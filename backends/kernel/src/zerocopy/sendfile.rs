//! `send_file`: a response head plus a file range to a TCP stream, the file through
//! sendfile(2) in a loop (partial sends, EINTR, EAGAIN with a readiness wait), corked with
//! TCP_CORK so head and body leave in full segments; falling back to pread + write when
//! sendfile refuses the file (EINVAL, ENOSYS) and reporting which path ran.

use super::{syscall_result, Path, PathReport};
use crate::net::KernelStream;
use std::fs::File;
use std::io;
use std::ops::Range;
use std::os::fd::AsRawFd;
use tokio::io::Interest;

const CHUNK: usize = 1 << 20;

fn set_cork(s: &KernelStream, on: bool) -> io::Result<()> {
    let v: libc::c_int = on.into();
    // SAFETY: setsockopt on a socket fd we own for the call's duration, with a pointer to a
    // live c_int and its exact size.
    let r = unsafe {
        libc::setsockopt(
            s.tcp().as_raw_fd(),
            libc::IPPROTO_TCP,
            libc::TCP_CORK,
            (&v as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    syscall_result(r as isize).map(|_| ())
}

/// Writes `head`, then `range` of `file`, to `stream`. Returns the path taken and its costs
/// (syscalls and user↔kernel copies this call made).
pub async fn send_file(
    stream: &mut KernelStream,
    head: &[u8],
    file: &File,
    range: Range<u64>,
) -> io::Result<PathReport> {
    let mut report = PathReport::new(Path::Sendfile);
    set_cork(stream, true)?;
    report.costs.syscall(1);
    report.calls.setsockopt += 1;
    let r = send_corked(stream, head, file, range, &mut report).await;
    let uncork = set_cork(stream, false);
    report.costs.syscall(1);
    report.calls.setsockopt += 1;
    r?;
    uncork?;
    Ok(report)
}

/// Writes all of `data` with write(2), counting every call (EAGAIN ones included) and the
/// user→kernel copies.
pub(crate) async fn write_all_counted(
    stream: &KernelStream,
    data: &[u8],
    report: &mut PathReport,
) -> io::Result<()> {
    let calls = std::cell::Cell::new(0u64);
    let mut sent = 0;
    while sent < data.len() {
        let tcp = stream.tcp();
        let rest = &data[sent..];
        let n = tcp
            .async_io(Interest::WRITABLE, || {
                calls.set(calls.get() + 1);
                // SAFETY: the fd is open and `rest` is a live buffer of `rest.len()` bytes.
                let n = unsafe { libc::write(tcp.as_raw_fd(), rest.as_ptr().cast(), rest.len()) };
                syscall_result(n)
            })
            .await;
        match n {
            Ok(n) => {
                report.costs.cpu_copy(n as u64);
                sent += n;
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => {
                report.costs.syscall(calls.get());
                report.calls.write += calls.get();
                return Err(e);
            }
        }
    }
    report.costs.syscall(calls.get());
    report.calls.write += calls.get();
    report.bytes += data.len() as u64;
    Ok(())
}

async fn send_corked(
    stream: &mut KernelStream,
    head: &[u8],
    file: &File,
    range: Range<u64>,
    report: &mut PathReport,
) -> io::Result<()> {
    write_all_counted(stream, head, report).await?;
    let mut off = range.start as libc::off_t;
    let end = range.end as libc::off_t;
    while off < end {
        let want = ((end - off) as usize).min(CHUNK);
        let tcp = stream.tcp();
        let calls = std::cell::Cell::new(0u64);
        let r = tcp
            .async_io(Interest::WRITABLE, || {
                calls.set(calls.get() + 1);
                // SAFETY: both fds are open for the duration of the call; `off` is a live
                // off_t the kernel advances by the bytes sent.
                let n =
                    unsafe { libc::sendfile(tcp.as_raw_fd(), file.as_raw_fd(), &mut off, want) };
                syscall_result(n)
            })
            .await;
        report.costs.syscall(calls.get());
        report.calls.sendfile += calls.get();
        match r {
            Ok(0) => return Err(io::ErrorKind::UnexpectedEof.into()), // the file shrank
            Ok(n) => {
                report.bytes += n as u64;
                report.costs.dma_copy(n as u64); // page cache → socket without the CPU touching it
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e)
                if report.bytes == head.len() as u64
                    && matches!(e.raw_os_error(), Some(libc::EINVAL) | Some(libc::ENOSYS)) =>
            {
                report.path = Path::ReadWrite;
                return copy_range(stream, file, off as u64..end as u64, report).await;
            }
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// pread into a buffer, write to the socket: the fallback path (and the read/write baseline).
pub(crate) async fn copy_range(
    stream: &mut KernelStream,
    file: &File,
    range: Range<u64>,
    report: &mut PathReport,
) -> io::Result<()> {
    use std::os::unix::fs::FileExt;
    let mut buf = vec![0u8; CHUNK.min((range.end - range.start) as usize).max(1)];
    let mut off = range.start;
    while off < range.end {
        let want = ((range.end - off) as usize).min(buf.len());
        let n = file.read_at(&mut buf[..want], off)?;
        report.costs.syscall(1);
        report.calls.pread += 1;
        if n == 0 {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        report.costs.cpu_copy(n as u64); // kernel → user
        write_all_counted(stream, &buf[..n], report).await?; // user → kernel
        off += n as u64;
    }
    Ok(())
}
