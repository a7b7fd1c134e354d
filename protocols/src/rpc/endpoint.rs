//! The RPC server and client over any `model::Net` stream.

use super::codec::{decode, encode};
use super::frame::{
    decode_header, encode as encode_frame, error_payload, parse_error_payload, CodecId, ErrorCode,
    FrameError, FrameHeader, Kind, HEADER_LEN,
};
use serde::de::DeserializeOwned;
use serde::Serialize;
use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Poll, Waker};
use testbed_model::runtime::timeout_at;
use testbed_model::{ConnectError, Duration, Instant, JoinHandle, Net, Runtime, Stream};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadHalf, WriteHalf};
use tracing::Instrument;

/// Largest payload either side accepts.
pub const MAX_PAYLOAD: u32 = 4 << 20;

/// A method: its id, name and typed request and response.
pub trait Method: 'static {
    /// Wire id (unique per server).
    const ID: u32;
    /// Human name.
    const NAME: &'static str;
    /// Request type.
    type Req: Serialize + DeserializeOwned + 'static;
    /// Response type.
    type Resp: Serialize + DeserializeOwned + 'static;
}

/// A handler's failure, sent back as an error frame.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{code:?}: {message}")]
pub struct ServerError {
    /// Code.
    pub code: ErrorCode,
    /// Message.
    pub message: String,
}

/// Why a call failed.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CallError {
    /// The server answered with an error frame.
    #[error("remote error {code:?}: {message}")]
    Remote {
        /// Code.
        code: ErrorCode,
        /// Message.
        message: String,
    },
    /// No answer before the deadline (a Cancel was sent).
    #[error("deadline exceeded")]
    DeadlineExceeded,
    /// The connection is gone.
    #[error("disconnected")]
    Disconnected,
    /// The response did not decode as the method's response type.
    #[error("response does not decode: {0}")]
    Decode(String),
}

/// Bytes waiting to be written by a connection's writer task.
#[derive(Default)]
struct Outbox {
    buf: RefCell<Vec<u8>>,
    waker: RefCell<Option<Waker>>,
    closed: Cell<bool>,
    /// Bytes the writer took and is writing now.
    writing: Cell<usize>,
    /// The reader waiting for the outbox to drain (backpressure).
    drained: RefCell<Option<Waker>>,
}

impl Outbox {
    /// Bytes queued or being written.
    fn queued(&self) -> usize {
        self.buf.borrow().len() + self.writing.get()
    }
    /// Ready once at most `bound` bytes are queued (or the connection closed).
    async fn below(&self, bound: usize) {
        std::future::poll_fn(|cx| {
            if self.queued() <= bound || self.closed.get() {
                return Poll::Ready(());
            }
            *self.drained.borrow_mut() = Some(cx.waker().clone());
            Poll::Pending
        })
        .await
    }
    fn wrote(&self) {
        self.writing.set(0);
        if let Some(w) = self.drained.borrow_mut().take() {
            w.wake();
        }
    }
}

impl Outbox {
    fn push(&self, h: &FrameHeader, payload: &[u8]) {
        if self.closed.get() {
            return;
        }
        encode_frame(&mut self.buf.borrow_mut(), h, payload);
        if let Some(w) = self.waker.borrow_mut().take() {
            w.wake();
        }
    }
    fn close(&self) {
        self.closed.set(true);
        if let Some(w) = self.waker.borrow_mut().take() {
            w.wake();
        }
        if let Some(w) = self.drained.borrow_mut().take() {
            w.wake();
        }
    }
}

async fn writer<R: Runtime, S: AsyncWrite>(rt: R, mut w: WriteHalf<S>, out: Rc<Outbox>) {
    loop {
        let batch = std::future::poll_fn(|cx| {
            let mut b = out.buf.borrow_mut();
            if !b.is_empty() {
                return Poll::Ready(Some(std::mem::take(&mut *b)));
            }
            if out.closed.get() {
                return Poll::Ready(None);
            }
            *out.waker.borrow_mut() = Some(cx.waker().clone());
            Poll::Pending
        })
        .await;
        match batch {
            Some(b) => {
                out.writing.set(b.len());
                if rt.buggify("rpc.delay_flush") {
                    rt.sleep(Duration::from_millis(2)).await; // a slow writer: frames queue up
                }
                let r = w.write_all(&b).await;
                drop(b); // a large batch is freed now, not kept as the next buffer
                out.wrote();
                if r.is_err() {
                    out.close();
                    return;
                }
            }
            None => {
                let _ = w.shutdown().await;
                return;
            }
        }
    }
}

