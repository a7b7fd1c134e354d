//! `ws-echo`: WebSocket clients × messages against an echo server, with or without
//! permessage-deflate, over lossy links. Invariant: every message comes back intact, in order.

use crate::outcome::{quantile, Invariant, Outcome};
use crate::params::{Kind, ParamSpec, Params};
use crate::scenario::{Backend, RunCtx, RunError, Scenario};
use std::cell::RefCell;
use std::net::SocketAddr;
use std::rc::Rc;
use testbed_model::{Duration, Listener, Net, Rng, Runtime};
use testbed_protocols::ws::{accept, connect, CloseCode, Event, WsLimits};
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
        help: "one-way link latency",
    },
    ParamSpec {
        name: "loss",
        default: "0.01",
        kind: Kind::Real { min: 0.0, max: 0.5 },
        help: "packet loss (costs retransmission delay)",
    },
];

#[derive(Default)]
struct Tally {
    echoed: u64,
    errors: Vec<String>,
    rtt: Vec<u64>,
}

impl WsEcho {
    fn run_sim(&self, ctx: &RunCtx<'_>, out: &mut Outcome) {
        let p: &Params = &ctx.params;
        let (clients, messages, max_size, deflate) = (
            p.int("clients"),
            p.int("messages"),
            p.int("max_size"),
            p.int("deflate") == 1,
        );
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
            while let Ok((s, _)) = l.accept().await {
                let h2 = h.clone();
                drop(h.spawn(async move {
                    let Ok(mut ws) = accept(&h2, s, WsLimits::default()).await else {
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
        });
        let tally = Rc::new(RefCell::new(Tally::default()));
        for id in 0..clients {
            let tally = tally.clone();
            sim.client(&format!("client-{id}"), move |h| async move {
                let server = SocketAddr::new(h.lookup("server").expect("server"), 80);
                let mut ws = match connect(&h, server, "/echo", deflate, WsLimits::default()).await
                {
                    Ok(ws) => ws,
                    Err(e) => {
                        tally.borrow_mut().errors.push(format!("client {id}: {e}"));
                        return Ok(());
                    }
                };
                let mut rng = h.rng();
                for i in 0..messages {
                    let len = rng.range_inclusive(1, max_size) as usize;
                    let text = i % 2 == 0;
                    let t0 = h.now();
                    let (sent, back) = if text {
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
                    let mut t = tally.borrow_mut();
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
                Ok(())
            });
        }
        let run = sim.run();
        out.sim_run(&run, sim.trace_hash());
        let t = std::mem::take(&mut *tally.borrow_mut());
        out.invariants.push(Invariant::count(
            "every_message_echoed_intact",
            t.echoed,
            clients * messages,
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
        &[Backend::Sim]
    }
    fn run(&self, ctx: &RunCtx<'_>) -> Result<Outcome, RunError> {
        crate::params::check_product(&ctx.params, "clients", "messages", 1_000_000)?;
        let mut out = Outcome::start(self.name(), ctx);
        self.run_sim(ctx, &mut out);
        Ok(out)
    }
}
