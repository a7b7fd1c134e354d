//! `model::Net` on io_uring: accept, connect, recv and send as ring operations on owned
//! buffers (an operation abandoned by its future is cancelled, and its buffer and fd live on
//! in the driver until the kernel reports completion), SO_REUSEPORT listeners, and UDP with
//! readiness through POLL_ADD.

use crate::driver;
use crate::worker::Worker;
use io_uring::{opcode, types};
use socket2::{Domain, Protocol, SockAddr, SockRef, Socket, Type};
use std::cell::RefCell;
use std::io;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};
use testbed_model::{AcceptError, BindError, ConnectError, Listener, Net};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

const BUF: usize = 64 * 1024;
/// Sends at least this large use SEND_ZC when the kernel has it (smaller ones cost more in
/// page pinning than the copy they save).
const ZC_MIN: usize = 16 * 1024;
/// Flags of a stream's sends: no SIGPIPE, and all bytes or an error (the kernel retries a
/// short send itself, so a send a dropped stream leaves behind still sends everything).
const SEND_FLAGS: i32 = libc::MSG_NOSIGNAL | libc::MSG_WAITALL;
/// IORING_NOTIF_USAGE_ZC_COPIED: the notification says the kernel copied after all.
const ZC_COPIED: u32 = 1 << 31;
/// IORING_SEND_ZC_REPORT_USAGE: ask the notification to say whether it copied.
const ZC_REPORT_USAGE: u16 = 1 << 3;

fn errno(res: i32) -> io::Error {
    io::Error::from_raw_os_error(-res)
}

/// Polls ring slot `*op`, clearing it once complete.
fn poll_slot(op: &mut Option<usize>, cx: &Context<'_>) -> Poll<i32> {
    let idx = op.expect("an operation in flight");
    match driver::with(|d| d.poll(idx, cx)) {
        Poll::Ready((res, _)) => {
            *op = None;
            Poll::Ready(res)
        }
        Poll::Pending => Poll::Pending,
    }
}

/// A TCP connection on the ring.
pub struct UringStream {
    fd: Rc<OwnedFd>,
    local: SocketAddr,
    peer: SocketAddr,
    rd_op: Option<usize>,
    rd_buf: Box<[u8]>,
    rd_start: usize,
    rd_end: usize,
    wr_op: Option<usize>,
    /// The send buffer while the stream holds it (empty otherwise): taken from the worker's
    /// pool at a write, owned by the driver while a plain send is in flight (it goes back to
    /// the pool when the send completes whole), kept by the stream during a SEND_ZC.
    wr_buf: Box<[u8]>,
    wr_sent: usize,
    wr_len: usize,
    /// The send in flight is a SEND_ZC: its byte count, once its first completion came.
    wr_zc: Option<Option<i32>>,
    /// Reads go through a multishot recv on the worker's provided-buffer ring.
    rd_provided: bool,
    /// The provided buffer being consumed: (buffer id, offset, length).
    rd_cur: Option<(u16, usize, usize)>,
    rd_eof: bool,
    /// A multishot recv was armed before (arming again counts as a re-arm).
    rd_armed_once: bool,
    /// SO_LINGER is zero: dropping the stream discards unsent data (RST) instead of letting
    /// the last send finish.
    discard_unsent: std::cell::Cell<bool>,
}

impl std::fmt::Debug for UringStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UringStream")
            .field("local", &self.local)
            .field("peer", &self.peer)
            .finish()
    }
}

/// The socket's fd, for socket options the stream has no method for. Its operations run on
/// the ring and do not depend on O_NONBLOCK; a blocking socket (the default) lets a file
/// splice (`send_file_splice`) wait in the kernel for room instead of coming back for it.
impl std::os::fd::AsRawFd for UringStream {
    fn as_raw_fd(&self) -> std::os::fd::RawFd {
        self.fd.as_raw_fd()
    }
}

/// The socket, borrowed (for `socket2::SockRef` and other safe fd users).
impl std::os::fd::AsFd for UringStream {
    fn as_fd(&self) -> std::os::fd::BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

impl UringStream {
    /// The socket's fd (for linked operations in this crate).
    pub(crate) fn raw_fd(&self) -> std::os::fd::RawFd {
        self.fd.as_raw_fd()
    }

