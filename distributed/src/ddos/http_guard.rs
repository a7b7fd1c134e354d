//! HTTP-flood defence as a sans-IO decision: per-client rate limits, automatic blocking of
//! clients that keep exceeding them (into a blocklist a packet filter can share), and a
//! cookie challenge — a client without a valid cookie is answered cheaply with one
//! (`Set-Cookie` plus a redirect to the same URL, which a browser follows carrying the
//! cookie), so flooding tools that do not keep cookies never reach the expensive handler.
//!
//! The server calls [`HttpGuard::check`] before doing any work for a request and answers
//! per the [`HttpDecision`].

use super::blocklist::{Cidr, SharedBlocklist};
use crate::limit::{Gcra, KeyedLimiter, Quota, WhenFull};
use siphasher::sip::SipHasher24;
use std::hash::Hasher;
use std::net::Ipv4Addr;
use testbed_model::{Duration, Instant, Rng};

/// Settings.
#[derive(Clone, Debug, PartialEq)]
pub struct HttpGuardConfig {
    /// Requests per client (challenged ones included).
    pub per_client: Quota,
    /// Clients tracked (fail closed beyond it).
    pub max_clients: usize,
    /// Limited requests per `block_window` after which the client is blocklisted (0: never).
    pub block_after: u64,
    /// The window `block_after` counts in.
    pub block_window: Duration,
    /// How long an automatic block lasts.
    pub block_for: Duration,
    /// Require the challenge cookie.
    pub challenge: bool,
    /// The cookie's name.
    pub cookie_name: String,
    /// How long a cookie stays valid (accepted for up to two such periods).
    pub cookie_period: Duration,
}

impl Default for HttpGuardConfig {
    fn default() -> Self {
        HttpGuardConfig {
            per_client: Quota::per_second(20).with_burst(40),
            max_clients: 65_536,
            block_after: 100,
            block_window: Duration::from_secs(10),
            block_for: Duration::from_secs(600),
            challenge: true,
            cookie_name: "tb_challenge".into(),
            cookie_period: Duration::from_secs(3600),
        }
    }
}

/// What to do with a request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum HttpDecision {
    /// Serve it.
    Serve,
    /// Answer with a redirect to the same URL setting this `Set-Cookie` value.
    Challenge {
        /// The `Set-Cookie` header value.
        set_cookie: String,
    },
    /// Over the client's limit: 429 with `Retry-After`.
    Limited {
        /// When the client may try again.
        retry_after: Duration,
    },
    /// The client is blocklisted: close the connection without an answer.
    Blocked,
}

/// Counters.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct HttpGuardStats {
    /// Requests served.
    pub served: u64,
    /// Challenges sent.
    pub challenged: u64,
    /// Requests limited (429).
    pub limited: u64,
    /// Requests of blocklisted clients.
    pub blocked: u64,
    /// Clients blocklisted automatically.
    pub auto_blocked: u64,
}

/// The guard.
pub struct HttpGuard {
    cfg: HttpGuardConfig,
    key: (u64, u64),
    limiter: KeyedLimiter<Ipv4Addr, Gcra>,
    strikes: Option<KeyedLimiter<Ipv4Addr, Gcra>>,
    blocklist: SharedBlocklist,
    stats: HttpGuardStats,
}

impl HttpGuard {
    /// A guard keyed from `rng`, blocking into `blocklist`.
    pub fn new(cfg: HttpGuardConfig, blocklist: SharedBlocklist, rng: &mut impl Rng) -> HttpGuard {
        HttpGuard {
            key: (rng.next_u64(), rng.next_u64()),
            limiter: KeyedLimiter::new(
                cfg.max_clients,
                WhenFull::FailClosed,
                cfg.per_client,
                Gcra::new,
            ),
            strikes: (cfg.block_after > 0).then(|| {
                KeyedLimiter::new(
                    cfg.max_clients,
                    WhenFull::FailClosed,
                    Quota::new(cfg.block_after, cfg.block_window),
                    Gcra::new,
                )
            }),
            cfg,
            blocklist,
            stats: HttpGuardStats::default(),
        }
    }

    /// Counters so far.
    pub fn stats(&self) -> HttpGuardStats {
        self.stats
    }

    fn token(&self, client: Ipv4Addr, epoch: u64) -> String {
        let mut h = SipHasher24::new_with_keys(self.key.0, self.key.1);
        h.write_u32(u32::from(client));
        h.write_u64(epoch);
        format!("{:016x}", h.finish())
    }

