//! Request and response heads: incremental, zero-copy (every string is a view into the input
//! buffer), strict, bounded.

use super::{Limits, ParseError};

/// Result of feeding a buffer to a parser.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Status<T> {
    /// A whole head was parsed.
    Complete(T),
    /// The head is not complete yet: read more and parse the whole buffer again.
    Partial,
}

/// HTTP version.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Version {
    /// HTTP/1.0.
    Http10,
    /// HTTP/1.1.
    Http11,
}

/// One header field: a view of its name and value (trailing whitespace trimmed).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Header<'a> {
    /// Field name as sent (compare case-insensitively).
    pub name: &'a str,
    /// Field value bytes (may contain obs-text).
    pub value: &'a [u8],
}

/// The parsed header fields.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Headers<'h, 'a>(pub &'h [Header<'a>]);

impl<'h, 'a> Headers<'h, 'a> {
    /// The first value of `name` (case-insensitive).
    pub fn get(&self, name: &str) -> Option<&'a [u8]> {
        self.0
            .iter()
            .find(|h| h.name.eq_ignore_ascii_case(name))
            .map(|h| h.value)
    }
    /// Every value of `name`, in order.
    pub fn get_all<'s>(&'s self, name: &'s str) -> impl Iterator<Item = &'a [u8]> + 's {
        self.0
            .iter()
            .filter(move |h| h.name.eq_ignore_ascii_case(name))
            .map(|h| h.value)
    }
    /// Whether the comma-separated list header `name` contains `token` (case-insensitive).
    pub fn has_token(&self, name: &str, token: &str) -> bool {
        self.get_all(name).any(|v| {
            v.split(|b| *b == b',')
                .any(|t| trim(t).eq_ignore_ascii_case(token.as_bytes()))
        })
    }
    /// Number of fields.
    pub fn len(&self) -> usize {
        self.0.len()
    }
    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

pub(crate) fn trim(v: &[u8]) -> &[u8] {
    let start = v
        .iter()
        .position(|b| *b != b' ' && *b != b'\t')
        .unwrap_or(v.len());
    let end = v
        .iter()
        .rposition(|b| *b != b' ' && *b != b'\t')
        .map_or(start, |e| e + 1);
    &v[start..end]
}

/// A parsed request head.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Request<'h, 'a> {
    /// Method token.
    pub method: &'a str,
    /// Request target as sent.
    pub target: &'a str,
    /// Version.
    pub version: Version,
    /// Header fields.
    pub headers: Headers<'h, 'a>,
    /// Bytes of the head, final CRLF included: the body starts here.
    pub head_len: usize,
}

/// A parsed response head.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Response<'h, 'a> {
    /// Version.
    pub version: Version,
    /// Status code (100–999).
    pub status: u16,
    /// Reason phrase (may be empty).
    pub reason: &'a [u8],
    /// Header fields.
    pub headers: Headers<'h, 'a>,
    /// Bytes of the head, final CRLF included.
    pub head_len: usize,
}

/// RFC 9110 tchar.
const fn tchar_table() -> [bool; 256] {
    let mut t = [false; 256];
    let mut c = 0;
    while c < 256 {
        let b = c as u8;
        t[c] = b.is_ascii_alphanumeric()
            || matches!(
                b,
                b'!' | b'#'
                    | b'$'
                    | b'%'
                    | b'&'
                    | b'\''
                    | b'*'
                    | b'+'
                    | b'-'
                    | b'.'
                    | b'^'
                    | b'_'
                    | b'`'
                    | b'|'
                    | b'~'
            );
        c += 1;
    }
    t
}
static TCHAR: [bool; 256] = tchar_table();

/// Whether `b` is an RFC 9110 tchar (field names, methods).
pub(crate) fn is_tchar(b: u8) -> bool {
    TCHAR[b as usize]
}

/// Field-value bytes: HTAB, SP, VCHAR, obs-text.
const fn value_table() -> [bool; 256] {
    let mut t = [false; 256];
    let mut c = 0;
    while c < 256 {
        t[c] = c == 9 || (c >= 0x20 && c != 0x7F);
        c += 1;
    }
    t
}
static VALUE: [bool; 256] = value_table();

