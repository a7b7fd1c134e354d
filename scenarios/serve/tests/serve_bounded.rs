//! The adversarial client suite for `testbed serve` (issue 19): raw sockets on loopback
//! against a real server with short deadlines set for the test — slow clients at every
//! stage, greedy clients, traversal and smuggling forms, and the conformance items on the
//! wire. A stage counts as bounded when the server closes the connection while the test's
//! read is still waiting (5 s cap, far above the sub-second deadlines configured).

use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::thread::JoinHandle;
use std::time::Duration;
use testbed_protocols::bounded::ServerLimits;
use testbed_protocols::rpc::frame::{decode_header, encode, CodecId, FrameHeader, Kind};
use testbed_protocols::stop::Stop;
use testbed_serve::{serve, Protocol, ServeBackend, ServeOptions, TlsFiles};

/// How long a test waits for the server to act before calling the connection "still open".
const CAP: Duration = Duration::from_secs(5);

fn quick() -> ServerLimits {
    let ms = Duration::from_millis;
    ServerLimits {
        tls_handshake: ms(300),
        h2_preface: ms(300),
        h2_idle: ms(500),
        ws_upgrade: ms(300),
        ws_ping_interval: ms(300),
        ws_pong_timeout: ms(300),
        header_read: ms(300),
        body_min_rate: 1000,
        body_rate_grace: ms(200),
        request_total: ms(3000),
        idle: ms(500),
        max_body: 64 << 10,
        rpc_frame_read: ms(300),
        rpc_idle: ms(500),
        rpc_outbox_bytes: 2 << 20,
        ..ServerLimits::default()
    }
}

struct Server {
    stop: Stop,
    thread: Option<JoinHandle<()>>,
    addr: SocketAddr,
}

impl Server {
    fn start(proto: Protocol, limits: ServerLimits) -> Server {
        Server::with(proto, limits, None, None, 1)
    }
    fn with(
        proto: Protocol,
        limits: ServerLimits,
        root: Option<PathBuf>,
        tls: Option<TlsFiles>,
        workers: usize,
    ) -> Server {
        let stop = Stop::new();
        let (tx, rx) = std::sync::mpsc::channel();
        let s2 = stop.clone();
        let opts = ServeOptions {
            proto,
            backend: ServeBackend::Kernel,
            listen: "127.0.0.1:0".parse().unwrap(),
            workers,
            root,
            tls,
            limits,
            bound: Some(tx),
        };
        let thread = std::thread::spawn(move || {
            serve(opts, || s2.wait()).expect("serve");
        });
        let addr = rx.recv_timeout(CAP).expect("the server binds");
        Server {
            stop,
            thread: Some(thread),
            addr,
        }
    }
    fn connect(&self) -> TcpStream {
        let s = TcpStream::connect(self.addr).expect("connect");
        s.set_read_timeout(Some(CAP)).unwrap();
        s.set_write_timeout(Some(CAP)).unwrap();
        s
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop.trigger();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Reads until the server closes; panics if it is still open after [`CAP`].
fn until_closed(s: &mut TcpStream, what: &str) -> Vec<u8> {
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match s.read(&mut buf) {
            Ok(0) => return got,
            Ok(n) => got.extend_from_slice(&buf[..n]),
            Err(e) if matches!(e.kind(), ErrorKind::ConnectionReset | ErrorKind::BrokenPipe) => {
                return got
            }
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                panic!(
                    "{what}: still open after {CAP:?} (read so far: {:?})",
                    String::from_utf8_lossy(&got)
                )
            }
            Err(e) => panic!("{what}: {e}"),
        }
    }
}

/// One request on a fresh connection; the whole response (the server closes after it).
fn exchange(srv: &Server, raw: &[u8]) -> String {
    let mut s = srv.connect();
    s.write_all(raw).unwrap();
    String::from_utf8_lossy(&until_closed(&mut s, "exchange")).into_owned()
}

fn status(resp: &str) -> &str {
    resp.get(9..12).unwrap_or("")
}

// ---- slow clients at every stage ----

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
fn h2_frame(ftype: u8, flags: u8, stream: u32, payload: &[u8]) -> Vec<u8> {
    let n = payload.len() as u32;
    let mut f = vec![(n >> 16) as u8, (n >> 8) as u8, n as u8, ftype, flags];
    f.extend_from_slice(&stream.to_be_bytes());
    f.extend_from_slice(payload);
    f
}

/// The client preface and a SETTINGS frame announcing INITIAL_WINDOW_SIZE = `window`.
fn h2_preface(window: u32) -> Vec<u8> {
    let mut out = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".to_vec();
    let mut settings = vec![0, 4];
    settings.extend_from_slice(&window.to_be_bytes());
    out.extend(h2_frame(0x4, 0, 0, &settings));
    out
}

