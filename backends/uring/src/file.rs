//! Serving a file range through the ring as a pipeline of units of up to 1 MiB (`UNIT_BUFS`
//! buffers of `BUF_SIZE`), `DEPTH` units in flight: while the front unit is being sent the next
//! is read. A unit is read with one READV (the file through the ring's registered file table;
//! registered buffers where the pool has them, heap buffers where it does not). Plain sends
//! (`send_file`) send a unit with one vectored send (SENDMSG): the socket sees 1 MiB writes, as
//! read/write does with a 1 MiB buffer, which measured much faster over loopback than one
//! 64 KiB send per operation. `send_file_zc` sends a unit as linked SEND_ZCs, one per
//! registered buffer (IOSQE_IO_LINK on every send but the last, so they leave in order), each
//! buffer reused only after its notification. If the kernel reports
//! (IORING_SEND_ZC_REPORT_USAGE) that it copied every send of a unit, as it does over loopback,
//! the rest of the range goes as plain sends: the same copy, without the notifications.
//! Only the front unit is ever being sent, so bytes cannot overtake each other on the socket.
//! Sends carry MSG_WAITALL, so a send is whole or failed; a failed linked send cancels the rest
//! of its chain (ECANCELED), and whatever a unit's sends did not deliver is finished with
//! ordinary sends, in order. A short read ends the range's reads at that unit: what it read is
//! sent, the reads after it are dropped and reading resumes where it stopped (a read of
//! nothing is the end of the file). While SEND_ZCs are in flight the worker asks its next park
//! to wait for all of the unit's outstanding completions in one enter (bounded), not one per
//! linked step.

use crate::driver;
use crate::fixed::{BufLease, FileLease, BUF_SIZE};
use crate::net::UringStream;
use crate::splice::{splice_range, Spliced};
use io_uring::{opcode, squeue, types};
use std::collections::VecDeque;
use std::fs::File;
use std::io;
use std::ops::Range;
use std::os::fd::AsRawFd;
use std::rc::Rc;
use std::task::{Context, Poll};
use tokio::io::AsyncWriteExt;

/// Registered buffers per unit: a unit (up to 1 MiB) is read with one READV and sent with one
/// vectored send, or with linked SEND_ZCs, one per buffer.
const UNIT_BUFS: usize = 16;
/// Units in flight per file send: one being sent while the next is read.
const DEPTH: usize = 2;
/// IORING_NOTIF_USAGE_ZC_COPIED.
const ZC_COPIED: u32 = 1 << 31;
/// IORING_SEND_ZC_REPORT_USAGE.
const ZC_REPORT_USAGE: u16 = 1 << 3;

/// What a file send through the ring did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FileSendReport {
    /// Bytes sent.
    pub bytes: u64,
    /// Units sent: one vectored send each, one chain of linked SEND_ZCs, or one splice from
    /// a pipe into the socket. (The name is from the first of these paths.)
    pub chains: u64,
    /// Units read and then sent (up to 1 MiB each: one READV or one splice into a pipe, then
    /// the unit's sends).
    pub pairs: u64,
    /// Reads from the file through the ring's registered file table.
    pub fixed_reads: u64,
    /// Reads into registered buffers only (none from the heap).
    pub registered_buf_reads: u64,
    /// Zero-copy sends completed, and of those the ones the kernel copied anyway.
    pub zc_sends: u64,
    /// See `zc_sends`.
    pub zc_copied: u64,
    /// Units finished with an ordinary send after their sends fell short.
    pub fallbacks: u64,
    /// Units spliced (file → pipe → socket: no copy in the sender).
    pub spliced: u64,
    /// `send_file_zc` only: the kernel reported that it copied every SEND_ZC of a unit (as it
    /// does over loopback, or to a device without scatter-gather), so the rest of the range
    /// was spliced (`spliced`; plain sends where the kernel or the file cannot splice).
    pub zc_switched: bool,
}

/// A chunk buffer: registered or, when the pool is empty, on the heap.
enum Buf {
    Fixed(BufLease),
    Heap(Box<[u8]>),
}

