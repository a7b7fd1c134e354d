//! The layer around real simulations: lines carry simulated time and the emitting host, the
//! project's own spans (HTTP/1.1 and RPC) and fault events appear, filters select, the same
//! seed gives the same bytes, and installing the subscriber does not change the run.

use std::net::SocketAddr;
use std::rc::Rc;
use testbed_model::{Duration, Instant, Net, Runtime};
use testbed_protocols::http1::{
    serve as serve_http, Client, OwnedRequest as Request, OwnedResponse as Response, Router,
    ServerConfig,
};
use testbed_protocols::rpc::example::{self, Add, Pair};
use testbed_protocols::rpc::{serve as serve_rpc, CodecId, RpcClient};
use testbed_sim::{Host, Report, Sim, SimConfig};
use testbed_tracing::{filter, subscriber, write_jsonl_merged, Captured, Format, SimLayer};

const MS: u64 = 1_000_000;

/// A server with an RPC and an HTTP endpoint, two clients, a spare host for crash, restart
/// and clock skew, and faults at fixed times.
fn world(seed: u64) -> Sim {
    let mut sim = Sim::new(SimConfig {
        seed,
        record_trace: true,
        ..SimConfig::default()
    });
    sim.host("server", |h| async move {
        let l = h.listen("0.0.0.0:7000".parse().unwrap()).unwrap();
        h.spawn(serve_rpc(h.clone(), l, Rc::new(example::server())));
        let l = h.listen("0.0.0.0:80".parse().unwrap()).unwrap();
        let app = Router::new().route("GET", "/hello", |_r: Request| async {
            tracing::info!(who = "router", "hello handled");
            Response::text(200, "hello\n")
        });
        serve_http(h, l, Rc::new(app), ServerConfig::default()).await
    });
    sim.host("spare", |h| async move {
        tracing::info!("spare up");
        h.sleep(Duration::from_secs(3600)).await;
    });
    for (name, start_ms) in [("client-1", 0), ("client-2", 25)] {
        sim.client(name, move |h| async move {
            h.sleep(Duration::from_millis(start_ms)).await;
            work(&h).await
        });
    }
    sim.at(Instant::from_nanos(10 * MS), |c| {
        c.partition("server", "client-2")
    });
    sim.at(Instant::from_nanos(20 * MS), |c| {
        c.repair("server", "client-2")
    });
    sim.at(Instant::from_nanos(12 * MS), |c| c.crash("spare"));
    sim.at(Instant::from_nanos(14 * MS), |c| c.restart("spare"));
    sim.at(Instant::from_nanos(16 * MS), |c| {
        c.clock_skew("spare", 1_000_000, 100)
    });
    sim
}

async fn work(h: &Host) -> Result<(), testbed_sim::BoxError> {
    let server = h.lookup("server").unwrap();
    let c = RpcClient::connect(h, SocketAddr::new(server, 7000), CodecId::Binary).await?;
    for n in 0..2i64 {
        tracing::info!(n, "sent");
        let sum = c
            .call::<Add, _>(h, &Pair { a: n, b: 40 }, Duration::from_secs(1))
            .await?;
        tracing::info!(sum, "answered");
    }
    let r = Client::new(h.clone())
        .request(SocketAddr::new(server, 80), &Request::get("/hello"))
        .await?;
    assert_eq!(r.status, 200);
    Ok(())
}

/// Runs `world(seed)` with a captured layer in `format` behind `directives`.
fn traced(seed: u64, format: Format, directives: &str) -> (Report, Captured) {
    let (layer, lines) = SimLayer::captured(format, 100_000);
    let sub = subscriber(layer, filter(directives).unwrap());
    let report = tracing::subscriber::with_default(sub, || world(seed).run().unwrap());
    assert_eq!(lines.dropped(), 0);
    (report, lines)
}

#[test]
fn lines_carry_simulated_time_and_host() {
    let (_, lines) = traced(7, Format::Human, "info,testbed_protocols=debug");
    let text = lines.text();
    println!("{text}");
    let has = |needle: &str| text.lines().any(|l| l.contains(needle));
    // Faults scheduled with Sim::at run outside any task: host "-", at their exact time.
    for expected in [
        "[  0.010000s -]  INFO testbed_sim::fault: partition a=\"server\" b=\"client-2\"",
        "[  0.020000s -]  INFO testbed_sim::fault: repair a=\"server\" b=\"client-2\"",
        "[  0.012000s -]  INFO testbed_sim::fault: crash host=\"spare\"",
        "[  0.014000s -]  INFO testbed_sim::fault: restart host=\"spare\"",
        "[  0.016000s -]  INFO testbed_sim::fault: clock skew host=\"spare\" offset_ns=1000000 drift_ppm=100",
    ] {
        assert!(has(expected), "missing {expected:?} in\n{text}");
    }
    // The spare's init ran at start and again after the restart, stamped with its name.
    assert!(has("[  0.000000s spare]  INFO stamps: spare up"), "{text}");
    assert!(has("[  0.014000s spare]  INFO stamps: spare up"), "{text}");
    // Client events from inside the client's RPC call spans; client-2 started at 25 ms.
    assert!(
        has("[  0.002000s client-1]  INFO stamps: sent n=0"),
        "{text}"
    );
    assert!(
        has("[  0.027000s client-2]  INFO stamps: sent n=0"),
        "{text}"
    );
    assert!(has("client-1]  INFO stamps: answered sum=41"), "{text}");
    // Server side: the handler's event inside the HTTP connection and request spans, the
    // RPC reply inside rpc_conn and rpc_request.
    let handler = text
        .lines()
        .find(|l| l.contains("hello handled"))
        .expect("handler line");
    assert!(
        handler.contains(" server]  INFO http1_conn{peer=10.0.0.")
            && handler.contains(
                "}:request{n=1 method=GET path=/hello}: stamps: hello handled who=\"router\""
            ),
        "{handler}"
    );
    assert!(
        has("server] DEBUG rpc_conn{peer=10.0.0.3:")
            && has(
                "}:rpc_request{id=1 method=\"add\"}: testbed_protocols::rpc: reply kind=Response"
            ),
        "{text}"
    );
    assert!(has("server] DEBUG http1_conn{peer="), "{text}");
    assert!(
        text.lines().any(|l| l.contains("connection ended end=")),
        "{text}"
    );
    // Simulated time never goes backwards from line to line.
    let times: Vec<&str> = text.lines().map(|l| &l[1..11]).collect();
    assert!(times.windows(2).all(|w| w[0] <= w[1]), "{times:?}");
}

