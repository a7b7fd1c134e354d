//! 网络编程进阶主题 §3.2 / §3.4: page-load times of HTTP/1.1, HTTP/2 and HTTP/3 from the `http-versions`
//! scenario's `page_load_s` table, against the seed's numbers in its `seed_claims` metric.

use super::claim::{Claim, Verdict};
use super::plot::Series;
use super::runs::ScenarioRun;
use serde_json::Value as Json;

/// A speedup claim holds when the measured gain is at least three quarters of the claimed
/// gain: `measured - 1 >= 0.75 · (seed - 1)`.
pub fn speedup_holds(measured: f64, seed: f64) -> bool {
    measured - 1.0 >= 0.75 * (seed - 1.0)
}

/// The rule, for the page.
pub const SPEEDUP_RULE: &str = "a speedup claim holds when the measured gain is at least three \
    quarters of the claimed gain (measured − 1 ≥ 0.75 · (seed − 1)); a range claim holds when \
    the measurement reaches the range's lower end";

fn cell(r: &ScenarioRun, name: &str) -> Option<f64> {
    r.metric("page_load_s")?.get(name)?.as_f64()
}

fn seed_num(r: &ScenarioRun, path: &[&str]) -> Option<f64> {
    let mut v: &Json = r.metric("seed_claims")?;
    for p in path {
        v = v.get(p)?;
    }
    v.as_f64()
}

/// Plot series: page-load time against loss (percent), one line per version.
pub fn series(r: &ScenarioRun) -> Vec<Series> {
    let lines = [
        ("HTTP/1.1 (6 connections)", "http1"),
        ("HTTP/2 (1 connection)", "http2"),
        ("HTTP/3 (cold)", "http3"),
        ("HTTP/3 (resumed, 0-RTT)", "http3_resumed"),
    ];
    lines
        .iter()
        .map(|(label, prefix)| Series {
            name: label.to_string(),
            points: (0..=2)
                .filter_map(|loss| {
                    cell(r, &format!("{prefix}_loss{loss}")).map(|s| (f64::from(loss), s))
                })
                .collect(),
        })
        .filter(|s| !s.points.is_empty())
        .collect()
}

/// The conditions of the run, for the unit column.
fn conditions(r: &ScenarioRun) -> String {
    let p = r.outcome().map(|o| &o.params);
    let get = |k: &str| {
        p.and_then(|p| p.get(k)).map_or("?".into(), |v| {
            v.as_str().map_or(v.to_string(), String::from)
        })
    };
    format!(
        "{} objects × {} B, RTT {}, {} bit/s",
        get("resources"),
        get("size"),
        get("rtt"),
        get("bandwidth")
    )
}

/// One HTTP claim: which cells of `page_load_s` (slower, faster) and which numbers of
/// `seed_claims` it compares.
struct Spec {
    id: &'static str,
    section: &'static str,
    claim: &'static str,
    cells: [&'static str; 2],
    when: &'static str,
    note: &'static str,
    seed: [&'static [&'static str]; 2],
}

