//! DDoS defences (seed §5.2, §5.3) as sans-IO cores and packet filters: SYN cookies with the
//! Linux encoding, a stateless SYN proxy, per-source rate limiting for UDP and SYNs, address
//! blocklists with expiry and automatic blocking, a UDP challenge–response for unverified
//! sources, and an HTTP-level guard (per-client limits and a cookie challenge).
//!
//! The filters implement `model::PacketFilter`: the simulator runs them at a host's ingress
//! and egress in packet fidelity; backends/xdp holds eBPF twins of the same logic.

pub mod blocklist;
pub mod http_guard;
pub mod source_guard;
pub mod syncookie;
pub mod synproxy;
pub mod udp_challenge;

use testbed_model::packet::{PacketFilter, Verdict};
use testbed_model::Instant;

/// Filters run in order at one hook; the first verdict other than `Pass` wins.
#[derive(Default)]
pub struct Chain(pub Vec<Box<dyn PacketFilter + Send>>);

impl Chain {
    /// Adds a filter at the end.
    pub fn then(mut self, f: impl PacketFilter + Send + 'static) -> Chain {
        self.0.push(Box::new(f));
        self
    }
}

impl PacketFilter for Chain {
    fn on_packet(&mut self, now: Instant, frame: &mut [u8]) -> Verdict {
        for f in &mut self.0 {
            match f.on_packet(now, frame) {
                Verdict::Pass => {}
                v => return v,
            }
        }
        Verdict::Pass
    }
}
