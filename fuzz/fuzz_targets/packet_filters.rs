//! Arbitrary frames through the frame views and every DDoS packet filter: no panics, frames
//! keep their length, rewritten frames carry valid checksums.
#![no_main]

use libfuzzer_sys::fuzz_target;

// The body lives in testbed_distributed::ddos, shared with the stable replay test.
fuzz_target!(|data: &[u8]| testbed_distributed::ddos::exercise_filters(data));
