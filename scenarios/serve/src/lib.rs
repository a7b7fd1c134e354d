//! testbed-serve — `testbed serve`: a protocol server on its own, on a real backend, for real clients
//! (curl, wrk, h2load, nghttp, openssl, browsers, Autobahn). HTTP/1.1 and HTTP/2 serve
//! `/hello`, `POST /echo` and static files from a root directory; WebSocket echoes every
//! message; RPC serves the example service. With TLS (`--tls CERT KEY`) HTTP/1.1 and HTTP/2
//! share the port by ALPN, WebSocket becomes wss and RPC runs over TLS.
//!
//! Every server runs under one bounded policy ([`ServerLimits`]): a connection cap shared by
//! the workers, a deadline for every stage, capped bodies and outboxes, and accept loops that
//! back off on EMFILE. `docs/serve.md` lists the defaults.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod static_files;
pub use static_files::{percent_decode, Confinement, StaticError, StaticFile, StaticRoot};

use std::future::Future;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::sync::Arc;
use testbed_contract::RunError;
use testbed_kernel::{Kernel, KernelStream, PortReservation};
use testbed_model::runtime::timeout_at;
use testbed_model::SeededRng;
use testbed_model::{Net, Runtime};
use testbed_protocols::bounded::{accept_loop, ConnGate, ServerLimits};
use testbed_protocols::h2::{self, H2Config};
use testbed_protocols::http1::{
    self, OwnedRequest as Request, OwnedResponse as Response, Router, ServerConfig,
};
use testbed_protocols::https::HttpsApp;
use testbed_protocols::quic;
use testbed_protocols::rpc::{example::SharedStore, RpcLimits};
use testbed_protocols::tls::{self, Clock, Entropy, ALPN_H2, ALPN_HTTP11};
use testbed_protocols::ws::{self, Event, WsLimits};

/// Which server.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Protocol {
    /// HTTP/1.1 (and HTTP/2 by ALPN under TLS).
    Http1,
    /// HTTP/2: h2c with prior knowledge, or h2 by ALPN under TLS (HTTP/1.1 as fallback).
    H2,
    /// HTTP/3 over QUIC (needs TLS).
    H3,
    /// WebSocket echo.
    Ws,
    /// The example RPC service (add, sub, kv).
    Rpc,
}

impl std::str::FromStr for Protocol {
    type Err = RunError;
    fn from_str(s: &str) -> Result<Self, RunError> {
        match s {
            "http1" => Ok(Protocol::Http1),
            "h2" => Ok(Protocol::H2),
            "h3" => Ok(Protocol::H3),
            "ws" => Ok(Protocol::Ws),
            "rpc" => Ok(Protocol::Rpc),
            other => Err(RunError::Setup(format!(
                "unknown protocol {other:?}; protocols: http1, h2, h3, ws, rpc"
            ))),
        }
    }
}

/// The routes every HTTP server here answers (the index at `/` lists them).
const ROUTES: &[(&str, &str, &str)] = &[
    ("GET", "/", "this index"),
    ("GET", "/hello", "a short text"),
    ("POST", "/echo", "the request body back"),
    (
        "POST",
        "/upload",
        "the body's length and FNV-1a hash (streamed, not held)",
    ),
];

/// The index page: the routes, and whether static files are served.
fn index(root: Option<&StaticRoot>) -> Response {
    let mut page = String::from("testbed serve\n\n");
    for (m, p, what) in ROUTES {
        page.push_str(&format!("{m:<5} {p:<8} {what}\n"));
    }
    match root {
        Some(_) => page.push_str("GET   /<path>  a file under --root\n"),
        None => page.push_str("(no --root: static files are off)\n"),
    }
    Response::text(200, page)
}

/// The HTTP application: `/`, `/hello`, `POST /echo`, `POST /upload` (streamed), then
/// static files under `root`.
fn http_app(root: Option<StaticRoot>) -> HttpApp {
    let router = Router::new()
        .route("GET", "/hello", |_r| async {
            Response::text(200, "hello\n")
        })
        .route("POST", "/echo", |r: Request| async move {
            Response::text(200, r.body)
        });
    HttpApp { router, root }
}

/// See [`http_app`].
struct HttpApp {
    router: Router,
    root: Option<StaticRoot>,
}

