//! Degradation (网络编程进阶主题 §5.4): a level — normal, degraded, critical — driven by signals (error
//! rate, latency, in-flight work, open breakers) with hysteresis, and a fallback registry:
//! core features are always served, optional ones serve their fallback when degraded and are
//! shed when critical.

use std::collections::BTreeMap;
use testbed_model::{Duration, Instant};

/// How degraded the service is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Level {
    /// Everything on.
    Normal,
    /// Optional features serve fallbacks.
    Degraded,
    /// Optional features are shed; only core paths run.
    Critical,
}

/// One observation of the service's health.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Signals {
    /// Errors per thousand requests.
    pub error_rate_milli: u32,
    /// A high latency percentile (e.g. p99).
    pub latency: Duration,
    /// Requests in flight.
    pub in_flight: u32,
    /// Circuit breakers currently open.
    pub open_breakers: u32,
}

/// Thresholds for entering one level; a level is left only when every signal is below its
/// threshold × `exit_ratio_milli`/1000 and the level has been held for `min_hold`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Thresholds {
    /// Enter when the error rate reaches this (per thousand).
    pub error_rate_milli: u32,
    /// Enter when latency reaches this.
    pub latency: Duration,
    /// Enter when in-flight work reaches this.
    pub in_flight: u32,
    /// Enter when this many breakers are open.
    pub open_breakers: u32,
}

impl Thresholds {
    fn reached(&self, s: &Signals) -> bool {
        s.error_rate_milli >= self.error_rate_milli
            || s.latency >= self.latency
            || s.in_flight >= self.in_flight
            || s.open_breakers >= self.open_breakers
    }
    fn clear(&self, s: &Signals, ratio_milli: u32) -> bool {
        let scale = |v: u64| v * ratio_milli as u64 / 1000;
        (s.error_rate_milli as u64) < scale(self.error_rate_milli as u64)
            && (s.latency.as_nanos() as u64) < scale(self.latency.as_nanos() as u64)
            && (s.in_flight as u64) < scale(self.in_flight as u64)
            && (s.open_breakers as u64) < scale(self.open_breakers as u64).max(1)
    }
}

/// Chooses the level from signals, with hysteresis.
#[derive(Clone, Debug)]
pub struct Degrader {
    degraded: Thresholds,
    critical: Thresholds,
    exit_ratio_milli: u32,
    min_hold: Duration,
    level: Level,
    since: Instant,
}

impl Degrader {
    /// Enter degraded at `degraded`, critical at `critical`; step down only when signals fall
    /// below `exit_ratio_milli`/1000 of the thresholds and the level was held `min_hold`.
    pub fn new(
        degraded: Thresholds,
        critical: Thresholds,
        exit_ratio_milli: u32,
        min_hold: Duration,
    ) -> Degrader {
        Degrader {
            degraded,
            critical,
            exit_ratio_milli,
            min_hold,
            level: Level::Normal,
            since: Instant::ZERO,
        }
    }

    /// Updates the level from `signals` observed at `now`; returns the new level.
    pub fn observe(&mut self, now: Instant, signals: &Signals) -> Level {
        let target_up = if self.critical.reached(signals) {
            Level::Critical
        } else if self.degraded.reached(signals) {
            Level::Degraded
        } else {
            Level::Normal
        };
        if target_up > self.level {
            self.level = target_up;
            self.since = now;
        } else if now >= self.since + self.min_hold {
            let down = match self.level {
                Level::Critical if self.critical.clear(signals, self.exit_ratio_milli) => {
                    Some(Level::Degraded)
                }
                Level::Degraded if self.degraded.clear(signals, self.exit_ratio_milli) => {
                    Some(Level::Normal)
                }
                _ => None,
            };
            if let Some(l) = down {
                self.level = l;
                self.since = now;
            }
        }
        self.level
    }

    /// The current level.
    pub fn level(&self) -> Level {
        self.level
    }
}

