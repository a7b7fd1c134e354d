//! An impairment bridge: forwards L2 frames between two [`PacketPort`]s through a link model
//! per direction (latency with jitter, loss, duplication, reordering, bandwidth with a
//! bounded queue), like `netem` between two interfaces. The decisions are the simulator's
//! (`testbed_model::link`: same configuration and seed, same fates). The direction is sans-IO
//! ([`LinkModel`]):
//! [`Bridge::poll`] takes the time as an argument, so with a seed and a clock that tests
//! control every decision is deterministic; [`Bridge::run`] drives it on the wall clock.

mod link;
#[cfg(test)]
mod tests;

pub use link::{LinkModel, LinkStats, IN_FLIGHT_MAX};
pub use testbed_model::link::{Latency, LinkConfig, LinkConfigError};

use bytes::Bytes;
use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use testbed_model::packet::PacketPort;
use testbed_model::rng::derive_seed;
use testbed_model::{Duration, Instant};

/// Frames per `rx_burst`.
const BURST: usize = 32;
/// Bursts read per direction per poll.
const BURSTS_PER_POLL: usize = 8;
/// Due frames waiting for a port that refused them, per direction.
const OUT_MAX: usize = 1024;

/// Both directions of a bridge and the seed of their decisions.
#[derive(Clone, Debug, PartialEq)]
pub struct BridgeConfig {
    /// Frames received on port A, transmitted on port B.
    pub a_to_b: LinkConfig,
    /// Frames received on port B, transmitted on port A.
    pub b_to_a: LinkConfig,
    /// Seed; each direction draws from its own stream derived from it.
    pub seed: u64,
}

impl BridgeConfig {
    /// The same link both ways.
    pub fn symmetric(link: LinkConfig, seed: u64) -> BridgeConfig {
        BridgeConfig {
            a_to_b: link.clone(),
            b_to_a: link,
            seed,
        }
    }
}

/// Why a bridge stopped.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BridgeError<EA: std::error::Error + 'static, EB: std::error::Error + 'static> {
    /// A direction's configuration is invalid.
    #[error("link config ({direction}): {error}")]
    Config {
        /// "a_to_b" or "b_to_a".
        direction: &'static str,
        /// The problem.
        error: LinkConfigError,
    },
    /// Port A failed.
    #[error("port A: {0}")]
    PortA(#[source] EA),
    /// Port B failed.
    #[error("port B: {0}")]
    PortB(#[source] EB),
}

/// Both directions' counters.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct BridgeStats {
    /// A → B.
    pub a_to_b: LinkStats,
    /// B → A.
    pub b_to_a: LinkStats,
}

/// One direction: the model and the due frames the far port has not taken yet.
#[derive(Debug)]
struct Direction {
    model: LinkModel,
    out: VecDeque<Bytes>,
}

impl Direction {
    fn new(cfg: LinkConfig, seed: u64) -> Direction {
        Direction {
            model: LinkModel::new(cfg, seed),
            out: VecDeque::new(),
        }
    }

    /// Reads bursts from `from` into the model; returns frames read.
    fn ingest<P: PacketPort>(
        &mut self,
        now: Instant,
        from: &mut P,
        buf: &mut Vec<Bytes>,
    ) -> Result<usize, P::Error> {
        let mut total = 0;
        for _ in 0..BURSTS_PER_POLL {
            buf.clear();
            let n = from.rx_burst(buf, BURST)?;
            for f in buf.drain(..) {
                self.model.offer(now, f);
            }
            total += n;
            if n < BURST {
                break;
            }
        }
        Ok(total)
    }

    /// Hands due frames to `to`; returns frames it took.
    fn deliver<P: PacketPort>(&mut self, now: Instant, to: &mut P) -> Result<usize, P::Error> {
        while self.out.len() < OUT_MAX {
            match self.model.pop_due(now) {
                Some(f) => self.out.push_back(f),
                None => break,
            }
        }
        let mut total = 0;
        while !self.out.is_empty() {
            let frames = self.out.make_contiguous();
            let offered = frames.len().min(BURST);
            let n = to.tx_burst(&frames[..offered])?.min(offered);
            self.out.drain(..n);
            total += n;
            if n < offered {
                break;
            }
        }
        Ok(total)
    }
}

