//! `testbed serve` against greedy clients: over the connection cap, bodies over the cap,
//! streamed uploads, RPC clients that do not read their replies.

mod common;
use common::*;

#[test]
fn over_the_cap_connections_are_refused_and_places_come_back() {
    let lim = ServerLimits {
        max_connections: 4,
        idle: Duration::from_secs(30),
        ..quick()
    };
    let srv = Server::start(Protocol::Http1, lim);
    let held: Vec<TcpStream> = (0..4).map(|_| srv.connect()).collect();
    // Give the server the four first (accept order), then one more: closed unanswered.
    std::thread::sleep(Duration::from_millis(100));
    let mut extra = srv.connect();
    let _ = extra.write_all(b"GET /hello HTTP/1.1\r\nHost: a\r\n\r\n");
    let got = until_closed(&mut extra, "over the cap");
    assert!(got.is_empty(), "refused without an answer: {got:?}");
    drop(held);
    // The places come back once the server sees the four closes.
    let mut answered = false;
    for _ in 0..50 {
        let r = exchange(
            &srv,
            b"GET /hello HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n",
        );
        if r.starts_with("HTTP/1.1 200") {
            answered = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(
        answered,
        "a connection is served again after the others closed"
    );
}

#[test]
fn a_body_over_the_cap_is_413() {
    let srv = Server::start(Protocol::Http1, quick());
    let r = exchange(
        &srv,
        b"POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 1000000\r\n\r\n",
    );
    assert_eq!(status(&r), "413", "{r}");
    let r = exchange(
        &srv,
        b"POST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n100000\r\n",
    );
    assert_eq!(status(&r), "413", "{r}");
}

/// FNV-1a 64 of `data`, as `POST /upload` reports it.
#[test]
fn uploads_are_streamed_to_the_handler_with_the_cap_kept() {
    let lim = ServerLimits {
        max_body: 1 << 20,
        ..quick()
    };
    let body: Vec<u8> = (0..(900u32 << 10)).map(|i| (i * 7 % 251) as u8).collect();
    let want = format!(
        "received {} bytes, fnv1a64 {:016x}\n",
        body.len(),
        fnv1a64(&body)
    );
    let srv = Server::start(Protocol::Http1, lim);
    // Content-Length.
    let mut raw = format!(
        "POST /upload HTTP/1.1\r\nHost: a\r\nConnection: close\r\nContent-Length: {}\r\n\r\n",
        body.len()
    )
    .into_bytes();
    raw.extend_from_slice(&body);
    let r = exchange(&srv, &raw);
    assert!(r.starts_with("HTTP/1.1 200") && r.ends_with(&want), "{r}");
    // Chunked, in uneven chunks.
    let mut raw =
        b"POST /upload HTTP/1.1\r\nHost: a\r\nConnection: close\r\nTransfer-Encoding: chunked\r\n\r\n"
            .to_vec();
    for c in body.chunks(70_001) {
        raw.extend_from_slice(format!("{:x}\r\n", c.len()).as_bytes());
        raw.extend_from_slice(c);
        raw.extend_from_slice(b"\r\n");
    }
    raw.extend_from_slice(b"0\r\n\r\n");
    let r = exchange(&srv, &raw);
    assert!(r.starts_with("HTTP/1.1 200") && r.ends_with(&want), "{r}");
    // Over the cap, declared or chunked: 413.
    let r = exchange(
        &srv,
        b"POST /upload HTTP/1.1\r\nHost: a\r\nContent-Length: 2000000\r\n\r\n",
    );
    assert_eq!(status(&r), "413", "{r}");
    let mut raw =
        b"POST /upload HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n".to_vec();
    for _ in 0..40 {
        raw.extend_from_slice(b"8000\r\n");
        raw.extend_from_slice(&[b'u'; 0x8000]);
        raw.extend_from_slice(b"\r\n");
    }
    let r = exchange(&srv, &raw);
    assert_eq!(status(&r), "413", "{r}");
    // HTTP/2 (curl): the same answer, and 413 over the cap.
    if tool("curl").is_none() {
        return;
    }
    let h2 = Server::start(Protocol::H2, lim);
    let dir = tempdir::Dir::new("upload");
    std::fs::write(dir.0.join("body"), &body).unwrap();
    std::fs::write(dir.0.join("big"), vec![b'u'; (1 << 20) + 1]).unwrap();
    let curl = |file: &str| {
        let o = std::process::Command::new("curl")
            .args([
                "-s",
                "--max-time",
                "5",
                "--http2-prior-knowledge",
                "-w",
                "%{http_code}",
            ])
            .arg("--data-binary")
            .arg(format!("@{}", dir.0.join(file).display()))
            .arg(format!("http://{}/upload", h2.addr))
            .output()
            .expect("curl runs");
        String::from_utf8_lossy(&o.stdout).into_owned()
    };
    assert_eq!(curl("body"), format!("{want}200"));
    assert!(curl("big").ends_with("413"));
}

#[test]
fn rpc_stops_reading_when_replies_are_not_read() {
    let srv = Server::start(
        Protocol::Rpc,
        ServerLimits {
            rpc_idle: Duration::from_secs(2),
            rpc_frame_read: Duration::from_secs(30),
            ..quick()
        },
    );
    let mut s = srv.connect();
    let value = "v".repeat(256 << 10);
    let put = serde_json::to_vec(&("k", &value)).unwrap();
    s.write_all(&rpc_frame(Kind::Request, 1, 4, &put)).unwrap();
    let (h, _) = read_rpc(&mut s);
    assert_eq!(h.kind, Kind::Response);
    // Pipelined gets of the 256 KB value, never reading a reply: without backpressure the
    // server would read them all and queue a 256 KB reply each; with it, it stops reading
    // once 2 MB of replies wait, and our writes stall.
    s.set_write_timeout(Some(Duration::from_millis(1500)))
        .unwrap();
    let get = rpc_frame(Kind::Request, 2, 3, &serde_json::to_vec("k").unwrap());
    let batch: Vec<u8> = get.iter().copied().cycle().take(get.len() * 1000).collect();
    let mut sent = 0usize;
    let stalled = loop {
        match s.write(&batch) {
            Ok(n) => sent += n,
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                break true
            }
            Err(e) => panic!("{e}"),
        }
        if sent > 64 << 20 {
            break false; // 64 MB of requests (far past the socket buffers): it keeps reading
        }
    };
    assert!(
        stalled,
        "the server read {sent} bytes of requests without stalling"
    );
    // Still not reading: the server gives up on us after its idle period. What was written
    // before is still readable, then the end — not the replies to all we sent.
    std::thread::sleep(Duration::from_secs(3));
    let mut buf = vec![0u8; 1 << 20];
    let mut read = 0usize;
    loop {
        match s.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => read += n,
            Err(e) if matches!(e.kind(), ErrorKind::ConnectionReset) => break,
            Err(e) => panic!("still open: {e}"),
        }
        assert!(read < 256 << 20, "the server kept answering: {read} bytes");
    }
}