impl http1::Handler for HttpApp {
    async fn handle(&self, req: Request) -> Response {
        let get = matches!(req.method.as_str(), "GET" | "HEAD");
        if get && req.path() == "/" {
            return index(self.root.as_ref());
        }
        if let (Some(root), true) = (&self.root, get) {
            if !ROUTES.iter().any(|(_, p, _)| *p == req.path()) {
                return match root.open(req.path()) {
                    Ok(f) => Response::opened_file(f.file, f.path, f.len),
                    Err(e) => Response::text(e.status(), format!("{e}\n")),
                };
            }
        }
        self.router.handle(req).await
    }
    fn body_sink(&self, req: &Request) -> Option<Box<dyn http1::BodySink>> {
        (req.method == "POST" && req.path() == "/upload").then(|| Box::new(Upload::new()) as _)
    }
}

/// `POST /upload`: takes the body chunk by chunk, keeping only its length and FNV-1a hash.
struct Upload {
    len: u64,
    hash: u64,
}

impl Upload {
    fn new() -> Upload {
        Upload {
            len: 0,
            hash: 0xcbf2_9ce4_8422_2325,
        }
    }
}

impl http1::BodySink for Upload {
    fn chunk(&mut self, data: &[u8]) -> Result<(), u16> {
        for b in data {
            self.hash = (self.hash ^ u64::from(*b)).wrapping_mul(0x0000_0100_0000_01b3);
        }
        self.len += data.len() as u64;
        Ok(())
    }
    fn finish(self: Box<Self>, _req: Request) -> Response {
        Response::text(
            200,
            format!("received {} bytes, fnv1a64 {:016x}\n", self.len, self.hash),
        )
    }
}

/// Largest file served over HTTP/2 and HTTP/3 (read into memory: those paths have no
/// sendfile hook).
const MAX_IN_MEMORY_FILE: u64 = 64 << 20;

/// `inner`, with file responses read into memory (for HTTP/2 and HTTP/3).
struct InMemoryFiles<H>(Rc<H>);

impl<H: http1::Handler> http1::Handler for InMemoryFiles<H> {
    async fn handle(&self, req: Request) -> Response {
        let mut resp = self.0.handle(req).await;
        if let Some(file) = resp.file.take() {
            if file.len > MAX_IN_MEMORY_FILE {
                return Response::text(500, "file too large for HTTP/2 and HTTP/3 here\n");
            }
            let mut body = Vec::with_capacity(file.len as usize);
            let read = file.open().and_then(|f| {
                use std::io::Read;
                (&*f).take(file.len).read_to_end(&mut body)
            });
            match read {
                Ok(n) if n as u64 == file.len => resp.body = body,
                _ => return Response::text(500, "read failed\n"),
            }
        }
        resp
    }
    fn body_sink(&self, req: &Request) -> Option<Box<dyn http1::BodySink>> {
        self.0.body_sink(req)
    }
}

/// The file hook of `testbed serve`: sendfile with TCP_CORK around head and body on plain
/// kernel sockets; a read/write copy loop on anything else (TLS streams, where the bytes must
/// pass through the encryption in user space anyway). Sends exactly `len` bytes, or fails.
struct ServeFiles;

impl http1::FileSender for ServeFiles {
    async fn send_file<S: testbed_model::Stream>(
        &self,
        stream: &mut S,
        head: &[u8],
        file: &http1::FileBody,
    ) -> std::io::Result<()> {
        use std::io::Read;
        use tokio::io::AsyncWriteExt;
        let f = file.open()?;
        let mut f = &*f;
        if let Some(k) = (stream as &mut dyn std::any::Any).downcast_mut::<KernelStream>() {
            let r = testbed_kernel::zerocopy::send_file(k, head, f, 0..file.len).await?;
            return if r.bytes == head.len() as u64 + file.len {
                Ok(())
            } else {
                Err(std::io::ErrorKind::UnexpectedEof.into())
            };
        }
        stream.write_all(head).await?;
        let mut left = file.len;
        let mut buf = vec![0u8; 64 * 1024];
        while left > 0 {
            let want = left.min(buf.len() as u64) as usize;
            let n = f.read(&mut buf[..want])?;
            if n == 0 {
                return Err(std::io::ErrorKind::UnexpectedEof.into()); // the file shrank
            }
            stream.write_all(&buf[..n]).await?;
            left -= n as u64;
        }
        Ok(())
    }
}