    /// A handle keeping the socket's fd open (an operation naming the raw fd keeps one until
    /// its completion, so the number cannot be reused by another socket meanwhile).
    pub(crate) fn fd_handle(&self) -> Rc<OwnedFd> {
        self.fd.clone()
    }

    fn new(fd: OwnedFd) -> io::Result<UringStream> {
        let s = SockRef::from(&fd);
        s.set_tcp_nodelay(true)?;
        let local = s
            .local_addr()?
            .as_socket()
            .ok_or(io::ErrorKind::InvalidInput)?;
        let peer = s
            .peer_addr()?
            .as_socket()
            .ok_or(io::ErrorKind::InvalidInput)?;
        driver::with(|d| d.stream_opened());
        let rd_provided = driver::with(|d| d.bufs.is_some());
        Ok(UringStream {
            fd: Rc::new(fd),
            local,
            peer,
            rd_op: None,
            // with provided buffers the kernel picks the buffer: no receive buffer of our own
            rd_buf: if rd_provided {
                Box::default()
            } else {
                vec![0u8; BUF].into_boxed_slice()
            },
            rd_start: 0,
            rd_end: 0,
            wr_op: None,
            wr_buf: Box::default(),
            wr_sent: 0,
            wr_len: 0,
            wr_zc: None,
            rd_provided,
            rd_cur: None,
            rd_eof: false,
            rd_armed_once: false,
            discard_unsent: std::cell::Cell::new(false),
        })
    }

    fn submit_send(&mut self) -> io::Result<()> {
        let rest = &self.wr_buf[self.wr_sent..self.wr_len];
        if rest.len() >= ZC_MIN && driver::with(|d| d.features.send_zc) {
            let e = opcode::SendZc::new(
                types::Fd(self.fd.as_raw_fd()),
                rest.as_ptr(),
                rest.len() as u32,
            )
            .flags(SEND_FLAGS)
            .zc_flags(ZC_REPORT_USAGE)
            .build();
            // SAFETY: as below; the buffer also outlives the notification completion, which
            // is the last of the slot.
            self.wr_op = Some(unsafe { driver::with(|d| d.submit_multi(e))? });
            self.wr_zc = Some(None);
            return Ok(());
        }
        let (ptr, len) = (rest.as_ptr(), rest.len() as u32);
        let e = opcode::Send::new(types::Fd(self.fd.as_raw_fd()), ptr, len)
            .flags(SEND_FLAGS)
            .build();
        let buf = std::mem::take(&mut self.wr_buf);
        // SAFETY: the send reads `len` bytes inside `buf`, heap memory the driver now keeps
        // until the completion (also if this stream is dropped first).
        self.wr_op = Some(unsafe { driver::with(|d| d.submit_send_owned(e, buf, len))? });
        Ok(())
    }

    /// Drives the write in flight to its end (resubmitting partial sends).
    /// A SEND_ZC's byte count, once both its completions (result, then the notification that
    /// the buffer is free again) arrived.
    fn poll_zc(&mut self, cx: &Context<'_>) -> Poll<i32> {
        let idx = self.wr_op.expect("a send in flight");
        loop {
            match std::task::ready!(driver::with(|d| d.poll_multi(idx, cx))) {
                Some((res, flags)) if io_uring::cqueue::notif(flags) => driver::with(|d| {
                    d.stats.zc_sends += 1;
                    if res as u32 & ZC_COPIED != 0 {
                        d.stats.zc_copied += 1;
                    }
                }),
                Some((res, _)) => self.wr_zc = Some(Some(res)),
                None => {
                    self.wr_op = None;
                    return Poll::Ready(self.wr_zc.take().flatten().unwrap_or(-libc::EIO));
                }
            }
        }
    }

