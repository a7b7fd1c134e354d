//! Every cargo-fuzz target's body, by target name ([`TARGETS`]), for `tests/fuzz_replay.rs`:
//! it replays each target's committed seeds and crash reproducers on stable. The targets in
//! `fuzz/` call the bodies in the crates they fuzz (protocols, distributed, the harness, the
//! contract); the replay runs those same bodies, and for `scenario_params` and
//! `fault_schedule` also checks the inputs against the catalogue's own parameters and ranges.

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

/// The contract's body ([`testbed_contract::fuzzing::scenario_params`]), then the same
/// `--set` lines against every catalogue scenario's parameters.
pub fn scenario_params(data: &[u8]) {
    testbed_contract::fuzzing::scenario_params(data);
    let specs: Vec<&[crate::ParamSpec]> = catalogue()
        .into_iter()
        .chain(crate::test_catalogue())
        .map(|s| s.params())
        .collect();
    testbed_contract::fuzzing::params_against(data, &specs);
}

/// The harness's body ([`testbed_harness::fuzzing::fault_schedule`]), then validation against
/// every scenario's swarm ranges.
pub fn fault_schedule(data: &[u8]) {
    testbed_harness::fuzzing::fault_schedule(data);
    let specs: Vec<_> = catalogue()
        .into_iter()
        .chain(crate::test_catalogue())
        .filter_map(|sc| {
            Params::parse(sc.params(), &[])
                .ok()
                .and_then(|p| sc.swarm(&p))
        })
        .collect();
    testbed_harness::fuzzing::fault_schedule_against(data, &specs);
}

/// The discovery wire codec as a stream of frames, each answered by a registry server.
pub fn discovery_codec(data: &[u8]) {
    testbed_distributed::discovery::codec::fuzz_stream(data);
}

/// Arbitrary frames through every DDoS packet filter.
pub fn packet_filters(data: &[u8]) {
    testbed_distributed::ddos::exercise_filters(data);
}
