//! Between h2's `http` types and the HTTP/1.1 server's owned request and response.

use crate::http1::{OwnedRequest, OwnedResponse, Version};
use bytes::Bytes;

/// Connection-specific fields HTTP/2 forbids (RFC 9113 §8.2.2).
const HOP_BY_HOP: &[&str] = &[
    "connection",
    "keep-alive",
    "proxy-connection",
    "transfer-encoding",
    "upgrade",
];

/// An h2 request head plus its body as the handler's request (`:authority` becomes `Host`).
pub(crate) fn to_owned_request(head: http::request::Parts, body: Vec<u8>) -> OwnedRequest {
    let mut headers: Vec<(String, Vec<u8>)> = Vec::with_capacity(head.headers.len() + 1);
    if let Some(a) = head.uri.authority() {
        headers.push(("host".into(), a.as_str().as_bytes().to_vec()));
    }
    for (n, v) in &head.headers {
        headers.push((n.as_str().to_string(), v.as_bytes().to_vec()));
    }
    OwnedRequest {
        method: head.method.as_str().to_string(),
        target: head
            .uri
            .path_and_query()
            .map_or_else(|| "/".to_string(), |p| p.as_str().to_string()),
        version: Version::Http11,
        headers,
        body,
    }
}

/// The handler's response as an h2 response head and body. Fields HTTP/2 forbids are dropped;
/// a field that is not a valid HTTP/2 field is dropped too (and counted).
pub(crate) fn to_h2_response(r: &OwnedResponse) -> (http::Response<()>, Bytes, usize) {
    let mut b = http::Response::builder().status(r.status);
    let mut dropped = 0;
    for (n, v) in &r.headers {
        let lower = n.to_ascii_lowercase();
        if HOP_BY_HOP.contains(&lower.as_str()) {
            continue;
        }
        match (
            http::HeaderName::from_bytes(lower.as_bytes()),
            http::HeaderValue::from_bytes(v),
        ) {
            (Ok(n), Ok(v)) => b = b.header(n, v),
            _ => dropped += 1,
        }
    }
    if !matches!(r.status, 100..=199 | 204 | 304) {
        b = b.header(http::header::CONTENT_LENGTH, r.body.len());
    }
    let head = b.body(()).unwrap_or_else(|_| {
        let mut r = http::Response::new(());
        *r.status_mut() = http::StatusCode::INTERNAL_SERVER_ERROR;
        r
    });
    (head, Bytes::copy_from_slice(&r.body), dropped)
}

/// The handler-side request as an h2 request to `authority` (hop-by-hop fields dropped).
pub(crate) fn to_h2_request(
    r: &OwnedRequest,
    scheme: &str,
    authority: &str,
) -> Result<http::Request<()>, http::Error> {
    let uri = format!("{scheme}://{authority}{}", r.target);
    let mut b = http::Request::builder().method(r.method.as_str()).uri(uri);
    for (n, v) in &r.headers {
        let lower = n.to_ascii_lowercase();
        if HOP_BY_HOP.contains(&lower.as_str()) || lower == "host" {
            continue;
        }
        b = b.header(lower, v.as_slice());
    }
    b.body(())
}

/// An h2 response head plus body as an owned response.
pub(crate) fn to_owned_response(head: http::response::Parts, body: Vec<u8>) -> OwnedResponse {
    OwnedResponse {
        status: head.status.as_u16(),
        headers: head
            .headers
            .iter()
            .map(|(n, v)| (n.as_str().to_string(), v.as_bytes().to_vec()))
            .collect(),
        body,
        file: None,
    }
}
