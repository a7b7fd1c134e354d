//! Why an AF_XDP port operation failed.

/// An AF_XDP port error: what was being done and why it failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum XskError {
    /// A configuration value is out of its bounds.
    #[error("AF_XDP config: {field} = {value}: {rule}")]
    Config {
        /// The field.
        field: &'static str,
        /// Its value.
        value: u64,
        /// The rule it breaks.
        rule: &'static str,
    },
    /// The interface is missing or unreadable.
    #[error("interface {iface:?}: {why}")]
    Interface {
        /// The interface name as given.
        iface: String,
        /// What went wrong.
        why: String,
    },
    /// A system call failed.
    #[error("AF_XDP {op}: {}", std::io::Error::from_raw_os_error(*errno))]
    Sys {
        /// The call and its purpose, e.g. "setsockopt(XDP_UMEM_REG)".
        op: &'static str,
        /// The errno it returned.
        errno: i32,
    },
    /// The kernel's AF_XDP ABI is not the one this code speaks.
    #[error("AF_XDP ABI: {0}")]
    Abi(String),
    /// Loading, attaching or filling the redirect program's map failed.
    #[error("AF_XDP redirect program: {0}")]
    Program(String),
    /// A frame handed to `tx_burst` cannot be sent by this port; nothing of the burst was
    /// queued.
    #[error("tx frame {index} is {len} bytes; this port sends {min}..={max}")]
    FrameLength {
        /// Its index in the burst.
        index: usize,
        /// Its length.
        len: usize,
        /// Shortest sendable frame (an Ethernet header).
        min: usize,
        /// Longest sendable frame (MTU + Ethernet header + one VLAN tag, at most a UMEM frame).
        max: usize,
    },
}

impl XskError {
    pub(crate) fn sys(op: &'static str, e: std::io::Error) -> XskError {
        XskError::Sys {
            op,
            errno: e.raw_os_error().unwrap_or(libc::EIO),
        }
    }
}

impl From<crate::XdpError> for XskError {
    fn from(e: crate::XdpError) -> XskError {
        XskError::Program(e.to_string())
    }
}
