use super::*;
use std::sync::atomic::{AtomicU64, Ordering};

fn sweep_of(jobs: usize, seeds: Range<u64>) -> SweepFile {
    let s = crate::find("partition-heal").unwrap();
    let params = Params::parse(s.params(), &["clients=2".into(), "requests=5".into()]).unwrap();
    let wall = || Duration::ZERO;
    let sw = Sweep {
        scenario: s,
        params: params.clone(),
        fidelity: Fidelity::Stream,
        jobs,
        wall: &wall,
    };
    let seen = AtomicU64::new(0);
    let results = sw.run(seeds.clone(), &|_| {
        seen.fetch_add(1, Ordering::Relaxed);
    });
    assert_eq!(seen.into_inner(), seeds.end - seeds.start);
    SweepFile {
        kind: "testbed-sweep".into(),
        scenario: s.name().into(),
        backend: "sim".into(),
        params: params.to_json(),
        seeds: "0..12".into(),
        shards: vec![Shard::ALL],
        wall_s: vec![0.0],
        results,
    }
}

#[test]
fn threads_do_not_change_results_and_shards_merge_back() {
    let one = sweep_of(1, 0..12);
    let two = sweep_of(3, 0..12);
    assert_eq!(one.results, two.results);
    assert_eq!(one.results.len(), 12);
    assert!(one.results.iter().all(|r| r.trace_hash.is_some()));
    let part = |i| {
        let sh = Shard { index: i, count: 2 };
        let mut f = sweep_of(2, sh.range(&(0..12)));
        f.shards = vec![sh];
        (format!("shard{i}.json"), f)
    };
    let (a, b) = (part(0), part(1));
    let half = a.1.summary();
    assert_eq!((half.runs, half.missing), (6, 6));
    let merged = merge(vec![b.clone(), a.clone()]).unwrap();
    assert_eq!(merged.results, one.results);
    assert_eq!(merged.summary(), one.summary());
    let sum = merged.summary();
    assert_eq!(sum.runs, 12);
    assert_eq!(sum.metrics["requests_answered"].count, 12);
    // A doctored duplicate seed is a conflict; another scenario is a mismatch.
    let mut c = a.clone();
    c.1.results[0].trace_hash = Some("0".into());
    assert!(matches!(
        merge(vec![a.clone(), c]),
        Err(SweepError::Conflict { seed: 0, .. })
    ));
    let mut d = b;
    d.1.scenario = "echo".into();
    assert!(matches!(
        merge(vec![a, d]),
        Err(SweepError::Mismatch {
            what: "scenario",
            ..
        })
    ));
}

#[test]
fn results_files_round_trip_through_json() {
    let f = sweep_of(2, 0..3);
    let text = serde_json::to_string(&f).unwrap();
    let back: SweepFile = serde_json::from_str(&text).unwrap();
    assert_eq!(back.results.len(), 3);
    assert_eq!(back.summary().runs, 3);
}
