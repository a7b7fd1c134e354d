//! The HTTP/1.1 server over any `model::Net`: keep-alive, pipelining (requests answered in
//! order), `Expect: 100-continue`, Content-Length and chunked request bodies, no body for
//! HEAD/1xx/204/304, header-read (slowloris) and idle timeouts on the injected clock, and the
//! right 4xx + close for every malformed or ambiguous request.

use super::io::{LazyTimer, ReadBuf, ReadStop};
use super::message::{reason, FileBody, Request, Response};
use super::{
    parse_request, request_body, write_response_head, BodyKind, ChunkedDecoder, Header, Limits,
    ParseError, Status, Version,
};
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use testbed_model::runtime::timeout_at;
use testbed_model::{Duration, Net, Runtime, Stream};
use tokio::io::AsyncWriteExt;
use tracing::Instrument;

/// Answers requests.
pub trait Handler: 'static {
    /// The response to `req`.
    fn handle(&self, req: Request) -> impl Future<Output = Response>;
    /// A sink for the body of `req` (its head; `req.body` is empty), fed chunk by chunk as
    /// the body arrives, or `None` (the default) to get the whole body in
    /// [`Handler::handle`]. With a sink the server holds no more of the body than one read
    /// (HTTP/1.1) or one flow-control window (HTTP/2), and reads the next chunk only after the
    /// sink took this one; the body cap (413) and the body deadlines hold as without one.
    fn body_sink(&self, req: &Request) -> Option<Box<dyn BodySink>> {
        let _ = req;
        None
    }
}

/// A handler's consumer of one request body, chunk by chunk ([`Handler::body_sink`]).
pub trait BodySink {
    /// The next bytes of the body; `Err(status)` ends the request with that status (and
    /// closes an HTTP/1.1 connection, whose body was not read to its end).
    fn chunk(&mut self, data: &[u8]) -> Result<(), u16>;
    /// The body ended: the response to `req` (its head; `req.body` empty).
    fn finish(self: Box<Self>, req: Request) -> Response;
}

/// Where a request body goes: into `req.body` (a handler without a sink), or to a sink.
pub(crate) enum BodyTarget<'a> {
    Buffer(&'a mut Vec<u8>),
    Sink(&'a mut dyn BodySink),
}

impl BodyTarget<'_> {
    pub(crate) fn take(&mut self, data: &[u8]) -> Result<(), u16> {
        match self {
            BodyTarget::Buffer(v) => {
                v.extend_from_slice(data);
                Ok(())
            }
            BodyTarget::Sink(s) => s.chunk(data),
        }
    }
}

impl<F, Fut> Handler for F
where
    F: Fn(Request) -> Fut + 'static,
    Fut: Future<Output = Response>,
{
    fn handle(&self, req: Request) -> impl Future<Output = Response> {
        self(req)
    }
}

type Route = Box<dyn Fn(Request) -> Pin<Box<dyn Future<Output = Response>>>>;

/// Routes by exact path and method; 404 for unknown paths, 405 (with `Allow`) for known paths
/// with another method.
#[derive(Default)]
pub struct Router {
    routes: Vec<(String, String, Route)>,
}

impl Router {
    /// No routes.
    pub fn new() -> Router {
        Router::default()
    }
    /// Adds `method path → f`.
    pub fn route<F, Fut>(mut self, method: &str, path: &str, f: F) -> Router
    where
        F: Fn(Request) -> Fut + 'static,
        Fut: Future<Output = Response> + 'static,
    {
        self.routes.push((
            method.to_string(),
            path.to_string(),
            Box::new(move |r| Box::pin(f(r))),
        ));
        self
    }
}

impl Handler for Router {
    async fn handle(&self, req: Request) -> Response {
        let method = if req.method == "HEAD" {
            "GET"
        } else {
            req.method.as_str()
        };
        let path = req.path();
        if let Some((_, _, f)) = self
            .routes
            .iter()
            .find(|(m, p, _)| p == path && m == method)
        {
            return f(req).await;
        }
        let allowed: Vec<&str> = self
            .routes
            .iter()
            .filter(|(_, p, _)| p == path)
            .map(|(m, _, _)| m.as_str())
            .collect();
        if allowed.is_empty() {
            Response::text(404, "not found\n")
        } else {
            let mut r = Response::text(405, "method not allowed\n");
            r.headers
                .push(("Allow".into(), allowed.join(", ").into_bytes()));
            r
        }
    }
}

