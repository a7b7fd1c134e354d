//! Concurrency control: a bulkhead (fixed limit that rejects rather than queues), adaptive
//! limits (AIMD, Vegas, Gradient2 after Netflix's concurrency-limits) and Google SRE client-side
//! adaptive throttling.

mod adaptive;
mod throttle;

pub use adaptive::{AdaptiveLimit, Aimd, Gradient2, LimitAlgorithm, Token, Vegas};
pub use throttle::SreThrottle;

/// A bulkhead refused a call: `max` calls are already in flight.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("bulkhead full: {in_flight} of {max} calls in flight")]
pub struct Full {
    /// Calls in flight.
    pub in_flight: u32,
    /// The limit.
    pub max: u32,
}

/// At most `max` calls in flight; the next one is rejected at once (no queue to grow).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Bulkhead {
    max: u32,
    in_flight: u32,
    rejected: u64,
}

/// One admitted call; give it back with [`Bulkhead::release`].
#[derive(Debug, PartialEq, Eq)]
#[must_use = "release the slot when the call ends"]
pub struct Slot(());

impl Bulkhead {
    /// A bulkhead of `max` concurrent calls.
    pub fn new(max: u32) -> Bulkhead {
        Bulkhead {
            max,
            in_flight: 0,
            rejected: 0,
        }
    }
    /// Takes a slot or rejects.
    pub fn try_acquire(&mut self) -> Result<Slot, Full> {
        if self.in_flight >= self.max {
            self.rejected += 1;
            return Err(Full {
                in_flight: self.in_flight,
                max: self.max,
            });
        }
        self.in_flight += 1;
        Ok(Slot(()))
    }
    /// Returns a slot.
    pub fn release(&mut self, slot: Slot) {
        let Slot(()) = slot;
        self.in_flight -= 1;
    }
    /// Calls in flight.
    pub fn in_flight(&self) -> u32 {
        self.in_flight
    }
    /// Calls rejected so far.
    pub fn rejected(&self) -> u64 {
        self.rejected
    }
    /// Changes the limit (calls above it finish; no new ones start until below).
    pub fn set_max(&mut self, max: u32) {
        self.max = max;
    }
}
