//! The core of a real backend's worker handle, shared by the kernel and io_uring workers:
//! the worker's place among its siblings, its seeded `rng()` streams, and the mapping
//! between model time and the backend's real clock (nanoseconds since one epoch). The
//! backends read the clock and pass the reading in; this module never does.

use crate::rng::{derive_seed_indexed, SeededRng};
use crate::time::{Duration, Instant};
use std::sync::atomic::{AtomicU64, Ordering};

/// The farthest a deadline reaches into the real clock's future (about 30 years): later
/// model deadlines (`Instant::MAX` as "never") saturate to it, which every timer accepts.
pub const FAR_FUTURE: Duration = Duration::from_secs(86_400 * 365 * 30);

/// One worker's identity, randomness and clock mapping. `Send + Sync`: a backend whose
/// handle must be (the kernel's, for hyper's timer and tonic's executor) wraps it in an
/// `Arc`; one whose handle is bound to its thread (io_uring's) in an `Rc`.
pub struct WorkerCore {
    label: &'static str,
    index: usize,
    count: usize,
    seed: u64,
    epoch: std::time::Instant,
    draws: AtomicU64,
}

impl std::fmt::Debug for WorkerCore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Worker")
            .field("index", &self.index)
            .field("count", &self.count)
            .finish()
    }
}

impl WorkerCore {
    /// Worker `index` of `count`, whose `rng()` streams derive from `seed` and the name
    /// `"{label}-{index}"`, and whose model time is the real time since `epoch`.
    pub fn new(
        label: &'static str,
        index: usize,
        count: usize,
        seed: u64,
        epoch: std::time::Instant,
    ) -> WorkerCore {
        WorkerCore {
            label,
            index,
            count,
            seed,
            epoch,
            draws: AtomicU64::new(0),
        }
    }

    /// This worker's index, `0..count()`.
    pub fn index(&self) -> usize {
        self.index
    }

    /// Number of workers it runs with.
    pub fn count(&self) -> usize {
        self.count
    }

    /// A fresh generator: the n-th call returns the n-th stream of this worker, so a run
    /// with the same seed draws the same numbers in the same order of calls.
    pub fn rng(&self) -> SeededRng {
        let n = self.draws.fetch_add(1, Ordering::Relaxed) + 1;
        SeededRng::new(derive_seed_indexed(
            self.seed,
            &format!("{}-{}", self.label, self.index),
            n,
        ))
    }

    /// The model time of a real clock reading `now` (zero before the epoch).
    pub fn instant(&self, now: std::time::Instant) -> Instant {
        Instant::ZERO + now.saturating_duration_since(self.epoch)
    }

    /// The real clock's time at model time `t`, at most [`FAR_FUTURE`] past the epoch.
    pub fn deadline(&self, t: Instant) -> std::time::Instant {
        self.epoch + t.since_epoch().min(FAR_FUTURE)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Rng;

    #[allow(clippy::disallowed_methods)] // one reading, as the test's epoch
    fn epoch() -> std::time::Instant {
        std::time::Instant::now() // allow-nondeterminism: a test's epoch; the core takes it as an argument
    }

    #[test]
    fn streams_are_per_worker_and_per_call_and_repeat_with_the_seed() {
        let e = epoch();
        let (a, b) = (
            WorkerCore::new("w", 0, 2, 7, e),
            WorkerCore::new("w", 1, 2, 7, e),
        );
        let (a1, a2) = (a.rng().next_u64(), a.rng().next_u64());
        assert_ne!(a1, a2, "each call is a new stream");
        assert_ne!(a1, b.rng().next_u64(), "each worker has its own");
        let again = WorkerCore::new("w", 0, 2, 7, e);
        assert_eq!((again.rng().next_u64(), again.rng().next_u64()), (a1, a2));
        let other = WorkerCore::new("other", 0, 2, 7, e);
        assert_ne!(other.rng().next_u64(), a1, "the label names the stream");
    }

    #[test]
    fn the_clock_mapping_round_trips_and_saturates() {
        let e = epoch();
        let w = WorkerCore::new("w", 0, 1, 0, e);
        let later = e + Duration::from_millis(1500);
        assert_eq!(w.instant(later), Instant::from_millis(1500));
        assert_eq!(w.deadline(Instant::from_millis(1500)), later);
        assert_eq!(w.instant(e), Instant::ZERO);
        assert_eq!(w.deadline(Instant::from_nanos(u64::MAX)), e + FAR_FUTURE);
    }
}
