//! An axum app in the simulator: a small key-value service (`GET`/`PUT /kv/{key}`) served with
//! `testbed_glue::serve`, three clients using hyper-util's `Client` through the glue's
//! `Connector`, over lossy links with a partition and a server crash + restart. Every request
//! has a deadline on simulated time and is retried; the run checks that every client finished
//! and that each client's last write is read back after the faults heal.
//!
//!     cargo run --release -p testbed-glue --features hyper --example axum_service [-- --seed N]
//!
//! The last line is `trace_hash=<hex>`: the same seed prints the same line in every process.

use axum::extract::{Path, State};
use axum::routing::get;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use std::cell::RefCell;
use std::collections::BTreeMap;
use std::rc::Rc;
use std::sync::{Arc, Mutex};
use testbed_glue::{serve, Connector, Exec, ServeConfig, Timer};
use testbed_model::{timeout, Duration, Instant, Net, Runtime};
use testbed_sim::{Host, LinkConfig, Sim, SimConfig};

type Store = Arc<Mutex<BTreeMap<String, String>>>;

fn app(store: Store) -> axum::Router {
    axum::Router::new()
        .route(
            "/kv/{key}",
            get(|State(s): State<Store>, Path(k): Path<String>| async move {
                let v = s.lock().unwrap().get(&k).cloned();
                v.ok_or(http::StatusCode::NOT_FOUND)
            })
            .put(
                |State(s): State<Store>, Path(k): Path<String>, body: String| async move {
                    s.lock().unwrap().insert(k, body);
                    http::StatusCode::NO_CONTENT
                },
            ),
        )
        .with_state(store)
}

#[derive(Default, Debug)]
struct Tally {
    ok: u64,
    timeouts: u64,
    errors: u64,
}

/// One request with a 300 ms deadline, retried up to 20 times with 100 ms pauses.
async fn request(
    h: &Host,
    client: &Client<Connector<Host, Host>, Full<Bytes>>,
    method: http::Method,
    path: &str,
    body: &str,
    tally: &mut Tally,
) -> Result<(http::StatusCode, String), String> {
    for _ in 0..20 {
        let req = http::Request::builder()
            .method(method.clone())
            .uri(format!("http://server{path}"))
            .body(Full::new(Bytes::from(body.to_string())))
            .map_err(|e| e.to_string())?;
        match timeout(h, Duration::from_millis(300), async {
            let res = client.request(req).await?;
            let status = res.status();
            let bytes = res.into_body().collect().await?.to_bytes();
            Ok::<_, Box<dyn std::error::Error + Send + Sync>>((
                status,
                String::from_utf8_lossy(&bytes).into_owned(),
            ))
        })
        .await
        {
            Ok(Ok(r)) => {
                tally.ok += 1;
                return Ok(r);
            }
            Ok(Err(_)) => tally.errors += 1,
            Err(_) => tally.timeouts += 1,
        }
        h.sleep(Duration::from_millis(100)).await;
    }
    Err(format!("{method} {path}: no answer after 20 attempts"))
}

fn main() -> std::process::ExitCode {
    let seed = std::env::args()
        .skip_while(|a| a != "--seed")
        .nth(1)
        .map(|s| s.parse().expect("--seed takes a number"))
        .unwrap_or(1);
    let mut sim = Sim::new(SimConfig {
        seed,
        default_link: LinkConfig {
            loss: 0.01,
            ..LinkConfig::default()
        },
        ..SimConfig::default()
    });
    sim.host("server", |h: Host| async move {
        // A fresh, empty store at every (re)start: the crash loses it, as a real one would.
        let store = Store::default();
        let l = h.listen("0.0.0.0:80".parse().unwrap()).expect("listen");
        let _ = serve(
            h.clone(),
            l,
            app(store),
            ServeConfig::default(),
            std::future::pending(),
        )
        .await;
    });
    let tallies = Rc::new(RefCell::new(BTreeMap::new()));
    for name in ["alice", "bob", "carol"] {
        let tallies = tallies.clone();
        sim.client(name, move |h: Host| async move {
            let resolver = h.clone();
            let connector = Connector::new(h.clone(), h.clone())
                .resolve(move |n| resolver.lookup(n))
                .deadline(Duration::from_millis(500));
            let client = Client::builder(Exec::new(h.clone()))
                .timer(Timer::with_base(h.clone(), h.std_base()))
                .pool_timer(Timer::with_base(h.clone(), h.std_base()))
                .build(connector);
            let mut tally = Tally::default();
            let me = h.name();
            let mut last = String::new();
            for i in 0..30 {
                last = format!("{me}-{i}");
                request(
                    &h,
                    &client,
                    http::Method::PUT,
                    &format!("/kv/{me}"),
                    &last,
                    &mut tally,
                )
                .await?;
                h.sleep(Duration::from_millis(50)).await;
            }
            // After the faults (last one heals at 3 s): the last write must read back.
            h.sleep_until(Instant::from_secs(4)).await;
            request(
                &h,
                &client,
                http::Method::PUT,
                &format!("/kv/{me}"),
                &last,
                &mut tally,
            )
            .await?;
            let (status, got) = request(
                &h,
                &client,
                http::Method::GET,
                &format!("/kv/{me}"),
                "",
                &mut tally,
            )
            .await?;
            if status != http::StatusCode::OK || got != last {
                return Err(format!("{me}: read {status} {got:?}, wrote {last:?}").into());
            }
            tallies.borrow_mut().insert(me, tally);
            Ok(())
        });
    }
    sim.at(Instant::from_millis(400), |c| {
        c.partition("alice", "server")
    });
    sim.at(Instant::from_millis(1200), |c| c.repair("alice", "server"));
    sim.at(Instant::from_millis(1500), |c| c.crash("server"));
    sim.at(Instant::from_millis(2000), |c| c.restart("server"));
    sim.at(Instant::from_millis(2500), |c| c.partition("bob", "server"));
    sim.at(Instant::from_secs(3), |c| c.repair_all());
    let report = match sim.run() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("axum_service: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    for (name, t) in tallies.borrow().iter() {
        println!(
            "{name}: {} ok, {} timed out, {} failed",
            t.ok, t.timeouts, t.errors
        );
    }
    println!(
        "seed={seed} end_time={} events={}",
        report.end_time, report.trace_events
    );
    println!("trace_hash={:016x}", report.trace_hash);
    std::process::ExitCode::SUCCESS
}
