//! Load balancer properties.

use proptest::prelude::*;
use proptest::test_runner::{Config, RngSeed};
use std::collections::BTreeMap;
use testbed_distributed::balance::*;
use testbed_distributed::hash::hash_u64;
use testbed_model::{Duration, Instant, SeededRng};

fn cfg(cases: u32) -> Config {
    Config {
        cases,
        rng_seed: RngSeed::Fixed(0xBA1A),
        failure_persistence: None,
        ..Config::default()
    }
}

fn picks(b: &mut dyn Balancer, n: usize, seed: u64) -> Vec<NodeId> {
    let mut rng = SeededRng::new(seed);
    (0..n as u64)
        .map(|i| {
            b.pick(&mut Pick {
                now: Instant::ZERO,
                key: hash_u64(i),
                rng: &mut rng,
            })
            .unwrap()
        })
        .collect()
}

fn lookups(b: &mut dyn Balancer, keys: u64) -> Vec<NodeId> {
    picks(b, keys as usize, 0)
}

#[test]
fn smooth_weighted_round_robin_5_1_1() {
    let mut b = SmoothWeighted::new();
    b.add(0, 5); // a
    b.add(1, 1); // b
    b.add(2, 1); // c
    assert_eq!(picks(&mut b, 7, 0), vec![0, 0, 1, 0, 2, 0, 0]);
}

proptest! {
    #![proptest_config(cfg(64))]

    #[test]
    fn smooth_weighted_gives_each_node_its_weight_in_every_period(weights in prop::collection::vec(1u32..10, 1..8), periods in 1usize..5) {
        let mut b = SmoothWeighted::new();
        for (i, w) in weights.iter().enumerate() {
            b.add(i as u32, *w);
        }
        let total: u32 = weights.iter().sum();
        for _ in 0..periods {
            let mut count = BTreeMap::new();
            for n in picks(&mut b, total as usize, 0) {
                *count.entry(n).or_insert(0u32) += 1;
            }
            for (i, w) in weights.iter().enumerate() {
                prop_assert_eq!(count.get(&(i as u32)).copied().unwrap_or(0), *w);
            }
        }
    }

    #[test]
    fn bounded_load_never_exceeds_its_cap(nodes in 2u32..30, eps in 50u64..1000, keys in 1u64..3000, seed: u64) {
        let mut b = BoundedLoadRing::new(40, eps);
        for n in 0..nodes {
            b.add(n, 1);
        }
        let mut rng = SeededRng::new(seed);
        for k in 0..keys {
            let cap = b.cap();
            let n = b.pick(&mut Pick { now: Instant::ZERO, key: hash_u64(k ^ seed), rng: &mut rng }).unwrap();
            b.on_start(n, Instant::ZERO);
            prop_assert!(b.load(n) <= cap, "node {} at {} > cap {}", n, b.load(n), cap);
            let total = k + 1;
            let bound = ((1000 + eps) * total).div_ceil(1000 * nodes as u64);
            for m in 0..nodes {
                prop_assert!(b.load(m) <= bound);
            }
        }
    }

    #[test]
    fn weighted_random_follows_weights(seed: u64) {
        let mut b = WeightedRandom::new();
        b.add(1, 1);
        b.add(2, 3);
        let p = picks(&mut b, 40_000, seed);
        let twos = p.iter().filter(|n| **n == 2).count();
        prop_assert!((29_000..31_000).contains(&twos), "{}", twos);
    }
}

#[test]
fn ring_is_balanced_and_moves_only_what_it_must() {
    const KEYS: u64 = 1_000_000;
    let mut ring = HashRing::new(150);
    for n in 0..100 {
        ring.add(n, 1);
    }
    let before = lookups(&mut ring, KEYS);
    let mut load = vec![0u64; 101];
    for n in &before {
        load[*n as usize] += 1;
    }
    let max = *load.iter().max().unwrap() as f64;
    let avg = KEYS as f64 / 100.0;
    assert!(max / avg <= 1.3, "max/avg = {:.3}", max / avg);

    ring.add(100, 1);
    let after = lookups(&mut ring, KEYS);
    let moved: Vec<_> = before.iter().zip(&after).filter(|(a, b)| a != b).collect();
    assert!(
        moved.iter().all(|(_, to)| **to == 100),
        "keys moved between old nodes"
    );
    let expected = KEYS as f64 / 101.0;
    assert!(
        (moved.len() as f64 - expected).abs() <= 0.25 * expected,
        "moved {} expected ≈{expected:.0}",
        moved.len()
    );

    ring.remove(37);
    let removed = lookups(&mut ring, KEYS);
    for (a, b) in after.iter().zip(&removed) {
        assert!(
            a == b || *a == 37,
            "a key of node {a} moved on removing node 37"
        );
    }
}

