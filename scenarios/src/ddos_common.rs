//! Pieces the DDoS scenarios share: variants run side by side (baseline, attack without the
//! defence, attack with it), a FIFO "CPU" that makes work cost server time, spoofed source
//! addresses, and latency summaries.

use crate::outcome::{quantile, Invariant, Outcome};
use serde_json::json;
use std::cell::Cell;
use std::net::Ipv4Addr;
use std::rc::Rc;
use testbed_model::rng::splitmix64;
use testbed_model::{Duration, Instant, Rng, Runtime};
use testbed_sim::trace::Event;
use testbed_sim::{Report, SimError};

/// Which variants a run includes (`--set defence=...`).
pub const DEFENCE_CHOICES: &[&str] = &["both", "on", "off"];

/// One variant's result.
pub struct VariantRun {
    /// Name in metrics and invariants.
    pub name: &'static str,
    /// How the simulation ended.
    pub run: Result<Report, SimError>,
    /// Its trace hash.
    pub hash: u64,
    /// Metrics of the variant.
    pub metrics: serde_json::Map<String, serde_json::Value>,
}

/// Records several simulator runs in one outcome: a `run_completed_<variant>` invariant each,
/// metrics under the variant's name, one trace hash folded over all runs and, when traces were
/// recorded, their events concatenated (so `check-determinism` compares every run).
pub fn record_variants(out: &mut Outcome, runs: Vec<VariantRun>) {
    let mut hash = 0u64;
    let mut events: Vec<Event> = Vec::new();
    let mut hosts = Vec::new();
    let mut recorded = false;
    let mut total_events = 0u64;
    for v in runs {
        hash = splitmix64(hash ^ v.hash);
        let detail = match &v.run {
            Ok(r) => format!("finished at sim time {}", r.end_time),
            Err(e) => e.to_string(),
        };
        out.invariants.push(Invariant::check(
            &format!("run_completed_{}", v.name),
            v.run.is_ok(),
            detail,
        ));
        if let Ok(r) = &v.run {
            total_events += r.trace_events;
            if let Some(ev) = &r.events {
                recorded = true;
                events.extend_from_slice(ev);
                hosts = r.hosts.clone();
            }
        }
        out.metric(v.name, serde_json::Value::Object(v.metrics));
    }
    out.trace_hash = Some(hash);
    out.metric("trace_events", total_events);
    if recorded {
        out.trace = Some((events, hosts));
    }
}

/// A single FIFO processor: work submitted at `now` starts when the previous work is done.
#[derive(Clone, Default)]
pub struct Cpu {
    busy_until: Rc<Cell<Instant>>,
}

impl Cpu {
    /// Spends `cost` of this CPU's time (queueing behind earlier work).
    pub async fn work<R: Runtime>(&self, rt: &R, cost: Duration) {
        let start = self.busy_until.get().max(rt.now());
        let done = start + cost;
        self.busy_until.set(done);
        rt.sleep_until(done).await;
    }
}

/// A source address in 198.18.0.0/15 (the benchmarking range: no host has one, so replies
/// to it are dropped on the way).
pub fn spoofed_source(rng: &mut impl Rng) -> Ipv4Addr {
    Ipv4Addr::from(0xC612_0000 | (rng.next_u64() as u32 & 0x1_FFFF))
}

/// Success rate and latency summary of one variant's legitimate clients.
#[derive(Clone, Debug, Default)]
pub struct Legit {
    /// Attempts made.
    pub attempts: u64,
    /// Attempts that succeeded.
    pub ok: u64,
    /// Latencies of successful attempts, in microseconds.
    pub latencies_us: Vec<u64>,
}

impl Legit {
    /// Records one attempt: whether it succeeded, and how long it took.
    pub fn record(&mut self, ok: bool, took: testbed_model::Duration) {
        self.attempts += 1;
        if ok {
            self.ok += 1;
            self.latencies_us.push(took.as_micros() as u64);
        }
    }
    /// Fraction of attempts that succeeded (1.0 when there were none).
    pub fn success_rate(&self) -> f64 {
        if self.attempts == 0 {
            1.0
        } else {
            self.ok as f64 / self.attempts as f64
        }
    }
    /// The p-quantile latency in milliseconds.
    pub fn latency_ms(&self, q: f64) -> Option<f64> {
        let mut v = self.latencies_us.clone();
        v.sort_unstable();
        quantile(&v, q).map(|us| us as f64 / 1000.0)
    }
    /// The metrics every DDoS scenario reports for legitimate clients.
    pub fn metrics(&self) -> serde_json::Map<String, serde_json::Value> {
        let mut m = serde_json::Map::new();
        m.insert("legit_attempts".into(), json!(self.attempts));
        m.insert("legit_ok".into(), json!(self.ok));
        m.insert(
            "legit_success_rate".into(),
            json!(round4(self.success_rate())),
        );
        m.insert("legit_latency_p50_ms".into(), json!(self.latency_ms(0.5)));
        m.insert("legit_latency_p99_ms".into(), json!(self.latency_ms(0.99)));
        m
    }
}

/// `x` rounded to 4 decimals (stable JSON).
pub fn round4(x: f64) -> f64 {
    (x * 10_000.0).round() / 10_000.0
}

/// The variants `defence` asks for, as (name, defended) pairs.
pub fn variants(defence: &str) -> Vec<(&'static str, bool)> {
    match defence {
        "on" => vec![("defended", true)],
        "off" => vec![("undefended", false)],
        _ => vec![("undefended", false), ("defended", true)],
    }
}
