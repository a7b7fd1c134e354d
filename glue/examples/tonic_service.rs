//! A tonic-generated service in the simulator: the gRPC health service from `tonic-health`,
//! served with `testbed_glue::serve` (instead of tonic's `Server`) and called through a
//! `testbed_glue::tonic::channel` (instead of `Endpoint::connect`), with a deadline on every
//! call (on simulated time), over lossy links with a partition and a server crash + restart.
//! The server reports "kv" as SERVING for its first 800 ms after each start, then NOT_SERVING.
//! Checks: no call outlives its deadline; calls succeed before and after the faults.
//!
//!     cargo run --release -p testbed-glue --features tonic --example tonic_service [-- --seed N]
//!
//! The last line is `trace_hash=<hex>`: the same seed prints the same line in every process.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::rc::Rc;
use testbed_glue::{serve, Connector, ServeConfig};
use testbed_model::{timeout, Duration, Instant, Net, Runtime};
use testbed_sim::{Host, LinkConfig, Sim, SimConfig};
use tonic_health::pb::health_client::HealthClient;
use tonic_health::pb::HealthCheckRequest;
use tonic_health::ServingStatus;

const DEADLINE: Duration = Duration::from_millis(250);

fn main() -> std::process::ExitCode {
    let seed = std::env::args()
        .skip_while(|a| a != "--seed")
        .nth(1)
        .map(|s| s.parse().expect("--seed takes a number"))
        .unwrap_or(1);
    let mut sim = Sim::new(SimConfig {
        seed,
        default_link: LinkConfig {
            loss: 0.02,
            ..LinkConfig::default()
        },
        ..SimConfig::default()
    });
    sim.host("server", |h: Host| async move {
        let (reporter, svc) = tonic_health::server::health_reporter();
        reporter
            .set_service_status("kv", ServingStatus::Serving)
            .await;
        let h2 = h.clone();
        drop(h.spawn(async move {
            h2.sleep(Duration::from_millis(800)).await;
            reporter
                .set_service_status("kv", ServingStatus::NotServing)
                .await;
        }));
        let l = h.listen("0.0.0.0:50051".parse().unwrap()).expect("listen");
        let routes = tonic::service::Routes::new(svc);
        let _ = serve(
            h.clone(),
            l,
            routes,
            ServeConfig::default(),
            std::future::pending(),
        )
        .await;
    });
    let seen: Rc<RefCell<BTreeMap<String, u64>>> = Rc::default();
    let seen2 = seen.clone();
    sim.client("client", move |h: Host| async move {
        let resolver = h.clone();
        let connector = Connector::new(h.clone(), h.clone())
            .resolve(move |n| resolver.lookup(n))
            .deadline(DEADLINE);
        let endpoint = tonic::transport::Endpoint::from_static("http://server:50051");
        let client = HealthClient::new(testbed_glue::tonic::channel(endpoint, h.clone(), connector));
        let mut first_ok = None;
        let mut last_ok = None;
        while h.now() < Instant::from_secs(5) {
            let mut c = client.clone();
            let start = h.now();
            let call = c.check(HealthCheckRequest { service: "kv".into() });
            let outcome = match timeout(&h, DEADLINE, call).await {
                Ok(Ok(res)) => {
                    first_ok.get_or_insert(start);
                    last_ok = Some(start);
                    format!("{:?}", res.into_inner().status())
                }
                Ok(Err(status)) => format!("error {:?}", status.code()),
                Err(_) => "deadline exceeded".to_string(),
            };
            let took = h.now() - start;
            if took > DEADLINE {
                return Err(format!("a call took {took:?}, over its {DEADLINE:?} deadline").into());
            }
            *seen2.borrow_mut().entry(outcome).or_default() += 1;
            h.sleep(Duration::from_millis(100)).await;
        }
        match (first_ok, last_ok) {
            (Some(f), Some(l)) if f < Instant::from_millis(400) && l > Instant::from_secs(3) => Ok(()),
            _ => Err(format!("calls did not succeed before and after the faults: first {first_ok:?}, last {last_ok:?}").into()),
        }
    });
    sim.at(Instant::from_millis(500), |c| {
        c.partition("client", "server")
    });
    sim.at(Instant::from_millis(1500), |c| c.repair("client", "server"));
    sim.at(Instant::from_millis(2000), |c| c.crash("server"));
    sim.at(Instant::from_millis(2600), |c| c.restart("server"));
    let report = match sim.run() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("tonic_service: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    for (outcome, n) in seen.borrow().iter() {
        println!("{outcome}: {n}");
    }
    println!(
        "seed={seed} end_time={} events={}",
        report.end_time, report.trace_events
    );
    println!("trace_hash={:016x}", report.trace_hash);
    std::process::ExitCode::SUCCESS
}