/// The seed's HTTP claims, measured by the run.
pub fn claims(r: &ScenarioRun) -> Vec<Claim> {
    let cond = conditions(r);
    let src = r.source();
    let specs = [
        Spec {
            id: "http.h2-vs-h1",
            section: "3.2",
            claim: "HTTP/2 (one connection) loads a 100-resource page 2.5x faster than HTTP/1.1 (6 connections)",
            cells: ["http1_loss0", "http2_loss0"],
            when: "0% loss",
            note: "",
            seed: [&["http1_s"], &["http2_s"]],
        },
        Spec {
            id: "http.h3-first-visit",
            section: "3.4",
            claim: "HTTP/3 (1-RTT handshake) loads the page faster than TCP+TLS+HTTP/2 on a first visit",
            cells: ["http2_loss0", "http3_loss0"],
            when: "0% loss, cold",
            note: "",
            seed: [&["first_connection", "http2_s"], &["first_connection", "http3_s"]],
        },
        Spec {
            id: "http.h3-0rtt",
            section: "3.4",
            claim: "HTTP/3 with 0-RTT loads a repeat visit faster than HTTP/2",
            cells: ["http2_loss0", "http3_resumed_loss0"],
            when: "0% loss, repeat visit",
            note: "; the HTTP/2 side is a cold load (the scenario has no HTTP/2 resumption cell), which favours HTTP/3 by at most one TLS round trip",
            seed: [&["resumed", "http2_s"], &["resumed", "http3_s"]],
        },
        Spec {
            id: "http.h3-loss",
            section: "3.4",
            claim: "At 1% loss HTTP/3 loads the page about 2x faster than HTTP/2 (no TCP head-of-line blocking); '30-50% faster, especially on weak networks'",
            cells: ["http2_loss1", "http3_loss1"],
            when: "1% loss",
            note: "; smoltcp's TCP recovers from loss more slowly than Linux's (testbed fidelity's bulk-1-loss row: about a quarter of Linux's goodput at 1% loss), which makes TCP losses dearer here",
            seed: [&["loss_1pct", "http2_s"], &["loss_1pct", "http3_s"]],
        },
    ];
    specs
        .iter()
        .map(|sp| {
            let Spec {
                id,
                section,
                claim,
                cells: [slow, fast],
                when,
                note,
                seed: [seed_slow, seed_fast],
            } = sp;
            let seed = (seed_num(r, seed_slow), seed_num(r, seed_fast));
            let seed_value = match seed {
                (Some(a), Some(b)) => format!("{:.2}x ({a} s vs {b} s)", a / b),
                _ => "—".into(),
            };
            let mut c = Claim {
                id: id.to_string(),
                section: section.to_string(),
                claim: claim.to_string(),
                seed_value,
                measured: "—".into(),
                unit: format!("page-load time ratio ({when}; {cond})"),
                backend: "sim (packet fidelity)".into(),
                verdict: Verdict::NotRunHere,
                detail: String::new(),
                source: src.clone(),
            };
            match (cell(r, slow), cell(r, fast), seed) {
                (Some(a), Some(b), (Some(sa), Some(sb))) if b > 0.0 => {
                    let m = a / b;
                    c.measured = format!("{m:.2}x ({a} s vs {b} s)");
                    c.verdict = Verdict::from_bool(speedup_holds(m, sa / sb));
                    c.detail = format!(
                        "{slow} {a} s, {fast} {b} s; the seed gives no RTT, bandwidth or sizes, so the ratio is compared, not the seconds{note}"
                    );
                }
                _ => {
                    c.detail = r.missing().unwrap_or_else(|| {
                        format!("the run has no {slow}/{fast} cells or no seed_claims metric")
                    });
                    if r.outcome().is_some() {
                        c.verdict = Verdict::NotMeasurableHere;
                    }
                }
            }
            c
        })
        .collect()
}

/// 网络编程进阶主题 §3.3: "WebSocket: full duplex, real time, latency < 1 ms", from `ws-echo` on kernel
/// loopback sockets (one client, so queueing behind other clients does not count).
pub fn ws_claims(r: &ScenarioRun) -> Vec<Claim> {
    let num = |k: &str| r.metric(k).and_then(Json::as_f64);
    let mut c = Claim {
        id: "ws.latency".into(),
        section: "3.3".into(),
        claim: "WebSocket messages travel in real time: latency under 1 ms".into(),
        seed_value: "< 1 ms".into(),
        measured: "—".into(),
        unit: "echo round trip, median (one client, loopback)".into(),
        backend: "kernel (loopback sockets)".into(),
        verdict: if r.outcome().is_some() {
            Verdict::NotMeasurableHere
        } else {
            Verdict::NotRunHere
        },
        detail: r
            .missing()
            .unwrap_or_else(|| "the run has no rtt_p50_ms metric".into()),
        source: r.source(),
    };
    if let Some(p50) = num("rtt_p50_ms") {
        c.measured = format!("{p50:.3} ms");
        c.verdict = Verdict::from_bool(p50 < 1.0);
        c.detail = format!(
            "p99 {} ms over {} messages; loopback has no wire, so this is the protocol stack and \
             scheduling cost (other processes share this machine's cores)",
            num("rtt_p99_ms").map_or("?".into(), |v| format!("{v:.3}")),
            num("echoed").map_or("?".into(), |v| v.to_string())
        );
    }
    vec![c]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn speedup_rule() {
        assert!(speedup_holds(2.2, 2.5));
        assert!(!speedup_holds(1.22, 2.5));
        assert!(speedup_holds(1.5, 1.5));
        assert!(!speedup_holds(0.9, 1.3));
    }
}
