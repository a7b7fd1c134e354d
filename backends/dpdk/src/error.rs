//! Typed errors, one enum per operation family. DPDK failures carry the `rte_errno` code and
//! its `rte_strerror` text as an [`Errno`].

use std::fmt;

/// A DPDK error code with its text (`rte_strerror`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Errno {
    /// The positive error number (`rte_errno`, or the negated return value of an ethdev call).
    pub code: i32,
    /// What `rte_strerror` says about it.
    pub text: String,
}

impl fmt::Display for Errno {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} (errno {})", self.text, self.code)
    }
}

/// Starting DPDK's environment abstraction layer failed.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum EalError {
    /// The crate was compiled without the `dpdk` cargo feature.
    #[error("built without the dpdk feature")]
    NotBuilt,
    /// The EAL was already initialized in this process; DPDK allows one init per process.
    #[error("the DPDK EAL is already initialized in this process (one init per process)")]
    AlreadyInitialized,
    /// An argument contains a NUL byte.
    #[error("EAL argument {0:?} contains a NUL byte")]
    BadArgument(String),
    /// More arguments than the EAL wrapper accepts.
    #[error("{given} EAL arguments, at most {max}")]
    TooManyArguments {
        /// How many were given.
        given: usize,
        /// The limit.
        max: usize,
    },
    /// `rte_eal_init` failed.
    #[error("rte_eal_init failed: {0}")]
    Init(Errno),
}

/// Creating an mbuf pool failed.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum MempoolError {
    /// The name is empty, too long (over 24 bytes) or contains a NUL byte.
    #[error("bad mempool name {0:?} (1 to 24 bytes, no NUL)")]
    BadName(String),
    /// A size is out of range.
    #[error("bad mempool size: {0}")]
    BadSize(&'static str),
    /// `rte_pktmbuf_pool_create` failed (`EEXIST`: the name is taken; `ENOMEM`: too little
    /// EAL memory).
    #[error("rte_pktmbuf_pool_create({name}) failed: {errno}")]
    Create {
        /// The pool's name.
        name: String,
        /// Why.
        errno: Errno,
    },
    /// The pool has no free mbufs.
    #[error("mempool exhausted")]
    Exhausted,
}

/// An mbuf operation failed.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum MbufError {
    /// Not enough tailroom to append.
    #[error("no room to append {wanted} bytes ({tailroom} left)")]
    NoRoom {
        /// Bytes asked for.
        wanted: usize,
        /// Bytes of tailroom left.
        tailroom: usize,
    },
}

/// An ethdev port operation failed.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PortError {
    /// No port has this name.
    #[error("no DPDK port named {0:?}")]
    NotFound(String),
    /// The port id is not a valid port.
    #[error("port {0} is not a valid DPDK port")]
    Invalid(u16),
    /// The port is already open through another [`crate::Port`] handle in this process.
    #[error("port {0} is already open in this process")]
    Busy(u16),
    /// A configuration value is out of range.
    #[error("bad port configuration: {0}")]
    BadConfig(&'static str),
    /// A DPDK call failed.
    #[error("{op} on port {port} failed: {errno}")]
    Call {
        /// The DPDK function.
        op: &'static str,
        /// The port.
        port: u16,
        /// Why.
        errno: Errno,
    },
}

/// Creating or removing a virtual device failed.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum VdevError {
    /// The name or arguments contain a NUL byte, or the name is too long.
    #[error("bad virtual device name or arguments: {0:?}")]
    BadName(String),
    /// A DPDK call failed.
    #[error("{op}({name}) failed: {errno}")]
    Call {
        /// The DPDK function.
        op: &'static str,
        /// The device.
        name: String,
        /// Why.
        errno: Errno,
    },
    /// The device was created but its port could not be found.
    #[error(transparent)]
    Port(#[from] PortError),
}

/// A [`model::PacketPort`](testbed_model::packet::PacketPort) operation over DPDK failed.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PacketPortError {
    /// A frame is longer than an mbuf can hold or than the port's MTU allows.
    #[error("frame {index} is {len} bytes, at most {max} fit")]
    FrameTooLong {
        /// Its position in the burst.
        index: usize,
        /// Its length.
        len: usize,
        /// The limit.
        max: usize,
    },
}

/// Launching work on an lcore failed.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum LaunchError {
    /// Not an enabled worker lcore (the main lcore runs the caller).
    #[error("lcore {0} is not a worker lcore of this EAL")]
    NotWorker(u32),
    /// The worker is still running an earlier job.
    #[error("lcore {0} is busy with another job")]
    Busy(u32),
    /// The job panicked.
    #[error("the job on lcore {0} panicked")]
    Panicked(u32),
}
