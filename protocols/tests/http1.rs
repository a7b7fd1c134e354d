//! HTTP/1.1 head parsing, framing and chunked decoding.

use proptest::prelude::*;
use proptest::test_runner::{Config, RngSeed};
use testbed_protocols::http1::*;

fn cfg(cases: u32) -> Config {
    Config {
        cases,
        rng_seed: RngSeed::Fixed(0x4771),
        failure_persistence: None,
        ..Config::default()
    }
}

const L: Limits = Limits {
    request_line: 8192,
    headers: 100,
    header_bytes: 65536,
    body: 1 << 20,
    chunk_ext: 64,
};

/// An owned copy of a parsed request head: method, target, version, headers, head length.
type Owned = (String, String, Version, Vec<(String, Vec<u8>)>, usize);

fn req(raw: &[u8]) -> Result<Status<Owned>, ParseError> {
    let mut h = [Header::default(); 32];
    Ok(match parse_request(raw, &mut h, &L)? {
        Status::Complete(r) => Status::Complete((
            r.method.to_string(),
            r.target.to_string(),
            r.version,
            r.headers
                .0
                .iter()
                .map(|h| (h.name.to_string(), h.value.to_vec()))
                .collect(),
            r.head_len,
        )),
        Status::Partial => Status::Partial,
    })
}

fn framing(raw: &[u8]) -> Result<BodyKind, ParseError> {
    let mut h = [Header::default(); 32];
    match parse_request(raw, &mut h, &L)? {
        Status::Complete(r) => request_body(&r, &L),
        Status::Partial => panic!("partial"),
    }
}

#[test]
fn parses_a_request_head_as_views_into_the_buffer() {
    let raw = b"GET /index.html?q=1 HTTP/1.1\r\nHost: example.com\r\nAccept:  text/html \t\r\nX-Empty:\r\n\r\nBODY";
    let mut h = [Header::default(); 8];
    let Status::Complete(r) = parse_request(raw, &mut h, &L).unwrap() else {
        panic!()
    };
    assert_eq!(
        (r.method, r.target, r.version),
        ("GET", "/index.html?q=1", Version::Http11)
    );
    assert_eq!(r.headers.get("host"), Some(&b"example.com"[..]));
    assert_eq!(
        r.headers.get("ACCEPT"),
        Some(&b"text/html"[..]),
        "OWS trimmed on both sides"
    );
    assert_eq!(r.headers.get("x-empty"), Some(&b""[..]));
    assert_eq!(&raw[r.head_len..], b"BODY");
    assert!(std::ptr::eq(r.method.as_ptr(), raw.as_ptr()), "zero copy");
    assert!(r.keep_alive());
    assert_eq!(request_body(&r, &L), Ok(BodyKind::None));
}

#[test]
fn leading_empty_lines_are_skipped() {
    assert!(matches!(
        req(b"\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n"),
        Ok(Status::Complete(_))
    ));
}

#[test]
fn malformed_heads_get_typed_errors_and_statuses() {
    use ParseError::*;
    let cases: &[(&[u8], ParseError, u16)] = &[
        (b"GET / HTTP/1.1\nHost: a\r\n\r\n", BadLineEnding, 400),
        (b"GET / HTTP/1.1\r\nHost: a\n\r\n", BadLineEnding, 400),
        (
            b"GET / HTTP/1.1\r\nHost : a\r\n\r\n",
            WhitespaceBeforeColon,
            400,
        ),
        (
            b"GET / HTTP/1.1\r\nHost: a\r\n folded\r\n\r\n",
            ObsFold,
            400,
        ),
        (
            b"GET / HTTP/1.1\r\nHost a\r\n\r\n",
            WhitespaceBeforeColon,
            400,
        ),
        (b"GET / HTTP/1.1\r\nHosta\r\n\r\n", MissingColon, 400),
        (
            b"GET / HTTP/1.1\r\nHo(st: a\r\n\r\n",
            InvalidHeaderName,
            400,
        ),
        (
            b"GET / HTTP/1.1\r\nHost: a\x01b\r\n\r\n",
            InvalidHeaderValue,
            400,
        ),
        (b"G(T / HTTP/1.1\r\n\r\n", InvalidMethod, 400),
        (b" / HTTP/1.1\r\n\r\n", InvalidMethod, 400),
        (b"GET  HTTP/1.1\r\n\r\n", InvalidTarget, 400),
        (b"GET /a\x7fb HTTP/1.1\r\n\r\n", InvalidTarget, 400),
        (b"GET / HTTP/2.0\r\n\r\n", InvalidVersion, 505),
        (b"GET / http/1.1\r\n\r\n", InvalidRequestLine, 400), // HTTP-name is case-sensitive
        (b"GET / HTTP/1.1 \r\n\r\n", BadLineEnding, 400),
    ];
    for (raw, want, status) in cases {
        let got = req(raw).unwrap_err();
        assert_eq!(got, *want, "{}", String::from_utf8_lossy(raw));
        assert_eq!(got.status(), *status);
    }
}

