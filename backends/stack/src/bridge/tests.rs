//! The link model's promises, checked over in-memory ports with an injected clock: loss rate,
//! minimum delay, bandwidth, reordering, duplication, per-direction independence and
//! determinism from the seed.

use super::*;
use crate::mem::MemPort;

const STEP: Duration = Duration::from_micros(100);

/// A bridge between two in-memory links: `tx` feeds port A, `rx` drains port B (and the
/// reverse direction through `rx` → `tx`).
struct Rig {
    tx: MemPort,
    rx: MemPort,
    bridge: Bridge<MemPort, MemPort>,
}

fn rig(a_to_b: LinkConfig, seed: u64) -> Rig {
    rig2(a_to_b, LinkConfig::clean(), seed)
}

fn rig2(a_to_b: LinkConfig, b_to_a: LinkConfig, seed: u64) -> Rig {
    let (tx, a) = MemPort::pair(1 << 20);
    let (b, rx) = MemPort::pair(1 << 20);
    let cfg = BridgeConfig {
        a_to_b,
        b_to_a,
        seed,
    };
    Rig {
        tx,
        rx,
        bridge: Bridge::new(cfg, a, b).expect("valid config"),
    }
}

/// A 64-byte frame carrying `i`, padded to `len`.
fn frame(i: u32, len: usize) -> Bytes {
    let mut f = vec![0u8; len.max(18)];
    f[14..18].copy_from_slice(&i.to_be_bytes());
    Bytes::from(f)
}

fn index(f: &[u8]) -> u32 {
    u32::from_be_bytes([f[14], f[15], f[16], f[17]])
}

impl Rig {
    /// Sends `n` frames of `len` bytes, `gap` apart starting at time 0, then runs the clock
    /// in `STEP`s until `end`; returns each delivered frame's index, send time and arrival.
    fn run(
        &mut self,
        n: u32,
        len: usize,
        gap: Duration,
        end: Instant,
    ) -> Vec<(u32, Instant, Instant)> {
        let mut out = Vec::new();
        let mut next = 0u32;
        let mut sent_at = Vec::new();
        let mut now = Instant::ZERO;
        let mut buf = Vec::new();
        while now <= end {
            while next < n && Instant::ZERO + gap * next <= now {
                assert_eq!(self.tx.tx_burst(&[frame(next, len)]).unwrap(), 1);
                sent_at.push(now);
                next += 1;
            }
            self.bridge.poll(now).unwrap();
            buf.clear();
            self.rx.rx_burst(&mut buf, usize::MAX).unwrap();
            for f in &buf {
                let i = index(f);
                out.push((i, sent_at[i as usize], now));
            }
            now += STEP;
        }
        out
    }
}

#[test]
fn loss_rate_is_within_tolerance() {
    let n = 20_000;
    let mut r = rig(
        LinkConfig {
            loss: 0.2,
            ..LinkConfig::clean()
        },
        1,
    );
    let got = r.run(n, 64, Duration::from_micros(10), Instant::from_millis(250));
    let rate = 1.0 - got.len() as f64 / f64::from(n);
    assert!((0.18..=0.22).contains(&rate), "loss rate {rate}");
    let s = r.bridge.stats().a_to_b;
    assert_eq!(s.offered, u64::from(n));
    assert_eq!(s.lost + s.delivered, s.offered);
    assert_eq!(s.delivered, got.len() as u64);
}

#[test]
fn no_frame_arrives_before_the_latency() {
    let link = LinkConfig {
        latency: Latency::Uniform {
            min: Duration::from_millis(5),
            max: Duration::from_millis(8),
        },
        jitter: Duration::from_millis(2),
        ..LinkConfig::clean()
    };
    let mut r = rig(link, 2);
    let got = r.run(
        500,
        100,
        Duration::from_micros(200),
        Instant::from_millis(200),
    );
    assert_eq!(got.len(), 500);
    let delays: Vec<Duration> = got.iter().map(|&(_, s, a)| a - s).collect();
    let min = delays.iter().min().copied().unwrap();
    let max = delays.iter().max().copied().unwrap();
    assert!(min >= Duration::from_millis(5), "min delay {min:?}");
    assert!(max <= Duration::from_millis(10) + STEP, "max delay {max:?}");
    assert!(
        max > min + Duration::from_millis(1),
        "latency and jitter vary"
    );
}

