//! Shrinking a failing run's fault schedule to a minimal one that still fails: ddmin
//! (Zeller's delta debugging) over the fault events, then each remaining event made as early,
//! as short and as mild as it can be (binary searches over start, duration and parameters),
//! then ddmin again, repeated until nothing changes. "Still fails" means an invariant that
//! failed in the original run fails again, with the same seed. [`shrink`] is generic over
//! "does this schedule still fail" (a closure), so it shrinks any simulator test's schedule,
//! not only a scenario's. A schedule's buggify mask shrinks too, after the first ddmin: to 0
//! (no buggify point enabled) if that still fails, else bit by bit, so the result names only
//! the rare paths the failure needs.

use crate::faults::{Fault, FaultEvent, FaultSchedule};

/// Shrinks `original` (which must fail) under `fails`, spending at most `max_runs` runs.
pub fn shrink(
    original: &FaultSchedule,
    max_runs: u64,
    fails: &mut dyn FnMut(&FaultSchedule) -> bool,
) -> (FaultSchedule, u64, bool) {
    let mut budget = Budget {
        fails,
        runs: 0,
        max: max_runs,
        mask: original.buggify_mask,
    };
    let events = ddmin(original.events.clone(), &mut budget);
    shrink_mask(&events, &mut budget);
    let mut cur = FaultSchedule {
        events,
        buggify_mask: budget.mask,
    };
    for _pass in 0..4 {
        let before = cur.clone();
        for i in 0..cur.events.len() {
            shrink_event(&mut cur, i, &mut budget);
        }
        if cur == before || budget.out() {
            break;
        }
        // An event made earlier, shorter or milder can make another one unnecessary: ddmin
        // again, so the result stays 1-minimal.
        cur.events = ddmin(cur.events, &mut budget);
    }
    (cur, budget.runs, budget.out())
}

struct Budget<'a> {
    fails: &'a mut dyn FnMut(&FaultSchedule) -> bool,
    runs: u64,
    max: u64,
    /// The buggify mask every tried schedule carries.
    mask: Option<u64>,
}

impl Budget<'_> {
    fn out(&self) -> bool {
        self.runs >= self.max
    }
    fn fails(&mut self, events: &[FaultEvent]) -> bool {
        if self.out() {
            return false;
        }
        self.runs += 1;
        (self.fails)(&FaultSchedule {
            events: events.to_vec(),
            buggify_mask: self.mask,
        })
    }
}

/// Clears the buggify mask's bits that the failure does not need: all at once if it can, else
/// one at a time (at most 64 runs).
fn shrink_mask(events: &[FaultEvent], b: &mut Budget<'_>) {
    let Some(mask) = b.mask.filter(|m| *m != 0) else {
        return;
    };
    b.mask = Some(0);
    if b.fails(events) {
        return;
    }
    b.mask = Some(mask);
    for bit in 0..64 {
        let m = b.mask.unwrap_or(0);
        if m >> bit & 1 == 0 {
            continue;
        }
        b.mask = Some(m & !(1 << bit));
        if !b.fails(events) {
            b.mask = Some(m);
        }
    }
}

/// ddmin: a 1-minimal subsequence of `events` that still fails (removing any single event
/// makes it pass).
fn ddmin(mut events: Vec<FaultEvent>, b: &mut Budget<'_>) -> Vec<FaultEvent> {
    if b.fails(&[]) {
        return Vec::new();
    }
    let mut n = 2usize;
    while events.len() >= 2 && !b.out() {
        let len = events.len();
        let n_eff = n.min(len);
        let bounds: Vec<(usize, usize)> = (0..n_eff)
            .map(|i| (len * i / n_eff, len * (i + 1) / n_eff))
            .collect();
        let mut reduced = None;
        for &(s, e) in &bounds {
            if b.fails(&events[s..e]) {
                reduced = Some((events[s..e].to_vec(), 2));
                break;
            }
        }
        if reduced.is_none() && n_eff > 2 {
            for &(s, e) in &bounds {
                let comp: Vec<FaultEvent> =
                    events[..s].iter().chain(&events[e..]).cloned().collect();
                if b.fails(&comp) {
                    reduced = Some((comp, (n_eff - 1).max(2)));
                    break;
                }
            }
        }
        match reduced {
            Some((ev, next_n)) => {
                events = ev;
                n = next_n;
            }
            None if n_eff >= len => break,
            None => n = (2 * n_eff).min(len),
        }
    }
    events
}

/// Smallest `v` in `lo..=hi` for which `fails(v)`, given `fails(hi)` (binary search; assumes
/// failing is monotone in `v`, and is correct-but-not-minimal when it is not).
fn least(lo: u64, hi: u64, fails: &mut dyn FnMut(u64) -> bool) -> u64 {
    if lo >= hi || fails(lo) {
        return lo.min(hi);
    }
    let (mut pass, mut fail) = (lo, hi);
    while fail - pass > 1 {
        let mid = pass + (fail - pass) / 2;
        if fails(mid) {
            fail = mid;
        } else {
            pass = mid;
        }
    }
    fail
}

/// Makes event `i` start as early, last as briefly and bite as mildly as still fails.
fn shrink_event(s: &mut FaultSchedule, i: usize, b: &mut Budget<'_>) {
    let mut try_with = |s: &mut FaultSchedule, edit: &dyn Fn(&mut FaultEvent, u64), v: u64| {
        let mut t = s.events.clone();
        edit(&mut t[i], v);
        b.fails(&t)
    };
    type Edit = fn(&mut FaultEvent, u64);
    let knobs: Vec<(u64, u64, Edit)> = {
        let e = &s.events[i];
        let mut k: Vec<(u64, u64, Edit)> = vec![
            (0, e.at_ms, |e, v| e.at_ms = v),
            (1, e.for_ms.max(1), |e, v| e.for_ms = v),
        ];
        match &e.fault {
            Fault::Loss { rate, .. } => k.push((0, (rate * 1e4).round() as u64, |e, v| {
                if let Fault::Loss { rate, .. } = &mut e.fault {
                    *rate = v as f64 / 1e4;
                }
            })),
            Fault::Latency { extra_ms, .. } => k.push((0, *extra_ms, |e, v| {
                if let Fault::Latency { extra_ms, .. } = &mut e.fault {
                    *extra_ms = v;
                }
            })),
            Fault::ClockSkew {
                offset_ms,
                drift_ppm,
                ..
            } => {
                k.push((0, offset_ms.unsigned_abs(), |e, v| {
                    if let Fault::ClockSkew { offset_ms, .. } = &mut e.fault {
                        *offset_ms = offset_ms.signum() * v as i64;
                    }
                }));
                k.push((0, drift_ppm.unsigned_abs(), |e, v| {
                    if let Fault::ClockSkew { drift_ppm, .. } = &mut e.fault {
                        *drift_ppm = drift_ppm.signum() * v as i64;
                    }
                }));
            }
            Fault::Partition { .. } | Fault::Crash { .. } => {}
        }
        k
    };
    for (lo, hi, edit) in knobs {
        let v = least(lo, hi, &mut |v| try_with(s, &edit, v));
        edit(&mut s.events[i], v);
    }
}

#[cfg(test)]
mod tests;
