//! Policies benchmark: our limiter, keyed limiter and ring lookup against governor and
//! hashring, run side by side in one process, plus a Maglev lookup. Each figure is the median
//! of 15 batches (ns per operation); ours and the peer's batches alternate so machine noise
//! hits both alike. The last line is one JSON object with the ratios ours/peer (lower is
//! better). Run: `cargo bench -p testbed-distributed --bench policies`.
#![allow(clippy::disallowed_methods)] // a benchmark measures wall time

use std::hint::black_box;
use std::num::NonZeroU32;
use std::time::Instant as Wall;
use testbed_distributed::balance::{Balancer, HashRing, Maglev};
use testbed_distributed::hash::hash_u64;
use testbed_distributed::limit::{Gcra, KeyedLimiter, Quota, RateLimiter, WhenFull};
use testbed_model::Instant;

const BATCHES: usize = 15;

/// Median ns/op of `f` run `iters` times per batch, alternating with `g`; returns (f, g).
fn side_by_side(iters: u64, mut f: impl FnMut(u64), mut g: impl FnMut(u64)) -> (f64, f64) {
    let (mut a, mut b) = (Vec::new(), Vec::new());
    for batch in 0..BATCHES {
        let base = batch as u64 * iters;
        let t = Wall::now();
        for i in base..base + iters {
            f(i);
        }
        a.push(t.elapsed().as_nanos() as f64 / iters as f64);
        let t = Wall::now();
        for i in base..base + iters {
            g(i);
        }
        b.push(t.elapsed().as_nanos() as f64 / iters as f64);
    }
    let med = |mut v: Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    (med(a), med(b))
}

fn main() {
    // Direct limiter: 1M/s, burst 1000; the clock advances 1 µs per call on both sides.
    let q = Quota::per_second(1_000_000).with_burst(1000);
    let mut ours = Gcra::new(q);
    let mut ours_fast = Gcra::new(q);
    let gq = governor::Quota::per_second(NonZeroU32::new(1_000_000).unwrap())
        .allow_burst(NonZeroU32::new(1000).unwrap());
    let clock = governor::clock::FakeRelativeClock::default();
    let theirs = governor::RateLimiter::direct_with_clock(gq, clock.clone());
    let (lim_ours, lim_gov) = side_by_side(
        2_000_000,
        |i| {
            black_box(ours_fast.allow(Instant::from_micros(i), 1));
        },
        |_| {
            clock.advance(std::time::Duration::from_micros(1));
            let _ = black_box(theirs.check());
        },
    );
    // The full decision (remaining, retry_after, reset for rate-limit headers).
    let (full_ours, full_gov) = side_by_side(
        2_000_000,
        |i| {
            black_box(ours.check(Instant::from_micros(i), 1));
        },
        |_| {
            clock.advance(std::time::Duration::from_micros(1));
            let _ = black_box(theirs.check());
        },
    );

    // Keyed limiter over 10,000 keys, cycling.
    const KEYS: u64 = 10_000;
    let mut keyed = KeyedLimiter::new(
        KEYS as usize,
        WhenFull::FailClosed,
        Quota::per_second(100).with_burst(10),
        Gcra::new,
    );
    let kclock = governor::clock::FakeRelativeClock::default();
    let kq = governor::Quota::per_second(NonZeroU32::new(100).unwrap())
        .allow_burst(NonZeroU32::new(10).unwrap());
    let gkeyed = governor::RateLimiter::dashmap_with_clock(kq, kclock.clone());
    let (keyed_ours, keyed_gov) = side_by_side(
        1_000_000,
        |i| {
            black_box(keyed.check(Instant::from_micros(i), &(i % KEYS), 1));
        },
        |i| {
            kclock.advance(std::time::Duration::from_micros(1));
            let _ = black_box(gkeyed.check_key(&(i % KEYS)));
        },
    );

    // Ring: 100 nodes × 150 virtual nodes, u64 keys (each side hashes the key itself).
    let mut ring = HashRing::new(150);
    let mut theirs_ring = hashring::HashRing::new();
    for n in 0..100u32 {
        ring.add(n, 1);
        for v in 0..150u32 {
            theirs_ring.add((n, v));
        }
    }
    let (ring_ours, ring_theirs) = side_by_side(
        1_000_000,
        |i| {
            black_box(ring.lookup(hash_u64(i)));
        },
        |i| {
            black_box(theirs_ring.get(&i));
        },
    );

    // Maglev lookup (M = 65537, 100 backends), including hashing the key.
    let mut maglev = Maglev::default();
    for n in 0..100 {
        maglev.add(n, 1);
    }
    let (maglev_ns, _) = side_by_side(
        5_000_000,
        |i| {
            black_box(maglev.lookup(hash_u64(i)));
        },
        |_| {},
    );

    println!(
        "limiter allow:   ours {lim_ours:6.1} ns   governor {lim_gov:6.1} ns   ratio {:.2}",
        lim_ours / lim_gov
    );
    println!("limiter check:   ours {full_ours:6.1} ns   governor {full_gov:6.1} ns   ratio {:.2} (full decision with header values)", full_ours / full_gov);
    println!(
        "keyed (10k):     ours {keyed_ours:6.1} ns   governor {keyed_gov:6.1} ns   ratio {:.2}",
        keyed_ours / keyed_gov
    );
    println!(
        "ring lookup:     ours {ring_ours:6.1} ns   hashring {ring_theirs:6.1} ns   ratio {:.2}",
        ring_ours / ring_theirs
    );
    println!("maglev lookup:   ours {maglev_ns:6.1} ns");
    println!(
        "{{\"bench\":\"policies\",\"limiter_vs_governor\":{:.3},\"keyed_vs_governor\":{:.3},\"ring_vs_hashring\":{:.3},\"maglev_ns\":{:.2},\"limiter_full_decision_vs_governor\":{:.3},\"ns\":{{\"limiter\":{:.2},\"governor\":{:.2},\"keyed\":{:.2},\"governor_keyed\":{:.2},\"ring\":{:.2},\"hashring\":{:.2}}}}}",
        lim_ours / lim_gov,
        keyed_ours / keyed_gov,
        ring_ours / ring_theirs,
        maglev_ns,
        full_ours / full_gov,
        lim_ours,
        lim_gov,
        keyed_ours,
        keyed_gov,
        ring_ours,
        ring_theirs
    );
}
