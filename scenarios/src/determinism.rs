//! `check-determinism`: run a scenario twice per seed with the trace recorded and compare
//! event by event (the comparison is the harness's [`compare`]).

use crate::outcome::Outcome;
use crate::params::Params;
use crate::scenario::{Backend, RunCtx, RunError, Scenario};
pub use testbed_harness::determinism::{compare, SeedVerdict};
use testbed_model::Duration;

/// Runs `scenario` twice for `seed` on the simulator and compares the traces.
pub fn check_seed(
    scenario: &dyn Scenario,
    params: &Params,
    seed: u64,
    fidelity: testbed_sim::Fidelity,
    replay: String,
) -> Result<SeedVerdict, RunError> {
    run_twice(scenario, params, seed, fidelity, replay).map(|(verdict, _)| verdict)
}

/// [`check_seed`], also returning the first run's outcome (its invariants and metrics; the
/// trace is taken out for the comparison).
pub fn run_twice(
    scenario: &dyn Scenario,
    params: &Params,
    seed: u64,
    fidelity: testbed_sim::Fidelity,
    replay: String,
) -> Result<(SeedVerdict, Outcome), RunError> {
    let wall = || Duration::ZERO;
    let ctx = RunCtx::new(Backend::Sim, seed, params.clone(), &wall)
        .with_trace(true)
        .with_replay(replay)
        .with_fidelity(fidelity);
    let mut a = scenario.run(&ctx)?;
    let b = scenario.run(&ctx)?;
    let (ea, eb) = (
        a.trace.take().map(|t| t.0).unwrap_or_default(),
        b.trace.map(|t| t.0).unwrap_or_default(),
    );
    let verdict = compare(&ea, a.trace_hash, &eb, b.trace_hash);
    Ok((verdict, a))
}
