//! The event queue: everything scheduled, ordered by `(time, sequence)`; the sequence number
//! breaks ties in scheduling order. Stack polls (packet fidelity) are kept apart, one per host
//! at most: smoltcp asks for a poll at its next timer (a retransmission, the delayed ACK), and
//! almost every such request is superseded by an earlier one moments later (a frame arrives,
//! the application writes). A superseded poll leaves the queue at once and only its
//! `(time, sequence)` stays behind, in a heap of 16-byte entries, so it still passes as a
//! no-op event at its time ([`Ev::Superseded`]): virtual time moves exactly as it did when
//! superseded polls stayed in the main heap until they were due (end times, deadlock and time
//! limit decisions, and timer batches at one instant are unchanged), while the main heap stays
//! small.

use crate::slab::Key;
use crate::world::{FaultFn, HostId};
use std::cmp::{Ordering, Reverse};
use std::collections::{BinaryHeap, VecDeque};
use testbed_model::Instant;

/// What the event queue holds. `StackPoll`: poll a host's stack (packet fidelity);
/// `Superseded`: a stack poll that was superseded before it was due (nothing happens).
pub(crate) enum Ev {
    Timer(Key),
    Segment { conn: Key, dir: usize, epoch: u32 },
    Syn { conn: Key, attempt: u32 },
    SynAck { conn: Key },
    SynTimeout { conn: Key, attempt: u32 },
    SynAckRetry { conn: Key, attempt: u32 },
    Rst { conn: Key, to_end: usize },
    Retransmit { conn: Key, dir: usize, gen: u32 },
    GiveUp { conn: Key, dir: usize, gen: u32 },
    Keepalive { conn: Key, end: usize, gen: u32 },
    NagleFlush { conn: Key, dir: usize },
    Datagram(Key),
    Frame(Key),
    StackPoll { host: HostId },
    Superseded,
    Fault(FaultFn),
}

/// A scheduled stack poll's place in the queue: `(time, sequence)`.
pub(crate) type PollKey = (Instant, u64);

struct Entry {
    time: Instant,
    seq: u64,
    ev: Ev,
}
impl PartialEq for Entry {
    fn eq(&self, o: &Self) -> bool {
        (self.time, self.seq) == (o.time, o.seq)
    }
}
impl Eq for Entry {}
impl PartialOrd for Entry {
    fn partial_cmp(&self, o: &Self) -> Option<Ordering> {
        Some(self.cmp(o))
    }
}
impl Ord for Entry {
    /// Reversed: BinaryHeap is a max-heap and we want the earliest (time, seq) first.
    fn cmp(&self, o: &Self) -> Ordering {
        (o.time, o.seq).cmp(&(self.time, self.seq))
    }
}

/// Which of the three places holds the next event.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Next {
    Heap,
    Poll,
    Superseded,
}

/// The pending stack polls, at most one per host: a binary min-heap by `(time, seq)` that
/// knows where each host's entry sits, so a host's poll can be moved or taken out.
#[derive(Default)]
struct PollHeap {
    heap: Vec<(PollKey, HostId)>,
    /// Per host: its entry's index in `heap`, or `u32::MAX`.
    pos: Vec<u32>,
}

const ABSENT: u32 = u32::MAX;

impl PollHeap {
    fn first(&self) -> Option<PollKey> {
        self.heap.first().map(|e| e.0)
    }

    fn get(&self, host: HostId) -> Option<PollKey> {
        let i = *self.pos.get(host as usize)?;
        (i != ABSENT).then(|| self.heap[i as usize].0)
    }

    fn place(&mut self, i: usize) {
        self.pos[self.heap[i].1 as usize] = i as u32;
    }

    fn sift_up(&mut self, mut i: usize) {
        while i > 0 {
            let parent = (i - 1) / 2;
            if self.heap[parent].0 <= self.heap[i].0 {
                break;
            }
            self.heap.swap(parent, i);
            self.place(i);
            i = parent;
        }
        self.place(i);
    }

    fn sift_down(&mut self, mut i: usize) {
        let n = self.heap.len();
        loop {
            let (l, r) = (2 * i + 1, 2 * i + 2);
            let mut m = i;
            if l < n && self.heap[l].0 < self.heap[m].0 {
                m = l;
            }
            if r < n && self.heap[r].0 < self.heap[m].0 {
                m = r;
            }
            if m == i {
                break;
            }
            self.heap.swap(m, i);
            self.place(i);
            i = m;
        }
        self.place(i);
    }

    /// Takes `host`'s entry out; returns its key.
    fn remove(&mut self, host: HostId) -> Option<PollKey> {
        let i = *self.pos.get(host as usize)?;
        if i == ABSENT {
            return None;
        }
        let i = i as usize;
        let (key, _) = self.heap.swap_remove(i);
        self.pos[host as usize] = ABSENT;
        if i < self.heap.len() {
            self.sift_down(i);
            self.sift_up(i);
        }
        Some(key)
    }

