use super::coverage::{bucket, feature, metric_feature, Coverage};
use super::*;
use crate::faults::{Fault, FaultKind, FaultSchedule};

fn spec() -> SwarmSpec {
    SwarmSpec {
        events_max: 12,
        start_max_ms: 3000,
        for_ms: (200, 2000),
        loss_max: 0.1,
        latency_max_ms: 50,
        skew_max_ms: 20,
        drift_max_ppm: 300,
        ..SwarmSpec::star(
            3,
            vec![
                FaultKind::Partition,
                FaultKind::Crash,
                FaultKind::Loss,
                FaultKind::Latency,
                FaultKind::ClockSkew,
            ],
        )
    }
}

/// A stand-in for a scenario with a bug four faults deep: a large skew of client-1, then
/// (starting later) a strong loss on server–client-2, then a partition of server–client-0,
/// then a crash of the server, each starting after the one before. The run reports how far
/// it got as a feature, as a scenario's progress metric would.
fn staged(c: &Candidate) -> Feedback {
    let ev = &c.schedule.events;
    let stage1 = ev.iter().find_map(|e| match &e.fault {
        Fault::ClockSkew {
            host, offset_ms, ..
        } if host == "client-1" && offset_ms.abs() >= 12 => Some(e.at_ms),
        _ => None,
    });
    let after = |t: Option<u64>, f: &dyn Fn(&Fault) -> bool| {
        let t = t?;
        ev.iter()
            .filter(|e| e.at_ms > t && f(&e.fault))
            .map(|e| e.at_ms)
            .min()
    };
    let stage2 = after(
        stage1,
        &|f| matches!(f, Fault::Loss { a, b, rate } if a == "server" && b == "client-2" && *rate >= 0.06),
    );
    let stage3 = after(
        stage2,
        &|f| matches!(f, Fault::Partition { a, b } if a == "server" && b == "client-0"),
    );
    let stage4 = after(stage3, &|f| matches!(f, Fault::Crash { .. }));
    let stage = [stage1, stage2, stage3, stage4]
        .iter()
        .take_while(|s| s.is_some())
        .count();
    let progress = vec![metric_feature("stage", stage as f64)];
    let mut features = Vec::new();
    features.extend(
        ev.iter()
            .map(|e| feature("kind", &[e.fault.kind() as u64, bucket(ev.len() as u64)])),
    );
    Feedback {
        failed: stage == 4,
        failure: if stage == 4 {
            vec!["stage 4".into()]
        } else {
            vec![]
        },
        features,
        progress,
    }
}

fn cfg(seed: u64, jobs: usize, max_runs: u64) -> Config<'static> {
    Config {
        seed,
        jobs,
        max_runs,
        stop: &|| false,
        corpus_max: 512,
    }
}

#[test]
fn mutations_stay_within_the_spec_ranges_and_validate() {
    let spec = spec();
    let mut rng = SeededRng::new(7);
    let mut c = Candidate {
        seed: 1,
        schedule: spec.draw(1),
    };
    let donor = Candidate {
        seed: 2,
        schedule: spec.draw(2),
    };
    let mut kinds_seen = std::collections::BTreeSet::new();
    for i in 0..5000 {
        c = mutate(&spec, &c, &donor, &mut rng);
        in_ranges(&spec, &c.schedule).unwrap_or_else(|e| panic!("step {i}: {e}: {c:?}"));
        c.schedule.validate(&spec).unwrap();
        assert!(c
            .schedule
            .events
            .windows(2)
            .all(|w| w[0].at_ms <= w[1].at_ms));
        kinds_seen.extend(c.schedule.events.iter().map(|e| e.fault.kind()));
    }
    assert_eq!(kinds_seen.len(), 5, "{kinds_seen:?}");
}

#[test]
fn in_ranges_refuses_what_the_spec_would_not_draw() {
    let spec = spec();
    let mut s = FaultSchedule {
        events: vec![spec.draw_event(&mut SeededRng::new(3), FaultKind::Loss, &spec.caps())],
        buggify_mask: None,
    };
    assert_eq!(in_ranges(&spec, &s), Ok(()));
    s.events[0].at_ms = spec.start_max_ms + 1;
    assert!(matches!(
        in_ranges(&spec, &s),
        Err(RangeError::Event { index: 0, .. })
    ));
    s.events[0].at_ms = 0;
    s.events[0].fault = Fault::Loss {
        a: "server".into(),
        b: "client-0".into(),
        rate: 0.5,
    };
    assert!(matches!(
        in_ranges(&spec, &s),
        Err(RangeError::Event { .. })
    ));
    s.events[0].fault = Fault::Partition {
        a: "client-0".into(),
        b: "client-1".into(),
    };
    assert!(matches!(
        in_ranges(&spec, &s),
        Err(RangeError::Target { .. })
    ));
    s.events = vec![s.events[0].clone(); 13];
    assert_eq!(in_ranges(&spec, &s), Err(RangeError::TooMany(13, 12)));
}

