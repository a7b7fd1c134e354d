//! Client-side adaptive throttling (Google SRE book, "Handling Overload"): the client rejects
//! locally with probability `p = max(0, (requests − K·accepts) / (requests + 1))`, counted over
//! a sliding time window, so an overloaded backend is not hammered by requests it would refuse.

use std::collections::VecDeque;
use testbed_model::{Duration, Instant, Rng};

/// The throttle.
#[derive(Clone, Debug)]
pub struct SreThrottle {
    k_milli: u64,
    bucket_ns: u64,
    buckets: u64,
    /// (bucket index, requests, accepts)
    counts: VecDeque<(u64, u64, u64)>,
}

impl SreThrottle {
    /// `k` in thousandths (2000 = the book's K = 2) over a `window` of `buckets` buckets.
    pub fn new(k_milli: u64, window: Duration, buckets: u32) -> SreThrottle {
        let buckets = buckets.max(1) as u64;
        let bucket_ns = (u64::try_from(window.as_nanos()).unwrap_or(u64::MAX) / buckets).max(1);
        SreThrottle {
            k_milli,
            bucket_ns,
            buckets,
            counts: VecDeque::new(),
        }
    }

    fn bucket(&mut self, now: Instant) -> &mut (u64, u64, u64) {
        let cur = now.as_nanos() / self.bucket_ns;
        while self
            .counts
            .front()
            .is_some_and(|b| b.0 + self.buckets <= cur)
        {
            self.counts.pop_front();
        }
        if self.counts.back().is_none_or(|b| b.0 != cur) {
            self.counts.push_back((cur, 0, 0));
        }
        self.counts.back_mut().expect("pushed")
    }

    /// Requests and accepts in the window at `now`.
    pub fn totals(&mut self, now: Instant) -> (u64, u64) {
        self.bucket(now);
        self.counts
            .iter()
            .fold((0, 0), |a, b| (a.0 + b.1, a.1 + b.2))
    }

    /// The local rejection probability at `now`.
    pub fn reject_probability(&mut self, now: Instant) -> f64 {
        let (req, acc) = self.totals(now);
        let excess = (req * 1000).saturating_sub(self.k_milli * acc);
        excess as f64 / ((req + 1) * 1000) as f64
    }

    /// Counts a request and decides whether to send it (`true`) or reject it locally.
    pub fn admit(&mut self, now: Instant, rng: &mut impl Rng) -> bool {
        let p = self.reject_probability(now);
        self.bucket(now).1 += 1;
        !rng.chance(p)
    }

    /// The backend accepted a request sent at `now` (did not refuse it for overload).
    pub fn on_accepted(&mut self, now: Instant) {
        self.bucket(now).2 += 1;
    }
}
