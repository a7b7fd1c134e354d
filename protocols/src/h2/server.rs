//! The HTTP/2 server: one task drives a connection and accepts streams; each stream is
//! answered on its own task, so a slow handler never holds up the others.

use super::convert::{to_h2_response, to_owned_request};
use super::guard::Guarded;
use crate::http1::Handler;
use crate::stop::Stop;
use bytes::Bytes;
use h2::server::SendResponse;
use h2::{RecvStream, SendStream};
use std::cell::Cell;
use std::future::Future;
use std::rc::Rc;
use std::task::Poll;
use testbed_model::runtime::timeout_at;
use testbed_model::Duration;
use testbed_model::{Net, Runtime, Stream};

/// HTTP/2 server settings (what the SETTINGS frame announces, plus a body limit).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct H2Config {
    /// SETTINGS_MAX_CONCURRENT_STREAMS.
    pub max_concurrent_streams: u32,
    /// SETTINGS_INITIAL_WINDOW_SIZE (per stream).
    pub initial_window_size: u32,
    /// The connection-level receive window.
    pub initial_connection_window_size: u32,
    /// SETTINGS_MAX_FRAME_SIZE.
    pub max_frame_size: u32,
    /// SETTINGS_MAX_HEADER_LIST_SIZE.
    pub max_header_list_size: u32,
    /// Largest request body accepted (larger: 413 and the stream ends).
    pub max_body_bytes: usize,
    /// From the start to the client's preface and SETTINGS frame: closed without a word
    /// when they do not arrive in time.
    pub preface_timeout: Duration,
    /// No open stream and no frame from the client for this long: GOAWAY and close.
    pub idle_timeout: Duration,
    /// A request's body must arrive whole within this of its HEADERS (408 otherwise).
    pub body_timeout: Duration,
    /// Sending one response body: a stream still waiting for flow-control window (a client
    /// that does not read it) this long after its HEADERS went out is reset (RST_STREAM
    /// CANCEL); a connection whose writes make no progress for this long — the client reads
    /// nothing at all — is closed.
    pub send_timeout: Duration,
}

impl Default for H2Config {
    fn default() -> Self {
        H2Config {
            max_concurrent_streams: 100,
            initial_window_size: 65_535,
            initial_connection_window_size: 1 << 20,
            max_frame_size: 16_384,
            max_header_list_size: 16 << 10,
            max_body_bytes: 8 << 20,
            preface_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(60),
            body_timeout: Duration::from_secs(60),
            send_timeout: Duration::from_secs(60),
        }
    }
}

impl H2Config {
    /// The defaults with the HTTP/2 part of the shared server policy.
    pub fn from_limits(l: &crate::bounded::ServerLimits) -> H2Config {
        H2Config {
            max_body_bytes: usize::try_from(l.max_body).unwrap_or(usize::MAX),
            preface_timeout: l.h2_preface,
            idle_timeout: l.h2_idle,
            body_timeout: l.request_total,
            send_timeout: l.send_timeout,
            ..H2Config::default()
        }
    }
}

/// A graceful-shutdown signal: once triggered, every connection sends GOAWAY, finishes the
/// streams it has and closes. Each connection holds one waker slot while it lives (see
/// [`crate::stop`]), so finished connections leave nothing behind.
#[derive(Clone, Debug, Default)]
pub struct Shutdown(Stop);

impl Shutdown {
    /// A signal not yet triggered.
    pub fn new() -> Shutdown {
        Shutdown::default()
    }
    /// Starts the graceful shutdown.
    pub fn trigger(&self) {
        self.0.trigger();
    }
    /// Whether it was triggered.
    pub fn is_triggered(&self) -> bool {
        self.0.is_triggered()
    }
    /// A future that completes once triggered.
    pub fn wait(&self) -> crate::stop::Wait {
        self.0.wait()
    }
    /// Connections currently waiting for the signal.
    pub fn waiters(&self) -> usize {
        self.0.waiters()
    }
}