#[test]
fn coverage_reports_each_slot_once() {
    let mut c = Coverage::default();
    let a = c.add(&Coverage::slots(&[1, 2, 2, 3]));
    assert_eq!(a.len(), 3);
    assert!(c.add(&Coverage::slots(&[3, 2, 1])).is_empty());
    assert_eq!(c.add(&Coverage::slots(&[4])).len(), 1);
    assert_eq!(c.covered(), 4);
    assert_eq!(c.hits(Coverage::slot(1)), 2);
    assert_eq!(
        (bucket(5), bucket(7), bucket(8), bucket(1000)),
        (4, 4, 5, 8)
    );
    assert_ne!(metric_feature("m", 3.0), metric_feature("m", 4.0));
    assert_ne!(metric_feature("m", 2.0), metric_feature("m", 3.0));
    assert_eq!(metric_feature("m", 40.0), metric_feature("m", 63.0));
}

#[test]
fn the_same_seed_and_jobs_explore_the_same_way() {
    let spec = spec();
    for jobs in [1, 3] {
        let a = explore(&spec, &cfg(5, jobs, 3000), &staged);
        let b = explore(&spec, &cfg(5, jobs, 3000), &staged);
        assert_eq!(a, b, "jobs {jobs}");
    }
    let other = explore(&spec, &cfg(6, 1, 3000), &staged);
    let first = explore(&spec, &cfg(5, 1, 3000), &staged);
    assert_ne!(
        other, first,
        "another exploration seed explores differently"
    );
}

/// The staged bug is rare among swarm draws; following the stage feature finds it within a
/// budget in which random draws of the same spec do not (for this exploration seed).
#[test]
fn coverage_guidance_reaches_a_four_deep_bug() {
    let spec = spec();
    let budget = 20_000;
    let r = explore(&spec, &cfg(1, 1, budget), &staged);
    let found = r.found.expect("explore finds the staged bug");
    assert!(staged(&found.candidate).failed);
    in_ranges(&spec, &found.candidate.schedule).unwrap();
    let random = (0..found.run * 5)
        .filter(|s| {
            staged(&Candidate {
                seed: *s,
                schedule: spec.draw(*s),
            })
            .failed
        })
        .count();
    assert!(
        (random as u64) < 5,
        "random draws failed {random} times in 5× the {} runs explore took",
        found.run
    );
}

#[test]
fn a_stop_ends_the_search_and_a_panic_is_a_failure() {
    let spec = spec();
    let stopped = explore(
        &spec,
        &Config {
            stop: &|| true,
            ..cfg(1, 1, 100)
        },
        &staged,
    );
    assert!(stopped.stopped && stopped.runs == 0 && stopped.found.is_none());
    let boom = |c: &Candidate| -> Feedback {
        assert!(c.schedule.events.len() < 10, "too many");
        Feedback::default()
    };
    let r = explore(&spec, &cfg(1, 2, 10_000), &boom);
    let f = r.found.expect("a panic counts as found");
    assert!(
        f.failure[0].starts_with("panicked: too many"),
        "{:?}",
        f.failure
    );
}

#[test]
fn every_fuzz_input_decodes_to_a_schedule_within_the_ranges() {
    let spec = spec();
    let mut rng = SeededRng::new(11);
    for len in [0usize, 3, 8, 15, 16, 24, 200, 1000] {
        for _ in 0..50 {
            let mut data = vec![0u8; len];
            rng.fill_bytes(&mut data);
            let c = crate::fuzzing::candidate(&spec, &data);
            in_ranges(&spec, &c.schedule).unwrap_or_else(|e| panic!("{e}: {c:?}"));
            assert_eq!(
                c.schedule.events.len(),
                (len.saturating_sub(16) / 8).min(12),
                "{len}"
            );
            assert_eq!(c.schedule.buggify_mask.is_some(), len >= 16, "{len}");
        }
    }
    let all_ones = crate::fuzzing::candidate(&spec, &[0xff; 24]);
    assert_eq!(all_ones.seed, u64::MAX);
    assert_eq!(all_ones.schedule.buggify_mask, Some(u64::MAX));
    assert_eq!(all_ones.schedule.events[0].at_ms, spec.start_max_ms);
    let mut data = [0u8; 16];
    data[..8].copy_from_slice(&7u64.to_le_bytes());
    data[8..].copy_from_slice(&0x8001u64.to_le_bytes());
    let c = crate::fuzzing::candidate(&spec, &data);
    assert_eq!((c.seed, c.schedule.buggify_mask), (7, Some(0x8001)));
    assert!(c.schedule.events.is_empty());
}