/// Server settings.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ServerConfig {
    /// Parser limits (the body cap among them).
    pub limits: Limits,
    /// From a request's first byte to its complete head (slowloris defence): 408 and close.
    pub header_timeout: Duration,
    /// Waiting for the next request on a kept-alive connection: silent close.
    pub idle_timeout: Duration,
    /// The lowest average body rate, bytes per second, once `body_rate_grace` has passed
    /// since the body began: slower bodies get 408 and close.
    pub body_min_rate: u64,
    /// See `body_min_rate`.
    pub body_rate_grace: Duration,
    /// From a request's first byte to its complete body: 408 and close.
    pub request_timeout: Duration,
    /// Writing one response (head and body): a client that does not read is closed.
    pub send_timeout: Duration,
}

impl Default for ServerConfig {
    /// The deadlines and body cap of [`crate::bounded::ServerLimits::default`].
    fn default() -> Self {
        ServerConfig::from_limits(&crate::bounded::ServerLimits::default())
    }
}

impl ServerConfig {
    /// The HTTP/1.1 part of the shared server policy.
    pub fn from_limits(l: &crate::bounded::ServerLimits) -> ServerConfig {
        ServerConfig {
            limits: Limits {
                body: l.max_body,
                ..Limits::default()
            },
            header_timeout: l.header_read,
            idle_timeout: l.idle,
            body_min_rate: l.body_min_rate,
            body_rate_grace: l.body_rate_grace,
            request_timeout: l.request_total,
            send_timeout: l.send_timeout,
        }
    }
}

/// How a connection ended (for tests and metrics).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConnEnd {
    /// The client closed it, or asked to with `Connection: close`.
    Closed,
    /// No new request within the idle timeout.
    Idle,
    /// The head did not complete within the header timeout (408 sent).
    HeaderTimeout,
    /// The body came slower than the minimum rate, or the request took longer than the
    /// request timeout (408 sent).
    BodyTimeout,
    /// The response was not written within the send timeout (the client does not read).
    SendTimeout,
    /// A malformed request (its status sent).
    Rejected(ParseError),
    /// A read or write failed.
    Io,
    /// The handler's body sink refused the body (its status sent).
    SinkRefused(u16),
}

/// Sends file bodies ([`Response::file`]): the hook where a backend plugs in sendfile.
/// Protocol code never touches files itself. The hook gets the response head too, so it can
/// send head and body together (TCP_CORK around both on the kernel backend).
pub trait FileSender: 'static {
    /// Writes `head`, then the `file.len` bytes of `file`, to `stream`.
    fn send_file<S: Stream>(
        &self,
        stream: &mut S,
        head: &[u8],
        file: &FileBody,
    ) -> impl Future<Output = std::io::Result<()>>;
}

/// The file hook of a server that serves no files: every file response fails the connection.
#[derive(Clone, Copy, Debug, Default)]
pub struct NoFiles;

impl FileSender for NoFiles {
    async fn send_file<S: Stream>(
        &self,
        _stream: &mut S,
        _head: &[u8],
        _file: &FileBody,
    ) -> std::io::Result<()> {
        Err(std::io::Error::new(
            std::io::ErrorKind::Unsupported,
            "this server has no file hook",
        ))
    }
}

/// Accepts connections until the listener closes, serving each on its own task.
pub async fn serve<H, Hd>(host: H, listener: H::Listener, handler: Rc<Hd>, cfg: ServerConfig)
where
    H: Net + Runtime,
    Hd: Handler,
{
    serve_files(host, listener, handler, cfg, Rc::new(NoFiles)).await
}

