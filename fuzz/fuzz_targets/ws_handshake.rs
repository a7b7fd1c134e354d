//! WebSocket upgrade validation on arbitrary HTTP requests: never panics.
#![no_main]

use libfuzzer_sys::fuzz_target;
use testbed_protocols::http1::{parse_request, Header, Limits, Status};
use testbed_protocols::ws::validate_client_request;

fuzz_target!(|data: &[u8]| {
    let mut h = [Header::default(); 32];
    if let Ok(Status::Complete(r)) = parse_request(data, &mut h, &Limits::default()) {
        let _ = validate_client_request(&r);
    }
});
