//! Window limiters: `limit` units per `period` window. [`FixedWindow`] (cheap; admits up to
//! 2×limit across a window boundary), [`SlidingLog`] (exact: never more than `limit` in any
//! window of length `period`; memory bounded by `limit` entries) and [`SlidingCounter`]
//! (approximation weighting the previous window by its overlap).

use super::{ns, Decision, Quota, RateLimiter};
use std::collections::VecDeque;
use testbed_model::{Duration, Instant};

fn too_costly(limit: u64, remaining: u64, reset: u64) -> Decision {
    Decision {
        allowed: false,
        limit,
        remaining,
        retry_after: Duration::MAX,
        reset_after: Duration::from_nanos(reset),
    }
}

/// A peek (cost 0: allowed, nothing charged) or a denial that may pass in `wait_ns`.
fn not_charged(cost: u64, limit: u64, remaining: u64, wait_ns: u64, reset_ns: u64) -> Decision {
    let allowed = cost == 0;
    let retry_after = if allowed {
        Duration::ZERO
    } else {
        Duration::from_nanos(wait_ns)
    };
    Decision {
        allowed,
        limit,
        remaining,
        retry_after,
        reset_after: Duration::from_nanos(reset_ns),
    }
}

/// Fixed windows aligned to the epoch: `[k·period, (k+1)·period)`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FixedWindow {
    quota: Quota,
    window: u64,
    count: u64,
}

impl FixedWindow {
    /// An empty limiter.
    pub fn new(quota: Quota) -> FixedWindow {
        FixedWindow {
            quota,
            window: 0,
            count: 0,
        }
    }
}

impl RateLimiter for FixedWindow {
    fn check(&mut self, now: Instant, cost: u64) -> Decision {
        let p = ns(self.quota.period);
        let w = now.as_nanos() / p;
        if w != self.window {
            self.window = w;
            self.count = 0;
        }
        let until_next = (w + 1) * p - now.as_nanos();
        let limit = self.quota.limit;
        let reset = if self.count == 0 { 0 } else { until_next };
        if cost > limit {
            return too_costly(limit, limit - self.count, reset);
        }
        if cost > 0 && self.count + cost <= limit {
            self.count += cost;
            return Decision {
                allowed: true,
                limit,
                remaining: limit - self.count,
                retry_after: Duration::ZERO,
                reset_after: Duration::from_nanos(until_next),
            };
        }
        not_charged(cost, limit, limit - self.count, until_next, reset)
    }
    fn quota(&self) -> Quota {
        self.quota
    }
    fn set_quota(&mut self, _now: Instant, quota: Quota) {
        self.count = self.count.min(quota.limit);
        self.quota = quota;
    }
    fn is_idle(&self, now: Instant) -> bool {
        self.count == 0 || now.as_nanos() / ns(self.quota.period) != self.window
    }
}

/// Sliding log: remembers each admitted request's time and cost for one period.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SlidingLog {
    quota: Quota,
    log: VecDeque<(u64, u64)>,
    sum: u64,
}

impl SlidingLog {
    /// An empty limiter. Memory: at most `limit` log entries.
    pub fn new(quota: Quota) -> SlidingLog {
        SlidingLog {
            quota,
            log: VecDeque::new(),
            sum: 0,
        }
    }
    fn expire(&mut self, now: u64) {
        let p = ns(self.quota.period);
        while let Some(&(t, c)) = self.log.front() {
            if t + p > now {
                break;
            }
            self.log.pop_front();
            self.sum -= c;
        }
    }
}