/// Reads one frame: `Ok(None)` on a clean EOF between frames. With `deadlines` =
/// `(idle, frame)` also `Ok(None)` when no first byte came within `idle`, or the rest of the
/// frame not within `frame` of its first byte.
async fn read_frame<R: Runtime, S: AsyncRead>(
    rt: &R,
    r: &mut ReadHalf<S>,
    max: u32,
    deadlines: Option<(Duration, Duration)>,
) -> Result<Option<(FrameHeader, Vec<u8>)>, FrameError> {
    let mut head = [0u8; HEADER_LEN];
    let mut got = 0;
    let mut deadline = deadlines.map(|(idle, _)| rt.now().saturating_add(idle));
    while got < HEADER_LEN {
        // A short read: the header arrives a byte at a time.
        let end = if rt.buggify("rpc.short_read") {
            got + 1
        } else {
            HEADER_LEN
        };
        let read = r.read(&mut head[got..end]);
        let read = match deadline {
            Some(d) => match timeout_at(rt, d, read).await {
                Ok(r) => r,
                Err(_) => return Ok(None),
            },
            None => read.await,
        };
        match read {
            Ok(0) | Err(_) if got == 0 => return Ok(None),
            Ok(0) | Err(_) => return Err(FrameError::BadMagic),
            Ok(n) => {
                if got == 0 {
                    deadline = deadlines.map(|(_, frame)| rt.now().saturating_add(frame));
                }
                got += n
            }
        }
        decode_header(&head[..got], max)?;
    }
    let h = decode_header(&head, max)?.expect("whole header");
    let mut payload = vec![0u8; h.payload_len as usize];
    let read = r.read_exact(&mut payload);
    let read = match deadline {
        Some(d) => timeout_at(rt, d, read)
            .await
            .unwrap_or(Err(std::io::ErrorKind::TimedOut.into())),
        None => read.await,
    };
    Ok(read.is_ok().then_some((h, payload)))
}

/// Deadlines and bounds of a server connection (see [`crate::bounded::ServerLimits`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RpcLimits {
    /// No frame for this long closes the connection.
    pub idle: Duration,
    /// From a frame's first byte to its last.
    pub frame_read: Duration,
    /// Reply bytes queued past which the server stops reading requests.
    pub outbox_bytes: usize,
    /// Calls running at once on one connection; the server stops reading at this many.
    pub max_in_flight: usize,
}

impl Default for RpcLimits {
    fn default() -> Self {
        RpcLimits::from_limits(&crate::bounded::ServerLimits::default())
    }
}

impl RpcLimits {
    /// The RPC part of the shared server policy.
    pub fn from_limits(l: &crate::bounded::ServerLimits) -> RpcLimits {
        RpcLimits {
            idle: l.rpc_idle,
            frame_read: l.rpc_frame_read,
            outbox_bytes: l.rpc_outbox_bytes,
            max_in_flight: l.rpc_max_in_flight,
        }
    }
}

type Handler =
    Rc<dyn Fn(CodecId, Vec<u8>) -> Pin<Box<dyn Future<Output = Result<Vec<u8>, ServerError>>>>>;

/// The `tracing` target of the endpoint's spans (`rpc_conn{peer}` and `rpc_request{id,
/// method}` on the server, `rpc_call{method,id}` on the client) and events (`reply` and
/// `call failed` at DEBUG, `unknown method` at WARN).
pub const TRACE_TARGET: &str = "testbed_protocols::rpc";

/// Methods registered by id (with their names, for spans).
#[derive(Default)]
pub struct RpcServer {
    methods: BTreeMap<u32, (&'static str, Handler)>,
}

impl RpcServer {
    /// No methods.
    pub fn new() -> Self {
        Self::default()
    }

