//! `testbed serve`: a protocol server on its own, on a real backend, for real clients
//! (curl, wrk, h2load, nghttp, openssl, browsers, Autobahn). HTTP/1.1 and HTTP/2 serve
//! `/hello`, `POST /echo` and static files from a root directory; WebSocket echoes every
//! message; RPC serves the example service. With TLS (`--tls CERT KEY`) HTTP/1.1 and HTTP/2
//! share the port by ALPN, WebSocket becomes wss and RPC runs over TLS.

use crate::scenario::RunError;
use std::future::Future;
use std::net::SocketAddr;
use std::path::{Component, Path, PathBuf};
use std::rc::Rc;
use std::sync::Arc;
use testbed_kernel::{Kernel, KernelStream, PortReservation};
use testbed_model::SeededRng;
use testbed_model::{Listener, Net, Runtime};
use testbed_protocols::h2::{self, H2Config};
use testbed_protocols::http1::{
    self, OwnedRequest as Request, OwnedResponse as Response, Router, ServerConfig,
};
use testbed_protocols::quic;
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

/// The file under `root` that `path` names, refusing anything that would leave `root`.
pub fn resolve_static(root: &Path, path: &str) -> Option<PathBuf> {
    let rel = Path::new(path.trim_start_matches('/'));
    if rel.components().any(|c| !matches!(c, Component::Normal(_))) {
        return None;
    }
    let p = root.join(rel);
    p.is_file().then_some(p)
}

