//! `testbed shrink`: reduce a failing seed's fault schedule to a minimal one that still fails,
//! write it, and print the command that replays it (`testbed run ... --schedule FILE`). Also
//! the scenario lookup shared by run, sweep and shrink (test-only scenarios behind
//! `TESTBED_TEST_SCENARIOS=1`) and schedule-file reading.

use super::usage;
use clap::Args;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use testbed_scenarios::faults::FaultSchedule;
use testbed_scenarios::shrink::{shrink_schedule, shrink_seed, ShrinkError};
use testbed_scenarios::{
    find, prepare, replay_command, test_catalogue, Backend, RunCtx, RunError, Scenario,
};
use testbed_sim::Fidelity;

use super::args::FidelityArg;

/// The scenario named `name`: from the catalogue, or, when the environment has
/// `TESTBED_TEST_SCENARIOS=1`, also from the test-only scenarios (such as `planted-bug`).
pub fn lookup(name: &str) -> Result<&'static dyn Scenario, RunError> {
    find(name).or_else(|e| {
        if std::env::var("TESTBED_TEST_SCENARIOS").as_deref() == Ok("1") {
            test_catalogue()
                .into_iter()
                .find(|s| s.name() == name)
                .ok_or(e)
        } else {
            Err(e)
        }
    })
}

/// Reads a schedule file (a schedule, or a `run --json` result holding one).
pub fn read_schedule(path: &Path) -> Result<FaultSchedule, String> {
    let text =
        std::fs::read_to_string(path).map_err(|e| format!("reading {}: {e}", path.display()))?;
    FaultSchedule::from_json(&text).map_err(|e| format!("{}: {e}", path.display()))
}

/// `testbed shrink` arguments.
#[derive(Args)]
pub struct ShrinkArgs {
    /// Scenario name.
    scenario: String,
    /// The failing seed.
    #[arg(long)]
    seed: u64,
    /// Parameter override, repeatable (as in the failing run).
    #[arg(long = "set", value_name = "KEY=VALUE")]
    sets: Vec<String>,
    /// Where to write the minimal schedule (default: shrunk-SCENARIO-SEED.json).
    #[arg(long, value_name = "FILE")]
    out: Option<PathBuf>,
    /// Give up after this many runs (the best schedule so far is still written).
    #[arg(long, default_value_t = 2000)]
    max_runs: u64,
    /// stream or packet (see `run --fidelity`).
    #[arg(long, value_enum, default_value = "stream")]
    fidelity: FidelityArg,
    /// Shrink this failing schedule (a file from `testbed explore` or `run --json`) run with
    /// --seed, instead of the schedule the seed draws.
    #[arg(long, value_name = "FILE")]
    schedule: Option<PathBuf>,
}

fn describe(s: &FaultSchedule) -> String {
    format!(
        "{} faults, last healed at {:.3} s",
        s.events.len(),
        s.end().as_secs_f64()
    )
}

/// Runs `testbed shrink`.
pub fn shrink(a: ShrinkArgs) -> ExitCode {
    let fidelity = Fidelity::from(a.fidelity);
    let s = match lookup(&a.scenario) {
        Ok(s) => s,
        Err(e) => return usage(e),
    };
    let params = match prepare(s, Backend::Sim, &a.sets) {
        Ok(p) => p,
        Err(e) => return usage(e),
    };
    let out = a
        .out
        .unwrap_or_else(|| PathBuf::from(format!("shrunk-{}-{}.json", s.name(), a.seed)));
    let mut replay = replay_command(s, Backend::Sim, a.seed, &params);
    if fidelity == Fidelity::Packet {
        replay.push_str(" --fidelity packet");
    }
    replay.push_str(&format!(" --schedule {}", out.display()));
    let wall = super::stopwatch();
    let ctx = RunCtx::new(Backend::Sim, a.seed, params, &wall)
        .with_replay(replay.clone())
        .with_fidelity(fidelity);
    let given = match a.schedule.as_deref().map(read_schedule).transpose() {
        Ok(g) => g,
        Err(e) => return usage(e),
    };
    let shrunk = match given {
        Some(g) => shrink_schedule(s, &ctx, g, a.max_runs),
        None => shrink_seed(s, &ctx, a.max_runs),
    };
    let r = match shrunk {
        Ok(r) => r,
        Err(ShrinkError::Run(e)) if !e.is_usage() => {
            eprintln!("testbed: {e}");
            return ExitCode::from(1);
        }
        Err(e) => return usage(e),
    };
    let text = serde_json::to_string_pretty(&r.schedule).expect("schedules serialize");
    if let Err(e) = std::fs::write(&out, text.clone() + "\n") {
        eprintln!("testbed: writing {}: {e}", out.display());
        return ExitCode::from(1);
    }
    println!(
        "shrink {} seed {}: {} -> {} in {} runs{}",
        s.name(),
        a.seed,
        describe(&r.original),
        describe(&r.schedule),
        r.runs,
        if r.exhausted {
            " (run budget exhausted: not minimal)"
        } else {
            ""
        }
    );
    println!("still fails: {}", r.failed.join(", "));
    println!("{text}");
    println!("wrote {}", out.display());
    println!("replay: {replay}");
    ExitCode::SUCCESS
}