/// Serves HTTP/2 on `s` (the client preface first: h2c prior knowledge, or after ALPN "h2")
/// until the client closes, a connection error, or `shutdown` (then GOAWAY and drain).
pub async fn serve_connection<R: Runtime, S: Stream, Hd: Handler>(
    rt: &R,
    s: S,
    handler: Rc<Hd>,
    cfg: &H2Config,
    shutdown: Shutdown,
) -> Result<(), h2::Error> {
    let start = rt.now();
    let guarded = Guarded::new(s, cfg.max_frame_size);
    let frames = guarded.frame_counter();
    let writes = guarded.write_progress();
    let preface_deadline = start.saturating_add(cfg.preface_timeout);
    let handshake = h2::server::Builder::new()
        .max_concurrent_streams(cfg.max_concurrent_streams)
        .initial_window_size(cfg.initial_window_size)
        .initial_connection_window_size(cfg.initial_connection_window_size)
        .max_frame_size(cfg.max_frame_size)
        .max_header_list_size(cfg.max_header_list_size)
        .handshake::<_, Bytes>(guarded);
    let Ok(conn) = timeout_at(rt, preface_deadline, handshake).await else {
        return Ok(()); // no preface in time
    };
    let mut conn = conn?;
    let mut draining = false;
    let mut stop = shutdown.wait();
    let open_streams = Rc::new(Cell::new(0usize));
    // One timer: first for the preface's SETTINGS, then for idleness (re-armed lazily).
    let mut timer = Box::pin(rt.sleep_until(preface_deadline));
    let mut seen = 0u64;
    // The send deadline: checked once per period; writes blocked through a whole period with
    // no byte out close the connection (so it fires between one and two periods after the
    // client stopped reading).
    let mut send_check = Box::pin(rt.sleep_until(start.saturating_add(cfg.send_timeout)));
    let mut written_at_check = 0u64;
    loop {
        let next = std::future::poll_fn(|cx| {
            if !draining && stop.poll_stop(cx).is_ready() {
                return Poll::Ready(Step::Stop);
            }
            if let Poll::Ready(r) = conn.poll_accept(cx) {
                return Poll::Ready(Step::Accept(r.map(|r| r.map(Box::new))));
            }
            while timer.as_mut().poll(cx).is_ready() {
                if draining {
                    return Poll::Ready(Step::Expired); // the drain took an idle period
                }
                let n = frames.get();
                if n == 0 {
                    return Poll::Ready(Step::Expired); // preface but no SETTINGS in time
                }
                if n == seen && open_streams.get() == 0 {
                    return Poll::Ready(Step::Idle);
                }
                seen = n;
                timer.set(rt.sleep_until(rt.now().saturating_add(cfg.idle_timeout)));
            }
            while send_check.as_mut().poll(cx).is_ready() {
                let written = writes.written.get();
                if writes.blocked.get() && written == written_at_check {
                    return Poll::Ready(Step::Expired); // the client reads nothing
                }
                written_at_check = written;
                send_check.set(rt.sleep_until(rt.now().saturating_add(cfg.send_timeout)));
            }
            Poll::Pending
        })
        .await;
        match next {
            Step::Stop | Step::Idle => {
                conn.graceful_shutdown();
                draining = true;
                // Bound the drain too: the streams left get one idle period to finish.
                timer.set(rt.sleep_until(rt.now().saturating_add(cfg.idle_timeout)));
            }
            Step::Expired => return Ok(()),
            Step::Accept(None) => return Ok(()),
            Step::Accept(Some(Err(e))) => {
                return if e.is_go_away() || e.is_io() {
                    Ok(())
                } else {
                    Err(e)
                };
            }
            Step::Accept(Some(Ok(incoming))) => {
                let (req, respond) = *incoming;
                let (h, max, open) = (handler.clone(), cfg.max_body_bytes, open_streams.clone());
                let body_deadline = rt.now().saturating_add(cfg.body_timeout);
                let (rt2, send_timeout) = (rt.clone(), cfg.send_timeout);
                open.set(open.get() + 1);
                drop(rt.spawn(async move {
                    stream(&rt2, h, req, respond, max, body_deadline, send_timeout).await;
                    open.set(open.get() - 1);
                }));
            }
        }
    }
}

/// A stream the client opened: its request and where to answer.
type Incoming = (http::Request<RecvStream>, SendResponse<Bytes>);

