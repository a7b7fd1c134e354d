//! The registry's bounded change log: what watchers resume from. When it is full the oldest
//! change is dropped and the log remembers the highest revision it has forgotten, so a
//! watcher asking for changes after an older revision gets `Compacted` rather than a gap.

use super::types::{DiscoveryError, Revision, WatchEvent};
use std::collections::VecDeque;

/// A bounded log of changes in revision order.
#[derive(Clone, Debug)]
pub struct History {
    events: VecDeque<WatchEvent>,
    capacity: usize,
    /// Every change at or below this revision is gone (or predates the registry).
    forgotten: Revision,
}

impl History {
    /// An empty log keeping `capacity` changes; changes at or below `base` never existed here.
    ///
    /// # Panics
    /// If `capacity` is 0.
    pub fn new(capacity: usize, base: Revision) -> History {
        assert!(capacity > 0, "History capacity 0");
        History {
            events: VecDeque::new(),
            capacity,
            forgotten: base,
        }
    }

    /// Appends a change; its revision must be above every earlier one.
    ///
    /// # Panics
    /// If revisions do not increase (a bug in the registry).
    pub fn push(&mut self, e: WatchEvent) {
        let last = self.events.back().map_or(self.forgotten, |l| l.revision);
        assert!(e.revision > last, "history revisions must increase");
        if self.events.len() == self.capacity {
            let old = self.events.pop_front().expect("full");
            self.forgotten = old.revision;
        }
        self.events.push_back(e);
    }

    /// Up to `max` changes of `service` with revisions above `after`, oldest first, or
    /// `Compacted` when changes after `after` may have been forgotten.
    pub fn since(
        &self,
        service: &str,
        after: Revision,
        max: usize,
    ) -> Result<Vec<WatchEvent>, DiscoveryError> {
        if after < self.forgotten {
            return Err(DiscoveryError::Compacted {
                asked: after,
                oldest: self.forgotten,
            });
        }
        let start = self.events.partition_point(|e| e.revision <= after);
        Ok(self
            .events
            .range(start..)
            .filter(|e| e.change.service() == service)
            .take(max)
            .cloned()
            .collect())
    }

    /// Changes kept.
    pub fn len(&self) -> usize {
        self.events.len()
    }

    /// Whether nothing is kept.
    pub fn is_empty(&self) -> bool {
        self.events.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::discovery::types::Change;

    fn del(rev: u64, svc: &str) -> WatchEvent {
        WatchEvent {
            revision: Revision(rev),
            change: Change::Delete {
                service: svc.into(),
                id: format!("i{rev}"),
            },
        }
    }

    #[test]
    fn resumes_after_a_revision_and_reports_compaction() {
        let mut h = History::new(3, Revision(10));
        assert!(matches!(
            h.since("a", Revision(9), 10),
            Err(DiscoveryError::Compacted { .. })
        ));
        for r in 11..=14 {
            h.push(del(r, if r % 2 == 0 { "a" } else { "b" }));
        }
        // 11 was dropped: resuming after 10 could miss it.
        assert_eq!(
            h.since("a", Revision(10), 10),
            Err(DiscoveryError::Compacted {
                asked: Revision(10),
                oldest: Revision(11)
            })
        );
        let a: Vec<u64> = h
            .since("a", Revision(11), 10)
            .unwrap()
            .iter()
            .map(|e| e.revision.0)
            .collect();
        assert_eq!(a, vec![12, 14]);
        assert_eq!(h.since("a", Revision(12), 10).unwrap().len(), 1);
        assert_eq!(h.since("a", Revision(14), 10).unwrap().len(), 0);
        assert_eq!(h.since("a", Revision(11), 1).unwrap().len(), 1);
    }

    #[test]
    #[should_panic(expected = "increase")]
    fn non_increasing_revisions_are_a_bug() {
        let mut h = History::new(3, Revision(0));
        h.push(del(2, "a"));
        h.push(del(2, "a"));
    }
}
