//! Why an XDP operation failed.

/// An XDP error: what was being done and why it failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum XdpError {
    /// The program's object is empty: clang was missing when this crate was built.
    #[error("XDP program {0:?} was not built (clang missing at build time); install clang and libbpf-dev and rebuild")]
    NotBuilt(String),
    /// Not permitted here (not root, or BPF disabled).
    #[error("{0}")]
    NotPermitted(String),
    /// Loading or verifying the program failed.
    #[error("loading XDP program: {0}")]
    Load(#[from] aya::EbpfError),
    /// A program operation (load, attach, test run) failed.
    #[error("XDP program: {0}")]
    Program(#[from] aya::programs::ProgramError),
    /// A map operation failed.
    #[error("XDP map: {0}")]
    Map(#[from] aya::maps::MapError),
    /// Pinning to or reading from bpffs failed.
    #[error("bpffs pin {path}: {why}")]
    Pin {
        /// The pin path.
        path: String,
        /// What failed.
        why: String,
    },
    /// bpffs was not mounted and mounting it failed (run the command in the message as root).
    #[error("bpffs is not mounted at {path} and mounting it failed ({why}); run: mount -t bpf bpf {path}")]
    BpffsMount {
        /// The mount point.
        path: String,
        /// Why the mount failed.
        why: String,
    },
    /// The interface does not exist.
    #[error("no network interface named {0:?}")]
    NoInterface(String),
    /// Neither driver nor generic (skb) mode could be attached.
    #[error("attaching XDP to {iface}: driver mode: {driver}; skb mode: {skb}")]
    Attach {
        /// Interface.
        iface: String,
        /// Driver-mode error.
        driver: String,
        /// Skb-mode error.
        skb: String,
    },
    /// More entries than the program's map holds.
    #[error("{what}: {len} entries, the program holds at most {max}")]
    TooLarge {
        /// What was being loaded.
        what: &'static str,
        /// How many entries were given.
        len: usize,
        /// The map's capacity.
        max: usize,
    },
    /// Setting up a namespace or veth pair failed (the `ip` command's stderr).
    #[error("{0}")]
    Setup(String),
}
