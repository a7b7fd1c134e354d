//! `check-determinism`: run a scenario twice per seed with the trace recorded and compare
//! event by event.

use crate::outcome::Outcome;
use crate::params::Params;
use crate::scenario::{Backend, RunCtx, RunError, Scenario};
use testbed_model::Duration;
use testbed_sim::trace::first_difference;

/// The verdict for one seed.
#[derive(Clone, Debug, PartialEq)]
pub enum SeedVerdict {
    /// Both runs produced this hash and identical events.
    Same(u64),
    /// The runs diverged at this event index.
    Diverged {
        /// Index of the first differing event.
        index: usize,
        /// Description of both sides.
        detail: String,
    },
}

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
    if let Some((index, x, y)) = first_difference(&ea, &eb) {
        let show = |e: Option<testbed_sim::trace::Event>| {
            e.map(|e| e.to_string())
                .unwrap_or_else(|| "end of trace".into())
        };
        let verdict = SeedVerdict::Diverged {
            index,
            detail: format!("first run: {}; second run: {}", show(x), show(y)),
        };
        return Ok((verdict, a));
    }
    let verdict = match (a.trace_hash, b.trace_hash) {
        (Some(x), Some(y)) if x == y => SeedVerdict::Same(x),
        (x, y) => SeedVerdict::Diverged {
            index: ea.len(),
            detail: format!("trace hashes differ: {x:?} vs {y:?}"),
        },
    };
    Ok((verdict, a))
}
