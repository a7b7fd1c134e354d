//! What every layer of the stack did, as plain counters plus the breakers' state timeline.

use crate::balance::NodeId;
use crate::breaker::State;
use testbed_model::Instant;

/// One breaker transition: instance `node` entered `state` at `at`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BreakerMark {
    /// When.
    pub at: Instant,
    /// Which instance's breaker.
    pub node: NodeId,
    /// The state entered.
    pub state: State,
}

/// Counters of one stack. Every call ends in exactly one of `succeeded`, `failed`,
/// `rejected_*` / `no_instance` / `deadline_exceeded` (see [`Metrics::ended`]).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Metrics {
    /// Calls started.
    pub calls: u64,
    /// Attempts that passed every layer and went to an instance.
    pub admitted: u64,
    /// Attempts refused by the rate limiter.
    pub rejected_rate: u64,
    /// Attempts refused by the bulkhead.
    pub rejected_bulkhead: u64,
    /// Attempts refused because every instance's breaker was open (fail fast).
    pub rejected_circuit: u64,
    /// Attempts with no instance to send to (none resolved, or all ejected).
    pub no_instance: u64,
    /// Retries scheduled.
    pub retried: u64,
    /// Retries the budget refused.
    pub retry_denied: u64,
    /// Outlier ejections.
    pub ejected: u64,
    /// Breakers that opened.
    pub circuit_opened: u64,
    /// Attempts that timed out.
    pub timeouts: u64,
    /// Calls that succeeded.
    pub succeeded: u64,
    /// Calls that failed after their last attempt.
    pub failed: u64,
    /// Calls that ran out of time before an attempt could start.
    pub deadline_exceeded: u64,
    /// Calls their caller gave up on (the call's future was dropped).
    pub cancelled: u64,
    /// Calls answered by a fallback.
    pub fallbacks: u64,
    /// Breaker transitions, oldest first (at most [`Metrics::TIMELINE_MAX`]).
    pub breaker_timeline: Vec<BreakerMark>,
}

impl Metrics {
    /// Cap on the recorded breaker transitions.
    pub const TIMELINE_MAX: usize = 4096;

    /// The counters by name, for JSON output.
    pub fn counters(&self) -> [(&'static str, u64); 16] {
        [
            ("calls", self.calls),
            ("admitted", self.admitted),
            ("rejected_rate", self.rejected_rate),
            ("rejected_bulkhead", self.rejected_bulkhead),
            ("rejected_circuit", self.rejected_circuit),
            ("no_instance", self.no_instance),
            ("retried", self.retried),
            ("retry_denied", self.retry_denied),
            ("ejected", self.ejected),
            ("circuit_opened", self.circuit_opened),
            ("timeouts", self.timeouts),
            ("succeeded", self.succeeded),
            ("failed", self.failed),
            ("deadline_exceeded", self.deadline_exceeded),
            ("cancelled", self.cancelled),
            ("fallbacks", self.fallbacks),
        ]
    }

    /// Calls that have ended, however they ended.
    pub fn ended(&self) -> u64 {
        self.succeeded
            + self.failed
            + self.deadline_exceeded
            + self.cancelled
            + self.rejected_rate
            + self.rejected_bulkhead
            + self.rejected_circuit
            + self.no_instance
    }

    /// Rejections of every kind.
    pub fn rejected(&self) -> u64 {
        self.rejected_rate + self.rejected_bulkhead + self.rejected_circuit + self.no_instance
    }

    pub(super) fn mark(&mut self, m: BreakerMark) {
        if m.state == State::Open {
            self.circuit_opened += 1;
        }
        if self.breaker_timeline.len() < Self::TIMELINE_MAX {
            self.breaker_timeline.push(m);
        }
    }
}