    fn insert(&mut self, host: HostId, key: PollKey) {
        if self.pos.len() <= host as usize {
            self.pos.resize(host as usize + 1, ABSENT);
        }
        debug_assert_eq!(self.pos[host as usize], ABSENT, "one poll per host");
        self.heap.push((key, host));
        self.sift_up(self.heap.len() - 1);
    }

    fn pop(&mut self) -> Option<(PollKey, HostId)> {
        if self.heap.is_empty() {
            return None;
        }
        let (key, host) = self.heap.swap_remove(0);
        self.pos[host as usize] = ABSENT;
        if !self.heap.is_empty() {
            self.sift_down(0);
        }
        Some((key, host))
    }
}

/// Most ascending runs [`Superseded`] keeps before it spills into a heap.
const RUNS_MAX: usize = 8;

/// The superseded polls not yet due, a priority queue of keys. A host's superseded polls
/// come in a few ascending sequences (its retransmission deadline, its delayed-ACK deadline,
/// each moving forward with time), so keys are appended to the first run whose last key is
/// smaller: push and pop cost a handful of comparisons instead of a heap's sift through
/// thousands of entries. Keys that fit no run (more than `RUNS_MAX` interleaved sequences)
/// go to a binary heap.
#[derive(Default)]
struct Superseded {
    runs: Vec<VecDeque<PollKey>>,
    spill: BinaryHeap<Reverse<PollKey>>,
}

impl Superseded {
    fn push(&mut self, key: PollKey) {
        for run in &mut self.runs {
            if run.back().is_none_or(|b| *b < key) {
                run.push_back(key);
                return;
            }
        }
        if self.runs.len() < RUNS_MAX {
            self.runs.push(VecDeque::from([key]));
        } else {
            self.spill.push(Reverse(key));
        }
    }

    /// The smallest key and where it is: a run's index, or `RUNS_MAX` for the spill heap.
    fn first(&self) -> Option<(PollKey, usize)> {
        let mut best = self.spill.peek().map(|r| (r.0, RUNS_MAX));
        for (i, run) in self.runs.iter().enumerate() {
            if let Some(k) = run.front() {
                if best.is_none_or(|(b, _)| *k < b) {
                    best = Some((*k, i));
                }
            }
        }
        best
    }

    fn pop(&mut self) -> Option<PollKey> {
        let (key, at) = self.first()?;
        if at == RUNS_MAX {
            self.spill.pop();
        } else {
            self.runs[at].pop_front();
            if self.runs[at].is_empty() {
                self.runs.swap_remove(at);
            }
        }
        Some(key)
    }
}

#[derive(Default)]
pub(crate) struct Events {
    seq: u64,
    heap: BinaryHeap<Entry>,
    /// Pending stack polls (at most one per host).
    polls: PollHeap,
    /// Superseded stack polls not yet due.
    superseded: Superseded,
    /// The smallest superseded key (kept, as it is asked for at every event).
    superseded_first: Option<PollKey>,
}

impl Events {
    fn next_seq(&mut self) -> u64 {
        let seq = self.seq;
        self.seq += 1;
        seq
    }

    /// Schedules `ev` at `time`, after everything already scheduled for that time.
    pub(crate) fn schedule(&mut self, time: Instant, ev: Ev) {
        let seq = self.next_seq();
        self.heap.push(Entry { time, seq, ev });
    }

    /// `host`'s pending stack poll, if one is scheduled.
    pub(crate) fn pending_poll(&self, host: HostId) -> Option<PollKey> {
        self.polls.get(host)
    }

    /// Schedules a poll of `host`'s stack at `time`, superseding its pending one.
    pub(crate) fn schedule_poll(&mut self, host: HostId, time: Instant) {
        self.cancel_poll(host);
        let key = (time, self.next_seq());
        self.polls.insert(host, key);
    }

    /// Takes back `host`'s pending stack poll, if any (it passes as a no-op at its time).
    pub(crate) fn cancel_poll(&mut self, host: HostId) {
        if let Some(key) = self.polls.remove(host) {
            self.superseded.push(key);
            if self.superseded_first.is_none_or(|f| key < f) {
                self.superseded_first = Some(key);
            }
        }
    }

    #[inline]
    fn next(&self) -> Option<(PollKey, Next)> {
        let mut best = self.heap.peek().map(|e| ((e.time, e.seq), Next::Heap));
        if let Some(k) = self.polls.first() {
            if best.is_none_or(|(b, _)| k < b) {
                best = Some((k, Next::Poll));
            }
        }
        if let Some(k) = self.superseded_first {
            if best.is_none_or(|(b, _)| k < b) {
                best = Some((k, Next::Superseded));
            }
        }
        best
    }

    /// When the next event is due.
    pub(crate) fn next_time(&self) -> Option<Instant> {
        self.next().map(|(k, _)| k.0)
    }