    /// Registers method `M` served by `f`.
    ///
    /// # Panics
    /// If a method with the same id is already registered.
    pub fn register<M, F, Fut>(mut self, f: F) -> Self
    where
        M: Method,
        F: Fn(M::Req) -> Fut + 'static,
        Fut: Future<Output = Result<M::Resp, ServerError>> + 'static,
    {
        let f = Rc::new(f);
        let h: Handler = Rc::new(move |codec, payload| {
            let f = f.clone();
            Box::pin(async move {
                let req: M::Req = decode(codec, &payload).map_err(|e| ServerError {
                    code: ErrorCode::BadRequest,
                    message: e.0,
                })?;
                Ok(encode(codec, &f(req).await?))
            })
        });
        assert!(
            self.methods.insert(M::ID, (M::NAME, h)).is_none(),
            "method id {} registered twice",
            M::ID
        );
        self
    }

    /// Serves one connection with the default [`RpcLimits`].
    pub async fn serve_conn<R: Runtime, S: Stream>(self: Rc<Self>, rt: R, stream: S) {
        self.serve_conn_with(rt, stream, RpcLimits::default()).await
    }

    /// Serves one connection until it closes, sends an invalid frame or misses a deadline of
    /// `lim`. Requests are not read while replies past the outbox bound wait to be written
    /// or too many calls run (backpressure through the client's send window).
    pub async fn serve_conn_with<R: Runtime, S: Stream>(
        self: Rc<Self>,
        rt: R,
        stream: S,
        lim: RpcLimits,
    ) {
        let span =
            tracing::info_span!(target: TRACE_TARGET, "rpc_conn", peer = %stream.peer_addr());
        self.serve_conn_inner(rt, stream, lim)
            .instrument(span)
            .await
    }

    async fn serve_conn_inner<R: Runtime, S: Stream>(
        self: Rc<Self>,
        rt: R,
        stream: S,
        lim: RpcLimits,
    ) {
        let (mut r, w) = tokio::io::split(stream);
        let out = Rc::new(Outbox::default());
        let writer_task = rt.spawn(writer(rt.clone(), w, out.clone()));
        let calls: Rc<RefCell<BTreeMap<u64, JoinHandle<()>>>> = Rc::default();
        let in_flight: Rc<(Cell<usize>, RefCell<Option<Waker>>)> = Rc::default();
        loop {
            // A client that stops reading its replies is closed after an idle period.
            let drained = rt.now().saturating_add(lim.idle);
            if timeout_at(&rt, drained, out.below(lim.outbox_bytes))
                .await
                .is_err()
            {
                break;
            }
            std::future::poll_fn(|cx| {
                if in_flight.0.get() < lim.max_in_flight.max(1) {
                    return Poll::Ready(());
                }
                *in_flight.1.borrow_mut() = Some(cx.waker().clone());
                Poll::Pending
            })
            .await;
            let Ok(Some((h, payload))) =
                read_frame(&rt, &mut r, MAX_PAYLOAD, Some((lim.idle, lim.frame_read))).await
            else {
                break;
            };
            match h.kind {
                Kind::Heartbeat => out.push(&h, &[]),
                Kind::Cancel => {
                    if let Some(t) = calls.borrow_mut().remove(&h.message_id) {
                        t.abort();
                    }
                }
                Kind::Request => {
                    let reply = move |kind, payload: &[u8]| {
                        (
                            FrameHeader {
                                kind,
                                payload_len: payload.len() as u32,
                                deadline_ms: 0,
                                ..h
                            },
                            payload.to_vec(),
                        )
                    };
                    let Some((name, handler)) = self.methods.get(&h.method_id).cloned() else {
                        tracing::warn!(target: TRACE_TARGET, id = h.message_id, method = h.method_id, "unknown method");
                        let (rh, p) = reply(
                            Kind::Error,
                            &error_payload(ErrorCode::UnknownMethod, "unknown method"),
                        );
                        out.push(&rh, &p);
                        continue;
                    };
                    let deadline = (h.deadline_ms > 0)
                        .then(|| rt.now() + Duration::from_millis(h.deadline_ms as u64));
                    let (out2, calls2, rt2) = (out.clone(), calls.clone(), rt.clone());
                    let running = InFlight::new(in_flight.clone());
                    let span = tracing::info_span!(
                        target: TRACE_TARGET,
                        "rpc_request",
                        id = h.message_id,
                        method = name
                    );
                    let task = rt.spawn(async move {
                        let _running = running;
                        let fut = handler(h.codec, payload);
                        let result = match deadline {
                            Some(d) => timeout_at(&rt2, d, fut).await.unwrap_or(Err(ServerError {
                                code: ErrorCode::DeadlineExceeded,
                                message: "deadline exceeded".into(),
                            })),
                            None => fut.await,
                        };
                        let (kind, p) = match result {
                            Ok(p) => (Kind::Response, p),
                            Err(e) => {
                                tracing::debug!(target: TRACE_TARGET, code = ?e.code, "handler failed");
                                (Kind::Error, error_payload(e.code, &e.message))
                            }
                        };
                        tracing::debug!(target: TRACE_TARGET, ?kind, bytes = p.len(), "reply");
                        let (rh, p) = reply(kind, &p);
                        out2.push(&rh, &p);
                        calls2.borrow_mut().remove(&h.message_id);
                    }.instrument(span));
                    calls.borrow_mut().insert(h.message_id, task);
                    // Let a call that is ready at once queue its reply before the next read,
                    // so the outbox bound sees it (pipelined calls otherwise all run first).
                    testbed_model::runtime::yield_now().await;
                }
                Kind::Response | Kind::Error => break, // a client does not send these
            }
        }
        for (_, t) in std::mem::take(&mut *calls.borrow_mut()) {
            t.abort();
        }
        out.close();
        let _ = writer_task.await;
    }
}

/// Counts a running call while it lives (aborted calls too); its end wakes the reader.
struct InFlight(Rc<(Cell<usize>, RefCell<Option<Waker>>)>);

impl InFlight {
    fn new(n: Rc<(Cell<usize>, RefCell<Option<Waker>>)>) -> InFlight {
        n.0.set(n.0.get() + 1);
        InFlight(n)
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0 .0.set(self.0 .0.get() - 1);
        if let Some(w) = self.0 .1.borrow_mut().take() {
            w.wake();
        }
    }
}

/// Accepts connections until the listener closes.
pub async fn serve<H: Net + Runtime>(host: H, listener: H::Listener, server: Rc<RpcServer>) {
    crate::bounded::accept_loop_default(&host, &listener, |s, permit| {
        let conn = server.clone().serve_conn(host.clone(), s);
        drop(host.spawn(async move {
            conn.await;
            drop(permit);
        }));
    })
    .await
}

#[derive(Default)]
struct Slot {
    result: Option<Result<(Kind, Vec<u8>), CallError>>,
    waker: Option<Waker>,
}

type Pending = Rc<RefCell<BTreeMap<u64, Rc<RefCell<Slot>>>>>;

/// A client multiplexing calls over one connection.
pub struct RpcClient {
    out: Rc<Outbox>,
    pending: Pending,
    next_id: Cell<u64>,
    codec: CodecId,
    tasks: Vec<JoinHandle<()>>,
}

fn fail_all(pending: &Pending, e: CallError) {
    for (_, slot) in std::mem::take(&mut *pending.borrow_mut()) {
        let mut s = slot.borrow_mut();
        s.result = Some(Err(e.clone()));
        if let Some(w) = s.waker.take() {
            w.wake();
        }
    }
}

struct CancelOnDrop<'a> {
    client: &'a RpcClient,
    id: u64,
}

