//! Seed sweeps of a scenario: [`Sweep`] runs one scenario per seed on the simulator through
//! the harness's generic sweep ([`testbed_harness::sweep`]: shards, merging, summaries).

use crate::catalogue::replay_command;
use crate::params::Params;
use crate::scenario::{Backend, RunCtx, Scenario};
use std::collections::BTreeMap;
use std::ops::Range;
use testbed_model::Duration;
use testbed_sim::Fidelity;

pub use testbed_harness::sweep::*;

/// What to sweep.
pub struct Sweep<'a> {
    /// The scenario.
    pub scenario: &'a dyn Scenario,
    /// Its parameters.
    pub params: Params,
    /// Simulator fidelity.
    pub fidelity: Fidelity,
    /// Worker threads.
    pub jobs: usize,
    /// Wall-clock stopwatch for the runs (scenarios never read clocks).
    pub wall: &'a (dyn Fn() -> Duration + Sync),
}

impl Sweep<'_> {
    /// Runs one seed; errors and panics count as failures.
    pub fn run_seed(&self, seed: u64) -> SeedResult {
        let mut replay = replay_command(self.scenario, Backend::Sim, seed, &self.params);
        if self.fidelity == Fidelity::Packet {
            replay.push_str(" --fidelity packet");
        }
        let ctx = RunCtx::new(Backend::Sim, seed, self.params.clone(), self.wall)
            .with_replay(replay.clone())
            .with_fidelity(self.fidelity);
        let run =
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| self.scenario.run(&ctx)));
        let (passed, trace_hash, failed, metrics) = match run {
            Ok(Ok(o)) => (
                o.passed(),
                o.trace_hash.map(|h| format!("{h:016x}")),
                o.invariants
                    .iter()
                    .filter(|i| !i.passed)
                    .map(|i| format!("{}: {}", i.name, i.detail))
                    .collect(),
                o.metrics
                    .iter()
                    .filter_map(|(k, v)| Some((k.clone(), v.as_f64()?)))
                    .collect(),
            ),
            Ok(Err(e)) => (
                false,
                None,
                vec![format!("run error: {e}")],
                BTreeMap::new(),
            ),
            Err(p) => {
                let msg = panic_message(&*p);
                (
                    false,
                    None,
                    vec![format!("panicked: {msg}")],
                    BTreeMap::new(),
                )
            }
        };
        SeedResult {
            seed,
            passed,
            trace_hash,
            failed,
            replay: (!passed).then_some(replay),
            metrics,
        }
    }

    /// Runs every seed of `seeds` on `jobs` threads; `progress` sees each result as it lands.
    /// Results come back in seed order.
    pub fn run(
        &self,
        seeds: Range<u64>,
        progress: &(dyn Fn(&SeedResult) + Sync),
    ) -> Vec<SeedResult> {
        run_seeds(seeds, self.jobs, &|seed| self.run_seed(seed), progress)
    }
}

#[cfg(test)]
mod tests;
