//! Reading and writing [`Msg`] frames on a byte stream.

use super::codec::{decode, encode, Msg};
use super::types::DiscoveryError;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

/// A stream with its read buffer (bytes past the last decoded frame).
pub struct FramedStream<S> {
    stream: S,
    buf: Vec<u8>,
}

impl<S: AsyncRead + AsyncWrite + Unpin> FramedStream<S> {
    /// Wraps `stream`.
    pub fn new(stream: S) -> Self {
        FramedStream {
            stream,
            buf: Vec::new(),
        }
    }

    /// Sends one message.
    pub async fn send(&mut self, m: &Msg) -> Result<(), DiscoveryError> {
        let mut out = Vec::new();
        encode(&mut out, m);
        self.stream
            .write_all(&out)
            .await
            .map_err(|e| DiscoveryError::Unavailable(format!("write: {e}")))
    }

    /// Receives one message: `Unavailable` on EOF or a read error, `Protocol` on bad bytes.
    pub async fn recv(&mut self) -> Result<Msg, DiscoveryError> {
        let mut chunk = [0u8; 4096];
        loop {
            match decode(&self.buf) {
                Ok(Some((m, used))) => {
                    self.buf.drain(..used);
                    return Ok(m);
                }
                Ok(None) => {}
                Err(e) => return Err(DiscoveryError::Protocol(e.to_string())),
            }
            match self.stream.read(&mut chunk).await {
                Ok(0) => return Err(DiscoveryError::Unavailable("connection closed".into())),
                Ok(n) => self.buf.extend_from_slice(&chunk[..n]),
                Err(e) => return Err(DiscoveryError::Unavailable(format!("read: {e}"))),
            }
        }
    }
}