    fn poll_pending_write(&mut self, cx: &Context<'_>) -> Poll<io::Result<()>> {
        while self.wr_op.is_some() {
            let res = if self.wr_zc.is_some() {
                std::task::ready!(self.poll_zc(cx))
            } else {
                let idx = self.wr_op.expect("a send in flight");
                let (res, buf) = std::task::ready!(driver::with(|d| d.poll_send(idx, cx)));
                self.wr_op = None;
                if let Some(buf) = buf {
                    self.wr_buf = buf; // a short send or an error: the rest goes from here
                }
                res
            };
            if res < 0 {
                self.wr_len = 0;
                self.wr_sent = 0;
                self.return_send_buf();
                return Poll::Ready(Err(errno(res)));
            }
            self.wr_sent += res as usize;
            if self.wr_sent < self.wr_len {
                self.submit_send()?;
            }
        }
        self.wr_sent = 0;
        self.wr_len = 0;
        self.return_send_buf();
        Poll::Ready(Ok(()))
    }

    /// Gives the send buffer the stream holds, if any, back to the worker's pool.
    fn return_send_buf(&mut self) {
        if !self.wr_buf.is_empty() {
            let b = std::mem::take(&mut self.wr_buf);
            driver::with(|d| d.give_send_buf(b));
        }
    }
}

impl UringStream {
    /// Reading through a multishot recv with provided buffers: one armed recv per stream,
    /// each completion names a buffer of the worker's ring, given back once consumed.
    fn poll_read_provided(
        &mut self,
        cx: &Context<'_>,
        out: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        loop {
            if let Some((bid, off, len)) = self.rd_cur {
                let n = (len - off).min(out.remaining());
                driver::with(|d| {
                    if let Some(b) = d.bufs.as_mut() {
                        // A length past the buffer (never from a sound kernel) reads nothing.
                        out.put_slice(b.buf(bid).get(off..off + n).unwrap_or_default());
                        if off + n == len {
                            b.recycle(bid);
                        }
                    }
                });
                self.rd_cur = (off + n < len).then_some((bid, off + n, len));
                return Poll::Ready(Ok(()));
            }
            if self.rd_eof {
                return Poll::Ready(Ok(()));
            }
            if self.rd_op.is_none() {
                let e =
                    opcode::RecvMulti::new(types::Fd(self.fd.as_raw_fd()), crate::bufring::BGID)
                        .build();
                let rearm = std::mem::replace(&mut self.rd_armed_once, true);
                // SAFETY: the kernel writes only into the registered ring's buffers, which the
                // driver owns for the ring's lifetime.
                self.rd_op = Some(unsafe {
                    driver::with(|d| {
                        d.stats.recv_rearms += u64::from(rearm);
                        d.submit_multi(e)
                    })?
                });
            }
            let idx = self.rd_op.expect("armed");
            match std::task::ready!(driver::with(|d| d.poll_multi(idx, cx))) {
                Some((res, flags)) => {
                    let bid = io_uring::cqueue::buffer_select(flags);
                    if res > 0 {
                        let bid = bid
                            .ok_or_else(|| io::Error::other("recv completion without a buffer"))?;
                        driver::with(|d| d.stats.provided_recvs += 1);
                        self.rd_cur = Some((bid, 0, res as usize));
                    } else {
                        if let Some(bid) = bid {
                            driver::with(|d| {
                                d.bufs.as_mut().expect("provided buffers").recycle(bid)
                            });
                        }
                        if res == 0 {
                            self.rd_eof = true;
                        } else if res == -libc::ENOBUFS {
                            driver::with(|d| d.recv_out_of_buffers());
                        } else {
                            return Poll::Ready(Err(errno(res)));
                        }
                        // ENOBUFS: the ring ran dry and the multishot ends; the bytes stay in
                        // the socket, and the re-armed recv (the only one on this stream)
                        // reads them next, in order.
                    }
                }
                None => self.rd_op = None,
            }
        }
    }
}

impl Drop for UringStream {
    fn drop(&mut self) {
        driver::with(|d| d.stream_closed());
        if let Some((bid, _, _)) = self.rd_cur.take() {
            driver::with(|d| {
                if let Some(b) = d.bufs.as_mut() {
                    b.recycle(bid);
                }
            });
        }
        let fd = self.fd.clone();
        if let Some(idx) = self.rd_op.take() {
            let buf = std::mem::take(&mut self.rd_buf);
            driver::with(|d| d.abandon(idx, Box::new((fd.clone(), buf))));
        }
        if let Some(idx) = self.wr_op.take() {
            // Bytes a write reported written still go out (unless SO_LINGER is zero); the
            // driver cancels the send if it has not finished within its linger deadline.
            let keep = Box::new((fd, std::mem::take(&mut self.wr_buf)));
            if self.discard_unsent.get() {
                driver::with(|d| d.abandon(idx, keep));
            } else {
                driver::with(|d| d.linger(idx, keep));
            }
        }
    }
}

impl AsyncRead for UringStream {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        out: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = &mut *self;
        if this.rd_provided {
            return this.poll_read_provided(cx, out);
        }
        if this.rd_start == this.rd_end {
            if this.rd_op.is_none() {
                let e = opcode::Recv::new(
                    types::Fd(this.fd.as_raw_fd()),
                    this.rd_buf.as_mut_ptr(),
                    this.rd_buf.len() as u32,
                )
                .build();
                // SAFETY: `rd_buf` is heap memory owned by this stream until completion or,
                // if the stream is dropped first, by the driver.
                this.rd_op = Some(unsafe { driver::with(|d| d.submit(e))? });
            }
            let res = std::task::ready!(poll_slot(&mut this.rd_op, cx));
            if res < 0 {
                return Poll::Ready(Err(errno(res)));
            }
            this.rd_start = 0;
            this.rd_end = res as usize; // 0: end of stream
        }
        let n = (this.rd_end - this.rd_start).min(out.remaining());
        out.put_slice(&this.rd_buf[this.rd_start..this.rd_start + n]);
        this.rd_start += n;
        Poll::Ready(Ok(()))
    }
}

