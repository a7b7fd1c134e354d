//! testbed-model: the contracts every Testbed component is written against — virtual time
//! ([`Instant`]), seeded randomness ([`rng`]), the async [`Runtime`] and [`Net`] traits, packet
//! filters and ports ([`packet`]), frame views ([`wire`]) and cost counters ([`cost`]).
//! It never reads a real clock, never touches OS entropy and never performs I/O: time and
//! randomness always come in as arguments, so the simulator and real backends can both drive it.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod ack_repair;
pub mod cost;
pub mod net;
pub mod packet;
pub mod rng;
pub mod runtime;
pub mod time;
pub mod wire;

pub use cost::CostCounters;
pub use net::{AcceptError, BindError, ConnectError, DatagramSocket, Listener, Net, Stream};
pub use rng::{Rng, SeededRng};
pub use runtime::{timeout, Elapsed, JoinError, JoinHandle, Runtime};
pub use time::{Duration, Instant};
