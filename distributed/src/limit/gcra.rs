//! GCRA (generic cell rate algorithm): the whole state is one "theoretical arrival time".

use super::{Decision, Quota, RateLimiter};
use std::sync::atomic::{AtomicU64, Ordering};
use testbed_model::{Duration, Instant};

/// The decision for a state `tat` (theoretical arrival time, ns) at `now`; returns the new
/// `tat` when admitted.
#[inline]
fn decide(q: &Quota, tat: u64, now: u64, cost: u64) -> (Decision, Option<u64>) {
    let t = q.emission_interval_ns();
    let capacity = t.saturating_mul(q.burst); // burst · T
    let base = tat.max(now);
    let used = base - now; // credit already spent, in ns
    let need = t.saturating_mul(cost);
    let limit = q.burst;
    if cost == 0 {
        let remaining = (capacity.saturating_sub(used)) / t;
        let d = Decision {
            allowed: true,
            limit,
            remaining,
            retry_after: Duration::ZERO,
            reset_after: Duration::from_nanos(used),
        };
        return (d, None);
    }
    if need > capacity {
        let d = Decision {
            allowed: false,
            limit,
            remaining: capacity.saturating_sub(used) / t,
            retry_after: Duration::MAX,
            reset_after: Duration::from_nanos(used),
        };
        return (d, None);
    }
    let new_used = used + need;
    if new_used <= capacity {
        let d = Decision {
            allowed: true,
            limit,
            remaining: (capacity - new_used) / t,
            retry_after: Duration::ZERO,
            reset_after: Duration::from_nanos(new_used),
        };
        (d, Some(now + new_used))
    } else {
        let d = Decision {
            allowed: false,
            limit,
            remaining: (capacity - used) / t,
            retry_after: Duration::from_nanos(new_used - capacity),
            reset_after: Duration::from_nanos(used),
        };
        (d, None)
    }
}

/// GCRA limiter. One `u64` of state.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Gcra {
    quota: Quota,
    tat: u64,
}

impl Gcra {
    /// A full limiter.
    pub fn new(quota: Quota) -> Gcra {
        Gcra { quota, tat: 0 }
    }
}

impl RateLimiter for Gcra {
    #[inline]
    fn check(&mut self, now: Instant, cost: u64) -> Decision {
        let (d, tat) = decide(&self.quota, self.tat, now.as_nanos(), cost);
        if let Some(t) = tat {
            self.tat = t;
        }
        d
    }
    fn quota(&self) -> Quota {
        self.quota
    }
    /// Keeps the spent credit in nanoseconds (clamped to the new capacity).
    fn set_quota(&mut self, now: Instant, quota: Quota) {
        let now = now.as_nanos();
        let used = self.tat.saturating_sub(now);
        let cap = quota.emission_interval_ns().saturating_mul(quota.burst);
        self.tat = now + used.min(cap);
        self.quota = quota;
    }
    fn is_idle(&self, now: Instant) -> bool {
        self.tat <= now.as_nanos()
    }
}

/// GCRA on an `AtomicU64`: lock-free, for limiters shared between threads. Same decisions
/// as [`Gcra`] for the same sequence of calls.
#[derive(Debug)]
pub struct AtomicGcra {
    quota: Quota,
    tat: AtomicU64,
}

impl AtomicGcra {
    /// A full limiter.
    pub fn new(quota: Quota) -> AtomicGcra {
        AtomicGcra {
            quota,
            tat: AtomicU64::new(0),
        }
    }

    /// Decides, and charges `cost` if admitted (compare-and-swap loop).
    pub fn check(&self, now: Instant, cost: u64) -> Decision {
        let now = now.as_nanos();
        let mut tat = self.tat.load(Ordering::Acquire);
        loop {
            let (d, new) = decide(&self.quota, tat, now, cost);
            let Some(new) = new else { return d };
            match self
                .tat
                .compare_exchange_weak(tat, new, Ordering::AcqRel, Ordering::Acquire)
            {
                Ok(_) => return d,
                Err(actual) => tat = actual,
            }
        }
    }

    /// The quota.
    pub fn quota(&self) -> Quota {
        self.quota
    }
}
