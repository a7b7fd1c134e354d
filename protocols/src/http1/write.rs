//! Serialising heads and chunks.

use super::head::{Header, Version};

fn version(v: Version) -> &'static [u8] {
    match v {
        Version::Http10 => b"HTTP/1.0",
        Version::Http11 => b"HTTP/1.1",
    }
}

fn fields(out: &mut Vec<u8>, headers: &[Header<'_>]) {
    for h in headers {
        out.extend_from_slice(h.name.as_bytes());
        out.extend_from_slice(b": ");
        out.extend_from_slice(h.value);
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"\r\n");
}

/// Appends a request head. The caller is responsible for valid tokens and values (the
/// parser's rules); this writes them verbatim.
pub fn write_request_head(
    out: &mut Vec<u8>,
    method: &str,
    target: &str,
    v: Version,
    headers: &[Header<'_>],
) {
    out.extend_from_slice(method.as_bytes());
    out.push(b' ');
    out.extend_from_slice(target.as_bytes());
    out.push(b' ');
    out.extend_from_slice(version(v));
    out.extend_from_slice(b"\r\n");
    fields(out, headers);
}

/// Appends a response head.
pub fn write_response_head(
    out: &mut Vec<u8>,
    v: Version,
    status: u16,
    reason: &str,
    headers: &[Header<'_>],
) {
    out.extend_from_slice(version(v));
    out.push(b' ');
    let code = [
        b'0' + (status / 100 % 10) as u8,
        b'0' + (status / 10 % 10) as u8,
        b'0' + (status % 10) as u8,
    ];
    out.extend_from_slice(&code);
    out.push(b' ');
    out.extend_from_slice(reason.as_bytes());
    out.extend_from_slice(b"\r\n");
    fields(out, headers);
}

/// Appends one chunk (nothing for empty data: an empty chunk would end the body).
pub fn write_chunk(out: &mut Vec<u8>, data: &[u8]) {
    if data.is_empty() {
        return;
    }
    out.extend_from_slice(format!("{:x}\r\n", data.len()).as_bytes());
    out.extend_from_slice(data);
    out.extend_from_slice(b"\r\n");
}

/// Appends the last chunk and trailer fields.
pub fn write_last_chunk(out: &mut Vec<u8>, trailers: &[Header<'_>]) {
    out.extend_from_slice(b"0\r\n");
    fields(out, trailers);
}
