//! [`Swarm`]: a builder for a [`SwarmSpec`] over the user's own host names, with every range
//! derived from one run length unless set. Faults start in the first half of the run and last
//! a twentieth to a quarter of it, so every fault has ended by three quarters of the run and
//! the last quarter is the liveness phase.

use crate::faults::{FaultKind, FaultSchedule, SwarmSpec, LIMIT_MS};
use std::collections::BTreeSet;
use testbed_model::Duration;
use testbed_sim::MAX_DRIFT_PPM;

/// The fault kinds a [`Swarm`] draws unless [`Swarm::kinds`] says otherwise.
pub const ALL_KINDS: [FaultKind; 5] = [
    FaultKind::Partition,
    FaultKind::Crash,
    FaultKind::Loss,
    FaultKind::Latency,
    FaultKind::ClockSkew,
];

/// Why a [`Swarm`] cannot become a [`SwarmSpec`].
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum SwarmError {
    /// `Swarm::new` got no host.
    #[error("a swarm needs at least one host")]
    NoHosts,
    /// A host named twice in `Swarm::new`.
    #[error("host {0:?} is named twice")]
    DuplicateHost(String),
    /// `crashable`, `skewable` or `links` names a host `Swarm::new` did not.
    #[error("{what} names host {host:?}; hosts are {}", valid.join(", "))]
    UnknownHost {
        /// Which list.
        what: &'static str,
        /// The name.
        host: String,
        /// The hosts.
        valid: Vec<String>,
    },
    /// A link from a host to itself.
    #[error("link {0:?}–{0:?}: a link needs two different hosts")]
    SelfLink(String),
    /// A range or limit out of its domain.
    #[error("{0}")]
    BadValue(String),
}

/// Fault ranges for swarm testing over the user's hosts: which hosts and links faults may hit,
/// which kinds, how many, when, how long and how hard. Defaults: links between every pair of
/// hosts, no host crashable, every host skewable, all five kinds, at most 8 events, ranges from
/// the run length (10 s unless [`Swarm::run_for`]):
///
/// | range | default for run length `R` |
/// |---|---|
/// | start | `0..=R/2` |
/// | duration | `R/20..=R/4` (at least 1 ms) |
/// | loss rate | up to 0.2 |
/// | extra latency | up to `R/50` (at least 1 ms) |
/// | clock offset | up to `R/10` either way |
/// | clock drift | up to 500 ppm either way |
///
/// ```
/// use testbed_harness::{FaultKind, Swarm};
/// let swarm = Swarm::new(["kv-1", "kv-2", "kv-3", "client"])
///     .crashable(["kv-1", "kv-2", "kv-3"])
///     .kinds([FaultKind::Partition, FaultKind::Crash, FaultKind::Loss]);
/// let spec = swarm.spec().unwrap();
/// assert_eq!(spec.links.len(), 6);
/// assert_eq!((spec.start_max_ms, spec.for_ms), (5_000, (500, 2_500)));
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct Swarm {
    hosts: Vec<String>,
    links: Option<Vec<(String, String)>>,
    crashable: Vec<String>,
    skewable: Option<Vec<String>>,
    kinds: Vec<FaultKind>,
    run_ms: u64,
    events_max: u64,
    start_max_ms: Option<u64>,
    for_ms: Option<(u64, u64)>,
    loss_max: f64,
    latency_max_ms: Option<u64>,
    skew_max_ms: Option<i64>,
    drift_max_ppm: i64,
}

fn names<I: IntoIterator<Item = S>, S: Into<String>>(v: I) -> Vec<String> {
    v.into_iter().map(Into::into).collect()
}

impl Swarm {
    /// The run length unless [`Swarm::run_for`] sets one.
    pub const RUN_DEFAULT: Duration = Duration::from_secs(10);

