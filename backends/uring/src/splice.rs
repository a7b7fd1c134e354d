//! Serving a file range through the ring without copying it in the sender: per unit, a SPLICE
//! from the file into a pipe, then a SPLICE from the pipe into the socket (the page cache's
//! pages go into the socket's buffers by reference, as sendfile does), a unit being as large as
//! the pipe (up to 1 MiB, `F_SETPIPE_SZ`). The kernel runs every splice in an io-wq worker
//! (never inline), where the splice into a blocking socket (the backend's streams are) waits
//! for room. Into a non-blocking socket it may take part of the pipe, or nothing (EAGAIN): the
//! rest goes from the pipe once the socket reports room (a POLL_ADD for POLLOUT linked to the
//! next splice), so nothing is lost or reordered. As with sendfile, the socket holds
//! references to the file's pages until the peer has acknowledged them: bytes written to the
//! file after the send returned may still change what the peer gets.

use crate::driver;
use crate::file::FileSendReport;
use crate::net::UringStream;
use io_uring::{opcode, squeue, types};
use std::fs::File;
use std::io;
use std::ops::Range;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::rc::Rc;

/// The pipe's size asked for (and so the largest unit); the kernel may grant less
/// (`/proc/sys/fs/pipe-max-size`, 1 MiB by default).
const PIPE_SIZE: usize = 1 << 20;

/// A pipe: read end, write end.
struct Pipe {
    r: OwnedFd,
    w: OwnedFd,
    size: usize,
}

impl Pipe {
    fn new() -> io::Result<Pipe> {
        let mut fds = [0; 2];
        // SAFETY: `fds` is a valid two-int array for pipe2 to fill.
        if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: pipe2 succeeded; each fd is new and owned by nothing else.
        let (r, w) = unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
        // SAFETY: F_SETPIPE_SZ / F_GETPIPE_SZ on a pipe fd we own; no memory is passed.
        let size = unsafe {
            libc::fcntl(w.as_raw_fd(), libc::F_SETPIPE_SZ, PIPE_SIZE as libc::c_int);
            libc::fcntl(w.as_raw_fd(), libc::F_GETPIPE_SZ)
        };
        if size <= 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(Pipe {
            r,
            w,
            size: size as usize,
        })
    }
}

/// What the kernel may use until an operation completes (an abandoned operation names these
/// fds, which must not be closed and reused meanwhile).
struct Held {
    _pipes: Rc<[Pipe; 2]>,
    _file: Rc<File>,
    _sock: Rc<OwnedFd>,
}

/// Operations in flight; dropped early, they are cancelled and `held` is kept until their
/// completions.
struct InFlight {
    slots: Vec<usize>,
    held: Rc<Held>,
}

impl Drop for InFlight {
    fn drop(&mut self) {
        for idx in self.slots.drain(..) {
            let keep = self.held.clone();
            driver::with(|d| d.abandon(idx, Box::new(keep)));
        }
    }
}

impl InFlight {
    /// Submits `ops` (in order, contiguous: a linked chain stays whole); returns their slots.
    fn submit(&mut self, ops: &[squeue::Entry]) -> io::Result<Vec<usize>> {
        let batch: Vec<(squeue::Entry, bool)> = ops.iter().map(|e| (e.clone(), false)).collect();
        // SAFETY: the operations name fds only (no memory): the file, the pipes' ends and the
        // socket, all kept by `held` until each completes, also if this future is dropped
        // (`InFlight::drop` hands `held` to the driver).
        let idxs = unsafe { driver::with(|d| d.submit_batch(&batch))? };
        self.slots.extend(&idxs);
        Ok(idxs)
    }

    /// The result of slot `idx`, once complete.
    async fn wait(&mut self, idx: usize) -> i32 {
        let (res, _) = std::future::poll_fn(|cx| driver::with(|d| d.poll(idx, cx))).await;
        self.slots.retain(|&s| s != idx);
        res
    }
}

