//! Arbitrary frames through the frame views and every DDoS packet filter: no panics, frames
//! keep their length, rewritten frames carry valid checksums.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    testbed_distributed::ddos::exercise_filters(data);
});
