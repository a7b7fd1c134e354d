//! The RPC framework (网络编程进阶主题 §4.1, done right): strict binary framing, many calls multiplexed
//! over one connection by message id with out-of-order responses, per-call deadlines that
//! travel with the request, cancellation, heartbeats, error frames with codes, JSON or compact
//! binary payloads, and typed methods declared as Rust types.

pub mod codec;
mod endpoint;
pub mod example;
pub mod frame;

pub use codec::DecodeError;
pub use endpoint::{serve, CallError, Method, RpcClient, RpcLimits, RpcServer, ServerError};
pub use frame::{CodecId, ErrorCode, FrameError, FrameHeader, Kind};
