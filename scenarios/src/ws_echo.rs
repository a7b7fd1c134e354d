//! `ws-echo`: WebSocket clients × messages against an echo server, with or without
//! permessage-deflate, over lossy links. Invariant: every message comes back intact, in order.

use crate::outcome::{quantile, Invariant, Outcome};
use crate::params::{Kind, ParamSpec, Params};
use crate::scenario::{Backend, RunCtx, RunError, Scenario};
use std::cell::RefCell;
use std::net::SocketAddr;
use std::rc::Rc;
use testbed_model::{Duration, Listener, Net, Rng, Runtime};
use testbed_protocols::ws::{accept_within, connect, CloseCode, Event, WsLimits};
use testbed_sim::{Latency, LinkConfig, Sim, SimConfig};

/// The scenario.
pub struct WsEcho;

const PARAMS: &[ParamSpec] = &[
    ParamSpec {
        name: "clients",
        default: "8",
        kind: Kind::Int { min: 1, max: 1000 },
        help: "WebSocket clients",
    },
    ParamSpec {
        name: "messages",
        default: "100",
        kind: Kind::Int {
            min: 1,
            max: 100_000,
        },
        help: "messages per client",
    },
    ParamSpec {
        name: "max_size",
        default: "4096",
        kind: Kind::Int {
            min: 1,
            max: 1 << 20,
        },
        help: "largest message, bytes (sizes are drawn up to it)",
    },
    ParamSpec {
        name: "deflate",
        default: "1",
        kind: Kind::Int { min: 0, max: 1 },
        help: "offer permessage-deflate (1) or not (0)",
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
    echoed: u64,
    errors: Vec<String>,
    rtt: Vec<u64>,
}

impl Tally {
    fn merge(&mut self, o: Tally) {
        self.echoed += o.echoed;
        self.errors.extend(o.errors);
        self.rtt.extend(o.rtt);
    }
}

/// The echo server: every accepted connection is a WebSocket echoing text and binary.
async fn ws_serve<H: Net + Runtime>(h: H, l: H::Listener) {
    let lim = testbed_protocols::bounded::ServerLimits::default();
    let gate = testbed_protocols::bounded::ConnGate::new(lim.max_connections);
    while let Ok((s, _)) = l.accept().await {
        let Some(permit) = gate.try_enter() else {
            continue; // over the cap: closed at once
        };
        let h2 = h.clone();
        drop(h.spawn(async move {
            let _permit = permit; // held for the connection's life
            let upgrade = accept_within(&h2, s, WsLimits::default(), lim.ws_upgrade);
            let Ok(mut ws) = upgrade.await else {
                return;
            };
            while let Ok(ev) = ws.recv(&h2).await {
                let sent = match ev {
                    Event::Text(t) => ws.send_text(&t).await,
                    Event::Binary(b) => ws.send_binary(&b).await,
                    Event::Close(_) => return,
                    _ => Ok(()),
                };
                if sent.is_err() {
                    return;
                }
            }
        }));
    }
}

/// One client: `messages` messages of random size up to `max_size`, alternating text and
/// binary, each checked when it comes back; then a clean close.
async fn ws_client<H: Net + Runtime>(h: H, server: SocketAddr, id: u64, load: WsLoad) -> Tally {
    let mut t = Tally::default();
    let mut ws = match connect(&h, server, "/echo", load.deflate, WsLimits::default()).await {
        Ok(ws) => ws,
        Err(e) => {
            t.errors.push(format!("client {id}: {e}"));
            return t;
        }
    };
    let mut rng = h.rng();
    for i in 0..load.messages {
        let len = rng.range_inclusive(1, load.max_size) as usize;
        let t0 = h.now();
        let (sent, back) = if i % 2 == 0 {
            let msg: String = (0..len)
                .map(|_| char::from(b'a' + rng.below(26) as u8))
                .collect();
            let r = ws.send_text(&msg).await;
            (r.map(|_| Event::Text(msg)), ws.recv(&h).await)
        } else {
            let mut msg = vec![0u8; len];
            rng.fill_bytes(&mut msg);
            let r = ws.send_binary(&msg).await;
            (r.map(|_| Event::Binary(msg)), ws.recv(&h).await)
        };
        match (sent, back) {
            (Ok(want), Ok(got)) if want == got => {
                t.echoed += 1;
                t.rtt.push((h.now() - t0).as_nanos() as u64);
            }
            (Ok(_), Ok(_)) => t
                .errors
                .push(format!("client {id} message {i}: echo differs")),
            (Err(e), _) => t.errors.push(format!("client {id} message {i}: send: {e}")),
            (_, Err(e)) => t.errors.push(format!("client {id} message {i}: recv: {e}")),
        }
    }
    let _ = ws.close(CloseCode::NORMAL, "done").await;
    let _ = testbed_model::timeout(&h, Duration::from_secs(5), ws.recv(&h)).await;
    t
}

/// The scenario's server and clients, for the simulator and [`crate::real::run`].
#[derive(Clone, Copy)]
struct WsLoad {
    messages: u64,
    max_size: u64,
    deflate: bool,
}

impl crate::real::Workload for WsLoad {
    type Out = Tally;
    async fn serve<W: Net + Runtime>(self, w: W, listener: W::Listener) {
        ws_serve(w, listener).await
    }
    async fn client<W: Net + Runtime>(self, w: W, server: SocketAddr, id: u64) -> Tally {
        ws_client(w, server, id, self).await
    }
}

fn load(p: &Params) -> WsLoad {
    WsLoad {
        messages: p.int("messages"),
        max_size: p.int("max_size"),
        deflate: p.int("deflate") == 1,
    }
}

fn report(out: &mut Outcome, expected: u64, t: Tally) {
    out.invariants.push(Invariant::count(
        "every_message_echoed_intact",
        t.echoed,
        expected,
        "messages echoed intact and in order",
    ));
    out.invariants
        .push(Invariant::no_errors("no_errors", &t.errors, "none"));
    let mut rtt = t.rtt;
    rtt.sort_unstable();
    out.metric("echoed", t.echoed);
    out.metric("rtt_p50_ms", quantile(&rtt, 0.5).map(|v| v as f64 / 1e6));
    out.metric("rtt_p99_ms", quantile(&rtt, 0.99).map(|v| v as f64 / 1e6));
}

impl WsEcho {
    fn run_sim(&self, ctx: &RunCtx<'_>, out: &mut Outcome) {
        let p: &Params = &ctx.params;
        let (clients, load) = (p.int("clients"), load(p));
        let link = LinkConfig {
            latency: Latency::Fixed(p.duration("latency")),
            loss: p.real("loss"),
            ..LinkConfig::default()
        };
        let cfg = SimConfig {
            default_link: link,
            ..ctx.sim_config()
        };
        let mut sim = Sim::new(cfg);
        sim.host("server", |h| async move {
            let l = h
                .listen("0.0.0.0:80".parse().expect("literal"))
                .expect("fresh host");
            ws_serve(h, l).await
        });
        let tally = Rc::new(RefCell::new(Tally::default()));
        for id in 0..clients {
            let tally = tally.clone();
            sim.client(&format!("client-{id}"), move |h| async move {
                let server = SocketAddr::new(h.lookup("server").expect("server"), 80);
                let t = ws_client(h, server, id, load).await;
                tally.borrow_mut().merge(t);
                Ok(())
            });
        }
        let run = sim.run();
        out.sim_run(&run, sim.trace_hash());
        let t = std::mem::take(&mut *tally.borrow_mut());
        report(out, clients * load.messages, t);
    }

    /// Kernel sockets or io_uring on loopback (link latency and loss do not apply).
    fn run_real(&self, ctx: &RunCtx<'_>, out: &mut Outcome) -> Result<(), RunError> {
        let p = &ctx.params;
        let clients = p.int("clients");
        let run = crate::real::run_scenario(ctx, out, load(p))?;
        let mut t = Tally::default();
        for o in run.outs {
            t.merge(o);
        }
        t.errors.extend(run.failures);
        report(out, clients * p.int("messages"), t);
        Ok(())
    }
}

impl Scenario for WsEcho {
    fn name(&self) -> &'static str {
        "ws-echo"
    }
    fn summary(&self) -> &'static str {
        "WebSocket clients × messages (text and binary, optional deflate) against an echo server over lossy links"
    }
    fn params(&self) -> &'static [ParamSpec] {
        PARAMS
    }
    fn backends(&self) -> &'static [Backend] {
        Backend::EVERY
    }
    fn run(&self, ctx: &RunCtx<'_>) -> Result<Outcome, RunError> {
        crate::params::check_product(&ctx.params, "clients", "messages", 1_000_000)?;
        let mut out = Outcome::start(self.name(), ctx);
        match ctx.backend {
            Backend::Sim => self.run_sim(ctx, &mut out),
            _ => self.run_real(ctx, &mut out)?,
        }
        Ok(out)
    }
}
