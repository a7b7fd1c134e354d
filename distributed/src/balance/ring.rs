//! Consistent hashing: a ring of virtual nodes, and bounded-load consistent hashing
//! (Mirrokni, Thorup, Zadimoghaddam 2016) on top of it.

use super::{membership_via, Balancer, Members, NodeId, Pick};
use crate::hash::hash_u64;
use std::collections::BTreeMap;
use testbed_model::{Duration, Instant};

/// Bits of the prefix index that narrows each lookup's binary search.
const PREFIX_BITS: u32 = 12;

/// A consistent hash ring with `vnodes × weight` points per node. A key goes to the first
/// point clockwise from its hash. Adding a node moves only keys onto it; removing one moves
/// only its keys.
#[derive(Clone, Debug)]
pub struct HashRing {
    members: Members,
    vnodes: u32,
    points: Vec<(u64, NodeId)>,
    /// `prefix[b]` = index of the first point whose top `PREFIX_BITS` bits are ≥ b.
    prefix: Vec<u32>,
}

impl HashRing {
    /// A ring with `vnodes` points per unit of weight.
    pub fn new(vnodes: u32) -> Self {
        HashRing {
            members: Members::default(),
            vnodes: vnodes.max(1),
            points: Vec::new(),
            prefix: vec![0; (1 << PREFIX_BITS) + 1],
        }
    }

    fn changed(&mut self) {
        self.points.clear();
        for &(n, w) in self.members.active() {
            for v in 0..self.vnodes.saturating_mul(w) {
                self.points.push((hash_u64((n as u64) << 32 | v as u64), n));
            }
        }
        self.points.sort_unstable();
        let mut i = 0;
        for b in 0..=(1u64 << PREFIX_BITS) {
            while i < self.points.len() && (self.points[i].0 >> (64 - PREFIX_BITS)) < b {
                i += 1;
            }
            self.prefix[b as usize] = i as u32;
        }
    }

    /// The index of the first point at or after `h` (wrapping).
    #[inline]
    fn position(&self, h: u64) -> usize {
        let b = (h >> (64 - PREFIX_BITS)) as usize;
        let (lo, hi) = (self.prefix[b] as usize, self.prefix[b + 1] as usize);
        let i = lo + self.points[lo..hi].partition_point(|(p, _)| *p < h);
        if i == self.points.len() {
            0
        } else {
            i
        }
    }

    /// The node for key hash `h`.
    #[inline]
    pub fn lookup(&self, h: u64) -> Option<NodeId> {
        if self.points.is_empty() {
            return None;
        }
        Some(self.points[self.position(h)].1)
    }

    /// Number of points on the ring.
    pub fn len(&self) -> usize {
        self.points.len()
    }

    /// Whether the ring has no points.
    pub fn is_empty(&self) -> bool {
        self.points.is_empty()
    }
}

impl Balancer for HashRing {
    membership_via!(members);
    fn pick(&mut self, p: &mut Pick<'_>) -> Option<NodeId> {
        self.lookup(p.key)
    }
}

/// Consistent hashing with bounded loads: a key goes to the first node clockwise whose load
/// is below `⌈(1+ε)·average⌉` (average counting the new request), so no node ever exceeds it
/// while keys still mostly stay put.
#[derive(Clone, Debug)]
pub struct BoundedLoadRing {
    ring: HashRing,
    epsilon_milli: u64,
    loads: BTreeMap<NodeId, u64>,
    total: u64,
}

impl BoundedLoadRing {
    /// `vnodes` per unit of weight; `epsilon` in thousandths (250 = ε 0.25).
    pub fn new(vnodes: u32, epsilon_milli: u64) -> Self {
        BoundedLoadRing {
            ring: HashRing::new(vnodes),
            epsilon_milli,
            loads: BTreeMap::new(),
            total: 0,
        }
    }
    fn changed(&mut self) {
        self.ring.changed();
        let m = &self.ring.members;
        self.loads.retain(|n, _| m.is_active(*n));
        self.total = self.loads.values().sum();
    }
    /// The cap a node's load may reach when one more request is placed.
    pub fn cap(&self) -> u64 {
        let n = self.ring.members.active().len() as u64;
        if n == 0 {
            return 0;
        }
        // ⌈(1+ε)·(total+1)/n⌉ in integers.
        ((1000 + self.epsilon_milli) * (self.total + 1)).div_ceil(1000 * n)
    }
    /// The current load of `node`.
    pub fn load(&self, node: NodeId) -> u64 {
        self.loads.get(&node).copied().unwrap_or(0)
    }
}

impl Balancer for BoundedLoadRing {
    fn add(&mut self, node: NodeId, weight: u32) {
        self.ring.members.add(node, weight);
        self.changed();
    }
    fn remove(&mut self, node: NodeId) {
        self.ring.members.remove(node);
        self.changed();
    }
    fn eject(&mut self, node: NodeId) {
        self.ring.members.set_ejected(node, true);
        self.changed();
    }
    fn uneject(&mut self, node: NodeId) {
        self.ring.members.set_ejected(node, false);
        self.changed();
    }
    fn pick(&mut self, p: &mut Pick<'_>) -> Option<NodeId> {
        if self.ring.points.is_empty() {
            return None;
        }
        let cap = self.cap();
        let start = self.ring.position(p.key);
        let n = self.ring.points.len();
        (0..n)
            .map(|k| self.ring.points[(start + k) % n].1)
            .find(|node| self.load(*node) < cap)
    }
    fn on_start(&mut self, node: NodeId, _now: Instant) {
        *self.loads.entry(node).or_default() += 1;
        self.total += 1;
    }
    fn on_end(&mut self, node: NodeId, _now: Instant, _latency: Duration) {
        if let Some(l) = self.loads.get_mut(&node) {
            if *l > 0 {
                *l -= 1;
                self.total -= 1;
            }
        }
    }
}
