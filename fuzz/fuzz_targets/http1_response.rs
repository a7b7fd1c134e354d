//! HTTP/1.1 response head parser + framing: never panics.
#![no_main]

use libfuzzer_sys::fuzz_target;
use testbed_protocols::http1::{parse_response, response_body, Header, Limits, Status};

fuzz_target!(|data: &[u8]| {
    let limits = Limits { header_bytes: 4096, ..Limits::default() };
    let mut h = [Header::default(); 16];
    if let Ok(Status::Complete(r)) = parse_response(data, &mut h, &limits) {
        assert!(r.head_len <= data.len());
        let _ = response_body("GET", &r, &limits);
    }
});
