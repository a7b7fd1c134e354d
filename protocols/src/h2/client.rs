//! The HTTP/2 client: one connection, many concurrent requests (each `request` call is a
//! stream); the connection is driven by a task on the runtime.

use super::convert::{to_h2_request, to_owned_response};
use super::server::{send_all, H2Config};
use crate::http1::{OwnedRequest, OwnedResponse};
use bytes::Bytes;
use h2::client::SendRequest;
use testbed_model::{Runtime, Stream};

/// Why a request failed.
#[derive(Debug, thiserror::Error)]
pub enum H2ClientError {
    /// A protocol or connection error (including GOAWAY and RST_STREAM from the server).
    #[error("h2: {0}")]
    H2(#[from] h2::Error),
    /// The request could not be expressed in HTTP/2 (bad method, header or target).
    #[error("request: {0}")]
    Request(#[from] http::Error),
    /// The response body exceeded the client's limit.
    #[error("response body over {0} bytes")]
    TooLarge(usize),
}

/// An HTTP/2 connection to one server.
#[derive(Clone)]
pub struct H2Client {
    send: SendRequest<Bytes>,
    authority: String,
    scheme: &'static str,
    max_body: usize,
}

/// Sends the connection preface on `s` (h2c prior knowledge, or a TLS stream whose ALPN chose
/// "h2") and spawns the connection's driver on `rt`. `authority` goes into `:authority`.
/// Receive windows are h2's defaults (64 KiB); see [`handshake_with`].
pub async fn handshake<R: Runtime, S: Stream>(
    rt: &R,
    s: S,
    authority: &str,
    tls: bool,
) -> Result<H2Client, H2ClientError> {
    handshake_with(
        rt,
        s,
        authority,
        tls,
        &H2Config {
            initial_connection_window_size: 65_535,
            ..H2Config::default()
        },
    )
    .await
}

/// [`handshake`] announcing `cfg`'s windows, frame and header-list sizes (browsers use large
/// windows: Chrome announces 6 MiB per stream and 15 MiB per connection).
pub async fn handshake_with<R: Runtime, S: Stream>(
    rt: &R,
    s: S,
    authority: &str,
    tls: bool,
    cfg: &H2Config,
) -> Result<H2Client, H2ClientError> {
    let (send, conn) = h2::client::Builder::new()
        .initial_window_size(cfg.initial_window_size)
        .initial_connection_window_size(cfg.initial_connection_window_size)
        .max_frame_size(cfg.max_frame_size)
        .max_header_list_size(cfg.max_header_list_size)
        .handshake::<_, Bytes>(s)
        .await?;
    drop(rt.spawn(async move {
        let _ = conn.await;
    }));
    Ok(H2Client {
        send,
        authority: authority.to_string(),
        scheme: if tls { "https" } else { "http" },
        max_body: 64 << 20,
    })
}

impl H2Client {
    /// Sends `req` on a new stream and reads the whole response.
    pub async fn request(&self, req: &OwnedRequest) -> Result<OwnedResponse, H2ClientError> {
        let head = to_h2_request(req, self.scheme, &self.authority)?;
        let mut send = self.send.clone().ready().await?;
        let eos = req.body.is_empty();
        let (resp, mut stream) = send.send_request(head, eos)?;
        if !eos {
            send_all(&mut stream, Bytes::copy_from_slice(&req.body)).await;
        }
        let (parts, mut body) = resp.await?.into_parts();
        let mut data = Vec::new();
        while let Some(chunk) = body.data().await {
            let chunk = chunk?;
            let _ = body.flow_control().release_capacity(chunk.len());
            if data.len() + chunk.len() > self.max_body {
                return Err(H2ClientError::TooLarge(self.max_body));
            }
            data.extend_from_slice(&chunk);
        }
        Ok(to_owned_response(parts, data))
    }
}
