//! `--schedule FILE` contents (fault schedules as JSON, or run results holding one): never
//! panics; what parses serializes and parses back; validation against swarm ranges
//! allowing every fault kind never panics.
#![no_main]

use libfuzzer_sys::fuzz_target;

// The body lives in testbed_harness::fuzzing, shared with the stable replay test (which also
// validates against every catalogue scenario's swarm ranges).
fuzz_target!(|data: &[u8]| testbed_harness::fuzzing::fault_schedule(data));
