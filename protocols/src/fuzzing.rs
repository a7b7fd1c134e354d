//! The bodies of the cargo-fuzz targets in `fuzz/` (one function per target, same name), so
//! the nightly fuzzer and the stable replay of committed seeds and crash reproducers
//! (`scenarios/tests/fuzz_replay.rs`) run exactly the same checks. Each panics on a violated
//! property and returns normally otherwise.

use crate::http1::{
    parse_request, parse_response, request_body, response_body, ChunkedDecoder, Header, Limits,
    Status,
};
use crate::rpc::frame::{decode_header, encode, parse_error_payload, HEADER_LEN};
use crate::ws::{validate_client_request, MessageLayer, Role, WsLimits};

/// HTTP/1.1 request head parser + framing: never panics; a complete head lies inside the input.
pub fn http1_request(data: &[u8]) {
    let limits = Limits {
        header_bytes: 4096,
        request_line: 1024,
        ..Limits::default()
    };
    let mut h = [Header::default(); 16];
    if let Ok(Status::Complete(r)) = parse_request(data, &mut h, &limits) {
        assert!(r.head_len <= data.len());
        let _ = request_body(&r, &limits);
        let _ = (r.keep_alive(), r.expects_continue());
    }
}

/// HTTP/1.1 response head parser + framing: never panics.
pub fn http1_response(data: &[u8]) {
    let limits = Limits {
        header_bytes: 4096,
        ..Limits::default()
    };
    let mut h = [Header::default(); 16];
    if let Ok(Status::Complete(r)) = parse_response(data, &mut h, &limits) {
        assert!(r.head_len <= data.len());
        let _ = response_body("GET", &r, &limits);
    }
}

fn decode_chunked(data: &[u8], split: usize) -> Result<Vec<u8>, ()> {
    let mut d = ChunkedDecoder::new(Limits {
        body: 1 << 16,
        ..Limits::default()
    });
    let mut out = Vec::new();
    for piece in [&data[..split], &data[split..]] {
        let mut pos = 0;
        while pos < piece.len() {
            let r = d.decode(&piece[pos..]).map_err(|_| ())?;
            assert!(r.consumed <= piece.len() - pos && r.data.len() <= r.consumed);
            out.extend_from_slice(r.data);
            pos += r.consumed;
            if r.done {
                return Ok(out);
            }
            if r.consumed == 0 {
                break;
            }
        }
    }
    Ok(out)
}

/// Chunked decoder fed in two pieces split where the first byte says: never panics, never
/// yields more than it was given, and the split does not change the body.
pub fn http1_chunked(data: &[u8]) {
    if data.is_empty() {
        return;
    }
    let split = data[0] as usize % data.len();
    let whole = decode_chunked(&data[1..], data.len() - 1);
    let parts = decode_chunked(&data[1..], split.min(data.len() - 1));
    assert_eq!(whole.is_ok(), parts.is_ok());
    if let (Ok(a), Ok(b)) = (whole, parts) {
        assert_eq!(a, b);
    }
}

/// WebSocket message layer as server and client: never panics, consumes what it reports.
pub fn ws_frame(data: &[u8]) {
    for role in [Role::Server, Role::Client] {
        let limits = WsLimits {
            max_frame: 1 << 16,
            max_message: 1 << 17,
        };
        let mut m = MessageLayer::new(role, limits, None);
        let mut at = 0;
        while let Ok(Some((_, n))) = m.handle(&data[at..]) {
            assert!(n > 0 && at + n <= data.len());
            at += n;
        }
    }
}

/// WebSocket upgrade validation on arbitrary requests: never panics.
pub fn ws_handshake(data: &[u8]) {
    let mut h = [Header::default(); 32];
    if let Ok(Status::Complete(r)) = parse_request(data, &mut h, &Limits::default()) {
        let _ = validate_client_request(&r);
    }
}

/// RPC frame header decoder and error payloads: never panics; a decoded header re-encodes to
/// the same bytes.
pub fn rpc_frame(data: &[u8]) {
    let _ = parse_error_payload(data);
    if let Ok(Some(h)) = decode_header(data, u32::MAX) {
        let mut out = Vec::new();
        encode(&mut out, &h, &vec![0; h.payload_len.min(1 << 16) as usize]);
        assert_eq!(&out[..HEADER_LEN - 4], &data[..HEADER_LEN - 4]);
    }
}

/// HTTP/2 frame guard, whole and split: see [`crate::h2::exercise_frame_guard`].
pub fn h2_frame_guard(data: &[u8]) {
    crate::h2::exercise_frame_guard(data);
}
