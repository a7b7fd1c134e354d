use super::*;
use crate::catalogue::test_catalogue;
use crate::faults::Fault;
use crate::scenario::Backend;
use testbed_model::Duration;

fn ctx_for(seed: u64, wall: &dyn Fn() -> Duration) -> RunCtx<'_> {
    RunCtx::new(Backend::Sim, seed, Params::parse(&[], &[]).unwrap(), wall)
}

/// The planted bug needs a primary–backup partition and a later crash of the primary. From a
/// failing seed whose schedule has many faults, shrinking keeps exactly those two.
#[test]
fn shrinking_the_planted_bug_keeps_exactly_partition_and_crash() {
    let s = test_catalogue()
        .into_iter()
        .find(|s| s.name() == "planted-bug")
        .unwrap();
    assert!(
        crate::find("planted-bug").is_err(),
        "test-only scenario is not in the catalogue"
    );
    let wall = || Duration::ZERO;
    let params = Params::parse(&[], &[]).unwrap();
    let seed = (0..400)
        .find(|seed| {
            let sch = s.fault_schedule(*seed, &params).unwrap();
            sch.events.len() >= 8 && !s.run(&ctx_for(*seed, &wall)).unwrap().passed()
        })
        .expect("a failing seed with at least 8 faults");
    let ctx = ctx_for(seed, &wall);
    let r = shrink_seed(s, &ctx, 3000).unwrap();
    assert!(!r.exhausted);
    assert_eq!(r.failed, vec!["acknowledged_writes_survive".to_string()]);
    assert!(r.original.events.len() >= 8);
    let kinds: Vec<&Fault> = r.schedule.events.iter().map(|e| &e.fault).collect();
    assert_eq!(kinds.len(), 2, "seed {seed}: {:#?}", r.schedule);
    assert!(
        kinds.iter().any(|f| matches!(f, Fault::Partition { a, b }
        if (a == "primary" && b == "backup") || (a == "backup" && b == "primary"))),
        "{kinds:?}"
    );
    assert!(
        kinds
            .iter()
            .any(|f| matches!(f, Fault::Crash { host } if host == "primary")),
        "{kinds:?}"
    );
    // Both were in the original, among faults that were dropped.
    for e in &r.schedule.events {
        assert!(r.original.events.iter().any(|o| o.fault == e.fault));
    }
    // The minimum still fails, and each of its events alone passes.
    assert!(!s.run_with_schedule(&ctx, &r.schedule).unwrap().passed());
    for keep in 0..2 {
        let one = FaultSchedule {
            events: vec![r.schedule.events[keep].clone()],
            buggify_mask: None,
        };
        assert!(s.run_with_schedule(&ctx, &one).unwrap().passed());
    }
    // Shorter than the original, and each event no longer than where it came from.
    assert!(r.schedule.end() < r.original.end());
    for e in &r.schedule.events {
        let longest = r
            .original
            .events
            .iter()
            .filter(|o| o.fault == e.fault)
            .map(|o| o.for_ms)
            .max();
        assert!(Some(e.for_ms) <= longest, "{e:?}");
    }
    eprintln!(
        "seed {seed}: {} faults -> {:?} in {} runs",
        r.original.events.len(),
        r.schedule,
        r.runs
    );
}

#[test]
fn passing_seeds_and_scenarios_without_schedules_are_refused() {
    let wall = || Duration::ZERO;
    let echo = crate::find("echo").unwrap();
    let mut ctx = ctx_for(1, &wall);
    ctx.params = Params::parse(echo.params(), &[]).unwrap();
    assert_eq!(
        shrink_seed(echo, &ctx, 10),
        Err(ShrinkError::NoSchedule("echo".into()))
    );
    let s = test_catalogue()[0];
    let params = Params::parse(&[], &[]).unwrap();
    let passing = (0..100)
        .find(|seed| s.run(&ctx_for(*seed, &wall)).unwrap().passed())
        .unwrap();
    let _ = params;
    assert_eq!(
        shrink_seed(s, &ctx_for(passing, &wall), 10),
        Err(ShrinkError::Passes(passing))
    );
}
