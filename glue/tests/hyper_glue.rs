//! hyper, hyper-util and axum over the simulator through the glue: HTTP/1.1 and h2 through
//! one `serve`, the deterministic Date header, timers on simulated time (the `now()` trap),
//! the connection cap and graceful shutdown.

use axum::routing::get;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use std::cell::RefCell;
use std::rc::Rc;
use testbed_glue::{serve, Connector, Exec, ServeConfig, ServeStats, ShutdownTrigger, Timer};
use testbed_model::{Duration, Instant, Net, Runtime};
use testbed_sim::{check_determinism, Host, Sim, SimConfig};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

fn app() -> axum::Router {
    axum::Router::new().route("/hello/{name}", get(|axum::extract::Path(n): axum::extract::Path<String>| async move { format!("hello {n}") }))
}

fn server(
    sim: &mut Sim,
    cfg: ServeConfig,
    stats: Rc<RefCell<Option<ServeStats>>>,
    stop: ShutdownTrigger,
) {
    sim.host("server", move |h: Host| {
        let (cfg, stats, stop) = (cfg.clone(), stats.clone(), stop.clone());
        async move {
            let l = h.listen("0.0.0.0:80".parse().unwrap()).unwrap();
            let r = serve(h.clone(), l, app(), cfg, stop.signal().wait()).await;
            *stats.borrow_mut() = Some(r.expect("serve"));
        }
    });
}

fn client_for(h: &Host, http2: bool) -> Client<Connector<Host, Host>, Full<Bytes>> {
    let resolver = h.clone();
    let conn = Connector::new(h.clone(), h.clone()).resolve(move |n| resolver.lookup(n));
    Client::builder(Exec::new(h.clone()))
        .timer(Timer::new(h.clone()))
        .http2_only(http2)
        .build(conn)
}

fn run_get(seed: u64, http2: bool) -> (testbed_sim::Report, Vec<(String, String)>) {
    let mut sim = Sim::new(SimConfig {
        seed,
        record_trace: true,
        ..Default::default()
    });
    let stats = Rc::new(RefCell::new(None));
    let stop = ShutdownTrigger::new();
    server(
        &mut sim,
        ServeConfig::default(),
        stats.clone(),
        stop.clone(),
    );
    let seen = Rc::new(RefCell::new(Vec::new()));
    let seen2 = seen.clone();
    sim.client("client", move |h| async move {
        let client = client_for(&h, http2);
        for name in ["a", "b"] {
            let uri = format!("http://server/hello/{name}").parse()?;
            let res = client.get(uri).await?;
            let version = format!("{:?}", res.version());
            let date = res.headers()["date"].to_str()?.to_string();
            let body = res.into_body().collect().await?.to_bytes();
            seen2.borrow_mut().push((
                format!("{version} {}", String::from_utf8_lossy(&body)),
                date,
            ));
        }
        stop.trigger();
        Ok(())
    });
    let report = sim.run().expect("run");
    let out = seen.borrow().clone();
    (report, out)
}

#[test]
fn axum_router_over_http1_with_a_deterministic_date() {
    let (report, seen) = run_get(1, false);
    assert_eq!(seen.len(), 2);
    assert_eq!(seen[0].0, "HTTP/1.1 hello a");
    assert_eq!(seen[1].0, "HTTP/1.1 hello b");
    // Model time zero is 2024-01-01T00:00:00Z; the requests finish within the first second.
    assert_eq!(seen[0].1, "Mon, 01 Jan 2024 00:00:00 GMT");
    assert!(
        report.end_time < Instant::from_millis(100),
        "{}",
        report.end_time
    );
}

#[test]
fn the_same_router_serves_h2_prior_knowledge() {
    let (_, seen) = run_get(2, true);
    assert_eq!(seen[0].0, "HTTP/2.0 hello a");
    assert_eq!(seen[1].0, "HTTP/2.0 hello b");
}

