//! HTTP/2 (the `h2` crate) over model streams: h2c with prior knowledge on any stream, and h2
//! over TLS once ALPN chose "h2" ([`crate::tls`]). The server answers with the same
//! [`Handler`](crate::http1::Handler)s as the HTTP/1.1 server (the router included), many
//! streams concurrently per connection, and shuts down gracefully with GOAWAY. A frame guard
//! in front of h2 answers the frame-size and SETTINGS violations h2 0.4 mislabels with the
//! error codes RFC 9113 requires.

mod client;
/// Conversions between `http` types and the HTTP/1.1 handler types (shared with HTTP/3).
pub(crate) mod convert;
mod guard;
mod server;

pub use client::{handshake, handshake_with, H2Client, H2ClientError};
pub use server::{serve, serve_connection, H2Config, Shutdown};
