//! QUIC (quinn) and HTTP/3 (h3 + h3-quinn) over model datagrams.
//!
//! quinn runs on any model runtime through [`QuinnRuntime`] (timers on model time, tasks on
//! the runtime) and any model datagram socket through [`ModelUdp`]. Everything random or
//! time-dependent comes from the caller: the endpoint's RNG and stateless-reset key
//! ([`endpoint_config`]), the server's address-validation token key and clock
//! ([`server_config`]), and TLS's randomness and clock ([`crate::tls::Entropy`],
//! [`crate::tls::Clock`]) — so a seeded simulation puts the same QUIC packets on the wire
//! every run. On the kernel backend use quinn's own tokio runtime and sockets with the same
//! configs ([`crate::tls::Entropy::System`]).
//!
//! HTTP/3 ([`h3_serve_connection`], [`H3Client`]) serves the HTTP/1.1 [`Handler`]s, reading
//! every request stream to its end before answering (dropping a request stream unread makes
//! quinn send STOP_SENDING, which strict clients such as curl report as a reset).

mod h3_server;
mod runtime;
mod socket;

pub use h3_server::{h3_serve, h3_serve_connection, H3Client, H3Error};
pub use runtime::{QuinnRuntime, TimeBase};
pub use socket::ModelUdp;

use crate::tls::{crypto_provider, Clock, Entropy};
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use std::sync::Arc;
use std::time::SystemTime;
use testbed_model::Rng;

/// ALPN protocol id of HTTP/3.
pub const ALPN_H3: &[u8] = b"h3";

/// Why a QUIC config could not be built.
#[derive(Debug, thiserror::Error)]
#[error("quic config: {0}")]
pub struct QuicConfigError(String);

fn err(e: impl std::fmt::Display) -> QuicConfigError {
    QuicConfigError(e.to_string())
}

/// An endpoint config whose connection ids, packet-number skips and stateless-reset key come
/// from `rng`.
pub fn endpoint_config(rng: &mut impl Rng) -> quinn::EndpointConfig {
    let mut reset = [0u8; 64];
    rng.fill_bytes(&mut reset);
    let mut cfg = quinn::EndpointConfig::new(Arc::new(ring::hmac::Key::new(ring::hmac::HMAC_SHA256, &reset)));
    let mut seed = [0u8; 32];
    rng.fill_bytes(&mut seed);
    cfg.rng_seed(Some(seed));
    cfg
}

/// quinn's wall clock (address-validation token lifetimes) on a simulated clock.
struct SimWallClock {
    base_unix_secs: u64,
    now: Arc<dyn Fn() -> testbed_model::Instant + Send + Sync>,
}

impl quinn::TimeSource for SimWallClock {
    fn now(&self) -> SystemTime {
        SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(self.base_unix_secs) + (self.now)().since_epoch()
    }
}

/// Transport settings shared by both ends.
fn transport(max_streams: u32) -> Arc<quinn::TransportConfig> {
    let mut t = quinn::TransportConfig::default();
    t.max_concurrent_bidi_streams(max_streams.into());
    t.max_idle_timeout(Some(
        quinn::IdleTimeout::try_from(std::time::Duration::from_secs(30)).expect("30 s fits"),
    ));
    Arc::new(t)
}

/// A QUIC server config (TLS 1.3, 0-RTT accepted, `alpn`) presenting `chain` with `key`;
/// its address-validation token key drawn from `rng`.
pub fn server_config(
    chain: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
    alpn: &[&[u8]],
    entropy: Entropy,
    clock: &Clock,
    rng: &mut impl Rng,
) -> Result<quinn::ServerConfig, QuicConfigError> {
    let provider = crypto_provider(entropy);
    let builder = match clock.time_provider() {
        Some(t) => rustls::ServerConfig::builder_with_details(provider, t),
        None => rustls::ServerConfig::builder_with_provider(provider),
    };
    let mut tls = builder
        .with_protocol_versions(&[&rustls::version::TLS13])
        .map_err(err)?
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .map_err(err)?;
    tls.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    tls.max_early_data_size = u32::MAX; // 0-RTT
    let crypto = quinn::crypto::rustls::QuicServerConfig::try_from(tls).map_err(err)?;
    let mut master = [0u8; 64];
    rng.fill_bytes(&mut master);
    let token_key = ring::hkdf::Salt::new(ring::hkdf::HKDF_SHA256, &[]).extract(&master);
    let mut cfg = quinn::ServerConfig::new(Arc::new(crypto), Arc::new(token_key));
    cfg.transport_config(transport(256));
    if let Clock::Sim {
        base_unix_secs,
        now,
    } = clock
    {
        cfg.time_source(Arc::new(SimWallClock {
            base_unix_secs: *base_unix_secs,
            now: now.clone(),
        }));
    } // Clock::System: quinn's default reads the system clock

    Ok(cfg)
}

/// A QUIC client config trusting `roots`, offering `alpn`, with 0-RTT enabled for resumed
/// connections.
pub fn client_config(
    roots: &[CertificateDer<'static>],
    alpn: &[&[u8]],
    entropy: Entropy,
    clock: &Clock,
) -> Result<quinn::ClientConfig, QuicConfigError> {
    let provider = crypto_provider(entropy);
    let builder = match clock.time_provider() {
        Some(t) => rustls::ClientConfig::builder_with_details(provider, t),
        None => rustls::ClientConfig::builder_with_provider(provider),
    };
    let mut store = rustls::RootCertStore::empty();
    for r in roots {
        store.add(r.clone()).map_err(err)?;
    }
    let mut tls = builder
        .with_protocol_versions(&[&rustls::version::TLS13])
        .map_err(err)?
        .with_root_certificates(store)
        .with_no_client_auth();
    tls.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    tls.enable_early_data = true;
    let crypto = quinn::crypto::rustls::QuicClientConfig::try_from(tls).map_err(err)?;
    let mut cfg = quinn::ClientConfig::new(Arc::new(crypto));
    cfg.transport_config(transport(256));
    Ok(cfg)
}

/// A quinn endpoint on model runtime `rt` and model datagram socket `sock`.
pub fn endpoint<R, D>(
    rt: R,
    sock: D,
    time: TimeBase,
    config: quinn::EndpointConfig,
    server: Option<quinn::ServerConfig>,
) -> std::io::Result<quinn::Endpoint>
where
    R: testbed_model::Runtime + Send + Sync + 'static,
    R::Sleep: Send,
    D: testbed_model::DatagramSocket + Send + Sync + 'static,
{
    quinn::Endpoint::new_with_abstract_socket(config, server, ModelUdp::new(sock), QuinnRuntime::new(rt, time))
}
