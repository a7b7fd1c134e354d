//! Helpers for testing your own code in the simulator: run a check over many seeds and print
//! the failing seed with its replay command; run a scenario twice and find where two runs of
//! the same seed diverge.

use crate::sim::Report;
use crate::trace::{first_difference, Event};
use std::fmt::Display;

/// Seeds to run: `TESTBED_SEED=n` runs only seed `n` (replay); otherwise `TESTBED_SEEDS`
/// seeds (default `default_count`) starting at `TESTBED_SEED_START` (default 0).
pub fn seeds(default_count: u64) -> std::ops::Range<u64> {
    let var = |k: &str| {
        std::env::var(k)
            .ok()
            .and_then(|v| v.trim().parse::<u64>().ok())
    };
    if let Some(s) = var("TESTBED_SEED") {
        return s..s + 1;
    }
    let start = var("TESTBED_SEED_START").unwrap_or(0);
    start..start + var("TESTBED_SEEDS").unwrap_or(default_count)
}

/// Runs `check` for each seed of [`seeds`]`(32)` and panics at the first failure with the seed
/// and the command that replays it.
///
/// ```
/// testbed_sim::check_seeds(|seed| if seed < 1000 { Ok(()) } else { Err("too big") });
/// ```
pub fn check_seeds<E: Display>(mut check: impl FnMut(u64) -> Result<(), E>) {
    for seed in seeds(32) {
        let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| check(seed)));
        let failure = match outcome {
            Ok(Ok(())) => continue,
            Ok(Err(e)) => e.to_string(),
            Err(p) => p
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_else(|| "panic".into()),
        };
        let hint = crate::sim::default_replay_hint(seed);
        panic!("failed for seed {seed}: {failure}\nreplay: {hint}");
    }
}

/// Two runs of one seed differed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("seed {seed}: runs diverge at event #{index}: first run {first}, second run {second}")]
pub struct Divergence {
    /// The seed.
    pub seed: u64,
    /// Index of the first differing event.
    pub index: usize,
    /// That event in the first run (or "end of trace").
    pub first: String,
    /// That event in the second run (or "end of trace").
    pub second: String,
}

fn show(e: Option<Event>) -> String {
    e.map(|e| e.to_string())
        .unwrap_or_else(|| "end of trace".into())
}

/// Runs `run(seed)` twice (it must build its `Sim` with `record_trace: true`) and compares the
/// traces event by event. Returns the trace hash when they match.
pub fn check_determinism(seed: u64, mut run: impl FnMut(u64) -> Report) -> Result<u64, Divergence> {
    let a = run(seed);
    let b = run(seed);
    let (ea, eb) = (a.events.unwrap_or_default(), b.events.unwrap_or_default());
    if let Some((index, x, y)) = first_difference(&ea, &eb) {
        return Err(Divergence {
            seed,
            index,
            first: show(x),
            second: show(y),
        });
    }
    if a.trace_hash != b.trace_hash {
        return Err(Divergence {
            seed,
            index: ea.len(),
            first: format!("hash {:016x}", a.trace_hash),
            second: format!("hash {:016x}", b.trace_hash),
        });
    }
    Ok(a.trace_hash)
}
