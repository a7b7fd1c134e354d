//! Adaptive concurrency limits: the limit follows measured latency and drops.

use testbed_model::{Duration, Instant};

/// An algorithm that moves a concurrency limit from samples.
pub trait LimitAlgorithm {
    /// The current limit.
    fn limit(&self) -> u32;
    /// One finished call: its round-trip time, the calls in flight when it started, and
    /// whether it was dropped (timed out, rejected by overload).
    fn on_sample(&mut self, now: Instant, rtt: Duration, in_flight: u32, dropped: bool);
}

/// Additive increase, multiplicative decrease: +1 when a call succeeds while the limit is at
/// least half used, × `backoff` on a drop.
#[derive(Clone, Debug, PartialEq)]
pub struct Aimd {
    limit: f64,
    min: u32,
    max: u32,
    backoff: f64,
}

impl Aimd {
    /// Starting at `initial`, kept in `min..=max`, multiplying by `backoff` (e.g. 0.9) on drops.
    pub fn new(initial: u32, min: u32, max: u32, backoff: f64) -> Aimd {
        Aimd {
            limit: initial as f64,
            min: min.max(1),
            max,
            backoff,
        }
    }
}

impl LimitAlgorithm for Aimd {
    fn limit(&self) -> u32 {
        self.limit as u32
    }
    fn on_sample(&mut self, _now: Instant, _rtt: Duration, in_flight: u32, dropped: bool) {
        if dropped {
            self.limit = (self.limit * self.backoff).floor();
        } else if in_flight as f64 * 2.0 >= self.limit {
            self.limit += 1.0;
        }
        self.limit = self.limit.clamp(self.min as f64, self.max as f64);
    }
}

/// Number of decimal digits: an integer stand-in for log10 (identical on every machine).
fn digits(n: u32) -> u32 {
    n.max(1).ilog10() + 1
}

/// TCP Vegas applied to concurrency: estimates the queue as `limit × (1 − rtt_min / rtt)`,
/// grows the limit while the queue is below α = 3·d, shrinks it above β = 6·d (d = digits of
/// the limit), and on drops.
#[derive(Clone, Debug, PartialEq)]
pub struct Vegas {
    limit: u32,
    min: u32,
    max: u32,
    rtt_noload: Option<Duration>,
}

impl Vegas {
    /// Starting at `initial`, kept in `min..=max`.
    pub fn new(initial: u32, min: u32, max: u32) -> Vegas {
        Vegas {
            limit: initial,
            min: min.max(1),
            max,
            rtt_noload: None,
        }
    }
}

impl LimitAlgorithm for Vegas {
    fn limit(&self) -> u32 {
        self.limit
    }
    fn on_sample(&mut self, _now: Instant, rtt: Duration, _in_flight: u32, dropped: bool) {
        let base = *self.rtt_noload.get_or_insert(rtt);
        if rtt < base {
            self.rtt_noload = Some(rtt);
        }
        let base = self.rtt_noload.expect("set above").as_nanos().max(1);
        let d = digits(self.limit);
        let next = if dropped {
            self.limit.saturating_sub(d)
        } else {
            let queue = (self.limit as u128 * (rtt.as_nanos().max(base) - base))
                .div_ceil(rtt.as_nanos().max(1)) as u32;
            if queue < 3 * d {
                self.limit + d
            } else if queue > 6 * d {
                self.limit.saturating_sub(d)
            } else {
                self.limit
            }
        };
        self.limit = next.clamp(self.min, self.max);
    }
}

/// Gradient2: compares a short-term RTT (the sample) to a long-term EWMA; the limit is scaled
/// by `clamp(tolerance · long / short, 0.5, 1)` plus a small queue allowance, smoothed. Does not
/// grow while less than half the limit is used (the app, not the server, is the bottleneck).
#[derive(Clone, Debug, PartialEq)]
pub struct Gradient2 {
    limit: f64,
    min: u32,
    max: u32,
    long_rtt: f64,
    samples: u64,
    tolerance: f64,
    smoothing: f64,
    queue: f64,
    window: f64,
}

impl Gradient2 {
    /// Netflix's defaults: tolerance 1.5, smoothing 0.2, queue allowance 4, long window 600.
    pub fn new(initial: u32, min: u32, max: u32) -> Gradient2 {
        Gradient2 {
            limit: initial as f64,
            min: min.max(1),
            max,
            long_rtt: 0.0,
            samples: 0,
            tolerance: 1.5,
            smoothing: 0.2,
            queue: 4.0,
            window: 600.0,
        }
    }
}

impl LimitAlgorithm for Gradient2 {
    fn limit(&self) -> u32 {
        self.limit as u32
    }
    fn on_sample(&mut self, _now: Instant, rtt: Duration, in_flight: u32, dropped: bool) {
        let short = rtt.as_nanos().max(1) as f64;
        self.samples += 1;
        // Warm-up: a plain average over the first samples, then an EWMA.
        let w = (self.samples as f64).min(self.window);
        self.long_rtt += (short - self.long_rtt) / w;
        if self.long_rtt / short > 2.0 {
            self.long_rtt *= 0.95; // recover from a stale, inflated long-term average
        }
        if !dropped && (in_flight as f64) < self.limit / 2.0 {
            return;
        }
        let gradient = (self.tolerance * self.long_rtt / short).clamp(0.5, 1.0);
        let gradient = if dropped { 0.5 } else { gradient };
        let target = self.limit * gradient + self.queue;
        self.limit = (self.limit * (1.0 - self.smoothing) + target * self.smoothing)
            .clamp(self.min as f64, self.max as f64);
    }
}

/// A call admitted by an [`AdaptiveLimit`]; hand it back with [`AdaptiveLimit::on_done`].
#[derive(Debug, PartialEq, Eq)]
#[must_use = "report the call with on_done"]
pub struct Token {
    started: Instant,
    in_flight: u32,
}

/// A concurrency limiter whose limit an algorithm adapts: admits while in flight < limit,
/// rejects above (no queue).
#[derive(Clone, Debug)]
pub struct AdaptiveLimit<A> {
    algo: A,
    in_flight: u32,
}

impl<A: LimitAlgorithm> AdaptiveLimit<A> {
    /// Around `algo`.
    pub fn new(algo: A) -> Self {
        AdaptiveLimit { algo, in_flight: 0 }
    }
    /// Admits a call at `now`, or `None` when at the limit.
    pub fn try_acquire(&mut self, now: Instant) -> Option<Token> {
        if self.in_flight >= self.algo.limit() {
            return None;
        }
        self.in_flight += 1;
        Some(Token {
            started: now,
            in_flight: self.in_flight,
        })
    }
    /// The call ended at `now`; `dropped` if it timed out or was shed.
    pub fn on_done(&mut self, now: Instant, token: Token, dropped: bool) {
        self.in_flight -= 1;
        self.algo
            .on_sample(now, now - token.started, token.in_flight, dropped);
    }
    /// The current limit.
    pub fn limit(&self) -> u32 {
        self.algo.limit()
    }
    /// Calls in flight.
    pub fn in_flight(&self) -> u32 {
        self.in_flight
    }
}
