//! Maglev hashing (Eisenbud et al., NSDI 2016): a lookup table of prime size M where every
//! backend owns ⌊M/n⌋ or ⌈M/n⌉ slots, filled from per-backend permutations so that a
//! membership change moves few slots. The table is a plain `&[u32]` of node ids, ready to be
//! loaded into a BPF array map by the XDP load balancer.

use super::{membership_via, Balancer, Members, NodeId, Pick};
use crate::hash::hash_u64;

/// The default table size: a prime ≫ 100 × backends.
pub const DEFAULT_TABLE_SIZE: u64 = 65_537;

/// A Maglev lookup table over the active nodes.
#[derive(Clone, Debug)]
pub struct Maglev {
    members: Members,
    m: u64,
    table: Vec<NodeId>,
}

fn is_prime(n: u64) -> bool {
    n >= 2 && (2..).take_while(|d| d * d <= n).all(|d| n % d != 0)
}

impl Maglev {
    /// A table of size `m`.
    ///
    /// # Panics
    /// If `m` is not prime (the permutations would not cover the table).
    pub fn new(m: u64) -> Self {
        assert!(is_prime(m), "Maglev table size {m} must be prime");
        Maglev {
            members: Members::default(),
            m,
            table: Vec::new(),
        }
    }

    fn changed(&mut self) {
        let nodes: Vec<NodeId> = self.members.active().iter().map(|(n, _)| *n).collect();
        self.table.clear();
        if nodes.is_empty() {
            return;
        }
        let m = self.m;
        let perm: Vec<(u64, u64)> = nodes
            .iter()
            .map(|&n| {
                (
                    hash_u64(n as u64 ^ 0x000F_F5E7) % m,
                    hash_u64(n as u64 ^ 0x5C1F_0000_0000) % (m - 1) + 1,
                )
            })
            .collect();
        let mut next = vec![0u64; nodes.len()];
        let mut entry = vec![u32::MAX; m as usize];
        let mut filled = 0;
        'fill: loop {
            for (i, &(offset, skip)) in perm.iter().enumerate() {
                let mut c = (offset + next[i] * skip) % m;
                while entry[c as usize] != u32::MAX {
                    next[i] += 1;
                    c = (offset + next[i] * skip) % m;
                }
                entry[c as usize] = i as u32;
                next[i] += 1;
                filled += 1;
                if filled == m {
                    break 'fill;
                }
            }
        }
        self.table = entry.into_iter().map(|i| nodes[i as usize]).collect();
    }

    /// The node for key hash `h`: one modulo and one load.
    #[inline]
    pub fn lookup(&self, h: u64) -> Option<NodeId> {
        if self.table.is_empty() {
            return None;
        }
        Some(self.table[(h % self.m) as usize])
    }

    /// The lookup table: slot → node id (empty when there are no active nodes).
    pub fn table(&self) -> &[u32] {
        &self.table
    }
}

impl Default for Maglev {
    fn default() -> Self {
        Maglev::new(DEFAULT_TABLE_SIZE)
    }
}

impl Balancer for Maglev {
    membership_via!(members);
    fn pick(&mut self, p: &mut Pick<'_>) -> Option<NodeId> {
        self.lookup(p.key)
    }
}
