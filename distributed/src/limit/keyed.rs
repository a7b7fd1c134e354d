//! Keyed limiting (per IP, per user) with a bounded store.
//!
//! The store holds at most `cap` keys. Keys are kept in least-recently-used order; when a new
//! key arrives at a full store, the least recently used key is evicted *if its limiter is
//! idle* (full again: forgetting it changes no future decision). If even that key is still
//! busy, evicting it would hand its owner a fresh burst, so the store is full and
//! [`WhenFull`] decides: fail open (admit the newcomer untracked) or fail closed (deny it until
//! the oldest key turns idle). An attacker cycling through fresh keys can therefore never grow
//! memory past `cap` (unlike governor's keyed store, governor#171), and never reset a busy
//! key's limit.

use super::{Decision, Quota, RateLimiter};
use crate::hash::FixedState;
use hashbrown::HashMap;
use std::hash::Hash;
use testbed_model::{Duration, Instant};

const NIL: u32 = u32::MAX;

/// What a full store does with a request from a key it cannot track.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WhenFull {
    /// Admit it, untracked (availability first).
    FailOpen,
    /// Deny it until the least recently used key turns idle (protection first).
    FailClosed,
}

/// Counters of a [`KeyedLimiter`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct KeyedStats {
    /// Keys tracked now.
    pub keys: usize,
    /// The hard cap.
    pub cap: usize,
    /// Idle keys evicted to make room.
    pub evictions: u64,
    /// Requests of untracked keys admitted because the store was full (fail open).
    pub full_admitted: u64,
    /// Requests of untracked keys denied because the store was full (fail closed).
    pub full_denied: u64,
    /// Approximate bytes the store spends per tracked key (node + index entry).
    pub bytes_per_key: usize,
}

/// Why a per-key quota could not be set.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum QuotaError {
    /// As many per-key quotas as the store's cap are set already.
    #[error("per-key quota table is full ({0} entries)")]
    TooManyOverrides(usize),
}

struct Node<K, L> {
    key: K,
    lim: L,
    prev: u32,
    next: u32,
}

/// A rate limiter per key, in a store of at most `cap` keys.
pub struct KeyedLimiter<K, L> {
    index: HashMap<K, u32, FixedState>, // allow-nondeterminism: fixed hasher; never iterated
    nodes: Vec<Node<K, L>>,
    free: Vec<u32>,
    head: u32,
    tail: u32,
    cap: usize,
    when_full: WhenFull,
    quota: Quota,
    overrides: HashMap<K, Quota, FixedState>, // allow-nondeterminism: fixed hasher; never iterated
    make: fn(Quota) -> L,
    stats: KeyedStats,
}

impl<K: Hash + Eq + Clone, L: RateLimiter> KeyedLimiter<K, L> {
    /// A store of at most `cap` keys, each limited by `make(quota)`, e.g.
    /// `KeyedLimiter::new(10_000, WhenFull::FailClosed, Quota::per_second(10), Gcra::new)`.
    pub fn new(cap: usize, when_full: WhenFull, quota: Quota, make: fn(Quota) -> L) -> Self {
        assert!(cap > 0 && cap < NIL as usize, "cap must be in 1..{NIL}");
        KeyedLimiter {
            index: HashMap::with_capacity_and_hasher(cap.min(1 << 16), FixedState),
            nodes: Vec::new(),
            free: Vec::new(),
            head: NIL,
            tail: NIL,
            cap,
            when_full,
            quota,
            overrides: HashMap::with_hasher(FixedState),
            make,
            stats: KeyedStats {
                cap,
                bytes_per_key: std::mem::size_of::<Node<K, L>>()
                    + std::mem::size_of::<(K, u32)>()
                    + 1,
                ..KeyedStats::default()
            },
        }
    }

    fn unlink(&mut self, i: u32) {
        let (p, n) = (self.nodes[i as usize].prev, self.nodes[i as usize].next);
        if p != NIL {
            self.nodes[p as usize].next = n;
        } else {
            self.head = n;
        }
        if n != NIL {
            self.nodes[n as usize].prev = p;
        } else {
            self.tail = p;
        }
    }

    fn push_front(&mut self, i: u32) {
        self.nodes[i as usize].prev = NIL;
        self.nodes[i as usize].next = self.head;
        if self.head != NIL {
            self.nodes[self.head as usize].prev = i;
        } else {
            self.tail = i;
        }
        self.head = i;
    }

