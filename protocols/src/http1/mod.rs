//! HTTP/1.1 (RFC 9110 / RFC 9112): incremental zero-copy parsers for request and response
//! heads, message framing with request-smuggling defences, a chunked decoder, and head
//! serialisation; an async server (handler trait, router, keep-alive, pipelining, timeouts)
//! and a pooling client over any `model::Net`.
//!
//! Strict by design: CRLF line endings, tokens where the grammar says token, no whitespace
//! before a header's colon, no obs-fold, no control characters in values, one unambiguous
//! framing per message. Every size is bounded by [`Limits`]. Every rejection is a typed
//! [`ParseError`] that names the broken rule and the status code to answer with.

mod chunked;
mod client;
mod error;
mod framing;
mod head;
pub(crate) mod io;
mod message;
mod server;
mod write;

pub use chunked::{ChunkedDecoder, Decoded};
pub use client::{Client, ClientError};
pub use error::ParseError;
pub use framing::{request_body, response_body, valid_host, BodyKind};
pub use head::{
    parse_request, parse_response, Header, Headers, Request, Response, Status, Version,
};
pub use message::{reason, FileBody, Request as OwnedRequest, Response as OwnedResponse};
pub use server::{
    connection, serve, serve_files, BodySink, ConnEnd, FileSender, Handler, NoFiles, Router,
    ServerConfig,
};
pub use write::{write_chunk, write_last_chunk, write_request_head, write_response_head};

/// Bounds on what a parser accepts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Longest request line (method, target, version), bytes.
    pub request_line: usize,
    /// Most header fields.
    pub headers: usize,
    /// Largest header section (request or status line included), bytes.
    pub header_bytes: usize,
    /// Largest body (Content-Length or the sum of chunks), bytes.
    pub body: u64,
    /// Longest chunk-extension, bytes.
    pub chunk_ext: usize,
}

impl Default for Limits {
    /// 8 KiB request line, 100 headers, 64 KiB header section, 16 MiB body, 256-byte chunk
    /// extensions.
    fn default() -> Self {
        Limits {
            request_line: 8 * 1024,
            headers: 100,
            header_bytes: 64 * 1024,
            body: 16 << 20,
            chunk_ext: 256,
        }
    }
}
