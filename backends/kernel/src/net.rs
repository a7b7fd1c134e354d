//! Kernel sockets behind `model::Net`: SO_REUSEPORT listeners (every worker binds the same
//! address and the kernel spreads connections), TCP_NODELAY streams, UDP sockets.

use crate::runtime::Worker;
use socket2::{Domain, Protocol, SockAddr, Socket, Type};
use std::future::Future;
use std::io;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::pin::Pin;
use std::task::{Context, Poll};
use testbed_model::{AcceptError, BindError, ConnectError, Listener, Net};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

const BACKLOG: i32 = 1024;

fn reuse_socket(addr: SocketAddr, ty: Type, protocol: Protocol) -> io::Result<Socket> {
    let s = Socket::new(Domain::for_address(addr), ty, Some(protocol))?;
    s.set_reuse_address(true)?;
    s.set_reuse_port(true)?;
    s.set_nonblocking(true)?;
    s.bind(&SockAddr::from(addr))?;
    Ok(s)
}

/// A port held (bound with SO_REUSEPORT, not listening) so that every worker can listen on
/// it; connections only ever reach listening sockets. Drop it once the workers are done.
#[derive(Debug)]
pub struct PortReservation {
    _socket: Socket,
    addr: SocketAddr,
}

impl PortReservation {
    /// Reserves `addr` (port 0 picks a free port).
    pub fn new(addr: SocketAddr) -> Result<PortReservation, BindError> {
        let s = reuse_socket(addr, Type::STREAM, Protocol::TCP)?;
        let addr = s
            .local_addr()?
            .as_socket()
            .ok_or(BindError::AddrNotAvailable)?;
        Ok(PortReservation { _socket: s, addr })
    }
    /// The reserved address, with its real port.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }
}

/// A listening TCP socket (SO_REUSEPORT).
#[derive(Debug)]
pub struct KernelListener {
    inner: tokio::net::TcpListener,
    addr: SocketAddr,
}

impl Listener for KernelListener {
    type Stream = KernelStream;

    fn poll_accept(
        &self,
        cx: &mut Context<'_>,
    ) -> Poll<Result<(KernelStream, SocketAddr), AcceptError>> {
        match self.inner.poll_accept(cx) {
            Poll::Pending => Poll::Pending,
            Poll::Ready(Err(e)) => Poll::Ready(Err(AcceptError::from_io(e))),
            Poll::Ready(Ok((s, peer))) => {
                let _ = s.set_nodelay(true);
                Poll::Ready(
                    KernelStream::new(s)
                        .map(|s| (s, peer))
                        .map_err(AcceptError::from_io),
                )
            }
        }
    }

    fn local_addr(&self) -> SocketAddr {
        self.addr
    }
}

/// A connected TCP stream.
#[derive(Debug)]
pub struct KernelStream {
    inner: tokio::net::TcpStream,
    local: SocketAddr,
    peer: SocketAddr,
}

impl KernelStream {
    /// The tokio socket (for readiness-driven raw syscalls such as sendfile).
    pub fn tcp(&self) -> &tokio::net::TcpStream {
        &self.inner
    }
    /// The tokio socket, mutably.
    pub fn tcp_mut(&mut self) -> &mut tokio::net::TcpStream {
        &mut self.inner
    }
    fn new(inner: tokio::net::TcpStream) -> io::Result<KernelStream> {
        Ok(KernelStream {
            local: inner.local_addr()?,
            peer: inner.peer_addr()?,
            inner,
        })
    }
}

impl AsyncRead for KernelStream {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl AsyncWrite for KernelStream {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }
    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }
    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }
    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}

impl testbed_model::Stream for KernelStream {
    fn local_addr(&self) -> SocketAddr {
        self.local
    }
    fn peer_addr(&self) -> SocketAddr {
        self.peer
    }
    fn set_nodelay(&self, nodelay: bool) -> io::Result<()> {
        self.inner.set_nodelay(nodelay)
    }
    fn set_keepalive(&self, keepalive: Option<testbed_model::Keepalive>) -> io::Result<()> {
        let sock = socket2::SockRef::from(&self.inner);
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
        socket2::SockRef::from(&self.inner).set_tcp_user_timeout(timeout)
    }
    fn set_linger(&self, linger: Option<std::time::Duration>) -> io::Result<()> {
        socket2::SockRef::from(&self.inner).set_linger(linger)
    }
}

/// A UDP socket.
#[derive(Debug)]
pub struct KernelDatagram {
    inner: tokio::net::UdpSocket,
    addr: SocketAddr,
}

impl testbed_model::DatagramSocket for KernelDatagram {
    fn local_addr(&self) -> SocketAddr {
        self.addr
    }
    fn max_datagram_size(&self) -> usize {
        if self.addr.is_ipv4() {
            65_507
        } else {
            65_527
        }
    }
    fn poll_send_to(
        &self,
        cx: &mut Context<'_>,
        buf: &[u8],
        target: SocketAddr,
    ) -> Poll<io::Result<usize>> {
        self.inner.poll_send_to(cx, buf, target)
    }
    fn poll_recv_from(
        &self,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<(usize, SocketAddr)>> {
        let mut rb = ReadBuf::new(buf);
        match self.inner.poll_recv_from(cx, &mut rb) {
            Poll::Ready(Ok(from)) => Poll::Ready(Ok((rb.filled().len(), from))),
            Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
            Poll::Pending => Poll::Pending,
        }
    }
}

impl Net for Worker {
    type Stream = KernelStream;
    type Listener = KernelListener;
    type Datagram = KernelDatagram;

    /// Loopback: traffic of this backend stays on the machine.
    fn local_ip(&self) -> IpAddr {
        IpAddr::V4(Ipv4Addr::LOCALHOST)
    }

    /// Binds with SO_REUSEADDR + SO_REUSEPORT, so each worker may listen on the same address
    /// (bind port 0 once, or use a [`PortReservation`], and pass the port to the others).
    fn listen(&self, addr: SocketAddr) -> Result<KernelListener, BindError> {
        let s = reuse_socket(addr, Type::STREAM, Protocol::TCP)?;
        s.listen(BACKLOG)?;
        let addr = s
            .local_addr()?
            .as_socket()
            .ok_or(BindError::AddrNotAvailable)?;
        let inner = tokio::net::TcpListener::from_std(s.into())?;
        Ok(KernelListener { inner, addr })
    }

    /// Connects with the builder's connect timeout; TCP_NODELAY is on (request/response
    /// traffic is latency-bound).
    fn connect(
        &self,
        addr: SocketAddr,
    ) -> impl Future<Output = Result<KernelStream, ConnectError>> {
        let limit = self.connect_timeout();
        async move {
            let s = tokio::time::timeout(limit, tokio::net::TcpStream::connect(addr))
                .await
                .map_err(|_| ConnectError::TimedOut)??;
            s.set_nodelay(true)?;
            Ok(KernelStream::new(s)?)
        }
    }

    fn bind_datagram(&self, addr: SocketAddr) -> Result<KernelDatagram, BindError> {
        let s = Socket::new(Domain::for_address(addr), Type::DGRAM, Some(Protocol::UDP))?;
        s.set_nonblocking(true)?;
        s.bind(&SockAddr::from(addr))?;
        let addr = s
            .local_addr()?
            .as_socket()
            .ok_or(BindError::AddrNotAvailable)?;
        let inner = tokio::net::UdpSocket::from_std(s.into())?;
        Ok(KernelDatagram { inner, addr })
    }
}