impl Buf {
    fn ptr(&mut self) -> *mut u8 {
        match self {
            Buf::Fixed(l) => l.ptr,
            Buf::Heap(b) => b.as_mut_ptr(),
        }
    }
}

/// What the kernel may touch until a unit's operations have completed.
struct Held {
    _bufs: Vec<Buf>,
    /// The read's iovecs (READV reads them at issue; kept for an abandoned read all the same).
    _iov: Vec<libc::iovec>,
    /// The socket: an abandoned send names its raw fd, which must not be closed (and reused by
    /// a new socket) before it completes.
    _sock: Rc<std::os::fd::OwnedFd>,
    _file: Rc<File>,
    _slot: Option<Rc<FileLease>>,
}

/// A vectored send's header and iovecs.
struct Msg {
    hdr: libc::msghdr,
    _iov: Vec<libc::iovec>,
}

/// One send of a unit: its slot, the bytes it sends, its result once complete (SEND_ZC: and
/// notified).
struct SendOp {
    slot: Option<usize>,
    len: usize,
    res: Option<i32>,
    zc_res: Option<i32>,
    zc_copied: Option<bool>,
}

/// Up to `UNIT_BUFS` buffers of the range, from their read to their sends.
struct Unit {
    at: u64,
    len: usize,
    /// Each buffer: (address, registered buffer index if registered).
    bufs: Vec<(*mut u8, Option<u16>)>,
    held: Rc<Held>,
    read: Option<usize>,
    /// The read's result, once it completed.
    got: Option<i32>,
    sends: Vec<SendOp>,
    msg: Option<Rc<Msg>>,
}

impl Unit {
    /// The pieces of the unit's first `n` bytes: (address, length) per buffer.
    fn pieces(&self, n: usize) -> impl Iterator<Item = (*mut u8, usize, Option<u16>)> + '_ {
        self.bufs
            .iter()
            .enumerate()
            .filter_map(move |(i, &(ptr, fixed))| {
                let start = i * BUF_SIZE;
                (start < n).then(|| (ptr, (n - start).min(BUF_SIZE), fixed))
            })
    }
}

/// The units of one file send, in file order. Dropped early (the send's future was dropped,
/// or reads past a short read are discarded), pending operations are cancelled and what they
/// use goes to the driver until their completions.
struct Pipeline {
    units: VecDeque<Unit>,
}

impl Pipeline {
    fn discard(&mut self, from: usize) {
        for mut u in self.units.drain(from..) {
            let slots = std::iter::once(u.read.take())
                .chain(u.sends.iter_mut().map(|s| s.slot.take()))
                .flatten()
                .collect::<Vec<_>>();
            for idx in slots {
                let keep = (u.held.clone(), u.msg.clone());
                driver::with(|d| d.abandon(idx, Box::new(keep)));
            }
        }
    }
}

impl Drop for Pipeline {
    fn drop(&mut self) {
        self.discard(0);
    }
}

/// Asks the driver's next blocking park to wait for the rest of the chain's completions at
/// once (one per operation still pending), rather than return after each linked step.
fn want_rest(slots: &[Option<usize>]) {
    driver::with(|d| {
        let n = d.outstanding(slots);
        d.want_completions(n);
    });
}

/// The result of a single-completion slot.
fn poll_one(slot: &mut Option<usize>, cx: &Context<'_>) -> Poll<i32> {
    let Some(idx) = *slot else {
        return Poll::Ready(-libc::ECANCELED);
    };
    let (res, _) = std::task::ready!(driver::with(|d| d.poll(idx, cx)));
    *slot = None;
    Poll::Ready(res)
}

/// The result of a SEND_ZC slot once its notification arrived, and whether it was copied.
fn poll_zc(
    slot: &mut Option<usize>,
    res: &mut Option<i32>,
    copied: &mut Option<bool>,
    cx: &Context<'_>,
) -> Poll<i32> {
    let Some(idx) = *slot else {
        return Poll::Ready(-libc::ECANCELED);
    };
    loop {
        match std::task::ready!(driver::with(|d| d.poll_multi(idx, cx))) {
            Some((r, flags)) if io_uring::cqueue::notif(flags) => {
                *copied = Some(r as u32 & ZC_COPIED != 0)
            }
            Some((r, _)) => *res = Some(r),
            None => {
                *slot = None;
                return Poll::Ready(res.unwrap_or(-libc::EIO));
            }
        }
    }
}

