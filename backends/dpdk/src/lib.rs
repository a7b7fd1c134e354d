//! testbed-dpdk: DPDK ports for the testbed — a safe wrapper over the EAL, mbuf pools, ethdev
//! ports and virtual devices, a `model::PacketPort` over a port, and an l2fwd with MAC rewriting.
//! All `unsafe` stays in the FFI modules; the public API is safe. Without the `dpdk` cargo feature
//! (off by default) nothing links DPDK and [`available`] says "built without the dpdk feature".
#![deny(unsafe_code)]
#![warn(missing_docs)]

mod error;
pub mod mac;
pub mod netns;

#[cfg(feature = "dpdk")]
mod sys;

#[cfg(feature = "dpdk")]
mod eal;
#[cfg(feature = "dpdk")]
pub mod l2fwd;
#[cfg(feature = "dpdk")]
mod lcore;
#[cfg(feature = "dpdk")]
mod mbuf;
#[cfg(feature = "dpdk")]
mod mempool;
#[cfg(feature = "dpdk")]
mod packet_port;
#[cfg(feature = "dpdk")]
mod port;
#[cfg(feature = "dpdk")]
mod vdev;

#[cfg(not(feature = "dpdk"))]
mod stub;

pub use error::{
    EalError, Errno, LaunchError, MbufError, MempoolError, PacketPortError, PortError, VdevError,
};
pub use mac::MacAddr;

#[cfg(feature = "dpdk")]
pub use eal::{lcore_id, Eal};
#[cfg(feature = "dpdk")]
pub use lcore::LcoreJob;
#[cfg(feature = "dpdk")]
pub use mbuf::Mbuf;
#[cfg(feature = "dpdk")]
pub use mempool::{Mempool, MempoolConfig};
#[cfg(feature = "dpdk")]
pub use packet_port::DpdkPacketPort;
#[cfg(feature = "dpdk")]
pub use port::{Link, Port, PortConfig, PortId, Stats, BURST_MAX};
#[cfg(feature = "dpdk")]
pub use vdev::{RingPair, Vdev};

#[cfg(not(feature = "dpdk"))]
pub use stub::Eal;

/// Whether DPDK can be used from this build: `Ok` with the `dpdk` feature, otherwise
/// [`EalError::NotBuilt`]. (Whether the EAL then starts depends on its arguments and on
/// privileges; [`Eal::init`] reports that.)
pub fn available() -> Result<(), EalError> {
    if cfg!(feature = "dpdk") {
        Ok(())
    } else {
        Err(EalError::NotBuilt)
    }
}

/// EAL arguments that need no hugepages, no PCI devices and no shared files (`--no-shconf`,
/// so several DPDK processes can run at once), logging only warnings: the base the tests and
/// benchmarks add `--vdev`s to.
pub const EAL_ARGS_VIRTUAL: &[&str] = &[
    "--no-huge",
    "--no-pci",
    "--no-shconf",
    "--no-telemetry",
    "-m",
    "512",
    "--log-level=lib.*:warning",
];
