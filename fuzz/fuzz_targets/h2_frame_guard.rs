//! Arbitrary client byte streams through the HTTP/2 frame guard: never panics, and the verdict
//! does not depend on how the bytes are split into reads.
#![no_main]

use libfuzzer_sys::fuzz_target;

// The body lives in testbed_protocols::fuzzing, shared with the stable replay test.
fuzz_target!(|data: &[u8]| testbed_protocols::fuzzing::h2_frame_guard(data));
