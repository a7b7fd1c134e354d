//! The sans-IO core of the client stack: one state machine holding every layer's state.
//!
//! Per call: [`Stack::begin`], then per attempt [`Stack::try_attempt`] → send →
//! [`Stack::finish`], which says whether to retry and after how long.

use super::metrics::{BreakerMark, Metrics};
use super::outlier::{Outlier, OutlierConfig};
use super::resolve::{Instance, Resolve};
use crate::balance::{Balancer, NodeId, Pick};
use crate::breaker::{Breaker, BreakerConfig, Outcome, Permit, State};
use crate::concurrency::{Bulkhead, Slot};
use crate::limit::{Quota, RateLimiter, TokenBucket};
use crate::retry::{Backoff, TpsBudget};
use std::collections::BTreeMap;
use std::net::SocketAddr;
use testbed_model::{Duration, Instant, SeededRng};

/// Retry settings.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RetryConfig {
    /// Attempts in all, the first included.
    pub max_attempts: u32,
    /// Delays between attempts (jitter drawn from the stack's seeded rng).
    pub backoff: Backoff,
    /// `(ratio_milli, min_per_sec, ttl)` of a [`TpsBudget`]; `None`: retries are unbudgeted.
    pub budget: Option<(u64, u64, Duration)>,
}

/// Which layers are on, and their settings. `None` turns a layer off.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StackConfig {
    /// A breaker per instance.
    pub breaker: Option<BreakerConfig>,
    /// Outlier ejection.
    pub outlier: Option<OutlierConfig>,
    /// Rate limit on attempts.
    pub rate: Option<Quota>,
    /// Attempts in flight at most.
    pub bulkhead: Option<u32>,
    /// Overall deadline of a call (all attempts and backoffs).
    pub deadline: Option<Duration>,
    /// Timeout of one attempt (capped by the call's deadline).
    pub attempt_timeout: Option<Duration>,
    /// Retries.
    pub retry: Option<RetryConfig>,
}

impl StackConfig {
    /// Every layer off: one attempt, no limits, no deadline.
    pub const PASSTHROUGH: StackConfig = StackConfig {
        breaker: None,
        outlier: None,
        rate: None,
        bulkhead: None,
        deadline: None,
        attempt_timeout: None,
        retry: None,
    };
}

/// Why an attempt was not sent.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Rejected {
    /// The rate limiter denied it.
    #[error("rate limited; retry after {retry_after:?}")]
    RateLimited {
        /// When an attempt would pass.
        retry_after: Duration,
    },
    /// The bulkhead is full.
    #[error("bulkhead full: {max} attempts in flight")]
    BulkheadFull {
        /// The limit.
        max: u32,
    },
    /// Every instance's breaker is open.
    #[error("circuit open on every instance")]
    CircuitOpen,
    /// No instance to send to.
    #[error("no instance available")]
    NoInstance,
    /// The call's deadline has passed.
    #[error("deadline exceeded")]
    DeadlineExceeded,
}

/// One call in progress.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Call {
    /// When it began.
    pub started: Instant,
    /// Its overall deadline, if any.
    pub deadline: Option<Instant>,
    /// Attempts made so far.
    pub attempts: u32,
    /// Hash of the affinity key (hashing balancers).
    pub key: u64,
    previous_delay: Duration,
}

/// One admitted attempt: send it to `node` and report back with [`Stack::finish`].
#[derive(Debug, PartialEq, Eq)]
#[must_use = "report the attempt with Stack::finish"]
pub struct Attempt {
    /// The instance chosen.
    pub node: NodeId,
    /// Its address.
    pub addr: SocketAddr,
    /// Give up on the attempt at this instant (`None`: no timeout).
    pub deadline: Option<Instant>,
    started: Instant,
    permit: Option<Permit>,
    slot: Option<Slot>,
}

/// What to do after an attempt.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Next {
    /// It succeeded.
    Done,
    /// Retry after this delay.
    RetryAfter(Duration),
    /// It failed and will not be retried.
    GiveUp,
}

/// The client stack over balancer `B` and resolver `R`.
pub struct Stack<B, R> {
    cfg: StackConfig,
    resolver: R,
    revision: Option<u64>,
    instances: BTreeMap<NodeId, Instance>,
    balancer: B,
    breakers: BTreeMap<NodeId, Breaker>,
    outlier: Outlier,
    limiter: Option<TokenBucket>,
    bulkhead: Option<Bulkhead>,
    budget: Option<TpsBudget>,
    rng: SeededRng,
    metrics: Metrics,
}

