//! `--set key=value` parsing against every scenario's declared parameters: never panics,
//! and whatever parses renders back (`non_default_sets`) to text that parses to the same values.
#![no_main]

use libfuzzer_sys::fuzz_target;

// The body lives in testbed_scenarios::fuzzing, shared with the stable replay test.
fuzz_target!(|data: &[u8]| testbed_scenarios::fuzzing::scenario_params(data));
