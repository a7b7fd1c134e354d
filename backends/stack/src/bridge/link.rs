//! One direction of an impaired link as a sans-IO state machine: frames are offered at a
//! time `now` and become due at a later time, or are lost. Decisions draw from a seeded RNG
//! in a fixed order (loss, latency, jitter, reorder, duplicate), so given the seed and the
//! offer times the outcome is exactly reproducible.

use bytes::Bytes;
use std::collections::BTreeMap;
use testbed_model::{Duration, Instant, Rng, SeededRng};

/// Frames in flight per direction at most; beyond it frames are dropped as queue overflow.
pub const IN_FLIGHT_MAX: usize = 1 << 16;
const ETH_LEN: usize = 14;

/// One-way propagation delay.
#[derive(Clone, Copy, Debug, PartialEq)]
#[non_exhaustive]
pub enum Latency {
    /// Always the same.
    Fixed(Duration),
    /// Uniform in `min..=max`.
    Uniform {
        /// Lower bound.
        min: Duration,
        /// Upper bound.
        max: Duration,
    },
}

impl Latency {
    /// A fixed latency of `ms` milliseconds.
    pub const fn ms(ms: u64) -> Latency {
        Latency::Fixed(Duration::from_millis(ms))
    }

    fn sample(&self, rng: &mut impl Rng) -> Duration {
        match *self {
            Latency::Fixed(d) => d,
            Latency::Uniform { min, max } => rng.duration_between(min, max),
        }
    }

    /// The smallest delay this latency produces.
    pub fn floor(&self) -> Duration {
        match *self {
            Latency::Fixed(d) | Latency::Uniform { min: d, .. } => d,
        }
    }
}

/// Properties of one direction of the bridge (field names as the simulator's links).
#[derive(Clone, Debug, PartialEq)]
pub struct LinkConfig {
    /// Propagation delay.
    pub latency: Latency,
    /// Extra delay, uniform in `0..=jitter`, per frame. Jitter alone never reorders: a
    /// frame is not delivered before one offered earlier.
    pub jitter: Duration,
    /// Probability a frame is lost.
    pub loss: f64,
    /// Probability a frame is delivered twice.
    pub duplicate: f64,
    /// Probability a frame is held back by an extra `0..=reorder_delay`, so later ones
    /// overtake it.
    pub reorder: f64,
    /// Maximum extra delay of a reordered frame.
    pub reorder_delay: Duration,
    /// Bytes per second; `None` is unlimited.
    pub bandwidth: Option<u64>,
    /// Bytes waiting for the bandwidth limit at most (drop-tail beyond); used with
    /// `bandwidth`.
    pub queue_bytes: u64,
    /// Largest IP packet; longer frames are dropped.
    pub mtu: usize,
}

impl Default for LinkConfig {
    /// A clean link: no delay, loss, duplication, reordering or rate limit; MTU 1500.
    fn default() -> Self {
        LinkConfig {
            latency: Latency::Fixed(Duration::ZERO),
            jitter: Duration::ZERO,
            loss: 0.0,
            duplicate: 0.0,
            reorder: 0.0,
            reorder_delay: Duration::from_millis(5),
            bandwidth: None,
            queue_bytes: 1 << 20,
            mtu: 1500,
        }
    }
}

/// A [`LinkConfig`] field outside its domain.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum LinkConfigError {
    /// A probability is not within `0..=1` (or is NaN).
    #[error("{field} must be a probability in 0..=1")]
    NotAProbability {
        /// Which field.
        field: &'static str,
    },
    /// `bandwidth` is `Some(0)`.
    #[error("bandwidth must be positive (None for unlimited)")]
    ZeroBandwidth,
    /// `mtu` is below 68 (the IPv4 minimum) or above 65535.
    #[error("mtu {0} is outside 68..=65535")]
    Mtu(usize),
    /// A latency's lower bound exceeds its upper bound.
    #[error("latency min exceeds max")]
    LatencyBounds,
}

impl LinkConfig {
    /// Checks every field.
    pub fn validate(&self) -> Result<(), LinkConfigError> {
        for (field, p) in [
            ("loss", self.loss),
            ("duplicate", self.duplicate),
            ("reorder", self.reorder),
        ] {
            if !(0.0..=1.0).contains(&p) {
                return Err(LinkConfigError::NotAProbability { field });
            }
        }
        if self.bandwidth == Some(0) {
            return Err(LinkConfigError::ZeroBandwidth);
        }
        if !(68..=65535).contains(&self.mtu) {
            return Err(LinkConfigError::Mtu(self.mtu));
        }
        if let Latency::Uniform { min, max } = self.latency {
            if min > max {
                return Err(LinkConfigError::LatencyBounds);
            }
        }
        Ok(())
    }
}