/// Sends `range` of `file` to `stream` the cheapest way the kernel has: spliced through pipes
/// (no copy in the sender, as sendfile; see `splice.rs`), or, where the kernel's io_uring
/// lacks SPLICE or the file cannot be spliced, as [`send_file_copy`] does.
pub async fn send_file(
    stream: &mut UringStream,
    file: &File,
    range: Range<u64>,
) -> io::Result<FileSendReport> {
    stream.flush().await?;
    let mut report = FileSendReport::default();
    if driver::with(|d| d.features.splice) {
        if let Spliced::Done = splice_range(stream, file, range.clone(), &mut report).await? {
            return Ok(report);
        }
    }
    send(stream, file, range, false).await
}

/// Sends `range` of `file` to `stream` through user-space buffers: READV units of up to
/// 1 MiB (registered buffers), each sent with one vectored send.
pub async fn send_file_copy(
    stream: &mut UringStream,
    file: &File,
    range: Range<u64>,
) -> io::Result<FileSendReport> {
    send(stream, file, range, false).await
}

/// As [`send_file_copy`], with SEND_ZC from registered buffers (plain sends where the kernel
/// lacks SEND_ZC). Once the kernel reports it copied a whole unit of them the rest of the range
/// is spliced: see [`FileSendReport::zc_switched`].
pub async fn send_file_zc(
    stream: &mut UringStream,
    file: &File,
    range: Range<u64>,
) -> io::Result<FileSendReport> {
    let zc = driver::with(|d| d.features.send_zc);
    send(stream, file, range, zc).await
}

