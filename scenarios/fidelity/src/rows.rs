//! Each row's unit, tolerance (with its justification) and verdict rule. A simulator value
//! is judged against Linux's in two steps: the outcome class first (a weaker failure signal
//! than Linux's — no error where Linux errors, EOF where Linux resets — is `kinder`; a
//! stronger one is `harsher`), then, for equal outcomes, the number against the tolerance,
//! in the direction that would let a test pass in the simulator and fail on Linux.

use crate::row::{Obs, RowId, Verdict};

/// Which side of Linux's number forgives more.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kinder {
    /// A lower simulator value is kinder (faster recovery, higher... less delay).
    Lower,
    /// A higher simulator value is kinder (later error, more successes, more goodput).
    Higher,
}

/// A row's fixed description.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RowSpec {
    /// Which row.
    pub id: RowId,
    /// Unit of the values.
    pub unit: &'static str,
    /// Absolute tolerance, in `unit`.
    pub tol_abs: f64,
    /// Relative tolerance (fraction of Linux's value); the larger of the two applies.
    pub tol_rel: f64,
    /// The one-line justification of the tolerance.
    pub why: &'static str,
    /// Which direction is kinder.
    pub kinder: Kinder,
}

impl RowSpec {
    /// The tolerance and its justification as one line.
    pub fn tolerance(&self) -> String {
        let mut t = format!("±{} {}", self.tol_abs, self.unit);
        if self.tol_rel > 0.0 {
            t = format!("{t} or ±{:.0} %", self.tol_rel * 100.0);
        }
        format!("{t}: {}", self.why)
    }

    /// Judges a simulator observation against Linux's: the verdict and why.
    pub fn judge(&self, linux: &Obs, sim: &Obs) -> (Verdict, String) {
        let (Some(l), Some(s)) = (linux.value, sim.value) else {
            let who = if linux.value.is_none() {
                "Linux"
            } else {
                "the simulator"
            };
            return (Verdict::NotRun, format!("no number from {who}"));
        };
        if self.id == RowId::Backlog {
            if let (Some(lc), Some(sc)) = (connected(&linux.outcome), connected(&sim.outcome)) {
                if sc < lc {
                    return (
                        Verdict::Harsher,
                        format!("{sc} clients connected, Linux {lc}"),
                    );
                }
                if sc > lc {
                    return (
                        Verdict::Kinder,
                        format!("{sc} clients connected, Linux {lc}"),
                    );
                }
            }
        } else if linux.outcome != sim.outcome {
            let (lr, sr) = (signal(&linux.outcome), signal(&sim.outcome));
            let what = format!("{} where Linux gives {}", sim.outcome, linux.outcome);
            return match sr.cmp(&lr) {
                std::cmp::Ordering::Less => (Verdict::Kinder, what),
                std::cmp::Ordering::Greater => (Verdict::Harsher, what),
                // Both fail, with another error kind: the sim still fails the operation.
                std::cmp::Ordering::Equal => {
                    (Verdict::Harsher, format!("error kind differs: {what}"))
                }
            };
        }
        let band = self.tol_abs.max(self.tol_rel * l.abs());
        let diff = s - l;
        if diff.abs() <= band {
            return (
                Verdict::Matches,
                format!("{s:.3} vs {l:.3} within ±{band:.3}"),
            );
        }
        let kinder = match self.kinder {
            Kinder::Lower => diff < 0.0,
            Kinder::Higher => diff > 0.0,
        };
        let what = format!("{s:.3} vs Linux {l:.3} {} (±{band:.3})", self.unit);
        if kinder {
            (Verdict::Kinder, what)
        } else {
            (Verdict::Harsher, what)
        }
    }
}

/// How strong a failure signal an outcome class is: an error (3), end of stream (2), or
/// none — success, or nothing before the deadline (1).
fn signal(class: &str) -> u8 {
    match class {
        "EOF" => 2,
        "ok" | "deadline" | "" => 1,
        _ => 3,
    }
}

/// The connected count of the backlog row's outcome ("40/64").
fn connected(outcome: &str) -> Option<u32> {
    outcome.split('/').next()?.parse().ok()
}