/// What one direction did to the frames offered to it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct LinkStats {
    /// Frames offered.
    pub offered: u64,
    /// Frames handed to the far port (duplicates included).
    pub delivered: u64,
    /// Frames lost by the loss probability.
    pub lost: u64,
    /// Extra copies made.
    pub duplicated: u64,
    /// Frames held back to be overtaken.
    pub reordered: u64,
    /// Frames dropped because the bandwidth queue (or the in-flight bound) was full.
    pub queue_drops: u64,
    /// Frames dropped for exceeding the MTU.
    pub mtu_drops: u64,
}

/// One direction's state: frames in flight keyed by due time, the rate limiter, the RNG.
#[derive(Debug)]
pub struct LinkModel {
    cfg: LinkConfig,
    rng: SeededRng,
    in_flight: BTreeMap<(Instant, u64), Bytes>,
    seq: u64,
    /// When the rate limiter has sent everything admitted so far.
    busy_until: Instant,
    /// Due time of the latest frame not held back (the FIFO floor for jitter).
    last_due: Instant,
    stats: LinkStats,
}

fn nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

impl LinkModel {
    /// A direction with configuration `cfg` (validate it first) drawing from `seed`.
    pub fn new(cfg: LinkConfig, seed: u64) -> LinkModel {
        LinkModel {
            cfg,
            rng: SeededRng::new(seed),
            in_flight: BTreeMap::new(),
            seq: 0,
            busy_until: Instant::ZERO,
            last_due: Instant::ZERO,
            stats: LinkStats::default(),
        }
    }

    /// The configuration.
    pub fn config(&self) -> &LinkConfig {
        &self.cfg
    }

    /// Counters so far.
    pub fn stats(&self) -> LinkStats {
        self.stats
    }

    /// Frames in flight.
    pub fn in_flight(&self) -> usize {
        self.in_flight.len()
    }

    /// The bandwidth limiter, a token bucket one frame deep evaluated in virtual time: a
    /// frame starts when the previous one has left and takes `len / bandwidth` to leave;
    /// the bytes admitted but not yet sent are the queue, bounded by `queue_bytes`. Returns
    /// the departure time, or `None` if the queue is full.
    fn depart(&mut self, now: Instant, len: usize) -> Option<Instant> {
        let Some(bw) = self.cfg.bandwidth else {
            return Some(now);
        };
        let start = self.busy_until.max(now);
        let queued = u128::from(nanos(start - now)) * u128::from(bw) / 1_000_000_000;
        if queued + len as u128 > u128::from(self.cfg.queue_bytes) {
            return None;
        }
        let tx = (len as u128 * 1_000_000_000).div_ceil(u128::from(bw));
        self.busy_until =
            start.saturating_add(Duration::from_nanos(u64::try_from(tx).unwrap_or(u64::MAX)));
        Some(self.busy_until)
    }

    fn insert(&mut self, at: Instant, frame: Bytes) {
        self.seq += 1;
        self.in_flight.insert((at, self.seq), frame);
    }

    /// Offers a frame at `now`: it is dropped, or scheduled (once or twice) for delivery.
    pub fn offer(&mut self, now: Instant, frame: Bytes) {
        self.stats.offered += 1;
        if frame.len() > self.cfg.mtu + ETH_LEN {
            self.stats.mtu_drops += 1;
            return;
        }
        if self.in_flight.len() >= IN_FLIGHT_MAX {
            self.stats.queue_drops += 1;
            return;
        }
        let Some(depart) = self.depart(now, frame.len()) else {
            self.stats.queue_drops += 1;
            return;
        };
        if self.rng.chance(self.cfg.loss) {
            self.stats.lost += 1;
            return;
        }
        let delay = self.cfg.latency.sample(&mut self.rng)
            + self.rng.duration_between(Duration::ZERO, self.cfg.jitter);
        let mut at = depart.saturating_add(delay).max(self.last_due);
        if self.rng.chance(self.cfg.reorder) {
            let hold = self
                .rng
                .duration_between(Duration::ZERO, self.cfg.reorder_delay);
            at = at.saturating_add(hold);
            self.stats.reordered += 1;
        } else {
            self.last_due = at;
        }
        if self.rng.chance(self.cfg.duplicate) {
            self.stats.duplicated += 1;
            self.insert(at, frame.clone());
        }
        self.insert(at, frame);
    }

    /// The next frame due at `now`, if any.
    pub fn pop_due(&mut self, now: Instant) -> Option<Bytes> {
        let entry = self.in_flight.first_entry()?;
        if entry.key().0 > now {
            return None;
        }
        self.stats.delivered += 1;
        Some(entry.remove())
    }

    /// When the next frame is due.
    pub fn next_due(&self) -> Option<Instant> {
        self.in_flight.first_key_value().map(|(k, _)| k.0)
    }
}
