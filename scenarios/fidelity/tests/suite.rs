//! The simulator side of the suite: every row yields a number in both fidelities, runs are
//! deterministic, and the report has the JSON shape `testbed fidelity --json` promises. (The
//! Linux side, gated on root, is tests/linux.rs.)

use serde_json::Value;
use testbed_fidelity::{sim_side, suite, RowId, SuiteOptions, Target};
use testbed_sim::Fidelity;

/// Rows this test runs in both fidelities: all but time-wait, whose 30,000 connections take
/// minutes in packet fidelity in a debug build (each closed socket sits in smoltcp's
/// TIME-WAIT, and every poll walks them); its stream run is checked below and its packet
/// run by `testbed fidelity` (release).
fn rows_in_both() -> Vec<RowId> {
    RowId::ALL
        .iter()
        .copied()
        .filter(|r| *r != RowId::TimeWait)
        .collect()
}

#[test]
fn time_wait_in_stream_fidelity() {
    println!("time-wait in packet fidelity is not run by this test (minutes in a debug build)");
    let o = sim_side::measure(RowId::TimeWait, Fidelity::Stream);
    assert!(o.value.is_some_and(|v| v > 0.0), "{}", o.detail);
}

#[test]
fn every_row_has_a_number_in_both_fidelities() {
    let rows = rows_in_both();
    let report = suite::run(&SuiteOptions {
        targets: vec![Target::Stream, Target::Packet],
        only: rows.clone(),
    });
    assert!(!report.linux_available);
    assert_eq!(report.rows.len(), rows.len());
    assert!(report.rows.len() >= 14);
    for (r, id) in report.rows.iter().zip(&rows) {
        assert_eq!(r.name, id.name());
        assert!(
            r.stream.is_some_and(f64::is_finite),
            "{}: stream: {}",
            r.name,
            r.detail
        );
        assert!(
            r.packet.is_some_and(f64::is_finite),
            "{}: packet: {}",
            r.name,
            r.detail
        );
        assert!(
            !r.outcome_stream.is_empty() && r.outcome_stream != "sim-error",
            "{}",
            r.detail
        );
        assert!(
            !r.outcome_packet.is_empty() && r.outcome_packet != "sim-error",
            "{}",
            r.detail
        );
        assert!(
            !r.unit.is_empty() && r.tolerance.contains(": "),
            "{}",
            r.name
        );
        // Without Linux nothing can be judged.
        assert_eq!(r.linux, None);
        assert_eq!(r.outcome_linux, "not-run");
        assert_eq!(r.verdict_stream, testbed_fidelity::Verdict::NotRun);
        assert_eq!(r.verdict_packet, testbed_fidelity::Verdict::NotRun);
    }
}

#[test]
fn the_simulator_side_is_deterministic() {
    for row in [
        RowId::PartitionHeal10s,
        RowId::Backlog,
        RowId::Bulk1,
        RowId::UdpLoss,
    ] {
        for f in [Fidelity::Stream, Fidelity::Packet] {
            assert_eq!(
                sim_side::measure(row, f),
                sim_side::measure(row, f),
                "{}",
                row.name()
            );
        }
    }
}

#[test]
fn only_and_targets_select() {
    let report = suite::run(&SuiteOptions {
        targets: vec![Target::Stream],
        only: vec![RowId::ClosedPort, RowId::UdpOversize],
    });
    let names: Vec<&str> = report.rows.iter().map(|r| r.name.as_str()).collect();
    assert_eq!(names, ["closed-port", "udp-oversize"]);
    for r in &report.rows {
        assert!(r.stream.is_some(), "{}", r.detail);
        assert_eq!(r.packet, None);
        assert_eq!(r.outcome_packet, "not-run");
    }
    assert_eq!(
        report.linux_reason.as_deref(),
        Some("not selected (--targets)")
    );
}

#[test]
fn json_shape() {
    let report = suite::run(&SuiteOptions {
        targets: vec![Target::Stream, Target::Packet],
        only: vec![RowId::ClosedPort, RowId::Keepalive],
    });
    let v: Value = serde_json::to_value(&report).unwrap();
    assert_eq!(v["linux_available"], Value::Bool(false));
    let rows = v["rows"].as_array().unwrap();
    assert_eq!(rows.len(), 2);
    let verdicts = ["matches", "harsher", "kinder", "not-run"];
    for r in rows {
        for key in ["name", "unit", "tolerance", "detail"] {
            assert!(r[key].is_string(), "{key} in {r}");
        }
        for key in ["linux", "stream", "packet"] {
            assert!(r[key].is_number() || r[key].is_null(), "{key} in {r}");
        }
        for key in ["verdict_stream", "verdict_packet"] {
            assert!(verdicts.contains(&r[key].as_str().unwrap()), "{key} in {r}");
        }
    }
    assert!(rows[0]["stream"].is_number());
    assert!(rows[1]["packet"].is_number());
}

#[test]
fn packet_fidelity_recovers_from_a_partition_on_linux_rto_backoff() {
    // Both fidelities use Linux's RTO (srtt + max(4·rttvar, 200 ms), doubling to 120 s): at
    // 10 ms RTT retransmissions 0.21, 0.63, … 13.23, 26.67, 53.55 s after the cut, so the
    // answer comes 3.2 s after a 10 s partition and 23.6 s after a 30 s one. smoltcp's own
    // bounds (1 s to 60 s) answered 5.0 s and 1.0 s after them.
    for (row, lo, hi) in [
        (RowId::PartitionHeal10s, 3.0, 3.5),
        (RowId::PartitionHeal30s, 23.0, 24.0),
    ] {
        let packet = sim_side::measure(row, Fidelity::Packet);
        let stream = sim_side::measure(row, Fidelity::Stream);
        let (p, s) = (packet.value.unwrap(), stream.value.unwrap());
        assert!((lo..=hi).contains(&p), "{}: packet {p} s", row.name());
        assert!(
            (p - s).abs() < 0.05,
            "{}: packet {p} s, stream {s} s",
            row.name()
        );
    }
}
