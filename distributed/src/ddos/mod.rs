//! DDoS defences (seed §5.2, §5.3) as sans-IO cores and packet filters: SYN cookies with the
//! Linux encoding, a stateless SYN proxy, per-source rate limiting for UDP and SYNs, address
//! blocklists with expiry and automatic blocking, a UDP challenge–response for unverified
//! sources, and an HTTP-level guard (per-client limits and a cookie challenge).
//!
//! The filters implement `model::PacketFilter`: the simulator runs them at a host's ingress
//! and egress in packet fidelity; backends/xdp holds eBPF twins of the same logic.

pub mod syncookie;
pub mod synproxy;