const LO: u64 = 0x0101_0101_0101_0101;
const HI: u64 = 0x8080_8080_8080_8080;

/// Whether some byte of `x` is below `n` (n ≤ 128; exact as an existence test).
#[inline(always)]
fn has_less(x: u64, n: u8) -> bool {
    x.wrapping_sub(LO * n as u64) & !x & HI != 0
}

/// Whether some byte of `x` equals `b`.
#[inline(always)]
fn has_byte(x: u64, b: u8) -> bool {
    let v = x ^ (LO * b as u64);
    v.wrapping_sub(LO) & !v & HI != 0
}

#[inline(always)]
fn word(buf: &[u8], i: usize) -> u64 {
    u64::from_le_bytes(buf[i..i + 8].try_into().expect("8 bytes"))
}

/// Index of the first byte at or after `i` that is not plain field-value text (SP, VCHAR,
/// obs-text); HTAB and the rest are then checked one by one. Eight bytes per step.
#[inline]
fn skip_value_text(buf: &[u8], mut i: usize) -> usize {
    while i + 8 <= buf.len() {
        let x = word(buf, i);
        if has_less(x, 0x20) || has_byte(x, 0x7F) {
            break;
        }
        i += 8;
    }
    i
}

/// Index of the first byte at or after `i` outside 0x21..=0x7E (request-target bytes).
#[inline]
fn skip_visible(buf: &[u8], mut i: usize) -> usize {
    while i + 8 <= buf.len() {
        let x = word(buf, i);
        if has_less(x, 0x21) || x & HI != 0 || has_byte(x, 0x7F) {
            break;
        }
        i += 8;
    }
    i
}

/// Outcome of a step that may run out of input.
enum Need<T> {
    Done(T),
    More,
}

use Need::{Done, More};

macro_rules! step {
    ($e:expr) => {
        match $e? {
            Done(v) => v,
            More => return Ok(More),
        }
    };
}

/// Expects CRLF at `*i`.
#[inline]
fn crlf(buf: &[u8], i: &mut usize) -> Result<Need<()>, ParseError> {
    match buf.get(*i) {
        None => Ok(More),
        Some(b'\r') => match buf.get(*i + 1) {
            None => Ok(More),
            Some(b'\n') => {
                *i += 2;
                Ok(Done(()))
            }
            Some(_) => Err(ParseError::BadLineEnding),
        },
        Some(b'\n') => Err(ParseError::BadLineEnding),
        Some(_) => Err(ParseError::BadLineEnding),
    }
}

/// `HTTP/` DIGIT `.` DIGIT (RFC 9112 §2.3). Anything else is a malformed line (400), a major
/// version other than 1 is unsupported (505), and `HTTP/1.x` for x ≥ 1 is read as 1.1
/// (RFC 9110 §2.5: a recipient of a higher minor version treats it as the highest it has).
#[inline]
fn version(buf: &[u8], i: &mut usize) -> Result<Need<Version>, ParseError> {
    let rest = &buf[*i..];
    let want = b"HTTP/";
    let n = rest.len().min(8);
    if rest[..n.min(5)] != want[..n.min(5)] {
        return Err(ParseError::InvalidRequestLine);
    }
    let shape = |k: usize, ok: bool| k >= n || ok;
    if !(shape(5, rest.get(5).is_some_and(u8::is_ascii_digit))
        && shape(6, rest.get(6) == Some(&b'.'))
        && shape(7, rest.get(7).is_some_and(u8::is_ascii_digit)))
    {
        return Err(ParseError::InvalidRequestLine);
    }
    if n < 8 {
        return Ok(More);
    }
    if rest[5] != b'1' {
        return Err(ParseError::InvalidVersion);
    }
    let v = match rest[7] {
        b'0' => Version::Http10,
        _ => Version::Http11,
    };
    *i += 8;
    Ok(Done(v))
}