/// Echoes WebSocket messages; the upgrade must complete within `lim.ws_upgrade`, and a
/// client silent for `ws_ping_interval` is pinged and closed if still silent
/// `ws_pong_timeout` later.
async fn ws_echo<R: Runtime, S: testbed_model::Stream>(rt: R, s: S, lim: ServerLimits) {
    let Ok(mut w) = ws::accept_within(&rt, s, WsLimits::default(), lim.ws_upgrade).await else {
        return;
    };
    let mut pinged = false;
    loop {
        let wait = if pinged {
            lim.ws_pong_timeout
        } else {
            lim.ws_ping_interval
        };
        let quiet = std::pin::pin!(rt.sleep(wait));
        let ev = match w.recv_or(&rt, quiet).await {
            Ok(ws::Next::Event(ev)) => ev,
            Ok(ws::Next::Other(())) if pinged => {
                let _ = w.close(ws::CloseCode::POLICY, "no pong").await;
                return;
            }
            Ok(ws::Next::Other(())) => {
                pinged = true;
                if w.ping(b"liveness").await.is_err() {
                    return;
                }
                continue;
            }
            Err(_) => return,
        };
        pinged = false;
        let sent = match ev {
            Event::Text(t) => w.send_text(&t).await,
            Event::Binary(b) => w.send_binary(&b).await,
            Event::Close(_) => return,
            _ => Ok(()),
        };
        if sent.is_err() {
            return;
        }
    }
}

/// Which real backend serves.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ServeBackend {
    /// tokio on epoll, thread per core.
    Kernel,
    /// io_uring, a ring per worker thread.
    Uring,
}

/// A certificate chain and key in PEM files.
#[derive(Clone, Debug)]
pub struct TlsFiles {
    /// The certificate chain (leaf first).
    pub cert: PathBuf,
    /// The private key (PKCS#8, PKCS#1 or SEC1).
    pub key: PathBuf,
}

type PemPair = (
    Vec<rustls::pki_types::CertificateDer<'static>>,
    rustls::pki_types::PrivateKeyDer<'static>,
);

/// The certificate chain and key in `files`.
fn load_pem(files: &TlsFiles) -> Result<PemPair, RunError> {
    let setup = |what: &str, e: &dyn std::fmt::Display| RunError::Setup(format!("{what}: {e}"));
    let pem = |p: &Path| std::fs::read(p).map_err(|e| setup(&p.display().to_string(), &e));
    let certs = rustls_pemfile::certs(&mut pem(&files.cert)?.as_slice())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| setup("certificate PEM", &e))?;
    if certs.is_empty() {
        return Err(RunError::Setup(format!(
            "no certificate in {}",
            files.cert.display()
        )));
    }
    let key = rustls_pemfile::private_key(&mut pem(&files.key)?.as_slice())
        .map_err(|e| setup("key PEM", &e))?
        .ok_or_else(|| RunError::Setup(format!("no private key in {}", files.key.display())))?;
    Ok((certs, key))
}

/// The server's TLS config from PEM files, offering `alpn` (OS randomness, system clock).
pub fn load_tls(files: &TlsFiles, alpn: &[&[u8]]) -> Result<Arc<rustls::ServerConfig>, RunError> {
    let (certs, key) = load_pem(files)?;
    tls::server_config(certs, key, alpn, Entropy::System, &Clock::System)
        .map_err(|e| RunError::Setup(format!("TLS: {e}")))
}

