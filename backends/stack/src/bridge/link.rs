//! One direction of an impaired link as a sans-IO state machine: frames are offered at a
//! time `now` and become due at a later time, or are lost. The decisions are the workspace's
//! one link model ([`LinkConfig::offer`], the simulator's too), drawn from a seeded RNG in
//! its fixed order, so given the seed and the offer times the outcome is exactly
//! reproducible — and the same as a simulated link's with that seed.

use bytes::Bytes;
use std::collections::BTreeMap;
use testbed_model::link::{Fate, LinkDrop, LinkQueue};
use testbed_model::wire::ETH_LEN;
use testbed_model::{Instant, LinkConfig, SeededRng};

/// Frames in flight per direction at most; beyond it frames are dropped as queue overflow.
pub const IN_FLIGHT_MAX: usize = 1 << 16;

/// What one direction did to the frames offered to it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct LinkStats {
    /// Frames offered.
    pub offered: u64,
    /// Frames handed to the far port (duplicates included).
    pub delivered: u64,
    /// Copies lost by the loss probability.
    pub lost: u64,
    /// Extra copies made.
    pub duplicated: u64,
    /// Copies held back to be overtaken.
    pub reordered: u64,
    /// Copies dropped because the bandwidth queue (or the in-flight bound) was full.
    pub queue_drops: u64,
    /// Copies dropped for exceeding the MTU.
    pub mtu_drops: u64,
}

/// One direction's state: frames in flight keyed by due time, the rate limiter, the RNG.
#[derive(Debug)]
pub struct LinkModel {
    cfg: LinkConfig,
    rng: SeededRng,
    queue: LinkQueue,
    in_flight: BTreeMap<(Instant, u64), Bytes>,
    seq: u64,
    stats: LinkStats,
}

impl LinkModel {
    /// A direction with configuration `cfg` (validate it first) drawing from `seed`.
    pub fn new(cfg: LinkConfig, seed: u64) -> LinkModel {
        LinkModel {
            cfg,
            rng: SeededRng::new(seed),
            queue: LinkQueue::default(),
            in_flight: BTreeMap::new(),
            seq: 0,
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

    /// Offers a frame at `now`: it is dropped, or scheduled (once or twice) for delivery.
    /// The link sees its IP packet (the frame without its Ethernet header): the MTU and the
    /// bandwidth count those bytes, as on a simulated link.
    pub fn offer(&mut self, now: Instant, frame: Bytes) {
        self.stats.offered += 1;
        if self.in_flight.len() + 2 > IN_FLIGHT_MAX {
            self.stats.queue_drops += 1;
            return;
        }
        let ip_len = frame.len().saturating_sub(ETH_LEN);
        let offer = self.cfg.offer(&mut self.queue, &mut self.rng, now, ip_len);
        if let Some(fate) = offer.duplicate {
            self.stats.duplicated += 1;
            self.apply(fate, frame.clone());
        }
        self.apply(offer.original, frame);
    }

    fn apply(&mut self, fate: Fate, frame: Bytes) {
        match fate {
            Fate::Arrive { at, reordered } => {
                self.stats.reordered += u64::from(reordered);
                self.seq += 1;
                self.in_flight.insert((at, self.seq), frame);
            }
            Fate::Dropped(LinkDrop::Mtu) => self.stats.mtu_drops += 1,
            Fate::Dropped(LinkDrop::QueueFull) => self.stats.queue_drops += 1,
            Fate::Dropped(_) => self.stats.lost += 1,
        }
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
