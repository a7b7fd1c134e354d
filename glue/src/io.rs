//! [`Io`]: a model stream as hyper's `rt::Read + rt::Write` (and a hyper-util `Connection`).

use hyper_util::client::legacy::connect::{Connected, Connection};
use hyper_util::rt::TokioIo;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

/// A model stream (any `AsyncRead + AsyncWrite`) in hyper's I/O traits.
#[derive(Debug)]
pub struct Io<S> {
    inner: TokioIo<S>,
}

impl<S> Io<S> {
    /// Wraps `stream`.
    pub fn new(stream: S) -> Io<S> {
        Io {
            inner: TokioIo::new(stream),
        }
    }
    /// The wrapped stream.
    pub fn get_ref(&self) -> &S {
        self.inner.inner()
    }
    /// Unwraps the stream.
    pub fn into_inner(self) -> S {
        self.inner.into_inner()
    }
}

impl<S> hyper::rt::Read for Io<S>
where
    S: tokio::io::AsyncRead + Unpin,
{
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: hyper::rt::ReadBufCursor<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl<S> hyper::rt::Write for Io<S>
where
    S: tokio::io::AsyncWrite + Unpin,
{
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
}

impl<S> Connection for Io<S> {
    fn connected(&self) -> Connected {
        Connected::new()
    }
}