/// HTTP/3 on `listen` (one worker: a QUIC endpoint owns its UDP socket) until `shutdown`.
fn serve_h3<F, Fut>(
    listen: SocketAddr,
    root: Option<StaticRoot>,
    files: &TlsFiles,
    shutdown: F,
) -> Result<(), RunError>
where
    F: Fn() -> Fut + Sync,
    Fut: Future<Output = ()> + 'static,
{
    let (certs, key) = load_pem(files)?;
    let seed = testbed_kernel::os_seed().map_err(|e| RunError::Setup(format!("entropy: {e}")))?;
    let cfg = quic::server_config(
        certs,
        key,
        &[quic::ALPN_H3],
        Entropy::System,
        &Clock::System,
        &mut SeededRng::new(seed),
    )
    .map_err(|e| RunError::Setup(e.to_string()))?;
    let sock = std::net::UdpSocket::bind(listen)
        .map_err(|e| RunError::Setup(format!("bind udp {listen}: {e}")))?;
    let addr = sock
        .local_addr()
        .map_err(|e| RunError::Setup(e.to_string()))?;
    println!("serving H3 (QUIC) on {addr} with 1 worker(s); Ctrl-C stops");
    let kernel = Kernel::builder().workers(1).build();
    let sock = std::sync::Mutex::new(Some(sock));
    let cfg = std::sync::Mutex::new(Some(cfg));
    let results = kernel.run(|w| {
        let (sock, cfg) = (
            sock.lock().ok().and_then(|mut s| s.take()),
            cfg.lock().ok().and_then(|mut c| c.take()),
        );
        let root = root.clone();
        let stop = shutdown();
        async move {
            let (Some(sock), Some(cfg)) = (sock, cfg) else {
                return Err("one worker only".to_string());
            };
            let ep = quinn::Endpoint::new(
                quinn::EndpointConfig::default(),
                Some(cfg),
                sock,
                Arc::new(quinn::TokioRuntime),
            )
            .map_err(|e| e.to_string())?;
            let server = w.spawn(quic::h3_serve(
                w.clone(),
                ep.clone(),
                Rc::new(InMemoryFiles(Rc::new(http_app(root)))),
            ));
            stop.await;
            ep.close(0u32.into(), b"shutting down");
            w.sleep(testbed_model::Duration::from_millis(100)).await;
            server.abort();
            Ok::<_, String>(())
        }
    });
    for r in results {
        r.map_err(|e| RunError::Setup(e.to_string()))?
            .map_err(RunError::Setup)?;
    }
    println!("stopped");
    Ok(())
}

/// Handshakes TLS on `s` (within `lim.tls_handshake`), then serves HTTP/2 or HTTP/1.1 as
/// ALPN chose.
async fn https_conn<R: Runtime, S: testbed_model::Stream, Hd: http1::Handler>(
    rt: R,
    s: S,
    cfg: Arc<rustls::ServerConfig>,
    handler: Rc<Hd>,
    shutdown: h2::Shutdown,
    lim: ServerLimits,
) {
    let Some(t) = tls_within(&rt, cfg, s, &lim).await else {
        return;
    };
    let app = HttpsApp {
        http1: &*handler,
        http1_config: ServerConfig::from_limits(&lim),
        files: &ServeFiles,
        h2: Rc::new(InMemoryFiles(Rc::clone(&handler))),
        h2_config: H2Config::from_limits(&lim),
        shutdown,
    };
    app.serve(&rt, t).await;
}

/// The TLS handshake on `s`, or `None` if it fails or misses `lim.tls_handshake`.
async fn tls_within<R: Runtime, S: testbed_model::Stream>(
    rt: &R,
    cfg: Arc<rustls::ServerConfig>,
    s: S,
    lim: &ServerLimits,
) -> Option<tls::TlsStream<S>> {
    let deadline = rt.now().saturating_add(lim.tls_handshake);
    timeout_at(rt, deadline, tls::accept(cfg, s))
        .await
        .ok()?
        .ok()
}

/// What a worker serves with: the policy, the connection gate all workers share, and the
/// RPC store all workers share.
#[derive(Clone)]
struct Shared {
    lim: ServerLimits,
    gate: ConnGate,
    store: SharedStore,
}

