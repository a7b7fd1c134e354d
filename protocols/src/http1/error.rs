//! Parse errors, each naming the rule it enforces and the status a server answers with.

/// Why a message was rejected. After any of these a server answers [`ParseError::status`]
/// and closes the connection (the framing can no longer be trusted).
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ParseError {
    /// The request line is longer than `Limits::request_line` (RFC 9112 §3: 414 for the target).
    #[error("request line exceeds the limit")]
    RequestLineTooLong,
    /// More header fields than `Limits::headers`.
    #[error("too many header fields")]
    TooManyHeaders,
    /// The header section is larger than `Limits::header_bytes` (RFC 6585 §5: 431).
    #[error("header section exceeds the limit")]
    HeadersTooLarge,
    /// The method is not a token (RFC 9110 §9.1).
    #[error("method is not a token")]
    InvalidMethod,
    /// The request target is empty or contains characters other than visible ASCII.
    #[error("invalid request target")]
    InvalidTarget,
    /// An `HTTP/x.y` version whose major version is not 1 (RFC 9112 §2.3: 505). Minor
    /// versions above 1 are read as HTTP/1.1 (RFC 9110 §2.5).
    #[error("unsupported HTTP version")]
    InvalidVersion,
    /// A request line that is not `method SP target SP HTTP-version` (a space inside the
    /// method or the target, or no version where one must be): RFC 9112 §3, 400.
    #[error("malformed request line")]
    InvalidRequestLine,
    /// A trailer line that is not a header field (RFC 9112 §7.1.2: 400 and close).
    #[error("invalid trailer field")]
    InvalidTrailer,
    /// A line ended in LF without CR, or CR without LF (RFC 9112 §2.2; we do not guess).
    #[error("line not terminated by CRLF")]
    BadLineEnding,
    /// A field name is not a token (RFC 9110 §5.1).
    #[error("invalid header field name")]
    InvalidHeaderName,
    /// Whitespace between the field name and the colon (RFC 9112 §5.1: must be rejected).
    #[error("whitespace before a header field's colon")]
    WhitespaceBeforeColon,
    /// A header line without a colon.
    #[error("header line without a colon")]
    MissingColon,
    /// A field value contains a control character (RFC 9110 §5.5).
    #[error("invalid character in a header field value")]
    InvalidHeaderValue,
    /// A line folded onto the previous one (obs-fold, RFC 9112 §5.2: rejected here).
    #[error("obsolete line folding")]
    ObsFold,
    /// An invalid status line (response parsing).
    #[error("invalid status line")]
    InvalidStatus,
    /// Both Transfer-Encoding and Content-Length (RFC 9112 §6.1: a smuggling vector).
    #[error("both Transfer-Encoding and Content-Length")]
    TransferEncodingWithContentLength,
    /// Content-Length values that differ, or a malformed one (RFC 9112 §6.3).
    #[error("invalid or conflicting Content-Length")]
    InvalidContentLength,
    /// A transfer coding other than a single final `chunked` (RFC 9112 §6.1).
    #[error("unsupported Transfer-Encoding")]
    UnsupportedTransferEncoding,
    /// A request whose transfer codings do not end in `chunked`: its length cannot be known
    /// (RFC 9112 §6.3: 400 and close).
    #[error("chunked is not the final transfer coding")]
    ChunkedNotFinal,
    /// Transfer-Encoding in an HTTP/1.0 message (RFC 9112 §6.1: treat as faulty framing).
    #[error("Transfer-Encoding in an HTTP/1.0 message")]
    TransferEncodingInHttp10,
    /// An HTTP/1.1 request without exactly one Host header (RFC 9112 §3.2).
    #[error("missing or repeated Host header")]
    BadHost,
    /// The body is larger than `Limits::body` (413).
    #[error("body exceeds the limit")]
    BodyTooLarge,
    /// A chunk size that is not 1–16 hex digits, or overflows (RFC 9112 §7.1).
    #[error("invalid chunk size")]
    InvalidChunkSize,
    /// A chunk extension longer than `Limits::chunk_ext`.
    #[error("chunk extension too long")]
    ChunkExtensionTooLong,
    /// Chunk data not followed by CRLF.
    #[error("chunk data not followed by CRLF")]
    BadChunkTerminator,
}

impl ParseError {
    /// The status code a server answers with before closing.
    pub fn status(self) -> u16 {
        match self {
            ParseError::RequestLineTooLong => 414,
            ParseError::TooManyHeaders | ParseError::HeadersTooLarge => 431,
            ParseError::InvalidVersion => 505,
            ParseError::UnsupportedTransferEncoding => 501,
            ParseError::BodyTooLarge => 413,
            _ => 400,
        }
    }
}
