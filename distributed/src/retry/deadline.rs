//! Deadlines as values that propagate (remaining time shrinks hop by hop), and hedging.

use testbed_model::{Duration, Instant};

/// An absolute deadline on the injected clock.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Deadline(Instant);

impl Deadline {
    /// `timeout` from `now`.
    pub fn after(now: Instant, timeout: Duration) -> Deadline {
        Deadline(now.saturating_add(timeout))
    }
    /// The instant.
    pub fn at(self) -> Instant {
        self.0
    }
    /// Time left at `now` (zero once passed).
    pub fn remaining(self, now: Instant) -> Duration {
        self.0.saturating_duration_since(now)
    }
    /// Whether it has passed.
    pub fn expired(self, now: Instant) -> bool {
        now >= self.0
    }
    /// The deadline for a downstream call: the earlier of this one and `now + own_timeout`,
    /// minus `margin` for the reply's way back.
    pub fn child(self, now: Instant, own_timeout: Duration, margin: Duration) -> Deadline {
        Deadline(
            self.0
                .min(now.saturating_add(own_timeout))
                .saturating_sub(margin),
        )
    }
    /// The remaining time in gRPC's `grpc-timeout` header form (e.g. `250m`), at most 8 digits.
    pub fn grpc_timeout(self, now: Instant) -> String {
        let ns = self.remaining(now).as_nanos();
        for (unit, div) in [
            ("n", 1u128),
            ("u", 1_000),
            ("m", 1_000_000),
            ("S", 1_000_000_000),
            ("M", 60_000_000_000),
            ("H", 3_600_000_000_000),
        ] {
            let v = ns.div_ceil(div);
            if v < 100_000_000 {
                return format!("{v}{unit}");
            }
        }
        "99999999H".into()
    }
}

/// Hedging: if a call has not answered after `delay`, send another copy, up to `max_extra`
/// copies (use with a [`super::RetryThrottle`] so hedges cannot overload a backend).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Hedging {
    /// Wait before each extra copy.
    pub delay: Duration,
    /// Extra copies at most.
    pub max_extra: u32,
}

impl Hedging {
    /// When to send the next copy of a call started at `started` with `sent_extra` copies out;
    /// `None` when no more copies are allowed.
    pub fn next_at(&self, started: Instant, sent_extra: u32) -> Option<Instant> {
        (sent_extra < self.max_extra).then(|| started + self.delay * (sent_extra + 1))
    }
}