/// Parses header fields from `*i` up to and including the empty line.
fn fields<'a>(
    buf: &'a [u8],
    i: &mut usize,
    out: &mut [Header<'a>],
    max: usize,
) -> Result<Need<usize>, ParseError> {
    let max = max.min(out.len());
    let mut n = 0;
    loop {
        match buf.get(*i) {
            None => return Ok(More),
            Some(b'\r') | Some(b'\n') => {
                step!(crlf(buf, i));
                return Ok(Done(n));
            }
            Some(b' ') | Some(b'\t') => return Err(ParseError::ObsFold),
            Some(_) => {}
        }
        if n == max {
            return Err(ParseError::TooManyHeaders);
        }
        let start = *i;
        let mut j = start
            + buf[start..]
                .iter()
                .position(|b| !TCHAR[*b as usize])
                .unwrap_or(buf.len() - start);
        loop {
            match buf.get(j) {
                None => return Ok(More),
                Some(b':') => break,
                Some(&b) if TCHAR[b as usize] => j += 1,
                Some(b' ') | Some(b'\t') => return Err(ParseError::WhitespaceBeforeColon),
                Some(b'\r') | Some(b'\n') => return Err(ParseError::MissingColon),
                Some(_) => return Err(ParseError::InvalidHeaderName),
            }
        }
        if j == start {
            return Err(ParseError::InvalidHeaderName);
        }
        let name = std::str::from_utf8(&buf[start..j]).expect("tchar is ASCII");
        j += 1;
        while matches!(buf.get(j), Some(b' ') | Some(b'\t')) {
            j += 1;
        }
        let vstart = j;
        j = skip_value_text(buf, j);
        loop {
            match buf.get(j) {
                None => return Ok(More),
                Some(b'\r') | Some(b'\n') => break,
                Some(&b) if VALUE[b as usize] => j += 1,
                Some(_) => return Err(ParseError::InvalidHeaderValue),
            }
        }
        let mut vend = j;
        while vend > vstart && matches!(buf[vend - 1], b' ' | b'\t') {
            vend -= 1;
        }
        *i = j;
        step!(crlf(buf, i));
        out[n] = Header {
            name,
            value: &buf[vstart..vend],
        };
        n += 1;
    }
}

fn too_big_or_partial<T>(buf: &[u8], limits: &Limits) -> Result<Status<T>, ParseError> {
    if buf.len() >= limits.header_bytes {
        Err(ParseError::HeadersTooLarge)
    } else {
        Ok(Status::Partial)
    }
}

/// Parses a request head from the start of `buf`, filling `headers` (its length, capped by
/// `limits.headers`, is the most fields accepted). Leading empty lines are skipped
/// (RFC 9112 §2.2).
pub fn parse_request<'h, 'a>(
    buf: &'a [u8],
    headers: &'h mut [Header<'a>],
    limits: &Limits,
) -> Result<Status<Request<'h, 'a>>, ParseError> {
    let mut i = 0;
    while buf.get(i) == Some(&b'\r') && buf.get(i + 1) == Some(&b'\n') {
        i += 2;
    }
    let line_start = i;
    let r = request_line_and_fields(buf, headers, limits, i, line_start);
    match r? {
        Done((req, len)) if len <= limits.header_bytes => Ok(Status::Complete(req)),
        Done(_) => Err(ParseError::HeadersTooLarge),
        More if buf.len() - line_start > limits.request_line
            && !buf[line_start..].contains(&b'\n') =>
        {
            Err(ParseError::RequestLineTooLong)
        }
        More => too_big_or_partial(buf, limits),
    }
}

/// Parses a response head from the start of `buf`.
pub fn parse_response<'h, 'a>(
    buf: &'a [u8],
    headers: &'h mut [Header<'a>],
    limits: &Limits,
) -> Result<Status<Response<'h, 'a>>, ParseError> {
    let r = status_line_and_fields(buf, headers, limits);
    match r? {
        Done((resp, len)) if len <= limits.header_bytes => Ok(Status::Complete(resp)),
        Done(_) => Err(ParseError::HeadersTooLarge),
        More => too_big_or_partial(buf, limits),
    }
}

