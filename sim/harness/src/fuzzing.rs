//! The harness's fuzz body (`fuzz/fuzz_targets/fault_schedule.rs`), shared with the stable
//! replay test (scenarios/tests/fuzz_replay.rs, which also validates against the catalogue's
//! swarm ranges).

use crate::faults::{FaultKind, FaultSchedule, SwarmSpec};

/// `--schedule FILE` contents against a star of three clients allowing every fault kind with
/// generous ranges (see [`fault_schedule_against`]).
pub fn fault_schedule(data: &[u8]) {
    let spec = SwarmSpec {
        events_max: 16,
        start_max_ms: 60_000,
        for_ms: (1, 30_000),
        loss_max: 0.5,
        latency_max_ms: 1_000,
        skew_max_ms: 10_000,
        drift_max_ppm: 1_000,
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
    };
    fault_schedule_against(data, &[spec]);
}

/// `--schedule FILE` contents: never panics; a schedule that parses serializes and parses
/// back, and validating it against each of `specs` never panics.
pub fn fault_schedule_against(data: &[u8], specs: &[SwarmSpec]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(s) = FaultSchedule::from_json(text) else {
        return;
    };
    let _ = s.end();
    let back = FaultSchedule::from_json(&s.to_json().to_string()).expect("re-parses");
    assert_eq!(back.events.len(), s.events.len());
    for spec in specs {
        let _ = s.validate(spec);
    }
}
