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

/// Runs the frame guard over `data` whole and split at every 7th byte, checking it agrees
/// with itself and never panics. Shared by the `h2_frame_guard` fuzz target and the stable
/// replay of its seeds.
#[doc(hidden)]
pub fn exercise_frame_guard(data: &[u8]) {
    let whole = guard::FrameCheck::new(16_384).scan(data);
    let mut c = guard::FrameCheck::new(16_384);
    let mut split = Ok(());
    for chunk in data.chunks(7) {
        split = c.scan(chunk);
        if split.is_err() {
            break;
        }
    }
    assert_eq!(
        whole.map_err(|v| v.code),
        split.map_err(|v| v.code),
        "chunking changed the verdict"
    );
}
