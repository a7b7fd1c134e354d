//! Where TLS gets its randomness and time.
//!
//! [`Entropy::Seeded`] builds a rustls `CryptoProvider` whose every random byte comes from a
//! seeded stream: the `SecureRandom` (client/server randoms, session ids, tickets) and the key
//! exchange (X25519 secrets, via x25519-dalek). Signatures use Ed25519, which is
//! deterministic, and AEAD nonces come from sequence numbers, so a seeded run puts identical
//! bytes on the wire every time — what the simulator needs. (rustls's stock ring provider
//! draws key shares and ECDSA/RSA-PSS nonces from the OS, so its handshakes differ run to
//! run.) [`Entropy::System`] is rustls's ring provider, for real deployments.
//!
//! A seeded stream is not a CSPRNG: use `Seeded` for simulations and reproducible tests only.

use rustls::crypto::{
    ActiveKeyExchange, CryptoProvider, GetRandomFailed, SecureRandom, SharedSecret,
    SupportedKxGroup,
};
use rustls::pki_types::UnixTime;
use rustls::time_provider::TimeProvider;
use rustls::{Error, NamedGroup, PeerMisbehaved};
use std::sync::{Arc, Mutex};
use testbed_model::{Instant, Rng, SeededRng};

/// The source of a TLS endpoint's randomness.
#[derive(Debug)]
pub enum Entropy {
    /// A seeded stream (deterministic; not cryptographically secure).
    Seeded(SeededRng),
    /// The operating system's generator (rustls's ring provider).
    System,
}

/// The source of a TLS endpoint's notion of wall time (certificate validity).
#[derive(Clone)]
pub enum Clock {
    /// `base` (Unix seconds) plus a runtime's time since its epoch.
    Sim {
        /// Unix time at the runtime's epoch.
        base_unix_secs: u64,
        /// The runtime's clock.
        now: Arc<dyn Fn() -> Instant + Send + Sync>,
    },
    /// The system clock.
    System,
}

impl std::fmt::Debug for Clock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Clock::Sim { base_unix_secs, .. } => write!(f, "Clock::Sim(base {base_unix_secs})"),
            Clock::System => f.write_str("Clock::System"),
        }
    }
}

/// 2026-01-01T00:00:00Z: the Unix time simulated clocks start at.
pub const SIM_EPOCH_UNIX_SECS: u64 = 1_767_225_600;

impl Clock {
    /// A clock reading `now()` as time since [`SIM_EPOCH_UNIX_SECS`].
    pub fn sim(now: impl Fn() -> Instant + Send + Sync + 'static) -> Clock {
        Clock::Sim {
            base_unix_secs: SIM_EPOCH_UNIX_SECS,
            now: Arc::new(now),
        }
    }

    pub(crate) fn time_provider(&self) -> Option<Arc<dyn TimeProvider>> {
        match self {
            Clock::Sim {
                base_unix_secs,
                now,
            } => Some(Arc::new(SimTime {
                base_unix_secs: *base_unix_secs,
                now: now.clone(),
            })),
            Clock::System => None,
        }
    }
}

struct SimTime {
    base_unix_secs: u64,
    now: Arc<dyn Fn() -> Instant + Send + Sync>,
}

impl std::fmt::Debug for SimTime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SimTime(base {})", self.base_unix_secs)
    }
}

impl TimeProvider for SimTime {
    fn current_time(&self) -> Option<UnixTime> {
        let t = (self.now)();
        Some(UnixTime::since_unix_epoch(
            std::time::Duration::from_secs(self.base_unix_secs) + t.since_epoch(),
        ))
    }
}

/// A seeded `SecureRandom` (leaked: rustls wants `&'static`; one per endpoint config).
#[derive(Debug)]
struct SeededRandom(Mutex<SeededRng>);

impl SecureRandom for SeededRandom {
    fn fill(&self, buf: &mut [u8]) -> Result<(), GetRandomFailed> {
        self.0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .fill_bytes(buf);
        Ok(())
    }
}

/// X25519 with secrets drawn from a seeded stream.
#[derive(Debug)]
struct SeededX25519(&'static SeededRandom);

struct X25519Exchange {
    secret: x25519_dalek::StaticSecret,
    public: x25519_dalek::PublicKey,
}

impl SupportedKxGroup for SeededX25519 {
    fn start(&self) -> Result<Box<dyn ActiveKeyExchange>, Error> {
        let mut sk = [0u8; 32];
        self.0
            .fill(&mut sk)
            .map_err(|_| Error::FailedToGetRandomBytes)?;
        let secret = x25519_dalek::StaticSecret::from(sk);
        let public = x25519_dalek::PublicKey::from(&secret);
        Ok(Box::new(X25519Exchange { secret, public }))
    }
    fn name(&self) -> NamedGroup {
        NamedGroup::X25519
    }
}

impl ActiveKeyExchange for X25519Exchange {
    fn complete(self: Box<Self>, peer_pub_key: &[u8]) -> Result<SharedSecret, Error> {
        let peer: [u8; 32] = peer_pub_key
            .try_into()
            .map_err(|_| Error::from(PeerMisbehaved::InvalidKeyShare))?;
        let shared = self
            .secret
            .diffie_hellman(&x25519_dalek::PublicKey::from(peer));
        if !shared.was_contributory() {
            return Err(PeerMisbehaved::InvalidKeyShare.into());
        }
        Ok(SharedSecret::from(&shared.as_bytes()[..]))
    }
    fn pub_key(&self) -> &[u8] {
        self.public.as_bytes()
    }
    fn group(&self) -> NamedGroup {
        NamedGroup::X25519
    }
}

/// The rustls provider for `entropy`.
pub fn crypto_provider(entropy: Entropy) -> Arc<CryptoProvider> {
    let ring = rustls::crypto::ring::default_provider();
    match entropy {
        Entropy::System => Arc::new(ring),
        Entropy::Seeded(rng) => {
            let random: &'static SeededRandom = Box::leak(Box::new(SeededRandom(Mutex::new(rng))));
            let kx: &'static SeededX25519 = Box::leak(Box::new(SeededX25519(random)));
            Arc::new(CryptoProvider {
                kx_groups: vec![kx],
                secure_random: random,
                ..ring
            })
        }
    }
}
