//! Replays the committed seeds of the `packet_filters` fuzz target (fuzz/seeds/packet_filters)
//! through every DDoS filter on stable, so inputs that once broke a filter stay checked.

#[test]
fn packet_filter_seeds() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz/seeds/packet_filters");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    assert!(files.len() >= 4);
    for f in files {
        testbed_distributed::ddos::exercise_filters(&std::fs::read(&f).unwrap());
    }
}