/// HEADERS (END_STREAM, END_HEADERS) for `GET path` on stream `id`, authority "a".
fn h2_get(id: u32, path: &str) -> Vec<u8> {
    // :method GET, :scheme http (static table), :authority "a", :path literal (no indexing).
    let mut block = vec![0x82, 0x86, 0x01, 0x01, b'a', 0x04, path.len() as u8];
    block.extend_from_slice(path.as_bytes());
    h2_frame(0x1, 0x5, id, &block)
}

/// Reads frames until `want(type, flags, stream, payload)` says so, acknowledging the
/// server's SETTINGS; panics if the connection closes or nothing matches within [`CAP`].
fn h2_until(s: &mut TcpStream, what: &str, want: impl Fn(u8, u8, u32, &[u8]) -> bool) {
    let mut seen = Vec::new();
    loop {
        let mut head = [0u8; 9];
        s.read_exact(&mut head)
            .unwrap_or_else(|e| panic!("{what}: {e} (frames so far {seen:?})"));
        let len = u32::from_be_bytes([0, head[0], head[1], head[2]]) as usize;
        let (ftype, flags) = (head[3], head[4]);
        let stream = u32::from_be_bytes([head[5], head[6], head[7], head[8]]) & 0x7fff_ffff;
        let mut payload = vec![0u8; len];
        s.read_exact(&mut payload)
            .unwrap_or_else(|e| panic!("{what}: {e}"));
        seen.push((ftype, stream));
        if ftype == 0x4 && flags & 1 == 0 {
            s.write_all(&h2_frame(0x4, 1, 0, &[])).unwrap();
        }
        if want(ftype, flags, stream, &payload) {
            return;
        }
    }
}

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

fn test_tls() -> (TlsFiles, tempdir::Dir) {
    let dir = tempdir::Dir::new("tls");
    let pki = testbed_protocols::tls::test_pki(
        &["localhost", "127.0.0.1"],
        &mut testbed_model::SeededRng::new(19),
    )
    .unwrap();
    std::fs::write(dir.0.join("cert.pem"), &pki.leaf_pem).unwrap();
    std::fs::write(dir.0.join("key.pem"), &pki.key_pem).unwrap();
    std::fs::write(dir.0.join("ca.pem"), &pki.ca_pem).unwrap();
    (
        TlsFiles {
            cert: dir.0.join("cert.pem"),
            key: dir.0.join("key.pem"),
        },
        dir,
    )
}

