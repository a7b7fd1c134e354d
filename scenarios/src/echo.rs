//! `echo`: clients × round trips against an echo server. Metrics: round trips, RT/s in sim
//! and wall time, latency percentiles. Runs on the simulator and the kernel backend; the
//! server and client code is the same generic code in both.

use crate::outcome::{quantile, Invariant, Outcome};
use crate::params::{Kind, ParamSpec, Params};
use crate::scenario::{Backend, RunCtx, RunError, Scenario};
use std::cell::RefCell;
use std::net::SocketAddr;
use std::rc::Rc;
use testbed_model::{Duration, Net, Runtime, Stream};
use testbed_sim::{Latency, LinkConfig, Sim, SimConfig};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// The scenario.
pub struct Echo;

const PARAMS: &[ParamSpec] = &[
    ParamSpec {
        name: "clients",
        default: "10",
        kind: Kind::Int {
            min: 1,
            max: 10_000,
        },
        help: "concurrent client connections",
    },
    ParamSpec {
        name: "round_trips",
        default: "1000",
        kind: Kind::Int {
            min: 1,
            max: 20_000_000,
        },
        help: "round trips per client",
    },
    ParamSpec {
        name: "msg_size",
        default: "16",
        kind: Kind::Int {
            min: 1,
            max: 1 << 20,
        },
        help: "bytes per request (echoed back)",
    },
    ParamSpec {
        name: "latency",
        default: "1ms",
        kind: Kind::Duration,
        help: "one-way link latency (sim; dpdk with --impair)",
    },
    ParamSpec {
        name: "jitter",
        default: "100us",
        kind: Kind::Duration,
        help: "extra per-packet delay, uniform 0..=jitter (sim; dpdk with --impair)",
    },
    ParamSpec {
        name: "loss",
        default: "0",
        kind: Kind::Real { min: 0.0, max: 0.9 },
        help: "packet loss probability (sim; dpdk with --impair; costs retransmission delay)",
    },
    ParamSpec {
        name: "bandwidth",
        default: "0",
        kind: Kind::Int {
            min: 0,
            max: u64::MAX / 2,
        },
        help: "link bytes/s, 0 = unlimited (sim; dpdk with --impair)",
    },
    ParamSpec {
        name: "workers",
        default: "2",
        kind: Kind::Int { min: 1, max: 256 },
        help: "worker threads (kernel, uring)",
    },
];

/// Echoes every byte back until the peer closes.
pub async fn echo_connection<S: Stream>(mut s: S) {
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        match s.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => {
                if s.write_all(&buf[..n]).await.is_err() {
                    return;
                }
            }
        }
    }
}

/// Accepts connections until the listener closes, echoing each on its own task.
pub async fn serve<H: Net + Runtime>(host: H, listener: H::Listener) {
    testbed_protocols::bounded::accept_loop_default(&host, &listener, |s, permit| {
        drop(host.spawn(async move {
            echo_connection(s).await;
            drop(permit);
        }));
    })
    .await
}

/// One client: connects, does `round_trips` request/response exchanges of `msg_size` bytes,
/// checks every echo, and returns the round-trip latencies in nanoseconds (host clock).
pub async fn client<H: Net + Runtime>(
    host: H,
    server: SocketAddr,
    id: u64,
    round_trips: u64,
    msg_size: usize,
) -> Result<Vec<u64>, String> {
    let mut s = host
        .connect(server)
        .await
        .map_err(|e| format!("connect: {e}"))?;
    let mut msg = vec![0u8; msg_size];
    let mut back = vec![0u8; msg_size];
    let mut lat = Vec::with_capacity(round_trips as usize);
    for i in 0..round_trips {
        let tag = (id << 32 | i).to_le_bytes();
        for (j, b) in msg.iter_mut().enumerate() {
            *b = tag[j % 8] ^ (j as u8);
        }
        let t0 = host.now();
        s.write_all(&msg).await.map_err(|e| format!("write: {e}"))?;
        s.read_exact(&mut back)
            .await
            .map_err(|e| format!("read: {e}"))?;
        lat.push((host.now() - t0).as_nanos() as u64);
        if back != msg {
            return Err(format!(
                "client {id}: round trip {i} echoed different bytes"
            ));
        }
    }
    Ok(lat)
}

struct Results {
    latencies: Vec<u64>,
    errors: Vec<String>,
}

/// Fills in metrics and invariants from the clients' results.
fn finish(out: &mut Outcome, p: &Params, r: Results, elapsed: Duration, wall: Duration) {
    let expected = p.int("clients") * p.int("round_trips");
    let done = r.latencies.len() as u64;
    let mut lat = r.latencies;
    lat.sort_unstable();
    out.invariants.push(Invariant::count(
        "all_round_trips_completed",
        done,
        expected,
        "round trips completed",
    ));
    out.invariants
        .push(Invariant::no_errors("no_client_errors", &r.errors, "none"));
    let secs = elapsed.as_secs_f64();
    out.metric("round_trips", done);
    out.metric("elapsed_s", secs);
    out.metric(
        "rt_per_s",
        if secs > 0.0 { done as f64 / secs } else { 0.0 },
    );
    out.metric("wall_s", wall.as_secs_f64());
    out.metric(
        "rt_per_s_wall",
        if wall.as_secs_f64() > 0.0 {
            done as f64 / wall.as_secs_f64()
        } else {
            0.0
        },
    );
    let us = |q| quantile(&lat, q).map(|v| v as f64 / 1e3);
    out.metric("latency_p50_us", us(0.5));
    out.metric("latency_p99_us", us(0.99));
    out.metric("latency_max_us", us(1.0));
}

