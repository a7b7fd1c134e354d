//! Load balancing: one trait over membership (add, remove, weight, eject), picking, and load
//! feedback; round robin, smooth weighted round robin, (weighted) random, least connections,
//! power of two choices (least loaded and Peak-EWMA), consistent hash ring, bounded-load
//! consistent hashing, Maglev, jump hash and rendezvous hashing.
//!
//! Nodes are `u32` ids chosen by the caller. Every order that can leak into a decision is a
//! sorted order, and randomness comes from the `Rng` argument, so picks replay exactly.

mod hashing;
mod least;
mod maglev;
mod ring;
mod rr;

pub use hashing::{jump_hash, JumpHash, Rendezvous};
pub use least::{LeastConnections, PeakEwma, PowerOfTwo};
pub use maglev::Maglev;
pub use ring::{BoundedLoadRing, HashRing};
pub use rr::{Random, RoundRobin, SmoothWeighted, WeightedRandom};

use std::collections::BTreeMap;
use testbed_model::{Duration, Instant, Rng};

/// A backend's id.
pub type NodeId = u32;

/// What a pick may use: the time, a hash of the request's affinity key (hashing balancers),
/// and a random source (randomised balancers).
pub struct Pick<'a> {
    /// Now.
    pub now: Instant,
    /// Hash of the request's affinity key (e.g. `hash::hash_bytes(user_id)`).
    pub key: u64,
    /// Randomness for randomised balancers.
    pub rng: &'a mut dyn Rng,
}

/// A load balancer.
pub trait Balancer {
    /// Adds `node` with `weight` (or updates its weight). Weight 0 keeps it out of picks.
    fn add(&mut self, node: NodeId, weight: u32);
    /// Removes `node`.
    fn remove(&mut self, node: NodeId);
    /// Takes `node` out of picks (unhealthy) without forgetting it.
    fn eject(&mut self, node: NodeId);
    /// Returns an ejected `node` to picks.
    fn uneject(&mut self, node: NodeId);
    /// Chooses a node, or `None` when no node is available.
    fn pick(&mut self, p: &mut Pick<'_>) -> Option<NodeId>;
    /// A request to `node` started (load-aware balancers count it).
    fn on_start(&mut self, _node: NodeId, _now: Instant) {}
    /// A request to `node` ended after `latency`.
    fn on_end(&mut self, _node: NodeId, _now: Instant, _latency: Duration) {}
}

/// Membership shared by the balancers: weights and ejections, plus the sorted list of nodes
/// that may be picked.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Members {
    all: BTreeMap<NodeId, (u32, bool)>,
    active: Vec<(NodeId, u32)>,
}

impl Members {
    fn rebuild(&mut self) {
        self.active = self
            .all
            .iter()
            .filter(|(_, (w, ej))| *w > 0 && !*ej)
            .map(|(n, (w, _))| (*n, *w))
            .collect();
    }
    /// Adds or reweights; returns whether the active set changed.
    pub fn add(&mut self, node: NodeId, weight: u32) {
        let ej = self.all.get(&node).is_some_and(|(_, e)| *e);
        self.all.insert(node, (weight, ej));
        self.rebuild();
    }
    /// Forgets `node`.
    pub fn remove(&mut self, node: NodeId) {
        self.all.remove(&node);
        self.rebuild();
    }
    /// Marks `node` ejected (`true`) or healthy again.
    pub fn set_ejected(&mut self, node: NodeId, ejected: bool) {
        if let Some(m) = self.all.get_mut(&node) {
            m.1 = ejected;
            self.rebuild();
        }
    }
    /// Pickable nodes with their weights, sorted by id.
    pub fn active(&self) -> &[(NodeId, u32)] {
        &self.active
    }
    /// Whether `node` may be picked.
    pub fn is_active(&self, node: NodeId) -> bool {
        self.all.get(&node).is_some_and(|(w, e)| *w > 0 && !*e)
    }
}

macro_rules! membership_via {
    ($field:ident) => {
        fn add(&mut self, node: NodeId, weight: u32) {
            self.$field.add(node, weight);
            self.changed();
        }
        fn remove(&mut self, node: NodeId) {
            self.$field.remove(node);
            self.changed();
        }
        fn eject(&mut self, node: NodeId) {
            self.$field.set_ejected(node, true);
            self.changed();
        }
        fn uneject(&mut self, node: NodeId) {
            self.$field.set_ejected(node, false);
            self.changed();
        }
    };
}
pub(crate) use membership_via;

impl<B: Balancer + ?Sized> Balancer for Box<B> {
    fn add(&mut self, node: NodeId, weight: u32) {
        (**self).add(node, weight)
    }
    fn remove(&mut self, node: NodeId) {
        (**self).remove(node)
    }
    fn eject(&mut self, node: NodeId) {
        (**self).eject(node)
    }
    fn uneject(&mut self, node: NodeId) {
        (**self).uneject(node)
    }
    fn pick(&mut self, p: &mut Pick<'_>) -> Option<NodeId> {
        (**self).pick(p)
    }
    fn on_start(&mut self, node: NodeId, now: Instant) {
        (**self).on_start(node, now)
    }
    fn on_end(&mut self, node: NodeId, now: Instant, latency: Duration) {
        (**self).on_end(node, now, latency)
    }
}