mod tempdir {
    /// A directory removed on drop.
    pub struct Dir(pub std::path::PathBuf);
    impl Dir {
        pub fn new(tag: &str) -> Dir {
            let d = std::env::temp_dir().join(format!(
                "testbed-serve-{tag}-{}-{:?}",
                std::process::id(),
                std::thread::current().id()
            ));
            let _ = std::fs::remove_dir_all(&d);
            std::fs::create_dir_all(&d).unwrap();
            Dir(d)
        }
    }
    impl Drop for Dir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
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

const WS_UPGRADE: &[u8] = b"GET / HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n";

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

fn rpc_frame(kind: Kind, id: u64, method: u32, payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    let h = FrameHeader {
        kind,
        codec: CodecId::Json,
        flags: 0,
        message_id: id,
        method_id: method,
        deadline_ms: 0,
        payload_len: payload.len() as u32,
    };
    encode(&mut out, &h, payload);
    out
}

/// Reads one RPC frame: its header and payload.
fn read_rpc(s: &mut TcpStream) -> (FrameHeader, Vec<u8>) {
    let mut head = [0u8; 28];
    s.read_exact(&mut head).unwrap();
    let h = decode_header(&head, u32::MAX).unwrap().unwrap();
    let mut p = vec![0u8; h.payload_len as usize];
    s.read_exact(&mut p).unwrap();
    (h, p)
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
fn fnv1a64(data: &[u8]) -> u64 {
    data.iter().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

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

#[test]
fn static_files_never_leave_the_root() {
    let base = tempdir::Dir::new("static");
    let www = base.0.join("www");
    std::fs::create_dir_all(www.join("sub")).unwrap();
    std::fs::write(www.join("sub/a b.txt"), b"inside\n").unwrap();
    std::fs::write(base.0.join("secret"), b"SECRET\n").unwrap();
    std::os::unix::fs::symlink(base.0.join("secret"), www.join("link")).unwrap();
    let srv = Server::with(Protocol::Http1, quick(), Some(www.clone()), None, 1);
    let get = |path: &str| {
        exchange(
            &srv,
            format!("GET {path} HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n").as_bytes(),
        )
    };
    let r = get("/sub/a%20b.txt");
    assert!(
        r.starts_with("HTTP/1.1 200") && r.ends_with("inside\n"),
        "{r}"
    );
    for bad in [
        "/link",
        "/../secret",
        "/%2e%2e/secret",
        "/sub/..%2f..%2fsecret",
        "/sub%2f..%2f..%2fsecret",
    ] {
        let r = get(bad);
        assert_eq!(status(&r), "403", "{bad}: {r}");
        assert!(!r.contains("SECRET"), "{bad}");
    }
    assert_eq!(status(&get("/nope")), "404");
    assert_eq!(status(&get("/%zz")), "400");
    let index = get("/");
    assert!(
        index.contains("/hello") && index.contains("/echo"),
        "{index}"
    );
}

/// A peer tool the test needs: `None` when missing (skipped through testbed-testkit, which
/// fails instead under `TESTBED_REQUIRE_ALL=1`).
fn tool(name: &str) -> Option<()> {
    testbed_testkit::tool(name, &format!("apt-get install {name}")).then_some(())
}

#[test]
fn static_files_over_h2c_and_h2_over_tls() {
    if tool("curl").is_none() {
        return;
    }
    let base = tempdir::Dir::new("h2files");
    std::fs::write(base.0.join("f.txt"), b"file over h2\n").unwrap();
    let (files, tls_dir) = test_tls();
    let curl = |args: &[&str]| {
        let o = std::process::Command::new("curl")
            .args([
                "-s",
                "--max-time",
                "5",
                "-w",
                "\n%{http_version} %{http_code}",
            ])
            .args(args)
            .output()
            .expect("curl runs");
        String::from_utf8_lossy(&o.stdout).into_owned()
    };
    let h2c = Server::with(Protocol::H2, quick(), Some(base.0.clone()), None, 1);
    let out = curl(&[
        "--http2-prior-knowledge",
        &format!("http://{}/f.txt", h2c.addr),
    ]);
    assert_eq!(out, "file over h2\n\n2 200");
    let out = curl(&["--http2-prior-knowledge", &format!("http://{}/", h2c.addr)]);
    assert!(out.contains("/hello") && out.ends_with("2 200"), "{out}");
    let tls = Server::with(Protocol::H2, quick(), Some(base.0.clone()), Some(files), 1);
    let ca = tls_dir.0.join("ca.pem");
    let out = curl(&[
        "--http2",
        "--cacert",
        ca.to_str().unwrap(),
        &format!("https://localhost:{}/f.txt", tls.addr.port()),
        "--resolve",
        &format!("localhost:{}:127.0.0.1", tls.addr.port()),
    ]);
    assert_eq!(out, "file over h2\n\n2 200");
}

// ---- conformance and smuggling forms on the wire ----

#[test]
fn conformance_items_on_the_wire() {
    let srv = Server::start(Protocol::Http1, quick());
    let cases: &[(&[u8], &str)] = &[
        (b"G ET /hello HTTP/1.1\r\nHost: a\r\n\r\n", "400"),
        (b"GET /hel lo HTTP/1.1\r\nHost: a\r\n\r\n", "400"),
        (b"GET /hello HTTP/1.2\r\nHost: a\r\nConnection: close\r\n\r\n", "200"),
        (b"GET http://a/hello HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n", "200"),
        (b"GET /hello HTTP/1.1\r\nHost: a b\r\n\r\n", "400"),
        (b"GET /hello HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", "400"),
        (
            b"POST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\nGET /admin HTTP/1.1\r\n\r\n",
            "400",
        ),
        (
            b"POST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n3 ;x=1\r\nabc\r\n0\r\n\r\n",
            "200",
        ),
        (
            b"POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n",
            "400",
        ),
        (b"GET /hello HTTP/1.1\r\nHost : a\r\n\r\n", "400"),
    ];
    for (raw, want) in cases {
        let r = exchange(&srv, raw);
        assert_eq!(status(&r), *want, "{}\n→ {r}", String::from_utf8_lossy(raw));
    }
    let ws = Server::start(Protocol::Ws, quick());
    let no_version = b"GET / HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n";
    let r = exchange(&ws, no_version);
    assert_eq!(status(&r), "426", "{r}");
    assert!(r.contains("Sec-WebSocket-Version: 13"), "{r}");
    let no_host = String::from_utf8_lossy(WS_UPGRADE).replace("Host: a\r\n", "");
    assert_eq!(status(&exchange(&ws, no_host.as_bytes())), "400");
    let body =
        String::from_utf8_lossy(WS_UPGRADE).replace("\r\n\r\n", "\r\nContent-Length: 2\r\n\r\nhi");
    assert_eq!(status(&exchange(&ws, body.as_bytes())), "400");
}

#[test]
fn rpc_workers_share_one_store() {
    let srv = Server::with(Protocol::Rpc, quick(), None, None, 4);
    let mut first = srv.connect();
    let put = serde_json::to_vec(&("shared", "yes")).unwrap();
    first
        .write_all(&rpc_frame(Kind::Request, 1, 4, &put))
        .unwrap();
    assert_eq!(read_rpc(&mut first).0.kind, Kind::Response);
    for i in 0..16 {
        let mut s = srv.connect();
        s.write_all(&rpc_frame(Kind::Request, i, 3, b"\"shared\""))
            .unwrap();
        let (h, p) = read_rpc(&mut s);
        assert_eq!(h.kind, Kind::Response);
        assert_eq!(p, b"\"yes\"", "connection {i}");
    }
}