/// What to do with a request for a feature at the current level.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Serve<'a, T> {
    /// Run the real thing.
    Full,
    /// Answer with this fallback.
    Fallback(&'a T),
    /// Refuse (the feature is shed).
    Shed,
}

/// Features and their fallbacks. Core features always run; optional ones fall back when
/// degraded (or are shed if they have no fallback) and are shed when critical.
#[derive(Clone, Debug, Default)]
pub struct Fallbacks<T> {
    core: BTreeMap<String, ()>,
    optional: BTreeMap<String, Option<T>>,
}

impl<T> Fallbacks<T> {
    /// Empty.
    pub fn new() -> Self {
        Fallbacks {
            core: BTreeMap::new(),
            optional: BTreeMap::new(),
        }
    }
    /// Registers a core feature (never degraded).
    pub fn core(&mut self, feature: &str) {
        self.core.insert(feature.into(), ());
    }
    /// Registers an optional feature with its fallback answer (or `None`: shed when degraded).
    pub fn optional(&mut self, feature: &str, fallback: Option<T>) {
        self.optional.insert(feature.into(), fallback);
    }
    /// The decision for `feature` at `level`. Unknown features are treated as core.
    pub fn decide(&self, level: Level, feature: &str) -> Serve<'_, T> {
        match (self.optional.get(feature), level) {
            (None, _) | (Some(_), Level::Normal) => Serve::Full,
            (Some(Some(fb)), Level::Degraded) => Serve::Fallback(fb),
            (Some(None), Level::Degraded) | (Some(_), Level::Critical) => Serve::Shed,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn th(err: u32, ms: u64) -> Thresholds {
        Thresholds {
            error_rate_milli: err,
            latency: Duration::from_millis(ms),
            in_flight: 1000,
            open_breakers: 3,
        }
    }

    #[test]
    fn levels_rise_at_once_and_fall_with_hysteresis() {
        let mut d = Degrader::new(th(50, 200), th(200, 1000), 500, Duration::from_secs(10));
        let s = |err, ms| Signals {
            error_rate_milli: err,
            latency: Duration::from_millis(ms),
            ..Signals::default()
        };
        assert_eq!(d.observe(Instant::from_secs(0), &s(10, 50)), Level::Normal);
        assert_eq!(
            d.observe(Instant::from_secs(1), &s(60, 50)),
            Level::Degraded
        );
        assert_eq!(
            d.observe(Instant::from_secs(2), &s(300, 50)),
            Level::Critical
        );
        assert_eq!(
            d.observe(Instant::from_secs(5), &s(10, 50)),
            Level::Critical,
            "held for min_hold"
        );
        assert_eq!(
            d.observe(Instant::from_secs(12), &s(150, 50)),
            Level::Critical,
            "150 is not below half of 200"
        );
        assert_eq!(
            d.observe(Instant::from_secs(13), &s(40, 50)),
            Level::Degraded
        );
        assert_eq!(
            d.observe(Instant::from_secs(20), &s(30, 50)),
            Level::Degraded,
            "30 is not below half of 50"
        );
        assert_eq!(d.observe(Instant::from_secs(24), &s(20, 50)), Level::Normal);
    }

    #[test]
    fn core_paths_never_degrade() {
        let mut f = Fallbacks::new();
        f.core("checkout");
        f.optional("recommendations", Some("top sellers"));
        f.optional("reviews", None);
        assert_eq!(f.decide(Level::Critical, "checkout"), Serve::Full);
        assert_eq!(f.decide(Level::Normal, "recommendations"), Serve::Full);
        assert_eq!(
            f.decide(Level::Degraded, "recommendations"),
            Serve::Fallback(&"top sellers")
        );
        assert_eq!(f.decide(Level::Degraded, "reviews"), Serve::Shed);
        assert_eq!(f.decide(Level::Critical, "recommendations"), Serve::Shed);
    }
}
