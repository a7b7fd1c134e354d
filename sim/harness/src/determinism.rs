//! Determinism checks: two runs of the same seed must produce the same trace, event by event
//! and by hash. [`compare`] judges two recorded runs of any simulator test.

use testbed_sim::trace::{first_difference, Event};

/// The verdict for one seed.
#[derive(Clone, Debug, PartialEq)]
pub enum SeedVerdict {
    /// Both runs produced this hash and identical events.
    Same(u64),
    /// The runs diverged at this event index.
    Diverged {
        /// Index of the first differing event.
        index: usize,
        /// Description of both sides.
        detail: String,
    },
}

/// Compares two runs of one seed: their trace events, then their trace hashes (a run without
/// a hash never counts as the same).
pub fn compare(a: &[Event], hash_a: Option<u64>, b: &[Event], hash_b: Option<u64>) -> SeedVerdict {
    if let Some((index, x, y)) = first_difference(a, b) {
        let show = |e: Option<Event>| {
            e.map(|e| e.to_string())
                .unwrap_or_else(|| "end of trace".into())
        };
        return SeedVerdict::Diverged {
            index,
            detail: format!("first run: {}; second run: {}", show(x), show(y)),
        };
    }
    match (hash_a, hash_b) {
        (Some(x), Some(y)) if x == y => SeedVerdict::Same(x),
        (x, y) => SeedVerdict::Diverged {
            index: a.len(),
            detail: format!("trace hashes differ: {x:?} vs {y:?}"),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use testbed_model::Instant;
    use testbed_sim::trace::{DropReason, Kind};

    fn ev(ms: u64, a: u64) -> Event {
        Event {
            time: Instant::from_millis(ms),
            kind: Kind::SegmentSend,
            reason: DropReason::None,
            src: 0,
            dst: 1,
            a,
            b: 100,
        }
    }

    #[test]
    fn the_first_differing_event_and_then_the_hashes_decide() {
        let a = [ev(1, 1), ev(2, 2), ev(3, 3)];
        assert_eq!(compare(&a, Some(9), &a, Some(9)), SeedVerdict::Same(9));
        let b = [ev(1, 1), ev(2, 7), ev(3, 3)];
        assert!(matches!(
            compare(&a, Some(9), &b, Some(9)),
            SeedVerdict::Diverged { index: 1, .. }
        ));
        match compare(&a, Some(9), &a[..2], Some(9)) {
            SeedVerdict::Diverged { index: 2, detail } => {
                assert!(detail.ends_with("second run: end of trace"), "{detail}")
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            compare(&a, Some(9), &a, Some(8)),
            SeedVerdict::Diverged { index: 3, .. }
        ));
        assert!(matches!(
            compare(&[], None, &[], None),
            SeedVerdict::Diverged { index: 0, .. }
        ));
    }
}
