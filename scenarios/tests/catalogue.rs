//! The whole catalogue in `cargo test`: every scenario runs on the simulator for a few seeds,
//! in both fidelities where it has a choice, and must pass its invariants; the first seed of
//! each fidelity runs twice in this process and the two traces must match event by event.
//! Heavy scenarios run with smaller parameters (listed below) so this stays near a minute in a
//! debug build; `scripts/e2e` and `testbed sweep` cover the defaults over many seeds.

use std::sync::Mutex;
use testbed_scenarios::determinism::{run_twice, SeedVerdict};
use testbed_scenarios::{catalogue, prepare, replay_command, Backend, RunCtx, Scenario};
use testbed_sim::Fidelity;

/// How one scenario is exercised.
struct Plan {
    name: &'static str,
    /// `--set` overrides that keep a debug-build run short.
    sets: &'static [&'static str],
    /// Whether the run's fidelity is its own choice (false: it always simulates packets, so a
    /// second fidelity would repeat the same run).
    both_fidelities: bool,
    /// Seeds for stream fidelity (the first is also the determinism check).
    stream_seeds: &'static [u64],
}

const DEFAULT: Plan = Plan {
    name: "",
    sets: &[],
    both_fidelities: true,
    stream_seeds: &[0, 1],
};

/// Scenarios that differ from [`DEFAULT`]. Every name must be in the catalogue.
const PLANS: &[Plan] = &[
    Plan {
        name: "echo",
        sets: &["clients=4", "round_trips=50"],
        ..DEFAULT
    },
    Plan {
        name: "http1",
        sets: &["requests=50"],
        ..DEFAULT
    },
    Plan {
        name: "ws-echo",
        sets: &["clients=3", "messages=20"],
        ..DEFAULT
    },
    Plan {
        name: "syn-flood",
        sets: &["clients=5", "connects=3", "flood_rate=500"],
        both_fidelities: false,
        ..DEFAULT
    },
    Plan {
        name: "udp-flood",
        sets: &[
            "clients=5",
            "requests=4",
            "flood_rate=2000",
            "bots=1",
            "bot_rate=500",
        ],
        both_fidelities: false,
        stream_seeds: &[0],
    },
    Plan {
        name: "http-flood",
        sets: &["clients=4", "requests=4", "attackers=1", "attacker_conns=4"],
        both_fidelities: false,
        stream_seeds: &[0],
    },
    Plan {
        name: "ddos-xdp",
        sets: &["clients=2", "requests=20", "flood=2000"],
        both_fidelities: false,
        ..DEFAULT
    },
    Plan {
        name: "http-versions",
        sets: &["resources=10", "size=5000"],
        both_fidelities: false,
        stream_seeds: &[0],
    },
    Plan {
        name: "avalanche",
        sets: &["rate=30", "workers=5"],
        both_fidelities: true,
        stream_seeds: &[0],
    },
    Plan {
        name: "retry-storm",
        sets: &["rate=50"],
        both_fidelities: true,
        stream_seeds: &[0],
    },
    Plan {
        // The slowest in debug builds (hashing tables for every scheme): one seed, streams only.
        name: "rebalance",
        sets: &[],
        both_fidelities: false,
        stream_seeds: &[0],
    },
    Plan {
        name: "degrade",
        sets: &["capacity=100"],
        both_fidelities: true,
        stream_seeds: &[0],
    },
];

/// Packet fidelity runs this seed (one run pair: invariants and determinism).
const PACKET_SEED: u64 = 2;

/// One run pair: `Err` says what went wrong.
fn check(
    s: &dyn Scenario,
    plan: &Plan,
    seed: u64,
    fidelity: Fidelity,
    twice: bool,
) -> Result<(), String> {
    let sets: Vec<String> = plan.sets.iter().map(|s| s.to_string()).collect();
    let params = prepare(s, Backend::Sim, &sets).map_err(|e| format!("parameters: {e}"))?;
    let mut replay = replay_command(s, Backend::Sim, seed, &params);
    if fidelity == Fidelity::Packet {
        replay.push_str(" --fidelity packet");
    }
    let outcome = if twice {
        let (verdict, outcome) = run_twice(s, &params, seed, fidelity, replay.clone())
            .map_err(|e| format!("{e} ({replay})"))?;
        if let SeedVerdict::Diverged { index, detail } = verdict {
            return Err(format!(
                "not deterministic in-process: traces differ at event {index}: {detail} ({replay})"
            ));
        }
        outcome
    } else {
        let wall = || testbed_model::Duration::ZERO;
        let ctx = RunCtx::new(Backend::Sim, seed, params, &wall)
            .with_replay(replay.clone())
            .with_fidelity(fidelity);
        s.run(&ctx).map_err(|e| format!("{e} ({replay})"))?
    };
    let failed: Vec<String> = outcome
        .invariants
        .iter()
        .filter(|i| !i.passed)
        .map(|i| format!("{}: {}", i.name, i.detail))
        .collect();
    if outcome.invariants.is_empty() {
        return Err(format!("checked no invariant ({replay})"));
    }
    if !failed.is_empty() {
        return Err(format!("{} ({replay})", failed.join("; ")));
    }
    Ok(())
}

#[test]
fn every_scenario_passes_on_the_simulator() {
    let cat = catalogue();
    for p in PLANS {
        assert!(
            cat.iter().any(|s| s.name() == p.name),
            "plan for {:?}, which is not in the catalogue",
            p.name
        );
    }
    // (scenario, plan, seed, fidelity, run twice)
    let mut jobs = Vec::new();
    for &s in &cat {
        assert!(
            s.backends().contains(&Backend::Sim),
            "{} does not run on sim",
            s.name()
        );
        let plan = PLANS
            .iter()
            .find(|p| p.name == s.name())
            .unwrap_or(&DEFAULT);
        for (i, &seed) in plan.stream_seeds.iter().enumerate() {
            jobs.push((s, plan, seed, Fidelity::Stream, i == 0));
        }
        if plan.both_fidelities {
            jobs.push((s, plan, PACKET_SEED, Fidelity::Packet, true));
        }
    }
    // Longest first would be better still; the catalogue order is fine on two threads.
    let queue = Mutex::new(jobs.into_iter());
    let failures = Mutex::new(Vec::new());
    let threads = std::thread::available_parallelism()
        .map_or(2, |n| n.get())
        .min(4);
    std::thread::scope(|scope| {
        for _ in 0..threads {
            scope.spawn(|| loop {
                let Some((s, plan, seed, fidelity, twice)) = queue.lock().unwrap().next() else {
                    break;
                };
                if let Err(e) = check(s, plan, seed, fidelity, twice) {
                    failures
                        .lock()
                        .unwrap()
                        .push(format!("{} seed {seed} {fidelity:?}: {e}", s.name()));
                }
            });
        }
    });
    let failures = failures.into_inner().unwrap();
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