impl AsyncWrite for UringStream {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = &mut *self;
        std::task::ready!(this.poll_pending_write(cx))?;
        // The buffer is free: take what fits, send it, report it written (a buffered writer;
        // flush waits for the send).
        if this.wr_buf.is_empty() && !data.is_empty() {
            this.wr_buf = driver::with(|d| d.take_send_buf(BUF));
        }
        let n = data.len().min(this.wr_buf.len());
        this.wr_buf[..n].copy_from_slice(&data[..n]);
        this.wr_len = n;
        this.wr_sent = 0;
        if n > 0 {
            this.submit_send()?;
        }
        Poll::Ready(Ok(n))
    }
    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.poll_pending_write(cx)
    }
    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        std::task::ready!(self.poll_pending_write(cx))?;
        SockRef::from(&*self.fd).shutdown(std::net::Shutdown::Write)?;
        Poll::Ready(Ok(()))
    }
}

impl testbed_model::Stream for UringStream {
    fn local_addr(&self) -> SocketAddr {
        self.local
    }
    fn peer_addr(&self) -> SocketAddr {
        self.peer
    }
    fn set_nodelay(&self, nodelay: bool) -> io::Result<()> {
        SockRef::from(&*self.fd).set_tcp_nodelay(nodelay)
    }
    fn set_keepalive(&self, keepalive: Option<testbed_model::Keepalive>) -> io::Result<()> {
        let sock = SockRef::from(&*self.fd);
        match keepalive {
            None => sock.set_keepalive(false),
            Some(k) => sock.set_tcp_keepalive(
                &socket2::TcpKeepalive::new()
                    .with_time(k.idle)
                    .with_interval(k.interval)
                    .with_retries(k.retries),
            ),
        }
    }
    fn set_user_timeout(&self, timeout: Option<std::time::Duration>) -> io::Result<()> {
        SockRef::from(&*self.fd).set_tcp_user_timeout(timeout)
    }
    fn set_linger(&self, linger: Option<std::time::Duration>) -> io::Result<()> {
        SockRef::from(&*self.fd).set_linger(linger)?;
        self.discard_unsent
            .set(linger == Some(std::time::Duration::ZERO));
        Ok(())
    }
}

/// A listening socket (SO_REUSEPORT) accepting through the ring.
pub struct UringListener {
    fd: Rc<OwnedFd>,
    addr: SocketAddr,
    op: RefCell<Option<usize>>,
}

impl std::fmt::Debug for UringListener {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UringListener")
            .field("addr", &self.addr)
            .finish()
    }
}

impl Listener for UringListener {
    type Stream = UringStream;

