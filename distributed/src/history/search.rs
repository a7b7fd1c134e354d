//! The Wing–Gong/Lowe search over one partition, with porcupine-style memoization of
//! (linearized set, state) pairs. States are interned to dense ids, linearized sets live in
//! one flat arena, and the set's hash is maintained incrementally, so a cache probe costs a
//! table lookup plus, on a hash match, one comparison of `n/64` words.

use std::hash::BuildHasher;
use std::sync::atomic::{AtomicBool, Ordering};

use hashbrown::HashTable;
use testbed_model::rng::splitmix64;

use super::model::{Model, Step};
use crate::hash::FixedState;

const NIL: u32 = u32::MAX;
/// How many model steps pass between polls of the cancel flag.
const CANCEL_POLL: u64 = 1024;

/// One partition's operations, as indices into the history, with their event order.
pub(crate) struct Partition {
    /// History index of each local operation.
    pub ops: Vec<u32>,
    /// Events sorted by time (calls before returns at equal times): `(local op, is_call)`.
    pub events: Vec<(u32, bool)>,
}

/// What one partition's search found.
pub(crate) enum Outcome {
    Linearizable,
    Illegal {
        /// Local op ids of the longest linearizable prefix found, in order.
        prefix: Vec<u32>,
        /// Local op id of the operation that could not be placed after it.
        stuck: u32,
        /// The model state after the prefix.
        state: String,
    },
    /// The step budget ran out or the search was cancelled.
    Stopped,
}

/// Budget shared by all partitions of one check.
pub(crate) struct Budget<'a> {
    pub steps_left: u64,
    pub steps_done: u64,
    /// Bytes the memo tables of all partitions may still take.
    pub memo_bytes_left: u64,
    /// Set when the memo tables ran out of room.
    pub memo_exhausted: bool,
    pub cancel: Option<&'a AtomicBool>,
}

impl Budget<'_> {
    #[inline]
    fn take(&mut self) -> bool {
        if self.steps_left == 0 {
            return false;
        }
        self.steps_left -= 1;
        self.steps_done += 1;
        if self.steps_done % CANCEL_POLL == 0 {
            if let Some(c) = self.cancel {
                if c.load(Ordering::Relaxed) {
                    self.steps_left = 0;
                    return false;
                }
            }
        }
        true
    }
}

/// Interned states: equal states share one id, so the cache compares ids.
struct States<S> {
    values: Vec<S>,
    index: HashTable<u32>,
    hasher: FixedState,
}

impl<S: Eq + std::hash::Hash> States<S> {
    fn new() -> Self {
        States {
            values: Vec::new(),
            index: HashTable::new(),
            hasher: FixedState,
        }
    }
    fn intern(&mut self, s: S) -> u32 {
        let h = self.hasher.hash_one(&s);
        let values = &self.values;
        if let Some(&id) = self.index.find(h, |&id| values[id as usize] == s) {
            return id;
        }
        let id = self.values.len() as u32;
        self.values.push(s);
        let (values, hasher) = (&self.values, &self.hasher);
        self.index
            .insert_unique(h, id, |&id| hasher.hash_one(&values[id as usize]));
        id
    }
}

/// The memo of visited (linearized set, state) pairs.
struct Cache {
    words: usize,
    sets: Vec<u64>,
    states: Vec<u32>,
    hashes: Vec<u64>,
    table: HashTable<u32>,
}

impl Cache {
    fn new(words: usize) -> Self {
        Cache {
            words,
            sets: Vec::new(),
            states: Vec::new(),
            hashes: Vec::new(),
            table: HashTable::new(),
        }
    }
    /// Memory one entry takes (set words, state id, hash, table slot).
    fn entry_bytes(&self) -> u64 {
        (self.words * 8 + 4 + 8 + 4 + 1) as u64
    }
    /// Inserts the pair; false if it was already there.
    fn insert(&mut self, set: &[u64], set_hash: u64, state: u32) -> bool {
        let h = set_hash ^ splitmix64(u64::from(state) ^ 0x5851_F42D_4C95_7F2D);
        let (sets, states, w) = (&self.sets, &self.states, self.words);
        let found = self.table.find(h, |&e| {
            let e = e as usize;
            states[e] == state && sets[e * w..(e + 1) * w] == *set
        });
        if found.is_some() {
            return false;
        }
        let e = self.states.len() as u32;
        self.sets.extend_from_slice(set);
        self.states.push(state);
        self.hashes.push(h);
        let hashes = &self.hashes;
        self.table.insert_unique(h, e, |&e| hashes[e as usize]);
        true
    }
}

#[inline]
fn bit_hash(op: u32) -> u64 {
    splitmix64(u64::from(op).wrapping_add(0x9E37_79B9_7F4A_7C15))
}

/// A resumable search over one partition: [`Search::run`] advances it by a slice of
/// steps, so the checker can interleave partitions and stop at the first illegal one.
pub(crate) struct Search<S> {
    next: Vec<u32>,
    prev: Vec<u32>,
    op_of: Vec<u32>,
    /// For a call node: its return node; NIL for returns.
    ret_of: Vec<u32>,
    set: Vec<u64>,
    set_hash: u64,
    cache: Cache,
    states: States<S>,
    state: u32,
    /// The stack of placed operations: (call node, state before it).
    calls: Vec<(u32, u32)>,
    /// Longest prefix seen; `low` is the lowest stack depth since it was last refreshed.
    best: Vec<u32>,
    best_state: u32,
    best_stuck: u32,
    low: usize,
    entry: u32,
}

/// Whether a slice of search finished.
pub(crate) enum Poll {
    Done(Outcome),
    Pending,
}