/// Like [`serve`], sending file bodies through `files`.
pub async fn serve_files<H, Hd, F>(
    host: H,
    listener: H::Listener,
    handler: Rc<Hd>,
    cfg: ServerConfig,
    files: Rc<F>,
) where
    H: Net + Runtime,
    Hd: Handler,
    F: FileSender,
{
    crate::bounded::accept_loop_default(&host, &listener, |s, permit| {
        let (h, hd, f) = (host.clone(), handler.clone(), files.clone());
        drop(host.spawn(async move {
            connection(&h, s, &*hd, &cfg, &*f).await;
            drop(permit);
        }));
    })
    .await
}

async fn send_error<S: Stream>(s: &mut S, status: u16) {
    let body = format!("{} {}\n", status, reason(status));
    let mut out = Vec::new();
    let len = body.len().to_string();
    write_response_head(
        &mut out,
        Version::Http11,
        status,
        reason(status),
        &[
            Header {
                name: "Content-Length",
                value: len.as_bytes(),
            },
            Header {
                name: "Connection",
                value: b"close",
            },
        ],
    );
    out.extend_from_slice(body.as_bytes());
    let _ = s.write_all(&out).await;
    let _ = s.shutdown().await;
}

/// The `tracing` target of the server's spans (`http1_conn{peer}`, `request{n,method,path}`)
/// and events (`response` and `connection ended` at DEBUG).
pub const TRACE_TARGET: &str = "testbed_protocols::http1";

/// Serves one connection until it ends, inside an `http1_conn` span.
pub async fn connection<R: Runtime, S: Stream, Hd: Handler, F: FileSender>(
    rt: &R,
    s: S,
    handler: &Hd,
    cfg: &ServerConfig,
    files: &F,
) -> ConnEnd {
    let span = tracing::info_span!(target: TRACE_TARGET, "http1_conn", peer = %s.peer_addr());
    let end = serve_connection(rt, s, handler, cfg, files)
        .instrument(span.clone())
        .await;
    span.in_scope(|| tracing::debug!(target: TRACE_TARGET, ?end, "connection ended"));
    end
}

