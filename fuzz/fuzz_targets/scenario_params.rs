//! `--set key=value` parsing against one parameter of every kind: never panics, and
//! whatever parses renders back (`non_default_sets`) to text that parses to the same values.
#![no_main]

use libfuzzer_sys::fuzz_target;

// The body lives in testbed_contract::fuzzing, shared with the stable replay test (which also
// parses against every catalogue scenario's parameters).
fuzz_target!(|data: &[u8]| testbed_contract::fuzzing::scenario_params(data));
