use super::*;

#[test]
fn ranges_derive_from_the_run_length_unless_set() {
    let s = Swarm::new(["a", "b", "c"])
        .crashable(["a"])
        .run_for(Duration::from_secs(4))
        .spec()
        .unwrap();
    assert_eq!(s.links.len(), 3);
    assert_eq!(s.skewable, vec!["a", "b", "c"]);
    assert_eq!(s.kinds, ALL_KINDS.to_vec());
    assert_eq!((s.start_max_ms, s.for_ms), (2_000, (200, 1_000)));
    assert_eq!((s.latency_max_ms, s.skew_max_ms), (80, 400));
    // Every drawn fault has ended by three quarters of the run.
    let sw = Swarm::new(["a", "b", "c"])
        .crashable(["a"])
        .run_for(Duration::from_secs(4));
    for seed in 0..200 {
        let d = sw.draw(seed).unwrap();
        assert!(
            !d.events.is_empty() && d.end() <= Duration::from_secs(3),
            "{d:?}"
        );
        assert_eq!(d.validate(&s), Ok(()));
    }

    let s = Swarm::new(["a", "b"])
        .links([("a", "b")])
        .skewable(["b"])
        .start_max(Duration::from_millis(10))
        .duration(Duration::from_millis(5), Duration::from_millis(6))
        .latency_max(Duration::from_millis(7))
        .skew_max(Duration::from_millis(8))
        .loss_max(0.5)
        .drift_max_ppm(9)
        .events_max(2)
        .spec()
        .unwrap();
    assert_eq!(
        (s.start_max_ms, s.for_ms, s.latency_max_ms, s.skew_max_ms),
        (10, (5, 6), 7, 8)
    );
    assert_eq!((s.loss_max, s.drift_max_ppm, s.events_max), (0.5, 9, 2));
    assert_eq!(s.skewable, vec!["b"]);
}

#[test]
fn a_scenario_spec_round_trips_through_the_builder() {
    let spec = SwarmSpec {
        events_max: 3,
        start_max_ms: 100,
        for_ms: (10, 20),
        loss_max: 0.1,
        latency_max_ms: 5,
        skew_max_ms: 6,
        drift_max_ppm: 7,
        ..SwarmSpec::star(2, ALL_KINDS.to_vec())
    };
    let sw = Swarm::from_spec(spec.clone());
    assert_eq!(sw.spec(), Ok(spec.clone()));
    assert_eq!(sw.draw(11), Ok(spec.draw(11)));
}

#[test]
fn bad_names_and_ranges_are_typed_errors() {
    assert_eq!(
        Swarm::new(Vec::<String>::new()).spec(),
        Err(SwarmError::NoHosts)
    );
    assert_eq!(
        Swarm::new(["a", "a"]).spec(),
        Err(SwarmError::DuplicateHost("a".into()))
    );
    assert_eq!(
        Swarm::new(["a", "b"]).crashable(["c"]).spec(),
        Err(SwarmError::UnknownHost {
            what: "crashable",
            host: "c".into(),
            valid: vec!["a".into(), "b".into()]
        })
    );
    assert!(matches!(
        Swarm::new(["a"]).links([("a", "z")]).spec(),
        Err(SwarmError::UnknownHost { what: "links", .. })
    ));
    assert_eq!(
        Swarm::new(["a"]).links([("a", "a")]).spec(),
        Err(SwarmError::SelfLink("a".into()))
    );
    let bad = |s: Swarm| matches!(s.spec(), Err(SwarmError::BadValue(_)));
    assert!(bad(Swarm::new(["a"]).loss_max(1.5)));
    assert!(bad(Swarm::new(["a"]).loss_max(f64::NAN)));
    assert!(bad(Swarm::new(["a"]).drift_max_ppm(-1)));
    assert!(bad(Swarm::new(["a"]).drift_max_ppm(MAX_DRIFT_PPM + 1)));
    assert!(bad(
        Swarm::new(["a"]).duration(Duration::from_millis(5), Duration::from_millis(4))
    ));
    assert!(bad(
        Swarm::new(["a"]).start_max(Duration::from_secs(u64::MAX))
    ));
    assert!(bad(
        Swarm::new(["a"]).latency_max(Duration::from_secs(100_000))
    ));
}

#[test]
fn kinds_with_nothing_to_hit_are_never_drawn() {
    // No crashable host: crashes are asked for but cannot be drawn.
    let sw = Swarm::new(["a", "b"]).kinds([FaultKind::Crash, FaultKind::Partition]);
    for seed in 0..100 {
        let d = sw.draw(seed).unwrap();
        assert!(d
            .events
            .iter()
            .all(|e| e.fault.kind() == FaultKind::Partition));
    }
    // Nothing at all to draw: empty schedules.
    let sw = Swarm::new(["a"]).kinds([FaultKind::Partition]);
    assert_eq!(sw.draw(1), Ok(FaultSchedule::default()));
}
