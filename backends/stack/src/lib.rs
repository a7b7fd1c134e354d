//! testbed-stack: `model::Runtime` + `model::Net` whose TCP and UDP come from smoltcp, run on
//! one thread over any `model::PacketPort` (AF_XDP, DPDK, an in-memory pair), plus an
//! impairment [`bridge`] that forwards frames between two ports through a seeded link model.
//! It reads the wall clock (it is a backend) but draws every random choice from its seed; it
//! contains no unsafe code and never spawns threads.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod bridge;
mod config;
mod device;
mod error;
mod exec;
mod handle;
pub mod mem;
mod stack;
mod tcp;
mod udp;

pub use config::{StackBuilder, StackConfig};
pub use error::{BuildError, RunError};
pub use handle::{Handle, Sleep};
pub use stack::{Stack, StackStats};
pub use tcp::{StackListener, StackStream};
pub use udp::StackDatagram;
