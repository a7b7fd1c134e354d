//! HTTPS: HTTP/2 and HTTP/1.1 behind one TLS port, as ALPN chose. The one place that maps a
//! negotiated ALPN protocol to a server ([`HttpProtocol::from_alpn`]) and serves the
//! connection with it ([`HttpsApp::serve`]); every TLS+ALPN server in the workspace calls it.

use crate::h2::{self, H2Config, Shutdown};
use crate::http1::{self, ConnEnd, FileSender, Handler, ServerConfig};
use crate::tls::{TlsStream, ALPN_H2, ALPN_HTTP11};
use std::rc::Rc;
use testbed_model::{Runtime, Stream};

/// The ALPN ids an HTTPS server offers, in order of preference: HTTP/2, then HTTP/1.1.
pub const HTTP_ALPN: [&[u8]; 2] = [ALPN_H2, ALPN_HTTP11];

/// The HTTP version a TLS connection speaks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum HttpProtocol {
    /// HTTP/2 (`h2`).
    H2,
    /// HTTP/1.1 (`http/1.1`, or no ALPN at all: a client that offered none).
    Http11,
}

impl HttpProtocol {
    /// The version ALPN chose: `h2` is HTTP/2; `http/1.1` or nothing is HTTP/1.1; any other
    /// id (not an HTTP server's to serve) is `None`.
    pub fn from_alpn(alpn: Option<&[u8]>) -> Option<HttpProtocol> {
        match alpn {
            Some(ALPN_H2) => Some(HttpProtocol::H2),
            Some(ALPN_HTTP11) | None => Some(HttpProtocol::Http11),
            Some(_) => None,
        }
    }
}

/// How an HTTPS connection ended.
#[derive(Debug)]
#[non_exhaustive]
pub enum HttpsEnd {
    /// Served as HTTP/2.
    H2(Result<(), ::h2::Error>),
    /// Served as HTTP/1.1.
    Http11(ConnEnd),
    /// ALPN chose a protocol that is not HTTP/2 or HTTP/1.1: closed unserved.
    Unsupported(Vec<u8>),
}

/// What an HTTPS server serves each connection with.
#[derive(Debug)]
pub struct HttpsApp<'a, H1, H2, F> {
    /// The HTTP/1.1 handler.
    pub http1: &'a H1,
    /// The HTTP/1.1 server's limits and timeouts.
    pub http1_config: ServerConfig,
    /// The HTTP/1.1 server's file hook.
    pub files: &'a F,
    /// The HTTP/2 handler.
    pub h2: Rc<H2>,
    /// The HTTP/2 server's settings.
    pub h2_config: H2Config,
    /// Tells HTTP/2 connections to finish their streams and close.
    pub shutdown: Shutdown,
}

impl<H1: Handler, H2: Handler, F: FileSender> HttpsApp<'_, H1, H2, F> {
    /// Serves the handshaken connection `t` with the HTTP version its ALPN chose, until it
    /// ends.
    pub async fn serve<R: Runtime, S: Stream>(self, rt: &R, t: TlsStream<S>) -> HttpsEnd {
        match HttpProtocol::from_alpn(t.alpn()) {
            Some(HttpProtocol::H2) => HttpsEnd::H2(
                h2::serve_connection(rt, t, self.h2, &self.h2_config, self.shutdown).await,
            ),
            Some(HttpProtocol::Http11) => HttpsEnd::Http11(
                http1::connection(rt, t, self.http1, &self.http1_config, self.files).await,
            ),
            None => HttpsEnd::Unsupported(t.alpn().unwrap_or_default().to_vec()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn alpn_picks_the_http_version() {
        assert_eq!(HttpProtocol::from_alpn(Some(b"h2")), Some(HttpProtocol::H2));
        assert_eq!(
            HttpProtocol::from_alpn(Some(b"http/1.1")),
            Some(HttpProtocol::Http11)
        );
        assert_eq!(HttpProtocol::from_alpn(None), Some(HttpProtocol::Http11));
        assert_eq!(HttpProtocol::from_alpn(Some(b"h3")), None);
        assert_eq!(HttpProtocol::from_alpn(Some(b"H2")), None);
    }
}
