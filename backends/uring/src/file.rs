//! Serving a file range through the ring with linked operations. Each submission is one chain
//! of up to `PAIRS` read→send pairs (IOSQE_IO_LINK on every entry but the last), so the kernel
//! reads a chunk and sends it with no return to user space in between, and chunks leave in
//! order. Reads use a registered file (the ring's file table) into registered buffers
//! (READ_FIXED) where the ring has them, and plain reads into heap buffers where it does not.
//! Sends carry MSG_WAITALL, so a send is whole or failed: a short send never lets the chain
//! go on past missing bytes. A short read (or a failure) severs the chain: the rest completes
//! with ECANCELED and what was read but not sent is finished with an ordinary send.
//! `send_file_zc` sends with SEND_ZC from the registered buffers instead.
//! While a chain is pending the worker asks its next park to wait for all of the chain's
//! outstanding completions in one enter (bounded), not one enter per linked step.

use crate::driver;
use crate::fixed::{BufLease, FileLease, BUF_SIZE};
use crate::net::UringStream;
use io_uring::{opcode, squeue, types};
use std::fs::File;
use std::io;
use std::ops::Range;
use std::os::fd::AsRawFd;
use std::rc::Rc;
use std::task::{Context, Poll};
use tokio::io::AsyncWriteExt;

/// Read→send pairs per chain.
const PAIRS: usize = 16;
/// IORING_NOTIF_USAGE_ZC_COPIED.
const ZC_COPIED: u32 = 1 << 31;
/// IORING_SEND_ZC_REPORT_USAGE.
const ZC_REPORT_USAGE: u16 = 1 << 3;

/// What a file send through the ring did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FileSendReport {
    /// Bytes sent.
    pub bytes: u64,
    /// Chains submitted (one submission each).
    pub chains: u64,
    /// Read→send pairs submitted.
    pub pairs: u64,
    /// Reads from the registered file into registered buffers.
    pub fixed_reads: u64,
    /// Zero-copy sends completed, and of those the ones the kernel copied anyway.
    pub zc_sends: u64,
    /// See `zc_sends`.
    pub zc_copied: u64,
    /// Chunks finished with an ordinary send after the chain was severed.
    pub fallbacks: u64,
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

/// What the kernel may touch until every operation of a chain has completed.
struct Keep {
    bufs: Vec<Buf>,
    /// The socket: an abandoned chain's sends name its raw fd, which must not be closed (and
    /// reused by a new socket) before they complete.
    _sock: Rc<std::os::fd::OwnedFd>,
    _file: Rc<File>,
    _slot: Option<Rc<FileLease>>,
}

/// A chain in flight; dropped early, its operations are cancelled and `keep` goes to the
/// driver until their completions.
struct Chain {
    slots: Vec<Option<usize>>,
    keep: Rc<Keep>,
}