impl Drop for CancelOnDrop<'_> {
    fn drop(&mut self) {
        if self.client.pending.borrow_mut().remove(&self.id).is_some() {
            let h = FrameHeader {
                kind: Kind::Cancel,
                codec: self.client.codec,
                flags: 0,
                message_id: self.id,
                method_id: 0,
                deadline_ms: 0,
                payload_len: 0,
            };
            self.client.out.push(&h, &[]);
        }
    }
}

impl RpcClient {
    /// Connects to `addr` and starts the connection's reader and writer tasks on `net`.
    pub async fn connect<N: Net + Runtime>(
        net: &N,
        addr: SocketAddr,
        codec: CodecId,
    ) -> Result<RpcClient, ConnectError> {
        let stream = net.connect(addr).await?;
        Ok(RpcClient::over(net, stream, codec))
    }

    /// A client on an established stream (a TLS stream, for instance), its reader and writer
    /// tasks on `rt`.
    pub fn over<R: Runtime, S: Stream>(rt: &R, stream: S, codec: CodecId) -> RpcClient {
        let net = rt;
        let (mut r, w) = tokio::io::split(stream);
        let out = Rc::new(Outbox::default());
        let pending: Pending = Rc::default();
        let writer_task = net.spawn(writer(net.clone(), w, out.clone()));
        let (p2, out2) = (pending.clone(), out.clone());
        let net2 = net.clone();
        let reader_task = net.spawn(async move {
            // The client waits as long as its calls do (each call has its own deadline).
            while let Ok(Some((h, payload))) = read_frame(&net2, &mut r, MAX_PAYLOAD, None).await {
                if let Some(slot) = p2.borrow_mut().remove(&h.message_id) {
                    let mut s = slot.borrow_mut();
                    s.result = Some(Ok((h.kind, payload)));
                    if let Some(w) = s.waker.take() {
                        w.wake();
                    }
                }
            }
            out2.close();
            fail_all(&p2, CallError::Disconnected);
        });
        RpcClient {
            out,
            pending,
            next_id: Cell::new(1),
            codec,
            tasks: vec![writer_task, reader_task],
        }
    }

