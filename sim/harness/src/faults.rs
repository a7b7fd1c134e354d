//! Fault schedules as data: a list of timed fault events (partition, crash, loss, latency,
//! clock skew), each active from `at_ms` for `for_ms`. A schedule is drawn per seed within a
//! scenario's declared ranges (swarm testing, [`SwarmSpec::draw`]), recorded in the run's
//! JSON, read back from a file for replay, and applied to a [`Sim`] with [`FaultSchedule::apply`].
//! After the last event ends every fault is off: the liveness phase.

use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};
use testbed_model::rng::derive_seed;
use testbed_model::{Duration, Instant, Rng, SeededRng};
use testbed_sim::{Control, Latency, LinkConfig, Sim, MAX_DRIFT_PPM};

/// One fault. Links are named by their two hosts and affect both directions.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "fault", rename_all = "snake_case", deny_unknown_fields)]
pub enum Fault {
    /// `a` and `b` cannot reach each other.
    Partition {
        /// One side.
        a: String,
        /// The other side.
        b: String,
    },
    /// `host` is down (its tasks and sockets gone); it restarts when the event ends.
    Crash {
        /// The host.
        host: String,
    },
    /// Packets between `a` and `b` are lost with probability `rate` (in 0..=1, 4 decimals).
    Loss {
        /// One side.
        a: String,
        /// The other side.
        b: String,
        /// Loss probability.
        rate: f64,
    },
    /// Extra one-way delay between `a` and `b`.
    Latency {
        /// One side.
        a: String,
        /// The other side.
        b: String,
        /// Added to the link's base latency, in milliseconds.
        extra_ms: u64,
    },
    /// `host`'s wall clock reads `offset_ms` ahead of its monotonic clock (negative: behind;
    /// at most ±[`LIMIT_MS`]) and its monotonic clock drifts `drift_ppm` (at most
    /// ±[`MAX_DRIFT_PPM`]).
    ClockSkew {
        /// The host.
        host: String,
        /// Offset in milliseconds.
        offset_ms: i64,
        /// Drift in parts per million.
        drift_ppm: i64,
    },
}

/// The kinds of [`Fault`], for declaring which a scenario draws.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum FaultKind {
    /// [`Fault::Partition`].
    Partition,
    /// [`Fault::Crash`].
    Crash,
    /// [`Fault::Loss`].
    Loss,
    /// [`Fault::Latency`].
    Latency,
    /// [`Fault::ClockSkew`].
    ClockSkew,
}

impl Fault {
    /// Its kind.
    pub fn kind(&self) -> FaultKind {
        match self {
            Fault::Partition { .. } => FaultKind::Partition,
            Fault::Crash { .. } => FaultKind::Crash,
            Fault::Loss { .. } => FaultKind::Loss,
            Fault::Latency { .. } => FaultKind::Latency,
            Fault::ClockSkew { .. } => FaultKind::ClockSkew,
        }
    }

    /// The hosts it names.
    pub fn hosts(&self) -> Vec<&str> {
        match self {
            Fault::Partition { a, b } | Fault::Loss { a, b, .. } | Fault::Latency { a, b, .. } => {
                vec![a, b]
            }
            Fault::Crash { host } | Fault::ClockSkew { host, .. } => vec![host],
        }
    }
}

/// A fault active during `[at_ms, at_ms + for_ms)` of simulated time.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FaultEvent {
    /// Start, in milliseconds of sim time.
    pub at_ms: u64,
    /// How long it lasts, in milliseconds.
    pub for_ms: u64,
    /// What it is.
    #[serde(flatten)]
    pub fault: Fault,
}

impl FaultEvent {
    /// When it ends, in milliseconds.
    pub fn end_ms(&self) -> u64 {
        self.at_ms.saturating_add(self.for_ms)
    }
}

/// The faults of one run.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FaultSchedule {
    /// The events, by start time.
    pub events: Vec<FaultEvent>,
    /// Which buggify points the run enables (`testbed_sim::SimConfig::buggify_mask`: point
    /// `name` is enabled iff bit `testbed_sim::buggify_bit(name)` is set); absent: drawn from
    /// the run seed. Fuzz inputs and `testbed explore` choose it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub buggify_mask: Option<u64>,
}

