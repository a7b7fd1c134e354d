//! Outlier ejection (Envoy's consecutive-failures detector): an instance that fails
//! `consecutive_failures` times in a row is ejected for `base_ejection × n` (n = how many
//! times it has been ejected, capped at `max_ejection`), unless that would eject more than
//! `max_ejection_pct` of the instances. Breaker-open instances are ejected here too, until
//! their breaker admits a probe.

use crate::balance::NodeId;
use std::collections::BTreeMap;
use testbed_model::{Duration, Instant};

/// Detector settings.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OutlierConfig {
    /// Failures in a row that eject an instance.
    pub consecutive_failures: u32,
    /// First ejection's length.
    pub base_ejection: Duration,
    /// No ejection is longer.
    pub max_ejection: Duration,
    /// At most this percentage of instances is ejected by the detector at once.
    pub max_ejection_pct: u32,
}

impl Default for OutlierConfig {
    /// Envoy's defaults: 5 failures, 30 s base, 300 s cap; 50% (Envoy: 10%).
    fn default() -> Self {
        OutlierConfig {
            consecutive_failures: 5,
            base_ejection: Duration::from_secs(30),
            max_ejection: Duration::from_secs(300),
            max_ejection_pct: 50,
        }
    }
}

#[derive(Clone, Copy, Debug, Default)]
struct Health {
    failures_in_row: u32,
    times_ejected: u32,
    /// Ejected by the detector until then.
    outlier_until: Option<Instant>,
    /// Out of picks until then because its breaker rejects.
    breaker_until: Option<Instant>,
}

/// Per-instance health: who is ejected, and until when.
#[derive(Clone, Debug)]
pub struct Outlier {
    cfg: Option<OutlierConfig>,
    health: BTreeMap<NodeId, Health>,
}

impl Outlier {
    /// With detection on (`Some`) or only breaker-driven ejection (`None`).
    pub fn new(cfg: Option<OutlierConfig>) -> Outlier {
        Outlier {
            cfg,
            health: BTreeMap::new(),
        }
    }

    /// Tracks `node`.
    pub fn add(&mut self, node: NodeId) {
        self.health.entry(node).or_default();
    }

    /// Forgets `node`.
    pub fn remove(&mut self, node: NodeId) {
        self.health.remove(&node);
    }

    /// Whether `node` is ejected at `now`.
    pub fn is_ejected(&self, node: NodeId, now: Instant) -> bool {
        self.health.get(&node).is_some_and(|h| {
            h.outlier_until.is_some_and(|t| now < t) || h.breaker_until.is_some_and(|t| now < t)
        })
    }

    /// Whether some instance is out of picks at `now` because its breaker rejects.
    pub fn any_breaker_ejected(&self, now: Instant) -> bool {
        self.health
            .values()
            .any(|h| h.breaker_until.is_some_and(|t| now < t))
    }

    /// Instances whose ejection has ended by `now` (cleared; the caller returns them to picks).
    pub fn expire(&mut self, now: Instant) -> Vec<NodeId> {
        let mut back = Vec::new();
        for (n, h) in self.health.iter_mut() {
            let was = h.outlier_until.is_some() || h.breaker_until.is_some();
            if h.outlier_until.is_some_and(|t| now >= t) {
                h.outlier_until = None;
            }
            if h.breaker_until.is_some_and(|t| now >= t) {
                h.breaker_until = None;
            }
            if was && h.outlier_until.is_none() && h.breaker_until.is_none() {
                back.push(*n);
            }
        }
        back
    }

    /// Takes `node` out of picks until `until` because its breaker rejects.
    pub fn eject_for_breaker(&mut self, node: NodeId, until: Instant) {
        if let Some(h) = self.health.get_mut(&node) {
            h.breaker_until = Some(h.breaker_until.map_or(until, |t| t.max(until)));
        }
    }

    /// `node`'s breaker admits calls again: ends its breaker ejection. Returns whether it is
    /// now back in picks (it may still be ejected as an outlier).
    pub fn clear_breaker(&mut self, node: NodeId, now: Instant) -> bool {
        match self.health.get_mut(&node) {
            Some(h) if h.breaker_until.is_some() => {
                h.breaker_until = None;
                h.outlier_until.is_none_or(|t| now >= t)
            }
            _ => false,
        }
    }

    /// Records an attempt's result; returns whether `node` was ejected by it.
    pub fn record(&mut self, node: NodeId, now: Instant, ok: bool) -> bool {
        let Some(cfg) = self.cfg else { return false };
        let total = self.health.len() as u64;
        let ejected = self
            .health
            .values()
            .filter(|h| h.outlier_until.is_some_and(|t| now < t))
            .count() as u64;
        let Some(h) = self.health.get_mut(&node) else {
            return false;
        };
        if ok {
            h.failures_in_row = 0;
            return false;
        }
        h.failures_in_row += 1;
        let already = h.outlier_until.is_some_and(|t| now < t);
        if already
            || h.failures_in_row < cfg.consecutive_failures
            || (ejected + 1) * 100 > cfg.max_ejection_pct as u64 * total
        {
            return false;
        }
        h.times_ejected += 1;
        h.failures_in_row = 0;
        let len = cfg
            .base_ejection
            .saturating_mul(h.times_ejected)
            .min(cfg.max_ejection);
        h.outlier_until = Some(now + len);
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg() -> OutlierConfig {
        OutlierConfig {
            consecutive_failures: 3,
            base_ejection: Duration::from_secs(10),
            max_ejection: Duration::from_secs(25),
            max_ejection_pct: 50,
        }
    }

    #[test]
    fn ejects_after_consecutive_failures_for_growing_times() {
        let mut o = Outlier::new(Some(cfg()));
        for n in 0..4 {
            o.add(n);
        }
        let t = Instant::from_secs(1);
        assert!(!o.record(0, t, false));
        assert!(!o.record(0, t, true), "a success resets the run");
        assert!(!o.record(0, t, false));
        assert!(!o.record(0, t, false));
        assert!(o.record(0, t, false));
        assert!(o.is_ejected(0, t));
        assert!(o.is_ejected(0, Instant::from_secs(10)));
        assert_eq!(o.expire(Instant::from_secs(11)), vec![0]);
        assert!(!o.is_ejected(0, Instant::from_secs(11)));
        for _ in 0..3 {
            o.record(0, Instant::from_secs(12), false);
        }
        assert!(o.is_ejected(0, Instant::from_secs(31)), "second time: 20 s");
        assert!(!o.is_ejected(0, Instant::from_secs(32)));
    }

    #[test]
    fn never_ejects_more_than_the_percentage() {
        let mut o = Outlier::new(Some(cfg()));
        for n in 0..4 {
            o.add(n);
        }
        let t = Instant::from_secs(1);
        let mut ejected = 0;
        for n in 0..4 {
            for _ in 0..3 {
                ejected += o.record(n, t, false) as u32;
            }
        }
        assert_eq!(ejected, 2, "50% of 4");
        assert_eq!((0..4).filter(|n| o.is_ejected(*n, t)).count(), 2);
    }
}
