//! WebSocket message layer (frame decoder, fragmentation, UTF-8, close payloads) on arbitrary
//! bytes, as a server and as a client: never panics, always consumes what it reports.
#![no_main]

use libfuzzer_sys::fuzz_target;
use testbed_protocols::ws::{MessageLayer, Role, WsLimits};

fuzz_target!(|data: &[u8]| {
    for role in [Role::Server, Role::Client] {
        let mut m = MessageLayer::new(role, WsLimits { max_frame: 1 << 16, max_message: 1 << 17 }, None);
        let mut at = 0;
        while let Ok(Some((_, n))) = m.handle(&data[at..]) {
            assert!(n > 0 && at + n <= data.len());
            at += n;
        }
    }
});
