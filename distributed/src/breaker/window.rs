//! The breaker's sliding windows: the last n outcomes, or time buckets.

use super::Window;
use std::collections::VecDeque;
use testbed_model::Instant;

#[derive(Clone, Debug)]
pub(super) enum Outcomes {
    Count {
        cap: usize,
        ring: VecDeque<(bool, bool)>,
        failures: u64,
        slows: u64,
    },
    Time {
        bucket_ns: u64,
        buckets: VecDeque<(u64, u64, u64, u64)>, /* index, calls, failures, slows */
        n: u64,
    },
}

impl Outcomes {
    pub(super) fn new(w: Window) -> Outcomes {
        match w {
            Window::Count(n) => Outcomes::Count {
                cap: n.max(1) as usize,
                ring: VecDeque::new(),
                failures: 0,
                slows: 0,
            },
            Window::Time { size, buckets } => {
                let n = buckets.max(1) as u64;
                let bucket_ns = (u64::try_from(size.as_nanos()).unwrap_or(u64::MAX) / n).max(1);
                Outcomes::Time {
                    bucket_ns,
                    buckets: VecDeque::new(),
                    n,
                }
            }
        }
    }

    pub(super) fn clear(&mut self) {
        match self {
            Outcomes::Count {
                ring,
                failures,
                slows,
                ..
            } => {
                ring.clear();
                *failures = 0;
                *slows = 0;
            }
            Outcomes::Time { buckets, .. } => buckets.clear(),
        }
    }

    fn expire(&mut self, now: Instant) {
        if let Outcomes::Time {
            bucket_ns,
            buckets,
            n,
        } = self
        {
            let cur = now.as_nanos() / *bucket_ns;
            while buckets.front().is_some_and(|b| b.0 + *n <= cur) {
                buckets.pop_front();
            }
        }
    }

    pub(super) fn record(&mut self, now: Instant, failed: bool, slow: bool) {
        self.expire(now);
        match self {
            Outcomes::Count {
                cap,
                ring,
                failures,
                slows,
            } => {
                if ring.len() == *cap {
                    let (f, s) = ring.pop_front().expect("full ring");
                    *failures -= f as u64;
                    *slows -= s as u64;
                }
                ring.push_back((failed, slow));
                *failures += failed as u64;
                *slows += slow as u64;
            }
            Outcomes::Time {
                bucket_ns, buckets, ..
            } => {
                let cur = now.as_nanos() / *bucket_ns;
                if buckets.back().is_none_or(|b| b.0 != cur) {
                    buckets.push_back((cur, 0, 0, 0));
                }
                let b = buckets.back_mut().expect("pushed");
                b.1 += 1;
                b.2 += failed as u64;
                b.3 += slow as u64;
            }
        }
    }

    pub(super) fn totals(&mut self, now: Instant) -> (u64, u64, u64) {
        self.expire(now);
        match self {
            Outcomes::Count {
                ring,
                failures,
                slows,
                ..
            } => (ring.len() as u64, *failures, *slows),
            Outcomes::Time { buckets, .. } => buckets
                .iter()
                .fold((0, 0, 0), |a, b| (a.0 + b.1, a.1 + b.2, a.2 + b.3)),
        }
    }
}
