//! testbed-stack: `model::Runtime` + `model::Net` whose TCP and UDP come from smoltcp, run on
//! one thread over any `model::PacketPort` (AF_XDP, DPDK, an in-memory pair), plus an
//! impairment [`bridge`] that forwards frames between two ports through a seeded link model.
//! It reads the wall clock (it is a backend) but draws every random choice from its seed; it
//! contains no unsafe code and never spawns threads.
//!
//! ```
//! use smoltcp::wire::Ipv4Cidr;
//! use std::net::{Ipv4Addr, SocketAddr};
//! use testbed_model::{DatagramSocket, Net, Runtime};
//! use testbed_stack::{mem::MemPort, StackBuilder};
//!
//! let (port, _wire) = MemPort::pair(64);
//! let mut stack = StackBuilder::new()
//!     .ip(Ipv4Cidr::new(Ipv4Addr::new(10, 0, 0, 1), 24))
//!     .seed(7)
//!     .build(port)
//!     .unwrap();
//! let local = stack
//!     .run(|h| async move {
//!         let sock = h.bind_datagram("10.0.0.1:0".parse().unwrap()).unwrap();
//!         h.sleep(testbed_model::Duration::from_millis(1)).await;
//!         sock.local_addr()
//!     })
//!     .unwrap();
//! assert_eq!(local.ip(), Ipv4Addr::new(10, 0, 0, 1));
//! ```
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
