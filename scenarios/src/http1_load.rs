//! `http1`: clients × keep-alive requests against the HTTP/1.1 server and router — GET, HEAD,
//! POST with a random body echoed back, and a path that is not routed — on the simulator
//! (over lossy links) or on real sockets (kernel, io_uring). Invariants: every response is the
//! right one, and keep-alive holds (one connection per client).

use crate::outcome::{quantile, Invariant, Outcome};
use crate::params::{Kind, ParamSpec, Params};
use crate::scenario::{Backend, RunCtx, RunError, Scenario};
use std::cell::RefCell;
use std::net::SocketAddr;
use std::rc::Rc;
use testbed_model::{Net, Rng, Runtime};
use testbed_protocols::http1::{
    self, Client, OwnedRequest as Request, OwnedResponse as Response, Router, ServerConfig,
};
use testbed_sim::{Latency, LinkConfig, Sim, SimConfig};

/// The scenario.
pub struct Http1;

const PARAMS: &[ParamSpec] = &[
    ParamSpec {
        name: "clients",
        default: "8",
        kind: Kind::Int { min: 1, max: 1000 },
        help: "clients, each with its own keep-alive pool",
    },
    ParamSpec {
        name: "requests",
        default: "200",
        kind: Kind::Int {
            min: 1,
            max: 100_000,
        },
        help: "requests per client, one at a time",
    },
    ParamSpec {
        name: "max_body",
        default: "4096",
        kind: Kind::Int {
            min: 1,
            max: 1 << 20,
        },
        help: "largest POST body, bytes (sizes are drawn up to it)",
    },
    ParamSpec {
        name: "latency",
        default: "1ms",
        kind: Kind::Duration,
        help: "one-way link latency (sim; dpdk with --impair)",
    },
    ParamSpec {
        name: "loss",
        default: "0.01",
        kind: Kind::Real { min: 0.0, max: 0.5 },
        help: "packet loss, costs retransmission delay (sim; dpdk with --impair)",
    },
    ParamSpec {
        name: "workers",
        default: "2",
        kind: Kind::Int { min: 1, max: 256 },
        help: "worker threads (kernel, uring)",
    },
];

/// What clients saw.
#[derive(Default)]
struct Tally {
    ok: u64,
    connects: u64,
    /// Responses that closed their connection (`Connection: close`): each costs a reconnect.
    server_closes: u64,
    errors: Vec<String>,
    latencies: Vec<u64>,
}

impl Tally {
    fn merge(&mut self, o: Tally) {
        self.ok += o.ok;
        self.connects += o.connects;
        self.server_closes += o.server_closes;
        self.errors.extend(o.errors);
        self.latencies.extend(o.latencies);
    }
}

fn router() -> Router {
    Router::new()
        .route("GET", "/hello", |_r| async {
            Response::text(200, "hello\n")
        })
        .route("POST", "/echo", |r: Request| async move {
            Response::text(200, r.body)
        })
}

async fn http_serve<H: Net + Runtime>(h: H, l: H::Listener) {
    http1::serve(h, l, Rc::new(router()), ServerConfig::default()).await
}

/// Whether a response is the right one.
type Check = Box<dyn Fn(&Response) -> bool>;

/// The request `i` of a client, and a check of its response.
fn exchange(i: u64, rng: &mut impl Rng, max_body: u64) -> (Request, Check) {
    match i % 4 {
        0 => (
            Request::get("/hello"),
            Box::new(|r: &Response| r.status == 200 && r.body == b"hello\n"),
        ),
        1 => {
            let mut body = vec![0u8; rng.range_inclusive(1, max_body) as usize];
            rng.fill_bytes(&mut body);
            let req = Request {
                method: "POST".into(),
                target: "/echo".into(),
                body: body.clone(),
                ..Request::get("/echo")
            };
            (
                req,
                Box::new(move |r: &Response| r.status == 200 && r.body == body),
            )
        }
        2 => {
            let req = Request {
                method: "HEAD".into(),
                ..Request::get("/hello")
            };
            // A HEAD response has the GET's headers and no body.
            (
                req,
                Box::new(|r: &Response| r.status == 200 && r.body.is_empty()),
            )
        }
        _ => (
            Request::get("/missing"),
            Box::new(|r: &Response| r.status == 404),
        ),
    }
}

async fn http_client<H: Net + Runtime>(h: H, server: SocketAddr, id: u64, load: Load) -> Tally {
    let mut t = Tally::default();
    let client = Client::new(h.clone());
    let mut rng = h.rng();
    for i in 0..load.requests {
        let (req, check) = exchange(i, &mut rng, load.max_body);
        let t0 = h.now();
        let r = client.request(server, &req).await;
        if let Ok(resp) = &r {
            let close = resp
                .header("connection")
                .is_some_and(|v| v.eq_ignore_ascii_case(b"close"));
            t.server_closes += u64::from(close);
        }
        match r {
            Ok(resp) if check(&resp) => {
                t.ok += 1;
                t.latencies.push((h.now() - t0).as_nanos() as u64);
            }
            Ok(resp) => t.errors.push(format!(
                "client {id} request {i} ({} {}): unexpected response {} ({} body bytes)",
                req.method,
                req.target,
                resp.status,
                resp.body.len()
            )),
            Err(e) => t.errors.push(format!(
                "client {id} request {i} ({} {}): {e}",
                req.method, req.target
            )),
        }
    }
    t.connects = client.connects();
    t
}

