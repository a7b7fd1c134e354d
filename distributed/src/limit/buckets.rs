//! Token bucket and leaky bucket. Both are kept in integer nanoseconds of credit so that they
//! decide exactly like [`super::Gcra`] (see the module docs on burst semantics).

use super::{Decision, Quota, RateLimiter};
use testbed_model::{Duration, Instant};

fn capacity(q: &Quota) -> u64 {
    q.emission_interval_ns().saturating_mul(q.burst)
}

/// Token bucket: `tokens` (as nanoseconds of credit, `T` per token) refill continuously up
/// to `burst` tokens; a request takes `cost` tokens or is denied.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TokenBucket {
    quota: Quota,
    credit: u64,
    last: u64,
}

impl TokenBucket {
    /// A full bucket.
    pub fn new(quota: Quota) -> TokenBucket {
        TokenBucket {
            quota,
            credit: capacity(&quota),
            last: 0,
        }
    }

    fn refill(&mut self, now: u64) {
        if now > self.last {
            self.credit = self
                .credit
                .saturating_add(now - self.last)
                .min(capacity(&self.quota));
            self.last = now;
        }
    }

    /// Whole tokens available at `now` (without charging anything).
    pub fn tokens(&self, now: Instant) -> u64 {
        let mut b = self.clone();
        b.refill(now.as_nanos());
        b.credit / self.quota.emission_interval_ns()
    }
}

impl RateLimiter for TokenBucket {
    fn check(&mut self, now: Instant, cost: u64) -> Decision {
        let now = now.as_nanos();
        self.refill(now);
        let t = self.quota.emission_interval_ns();
        let cap = capacity(&self.quota);
        let need = t.saturating_mul(cost);
        let limit = self.quota.burst;
        let reset = |credit: u64| Duration::from_nanos(cap - credit);
        if need > cap {
            return Decision {
                allowed: false,
                limit,
                remaining: self.credit / t,
                retry_after: Duration::MAX,
                reset_after: reset(self.credit),
            };
        }
        if cost > 0 && need <= self.credit {
            self.credit -= need;
            return Decision {
                allowed: true,
                limit,
                remaining: self.credit / t,
                retry_after: Duration::ZERO,
                reset_after: reset(self.credit),
            };
        }
        let allowed = cost == 0;
        let retry_after = if allowed {
            Duration::ZERO
        } else {
            Duration::from_nanos(need - self.credit)
        };
        Decision {
            allowed,
            limit,
            remaining: self.credit / t,
            retry_after,
            reset_after: reset(self.credit),
        }
    }
    fn quota(&self) -> Quota {
        self.quota
    }
    /// Keeps the spent credit (capacity − credit), clamped to the new capacity.
    fn set_quota(&mut self, now: Instant, quota: Quota) {
        self.refill(now.as_nanos());
        let spent = capacity(&self.quota) - self.credit;
        let cap = capacity(&quota);
        self.credit = cap - spent.min(cap);
        self.quota = quota;
    }
    fn is_idle(&self, now: Instant) -> bool {
        let mut b = self.clone();
        b.refill(now.as_nanos());
        b.credit == capacity(&b.quota)
    }
}

/// Leaky bucket as a meter: the bucket's `level` drains at the quota's rate; a request adds
/// `cost` units and is denied if that would overflow `burst` units.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LeakyBucket {
    quota: Quota,
    level: u64,
    last: u64,
}

impl LeakyBucket {
    /// An empty bucket.
    pub fn new(quota: Quota) -> LeakyBucket {
        LeakyBucket {
            quota,
            level: 0,
            last: 0,
        }
    }
    fn drain(&mut self, now: u64) {
        if now > self.last {
            self.level = self.level.saturating_sub(now - self.last);
            self.last = now;
        }
    }
}

impl RateLimiter for LeakyBucket {
    fn check(&mut self, now: Instant, cost: u64) -> Decision {
        let now = now.as_nanos();
        self.drain(now);
        let t = self.quota.emission_interval_ns();
        let cap = capacity(&self.quota);
        let add = t.saturating_mul(cost);
        let limit = self.quota.burst;
        let free = |level: u64| (cap - level) / t;
        if add > cap {
            return Decision {
                allowed: false,
                limit,
                remaining: free(self.level),
                retry_after: Duration::MAX,
                reset_after: Duration::from_nanos(self.level),
            };
        }
        if self.level + add <= cap {
            self.level += add;
            return Decision {
                allowed: true,
                limit,
                remaining: free(self.level),
                retry_after: Duration::ZERO,
                reset_after: Duration::from_nanos(self.level),
            };
        }
        Decision {
            allowed: false,
            limit,
            remaining: free(self.level),
            retry_after: Duration::from_nanos(self.level + add - cap),
            reset_after: Duration::from_nanos(self.level),
        }
    }
    fn quota(&self) -> Quota {
        self.quota
    }
    fn set_quota(&mut self, now: Instant, quota: Quota) {
        self.drain(now.as_nanos());
        self.level = self.level.min(capacity(&quota));
        self.quota = quota;
    }
    fn is_idle(&self, now: Instant) -> bool {
        self.level <= now.as_nanos().saturating_sub(self.last)
    }
}

/// Why [`Shaper::shape`] refused a request.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ShaperError {
    /// Admitting it would make it wait longer than the queue allows.
    #[error("queue full: the request would wait {wait:?}, more than the allowed {max_wait:?}")]
    QueueFull {
        /// How long it would have waited.
        wait: Duration,
        /// The bound.
        max_wait: Duration,
    },
}

/// Leaky bucket as a shaper: every request is admitted but spaced out at the quota's rate;
/// [`Shaper::shape`] says how long to hold it. A bounded queue: requests that would wait
/// longer than `max_wait` are refused.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Shaper {
    interval_ns: u64,
    max_wait: Duration,
    next_free: u64,
}

impl Shaper {
    /// Spaces units `quota.emission_interval` apart; refuses waits beyond `max_wait`.
    pub fn new(quota: Quota, max_wait: Duration) -> Shaper {
        Shaper {
            interval_ns: quota.emission_interval_ns(),
            max_wait,
            next_free: 0,
        }
    }

    /// The delay after which the request (of `cost` units) may be sent.
    pub fn shape(&mut self, now: Instant, cost: u64) -> Result<Duration, ShaperError> {
        let now = now.as_nanos();
        let start = self.next_free.max(now);
        let wait = Duration::from_nanos(start - now);
        if wait > self.max_wait {
            return Err(ShaperError::QueueFull {
                wait,
                max_wait: self.max_wait,
            });
        }
        self.next_free = start + self.interval_ns.saturating_mul(cost);
        Ok(wait)
    }

    /// Time until the queue is empty.
    pub fn backlog(&self, now: Instant) -> Duration {
        Duration::from_nanos(self.next_free.saturating_sub(now.as_nanos()))
    }
}
