use super::*;
use crate::faults::{Fault, FaultEvent, FaultKind};
use std::sync::atomic::{AtomicU64, Ordering};

fn swarm() -> Swarm {
    Swarm::new(["a", "b", "c"]).crashable(["a", "b"])
}

fn crashes(s: &FaultSchedule, host: &str) -> bool {
    s.events
        .iter()
        .any(|e| matches!(&e.fault, Fault::Crash { host: h } if h == host))
}

/// A synthetic bug: a crash of `a` together with a partition, whatever else happens.
fn buggy(_seed: u64, s: &FaultSchedule) -> Result<(), String> {
    let part = s
        .events
        .iter()
        .any(|e| e.fault.kind() == FaultKind::Partition);
    match crashes(s, "a") && part {
        true => Err(format!("lost writes ({} events)", s.events.len())),
        false => Ok(()),
    }
}

fn failure(r: Result<Checked, CheckError>) -> Failure {
    match r {
        Err(CheckError::Failed(f)) => *f,
        other => panic!("expected a failure, got {other:?}"),
    }
}

#[test]
fn the_smallest_failing_seed_is_found_and_shrunk_whatever_the_thread_count() {
    let runs = AtomicU64::new(0);
    let check = |seed, s: &FaultSchedule| {
        runs.fetch_add(1, Ordering::Relaxed);
        buggy(seed, s)
    };
    let ex = SwarmCheck::new(swarm()).seeds(0..1000).replay(None);
    let one = failure(ex.clone().jobs(1).try_run(check));
    let first = (0..1000)
        .find(|&seed| buggy(seed, &swarm().draw(seed).unwrap()).is_err())
        .unwrap();
    assert_eq!(one.seed, first);
    assert_eq!(one.minimal.events.len(), 2, "{one}");
    assert!(crashes(&one.minimal, "a"), "{one}");
    assert_eq!(one.error, "lost writes (2 events)");
    assert!(!one.replayed && !one.shrink_exhausted && one.shrink_runs > 0);
    // Shrinking made both events as early and as short as they can be.
    assert!(
        one.minimal
            .events
            .iter()
            .all(|e| e.at_ms == 0 && e.for_ms == 1),
        "{one}"
    );
    // Seeds above the failing one were not started with one thread.
    assert_eq!(
        runs.load(Ordering::Relaxed),
        first + 1 + one.shrink_runs + 1,
        "seeds 0..={first}, the shrink runs and one rerun of the minimal schedule"
    );
    for jobs in [2, 3, 8] {
        assert_eq!(
            failure(ex.clone().jobs(jobs).try_run(check)),
            one,
            "jobs {jobs}"
        );
    }
    let msg = one.to_string();
    assert!(
        msg.starts_with(&format!("seed {first} failed: lost writes (2 events)\n")),
        "{msg}"
    );
    assert!(msg.contains("minimal schedule (2 of "), "{msg}");
    assert!(
        msg.contains(&format!("{}\n", one.minimal.to_json())),
        "{msg}"
    );
    assert!(
        msg.contains("the drawn schedule failed with: lost writes ("),
        "{msg}"
    );
    assert!(msg.ends_with(&format!("replay: {}", one.replay)), "{msg}");
    assert!(one
        .replay
        .starts_with(&format!("TESTBED_SEED={first} TESTBED_SCHEDULE='")));
}

#[test]
fn passing_seeds_report_what_ran() {
    let ok = SwarmCheck::new(swarm())
        .seeds(5..25)
        .jobs(3)
        .replay(None)
        .try_run(|_, _| Ok::<(), String>(()));
    assert_eq!(
        ok,
        Ok(Checked {
            seeds: 5..25,
            jobs: 3,
            replayed: false
        })
    );
}

#[test]
fn a_panic_is_a_failure_with_its_message_and_location() {
    let f = failure(
        SwarmCheck::new(swarm())
            .seeds(0..10)
            .jobs(2)
            .shrink_runs(0)
            .replay(None)
            .try_run(|seed, _| {
                assert!(seed < 4, "seed {seed} is too big");
                Ok::<(), String>(())
            }),
    );
    assert_eq!(f.seed, 4);
    assert!(
        f.error
            .starts_with("panicked: seed 4 is too big\n  (panicked at "),
        "{}",
        f.error
    );
    assert!(f.error.contains("src/check/tests.rs"), "{}", f.error);
    assert_eq!((f.minimal.clone(), f.shrink_runs), (f.original.clone(), 0));
}

#[test]
fn a_replay_runs_exactly_the_given_seed_and_schedule() {
    let given = FaultSchedule {
        events: vec![
            FaultEvent {
                at_ms: 3,
                for_ms: 4,
                fault: Fault::Crash { host: "a".into() },
            },
            FaultEvent {
                at_ms: 5,
                for_ms: 6,
                fault: Fault::Partition {
                    a: "b".into(),
                    b: "c".into(),
                },
            },
        ],
        buggify_mask: None,
    };
    let seen = std::sync::Mutex::new(Vec::new());
    let ex = SwarmCheck::new(swarm()).seeds(0..1000).replay(Some(Replay {
        seed: 77,
        schedule: Some(given.clone()),
    }));
    let f = failure(ex.try_run(|seed, s| {
        seen.lock().unwrap().push((seed, s.clone()));
        buggy(seed, s)
    }));
    assert_eq!(*seen.lock().unwrap(), vec![(77, given.clone())]);
    assert!(f.replayed);
    assert_eq!((f.seed, &f.minimal, f.shrink_runs), (77, &given, 0));
    assert!(f.to_string().contains("replayed schedule: "), "{f}");

    // A schedule naming a host the swarm does not have is refused before anything runs.
    let mut bad = given;
    bad.events[0].fault = Fault::Crash { host: "z".into() };
    let r = SwarmCheck::new(swarm())
        .replay(Some(Replay {
            seed: 1,
            schedule: Some(bad),
        }))
        .try_run(|_, _| -> Result<(), String> { panic!("must not run") });
    assert!(matches!(r, Err(CheckError::Schedule(_))), "{r:?}");

    // A seed alone replays its drawn schedule, and passes here.
    let r = SwarmCheck::new(swarm())
        .replay(Some(Replay {
            seed: 9,
            schedule: None,
        }))
        .try_run(|seed, s| match (seed, s == &swarm().draw(9).unwrap()) {
            (9, true) => Ok(()),
            other => Err(format!("{other:?}")),
        });
    assert_eq!(
        r,
        Ok(Checked {
            seeds: 9..10,
            jobs: 1,
            replayed: true
        })
    );
}

#[test]
fn a_bad_swarm_is_an_error_not_a_run() {
    let r = SwarmCheck::new(Swarm::new(["a"]).crashable(["b"]))
        .replay(None)
        .try_run(|_, _| -> Result<(), String> { panic!("must not run") });
    assert!(matches!(
        r,
        Err(CheckError::Swarm(SwarmError::UnknownHost { .. }))
    ));
}

#[test]
#[should_panic(expected = "seed 0 failed: always\nminimal schedule (0 of ")]
fn check_swarm_panics_once_with_the_failure() {
    // Fails with no faults at all: the minimal schedule is empty.
    check_swarm(0..3, &swarm(), |_, _| Err::<(), _>("always"));
}
