//! Chunked decoder fed in two pieces at a fuzzer-chosen split: never panics, never yields
//! more bytes than it was given, and the split does not change the decoded body.
#![no_main]

use libfuzzer_sys::fuzz_target;
use testbed_protocols::http1::{ChunkedDecoder, Limits};

fn decode(data: &[u8], split: usize) -> Result<Vec<u8>, ()> {
    let mut d = ChunkedDecoder::new(Limits { body: 1 << 16, ..Limits::default() });
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

fuzz_target!(|data: &[u8]| {
    if data.is_empty() {
        return;
    }
    let split = data[0] as usize % data.len();
    let whole = decode(&data[1..], data.len() - 1);
    let parts = decode(&data[1..], split.min(data.len() - 1));
    assert_eq!(whole.is_ok(), parts.is_ok());
    if let (Ok(a), Ok(b)) = (whole, parts) {
        assert_eq!(a, b);
    }
});
