//! Replays the committed seeds of the `discovery_codec` fuzz target on stable: the same
//! checks as the target (decode as a stream, re-encode round trip, feed the registry).

use testbed_distributed::discovery::codec::{decode, encode, Msg};
use testbed_distributed::discovery::{RegistryServer, ServerConfig};
use testbed_model::Instant;

#[test]
fn discovery_codec_seeds() {
    let dir =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz/seeds/discovery_codec");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    assert!(files.len() >= 5);
    let mut decoded = 0;
    for f in files {
        let data = std::fs::read(&f).unwrap();
        let server = RegistryServer::new(Instant::ZERO, ServerConfig::default());
        let mut rest = &data[..];
        let mut now = 0;
        while let Ok(Some((m, used))) = decode(rest) {
            let mut again = Vec::new();
            encode(&mut again, &m);
            assert_eq!(decode(&again), Ok(Some((m.clone(), again.len()))));
            now += 100_000_000;
            let answer = server.handle(Instant::from_nanos(now), m);
            assert!(
                !matches!(answer, Msg::Grant { .. } | Msg::Watch { .. }),
                "{answer:?}"
            );
            decoded += 1;
            rest = &rest[used..];
        }
    }
    assert!(decoded >= 15, "{decoded} frames decoded from the seeds");
}
