//! Model of the XDP sampler (`backends/xdp/bpf/sampler.c`): every packet passes; one in
//! `every` (the 1st, the (every+1)th, ...) is kept, its first [`SNAP`] bytes with its length
//! and sequence number, until drained. At most `capacity` samples wait; more are lost and
//! counted (the eBPF twin's ring buffer holds about 6,900).

use testbed_model::packet::{PacketFilter, Verdict};
use testbed_model::Instant;

/// Bytes of a packet a sample keeps.
pub const SNAP: usize = 128;

/// One sampled packet.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Sample {
    /// The packet's number among all seen (0-based).
    pub seq: u64,
    /// Its length.
    pub len: u32,
    /// Its first bytes (up to [`SNAP`]).
    pub data: Vec<u8>,
}

/// The sampler.
#[derive(Clone, Debug)]
pub struct Sampler {
    every: u64,
    capacity: usize,
    seen: u64,
    sampled: u64,
    lost: u64,
    waiting: std::collections::VecDeque<Sample>,
}

impl Sampler {
    /// Samples one packet in `every` (0: none), keeping at most `capacity` until drained.
    pub fn new(every: u64, capacity: usize) -> Sampler {
        Sampler {
            every,
            capacity,
            seen: 0,
            sampled: 0,
            lost: 0,
            waiting: Default::default(),
        }
    }

    /// Takes the waiting samples, oldest first.
    pub fn drain(&mut self) -> Vec<Sample> {
        self.waiting.drain(..).collect()
    }

    /// (seen, sampled, lost).
    pub fn stats(&self) -> (u64, u64, u64) {
        (self.seen, self.sampled, self.lost)
    }

    /// Looks at one frame (it always passes).
    pub fn observe(&mut self, frame: &[u8]) {
        let seq = self.seen;
        self.seen += 1;
        if self.every == 0 || seq % self.every != 0 {
            return;
        }
        if self.waiting.len() >= self.capacity {
            self.lost += 1;
            return;
        }
        self.sampled += 1;
        self.waiting.push_back(Sample {
            seq,
            len: frame.len() as u32,
            data: frame[..frame.len().min(SNAP)].to_vec(),
        });
    }
}

impl PacketFilter for Sampler {
    fn on_packet(&mut self, _now: Instant, frame: &mut [u8]) -> Verdict {
        self.observe(frame);
        Verdict::Pass
    }
}
