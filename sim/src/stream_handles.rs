//! The application's stream handles: [`SimStream`] (tokio `AsyncRead + AsyncWrite`) and
//! [`SimListener`]; each call locks the world and runs the stream model.

use crate::host::{lock, Shared};
use crate::packet::PSock;
use crate::slab::Key;
use crate::world::HostId;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use testbed_model::AcceptError;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// A simulated TCP connection (one end). Implements tokio's `AsyncRead + AsyncWrite`.
pub struct SimStream {
    pub(crate) shared: Arc<Shared>,
    pub(crate) via: Via,
    pub(crate) local: SocketAddr,
    pub(crate) peer: SocketAddr,
}

/// Which fidelity carries a stream.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Via {
    /// Stream fidelity: end `end` of connection `conn`.
    Stream { conn: Key, end: usize },
    /// Packet fidelity: a smoltcp socket.
    Packet(PSock),
}

impl std::fmt::Debug for SimStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SimStream")
            .field("local", &self.local)
            .field("peer", &self.peer)
            .finish()
    }
}

impl AsyncRead for SimStream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.via {
            Via::Stream { conn, end } => lock(&self.shared).stream_read(conn, end, cx, buf),
            Via::Packet(p) => lock(&self.shared).pkt_read(p, cx, buf),
        }
    }
}

impl AsyncWrite for SimStream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.via {
            Via::Stream { conn, end } => lock(&self.shared).stream_write(conn, end, cx, buf),
            Via::Packet(p) => lock(&self.shared).pkt_write(p, cx, buf),
        }
    }
    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
    fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(match self.via {
            Via::Stream { conn, end } => lock(&self.shared).stream_shutdown(conn, end),
            Via::Packet(p) => lock(&self.shared).pkt_shutdown(p),
        })
    }
}

impl testbed_model::Stream for SimStream {
    fn local_addr(&self) -> SocketAddr {
        self.local
    }
    fn peer_addr(&self) -> SocketAddr {
        self.peer
    }
    fn set_nodelay(&self, nodelay: bool) -> io::Result<()> {
        match self.via {
            Via::Stream { conn, end } => lock(&self.shared).stream_set_nodelay(conn, end, nodelay),
            Via::Packet(p) => {
                lock(&self.shared).pkt_set_nodelay(p, nodelay);
                Ok(())
            }
        }
    }
    fn set_keepalive(&self, keepalive: Option<testbed_model::Keepalive>) -> io::Result<()> {
        match self.via {
            Via::Stream { conn, end } => {
                lock(&self.shared).stream_set_keepalive(conn, end, keepalive)
            }
            Via::Packet(p) => {
                let k = keepalive.map(|k| (k.idle, k.interval, k.retries));
                lock(&self.shared).pkt_set_keepalive(p, k);
                Ok(())
            }
        }
    }
    fn set_user_timeout(&self, timeout: Option<std::time::Duration>) -> io::Result<()> {
        match self.via {
            Via::Stream { conn, end } => {
                lock(&self.shared).stream_set_user_timeout(conn, end, timeout)
            }
            Via::Packet(p) => {
                lock(&self.shared).pkt_set_user_timeout(p, timeout);
                Ok(())
            }
        }
    }
    fn set_linger(&self, linger: Option<std::time::Duration>) -> io::Result<()> {
        match self.via {
            Via::Stream { conn, end } => lock(&self.shared).stream_set_linger(conn, end, linger),
            Via::Packet(p) => {
                lock(&self.shared).pkt_set_linger(p, linger);
                Ok(())
            }
        }
    }
}

impl Drop for SimStream {
    fn drop(&mut self) {
        match self.via {
            Via::Stream { conn, end } => lock(&self.shared).close_end(conn, end),
            Via::Packet(p) => lock(&self.shared).pkt_close(p),
        }
    }
}

/// A simulated listening socket.
pub struct SimListener {
    pub(crate) shared: Arc<Shared>,
    pub(crate) via: ListenVia,
    pub(crate) addr: SocketAddr,
}

/// Which fidelity a listener belongs to.
#[derive(Clone, Copy, Debug)]
pub(crate) enum ListenVia {
    /// Stream fidelity: listener `key`.
    Stream(Key),
    /// Packet fidelity: the listener on `port` of the host's stack.
    Packet {
        host: HostId,
        incarnation: u64,
        port: u16,
    },
}

impl std::fmt::Debug for SimListener {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SimListener")
            .field("addr", &self.addr)
            .finish()
    }
}

impl testbed_model::Listener for SimListener {
    type Stream = SimStream;

    fn poll_accept(
        &self,
        cx: &mut Context<'_>,
    ) -> Poll<Result<(SimStream, SocketAddr), AcceptError>> {
        let mut w = lock(&self.shared);
        let r = match self.via {
            ListenVia::Stream(key) => w
                .poll_accept(key, cx)
                .map(|r| r.map(|(conn, local, peer)| (Via::Stream { conn, end: 1 }, local, peer))),
            ListenVia::Packet {
                host,
                incarnation,
                port,
            } => w
                .pkt_accept(host, incarnation, port, cx)
                .map(|r| r.map(|(p, local, peer)| (Via::Packet(p), local, peer))),
        };
        drop(w);
        r.map(|r| {
            r.map(|(via, local, peer)| {
                (
                    SimStream {
                        shared: self.shared.clone(),
                        via,
                        local,
                        peer,
                    },
                    peer,
                )
            })
        })
    }

    fn local_addr(&self) -> SocketAddr {
        self.addr
    }
}

impl Drop for SimListener {
    fn drop(&mut self) {
        match self.via {
            ListenVia::Stream(key) => lock(&self.shared).close_listener(key),
            ListenVia::Packet {
                host,
                incarnation,
                port,
            } => lock(&self.shared).pkt_close_listener(host, incarnation, port),
        }
    }
}
