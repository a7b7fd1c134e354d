//! The harness's fuzz body (`fuzz/fuzz_targets/fault_schedule.rs`), shared with the stable
//! replay test (scenarios/tests/fuzz_replay.rs, which also validates against the catalogue's
//! swarm ranges); and the decoding of a scenario-level fuzz input into a run seed and a fault
//! schedule within a scenario's swarm ranges ([`candidate`]).

use crate::explore::Candidate;
use crate::faults::{quantize_rate, Fault, FaultEvent, FaultKind, FaultSchedule, SwarmSpec};

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

/// A fuzz input as an exploration candidate (the scenario-level fuzz targets): 8 bytes of run
/// seed (little-endian, zero-padded), 8 bytes of buggify mask (little-endian: which buggify
/// points the run enables, `testbed_sim::buggify_bit`; an input shorter than 16 bytes has
/// none and the seed draws them), then one fault event per 8 bytes, at most
/// `spec.events_max`: kind, target, start (2 bytes, scaled to `0..=start_max_ms`), duration
/// (2 bytes, scaled to the `for_ms` range), intensity (2 bytes, scaled to the caps). Every
/// input decodes to a schedule within `spec`'s ranges.
pub fn candidate(spec: &SwarmSpec, data: &[u8]) -> Candidate {
    let mut seed = [0u8; 8];
    let head = data.len().min(8);
    seed[..head].copy_from_slice(&data[..head]);
    let kinds: Vec<FaultKind> = spec
        .kinds
        .iter()
        .copied()
        .filter(|k| spec.drawable(*k))
        .collect();
    let mut events = Vec::new();
    if !kinds.is_empty() {
        let body = data.get(16..).unwrap_or(&[]);
        for c in body.chunks_exact(8).take(spec.events_max.max(1) as usize) {
            events.push(event(spec, &kinds, c));
        }
    }
    events.sort_by_key(|e| e.at_ms);
    let buggify_mask = data
        .get(8..16)
        .map(|b| u64::from_le_bytes(b.try_into().expect("8 bytes")));
    Candidate {
        seed: u64::from_le_bytes(seed),
        schedule: FaultSchedule {
            events,
            buggify_mask,
        },
    }
}

/// `v` of `0..=u16::MAX` scaled onto `lo..=hi`.
fn scale(v: u16, lo: u64, hi: u64) -> u64 {
    let hi = hi.max(lo);
    lo + ((hi - lo) as u128 * v as u128 / u16::MAX as u128) as u64
}

fn event(spec: &SwarmSpec, kinds: &[FaultKind], c: &[u8]) -> FaultEvent {
    let u16_at = |i: usize| u16::from_le_bytes([c[i], c[i + 1]]);
    let caps = spec.caps();
    let kind = kinds[c[0] as usize % kinds.len()];
    let target = c[1] as usize;
    let at_ms = scale(u16_at(2), 0, spec.start_max_ms);
    let for_ms = scale(u16_at(4), spec.for_ms.0, spec.for_ms.1);
    let level = u16_at(6);
    let link = || spec.links[target % spec.links.len()].clone();
    let signed = |v: u16, cap: i64| scale(v, 0, 2 * cap as u64) as i64 - cap;
    let fault = match kind {
        FaultKind::Partition => {
            let (a, b) = link();
            Fault::Partition { a, b }
        }
        FaultKind::Crash => Fault::Crash {
            host: spec.crashable[target % spec.crashable.len()].clone(),
        },
        FaultKind::Loss => {
            let (a, b) = link();
            let rate = quantize_rate(caps.loss_max * f64::from(level) / f64::from(u16::MAX));
            Fault::Loss { a, b, rate }
        }
        FaultKind::Latency => {
            let (a, b) = link();
            Fault::Latency {
                a,
                b,
                extra_ms: scale(level, 0, caps.latency_max_ms),
            }
        }
        FaultKind::ClockSkew => Fault::ClockSkew {
            host: spec.skewable[target % spec.skewable.len()].clone(),
            offset_ms: signed(level, caps.skew_max_ms),
            drift_ppm: signed(level.rotate_left(8), caps.drift_max_ppm),
        },
    };
    FaultEvent {
        at_ms,
        for_ms,
        fault,
    }
}
