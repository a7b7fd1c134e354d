//! The HTTP/2 server: one task drives a connection and accepts streams; each stream is
//! answered on its own task, so a slow handler never holds up the others.

use super::convert::{to_h2_response, to_owned_request};
use super::guard::Guarded;
use crate::http1::Handler;
use bytes::Bytes;
use h2::server::SendResponse;
use h2::{RecvStream, SendStream};
use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::task::{Context, Poll, Waker};
use testbed_model::{AcceptError, Listener, Net, Runtime, Stream};

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
        }
    }
}

/// A graceful-shutdown signal: once triggered, every connection sends GOAWAY, finishes the
/// streams it has and closes.
#[derive(Clone, Default)]
pub struct Shutdown(Rc<(Cell<bool>, RefCell<Vec<Waker>>)>);

impl Shutdown {
    /// A signal not yet triggered.
    pub fn new() -> Shutdown {
        Shutdown::default()
    }
    /// Starts the graceful shutdown.
    pub fn trigger(&self) {
        self.0 .0.set(true);
        for w in self.0 .1.borrow_mut().drain(..) {
            w.wake();
        }
    }
    /// Whether it was triggered.
    pub fn is_triggered(&self) -> bool {
        self.0 .0.get()
    }
    fn poll(&self, cx: &Context<'_>) -> Poll<()> {
        if self.is_triggered() {
            return Poll::Ready(());
        }
        let mut w = self.0 .1.borrow_mut();
        if !w.iter().any(|x| x.will_wake(cx.waker())) {
            w.push(cx.waker().clone());
        }
        Poll::Pending
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
    let mut conn = h2::server::Builder::new()
        .max_concurrent_streams(cfg.max_concurrent_streams)
        .initial_window_size(cfg.initial_window_size)
        .initial_connection_window_size(cfg.initial_connection_window_size)
        .max_frame_size(cfg.max_frame_size)
        .max_header_list_size(cfg.max_header_list_size)
        .handshake::<_, Bytes>(Guarded::new(s, cfg.max_frame_size))
        .await?;
    let mut draining = false;
    loop {
        let next = std::future::poll_fn(|cx| {
            if !draining && shutdown.poll(cx).is_ready() {
                return Poll::Ready(None);
            }
            conn.poll_accept(cx).map(Some)
        })
        .await;
        match next {
            None => {
                conn.graceful_shutdown();
                draining = true;
            }
            Some(None) => return Ok(()),
            Some(Some(Err(e))) => {
                return if e.is_go_away() || e.is_io() {
                    Ok(())
                } else {
                    Err(e)
                };
            }
            Some(Some(Ok((req, respond)))) => {
                let (h, max) = (handler.clone(), cfg.max_body_bytes);
                drop(rt.spawn(stream(h, req, respond, max)));
            }
        }
    }
}

async fn stream<Hd: Handler>(
    handler: Rc<Hd>,
    req: http::Request<RecvStream>,
    mut respond: SendResponse<Bytes>,
    max: usize,
) {
    let (head, mut body) = req.into_parts();
    // Read the request to its end (dropping it unread would make h2 send STOP_SENDING/RST).
    let mut data = Vec::new();
    while let Some(chunk) = body.data().await {
        let Ok(chunk) = chunk else {
            return;
        };
        let _ = body.flow_control().release_capacity(chunk.len());
        if data.len() + chunk.len() > max {
            let mut r = http::Response::new(());
            *r.status_mut() = http::StatusCode::PAYLOAD_TOO_LARGE;
            let _ = respond.send_response(r, true);
            return;
        }
        data.extend_from_slice(&chunk);
    }
    let req = to_owned_request(head, data);
    let is_head = req.method == "HEAD";
    let resp = handler.handle(req).await;
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
        send_all(&mut send, body).await;
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
    loop {
        match listener.accept().await {
            Ok((s, _)) => {
                let (h, hd, sd) = (host.clone(), handler.clone(), shutdown.clone());
                drop(host.spawn(async move {
                    let _ = serve_connection(&h, s, hd, &cfg, sd).await;
                }));
            }
            Err(AcceptError::Closed) => return,
            Err(_) => continue,
        }
    }
}
