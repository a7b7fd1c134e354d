use super::*;
use std::sync::{Arc, Mutex};
use testbed_sim::SimConfig;

fn spec() -> SwarmSpec {
    SwarmSpec {
        hosts: vec!["a".into(), "b".into(), "c".into()],
        links: vec![("a".into(), "b".into()), ("a".into(), "c".into())],
        crashable: vec!["a".into()],
        skewable: vec!["b".into(), "c".into()],
        kinds: vec![
            FaultKind::Partition,
            FaultKind::Crash,
            FaultKind::Loss,
            FaultKind::Latency,
            FaultKind::ClockSkew,
        ],
        events_max: 10,
        start_max_ms: 1000,
        for_ms: (100, 500),
        loss_max: 0.5,
        latency_max_ms: 300,
        skew_max_ms: 200,
        drift_max_ppm: 1000,
    }
}

#[test]
fn json_round_trips_exactly_and_reads_run_results() {
    for seed in 0..50 {
        let s = spec().draw(seed);
        let text = serde_json::to_string(&s).unwrap();
        assert_eq!(FaultSchedule::from_json(&text).unwrap(), s, "{text}");
        let run = serde_json::json!({"scenario": "x", "schedule": s.to_json()});
        assert_eq!(FaultSchedule::from_json(&run.to_string()).unwrap(), s);
    }
    let e = FaultSchedule::from_json(r#"{"events":[{"at_ms":1,"for_ms":2,"fault":"meteor"}]}"#);
    assert!(matches!(e, Err(ScheduleError::Parse(_))), "{e:?}");
}

#[test]
fn the_wire_form_is_flat_and_readable() {
    let s = FaultSchedule {
        events: vec![FaultEvent {
            at_ms: 5,
            for_ms: 10,
            fault: Fault::Crash { host: "a".into() },
        }],
        buggify_mask: None,
    };
    assert_eq!(
        serde_json::to_string(&s).unwrap(),
        r#"{"events":[{"at_ms":5,"for_ms":10,"fault":"crash","host":"a"}]}"#
    );
    assert_eq!(s.end(), Duration::from_millis(15));
}

#[test]
fn draws_are_per_seed_and_within_the_ranges() {
    let sp = spec();
    assert_eq!(sp.draw(7), sp.draw(7));
    assert_ne!(sp.draw(7), sp.draw(8));
    let mut kinds_used = BTreeSet::new();
    for seed in 0..300 {
        let s = sp.draw(seed);
        assert!(!s.events.is_empty() && s.events.len() <= 10);
        s.validate(&sp).unwrap();
        let per_seed: BTreeSet<FaultKind> = s.events.iter().map(|e| e.fault.kind()).collect();
        kinds_used.insert(per_seed.len());
        for e in &s.events {
            assert!(e.at_ms <= 1000 && (100..=500).contains(&e.for_ms));
            match &e.fault {
                Fault::Loss { rate, .. } => assert!(*rate <= 0.5),
                Fault::Latency { extra_ms, .. } => assert!(*extra_ms <= 300),
                Fault::ClockSkew {
                    offset_ms,
                    drift_ppm,
                    ..
                } => assert!(offset_ms.abs() <= 200 && drift_ppm.abs() <= 1000),
                _ => {}
            }
        }
    }
    // Swarm: some seeds use one kind of fault only, others several.
    assert!(
        kinds_used.contains(&1) && kinds_used.iter().any(|k| *k >= 3),
        "{kinds_used:?}"
    );
}

#[test]
fn validation_names_the_problem() {
    let sp = spec();
    let ev = |fault| FaultSchedule {
        events: vec![FaultEvent {
            at_ms: 0,
            for_ms: 1,
            fault,
        }],
        buggify_mask: None,
    };
    let e = ev(Fault::Crash { host: "zz".into() }).validate(&sp);
    assert!(matches!(e, Err(ScheduleError::UnknownHost { .. })), "{e:?}");
    let e = ev(Fault::Crash { host: "b".into() }).validate(&sp);
    assert!(matches!(e, Err(ScheduleError::Unsupported(_))), "{e:?}");
    let e = ev(Fault::Loss {
        a: "a".into(),
        b: "b".into(),
        rate: 1.5,
    })
    .validate(&sp);
    assert!(matches!(e, Err(ScheduleError::BadValue(_))), "{e:?}");
    let mut far = ev(Fault::Crash { host: "a".into() });
    far.events[0].at_ms = u64::MAX - 5;
    assert!(matches!(far.validate(&sp), Err(ScheduleError::BadValue(_))));
    let e = ev(Fault::ClockSkew {
        host: "b".into(),
        offset_ms: i64::MIN,
        drift_ppm: 0,
    })
    .validate(&sp);
    assert!(matches!(e, Err(ScheduleError::BadValue(_))), "{e:?}");
    for drift_ppm in [-1_000_000, testbed_sim::MAX_DRIFT_PPM + 1, i64::MAX] {
        let e = ev(Fault::ClockSkew {
            host: "b".into(),
            offset_ms: 0,
            drift_ppm,
        })
        .validate(&sp);
        assert!(
            matches!(e, Err(ScheduleError::BadValue(_))),
            "{drift_ppm}: {e:?}"
        );
    }
    let ok = ev(Fault::ClockSkew {
        host: "b".into(),
        offset_ms: -(LIMIT_MS as i64),
        drift_ppm: -testbed_sim::MAX_DRIFT_PPM,
    })
    .validate(&sp);
    assert_eq!(ok, Ok(()));
}

/// Applies a schedule to a small simulation and watches the host state from a probe task.
#[test]
fn apply_crashes_and_restarts_overlapping_events_once() {
    let mut sim = Sim::new(SimConfig::default());
    let boots = Arc::new(Mutex::new(Vec::new()));
    let b2 = boots.clone();
    sim.host("a", move |h| {
        let b = b2.clone();
        async move {
            b.lock().unwrap().push(testbed_model::Runtime::now(&h));
        }
    });
    sim.host("b", |_| async {});
    sim.host("c", |_| async {});
    let ctl = sim.control();
    let seen = Arc::new(Mutex::new(Vec::new()));
    for t in [50, 150, 250, 350] {
        let (ctl, seen) = (ctl.clone(), seen.clone());
        sim.at(Instant::ZERO + Duration::from_millis(t), move |_| {
            seen.lock().unwrap().push(ctl.is_up("a"))
        });
    }
    let crash = |at_ms, for_ms| FaultEvent {
        at_ms,
        for_ms,
        fault: Fault::Crash { host: "a".into() },
    };
    // Two overlapping crashes: down from 100 to 300, one restart.
    FaultSchedule {
        events: vec![crash(100, 100), crash(150, 150)],
        buggify_mask: None,
    }
    .apply(&sim, &LinkConfig::default());
    sim.run().unwrap();
    assert_eq!(*seen.lock().unwrap(), vec![true, false, false, true]);
    let boots: Vec<u64> = boots.lock().unwrap().iter().map(|t| t.as_nanos()).collect();
    assert_eq!(boots, vec![0, 300_000_000]);
}

#[test]
fn a_schedules_buggify_mask_round_trips_and_decides_which_points_are_enabled() {
    let with = |mask: Option<u64>| FaultSchedule {
        events: Vec::new(),
        buggify_mask: mask,
    };
    let text = with(Some(1 << 40 | 3)).to_json().to_string();
    assert_eq!(text, r#"{"buggify_mask":1099511627779,"events":[]}"#);
    assert_eq!(
        FaultSchedule::from_json(&text).unwrap(),
        with(Some(1 << 40 | 3))
    );
    let names = [
        "rpc.short_read",
        "http1.delay_flush",
        "discovery.watch_drop",
    ];
    let enabled = |mask: Option<u64>, seed: u64| {
        let mut sim = Sim::new(SimConfig {
            seed,
            ..SimConfig::default()
        });
        sim.client("a", move |h| async move {
            for n in names {
                testbed_model::Runtime::buggify(&h, n);
            }
            Ok(())
        });
        with(mask).apply(&sim, &LinkConfig::default());
        sim.run().unwrap();
        sim.buggify_points()
            .iter()
            .map(|p| p.enabled)
            .collect::<Vec<bool>>()
    };
    for seed in 0..20 {
        assert_eq!(enabled(Some(0), seed), [false; 3]);
        assert_eq!(enabled(Some(u64::MAX), seed), [true; 3]);
        let one = 1 << testbed_sim::buggify_bit("http1.delay_flush");
        // Points are listed by name: discovery, http1, rpc.
        let want = [
            one >> testbed_sim::buggify_bit("discovery.watch_drop") & 1 == 1,
            true,
            one >> testbed_sim::buggify_bit("rpc.short_read") & 1 == 1,
        ];
        assert_eq!(enabled(Some(one), seed), want, "seed {seed}");
    }
    // Without a mask the seed draws: some seeds enable a point, others do not.
    let drawn: Vec<Vec<bool>> = (0..20).map(|s| enabled(None, s)).collect();
    assert!(drawn.iter().any(|e| e.contains(&true)) && drawn.iter().any(|e| e.contains(&false)));
}
