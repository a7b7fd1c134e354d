//! Circuit breaking: a breaker with count- or time-based sliding windows, failure-rate and
//! slow-call-rate thresholds, a minimum number of calls, a wait in open, a bounded number of
//! half-open probes with a probe timeout (a breaker never sticks in half-open), forced-open
//! and disabled states, transition events and `next_ready()`.
//!
//! Use: `try_acquire(now)` before a call, `on_result(now, permit, outcome, duration)` after.
//! The seed's "open after N consecutive failures" breaker is
//! [`BreakerConfig::consecutive_failures`].

mod window;

use std::collections::{BTreeMap, VecDeque};
use testbed_model::{Duration, Instant};
use window::Outcomes;

/// The breaker's state.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum State {
    /// Calls flow; outcomes are recorded.
    Closed,
    /// Calls are rejected until the wait in open has passed.
    Open,
    /// A bounded number of probe calls decide between closed and open.
    HalfOpen,
    /// Rejects everything until [`Breaker::reset`] (operator action).
    ForcedOpen,
    /// Admits everything and records nothing (operator action).
    Disabled,
}

/// The sliding window over which rates are computed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Window {
    /// The last `n` calls.
    Count(u32),
    /// Calls of the last `size`, in `buckets` buckets (the window slides a bucket at a time).
    Time {
        /// Window length.
        size: Duration,
        /// Number of buckets.
        buckets: u32,
    },
}

/// Breaker settings.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BreakerConfig {
    /// The window rates are computed over.
    pub window: Window,
    /// Open when failures ≥ this percentage of calls in the window.
    pub failure_rate_pct: u32,
    /// Open when slow calls ≥ this percentage (101 disables).
    pub slow_call_rate_pct: u32,
    /// A call this long or longer is slow.
    pub slow_call: Duration,
    /// No rate is acted on before the window holds this many calls.
    pub minimum_calls: u32,
    /// How long the breaker stays open before probing.
    pub wait_in_open: Duration,
    /// Probe calls admitted in half-open; their outcome decides.
    pub half_open_probes: u32,
    /// A probe not reported within this counts as failed.
    pub probe_timeout: Duration,
}

impl Default for BreakerConfig {
    /// resilience4j's defaults: 100-call window, 50% failures, 100% slow at 60 s, 100 calls
    /// minimum, 60 s open, 10 probes; a 60 s probe timeout.
    fn default() -> Self {
        BreakerConfig {
            window: Window::Count(100),
            failure_rate_pct: 50,
            slow_call_rate_pct: 100,
            slow_call: Duration::from_secs(60),
            minimum_calls: 100,
            wait_in_open: Duration::from_secs(60),
            half_open_probes: 10,
            probe_timeout: Duration::from_secs(60),
        }
    }
}

impl BreakerConfig {
    /// The seed's breaker: open after `n` consecutive failures, probe once after `wait`.
    pub fn consecutive_failures(n: u32, wait: Duration) -> Self {
        BreakerConfig {
            window: Window::Count(n),
            failure_rate_pct: 100,
            slow_call_rate_pct: 101,
            minimum_calls: n,
            wait_in_open: wait,
            half_open_probes: 1,
            ..BreakerConfig::default()
        }
    }
}

/// How a call ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// It worked.
    Success,
    /// It failed (counts toward the failure rate).
    Failure,
    /// It should not count either way (e.g. a client error).
    Ignored,
}

/// Permission for one call; hand it back to [`Breaker::on_result`].
#[derive(Debug, PartialEq, Eq)]
#[must_use = "report the call's outcome with on_result"]
pub struct Permit {
    id: u64,
    generation: u64,
    probe: bool,
}

/// A rejected call.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("circuit {state:?}: call rejected; retry at {retry_at:?}")]
pub struct Rejected {
    /// The state that rejected it.
    pub state: State,
    /// When a call may next be admitted, if known (`None` for forced open).
    pub retry_at: Option<Instant>,
}

/// A state change.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Transition {
    /// Old state.
    pub from: State,
    /// New state.
    pub to: State,
    /// When.
    pub at: Instant,
}

/// A circuit breaker.
#[derive(Clone, Debug)]
pub struct Breaker {
    cfg: BreakerConfig,
    state: State,
    generation: u64,
    since: Instant,
    window: Outcomes,
    next_id: u64,
    /// Outstanding half-open probes: id → deadline.
    probes: BTreeMap<u64, Instant>,
    probes_issued: u32,
    probe_results: (u32, u32),
    events: VecDeque<Transition>,
}

const MAX_EVENTS: usize = 64;

/// The `tracing` target of breaker transitions (one INFO event each, `from` and `to`, inside
/// whatever span the caller is in).
pub const TRACE_TARGET: &str = "testbed_distributed::breaker";

