//! Backoff schedules: constant or exponential growth, capped, with no, full, equal or
//! decorrelated jitter (AWS architecture blog's definitions), a maximum number of attempts and
//! an overall deadline.

use super::Deadline;
use testbed_model::{Duration, Instant, Rng};

/// How the un-jittered delay grows with the attempt number.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Growth {
    /// Always `base`.
    Constant,
    /// `base · 2^(attempt−1)`.
    Exponential,
}

/// How randomness spreads the delays (so clients do not retry in lockstep).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Jitter {
    /// The delay itself.
    None,
    /// Uniform in `[0, d]`.
    Full,
    /// `d/2` plus uniform in `[0, d/2]`.
    Equal,
    /// `min(cap, uniform in [base, 3 · previous])`.
    Decorrelated,
}

/// A backoff schedule.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Backoff {
    /// First delay.
    pub base: Duration,
    /// No delay exceeds this.
    pub cap: Duration,
    /// Growth.
    pub growth: Growth,
    /// Jitter.
    pub jitter: Jitter,
}

impl Backoff {
    /// Exponential from `base`, capped at `cap`, full jitter.
    pub fn exponential(base: Duration, cap: Duration) -> Backoff {
        Backoff {
            base,
            cap,
            growth: Growth::Exponential,
            jitter: Jitter::Full,
        }
    }

    /// The un-jittered delay before retry number `attempt` (1-based).
    pub fn ceiling(&self, attempt: u32) -> Duration {
        match self.growth {
            Growth::Constant => self.base.min(self.cap),
            Growth::Exponential => {
                let factor = 1u32
                    .checked_shl(attempt.saturating_sub(1))
                    .unwrap_or(u32::MAX);
                self.base
                    .checked_mul(factor)
                    .unwrap_or(Duration::MAX)
                    .min(self.cap)
            }
        }
    }

    /// The delay before retry `attempt` (1-based), given the previous delay (for
    /// decorrelated jitter), drawing from `rng`.
    pub fn delay(&self, attempt: u32, previous: Duration, rng: &mut impl Rng) -> Duration {
        let d = self.ceiling(attempt);
        match self.jitter {
            Jitter::None => d,
            Jitter::Full => rng.duration_between(Duration::ZERO, d),
            Jitter::Equal => d / 2 + rng.duration_between(Duration::ZERO, d - d / 2),
            Jitter::Decorrelated => {
                let hi = previous.max(self.base).saturating_mul(3);
                rng.duration_between(self.base, hi).min(self.cap)
            }
        }
    }
}

/// When to retry: a backoff, a maximum number of attempts (the first call included) and an
/// optional overall deadline.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Delays between attempts.
    pub backoff: Backoff,
    /// Attempts in all, the first included.
    pub max_attempts: u32,
    /// No retry is scheduled whose start would be past this.
    pub deadline: Option<Deadline>,
}

impl RetryPolicy {
    /// The delay before the next attempt, after `attempts_made` attempts failed and the last
    /// delay was `previous`; `None` when out of attempts or the retry would start past the
    /// deadline.
    pub fn next_delay(
        &self,
        now: Instant,
        attempts_made: u32,
        previous: Duration,
        rng: &mut impl Rng,
    ) -> Option<Duration> {
        if attempts_made >= self.max_attempts {
            return None;
        }
        let d = self.backoff.delay(attempts_made, previous, rng);
        match self.deadline {
            Some(dl) if now + d >= dl.at() => None,
            _ => Some(d),
        }
    }
}
