//! Round robin, smooth weighted round robin (nginx), random and weighted random.

use super::{membership_via, Balancer, Members, NodeId, Pick};

/// Plain round robin over the active nodes in id order (weights ignored).
#[derive(Clone, Debug, Default)]
pub struct RoundRobin {
    members: Members,
    next: usize,
}

impl RoundRobin {
    /// Empty.
    pub fn new() -> Self {
        Self::default()
    }
    fn changed(&mut self) {}
}

impl Balancer for RoundRobin {
    membership_via!(members);
    fn pick(&mut self, _p: &mut Pick<'_>) -> Option<NodeId> {
        let a = self.members.active();
        if a.is_empty() {
            return None;
        }
        let n = a[self.next % a.len()].0;
        self.next = (self.next + 1) % a.len();
        Some(n)
    }
}

/// Smooth weighted round robin (nginx): each pick adds every node's weight to its current
/// value, takes the largest (lowest id on ties) and subtracts the total from it. Over every
/// period of Σw picks node i is chosen exactly wᵢ times, interleaved as evenly as possible
/// (5,1,1 → a a b a c a a).
#[derive(Clone, Debug, Default)]
pub struct SmoothWeighted {
    members: Members,
    current: Vec<i64>,
}

impl SmoothWeighted {
    /// Empty.
    pub fn new() -> Self {
        Self::default()
    }
    fn changed(&mut self) {
        self.current = vec![0; self.members.active().len()];
    }
}

impl Balancer for SmoothWeighted {
    membership_via!(members);
    fn pick(&mut self, _p: &mut Pick<'_>) -> Option<NodeId> {
        let a = self.members.active();
        if a.is_empty() {
            return None;
        }
        let total: i64 = a.iter().map(|(_, w)| *w as i64).sum();
        let mut best = 0;
        for (i, (_, w)) in a.iter().enumerate() {
            self.current[i] += *w as i64;
            if self.current[i] > self.current[best] {
                best = i;
            }
        }
        self.current[best] -= total;
        Some(a[best].0)
    }
}

/// Uniform random choice among active nodes (weights ignored).
#[derive(Clone, Debug, Default)]
pub struct Random {
    members: Members,
}

impl Random {
    /// Empty.
    pub fn new() -> Self {
        Self::default()
    }
    fn changed(&mut self) {}
}

impl Balancer for Random {
    membership_via!(members);
    fn pick(&mut self, p: &mut Pick<'_>) -> Option<NodeId> {
        let a = self.members.active();
        (!a.is_empty()).then(|| a[p.rng.below(a.len() as u64) as usize].0)
    }
}

/// Random choice with probability proportional to weight (cumulative table + binary search).
#[derive(Clone, Debug, Default)]
pub struct WeightedRandom {
    members: Members,
    cumulative: Vec<u64>,
}

impl WeightedRandom {
    /// Empty.
    pub fn new() -> Self {
        Self::default()
    }
    fn changed(&mut self) {
        let mut acc = 0;
        self.cumulative = self
            .members
            .active()
            .iter()
            .map(|(_, w)| {
                acc += *w as u64;
                acc
            })
            .collect();
    }
}

impl Balancer for WeightedRandom {
    membership_via!(members);
    fn pick(&mut self, p: &mut Pick<'_>) -> Option<NodeId> {
        let total = *self.cumulative.last()?;
        let x = p.rng.below(total);
        let i = self.cumulative.partition_point(|c| *c <= x);
        Some(self.members.active()[i].0)
    }
}
