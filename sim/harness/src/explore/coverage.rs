//! Coverage as the simulator sees it, without compiler instrumentation: a run reports
//! *features* (64-bit hashes of things it did, such as "host 2 sent a SYN after a fault",
//! "invariant x held", "metric stage = 3"), and [`Coverage`] folds them into a fixed-size map
//! of hit counts. A run is interesting when it sets a slot no run set before. Counts are
//! bucketed AFL-style ([`bucket`]) so "happened 5 times" differs from "happened once" but not
//! from "happened 6 times".

use testbed_model::rng::splitmix64;
use testbed_sim::trace::{Event, Kind};

/// Slots in the coverage map (a power of two).
pub const MAP_SLOTS: usize = 1 << 16;

/// Hit counts per slot, over every run so far.
#[derive(Clone, Debug)]
pub struct Coverage {
    hits: Vec<u32>,
    covered: usize,
}

impl Default for Coverage {
    fn default() -> Self {
        Coverage {
            hits: vec![0; MAP_SLOTS],
            covered: 0,
        }
    }
}

impl Coverage {
    /// The slot of a feature.
    pub fn slot(feature: u64) -> usize {
        (splitmix64(feature) as usize) & (MAP_SLOTS - 1)
    }

    /// The distinct slots of a run's features, sorted.
    pub fn slots(features: &[u64]) -> Vec<usize> {
        let mut slots: Vec<usize> = features.iter().map(|f| Coverage::slot(*f)).collect();
        slots.sort_unstable();
        slots.dedup();
        slots
    }

    /// Counts one run's slots ([`Coverage::slots`]); returns those no run had set before.
    pub fn add(&mut self, slots: &[usize]) -> Vec<usize> {
        let mut new = Vec::new();
        for &s in slots {
            if self.hits[s] == 0 {
                self.covered += 1;
                new.push(s);
            }
            self.hits[s] = self.hits[s].saturating_add(1);
        }
        new
    }

    /// Runs that set `slot`.
    pub fn hits(&self, slot: usize) -> u32 {
        self.hits[slot & (MAP_SLOTS - 1)]
    }

    /// Slots set by at least one run.
    pub fn covered(&self) -> usize {
        self.covered
    }
}

/// AFL's hit-count buckets: 0, 1, 2, 3, 4–7, 8–15, 16–31, 32–127, 128+ as 0..=8.
pub fn bucket(count: u64) -> u64 {
    match count {
        0..=3 => count,
        4..=7 => 4,
        8..=15 => 5,
        16..=31 => 6,
        32..=127 => 7,
        _ => 8,
    }
}

/// A feature from a tag and values (order matters).
pub fn feature(tag: &str, values: &[u64]) -> u64 {
    let mut h = testbed_model::rng::label_hash(tag);
    for v in values {
        h = splitmix64(h ^ v);
    }
    h
}

/// Features of a recorded trace: per (kind, drop reason, source host, destination host, fault
/// verb) how often it happened (bucketed), and per host which kind followed which (the host's
/// state transitions as the network sees them; present or not, as their counts are noise).
pub fn trace_features(events: &[Event], out: &mut Vec<u64>) {
    use std::collections::BTreeMap;
    let mut counts: BTreeMap<(u64, u64, u64, u64, u64), u64> = BTreeMap::new();
    let mut last: BTreeMap<u32, u64> = BTreeMap::new();
    let mut steps: std::collections::BTreeSet<(u32, u64, u64)> = Default::default();
    for e in events {
        let verb = if e.kind == Kind::Fault { e.a } else { 0 };
        let kind = e.kind as u64;
        *counts
            .entry((kind, e.reason as u64, e.src as u64, e.dst as u64, verb))
            .or_default() += 1;
        // Timers fire constantly; they are not a host's state.
        if e.kind != Kind::Timer {
            let k = kind << 8 | verb;
            let prev = last.insert(e.src, k).unwrap_or(u64::MAX);
            if prev != k {
                steps.insert((e.src, prev, k));
            }
        }
    }
    for ((kind, reason, src, dst, verb), n) in counts {
        out.push(feature("trace", &[kind, reason, src, dst, verb, bucket(n)]));
    }
    for (host, from, to) in steps {
        out.push(feature("step", &[host as u64, from, to]));
    }
}

/// A metric's feature: its name and its value, exact for small whole numbers (below 16) and
/// on a log scale above (one bucket per power of two; negative values mirrored), so a
/// scenario's stage counters and invariant margins become coverage as they grow.
pub fn metric_feature(name: &str, value: f64) -> u64 {
    let a = value.abs();
    let mag = if !value.is_finite() {
        4096
    } else if a < 16.0 && a.fract() == 0.0 {
        a as u64
    } else if a < 16.0 {
        100 + (a * 4.0) as u64
    } else {
        200 + a.log2().floor().min(1023.0) as u64
    };
    feature(
        "metric",
        &[
            testbed_model::rng::label_hash(name),
            mag,
            u64::from(value < 0.0),
        ],
    )
}
