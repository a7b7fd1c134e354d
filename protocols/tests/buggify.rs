//! Buggify points in the RPC endpoint and the HTTP/1.1 server and client: across seeds each
//! point fires in some runs (short reads, delayed flushes, early closes) and every call and
//! request still succeeds with the right answer.

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::rc::Rc;
use testbed_model::{Duration, Net};
use testbed_protocols::http1::{
    self, Client, OwnedRequest as Request, OwnedResponse as Response, Router, ServerConfig,
};
use testbed_protocols::rpc::example::{self, Add, Pair};
use testbed_protocols::rpc::{serve, CodecId, RpcClient};
use testbed_sim::{BuggifyPoint, Sim, SimConfig};

const SEEDS: std::ops::Range<u64> = 0..40;

fn rpc_run(seed: u64) -> Vec<BuggifyPoint> {
    let mut sim = Sim::new(SimConfig {
        seed,
        ..SimConfig::default()
    });
    sim.host("server", |h| async move {
        let l = h.listen("0.0.0.0:7000".parse().unwrap()).unwrap();
        serve(h, l, Rc::new(example::server())).await
    });
    sim.client("client", move |h| async move {
        let addr = SocketAddr::new(h.lookup("server").unwrap(), 7000);
        let c = RpcClient::connect(&h, addr, CodecId::Binary).await?;
        for a in 0..60i64 {
            let r = c
                .call::<Add, _>(&h, &Pair { a, b: 1 }, Duration::from_secs(5))
                .await;
            assert_eq!(r, Ok(a + 1), "seed {seed}, call {a}");
        }
        Ok(())
    });
    sim.run().unwrap();
    sim.buggify_points()
}

fn http_run(seed: u64) -> Vec<BuggifyPoint> {
    let mut sim = Sim::new(SimConfig {
        seed,
        ..SimConfig::default()
    });
    sim.host("server", |h| async move {
        let app = Router::new().route("POST", "/echo", |r: Request| async move {
            Response::text(200, r.body)
        });
        let l = h.listen("0.0.0.0:80".parse().unwrap()).unwrap();
        http1::serve(h, l, Rc::new(app), ServerConfig::default()).await
    });
    sim.client("client", move |h| async move {
        let addr = SocketAddr::new(h.lookup("server").unwrap(), 80);
        let c = Client::new(h.clone());
        for i in 0..60 {
            let mut post = Request::get("/echo");
            post.method = "POST".into();
            post.body = format!("request {i} of seed {seed}").into_bytes();
            let r = c.request(addr, &post).await?;
            assert_eq!((r.status, &r.body), (200, &post.body), "seed {seed}");
        }
        Ok(())
    });
    sim.run().unwrap();
    sim.buggify_points()
}

/// Names of the points that fired in at least one seed.
fn fired(run: fn(u64) -> Vec<BuggifyPoint>) -> BTreeSet<&'static str> {
    SEEDS
        .flat_map(run)
        .filter(|p| p.fired > 0)
        .map(|p| p.name)
        .collect()
}

#[test]
fn rpc_calls_survive_short_reads_and_delayed_flushes() {
    let f = fired(rpc_run);
    for p in ["rpc.short_read", "rpc.delay_flush"] {
        assert!(f.contains(p), "{p} never fired in seeds {SEEDS:?}: {f:?}");
    }
}

#[test]
fn http1_requests_survive_short_reads_delayed_flushes_and_early_closes() {
    let f = fired(http_run);
    for p in [
        "http1.short_read",
        "http1.delay_flush",
        "http1.close_after_response",
    ] {
        assert!(f.contains(p), "{p} never fired in seeds {SEEDS:?}: {f:?}");
    }
}
