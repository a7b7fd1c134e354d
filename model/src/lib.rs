//! testbed-model: the contracts every Testbed component is written against — virtual time
//! ([`Instant`]), seeded randomness ([`rng`]), the link model ([`link`]), the async
//! [`Runtime`] and [`Net`] traits, packet filters and ports ([`packet`]), frame views
//! ([`wire`]) and cost counters ([`cost`]); plus what the real backends share: the
//! single-thread executor core ([`local_exec`]) and the worker handle core ([`worker`]).
//! It never reads a real clock, never touches OS entropy and never performs I/O: time and
//! randomness always come in as arguments, so the simulator and real backends can both drive it.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod ack_repair;
pub mod cost;
pub mod link;
pub mod local_exec;
pub mod net;
pub mod packet;
pub mod rng;
pub mod runtime;
pub mod time;
pub mod wire;
pub mod worker;

pub use cost::CostCounters;
pub use link::{Latency, LinkConfig, LinkConfigError};
pub use net::{
    AcceptError, BindError, ConnectError, DatagramSocket, Keepalive, Listener, Net, Stream,
};
pub use rng::{Rng, SeededRng};
pub use runtime::{timeout, Elapsed, JoinError, JoinHandle, Runtime};
pub use time::{Duration, Instant};
