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
        buggify_mask: None,
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
        buggify_mask: None,
    };
    let (min, runs, _) = shrink(&original, 100, &mut |_| true);
    assert!(min.events.is_empty() && runs == 1);
    let (_, runs, exhausted) = shrink(&original, 5, &mut |s| s.events.len() >= 3);
    assert!(exhausted && runs == 5);
}

#[test]
fn the_buggify_mask_shrinks_to_the_bits_the_failure_needs() {
    let original = FaultSchedule {
        events: (0..6).map(|i| part(&format!("x{i}"), 10 * i, 50)).collect(),
        buggify_mask: Some(0b1011_0110),
    };
    // Needs x2 and the points on bits 2 and 5.
    let need = 1 << 2 | 1 << 5;
    let mut fails = |s: &FaultSchedule| {
        has(s, "x2").is_some() && s.buggify_mask.is_some_and(|m| m & need == need)
    };
    let (min, runs, exhausted) = shrink(&original, 10_000, &mut fails);
    assert!(!exhausted);
    assert_eq!(min.buggify_mask, Some(need), "after {runs} runs");
    assert_eq!(min.events, vec![part("x2", 0, 1)]);
    // A failure that needs no buggify point ends with the mask 0; no mask stays no mask.
    let (min, ..) = shrink(&original, 10_000, &mut |s| has(s, "x4").is_some());
    assert_eq!(min.buggify_mask, Some(0));
    let drawn = FaultSchedule {
        buggify_mask: None,
        ..original
    };
    let (min, ..) = shrink(&drawn, 10_000, &mut |s| has(s, "x4").is_some());
    assert_eq!(min.buggify_mask, None);
}
