//! The application's stream handles: [`SimStream`] (tokio `AsyncRead + AsyncWrite`) and
//! [`SimListener`]; each call locks the world and runs the stream model.

use crate::host::{lock, Shared};
use crate::slab::Key;
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
    pub(crate) conn: Key,
    pub(crate) end: usize,
    pub(crate) local: SocketAddr,
    pub(crate) peer: SocketAddr,
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
        lock(&self.shared).stream_read(self.conn, self.end, cx, buf)
    }
}

impl AsyncWrite for SimStream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        lock(&self.shared).stream_write(self.conn, self.end, cx, buf)
    }
    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
    fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(lock(&self.shared).stream_shutdown(self.conn, self.end))
    }
}

impl testbed_model::Stream for SimStream {
    fn local_addr(&self) -> SocketAddr {
        self.local
    }
    fn peer_addr(&self) -> SocketAddr {
        self.peer
    }
}

impl Drop for SimStream {
    fn drop(&mut self) {
        lock(&self.shared).close_end(self.conn, self.end);
    }
}

/// A simulated listening socket.
pub struct SimListener {
    pub(crate) shared: Arc<Shared>,
    pub(crate) key: Key,
    pub(crate) addr: SocketAddr,
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
        let r = lock(&self.shared).poll_accept(self.key, cx);
        r.map(|r| {
            r.map(|(conn, local, peer)| {
                (
                    SimStream {
                        shared: self.shared.clone(),
                        conn,
                        end: 1,
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
        lock(&self.shared).close_listener(self.key);
    }
}
