//! RPC frame header decoder and error payloads on arbitrary bytes: never panics; a decoded
//! header re-encodes to the same 28 bytes.
#![no_main]

use libfuzzer_sys::fuzz_target;

// The body lives in testbed_protocols::fuzzing, shared with the stable replay test.
fuzz_target!(|data: &[u8]| testbed_protocols::fuzzing::rpc_frame(data));