/// Forwards frames between ports `A` and `B` through one [`LinkModel`] per direction.
#[derive(Debug)]
pub struct Bridge<A: PacketPort, B: PacketPort> {
    a: A,
    b: B,
    ab: Direction,
    ba: Direction,
    buf: Vec<Bytes>,
}

impl<A: PacketPort, B: PacketPort> Bridge<A, B> {
    /// A bridge between `a` and `b`; fails if a direction's configuration is invalid.
    pub fn new(cfg: BridgeConfig, a: A, b: B) -> Result<Self, BridgeError<A::Error, B::Error>> {
        for (direction, link) in [("a_to_b", &cfg.a_to_b), ("b_to_a", &cfg.b_to_a)] {
            link.validate()
                .map_err(|error| BridgeError::Config { direction, error })?;
        }
        Ok(Bridge {
            a,
            b,
            ab: Direction::new(cfg.a_to_b, derive_seed(cfg.seed, "bridge-a-to-b")),
            ba: Direction::new(cfg.b_to_a, derive_seed(cfg.seed, "bridge-b-to-a")),
            buf: Vec::with_capacity(BURST),
        })
    }

    /// Reads what both ports received (as offered at `now`) and transmits what is due at
    /// `now`. Returns how many frames moved (read plus written).
    pub fn poll(&mut self, now: Instant) -> Result<usize, BridgeError<A::Error, B::Error>> {
        let mut n = self
            .ab
            .ingest(now, &mut self.a, &mut self.buf)
            .map_err(BridgeError::PortA)?;
        n += self
            .ba
            .ingest(now, &mut self.b, &mut self.buf)
            .map_err(BridgeError::PortB)?;
        n += self
            .ab
            .deliver(now, &mut self.b)
            .map_err(BridgeError::PortB)?;
        n += self
            .ba
            .deliver(now, &mut self.a)
            .map_err(BridgeError::PortA)?;
        Ok(n)
    }

    /// When the next frame in flight is due (`None` if none is).
    pub fn next_deadline(&self) -> Option<Instant> {
        match (self.ab.model.next_due(), self.ba.model.next_due()) {
            (Some(x), Some(y)) => Some(x.min(y)),
            (x, y) => x.or(y),
        }
    }

    /// Both directions' counters.
    pub fn stats(&self) -> BridgeStats {
        BridgeStats {
            a_to_b: self.ab.model.stats(),
            b_to_a: self.ba.model.stats(),
        }
    }

    /// The ports.
    pub fn ports(&self) -> (&A, &B) {
        (&self.a, &self.b)
    }

    /// The ports, mutably.
    pub fn ports_mut(&mut self) -> (&mut A, &mut B) {
        (&mut self.a, &mut self.b)
    }

    /// Drives the bridge on the wall clock until `stop` is set: polls, then sleeps until the
    /// next frame is due, at most `idle_max` (new frames are noticed within that).
    pub fn run(
        &mut self,
        stop: &AtomicBool,
        idle_max: Duration,
    ) -> Result<(), BridgeError<A::Error, B::Error>> {
        let epoch = wall_now();
        let now = || Instant::ZERO + wall_now().saturating_duration_since(epoch);
        while !stop.load(Ordering::Relaxed) {
            let t = now();
            if self.poll(t)? > 0 {
                continue;
            }
            let until_due = self
                .next_deadline()
                .map_or(idle_max, |d| d.saturating_duration_since(t));
            let wait = until_due.min(idle_max);
            if !wait.is_zero() {
                std::thread::sleep(wait);
            }
        }
        Ok(())
    }
}

#[allow(clippy::disallowed_methods)] // the wall-clock driver of a real bridge
fn wall_now() -> std::time::Instant {
    std::time::Instant::now()
}
