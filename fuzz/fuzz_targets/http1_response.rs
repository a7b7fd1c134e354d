//! HTTP/1.1 response head parser + framing: never panics.
#![no_main]

use libfuzzer_sys::fuzz_target;

// The body lives in testbed_scenarios::fuzzing, shared with the stable replay test.
fuzz_target!(|data: &[u8]| testbed_scenarios::fuzzing::http1_response(data));