impl Breaker {
    /// A closed breaker.
    pub fn new(cfg: BreakerConfig) -> Breaker {
        Breaker {
            cfg,
            state: State::Closed,
            generation: 0,
            since: Instant::ZERO,
            window: Outcomes::new(cfg.window),
            next_id: 0,
            probes: BTreeMap::new(),
            probes_issued: 0,
            probe_results: (0, 0),
            events: VecDeque::new(),
        }
    }

    /// The state at `now` (open turns half-open once the wait has passed).
    pub fn state(&mut self, now: Instant) -> State {
        self.advance(now);
        self.state
    }

    fn transition(&mut self, now: Instant, to: State) {
        if self.state == to {
            return;
        }
        if self.events.len() == MAX_EVENTS {
            self.events.pop_front();
        }
        self.events.push_back(Transition {
            from: self.state,
            to,
            at: now,
        });
        tracing::info!(target: TRACE_TARGET, from = ?self.state, ?to, "breaker transition");
        self.state = to;
        self.since = now;
        self.generation += 1;
        self.probes.clear();
        self.probes_issued = 0;
        self.probe_results = (0, 0);
        if to == State::Closed {
            self.window.clear();
        }
    }

    /// Time-driven changes: open → half-open after the wait; overdue probes fail.
    fn advance(&mut self, now: Instant) {
        if self.state == State::Open && now >= self.since + self.cfg.wait_in_open {
            self.transition(now, State::HalfOpen);
        }
        if self.state == State::HalfOpen && self.probes.values().any(|d| now >= *d) {
            self.transition(now, State::Open);
        }
    }

    /// Asks to make a call at `now`.
    pub fn try_acquire(&mut self, now: Instant) -> Result<Permit, Rejected> {
        self.advance(now);
        let id = self.next_id;
        match self.state {
            State::Closed | State::Disabled => {
                self.next_id += 1;
                Ok(Permit {
                    id,
                    generation: self.generation,
                    probe: false,
                })
            }
            State::HalfOpen if self.probes_issued < self.cfg.half_open_probes => {
                self.next_id += 1;
                self.probes_issued += 1;
                self.probes.insert(id, now + self.cfg.probe_timeout);
                Ok(Permit {
                    id,
                    generation: self.generation,
                    probe: true,
                })
            }
            state => Err(Rejected {
                state,
                retry_at: self.next_ready(now),
            }),
        }
    }

    /// Reports how a permitted call ended and how long it took.
    pub fn on_result(&mut self, now: Instant, permit: Permit, outcome: Outcome, took: Duration) {
        self.advance(now);
        if permit.generation != self.generation || outcome == Outcome::Ignored {
            return; // issued in an earlier state: it no longer counts
        }
        let failed = outcome == Outcome::Failure;
        let slow = took >= self.cfg.slow_call;
        match self.state {
            State::Closed => {
                self.window.record(now, failed, slow);
                let (calls, failures, slows) = self.window.totals(now);
                if calls >= self.cfg.minimum_calls as u64
                    && (failures * 100 >= self.cfg.failure_rate_pct as u64 * calls
                        || (self.cfg.slow_call_rate_pct <= 100
                            && slows * 100 >= self.cfg.slow_call_rate_pct as u64 * calls))
                {
                    self.transition(now, State::Open);
                }
            }
            State::HalfOpen if permit.probe && self.probes.remove(&permit.id).is_some() => {
                if failed || slow {
                    self.probe_results.1 += 1;
                } else {
                    self.probe_results.0 += 1;
                }
                let (ok, bad) = self.probe_results;
                let done = ok + bad;
                if done == self.cfg.half_open_probes {
                    let bad_rate =
                        bad as u64 * 100 >= self.cfg.failure_rate_pct as u64 * done as u64;
                    self.transition(
                        now,
                        if bad_rate && bad > 0 {
                            State::Open
                        } else {
                            State::Closed
                        },
                    );
                }
            }
            _ => {}
        }
    }

    /// When a call may next be admitted: `None` if one may be now (or never, when forced open).
    pub fn next_ready(&self, now: Instant) -> Option<Instant> {
        match self.state {
            State::Open => Some((self.since + self.cfg.wait_in_open).max(now)),
            State::HalfOpen if self.probes_issued >= self.cfg.half_open_probes => {
                self.probes.values().min().copied()
            }
            _ => None,
        }
    }

    /// The next state-change event.
    pub fn poll_event(&mut self) -> Option<Transition> {
        self.events.pop_front()
    }

    /// Rejects everything until [`Breaker::reset`].
    pub fn force_open(&mut self, now: Instant) {
        self.transition(now, State::ForcedOpen);
    }

    /// Admits everything, records nothing, until [`Breaker::reset`].
    pub fn disable(&mut self, now: Instant) {
        self.transition(now, State::Disabled);
    }

    /// Back to closed with an empty window.
    pub fn reset(&mut self, now: Instant) {
        self.transition(now, State::Closed);
        self.window.clear();
    }

    /// Calls, failures and slow calls in the window now.
    pub fn window_totals(&mut self, now: Instant) -> (u64, u64, u64) {
        self.window.totals(now)
    }
}