/// Why a schedule cannot be used by a scenario.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum ScheduleError {
    /// The file is not JSON of a schedule (nor a run result holding one).
    #[error("not a fault schedule: {0}")]
    Parse(String),
    /// A host the scenario does not have.
    #[error("fault names host {host:?}; hosts are {}", valid.join(", "))]
    UnknownHost {
        /// The name.
        host: String,
        /// Valid hosts.
        valid: Vec<String>,
    },
    /// A fault kind this scenario cannot take on that target.
    #[error("{0}")]
    Unsupported(String),
    /// A parameter out of range.
    #[error("{0}")]
    BadValue(String),
}

impl FaultSchedule {
    /// When the last fault ends (the liveness phase starts): zero for an empty schedule.
    pub fn end(&self) -> Duration {
        Duration::from_millis(self.events.iter().map(|e| e.end_ms()).max().unwrap_or(0))
    }

    /// As JSON.
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::to_value(self).expect("schedules serialize")
    }

    /// Reads a schedule from JSON text: either a schedule object (`{"events": [...]}`) or a
    /// `testbed run --json` result that holds one under `"schedule"`.
    pub fn from_json(text: &str) -> Result<FaultSchedule, ScheduleError> {
        let v: serde_json::Value =
            serde_json::from_str(text).map_err(|e| ScheduleError::Parse(e.to_string()))?;
        let v = match v.get("schedule") {
            Some(s) if v.get("events").is_none() => s.clone(),
            _ => v,
        };
        serde_json::from_value(v).map_err(|e| ScheduleError::Parse(e.to_string()))
    }

    /// Checks every host exists and every fault is one `spec` allows on its target.
    pub fn validate(&self, spec: &SwarmSpec) -> Result<(), ScheduleError> {
        for e in &self.events {
            if e.end_ms() > LIMIT_MS {
                return Err(ScheduleError::BadValue(format!(
                    "event ends at {} ms, past the limit of {LIMIT_MS} ms",
                    e.end_ms()
                )));
            }
            for h in e.fault.hosts() {
                if !spec.hosts.iter().any(|x| x == h) {
                    return Err(ScheduleError::UnknownHost {
                        host: h.into(),
                        valid: spec.hosts.clone(),
                    });
                }
            }
            match &e.fault {
                Fault::Crash { host } if !spec.crashable.contains(host) => {
                    return Err(ScheduleError::Unsupported(format!(
                        "host {host:?} cannot crash in this scenario; crashable: {}",
                        spec.crashable.join(", ")
                    )))
                }
                Fault::Partition { a, b }
                | Fault::Loss { a, b, .. }
                | Fault::Latency { a, b, .. }
                    if a == b =>
                {
                    return Err(ScheduleError::BadValue(format!(
                        "a link needs two different hosts, got {a:?} twice"
                    )))
                }
                Fault::Loss { rate, .. } if !(0.0..=1.0).contains(rate) => {
                    return Err(ScheduleError::BadValue(format!(
                        "loss rate {rate} is not in 0..=1"
                    )))
                }
                Fault::ClockSkew { drift_ppm, .. } if drift_ppm.abs() > MAX_DRIFT_PPM => {
                    return Err(ScheduleError::BadValue(format!(
                        "drift_ppm {drift_ppm} is past the limit of ±{MAX_DRIFT_PPM} ppm"
                    )))
                }
                Fault::Latency { extra_ms: v, .. } if *v > LIMIT_MS => {
                    return Err(ScheduleError::BadValue(format!(
                        "extra_ms {v} is past the limit of {LIMIT_MS} ms"
                    )))
                }
                Fault::ClockSkew { offset_ms: v, .. } if v.unsigned_abs() > LIMIT_MS => {
                    return Err(ScheduleError::BadValue(format!(
                        "offset_ms {v} is past the limit of ±{LIMIT_MS} ms"
                    )))
                }
                _ => {}
            }
        }
        Ok(())
    }

    /// Schedules every fault change on `sim` and sets its buggify mask if the schedule has
    /// one. `base` is the link configuration the faults
    /// modify (loss and latency are set on top of it and restored when they end).
    /// Overlapping events combine: a link is cut while any partition of it is active, a host
    /// is down while any crash of it is, losses compound, extra latencies and skews add up.
    pub fn apply(&self, sim: &Sim, base: &LinkConfig) {
        if self.buggify_mask.is_some() {
            sim.set_buggify_mask(self.buggify_mask);
        }
        let mut times = BTreeSet::new();
        for e in &self.events {
            times.insert(e.at_ms);
            times.insert(e.end_ms());
        }
        let mut prev = State::default();
        for t in times {
            let next = State::at(self, t);
            let actions = prev.diff(&next, base);
            prev = next;
            if !actions.is_empty() {
                sim.at(Instant::ZERO + Duration::from_millis(t), move |ctl| {
                    for a in &actions {
                        a.apply(ctl);
                    }
                });
            }
        }
    }
}