    fn send(
        &self,
        kind: Kind,
        method_id: u32,
        timeout: Duration,
        payload: &[u8],
    ) -> (u64, Rc<RefCell<Slot>>) {
        let id = self.next_id.get();
        self.next_id.set(id + 1);
        let slot: Rc<RefCell<Slot>> = Rc::default();
        if self.out.closed.get() {
            slot.borrow_mut().result = Some(Err(CallError::Disconnected));
            return (id, slot);
        }
        self.pending.borrow_mut().insert(id, slot.clone());
        let deadline_ms = u32::try_from(timeout.as_millis())
            .unwrap_or(u32::MAX)
            .max(1);
        let h = FrameHeader {
            kind,
            codec: self.codec,
            flags: 0,
            message_id: id,
            method_id,
            deadline_ms,
            payload_len: payload.len() as u32,
        };
        self.out.push(&h, payload);
        (id, slot)
    }

    async fn wait<R: Runtime>(
        &self,
        rt: &R,
        id: u64,
        slot: Rc<RefCell<Slot>>,
        deadline: Instant,
    ) -> Result<(Kind, Vec<u8>), CallError> {
        let _cancel = CancelOnDrop { client: self, id };
        let wait = std::future::poll_fn(|cx| {
            let mut s = slot.borrow_mut();
            match s.result.take() {
                Some(r) => Poll::Ready(r),
                None => {
                    s.waker = Some(cx.waker().clone());
                    Poll::Pending
                }
            }
        });
        timeout_at(rt, deadline, wait)
            .await
            .map_err(|_| CallError::DeadlineExceeded)?
    }

    /// Calls method `M` with `req`, waiting at most `timeout` (which the server also sees).
    /// Dropping the returned future cancels the call on the server.
    pub async fn call<M: Method, R: Runtime>(
        &self,
        rt: &R,
        req: &M::Req,
        timeout: Duration,
    ) -> Result<M::Resp, CallError> {
        let deadline = rt.now() + timeout;
        let (id, slot) = self.send(Kind::Request, M::ID, timeout, &encode(self.codec, req));
        let span = tracing::info_span!(target: TRACE_TARGET, "rpc_call", method = M::NAME, id);
        let r = match self
            .wait(rt, id, slot, deadline)
            .instrument(span.clone())
            .await
        {
            Ok((Kind::Response, p)) => decode(self.codec, &p).map_err(|e| CallError::Decode(e.0)),
            Ok((Kind::Error, p)) => {
                let (code, message) = parse_error_payload(&p);
                Err(CallError::Remote { code, message })
            }
            Ok(_) => Err(CallError::Decode("unexpected frame kind".into())),
            Err(e) => Err(e),
        };
        if let Err(e) = &r {
            span.in_scope(|| tracing::debug!(target: TRACE_TARGET, error = %e, "call failed"));
        }
        r
    }

    /// Sends a heartbeat and returns the round-trip time.
    pub async fn heartbeat<R: Runtime>(
        &self,
        rt: &R,
        timeout: Duration,
    ) -> Result<Duration, CallError> {
        let t0 = rt.now();
        let (id, slot) = self.send(Kind::Heartbeat, 0, timeout, &[]);
        self.wait(rt, id, slot, t0 + timeout).await?;
        Ok(rt.now() - t0)
    }

    /// Calls still waiting for an answer.
    pub fn in_flight(&self) -> usize {
        self.pending.borrow().len()
    }
}

impl Drop for RpcClient {
    fn drop(&mut self) {
        self.out.close();
        for t in &self.tasks {
            t.abort();
        }
    }
}