#[test]
fn bandwidth_is_respected_and_the_queue_is_bounded() {
    // 1 MB/s, frames of 1000-byte IP packets all offered at once: one leaves per millisecond.
    let link = LinkConfig {
        bandwidth: Some(1_000_000),
        queue_bytes: 200_000,
        ..LinkConfig::clean()
    };
    let mut r = rig(link, 3);
    let got = r.run(100, 1014, Duration::ZERO, Instant::from_millis(150));
    assert_eq!(got.len(), 100);
    for (k, &(_, _, at)) in got.iter().enumerate() {
        // The k-th frame (0-based) cannot leave before (k+1) ms.
        assert!(
            at >= Instant::from_millis(k as u64 + 1),
            "frame {k} arrived at {at}: faster than 1 MB/s"
        );
    }
    let last = got.last().unwrap().2;
    assert!(
        last <= Instant::from_millis(100) + STEP,
        "rate too low: {last}"
    );

    // A 10 kB queue admits 10 packets of a burst of 100; the rest are dropped.
    let link = LinkConfig {
        bandwidth: Some(1_000_000),
        queue_bytes: 10_000,
        ..LinkConfig::clean()
    };
    let mut r = rig(link, 3);
    let got = r.run(100, 1014, Duration::ZERO, Instant::from_millis(50));
    assert_eq!(got.len(), 10);
    assert_eq!(r.bridge.stats().a_to_b.queue_drops, 90);
}

#[test]
fn reordering_is_observed() {
    let link = LinkConfig {
        latency: Latency::ms(1),
        reorder: 0.2,
        reorder_delay: Duration::from_millis(5),
        ..LinkConfig::clean()
    };
    let mut r = rig(link, 4);
    let got = r.run(
        1000,
        100,
        Duration::from_micros(100),
        Instant::from_millis(200),
    );
    assert_eq!(got.len(), 1000);
    let order: Vec<u32> = got.iter().map(|g| g.0).collect();
    let inversions = order.windows(2).filter(|w| w[0] > w[1]).count();
    assert!(inversions > 50, "only {inversions} inversions");
    let held = r.bridge.stats().a_to_b.reordered;
    assert!(
        (150..=250).contains(&held),
        "{held} held back of 1000 at p=0.2"
    );
}

#[test]
fn duplication_is_observed() {
    let link = LinkConfig {
        duplicate: 0.1,
        ..LinkConfig::clean()
    };
    let mut r = rig(link, 5);
    let got = r.run(
        5000,
        64,
        Duration::from_micros(10),
        Instant::from_millis(100),
    );
    let mut seen = std::collections::BTreeMap::new();
    for g in &got {
        *seen.entry(g.0).or_insert(0u32) += 1;
    }
    assert_eq!(seen.len(), 5000, "every frame arrives");
    let twice = seen.values().filter(|&&c| c == 2).count();
    assert!(seen.values().all(|&c| c <= 2));
    assert!(
        (400..=600).contains(&twice),
        "{twice} duplicated of 5000 at p=0.1"
    );
    assert_eq!(r.bridge.stats().a_to_b.duplicated, twice as u64);
}

#[test]
fn directions_are_independent() {
    let mut r = rig2(
        LinkConfig {
            loss: 1.0,
            ..LinkConfig::clean()
        },
        LinkConfig::clean(),
        6,
    );
    let got = r.run(100, 64, Duration::from_micros(10), Instant::from_millis(5));
    assert!(got.is_empty(), "a_to_b loses everything");
    assert_eq!(r.rx.tx_burst(&[frame(7, 64)]).unwrap(), 1);
    r.bridge.poll(Instant::from_millis(6)).unwrap();
    let mut buf = Vec::new();
    assert_eq!(r.tx.rx_burst(&mut buf, 8).unwrap(), 1, "b_to_a is clean");
    assert_eq!(index(&buf[0]), 7);
}

#[test]
fn same_seed_same_outcome_other_seed_other_outcome() {
    let link = LinkConfig {
        latency: Latency::Uniform {
            min: Duration::from_millis(1),
            max: Duration::from_millis(3),
        },
        jitter: Duration::from_millis(1),
        loss: 0.1,
        duplicate: 0.05,
        reorder: 0.1,
        bandwidth: Some(5_000_000),
        queue_bytes: 50_000,
        ..LinkConfig::clean()
    };
    let trace = |seed| {
        rig(link.clone(), seed).run(
            2000,
            700,
            Duration::from_micros(50),
            Instant::from_millis(300),
        )
    };
    let a = trace(9);
    assert_eq!(a, trace(9));
    assert_ne!(a, trace(10));
}

#[test]
fn invalid_configs_and_oversized_frames_are_refused() {
    let (a, b) = (MemPort::pair(1).0, MemPort::pair(1).0);
    let bad = LinkConfig {
        loss: f64::NAN,
        ..LinkConfig::clean()
    };
    let err = Bridge::new(BridgeConfig::symmetric(bad, 0), a, b).unwrap_err();
    assert!(matches!(
        err,
        BridgeError::Config {
            direction: "a_to_b",
            error: LinkConfigError::NotAProbability { field: "loss" }
        }
    ));
    let mut r = rig(
        LinkConfig {
            mtu: 500,
            ..LinkConfig::clean()
        },
        0,
    );
    let got = r.run(1, 600, Duration::ZERO, Instant::from_millis(1));
    assert!(got.is_empty());
    assert_eq!(r.bridge.stats().a_to_b.mtu_drops, 1);
}