impl Drop for Chain {
    fn drop(&mut self) {
        for s in self.slots.iter_mut() {
            if let Some(idx) = s.take() {
                let keep = self.keep.clone();
                driver::with(|d| d.abandon(idx, Box::new(keep)));
            }
        }
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

/// As [`send_file`], with SEND_ZC from registered buffers (falls back to plain sends where
/// the kernel lacks SEND_ZC).
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
    zc: bool,
) -> io::Result<FileSendReport> {
    stream.flush().await?;
    let mut report = FileSendReport::default();
    if range.start >= range.end {
        return Ok(report);
    }
    let sock = stream.raw_fd();
    // A duplicate fd kept with every chain, so an abandoned chain's reads stay valid.
    let file = Rc::new(file.try_clone()?);
    let slot = driver::with(|d| d.register_file(file.as_raw_fd()))?.map(Rc::new);
    let mut off = range.start;
    while off < range.end {
        let chunks: Vec<(u64, usize)> = (0..PAIRS)
            .map(|i| off + (i * BUF_SIZE) as u64)
            .take_while(|&at| at < range.end)
            .map(|at| (at, ((range.end - at) as usize).min(BUF_SIZE)))
            .collect();
        let mut bufs: Vec<Buf> = chunks
            .iter()
            .map(
                |_| match driver::with(|d| d.fixed.as_mut().and_then(|f| f.buf())) {
                    Some(l) => Buf::Fixed(l),
                    None => Buf::Heap(vec![0u8; BUF_SIZE].into_boxed_slice()),
                },
            )
            .collect();
        let mut ops = Vec::with_capacity(chunks.len() * 2);
        for (i, (&(at, n), buf)) in chunks.iter().zip(bufs.iter_mut()).enumerate() {
            let ptr = buf.ptr();
            let fixed_buf = match buf {
                Buf::Fixed(l) => Some(l.index),
                Buf::Heap(_) => None,
            };
            let read = match (&slot, fixed_buf) {
                (Some(s), Some(bi)) => {
                    opcode::ReadFixed::new(types::Fixed(s.index), ptr, n as u32, bi)
                        .offset(at)
                        .build()
                }
                (Some(s), None) => opcode::Read::new(types::Fixed(s.index), ptr, n as u32)
                    .offset(at)
                    .build(),
                (None, _) => opcode::Read::new(types::Fd(file.as_raw_fd()), ptr, n as u32)
                    .offset(at)
                    .build(),
            };
            let send = if zc {
                opcode::SendZc::new(types::Fd(sock), ptr.cast_const(), n as u32)
                    .buf_index(fixed_buf)
                    .flags(libc::MSG_NOSIGNAL | libc::MSG_WAITALL)
                    .zc_flags(ZC_REPORT_USAGE)
                    .build()
            } else {
                opcode::Send::new(types::Fd(sock), ptr.cast_const(), n as u32)
                    .flags(libc::MSG_NOSIGNAL | libc::MSG_WAITALL)
                    .build()
            };
            let last = i + 1 == chunks.len();
            ops.push((read.flags(squeue::Flags::IO_LINK), false));
            ops.push((
                if last {
                    send
                } else {
                    send.flags(squeue::Flags::IO_LINK)
                },
                zc,
            ));
            if slot.is_some() && fixed_buf.is_some() {
                report.fixed_reads += 1;
            }
        }
        let keep = Rc::new(Keep {
            bufs,
            _sock: stream.fd_handle(),
            _file: file.clone(),
            _slot: slot.clone(),
        });
        // SAFETY: every entry points into `keep` (buffers; the fd of `file`, also in `keep`;
        // the registered file slot, leased in `keep`) or at the socket, which `stream` keeps
        // open while we wait here. If this future is dropped, `Chain` hands `keep` to the
        // driver until each operation completes. The kernel writes a buffer (the read) before
        // the linked send reads it; Rust reads the buffers only after both completed.
        let slots = unsafe { driver::with(|d| d.submit_batch(&ops))? };
        report.chains += 1;
        report.pairs += chunks.len() as u64;
        let mut chain = Chain {
            slots: slots.into_iter().map(Some).collect(),
            keep,
        };
        // Results in order: (read, sent).
        let mut results = Vec::with_capacity(chunks.len());
        for i in 0..chunks.len() {
            let got = std::future::poll_fn(|cx| {
                want_rest(&chain.slots);
                poll_one(&mut chain.slots[2 * i], cx)
            })
            .await;
            let sent = if zc {
                let (mut res, mut copied) = (None, None);
                let r = std::future::poll_fn(|cx| {
                    want_rest(&chain.slots);
                    poll_zc(&mut chain.slots[2 * i + 1], &mut res, &mut copied, cx)
                })
                .await;
                if let Some(c) = copied {
                    report.zc_sends += 1;
                    report.zc_copied += c as u64;
                }
                r
            } else {
                std::future::poll_fn(|cx| {
                    want_rest(&chain.slots);
                    poll_one(&mut chain.slots[2 * i + 1], cx)
                })
                .await
            };
            results.push((got, sent));
        }
        driver::with(|d| {
            d.stats.fixed_reads += report.fixed_reads;
            d.stats.linked_sends += results.iter().filter(|r| r.1 > 0).count() as u64;
        });
        for (i, &(got, sent)) in results.iter().enumerate() {
            let n = chunks[i].1;
            if got < 0 {
                return Err(io::Error::from_raw_os_error(-got));
            }
            if got == 0 {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "the file ended before the range",
                ));
            }
            let got = got as usize;
            let done = match sent {
                s if s >= 0 => s as usize,
                s if s == -libc::ECANCELED => 0, // a short read severed the chain
                s => return Err(io::Error::from_raw_os_error(-s)),
            };
            off += got as u64;
            report.bytes += got as u64;
            if done < got {
                report.fallbacks += 1;
                // SAFETY: both operations on this buffer completed; nothing else writes it.
                let bytes = unsafe { buf_bytes(&chain.keep.bufs[i], got) };
                stream.write_all(&bytes[done..]).await?;
                stream.flush().await?;
            }
            if got < n || done < got {
                break; // the rest of the chain was cancelled: go on from `off`
            }
        }
    }
    Ok(report)
}

/// The first `n` bytes of a completed chunk buffer.
///
/// # Safety
/// No operation may be writing the buffer.
unsafe fn buf_bytes(buf: &Buf, n: usize) -> &[u8] {
    match buf {
        // SAFETY: the lease covers BUF_SIZE bytes of registered memory; the caller guarantees
        // the kernel is done with them.
        Buf::Fixed(l) => unsafe { std::slice::from_raw_parts(l.ptr, n.min(BUF_SIZE)) },
        Buf::Heap(b) => &b[..n],
    }
}
