//! Every cargo-fuzz target's body, by target name ([`TARGETS`]), for `tests/fuzz_replay.rs`:
//! it replays each target's committed seeds and crash reproducers on stable. The targets in
//! `fuzz/` call the bodies in the crates they fuzz (protocols, distributed, the harness, the
//! contract); the replay runs those same bodies, and for `scenario_params` and
//! `fault_schedule` also checks the inputs against the catalogue's own parameters and ranges.
//! The scenario-level targets ([`SCENARIO_TARGETS`]) run a whole scenario on the simulator.

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
    ("partition_heal_run", partition_heal_run),
    ("rpc_run", rpc_run),
    ("kv_run", kv_run),
    ("planted_bug_depth2", planted_bug_depth2),
    ("planted_bug_depth3", planted_bug_depth3),
    ("planted_bug_depth4", planted_bug_depth4),
];

/// The scenario-level targets: the scenario, its `--set` lines, and the body.
pub const SCENARIO_TARGETS: &[(&str, &str, &[&str])] = &[
    (
        "partition_heal_run",
        "partition-heal",
        &["clients=2", "requests=5"],
    ),
    ("rpc_run", "rpc", &["faults=swarm", "clients=2", "calls=20"]),
    ("kv_run", "kv", &["faults=swarm", "clients=3"]),
    ("planted_bug_depth2", "planted-bug", &["depth=2"]),
    ("planted_bug_depth3", "planted-bug", &["depth=3"]),
    ("planted_bug_depth4", "planted-bug", &["depth=4"]),
];

/// Runs `scenario` (from the catalogue or the test-only scenarios) with `sets` on the
/// simulator, with the seed, buggify mask and fault schedule that `data` decodes to
/// ([`testbed_harness::fuzzing::candidate`], within the scenario's swarm ranges); a failed
/// invariant panics with the seed and the schedule (`testbed explore --from-fuzz` turns the
/// input into a `--schedule` file).
pub fn run_scenario(scenario: &str, sets: &[&str], data: &[u8]) {
    let s = crate::find(scenario)
        .ok()
        .or_else(|| {
            crate::test_catalogue()
                .into_iter()
                .find(|s| s.name() == scenario)
        })
        .expect("a scenario-level fuzz target names a scenario");
    let sets: Vec<String> = sets.iter().map(|x| x.to_string()).collect();
    let params = Params::parse(s.params(), &sets).expect("the target's parameters parse");
    let spec = s
        .swarm(&params)
        .expect("the target's scenario takes a schedule");
    let c = testbed_harness::fuzzing::candidate(&spec, data);
    let (fb, _) = crate::explore::run_candidate(s, &params, testbed_sim::Fidelity::Stream, &c);
    assert!(
        !fb.failed,
        "{scenario} failed with seed {}: {:?}; schedule {}",
        c.seed,
        fb.failure,
        c.schedule.to_json()
    );
}

/// `partition-heal` (2 clients, 5 requests) under a fuzzed seed and schedule.
pub fn partition_heal_run(data: &[u8]) {
    run_target("partition_heal_run", data);
}

/// `rpc --set faults=swarm` (2 clients, 20 calls) under a fuzzed seed and schedule.
pub fn rpc_run(data: &[u8]) {
    run_target("rpc_run", data);
}

/// `kv --set faults=swarm` (3 clients) under a fuzzed seed and schedule: a crash is a
/// non-linearizable history or a client that made no progress.
pub fn kv_run(data: &[u8]) {
    run_target("kv_run", data);
}

/// The test-only `planted-bug --set depth=2` under a fuzzed seed and schedule: a crash here is
/// the planted bug found (expected; `scripts/fuzz-smoke` reports it as such).
pub fn planted_bug_depth2(data: &[u8]) {
    run_target("planted_bug_depth2", data);
}

/// `planted-bug --set depth=3`, likewise.
pub fn planted_bug_depth3(data: &[u8]) {
    run_target("planted_bug_depth3", data);
}

/// `planted-bug --set depth=4`, likewise.
pub fn planted_bug_depth4(data: &[u8]) {
    run_target("planted_bug_depth4", data);
}

/// Runs the scenario-level target `name` ([`SCENARIO_TARGETS`]) on `data`.
fn run_target(name: &str, data: &[u8]) {
    let (_, scenario, sets) = SCENARIO_TARGETS
        .iter()
        .find(|t| t.0 == name)
        .expect("a scenario-level target");
    run_scenario(scenario, sets, data);
}

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
