//! The discovery wire codec on arbitrary bytes, decoded as a stream of frames: never panics;
//! every decoded message re-encodes to bytes that decode to the same message; and every
//! decoded message, fed to a registry server as a request, gets an answer without panicking.
#![no_main]

use libfuzzer_sys::fuzz_target;

// The body lives in testbed_distributed::discovery::codec, shared with the stable replays.
fuzz_target!(|data: &[u8]| {
    testbed_distributed::discovery::codec::fuzz_stream(data);
});
