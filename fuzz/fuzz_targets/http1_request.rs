//! HTTP/1.1 request head parser + framing: never panics; a complete head's views lie inside
//! the input and its framing decision is made without panicking.
#![no_main]

use libfuzzer_sys::fuzz_target;
use testbed_protocols::http1::{parse_request, request_body, Header, Limits, Status};

fuzz_target!(|data: &[u8]| {
    let limits = Limits { header_bytes: 4096, request_line: 1024, ..Limits::default() };
    let mut h = [Header::default(); 16];
    if let Ok(Status::Complete(r)) = parse_request(data, &mut h, &limits) {
        assert!(r.head_len <= data.len());
        let _ = request_body(&r, &limits);
        let _ = (r.keep_alive(), r.expects_continue());
    }
});