impl RateLimiter for SlidingLog {
    fn check(&mut self, now: Instant, cost: u64) -> Decision {
        let now = now.as_nanos();
        self.expire(now);
        let p = ns(self.quota.period);
        let limit = self.quota.limit;
        let reset = self.log.back().map_or(0, |(t, _)| t + p - now);
        if cost > limit {
            return too_costly(limit, limit - self.sum, reset);
        }
        if cost > 0 && self.sum + cost <= limit {
            self.log.push_back((now, cost));
            self.sum += cost;
            return Decision {
                allowed: true,
                limit,
                remaining: limit - self.sum,
                retry_after: Duration::ZERO,
                reset_after: Duration::from_nanos(p),
            };
        }
        if cost == 0 {
            return Decision {
                allowed: true,
                limit,
                remaining: limit - self.sum,
                retry_after: Duration::ZERO,
                reset_after: Duration::from_nanos(reset),
            };
        }
        // Wait until enough of the oldest entries leave the window.
        let mut freed = limit - self.sum;
        let mut at = now;
        for &(t, c) in &self.log {
            freed += c;
            at = t + p;
            if freed >= cost {
                break;
            }
        }
        Decision {
            allowed: false,
            limit,
            remaining: limit - self.sum,
            retry_after: Duration::from_nanos(at - now),
            reset_after: Duration::from_nanos(reset),
        }
    }
    fn quota(&self) -> Quota {
        self.quota
    }
    fn set_quota(&mut self, now: Instant, quota: Quota) {
        self.quota = quota;
        self.expire(now.as_nanos());
        while self.sum > quota.limit {
            let (_, c) = self.log.pop_front().expect("sum > 0 means entries");
            self.sum -= c;
        }
    }
    fn is_idle(&self, now: Instant) -> bool {
        let p = ns(self.quota.period);
        self.log.back().is_none_or(|(t, _)| t + p <= now.as_nanos())
    }
}

/// Sliding window counter: the current window's count plus the previous window's count
/// weighted by how much of it the sliding window still covers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SlidingCounter {
    quota: Quota,
    window: u64,
    prev: u64,
    curr: u64,
}

impl SlidingCounter {
    /// An empty limiter.
    pub fn new(quota: Quota) -> SlidingCounter {
        SlidingCounter {
            quota,
            window: 0,
            prev: 0,
            curr: 0,
        }
    }
    fn roll(&mut self, now: u64) {
        let w = now / ns(self.quota.period);
        if w == self.window + 1 {
            self.prev = self.curr;
            self.curr = 0;
        } else if w > self.window + 1 {
            self.prev = 0;
            self.curr = 0;
        }
        self.window = w;
    }
    /// The weighted count at `now` (after rolling), rounded up (never under-counts).
    fn estimate(&self, now: u64) -> u64 {
        let p = ns(self.quota.period) as u128;
        let into = (now as u128) % p;
        (self.prev as u128 * (p - into)).div_ceil(p) as u64 + self.curr
    }
}

impl RateLimiter for SlidingCounter {
    fn check(&mut self, now: Instant, cost: u64) -> Decision {
        let now = now.as_nanos();
        self.roll(now);
        let p = ns(self.quota.period);
        let limit = self.quota.limit;
        let est = self.estimate(now);
        let until_next = (self.window + 1) * p - now;
        let reset = if self.curr > 0 {
            until_next + p
        } else if self.prev > 0 {
            until_next
        } else {
            0
        };
        if cost > limit {
            return too_costly(limit, limit.saturating_sub(est), reset);
        }
        if cost > 0 && est + cost <= limit {
            self.curr += cost;
            return Decision {
                allowed: true,
                limit,
                remaining: limit - est - cost,
                retry_after: Duration::ZERO,
                reset_after: Duration::from_nanos(until_next + p),
            };
        }
        // The estimate only falls as the previous window slides out: a conservative wait.
        not_charged(cost, limit, limit.saturating_sub(est), until_next, reset)
    }
    fn quota(&self) -> Quota {
        self.quota
    }
    fn set_quota(&mut self, _now: Instant, quota: Quota) {
        self.quota = quota;
    }
    fn is_idle(&self, now: Instant) -> bool {
        let w = now.as_nanos() / ns(self.quota.period);
        (self.prev == 0 && self.curr == 0)
            || w > self.window + 1
            || (w == self.window + 1 && self.curr == 0)
    }
}