    fn poll_accept(
        &self,
        cx: &mut Context<'_>,
    ) -> Poll<Result<(UringStream, SocketAddr), AcceptError>> {
        let mut op = self.op.borrow_mut();
        if driver::with(|d| d.features.accept_multi) {
            // One multishot accept stays armed: each connection is a completion.
            loop {
                if op.is_none() {
                    let e = opcode::AcceptMulti::new(types::Fd(self.fd.as_raw_fd()))
                        .flags(libc::SOCK_CLOEXEC)
                        .build();
                    // SAFETY: no buffers: the kernel writes nothing of ours.
                    *op = Some(
                        unsafe { driver::with(|d| d.submit_multi(e)) }
                            .map_err(AcceptError::from)?,
                    );
                }
                let idx = op.expect("armed");
                match std::task::ready!(driver::with(|d| d.poll_multi(idx, cx))) {
                    Some((res, _)) if res < 0 => {
                        return Poll::Ready(Err(AcceptError::from(errno(res))))
                    }
                    Some((res, _)) => {
                        driver::with(|d| d.stats.multishot_accepts += 1);
                        // SAFETY: a successful accept returned a new fd that nobody else owns.
                        let fd = unsafe { OwnedFd::from_raw_fd(res) };
                        let s = UringStream::new(fd).map_err(AcceptError::from)?;
                        let peer = s.peer;
                        return Poll::Ready(Ok((s, peer)));
                    }
                    None => *op = None, // the kernel ended the multishot: re-arm
                }
            }
        }
        if op.is_none() {
            let e = opcode::Accept::new(
                types::Fd(self.fd.as_raw_fd()),
                std::ptr::null_mut(),
                std::ptr::null_mut(),
            )
            .flags(libc::SOCK_CLOEXEC)
            .build();
            // SAFETY: no buffers: the kernel writes nothing of ours.
            *op = Some(unsafe { driver::with(|d| d.submit(e)) }.map_err(AcceptError::from)?);
        }
        let res = std::task::ready!(poll_slot(&mut op, cx));
        if res < 0 {
            return Poll::Ready(Err(AcceptError::from(errno(res))));
        }
        // SAFETY: a successful accept returned a new fd that nobody else owns.
        let fd = unsafe { OwnedFd::from_raw_fd(res) };
        let s = UringStream::new(fd).map_err(AcceptError::from)?;
        let peer = s.peer;
        Poll::Ready(Ok((s, peer)))
    }

    fn local_addr(&self) -> SocketAddr {
        self.addr
    }
}

impl Drop for UringListener {
    fn drop(&mut self) {
        if let Some(idx) = self.op.borrow_mut().take() {
            let fd = self.fd.clone();
            driver::with(|d| d.abandon(idx, Box::new(fd)));
        }
    }
}

/// A UDP socket: non-blocking calls, readiness from POLL_ADD on the ring.
pub struct UringDatagram {
    sock: Rc<std::net::UdpSocket>,
    addr: SocketAddr,
    rd_poll: RefCell<Option<usize>>,
    wr_poll: RefCell<Option<usize>>,
}

impl std::fmt::Debug for UringDatagram {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UringDatagram")
            .field("addr", &self.addr)
            .finish()
    }
}

impl UringDatagram {
    /// Waits (through the ring) until the socket is ready for `events`.
    fn poll_ready(
        &self,
        slot: &RefCell<Option<usize>>,
        events: i16,
        cx: &Context<'_>,
    ) -> Poll<io::Result<()>> {
        let mut op = slot.borrow_mut();
        if op.is_none() {
            let e = opcode::PollAdd::new(types::Fd(self.sock.as_raw_fd()), events as u32).build();
            // SAFETY: no buffers: poll writes nothing of ours.
            *op = Some(unsafe { driver::with(|d| d.submit(e))? });
        }
        let res = std::task::ready!(poll_slot(&mut op, cx));
        Poll::Ready(if res < 0 { Err(errno(res)) } else { Ok(()) })
    }
}

impl Drop for UringDatagram {
    fn drop(&mut self) {
        for slot in [&self.rd_poll, &self.wr_poll] {
            if let Some(idx) = slot.borrow_mut().take() {
                let s = self.sock.clone();
                driver::with(|d| d.abandon(idx, Box::new(s)));
            }
        }
    }
}

