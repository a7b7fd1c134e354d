//! Every cargo-fuzz target's body, by target name ([`TARGETS`]): the targets in `fuzz/` call
//! these, and `tests/fuzz_replay.rs` replays each target's committed seeds and crash
//! reproducers through the same function on stable.

use crate::faults::FaultSchedule;
use crate::params::parse_duration;
use crate::{catalogue, Params};
pub use testbed_protocols::fuzzing::{
    h2_frame_guard, http1_chunked, http1_request, http1_response, rpc_frame, ws_frame, ws_handshake,
};

/// A fuzz target's body: panics on a violated property.
pub type Body = fn(&[u8]);

/// Every fuzz target: its name (the file `fuzz/fuzz_targets/<name>.rs`) and body.
pub const TARGETS: &[(&str, Body)] = &[
    ("scenario_params", scenario_params),
    ("fault_schedule", fault_schedule),
    ("http1_request", http1_request),
    ("http1_response", http1_response),
    ("http1_chunked", http1_chunked),
    ("ws_frame", ws_frame),
    ("ws_handshake", ws_handshake),
    ("rpc_frame", rpc_frame),
    ("packet_filters", packet_filters),
    ("h2_frame_guard", h2_frame_guard),
    ("discovery_codec", discovery_codec),
];

/// `--set key=value` lines against every scenario: never panics, and whatever parses renders
/// back to sets that parse to the same values.
pub fn scenario_params(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let sets: Vec<String> = text.split('\n').map(str::to_string).collect();
    let _ = parse_duration(text);
    for s in catalogue() {
        if let Ok(p) = Params::parse(s.params(), &sets) {
            let again = Params::parse(s.params(), &p.non_default_sets(s.params()))
                .expect("rendered sets parse");
            assert_eq!(again, p, "render/parse round trip");
        }
    }
}

/// `--schedule FILE` contents: never panics; a schedule that parses serializes and parses
/// back, and validating it against every scenario's swarm ranges never panics.
pub fn fault_schedule(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(s) = FaultSchedule::from_json(text) else {
        return;
    };
    let _ = s.end();
    let back = FaultSchedule::from_json(&s.to_json().to_string()).expect("re-parses");
    assert_eq!(back.events.len(), s.events.len());
    for sc in catalogue().into_iter().chain(crate::test_catalogue()) {
        if let Some(spec) = Params::parse(sc.params(), &[])
            .ok()
            .and_then(|p| sc.swarm(&p))
        {
            let _ = s.validate(&spec);
        }
    }
}

/// The discovery wire codec as a stream of frames, each answered by a registry server.
pub fn discovery_codec(data: &[u8]) {
    testbed_distributed::discovery::codec::fuzz_stream(data);
}

/// Arbitrary frames through every DDoS packet filter.
pub fn packet_filters(data: &[u8]) {
    testbed_distributed::ddos::exercise_filters(data);
}