/// What woke a connection's driver.
enum Step {
    Stop,
    Idle,
    Expired,
    Accept(Option<Result<Box<Incoming>, h2::Error>>),
}

async fn stream<R: Runtime, Hd: Handler>(
    rt: &R,
    handler: Rc<Hd>,
    req: http::Request<RecvStream>,
    mut respond: SendResponse<Bytes>,
    max: usize,
    body_deadline: testbed_model::Instant,
    send_timeout: Duration,
) {
    let (head, mut body) = req.into_parts();
    let status = |respond: &mut SendResponse<Bytes>, code: http::StatusCode| {
        let mut r = http::Response::new(());
        *r.status_mut() = code;
        let _ = respond.send_response(r, true);
    };
    let mut req = to_owned_request(head, Vec::new());
    // Read the request to its end (dropping it unread would make h2 send STOP_SENDING/RST):
    // into `data`, or chunk by chunk into the handler's sink, whose window is given back only
    // once it took the chunk (backpressure through flow control).
    let mut sink = handler.body_sink(&req);
    let mut data = Vec::new();
    let mut total = 0usize;
    loop {
        let Ok(next) = timeout_at(rt, body_deadline, body.data()).await else {
            return status(&mut respond, http::StatusCode::REQUEST_TIMEOUT);
        };
        let Some(chunk) = next else {
            break;
        };
        let Ok(chunk) = chunk else {
            return;
        };
        total = total.saturating_add(chunk.len());
        if total > max {
            return status(&mut respond, http::StatusCode::PAYLOAD_TOO_LARGE);
        }
        match &mut sink {
            Some(sink) => {
                if let Err(code) = sink.chunk(&chunk) {
                    let code = http::StatusCode::from_u16(code)
                        .unwrap_or(http::StatusCode::INTERNAL_SERVER_ERROR);
                    return status(&mut respond, code);
                }
            }
            None => data.extend_from_slice(&chunk),
        }
        let _ = body.flow_control().release_capacity(chunk.len());
    }
    let is_head = req.method == "HEAD";
    let resp = match sink {
        Some(sink) => sink.finish(req),
        None => {
            req.body = data;
            handler.handle(req).await
        }
    };
    if resp.file.is_some() {
        // File bodies go through the HTTP/1.1 server's FileSender hook; h2 has none yet.
        let mut r = http::Response::new(());
        *r.status_mut() = http::StatusCode::NOT_IMPLEMENTED;
        let _ = respond.send_response(r, true);
        return;
    }
    let (head, body, _) = to_h2_response(&resp);
    let end = is_head || body.is_empty();
    let Ok(mut send) = respond.send_response(head, end) else {
        return;
    };
    if !end {
        let deadline = rt.now().saturating_add(send_timeout);
        if timeout_at(rt, deadline, send_all(&mut send, body))
            .await
            .is_err()
        {
            send.send_reset(h2::Reason::CANCEL); // the client does not read this stream
        }
    }
}

/// Sends `body` within the peer's flow-control windows, ending the stream.
pub(crate) async fn send_all(send: &mut SendStream<Bytes>, mut body: Bytes) {
    while !body.is_empty() {
        send.reserve_capacity(body.len());
        let cap = match std::future::poll_fn(|cx| send.poll_capacity(cx)).await {
            Some(Ok(c)) => c,
            _ => return,
        };
        if cap == 0 {
            continue;
        }
        let chunk = body.split_to(cap.min(body.len()));
        if send.send_data(chunk, body.is_empty()).is_err() {
            return;
        }
    }
}

/// Accepts h2c (prior knowledge) connections until the listener closes.
pub async fn serve<H, Hd>(
    host: H,
    listener: H::Listener,
    handler: Rc<Hd>,
    cfg: H2Config,
    shutdown: Shutdown,
) where
    H: Net + Runtime,
    Hd: Handler,
{
    crate::bounded::accept_loop_default(&host, &listener, |s, permit| {
        let (h, hd, sd) = (host.clone(), handler.clone(), shutdown.clone());
        drop(host.spawn(async move {
            let _ = serve_connection(&h, s, hd, &cfg, sd).await;
            drop(permit);
        }));
    })
    .await
}
