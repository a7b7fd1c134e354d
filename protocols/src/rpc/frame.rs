//! RPC framing: a fixed 28-byte header — magic, version, kind, codec, flags, reserved,
//! message id, method id, deadline, payload length — then the payload. Strict: wrong magic,
//! unknown version/kind/codec, reserved bits or an oversized payload are typed errors, and the
//! payload length is checked before a single payload byte is buffered.

/// `TB`.
pub const MAGIC: [u8; 2] = *b"TB";
/// The only version.
pub const VERSION: u8 = 1;
/// Header bytes.
pub const HEADER_LEN: usize = 28;

/// What a frame is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Kind {
    /// A call.
    Request,
    /// A call's result.
    Response,
    /// A call's failure: payload is a 2-byte code and a UTF-8 message.
    Error,
    /// Liveness probe; answered with a heartbeat carrying the same message id.
    Heartbeat,
    /// The caller gave up on a message id.
    Cancel,
}

impl Kind {
    fn from_u8(b: u8) -> Option<Kind> {
        Some(match b {
            0 => Kind::Request,
            1 => Kind::Response,
            2 => Kind::Error,
            3 => Kind::Heartbeat,
            4 => Kind::Cancel,
            _ => return None,
        })
    }
    fn to_u8(self) -> u8 {
        match self {
            Kind::Request => 0,
            Kind::Response => 1,
            Kind::Error => 2,
            Kind::Heartbeat => 3,
            Kind::Cancel => 4,
        }
    }
}

/// Payload encodings.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum CodecId {
    /// serde_json.
    Json,
    /// postcard (compact binary).
    Binary,
}

/// A frame header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FrameHeader {
    /// Kind.
    pub kind: Kind,
    /// Payload codec.
    pub codec: CodecId,
    /// Flags (none defined yet; must be 0).
    pub flags: u8,
    /// Matches responses to requests.
    pub message_id: u64,
    /// The method called.
    pub method_id: u32,
    /// Milliseconds the caller will wait, from when it sent the frame (0: no deadline).
    pub deadline_ms: u32,
    /// Payload bytes.
    pub payload_len: u32,
}

/// Why bytes are not a valid frame (the connection is then closed: framing is lost).
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum FrameError {
    /// Not `TB`.
    #[error("bad magic")]
    BadMagic,
    /// Not version 1.
    #[error("unsupported version {0}")]
    BadVersion(u8),
    /// Unknown kind.
    #[error("unknown frame kind {0}")]
    BadKind(u8),
    /// Unknown codec.
    #[error("unknown codec {0}")]
    BadCodec(u8),
    /// Undefined flags or reserved bits set.
    #[error("reserved bits set")]
    Reserved,
    /// Payload longer than the limit.
    #[error("payload of {0} bytes exceeds the limit")]
    TooLarge(u32),
}

/// Decodes a header at the start of `buf` (`Ok(None)` until 28 bytes are there); the payload
/// follows it. `max_payload` is checked here, before any payload is read.
pub fn decode_header(buf: &[u8], max_payload: u32) -> Result<Option<FrameHeader>, FrameError> {
    if buf.len() >= 2 && buf[..2] != MAGIC || buf.len() == 1 && buf[0] != MAGIC[0] {
        return Err(FrameError::BadMagic);
    }
    if buf.len() < HEADER_LEN {
        return Ok(None);
    }
    if buf[2] != VERSION {
        return Err(FrameError::BadVersion(buf[2]));
    }
    let kind = Kind::from_u8(buf[3]).ok_or(FrameError::BadKind(buf[3]))?;
    let codec = match buf[4] {
        0 => CodecId::Json,
        1 => CodecId::Binary,
        c => return Err(FrameError::BadCodec(c)),
    };
    let flags = buf[5];
    if flags != 0 || buf[6] != 0 || buf[7] != 0 {
        return Err(FrameError::Reserved);
    }
    let u32_at = |i: usize| u32::from_be_bytes(buf[i..i + 4].try_into().expect("4 bytes"));
    let payload_len = u32_at(24);
    if payload_len > max_payload {
        return Err(FrameError::TooLarge(payload_len));
    }
    Ok(Some(FrameHeader {
        kind,
        codec,
        flags,
        message_id: u64::from_be_bytes(buf[8..16].try_into().expect("8 bytes")),
        method_id: u32_at(16),
        deadline_ms: u32_at(20),
        payload_len,
    }))
}

/// Appends a frame.
///
/// # Panics
/// If the payload is longer than `u32::MAX` (a bug: limits are far below).
pub fn encode(out: &mut Vec<u8>, h: &FrameHeader, payload: &[u8]) {
    let len = u32::try_from(payload.len()).expect("payload fits u32");
    out.extend_from_slice(&MAGIC);
    out.push(VERSION);
    out.push(h.kind.to_u8());
    out.push(match h.codec {
        CodecId::Json => 0,
        CodecId::Binary => 1,
    });
    out.extend_from_slice(&[h.flags, 0, 0]);
    out.extend_from_slice(&h.message_id.to_be_bytes());
    out.extend_from_slice(&h.method_id.to_be_bytes());
    out.extend_from_slice(&h.deadline_ms.to_be_bytes());
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(payload);
}

/// Error codes carried by [`Kind::Error`] frames.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorCode {
    /// No such method.
    UnknownMethod,
    /// The payload did not decode as the method's request.
    BadRequest,
    /// The deadline passed before the server answered.
    DeadlineExceeded,
    /// The server dropped the call after a Cancel.
    Cancelled,
    /// The handler failed.
    Internal,
    /// The server refused for load.
    Overloaded,
    /// A code this version does not know.
    Other(u16),
}

impl ErrorCode {
    /// Wire value.
    pub fn to_u16(self) -> u16 {
        match self {
            ErrorCode::UnknownMethod => 1,
            ErrorCode::BadRequest => 2,
            ErrorCode::DeadlineExceeded => 3,
            ErrorCode::Cancelled => 4,
            ErrorCode::Internal => 5,
            ErrorCode::Overloaded => 6,
            ErrorCode::Other(c) => c,
        }
    }
    /// From the wire.
    pub fn from_u16(c: u16) -> ErrorCode {
        match c {
            1 => ErrorCode::UnknownMethod,
            2 => ErrorCode::BadRequest,
            3 => ErrorCode::DeadlineExceeded,
            4 => ErrorCode::Cancelled,
            5 => ErrorCode::Internal,
            6 => ErrorCode::Overloaded,
            c => ErrorCode::Other(c),
        }
    }
}

/// An error frame's payload.
pub fn error_payload(code: ErrorCode, message: &str) -> Vec<u8> {
    let mut p = code.to_u16().to_be_bytes().to_vec();
    p.extend_from_slice(message.as_bytes());
    p
}

/// Parses an error frame's payload (a missing code reads as `Other(0)`).
pub fn parse_error_payload(p: &[u8]) -> (ErrorCode, String) {
    if p.len() < 2 {
        return (ErrorCode::Other(0), String::new());
    }
    (
        ErrorCode::from_u16(u16::from_be_bytes([p[0], p[1]])),
        String::from_utf8_lossy(&p[2..]).into_owned(),
    )
}
