//! testbed-xdp: XDP programs (C under `bpf/`, compiled by build.rs with clang) loaded with aya —
//! the eBPF twins of the packet filters whose models live in `distributed` — plus the
//! network-namespace and veth harness their tests and benchmarks run in, and an AF_XDP socket
//! as a `model::PacketPort` ([`XskPort`]). Plain data in (addresses, prefix lengths, nanosecond
//! costs), no dependency on the models.
#![deny(unsafe_code)]
#![warn(missing_docs)]

mod afxdp; // its submodules that touch kernel-shared memory or syscalls allow unsafe code

mod bpffs;
mod error;
mod filter;
mod lb;
pub mod netns;
mod objects;
mod prog;
mod sampler;
mod txgen;

pub use afxdp::{
    BindMode, XskConfig, XskCounters, XskError, XskKernelStats, XskMode, XskPort, TX_FRAME_MIN,
};
pub use bpffs::{ensure_mounted as ensure_bpffs, is_bpffs, BPFFS_ROOT};
pub use error::XdpError;
pub use filter::{unpin, AttachMode, Counters, FilterConfig, FilterMaps, XdpFilter, COUNTER_NAMES};
pub use lb::{LbCounters, XdpLb, LB_BACKENDS_MAX, LB_COUNTER_NAMES, LB_TABLE_MAX};
pub use sampler::{Sample, SamplerStats, XdpSampler, SNAP};
pub use txgen::Generator;

/// Whether this process can load XDP programs here: root (CAP_BPF, CAP_NET_ADMIN) and programs
/// built with clang. The error says which is missing.
pub fn available() -> Result<(), XdpError> {
    objects::object("filter")?;
    objects::object("lb")?;
    // SAFETY-free check: geteuid has no failure mode.
    if !is_root() {
        return Err(XdpError::NotPermitted(
            "loading XDP programs needs root (CAP_BPF and CAP_NET_ADMIN)".into(),
        ));
    }
    Ok(())
}

#[allow(unsafe_code)]
fn is_root() -> bool {
    // SAFETY: geteuid takes no arguments, touches no memory and cannot fail.
    unsafe { libc::geteuid() == 0 }
}
