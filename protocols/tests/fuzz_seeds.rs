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

#[test]
fn websocket_and_rpc_seeds() {
    for data in seeds("ws_frame") {
        for role in [
            testbed_protocols::ws::Role::Server,
            testbed_protocols::ws::Role::Client,
        ] {
            let mut m = testbed_protocols::ws::MessageLayer::new(
                role,
                testbed_protocols::ws::WsLimits::default(),
                None,
            );
            let mut at = 0;
            while let Ok(Some((_, n))) = m.handle(&data[at..]) {
                at += n;
            }
        }
    }
    for data in seeds("ws_handshake") {
        let mut h = [Header::default(); 32];
        let Ok(Status::Complete(r)) = parse_request(&data, &mut h, &Limits::default()) else {
            panic!("seed is a complete request")
        };
        assert!(testbed_protocols::ws::validate_client_request(&r).is_ok());
    }
    for data in seeds("rpc_frame") {
        let h = testbed_protocols::rpc::frame::decode_header(&data, 1 << 20)
            .unwrap()
            .expect("seed is a whole header");
        assert_eq!(h.kind, testbed_protocols::rpc::Kind::Request);
    }
}

#[test]
fn h2_frame_guard_seeds() {
    let s = seeds("h2_frame_guard");
    assert!(s.len() >= 5);
    for data in s {
        testbed_protocols::h2::exercise_frame_guard(&data);
    }
}