#[test]
fn filters_select_targets_and_levels() {
    let (_, faults) = traced(7, Format::Human, "testbed_sim::fault=info");
    let verbs: Vec<String> = faults
        .lines()
        .iter()
        .map(|l| {
            let rest = l.text.split("testbed_sim::fault: ").nth(1).expect(&l.text);
            rest.split(" a=")
                .next()
                .unwrap()
                .split(" host=")
                .next()
                .unwrap()
                .to_owned()
        })
        .collect();
    assert_eq!(
        verbs,
        ["partition", "crash", "restart", "clock skew", "repair"]
    );
    let (_, warn) = traced(7, Format::Human, "warn");
    assert_eq!(warn.text(), "", "nothing in this run is a warning");
    let (_, mine) = traced(7, Format::Human, "stamps=info");
    assert!(!mine.lines().is_empty());
    assert!(
        mine.lines().iter().all(|l| l.text.contains(" INFO ")
            && l.text.contains(" stamps: ")
            && !l.text.contains("DEBUG")),
        "{}",
        mine.text()
    );
    // Without the debug directive the protocol spans still frame events, their events do not
    // show.
    let (_, info) = traced(7, Format::Human, "info");
    assert!(!info.text().contains("testbed_protocols::rpc: reply"));
    assert!(info
        .text()
        .contains("request{n=1 method=GET path=/hello}: stamps: hello handled"));
}

#[test]
fn same_seed_same_bytes() {
    for format in [Format::Human, Format::Jsonl] {
        let (r1, a) = traced(11, format, "trace");
        let (r2, b) = traced(11, format, "trace");
        assert_eq!(r1.trace_hash, r2.trace_hash);
        assert!(a.lines().len() > 20, "{}", a.text());
        assert_eq!(
            a.text(),
            b.text(),
            "{format:?} output differs between two runs"
        );
        assert_eq!(a.lines(), b.lines());
    }
}

#[test]
fn installing_the_subscriber_does_not_change_the_run() {
    for seed in [1, 2, 3] {
        let plain = world(seed).run().unwrap();
        for directives in ["trace", "off", "testbed_sim::fault=info"] {
            let (traced, _) = traced(seed, Format::Jsonl, directives);
            assert_eq!(
                (plain.trace_hash, plain.trace_events, plain.end_time),
                (traced.trace_hash, traced.trace_events, traced.end_time),
                "seed {seed}, filter {directives}"
            );
        }
    }
}

#[test]
fn jsonl_records_merge_into_the_simulator_trace() {
    let (report, lines) = traced(5, Format::Jsonl, "debug");
    let events = report.events.as_deref().unwrap();
    let mut out = Vec::new();
    write_jsonl_merged(events, &report.hosts, &lines.lines(), &mut out).unwrap();
    let text = String::from_utf8(out).unwrap();
    let records: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect();
    assert_eq!(records.len(), events.len() + lines.lines().len());
    let t: Vec<u64> = records
        .iter()
        .map(|r| r["t_ns"].as_u64().unwrap())
        .collect();
    assert!(
        t.windows(2).all(|w| w[0] <= w[1]),
        "merged trace out of time order"
    );
    let span = records
        .iter()
        .find(|r| r["kind"] == "TracingSpan" && r["name"] == "rpc_request")
        .expect("an rpc_request span record");
    assert_eq!(span["host"], "server");
    assert_eq!(span["fields"]["method"], "add");
    assert_eq!(span["spans"][0]["name"], "rpc_conn");
    let sent = records
        .iter()
        .find(|r| r["kind"] == "TracingEvent" && r["fields"]["message"] == "sent")
        .expect("a sent event");
    assert_eq!(sent["host"], "client-1");
    assert_eq!(sent["fields"]["n"], 0);
    assert_eq!(sent["target"], "stamps");
    // No span ids anywhere (they are process-global counters).
    assert!(!text.contains("\"id\":{") && !text.contains("span_id"));
}

#[test]
fn outside_a_run_lines_say_so() {
    let (layer, lines) = SimLayer::captured(Format::Human, 10);
    tracing::subscriber::with_default(subscriber(layer, filter("info").unwrap()), || {
        tracing::info!("before any run");
    });
    assert_eq!(
        lines.text(),
        "[          ? -]  INFO stamps: before any run\n"
    );
    assert_eq!(lines.lines()[0].t_ns, None);
}

#[test]
fn bad_directives_are_an_error_not_a_panic() {
    let e = filter("info,=[").unwrap_err();
    assert!(e.to_string().contains("bad tracing filter"), "{e}");
}
