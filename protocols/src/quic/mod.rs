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

use crate::tls::{Clock, Entropy};
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::version::TLS13;
use std::sync::Arc;
use std::time::SystemTime;
use testbed_model::{Rng, SeededRng};

/// ALPN protocol id of HTTP/3.
pub const ALPN_H3: &[u8] = b"h3";

/// Why a QUIC config could not be built.
#[derive(Debug, thiserror::Error)]
#[error("quic config: {0}")]
pub struct QuicConfigError(String);

fn err(e: impl std::fmt::Display) -> QuicConfigError {
    QuicConfigError(e.to_string())
}

/// Connection ids from a seeded stream (quinn's default generator reads OS entropy).
struct SeededCids {
    rng: SeededRng,
}

impl quinn::ConnectionIdGenerator for SeededCids {
    fn generate_cid(&mut self) -> quinn::ConnectionId {
        let mut b = [0u8; CID_LEN];
        self.rng.fill_bytes(&mut b);
        quinn::ConnectionId::new(&b)
    }
    fn cid_len(&self) -> usize {
        CID_LEN
    }
    fn cid_lifetime(&self) -> Option<std::time::Duration> {
        None
    }
}

const CID_LEN: usize = 8;

/// An endpoint config whose connection ids, packet-number skips and stateless-reset key come
/// from `rng`.
pub fn endpoint_config(rng: &mut impl Rng) -> quinn::EndpointConfig {
    let mut reset = [0u8; 64];
    rng.fill_bytes(&mut reset);
    let mut cfg = quinn::EndpointConfig::new(Arc::new(ring::hmac::Key::new(
        ring::hmac::HMAC_SHA256,
        &reset,
    )));
    let mut seed = [0u8; 32];
    rng.fill_bytes(&mut seed);
    cfg.rng_seed(Some(seed));
    // Each generator quinn asks for gets its own child stream, in a fixed order.
    let parent = Arc::new(std::sync::Mutex::new(SeededRng::new(rng.next_u64())));
    cfg.cid_generator(move || {
        let seed = parent.lock().unwrap_or_else(|p| p.into_inner()).next_u64();
        Box::new(SeededCids {
            rng: SeededRng::new(seed),
        })
    });
    cfg
}

/// quinn's wall clock (address-validation token lifetimes) on a simulated clock.
struct SimWallClock {
    base_unix_secs: u64,
    now: Arc<dyn Fn() -> testbed_model::Instant + Send + Sync>,
}

impl quinn::TimeSource for SimWallClock {
    fn now(&self) -> SystemTime {
        SystemTime::UNIX_EPOCH
            + std::time::Duration::from_secs(self.base_unix_secs)
            + (self.now)().since_epoch()
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
    let mut tls =
        crate::tls::rustls_server(chain, key, alpn, entropy, clock, &[&TLS13]).map_err(err)?;
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
/// connections. With [`Entropy::Seeded`] the initial destination connection ids come from
/// the same stream.
pub fn client_config(
    roots: &[CertificateDer<'static>],
    alpn: &[&[u8]],
    entropy: Entropy,
    clock: &Clock,
) -> Result<quinn::ClientConfig, QuicConfigError> {
    let cid_seed = match &entropy {
        Entropy::Seeded(rng) => Some(rng.clone().next_u64() ^ 0x51C1_D5EE_D000_0001),
        Entropy::System => None,
    };
    let mut tls = crate::tls::rustls_client(roots, alpn, entropy, clock, &[&TLS13]).map_err(err)?;
    tls.enable_early_data = true;
    let crypto = quinn::crypto::rustls::QuicClientConfig::try_from(tls).map_err(err)?;
    let mut cfg = quinn::ClientConfig::new(Arc::new(crypto));
    cfg.transport_config(transport(256));
    if let Some(seed) = cid_seed {
        let rng = Arc::new(std::sync::Mutex::new(SeededRng::new(seed)));
        cfg.initial_dst_cid_provider(Arc::new(move || {
            let mut b = [0u8; 16]; // RFC 9000 §7.2: at least 8 bytes of unpredictable id
            rng.lock()
                .unwrap_or_else(|p| p.into_inner())
                .fill_bytes(&mut b);
            quinn::ConnectionId::new(&b)
        }));
    }
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
    quinn::Endpoint::new_with_abstract_socket(
        config,
        server,
        ModelUdp::new(sock),
        QuinnRuntime::new(rt, time),
    )
}

/// Whether a request may travel as 0-RTT early data: idempotent methods only, since early
/// data can be replayed by an attacker (网络编程进阶主题 §3.5 Q4; RFC 8470, RFC 9114 §4.4 / RFC 9001 §9.2).
pub fn early_data_allowed(method: &str) -> bool {
    matches!(method, "GET" | "HEAD" | "OPTIONS")
}

/// How a connection for a request starts.
pub enum Early {
    /// Resumed with 0-RTT: send at once; the future says whether the server accepted the
    /// early data.
    ZeroRtt(quinn::Connection, quinn::ZeroRttAccepted),
    /// A full handshake (no ticket, or a request that must not be replayed): await it.
    FullHandshake(quinn::Connecting),
}

/// Connects for `req`, using 0-RTT when a session ticket is available and the request is
/// idempotent ([`early_data_allowed`]).
pub fn connect_early(
    endpoint: &quinn::Endpoint,
    cfg: quinn::ClientConfig,
    addr: std::net::SocketAddr,
    server_name: &str,
    req: &crate::http1::OwnedRequest,
) -> Result<Early, quinn::ConnectError> {
    let connecting = endpoint.connect_with(cfg, addr, server_name)?;
    if !early_data_allowed(&req.method) {
        return Ok(Early::FullHandshake(connecting));
    }
    Ok(match connecting.into_0rtt() {
        Ok((conn, accepted)) => Early::ZeroRtt(conn, accepted),
        Err(connecting) => Early::FullHandshake(connecting),
    })
}

/// Seeds the generator h3 draws its GREASE values from (fastrand's per-thread generator).
/// A simulation calls this once per run with a value from its seed, on the thread that runs
/// it, so GREASE frames, settings and stream types replay too.
pub fn seed_grease(seed: u64) {
    fastrand::seed(seed);
}
