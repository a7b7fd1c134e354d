//! The network contract: stream listeners and connections, datagram sockets, typed errors.
//!
//! Streams implement tokio's `AsyncRead + AsyncWrite`, so `h2`, `tokio-rustls` and any tokio
//! codec run over them unchanged. Datagram sockets expose a poll form
//! ([`DatagramSocket::poll_send_to`] / [`DatagramSocket::poll_recv_from`]) that a quinn
//! `AsyncUdpSocket` adapter can sit on, and async conveniences over it.
//! Errors are one enum per operation; each maps onto the `io::ErrorKind` a kernel would give.

use std::future::Future;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite};

/// Stream and datagram networking for one host (simulated) or one worker (real).
pub trait Net: Clone + 'static {
    /// A connected byte stream.
    type Stream: Stream;
    /// A listening socket producing [`Net::Stream`]s.
    type Listener: Listener<Stream = Self::Stream>;
    /// A bound datagram socket.
    type Datagram: DatagramSocket;

    /// The host's primary IP address (in the simulator, the one peers reach it at).
    fn local_ip(&self) -> IpAddr;

    /// Binds a listener. Port 0 picks a free port (see [`Listener::local_addr`]).
    fn listen(&self, addr: SocketAddr) -> Result<Self::Listener, BindError>;

    /// Opens a stream to `addr`; resolves once the handshake completed.
    fn connect(&self, addr: SocketAddr)
        -> impl Future<Output = Result<Self::Stream, ConnectError>>;

    /// Binds a datagram socket. Port 0 picks a free port.
    fn bind_datagram(&self, addr: SocketAddr) -> Result<Self::Datagram, BindError>;
}

/// A listening stream socket.
pub trait Listener: 'static {
    /// The stream type accepted connections have.
    type Stream: Stream;

    /// Polls for the next established connection from the accept backlog.
    fn poll_accept(
        &self,
        cx: &mut Context<'_>,
    ) -> Poll<Result<(Self::Stream, SocketAddr), AcceptError>>;

    /// The next established connection and its peer's address.
    fn accept(&self) -> impl Future<Output = Result<(Self::Stream, SocketAddr), AcceptError>> {
        std::future::poll_fn(move |cx| self.poll_accept(cx))
    }

    /// The bound address (with the real port if 0 was asked for).
    fn local_addr(&self) -> SocketAddr;
}

/// A connected, reliable, ordered byte stream.
pub trait Stream: AsyncRead + AsyncWrite + Unpin + 'static {
    /// This end's address.
    fn local_addr(&self) -> SocketAddr;
    /// The other end's address.
    fn peer_addr(&self) -> SocketAddr;
    /// Disables (true) or enables Nagle's algorithm; a no-op where there is none. The
    /// testbed's backends start every stream with `nodelay` on (the kernel backend sets
    /// TCP_NODELAY on each); `false` brings back Nagle and the peer's delayed-ACK cost.
    fn set_nodelay(&self, nodelay: bool) -> io::Result<()> {
        let _ = nodelay;
        Ok(())
    }
    /// Turns keepalive on with these settings (`None`: off, the default): after `idle`
    /// without traffic a probe goes out every `interval`; `retries` unanswered probes end
    /// the connection with `TimedOut` (SO_KEEPALIVE, TCP_KEEPIDLE/INTVL/CNT). The default
    /// implementation fails with `Unsupported`.
    fn set_keepalive(&self, keepalive: Option<Keepalive>) -> io::Result<()> {
        let _ = keepalive;
        Err(unsupported("keepalive"))
    }
    /// Data left unacknowledged this long ends the connection with `TimedOut`, before the
    /// retransmission limit would (TCP_USER_TIMEOUT; `None`: the system's retries limit, the
    /// default). The default implementation fails with `Unsupported`.
    fn set_user_timeout(&self, timeout: Option<Duration>) -> io::Result<()> {
        let _ = timeout;
        Err(unsupported("user timeout"))
    }
    /// SO_LINGER. `None` (the default): closing sends FIN and unsent data still drains.
    /// `Some(Duration::ZERO)`: closing discards unsent data and sends RST (the peer sees
    /// `ConnectionReset`, no TIME-WAIT). `Some(d)`: as `None` here (the wait would block a
    /// non-blocking close). The default implementation fails with `Unsupported`.
    fn set_linger(&self, linger: Option<Duration>) -> io::Result<()> {
        let _ = linger;
        Err(unsupported("linger"))
    }
}

