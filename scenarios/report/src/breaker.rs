//! 网络编程进阶主题 §4.4: the circuit breaker's state machine (CLOSED → OPEN after 3 failures, HALF_OPEN
//! after the wait, CLOSED on a successful probe, OPEN again on a failed one), driven directly:
//! `distributed::breaker` with the seed's example settings (`circuit_breaker_init(&cb, 3, 10)`)
//! in front of a dependency that is down for the first 15 s; one call every 500 ms for 30 s.

use super::claim::{Claim, Verdict};
use testbed_distributed::breaker::{Breaker, BreakerConfig, Outcome, State};
use testbed_model::{Duration, Instant};

const STEP_MS: u64 = 500;
const END_MS: u64 = 30_000;
const DOWN_UNTIL_MS: u64 = 15_000;
const FAILURES: u32 = 3;
const WAIT_S: u64 = 10;

/// What happened.
#[derive(Clone, Debug, PartialEq)]
pub struct Drive {
    /// State changes: (ms, from, to).
    pub transitions: Vec<(u64, State, State)>,
    /// Calls that reached the dependency, and when (ms).
    pub calls: Vec<(u64, bool)>,
    /// Calls rejected without reaching it.
    pub rejected: u64,
}

/// Drives the breaker.
pub fn drive() -> Drive {
    let mut b = Breaker::new(BreakerConfig::consecutive_failures(
        FAILURES,
        Duration::from_secs(WAIT_S),
    ));
    let mut d = Drive {
        transitions: Vec::new(),
        calls: Vec::new(),
        rejected: 0,
    };
    let mut t = 0;
    while t < END_MS {
        let now = Instant::from_nanos(t * 1_000_000);
        match b.try_acquire(now) {
            Ok(permit) => {
                let ok = t >= DOWN_UNTIL_MS;
                d.calls.push((t, ok));
                let outcome = if ok {
                    Outcome::Success
                } else {
                    Outcome::Failure
                };
                b.on_result(now, permit, outcome, Duration::from_millis(1));
            }
            Err(_) => d.rejected += 1,
        }
        while let Some(e) = b.poll_event() {
            d.transitions
                .push((e.at.as_nanos() / 1_000_000, e.from, e.to));
        }
        t += STEP_MS;
    }
    d
}

fn name(s: State) -> &'static str {
    match s {
        State::Closed => "closed",
        State::Open => "open",
        State::HalfOpen => "half_open",
        State::ForcedOpen => "forced_open",
        State::Disabled => "disabled",
    }
}

/// The seed's breaker claim, measured.
pub fn claims(d: &Drive) -> Vec<Claim> {
    use State::{Closed, HalfOpen, Open};
    let seq: Vec<(State, State)> = d.transitions.iter().map(|t| (t.1, t.2)).collect();
    let expected = [
        (Closed, Open),
        (Open, HalfOpen),
        (HalfOpen, Open),
        (Open, HalfOpen),
        (HalfOpen, Closed),
    ];
    let at = |i: usize| d.transitions.get(i).map_or(u64::MAX, |t| t.0);
    let failures_before_open = d.calls.iter().filter(|c| c.0 <= at(0) && !c.1).count();
    // While open, nothing reaches the dependency.
    let leaked = d
        .calls
        .iter()
        .filter(|(t, _)| (*t > at(0) && *t < at(1)) || (*t > at(2) && *t < at(3)))
        .count();
    let waited = at(1).saturating_sub(at(0)) >= WAIT_S * 1000
        && at(3).saturating_sub(at(2)) >= WAIT_S * 1000;
    let ok = seq == expected && failures_before_open == FAILURES as usize && leaked == 0 && waited;
    let measured: Vec<String> = d
        .transitions
        .iter()
        .map(|(t, from, to)| {
            format!(
                "{}→{} at {:.1} s",
                name(*from),
                name(*to),
                *t as f64 / 1000.0
            )
        })
        .collect();
    vec![Claim {
        id: "breaker.state-machine".into(),
        section: "4.4".into(),
        claim: "A circuit breaker opens after N failures (the seed's example: 3), rejects calls while open, half-opens after the timeout (10 s), closes on a successful probe and reopens on a failed one".into(),
        seed_value: "CLOSED →(3 failures) OPEN →(10 s) HALF_OPEN → CLOSED | OPEN".into(),
        measured: measured.join("; "),
        unit: format!("state changes; a call every {STEP_MS} ms for {} s to a dependency down for the first {} s", END_MS / 1000, DOWN_UNTIL_MS / 1000),
        backend: "in-process (model time)".into(),
        verdict: Verdict::from_bool(ok),
        detail: format!(
            "opened after {failures_before_open} failures; {} calls rejected without reaching the dependency, {leaked} reached it while open; {} calls made in all",
            d.rejected,
            d.calls.len()
        ),
        source: "ran here: distributed::breaker (BreakerConfig::consecutive_failures(3, 10 s)) driven in-process".into(),
    }]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_seed_breaker_walks_its_state_machine() {
        let d = drive();
        let c = claims(&d);
        assert_eq!(c[0].verdict, Verdict::Holds, "{:?}", c[0]);
        assert_eq!(d.transitions[0].0, 1000, "open at the third failing call");
        assert!(d.rejected > 30);
    }
}
