//! HTTP/1.1 request head parser + framing: never panics; a complete head's views lie inside
//! the input and its framing decision is made without panicking.
#![no_main]

use libfuzzer_sys::fuzz_target;

// The body lives in testbed_protocols::fuzzing, shared with the stable replay test.
fuzz_target!(|data: &[u8]| testbed_protocols::fuzzing::http1_request(data));