/// Largest time, latency or clock offset a schedule may name, in milliseconds (one day).
pub const LIMIT_MS: u64 = 86_400_000;

/// Rounds a loss rate to 4 decimals, so a rate read back from JSON is the rate applied.
pub fn quantize_rate(rate: f64) -> f64 {
    (rate.clamp(0.0, 1.0) * 1e4).round() / 1e4
}

type Pair = (String, String);

fn pair(a: &str, b: &str) -> Pair {
    if a <= b {
        (a.into(), b.into())
    } else {
        (b.into(), a.into())
    }
}

/// What is faulty at one instant.
#[derive(Default, PartialEq)]
struct State {
    cut: BTreeSet<Pair>,
    down: BTreeSet<String>,
    /// Per link: probability a packet survives, extra latency.
    links: BTreeMap<Pair, (f64, u64)>,
    skew: BTreeMap<String, (i64, i64)>,
}

impl State {
    fn at(s: &FaultSchedule, t: u64) -> State {
        let mut st = State::default();
        for e in s.events.iter().filter(|e| e.at_ms <= t && t < e.end_ms()) {
            match &e.fault {
                Fault::Partition { a, b } => {
                    st.cut.insert(pair(a, b));
                }
                Fault::Crash { host } => {
                    st.down.insert(host.clone());
                }
                Fault::Loss { a, b, rate } => {
                    st.links.entry(pair(a, b)).or_insert((1.0, 0)).0 *= 1.0 - quantize_rate(*rate);
                }
                Fault::Latency { a, b, extra_ms } => {
                    let l = st.links.entry(pair(a, b)).or_insert((1.0, 0));
                    l.1 = l.1.saturating_add(*extra_ms);
                }
                Fault::ClockSkew {
                    host,
                    offset_ms,
                    drift_ppm,
                } => {
                    let k = st.skew.entry(host.clone()).or_insert((0, 0));
                    // Overlapping skews add up, within the bounds a single one has.
                    let limit = LIMIT_MS as i64;
                    k.0 = k.0.saturating_add(*offset_ms).clamp(-limit, limit);
                    k.1 =
                        k.1.saturating_add(*drift_ppm)
                            .clamp(-MAX_DRIFT_PPM, MAX_DRIFT_PPM);
                }
            }
        }
        st
    }

    fn diff(&self, next: &State, base: &LinkConfig) -> Vec<Action> {
        let mut out = Vec::new();
        for p in next.cut.difference(&self.cut) {
            out.push(Action::Partition(p.clone()));
        }
        for p in self.cut.difference(&next.cut) {
            out.push(Action::Repair(p.clone()));
        }
        for h in next.down.difference(&self.down) {
            out.push(Action::Crash(h.clone()));
        }
        for h in self.down.difference(&next.down) {
            out.push(Action::Restart(h.clone()));
        }
        let links: BTreeSet<&Pair> = self.links.keys().chain(next.links.keys()).collect();
        for p in links {
            let (survive, extra) = next.links.get(p).copied().unwrap_or((1.0, 0));
            if self.links.get(p) != next.links.get(p) {
                let mut cfg = base.clone();
                cfg.loss = 1.0 - (1.0 - base.loss) * survive;
                cfg.latency = add_latency(base.latency, Duration::from_millis(extra));
                out.push(Action::SetLink(p.clone(), cfg));
            }
        }
        let hosts: BTreeSet<&String> = self.skew.keys().chain(next.skew.keys()).collect();
        for h in hosts {
            if self.skew.get(h) != next.skew.get(h) {
                let (off, drift) = next.skew.get(h).copied().unwrap_or((0, 0));
                out.push(Action::Skew(h.clone(), off, drift));
            }
        }
        out
    }
}