/// A unit being read into a pipe: its pipe, its slot.
struct Fill {
    pipe: usize,
    slot: usize,
}

/// How a splice of a range ended.
pub(crate) enum Spliced {
    /// Every byte of the range is in the socket.
    Done,
    /// The file cannot be spliced (its first splice failed with EINVAL); nothing was sent.
    Unsupported,
}

/// Sends `range` of `file` to the socket of `stream` by splicing it through pipes (no copy in
/// the sender), counting into `report`. Two pipes: while one unit goes from its pipe into the
/// socket the next is read into the other, and a unit's send starts only after the one before
/// it completed, so the bytes stay in order. The caller has flushed the stream's own buffer.
pub(crate) async fn splice_range(
    stream: &UringStream,
    file: &File,
    range: Range<u64>,
    report: &mut FileSendReport,
) -> io::Result<Spliced> {
    if range.start >= range.end {
        return Ok(Spliced::Done);
    }
    let sock = stream.raw_fd();
    let pipes = Rc::new([Pipe::new()?, Pipe::new()?]);
    let unit = pipes[0].size.min(pipes[1].size);
    let file = Rc::new(file.try_clone()?);
    let mut fl = InFlight {
        slots: Vec::new(),
        held: Rc::new(Held {
            _pipes: pipes.clone(),
            _file: file.clone(),
            _sock: stream.fd_handle(),
        }),
    };
    let fd_in = file.as_raw_fd();
    let mut next = range.start;
    let fill = |fl: &mut InFlight, at: u64, pipe: usize| -> io::Result<Fill> {
        let len = ((range.end - at) as usize).min(unit) as u32;
        let w = pipes[pipe].w.as_raw_fd();
        let e = opcode::Splice::new(types::Fd(fd_in), at as i64, types::Fd(w), -1, len).build();
        Ok(Fill {
            pipe,
            slot: fl.submit(&[e])?[0],
        })
    };
    let mut front = Some(fill(&mut fl, next, 0)?);
    while let Some(f) = front.take() {
        let got = match fl.wait(f.slot).await {
            n if n == -libc::EINVAL && next == range.start => return Ok(Spliced::Unsupported),
            n if n < 0 => return Err(io::Error::from_raw_os_error(-n)),
            0 => {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "the file ended before the range",
                ))
            }
            n => n as usize,
        };
        next += got as u64;
        report.pairs += 1;
        let r = pipes[f.pipe].r.as_raw_fd();
        let send = opcode::Splice::new(types::Fd(r), -1, types::Fd(sock), -1, got as u32).build();
        let mut out = fl.submit(&[send])?[0];
        report.chains += 1;
        report.spliced += 1;
        if next < range.end {
            front = Some(fill(&mut fl, next, 1 - f.pipe)?);
        }
        // What the socket did not take (a non-blocking socket, or a signal) is still in the
        // pipe: send it once the socket reports room.
        let mut left = got;
        loop {
            match fl.wait(out).await {
                n if n >= 0 => left -= n as usize,
                n if n == -libc::EAGAIN => {}
                n => return Err(io::Error::from_raw_os_error(-n)),
            }
            if left == 0 {
                break;
            }
            report.fallbacks += 1;
            let poll = opcode::PollAdd::new(types::Fd(sock), libc::POLLOUT as u32)
                .build()
                .flags(squeue::Flags::IO_LINK);
            let send =
                opcode::Splice::new(types::Fd(r), -1, types::Fd(sock), -1, left as u32).build();
            let idxs = fl.submit(&[poll, send])?;
            match fl.wait(idxs[0]).await {
                n if n < 0 && n != -libc::ECANCELED => {
                    return Err(io::Error::from_raw_os_error(-n))
                }
                _ => {}
            }
            out = idxs[1];
        }
        report.bytes += got as u64;
    }
    Ok(Spliced::Done)
}
