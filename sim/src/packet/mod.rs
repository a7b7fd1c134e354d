//! Packet fidelity: every host runs a real TCP/IP stack (smoltcp) and hosts exchange
//! Ethernet/IPv4 frames over the simulated links, so loss, duplication, reordering, queueing
//! and MTU act on individual packets, and retransmission, congestion control, windows,
//! head-of-line blocking and SYN handling emerge from TCP itself. UDP datagrams travel as
//! frames too. Frames pass packet filters at each host's ingress and egress and can be
//! captured to pcap files.
//!
//! Determinism: smoltcp gets its random seed from the run's seed and its clock from the
//! host's simulated clock; nothing else feeds it.

mod conn;
mod device;
mod filter;
mod frames;
mod options;
mod pcap;
mod stack;
mod tcp;

pub(crate) use filter::Filters;
pub use filter::{BoxFilter, Hook, VerdictCounts};
pub(crate) use frames::InFlightFrame;
pub(crate) use pcap::PcapWriter;
pub use stack::PacketStats;
pub(crate) use stack::{PacketStack, StackParams};
pub(crate) use tcp::PSock;

/// How streams are simulated.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Fidelity {
    /// Reliable ordered byte streams with latency, bandwidth, window backpressure and loss
    /// as retransmission delay: fast.
    #[default]
    Stream,
    /// A smoltcp TCP/IP stack per host over packet links.
    Packet,
}
