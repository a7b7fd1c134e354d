//! `testbed explore`: feedback-guided search for a failing fault schedule of one scenario
//! (see docs/explore.md). On a find it writes the schedule (default
//! target/explore/<scenario>.json) and prints the `testbed run ... --schedule` command that
//! replays it and the `testbed shrink ... --schedule` command that minimises it.
//! Exit codes: 1 a failing schedule was found (as `testbed run` exits on a failing run), 0 the
//! budget ran out without one, 2 usage error.

use super::args::FidelityArg;
use super::shrink::lookup;
use super::{stopwatch, usage};
use clap::Args;
use serde_json::json;
use std::path::PathBuf;
use std::process::ExitCode;
use testbed_scenarios::explore::{
    explore_scenario, fuzz_candidate, run_candidate, swarm_of, Exploration, Explored, Found, Report,
};
use testbed_scenarios::fuzzing::SCENARIO_TARGETS;
use testbed_scenarios::params::parse_duration;
use testbed_scenarios::{find, prepare, replay_command, Backend};
use testbed_sim::Fidelity;

/// `testbed explore` arguments.
#[derive(Args)]
pub struct ExploreArgs {
    /// Scenario name (one that takes a fault schedule).
    scenario: String,
    /// Run budget: stop after this many runs.
    #[arg(long, default_value_t = 100_000)]
    runs: u64,
    /// Time budget, e.g. 30s or 5m (checked between batches; the search is deterministic up
    /// to where it stops).
    #[arg(long, value_name = "DURATION")]
    time: Option<String>,
    /// Runs in flight at once (threads). The search is deterministic for a given --seed and
    /// --jobs.
    #[arg(long, default_value_t = 1)]
    jobs: usize,
    /// Exploration seed (run seeds are drawn from it).
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Parameter override, repeatable.
    #[arg(long = "set", value_name = "KEY=VALUE")]
    sets: Vec<String>,
    /// stream or packet (see `run --fidelity`).
    #[arg(long, value_enum, default_value = "stream")]
    fidelity: FidelityArg,
    /// Where to write a failing schedule (default: target/explore/SCENARIO.json).
    #[arg(long, value_name = "FILE")]
    out: Option<PathBuf>,
    /// Print exactly one JSON object on stdout.
    #[arg(long)]
    json: bool,
    /// Do not search: decode this cargo-fuzz input of the scenario's fuzz target (e.g. a
    /// crash file) into a run seed and a schedule, run it once and write the schedule. Without
    /// --set, the target's own parameters are used.
    #[arg(long, value_name = "FILE", conflicts_with_all = ["time"])]
    from_fuzz: Option<PathBuf>,
}

/// `--time`: a duration such as `500ms`, `30s`, `5m`.
fn time_budget(s: &str) -> Result<testbed_model::Duration, String> {
    parse_duration(s).ok_or_else(|| format!("bad --time {s:?}: expected e.g. 500ms, 30s, 5m"))
}

/// `--from-fuzz`: the one run a fuzz input decodes to, as a search that made one run (a
/// passing input is reported as not found; its schedule is written all the same).
fn from_fuzz(x: &Exploration<'_>, path: &std::path::Path) -> Result<Explored, String> {
    let data = std::fs::read(path).map_err(|e| format!("reading {}: {e}", path.display()))?;
    let spec = swarm_of(x.scenario, &x.params).map_err(|e| e.to_string())?;
    let c = fuzz_candidate(&spec, &data);
    let (fb, metrics) = run_candidate(x.scenario, &x.params, x.fidelity, &c);
    let failure = if fb.failed { fb.failure } else { Vec::new() };
    Ok(Explored {
        report: Report {
            found: Some(Found {
                candidate: c,
                run: 1,
                failure,
            }),
            runs: 1,
            corpus: 0,
            covered: 0,
            stopped: false,
        },
        metric_max: metrics.into_iter().collect(),
    })
}

