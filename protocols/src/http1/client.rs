//! The HTTP/1.1 client over any `model::Net`, with a keep-alive connection pool.

use super::io::{ReadBuf, ReadStop};
use super::message::{Request, Response};
use super::{
    parse_response, response_body, write_request_head, BodyKind, ChunkedDecoder, Header, Limits,
    ParseError, Status, Version,
};
use std::cell::RefCell;
use std::collections::BTreeMap;
use std::io;
use std::net::SocketAddr;
use testbed_model::{ConnectError, Duration, Instant, Net, Runtime};
use tokio::io::AsyncWriteExt;

/// Why a request failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ClientError {
    /// Could not connect.
    #[error("connect: {0}")]
    Connect(#[from] ConnectError),
    /// Reading or writing failed.
    #[error("i/o: {0}")]
    Io(#[from] io::Error),
    /// The response was malformed.
    #[error("bad response: {0}")]
    Parse(#[from] ParseError),
    /// The server closed the connection before the response was complete.
    #[error("connection closed before the response was complete")]
    Closed,
    /// No response within the timeout.
    #[error("timed out")]
    Timeout,
}

struct Pooled<S> {
    stream: S,
    buf: ReadBuf,
}

/// A client with at most `max_idle_per_host` idle keep-alive connections per address.
pub struct Client<N: Net> {
    net: N,
    pool: RefCell<BTreeMap<SocketAddr, Vec<Pooled<N::Stream>>>>,
    max_idle_per_host: usize,
    limits: Limits,
    timeout: Duration,
    connects: std::cell::Cell<u64>,
}

impl<N: Net + Runtime> Client<N> {
    /// A client on `net` with a 30 s response timeout and 8 idle connections per host.
    pub fn new(net: N) -> Self {
        Client {
            net,
            pool: RefCell::new(BTreeMap::new()),
            max_idle_per_host: 8,
            limits: Limits::default(),
            timeout: Duration::from_secs(30),
            connects: std::cell::Cell::new(0),
        }
    }

    /// Connections opened so far (to observe keep-alive reuse).
    pub fn connects(&self) -> u64 {
        self.connects.get()
    }

    /// Sends `req` to `addr` and reads the whole response. A pooled connection that turns out
    /// to be closed is replaced by a fresh one once, for idempotent methods.
    pub async fn request(&self, addr: SocketAddr, req: &Request) -> Result<Response, ClientError> {
        let pooled = self.pool.borrow_mut().get_mut(&addr).and_then(Vec::pop);
        let idempotent = matches!(
            req.method.as_str(),
            "GET" | "HEAD" | "PUT" | "DELETE" | "OPTIONS"
        );
        if let Some(p) = pooled {
            match self.exchange(addr, p, req).await {
                Err((ClientError::Closed | ClientError::Io(_), false)) if idempotent => {}
                other => return other.map_err(|(e, _)| e),
            }
        }
        self.connects.set(self.connects.get() + 1);
        let stream = self.net.connect(addr).await?;
        self.exchange(
            addr,
            Pooled {
                stream,
                buf: ReadBuf::default(),
            },
            req,
        )
        .await
        .map_err(|(e, _)| e)
    }

    /// One exchange; the flag says whether any response byte arrived.
    async fn exchange(
        &self,
        addr: SocketAddr,
        mut c: Pooled<N::Stream>,
        req: &Request,
    ) -> Result<Response, (ClientError, bool)> {
        let mut out = Vec::with_capacity(256 + req.body.len());
        let host = addr.to_string();
        let len = req.body.len().to_string();
        let mut headers: Vec<Header<'_>> = req
            .headers
            .iter()
            .map(|(n, v)| Header { name: n, value: v })
            .collect();
        if req.header("host").is_none() {
            headers.push(Header {
                name: "Host",
                value: host.as_bytes(),
            });
        }
        if !req.body.is_empty() || matches!(req.method.as_str(), "POST" | "PUT") {
            headers.push(Header {
                name: "Content-Length",
                value: len.as_bytes(),
            });
        }
        write_request_head(&mut out, &req.method, &req.target, req.version, &headers);
        out.extend_from_slice(&req.body);
        c.stream
            .write_all(&out)
            .await
            .map_err(|e| (e.into(), false))?;
        let deadline = self.net.now() + self.timeout;
        let (resp, keep) = self.read_response(&mut c, &req.method, deadline).await?;
        if keep {
            let mut pool = self.pool.borrow_mut();
            let idle = pool.entry(addr).or_default();
            if idle.len() < self.max_idle_per_host {
                idle.push(c);
            }
        }
        Ok(resp)
    }

    async fn read_response(
        &self,
        c: &mut Pooled<N::Stream>,
        method: &str,
        deadline: Instant,
    ) -> Result<(Response, bool), (ClientError, bool)> {
        let stop = |s: ReadStop, got: bool| match s {
            ReadStop::Eof => (ClientError::Closed, got),
            ReadStop::Timeout => (ClientError::Timeout, got),
            ReadStop::Io(e) => (ClientError::Io(e), got),
        };
        loop {
            let got = !c.buf.pending().is_empty();
            let mut hs = [Header::default(); 128];
            let parsed = match parse_response(c.buf.pending(), &mut hs, &self.limits) {
                Ok(Status::Complete(r)) => {
                    let kind =
                        response_body(method, &r, &self.limits).map_err(|e| (e.into(), true))?;
                    let keep =
                        r.version == Version::Http11 && !r.headers.has_token("connection", "close");
                    let head = Response {
                        status: r.status,
                        headers: r
                            .headers
                            .0
                            .iter()
                            .map(|h| (h.name.to_string(), h.value.to_vec()))
                            .collect(),
                        body: Vec::new(),
                        file: None,
                    };
                    Some((head, kind, keep, r.head_len, (100..200).contains(&r.status)))
                }
                Ok(Status::Partial) => None,
                Err(e) => return Err((e.into(), true)),
            };
            let Some((mut head, kind, keep, head_len, interim)) = parsed else {
                c.buf
                    .fill(&self.net, &mut c.stream, Some(deadline))
                    .await
                    .map_err(|s| stop(s, got))?;
                continue;
            };
            c.buf.consume(head_len);
            if interim {
                continue; // 100 Continue and friends: the real response follows
            }
            let mut keep = keep;
            match kind {
                BodyKind::None => {}
                BodyKind::Length(n) => {
                    while (c.buf.pending().len() as u64) < n {
                        c.buf
                            .fill(&self.net, &mut c.stream, Some(deadline))
                            .await
                            .map_err(|s| stop(s, true))?;
                    }
                    head.body = c.buf.pending()[..n as usize].to_vec();
                    c.buf.consume(n as usize);
                }
                BodyKind::Chunked => {
                    let mut d = ChunkedDecoder::new(self.limits);
                    loop {
                        let r = d.decode(c.buf.pending()).map_err(|e| (e.into(), true))?;
                        head.body.extend_from_slice(r.data);
                        let (consumed, done) = (r.consumed, r.done);
                        c.buf.consume(consumed);
                        if done {
                            break;
                        }
                        if c.buf.pending().is_empty() {
                            c.buf
                                .fill(&self.net, &mut c.stream, Some(deadline))
                                .await
                                .map_err(|s| stop(s, true))?;
                        }
                    }
                }
                BodyKind::UntilClose => {
                    keep = false;
                    loop {
                        match c.buf.fill(&self.net, &mut c.stream, Some(deadline)).await {
                            Ok(_) => {}
                            Err(ReadStop::Eof) => break,
                            Err(s) => return Err(stop(s, true)),
                        }
                        if c.buf.pending().len() as u64 > self.limits.body {
                            return Err((ParseError::BodyTooLarge.into(), true));
                        }
                    }
                    head.body = c.buf.pending().to_vec();
                    c.buf.consume(head.body.len());
                }
            }
            return Ok((head, keep));
        }
    }
}