impl<B: Balancer, R: Resolve> Stack<B, R> {
    /// A stack with `cfg`, resolving through `resolver`, balancing with `balancer`, drawing
    /// jitter and balancer randomness from `seed`.
    pub fn new(cfg: StackConfig, resolver: R, balancer: B, seed: u64) -> Self {
        Stack {
            cfg,
            resolver,
            revision: None,
            instances: BTreeMap::new(),
            balancer,
            breakers: BTreeMap::new(),
            outlier: Outlier::new(cfg.outlier),
            limiter: cfg.rate.map(TokenBucket::new),
            bulkhead: cfg.bulkhead.map(Bulkhead::new),
            budget: cfg
                .retry
                .and_then(|r| r.budget)
                .map(|(ratio, min, ttl)| TpsBudget::new(ratio, min, ttl)),
            rng: SeededRng::new(seed),
            metrics: Metrics::default(),
        }
    }

    /// Re-reads the resolver if its revision changed, and returns instances whose ejection
    /// has ended to picks.
    pub fn refresh(&mut self, now: Instant) {
        let rev = self.resolver.revision();
        if self.revision != Some(rev) {
            self.revision = Some(rev);
            let next: BTreeMap<NodeId, Instance> = self
                .resolver
                .instances()
                .into_iter()
                .map(|i| (i.id, i))
                .collect();
            let gone: Vec<NodeId> = self
                .instances
                .keys()
                .filter(|n| !next.contains_key(n))
                .copied()
                .collect();
            for n in gone {
                self.balancer.remove(n);
                self.breakers.remove(&n);
                self.outlier.remove(n);
            }
            for (n, i) in &next {
                if self.instances.get(n).is_none_or(|o| o.weight != i.weight) {
                    self.balancer.add(*n, i.weight);
                }
                if let Some(cfg) = self.cfg.breaker {
                    self.breakers.entry(*n).or_insert_with(|| Breaker::new(cfg));
                }
                self.outlier.add(*n);
                if self.outlier.is_ejected(*n, now) {
                    self.balancer.eject(*n);
                }
            }
            self.instances = next;
        }
        for n in self.outlier.expire(now) {
            self.balancer.uneject(n);
        }
    }

    /// Starts a call at `now` with affinity key hash `key`.
    pub fn begin(&mut self, now: Instant, key: u64) -> Call {
        self.metrics.calls += 1;
        if let Some(b) = &mut self.budget {
            b.deposit(now);
        }
        Call {
            started: now,
            deadline: self.cfg.deadline.map(|d| now + d),
            attempts: 0,
            key,
            previous_delay: Duration::ZERO,
        }
    }

    fn reject(&mut self, r: Rejected) -> Rejected {
        let m = &mut self.metrics;
        match r {
            Rejected::RateLimited { .. } => m.rejected_rate += 1,
            Rejected::BulkheadFull { .. } => m.rejected_bulkhead += 1,
            Rejected::CircuitOpen => m.rejected_circuit += 1,
            Rejected::NoInstance => m.no_instance += 1,
            Rejected::DeadlineExceeded => m.deadline_exceeded += 1,
        }
        r
    }

    fn drain_breaker(&mut self, node: NodeId) {
        if let Some(b) = self.breakers.get_mut(&node) {
            while let Some(t) = b.poll_event() {
                self.metrics.mark(BreakerMark {
                    at: t.at,
                    node,
                    state: t.to,
                });
            }
        }
    }

