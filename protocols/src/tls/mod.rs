//! TLS (rustls, through tokio-rustls) over any `model::Stream`: server and client configs with
//! ALPN, a stream type that is itself a `model::Stream` (so the HTTP/1.1 server, HTTP/2,
//! WebSocket and RPC run over it unchanged), deterministic randomness and time for the
//! simulator ([`Entropy::Seeded`], [`Clock::sim`]) and test certificates ([`test_pki`]).

mod pki;
mod provider;

pub use pki::{test_pki, test_pki_with, KeyAlg, PkiError, TestPki};
pub use provider::{crypto_provider, Clock, Entropy, SIM_EPOCH_UNIX_SECS};

use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use rustls::{ClientConfig, RootCertStore, ServerConfig};
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// ALPN protocol id of HTTP/2.
pub const ALPN_H2: &[u8] = b"h2";
/// ALPN protocol id of HTTP/1.1.
pub const ALPN_HTTP11: &[u8] = b"http/1.1";

/// Why a TLS config could not be built.
#[derive(Debug, thiserror::Error)]
#[error("tls config: {0}")]
pub struct ConfigError(String);

fn err(e: impl std::fmt::Display) -> ConfigError {
    ConfigError(e.to_string())
}

/// A server config presenting `chain` (leaf first) with `key`, offering `alpn` in order of
/// preference.
pub fn server_config(
    chain: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
    alpn: &[&[u8]],
    entropy: Entropy,
    clock: &Clock,
) -> Result<Arc<ServerConfig>, ConfigError> {
    rustls_server(chain, key, alpn, entropy, clock, rustls::DEFAULT_VERSIONS)
        .map(Arc::new)
        .map_err(err)
}

/// A client config trusting `roots`, offering `alpn`.
pub fn client_config(
    roots: &[CertificateDer<'static>],
    alpn: &[&[u8]],
    entropy: Entropy,
    clock: &Clock,
) -> Result<Arc<ClientConfig>, ConfigError> {
    rustls_client(roots, alpn, entropy, clock, rustls::DEFAULT_VERSIONS)
        .map(Arc::new)
        .map_err(err)
}

/// The one rustls server config builder (TLS over streams and QUIC): our crypto provider and
/// clock, `versions`, `chain` with `key`, and `alpn` in order of preference.
pub(crate) fn rustls_server(
    chain: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
    alpn: &[&[u8]],
    entropy: Entropy,
    clock: &Clock,
    versions: &[&'static rustls::SupportedProtocolVersion],
) -> Result<ServerConfig, rustls::Error> {
    let provider = crypto_provider(entropy);
    let builder = match clock.time_provider() {
        Some(t) => ServerConfig::builder_with_details(provider, t),
        None => ServerConfig::builder_with_provider(provider),
    };
    let mut cfg = builder
        .with_protocol_versions(versions)?
        .with_no_client_auth()
        .with_single_cert(chain, key)?;
    cfg.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    Ok(cfg)
}

/// The one rustls client config builder (TLS over streams and QUIC): our crypto provider and
/// clock, `versions`, trusting `roots`, offering `alpn`.
pub(crate) fn rustls_client(
    roots: &[CertificateDer<'static>],
    alpn: &[&[u8]],
    entropy: Entropy,
    clock: &Clock,
    versions: &[&'static rustls::SupportedProtocolVersion],
) -> Result<ClientConfig, rustls::Error> {
    let provider = crypto_provider(entropy);
    let builder = match clock.time_provider() {
        Some(t) => ClientConfig::builder_with_details(provider, t),
        None => ClientConfig::builder_with_provider(provider),
    };
    let mut store = RootCertStore::empty();
    for r in roots {
        store.add(r.clone())?;
    }
    let mut cfg = builder
        .with_protocol_versions(versions)?
        .with_root_certificates(store)
        .with_no_client_auth();
    cfg.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    Ok(cfg)
}

/// A TLS connection over a model stream; itself a model stream.
pub struct TlsStream<S> {
    inner: tokio_rustls::TlsStream<S>,
    local: SocketAddr,
    peer: SocketAddr,
}

impl<S> std::fmt::Debug for TlsStream<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsStream")
            .field("local", &self.local)
            .field("peer", &self.peer)
            .field("alpn", &self.alpn().map(String::from_utf8_lossy))
            .finish()
    }
}

impl<S> TlsStream<S> {
    /// The protocol ALPN chose, if any.
    pub fn alpn(&self) -> Option<&[u8]> {
        match &self.inner {
            tokio_rustls::TlsStream::Client(c) => c.get_ref().1.alpn_protocol(),
            tokio_rustls::TlsStream::Server(s) => s.get_ref().1.alpn_protocol(),
        }
    }
    /// The negotiated TLS version.
    pub fn version(&self) -> Option<rustls::ProtocolVersion> {
        match &self.inner {
            tokio_rustls::TlsStream::Client(c) => c.get_ref().1.protocol_version(),
            tokio_rustls::TlsStream::Server(s) => s.get_ref().1.protocol_version(),
        }
    }
}

/// Completes a server handshake on `s`.
pub async fn accept<S: testbed_model::Stream>(
    cfg: Arc<ServerConfig>,
    s: S,
) -> io::Result<TlsStream<S>> {
    let (local, peer) = (s.local_addr(), s.peer_addr());
    let inner = tokio_rustls::TlsAcceptor::from(cfg).accept(s).await?;
    Ok(TlsStream {
        inner: tokio_rustls::TlsStream::Server(inner),
        local,
        peer,
    })
}

/// Completes a client handshake on `s`, verifying the server as `server_name` (a DNS name or
/// an IP address).
pub async fn connect<S: testbed_model::Stream>(
    cfg: Arc<ClientConfig>,
    server_name: &str,
    s: S,
) -> io::Result<TlsStream<S>> {
    let name = ServerName::try_from(server_name.to_string())
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
    let (local, peer) = (s.local_addr(), s.peer_addr());
    let inner = tokio_rustls::TlsConnector::from(cfg)
        .connect(name, s)
        .await?;
    Ok(TlsStream {
        inner: tokio_rustls::TlsStream::Client(inner),
        local,
        peer,
    })
}

impl<S: AsyncRead + AsyncWrite + Unpin> AsyncRead for TlsStream<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> AsyncWrite for TlsStream<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }
    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }
    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }
    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}

impl<S: testbed_model::Stream> testbed_model::Stream for TlsStream<S> {
    fn local_addr(&self) -> SocketAddr {
        self.local
    }
    fn peer_addr(&self) -> SocketAddr {
        self.peer
    }
    fn set_nodelay(&self, nodelay: bool) -> io::Result<()> {
        self.inner.get_ref().0.set_nodelay(nodelay)
    }
    fn set_keepalive(&self, keepalive: Option<testbed_model::Keepalive>) -> io::Result<()> {
        self.inner.get_ref().0.set_keepalive(keepalive)
    }
    fn set_user_timeout(&self, timeout: Option<std::time::Duration>) -> io::Result<()> {
        self.inner.get_ref().0.set_user_timeout(timeout)
    }
    fn set_linger(&self, linger: Option<std::time::Duration>) -> io::Result<()> {
        self.inner.get_ref().0.set_linger(linger)
    }
}
