//! Exploring a scenario's fault schedules ([`explore_scenario`]): the harness's feedback-guided
//! search ([`testbed_harness::explore`]) with each candidate run through
//! [`Scenario::run_with_schedule`] on the simulator, and the run's [`Outcome`] turned into
//! coverage features ([`outcome_features`]): the recorded trace (event kinds per host and
//! their transitions), which invariants held, and every metric on a log scale (stage
//! counters and invariant margins that scenarios report).

use crate::faults::SwarmSpec;
use crate::params::Params;
use crate::scenario::{Backend, RunCtx, RunError, Scenario};
use crate::Outcome;
use std::collections::BTreeMap;
use std::sync::Mutex;
use testbed_harness::explore::coverage::{feature, metric_feature, trace_features};
use testbed_harness::explore::{explore, Candidate, Config, Feedback};
use testbed_harness::sweep::panic_message;
use testbed_model::Duration;
use testbed_sim::Fidelity;

pub use testbed_harness::explore::{in_ranges, Candidate as ExploreCandidate, Found, Report};
pub use testbed_harness::fuzzing::candidate as fuzz_candidate;

/// Why a scenario cannot be explored.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum ExploreError {
    /// Its faults are not a schedule (no swarm ranges to search within).
    #[error("scenario {0} has no fault schedule to explore (scenarios with one take --schedule)")]
    NoSchedule(String),
    /// It does not run on the simulator.
    #[error(transparent)]
    Run(#[from] RunError),
}

/// What to explore and how.
pub struct Exploration<'a> {
    /// The scenario.
    pub scenario: &'a dyn Scenario,
    /// Its parameters.
    pub params: Params,
    /// Simulator fidelity.
    pub fidelity: Fidelity,
    /// The exploration seed.
    pub seed: u64,
    /// Runs in flight at once.
    pub jobs: usize,
    /// Run budget.
    pub max_runs: u64,
    /// A time budget: `true` stops the search between batches.
    pub stop: &'a (dyn Fn() -> bool + Sync),
}

/// Coverage features of a run: trace and invariants (the metrics are
/// [`outcome_progress`]).
pub fn outcome_features(o: &Outcome) -> Vec<u64> {
    let mut out = Vec::new();
    if let Some((events, _hosts)) = &o.trace {
        trace_features(events, &mut out);
    }
    for i in &o.invariants {
        out.push(feature(
            "invariant",
            &[testbed_model::rng::label_hash(&i.name), u64::from(i.passed)],
        ));
    }
    out
}

/// Progress features of a run: every metric the scenario reports (its stage counters and
/// invariant margins), exact when small and on a log scale above.
pub fn outcome_progress(o: &Outcome) -> Vec<u64> {
    o.metrics
        .iter()
        .filter_map(|(name, v)| Some(metric_feature(name, v.as_f64()?)))
        .collect()
}

/// Runs one candidate of `scenario` with its schedule and reports what it did, and its
/// numeric metrics.
pub fn run_candidate(
    scenario: &dyn Scenario,
    params: &Params,
    fidelity: Fidelity,
    c: &Candidate,
) -> (Feedback, Vec<(String, f64)>) {
    // Runs see a stopped wall clock: coverage must not depend on how fast the machine is.
    let wall = || Duration::ZERO;
    let ctx = RunCtx::new(Backend::Sim, c.seed, params.clone(), &wall)
        .with_trace(true)
        .with_fidelity(fidelity);
    let run = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        scenario.run_with_schedule(&ctx, &c.schedule)
    }));
    match run {
        Ok(Ok(o)) => (
            Feedback {
                failed: !o.passed(),
                failure: o
                    .invariants
                    .iter()
                    .filter(|i| !i.passed)
                    .map(|i| format!("{}: {}", i.name, i.detail))
                    .collect(),
                features: outcome_features(&o),
                progress: outcome_progress(&o),
            },
            o.metrics
                .iter()
                .filter_map(|(k, v)| Some((k.clone(), v.as_f64()?)))
                .collect(),
        ),
        Ok(Err(e)) => (
            Feedback {
                failed: true,
                failure: vec![format!("run error: {e}")],
                ..Feedback::default()
            },
            Vec::new(),
        ),
        Err(p) => (
            Feedback {
                failed: true,
                failure: vec![format!("panicked: {}", panic_message(&*p))],
                features: vec![feature("panic", &[])],
                ..Feedback::default()
            },
            Vec::new(),
        ),
    }
}

/// The swarm ranges `scenario` draws from with `params`.
pub fn swarm_of(scenario: &dyn Scenario, params: &Params) -> Result<SwarmSpec, ExploreError> {
    if !scenario.backends().contains(&Backend::Sim) {
        return Err(RunError::Unsupported {
            scenario: scenario.name().into(),
            backend: "sim".into(),
            supported: scenario
                .backends()
                .iter()
                .map(|b| b.name().to_string())
                .collect(),
        }
        .into());
    }
    scenario
        .swarm(params)
        .ok_or_else(|| ExploreError::NoSchedule(scenario.name().into()))
}

/// The search's report, and how far runs got: the largest value of each metric over every
/// run (a scenario's stage counters and margins say how close the search came).
#[derive(Clone, Debug, PartialEq)]
pub struct Explored {
    /// The search's report.
    pub report: Report,
    /// Per metric, the largest value any run reported.
    pub metric_max: BTreeMap<String, f64>,
}

/// Searches `x.scenario`'s schedules (within its swarm ranges) for a failing run.
pub fn explore_scenario(x: &Exploration<'_>) -> Result<Explored, ExploreError> {
    let spec = swarm_of(x.scenario, &x.params)?;
    let cfg = Config {
        seed: x.seed,
        jobs: x.jobs,
        max_runs: x.max_runs,
        stop: x.stop,
        corpus_max: 4096,
    };
    let max: Mutex<BTreeMap<String, f64>> = Mutex::new(BTreeMap::new());
    let run = |c: &Candidate| {
        let (fb, metrics) = run_candidate(x.scenario, &x.params, x.fidelity, c);
        let mut m = max.lock().unwrap_or_else(|p| p.into_inner());
        for (k, v) in metrics {
            let e = m.entry(k).or_insert(v);
            *e = e.max(v);
        }
        fb
    };
    let report = explore(&spec, &cfg, &run);
    Ok(Explored {
        report,
        metric_max: max.into_inner().unwrap_or_else(|p| p.into_inner()),
    })
}

#[cfg(test)]
mod tests;