fn add_latency(l: Latency, extra: Duration) -> Latency {
    match l {
        Latency::Fixed(d) => Latency::Fixed(d + extra),
        Latency::Uniform { min, max } => Latency::Uniform {
            min: min + extra,
            max: max + extra,
        },
        Latency::LongTail { min, max } => Latency::LongTail {
            min: min + extra,
            max: max + extra,
        },
    }
}

/// One fault verb, ready to run at its time.
enum Action {
    Partition(Pair),
    Repair(Pair),
    Crash(String),
    Restart(String),
    SetLink(Pair, LinkConfig),
    Skew(String, i64, i64),
}

impl Action {
    fn apply(&self, ctl: &Control) {
        match self {
            Action::Partition((a, b)) => ctl.partition(a, b),
            Action::Repair((a, b)) => ctl.repair(a, b),
            Action::Crash(h) => ctl.crash(h),
            Action::Restart(h) => ctl.restart(h),
            Action::SetLink((a, b), cfg) => {
                ctl.set_link(a, b, cfg.clone());
                ctl.set_link(b, a, cfg.clone());
            }
            Action::Skew(h, off, drift) => ctl.clock_skew(h, off.saturating_mul(1_000_000), *drift),
        }
    }
}

/// How intense drawn faults may get (at most a [`SwarmSpec`]'s maxima): a swarm draw picks
/// lower caps per seed, exploration uses the maxima ([`SwarmSpec::caps`]).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Caps {
    /// Largest loss rate.
    pub loss_max: f64,
    /// Largest extra latency, ms.
    pub latency_max_ms: u64,
    /// Largest clock offset either way, ms (not negative).
    pub skew_max_ms: i64,
    /// Largest drift either way, ppm (not negative).
    pub drift_max_ppm: i64,
}

/// A scenario's declared fault ranges for swarm testing.
#[derive(Clone, Debug, PartialEq)]
pub struct SwarmSpec {
    /// Every host of the scenario.
    pub hosts: Vec<String>,
    /// Links that may be partitioned, made lossy or slow.
    pub links: Vec<(String, String)>,
    /// Hosts that may crash (and restart).
    pub crashable: Vec<String>,
    /// Hosts whose clock may be skewed.
    pub skewable: Vec<String>,
    /// The fault kinds this scenario draws from.
    pub kinds: Vec<FaultKind>,
    /// Most events in one schedule (at least one is drawn).
    pub events_max: u64,
    /// Faults start within `0..=start_max_ms`.
    pub start_max_ms: u64,
    /// Each fault lasts `for_ms.0..=for_ms.1`.
    pub for_ms: (u64, u64),
    /// Largest loss rate.
    pub loss_max: f64,
    /// Largest extra latency, ms.
    pub latency_max_ms: u64,
    /// Largest clock offset either way, ms.
    pub skew_max_ms: i64,
    /// Largest drift either way, ppm.
    pub drift_max_ppm: i64,
}

impl SwarmSpec {
    /// A star: host `server` and `clients` hosts named `client-<i>`, the server–client links
    /// cut-able, the server crashable, every host skewable, faults of `kinds`; no events until
    /// the caller sets the counts and ranges (struct update syntax).
    pub fn star(clients: u64, kinds: Vec<FaultKind>) -> SwarmSpec {
        let names: Vec<String> = (0..clients).map(|c| format!("client-{c}")).collect();
        let mut hosts = vec!["server".to_string()];
        hosts.extend(names.iter().cloned());
        SwarmSpec {
            links: names.iter().map(|c| ("server".into(), c.clone())).collect(),
            crashable: vec!["server".into()],
            skewable: hosts.clone(),
            hosts,
            kinds,
            events_max: 0,
            start_max_ms: 0,
            for_ms: (0, 0),
            loss_max: 0.0,
            latency_max_ms: 0,
            skew_max_ms: 0,
            drift_max_ppm: 0,
        }
    }

