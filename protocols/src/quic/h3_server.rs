//! HTTP/3 server and client (h3 over h3-quinn) for the HTTP/1.1 handlers.

use crate::h2::convert::{to_h2_request, to_h2_response, to_owned_request, to_owned_response};
use crate::http1::{Handler, OwnedRequest, OwnedResponse};
use bytes::{Buf, Bytes};
use std::net::SocketAddr;
use std::rc::Rc;
use testbed_model::Runtime;

/// Why an HTTP/3 exchange failed.
#[derive(Debug, thiserror::Error)]
pub enum H3Error {
    /// QUIC connect or handshake.
    #[error("quic connect: {0}")]
    Connect(#[from] quinn::ConnectError),
    /// The QUIC connection failed.
    #[error("quic: {0}")]
    Connection(#[from] quinn::ConnectionError),
    /// HTTP/3 connection-level error.
    #[error("h3: {0}")]
    H3(#[from] h3::error::ConnectionError),
    /// HTTP/3 stream-level error.
    #[error("h3 stream: {0}")]
    Stream(#[from] h3::error::StreamError),
    /// The request could not be expressed in HTTP/3.
    #[error("request: {0}")]
    Request(#[from] http::Error),
    /// A body over the limit.
    #[error("body over {0} bytes")]
    TooLarge(usize),
}

const MAX_BODY: usize = 64 << 20;

/// Serves HTTP/3 on one accepted QUIC connection until it closes.
pub async fn h3_serve_connection<R: Runtime, Hd: Handler>(
    rt: &R,
    conn: quinn::Connection,
    handler: Rc<Hd>,
) -> Result<(), H3Error> {
    let mut h3c = h3::server::Connection::<_, Bytes>::new(h3_quinn::Connection::new(conn)).await?;
    loop {
        match h3c.accept().await {
            Ok(Some(resolver)) => {
                let handler = handler.clone();
                drop(rt.spawn(async move {
                    let Ok((req, mut stream)) = resolver.resolve_request().await else {
                        return;
                    };
                    // Read the request stream to its end first (see the module docs).
                    let mut body = Vec::new();
                    loop {
                        match stream.recv_data().await {
                            Ok(Some(mut chunk)) => {
                                if body.len() + chunk.remaining() > MAX_BODY {
                                    return;
                                }
                                while chunk.has_remaining() {
                                    let c = chunk.chunk();
                                    body.extend_from_slice(c);
                                    let n = c.len();
                                    chunk.advance(n);
                                }
                            }
                            Ok(None) => break,
                            Err(_) => return,
                        }
                    }
                    let (head, ()) = req.into_parts();
                    let req = to_owned_request(head, body);
                    let is_head = req.method == "HEAD";
                    let resp = handler.handle(req).await;
                    let (head, body, _) = to_h2_response(&resp);
                    if stream.send_response(head).await.is_err() {
                        return;
                    }
                    if !is_head && !body.is_empty() && stream.send_data(body).await.is_err() {
                        return;
                    }
                    let _ = stream.finish().await;
                }));
            }
            Ok(None) => return Ok(()),
            Err(e) if e.is_h3_no_error() => return Ok(()),
            Err(e) => return Err(e.into()),
        }
    }
}

/// Accepts QUIC connections on `endpoint` and serves HTTP/3 on each until the endpoint closes.
pub async fn h3_serve<R: Runtime, Hd: Handler>(rt: R, endpoint: quinn::Endpoint, handler: Rc<Hd>) {
    while let Some(incoming) = endpoint.accept().await {
        let (rt2, handler) = (rt.clone(), handler.clone());
        drop(rt.spawn(async move {
            let Ok(connecting) = incoming.accept() else {
                return;
            };
            // Serve at once (0.5-RTT): a resumed client's 0-RTT requests are answered without
            // waiting for the handshake to finish.
            let conn = match connecting.into_0rtt() {
                Ok((conn, _)) => conn,
                Err(connecting) => match connecting.await {
                    Ok(c) => c,
                    Err(_) => return,
                },
            };
            let _ = h3_serve_connection(&rt2, conn, handler).await;
        }));
    }
}

/// An HTTP/3 connection to one server.
#[derive(Clone)]
pub struct H3Client {
    send: h3::client::SendRequest<h3_quinn::OpenStreams, Bytes>,
    authority: String,
    conn: quinn::Connection,
}

impl H3Client {
    /// HTTP/3 over an established QUIC connection (its driver runs on `rt`).
    pub async fn new<R: Runtime>(
        rt: &R,
        conn: quinn::Connection,
        authority: &str,
    ) -> Result<H3Client, H3Error> {
        let (mut driver, send) = h3::client::new(h3_quinn::Connection::new(conn.clone())).await?;
        drop(rt.spawn(async move {
            let _ = std::future::poll_fn(|cx| driver.poll_close(cx)).await;
        }));
        Ok(H3Client {
            send,
            authority: authority.to_string(),
            conn,
        })
    }

    /// The QUIC connection underneath.
    pub fn connection(&self) -> &quinn::Connection {
        &self.conn
    }

    /// Sends `req` on a new request stream and reads the whole response.
    pub async fn request(&self, req: &OwnedRequest) -> Result<OwnedResponse, H3Error> {
        let head = to_h2_request(req, "https", &self.authority)?;
        let mut send = self.send.clone();
        let mut stream = send.send_request(head).await?;
        if !req.body.is_empty() {
            stream.send_data(Bytes::copy_from_slice(&req.body)).await?;
        }
        stream.finish().await?;
        let resp = stream.recv_response().await?;
        let mut body = Vec::new();
        while let Some(mut chunk) = stream.recv_data().await? {
            if body.len() + chunk.remaining() > MAX_BODY {
                return Err(H3Error::TooLarge(MAX_BODY));
            }
            while chunk.has_remaining() {
                let c = chunk.chunk();
                body.extend_from_slice(c);
                let n = c.len();
                chunk.advance(n);
            }
        }
        let (parts, ()) = resp.into_parts();
        Ok(to_owned_response(parts, body))
    }

    /// The server's address as the connection sees it now.
    pub fn remote(&self) -> SocketAddr {
        self.conn.remote_address()
    }
}