/// One worker's server for `proto` on listener `l` (any backend), until `stop` completes;
/// then GOAWAY to HTTP/2 clients and teardown.
async fn serve_worker<W: Net + Runtime>(
    w: W,
    l: W::Listener,
    proto: Protocol,
    root: Option<StaticRoot>,
    tls_cfg: Option<Arc<rustls::ServerConfig>>,
    shared: Shared,
    stop: impl Future<Output = ()>,
) -> Result<(), String> {
    let w2 = w.clone();
    let h2_shutdown = h2::Shutdown::new();
    let Shared { lim, gate, store } = shared;
    let server = match (proto, tls_cfg) {
        (Protocol::Http1 | Protocol::H2, Some(cfg)) => {
            let handler = Rc::new(http_app(root));
            let sd = h2_shutdown.clone();
            w.spawn(async move {
                accept_loop(&w2, &l, &gate, &lim, |s, permit| {
                    let c =
                        https_conn(w2.clone(), s, cfg.clone(), handler.clone(), sd.clone(), lim);
                    drop(w2.spawn(async move {
                        c.await;
                        drop(permit);
                    }));
                })
                .await
            })
        }
        (Protocol::H2, None) => {
            let handler = Rc::new(InMemoryFiles(Rc::new(http_app(root))));
            let (sd, cfg) = (h2_shutdown.clone(), H2Config::from_limits(&lim));
            w.spawn(async move {
                accept_loop(&w2, &l, &gate, &lim, |s, permit| {
                    let (w3, hd, sd) = (w2.clone(), handler.clone(), sd.clone());
                    drop(w2.spawn(async move {
                        let _ = h2::serve_connection(&w3, s, hd, &cfg, sd).await;
                        drop(permit);
                    }));
                })
                .await
            })
        }
        (Protocol::Http1, None) => {
            let handler = Rc::new(http_app(root));
            let cfg = ServerConfig::from_limits(&lim);
            w.spawn(async move {
                accept_loop(&w2, &l, &gate, &lim, |s, permit| {
                    let (w3, hd) = (w2.clone(), handler.clone());
                    drop(w2.spawn(async move {
                        http1::connection(&w3, s, &*hd, &cfg, &ServeFiles).await;
                        drop(permit);
                    }));
                })
                .await
            })
        }
        (Protocol::Ws, tls_cfg) => w.spawn(async move {
            accept_loop(&w2, &l, &gate, &lim, |s, permit| {
                let (w3, cfg) = (w2.clone(), tls_cfg.clone());
                drop(w2.spawn(async move {
                    match cfg {
                        Some(cfg) => {
                            if let Some(t) = tls_within(&w3, cfg, s, &lim).await {
                                ws_echo(w3, t, lim).await;
                            }
                        }
                        None => ws_echo(w3, s, lim).await,
                    }
                    drop(permit);
                }));
            })
            .await
        }),
        (Protocol::Rpc, tls_cfg) => {
            let server = Rc::new(testbed_protocols::rpc::example::server_with(store));
            let rpc_lim = RpcLimits::from_limits(&lim);
            w.spawn(async move {
                accept_loop(&w2, &l, &gate, &lim, |s, permit| {
                    let (w3, cfg, server) = (w2.clone(), tls_cfg.clone(), server.clone());
                    drop(w2.spawn(async move {
                        match cfg {
                            Some(cfg) => {
                                if let Some(t) = tls_within(&w3, cfg, s, &lim).await {
                                    server.serve_conn_with(w3, t, rpc_lim).await;
                                }
                            }
                            None => server.serve_conn_with(w3, s, rpc_lim).await,
                        }
                        drop(permit);
                    }));
                })
                .await
            })
        }
        (Protocol::H3, _) => return Err("h3 is served by serve_h3".to_string()),
    };
    stop.await;
    h2_shutdown.trigger(); // GOAWAY to HTTP/2 clients
    w.sleep(testbed_model::Duration::from_millis(100)).await;
    server.abort();
    Ok(())
}

/// What `testbed serve` runs.
#[derive(Clone, Debug)]
pub struct ServeOptions {
    /// The protocol.
    pub proto: Protocol,
    /// The backend.
    pub backend: ServeBackend,
    /// Where to listen.
    pub listen: SocketAddr,
    /// Worker threads (SO_REUSEPORT).
    pub workers: usize,
    /// Static files from here (HTTP).
    pub root: Option<PathBuf>,
    /// TLS certificate and key.
    pub tls: Option<TlsFiles>,
    /// The bounded-server policy.
    pub limits: ServerLimits,
    /// Told the bound address once the port is open (tests listen on port 0).
    pub bound: Option<std::sync::mpsc::Sender<SocketAddr>>,
}