/// Keepalive settings for [`Stream::set_keepalive`] (Linux's defaults are 7200 s, 75 s, 9).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Keepalive {
    /// Idle time before the first probe (TCP_KEEPIDLE).
    pub idle: Duration,
    /// Time between probes (TCP_KEEPINTVL).
    pub interval: Duration,
    /// Unanswered probes before the connection times out (TCP_KEEPCNT).
    pub retries: u32,
}

/// The `Unsupported` error a backend gives for a stream option it cannot apply.
pub fn unsupported(option: &str) -> io::Error {
    io::Error::new(
        io::ErrorKind::Unsupported,
        format!("{option} is not supported by this backend"),
    )
}

/// A bound datagram (UDP) socket.
pub trait DatagramSocket: 'static {
    /// The bound address.
    fn local_addr(&self) -> SocketAddr;

    /// The largest payload a single datagram may carry on this socket's path
    /// (larger sends fail with `io::ErrorKind::InvalidInput`, like EMSGSIZE).
    fn max_datagram_size(&self) -> usize;

    /// Sends one datagram to `target`. Ready with the number of bytes sent.
    fn poll_send_to(
        &self,
        cx: &mut Context<'_>,
        buf: &[u8],
        target: SocketAddr,
    ) -> Poll<io::Result<usize>>;

    /// Receives one datagram into `buf` (truncated if `buf` is smaller) and its source.
    fn poll_recv_from(
        &self,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<(usize, SocketAddr)>>;

    /// Async form of [`DatagramSocket::poll_send_to`].
    fn send_to(&self, buf: &[u8], target: SocketAddr) -> impl Future<Output = io::Result<usize>> {
        std::future::poll_fn(move |cx| self.poll_send_to(cx, buf, target))
    }

    /// Async form of [`DatagramSocket::poll_recv_from`].
    fn recv_from(&self, buf: &mut [u8]) -> impl Future<Output = io::Result<(usize, SocketAddr)>> {
        std::future::poll_fn(move |cx| self.poll_recv_from(cx, &mut *buf))
    }
}

macro_rules! io_mapping {
    ($t:ty { $($variant:ident => $kind:ident),* $(,)? }) => {
        impl $t {
            /// The `io::ErrorKind` a kernel would report for this error.
            pub fn kind(&self) -> io::ErrorKind {
                match self {
                    $(Self::$variant => io::ErrorKind::$kind,)*
                    Self::Io { kind, .. } => *kind,
                }
            }
            /// Classifies an `io::Error` from a real socket.
            pub fn from_io(e: io::Error) -> Self {
                match e.kind() {
                    $(io::ErrorKind::$kind => Self::$variant,)*
                    kind => Self::Io { kind, message: e.to_string() },
                }
            }
        }
        impl From<$t> for io::Error {
            fn from(e: $t) -> io::Error {
                io::Error::new(e.kind(), e)
            }
        }
        impl From<io::Error> for $t {
            fn from(e: io::Error) -> Self {
                Self::from_io(e)
            }
        }
    };
}

/// Why [`Net::connect`] failed.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ConnectError {
    /// Nothing listens at the address, or its backlog is full (the peer answered RST).
    #[error("connection refused")]
    Refused,
    /// The connection was reset during the handshake.
    #[error("connection reset during handshake")]
    Reset,
    /// No answer within the connect timeout (SYNs lost, partitioned, host down).
    #[error("connect timed out")]
    TimedOut,
    /// No host has that address, or no route reaches it.
    #[error("host unreachable")]
    Unreachable,
    /// No local port was free.
    #[error("no local address available")]
    AddrNotAvailable,
    /// Any other OS error.
    #[error("{message}")]
    Io {
        /// The OS error's kind.
        kind: io::ErrorKind,
        /// The OS error's text.
        message: String,
    },
}
io_mapping!(ConnectError {
    Refused => ConnectionRefused,
    Reset => ConnectionReset,
    TimedOut => TimedOut,
    Unreachable => HostUnreachable,
    AddrNotAvailable => AddrNotAvailable,
});

