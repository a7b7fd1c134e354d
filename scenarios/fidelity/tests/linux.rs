//! The Linux side of the fidelity suite, every row at once (each in namespaces of its own),
//! and a check that each row produced a number that is a plausible Linux fact. Without root
//! or the tools it prints what is missing and passes, unless TESTBED_REQUIRE_ALL=1.

use testbed_fidelity::linux;
use testbed_fidelity::{Obs, RowId};

fn value(o: &Obs, row: RowId) -> f64 {
    o.value
        .unwrap_or_else(|| panic!("{}: no value: {}", row.name(), o.detail))
}

/// One row's plausibility check: facts of the Linux this runs on (kernel 6.x defaults),
/// in the units of the rows' workloads.
fn check(row: RowId, o: &Obs) {
    let v = value(o, row);
    let ctx = format!("{}: {v} {} ({})", row.name(), o.outcome, o.detail);
    match row {
        // RTO backoff from ~200 ms: retransmissions at about 0.2, 0.6, 1.4, 3.0, 6.2, 12.6,
        // 25.4, 51 s after the write; the answer follows the first one after the heal.
        RowId::PartitionHeal10s => {
            assert_eq!(o.outcome, "ok", "{ctx}");
            assert!((0.5..=8.0).contains(&v), "{ctx}");
        }
        RowId::PartitionHeal30s => {
            assert_eq!(o.outcome, "ok", "{ctx}");
            assert!((5.0..=30.0).contains(&v), "{ctx}");
        }
        RowId::UserTimeout | RowId::Keepalive => {
            assert_eq!(o.outcome, "ETIMEDOUT", "{ctx}");
            assert!((3.0..=9.0).contains(&v), "{ctx}");
        }
        RowId::SynRetries => {
            // Healed at 4 s: the next SYN connects (at 5 s with tcp_syn_linear_timeouts = 4,
            // at 7 s with the classic 0, 1, 3, 7 s schedule).
            assert!((4.0..=8.0).contains(&v), "{ctx}");
            // Under a permanent partition the kernel gives up (ETIMEDOUT after its SYN
            // retries) or the 20 s application deadline comes first.
            assert!(
                ["ETIMEDOUT", "deadline"].contains(&o.outcome.as_str()),
                "{ctx}"
            );
        }
        RowId::ClosedPort => {
            assert_eq!(o.outcome, "refused", "{ctx}");
            assert!(v < 50.0, "one round trip: {ctx}");
        }
        RowId::PeerExitClean => assert_eq!(o.outcome, "EOF", "{ctx}"),
        RowId::PeerExitUnread => assert_eq!(o.outcome, "ECONNRESET", "{ctx}"),
        RowId::CrashRestart => {
            assert_eq!(o.outcome, "ECONNRESET", "{ctx}");
            assert!(v < 1000.0, "one round trip after the write: {ctx}");
        }
        RowId::WriteAfterClose => {
            assert_eq!(v, 1.0, "{ctx}");
            assert_eq!(o.outcome, "EPIPE", "{ctx}");
        }
        RowId::Backlog => {
            // Every client connects: past the queue of 8, SYNs are dropped and retried at
            // 1 s, or (SYN cookies) answered at once while the server drops the final ACK.
            assert_eq!(o.outcome, "64/64", "every client connects: {ctx}");
            assert!(v < 40.0, "{ctx}");
        }
        RowId::TimeWait => {
            // TIME-WAIT lasts 60 s: a client slower than 28,232 connections a minute (a
            // debug build on a loaded machine) sees its first ports free again.
            if o.outcome == "ok" {
                assert!(client_half_secs(o) >= 60.0, "{ctx}");
            } else {
                assert_eq!(o.outcome, "EADDRNOTAVAIL", "{ctx}");
                assert!((1000.0..30_000.0).contains(&v), "{ctx}");
            }
        }
        RowId::Nagle => assert!(v > 5.0, "Nagle + delayed ACK add latency: {ctx}"),
        RowId::NoDelay => assert!(v.abs() < 10.0, "{ctx}"),
        RowId::Bulk0 => assert!((5.0..=10.5).contains(&v), "{ctx}"),
        RowId::Bulk1 => assert!((0.2..=10.5).contains(&v), "{ctx}"),
        RowId::UdpLoss => assert!((0.2..=3.0).contains(&v), "percent lost: {ctx}"),
        RowId::UdpOversize => {
            assert_eq!(o.outcome, "ok", "Linux fragments it: {ctx}");
            assert_eq!(v, 2000.0, "{ctx}");
        }
        _ => {}
    }
}

/// "the client half took X s" from a Linux detail.
fn client_half_secs(o: &Obs) -> f64 {
    o.detail
        .split("the client half took ")
        .nth(1)
        .and_then(|r| r.split(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or(0.0)
}

#[test]
fn every_row_measures_a_plausible_linux_value() {
    if testbed_testkit::require(linux::available()).is_none() {
        return;
    }
    if testbed_testkit::require(linux::bridge_available()).is_none() {
        return;
    }
    let rows: Vec<RowId> = match std::env::var("FIDELITY_ONLY") {
        Ok(s) if !s.is_empty() => s.split(',').filter_map(RowId::from_name).collect(),
        _ => RowId::ALL.to_vec(),
    };
    let started = wall();
    let obs = linux::measure_all(&rows);
    let took = wall().duration_since(started);
    assert_eq!(obs.len(), rows.len());
    for (row, o) in rows.iter().zip(&obs) {
        eprintln!(
            "{:<20} {:>12} {:<14} {}",
            row.name(),
            o.value.map_or("-".into(), |v| format!("{v:.4}")),
            o.outcome,
            o.detail
        );
    }
    eprintln!("measure_all took {:.1} s of wall time", took.as_secs_f64());
    for (&row, o) in rows.iter().zip(&obs) {
        check(row, o);
    }
}

#[allow(clippy::disallowed_methods)] // the wall time of a real run, printed only
fn wall() -> std::time::Instant {
    std::time::Instant::now()
}
