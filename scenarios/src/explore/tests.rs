use super::*;
use crate::catalogue::test_catalogue;
use crate::faults::FaultSchedule;

fn planted() -> &'static dyn Scenario {
    test_catalogue()
        .into_iter()
        .find(|s| s.name() == "planted-bug")
        .unwrap()
}

fn exploration(depth: u64, seed: u64, jobs: usize, max_runs: u64) -> Exploration<'static> {
    let s = planted();
    Exploration {
        scenario: s,
        params: Params::parse(s.params(), &[format!("depth={depth}")]).unwrap(),
        fidelity: Fidelity::Stream,
        seed,
        jobs,
        max_runs,
        stop: &|| false,
    }
}

/// Depth 2 (a primary–backup partition, then a crash of the primary) is found within a small
/// budget, and the schedule it writes, read back from JSON, fails again with the same seed.
#[test]
fn explore_finds_the_depth_2_bug_and_its_schedule_replays() {
    let x = exploration(2, 1, 1, 400);
    let r = explore_scenario(&x).unwrap().report;
    let found = r.found.expect("depth 2 found within 400 runs");
    assert!(found.run <= 400);
    assert!(
        found
            .failure
            .iter()
            .any(|f| f.starts_with("acknowledged_writes_survive")),
        "{:?}",
        found.failure
    );
    let spec = x.scenario.swarm(&x.params).unwrap();
    in_ranges(&spec, &found.candidate.schedule).unwrap();
    let file = serde_json::to_string_pretty(&found.candidate.schedule).unwrap();
    let back = FaultSchedule::from_json(&file).unwrap();
    assert_eq!(back, found.candidate.schedule);
    let wall = || Duration::ZERO;
    let ctx = RunCtx::new(Backend::Sim, found.candidate.seed, x.params.clone(), &wall);
    let replay = x.scenario.run_with_schedule(&ctx, &back).unwrap();
    assert!(!replay.passed());
    assert_eq!(replay.metrics["stage"], 2);
}

/// The same exploration seed with one job explores identically (the same runs, corpus and
/// coverage, and the same find), run after run.
#[test]
fn explore_is_deterministic_for_a_seed_and_one_job() {
    let a = explore_scenario(&exploration(3, 7, 1, 40)).unwrap();
    let b = explore_scenario(&exploration(3, 7, 1, 40)).unwrap();
    assert_eq!(a, b);
    assert!(a.report.covered > 0 && a.report.corpus > 0, "{a:?}");
    assert!(a.metric_max["stage"] >= 0.0);
    let found = explore_scenario(&exploration(2, 1, 1, 400)).unwrap();
    let again = explore_scenario(&exploration(2, 1, 1, 400)).unwrap();
    assert!(found.report.found.is_some());
    assert_eq!(found, again);
}

#[test]
fn scenarios_without_a_schedule_are_refused() {
    let echo = crate::find("echo").unwrap();
    let x = Exploration {
        scenario: echo,
        params: Params::parse(echo.params(), &[]).unwrap(),
        ..exploration(2, 0, 1, 10)
    };
    assert_eq!(
        explore_scenario(&x).err(),
        Some(ExploreError::NoSchedule("echo".into()))
    );
}
