//! The stack's own errors: building it from a configuration, and running it over a port.

/// Why [`crate::StackBuilder::build`] refused a configuration.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum BuildError {
    /// No interface address was given ([`crate::StackBuilder::ip`]).
    #[error("no interface address: call StackBuilder::ip")]
    NoAddress,
    /// The interface address is unspecified, multicast or broadcast.
    #[error("interface address {0} is not a unicast address")]
    BadAddress(std::net::Ipv4Addr),
    /// The MAC address is a multicast (group) address or all zeros.
    #[error("MAC address is not a unicast address")]
    BadMac,
    /// The gateway is not inside the interface's subnet.
    #[error("gateway {0} is not on the interface's subnet")]
    GatewayOffLink(std::net::Ipv4Addr),
    /// The ephemeral port range is empty or starts at 0.
    #[error("ephemeral port range {lo}..={hi} is empty or includes port 0")]
    EphemeralRange {
        /// First port.
        lo: u16,
        /// Last port.
        hi: u16,
    },
    /// A size is outside what the stack accepts (the field's name and the bounds).
    #[error("{field} = {value} is outside {min}..={max}")]
    OutOfRange {
        /// Which setting.
        field: &'static str,
        /// The value given.
        value: usize,
        /// Smallest accepted.
        min: usize,
        /// Largest accepted.
        max: usize,
    },
    /// The port's MTU is too small to carry IPv4 + TCP (at least 576 bytes).
    #[error("port MTU {0} is below 576 bytes")]
    MtuTooSmall(usize),
}

/// Why [`crate::Stack::run`] stopped before its future completed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RunError<E: std::error::Error + 'static> {
    /// The packet port failed on receive or transmit.
    #[error("packet port: {0}")]
    Port(#[source] E),
}
