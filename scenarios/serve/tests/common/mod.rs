//! Shared pieces of the `testbed serve` adversarial suite (raw sockets on loopback against a
//! real server with short deadlines): the server handle, read-until-closed, request helpers for
//! HTTP/1.1, h2, WebSocket and RPC frames, a throwaway TLS identity. Each test file uses some.
#![allow(dead_code)]

pub use std::io::{ErrorKind, Read, Write};
pub use std::net::{SocketAddr, TcpStream};
pub use std::path::PathBuf;
pub use std::thread::JoinHandle;
pub use std::time::Duration;
pub use testbed_protocols::bounded::ServerLimits;
pub use testbed_protocols::rpc::frame::{decode_header, encode, CodecId, FrameHeader, Kind};
pub use testbed_protocols::stop::Stop;
pub use testbed_serve::{serve, Protocol, ServeBackend, ServeOptions, TlsFiles};

/// How long a test waits for the server to act before calling the connection "still open".
pub const CAP: Duration = Duration::from_secs(5);

pub fn quick() -> ServerLimits {
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

pub struct Server {
    pub stop: Stop,
    pub thread: Option<JoinHandle<()>>,
    pub addr: SocketAddr,
}

impl Server {
    pub fn start(proto: Protocol, limits: ServerLimits) -> Server {
        Server::with(proto, limits, None, None, 1)
    }
    pub fn with(
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
    pub fn connect(&self) -> TcpStream {
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
pub fn until_closed(s: &mut TcpStream, what: &str) -> Vec<u8> {
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
pub fn exchange(srv: &Server, raw: &[u8]) -> String {
    let mut s = srv.connect();
    s.write_all(raw).unwrap();
    String::from_utf8_lossy(&until_closed(&mut s, "exchange")).into_owned()
}

pub fn status(resp: &str) -> &str {
    resp.get(9..12).unwrap_or("")
}

// ---- slow clients at every stage ----
pub fn h2_frame(ftype: u8, flags: u8, stream: u32, payload: &[u8]) -> Vec<u8> {
    let n = payload.len() as u32;
    let mut f = vec![(n >> 16) as u8, (n >> 8) as u8, n as u8, ftype, flags];
    f.extend_from_slice(&stream.to_be_bytes());
    f.extend_from_slice(payload);
    f
}

/// The client preface and a SETTINGS frame announcing INITIAL_WINDOW_SIZE = `window`.
pub fn h2_preface(window: u32) -> Vec<u8> {
    let mut out = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".to_vec();
    let mut settings = vec![0, 4];
    settings.extend_from_slice(&window.to_be_bytes());
    out.extend(h2_frame(0x4, 0, 0, &settings));
    out
}

/// HEADERS (END_STREAM, END_HEADERS) for `GET path` on stream `id`, authority "a".
pub fn h2_get(id: u32, path: &str) -> Vec<u8> {
    // :method GET, :scheme http (static table), :authority "a", :path literal (no indexing).
    let mut block = vec![0x82, 0x86, 0x01, 0x01, b'a', 0x04, path.len() as u8];
    block.extend_from_slice(path.as_bytes());
    h2_frame(0x1, 0x5, id, &block)
}

/// Reads frames until `want(type, flags, stream, payload)` says so, acknowledging the
/// server's SETTINGS; panics if the connection closes or nothing matches within [`CAP`].
pub fn h2_until(s: &mut TcpStream, what: &str, want: impl Fn(u8, u8, u32, &[u8]) -> bool) {
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

pub fn test_tls() -> (TlsFiles, tempdir::Dir) {
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

pub mod tempdir {
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

pub const WS_UPGRADE: &[u8] = b"GET / HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n";

pub fn rpc_frame(kind: Kind, id: u64, method: u32, payload: &[u8]) -> Vec<u8> {
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
pub fn read_rpc(s: &mut TcpStream) -> (FrameHeader, Vec<u8>) {
    let mut head = [0u8; 28];
    s.read_exact(&mut head).unwrap();
    let h = decode_header(&head, u32::MAX).unwrap().unwrap();
    let mut p = vec![0u8; h.payload_len as usize];
    s.read_exact(&mut p).unwrap();
    (h, p)
}

pub fn fnv1a64(data: &[u8]) -> u64 {
    data.iter().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

pub fn tool(name: &str) -> Option<()> {
    testbed_testkit::tool(name, &format!("apt-get install {name}")).then_some(())
}
