//! WebSocket message layer (frame decoder, fragmentation, UTF-8, close payloads) on arbitrary
//! bytes, as a server and as a client: never panics, always consumes what it reports.
#![no_main]

use libfuzzer_sys::fuzz_target;

// The body lives in testbed_protocols::fuzzing, shared with the stable replay test.
fuzz_target!(|data: &[u8]| testbed_protocols::fuzzing::ws_frame(data));
