//! Per-source rate limiting of UDP datagrams and TCP SYNs at a host's ingress, with a
//! blocklist in front and automatic blocking of sources that keep exceeding their limit.
//!
//! Limits come from the bounded [`KeyedLimiter`] (an attacker cycling through spoofed
//! sources cannot grow memory past its cap). A source's denials are themselves rate-limited:
//! past `block_after` denials per `block_window` the source is blocklisted for `block_for`,
//! and from then on its packets are dropped before any limiter runs.

use super::blocklist::{Cidr, SharedBlocklist};
use crate::limit::{Gcra, KeyedLimiter, Quota, WhenFull};
use std::net::Ipv4Addr;
use testbed_model::packet::{PacketFilter, Verdict};
use testbed_model::wire::{self, tcp_flags, IPPROTO_UDP};
use testbed_model::{Duration, Instant};

/// Source guard settings.
#[derive(Clone, Debug, PartialEq)]
pub struct SourceGuardConfig {
    /// Datagrams per source (to `udp_ports`); `None`: UDP is not limited.
    pub udp: Option<Quota>,
    /// UDP ports limited (empty: all).
    pub udp_ports: Vec<u16>,
    /// SYNs per source; `None`: SYNs are not limited.
    pub syn: Option<Quota>,
    /// Sources tracked per limiter (fail closed beyond it).
    pub max_sources: usize,
    /// Denials per `block_window` after which a source is blocklisted (0: never).
    pub block_after: u64,
    /// The window `block_after` counts in.
    pub block_window: Duration,
    /// How long an automatic block lasts.
    pub block_for: Duration,
}

impl Default for SourceGuardConfig {
    fn default() -> Self {
        SourceGuardConfig {
            udp: Some(Quota::per_second(100)),
            udp_ports: Vec::new(),
            syn: Some(Quota::per_second(20)),
            max_sources: 65_536,
            block_after: 1_000,
            block_window: Duration::from_secs(10),
            block_for: Duration::from_secs(300),
        }
    }
}

/// Counters of a [`SourceGuard`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SourceGuardStats {
    /// Dropped because the source was blocklisted.
    pub blocked: u64,
    /// UDP datagrams over their source's limit.
    pub udp_limited: u64,
    /// SYNs over their source's limit.
    pub syn_limited: u64,
    /// Sources blocklisted automatically.
    pub auto_blocked: u64,
    /// Frames passed.
    pub passed: u64,
}

/// The filter.
pub struct SourceGuard {
    cfg: SourceGuardConfig,
    udp: Option<KeyedLimiter<Ipv4Addr, Gcra>>,
    syn: Option<KeyedLimiter<Ipv4Addr, Gcra>>,
    strikes: Option<KeyedLimiter<Ipv4Addr, Gcra>>,
    blocklist: SharedBlocklist,
    stats: SourceGuardStats,
}

impl SourceGuard {
    /// A guard checking `blocklist` first (shared with whoever else blocks sources).
    pub fn new(cfg: SourceGuardConfig, blocklist: SharedBlocklist) -> SourceGuard {
        let keyed =
            |q: Quota| KeyedLimiter::new(cfg.max_sources, WhenFull::FailClosed, q, Gcra::new);
        SourceGuard {
            udp: cfg.udp.map(keyed),
            syn: cfg.syn.map(keyed),
            strikes: (cfg.block_after > 0)
                .then(|| keyed(Quota::new(cfg.block_after, cfg.block_window))),
            cfg,
            blocklist,
            stats: SourceGuardStats::default(),
        }
    }

    /// Counters so far.
    pub fn stats(&self) -> SourceGuardStats {
        self.stats
    }

    fn strike(&mut self, now: Instant, src: Ipv4Addr) {
        let Some(s) = self.strikes.as_mut() else {
            return;
        };
        if !s.check(now, &src, 1).allowed {
            let mut b = self.blocklist.lock().unwrap_or_else(|p| p.into_inner());
            if b.block(Cidr::host(src), Some(now + self.cfg.block_for))
                .is_ok()
            {
                self.stats.auto_blocked += 1;
            }
        }
    }
}

impl PacketFilter for SourceGuard {
    fn on_packet(&mut self, now: Instant, frame: &mut [u8]) -> Verdict {
        let Some(ip) = wire::ipv4(frame) else {
            return Verdict::Pass;
        };
        if self
            .blocklist
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .is_blocked(now, ip.src)
        {
            self.stats.blocked += 1;
            return Verdict::Drop;
        }
        let limited = if ip.proto == IPPROTO_UDP {
            match (wire::udp(frame, &ip), self.udp.as_mut()) {
                (Some(u), Some(l))
                    if self.cfg.udp_ports.is_empty()
                        || self.cfg.udp_ports.contains(&u.dst_port) =>
                {
                    let deny = !l.check(now, &ip.src, 1).allowed;
                    self.stats.udp_limited += deny as u64;
                    deny
                }
                _ => false,
            }
        } else {
            match (wire::tcp(frame, &ip), self.syn.as_mut()) {
                (Some(t), Some(l))
                    if t.flags & (tcp_flags::SYN | tcp_flags::ACK) == tcp_flags::SYN =>
                {
                    let deny = !l.check(now, &ip.src, 1).allowed;
                    self.stats.syn_limited += deny as u64;
                    deny
                }
                _ => false,
            }
        };
        if limited {
            self.strike(now, ip.src);
            return Verdict::Drop;
        }
        self.stats.passed += 1;
        Verdict::Pass
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ddos::blocklist::Blocklist;
    use std::net::SocketAddrV4;

    fn udp_from(a: u32) -> Vec<u8> {
        wire::build_udp(
            SocketAddrV4::new(Ipv4Addr::from(a), 5000),
            SocketAddrV4::new(Ipv4Addr::new(10, 0, 0, 1), 53),
            b"q",
        )
    }

    #[test]
    fn each_source_gets_its_own_limit_and_persistent_offenders_are_blocked() {
        let bl = Blocklist::shared(100);
        let mut g = SourceGuard::new(
            SourceGuardConfig {
                udp: Some(Quota::per_second(10)),
                block_after: 50,
                block_window: Duration::from_secs(10),
                block_for: Duration::from_secs(60),
                ..SourceGuardConfig::default()
            },
            bl.clone(),
        );
        let t = Instant::from_secs(1);
        let passed = |g: &mut SourceGuard, a: u32, n: usize| {
            (0..n)
                .filter(|_| g.on_packet(t, &mut udp_from(a)) == Verdict::Pass)
                .count()
        };
        assert_eq!(passed(&mut g, 1, 30), 10, "burst of 10, then limited");
        assert_eq!(passed(&mut g, 2, 5), 5, "another source is unaffected");
        assert_eq!(g.stats().auto_blocked, 0);
        passed(&mut g, 1, 100);
        assert_eq!(g.stats().auto_blocked, 1);
        assert!(bl.lock().unwrap().is_blocked(t, Ipv4Addr::from(1)));
        // Blocked: dropped even after its rate limit has long refilled; free again later.
        let later = Instant::from_secs(30);
        assert_eq!(g.on_packet(later, &mut udp_from(1)), Verdict::Drop);
        assert_eq!(
            g.on_packet(Instant::from_secs(62), &mut udp_from(1)),
            Verdict::Pass
        );
    }
}
