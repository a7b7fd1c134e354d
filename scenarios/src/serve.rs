//! `testbed serve`: a protocol server on its own, on a real backend, for real clients
//! (curl, wrk, browsers, Autobahn). HTTP/1.1 serves `/hello`, `POST /echo` and static files
//! from a root directory; WebSocket echoes every message; RPC serves the example service.

use crate::scenario::RunError;
use std::future::Future;
use std::net::SocketAddr;
use std::path::{Component, Path, PathBuf};
use std::rc::Rc;
use testbed_kernel::{Kernel, PortReservation};
use testbed_model::{Listener, Net, Runtime};
use testbed_protocols::http1::{
    self, OwnedRequest as Request, OwnedResponse as Response, Router, ServerConfig,
};
use testbed_protocols::ws::{self, Event, WsLimits};

/// Which server.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Protocol {
    /// HTTP/1.1.
    Http1,
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
            "ws" => Ok(Protocol::Ws),
            "rpc" => Ok(Protocol::Rpc),
            other => Err(RunError::Setup(format!(
                "unknown protocol {other:?}; protocols: http1, ws, rpc"
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

/// The file hook of `testbed serve`: a read/write copy loop (the zero-copy issue replaces it
/// with sendfile on the kernel backend). Sends exactly `len` bytes, or fails.
struct CopyFiles;

impl http1::FileSender for CopyFiles {
    async fn send_file<S: testbed_model::Stream>(
        &self,
        stream: &mut S,
        file: &http1::FileBody,
    ) -> std::io::Result<()> {
        use std::io::Read;
        use tokio::io::AsyncWriteExt;
        let mut f = std::fs::File::open(&file.path)?;
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

/// Serves `proto` on `listen` with `workers` threads (SO_REUSEPORT) until `shutdown`
/// completes on every worker. Prints the bound address on stdout.
pub fn serve<F, Fut>(
    proto: Protocol,
    listen: SocketAddr,
    workers: usize,
    root: Option<PathBuf>,
    shutdown: F,
) -> Result<(), RunError>
where
    F: Fn() -> Fut + Sync,
    Fut: Future<Output = ()> + 'static,
{
    let port =
        PortReservation::new(listen).map_err(|e| RunError::Setup(format!("bind {listen}: {e}")))?;
    let addr = port.addr();
    println!(
        "serving {proto:?} on {addr} with {workers} worker(s); Ctrl-C stops",
        proto = proto
    );
    let kernel = Kernel::builder().workers(workers).build();
    let results = kernel.run(|w| {
        let root = root.clone();
        let stop = shutdown();
        async move {
            let l = w.listen(addr).map_err(|e| e.to_string())?;
            let w2 = w.clone();
            let server = match proto {
                Protocol::Http1 => w.spawn(http1::serve_files(
                    w2,
                    l,
                    Rc::new(http_app(root)),
                    ServerConfig::default(),
                    Rc::new(CopyFiles),
                )),
                Protocol::Rpc => w.spawn(testbed_protocols::rpc::serve(
                    w2,
                    l,
                    Rc::new(testbed_protocols::rpc::example::server()),
                )),
                Protocol::Ws => w.spawn(async move {
                    while let Ok((s, _)) = l.accept().await {
                        drop(w2.spawn(ws_echo(w2.clone(), s)));
                    }
                }),
            };
            stop.await;
            server.abort();
            Ok::<_, String>(())
        }
    });
    drop(port);
    for r in results {
        r.map_err(|e| RunError::Setup(e.to_string()))?
            .map_err(RunError::Setup)?;
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