    /// Whether the next event is a timer firing at `t`.
    pub(crate) fn next_is_timer_at(&self, t: Instant) -> bool {
        match self.next() {
            Some(((time, _), Next::Heap)) if time == t => {
                matches!(self.heap.peek().map(|e| &e.ev), Some(Ev::Timer(_)))
            }
            _ => false,
        }
    }

    /// Takes the next event and its time.
    pub(crate) fn pop(&mut self) -> Option<(Instant, Ev)> {
        let (key, next) = self.next()?;
        Some(match next {
            Next::Heap => {
                let e = self.heap.pop().expect("peeked");
                (e.time, e.ev)
            }
            Next::Poll => {
                let (_, host) = self.polls.pop().expect("peeked");
                (key.0, Ev::StackPoll { host })
            }
            Next::Superseded => {
                self.superseded.pop();
                self.superseded_first = self.superseded.first().map(|(k, _)| k);
                (key.0, Ev::Superseded)
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn order(ev: &mut Events) -> Vec<(u64, &'static str)> {
        std::iter::from_fn(|| ev.pop())
            .map(|(t, e)| {
                let what = match e {
                    Ev::Timer(_) => "timer",
                    Ev::StackPoll { .. } => "poll",
                    Ev::Superseded => "superseded",
                    _ => "other",
                };
                (t.as_nanos(), what)
            })
            .collect()
    }

    #[test]
    fn superseded_keys_come_out_in_order_whatever_the_runs() {
        let mut s = Superseded::default();
        // Interleaved ascending sequences, more of them than RUNS_MAX, and a descending tail.
        let mut keys: Vec<PollKey> = Vec::new();
        for i in 0..40u64 {
            for lane in 0..12u64 {
                keys.push((Instant::from_nanos(1000 * lane + 7 * i), i * 12 + lane));
            }
        }
        keys.extend(
            (0..20u64)
                .rev()
                .map(|i| (Instant::from_nanos(i), 10_000 + i)),
        );
        for k in &keys {
            s.push(*k);
        }
        assert!(!s.spill.is_empty(), "more sequences than runs spill");
        let mut out = Vec::new();
        while let Some(k) = s.pop() {
            out.push(k);
        }
        keys.sort();
        assert_eq!(out, keys);
    }

    #[test]
    fn poll_heap_matches_a_sorted_map_under_moves_and_removals() {
        let mut heap = PollHeap::default();
        let mut model = std::collections::BTreeMap::new(); // host -> key
        let mut x = 0x2545_F491_4F6C_DD1Du64;
        let mut next = || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        for seq in 0..5_000u64 {
            let host = (next() % 64) as HostId;
            match next() % 4 {
                0 => {
                    assert_eq!(heap.remove(host), model.remove(&host));
                }
                1 => {
                    let first = model.iter().min_by_key(|(_, k)| **k).map(|(h, k)| (*k, *h));
                    assert_eq!(heap.pop(), first);
                    if let Some((_, h)) = first {
                        model.remove(&h);
                    }
                }
                _ => {
                    heap.remove(host);
                    let key = (Instant::from_nanos(next() % 1_000), seq);
                    heap.insert(host, key);
                    model.insert(host, key);
                }
            }
            assert_eq!(heap.first(), model.values().min().copied());
            assert_eq!(heap.get(host), model.get(&host).copied());
        }
    }

    #[test]
    fn ties_break_in_scheduling_order_across_polls_and_events() {
        let mut ev = Events::default();
        let t = Instant::from_nanos(10);
        let k = Key {
            index: 0,
            generation: 0,
        };
        ev.schedule(t, Ev::Timer(k));
        ev.schedule_poll(0, t);
        ev.schedule(t, Ev::Frame(k));
        assert!(ev.next_is_timer_at(t));
        assert_eq!(ev.pending_poll(0), Some((t, 1)));
        assert_eq!(
            order(&mut ev),
            vec![(10, "timer"), (10, "poll"), (10, "other")]
        );
    }

    #[test]
    fn a_superseded_poll_still_passes_at_its_time_and_splits_timers() {
        let mut ev = Events::default();
        let k = Key {
            index: 0,
            generation: 0,
        };
        ev.schedule_poll(3, Instant::from_nanos(50));
        ev.schedule(Instant::from_nanos(50), Ev::Timer(k));
        ev.schedule(Instant::from_nanos(40), Ev::Timer(k));
        ev.schedule_poll(3, Instant::from_nanos(20));
        assert_eq!(ev.pending_poll(3), Some((Instant::from_nanos(20), 3)));
        assert_eq!(ev.polls.heap.len(), 1, "one pending poll per host");
        // The timer at 40 is next after the poll at 20; a superseded poll at 50 sits before
        // the timer at 50 (it was scheduled first), as it did in the single heap.
        assert_eq!(
            order(&mut ev),
            vec![
                (20, "poll"),
                (40, "timer"),
                (50, "superseded"),
                (50, "timer")
            ]
        );
    }
}
