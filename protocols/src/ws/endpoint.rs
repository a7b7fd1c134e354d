//! An async WebSocket endpoint over any `model::Net` stream: server `accept` (HTTP upgrade),
//! client `connect`, sending and receiving messages, automatic pongs and the close handshake.

use super::deflate::Deflate;
use super::frame::{encode_frame, OpCode};
use super::handshake::{client_request, server_response, validate_client_request, HandshakeError};
use super::message::{CloseCode, Event, MessageLayer, Role, WsLimits};
use crate::http1::io::{ReadBuf, ReadStop};
use crate::http1::{parse_request, parse_response, Header, Limits, ParseError, Status};
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::task::Poll;
use testbed_model::{ConnectError, Net, Rng, Runtime, SeededRng, Stream};
use tokio::io::AsyncWriteExt;

/// Why a WebSocket operation failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum WsError {
    /// The opening handshake was refused.
    #[error("handshake: {0}")]
    Handshake(#[from] HandshakeError),
    /// The HTTP part was malformed.
    #[error("http: {0}")]
    Http(#[from] ParseError),
    /// Connecting failed.
    #[error("connect: {0}")]
    Connect(#[from] ConnectError),
    /// Reading or writing failed.
    #[error("i/o: {0}")]
    Io(#[from] io::Error),
    /// The TCP connection ended without a close frame.
    #[error("connection closed without a close frame")]
    Closed,
    /// The peer broke the protocol; we sent a close frame with this code.
    #[error("protocol violation (close code {code}): {why}", code = .0 .0, why = .1)]
    Protocol(CloseCode, &'static str),
    /// The upgrade request did not arrive whole within the deadline ([`accept_within`]).
    #[error("no complete upgrade request within the deadline")]
    UpgradeTimeout,
}

/// What [`WsStream::recv_or`] returned first.
#[derive(Debug, PartialEq, Eq)]
pub enum Next<T> {
    /// Something arrived on the socket.
    Event(Event),
    /// The other future completed first.
    Other(T),
}

/// One end of a WebSocket connection.
pub struct WsStream<S> {
    stream: S,
    role: Role,
    layer: MessageLayer,
    buf: ReadBuf,
    mask: SeededRng,
    close_sent: bool,
}

impl<S: Stream> WsStream<S> {
    async fn send_frame(
        &mut self,
        fin: bool,
        rsv1: bool,
        op: OpCode,
        payload: &[u8],
    ) -> io::Result<()> {
        let mask = (self.role == Role::Client).then(|| self.mask.next_u32().to_be_bytes());
        let mut out = Vec::with_capacity(payload.len() + 14);
        encode_frame(&mut out, fin, rsv1, op, mask, payload);
        self.stream.write_all(&out).await
    }

    /// Sends a text message.
    pub async fn send_text(&mut self, text: &str) -> io::Result<()> {
        let (p, rsv1) = self.layer.outgoing(text.as_bytes());
        self.send_frame(true, rsv1, OpCode::Text, &p).await
    }

    /// Sends a binary message.
    pub async fn send_binary(&mut self, data: &[u8]) -> io::Result<()> {
        let (p, rsv1) = self.layer.outgoing(data);
        self.send_frame(true, rsv1, OpCode::Binary, &p).await
    }

    /// Sends a ping.
    pub async fn ping(&mut self, data: &[u8]) -> io::Result<()> {
        self.send_frame(true, false, OpCode::Ping, data).await
    }

    /// Starts the close handshake with `code` and `reason`.
    pub async fn close(&mut self, code: CloseCode, reason: &str) -> io::Result<()> {
        if self.close_sent {
            return Ok(());
        }
        self.close_sent = true;
        let mut p = code.0.to_be_bytes().to_vec();
        p.extend_from_slice(reason.as_bytes());
        self.send_frame(true, false, OpCode::Close, &p).await
    }

    /// The next message or control event. Pings are answered automatically (and still
    /// reported); a close frame is answered and reported as [`Event::Close`].
    pub async fn recv<R: Runtime>(&mut self, rt: &R) -> Result<Event, WsError> {
        match self
            .recv_or(rt, std::pin::pin!(std::future::pending::<()>()))
            .await?
        {
            Next::Event(e) => Ok(e),
            Next::Other(()) => unreachable!("pending never completes"),
        }
    }

    /// Like [`WsStream::recv`], but returns early with `other`'s output if it completes while
    /// the socket has nothing to read (e.g. a message to send arrived from elsewhere). Nothing
    /// is lost when `other` wins: the race only covers waiting for bytes, never a write.
    pub async fn recv_or<R: Runtime, F: Future>(
        &mut self,
        rt: &R,
        mut other: Pin<&mut F>,
    ) -> Result<Next<F::Output>, WsError> {
        loop {
            match self.layer.handle(self.buf.pending()) {
                Ok(Some((ev, n))) => {
                    self.buf.consume(n);
                    match ev {
                        None => continue,
                        Some(Event::Ping(p)) => {
                            if !self.close_sent {
                                self.send_frame(true, false, OpCode::Pong, &p).await?;
                            }
                            return Ok(Next::Event(Event::Ping(p)));
                        }
                        Some(Event::Close(c)) => {
                            if !self.close_sent {
                                self.close_sent = true;
                                let echo: Vec<u8> = c
                                    .as_ref()
                                    .map(|(code, _)| code.to_be_bytes().to_vec())
                                    .unwrap_or_default();
                                self.send_frame(true, false, OpCode::Close, &echo).await?;
                            }
                            let _ = self.stream.shutdown().await;
                            return Ok(Next::Event(Event::Close(c)));
                        }
                        Some(e) => return Ok(Next::Event(e)),
                    }
                }
                Ok(None) => {
                    let mut fill = std::pin::pin!(self.buf.fill(rt, &mut self.stream, None));
                    let raced = std::future::poll_fn(|cx| {
                        if let Poll::Ready(v) = other.as_mut().poll(cx) {
                            return Poll::Ready(Err(v));
                        }
                        fill.as_mut().poll(cx).map(Ok)
                    })
                    .await;
                    match raced {
                        Err(v) => return Ok(Next::Other(v)),
                        Ok(Ok(_)) => {}
                        Ok(Err(ReadStop::Eof)) | Ok(Err(ReadStop::Timeout)) => {
                            return Err(WsError::Closed)
                        }
                        Ok(Err(ReadStop::Io(e))) => return Err(e.into()),
                    }
                }
                Err((code, why)) => {
                    let _ = self.close(code, "").await;
                    let _ = self.stream.shutdown().await;
                    return Err(WsError::Protocol(code, why));
                }
            }
        }
    }
}

async fn http_error<S: Stream>(s: &mut S, status: u16) {
    // 426 names the versions we speak (RFC 6455 §4.4: MUST).
    let version = if status == 426 {
        "Sec-WebSocket-Version: 13\r\n"
    } else {
        ""
    };
    let msg = format!(
        "HTTP/1.1 {status} {}\r\n{version}Content-Length: 0\r\nConnection: close\r\n\r\n",
        crate::http1::reason(status)
    );
    let _ = s.write_all(msg.as_bytes()).await;
    let _ = s.shutdown().await;
}

/// [`accept`], bounded: the upgrade request must be complete and answered within `deadline`
/// of now (on `rt`'s clock); otherwise the connection is dropped (closed) and
/// [`WsError::UpgradeTimeout`] returned. Servers use this with
/// [`ServerLimits::ws_upgrade`](crate::bounded::ServerLimits::ws_upgrade).
pub async fn accept_within<R: Runtime, S: Stream>(
    rt: &R,
    stream: S,
    limits: WsLimits,
    deadline: testbed_model::Duration,
) -> Result<WsStream<S>, WsError> {
    let at = rt.now().saturating_add(deadline);
    testbed_model::runtime::timeout_at(rt, at, accept(rt, stream, limits))
        .await
        .unwrap_or(Err(WsError::UpgradeTimeout))
}

/// Server side: reads the upgrade request from `stream`, answers 101 (or the right error),
/// and returns the WebSocket.
pub async fn accept<R: Runtime, S: Stream>(
    rt: &R,
    mut stream: S,
    limits: WsLimits,
) -> Result<WsStream<S>, WsError> {
    let mut buf = ReadBuf::default();
    let http_limits = Limits::default();
    let (accept, negotiated, head_len) = loop {
        let mut hs = [Header::default(); 64];
        match parse_request(buf.pending(), &mut hs, &http_limits) {
            Ok(Status::Complete(r)) => match validate_client_request(&r) {
                Ok((a, n)) => break (a, n, r.head_len),
                Err(e) => {
                    http_error(&mut stream, e.status()).await;
                    return Err(e.into());
                }
            },
            Ok(Status::Partial) => match buf.fill(rt, &mut stream, None).await {
                Ok(_) => {}
                Err(ReadStop::Io(e)) => return Err(e.into()),
                Err(_) => return Err(WsError::Closed),
            },
            Err(e) => {
                http_error(&mut stream, e.status()).await;
                return Err(e.into());
            }
        }
    };
    buf.consume(head_len);
    stream
        .write_all(&server_response(&accept, &negotiated))
        .await?;
    let deflate = negotiated.deflate.then(|| {
        Deflate::new(
            negotiated.server_no_context_takeover,
            negotiated.client_no_context_takeover,
        )
    });
    Ok(WsStream {
        stream,
        role: Role::Server,
        layer: MessageLayer::new(Role::Server, limits, deflate),
        buf,
        mask: SeededRng::new(0),
        close_sent: false,
    })
}

/// Client side: connects to `addr`, upgrades `path`, and returns the WebSocket. The key and
/// the masking keys come from `net.rng()` (seeded in the simulator).
pub async fn connect<N: Net + Runtime>(
    net: &N,
    addr: SocketAddr,
    path: &str,
    offer_deflate: bool,
    limits: WsLimits,
) -> Result<WsStream<N::Stream>, WsError> {
    let stream = net.connect(addr).await?;
    connect_over(net, stream, &addr.to_string(), path, offer_deflate, limits).await
}

/// Client side on an established stream (a TLS stream for wss, for instance): upgrades
/// `path` on `host`.
pub async fn connect_over<R: Runtime, S: Stream>(
    rt: &R,
    mut stream: S,
    host: &str,
    path: &str,
    offer_deflate: bool,
    limits: WsLimits,
) -> Result<WsStream<S>, WsError> {
    let net = rt;
    let mut rng = net.rng();
    let mut nonce = [0u8; 16];
    rng.fill_bytes(&mut nonce);
    let (req, key) = client_request(host, path, nonce, offer_deflate);
    stream.write_all(&req).await?;
    let expect = super::handshake::accept_key(key.as_bytes());
    let mut buf = ReadBuf::default();
    let (deflate, head_len) = loop {
        let mut hs = [Header::default(); 64];
        match parse_response(buf.pending(), &mut hs, &Limits::default())? {
            Status::Complete(r) => {
                let ok = r.status == 101
                    && r.headers.has_token("upgrade", "websocket")
                    && r.headers.get("sec-websocket-accept") == Some(expect.as_bytes());
                if !ok {
                    return Err(HandshakeError::BadResponse.into());
                }
                let ext: Vec<String> = r
                    .headers
                    .get_all("sec-websocket-extensions")
                    .map(|v| String::from_utf8_lossy(v).to_ascii_lowercase())
                    .collect();
                let ext = ext.join(",");
                let deflate = (offer_deflate && ext.contains("permessage-deflate")).then(|| {
                    Deflate::new(
                        ext.contains("client_no_context_takeover"),
                        ext.contains("server_no_context_takeover"),
                    )
                });
                break (deflate, r.head_len);
            }
            Status::Partial => match buf.fill(net, &mut stream, None).await {
                Ok(_) => {}
                Err(ReadStop::Io(e)) => return Err(e.into()),
                Err(_) => return Err(WsError::Closed),
            },
        }
    };
    buf.consume(head_len);
    Ok(WsStream {
        stream,
        role: Role::Client,
        layer: MessageLayer::new(Role::Client, limits, deflate),
        buf,
        mask: rng,
        close_sent: false,
    })
}
