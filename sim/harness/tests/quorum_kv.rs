//! The harness as a user's `cargo test` uses it: a replicated register written against
//! `testbed_model` (examples/support/quorum_kv.rs) explored under the swarm. The correct
//! quorums survive every seed; the planted bug (write quorum of one) is found, shrunk to at
//! most two fault events, reported once, and replayed from the printed command in a fresh
//! process of this test binary.

#[path = "../examples/support/quorum_kv.rs"]
mod quorum_kv;

use quorum_kv::Quorums;
use std::process::Command;
use testbed_harness::{check_swarm, CheckError, Failure, FaultSchedule, Replay, SwarmCheck};

/// Set in the replay process this test starts.
const CHILD: &str = "QUORUM_KV_REPLAY_CHILD";

fn check(q: Quorums) -> impl Fn(u64, &FaultSchedule) -> Result<(), testbed_sim::SimError> + Sync {
    move |seed, s| quorum_kv::run(seed, s, q).result.map(|_| ())
}

#[test]
fn majority_quorums_survive_the_swarm() {
    check_swarm(0..100, &quorum_kv::swarm(), check(Quorums::MAJORITY));
}

fn find_bug(jobs: usize) -> Failure {
    match SwarmCheck::new(quorum_kv::swarm())
        .seeds(0..200)
        .jobs(jobs)
        .replay(None)
        .try_run(check(Quorums::PLANTED_BUG))
    {
        Err(CheckError::Failed(f)) => *f,
        other => panic!("the planted bug was not found: {other:?}"),
    }
}

/// `TESTBED_SEED`, `TESTBED_SCHEDULE` and the test name out of a printed replay command.
fn parse_replay(cmd: &str) -> (String, String, String) {
    let seed = cmd
        .strip_prefix("TESTBED_SEED=")
        .and_then(|r| r.split(' ').next())
        .unwrap_or_else(|| panic!("no TESTBED_SEED in {cmd}"));
    let (_, rest) = cmd
        .split_once(" TESTBED_SCHEDULE='")
        .unwrap_or_else(|| panic!("no TESTBED_SCHEDULE in {cmd}"));
    let (schedule, rest) = rest.split_once("' ").expect("closing quote");
    let (_, test) = rest.split_once(" -- --exact ").expect("--exact");
    (seed.into(), schedule.into(), test.into())
}

#[test]
fn the_planted_bug_is_found_shrunk_and_replayed() {
    if let Some(replay) = Replay::from_env().expect("well-formed TESTBED_SEED/TESTBED_SCHEDULE") {
        // The child process below (or a user pasting the replay command): exactly one run.
        let r = SwarmCheck::new(quorum_kv::swarm()).try_run(check(Quorums::PLANTED_BUG));
        let Err(CheckError::Failed(f)) = r else {
            panic!("replaying seed {} did not fail: {r:?}", replay.seed)
        };
        assert!(f.replayed && f.shrink_runs == 0, "{f}");
        println!("REPLAYED seed={} error={}", f.seed, f.error);
        return;
    }
    // A child that did not see the replay variables must not explore (and spawn) again.
    assert!(
        std::env::var_os(CHILD).is_none(),
        "the replay process saw no TESTBED_SEED"
    );
    let f = find_bug(2);
    // The bug needs faults: without any the same seed passes.
    assert!(
        quorum_kv::run(f.seed, &FaultSchedule::default(), Quorums::PLANTED_BUG)
            .result
            .is_ok()
    );
    assert!(
        (1..=2).contains(&f.minimal.events.len()) && !f.shrink_exhausted,
        "not shrunk to at most 2 events: {f}"
    );
    assert!(f.minimal.events.len() < f.original.events.len(), "{f}");
    assert!(f.error.contains("stale read: wrote version "), "{f}");
    // The minimal schedule fails on its own, with the reported error; each event is needed.
    let again = quorum_kv::run(f.seed, &f.minimal, Quorums::PLANTED_BUG);
    assert!(again.result.unwrap_err().to_string().contains(&f.error));
    for i in 0..f.minimal.events.len() {
        let mut less = f.minimal.clone();
        less.events.remove(i);
        let r = quorum_kv::run(f.seed, &less, Quorums::PLANTED_BUG).result;
        assert!(
            r.is_ok(),
            "event {i} of {} is not needed: {r:?}",
            f.minimal.to_json()
        );
    }
    // Results do not depend on the thread count.
    assert_eq!(find_bug(1), f);

    // The printed command replays it in a fresh process of this test binary.
    assert!(
        f.replay
            .contains(" cargo test -p testbed-harness --test quorum_kv -- --exact "),
        "{}",
        f.replay
    );
    let (seed, schedule, test) = parse_replay(&f.replay);
    assert_eq!(seed, f.seed.to_string());
    assert_eq!(schedule, f.minimal.to_json().to_string());
    assert_eq!(test, "the_planted_bug_is_found_shrunk_and_replayed");
    let out = Command::new(std::env::current_exe().expect("test binary"))
        .args(["--exact", &test, "--nocapture", "--test-threads=1"])
        .env("TESTBED_SEED", &seed)
        .env("TESTBED_SCHEDULE", &schedule)
        .env(CHILD, "1")
        .output()
        .expect("run the test binary");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "replay process failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let want = format!("REPLAYED seed={} error={}\n", f.seed, f.error);
    assert!(stdout.contains(&want), "want {want:?} in:\n{stdout}");
}

#[test]
fn a_failing_exploration_panics_once_with_seed_schedule_error_and_replay() {
    if std::env::var_os("TESTBED_SEED").is_some() {
        return; // a replay of another test of this binary
    }
    let caught = std::panic::catch_unwind(|| {
        check_swarm(0..200, &quorum_kv::swarm(), check(Quorums::PLANTED_BUG))
    });
    let payload = caught.expect_err("the planted bug is found");
    let msg = payload
        .downcast_ref::<String>()
        .expect("a formatted panic message");
    let f = find_bug(2);
    assert_eq!(*msg, f.to_string());
    let lines: Vec<&str> = msg.lines().collect();
    assert!(
        lines[0].starts_with(&format!(
            "seed {} failed: client \"client\" failed at t=",
            f.seed
        )),
        "{msg}"
    );
    assert!(
        lines[1].starts_with("minimal schedule (")
            && lines[1].ends_with(&f.minimal.to_json().to_string()),
        "{msg}"
    );
    assert!(
        lines.last().unwrap().starts_with(&format!(
            "replay: TESTBED_SEED={} TESTBED_SCHEDULE='{{\"events\":[",
            f.seed
        )),
        "{msg}"
    );
    // testbed-sim's own replay hint (seed only) is not repeated inside the error.
    assert!(!msg.contains("(seed "), "{msg}");
}