    /// Draws one seed's schedule, TigerBeetle-style: first which fault kinds this seed uses
    /// and how intense each may get (within the declared ranges), then the events.
    pub fn draw(&self, seed: u64) -> FaultSchedule {
        let mut rng = SeededRng::new(derive_seed(seed, "swarm"));
        let mut kinds: Vec<FaultKind> = self
            .kinds
            .iter()
            .copied()
            .filter(|k| self.drawable(*k) && rng.chance(0.5))
            .collect();
        if kinds.is_empty() {
            let all: Vec<FaultKind> = self
                .kinds
                .iter()
                .copied()
                .filter(|k| self.drawable(*k))
                .collect();
            if all.is_empty() {
                return FaultSchedule::default();
            }
            kinds.push(all[rng.below(all.len() as u64) as usize]);
        }
        let loss_max = self.loss_max * rng.unit_f64();
        let latency_max = rng.range_inclusive(0, self.latency_max_ms);
        let skew_max = rng.range_inclusive(0, self.skew_max_ms.unsigned_abs()) as i64;
        let drift_max = rng.range_inclusive(0, self.drift_max_ppm.unsigned_abs()) as i64;
        let n = rng.range_inclusive(1, self.events_max.max(1));
        let caps = Caps {
            loss_max,
            latency_max_ms: latency_max,
            skew_max_ms: skew_max,
            drift_max_ppm: drift_max,
        };
        let mut events = Vec::new();
        for _ in 0..n {
            let kind = kinds[rng.below(kinds.len() as u64) as usize];
            events.push(self.draw_event(&mut rng, kind, &caps));
        }
        events.sort_by_key(|e| e.at_ms);
        FaultSchedule {
            events,
            buggify_mask: None,
        }
    }

    /// Draws one event of `kind` (which must be [`SwarmSpec::drawable`]): start, duration,
    /// then target and intensity within `caps`.
    pub fn draw_event(&self, rng: &mut SeededRng, kind: FaultKind, caps: &Caps) -> FaultEvent {
        let at_ms = rng.range_inclusive(0, self.start_max_ms);
        let for_ms = rng.range_inclusive(self.for_ms.0, self.for_ms.1.max(self.for_ms.0));
        let pick =
            |rng: &mut SeededRng, v: &[String]| v[rng.below(v.len() as u64) as usize].clone();
        let link =
            |rng: &mut SeededRng| self.links[rng.below(self.links.len() as u64) as usize].clone();
        let signed =
            |rng: &mut SeededRng, max: i64| rng.range_inclusive(0, 2 * max as u64) as i64 - max;
        let fault = match kind {
            FaultKind::Partition => {
                let (a, b) = link(rng);
                Fault::Partition { a, b }
            }
            FaultKind::Crash => Fault::Crash {
                host: pick(rng, &self.crashable),
            },
            FaultKind::Loss => {
                let (a, b) = link(rng);
                let rate = quantize_rate(caps.loss_max * rng.unit_f64());
                Fault::Loss { a, b, rate }
            }
            FaultKind::Latency => {
                let (a, b) = link(rng);
                let extra_ms = rng.range_inclusive(0, caps.latency_max_ms);
                Fault::Latency { a, b, extra_ms }
            }
            FaultKind::ClockSkew => Fault::ClockSkew {
                host: pick(rng, &self.skewable),
                offset_ms: signed(rng, caps.skew_max_ms),
                drift_ppm: signed(rng, caps.drift_max_ppm),
            },
        };
        FaultEvent {
            at_ms,
            for_ms,
            fault,
        }
    }

    /// The widest caps: the declared maxima.
    pub fn caps(&self) -> Caps {
        Caps {
            loss_max: self.loss_max,
            latency_max_ms: self.latency_max_ms,
            skew_max_ms: self.skew_max_ms.abs(),
            drift_max_ppm: self.drift_max_ppm.abs(),
        }
    }

    /// Whether this spec can draw faults of `k` (it has targets for them).
    pub fn drawable(&self, k: FaultKind) -> bool {
        match k {
            FaultKind::Partition | FaultKind::Loss | FaultKind::Latency => !self.links.is_empty(),
            FaultKind::Crash => !self.crashable.is_empty(),
            FaultKind::ClockSkew => !self.skewable.is_empty(),
        }
    }
}

#[cfg(test)]
mod tests;
