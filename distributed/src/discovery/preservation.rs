//! Eureka-style self-preservation: when too few leases were renewed recently, the registry
//! assumes the fault is on its side of the network (not in the instances) and stops
//! expiring leases until renewals recover.
//!
//! Eureka compares renewals in the last minute with an expected rate derived from the
//! instance count (`renewalPercentThreshold`, 0.85). Here the measure is the fraction of
//! leases renewed within the last `window`, which is the same signal without assuming a
//! renewal rate: with keepalives every TTL/3 and `window` at least that, a healthy lease is
//! always fresh. Only leases that hold instances are counted (the registry filters), so an
//! instance that re-registered under a new lease does not keep protection on through the
//! empty lease it left behind.
//!
//! The price: protection cannot tell a partition from crashes. A crashed instance that
//! makes renewals fall below the threshold stays listed until renewals recover.

use testbed_model::{Duration, Instant};

/// Self-preservation settings.
#[derive(Clone, Debug, PartialEq)]
pub struct SelfPreservation {
    /// A lease counts as renewed if its last keepalive is at most this old. Must be shorter
    /// than the TTLs in use, or leases expire before protection can start.
    pub window: Duration,
    /// Protection starts when fewer than this fraction of leases are renewed (Eureka: 0.85).
    pub threshold: f64,
    /// Protection never starts with fewer leases than this (a lone instance crashing is
    /// not a partition of the registry).
    pub leases_min: usize,
}

impl Default for SelfPreservation {
    fn default() -> Self {
        SelfPreservation {
            window: Duration::from_secs(1),
            threshold: 0.85,
            leases_min: 2,
        }
    }
}

impl SelfPreservation {
    /// Whether expiry should stop, given each lease's last renewal.
    pub fn protect(&self, now: Instant, last_renewals: impl Iterator<Item = Instant>) -> bool {
        let (mut total, mut fresh) = (0usize, 0usize);
        for t in last_renewals {
            total += 1;
            if now.saturating_duration_since(t) <= self.window {
                fresh += 1;
            }
        }
        total >= self.leases_min.max(1) && (fresh as f64) < self.threshold * total as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn protects_when_too_few_leases_are_fresh() {
        let sp = SelfPreservation::default();
        let now = Instant::from_secs(10);
        let fresh = now - Duration::from_millis(500);
        let stale = now - Duration::from_millis(1500);
        assert!(!sp.protect(now, [fresh, fresh, fresh].into_iter()));
        // 2 of 3 renewed: 0.67 < 0.85.
        assert!(sp.protect(now, [fresh, fresh, stale].into_iter()));
        // 6 of 7 renewed: 0.857 >= 0.85.
        assert!(!sp.protect(now, [fresh; 6].into_iter().chain([stale])));
        // Too few leases to judge.
        assert!(!sp.protect(now, [stale].into_iter()));
        assert!(!sp.protect(now, std::iter::empty()));
    }
}
