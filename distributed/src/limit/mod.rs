//! Rate limiting: one trait, [`RateLimiter::check`]`(now, cost) -> Decision`, and the classic
//! algorithms behind it.
//!
//! ## Burst semantics (identical where the algorithms coincide)
//! A [`Quota`] of `limit` per `period` with `burst` b means: one unit of credit is earned every
//! emission interval `T = period / limit` (integer nanoseconds, rounded down), at most `b`
//! units are banked, and a fresh limiter starts full. [`Gcra`], [`TokenBucket`] and the
//! [`LeakyBucket`] meter are three views of exactly this rule and make identical decisions for
//! every input sequence (a property test holds them to it): over any interval of length t
//! they admit at most `b + t / T` units. The window limiters ([`FixedWindow`],
//! [`SlidingLog`], [`SlidingCounter`]) count `limit` per `period` and ignore `burst`.
//!
//! A request with `cost` 0 is a peek: it changes nothing and reports the state. A request
//! costing more than the limiter can ever bank is denied with `retry_after == Duration::MAX`.

mod buckets;
mod gcra;
mod keyed;
mod windows;

pub use buckets::{LeakyBucket, Shaper, ShaperError, TokenBucket};
pub use gcra::{AtomicGcra, Gcra};
pub use keyed::{KeyedLimiter, KeyedStats, QuotaError, WhenFull};
pub use windows::{FixedWindow, SlidingCounter, SlidingLog};

use testbed_model::{Duration, Instant};

/// How much traffic a limiter admits.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Quota {
    /// Units per `period`.
    pub limit: u64,
    /// The period `limit` refers to.
    pub period: Duration,
    /// Units that may be banked and spent at once (bucket algorithms).
    pub burst: u64,
}

impl Quota {
    /// `limit` units per `period`, burst `limit`.
    ///
    /// # Panics
    /// If `limit` is 0 or `period` is zero.
    pub fn new(limit: u64, period: Duration) -> Quota {
        assert!(
            limit > 0 && !period.is_zero(),
            "a quota needs a positive limit and period"
        );
        Quota {
            limit,
            period,
            burst: limit,
        }
    }
    /// `n` per second, burst `n`.
    pub fn per_second(n: u64) -> Quota {
        Quota::new(n, Duration::from_secs(1))
    }
    /// `n` per minute, burst `n`.
    pub fn per_minute(n: u64) -> Quota {
        Quota::new(n, Duration::from_secs(60))
    }
    /// The same rate with burst `b` (at least 1).
    pub fn with_burst(self, b: u64) -> Quota {
        Quota {
            burst: b.max(1),
            ..self
        }
    }
    /// `T`: nanoseconds per unit of credit (at least 1).
    pub fn emission_interval_ns(&self) -> u64 {
        (u64::try_from(self.period.as_nanos()).unwrap_or(u64::MAX) / self.limit).max(1)
    }
}

/// The outcome of one [`RateLimiter::check`], with what a `RateLimit-*` header needs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Decision {
    /// Whether the request was admitted (and its cost charged).
    pub allowed: bool,
    /// The limit in force (burst for buckets, per-window limit for windows).
    pub limit: u64,
    /// Units that could still be admitted right now, after this decision.
    pub remaining: u64,
    /// When denied: how long until a request of this cost would be admitted (`MAX`: never).
    /// Zero when allowed.
    pub retry_after: Duration,
    /// How long until the limiter is back to its full, idle state.
    pub reset_after: Duration,
}

impl Decision {
    /// `RateLimit-*` style headers (draft-ietf-httpapi-ratelimit-headers), seconds rounded up.
    pub fn headers(&self) -> [(&'static str, u64); 3] {
        let ceil = |d: Duration| d.as_secs() + u64::from(d.subsec_nanos() > 0);
        [
            ("RateLimit-Limit", self.limit),
            ("RateLimit-Remaining", self.remaining),
            ("RateLimit-Reset", ceil(self.reset_after)),
        ]
    }
}

/// A rate limiter: decides at `now` whether a request of `cost` units may pass.
pub trait RateLimiter {
    /// Decides, and charges `cost` if admitted.
    fn check(&mut self, now: Instant, cost: u64) -> Decision;
    /// The quota in force.
    fn quota(&self) -> Quota;
    /// Changes the quota from now on, keeping what was already spent where the algorithm can.
    fn set_quota(&mut self, now: Instant, quota: Quota);
    /// Whether the limiter is in its initial, full state at `now` (so a keyed store may drop it
    /// without changing any future decision).
    fn is_idle(&self, now: Instant) -> bool;
}

pub(crate) fn ns(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}