#[test]
fn maglev_is_even_and_stable() {
    let mut m = Maglev::new(65_537);
    for n in 0..100 {
        m.add(n, 1);
    }
    let before = m.table().to_vec();
    let mut count = BTreeMap::new();
    for n in &before {
        *count.entry(*n).or_insert(0u64) += 1;
    }
    let (lo, hi) = (count.values().min().unwrap(), count.values().max().unwrap());
    assert!(hi - lo <= 1, "slot counts {lo}..{hi}");
    m.remove(42);
    let changed = before.iter().zip(m.table()).filter(|(a, b)| a != b).count();
    assert!(changed as f64 <= 0.02 * 65_537.0, "{changed} slots changed");
    assert!(!m.table().contains(&42));
}

#[test]
fn jump_hash_moves_one_over_n_plus_one_onto_the_new_bucket() {
    let keys = 100_000u64;
    let moved = (0..keys)
        .filter(|k| jump_hash(hash_u64(*k), 10) != jump_hash(hash_u64(*k), 11))
        .count();
    assert!((8_000..10_200).contains(&moved), "{moved}");
    assert!((0..keys).all(|k| {
        let (a, b) = (jump_hash(hash_u64(k), 10), jump_hash(hash_u64(k), 11));
        a == b || b == 10
    }));
}

#[test]
fn rendezvous_moves_only_the_removed_nodes_keys() {
    let mut r = Rendezvous::new();
    for n in 0..20 {
        r.add(n, 1);
    }
    let before = lookups(&mut r, 20_000);
    r.remove(5);
    let after = lookups(&mut r, 20_000);
    assert!(before.iter().zip(&after).all(|(a, b)| a == b || *a == 5));
}

#[test]
fn ejected_nodes_are_not_picked_and_come_back() {
    let all: Vec<Box<dyn Balancer>> = vec![
        Box::new(RoundRobin::new()),
        Box::new(SmoothWeighted::new()),
        Box::new(Random::new()),
        Box::new(WeightedRandom::new()),
        Box::new(LeastConnections::new()),
        Box::new(PowerOfTwo::new()),
        Box::new(PeakEwma::new(
            Duration::from_secs(10),
            Duration::from_millis(5),
        )),
        Box::new(HashRing::new(50)),
        Box::new(BoundedLoadRing::new(50, 250)),
        Box::new(Maglev::new(251)),
        Box::new(JumpHash::new()),
        Box::new(Rendezvous::new()),
    ];
    for mut b in all {
        assert_eq!(picks_opt(&mut *b), None, "empty balancer picks nothing");
        for n in 0..4 {
            b.add(n, 1);
        }
        b.eject(2);
        assert!(picks(&mut *b, 500, 1).iter().all(|n| *n != 2));
        b.uneject(2);
        assert!(picks(&mut *b, 500, 1).contains(&2));
    }
}

fn picks_opt(b: &mut dyn Balancer) -> Option<NodeId> {
    let mut rng = SeededRng::new(0);
    b.pick(&mut Pick {
        now: Instant::ZERO,
        key: 1,
        rng: &mut rng,
    })
}

#[test]
fn load_aware_balancers_avoid_the_busy_node() {
    let mut lc = LeastConnections::new();
    for n in 0..3 {
        lc.add(n, 1);
    }
    lc.on_start(0, Instant::ZERO);
    lc.on_start(1, Instant::ZERO);
    assert_eq!(picks(&mut lc, 1, 0), vec![2]);

    let mut ewma = PeakEwma::new(Duration::from_secs(10), Duration::from_millis(5));
    for n in 0..2 {
        ewma.add(n, 1);
    }
    ewma.on_start(0, Instant::ZERO);
    ewma.on_end(0, Instant::from_secs(1), Duration::from_millis(500)); // slow node
    ewma.on_start(1, Instant::ZERO);
    ewma.on_end(1, Instant::from_secs(1), Duration::from_millis(2));
    assert_eq!(
        ewma.ewma(0),
        Duration::from_millis(500),
        "a peak replaces the average"
    );
    assert!(picks(&mut ewma, 100, 3).iter().all(|n| *n == 1));
}