/// Runs `testbed explore`.
pub fn run(a: ExploreArgs) -> ExitCode {
    let fidelity = Fidelity::from(a.fidelity);
    let s = match lookup(&a.scenario) {
        Ok(s) => s,
        Err(e) => return usage(e),
    };
    let target_sets: Vec<String> = match (&a.from_fuzz, a.sets.is_empty()) {
        (Some(_), true) => SCENARIO_TARGETS
            .iter()
            .find(|t| t.1 == s.name())
            .map(|t| t.2.iter().map(|x| x.to_string()).collect())
            .unwrap_or_default(),
        _ => a.sets.clone(),
    };
    let params = match prepare(s, Backend::Sim, &target_sets) {
        Ok(p) => p,
        Err(e) => return usage(e),
    };
    let budget = match a.time.as_deref().map(time_budget).transpose() {
        Ok(b) => b,
        Err(e) => return usage(e),
    };
    if a.jobs == 0 || a.jobs > 1024 {
        return usage(format!("--jobs {} is not in 1..=1024", a.jobs));
    }
    let wall = stopwatch();
    let stop = || budget.is_some_and(|b| wall() >= b);
    let x = Exploration {
        scenario: s,
        params: params.clone(),
        fidelity,
        seed: a.seed,
        jobs: a.jobs,
        max_runs: a.runs,
        stop: &stop,
    };
    let explored = match &a.from_fuzz {
        Some(path) => from_fuzz(&x, path),
        None => explore_scenario(&x).map_err(|e| e.to_string()),
    };
    let (r, metric_max) = match explored {
        Ok(x) => (x.report, x.metric_max),
        Err(e) => return usage(e),
    };
    let secs = wall().as_secs_f64();
    let mut out = json!({
        "scenario": s.name(),
        "found": r.found.is_some(),
        "runs": r.runs,
        "time_s": (secs * 1000.0).round() / 1000.0,
        "runs_per_s": if secs > 0.0 { (r.runs as f64 / secs).round() } else { 0.0 },
        "corpus": r.corpus,
        "coverage": r.covered,
        "stopped_by_time": r.stopped,
        "explore_seed": a.seed,
        "jobs": a.jobs,
        "params": params.to_json(),
        "metric_max": metric_max,
        "seed": null,
        "schedule": null,
        "schedule_file": null,
        "failed": [],
        "replay": null,
        "shrink": null,
    });
    let Some(found) = &r.found else {
        if a.json {
            println!("{out}");
        } else {
            println!(
                "explore {}: no failure in {} runs ({:.1} s{}); corpus {}, coverage {} slots",
                s.name(),
                r.runs,
                secs,
                if r.stopped { ", time budget" } else { "" },
                r.corpus,
                r.covered
            );
        }
        return ExitCode::SUCCESS;
    };
    let path = a
        .out
        .unwrap_or_else(|| PathBuf::from(format!("target/explore/{}.json", s.name())));
    let text =
        serde_json::to_string_pretty(&found.candidate.schedule).expect("schedules serialize");
    let written = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .map_or(Ok(()), std::fs::create_dir_all)
        .and_then(|()| std::fs::write(&path, text + "\n"));
    if let Err(e) = written {
        eprintln!("testbed: writing {}: {e}", path.display());
        return ExitCode::from(2);
    }
    // Only `--from-fuzz` of a passing input has a candidate without a failure.
    let failed = !found.failure.is_empty();
    out["found"] = failed.into();
    let seed = found.candidate.seed;
    // Test-only scenarios are found by name only with TESTBED_TEST_SCENARIOS=1.
    let env = if find(s.name()).is_err() {
        "TESTBED_TEST_SCENARIOS=1 "
    } else {
        ""
    };
    let mut replay = format!("{env}{}", replay_command(s, Backend::Sim, seed, &params));
    let mut shrink =
        replay
            .replacen(" -- run ", " -- shrink ", 1)
            .replacen(" --backend sim", "", 1);
    if fidelity == Fidelity::Packet {
        replay.push_str(" --fidelity packet");
        shrink.push_str(" --fidelity packet");
    }
    replay.push_str(&format!(" --schedule {}", path.display()));
    shrink.push_str(&format!(" --schedule {}", path.display()));
    out["seed"] = seed.into();
    out["schedule"] = found.candidate.schedule.to_json();
    out["schedule_file"] = path.display().to_string().into();
    out["failed"] = json!(found.failure);
    out["replay"] = replay.clone().into();
    out["shrink"] = shrink.clone().into();
    if a.json {
        println!("{out}");
    } else {
        if !failed {
            println!("explore {}: the fuzz input passes", s.name());
        } else {
            println!(
                "explore {}: FOUND a failing schedule after {} runs ({:.1} s); corpus {}, coverage {} slots",
                s.name(),
                r.runs,
                secs,
                r.corpus,
                r.covered
            );
        }
        for f in &found.failure {
            println!("  failed: {f}");
        }
        println!(
            "  {} faults, run seed {seed}; wrote {}",
            found.candidate.schedule.events.len(),
            path.display()
        );
        println!("replay: {replay}");
        println!("shrink: {shrink}");
    }
    if failed {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}
