//! Serving a file range through the ring as a pipeline of chunks. Up to `DEPTH` chunks of
//! `BUF_SIZE` are in flight: reads run ahead (independent operations, a registered file into
//! registered buffers where the ring has them, heap buffers where it does not), and the chunks
//! already read at the front (up to `CHAIN`) leave together while the next ones are read.
//! Plain sends (`send_file`) go as one vectored send (SENDMSG) per chain: the socket sees
//! writes of up to 1 MiB, like read/write with a 1 MiB buffer, which measured much faster over
//! loopback than one 64 KiB send per operation. `send_file_zc` sends each chunk with SEND_ZC
//! from its registered buffer, linked (IOSQE_IO_LINK on every send but the last) so they leave
//! in order; a buffer is reused only after its notification. If the kernel reports
//! (IORING_SEND_ZC_REPORT_USAGE) that it copied every send of a chain anyway, as it does over
//! loopback, the rest goes as plain sends: the same copy, without the notifications.
//! Only one chain is in flight per file send, so chunks never overtake each other on the
//! socket. Sends carry MSG_WAITALL, so a send is whole or failed; a short or failed linked
//! send severs the rest of its chain (ECANCELED), and whatever a chain did not send is
//! finished with ordinary sends, in order. A short read ends the chain at that chunk; the
//! reads after it are dropped and reading resumes where it stopped (a read of nothing is the
//! end of the file). While a chain is in flight the worker asks its next park to wait for all
//! of the chain's outstanding completions in one enter (bounded), not one per linked step.

use crate::driver;
use crate::fixed::{BufLease, FileLease, BUF_SIZE};
use crate::net::UringStream;
use io_uring::{opcode, squeue, types};
use std::collections::VecDeque;
use std::fs::File;
use std::io;
use std::ops::Range;
use std::os::fd::AsRawFd;
use std::rc::Rc;
use std::task::{Context, Poll};
use tokio::io::AsyncWriteExt;

/// Chunks in flight per file send (read ahead, or being sent).
const DEPTH: usize = 32;
/// The most sends in one linked chain: half the depth, so the other half is read meanwhile.
const CHAIN: usize = DEPTH / 2;
/// IORING_NOTIF_USAGE_ZC_COPIED.
const ZC_COPIED: u32 = 1 << 31;
/// IORING_SEND_ZC_REPORT_USAGE.
const ZC_REPORT_USAGE: u16 = 1 << 3;

/// What a file send through the ring did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FileSendReport {
    /// Bytes sent.
    pub bytes: u64,
    /// Send chains submitted (one vectored send, or linked SEND_ZCs).
    pub chains: u64,
    /// Chunks read and then sent (one read and one send each).
    pub pairs: u64,
    /// Reads from the registered file into registered buffers.
    pub fixed_reads: u64,
    /// Zero-copy sends completed, and of those the ones the kernel copied anyway.
    pub zc_sends: u64,
    /// See `zc_sends`.
    pub zc_copied: u64,
    /// Chunks finished with an ordinary send after the chain was severed.
    pub fallbacks: u64,
    /// `send_file_zc` only: the kernel reported that it copied every SEND_ZC of a chain (as it
    /// does over loopback, or to a device without scatter-gather), so the rest of the range
    /// went as plain sends, which cost the same copy without the notifications.
    pub zc_switched_to_copy: bool,
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

/// What the kernel may touch until a chunk's operations have completed.
struct Held {
    _buf: Buf,
    /// The socket: an abandoned send names its raw fd, which must not be closed (and reused by
    /// a new socket) before it completes.
    _sock: Rc<std::os::fd::OwnedFd>,
    _file: Rc<File>,
    _slot: Option<Rc<FileLease>>,
}

/// One chunk of the range, from its read to its send.
struct Chunk {
    at: u64,
    len: usize,
    ptr: *mut u8,
    fixed_buf: Option<u16>,
    held: Rc<Held>,
    read: Option<usize>,
    /// The read's result, once it completed.
    got: Option<i32>,
    send: Option<usize>,
    /// The send's result, once it completed (SEND_ZC: and was notified).
    sent: Option<i32>,
    zc_res: Option<i32>,
    zc_copied: Option<bool>,
    /// The message of a vectored send that starts at this chunk.
    msg: Option<Rc<Msg>>,
}

/// A vectored send's header and iovecs, and the chunks whose buffers it names.
struct Msg {
    hdr: libc::msghdr,
    _iov: Vec<libc::iovec>,
    _held: Vec<Rc<Held>>,
}

/// The chunks of one file send, in file order. Dropped early (the send's future was dropped,
/// or reads past a short read are discarded), pending operations are cancelled and what they
/// use goes to the driver until their completions.
struct Pipeline {
    chunks: VecDeque<Chunk>,
}

