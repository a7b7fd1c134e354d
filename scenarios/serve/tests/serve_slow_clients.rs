//! `testbed serve` against slow clients at every stage (head, body, idle, preface, TLS hello,
//! upgrade, RPC frame, a client that reads nothing): each stage is closed by its deadline while
//! the test's read still waits (5 s cap, far above the sub-second deadlines configured).

mod common;
use common::*;

#[test]
fn http1_a_stalled_head_gets_408_and_close() {
    let srv = Server::start(Protocol::Http1, quick());
    let mut s = srv.connect();
    s.write_all(b"GET /hello HTTP/1.1\r\nHost: a\r\n").unwrap();
    let got = String::from_utf8_lossy(&until_closed(&mut s, "half a head")).into_owned();
    assert_eq!(status(&got), "408", "{got}");
}

#[test]
fn http1_a_trickled_body_is_closed_by_the_minimum_rate() {
    let srv = Server::start(Protocol::Http1, quick());
    for route in ["/echo", "/upload"] {
        trickle(&srv, route);
    }
}

fn trickle(srv: &Server, route: &str) {
    let mut s = srv.connect();
    let head = format!("POST {route} HTTP/1.1\r\nHost: a\r\nContent-Length: 1000\r\n\r\n");
    s.write_all(head.as_bytes()).unwrap();
    let mut w = s.try_clone().unwrap();
    let writer = std::thread::spawn(move || {
        // One byte every 50 ms (20 B/s against a 1000 B/s minimum) until the server closes.
        for _ in 0..200 {
            if w.write_all(b"x").is_err() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    });
    let got = String::from_utf8_lossy(&until_closed(&mut s, "trickled body")).into_owned();
    assert_eq!(status(&got), "408", "{route}: {got}");
    let _ = s.shutdown(std::net::Shutdown::Both);
    writer.join().unwrap();
}

#[test]
fn http1_an_idle_keep_alive_connection_is_closed() {
    let srv = Server::start(Protocol::Http1, quick());
    let mut s = srv.connect();
    s.write_all(b"GET /hello HTTP/1.1\r\nHost: a\r\n\r\n")
        .unwrap();
    let got = String::from_utf8_lossy(&until_closed(&mut s, "keep-alive")).into_owned();
    assert!(
        got.starts_with("HTTP/1.1 200") && got.ends_with("hello\n"),
        "{got}"
    );
}

#[test]
fn h2_half_a_preface_or_a_preface_alone_is_closed() {
    let srv = Server::start(Protocol::H2, quick());
    let mut s = srv.connect();
    s.write_all(b"PRI * HTTP/2.0\r\n").unwrap();
    until_closed(&mut s, "half a preface");
    let mut s = srv.connect();
    s.write_all(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n").unwrap();
    until_closed(&mut s, "a preface without SETTINGS");
}

#[test]
fn h2_an_idle_connection_gets_goaway_and_close() {
    let srv = Server::start(Protocol::H2, quick());
    let mut s = srv.connect();
    // Preface and an empty SETTINGS, then silence.
    s.write_all(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\x00\x00\x00\x04\x00\x00\x00\x00\x00")
        .unwrap();
    let got = until_closed(&mut s, "idle h2");
    // Frames: type byte at offset 3 of each 9-byte header; a GOAWAY (7) must be among them.
    let mut i = 0;
    let mut types = Vec::new();
    while i + 9 <= got.len() {
        let len = u32::from_be_bytes([0, got[i], got[i + 1], got[i + 2]]) as usize;
        types.push(got[i + 3]);
        i += 9 + len;
    }
    assert!(types.contains(&7), "frame types {types:?}");
}

/// One HTTP/2 frame: type, flags, stream, payload.
#[test]
fn h2_a_stream_blocked_on_flow_control_is_reset_by_the_send_timeout() {
    let lim = ServerLimits {
        send_timeout: Duration::from_millis(300),
        h2_idle: Duration::from_secs(30),
        ..quick()
    };
    let srv = Server::start(Protocol::H2, lim);
    let mut s = srv.connect();
    // A zero stream window: the server can send the response's HEADERS, never its DATA.
    let mut out = h2_preface(0);
    out.extend(h2_get(1, "/"));
    s.write_all(&out).unwrap();
    h2_until(&mut s, "RST_STREAM on the unread stream", |t, _, id, p| {
        t == 0x3 && id == 1 && p == 8u32.to_be_bytes() // CANCEL
    });
    // Only the stream was reset: the connection still answers a PING.
    s.write_all(&h2_frame(0x6, 0, 0, b"12345678")).unwrap();
    h2_until(&mut s, "PING ack after the reset", |t, f, _, p| {
        t == 0x6 && f & 1 == 1 && p == b"12345678"
    });
}

#[test]
fn h2_a_client_that_reads_nothing_is_closed_by_the_send_timeout() {
    let base = tempdir::Dir::new("h2sendto");
    let big = vec![b'z'; 32 << 20];
    std::fs::write(base.0.join("big"), &big).unwrap();
    let lim = ServerLimits {
        send_timeout: Duration::from_millis(500),
        h2_idle: Duration::from_secs(30), // only the send deadline may close it
        ..quick()
    };
    let srv = Server::with(Protocol::H2, lim, Some(base.0.clone()), None, 1);
    let mut s = srv.connect();
    // The largest windows, so that only TCP (a client that does not read) holds the server.
    let mut out = h2_preface(0x7fff_ffff);
    out.extend(h2_frame(
        0x8,
        0,
        0,
        &(0x7fff_ffff - 65_535u32).to_be_bytes(),
    ));
    out.extend(h2_get(1, "/big"));
    s.write_all(&out).unwrap();
    std::thread::sleep(Duration::from_secs(2)); // not reading: the socket buffers fill
    let got = until_closed(&mut s, "an h2 client that reads nothing");
    assert!(
        got.len() < big.len(),
        "the response was cut ({} of {} bytes)",
        got.len(),
        big.len()
    );
}

#[test]
fn tls_half_a_client_hello_is_closed() {
    let (files, _dir) = test_tls();
    for proto in [Protocol::Http1, Protocol::Ws, Protocol::Rpc] {
        let srv = Server::with(proto, quick(), None, Some(files.clone()), 1);
        let mut s = srv.connect();
        // A TLS record header announcing 512 bytes of handshake, and 4 of them.
        s.write_all(&[0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, 0xfc])
            .unwrap();
        until_closed(&mut s, &format!("{proto:?}: half a ClientHello"));
    }
}

#[test]
fn ws_half_an_upgrade_is_closed() {
    let srv = Server::start(Protocol::Ws, quick());
    let mut s = srv.connect();
    s.write_all(&WS_UPGRADE[..40]).unwrap();
    until_closed(&mut s, "half an upgrade");
}

#[test]
fn ws_a_silent_client_is_pinged_then_closed() {
    let srv = Server::start(Protocol::Ws, quick());
    let mut s = srv.connect();
    s.write_all(WS_UPGRADE).unwrap();
    let got = until_closed(&mut s, "silent ws");
    let text = String::from_utf8_lossy(&got);
    assert!(text.starts_with("HTTP/1.1 101"), "{text}");
    let frames = &got[text.find("\r\n\r\n").unwrap() + 4..];
    assert_eq!(frames.first(), Some(&0x89), "a ping first: {frames:?}");
    let ping_len = frames[1] as usize;
    assert_eq!(
        frames.get(2 + ping_len),
        Some(&0x88),
        "then a close: {frames:?}"
    );
    let code = u16::from_be_bytes([frames[4 + ping_len], frames[5 + ping_len]]);
    assert_eq!(code, 1008);
}

#[test]
fn ws_a_client_answering_pings_stays_open() {
    let srv = Server::start(Protocol::Ws, quick());
    let mut s = srv.connect();
    s.write_all(WS_UPGRADE).unwrap();
    let mut head = Vec::new();
    let mut b = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        s.read_exact(&mut b).unwrap();
        head.push(b[0]);
    }
    // Answer three pings (the server pings every 300 ms of silence): still open after.
    for _ in 0..3 {
        let mut h = [0u8; 2];
        s.read_exact(&mut h).unwrap();
        assert_eq!(h[0], 0x89, "a ping");
        let mut data = vec![0u8; h[1] as usize];
        s.read_exact(&mut data).unwrap();
        let mut pong = vec![0x8A, 0x80 | data.len() as u8, 0, 0, 0, 0];
        pong.extend_from_slice(&data); // mask key 0: payload unchanged
        s.write_all(&pong).unwrap();
    }
    // A text message still echoes.
    s.write_all(&[0x81, 0x82, 0, 0, 0, 0, b'h', b'i']).unwrap();
    let mut h = [0u8; 4];
    loop {
        s.read_exact(&mut h[..2]).unwrap();
        let mut data = vec![0u8; h[1] as usize];
        s.read_exact(&mut data).unwrap();
        if h[0] == 0x81 {
            assert_eq!(data, b"hi");
            break;
        }
    }
}

#[test]
fn rpc_half_a_frame_and_an_idle_connection_are_closed() {
    let srv = Server::start(Protocol::Rpc, quick());
    let mut s = srv.connect();
    let f = rpc_frame(Kind::Heartbeat, 1, 0, b"");
    s.write_all(&f[..10]).unwrap();
    until_closed(&mut s, "half an RPC frame");
    let mut s = srv.connect();
    s.write_all(&f).unwrap();
    let (h, _) = read_rpc(&mut s);
    assert_eq!(h.kind, Kind::Heartbeat);
    until_closed(&mut s, "an idle RPC connection");
}

// ---- greedy clients ----

#[test]
fn http1_a_client_that_does_not_read_is_closed_by_the_send_timeout() {
    let base = tempdir::Dir::new("sendto");
    let big = vec![b'z'; 32 << 20];
    std::fs::write(base.0.join("big"), &big).unwrap();
    let lim = ServerLimits {
        send_timeout: Duration::from_millis(500),
        ..quick()
    };
    let srv = Server::with(Protocol::Http1, lim, Some(base.0.clone()), None, 1);
    let mut s = srv.connect();
    s.write_all(b"GET /big HTTP/1.1\r\nHost: a\r\n\r\n")
        .unwrap();
    std::thread::sleep(Duration::from_secs(2)); // not reading: the socket buffers fill
    let got = until_closed(&mut s, "an unread 32 MB response");
    assert!(
        got.len() < big.len(),
        "the response was cut ({} of {} bytes)",
        got.len(),
        big.len()
    );
}

// ---- static files: traversal ----
