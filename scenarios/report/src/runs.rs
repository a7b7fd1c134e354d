//! Running catalogue scenarios in-process for the report (simulator, fixed seed) and reading
//! claim records a scenario puts in its metrics (`metrics.claims`: an array of claim objects).

use super::claim::{Claim, Verdict};
use serde_json::Value as Json;
use testbed_contract::Outcome;
use testbed_contract::{Backend, RunCtx, RunError, Scenario};
use testbed_model::Duration;
use testbed_scenarios::{find, prepare, replay_command};

/// Why a scenario produced no outcome.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum RunFailure {
    /// The run could not happen (parameters, backend setup).
    #[error(transparent)]
    Run(#[from] RunError),
    /// The scenario panicked (a bug in it); the report goes on without it.
    #[error("the scenario panicked: {0}")]
    Panicked(String),
}

/// A scenario run (or why there is none).
pub struct ScenarioRun {
    /// Scenario name.
    pub name: String,
    /// `None`: the scenario is not in this build's catalogue.
    pub result: Option<Result<Outcome, RunFailure>>,
    /// The `testbed run` command that reproduces it.
    pub command: String,
}

impl ScenarioRun {
    /// The outcome, when it ran.
    pub fn outcome(&self) -> Option<&Outcome> {
        self.result.as_ref().and_then(|r| r.as_ref().ok())
    }

    /// Where its numbers come from, for the page.
    pub fn source(&self) -> String {
        match &self.result {
            Some(Ok(o)) => format!(
                "ran here: `{}` ({}, seed {}, {}{})",
                self.command,
                o.backend,
                o.seed,
                if o.passed() {
                    "invariants held"
                } else {
                    "an invariant FAILED"
                },
                o.trace_hash
                    .map_or(String::new(), |h| format!("; trace hash {h:016x}"))
            ),
            Some(Err(e)) => format!("`{}` could not run: {e}", self.command),
            None => format!(
                "scenario `{}` is not in this build's catalogue (testbed list)",
                self.name
            ),
        }
    }

    /// Why there are no numbers, when there are none.
    pub fn missing(&self) -> Option<String> {
        match &self.result {
            Some(Ok(_)) => None,
            Some(Err(e)) => Some(format!("not run here: {e}")),
            None => Some(format!(
                "not run here: scenario `{}` does not exist in this build",
                self.name
            )),
        }
    }

    /// A metric of the outcome.
    pub fn metric(&self, key: &str) -> Option<&Json> {
        self.outcome().and_then(|o| o.metrics.get(key))
    }
}

/// Runs scenario `name` on the simulator with `seed` and `sets` (`key=value`).
pub fn run(name: &str, seed: u64, sets: &[&str], wall: &dyn Fn() -> Duration) -> ScenarioRun {
    run_on(name, Backend::Sim, seed, sets, wall)
}

/// Runs scenario `name` on `backend`.
pub fn run_on(
    name: &str,
    backend: Backend,
    seed: u64,
    sets: &[&str],
    wall: &dyn Fn() -> Duration,
) -> ScenarioRun {
    let sets: Vec<String> = sets.iter().map(|s| s.to_string()).collect();
    let Ok(s) = find(name) else {
        return ScenarioRun {
            name: name.into(),
            result: None,
            command: format!("testbed run {name} --seed {seed}"),
        };
    };
    let params = match prepare(s, backend, &sets) {
        Ok(p) => p,
        Err(e) => {
            return ScenarioRun {
                name: name.into(),
                result: Some(Err(e.into())),
                command: format!("testbed run {name} --seed {seed}"),
            }
        }
    };
    let replay = replay_command(s, backend, seed, &params);
    let command = replay
        .strip_prefix("cargo run --release -- ")
        .map_or(replay.clone(), |r| format!("testbed {r}"));
    let ctx = RunCtx::new(backend, seed, params, wall).with_replay(replay);
    ScenarioRun {
        name: name.into(),
        result: Some(run_caught(s, &ctx)),
        command,
    }
}

/// Runs `s`, turning a panic into [`RunFailure::Panicked`] so one broken scenario does not
/// take the whole report down.
fn run_caught(s: &dyn Scenario, ctx: &RunCtx<'_>) -> Result<Outcome, RunFailure> {
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| s.run(ctx))) {
        Ok(r) => r.map_err(RunFailure::Run),
        Err(p) => Err(RunFailure::Panicked(
            p.downcast_ref::<String>()
                .cloned()
                .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_else(|| "non-string panic payload".into()),
        )),
    }
}

/// Claim records the scenario put in `metrics.claims`.
pub fn metric_claims(r: &ScenarioRun) -> Vec<Claim> {
    let src = r.source();
    r.metric("claims")
        .and_then(Json::as_array)
        .map(|a| a.iter().filter_map(|v| Claim::from_json(v, &src)).collect())
        .unwrap_or_default()
}

/// Scenarios other helpers are adding (网络编程进阶主题 §4): when present their claim records and series
/// are read; when absent the page says so.
pub const LATER: &[(&str, &str, &str)] = &[
    (
        "avalanche",
        "4.5",
        "Service avalanche: a slow dependency takes its callers down; circuit breakers (CLOSED → OPEN → HALF_OPEN) stop it",
    ),
    (
        "retry-storm",
        "4.5",
        "Unbounded retries aggravate an avalanche; retry budgets and backoff stop it",
    ),
    (
        "rebalance",
        "4.3",
        "Adding or removing backends with consistent hashing moves few keys under live traffic",
    ),
];

