//! The HTTP/1.1 and WebSocket-upgrade conformance items of issue 19, one assertion each
//! (each failed on the parser before the fix).

use testbed_protocols::http1::*;
use testbed_protocols::ws::{validate_client_request, HandshakeError};

fn parse(raw: &[u8]) -> Result<(String, Version, BodyKind), ParseError> {
    let mut h = [Header::default(); 32];
    let l = Limits::default();
    match parse_request(raw, &mut h, &l)? {
        Status::Complete(r) => Ok((r.target.to_string(), r.version, request_body(&r, &l)?)),
        Status::Partial => panic!("partial: {}", String::from_utf8_lossy(raw)),
    }
}

#[test]
fn a_space_inside_the_method_or_target_is_400_not_505() {
    for raw in [
        &b"G ET / HTTP/1.1\r\nHost: a\r\n\r\n"[..],
        b"GET /a b HTTP/1.1\r\nHost: a\r\n\r\n",
        b"GET / HTTP/1.x\r\nHost: a\r\n\r\n",
        b"GET / HTTPS/1.1\r\nHost: a\r\n\r\n",
    ] {
        let e = parse(raw).unwrap_err();
        assert_eq!(
            e,
            ParseError::InvalidRequestLine,
            "{}",
            String::from_utf8_lossy(raw)
        );
        assert_eq!(e.status(), 400);
    }
    // A well-formed version with another major number stays 505.
    assert_eq!(parse(b"GET / HTTP/2.0\r\n\r\n").unwrap_err().status(), 505);
}

#[test]
fn a_higher_minor_version_is_read_as_1_1() {
    let (_, v, _) = parse(b"GET / HTTP/1.2\r\nHost: a\r\n\r\n").unwrap();
    assert_eq!(v, Version::Http11);
    let (_, v, _) = parse(b"GET / HTTP/1.9\r\nHost: a\r\n\r\n").unwrap();
    assert_eq!(v, Version::Http11);
}

#[test]
fn absolute_form_targets_are_accepted_and_routed_by_path() {
    let (target, _, _) =
        parse(b"GET http://example.com/hello?x=1 HTTP/1.1\r\nHost: example.com\r\n\r\n").unwrap();
    let req = OwnedRequest {
        method: "GET".into(),
        target,
        version: Version::Http11,
        headers: vec![],
        body: vec![],
    };
    assert_eq!(req.path(), "/hello");
    for (t, p) in [
        ("HTTP://h", "/"),
        ("https://h:8443?q", "/"),
        ("http://h/a/b", "/a/b"),
        ("/plain?q", "/plain"),
    ] {
        let r = OwnedRequest {
            target: t.into(),
            ..req.clone()
        };
        assert_eq!(r.path(), p, "{t}");
    }
}

#[test]
fn invalid_host_values_are_400() {
    for ok in [
        "a",
        "example.com:8080",
        "[::1]:80",
        "127.0.0.1",
        "",
        "a-b.c_d~",
    ] {
        let raw = format!("GET / HTTP/1.1\r\nHost: {ok}\r\n\r\n");
        assert!(parse(raw.as_bytes()).is_ok(), "{ok:?} is a valid Host");
    }
    for bad in [
        "a b", "a/b", "a@b", "a:b", "a:123456", "[::1", "[zz]", "a:80:80", "a\"b",
    ] {
        let raw = format!("GET / HTTP/1.1\r\nHost: {bad}\r\n\r\n");
        let e = parse(raw.as_bytes()).unwrap_err();
        assert_eq!(e, ParseError::BadHost, "{bad:?}");
        assert_eq!(e.status(), 400);
    }
    let two = b"GET / HTTP/1.0\r\nHost: a\r\nHost: b\r\n\r\n";
    assert_eq!(
        parse(two).unwrap_err(),
        ParseError::BadHost,
        "two Hosts, even in 1.0"
    );
}

fn chunked(raw: &[u8]) -> Result<Vec<u8>, ParseError> {
    let mut d = ChunkedDecoder::new(Limits::default());
    let mut out = Vec::new();
    let mut pos = 0;
    while !d.is_done() {
        let r = d.decode(&raw[pos..])?;
        out.extend_from_slice(r.data);
        pos += r.consumed;
        assert!(r.consumed > 0 || d.is_done(), "no progress");
    }
    Ok(out)
}

#[test]
fn trailer_lines_must_be_header_fields() {
    assert_eq!(
        chunked(b"3\r\nabc\r\n0\r\nX-Sum: 1\r\nExpires: never\r\n\r\n").unwrap(),
        b"abc"
    );
    for bad in [
        &b"3\r\nabc\r\n0\r\nGET /admin HTTP/1.1\r\n\r\n"[..], // a request line smuggled in
        b"3\r\nabc\r\n0\r\nNoColon\r\n\r\n",
        b"3\r\nabc\r\n0\r\n: empty-name\r\n\r\n",
        b"3\r\nabc\r\n0\r\nX-A: 1\r\n folded\r\n\r\n",
        b"3\r\nabc\r\n0\r\nX A: 1\r\n\r\n",
    ] {
        let e = chunked(bad).unwrap_err();
        assert_eq!(
            e,
            ParseError::InvalidTrailer,
            "{}",
            String::from_utf8_lossy(bad)
        );
        assert_eq!(e.status(), 400);
    }
}

#[test]
fn whitespace_before_a_chunk_extension_is_accepted() {
    assert_eq!(
        chunked(b"3 ;ext=1\r\nabc\r\n0\t ; x\r\n\r\n").unwrap(),
        b"abc"
    );
    // ...but not whitespace that ends the size line, nor inside the size.
    assert!(chunked(b"3 \r\nabc\r\n0\r\n\r\n").is_err());
    assert!(chunked(b"1 2\r\nabc\r\n0\r\n\r\n").is_err());
}

fn upgrade(extra: &str) -> Result<(), HandshakeError> {
    let raw = format!(
        "GET /chat HTTP/1.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n{extra}\r\n"
    );
    let mut h = [Header::default(); 32];
    let Ok(Status::Complete(r)) = parse_request(raw.as_bytes(), &mut h, &Limits::default()) else {
        panic!("{raw}");
    };
    validate_client_request(&r).map(|_| ())
}

#[test]
fn websocket_upgrades_need_one_host_and_no_body() {
    assert_eq!(upgrade("Host: a\r\nSec-WebSocket-Version: 13\r\n"), Ok(()));
    assert_eq!(
        upgrade("Sec-WebSocket-Version: 13\r\n"),
        Err(HandshakeError::BadHost)
    );
    assert_eq!(
        upgrade("Host: a\r\nHost: b\r\nSec-WebSocket-Version: 13\r\n"),
        Err(HandshakeError::BadHost)
    );
    assert_eq!(
        upgrade("Host: a\r\nSec-WebSocket-Version: 13\r\nContent-Length: 5\r\n"),
        Err(HandshakeError::Body)
    );
    assert_eq!(
        upgrade("Host: a\r\nSec-WebSocket-Version: 13\r\nTransfer-Encoding: chunked\r\n"),
        Err(HandshakeError::Body)
    );
    let v = upgrade("Host: a\r\n").unwrap_err();
    assert_eq!((v, v.status()), (HandshakeError::BadVersion, 426));
}