async fn serve_connection<R: Runtime, S: Stream, Hd: Handler, F: FileSender>(
    rt: &R,
    mut s: S,
    handler: &Hd,
    cfg: &ServerConfig,
    files: &F,
) -> ConnEnd {
    let mut requests = 0u64;
    let mut buf = ReadBuf::default();
    let mut out = Vec::new();
    let mut idle = LazyTimer::default();
    let limits = cfg.limits;
    loop {
        // Wait for the next request's first byte, then for its whole head.
        if buf.pending().is_empty() {
            let deadline = rt.now() + cfg.idle_timeout;
            match buf.fill_by(rt, &mut s, deadline, &mut idle).await {
                Ok(_) => {}
                Err(ReadStop::Timeout) => return ConnEnd::Idle,
                Err(ReadStop::Eof) => return ConnEnd::Closed,
                Err(ReadStop::Io(_)) => return ConnEnd::Io,
            }
        }
        let started = rt.now();
        let request_deadline = started.saturating_add(cfg.request_timeout);
        let head_deadline = started
            .saturating_add(cfg.header_timeout)
            .min(request_deadline);
        let (mut req, kind, keep_alive, expect, head_len) = loop {
            let mut hs = [Header::default(); 100]; // Limits::default().headers
            match parse_request(buf.pending(), &mut hs, &limits) {
                Ok(Status::Complete(r)) => {
                    let kind = match request_body(&r, &limits) {
                        Ok(k) => k,
                        Err(e) => {
                            send_error(&mut s, e.status()).await;
                            return ConnEnd::Rejected(e);
                        }
                    };
                    let req = Request {
                        method: r.method.to_string(),
                        target: r.target.to_string(),
                        version: r.version,
                        headers: r
                            .headers
                            .0
                            .iter()
                            .map(|h| (h.name.to_string(), h.value.to_vec()))
                            .collect(),
                        body: Vec::new(),
                    };
                    break (req, kind, r.keep_alive(), r.expects_continue(), r.head_len);
                }
                Ok(Status::Partial) => match buf.fill(rt, &mut s, Some(head_deadline)).await {
                    Ok(_) => {}
                    Err(ReadStop::Timeout) => {
                        send_error(&mut s, 408).await;
                        return ConnEnd::HeaderTimeout;
                    }
                    Err(ReadStop::Eof) => return ConnEnd::Closed,
                    Err(ReadStop::Io(_)) => return ConnEnd::Io,
                },
                Err(e) => {
                    send_error(&mut s, e.status()).await;
                    return ConnEnd::Rejected(e);
                }
            }
        };
        buf.consume(head_len);
        if expect
            && kind != BodyKind::None
            && buf.pending().is_empty()
            && s.write_all(b"HTTP/1.1 100 Continue\r\n\r\n").await.is_err()
        {
            return ConnEnd::Io;
        }
        let mut sink = handler.body_sink(&req);
        let mut body = Vec::new();
        let target = match &mut sink {
            Some(sink) => BodyTarget::Sink(&mut **sink),
            None => BodyTarget::Buffer(&mut body),
        };
        if let Err(end) = read_body(rt, &mut s, &mut buf, kind, cfg, request_deadline, target).await
        {
            return end;
        }
        // A large body or pipelined burst must not stay allocated for the keep-alive
        // lifetime of the connection.
        buf.release_if_over(RETAINED_BUFFER);
        let is_head = req.method == "HEAD";
        let version = req.version;
        requests += 1;
        let span = tracing::info_span!(
            target: TRACE_TARGET,
            "request",
            n = requests,
            method = %req.method,
            path = %req.target
        );
        let resp = match sink {
            Some(sink) => span.in_scope(|| sink.finish(req)),
            None => {
                req.body = body;
                handler.handle(req).instrument(span.clone()).await
            }
        };
        span.in_scope(|| tracing::debug!(target: TRACE_TARGET, status = resp.status, "response"));
        // An early close: the server ends a kept-alive connection after this response (it
        // says so with `Connection: close`, as RFC 9112 §9.6 allows at any time).
        let keep_alive = keep_alive && !rt.buggify("http1.close_after_response");
        out.clear();
        response_bytes(&mut out, version, is_head, keep_alive, &resp);
        if rt.buggify("http1.delay_flush") {
            rt.sleep(Duration::from_millis(2)).await; // a slow writer
        }
        let send_deadline = rt.now().saturating_add(cfg.send_timeout);
        let sent = match (&resp.file, is_head) {
            (Some(file), false) => {
                timeout_at(rt, send_deadline, files.send_file(&mut s, &out, file)).await
            }
            _ => timeout_at(rt, send_deadline, s.write_all(&out)).await,
        };
        match sent {
            Ok(Ok(())) => {}
            Ok(Err(_)) => return ConnEnd::Io,
            Err(_) => return ConnEnd::SendTimeout,
        }
        if out.capacity() > RETAINED_BUFFER {
            out = Vec::new();
        }
        if !keep_alive {
            let _ = s.shutdown().await;
            return ConnEnd::Closed;
        }
    }
}

/// Buffer capacity a connection keeps between requests; larger buffers are released.
const RETAINED_BUFFER: usize = 64 * 1024;

/// The deadline for the next body read: the request's own, or earlier if the body is behind
/// the minimum rate (`got` bytes since `start`, after the grace period).
fn body_deadline(
    cfg: &ServerConfig,
    start: testbed_model::Instant,
    got: u64,
    request_deadline: testbed_model::Instant,
) -> testbed_model::Instant {
    let rate = cfg.body_min_rate.max(1) as u128;
    let earned = (got as u128 * 1_000_000_000 / rate).min(u64::MAX as u128) as u64;
    start
        .saturating_add(cfg.body_rate_grace)
        .saturating_add(Duration::from_nanos(earned))
        .min(request_deadline)
}