    /// Runs the layers for the next attempt of `call`. A rejection ends the call (it is
    /// counted once, in [`Metrics`]); the caller may then serve a fallback.
    pub fn try_attempt(&mut self, now: Instant, call: &mut Call) -> Result<Attempt, Rejected> {
        self.refresh(now);
        if call.deadline.is_some_and(|d| now >= d) {
            return Err(self.reject(Rejected::DeadlineExceeded));
        }
        let slot = match &mut self.bulkhead {
            Some(b) => match b.try_acquire() {
                Ok(s) => Some(s),
                Err(f) => return Err(self.reject(Rejected::BulkheadFull { max: f.max })),
            },
            None => None,
        };
        let release = |s: &mut Self, slot: Option<Slot>| {
            if let (Some(b), Some(slot)) = (&mut s.bulkhead, slot) {
                b.release(slot);
            }
        };
        if let Some(l) = &mut self.limiter {
            let d = l.check(now, 1);
            if !d.allowed {
                release(self, slot);
                let r = Rejected::RateLimited {
                    retry_after: d.retry_after,
                };
                return Err(self.reject(r));
            }
        }
        let mut saw_open = false;
        for _ in 0..=self.instances.len() {
            let mut pick = Pick {
                now,
                key: call.key,
                rng: &mut self.rng,
            };
            let Some(node) = self.balancer.pick(&mut pick) else {
                break;
            };
            let permit = match self.breakers.get_mut(&node) {
                None => None,
                Some(b) => match b.try_acquire(now) {
                    Ok(p) => Some(p),
                    Err(rej) => {
                        saw_open = true;
                        let until = rej
                            .retry_at
                            .unwrap_or(now + Duration::from_secs(3600))
                            .max(now + Duration::from_nanos(1));
                        self.drain_breaker(node);
                        self.outlier.eject_for_breaker(node, until);
                        self.balancer.eject(node);
                        continue;
                    }
                },
            };
            self.drain_breaker(node);
            self.balancer.on_start(node, now);
            call.attempts += 1;
            self.metrics.admitted += 1;
            let timeout = self.cfg.attempt_timeout.map(|t| now + t);
            let deadline = match (timeout, call.deadline) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            };
            return Ok(Attempt {
                node,
                addr: self.instances[&node].addr,
                deadline,
                started: now,
                permit,
                slot,
            });
        }
        release(self, slot);
        let saw_open = saw_open || self.outlier.any_breaker_ejected(now);
        Err(self.reject(if saw_open {
            Rejected::CircuitOpen
        } else {
            Rejected::NoInstance
        }))
    }

    /// Reports how `attempt` of `call` ended at `now`: `ok`, or failed (`timed_out` when it
    /// hit its deadline). Failures are retried while attempts, the deadline and the budget
    /// allow.
    pub fn finish(
        &mut self,
        now: Instant,
        call: &mut Call,
        attempt: Attempt,
        ok: bool,
        timed_out: bool,
    ) -> Next {
        let Attempt {
            node,
            started,
            permit,
            slot,
            ..
        } = attempt;
        if let (Some(b), Some(s)) = (&mut self.bulkhead, slot) {
            b.release(s);
        }
        let took = now.saturating_duration_since(started);
        self.balancer.on_end(node, now, took);
        if let (Some(b), Some(p)) = (self.breakers.get_mut(&node), permit) {
            let o = if ok {
                Outcome::Success
            } else {
                Outcome::Failure
            };
            b.on_result(now, p, o, took);
            if b.state(now) == State::Closed && self.outlier.clear_breaker(node, now) {
                self.balancer.uneject(node);
            }
        }
        self.drain_breaker(node);
        if self.outlier.record(node, now, ok) {
            self.metrics.ejected += 1;
            self.balancer.eject(node);
        }
        if timed_out {
            self.metrics.timeouts += 1;
        }
        if ok {
            self.metrics.succeeded += 1;
            return Next::Done;
        }
        let Some(retry) = self.cfg.retry else {
            self.metrics.failed += 1;
            return Next::GiveUp;
        };
        if call.attempts >= retry.max_attempts {
            self.metrics.failed += 1;
            return Next::GiveUp;
        }
        let delay = retry
            .backoff
            .delay(call.attempts, call.previous_delay, &mut self.rng);
        if call.deadline.is_some_and(|d| now + delay >= d) {
            self.metrics.failed += 1;
            return Next::GiveUp;
        }
        if let Some(b) = &mut self.budget {
            if !b.withdraw(now) {
                self.metrics.retry_denied += 1;
                self.metrics.failed += 1;
                return Next::GiveUp;
            }
        }
        call.previous_delay = delay;
        self.metrics.retried += 1;
        Next::RetryAfter(delay)
    }

    /// The caller gave up on a call (its future was dropped), with `attempt` in flight or not:
    /// frees the attempt's bulkhead slot and balancer load; a breaker permit is returned as
    /// ignored (a half-open probe then expires by its probe timeout).
    pub fn abandon(&mut self, now: Instant, attempt: Option<Attempt>) {
        self.metrics.cancelled += 1;
        let Some(Attempt {
            node,
            started,
            permit,
            slot,
            ..
        }) = attempt
        else {
            return;
        };
        if let (Some(b), Some(s)) = (&mut self.bulkhead, slot) {
            b.release(s);
        }
        self.balancer
            .on_end(node, now, now.saturating_duration_since(started));
        if let (Some(b), Some(p)) = (self.breakers.get_mut(&node), permit) {
            b.on_result(now, p, Outcome::Ignored, Duration::ZERO);
        }
    }

    /// Counts a fallback answer served for a failed call.
    pub fn count_fallback(&mut self) {
        self.metrics.fallbacks += 1;
    }

    /// Whether `node` is out of picks at `now` (outlier-ejected or breaker open).
    pub fn is_ejected(&self, node: NodeId, now: Instant) -> bool {
        self.outlier.is_ejected(node, now)
    }

    /// Attempts in flight (bulkhead's count; 0 when there is no bulkhead).
    pub fn in_flight(&self) -> u32 {
        self.bulkhead.as_ref().map_or(0, Bulkhead::in_flight)
    }

    /// The counters.
    pub fn metrics(&self) -> &Metrics {
        &self.metrics
    }

    /// The breaker of instance `node`, if breakers are on.
    pub fn breaker(&mut self, node: NodeId) -> Option<&mut Breaker> {
        self.breakers.get_mut(&node)
    }

    /// The balancer.
    pub fn balancer(&self) -> &B {
        &self.balancer
    }

    /// The configuration.
    pub fn config(&self) -> &StackConfig {
        &self.cfg
    }
}