/// The scenario's server and clients, for the simulator and [`crate::real::run`].
#[derive(Clone, Copy)]
struct Load {
    requests: u64,
    max_body: u64,
}

impl crate::real::Workload for Load {
    type Out = Tally;
    async fn serve<W: Net + Runtime>(self, w: W, listener: W::Listener) {
        http_serve(w, listener).await
    }
    async fn client<W: Net + Runtime>(self, w: W, server: SocketAddr, id: u64) -> Tally {
        http_client(w, server, id, self).await
    }
}

fn load(p: &Params) -> Load {
    Load {
        requests: p.int("requests"),
        max_body: p.int("max_body"),
    }
}

fn report(out: &mut Outcome, clients: u64, requests: u64, t: Tally) {
    out.invariants.push(Invariant::count(
        "every_response_right",
        t.ok,
        clients * requests,
        "requests answered with the right status and body",
    ));
    out.invariants
        .push(Invariant::no_errors("no_errors", &t.errors, "none"));
    // A server may close a kept-alive connection after any response, saying so (buggify's
    // `http1.close_after_response` does): each such close allows one more connection.
    let allowed = clients + t.server_closes;
    let extra: Vec<String> = (t.connects > allowed)
        .then(|| {
            format!(
                "{} connections for {clients} clients and {} server closes",
                t.connects, t.server_closes
            )
        })
        .into_iter()
        .collect();
    out.invariants.push(Invariant::no_errors(
        "keep_alive_reused_connections",
        &extra,
        "one connection per client, plus one per response that closed its connection",
    ));
    let mut lat = t.latencies;
    lat.sort_unstable();
    out.metric("ok", t.ok);
    out.metric("connections", t.connects);
    out.metric("server_closes", t.server_closes);
    out.metric(
        "latency_p50_ms",
        quantile(&lat, 0.5).map(|v| v as f64 / 1e6),
    );
    out.metric(
        "latency_p99_ms",
        quantile(&lat, 0.99).map(|v| v as f64 / 1e6),
    );
}

impl Http1 {
    fn run_sim(&self, ctx: &RunCtx<'_>, out: &mut Outcome) {
        let p = &ctx.params;
        let (clients, load) = (p.int("clients"), load(p));
        let cfg = SimConfig {
            default_link: LinkConfig {
                latency: Latency::Fixed(p.duration("latency")),
                loss: p.real("loss"),
                ..LinkConfig::default()
            },
            ..ctx.sim_config()
        };
        let mut sim = Sim::new(cfg);
        sim.host("server", |h| async move {
            let l = h
                .listen("0.0.0.0:80".parse().expect("literal"))
                .expect("fresh host");
            http_serve(h, l).await
        });
        let tally = Rc::new(RefCell::new(Tally::default()));
        for id in 0..clients {
            let tally = tally.clone();
            sim.client(&format!("client-{id}"), move |h| async move {
                let server = SocketAddr::new(h.lookup("server").expect("server"), 80);
                let t = http_client(h, server, id, load).await;
                tally.borrow_mut().merge(t);
                Ok(())
            });
        }
        let run = sim.run();
        out.sim_run(&run, sim.trace_hash());
        let t = std::mem::take(&mut *tally.borrow_mut());
        report(out, clients, load.requests, t);
    }

    /// Kernel sockets or io_uring on loopback (link latency and loss do not apply).
    fn run_real(&self, ctx: &RunCtx<'_>, out: &mut Outcome) -> Result<(), RunError> {
        let p = &ctx.params;
        let (clients, load) = (p.int("clients"), load(p));
        let run = crate::real::run_scenario(ctx, out, load)?;
        let wall = run.wall.as_secs_f64();
        if wall > 0.0 {
            let requests = (clients * load.requests) as f64;
            out.metric("requests_per_s_wall", requests / wall);
        }
        let mut t = Tally::default();
        for o in run.outs {
            t.merge(o);
        }
        t.errors.extend(run.failures);
        report(out, clients, load.requests, t);
        Ok(())
    }
}

impl Scenario for Http1 {
    fn name(&self) -> &'static str {
        "http1"
    }
    fn summary(&self) -> &'static str {
        "clients × keep-alive HTTP/1.1 requests (GET, HEAD, POST echo, 404) against the router; every response right, one connection per client"
    }
    fn params(&self) -> &'static [ParamSpec] {
        PARAMS
    }
    fn backends(&self) -> &'static [Backend] {
        Backend::EVERY
    }
    fn run(&self, ctx: &RunCtx<'_>) -> Result<Outcome, RunError> {
        crate::params::check_product(&ctx.params, "clients", "requests", 1_000_000)?;
        let mut out = Outcome::start(self.name(), ctx);
        match ctx.backend {
            Backend::Sim => self.run_sim(ctx, &mut out),
            _ => self.run_real(ctx, &mut out)?,
        }
        Ok(out)
    }
}