impl<S: Clone + Eq + std::hash::Hash> Search<S> {
    pub(crate) fn new(init: S, part: &Partition) -> Self {
        let n = part.ops.len();
        let m = part.events.len();
        debug_assert_eq!(m, 2 * n);
        // Doubly linked list over events; node `m` is the head sentinel.
        let head = m as u32;
        let mut next = vec![NIL; m + 1];
        let mut prev = vec![NIL; m + 1];
        let mut op_of = vec![0u32; m];
        let mut ret_of = vec![NIL; m];
        let mut ret_node = vec![NIL; n];
        for (i, &(op, is_call)) in part.events.iter().enumerate().rev() {
            op_of[i] = op;
            if !is_call {
                ret_node[op as usize] = i as u32;
            }
        }
        for (i, &(op, is_call)) in part.events.iter().enumerate() {
            if is_call {
                ret_of[i] = ret_node[op as usize];
            }
            next[i] = if i + 1 < m { i as u32 + 1 } else { NIL };
            prev[i] = if i == 0 { head } else { i as u32 - 1 };
        }
        next[m] = if m > 0 { 0 } else { NIL };
        let words = n.div_ceil(64).max(1);
        let mut states = States::new();
        let state = states.intern(init);
        Search {
            entry: next[m],
            next,
            prev,
            op_of,
            ret_of,
            set: vec![0u64; words],
            set_hash: 0,
            cache: Cache::new(words),
            states,
            state,
            calls: Vec::new(),
            best: Vec::new(),
            best_state: state,
            best_stuck: NIL,
            low: 0,
        }
    }

    /// Runs at most `slice` model steps (and never more than the budget allows).
    pub(crate) fn run<M: Model<State = S>>(
        &mut self,
        model: &M,
        inputs: &[&M::Input],
        outputs: &[Option<&M::Output>],
        budget: &mut Budget<'_>,
        slice: u64,
    ) -> Poll {
        let head = self.next.len() - 1;
        let mut left = slice;
        let (next, prev) = (&mut self.next, &mut self.prev);
        let (op_of, ret_of) = (&self.op_of, &self.ret_of);
        let mut entry = self.entry;
        let mut state = self.state;
        while next[head] != NIL {
            let ret = ret_of[entry as usize];
            if ret != NIL {
                let op = op_of[entry as usize] as usize;
                if left == 0 {
                    self.entry = entry;
                    self.state = state;
                    return Poll::Pending;
                }
                if !budget.take() {
                    self.entry = entry;
                    self.state = state;
                    return Poll::Done(Outcome::Stopped);
                }
                left -= 1;
                let stepped = {
                    let cur = &self.states.values[state as usize];
                    match model.step(cur, inputs[op], outputs[op]) {
                        Step::Illegal => None,
                        Step::Same => Some(state),
                        Step::To(s) => Some(self.states.intern(s)),
                    }
                };
                let Some(new_state) = stepped else {
                    entry = next[entry as usize];
                    continue;
                };
                self.set[op / 64] |= 1 << (op % 64);
                self.set_hash ^= bit_hash(op as u32);
                let entry_bytes = self.cache.entry_bytes();
                if budget.memo_bytes_left < entry_bytes {
                    self.entry = entry;
                    self.state = state;
                    budget.memo_exhausted = true;
                    return Poll::Done(Outcome::Stopped);
                }
                if self.cache.insert(&self.set, self.set_hash, new_state) {
                    budget.memo_bytes_left -= entry_bytes;
                    self.calls.push((entry, state));
                    state = new_state;
                    // lift the call and its return out of the list
                    let (p, nx) = (prev[entry as usize], next[entry as usize]);
                    next[p as usize] = nx;
                    prev[nx as usize] = p;
                    let (rp, rn) = (prev[ret as usize], next[ret as usize]);
                    next[rp as usize] = rn;
                    if rn != NIL {
                        prev[rn as usize] = rp;
                    }
                    entry = next[head];
                } else {
                    self.set[op / 64] &= !(1 << (op % 64));
                    self.set_hash ^= bit_hash(op as u32);
                    entry = next[entry as usize];
                }
            } else {
                // A return: its operation must have been placed by now. Backtrack.
                if self.calls.len() > self.best.len() || self.best_stuck == NIL {
                    self.best.truncate(self.low.min(self.best.len()));
                    let from = self.best.len();
                    self.best
                        .extend(self.calls[from..].iter().map(|&(c, _)| op_of[c as usize]));
                    self.best_state = state;
                    self.best_stuck = op_of[entry as usize];
                    self.low = self.calls.len();
                }
                let Some((call, before)) = self.calls.pop() else {
                    return Poll::Done(Outcome::Illegal {
                        prefix: std::mem::take(&mut self.best),
                        stuck: self.best_stuck,
                        state: model.describe_state(&self.states.values[self.best_state as usize]),
                    });
                };
                self.low = self.low.min(self.calls.len());
                state = before;
                let op = op_of[call as usize] as usize;
                self.set[op / 64] &= !(1 << (op % 64));
                self.set_hash ^= bit_hash(op as u32);
                // unlift
                let r = ret_of[call as usize];
                let (rp, rn) = (prev[r as usize], next[r as usize]);
                next[rp as usize] = r;
                if rn != NIL {
                    prev[rn as usize] = r;
                }
                let (p, nx) = (prev[call as usize], next[call as usize]);
                next[p as usize] = call;
                prev[nx as usize] = call;
                entry = next[call as usize];
            }
        }
        Poll::Done(Outcome::Linearizable)
    }
}