async fn send(
    stream: &mut UringStream,
    file: &File,
    range: Range<u64>,
    mut zc: bool,
) -> io::Result<FileSendReport> {
    stream.flush().await?;
    let mut report = FileSendReport::default();
    if range.start >= range.end {
        return Ok(report);
    }
    let sock = stream.raw_fd();
    let sock_handle = stream.fd_handle();
    // A duplicate fd kept with every unit, so an abandoned read stays valid.
    let file = Rc::new(file.try_clone()?);
    let slot = driver::with(|d| d.register_file(file.as_raw_fd()))?.map(Rc::new);
    let mut p = Pipeline {
        units: VecDeque::with_capacity(DEPTH),
    };
    let mut next = range.start;
    // The front unit's sends are in flight.
    let mut sending = false;
    loop {
        let mut ops = Vec::with_capacity(UNIT_BUFS + DEPTH);
        // (unit position, None for its read or Some(k) for its k-th send) of each operation.
        let mut whose = Vec::with_capacity(UNIT_BUFS + DEPTH);
        if let Some(u) = p.units.front_mut().filter(|_| !sending) {
            if let Some(got @ 1..) = u.got {
                let got = got as usize;
                if zc {
                    let pieces: Vec<_> = u.pieces(got).collect();
                    let n = pieces.len();
                    for (k, (ptr, len, fixed)) in pieces.into_iter().enumerate() {
                        let e = opcode::SendZc::new(types::Fd(sock), ptr.cast_const(), len as u32)
                            .buf_index(fixed)
                            .flags(libc::MSG_NOSIGNAL | libc::MSG_WAITALL)
                            .zc_flags(ZC_REPORT_USAGE)
                            .build();
                        // Linked, so they leave in order: IO_LINK on every send but the last.
                        let e = if k + 1 < n {
                            e.flags(squeue::Flags::IO_LINK)
                        } else {
                            e
                        };
                        ops.push((e, true));
                        whose.push((0, Some(k)));
                        u.sends.push(SendOp::new(len));
                    }
                } else {
                    let iov: Vec<libc::iovec> = u
                        .pieces(got)
                        .map(|(ptr, len, _)| libc::iovec {
                            iov_base: ptr.cast(),
                            iov_len: len,
                        })
                        .collect();
                    // SAFETY: an all-zero msghdr is a valid value of this plain C struct.
                    let mut hdr: libc::msghdr = unsafe { std::mem::zeroed() };
                    hdr.msg_iov = iov.as_ptr().cast_mut();
                    hdr.msg_iovlen = iov.len() as _;
                    let msg = Rc::new(Msg { hdr, _iov: iov });
                    let e = opcode::SendMsg::new(types::Fd(sock), &msg.hdr)
                        .flags((libc::MSG_NOSIGNAL | libc::MSG_WAITALL) as u32)
                        .build();
                    u.msg = Some(msg);
                    ops.push((e, false));
                    whose.push((0, Some(0)));
                    u.sends.push(SendOp::new(got));
                }
                sending = true;
                report.chains += 1;
            }
        }
        while p.units.len() < DEPTH && next < range.end && !p.units.back().is_some_and(short) {
            let len = ((range.end - next) as usize).min(UNIT_BUFS * BUF_SIZE);
            let mut bufs: Vec<Buf> = (0..len.div_ceil(BUF_SIZE))
                .map(
                    |_| match driver::with(|d| d.fixed.as_mut().and_then(|f| f.buf())) {
                        Some(l) => Buf::Fixed(l),
                        None => Buf::Heap(vec![0u8; BUF_SIZE].into_boxed_slice()),
                    },
                )
                .collect();
            let ptrs: Vec<(*mut u8, Option<u16>)> = bufs
                .iter_mut()
                .map(|b| {
                    let fixed = match b {
                        Buf::Fixed(l) => Some(l.index),
                        Buf::Heap(_) => None,
                    };
                    (b.ptr(), fixed)
                })
                .collect();
            let iov: Vec<libc::iovec> = ptrs
                .iter()
                .enumerate()
                .map(|(i, &(ptr, _))| libc::iovec {
                    iov_base: ptr.cast(),
                    iov_len: (len - i * BUF_SIZE).min(BUF_SIZE),
                })
                .collect();
            let read = match &slot {
                Some(s) => {
                    report.fixed_reads += 1;
                    driver::with(|d| d.stats.fixed_reads += 1);
                    opcode::Readv::new(types::Fixed(s.index), iov.as_ptr(), iov.len() as u32)
                        .offset(next)
                        .build()
                }
                None => {
                    opcode::Readv::new(types::Fd(file.as_raw_fd()), iov.as_ptr(), iov.len() as u32)
                        .offset(next)
                        .build()
                }
            };
            if ptrs.iter().all(|b| b.1.is_some()) {
                report.registered_buf_reads += 1;
            }
            ops.push((read, false));
            whose.push((p.units.len(), None));
            p.units.push_back(Unit {
                at: next,
                len,
                bufs: ptrs,
                held: Rc::new(Held {
                    _bufs: bufs,
                    _iov: iov,
                    _sock: sock_handle.clone(),
                    _file: file.clone(),
                    _slot: slot.clone(),
                }),
                read: None,
                got: None,
                sends: Vec::new(),
                msg: None,
            });
            next += len as u64;
        }
        if p.units.is_empty() {
            return Ok(report);
        }
        if !ops.is_empty() {
            // SAFETY: a read writes its unit's buffers, which `held` keeps (with the iovecs,
            // the file's fd and the registered slot) until the read completes, even if this
            // future is dropped (`Pipeline` hands `held` to the driver). A send reads buffers
            // whose read has completed, and nothing writes them until the send (and its
            // SEND_ZC notification) has completed; its msghdr and iovecs live in the unit's
            // `msg`, handed over the same way, and the socket's fd is kept likewise.
            let idxs = unsafe { driver::with(|d| d.submit_batch(&ops))? };
            for (idx, (i, op)) in idxs.into_iter().zip(whose) {
                let u = &mut p.units[i];
                match op {
                    Some(k) => u.sends[k].slot = Some(idx),
                    None => u.read = Some(idx),
                }
            }
        }
        // Wait: for all of the front unit's sends if they are in flight, else for a read.
        std::future::poll_fn(|cx| {
            let mut progress = false;
            for u in p.units.iter_mut() {
                if u.read.is_some() {
                    if let Poll::Ready(r) = poll_one(&mut u.read, cx) {
                        u.got = Some(r);
                        progress = true;
                    }
                }
            }
            if sending {
                let u = p.units.front_mut().expect("the unit being sent");
                let mut done = true;
                for s in u.sends.iter_mut().filter(|s| s.res.is_none()) {
                    let r = if zc {
                        poll_zc(&mut s.slot, &mut s.zc_res, &mut s.zc_copied, cx)
                    } else {
                        poll_one(&mut s.slot, cx)
                    };
                    match r {
                        Poll::Ready(r) => s.res = Some(r),
                        Poll::Pending => done = false,
                    }
                }
                if done {
                    return Poll::Ready(());
                }
                let slots: Vec<Option<usize>> = u.sends.iter().map(|s| s.slot).collect();
                want_rest(&slots);
                return Poll::Pending;
            }
            if progress || p.units.front().is_some_and(|u| u.got.is_some()) {
                Poll::Ready(())
            } else {
                Poll::Pending
            }
        })
        .await;
        if sending {
            sending = false;
            let u = p.units.pop_front().expect("the unit being sent");
            let got = u.got.expect("a unit is sent once read") as usize;
            // The bytes its sends delivered, in order: each send is whole (MSG_WAITALL) or
            // failed, and a failed linked send cancels the ones after it.
            let mut done = 0;
            let (mut zc_sent, mut zc_copied) = (0, 0);
            for s in &u.sends {
                if let Some(c) = s.zc_copied {
                    zc_sent += 1;
                    zc_copied += c as u64;
                }
            }
            for s in &u.sends {
                match s.res.expect("the unit's sends completed") {
                    r if r >= 0 => {
                        done += r as usize;
                        if (r as usize) < s.len {
                            break;
                        }
                    }
                    r if r == -libc::ECANCELED => break,
                    r => return Err(io::Error::from_raw_os_error(-r)),
                }
            }
            report.zc_sends += zc_sent;
            report.zc_copied += zc_copied;
            report.pairs += 1;
            report.bytes += got as u64;
            driver::with(|d| d.stats.linked_sends += u.sends.len() as u64);
            if done < got {
                report.fallbacks += 1;
                for (ptr, len, _) in u.pieces(got) {
                    // SAFETY: the unit's read and sends completed; nothing else writes its
                    // buffers.
                    let piece = unsafe { std::slice::from_raw_parts(ptr, len) };
                    let skip = done.min(len);
                    done -= skip;
                    stream.write_all(&piece[skip..]).await?;
                }
                stream.flush().await?;
            }
            if got < u.len {
                // A short read: what was read is sent; read again from there (a read of
                // nothing is the end of the file).
                next = u.at + got as u64;
                p.discard(0);
            }
            let more = next < range.end || !p.units.is_empty();
            if zc && more && zc_sent > 0 && zc_copied == zc_sent {
                zc = false;
                report.zc_switched = true;
                if driver::with(|d| d.features.splice) {
                    // The reads in flight are dropped; the rest is spliced from where the
                    // sent bytes end (or, if the file cannot be spliced, read again).
                    let from = u.at + got as u64;
                    p.discard(0);
                    next = from;
                    let rest = from..range.end;
                    if let Spliced::Done = splice_range(stream, &file, rest, &mut report).await? {
                        return Ok(report);
                    }
                }
            }
        }
        // A read at the front that failed or found the end of the file ends the send.
        if let Some(u) = p.units.front() {
            match u.got {
                Some(r) if r < 0 => return Err(io::Error::from_raw_os_error(-r)),
                Some(0) => {
                    return Err(io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        "the file ended before the range",
                    ))
                }
                _ => {}
            }
        }
    }
}

/// Whether a unit's read came back short (nothing is read after it).
fn short(u: &Unit) -> bool {
    u.got.is_some_and(|g| (g as usize) < u.len)
}

impl SendOp {
    fn new(len: usize) -> SendOp {
        SendOp {
            slot: None,
            len,
            res: None,
            zc_res: None,
            zc_copied: None,
        }
    }
}
