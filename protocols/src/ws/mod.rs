//! WebSocket (RFC 6455) with permessage-deflate (RFC 7692): the opening handshake, a
//! sans-IO frame codec, a message layer (fragmentation with interleaved control frames,
//! incremental UTF-8 validation, size limits, the close handshake), and an async endpoint
//! over any `model::Net` stream.

mod deflate;
mod endpoint;
mod frame;
mod handshake;
mod message;

pub use deflate::Deflate;
pub use endpoint::{accept, accept_within, connect, connect_over, Next, WsError, WsStream};
pub use frame::{decode_frame, encode_frame, FrameError, FrameHead, OpCode};
pub use handshake::{
    accept_key, client_request, server_response, validate_client_request, HandshakeError,
    Negotiated,
};
pub use message::{CloseCode, Event, MessageLayer, Role, WsLimits};
