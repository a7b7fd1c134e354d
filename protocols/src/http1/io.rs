//! Buffered reading for the async server and client: a read buffer with a consumed offset,
//! filled from any `AsyncRead` with an optional deadline on the injected clock.

use std::io;
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
    /// Moves unconsumed bytes to the front (before a read that must not grow the buffer).
    pub(crate) fn compact(&mut self) {
        if self.start > 0 {
            self.data.drain(..self.start);
            self.start = 0;
        }
    }
    /// Reads once (at most 16 KiB) into the buffer, before `deadline` if one is given.
    pub(crate) async fn fill<R: Runtime, S: AsyncRead + Unpin>(
        &mut self,
        rt: &R,
        s: &mut S,
        deadline: Option<Instant>,
    ) -> Result<usize, ReadStop> {
        self.compact();
        let len = self.data.len();
        self.data.resize(len + 16 * 1024, 0);
        let read = s.read(&mut self.data[len..]);
        let r = match deadline {
            Some(d) => timeout_at(rt, d, read)
                .await
                .map_err(|_| ReadStop::Timeout)?,
            None => read.await,
        };
        match r {
            Ok(0) => {
                self.data.truncate(len);
                Err(ReadStop::Eof)
            }
            Ok(n) => {
                self.data.truncate(len + n);
                Ok(n)
            }
            Err(e) => {
                self.data.truncate(len);
                Err(ReadStop::Io(e))
            }
        }
    }
}