    /// A swarm over these hosts (the names the test gives its `Sim` hosts).
    pub fn new<I: IntoIterator<Item = S>, S: Into<String>>(hosts: I) -> Swarm {
        Swarm {
            hosts: names(hosts),
            links: None,
            crashable: Vec::new(),
            skewable: None,
            kinds: ALL_KINDS.to_vec(),
            run_ms: Self::RUN_DEFAULT.as_millis() as u64,
            events_max: 8,
            start_max_ms: None,
            for_ms: None,
            loss_max: 0.2,
            latency_max_ms: None,
            skew_max_ms: None,
            drift_max_ppm: 500,
        }
    }

    /// A swarm with exactly `spec`'s hosts, links, kinds and ranges (e.g. a scenario's).
    pub fn from_spec(spec: SwarmSpec) -> Swarm {
        Swarm {
            hosts: spec.hosts,
            links: Some(spec.links),
            crashable: spec.crashable,
            skewable: Some(spec.skewable),
            kinds: spec.kinds,
            run_ms: spec.start_max_ms.saturating_add(spec.for_ms.1),
            events_max: spec.events_max,
            start_max_ms: Some(spec.start_max_ms),
            for_ms: Some(spec.for_ms),
            loss_max: spec.loss_max,
            latency_max_ms: Some(spec.latency_max_ms),
            skew_max_ms: Some(spec.skew_max_ms),
            drift_max_ppm: spec.drift_max_ppm,
        }
    }

    /// The links faults may partition, make lossy or slow (default: every pair of hosts).
    pub fn links<I, A, B>(mut self, links: I) -> Swarm
    where
        I: IntoIterator<Item = (A, B)>,
        A: Into<String>,
        B: Into<String>,
    {
        self.links = Some(
            links
                .into_iter()
                .map(|(a, b)| (a.into(), b.into()))
                .collect(),
        );
        self
    }

    /// The hosts that may crash and restart (default: none, so no crash is drawn).
    pub fn crashable<I: IntoIterator<Item = S>, S: Into<String>>(mut self, hosts: I) -> Swarm {
        self.crashable = names(hosts);
        self
    }

    /// The hosts whose clocks may be skewed (default: every host).
    pub fn skewable<I: IntoIterator<Item = S>, S: Into<String>>(mut self, hosts: I) -> Swarm {
        self.skewable = Some(names(hosts));
        self
    }

    /// The fault kinds to draw from (default: [`ALL_KINDS`]; a kind with nothing to hit, such
    /// as crashes with no crashable host, is never drawn).
    pub fn kinds<I: IntoIterator<Item = FaultKind>>(mut self, kinds: I) -> Swarm {
        self.kinds = kinds.into_iter().collect();
        self
    }

    /// The run length the default ranges derive from (see the type's table).
    pub fn run_for(mut self, d: Duration) -> Swarm {
        self.run_ms = d.as_millis().min(u128::from(LIMIT_MS)) as u64;
        self
    }

    /// Most events in one schedule (at least one is drawn; default 8).
    pub fn events_max(mut self, n: u64) -> Swarm {
        self.events_max = n;
        self
    }

    /// Faults start within `0..=d`.
    pub fn start_max(mut self, d: Duration) -> Swarm {
        self.start_max_ms = Some(ms(d));
        self
    }

    /// Each fault lasts `min..=max`.
    pub fn duration(mut self, min: Duration, max: Duration) -> Swarm {
        self.for_ms = Some((ms(min), ms(max)));
        self
    }

    /// Largest loss rate, in `0..=1` (default 0.2).
    pub fn loss_max(mut self, rate: f64) -> Swarm {
        self.loss_max = rate;
        self
    }

    /// Largest extra one-way latency.
    pub fn latency_max(mut self, d: Duration) -> Swarm {
        self.latency_max_ms = Some(ms(d));
        self
    }

    /// Largest wall-clock offset either way.
    pub fn skew_max(mut self, d: Duration) -> Swarm {
        self.skew_max_ms = Some(ms(d) as i64);
        self
    }

    /// Largest clock drift either way, in ppm (default 500).
    pub fn drift_max_ppm(mut self, ppm: i64) -> Swarm {
        self.drift_max_ppm = ppm;
        self
    }