/// Serves `opts.proto` on `opts.listen` with `opts.workers` threads (SO_REUSEPORT) until
/// `shutdown` completes on every worker; over TLS when `opts.tls` is given. Prints the bound
/// address on stdout, and the connections refused over the cap when it stops.
pub fn serve<F, Fut>(opts: ServeOptions, shutdown: F) -> Result<(), RunError>
where
    F: Fn() -> Fut + Sync,
    Fut: Future<Output = ()> + 'static,
{
    let ServeOptions {
        proto,
        backend,
        listen,
        workers,
        root,
        tls,
        limits,
        bound,
    } = opts;
    let workers = workers.max(1);
    let root = root
        .map(|r| {
            StaticRoot::new(&r).map_err(|e| RunError::Setup(format!("--root {}: {e}", r.display())))
        })
        .transpose()?;
    if proto == Protocol::H3 {
        if backend != ServeBackend::Kernel {
            return Err(RunError::Setup(
                "h3 runs on the kernel backend (quinn's own sockets)".into(),
            ));
        }
        let files = tls.as_ref().ok_or_else(|| {
            RunError::Setup("h3 needs --tls CERT KEY (QUIC is always encrypted; `testbed cert DIR` makes test ones)".into())
        })?;
        return serve_h3(listen, root, files, shutdown);
    }
    let tls_cfg = match (&tls, proto) {
        (None, _) => None,
        (_, Protocol::H3) => unreachable!("handled above"),
        (Some(f), Protocol::Http1 | Protocol::H2) => Some(load_tls(f, &[ALPN_H2, ALPN_HTTP11])?),
        (Some(f), Protocol::Ws) => Some(load_tls(f, &[ALPN_HTTP11])?),
        (Some(f), Protocol::Rpc) => Some(load_tls(f, &[])?),
    };
    let port =
        PortReservation::new(listen).map_err(|e| RunError::Setup(format!("bind {listen}: {e}")))?;
    let addr = port.addr();
    println!(
        "serving {proto:?}{} on {addr} with {workers} worker(s), at most {} connections; Ctrl-C stops",
        if tls_cfg.is_some() { " over TLS" } else { "" },
        limits.max_connections,
        proto = proto
    );
    // Told once every worker listens (the reservation alone refuses connections).
    let listening = Arc::new((
        std::sync::atomic::AtomicUsize::new(0),
        std::sync::Mutex::new(bound),
    ));
    let ready = move |l: &(std::sync::atomic::AtomicUsize, std::sync::Mutex<_>)| {
        if l.0.fetch_add(1, std::sync::atomic::Ordering::AcqRel) + 1 == workers {
            let sender: Option<std::sync::mpsc::Sender<SocketAddr>> =
                l.1.lock()
                    .ok()
                    .and_then(|mut b: std::sync::MutexGuard<'_, Option<_>>| b.take());
            if let Some(b) = sender {
                let _ = b.send(addr);
            }
        }
    };
    let shared = Shared {
        lim: limits,
        gate: ConnGate::new(limits.max_connections),
        store: SharedStore::default(),
    };
    let results: Vec<Result<(), String>> = match backend {
        ServeBackend::Kernel => Kernel::builder()
            .workers(workers)
            .build()
            .run(|w| {
                let (root, stop, tls_cfg, shared) =
                    (root.clone(), shutdown(), tls_cfg.clone(), shared.clone());
                let listening = listening.clone();
                async move {
                    let l = w.listen(addr).map_err(|e| e.to_string())?;
                    ready(&listening);
                    serve_worker(w, l, proto, root, tls_cfg, shared, stop).await
                }
            })
            .into_iter()
            .map(|r| r.map_err(|e| e.to_string()).and_then(|x| x))
            .collect(),
        ServeBackend::Uring => testbed_uring::Uring::builder()
            .workers(workers)
            .build()
            .map_err(|e| RunError::Setup(e.to_string()))?
            .run(|w| {
                let (root, stop, tls_cfg, shared) =
                    (root.clone(), shutdown(), tls_cfg.clone(), shared.clone());
                let listening = listening.clone();
                async move {
                    let l = w.listen(addr).map_err(|e| e.to_string())?;
                    ready(&listening);
                    serve_worker(w, l, proto, root, tls_cfg, shared, stop).await
                }
            })
            .into_iter()
            .map(|r| r.map_err(|e| e.to_string()).and_then(|(x, _)| x))
            .collect(),
    };
    drop(port);
    for r in results {
        r.map_err(RunError::Setup)?;
    }
    println!(
        "stopped (connections refused over the cap: {}, accept errors: {})",
        shared.gate.refused(),
        shared.gate.accept_errors()
    );
    Ok(())
}
