//! Shared pieces of the simulator's integration tests.
#![allow(dead_code)]

use proptest::test_runner::{Config, FileFailurePersistence, RngSeed};
use std::net::SocketAddr;
use testbed_model::{Listener, Net, Runtime};
use testbed_sim::{Host, LinkConfig, Sim, SimConfig};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// `n` proptest cases from a fixed seed, so every run explores the same inputs and a failure
/// replays; `PROPTEST_RNG_SEED=<n>` explores others. No regression files.
pub fn cases(n: u32) -> Config {
    let seed = std::env::var("PROPTEST_RNG_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(0x07E5_7BED);
    Config {
        cases: n,
        rng_seed: RngSeed::Fixed(seed),
        failure_persistence: Some(Box::new(FileFailurePersistence::Off)),
        ..Config::default()
    }
}

/// A sim whose default link is `link`.
pub fn sim(seed: u64, link: LinkConfig) -> Sim {
    Sim::new(SimConfig {
        seed,
        default_link: link,
        ..SimConfig::default()
    })
}

/// Adds an echo server on port 7 of host `name`.
pub fn echo_server(sim: &mut Sim, name: &str) {
    sim.host(name, |h| async move {
        let l = h.listen("0.0.0.0:7".parse().unwrap()).unwrap();
        while let Ok((mut s, _)) = l.accept().await {
            h.spawn(async move {
                let mut buf = vec![0u8; 4096];
                while let Ok(n @ 1..) = s.read(&mut buf).await {
                    if s.write_all(&buf[..n]).await.is_err() {
                        break;
                    }
                }
            });
        }
    });
}

/// The address of port `port` on host `name`.
pub fn addr(h: &Host, name: &str, port: u16) -> SocketAddr {
    SocketAddr::new(h.lookup(name).unwrap(), port)
}

/// Pseudo-random bytes from a seed.
pub fn pattern(seed: u64, len: usize) -> Vec<u8> {
    let mut r = testbed_model::SeededRng::new(seed);
    let mut v = vec![0u8; len];
    testbed_model::Rng::fill_bytes(&mut r, &mut v);
    v
}

/// Seconds of sim time on `h`'s clock.
pub fn secs<R: Runtime>(h: &R) -> f64 {
    h.now().as_nanos() as f64 / 1e9
}