    /// The run length the defaults derive from.
    pub fn run_length(&self) -> Duration {
        Duration::from_millis(self.run_ms)
    }

    /// The hosts.
    pub fn hosts(&self) -> &[String] {
        &self.hosts
    }

    /// The resolved spec, after checking every name and range.
    pub fn spec(&self) -> Result<SwarmSpec, SwarmError> {
        if self.hosts.is_empty() {
            return Err(SwarmError::NoHosts);
        }
        let mut seen = BTreeSet::new();
        for h in &self.hosts {
            if !seen.insert(h.as_str()) {
                return Err(SwarmError::DuplicateHost(h.clone()));
            }
        }
        let known = |what: &'static str, h: &String| {
            if seen.contains(h.as_str()) {
                Ok(())
            } else {
                Err(SwarmError::UnknownHost {
                    what,
                    host: h.clone(),
                    valid: self.hosts.clone(),
                })
            }
        };
        let links = match &self.links {
            Some(l) => l.clone(),
            None => {
                let mut l = Vec::new();
                for (i, a) in self.hosts.iter().enumerate() {
                    for b in &self.hosts[i + 1..] {
                        l.push((a.clone(), b.clone()));
                    }
                }
                l
            }
        };
        for (a, b) in &links {
            known("links", a)?;
            known("links", b)?;
            if a == b {
                return Err(SwarmError::SelfLink(a.clone()));
            }
        }
        let skewable = self.skewable.clone().unwrap_or_else(|| self.hosts.clone());
        self.crashable
            .iter()
            .try_for_each(|h| known("crashable", h))?;
        skewable.iter().try_for_each(|h| known("skewable", h))?;
        let r = self.run_ms;
        let start_max_ms = self.start_max_ms.unwrap_or(r / 2);
        let for_ms = self.for_ms.unwrap_or(((r / 20).max(1), (r / 4).max(1)));
        let latency_max_ms = self.latency_max_ms.unwrap_or((r / 50).max(1));
        let skew_max_ms = self.skew_max_ms.unwrap_or((r / 10) as i64);
        let bad = |m: String| Err(SwarmError::BadValue(m));
        if for_ms.0 > for_ms.1 {
            return bad(format!(
                "fault duration {} ms..={} ms is empty",
                for_ms.0, for_ms.1
            ));
        }
        if start_max_ms.saturating_add(for_ms.1) > LIMIT_MS {
            return bad(format!(
                "faults could end at {} ms, past the limit of {LIMIT_MS} ms",
                start_max_ms.saturating_add(for_ms.1)
            ));
        }
        if !(0.0..=1.0).contains(&self.loss_max) {
            return bad(format!("loss_max {} is not in 0..=1", self.loss_max));
        }
        if latency_max_ms > LIMIT_MS || skew_max_ms.unsigned_abs() > LIMIT_MS {
            return bad(format!(
                "latency_max and skew_max are at most {LIMIT_MS} ms"
            ));
        }
        if !(0..=MAX_DRIFT_PPM).contains(&self.drift_max_ppm) {
            return bad(format!(
                "drift_max_ppm {} is not in 0..={MAX_DRIFT_PPM}",
                self.drift_max_ppm
            ));
        }
        Ok(SwarmSpec {
            hosts: self.hosts.clone(),
            links,
            crashable: self.crashable.clone(),
            skewable,
            kinds: self.kinds.clone(),
            events_max: self.events_max,
            start_max_ms,
            for_ms,
            loss_max: self.loss_max,
            latency_max_ms,
            skew_max_ms,
            drift_max_ppm: self.drift_max_ppm,
        })
    }

    /// One seed's schedule (what [`crate::check_swarm`] hands the check for `seed`).
    pub fn draw(&self, seed: u64) -> Result<FaultSchedule, SwarmError> {
        Ok(self.spec()?.draw(seed))
    }
}

fn ms(d: Duration) -> u64 {
    d.as_millis().min(u128::from(u64::MAX)) as u64
}

#[cfg(test)]
mod tests;
