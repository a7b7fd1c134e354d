//! Retry budgets: limit retries to a fraction of traffic so that retries cannot multiply an
//! overload (a retry storm).

use std::collections::VecDeque;
use testbed_model::{Duration, Instant};

/// gRPC retry throttling (gRFC A6): `tokens` start at `max_tokens`; each failed call takes 1,
/// each success gives back `token_ratio`; retries (and hedges) are allowed only while
/// `tokens > max_tokens / 2`. Kept in thousandths, as gRPC specifies three decimal places.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RetryThrottle {
    max_milli: u64,
    ratio_milli: u64,
    tokens_milli: u64,
}

impl RetryThrottle {
    /// `max_tokens` (gRPC: 1..=1000) and `token_ratio` in thousandths (gRPC: 0.1 → 100).
    pub fn new(max_tokens: u64, token_ratio_milli: u64) -> RetryThrottle {
        let max_milli = max_tokens.clamp(1, 1000) * 1000;
        RetryThrottle {
            max_milli,
            ratio_milli: token_ratio_milli,
            tokens_milli: max_milli,
        }
    }
    /// A call failed with a retryable status (A6 counts these, and hedges that failed).
    pub fn on_failure(&mut self) {
        self.tokens_milli = self.tokens_milli.saturating_sub(1000);
    }
    /// A call succeeded.
    pub fn on_success(&mut self) {
        self.tokens_milli = (self.tokens_milli + self.ratio_milli).min(self.max_milli);
    }
    /// Whether a retry may be sent now.
    pub fn can_retry(&self) -> bool {
        self.tokens_milli > self.max_milli / 2
    }
    /// Current tokens, in thousandths.
    pub fn tokens_milli(&self) -> u64 {
        self.tokens_milli
    }
}

/// A TPS retry budget (Finagle's): every request deposits `ratio` of a retry (in
/// thousandths, so 0.5% works — tower#857 truncated fractional percentages), deposits expire
/// after `ttl`, and `min_per_sec` retries per second are always allowed.
#[derive(Clone, Debug)]
pub struct TpsBudget {
    ratio_milli: u64,
    reserve_milli: u64,
    ttl: Duration,
    /// (time, signed milli-tokens): deposits positive, withdrawals negative.
    ledger: VecDeque<(Instant, i64)>,
    balance: i64,
}

impl TpsBudget {
    /// Retries up to `ratio_milli`/1000 of requests (100 = 10%) plus `min_per_sec` per second,
    /// over a sliding `ttl`.
    pub fn new(ratio_milli: u64, min_per_sec: u64, ttl: Duration) -> TpsBudget {
        let reserve = (min_per_sec as u128 * ttl.as_millis()) as u64; // milli-tokens over the ttl
        TpsBudget {
            ratio_milli,
            reserve_milli: reserve,
            ttl,
            ledger: VecDeque::new(),
            balance: 0,
        }
    }
    fn expire(&mut self, now: Instant) {
        while let Some(&(t, v)) = self.ledger.front() {
            if t + self.ttl > now {
                break;
            }
            self.ledger.pop_front();
            self.balance -= v;
        }
    }
    /// A request was sent.
    pub fn deposit(&mut self, now: Instant) {
        self.expire(now);
        self.ledger.push_back((now, self.ratio_milli as i64));
        self.balance += self.ratio_milli as i64;
    }
    /// Takes one retry from the budget if there is one.
    pub fn withdraw(&mut self, now: Instant) -> bool {
        self.expire(now);
        if self.balance + self.reserve_milli as i64 >= 1000 {
            self.ledger.push_back((now, -1000));
            self.balance -= 1000;
            true
        } else {
            false
        }
    }
}