fn request_line_and_fields<'h, 'a>(
    buf: &'a [u8],
    headers: &'h mut [Header<'a>],
    limits: &Limits,
    mut i: usize,
    line_start: usize,
) -> Result<Need<(Request<'h, 'a>, usize)>, ParseError> {
    // method SP
    let m0 = i;
    i += buf[i..]
        .iter()
        .position(|b| !TCHAR[*b as usize])
        .unwrap_or(buf.len() - i);
    if i - line_start > limits.request_line {
        return Err(ParseError::RequestLineTooLong);
    }
    match buf.get(i) {
        None => return Ok(More),
        Some(b' ') => {}
        Some(_) => return Err(ParseError::InvalidMethod),
    }
    if i == m0 {
        return Err(ParseError::InvalidMethod);
    }
    let method = std::str::from_utf8(&buf[m0..i]).expect("tchar is ASCII");
    i += 1;
    // target SP
    let t0 = i;
    i = skip_visible(buf, i);
    i += buf[i..]
        .iter()
        .position(|b| !(0x21..0x7F).contains(b))
        .unwrap_or(buf.len() - i);
    if i - line_start > limits.request_line {
        return Err(ParseError::RequestLineTooLong);
    }
    match buf.get(i) {
        None => return Ok(More),
        Some(b' ') => {}
        Some(_) => return Err(ParseError::InvalidTarget),
    }
    if i == t0 {
        return Err(ParseError::InvalidTarget);
    }
    let target = std::str::from_utf8(&buf[t0..i]).expect("visible ASCII");
    i += 1;
    let version = step!(version(buf, &mut i));
    step!(crlf(buf, &mut i));
    if i - line_start > limits.request_line + 2 {
        return Err(ParseError::RequestLineTooLong);
    }
    let n = step!(fields(buf, &mut i, &mut *headers, limits.headers));
    let headers: &'h [Header<'a>] = headers;
    Ok(Done((
        Request {
            method,
            target,
            version,
            headers: Headers(&headers[..n]),
            head_len: i,
        },
        i,
    )))
}

fn status_line_and_fields<'h, 'a>(
    buf: &'a [u8],
    headers: &'h mut [Header<'a>],
    limits: &Limits,
) -> Result<Need<(Response<'h, 'a>, usize)>, ParseError> {
    let mut i = 0;
    let version = step!(version(buf, &mut i));
    match buf.get(i) {
        None => return Ok(More),
        Some(b' ') => i += 1,
        Some(_) => return Err(ParseError::InvalidStatus),
    }
    if buf.len() < i + 3 {
        return Ok(More);
    }
    let code = &buf[i..i + 3];
    if !code.iter().all(u8::is_ascii_digit) || code[0] == b'0' {
        return Err(ParseError::InvalidStatus);
    }
    let status = code.iter().fold(0u16, |a, d| a * 10 + (d - b'0') as u16);
    i += 3;
    let r0;
    match buf.get(i) {
        None => return Ok(More),
        Some(b' ') => {
            i += 1;
            r0 = i;
            loop {
                match buf.get(i) {
                    None => return Ok(More),
                    Some(b'\r') | Some(b'\n') => break,
                    Some(&b) if VALUE[b as usize] => i += 1,
                    Some(_) => return Err(ParseError::InvalidStatus),
                }
            }
        }
        Some(b'\r') | Some(b'\n') => r0 = i, // tolerate a missing reason phrase
        Some(_) => return Err(ParseError::InvalidStatus),
    }
    let reason = &buf[r0..i];
    step!(crlf(buf, &mut i));
    let n = step!(fields(buf, &mut i, &mut *headers, limits.headers));
    let headers: &'h [Header<'a>] = headers;
    Ok(Done((
        Response {
            version,
            status,
            reason,
            headers: Headers(&headers[..n]),
            head_len: i,
        },
        i,
    )))
}