#[test]
fn limits_are_enforced() {
    let long = format!("GET /{} HTTP/1.1\r\n", "a".repeat(9000));
    assert_eq!(
        req(long.as_bytes()).unwrap_err(),
        ParseError::RequestLineTooLong
    );
    assert_eq!(
        req(&long.as_bytes()[..8500]).unwrap_err(),
        ParseError::RequestLineTooLong,
        "even before the line ends"
    );
    let mut many = String::from("GET / HTTP/1.1\r\n");
    for i in 0..40 {
        many += &format!("X-{i}: v\r\n");
    }
    many += "\r\n";
    assert_eq!(
        req(many.as_bytes()).unwrap_err(),
        ParseError::TooManyHeaders,
        "32 slots given"
    );
    let big = format!("GET / HTTP/1.1\r\nX: {}\r\n", "v".repeat(70_000));
    assert_eq!(
        req(big.as_bytes()).unwrap_err(),
        ParseError::HeadersTooLarge
    );
    assert_eq!(ParseError::HeadersTooLarge.status(), 431);
    let body = b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 2000000\r\n\r\n";
    assert_eq!(framing(body), Err(ParseError::BodyTooLarge));
}

#[test]
fn request_smuggling_defences() {
    use ParseError::*;
    let f = |h: &str| framing(format!("POST / HTTP/1.1\r\nHost: a\r\n{h}\r\n").as_bytes());
    assert_eq!(
        f("Content-Length: 5\r\nTransfer-Encoding: chunked\r\n"),
        Err(TransferEncodingWithContentLength)
    );
    assert_eq!(
        f("Content-Length: 5\r\nContent-Length: 6\r\n"),
        Err(InvalidContentLength)
    );
    assert_eq!(f("Content-Length: 5, 6\r\n"), Err(InvalidContentLength));
    assert_eq!(
        f("Content-Length: 5\r\nContent-Length: 5\r\n"),
        Ok(BodyKind::Length(5)),
        "identical duplicates are one value"
    );
    assert_eq!(f("Content-Length: +5\r\n"), Err(InvalidContentLength));
    assert_eq!(f("Content-Length: 0x5\r\n"), Err(InvalidContentLength));
    assert_eq!(
        f("Content-Length: 99999999999999999999\r\n"),
        Err(InvalidContentLength)
    );
    assert_eq!(f("Transfer-Encoding: chunked\r\n"), Ok(BodyKind::Chunked));
    assert_eq!(f("Transfer-Encoding: CHUNKED\r\n"), Ok(BodyKind::Chunked));
    assert_eq!(
        f("Transfer-Encoding: chunked, gzip\r\n"),
        Err(ChunkedNotFinal)
    );
    assert_eq!(f("Transfer-Encoding: gzip\r\n"), Err(ChunkedNotFinal));
    assert_eq!(
        f("Transfer-Encoding: gzip, chunked\r\n"),
        Err(UnsupportedTransferEncoding)
    );
    assert_eq!(
        f("Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n"),
        Err(UnsupportedTransferEncoding)
    );
    assert_eq!(f("Transfer-Encoding: \r\n"), Err(ChunkedNotFinal));
    assert_eq!(
        framing(b"POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n"),
        Err(TransferEncodingInHttp10)
    );
    assert_eq!(framing(b"GET / HTTP/1.1\r\n\r\n"), Err(BadHost));
    assert_eq!(
        framing(b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n"),
        Err(BadHost)
    );
    assert_eq!(
        framing(b"GET / HTTP/1.0\r\n\r\n"),
        Ok(BodyKind::None),
        "Host is optional in 1.0"
    );
}

#[test]
fn keep_alive_and_expect_continue() {
    let mut h = [Header::default(); 8];
    let p = |raw: &'static [u8], h: &mut [Header<'static>]| match parse_request(raw, h, &L).unwrap()
    {
        Status::Complete(r) => (r.keep_alive(), r.expects_continue()),
        Status::Partial => panic!(),
    };
    assert_eq!(
        p(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n", &mut h),
        (true, false)
    );
    assert_eq!(
        p(
            b"GET / HTTP/1.1\r\nHost: a\r\nConnection: keep-alive, Close\r\n\r\n",
            &mut h
        ),
        (false, false)
    );
    assert_eq!(p(b"GET / HTTP/1.0\r\n\r\n", &mut h), (false, false));
    assert_eq!(
        p(b"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n", &mut h),
        (true, false)
    );
    assert_eq!(
        p(
            b"PUT / HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\n\r\n",
            &mut h
        ),
        (true, true)
    );
}

#[test]
fn responses_and_their_framing() {
    let mut h = [Header::default(); 8];
    let raw = b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nabc";
    let Status::Complete(r) = parse_response(raw, &mut h, &L).unwrap() else {
        panic!()
    };
    assert_eq!(
        (r.status, r.reason, r.head_len),
        (200, &b"OK"[..], raw.len() - 3)
    );
    assert_eq!(response_body("GET", &r, &L), Ok(BodyKind::Length(3)));
    assert_eq!(response_body("HEAD", &r, &L), Ok(BodyKind::None));
    let body = |raw: &'static [u8]| {
        let mut h = [Header::default(); 8];
        let Status::Complete(r) = parse_response(raw, &mut h, &L).unwrap() else {
            panic!()
        };
        response_body("GET", &r, &L)
    };
    assert_eq!(
        body(b"HTTP/1.1 204 No Content\r\nContent-Length: 5\r\n\r\n"),
        Ok(BodyKind::None)
    );
    assert_eq!(
        body(b"HTTP/1.1 304 Not Modified\r\n\r\n"),
        Ok(BodyKind::None)
    );
    assert_eq!(body(b"HTTP/1.1 100 Continue\r\n\r\n"), Ok(BodyKind::None));
    assert_eq!(
        body(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"),
        Ok(BodyKind::Chunked)
    );
    assert_eq!(body(b"HTTP/1.0 200 OK\r\n\r\n"), Ok(BodyKind::UntilClose));
    assert_eq!(
        body(b"HTTP/1.1 200\r\n\r\n"),
        Ok(BodyKind::UntilClose),
        "missing reason tolerated"
    );
    assert_eq!(
        parse_response(b"HTTP/1.1 20 OK\r\n\r\n", &mut h, &L).unwrap_err(),
        ParseError::InvalidStatus
    );
    assert_eq!(
        parse_response(b"HTTP/1.1 099 X\r\n\r\n", &mut h, &L).unwrap_err(),
        ParseError::InvalidStatus
    );
}

fn decode_all(raw: &[u8], split: usize) -> Result<(Vec<u8>, bool, usize), ParseError> {
    let mut d = ChunkedDecoder::new(L);
    let mut out = Vec::new();
    let mut pos = 0;
    let mut fed = split.clamp(1, raw.len().max(1)).min(raw.len());
    loop {
        let chunk = &raw[pos..fed];
        let r = d.decode(chunk)?;
        out.extend_from_slice(r.data);
        pos += r.consumed;
        if r.done {
            return Ok((out, true, pos));
        }
        if pos == fed {
            if fed == raw.len() {
                return Ok((out, false, pos));
            }
            fed = (fed + split.max(1)).min(raw.len());
        }
    }
}

#[test]
fn chunked_known_answers_and_errors() {
    let raw = b"4\r\nWiki\r\n5;ext=1\r\npedia\r\nE\r\n in\r\n\r\nchunks.\r\n0\r\nExpires: never\r\n\r\nNEXT";
    let (data, done, used) = decode_all(raw, 1000).unwrap();
    assert_eq!(
        (data.as_slice(), done),
        (&b"Wikipedia in\r\n\r\nchunks."[..], true)
    );
    assert_eq!(&raw[used..], b"NEXT");
    use ParseError::*;
    for (bad, err) in [
        (&b"x\r\n"[..], InvalidChunkSize),
        (b" 4\r\nWiki\r\n", InvalidChunkSize),
        (b"4 \r\nWiki\r\n", InvalidChunkSize),
        (b"-1\r\n", InvalidChunkSize),
        (b"\r\n", InvalidChunkSize),
        (b"11111111111111111\r\n", InvalidChunkSize),
        (b"4\nWiki\r\n", BadLineEnding),
        (b"4\r\nWikiX\r\n", BadChunkTerminator),
        (b"100001\r\n", BodyTooLarge),
    ] {
        assert_eq!(
            decode_all(bad, 100).unwrap_err(),
            err,
            "{}",
            String::from_utf8_lossy(bad)
        );
    }
    let long_ext = format!("1;{}\r\na\r\n0\r\n\r\n", "e".repeat(100));
    assert_eq!(
        decode_all(long_ext.as_bytes(), 1000).unwrap_err(),
        ChunkExtensionTooLong
    );
}

fn token() -> impl Strategy<Value = String> {
    "[A-Za-z0-9!#$%&'*+.^_`|~-]{1,12}"
}

proptest! {
    #![proptest_config(cfg(256))]

    #[test]
    fn serialise_then_parse_round_trips_and_every_prefix_is_partial(
        method in token(),
        target in "/[!-~]{0,40}",
        headers in prop::collection::vec((token(), "[ -~]{0,30}"), 0..10),
        v11: bool,
    ) {
        let version = if v11 { Version::Http11 } else { Version::Http10 };
        let trimmed: Vec<(String, String)> = headers.iter().map(|(n, v)| (n.clone(), v.trim_matches(|c| c == ' ' || c == '\t').to_string())).collect();
        let hs: Vec<Header<'_>> = trimmed.iter().map(|(n, v)| Header { name: n, value: v.as_bytes() }).collect();
        let mut raw = Vec::new();
        write_request_head(&mut raw, &method, &target, version, &hs);
        for cut in 0..raw.len() {
            prop_assert_eq!(req(&raw[..cut]).unwrap(), Status::Partial, "prefix of {} bytes", cut);
        }
        let Status::Complete((m, t, v, h, len)) = req(&raw).unwrap() else { panic!() };
        prop_assert_eq!((m.as_str(), t.as_str(), v, len), (method.as_str(), target.as_str(), version, raw.len()));
        let want: Vec<(String, Vec<u8>)> = trimmed.iter().map(|(n, v)| (n.clone(), v.as_bytes().to_vec())).collect();
        prop_assert_eq!(h, want);
        // httparse agrees on what we accept.
        let mut hh = [httparse::EMPTY_HEADER; 16];
        let mut their = httparse::Request::new(&mut hh);
        prop_assert!(matches!(their.parse(&raw), Ok(httparse::Status::Complete(n)) if n == raw.len()));
        prop_assert_eq!(their.method, Some(method.as_str()));
    }

    #[test]
    fn chunked_decoding_survives_any_split(
        chunks in prop::collection::vec(prop::collection::vec(any::<u8>(), 1..300), 0..10),
        split in 1usize..64,
    ) {
        let mut raw = Vec::new();
        for c in &chunks {
            write_chunk(&mut raw, c);
        }
        write_last_chunk(&mut raw, &[Header { name: "X-Sum", value: b"1" }]);
        let (data, done, used) = decode_all(&raw, split).unwrap();
        prop_assert!(done);
        prop_assert_eq!(used, raw.len());
        prop_assert_eq!(data, chunks.concat());
    }

    #[test]
    fn arbitrary_bytes_never_panic_the_parsers(raw in prop::collection::vec(any::<u8>(), 0..600)) {
        let mut h = [Header::default(); 16];
        let _ = parse_request(&raw, &mut h, &L);
        let _ = parse_response(&raw, &mut h, &L);
        let _ = ChunkedDecoder::new(L).decode(&raw);
    }
}
