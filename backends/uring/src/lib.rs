//! testbed-uring: `model::Runtime` and `model::Net` on io_uring, thread per core (one ring and
//! one executor per worker thread). Accept, connect, recv and send are ring operations on
//! owned buffers; timers park the ring with a timed wait (IORING_FEAT_EXT_ARG); a future
//! dropped mid-operation cancels it, and the driver keeps the buffers alive until the kernel
//! is done with them. The kernel's support is probed before any worker starts.
#![deny(unsafe_code)]
#![warn(missing_docs)]

#[allow(unsafe_code)] // ring memory shared with the kernel
mod bufring;
#[allow(unsafe_code)] // submission entries point at buffers the driver keeps alive
mod driver;
mod executor;
#[allow(unsafe_code)] // file reads and sends on owned buffers
mod file;
#[allow(unsafe_code)] // registering buffers with the ring
mod fixed;
#[allow(unsafe_code)] // ring operations on owned buffers and fds
mod net;
mod probe;
mod ring_setup;
mod ring_stats;
mod send_bufs;
#[allow(unsafe_code)] // pipe setup; ring operations on fds kept open until they complete
mod splice;
mod worker;

pub use file::{send_file, send_file_copy, send_file_zc, FileSendReport};
pub use net::{UringDatagram, UringListener, UringStream};
pub use probe::{probe, Features, Unsupported};
pub use ring_stats::{RingSetup, RingStats};
pub use worker::{block_on, Builder, Sleep, Uring, Worker};