/// Why binding a listener or datagram socket failed.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum BindError {
    /// Another socket holds the address.
    #[error("address in use")]
    AddrInUse,
    /// The address is not one of this host's.
    #[error("address not available on this host")]
    AddrNotAvailable,
    /// Not allowed (e.g. a privileged port without the right).
    #[error("permission denied")]
    PermissionDenied,
    /// Any other OS error.
    #[error("{message}")]
    Io {
        /// The OS error's kind.
        kind: io::ErrorKind,
        /// The OS error's text.
        message: String,
    },
}
io_mapping!(BindError {
    AddrInUse => AddrInUse,
    AddrNotAvailable => AddrNotAvailable,
    PermissionDenied => PermissionDenied,
});

/// Why [`Listener::accept`] failed.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AcceptError {
    /// The listener's host crashed or the listener was shut down.
    #[error("listener closed")]
    Closed,
    /// Any other OS error (EMFILE, ENOBUFS, ...). Accept loops should log and continue.
    #[error("{message}")]
    Io {
        /// The OS error's kind.
        kind: io::ErrorKind,
        /// The OS error's text.
        message: String,
    },
}
io_mapping!(AcceptError { Closed => NotConnected });

#[cfg(test)]
mod tests {
    use super::*;
    use std::pin::Pin;

    /// A stream that implements only what `Stream` requires.
    struct Bare;
    impl AsyncRead for Bare {
        fn poll_read(
            self: Pin<&mut Self>,
            _: &mut Context<'_>,
            _: &mut tokio::io::ReadBuf<'_>,
        ) -> Poll<io::Result<()>> {
            Poll::Pending
        }
    }
    impl AsyncWrite for Bare {
        fn poll_write(
            self: Pin<&mut Self>,
            _: &mut Context<'_>,
            _: &[u8],
        ) -> Poll<io::Result<usize>> {
            Poll::Pending
        }
        fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
            Poll::Ready(Ok(()))
        }
        fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
            Poll::Ready(Ok(()))
        }
    }
    impl Stream for Bare {
        fn local_addr(&self) -> SocketAddr {
            ([127, 0, 0, 1], 1).into()
        }
        fn peer_addr(&self) -> SocketAddr {
            ([127, 0, 0, 1], 2).into()
        }
    }

    #[test]
    fn options_a_backend_does_not_implement_fail_as_unsupported() {
        let s = Bare;
        assert!(s.set_nodelay(true).is_ok());
        let ka = Keepalive {
            idle: Duration::from_secs(1),
            interval: Duration::from_secs(1),
            retries: 3,
        };
        let kinds = [
            s.set_keepalive(Some(ka)).unwrap_err().kind(),
            s.set_user_timeout(Some(Duration::from_secs(5)))
                .unwrap_err()
                .kind(),
            s.set_linger(Some(Duration::ZERO)).unwrap_err().kind(),
        ];
        assert_eq!(kinds, [io::ErrorKind::Unsupported; 3]);
    }

    #[test]
    fn errors_map_to_io_kinds_both_ways() {
        let e: io::Error = ConnectError::Refused.into();
        assert_eq!(e.kind(), io::ErrorKind::ConnectionRefused);
        assert_eq!(ConnectError::from_io(e), ConnectError::Refused);
        let other = ConnectError::from_io(io::Error::other("boom"));
        assert_eq!(other.kind(), io::ErrorKind::Other);
        assert_eq!(
            BindError::from_io(io::ErrorKind::AddrInUse.into()),
            BindError::AddrInUse
        );
        assert_eq!(
            io::Error::from(AcceptError::Closed).kind(),
            io::ErrorKind::NotConnected
        );
    }
}
