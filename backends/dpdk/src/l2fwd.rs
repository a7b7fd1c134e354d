//! The seed's l2fwd (§2.1), with the MAC handling it lacks: frames received on one port of a
//! pair leave by the other with their source address set to that port's MAC and their
//! destination set to a configured next hop. Runts (shorter than an Ethernet header) are
//! dropped and counted; so are frames the output port does not accept.
// The real clock bounds a run's duration (backends may read it; nothing here decides on it).
#![allow(clippy::disallowed_methods)]

use crate::{mac, MacAddr, Mbuf, Port, PortError, BURST_MAX};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// What to forward, how and for how long.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Config {
    /// Destination MAC for frames leaving port `i` (`dst[1]` for what arrives on port 0).
    pub dst: [MacAddr; 2],
    /// Rewrite the addresses (false: forward frames untouched, testpmd's "io" mode).
    pub rewrite: bool,
    /// Frames per burst (1..=[`BURST_MAX`]; the seed uses 32).
    pub burst: usize,
    /// Stop after receiving this many frames (both ports together).
    pub packets_max: Option<u64>,
    /// Stop after this long.
    pub duration_max: Option<Duration>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            dst: [MacAddr::local(0), MacAddr::local(1)],
            rewrite: true,
            burst: 32,
            packets_max: None,
            duration_max: Some(Duration::from_secs(1)),
        }
    }
}

/// What a run did; index `i` is port `i` of the pair.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Report {
    /// Frames received on each port.
    pub rx: [u64; 2],
    /// Frames sent by each port.
    pub tx: [u64; 2],
    /// Frames bound for each port that it did not accept (freed).
    pub dropped_unsent: [u64; 2],
    /// Runts received on each port (dropped).
    pub dropped_runt: [u64; 2],
    /// Wall time of the forwarding loop.
    pub elapsed: Duration,
}

impl Report {
    /// Frames forwarded (sent) in both directions.
    pub fn forwarded(&self) -> u64 {
        self.tx[0] + self.tx[1]
    }

    /// Forwarded frames per second, in millions.
    pub fn mpps(&self) -> f64 {
        let s = self.elapsed.as_secs_f64();
        if s > 0.0 {
            self.forwarded() as f64 / s / 1e6
        } else {
            0.0
        }
    }
}

/// Forwards between `ports[0]` and `ports[1]` (queue 0) until `cfg`'s limits or `stop`.
/// With neither limit set, only `stop` ends it.
pub fn run(
    ports: &mut [Port<'_>; 2],
    cfg: &Config,
    stop: &AtomicBool,
) -> Result<Report, PortError> {
    if !(1..=BURST_MAX).contains(&cfg.burst) {
        return Err(PortError::BadConfig("l2fwd burst must be 1..=BURST_MAX"));
    }
    let src = [ports[0].mac()?, ports[1].mac()?];
    let mut r = Report::default();
    let mut bufs: Vec<Mbuf<'_>> = Vec::with_capacity(BURST_MAX);
    let start = Instant::now();
    let mut iter: u32 = 0;
    loop {
        for i in 0..2 {
            let o = i ^ 1;
            let (a, b) = ports.split_at_mut(1);
            let (rx, tx) = if i == 0 {
                (&mut a[0], &mut b[0])
            } else {
                (&mut b[0], &mut a[0])
            };
            bufs.clear();
            let n = rx.rx_burst(0, &mut bufs, cfg.burst);
            if n == 0 {
                continue;
            }
            r.rx[i] += n as u64;
            if cfg.rewrite {
                let before = bufs.len();
                bufs.retain_mut(|m| mac::rewrite(m.data_mut(), src[o], cfg.dst[o]));
                r.dropped_runt[i] += (before - bufs.len()) as u64;
            }
            let (sent, freed) = tx.tx_burst_or_free(0, &mut bufs);
            r.tx[o] += sent as u64;
            r.dropped_unsent[o] += freed as u64;
        }
        if cfg.packets_max.is_some_and(|m| r.rx[0] + r.rx[1] >= m) {
            break;
        }
        iter = iter.wrapping_add(1);
        if iter % 256 == 0 {
            if stop.load(Ordering::Relaxed) {
                break;
            }
            if cfg.duration_max.is_some_and(|d| start.elapsed() >= d) {
                break;
            }
        }
    }
    r.elapsed = start.elapsed();
    Ok(r)
}
