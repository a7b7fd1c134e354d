//! Replays the committed seeds of the `discovery_codec` fuzz target on stable: the same
//! checks as the target (decode as a stream, re-encode round trip, feed the registry), through the target's body.

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
    let decoded: usize = files
        .iter()
        .map(|f| testbed_distributed::discovery::codec::fuzz_stream(&std::fs::read(f).unwrap()))
        .sum();
    assert!(decoded >= 15, "{decoded} frames decoded from the seeds");
}