#[test]
fn runs_are_deterministic_for_both_protocols() {
    for http2 in [false, true] {
        let a = check_determinism(3, |s| run_get(s, http2).0).expect("same seed, same trace");
        let b = check_determinism(3, |s| run_get(s, http2).0).expect("same seed, same trace");
        assert_eq!(a, b);
    }
}

/// The trap of a hyper `Timer` that forwards sleeps but not `now()`: hyper computes deadlines
/// as `now() + timeout` on the real clock. With the glue's timer a 2 s header timeout fires
/// after 2 s of simulated time, not after the milliseconds of real time the run takes.
#[test]
fn header_read_timeout_fires_on_simulated_time() {
    let mut sim = Sim::new(SimConfig {
        seed: 4,
        ..Default::default()
    });
    let cfg = ServeConfig {
        header_read_timeout: Duration::from_secs(2),
        ..ServeConfig::default()
    };
    server(&mut sim, cfg, Rc::default(), ShutdownTrigger::new());
    let closed_at = Rc::new(RefCell::new(None));
    let c2 = closed_at.clone();
    sim.client("slowloris", move |h| async move {
        let ip = h.lookup("server").unwrap();
        let mut s = h.connect((ip, 80).into()).await?;
        let start = h.now();
        s.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n").await?;
        let mut buf = [0u8; 512];
        // The server answers 408 or just closes; either way the read ends at the deadline.
        while let Ok(1..) = s.read(&mut buf).await {}
        *c2.borrow_mut() = Some(h.now() - start);
        Ok(())
    });
    sim.run().expect("run");
    let waited = closed_at.borrow().expect("closed");
    assert!(
        waited >= Duration::from_secs(2) && waited < Duration::from_millis(2100),
        "closed after {waited:?}"
    );
}

#[test]
fn connections_over_the_cap_are_closed_and_shutdown_drains() {
    let mut sim = Sim::new(SimConfig {
        seed: 5,
        ..Default::default()
    });
    let stats = Rc::new(RefCell::new(None));
    let stop = ShutdownTrigger::new();
    let cfg = ServeConfig {
        max_connections: 1,
        ..ServeConfig::default()
    };
    server(&mut sim, cfg, stats.clone(), stop.clone());
    sim.client("client", move |h| async move {
        let ip = h.lookup("server").unwrap();
        let mut first = h.connect((ip, 80).into()).await?;
        first
            .write_all(b"GET /hello/x HTTP/1.1\r\nHost: x\r\n\r\n")
            .await?;
        let mut buf = [0u8; 512];
        let n = first.read(&mut buf).await?;
        assert!(String::from_utf8_lossy(&buf[..n]).ends_with("hello x"));
        // The first connection is still open (keep-alive): a second one is over the cap.
        let mut second = h.connect((ip, 80).into()).await?;
        let _ = second
            .write_all(b"GET /hello/y HTTP/1.1\r\nHost: x\r\n\r\n")
            .await;
        let r = second.read(&mut buf).await;
        assert!(
            matches!(r, Ok(0) | Err(_)),
            "over-cap connection was served: {r:?}"
        );
        stop.trigger();
        // Graceful shutdown closes the idle keep-alive connection.
        let r = first.read(&mut buf).await;
        assert!(matches!(r, Ok(0) | Err(_)), "{r:?}");
        Ok(())
    });
    sim.run().expect("run");
    let stats = stats.borrow().expect("serve returned");
    assert_eq!(stats.accepted, 1);
    assert_eq!(stats.refused_over_cap, 1);
    assert!(stats.drained);
}

/// Unknown names fail with a typed error, not a panic.
#[test]
fn unresolvable_names_are_a_typed_error() {
    let mut sim = Sim::new(SimConfig {
        seed: 6,
        ..Default::default()
    });
    sim.client("client", |h| async move {
        let mut conn = Connector::new(h.clone(), h.clone()).resolve(|_| None);
        let r = tower_service::Service::call(&mut conn, "http://nowhere/".parse()?).await;
        assert_eq!(
            r.err(),
            Some(testbed_glue::ConnectError::Unresolved {
                uri: "http://nowhere/".into()
            })
        );
        Ok(())
    });
    sim.run().expect("run");
}