/// The spec of `id`.
pub fn spec(id: RowId) -> RowSpec {
    let (unit, tol_abs, tol_rel, why, kinder) = match id {
        RowId::PartitionHeal10s | RowId::PartitionHeal30s => (
            "s",
            0.5,
            0.25,
            "the answer rides the next backed-off retransmission; RTT estimate and timer ticks move it by well under a quarter",
            Kinder::Lower,
        ),
        RowId::UserTimeout => (
            "s",
            1.0,
            0.0,
            "the user timeout is checked on retransmission-timer ticks, so it fires within one RTO of 5 s",
            Kinder::Higher,
        ),
        RowId::SynRetries => (
            "s",
            0.5,
            0.0,
            "Linux's SYN RTO is 1 s doubling: a different schedule is at least 1 s away",
            Kinder::Lower,
        ),
        RowId::ClosedPort => (
            "ms",
            5.0,
            0.5,
            "one round trip (10 ms); namespaces add well under a millisecond",
            Kinder::Higher,
        ),
        RowId::PeerExitClean | RowId::PeerExitUnread => (
            "ms",
            5.0,
            0.1,
            "one round trip after the peer's exit; namespaces add well under a millisecond",
            Kinder::Higher,
        ),
        RowId::CrashRestart => (
            "ms",
            5.0,
            0.5,
            "the RST comes one round trip (10 ms) after the write",
            Kinder::Higher,
        ),
        RowId::WriteAfterClose => (
            "writes",
            0.0,
            0.0,
            "a count of writes: exact",
            Kinder::Higher,
        ),
        RowId::Backlog => (
            "s",
            0.5,
            0.0,
            "SYN retries come at 1 s, 3 s, 7 s: a different step is at least 1 s away",
            Kinder::Lower,
        ),
        RowId::TimeWait => (
            "connections",
            0.0,
            0.01,
            "the ephemeral range is fixed; a few ports may be held by other sockets",
            Kinder::Higher,
        ),
        RowId::Nagle => (
            "ms",
            5.0,
            0.25,
            "delayed ACK is 40 ms at least on Linux and tick-granular",
            Kinder::Lower,
        ),
        RowId::NoDelay => (
            "ms",
            5.0,
            0.0,
            "nothing should be added; 5 ms covers scheduling in namespaces",
            Kinder::Lower,
        ),
        RowId::Bulk0 => (
            "Mbit/s",
            0.5,
            0.05,
            "the bottleneck rate is exact; headers and slow start cost a few percent",
            Kinder::Higher,
        ),
        RowId::Bulk1 => (
            "Mbit/s",
            0.5,
            0.25,
            "which segments are lost is random and congestion control reacts to each: a quarter",
            Kinder::Higher,
        ),
        RowId::Keepalive => (
            "s",
            1.0,
            0.0,
            "keepalive probes fire on 1 s ticks: the error comes within one interval of 4 s",
            Kinder::Higher,
        ),
        RowId::UdpLoss => (
            "% lost",
            0.3,
            0.0,
            "binomial: 3 standard deviations of 10,000 draws at 1 % are 0.3 points",
            Kinder::Lower,
        ),
        RowId::UdpOversize => (
            "bytes delivered",
            0.0,
            0.0,
            "a datagram arrives whole or not at all: exact",
            Kinder::Higher,
        ),
    };
    RowSpec {
        id,
        unit,
        tol_abs,
        tol_rel,
        why,
        kinder,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn o(v: f64, c: &str) -> Obs {
        Obs {
            value: Some(v),
            outcome: c.into(),
            detail: String::new(),
        }
    }

    #[test]
    fn outcome_first_then_number() {
        let ut = spec(RowId::UserTimeout);
        // No error where Linux times out: kinder; EOF instead of ETIMEDOUT: kinder.
        assert_eq!(
            ut.judge(&o(5.0, "ETIMEDOUT"), &o(60.0, "deadline")).0,
            Verdict::Kinder
        );
        assert_eq!(
            ut.judge(&o(5.0, "ETIMEDOUT"), &o(5.0, "EOF")).0,
            Verdict::Kinder
        );
        assert_eq!(
            ut.judge(&o(5.0, "ETIMEDOUT"), &o(5.4, "ETIMEDOUT")).0,
            Verdict::Matches
        );
        assert_eq!(
            ut.judge(&o(5.0, "ETIMEDOUT"), &o(9.0, "ETIMEDOUT")).0,
            Verdict::Kinder
        );
        assert_eq!(
            ut.judge(&o(5.0, "ETIMEDOUT"), &o(2.0, "ETIMEDOUT")).0,
            Verdict::Harsher
        );
        let heal = spec(RowId::PartitionHeal10s);
        assert_eq!(heal.judge(&o(2.6, "ok"), &o(0.01, "ok")).0, Verdict::Kinder);
        assert_eq!(heal.judge(&o(2.6, "ok"), &o(5.0, "ok")).0, Verdict::Harsher);
        assert_eq!(heal.judge(&o(2.6, "ok"), &o(2.9, "ok")).0, Verdict::Matches);
        let clean = spec(RowId::PeerExitClean);
        assert_eq!(
            clean.judge(&o(10.0, "EOF"), &o(10.0, "ECONNRESET")).0,
            Verdict::Harsher
        );
    }

    #[test]
    fn backlog_counts_before_times() {
        let b = spec(RowId::Backlog);
        assert_eq!(
            b.judge(&o(3.0, "64/64"), &o(0.01, "8/64")).0,
            Verdict::Harsher
        );
        assert_eq!(
            b.judge(&o(3.0, "64/64"), &o(0.01, "64/64")).0,
            Verdict::Kinder
        );
        assert_eq!(
            b.judge(&o(3.0, "64/64"), &o(3.0, "64/64")).0,
            Verdict::Matches
        );
    }

    #[test]
    fn missing_numbers_are_not_run() {
        let none = Obs {
            value: None,
            outcome: String::new(),
            detail: "not root".into(),
        };
        assert_eq!(
            spec(RowId::Nagle).judge(&none, &o(1.0, "ok")).0,
            Verdict::NotRun
        );
    }
}
