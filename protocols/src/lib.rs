//! testbed-protocols: our own sans-IO protocol codecs — strict, bounded, zero-copy where it
//! matters — and (in later steps) servers and clients over `model::Net`.
//! Codecs never perform I/O and never read a clock: bytes and `now` come in as arguments.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod http1;
pub mod rpc;
pub mod ws;