/// The rows for a later scenario: its claim records, or one row saying why there are none.
pub fn later_claims(r: &ScenarioRun, section: &str, claim: &str) -> Vec<Claim> {
    let claims = metric_claims(r);
    if !claims.is_empty() {
        return claims;
    }
    let (verdict, detail) = match &r.result {
        None => (
            Verdict::NotRunHere,
            format!(
                "not run here: scenario `{}` is not in this build's catalogue",
                r.name
            ),
        ),
        Some(Err(e)) => (Verdict::NotRunHere, format!("not run here: {e}")),
        Some(Ok(_)) => (
            Verdict::NotMeasurableHere,
            format!(
                "`{}` ran but put no claim records in its metrics (metrics.claims)",
                r.name
            ),
        ),
    };
    vec![Claim {
        id: format!("{}.scenario", r.name),
        section: section.into(),
        claim: claim.into(),
        seed_value: "qualitative".into(),
        measured: "—".into(),
        unit: String::new(),
        backend: "sim".into(),
        verdict,
        detail,
        source: r.source(),
    }]
}

/// Breaker states in plot order (y axis).
pub const BREAKER_STATES: [&str; 3] = ["closed", "half_open", "open"];

fn state_index(s: &str) -> Option<usize> {
    match s.to_ascii_lowercase().replace('-', "_").as_str() {
        "closed" => Some(0),
        "half_open" | "halfopen" => Some(1),
        "open" => Some(2),
        _ => None,
    }
}

fn timeline(v: &Json) -> Vec<(f64, usize)> {
    v.as_array()
        .map(|a| {
            a.iter()
                .filter_map(|p| {
                    let p = p.as_array()?;
                    Some((p.first()?.as_f64()?, state_index(p.get(1)?.as_str()?)?))
                })
                .collect()
        })
        .unwrap_or_default()
}

/// `metrics.breaker_timeline`: `[[t_ms, state], ...]` (one breaker) or
/// `{name: [[t_ms, state], ...], ...}` (several).
pub fn breaker_timelines(v: &Json) -> Vec<(String, Vec<(f64, usize)>)> {
    match v {
        Json::Array(_) => vec![("breaker".to_string(), timeline(v))],
        Json::Object(m) => m.iter().map(|(k, v)| (k.clone(), timeline(v))).collect(),
        _ => Vec::new(),
    }
    .into_iter()
    .filter(|(_, t)| !t.is_empty())
    .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn breaker_timelines_in_both_shapes() {
        let one = breaker_timelines(&json!([
            [0, "closed"],
            [120, "open"],
            [5120, "half-open"],
            [5200, "bogus"]
        ]));
        assert_eq!(
            one,
            vec![(
                "breaker".to_string(),
                vec![(0.0, 0), (120.0, 2), (5120.0, 1)]
            )]
        );
        let many = breaker_timelines(&json!({"a": [[0, "closed"]], "b": []}));
        assert_eq!(many.len(), 1);
        assert!(breaker_timelines(&json!(3)).is_empty());
    }

    #[test]
    fn a_scenario_that_reports_claims_and_a_timeline_is_read() {
        let mut o = Outcome {
            scenario: "avalanche".into(),
            backend: "sim".into(),
            ..Outcome::default()
        };
        o.metric(
            "claims",
            json!([{"id": "avalanche.contained", "section": "4.5", "measured": "99%", "verdict": "holds"}, {"no": "id"}]),
        );
        o.metric(
            "breaker_timeline",
            json!([
                [0, "closed"],
                [300, "open"],
                [5300, "half_open"],
                [5310, "closed"]
            ]),
        );
        let r = ScenarioRun {
            name: "avalanche".into(),
            result: Some(Ok(o)),
            command: "testbed run avalanche --seed 0".into(),
        };
        let c = later_claims(&r, "4.5", "x");
        assert_eq!(c.len(), 1);
        assert_eq!(c[0].id, "avalanche.contained");
        assert_eq!(c[0].verdict, Verdict::Holds);
        assert!(c[0].source.contains("testbed run avalanche"));
        let t = breaker_timelines(r.metric("breaker_timeline").expect("timeline"));
        assert_eq!(t[0].1.len(), 4);
        // Ran, but no claims: says so instead of inventing a verdict.
        let mut quiet = r;
        if let Some(Ok(o)) = quiet.result.as_mut() {
            o.metrics.remove("claims");
        }
        let c = later_claims(&quiet, "4.5", "x");
        assert_eq!(c[0].verdict, Verdict::NotMeasurableHere);
        assert!(c[0].detail.contains("no claim records"));
    }

    struct Panics;
    impl Scenario for Panics {
        fn name(&self) -> &'static str {
            "panics"
        }
        fn summary(&self) -> &'static str {
            "panics"
        }
        fn params(&self) -> &'static [testbed_contract::ParamSpec] {
            &[]
        }
        fn backends(&self) -> &'static [Backend] {
            &[Backend::Sim]
        }
        fn run(&self, _: &RunCtx<'_>) -> Result<Outcome, RunError> {
            panic!("planted bug")
        }
    }

    #[test]
    fn a_panicking_scenario_becomes_a_failure_not_a_crash() {
        let wall = || Duration::ZERO;
        let ctx = RunCtx::new(
            Backend::Sim,
            0,
            prepare(&Panics, Backend::Sim, &[]).expect("params"),
            &wall,
        );
        let r = run_caught(&Panics, &ctx);
        assert_eq!(r.err(), Some(RunFailure::Panicked("planted bug".into())));
    }

    #[test]
    fn a_missing_scenario_is_not_run_here() {
        let wall = || Duration::ZERO;
        let r = run("no-such-scenario", 0, &[], &wall);
        assert!(r.result.is_none());
        let c = later_claims(&r, "4.5", "x");
        assert_eq!(c.len(), 1);
        assert_eq!(c[0].verdict, Verdict::NotRunHere);
        assert!(r.missing().expect("missing").contains("does not exist"));
    }
}
