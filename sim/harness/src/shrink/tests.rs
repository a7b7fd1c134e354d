use super::*;

fn part(name: &str, at_ms: u64, for_ms: u64) -> FaultEvent {
    FaultEvent {
        at_ms,
        for_ms,
        fault: Fault::Partition {
            a: "s".into(),
            b: name.into(),
        },
    }
}

fn has(s: &FaultSchedule, name: &str) -> Option<FaultEvent> {
    s.events
        .iter()
        .find(|e| matches!(&e.fault, Fault::Partition { b, .. } if b == name))
        .cloned()
}

/// A synthetic bug: fails when x3 lasts at least 100 ms and x11 starts at 40 ms or later.
#[test]
fn ddmin_then_binary_searches_find_the_two_events_and_their_limits() {
    let original = FaultSchedule {
        events: (0..20)
            .map(|i| part(&format!("x{i}"), 50 + i, 500))
            .collect(),
    };
    let mut fails = |s: &FaultSchedule| match (has(s, "x3"), has(s, "x11")) {
        (Some(a), Some(b)) => a.for_ms >= 100 && b.at_ms >= 40,
        _ => false,
    };
    assert!(fails(&original));
    let (min, runs, exhausted) = shrink(&original, 10_000, &mut fails);
    assert!(!exhausted);
    assert_eq!(
        min.events,
        vec![part("x3", 0, 100), part("x11", 40, 1)],
        "after {runs} runs"
    );
    assert!(runs < 200, "{runs} runs");
}

#[test]
fn a_schedule_failing_without_faults_shrinks_to_nothing_and_the_budget_holds() {
    let original = FaultSchedule {
        events: (0..8).map(|i| part(&format!("x{i}"), i, 10)).collect(),
    };
    let (min, runs, _) = shrink(&original, 100, &mut |_| true);
    assert!(min.events.is_empty() && runs == 1);
    let (_, runs, exhausted) = shrink(&original, 5, &mut |s| s.events.len() >= 3);
    assert!(exhausted && runs == 5);
}
