//! Packet-level contracts: an XDP-like [`PacketFilter`] and a burst [`PacketPort`].
//!
//! Filters are pure decision logic over a frame (the simulator runs them at a host's ingress
//! or egress; backends/xdp holds eBPF twins of the same logic). Ports move bursts of L2
//! frames (DPDK, AF_XDP, the simulator's packet fidelity).

use crate::time::Instant;

/// What a filter decided for one frame (XDP's verdicts).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum Verdict {
    /// Discard the frame.
    Drop,
    /// Hand the frame on, unchanged or as rewritten in place.
    Pass,
    /// Send the (possibly rewritten) frame back out of the interface it came in on.
    Tx,
    /// Send the frame out of another interface or to another host, by index.
    Redirect(u32),
}

/// A packet program: looks at (and may rewrite) one L2 frame and decides its fate.
pub trait PacketFilter {
    /// Decides the fate of `frame` at time `now`. May rewrite the frame in place
    /// (e.g. a load balancer rewriting the destination) but not change its length.
    fn on_packet(&mut self, now: Instant, frame: &mut [u8]) -> Verdict;
}

impl<F: FnMut(Instant, &mut [u8]) -> Verdict> PacketFilter for F {
    fn on_packet(&mut self, now: Instant, frame: &mut [u8]) -> Verdict {
        self(now, frame)
    }
}

/// A port that receives and transmits bursts of L2 frames.
pub trait PacketPort {
    /// Error type of this port.
    type Error: std::error::Error;

    /// Receives up to `max` frames, appending each to `out`; returns how many arrived.
    fn rx_burst(&mut self, out: &mut Vec<bytes::Bytes>, max: usize) -> Result<usize, Self::Error>;

    /// Queues frames for transmission; returns how many were accepted (the rest stay with the
    /// caller, as with `rte_eth_tx_burst`).
    fn tx_burst(&mut self, frames: &[bytes::Bytes]) -> Result<usize, Self::Error>;

    /// The port's MTU (largest L3 payload).
    fn mtu(&self) -> usize;
}
