//! The opening handshake (RFC 6455 §4): `Sec-WebSocket-Accept`, request validation and the
//! permessage-deflate offer/answer (RFC 7692 §7.1).

use crate::http1::{Headers, Request, Version};
use base64::Engine;

const GUID: &str = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

/// `Sec-WebSocket-Accept` for a client's `Sec-WebSocket-Key`.
pub fn accept_key(key: &[u8]) -> String {
    let mut sha = sha1_smol::Sha1::new();
    sha.update(key);
    sha.update(GUID.as_bytes());
    base64::engine::general_purpose::STANDARD.encode(sha.digest().bytes())
}

/// Why an upgrade request was refused (answer 400, or 426 for a wrong version).
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum HandshakeError {
    /// Not `GET` over HTTP/1.1.
    #[error("upgrade must be a GET over HTTP/1.1")]
    NotGet,
    /// `Upgrade: websocket` missing.
    #[error("missing Upgrade: websocket")]
    NoUpgrade,
    /// `Connection: Upgrade` missing.
    #[error("missing Connection: Upgrade")]
    NoConnectionUpgrade,
    /// `Sec-WebSocket-Version` is not 13.
    #[error("unsupported Sec-WebSocket-Version (13 required)")]
    BadVersion,
    /// `Sec-WebSocket-Key` is not base64 of 16 bytes.
    #[error("invalid Sec-WebSocket-Key")]
    BadKey,
    /// Not exactly one Host header, or an invalid one (RFC 6455 §4.1, RFC 9112 §3.2).
    #[error("missing, repeated or invalid Host")]
    BadHost,
    /// The upgrade request has a body (RFC 6455 §4.1: a GET without one), or ambiguous framing.
    #[error("upgrade request with a body")]
    Body,
    /// The server's answer was not a valid 101 for our key.
    #[error("invalid handshake response")]
    BadResponse,
}

impl HandshakeError {
    /// The HTTP status to answer with.
    pub fn status(self) -> u16 {
        if self == HandshakeError::BadVersion {
            426
        } else {
            400
        }
    }
}

/// What the handshake agreed on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct Negotiated {
    /// permessage-deflate in use.
    pub deflate: bool,
    /// The server resets its compression context per message.
    pub server_no_context_takeover: bool,
    /// The client resets its compression context per message.
    pub client_no_context_takeover: bool,
}

/// Parses a permessage-deflate offer we can accept (window bits 15 only).
fn deflate_offer(h: &Headers<'_, '_>) -> Option<Negotiated> {
    for v in h.get_all("sec-websocket-extensions") {
        for offer in v.split(|b| *b == b',') {
            let mut parts = offer
                .split(|b| *b == b';')
                .map(|p| String::from_utf8_lossy(p).trim().to_ascii_lowercase());
            if parts.next().as_deref() != Some("permessage-deflate") {
                continue;
            }
            let mut n = Negotiated {
                deflate: true,
                ..Negotiated::default()
            };
            let mut ok = true;
            for p in parts {
                match p
                    .split_once('=')
                    .map(|(k, v)| (k.trim(), v.trim().trim_matches('"')))
                {
                    None if p == "server_no_context_takeover" => {
                        n.server_no_context_takeover = true
                    }
                    None if p == "client_no_context_takeover" => {
                        n.client_no_context_takeover = true
                    }
                    None if p == "client_max_window_bits" => {}
                    Some(("client_max_window_bits", _)) => {} // we answer without it: client uses 15
                    Some(("server_max_window_bits", "15")) => {}
                    _ => ok = false, // a smaller server window we cannot honour: next offer
                }
            }
            if ok {
                return Some(n);
            }
        }
    }
    None
}

/// Checks an upgrade request; returns the accept value and the extensions agreed.
pub fn validate_client_request(
    req: &Request<'_, '_>,
) -> Result<(String, Negotiated), HandshakeError> {
    if req.method != "GET" || req.version != Version::Http11 {
        return Err(HandshakeError::NotGet);
    }
    match crate::http1::request_body(req, &crate::http1::Limits::default()) {
        Ok(crate::http1::BodyKind::None) | Ok(crate::http1::BodyKind::Length(0)) => {}
        Err(crate::http1::ParseError::BadHost) => return Err(HandshakeError::BadHost),
        _ => return Err(HandshakeError::Body),
    }
    if !req.headers.has_token("upgrade", "websocket") {
        return Err(HandshakeError::NoUpgrade);
    }
    if !req.headers.has_token("connection", "upgrade") {
        return Err(HandshakeError::NoConnectionUpgrade);
    }
    if req.headers.get("sec-websocket-version") != Some(b"13") {
        return Err(HandshakeError::BadVersion);
    }
    let key = req
        .headers
        .get("sec-websocket-key")
        .ok_or(HandshakeError::BadKey)?;
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(key)
        .map_err(|_| HandshakeError::BadKey)?;
    if decoded.len() != 16 {
        return Err(HandshakeError::BadKey);
    }
    Ok((
        accept_key(key),
        deflate_offer(&req.headers).unwrap_or_default(),
    ))
}

/// The 101 response for an accepted request.
pub fn server_response(accept: &str, n: &Negotiated) -> Vec<u8> {
    let mut r = format!("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: {accept}\r\n");
    if n.deflate {
        r += "Sec-WebSocket-Extensions: permessage-deflate";
        if n.server_no_context_takeover {
            r += "; server_no_context_takeover";
        }
        if n.client_no_context_takeover {
            r += "; client_no_context_takeover";
        }
        r += "\r\n";
    }
    r += "\r\n";
    r.into_bytes()
}

/// A client's upgrade request for `path` on `host` with the 16 random bytes `nonce`;
/// returns the request and the key to check the answer against.
pub fn client_request(
    host: &str,
    path: &str,
    nonce: [u8; 16],
    offer_deflate: bool,
) -> (Vec<u8>, String) {
    let key = base64::engine::general_purpose::STANDARD.encode(nonce);
    let mut r = format!("GET {path} HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n");
    if offer_deflate {
        r += "Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n";
    }
    r += "\r\n";
    (r.into_bytes(), key)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc6455_section_1_3_accept_key() {
        assert_eq!(
            accept_key(b"dGhlIHNhbXBsZSBub25jZQ=="),
            "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
        );
    }
}