impl Pipeline {
    fn discard(&mut self, from: usize) {
        for mut c in self.chunks.drain(from..) {
            for idx in [c.read.take(), c.send.take()].into_iter().flatten() {
                let keep = (c.held.clone(), c.msg.clone());
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

/// Sends `range` of `file` to `stream` with linked read→send chains (plain sends).
pub async fn send_file(
    stream: &mut UringStream,
    file: &File,
    range: Range<u64>,
) -> io::Result<FileSendReport> {
    send(stream, file, range, false).await
}

/// As [`send_file`], with SEND_ZC from registered buffers (plain sends where the kernel lacks
/// SEND_ZC, and for the rest of the range once the kernel reports it copied a whole chain of
/// them: see [`FileSendReport::zc_switched_to_copy`]).
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
    // A duplicate fd kept with every chunk, so an abandoned read stays valid.
    let file = Rc::new(file.try_clone()?);
    let slot = driver::with(|d| d.register_file(file.as_raw_fd()))?.map(Rc::new);
    let mut p = Pipeline {
        chunks: VecDeque::with_capacity(DEPTH),
    };
    let mut next = range.start;
    // Chunks at the front whose sends form the chain in flight.
    let mut in_chain = 0;
    loop {
        let mut ops = Vec::with_capacity(DEPTH);
        // (chunk position, is the send) of each operation in `ops`.
        let mut whose = Vec::with_capacity(DEPTH);
        // Plain sends go as one vectored send per chain; SEND_ZC as linked sends from the
        // registered buffers (a vectored SEND_ZC pins its pages on every call, measured slower).
        let vectored = !zc;
        if in_chain == 0 && vectored {
            let mut iov = Vec::new();
            let mut held = Vec::new();
            for c in p.chunks.iter().take(CHAIN) {
                let Some(got @ 1..) = c.got else { break };
                iov.push(libc::iovec {
                    iov_base: c.ptr.cast(),
                    iov_len: got as usize,
                });
                held.push(c.held.clone());
                in_chain += 1;
                if (got as usize) < c.len {
                    break;
                }
            }
            if in_chain > 0 {
                // SAFETY: an all-zero msghdr is a valid value of this plain C struct.
                let mut hdr: libc::msghdr = unsafe { std::mem::zeroed() };
                hdr.msg_iov = iov.as_ptr().cast_mut();
                hdr.msg_iovlen = iov.len();
                let msg = Rc::new(Msg {
                    hdr,
                    _iov: iov,
                    _held: held,
                });
                let send = opcode::SendMsg::new(types::Fd(sock), &msg.hdr)
                    .flags((libc::MSG_NOSIGNAL | libc::MSG_WAITALL) as u32)
                    .build();
                p.chunks[0].msg = Some(msg);
                ops.push((send, false));
                whose.push((0, true));
                report.chains += 1;
            }
        }
        if in_chain == 0 && !vectored {
            for (i, c) in p.chunks.iter().enumerate().take(CHAIN) {
                let Some(got @ 1..) = c.got else { break };
                let n = got as u32;
                let send = if zc {
                    opcode::SendZc::new(types::Fd(sock), c.ptr.cast_const(), n)
                        .buf_index(c.fixed_buf)
                        .flags(libc::MSG_NOSIGNAL | libc::MSG_WAITALL)
                        .zc_flags(ZC_REPORT_USAGE)
                        .build()
                } else {
                    opcode::Send::new(types::Fd(sock), c.ptr.cast_const(), n)
                        .flags(libc::MSG_NOSIGNAL | libc::MSG_WAITALL)
                        .build()
                };
                ops.push((send, zc));
                whose.push((i, true));
                in_chain += 1;
                if (got as usize) < c.len {
                    break; // a short read: the chain ends with what it has
                }
            }
            // Linked, so they leave in order: IO_LINK on every send but the last.
            let n = ops.len();
            for (e, _) in ops.iter_mut().take(n.saturating_sub(1)) {
                *e = e.clone().flags(squeue::Flags::IO_LINK);
            }
            if n > 0 {
                report.chains += 1;
            }
        }
        while p.chunks.len() < DEPTH && next < range.end && !p.chunks.back().is_some_and(short) {
            let len = ((range.end - next) as usize).min(BUF_SIZE);
            let mut buf = match driver::with(|d| d.fixed.as_mut().and_then(|f| f.buf())) {
                Some(l) => Buf::Fixed(l),
                None => Buf::Heap(vec![0u8; BUF_SIZE].into_boxed_slice()),
            };
            let ptr = buf.ptr();
            let fixed_buf = match &buf {
                Buf::Fixed(l) => Some(l.index),
                Buf::Heap(_) => None,
            };
            let read = match (&slot, fixed_buf) {
                (Some(s), Some(bi)) => {
                    report.fixed_reads += 1;
                    opcode::ReadFixed::new(types::Fixed(s.index), ptr, len as u32, bi)
                        .offset(next)
                        .build()
                }
                (Some(s), None) => opcode::Read::new(types::Fixed(s.index), ptr, len as u32)
                    .offset(next)
                    .build(),
                (None, _) => opcode::Read::new(types::Fd(file.as_raw_fd()), ptr, len as u32)
                    .offset(next)
                    .build(),
            };
            ops.push((read, false));
            whose.push((p.chunks.len(), false));
            p.chunks.push_back(Chunk {
                at: next,
                len,
                ptr,
                fixed_buf,
                held: Rc::new(Held {
                    _buf: buf,
                    _sock: sock_handle.clone(),
                    _file: file.clone(),
                    _slot: slot.clone(),
                }),
                read: None,
                got: None,
                send: None,
                sent: None,
                zc_res: None,
                zc_copied: None,
                msg: None,
            });
            next += len as u64;
        }
        if p.chunks.is_empty() {
            return Ok(report);
        }
        if !ops.is_empty() {
            // SAFETY: a read writes its chunk's buffer, which `held` keeps (with the file's fd
            // and the registered slot) until the read completes, even if this future is
            // dropped (`Pipeline` hands `held` to the driver). A send reads a buffer whose read
            // has completed, and nothing writes it until the send (and its SEND_ZC
            // notification) has completed; the socket's fd is kept the same way.
            let idxs = unsafe { driver::with(|d| d.submit_batch(&ops))? };
            for (idx, (i, is_send)) in idxs.into_iter().zip(whose) {
                let c = &mut p.chunks[i];
                if is_send {
                    c.send = Some(idx);
                } else {
                    c.read = Some(idx);
                }
            }
        }
        // Wait: for the whole chain if one is in flight, else for any read.
        std::future::poll_fn(|cx| {
            let mut progress = false;
            for c in p.chunks.iter_mut() {
                if c.read.is_some() {
                    if let Poll::Ready(r) = poll_one(&mut c.read, cx) {
                        c.got = Some(r);
                        progress = true;
                    }
                }
            }
            let mut chain_done = true;
            for c in p
                .chunks
                .iter_mut()
                .take(if vectored { in_chain.min(1) } else { in_chain })
            {
                if c.sent.is_some() {
                    continue;
                }
                let r = if zc {
                    poll_zc(&mut c.send, &mut c.zc_res, &mut c.zc_copied, cx)
                } else {
                    poll_one(&mut c.send, cx)
                };
                match r {
                    Poll::Ready(r) => c.sent = Some(r),
                    Poll::Pending => chain_done = false,
                }
            }
            if in_chain > 0 {
                if chain_done {
                    return Poll::Ready(());
                }
                let sends: Vec<Option<usize>> =
                    p.chunks.iter().take(in_chain).map(|c| c.send).collect();
                want_rest(&sends);
                return Poll::Pending;
            }
            let front_failed = p.chunks.front().is_some_and(|c| c.got.is_some());
            if progress || front_failed {
                Poll::Ready(())
            } else {
                Poll::Pending
            }
        })
        .await;
        // Settle the chain that completed, front to back.
        let mut sent_ok = 0;
        let (zc_before, copied_before) = (report.zc_sends, report.zc_copied);
        // A vectored send's bytes, spread over its chunks in order.
        let mut left = None;
        for _ in 0..in_chain {
            let c = p
                .chunks
                .pop_front()
                .expect("the chain's chunks are at the front");
            let got = c.got.expect("a chain holds only chunks read") as usize;
            let sent = if vectored {
                let l: &mut i32 = left.get_or_insert_with(|| c.sent.expect("the send completed"));
                if *l < 0 {
                    *l
                } else {
                    let d = (*l).min(got as i32);
                    *l -= d;
                    d
                }
            } else {
                c.sent.expect("the chain completed")
            };
            if let Some(copied) = c.zc_copied {
                report.zc_sends += 1;
                report.zc_copied += copied as u64;
            }
            report.pairs += 1;
            let done = match sent {
                s if s >= 0 => s as usize,
                s if s == -libc::ECANCELED => 0, // an earlier send of the chain fell short
                s => return Err(io::Error::from_raw_os_error(-s)),
            };
            if done > 0 {
                sent_ok += 1;
            }
            report.bytes += got as u64;
            if done < got {
                report.fallbacks += 1;
                // SAFETY: the chunk's read and send completed; nothing else writes its buffer.
                let bytes = unsafe { std::slice::from_raw_parts(c.ptr, got) };
                stream.write_all(&bytes[done..]).await?;
                stream.flush().await?;
            }
            if got < c.len {
                // A short read: what was read is sent; read again from there (a read of
                // nothing is the end of the file).
                next = c.at + got as u64;
                p.discard(0);
                break;
            }
        }
        if in_chain > 0 {
            driver::with(|d| d.stats.linked_sends += sent_ok);
            in_chain = 0;
        }
        let zc_sent = report.zc_sends - zc_before;
        let more = next < range.end || !p.chunks.is_empty();
        if zc && more && zc_sent > 0 && report.zc_copied - copied_before == zc_sent {
            zc = false;
            report.zc_switched_to_copy = true;
        }
        // A read at the front that failed or found the end of the file ends the send.
        if let Some(c) = p.chunks.front() {
            match c.got {
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

/// Whether a chunk's read came back short (the chain ends there; nothing is read after it).
fn short(c: &Chunk) -> bool {
    c.got.is_some_and(|g| (g as usize) < c.len)
}
