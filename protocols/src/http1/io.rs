//! Buffered reading for the async server and client: a read buffer with a consumed offset,
//! filled from any `AsyncRead` with an optional deadline on the injected clock.

use std::future::Future;
use std::io;
use std::pin::{pin, Pin};
use std::task::Poll;
use testbed_model::runtime::timeout_at;
use testbed_model::{Instant, Runtime};
use tokio::io::{AsyncRead, AsyncReadExt};

/// Why a read stopped.
#[derive(Debug)]
pub(crate) enum ReadStop {
    /// The peer closed the connection.
    Eof,
    /// The deadline passed.
    Timeout,
    /// An I/O error.
    Io(io::Error),
}

/// Bytes read but not yet consumed: `data[start..]`.
#[derive(Debug, Default)]
pub(crate) struct ReadBuf {
    pub(crate) data: Vec<u8>,
    pub(crate) start: usize,
}

impl ReadBuf {
    pub(crate) fn pending(&self) -> &[u8] {
        &self.data[self.start..]
    }
    pub(crate) fn consume(&mut self, n: usize) {
        self.start += n;
        if self.start == self.data.len() {
            self.data.clear();
            self.start = 0;
        }
    }
    /// Frees the allocation when it grew past `cap` bytes and nothing is pending (a large
    /// body was read): a kept-alive connection then holds a small buffer again.
    pub(crate) fn release_if_over(&mut self, cap: usize) {
        if self.data.capacity() > cap && self.pending().is_empty() {
            self.data = Vec::new();
            self.start = 0;
        }
    }
    /// Moves unconsumed bytes to the front (before a read that must not grow the buffer).
    pub(crate) fn compact(&mut self) {
        if self.start > 0 {
            self.data.drain(..self.start);
            self.start = 0;
        }
    }
    /// Reads once into the buffer's spare capacity (growing it by up to 16 KiB when full;
    /// nothing is zero-filled), before `deadline` if one is given.
    pub(crate) async fn fill<R: Runtime, S: AsyncRead + Unpin>(
        &mut self,
        rt: &R,
        s: &mut S,
        deadline: Option<Instant>,
    ) -> Result<usize, ReadStop> {
        if self.data.capacity() - self.data.len() < 4096 {
            self.compact();
            self.data.reserve(16 * 1024);
        }
        let mut limited = (&mut *s).take(read_limit(rt));
        let read = limited.read_buf(&mut self.data);
        let r = match deadline {
            Some(d) => timeout_at(rt, d, read)
                .await
                .map_err(|_| ReadStop::Timeout)?,
            None => read.await,
        };
        match r {
            Ok(0) => Err(ReadStop::Eof),
            Ok(n) => Ok(n),
            Err(e) => Err(ReadStop::Io(e)),
        }
    }
}

/// How much one read may return: everything, or one byte when the `http1.short_read` buggify
/// point fires (a peer's bytes trickling in exercises every partial-parse path).
fn read_limit<R: Runtime>(rt: &R) -> u64 {
    if rt.buggify("http1.short_read") {
        1
    } else {
        u64::MAX
    }
}

/// A deadline timer that is re-armed lazily: one timer lives across many waits, and when it
/// fires before the current deadline (the deadline moved on since it was armed) it is armed
/// again for the remainder. A keep-alive connection thus arms one timer per idle period
/// instead of one per request.
pub(crate) struct LazyTimer<R: Runtime> {
    sleep: Option<(Instant, Pin<Box<R::Sleep>>)>,
}

impl<R: Runtime> Default for LazyTimer<R> {
    fn default() -> Self {
        LazyTimer { sleep: None }
    }
}

impl<R: Runtime> LazyTimer<R> {
    /// Ready once `deadline` has passed.
    fn poll_expired(
        &mut self,
        rt: &R,
        deadline: Instant,
        cx: &mut std::task::Context<'_>,
    ) -> Poll<()> {
        loop {
            match &mut self.sleep {
                Some((armed, sleep)) if *armed <= deadline => {
                    if sleep.as_mut().poll(cx).is_pending() {
                        return Poll::Pending;
                    }
                    if *armed == deadline {
                        self.sleep = None;
                        return Poll::Ready(());
                    }
                    self.sleep = None; // fired for an older deadline: arm for the rest
                }
                _ => self.sleep = Some((deadline, Box::pin(rt.sleep_until(deadline)))),
            }
        }
    }
}

impl ReadBuf {
    /// Like [`ReadBuf::fill`] with a deadline, waiting on `timer` (armed only if the read
    /// does not complete at once, and reused across calls).
    pub(crate) async fn fill_by<R: Runtime, S: AsyncRead + Unpin>(
        &mut self,
        rt: &R,
        s: &mut S,
        deadline: Instant,
        timer: &mut LazyTimer<R>,
    ) -> Result<usize, ReadStop> {
        if self.data.capacity() - self.data.len() < 4096 {
            self.compact();
            self.data.reserve(16 * 1024);
        }
        let mut limited = (&mut *s).take(read_limit(rt));
        let mut read = pin!(limited.read_buf(&mut self.data));
        let r = std::future::poll_fn(|cx| {
            if let Poll::Ready(r) = read.as_mut().poll(cx) {
                return Poll::Ready(Ok(r));
            }
            timer
                .poll_expired(rt, deadline, cx)
                .map(|()| Err(ReadStop::Timeout))
        })
        .await?;
        match r {
            Ok(0) => Err(ReadStop::Eof),
            Ok(n) => Ok(n),
            Err(e) => Err(ReadStop::Io(e)),
        }
    }
}
