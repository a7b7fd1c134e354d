//! testbed-kernel: `model::Runtime` and `model::Net` on real kernel sockets through tokio, in
//! the thread-per-core shape (one current-thread runtime per worker, SO_REUSEPORT listeners).
//! It is a real-I/O backend: it reads the real clock and makes syscalls, and it promises no
//! determinism beyond seeded `rng()` streams.
#![deny(unsafe_code)]
#![warn(missing_docs)]

#[allow(unsafe_code)] // openat2(2), with a SAFETY note
pub mod beneath;
mod net;
mod runtime;
#[allow(unsafe_code)]
// raw syscalls (sendfile, splice, setsockopt, getrusage), each with a SAFETY note
pub mod zerocopy;

pub use net::{KernelDatagram, KernelListener, KernelStream, PortReservation};
pub use runtime::{block_on, Builder, Kernel, Worker};

/// A seed from the operating system's entropy (`/dev/urandom`), for real runs that should not
/// repeat (test certificates made by `testbed cert`, for instance).
pub fn os_seed() -> std::io::Result<u64> {
    use std::io::Read;
    let mut b = [0u8; 8];
    std::fs::File::open("/dev/urandom")?.read_exact(&mut b)?;
    Ok(u64::from_le_bytes(b))
}
