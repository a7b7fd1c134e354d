//! DDoS defences (网络编程进阶主题 §5.2, §5.3) as sans-IO cores and packet filters: SYN cookies with the
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

/// Runs every DDoS filter and frame view over one arbitrary frame, checking what must hold
/// for any input: no panic, frames keep their length, rewritten frames carry valid checksums.
/// Shared by the `packet_filters` fuzz target and the test that replays its seeds on stable.
#[doc(hidden)]
pub fn exercise_filters(data: &[u8]) {
    use testbed_model::wire;
    use testbed_model::SeededRng;
    if let Some(ip) = wire::ipv4(data) {
        if let Some(t) = wire::tcp(data, &ip) {
            let _ = synproxy::mss_option(data, &t);
            let _ = t.seq_len();
        }
        let _ = wire::udp(data, &ip);
        let mut copy = data.to_vec();
        if wire::fix_checksums(&mut copy) {
            assert!(wire::checksums_valid(&copy));
        }
    }
    let now = Instant::from_secs(100);
    let proxy = synproxy::SynProxy::new(
        syncookie::SynCookies::new(&mut SeededRng::new(1)),
        synproxy::SynProxyConfig {
            ports: vec![
                80,
                u16::from_be_bytes([
                    data.get(36).copied().unwrap_or(0),
                    data.get(37).copied().unwrap_or(0),
                ]),
            ],
            ..synproxy::SynProxyConfig::default()
        },
    );
    let mut filters: Vec<Box<dyn PacketFilter>> = vec![
        Box::new(proxy.ingress()),
        Box::new(proxy.egress()),
        Box::new(udp_challenge::UdpChallenge::new(
            udp_challenge::UdpChallengeConfig {
                ports: vec![
                    53,
                    u16::from_be_bytes([
                        data.get(36).copied().unwrap_or(0),
                        data.get(37).copied().unwrap_or(0),
                    ]),
                ],
                ..udp_challenge::UdpChallengeConfig::default()
            },
            &mut SeededRng::new(2),
        )),
        Box::new(source_guard::SourceGuard::new(
            source_guard::SourceGuardConfig::default(),
            blocklist::Blocklist::shared(16),
        )),
    ];
    for f in &mut filters {
        let mut frame = data.to_vec();
        let v = f.on_packet(now, &mut frame);
        assert_eq!(frame.len(), data.len(), "a filter changed a frame's length");
        if frame != data && v != Verdict::Drop {
            assert!(
                wire::checksums_valid(&frame),
                "a rewritten frame has bad checksums"
            );
        }
    }
}