impl Echo {
    fn run_sim(&self, ctx: &RunCtx<'_>, out: &mut Outcome) {
        let p = &ctx.params;
        let bandwidth = p.int("bandwidth");
        let link = LinkConfig {
            latency: Latency::Fixed(p.duration("latency")),
            jitter: p.duration("jitter"),
            loss: p.real("loss"),
            bandwidth: (bandwidth > 0).then_some(bandwidth),
            ..LinkConfig::default()
        };
        let cfg = SimConfig {
            default_link: link,
            ..ctx.sim_config()
        };
        let (clients, rts, size) = (
            p.int("clients"),
            p.int("round_trips"),
            p.int("msg_size") as usize,
        );
        let results = Rc::new(RefCell::new(Results {
            latencies: Vec::new(),
            errors: Vec::new(),
        }));
        let wall0 = (ctx.wall)();
        let mut sim = Sim::new(cfg);
        sim.host("server", |h| async move {
            let l = h
                .listen("0.0.0.0:7000".parse().expect("literal"))
                .expect("port 7000 is free on a fresh host");
            serve(h, l).await
        });
        let res = results.clone();
        sim.client("client", move |h| async move {
            let server = SocketAddr::new(h.lookup("server").expect("server host"), 7000);
            let tasks: Vec<_> = (0..clients)
                .map(|id| h.spawn(client(h.clone(), server, id, rts, size)))
                .collect();
            for t in tasks {
                match t.await {
                    Ok(Ok(l)) => res.borrow_mut().latencies.extend(l),
                    Ok(Err(e)) => res.borrow_mut().errors.push(e),
                    Err(e) => res.borrow_mut().errors.push(e.to_string()),
                }
            }
            Ok(())
        });
        let run = sim.run();
        let wall = (ctx.wall)() - wall0;
        let r = std::mem::replace(
            &mut *results.borrow_mut(),
            Results {
                latencies: Vec::new(),
                errors: Vec::new(),
            },
        );
        out.sim_run(&run, sim.trace_hash());
        if let Ok(rep) = &run {
            let total = rep
                .costs
                .iter()
                .fold(testbed_model::CostCounters::default(), |a, c| a + *c);
            out.metric("socket_calls", total.syscalls);
            out.metric("cpu_copy_bytes", total.cpu_copy_bytes);
        }
        let end = sim.now();
        finish(out, p, r, end.since_epoch(), wall);
    }

    /// The kernel and io_uring backends: the same server and clients on real sockets.
    fn run_real(&self, ctx: &RunCtx<'_>, out: &mut Outcome) -> Result<(), RunError> {
        let p = &ctx.params;
        let load = EchoLoad {
            round_trips: p.int("round_trips"),
            msg_size: p.int("msg_size") as usize,
        };
        let run = crate::real::run_scenario(ctx, out, load)?;
        if let Some(ring) = run.ring {
            let rts = p.int("clients") * load.round_trips;
            out.metric(
                "ring_enters_per_round_trip",
                ring.enters as f64 / rts.max(1) as f64,
            );
        }
        let mut r = results_from(run.outs);
        r.errors.extend(run.failures);
        finish(out, p, r, run.elapsed, run.wall);
        Ok(())
    }
}

/// Echo's server and clients for [`crate::real::run`].
#[derive(Clone, Copy)]
struct EchoLoad {
    round_trips: u64,
    msg_size: usize,
}

impl crate::real::Workload for EchoLoad {
    type Out = Result<Vec<u64>, String>;
    async fn serve<W: Net + Runtime>(self, w: W, listener: W::Listener) {
        serve(w, listener).await
    }
    async fn client<W: Net + Runtime>(self, w: W, server: SocketAddr, id: u64) -> Self::Out {
        client(w, server, id, self.round_trips, self.msg_size).await
    }
}

fn results_from(r: Vec<Result<Vec<u64>, String>>) -> Results {
    let mut out = Results {
        latencies: Vec::new(),
        errors: Vec::new(),
    };
    for x in r {
        match x {
            Ok(l) => out.latencies.extend(l),
            Err(e) => out.errors.push(e),
        }
    }
    out
}

impl Scenario for Echo {
    fn name(&self) -> &'static str {
        "echo"
    }
    fn summary(&self) -> &'static str {
        "clients × round trips against an echo server; RT/s and latency percentiles"
    }
    fn params(&self) -> &'static [ParamSpec] {
        PARAMS
    }
    fn backends(&self) -> &'static [Backend] {
        Backend::EVERY
    }
    fn run(&self, ctx: &RunCtx<'_>) -> Result<Outcome, RunError> {
        // Every round trip's latency is kept for exact percentiles: 8 bytes each.
        crate::params::check_product(&ctx.params, "clients", "round_trips", 20_000_000)?;
        let mut out = Outcome::start(self.name(), ctx);
        match ctx.backend {
            Backend::Sim => self.run_sim(ctx, &mut out),
            _ => self.run_real(ctx, &mut out)?,
        }
        Ok(out)
    }
}
