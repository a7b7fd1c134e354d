//! Mutations of a (seed, schedule) candidate that stay inside a [`SwarmSpec`]'s declared
//! ranges: add, drop, shift (one event or all), lengthen or shorten, intensify, retarget and
//! duplicate fault events, splice one in from another candidate, re-draw the run seed (which
//! also re-draws the buggify points; a candidate's `buggify_mask`, e.g. from a fuzz input, is
//! kept as it is). [`in_ranges`] is the check every mutated schedule passes (on top of
//! [`FaultSchedule::validate`]).

use crate::faults::{quantize_rate, Fault, FaultEvent, FaultKind, FaultSchedule, SwarmSpec};
use testbed_model::{Rng, SeededRng};

/// One thing to try: the run seed (the simulator's randomness) and the faults.
#[derive(Clone, Debug, PartialEq)]
pub struct Candidate {
    /// The run seed.
    pub seed: u64,
    /// The fault schedule, used instead of the one the seed would draw.
    pub schedule: FaultSchedule,
}

/// Why a schedule is outside a spec's ranges.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum RangeError {
    /// More events than `events_max`.
    #[error("{0} events, more than the {1} the scenario allows")]
    TooMany(usize, u64),
    /// An event's start, duration or intensity is out of the declared range.
    #[error("event {index} is out of range: {what}")]
    Event {
        /// Which event.
        index: usize,
        /// What is wrong.
        what: String,
    },
    /// A fault kind or target the spec does not draw.
    #[error("event {index}: {what}")]
    Target {
        /// Which event.
        index: usize,
        /// What is wrong.
        what: String,
    },
}

/// Checks `s` is something `spec` could draw: event count, starts, durations, intensities,
/// kinds and targets within the declared ranges.
pub fn in_ranges(spec: &SwarmSpec, s: &FaultSchedule) -> Result<(), RangeError> {
    if s.events.len() as u64 > spec.events_max.max(1) {
        return Err(RangeError::TooMany(s.events.len(), spec.events_max));
    }
    let caps = spec.caps();
    for (index, e) in s.events.iter().enumerate() {
        let bad = |what: String| Err(RangeError::Event { index, what });
        if e.at_ms > spec.start_max_ms {
            return bad(format!("starts at {} ms > {}", e.at_ms, spec.start_max_ms));
        }
        if e.for_ms < spec.for_ms.0 || e.for_ms > spec.for_ms.1.max(spec.for_ms.0) {
            return bad(format!("lasts {} ms, not in {:?}", e.for_ms, spec.for_ms));
        }
        let target = |what: String| Err(RangeError::Target { index, what });
        if !spec.kinds.contains(&e.fault.kind()) {
            return target(format!("kind {:?} is not drawn", e.fault.kind()));
        }
        let link_ok = |a: &String, b: &String| {
            spec.links
                .iter()
                .any(|(x, y)| (x == a && y == b) || (x == b && y == a))
        };
        match &e.fault {
            Fault::Partition { a, b } | Fault::Latency { a, b, .. } | Fault::Loss { a, b, .. }
                if !link_ok(a, b) =>
            {
                return target(format!("link {a}–{b} is not faultable"))
            }
            Fault::Crash { host } if !spec.crashable.contains(host) => {
                return target(format!("{host} is not crashable"))
            }
            Fault::ClockSkew { host, .. } if !spec.skewable.contains(host) => {
                return target(format!("{host} is not skewable"))
            }
            Fault::Loss { rate, .. } if *rate > caps.loss_max + 1e-4 || *rate < 0.0 => {
                return bad(format!("loss {rate} > {}", caps.loss_max))
            }
            Fault::Latency { extra_ms, .. } if *extra_ms > caps.latency_max_ms => {
                return bad(format!("latency {extra_ms} ms > {}", caps.latency_max_ms))
            }
            Fault::ClockSkew {
                offset_ms,
                drift_ppm,
                ..
            } if offset_ms.abs() > caps.skew_max_ms || drift_ppm.abs() > caps.drift_max_ppm => {
                return bad(format!(
                    "skew {offset_ms} ms / {drift_ppm} ppm past the caps"
                ))
            }
            _ => {}
        }
    }
    Ok(())
}

