//! testbed-sim: a seeded, single-threaded discrete-event network simulator that implements
//! testbed-model's `Runtime` and `Net` for simulated hosts, with fault injection and a hashed
//! trace. It never reads the real clock or OS entropy: the same seed gives the same run, event
//! for event, on every machine.
//!
//! Virtual time jumps from event to event (a heap ordered by `(time, sequence)`); every random
//! decision draws from a stream derived from the root seed (one per link, one per host, one
//! for the poll order of tasks ready at the same instant, one per buggify point), so adding
//! traffic on one link never shifts the draws of another.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod buggify;
mod clock;
mod config;
pub mod context;
mod control;
mod datagram;
mod events;
mod executor;
mod guard;
mod handshake;
mod host;
mod link_table;
mod packet;
mod retransmit;
mod sim;
mod slab;
mod stream;
mod stream_handles;
mod stream_options;
pub mod testing;
pub mod trace;
mod world;

pub use buggify::{buggify_bit, BuggifyPoint};
pub use clock::{MAX_DRIFT_PPM, MAX_OFFSET_NS};
pub use config::{Latency, LinkConfig, SimConfig};
pub use control::{Control, Verb, FAULT};
pub use datagram::SimDatagram;
pub use host::{Host, Sleep};
pub use packet::{BoxFilter, Fidelity, Hook, PacketStats, VerdictCounts};
pub use sim::{BoxError, Report, Sim, SimError};
pub use stream_handles::{SimListener, SimStream};
pub use testing::{assert_golden_hashes, check_determinism, check_seeds, Divergence};
