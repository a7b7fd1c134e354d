use super::*;

#[test]
fn shards_are_disjoint_and_cover_the_range() {
    for (full, n) in [(0..10_000u64, 4u64), (5..17, 5), (0..3, 7), (100..101, 1)] {
        let mut next = full.start;
        for i in 0..n {
            let r = Shard { index: i, count: n }.range(&full);
            assert_eq!(r.start, next, "{full:?} {i}/{n}");
            assert!(r.end - r.start <= (full.end - full.start).div_ceil(n));
            next = r.end;
        }
        assert_eq!(next, full.end);
    }
    assert_eq!(Shard::parse("2/4"), Ok(Shard { index: 2, count: 4 }));
    assert_eq!(Shard::parse("4/4"), Err(SweepError::BadShard("4/4".into())));
    assert!(Shard::parse("x/4").is_err() && Shard::parse("3").is_err());
}

#[test]
fn distributions_by_nearest_rank() {
    let d = Dist::of((1..=100).rev().map(f64::from).collect()).unwrap();
    assert_eq!(
        (d.count, d.min, d.median, d.p99, d.max),
        (100, 1.0, 50.0, 99.0, 100.0)
    );
    assert_eq!(Dist::of(vec![]), None);
}

/// A synthetic per-seed run: the results depend on the seed alone, so any thread count gives
/// the same results, in seed order, and a panic-free run reports every seed once.
#[test]
fn run_seeds_is_independent_of_the_thread_count() {
    let run = |seed: u64| SeedResult {
        seed,
        passed: seed % 7 != 3,
        trace_hash: Some(format!("{:016x}", seed.wrapping_mul(0x9e37_79b9_7f4a_7c15))),
        failed: if seed % 7 == 3 {
            vec!["odd: 3 mod 7".into()]
        } else {
            vec![]
        },
        replay: None,
        metrics: [("x".to_string(), seed as f64)].into_iter().collect(),
    };
    let seen = AtomicU64::new(0);
    let one = run_seeds(10..60, 1, &run, &|_| {
        seen.fetch_add(1, Ordering::Relaxed);
    });
    let four = run_seeds(10..60, 4, &run, &|_| {});
    assert_eq!(seen.into_inner(), 50);
    assert_eq!(one, four);
    assert_eq!(one.first().map(|r| r.seed), Some(10));
    assert_eq!(one.last().map(|r| r.seed), Some(59));
    let file = SweepFile {
        kind: "testbed-sweep".into(),
        scenario: "synthetic".into(),
        backend: "sim".into(),
        params: serde_json::Value::Null,
        seeds: "10..60".into(),
        shards: vec![Shard::ALL],
        wall_s: vec![0.0],
        results: one,
    };
    let sum = file.summary();
    assert_eq!((sum.runs, sum.failed, sum.missing), (50, 8, 0));
    assert_eq!(sum.metrics["x"].max, 59.0);
}

#[test]
fn panic_messages_are_read_from_either_payload() {
    let p = std::panic::catch_unwind(|| panic!("seed {}", 4)).unwrap_err();
    assert_eq!(panic_message(&*p), "seed 4");
    let p = std::panic::catch_unwind(|| std::panic::panic_any(7u8)).unwrap_err();
    assert_eq!(panic_message(&*p), "non-text panic");
}

/// The pool stops at the smallest stopping seed whatever the thread count, names its threads
/// and does not wrap past the end of a range that ends at u64::MAX.
#[test]
fn the_pool_stops_at_the_smallest_stopping_seed() {
    for jobs in [1, 2, 5] {
        let pool = SeedPool {
            jobs,
            thread_name: Some("pool-test".into()),
        };
        let got = pool.run_until(
            10..1000,
            &|seed| {
                assert_eq!(std::thread::current().name(), Some("pool-test"));
                seed % 97 == 0
            },
            &|stop| *stop,
        );
        let seeds: Vec<u64> = got.iter().map(|(s, _)| *s).collect();
        assert_eq!(seeds, (10..=97).collect::<Vec<_>>(), "jobs {jobs}");
    }
    let pool = SeedPool {
        jobs: 4,
        thread_name: None,
    };
    let got = pool.run_until(u64::MAX - 3..u64::MAX, &|seed| seed, &|_| false);
    assert_eq!(
        got.iter().map(|(s, _)| *s).collect::<Vec<_>>(),
        vec![u64::MAX - 3, u64::MAX - 2, u64::MAX - 1]
    );
}
