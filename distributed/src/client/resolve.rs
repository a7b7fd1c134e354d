//! Resolution: the current instance set of one service, with a revision that changes
//! whenever the set does (so the stack re-syncs its balancer only on change).

use crate::balance::NodeId;
use std::cell::RefCell;
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::rc::Rc;

/// One instance of a service.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Instance {
    /// Stable id (the balancer's node id).
    pub id: NodeId,
    /// Where it listens.
    pub addr: SocketAddr,
    /// Balancing weight (0: keep out of picks).
    pub weight: u32,
}

/// Gives the current instance set of a service.
pub trait Resolve {
    /// Changes whenever [`Resolve::instances`] would return something different.
    fn revision(&self) -> u64;
    /// The instances, sorted by id.
    fn instances(&self) -> Vec<Instance>;
}

/// A fixed list.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StaticResolve(Vec<Instance>);

impl StaticResolve {
    /// These instances (sorted by id; a later duplicate id replaces an earlier one).
    pub fn new(instances: impl IntoIterator<Item = Instance>) -> Self {
        let m: BTreeMap<NodeId, Instance> = instances.into_iter().map(|i| (i.id, i)).collect();
        StaticResolve(m.into_values().collect())
    }
}

impl Resolve for StaticResolve {
    fn revision(&self) -> u64 {
        0
    }
    fn instances(&self) -> Vec<Instance> {
        self.0.clone()
    }
}

/// One update from a watch.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Change {
    /// The instance appeared or changed.
    Put(Instance),
    /// The instance is gone.
    Delete(NodeId),
}

/// A watch update was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum WatchError {
    /// Revisions must increase: this one is not newer than what was applied.
    #[error("stale revision {got}: already at {have}")]
    Stale {
        /// The update's revision.
        got: u64,
        /// The last applied revision.
        have: u64,
    },
}

/// An instance set fed by a watch stream (etcd-style revisions): updates apply in revision
/// order; a replayed or reordered old update is refused, so a resumed watch cannot go back.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct WatchResolve {
    instances: BTreeMap<NodeId, Instance>,
    revision: u64,
}

impl WatchResolve {
    /// Empty, at revision 0.
    pub fn new() -> Self {
        Self::default()
    }
    /// Applies `change` made at `revision` (must exceed the last applied one).
    pub fn apply(&mut self, revision: u64, change: Change) -> Result<(), WatchError> {
        if revision <= self.revision {
            return Err(WatchError::Stale {
                got: revision,
                have: self.revision,
            });
        }
        self.revision = revision;
        match change {
            Change::Put(i) => {
                self.instances.insert(i.id, i);
            }
            Change::Delete(id) => {
                self.instances.remove(&id);
            }
        }
        Ok(())
    }
}

impl Resolve for WatchResolve {
    fn revision(&self) -> u64 {
        self.revision
    }
    fn instances(&self) -> Vec<Instance> {
        self.instances.values().copied().collect()
    }
}

impl<R: Resolve + ?Sized> Resolve for Rc<RefCell<R>> {
    fn revision(&self) -> u64 {
        self.borrow().revision()
    }
    fn instances(&self) -> Vec<Instance> {
        self.borrow().instances()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn inst(id: NodeId) -> Instance {
        Instance {
            id,
            addr: SocketAddr::from(([10, 0, 0, id as u8], 7000)),
            weight: 1,
        }
    }

    #[test]
    fn static_list_is_sorted_and_deduplicated() {
        let r = StaticResolve::new([inst(3), inst(1), inst(3)]);
        assert_eq!(r.instances(), vec![inst(1), inst(3)]);
    }

    #[test]
    fn watch_applies_in_revision_order_and_refuses_stale_updates() {
        let mut w = WatchResolve::new();
        w.apply(1, Change::Put(inst(1))).unwrap();
        w.apply(2, Change::Put(inst(2))).unwrap();
        assert_eq!(w.instances(), vec![inst(1), inst(2)]);
        w.apply(5, Change::Delete(1)).unwrap();
        assert_eq!(w.instances(), vec![inst(2)]);
        assert_eq!(
            w.apply(5, Change::Put(inst(1))),
            Err(WatchError::Stale { got: 5, have: 5 })
        );
        assert_eq!(w.instances(), vec![inst(2)]);
        assert_eq!(w.revision(), 5);
    }
}