async fn read_body<R: Runtime, S: Stream>(
    rt: &R,
    s: &mut S,
    buf: &mut ReadBuf,
    kind: BodyKind,
    cfg: &ServerConfig,
    request_deadline: testbed_model::Instant,
    mut target: BodyTarget<'_>,
) -> Result<(), ConnEnd> {
    let start = rt.now();
    let mut got = 0u64;
    let more = async |s: &mut S, buf: &mut ReadBuf, got: &mut u64| {
        let d = body_deadline(cfg, start, *got, request_deadline);
        match buf.fill(rt, s, Some(d)).await {
            Ok(n) => {
                *got += n as u64;
                Ok(())
            }
            Err(ReadStop::Timeout) => {
                send_error(s, 408).await;
                Err(ConnEnd::BodyTimeout)
            }
            Err(ReadStop::Io(_)) => Err(ConnEnd::Io),
            Err(ReadStop::Eof) => Err(ConnEnd::Closed),
        }
    };
    // The body goes on as it arrives: the read buffer never holds much more than one read.
    let take = async |s: &mut S, target: &mut BodyTarget<'_>, data: &[u8]| match target.take(data) {
        Ok(()) => Ok(()),
        Err(status) => {
            send_error(s, status).await;
            Err(ConnEnd::SinkRefused(status))
        }
    };
    match kind {
        BodyKind::None | BodyKind::UntilClose => Ok(()),
        BodyKind::Length(n) => {
            let mut left = n;
            loop {
                let now = buf
                    .pending()
                    .len()
                    .min(usize::try_from(left).unwrap_or(usize::MAX));
                if now > 0 {
                    take(s, &mut target, &buf.pending()[..now]).await?;
                    buf.consume(now);
                    left -= now as u64;
                }
                if left == 0 {
                    return Ok(());
                }
                more(s, buf, &mut got).await?;
            }
        }
        BodyKind::Chunked => {
            let mut d = ChunkedDecoder::new(cfg.limits);
            loop {
                let r = match d.decode(buf.pending()) {
                    Ok(r) => r,
                    Err(e) => {
                        send_error(s, e.status()).await;
                        return Err(ConnEnd::Rejected(e));
                    }
                };
                let (consumed, done) = (r.consumed, r.done);
                if !r.data.is_empty() {
                    take(s, &mut target, r.data).await?;
                }
                buf.consume(consumed);
                if done {
                    return Ok(());
                }
                if buf.pending().is_empty() || consumed == 0 {
                    more(s, buf, &mut got).await?;
                }
            }
        }
    }
}

/// Serialises `resp`'s head (plus Content-Length and the keep-alive fields) and its in-memory
/// body into `out`.
fn response_bytes(
    out: &mut Vec<u8>,
    version: Version,
    is_head: bool,
    keep_alive: bool,
    resp: &Response,
) {
    let informational = (100..200).contains(&resp.status);
    let no_body = is_head || informational || resp.status == 204 || resp.status == 304;
    write_response_head(out, Version::Http11, resp.status, reason(resp.status), &[]);
    out.truncate(out.len() - 2); // reopen the field section
    for (n, v) in &resp.headers {
        field(out, n.as_bytes(), v);
    }
    if !informational && resp.status != 204 {
        let len = resp.file.as_ref().map_or(resp.body.len() as u64, |f| f.len);
        let mut digits = [0u8; 20];
        field(out, b"Content-Length", decimal(len, &mut digits));
    }
    if !keep_alive {
        field(out, b"Connection", b"close");
    } else if version == Version::Http10 {
        field(out, b"Connection", b"keep-alive");
    }
    out.extend_from_slice(b"\r\n");
    if !no_body {
        out.extend_from_slice(&resp.body);
    }
}

fn field(out: &mut Vec<u8>, name: &[u8], value: &[u8]) {
    out.extend_from_slice(name);
    out.extend_from_slice(b": ");
    out.extend_from_slice(value);
    out.extend_from_slice(b"\r\n");
}

/// `n` in decimal, written into the end of `buf`.
fn decimal(mut n: u64, buf: &mut [u8; 20]) -> &[u8] {
    let mut i = buf.len();
    loop {
        i -= 1;
        buf[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            return &buf[i..];
        }
    }
}
