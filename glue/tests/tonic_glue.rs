//! A tonic-generated service (tonic-health) served by the glue's `serve` and called through a
//! glue `Channel` in the simulator: status changes, per-call deadlines through a partition,
//! reconnection after it heals, and determinism.

use std::cell::RefCell;
use std::rc::Rc;
use testbed_glue::{serve, Connector, ServeConfig};
use testbed_model::{timeout, Duration, Instant, Net, Runtime};
use testbed_sim::{check_determinism, Host, Report, Sim, SimConfig};
use tonic_health::pb::health_client::HealthClient;
use tonic_health::pb::HealthCheckRequest;

fn health_server(sim: &mut Sim) {
    sim.host("server", |h: Host| async move {
        let (reporter, svc) = tonic_health::server::health_reporter();
        reporter
            .set_service_status("kv", tonic_health::ServingStatus::Serving)
            .await;
        let routes = tonic::service::Routes::new(svc);
        let l = h.listen("0.0.0.0:50051".parse().unwrap()).unwrap();
        let h2 = h.clone();
        // After 1 s the "kv" service reports NOT_SERVING.
        drop(h.spawn(async move {
            h2.sleep(Duration::from_secs(1)).await;
            reporter
                .set_service_status("kv", tonic_health::ServingStatus::NotServing)
                .await;
        }));
        serve(
            h.clone(),
            l,
            routes,
            ServeConfig::default(),
            std::future::pending(),
        )
        .await
        .expect("serve");
    });
}

fn run(seed: u64) -> (Report, Vec<String>) {
    let mut sim = Sim::new(SimConfig {
        seed,
        record_trace: true,
        ..Default::default()
    });
    health_server(&mut sim);
    let log = Rc::new(RefCell::new(Vec::new()));
    let log2 = log.clone();
    sim.client("client", move |h| async move {
        let resolver = h.clone();
        let connector = Connector::new(h.clone(), h.clone())
            .resolve(move |n| resolver.lookup(n))
            .deadline(Duration::from_millis(300));
        let endpoint = tonic::transport::Endpoint::from_static("http://server:50051");
        let client =
            HealthClient::new(testbed_glue::tonic::channel(endpoint, h.clone(), connector));
        let deadline = Duration::from_millis(200);
        let check = |mut client: HealthClient<_>| {
            let h = h.clone();
            async move {
                // Not `req.set_timeout`: tonic's channel then sleeps on tokio's timer.
                let req = tonic::Request::new(HealthCheckRequest {
                    service: "kv".into(),
                });
                let r = timeout(&h, deadline, client.check(req)).await;
                let at = h.now();
                match r {
                    Ok(Ok(res)) => format!("{at} {:?}", res.into_inner().status()),
                    Ok(Err(status)) => format!("{at} error {:?}", status.code()),
                    Err(_) => format!("{at} deadline"),
                }
            }
        };
        let answer = check(client.clone()).await;
        log2.borrow_mut().push(answer);
        h.control().partition("client", "server");
        let answer = check(client.clone()).await;
        log2.borrow_mut().push(answer);
        h.sleep_until(Instant::from_millis(1500)).await;
        h.control().repair("client", "server");
        // As on Linux, the connection recovers at its next backed-off retransmission after
        // the heal (not at once): calls may hit their deadline until then, within a bound.
        let mut answer = check(client.clone()).await;
        while !answer.ends_with("NotServing") && h.now() < Instant::from_millis(10_000) {
            answer = check(client.clone()).await;
        }
        log2.borrow_mut().push(answer);
        Ok(())
    });
    let report = sim.run().expect("run");
    let out = log.borrow().clone();
    (report, out)
}

#[test]
fn health_checks_through_a_partition_with_deadlines() {
    let (_, log) = run(1);
    assert_eq!(log.len(), 3, "{log:?}");
    assert!(log[0].ends_with(" Serving"), "{log:?}");
    assert!(
        log[1].ends_with(" deadline"),
        "partitioned call must hit its deadline: {log:?}"
    );
    assert!(log[2].ends_with(" NotServing"), "{log:?}");
}

#[test]
fn tonic_runs_are_deterministic() {
    let a = check_determinism(2, |s| run(s).0).expect("same seed, same trace");
    let b = check_determinism(2, |s| run(s).0).expect("same seed, same trace");
    assert_eq!(a, b);
}
