//! Jump consistent hash (Lamping & Veach 2014) and rendezvous (highest random weight) hashing.

use super::{membership_via, Balancer, Members, NodeId, Pick};
use crate::hash::hash_u64;

/// Jump consistent hash: the bucket in `0..buckets` for `key`. Growing `buckets` by one
/// moves only 1/(n+1) of keys, all onto the new bucket. Its float arithmetic is exact IEEE
/// (no libm), so results match on every machine.
pub fn jump_hash(mut key: u64, buckets: u32) -> u32 {
    let (mut b, mut j) = (-1i64, 0i64);
    while j < buckets as i64 {
        b = j;
        key = key.wrapping_mul(2_862_933_555_777_941_757).wrapping_add(1);
        j = ((b + 1) as f64 * ((1u64 << 31) as f64 / ((key >> 33) + 1) as f64)) as i64;
    }
    b as u32
}

/// Jump hash over the active nodes in id order. Only appending nodes (ids larger than all
/// others) keeps keys stable; removing a middle node remaps more (use a ring or Maglev then).
#[derive(Clone, Debug, Default)]
pub struct JumpHash {
    members: Members,
}

impl JumpHash {
    /// Empty.
    pub fn new() -> Self {
        Self::default()
    }
    fn changed(&mut self) {}
}

impl Balancer for JumpHash {
    membership_via!(members);
    fn pick(&mut self, p: &mut Pick<'_>) -> Option<NodeId> {
        let a = self.members.active();
        (!a.is_empty()).then(|| a[jump_hash(p.key, a.len() as u32) as usize].0)
    }
}

/// Rendezvous hashing: the node with the highest `hash(key, node)`. Any membership change
/// moves only the keys of the nodes that changed. O(n) per pick.
#[derive(Clone, Debug, Default)]
pub struct Rendezvous {
    members: Members,
}

impl Rendezvous {
    /// Empty.
    pub fn new() -> Self {
        Self::default()
    }
    fn changed(&mut self) {}
}

impl Balancer for Rendezvous {
    membership_via!(members);
    fn pick(&mut self, p: &mut Pick<'_>) -> Option<NodeId> {
        self.members
            .active()
            .iter()
            .max_by_key(|(n, _)| (hash_u64(p.key ^ hash_u64(*n as u64)), *n))
            .map(|(n, _)| *n)
    }
}