    fn evict(&mut self, i: u32) {
        self.unlink(i);
        let key = self.nodes[i as usize].key.clone();
        self.index.remove(&key);
        self.free.push(i);
        self.stats.evictions += 1;
    }

    fn insert(&mut self, key: &K) -> u32 {
        let quota = self.overrides.get(key).copied().unwrap_or(self.quota);
        let node = Node {
            key: key.clone(),
            lim: (self.make)(quota),
            prev: NIL,
            next: NIL,
        };
        let i = match self.free.pop() {
            Some(i) => {
                self.nodes[i as usize] = node;
                i
            }
            None => {
                self.nodes.push(node);
                (self.nodes.len() - 1) as u32
            }
        };
        self.index.insert(key.clone(), i);
        self.push_front(i);
        i
    }

    /// Decides for `key` at `now`.
    pub fn check(&mut self, now: Instant, key: &K, cost: u64) -> Decision {
        if let Some(&i) = self.index.get(key) {
            if self.head != i {
                self.unlink(i);
                self.push_front(i);
            }
            return self.nodes[i as usize].lim.check(now, cost);
        }
        if self.index.len() >= self.cap {
            let t = self.tail;
            if self.nodes[t as usize].lim.is_idle(now) {
                self.evict(t);
            } else {
                return self.full(now, t);
            }
        }
        let i = self.insert(key);
        self.nodes[i as usize].lim.check(now, cost)
    }

    fn full(&mut self, now: Instant, oldest: u32) -> Decision {
        let limit = self.quota.burst;
        match self.when_full {
            WhenFull::FailOpen => {
                self.stats.full_admitted += 1;
                Decision {
                    allowed: true,
                    limit,
                    remaining: 0,
                    retry_after: Duration::ZERO,
                    reset_after: Duration::ZERO,
                }
            }
            WhenFull::FailClosed => {
                self.stats.full_denied += 1;
                let wait = self.nodes[oldest as usize].lim.check(now, 0).reset_after;
                Decision {
                    allowed: false,
                    limit,
                    remaining: 0,
                    retry_after: wait.max(Duration::from_nanos(1)),
                    reset_after: wait,
                }
            }
        }
    }

    /// Sets `key`'s own quota (kept across evictions), applied at once if the key is tracked.
    pub fn set_key_quota(&mut self, now: Instant, key: &K, quota: Quota) -> Result<(), QuotaError> {
        if !self.overrides.contains_key(key) && self.overrides.len() >= self.cap {
            return Err(QuotaError::TooManyOverrides(self.cap));
        }
        self.overrides.insert(key.clone(), quota);
        if let Some(&i) = self.index.get(key) {
            self.nodes[i as usize].lim.set_quota(now, quota);
        }
        Ok(())
    }

    /// Removes `key`'s own quota; it falls back to the default.
    pub fn clear_key_quota(&mut self, now: Instant, key: &K) {
        if self.overrides.remove(key).is_some() {
            if let Some(&i) = self.index.get(key) {
                self.nodes[i as usize].lim.set_quota(now, self.quota);
            }
        }
    }

    /// Changes the default quota, for tracked keys without their own quota too.
    pub fn set_default_quota(&mut self, now: Instant, quota: Quota) {
        self.quota = quota;
        let mut i = self.head;
        while i != NIL {
            let n = &mut self.nodes[i as usize];
            if !self.overrides.contains_key(&n.key) {
                n.lim.set_quota(now, quota);
            }
            i = n.next;
        }
    }

    /// Evicts up to `max` idle keys, oldest first; returns how many.
    pub fn sweep(&mut self, now: Instant, max: usize) -> usize {
        let mut done = 0;
        while done < max && self.tail != NIL && self.nodes[self.tail as usize].lim.is_idle(now) {
            self.evict(self.tail);
            done += 1;
        }
        done
    }

    /// Counters and sizes.
    pub fn stats(&self) -> KeyedStats {
        KeyedStats {
            keys: self.index.len(),
            ..self.stats
        }
    }

    /// Keys tracked now.
    pub fn len(&self) -> usize {
        self.index.len()
    }

    /// Whether no key is tracked.
    pub fn is_empty(&self) -> bool {
        self.index.is_empty()
    }
}