    /// Whether a `Cookie` header value carries a valid challenge cookie for `client`.
    fn has_cookie(&self, now: Instant, client: Ipv4Addr, cookie_header: Option<&[u8]>) -> bool {
        let Some(h) = cookie_header.and_then(|h| std::str::from_utf8(h).ok()) else {
            return false;
        };
        let epoch = now.as_nanos() / self.cfg.cookie_period.as_nanos() as u64;
        let want = [
            self.token(client, epoch),
            self.token(client, epoch.saturating_sub(1)),
        ];
        h.split(';').any(|kv| {
            kv.trim()
                .split_once('=')
                .is_some_and(|(k, v)| k == self.cfg.cookie_name && want.iter().any(|w| w == v))
        })
    }

    /// Decides a request of `client` carrying `cookie_header` (the `Cookie` field, if any).
    pub fn check(
        &mut self,
        now: Instant,
        client: Ipv4Addr,
        cookie_header: Option<&[u8]>,
    ) -> HttpDecision {
        if self
            .blocklist
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .is_blocked(now, client)
        {
            self.stats.blocked += 1;
            return HttpDecision::Blocked;
        }
        let d = self.limiter.check(now, &client, 1);
        if !d.allowed {
            self.stats.limited += 1;
            if let Some(s) = self.strikes.as_mut() {
                if !s.check(now, &client, 1).allowed {
                    let mut b = self.blocklist.lock().unwrap_or_else(|p| p.into_inner());
                    if b.block(Cidr::host(client), Some(now + self.cfg.block_for))
                        .is_ok()
                    {
                        self.stats.auto_blocked += 1;
                    }
                }
            }
            return HttpDecision::Limited {
                retry_after: d.retry_after,
            };
        }
        if self.cfg.challenge && !self.has_cookie(now, client, cookie_header) {
            self.stats.challenged += 1;
            let epoch = now.as_nanos() / self.cfg.cookie_period.as_nanos() as u64;
            return HttpDecision::Challenge {
                set_cookie: format!(
                    "{}={}; Path=/; HttpOnly; Max-Age={}",
                    self.cfg.cookie_name,
                    self.token(client, epoch),
                    self.cfg.cookie_period.as_secs()
                ),
            };
        }
        self.stats.served += 1;
        HttpDecision::Serve
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ddos::blocklist::Blocklist;
    use testbed_model::SeededRng;

    fn guard(cfg: HttpGuardConfig) -> (HttpGuard, SharedBlocklist) {
        let bl = Blocklist::shared(100);
        (HttpGuard::new(cfg, bl.clone(), &mut SeededRng::new(1)), bl)
    }

    fn cookie_of(d: &HttpDecision) -> String {
        match d {
            HttpDecision::Challenge { set_cookie } => {
                set_cookie.split(';').next().unwrap().to_string()
            }
            other => panic!("expected a challenge, got {other:?}"),
        }
    }

    #[test]
    fn a_client_with_the_cookie_is_served_and_one_without_is_challenged() {
        let (mut g, _) = guard(HttpGuardConfig::default());
        let ip = Ipv4Addr::new(10, 0, 0, 5);
        let now = Instant::from_secs(10);
        let c = cookie_of(&g.check(now, ip, None));
        assert_eq!(
            g.check(now, ip, Some(format!("a=b; {c}").as_bytes())),
            HttpDecision::Serve
        );
        // Another client cannot use it.
        let other = Ipv4Addr::new(10, 0, 0, 6);
        assert!(matches!(
            g.check(now, other, Some(c.as_bytes())),
            HttpDecision::Challenge { .. }
        ));
        // Garbage cookies are challenges, not errors.
        assert!(matches!(
            g.check(now, other, Some(b"\xff\xfe=")),
            HttpDecision::Challenge { .. }
        ));
    }

    #[test]
    fn hammering_clients_are_limited_then_blocked() {
        let (mut g, bl) = guard(HttpGuardConfig {
            per_client: Quota::per_second(10),
            block_after: 20,
            challenge: false,
            ..HttpGuardConfig::default()
        });
        let ip = Ipv4Addr::new(10, 0, 0, 7);
        let now = Instant::from_secs(1);
        let served = (0..10)
            .filter(|_| g.check(now, ip, None) == HttpDecision::Serve)
            .count();
        assert_eq!(served, 10);
        assert!(matches!(
            g.check(now, ip, None),
            HttpDecision::Limited { .. }
        ));
        for _ in 0..30 {
            g.check(now, ip, None);
        }
        assert_eq!(g.check(now, ip, None), HttpDecision::Blocked);
        assert!(bl.lock().unwrap().is_blocked(now, ip));
        assert_eq!(g.stats().auto_blocked, 1);
        // A polite client is unaffected.
        assert_eq!(
            g.check(now, Ipv4Addr::new(10, 0, 0, 8), None),
            HttpDecision::Serve
        );
    }
}
