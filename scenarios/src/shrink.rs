//! Shrinking a failing scenario run's fault schedule: [`shrink_seed`] runs the seed, then the
//! harness's generic shrinker ([`testbed_harness::shrink`]) with "an invariant that failed in
//! the original run fails again" as the predicate.

use crate::faults::FaultSchedule;
use crate::params::Params;
use crate::scenario::{RunCtx, RunError, Scenario};
use std::collections::BTreeSet;

pub use testbed_harness::shrink::shrink;

/// Why a seed could not be shrunk.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum ShrinkError {
    /// The scenario's faults are not a schedule.
    #[error("scenario {0} has no fault schedule to shrink (scenarios with one take --schedule)")]
    NoSchedule(String),
    /// The seed's run passes: nothing to shrink.
    #[error("seed {0} passes; shrinking needs a failing run (find one with `testbed sweep` or `testbed explore`)")]
    Passes(u64),
    /// The run could not happen.
    #[error(transparent)]
    Run(#[from] RunError),
}

/// The result of shrinking.
#[derive(Clone, Debug, PartialEq)]
pub struct Shrunk {
    /// The failing run's schedule.
    pub original: FaultSchedule,
    /// The smallest schedule found that still fails.
    pub schedule: FaultSchedule,
    /// Invariants that failed in the original run.
    pub failed: Vec<String>,
    /// Runs spent.
    pub runs: u64,
    /// Whether the run budget ran out before a fixpoint.
    pub exhausted: bool,
}

/// Runs `seed` of `scenario`, then shrinks its schedule. `wall` is the stopwatch runs get.
pub fn shrink_seed(
    scenario: &dyn Scenario,
    ctx: &RunCtx<'_>,
    max_runs: u64,
) -> Result<Shrunk, ShrinkError> {
    let params: &Params = &ctx.params;
    let original = scenario
        .fault_schedule(ctx.seed, params)
        .ok_or_else(|| ShrinkError::NoSchedule(scenario.name().into()))?;
    shrink_schedule(scenario, ctx, original, max_runs)
}

/// Runs `ctx.seed` of `scenario` with `original` (a schedule from a file, such as the one
/// `testbed explore` writes), then shrinks it.
pub fn shrink_schedule(
    scenario: &dyn Scenario,
    ctx: &RunCtx<'_>,
    original: FaultSchedule,
    max_runs: u64,
) -> Result<Shrunk, ShrinkError> {
    if scenario.swarm(&ctx.params).is_none() {
        return Err(ShrinkError::NoSchedule(scenario.name().into()));
    }
    let first = scenario.run_with_schedule(ctx, &original)?;
    let failed: BTreeSet<String> = first
        .invariants
        .iter()
        .filter(|i| !i.passed)
        .map(|i| i.name.clone())
        .collect();
    if failed.is_empty() {
        return Err(ShrinkError::Passes(ctx.seed));
    }
    let mut fails = |s: &FaultSchedule| {
        let run = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            scenario.run_with_schedule(ctx, s)
        }));
        matches!(run, Ok(Ok(o)) if o.invariants.iter().any(|i| !i.passed && failed.contains(&i.name)))
    };
    let (schedule, runs, exhausted) = shrink(&original, max_runs, &mut fails);
    Ok(Shrunk {
        original,
        schedule,
        failed: failed.into_iter().collect(),
        runs: runs + 1,
        exhausted,
    })
}

#[cfg(test)]
mod tests;
