//! Message framing (RFC 9112 §6): how long a body is, decided once and unambiguously —
//! every ambiguity a request smuggler could exploit is rejected.

use super::head::{trim, Headers, Request, Response, Version};
use super::{Limits, ParseError};

/// How a message's body is delimited.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BodyKind {
    /// No body.
    None,
    /// Exactly this many bytes.
    Length(u64),
    /// Chunked transfer coding.
    Chunked,
    /// Until the connection closes (responses only).
    UntilClose,
}

/// The transfer codings listed over all Transfer-Encoding fields, lower-cased.
fn codings(h: &Headers<'_, '_>) -> Vec<Vec<u8>> {
    h.get_all("transfer-encoding")
        .flat_map(|v| v.split(|b| *b == b','))
        .map(|c| trim(c).to_ascii_lowercase())
        .filter(|c| !c.is_empty())
        .collect()
}

/// The single Content-Length all fields agree on (RFC 9112 §6.3 item 5), if any.
fn content_length(h: &Headers<'_, '_>) -> Result<Option<u64>, ParseError> {
    let mut found: Option<u64> = None;
    for v in h
        .get_all("content-length")
        .flat_map(|v| v.split(|b| *b == b','))
    {
        let v = trim(v);
        if v.is_empty() || v.len() > 19 || !v.iter().all(u8::is_ascii_digit) {
            return Err(ParseError::InvalidContentLength);
        }
        let n = v.iter().fold(0u64, |a, d| a * 10 + (d - b'0') as u64);
        match found {
            Some(m) if m != n => return Err(ParseError::InvalidContentLength),
            _ => found = Some(n),
        }
    }
    Ok(found)
}

/// Whether `v` is a Host value: `uri-host [ ":" port ]` (RFC 9110 §7.2, RFC 3986 §3.2.2),
/// or empty (a target without an authority). IP literals are checked for their character
/// set only.
pub fn valid_host(v: &[u8]) -> bool {
    let port = if let Some(rest) = v.strip_prefix(b"[") {
        let Some(end) = rest.iter().position(|b| *b == b']') else {
            return false;
        };
        let lit = &rest[..end];
        if lit.is_empty()
            || !lit
                .iter()
                .all(|b| b.is_ascii_hexdigit() || matches!(b, b':' | b'.' | b'v' | b'V'))
        {
            return false;
        }
        &rest[end + 1..]
    } else {
        let end = v.iter().position(|b| *b == b':').unwrap_or(v.len());
        let host = &v[..end];
        if !host.iter().all(|b| {
            b.is_ascii_alphanumeric()
                || matches!(
                    b,
                    b'-' | b'.'
                        | b'_'
                        | b'~'
                        | b'%'
                        | b'!'
                        | b'$'
                        | b'&'
                        | b'\''
                        | b'('
                        | b')'
                        | b'*'
                        | b'+'
                        | b','
                        | b';'
                        | b'='
                )
        }) {
            return false;
        }
        &v[end..]
    };
    match port.split_first() {
        None => true,
        Some((b':', digits)) => digits.len() <= 5 && digits.iter().all(u8::is_ascii_digit),
        Some(_) => false,
    }
}

/// The body framing of a request, after checking Host and every framing rule.
pub fn request_body(req: &Request<'_, '_>, limits: &Limits) -> Result<BodyKind, ParseError> {
    let h = &req.headers;
    if req.version == Version::Http11 && h.get_all("host").count() != 1 {
        return Err(ParseError::BadHost);
    }
    if h.get_all("host").count() > 1 || h.get("host").is_some_and(|v| !valid_host(v)) {
        return Err(ParseError::BadHost);
    }
    let te = codings(h);
    let has_te = h.get("transfer-encoding").is_some();
    let cl = content_length(h)?;
    if has_te {
        if req.version == Version::Http10 {
            return Err(ParseError::TransferEncodingInHttp10);
        }
        if cl.is_some() {
            return Err(ParseError::TransferEncodingWithContentLength);
        }
        return match te.as_slice() {
            [only] if only == b"chunked" => Ok(BodyKind::Chunked),
            [.., last] if last == b"chunked" => Err(ParseError::UnsupportedTransferEncoding),
            _ => Err(ParseError::ChunkedNotFinal),
        };
    }
    match cl {
        Some(n) if n > limits.body => Err(ParseError::BodyTooLarge),
        Some(0) | None => Ok(BodyKind::None),
        Some(n) => Ok(BodyKind::Length(n)),
    }
}

/// The body framing of a response to a request with `method`.
pub fn response_body(
    method: &str,
    resp: &Response<'_, '_>,
    limits: &Limits,
) -> Result<BodyKind, ParseError> {
    let h = &resp.headers;
    if method.eq_ignore_ascii_case("HEAD")
        || (100..200).contains(&resp.status)
        || resp.status == 204
        || resp.status == 304
    {
        return Ok(BodyKind::None);
    }
    let te = codings(h);
    let cl = content_length(h)?;
    if h.get("transfer-encoding").is_some() {
        if cl.is_some() {
            return Err(ParseError::TransferEncodingWithContentLength);
        }
        return Ok(match te.as_slice() {
            [only] if only == b"chunked" => BodyKind::Chunked,
            _ => BodyKind::UntilClose,
        });
    }
    match cl {
        Some(n) if n > limits.body => Err(ParseError::BodyTooLarge),
        Some(0) => Ok(BodyKind::None),
        Some(n) => Ok(BodyKind::Length(n)),
        None => Ok(BodyKind::UntilClose),
    }
}

impl Request<'_, '_> {
    /// Whether the connection stays open after this exchange: HTTP/1.1 unless
    /// `Connection: close`; HTTP/1.0 only with `Connection: keep-alive`.
    pub fn keep_alive(&self) -> bool {
        match self.version {
            Version::Http11 => !self.headers.has_token("connection", "close"),
            Version::Http10 => self.headers.has_token("connection", "keep-alive"),
        }
    }
    /// Whether the client waits for `100 Continue` before sending the body.
    pub fn expects_continue(&self) -> bool {
        self.version == Version::Http11
            && self
                .headers
                .get("expect")
                .is_some_and(|v| trim(v).eq_ignore_ascii_case(b"100-continue"))
    }
}
