//! testbed-protocols: our own sans-IO protocol codecs (HTTP/1.1, WebSocket, RPC) — strict,
//! bounded, zero-copy where it matters — with servers and clients over `model::Net`, plus
//! adapters running the well-kept crates over model streams and datagrams: TLS (rustls),
//! HTTP/2 (h2), QUIC (quinn) and HTTP/3 (h3); one TLS+ALPN dispatch for HTTPS ([`https`]).
//! Codecs never perform I/O and never read a clock: bytes and `now` come in as arguments.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod bounded;
#[doc(hidden)]
pub mod fuzzing;
pub mod h2;
pub mod http1;
pub mod https;
pub mod quic;
pub mod rpc;
pub mod stop;
pub mod tls;
pub mod ws;
