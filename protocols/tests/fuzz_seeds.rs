//! Runs the committed fuzz seeds (fuzz/seeds/http1_*) through the parsers on stable, so a
//! seed that once crashed a parser keeps being checked by plain `cargo test`.

use std::path::Path;
use testbed_protocols::http1::*;

fn seeds(target: &str) -> Vec<Vec<u8>> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../fuzz/seeds")
        .join(target);
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    files.iter().map(|p| std::fs::read(p).unwrap()).collect()
}

#[test]
fn request_seeds() {
    let s = seeds("http1_request");
    assert!(!s.is_empty());
    for data in s {
        let mut h = [Header::default(); 16];
        if let Ok(Status::Complete(r)) = parse_request(&data, &mut h, &Limits::default()) {
            let _ = request_body(&r, &Limits::default());
        }
    }
}

#[test]
fn response_seeds() {
    for data in seeds("http1_response") {
        let mut h = [Header::default(); 16];
        if let Ok(Status::Complete(r)) = parse_response(&data, &mut h, &Limits::default()) {
            let _ = response_body("GET", &r, &Limits::default());
        }
    }
}

#[test]
fn chunked_seeds() {
    for data in seeds("http1_chunked") {
        let mut d = ChunkedDecoder::new(Limits::default());
        let _ = d.decode(&data[1..]);
    }
}
