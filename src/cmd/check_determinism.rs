//! `testbed check-determinism`: each seed run twice, the traces compared event by event.

use super::args::FidelityArg;
use super::usage;
use std::process::ExitCode;
use testbed_scenarios::determinism::{check_seed, SeedVerdict};
use testbed_scenarios::{find, prepare, Backend};
use testbed_sim::Fidelity;

/// Run a scenario twice per seed and compare the traces event by event.
#[derive(clap::Args, Debug)]
pub struct CheckDeterminismArgs {
    /// Scenario name.
    pub scenario: String,
    /// Seed range: A..B (end excluded) or A..=B.
    #[arg(long, default_value = "0..20")]
    pub seeds: String,
    /// Parameter override, repeatable.
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub sets: Vec<String>,
    /// Print one JSON object on stdout.
    #[arg(long)]
    pub json: bool,
    /// stream or packet (see `run --fidelity`).
    #[arg(long, value_enum, default_value = "stream")]
    pub fidelity: FidelityArg,
}

/// Runs `testbed check-determinism`.
pub fn run(a: CheckDeterminismArgs) -> ExitCode {
    check_determinism(&a.scenario, &a.seeds, &a.sets, a.json, a.fidelity.into())
}

fn check_determinism(
    scenario: &str,
    seeds: &str,
    sets: &[String],
    json: bool,
    fidelity: Fidelity,
) -> ExitCode {
    let s = match find(scenario) {
        Ok(s) => s,
        Err(e) => return usage(e),
    };
    let range = match testbed_scenarios::seeds::parse_seeds(seeds) {
        Ok(r) => r,
        Err(e) => return usage(e),
    };
    let params = match prepare(s, Backend::Sim, sets) {
        Ok(p) => p,
        Err(e) => return usage(e),
    };
    let mut diverged = Vec::new();
    let mut checked = 0u64;
    for seed in range.clone() {
        let replay = format!(
            "cargo run --release -- check-determinism {} --seeds {seed}..={seed}{}",
            s.name(),
            if fidelity == Fidelity::Packet {
                " --fidelity packet"
            } else {
                ""
            }
        );
        match check_seed(s, &params, seed, fidelity, replay.clone()) {
            Ok(SeedVerdict::Same(_)) => checked += 1,
            Ok(SeedVerdict::Diverged { index, detail }) => {
                checked += 1;
                eprintln!("seed {seed}: diverged at event #{index}: {detail}\n  replay: {replay}");
                diverged.push(serde_json::json!({"seed": seed, "index": index, "detail": detail, "replay": replay}));
            }
            Err(e) if e.is_usage() => return usage(e),
            Err(e) => {
                eprintln!("testbed: seed {seed}: {e}");
                return ExitCode::from(1);
            }
        }
    }
    let ok = diverged.is_empty();
    if json {
        println!(
            "{}",
            serde_json::json!({"scenario": s.name(), "seeds": format!("{}..{}", range.start, range.end), "checked": checked, "passed": ok, "diverged": diverged})
        );
    } else {
        println!(
            "check-determinism {} seeds {}..{}: {} checked, {} diverged: {}",
            s.name(),
            range.start,
            range.end,
            checked,
            diverged.len(),
            if ok {
                "DETERMINISTIC"
            } else {
                "NOT DETERMINISTIC"
            }
        );
    }
    if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}