fn http_app(root: Option<PathBuf>) -> impl http1::Handler {
    let router = Rc::new(
        Router::new()
            .route("GET", "/hello", |_r| async {
                Response::text(200, "hello\n")
            })
            .route("POST", "/echo", |r: Request| async move {
                Response::text(200, r.body)
            }),
    );
    move |req: Request| {
        let (router, root) = (router.clone(), root.clone());
        async move {
            if let (Some(root), "GET" | "HEAD") = (&root, req.method.as_str()) {
                if let Some(file) = resolve_static(root, req.path()) {
                    return match std::fs::metadata(&file) {
                        Ok(m) => Response::file(file, m.len()),
                        Err(_) => Response::text(500, "stat failed\n"),
                    };
                }
            }
            http1::Handler::handle(&*router, req).await
        }
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
        let mut f = std::fs::File::open(&file.path)?;
        if let Some(k) = (stream as &mut dyn std::any::Any).downcast_mut::<KernelStream>() {
            let r = testbed_kernel::zerocopy::send_file(k, head, &f, 0..file.len).await?;
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

async fn ws_echo<R: Runtime, S: testbed_model::Stream>(rt: R, s: S) {
    let Ok(mut w) = ws::accept(&rt, s, WsLimits::default()).await else {
        return;
    };
    while let Ok(ev) = w.recv(&rt).await {
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
    root: Option<PathBuf>,
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
                Rc::new(http_app(root)),
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

/// Handshakes TLS on `s`, then serves HTTP/2 or HTTP/1.1 as ALPN chose.
async fn https_conn<R: Runtime, S: testbed_model::Stream, Hd: http1::Handler>(
    rt: R,
    s: S,
    cfg: Arc<rustls::ServerConfig>,
    handler: Rc<Hd>,
    shutdown: h2::Shutdown,
) {
    let Ok(t) = tls::accept(cfg, s).await else {
        return;
    };
    if t.alpn() == Some(ALPN_H2) {
        let _ = h2::serve_connection(&rt, t, handler, &H2Config::default(), shutdown).await;
    } else {
        http1::connection(&rt, t, &*handler, &ServerConfig::default(), &ServeFiles).await;
    }
}

/// One worker's server for `proto` on listener `l` (any backend), until `stop` completes;
/// then GOAWAY to HTTP/2 clients and teardown.
async fn serve_worker<W: Net + Runtime>(
    w: W,
    l: W::Listener,
    proto: Protocol,
    root: Option<PathBuf>,
    tls_cfg: Option<Arc<rustls::ServerConfig>>,
    stop: impl Future<Output = ()>,
) -> Result<(), String> {
    let w2 = w.clone();
    let h2_shutdown = h2::Shutdown::new();
    let server = match (proto, tls_cfg) {
        (Protocol::Http1 | Protocol::H2, Some(cfg)) => {
            let handler = Rc::new(http_app(root));
            let sd = h2_shutdown.clone();
            w.spawn(async move {
                while let Ok((s, _)) = l.accept().await {
                    let c = https_conn(w2.clone(), s, cfg.clone(), handler.clone(), sd.clone());
                    drop(w2.spawn(c));
                }
            })
        }
        (Protocol::H2, None) => w.spawn(h2::serve(
            w2,
            l,
            Rc::new(http_app(root)),
            H2Config::default(),
            h2_shutdown.clone(),
        )),
        (Protocol::Ws, Some(cfg)) => w.spawn(async move {
            while let Ok((s, _)) = l.accept().await {
                let (w3, cfg) = (w2.clone(), cfg.clone());
                drop(w2.spawn(async move {
                    if let Ok(t) = tls::accept(cfg, s).await {
                        ws_echo(w3, t).await;
                    }
                }));
            }
        }),
        (Protocol::Rpc, Some(cfg)) => {
            let server = Rc::new(testbed_protocols::rpc::example::server());
            w.spawn(async move {
                while let Ok((s, _)) = l.accept().await {
                    let (w3, cfg, server) = (w2.clone(), cfg.clone(), server.clone());
                    drop(w2.spawn(async move {
                        if let Ok(t) = tls::accept(cfg, s).await {
                            server.serve_conn(w3, t).await;
                        }
                    }));
                }
            })
        }
        (Protocol::Http1, None) => w.spawn(http1::serve_files(
            w2,
            l,
            Rc::new(http_app(root)),
            ServerConfig::default(),
            Rc::new(ServeFiles),
        )),
        (Protocol::Rpc, None) => w.spawn(testbed_protocols::rpc::serve(
            w2,
            l,
            Rc::new(testbed_protocols::rpc::example::server()),
        )),
        (Protocol::Ws, None) => w.spawn(async move {
            while let Ok((s, _)) = l.accept().await {
                drop(w2.spawn(ws_echo(w2.clone(), s)));
            }
        }),
        (Protocol::H3, _) => return Err("h3 is served by serve_h3".to_string()),
    };
    stop.await;
    h2_shutdown.trigger(); // GOAWAY to HTTP/2 clients
    w.sleep(testbed_model::Duration::from_millis(100)).await;
    server.abort();
    Ok(())
}

/// Serves `proto` on `listen` with `workers` threads (SO_REUSEPORT) until `shutdown`
/// completes on every worker; over TLS when `tls` is given. Prints the bound address on
/// stdout.
pub fn serve<F, Fut>(
    proto: Protocol,
    backend: ServeBackend,
    listen: SocketAddr,
    workers: usize,
    root: Option<PathBuf>,
    tls: Option<TlsFiles>,
    shutdown: F,
) -> Result<(), RunError>
where
    F: Fn() -> Fut + Sync,
    Fut: Future<Output = ()> + 'static,
{
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
        "serving {proto:?}{} on {addr} with {workers} worker(s); Ctrl-C stops",
        if tls_cfg.is_some() { " over TLS" } else { "" },
        proto = proto
    );
    let results: Vec<Result<(), String>> = match backend {
        ServeBackend::Kernel => Kernel::builder()
            .workers(workers)
            .build()
            .run(|w| {
                let (root, stop, tls_cfg) = (root.clone(), shutdown(), tls_cfg.clone());
                async move {
                    let l = w.listen(addr).map_err(|e| e.to_string())?;
                    serve_worker(w, l, proto, root, tls_cfg, stop).await
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
                let (root, stop, tls_cfg) = (root.clone(), shutdown(), tls_cfg.clone());
                async move {
                    let l = w.listen(addr).map_err(|e| e.to_string())?;
                    serve_worker(w, l, proto, root, tls_cfg, stop).await
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
    println!("stopped");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn static_paths_cannot_escape_the_root() {
        let dir = std::env::temp_dir().join(format!("testbed-static-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("a")).unwrap();
        std::fs::write(dir.join("a/f.txt"), b"x").unwrap();
        assert_eq!(resolve_static(&dir, "/a/f.txt"), Some(dir.join("a/f.txt")));
        assert_eq!(resolve_static(&dir, "/a/../a/f.txt"), None);
        assert_eq!(resolve_static(&dir, "/../etc/passwd"), None);
        assert_eq!(
            resolve_static(&dir, "/a"),
            None,
            "directories are not files"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
