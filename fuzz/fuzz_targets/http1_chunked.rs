//! Chunked decoder fed in two pieces at a fuzzer-chosen split: never panics, never yields
//! more bytes than it was given, and the split does not change the decoded body.
#![no_main]

use libfuzzer_sys::fuzz_target;

// The body lives in testbed_protocols::fuzzing, shared with the stable replay test.
fuzz_target!(|data: &[u8]| testbed_protocols::fuzzing::http1_chunked(data));
