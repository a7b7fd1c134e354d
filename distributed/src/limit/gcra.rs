//! GCRA (generic cell rate algorithm): the whole state is one "theoretical arrival time".

use super::{Decision, Quota, RateLimiter};
use std::sync::atomic::{AtomicU64, Ordering};
use testbed_model::{Duration, Instant};

/// A quota's constants in nanoseconds, computed once (the division is the costly part).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Params {
    t: u64,
    capacity: u64,
    burst: u64,
}

impl Params {
    fn of(q: &Quota) -> Params {
        let t = q.emission_interval_ns();
        Params {
            t,
            capacity: t.saturating_mul(q.burst),
            burst: q.burst,
        }
    }
}

/// The decision for a state `tat` (theoretical arrival time, ns) at `now`; returns the new
/// `tat` when admitted.
#[inline]
fn decide(p: &Params, tat: u64, now: u64, cost: u64) -> (Decision, Option<u64>) {
    let (t, capacity, limit) = (p.t, p.capacity, p.burst);
    let base = tat.max(now);
    let used = base - now; // credit already spent, in ns
    let need = t.saturating_mul(cost);
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
    params: Params,
    tat: u64,
}

impl Gcra {
    /// A full limiter.
    pub fn new(quota: Quota) -> Gcra {
        Gcra {
            quota,
            params: Params::of(&quota),
            tat: 0,
        }
    }

    /// The admission decision alone (no header values): the fast path.
    #[inline]
    pub fn allow(&mut self, now: Instant, cost: u64) -> bool {
        let now = now.as_nanos();
        let used = self.tat.max(now) - now + self.params.t.saturating_mul(cost);
        if cost > 0 && used <= self.params.capacity {
            self.tat = now + used;
            true
        } else {
            cost == 0
        }
    }
}

impl RateLimiter for Gcra {
    #[inline]
    fn check(&mut self, now: Instant, cost: u64) -> Decision {
        let (d, tat) = decide(&self.params, self.tat, now.as_nanos(), cost);
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
        self.params = Params::of(&quota);
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
    params: Params,
    tat: AtomicU64,
}

impl AtomicGcra {
    /// A full limiter.
    pub fn new(quota: Quota) -> AtomicGcra {
        AtomicGcra {
            quota,
            params: Params::of(&quota),
            tat: AtomicU64::new(0),
        }
    }

    /// Decides, and charges `cost` if admitted (compare-and-swap loop).
    pub fn check(&self, now: Instant, cost: u64) -> Decision {
        let now = now.as_nanos();
        let mut tat = self.tat.load(Ordering::Acquire);
        loop {
            let (d, new) = decide(&self.params, tat, now, cost);
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
