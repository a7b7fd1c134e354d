//! The links of a world, created on first use: a world of n hosts has n² directed links, but
//! a run uses few of them (10,000 clients of one server use 20,000 of 10⁸). Lookup is a dense
//! index while n² is small and a B-tree beyond, so both a 2-host benchmark and a 10,000-host
//! world stay cheap. A link's stream is derived from its name, so when it is created does not
//! change its draws.

use crate::world::{HostId, Link};
use std::collections::BTreeMap;

/// Largest host count with a dense index (4 bytes per host pair: 16 MiB at 2,048 hosts).
const DENSE_MAX_HOSTS: usize = 2048;

#[derive(Default)]
pub(crate) struct LinkTable {
    hosts: usize,
    /// Dense index `from * hosts + to` into `links`; `u32::MAX` is "not created yet".
    dense: Vec<u32>,
    sparse: BTreeMap<(HostId, HostId), u32>,
    links: Vec<Link>,
}

impl LinkTable {
    /// Sizes the index for `hosts` hosts (once, when the run starts; no link exists yet).
    pub(crate) fn start(&mut self, hosts: usize) {
        self.hosts = hosts;
        if hosts <= DENSE_MAX_HOSTS {
            self.dense = vec![u32::MAX; hosts * hosts];
        }
    }

    /// The index of link `from` → `to`, if created.
    #[inline]
    pub(crate) fn find(&self, from: HostId, to: HostId) -> Option<usize> {
        let i = if self.dense.is_empty() {
            *self.sparse.get(&(from, to))?
        } else {
            self.dense[from as usize * self.hosts + to as usize]
        };
        (i != u32::MAX).then_some(i as usize)
    }

    /// Adds link `from` → `to` (which must not exist yet); returns its index.
    pub(crate) fn insert(&mut self, from: HostId, to: HostId, link: Link) -> usize {
        let i = self.links.len();
        let idx = u32::try_from(i).expect("fewer than 2^32 links");
        if self.dense.is_empty() {
            self.sparse.insert((from, to), idx);
        } else {
            self.dense[from as usize * self.hosts + to as usize] = idx;
        }
        self.links.push(link);
        i
    }

    #[inline]
    pub(crate) fn get(&self, i: usize) -> &Link {
        &self.links[i]
    }

    #[inline]
    pub(crate) fn get_mut(&mut self, i: usize) -> &mut Link {
        &mut self.links[i]
    }

    /// The links created so far, with their ends, in creation order.
    pub(crate) fn created(&self) -> Vec<(HostId, HostId)> {
        let mut v: Vec<(usize, (HostId, HostId))> = if self.dense.is_empty() {
            self.sparse.iter().map(|(k, i)| (*i as usize, *k)).collect()
        } else {
            self.dense
                .iter()
                .enumerate()
                .filter(|(_, i)| **i != u32::MAX)
                .map(|(p, i)| {
                    let (from, to) = (p / self.hosts, p % self.hosts);
                    (*i as usize, (from as HostId, to as HostId))
                })
                .collect()
        };
        v.sort_unstable();
        v.into_iter().map(|(_, k)| k).collect()
    }
}
