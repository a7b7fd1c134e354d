//! The discovery wire codec on arbitrary bytes, decoded as a stream of frames: never panics;
//! every decoded message re-encodes to bytes that decode to the same message; and every
//! decoded message, fed to a registry server as a request, gets an answer without panicking.
#![no_main]

use libfuzzer_sys::fuzz_target;
use testbed_distributed::discovery::codec::{decode, encode};
use testbed_distributed::discovery::{RegistryServer, ServerConfig};
use testbed_model::Instant;

fuzz_target!(|data: &[u8]| {
    let server = RegistryServer::new(Instant::ZERO, ServerConfig::default());
    let mut rest = data;
    let mut now = 0u64;
    while let Ok(Some((m, used))) = decode(rest) {
        let mut again = Vec::new();
        encode(&mut again, &m);
        assert_eq!(decode(&again), Ok(Some((m.clone(), again.len()))));
        now += 100_000_000;
        let _ = server.handle(Instant::from_nanos(now), m);
        rest = &rest[used..];
    }
});