/// The mutation operators.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Op {
    Add,
    Drop,
    Shift,
    ShiftAll,
    Lengthen,
    Shorten,
    Intensify,
    Retarget,
    Duplicate,
    Splice,
    Reseed,
}

const OPS: &[Op] = &[
    Op::Add,
    Op::Add,
    Op::Drop,
    Op::Shift,
    Op::Shift,
    Op::ShiftAll,
    Op::Lengthen,
    Op::Shorten,
    Op::Intensify,
    Op::Intensify,
    Op::Retarget,
    Op::Duplicate,
    Op::Splice,
    Op::Splice,
    Op::Reseed,
];

/// Applies 1 to 4 mutations to `c` (stacked), drawing from `rng`; `donor` is another
/// candidate to splice events from. The result is always [`in_ranges`] of `spec` when `c`
/// is, and its events are sorted by start.
pub fn mutate(
    spec: &SwarmSpec,
    c: &Candidate,
    donor: &Candidate,
    rng: &mut SeededRng,
) -> Candidate {
    let mut out = c.clone();
    let stack = 1 + rng.below(4);
    for _ in 0..stack {
        let op = OPS[rng.below(OPS.len() as u64) as usize];
        apply(spec, op, &mut out, donor, rng);
    }
    out.schedule.events.sort_by_key(|e| e.at_ms);
    out
}

fn kinds(spec: &SwarmSpec) -> Vec<FaultKind> {
    spec.kinds
        .iter()
        .copied()
        .filter(|k| spec.drawable(*k))
        .collect()
}

fn apply(spec: &SwarmSpec, op: Op, c: &mut Candidate, donor: &Candidate, rng: &mut SeededRng) {
    let max = spec.events_max.max(1) as usize;
    let ev = &mut c.schedule.events;
    let pick = |rng: &mut SeededRng, n: usize| rng.below(n as u64) as usize;
    match op {
        Op::Reseed => c.seed = rng.next_u64(),
        Op::ShiftAll => {
            // The whole schedule earlier or later, gaps kept where the range allows: room
            // for a later fault after a chain that starts too late.
            let reach = (spec.start_max_ms / 4).max(1);
            let delta = rng.range_inclusive(0, 2 * reach) as i64 - reach as i64;
            for e in ev.iter_mut() {
                e.at_ms = e.at_ms.saturating_add_signed(delta).min(spec.start_max_ms);
            }
        }
        Op::Add => {
            let ks = kinds(spec);
            if ev.len() < max && !ks.is_empty() {
                let k = ks[pick(rng, ks.len())];
                let mut e = spec.draw_event(rng, k, &spec.caps());
                follow(spec, rng, ev, &mut e);
                ev.push(e);
            }
        }
        Op::Splice => {
            if ev.len() < max && !donor.schedule.events.is_empty() {
                let d = &donor.schedule.events;
                let mut e = d[pick(rng, d.len())].clone();
                follow(spec, rng, ev, &mut e);
                ev.push(e);
            }
        }
        Op::Drop
        | Op::Shift
        | Op::Lengthen
        | Op::Shorten
        | Op::Intensify
        | Op::Retarget
        | Op::Duplicate => {
            if ev.is_empty() {
                return apply(spec, Op::Add, c, donor, rng);
            }
            let i = pick(rng, ev.len());
            match op {
                Op::Drop => {
                    ev.remove(i);
                }
                Op::Shift => ev[i].at_ms = shift(rng, ev[i].at_ms, spec.start_max_ms),
                Op::Duplicate => {
                    if ev.len() < max {
                        let mut e = ev[i].clone();
                        e.at_ms = shift(rng, e.at_ms, spec.start_max_ms);
                        ev.push(e);
                    }
                }
                Op::Lengthen => {
                    let hi = spec.for_ms.1.max(spec.for_ms.0);
                    ev[i].for_ms = rng.range_inclusive(ev[i].for_ms.min(hi), hi);
                }
                Op::Shorten => {
                    let lo = spec.for_ms.0;
                    ev[i].for_ms = rng.range_inclusive(lo, ev[i].for_ms.max(lo));
                }
                Op::Intensify => intensify(spec, &mut ev[i], rng),
                Op::Retarget => retarget(spec, &mut ev[i], rng),
                _ => unreachable!("handled above"),
            }
        }
    }
}

