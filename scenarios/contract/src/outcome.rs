//! The result of one scenario run: invariants checked, metrics measured, and the JSON and
//! human renderings the CLI prints.

use serde_json::{json, Map, Value as Json};
use testbed_sim::trace::Event;

/// One invariant's verdict.
#[derive(Clone, Debug, PartialEq)]
pub struct Invariant {
    /// Short name, e.g. `all_requests_answered`.
    pub name: String,
    /// Whether it held.
    pub passed: bool,
    /// What was observed.
    pub detail: String,
}

impl Invariant {
    /// An invariant that holds when `passed`.
    pub fn check(name: &str, passed: bool, detail: impl Into<String>) -> Invariant {
        Invariant {
            name: name.into(),
            passed,
            detail: detail.into(),
        }
    }

    /// Holds when `done == expected`; the detail reads "`done` of `expected` `what`".
    pub fn count(name: &str, done: u64, expected: u64, what: &str) -> Invariant {
        Invariant::check(
            name,
            done == expected,
            format!("{done} of {expected} {what}"),
        )
    }

    /// Holds when `errors` is empty; the detail lists them, or says `ok_detail`.
    pub fn no_errors(name: &str, errors: &[String], ok_detail: &str) -> Invariant {
        let detail = if errors.is_empty() {
            ok_detail.to_string()
        } else {
            errors.join("; ")
        };
        Invariant::check(name, errors.is_empty(), detail)
    }
}

/// Everything a run produced.
#[derive(Clone, Debug, Default)]
pub struct Outcome {
    /// Scenario name.
    pub scenario: String,
    /// Backend name (`sim`, `kernel`, ...).
    pub backend: String,
    /// The seed.
    pub seed: u64,
    /// Trace hash (simulator only).
    pub trace_hash: Option<u64>,
    /// Invariants checked.
    pub invariants: Vec<Invariant>,
    /// Metrics, in insertion order.
    pub metrics: Map<String, Json>,
    /// Parameter values used.
    pub params: Json,
    /// The command that replays this run.
    pub replay: String,
    /// Recorded trace events and host names (when tracing was requested).
    pub trace: Option<(Vec<Event>, Vec<String>)>,
    /// The fault schedule the run used, for scenarios whose faults are one.
    pub schedule: Option<Json>,
}

impl Outcome {
    /// An empty outcome for a run of `scenario` described by `ctx`.
    pub fn start(scenario: &str, ctx: &crate::scenario::RunCtx<'_>) -> Outcome {
        Outcome {
            scenario: scenario.into(),
            backend: ctx.backend.name().into(),
            seed: ctx.seed,
            params: ctx.params.to_json(),
            replay: ctx.replay.clone(),
            ..Outcome::default()
        }
    }

    /// Whether every invariant held.
    pub fn passed(&self) -> bool {
        self.invariants.iter().all(|i| i.passed)
    }

    /// Records how a simulator run ended: the `run_completed` invariant, the trace hash and
    /// event count, and the events themselves when they were recorded.
    pub fn sim_run(
        &mut self,
        run: &Result<testbed_sim::Report, testbed_sim::SimError>,
        trace_hash: u64,
    ) {
        self.trace_hash = Some(trace_hash);
        let detail = match run {
            Ok(r) => format!("finished at sim time {}", r.end_time),
            Err(e) => e.to_string(),
        };
        self.invariants
            .push(Invariant::check("run_completed", run.is_ok(), detail));
        if let Ok(rep) = run {
            self.metric("trace_events", rep.trace_events);
            if let Some(ev) = &rep.events {
                self.trace = Some((ev.clone(), rep.hosts.clone()));
            }
        }
    }

    /// Adds a metric.
    pub fn metric(&mut self, name: &str, value: impl Into<Json>) {
        self.metrics.insert(name.into(), value.into());
    }

    /// The machine-readable form (one JSON object).
    pub fn to_json(&self) -> Json {
        let mut j = json!({
            "scenario": self.scenario,
            "backend": self.backend,
            "seed": self.seed,
            "trace_hash": self.trace_hash.map(|h| format!("{h:016x}")),
            "passed": self.passed(),
            "invariants": self.invariants.iter().map(|i| json!({"name": i.name, "passed": i.passed, "detail": i.detail})).collect::<Vec<_>>(),
            "metrics": self.metrics,
            "params": self.params,
            "replay": self.replay,
        });
        if let Some(s) = &self.schedule {
            j["schedule"] = s.clone();
        }
        j
    }

    /// A short human summary (text metrics longer than [`SUMMARY_TEXT_MAX`] bytes elided).
    pub fn summary(&self) -> String {
        let mut s = format!(
            "{} on {} (seed {}): {}\n",
            self.scenario,
            self.backend,
            self.seed,
            if self.passed() { "PASSED" } else { "FAILED" }
        );
        if let Some(h) = self.trace_hash {
            s += &format!("  trace hash {h:016x}\n");
        }
        for i in &self.invariants {
            s += &format!(
                "  [{}] {}: {}\n",
                if i.passed { "ok" } else { "FAIL" },
                i.name,
                i.detail
            );
        }
        for (k, v) in &self.metrics {
            match v.as_str() {
                // Long text (an SVG, a counterexample also shown above) stays in --json.
                Some(t) if t.len() > SUMMARY_TEXT_MAX => {
                    s += &format!("  {k} = <{} bytes of text; in --json>\n", t.len())
                }
                _ => s += &format!("  {k} = {v}\n"),
            }
        }
        if let Some(n) = self
            .schedule
            .as_ref()
            .and_then(|j| j["events"].as_array())
            .map(Vec::len)
        {
            s += &format!("  fault schedule: {n} events (under \"schedule\" in --json; replay with --schedule FILE)\n");
        }
        if !self.passed() {
            s += &format!("  replay: {}\n", self.replay);
        }
        s
    }
}

/// Longest text metric [`Outcome::summary`] prints.
pub const SUMMARY_TEXT_MAX: usize = 200;

/// Quantile of sorted values (nearest rank). `None` when empty.
pub fn quantile(sorted: &[u64], q: f64) -> Option<u64> {
    if sorted.is_empty() {
        return None;
    }
    let rank = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    Some(sorted[rank - 1])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_by_nearest_rank() {
        let v: Vec<u64> = (1..=100).collect();
        assert_eq!(quantile(&v, 0.5), Some(50));
        assert_eq!(quantile(&v, 0.99), Some(99));
        assert_eq!(quantile(&v, 1.0), Some(100));
        assert_eq!(quantile(&[], 0.5), None);
    }

    #[test]
    fn json_has_the_contract_fields() {
        let mut o = Outcome {
            scenario: "echo".into(),
            backend: "sim".into(),
            seed: 7,
            trace_hash: Some(0xab),
            ..Default::default()
        };
        o.invariants.push(Invariant::check("x", false, "no"));
        o.metric("round_trips", 3);
        let j = o.to_json();
        assert_eq!(j["trace_hash"], "00000000000000ab");
        assert_eq!(j["passed"], false);
        assert_eq!(j["invariants"][0]["name"], "x");
        assert_eq!(j["metrics"]["round_trips"], 3);
    }
}
