//! `--schedule FILE` contents (fault schedules as JSON, or run results holding one): never
//! panics; what parses serializes and parses back; validation against every scenario's swarm
//! ranges never panics.
#![no_main]

use libfuzzer_sys::fuzz_target;

// The body lives in testbed_scenarios::fuzzing, shared with the stable replay test.
fuzz_target!(|data: &[u8]| testbed_scenarios::fuzzing::fault_schedule(data));