/// Half the time, starts a new event `e` after one of `ev` starts, within the longest an
/// event may last (bugs that need faults in order need each while or soon after the one
/// before); otherwise leaves its start as drawn.
fn follow(spec: &SwarmSpec, rng: &mut SeededRng, ev: &[FaultEvent], e: &mut FaultEvent) {
    if ev.is_empty() || rng.chance(0.5) {
        return;
    }
    let before = ev[rng.below(ev.len() as u64) as usize].at_ms;
    let reach = spec.for_ms.1.max(spec.start_max_ms / 4).max(1);
    e.at_ms = before
        .saturating_add(rng.range_inclusive(1, reach))
        .min(spec.start_max_ms);
}

/// A new start near `at` (within a quarter of the range either way), in `0..=max`.
fn shift(rng: &mut SeededRng, at: u64, max: u64) -> u64 {
    let reach = (max / 4).max(1);
    let lo = at.saturating_sub(reach);
    let hi = at.saturating_add(reach).min(max);
    rng.range_inclusive(lo.min(hi), hi)
}

/// Makes a fault stronger (towards the caps); crashes and partitions have no intensity, so
/// they last longer instead.
fn intensify(spec: &SwarmSpec, e: &mut FaultEvent, rng: &mut SeededRng) {
    let caps = spec.caps();
    match &mut e.fault {
        Fault::Loss { rate, .. } => {
            let lo = *rate;
            *rate = quantize_rate(lo + (caps.loss_max - lo).max(0.0) * rng.unit_f64())
                .min(caps.loss_max);
        }
        Fault::Latency { extra_ms, .. } => {
            *extra_ms =
                rng.range_inclusive((*extra_ms).min(caps.latency_max_ms), caps.latency_max_ms)
        }
        Fault::ClockSkew {
            offset_ms,
            drift_ppm,
            ..
        } => {
            let grow = |rng: &mut SeededRng, v: i64, cap: i64| {
                let m = rng.range_inclusive(v.unsigned_abs().min(cap as u64), cap as u64) as i64;
                if v < 0 || (v == 0 && rng.chance(0.5)) {
                    -m
                } else {
                    m
                }
            };
            *offset_ms = grow(rng, *offset_ms, caps.skew_max_ms);
            *drift_ppm = grow(rng, *drift_ppm, caps.drift_max_ppm);
        }
        Fault::Partition { .. } | Fault::Crash { .. } => {
            let hi = spec.for_ms.1.max(spec.for_ms.0);
            e.for_ms = rng.range_inclusive(e.for_ms.min(hi), hi);
        }
    }
}

/// Moves a fault to another target of the same kind.
fn retarget(spec: &SwarmSpec, e: &mut FaultEvent, rng: &mut SeededRng) {
    let one = |rng: &mut SeededRng, v: &[String]| v[rng.below(v.len() as u64) as usize].clone();
    match &mut e.fault {
        Fault::Partition { a, b } | Fault::Loss { a, b, .. } | Fault::Latency { a, b, .. } => {
            if !spec.links.is_empty() {
                let (x, y) = spec.links[rng.below(spec.links.len() as u64) as usize].clone();
                (*a, *b) = (x, y);
            }
        }
        Fault::Crash { host } => {
            if !spec.crashable.is_empty() {
                *host = one(rng, &spec.crashable);
            }
        }
        Fault::ClockSkew { host, .. } => {
            if !spec.skewable.is_empty() {
                *host = one(rng, &spec.skewable);
            }
        }
    }
}