impl testbed_model::DatagramSocket for UringDatagram {
    fn local_addr(&self) -> SocketAddr {
        self.addr
    }
    fn max_datagram_size(&self) -> usize {
        65_507
    }
    fn poll_send_to(
        &self,
        cx: &mut Context<'_>,
        buf: &[u8],
        target: SocketAddr,
    ) -> Poll<io::Result<usize>> {
        loop {
            match self.sock.send_to(buf, target) {
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    std::task::ready!(self.poll_ready(&self.wr_poll, libc::POLLOUT, cx))?
                }
                r => return Poll::Ready(r),
            }
        }
    }
    fn poll_recv_from(
        &self,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<(usize, SocketAddr)>> {
        loop {
            match self.sock.recv_from(buf) {
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    std::task::ready!(self.poll_ready(&self.rd_poll, libc::POLLIN, cx))?
                }
                r => return Poll::Ready(r),
            }
        }
    }
}

fn reuse_socket(addr: SocketAddr, ty: Type, proto: Protocol) -> io::Result<Socket> {
    let s = Socket::new(Domain::for_address(addr), ty, Some(proto))?;
    s.set_reuse_address(true)?;
    s.set_reuse_port(true)?;
    s.bind(&SockAddr::from(addr))?;
    Ok(s)
}

/// Abandons an in-flight connect if its future is dropped.
struct ConnectOp {
    op: Option<usize>,
    keep: Option<(OwnedFd, Box<SockAddr>)>,
}

impl Drop for ConnectOp {
    fn drop(&mut self) {
        if let (Some(idx), Some(keep)) = (self.op.take(), self.keep.take()) {
            driver::with(|d| d.abandon(idx, Box::new(keep)));
        }
    }
}

impl Net for Worker {
    type Stream = UringStream;
    type Listener = UringListener;
    type Datagram = UringDatagram;

    fn local_ip(&self) -> IpAddr {
        IpAddr::V4(Ipv4Addr::LOCALHOST)
    }

    fn listen(&self, addr: SocketAddr) -> Result<UringListener, BindError> {
        let s = reuse_socket(addr, Type::STREAM, Protocol::TCP)?;
        s.listen(1024)?;
        let addr = s
            .local_addr()?
            .as_socket()
            .ok_or(BindError::AddrNotAvailable)?;
        Ok(UringListener {
            fd: Rc::new(OwnedFd::from(s)),
            addr,
            op: RefCell::new(None),
        })
    }

    async fn connect(&self, addr: SocketAddr) -> Result<UringStream, ConnectError> {
        {
            let s = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))
                .map_err(ConnectError::from)?;
            let sa = Box::new(SockAddr::from(addr));
            let fd = OwnedFd::from(s);
            let e = opcode::Connect::new(types::Fd(fd.as_raw_fd()), sa.as_ptr().cast(), sa.len())
                .build();
            // SAFETY: the address lives in `keep` until completion or, if this future is
            // dropped first, in the driver.
            let idx = unsafe { driver::with(|d| d.submit(e)) }.map_err(ConnectError::from)?;
            let mut guard = ConnectOp {
                op: Some(idx),
                keep: Some((fd, sa)),
            };
            let res = std::future::poll_fn(|cx| poll_slot(&mut guard.op, cx)).await;
            let (fd, _) = guard.keep.take().expect("kept until completion");
            if res < 0 {
                return Err(ConnectError::from(errno(res)));
            }
            UringStream::new(fd).map_err(ConnectError::from)
        }
    }

    fn bind_datagram(&self, addr: SocketAddr) -> Result<UringDatagram, BindError> {
        let s = Socket::new(Domain::for_address(addr), Type::DGRAM, Some(Protocol::UDP))?;
        s.set_nonblocking(true)?;
        s.bind(&SockAddr::from(addr))?;
        let sock: std::net::UdpSocket = s.into();
        let addr = sock.local_addr()?;
        Ok(UringDatagram {
            sock: Rc::new(sock),
            addr,
            rd_poll: RefCell::new(None),
            wr_poll: RefCell::new(None),
        })
    }
}
