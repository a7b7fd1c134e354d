//! Incremental chunked-body decoder (RFC 9112 §7.1): yields views of chunk data in the input,
//! strict about sizes and line endings, bounded in chunk-extension and trailer size and in
//! total body size.

use super::{Limits, ParseError};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    Size {
        value: u64,
        digits: u8,
    },
    /// Whitespace after the size, before a chunk extension's `;` (BWS, RFC 9112 §7.1.1).
    ExtBws {
        len: usize,
    },
    Ext {
        len: usize,
    },
    SizeLf {
        size: u64,
    },
    Data {
        left: u64,
    },
    DataCr,
    DataLf,
    /// In the trailer section; `line` bytes into the current line, which must be a header
    /// field: a token name, `:` (`colon`), then field-value bytes.
    Trailer {
        line: usize,
        colon: bool,
    },
    TrailerLf {
        line: usize,
    },
    Done,
}

/// What one call to [`ChunkedDecoder::decode`] produced.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Decoded<'a> {
    /// Input bytes used (the caller drops them before the next call).
    pub consumed: usize,
    /// Body bytes: a view into the input (may be empty).
    pub data: &'a [u8],
    /// The last chunk and the trailers have been read.
    pub done: bool,
}

/// Decodes one chunked body.
#[derive(Clone, Debug)]
pub struct ChunkedDecoder {
    state: State,
    limits: Limits,
    total: u64,
    trailer_bytes: usize,
    /// The size of the chunk whose extension is being skipped.
    pending: u64,
}

impl ChunkedDecoder {
    /// A decoder bounded by `limits` (`body`, `chunk_ext`, `header_bytes` for trailers).
    pub fn new(limits: Limits) -> Self {
        ChunkedDecoder {
            state: State::Size {
                value: 0,
                digits: 0,
            },
            limits,
            total: 0,
            trailer_bytes: 0,
            pending: 0,
        }
    }

    /// Body bytes decoded so far.
    pub fn total(&self) -> u64 {
        self.total
    }

    /// Whether the whole body has been read.
    pub fn is_done(&self) -> bool {
        self.state == State::Done
    }

    /// Consumes input until it yields data, runs out, or the body ends.
    pub fn decode<'a>(&mut self, input: &'a [u8]) -> Result<Decoded<'a>, ParseError> {
        let mut i = 0;
        while i < input.len() {
            let b = input[i];
            self.state = match self.state {
                State::Done => break,
                State::Size { value, digits } => match b {
                    b'0'..=b'9' | b'a'..=b'f' | b'A'..=b'F' => {
                        if digits == 16 {
                            return Err(ParseError::InvalidChunkSize);
                        }
                        let d = (b as char).to_digit(16).expect("hex digit") as u64;
                        State::Size {
                            value: value << 4 | d,
                            digits: digits + 1,
                        }
                    }
                    b';' if digits > 0 => {
                        self.check_size(value)?;
                        State::Ext { len: 0 }
                    }
                    b' ' | b'\t' if digits > 0 => {
                        self.check_size(value)?;
                        State::ExtBws { len: 1 }
                    }
                    b'\r' if digits > 0 => {
                        self.check_size(value)?;
                        State::SizeLf { size: value }
                    }
                    b'\n' if digits > 0 => return Err(ParseError::BadLineEnding),
                    _ => return Err(ParseError::InvalidChunkSize),
                },
                State::ExtBws { len } => match b {
                    b' ' | b'\t' if len < self.limits.chunk_ext => State::ExtBws { len: len + 1 },
                    b' ' | b'\t' => return Err(ParseError::ChunkExtensionTooLong),
                    b';' => State::Ext { len },
                    _ => return Err(ParseError::InvalidChunkSize),
                },
                State::Ext { len } => match b {
                    b'\r' => State::SizeLf {
                        size: self.pending_size(),
                    },
                    b'\n' => return Err(ParseError::BadLineEnding),
                    0x20..=0x7E | b'\t' | 0x80..=0xFF if len < self.limits.chunk_ext => {
                        State::Ext { len: len + 1 }
                    }
                    0x20..=0x7E | b'\t' | 0x80..=0xFF => {
                        return Err(ParseError::ChunkExtensionTooLong)
                    }
                    _ => return Err(ParseError::InvalidChunkSize),
                },
                State::SizeLf { size } => {
                    if b != b'\n' {
                        return Err(ParseError::BadLineEnding);
                    }
                    if size == 0 {
                        State::Trailer {
                            line: 0,
                            colon: false,
                        }
                    } else {
                        State::Data { left: size }
                    }
                }
                State::Data { left } => {
                    let n = (left.min((input.len() - i) as u64)) as usize;
                    let data = &input[i..i + n];
                    self.total += n as u64;
                    self.state = if n as u64 == left {
                        State::DataCr
                    } else {
                        State::Data {
                            left: left - n as u64,
                        }
                    };
                    return Ok(Decoded {
                        consumed: i + n,
                        data,
                        done: false,
                    });
                }
                State::DataCr if b == b'\r' => State::DataLf,
                State::DataLf if b == b'\n' => State::Size {
                    value: 0,
                    digits: 0,
                },
                State::DataCr | State::DataLf => return Err(ParseError::BadChunkTerminator),
                State::Trailer { line, colon } => {
                    self.trailer_bytes += 1;
                    if self.trailer_bytes > self.limits.header_bytes {
                        return Err(ParseError::HeadersTooLarge);
                    }
                    match b {
                        b'\r' if line == 0 || colon => State::TrailerLf { line },
                        b'\n' => return Err(ParseError::BadLineEnding),
                        b':' if !colon && line > 0 => State::Trailer {
                            line: line + 1,
                            colon: true,
                        },
                        _ if !colon && super::head::is_tchar(b) => State::Trailer {
                            line: line + 1,
                            colon,
                        },
                        b'\t' | 0x20..=0x7E | 0x80..=0xFF if colon => State::Trailer {
                            line: line + 1,
                            colon,
                        },
                        // A request line, obs-fold, a name without a colon...: not a field.
                        _ => return Err(ParseError::InvalidTrailer),
                    }
                }
                State::TrailerLf { line } => {
                    if b != b'\n' {
                        return Err(ParseError::BadLineEnding);
                    }
                    if line == 0 {
                        self.state = State::Done;
                        return Ok(Decoded {
                            consumed: i + 1,
                            data: &[],
                            done: true,
                        });
                    }
                    State::Trailer {
                        line: 0,
                        colon: false,
                    }
                }
            };
            i += 1;
        }
        Ok(Decoded {
            consumed: i,
            data: &[],
            done: self.state == State::Done,
        })
    }

    fn check_size(&mut self, size: u64) -> Result<(), ParseError> {
        if self.total.saturating_add(size) > self.limits.body {
            return Err(ParseError::BodyTooLarge);
        }
        self.pending = size;
        Ok(())
    }

    fn pending_size(&self) -> u64 {
        self.pending
    }
}
