//! `avalanche` (seed §4.5 Q2): users → web → order → inventory over the RPC framework;
//! inventory turns slow for a while. Web serves a core endpoint (order details: web → order
//! only) and an optional one (stock: web → order → inventory).
//!
//! Servers are thread-per-request: a request holds one of a fixed pool of workers until its
//! work completes, even after its caller gave up (a thread blocked in a call cannot be
//! cancelled), as in the seed's story.
//!
//! Two variants per seed. **Unprotected** (every client layer off, calls wait up to 30 s):
//! slow stock calls hold web's and order's workers, the pools saturate and requests for
//! *every* endpoint queue behind them until users give up — the avalanche. **Protected**
//! (deadlines, per-instance breakers, bulkheads per dependency and fallbacks): stock calls
//! are cut short and then fail fast, answered with fallback data, while the core endpoint
//! stays ≥ 95% successful. After inventory heals, the breaker probes and closes and stock
//! answers come from inventory again within `wait_in_open` + 1 s (the liveness bound).

use crate::client_common::{
    breaker_timeline_ms, claim, metrics_json, round4, Conns, Windows, Workers,
};
use crate::ddos_common::{record_variants, VariantRun};
use crate::outcome::{Invariant, Outcome};
use crate::params::{Kind, ParamSpec, Params};
use crate::scenario::{Backend, RunCtx, RunError, Scenario};
use serde_json::{json, Map};
use std::cell::RefCell;
use std::net::SocketAddr;
use std::rc::Rc;
use testbed_distributed::balance::RoundRobin;
use testbed_distributed::breaker::{BreakerConfig, Window};
use testbed_distributed::client::{
    call, call_or_fallback, Instance, Served, Stack, StackConfig, StaticResolve,
};
use testbed_distributed::retry::{Backoff, Growth, Jitter};
use testbed_model::{Duration, Instant, Net, Rng, Runtime};
use testbed_protocols::rpc::{serve, Method, RpcClient, RpcServer};
use testbed_sim::{Host, Latency, LinkConfig, Sim, SimConfig};

/// The scenario.
pub struct Avalanche;

const PORT: u16 = 7000;

const PARAMS: &[ParamSpec] = &[
    ParamSpec {
        name: "protect",
        default: "both",
        kind: Kind::Choice(&["both", "true", "false"]),
        help: "run with the client stack's protection (true), without (false), or both and compare",
    },
    ParamSpec {
        name: "rate",
        default: "100",
        kind: Kind::Int { min: 1, max: 2000 },
        help: "user requests per second (half core, half optional)",
    },
    ParamSpec {
        name: "workers",
        default: "30",
        kind: Kind::Int { min: 1, max: 1000 },
        help: "worker pool size of web and of order",
    },
    ParamSpec {
        name: "slow_latency",
        default: "3s",
        kind: Kind::Duration,
        help: "inventory's latency while slow (5ms otherwise)",
    },
    ParamSpec {
        name: "user_timeout",
        default: "1s",
        kind: Kind::Duration,
        help: "users give up (and cancel) after this",
    },
];

/// Phases: normal until `SLOW_AT`, inventory slow until `HEAL_AT`, then normal until `END`.
const SLOW_AT: Duration = Duration::from_secs(2);
const HEAL_AT: Duration = Duration::from_secs(8);
const END: Duration = Duration::from_secs(12);
/// The breaker's wait in open; the liveness bound is this plus one second.
const WAIT_IN_OPEN: Duration = Duration::from_secs(1);

struct Details;
impl Method for Details {
    const ID: u32 = 10;
    const NAME: &'static str = "order.details";
    type Req = u64;
    type Resp = String;
}
/// Stock of an item: `(count, from_fallback)`.
struct Stock;
impl Method for Stock {
    const ID: u32 = 11;
    const NAME: &'static str = "order.stock";
    type Req = u64;
    type Resp = (u32, bool);
}
struct Check;
impl Method for Check {
    const ID: u32 = 12;
    const NAME: &'static str = "inventory.check";
    type Req = u64;
    type Resp = u32;
}
struct WebCore;
impl Method for WebCore {
    const ID: u32 = 20;
    const NAME: &'static str = "web.order";
    type Req = u64;
    type Resp = String;
}
struct WebStock;
impl Method for WebStock {
    const ID: u32 = 21;
    const NAME: &'static str = "web.stock";
    type Req = u64;
    type Resp = (u32, bool);
}

type Client = Rc<RefCell<Stack<RoundRobin, StaticResolve>>>;

fn stack(cfg: StackConfig, addr: SocketAddr, seed: u64) -> Client {
    let r = StaticResolve::new([Instance {
        id: 1,
        addr,
        weight: 1,
    }]);
    Rc::new(RefCell::new(Stack::new(cfg, r, RoundRobin::new(), seed)))
}

fn breaker(slow: Duration) -> BreakerConfig {
    BreakerConfig {
        window: Window::Time {
            size: Duration::from_secs(2),
            buckets: 4,
        },
        failure_rate_pct: 50,
        slow_call_rate_pct: 50,
        slow_call: slow,
        minimum_calls: 10,
        wait_in_open: WAIT_IN_OPEN,
        half_open_probes: 3,
        probe_timeout: Duration::from_millis(500),
    }
}

/// The protected configurations: (web → order core, web → order stock, order → inventory).
fn protected() -> (StackConfig, StackConfig, StackConfig) {
    let core = StackConfig {
        breaker: Some(breaker(Duration::from_millis(300))),
        bulkhead: Some(20),
        deadline: Some(Duration::from_millis(400)),
        attempt_timeout: Some(Duration::from_millis(200)),
        retry: Some(testbed_distributed::client::RetryConfig {
            max_attempts: 2,
            backoff: Backoff {
                base: Duration::from_millis(5),
                cap: Duration::from_millis(50),
                growth: Growth::Exponential,
                jitter: Jitter::Full,
            },
            budget: Some((100, 5, Duration::from_secs(10))),
        }),
        ..StackConfig::PASSTHROUGH
    };
    let stock = StackConfig {
        breaker: Some(breaker(Duration::from_millis(100))),
        bulkhead: Some(8),
        deadline: Some(Duration::from_millis(150)),
        ..StackConfig::PASSTHROUGH
    };
    let inventory = StackConfig {
        breaker: Some(breaker(Duration::from_millis(60))),
        bulkhead: Some(6),
        deadline: Some(Duration::from_millis(80)),
        ..StackConfig::PASSTHROUGH
    };
    (core, stock, inventory)
}

/// What users saw, per endpoint.
#[derive(Default)]
struct Seen {
    core: Windows,
    stock: Windows,
    /// Stock answers that came from inventory (not a fallback), per window.
    stock_primary: Windows,
}

struct Variant {
    seen: Seen,
    web_peak: u32,
    order_peak: u32,
    web_core: Client,
    web_stock: Client,
    order_inventory: Client,
    run: Result<testbed_sim::Report, testbed_sim::SimError>,
    hash: u64,
}

fn server_on<F, Fut>(sim: &mut Sim, name: &str, make: F) -> SocketAddr
where
    F: Fn(Host) -> Fut + 'static,
    Fut: std::future::Future<Output = RpcServer> + 'static,
{
    let h = sim.host(name, move |h| {
        let server = make(h.clone());
        async move {
            let l = h
                .listen(SocketAddr::from(([0, 0, 0, 0], PORT)))
                .expect("fresh host");
            serve(h, l, Rc::new(server.await)).await
        }
    });
    SocketAddr::new(h.ip(), PORT)
}

fn run_variant(ctx: &RunCtx<'_>, protect: bool) -> Variant {
    let p: &Params = &ctx.params;
    let (rate, workers) = (p.int("rate"), p.int("workers") as u32);
    let (slow_latency, user_timeout) = (p.duration("slow_latency"), p.duration("user_timeout"));
    let cfg = SimConfig {
        default_link: LinkConfig {
            latency: Latency::Fixed(Duration::from_micros(500)),
            ..LinkConfig::default()
        },
        time_limit: Duration::from_secs(600),
        ..ctx.sim_config()
    };
    let mut sim = Sim::new(cfg);
    let (core_cfg, stock_cfg, inv_cfg) = if protect {
        protected()
    } else {
        let none = StackConfig::PASSTHROUGH;
        (none, none, none)
    };
    let seed = |label: &str| testbed_model::rng::derive_seed(ctx.seed, label);

    let inventory = server_on(&mut sim, "inventory", move |h| async move {
        RpcServer::new().register::<Check, _, _>(move |item: u64| {
            let h = h.clone();
            async move {
                let now = h.now().since_epoch();
                let slow = (SLOW_AT..HEAL_AT).contains(&now);
                h.sleep(if slow {
                    slow_latency
                } else {
                    Duration::from_millis(5)
                })
                .await;
                Ok((item % 17) as u32 + 1)
            }
        })
    });

    let order_inventory = stack(inv_cfg, inventory, seed("order->inventory"));
    let order_pool = Workers::new(workers);
    let (oi, op) = (order_inventory.clone(), order_pool.clone());
    let order = server_on(&mut sim, "order", move |h| {
        let (oi, op, conns) = (oi.clone(), op.clone(), Conns::default());
        async move {
            let (h2, op2) = (h.clone(), op.clone());
            RpcServer::new()
                .register::<Details, _, _>(move |id: u64| {
                    let (h, op) = (h2.clone(), op2.clone());
                    async move {
                        let work = {
                            let h = h.clone();
                            async move {
                                h.sleep(Duration::from_millis(3)).await;
                                format!("order {id}: 2 items, paid")
                            }
                        };
                        op.blocking(&h, work)
                            .await
                            .ok_or_else(|| internal("cancelled"))
                    }
                })
                .register::<Stock, _, _>(move |item: u64| {
                    let (h, oi, op, conns) = (h.clone(), oi.clone(), op.clone(), conns.clone());
                    async move {
                        let h2 = h.clone();
                        let work = async move {
                            let send = |_, addr, dl| {
                                let (h, conns) = (h2.clone(), conns.clone());
                                async move { conns.call::<Check, _>(&h, addr, &item, dl).await }
                            };
                            if protect {
                                // Seed §4.5 Q2 step 4: a default stock when inventory fails.
                                let (n, served) =
                                    call_or_fallback(&h2, &oi, item, send, |_| 1).await;
                                Ok((n, served == Served::Fallback))
                            } else {
                                call(&h2, &oi, item, send)
                                    .await
                                    .map(|n| (n, false))
                                    .map_err(internal)
                            }
                        };
                        op.blocking(&h, work)
                            .await
                            .unwrap_or_else(|| Err(internal("cancelled")))
                    }
                })
        }
    });

    let web_core = stack(core_cfg, order, seed("web->order:core"));
    let web_stock = stack(stock_cfg, order, seed("web->order:stock"));
    let web_pool = Workers::new(workers);
    let (wc, ws, wp) = (web_core.clone(), web_stock.clone(), web_pool.clone());
    let web = server_on(&mut sim, "web", move |h| {
        let (wc, ws, wp, conns) = (wc.clone(), ws.clone(), wp.clone(), Conns::default());
        async move {
            let (h2, wp2, conns2) = (h.clone(), wp.clone(), conns.clone());
            RpcServer::new()
                .register::<WebCore, _, _>(move |id: u64| {
                    let (h, wc, wp, conns) = (h2.clone(), wc.clone(), wp2.clone(), conns2.clone());
                    async move {
                        let h2 = h.clone();
                        let work = async move {
                            let send = |_, addr, dl| {
                                let (h, conns) = (h2.clone(), conns.clone());
                                async move { conns.call::<Details, _>(&h, addr, &id, dl).await }
                            };
                            call(&h2, &wc, id, send).await.map_err(internal)
                        };
                        wp.blocking(&h, work)
                            .await
                            .unwrap_or_else(|| Err(internal("cancelled")))
                    }
                })
                .register::<WebStock, _, _>(move |item: u64| {
                    let (h, ws, wp, conns) = (h.clone(), ws.clone(), wp.clone(), conns.clone());
                    async move {
                        let h2 = h.clone();
                        let work = async move {
                            let send = |_, addr, dl| {
                                let (h, conns) = (h2.clone(), conns.clone());
                                async move { conns.call::<Stock, _>(&h, addr, &item, dl).await }
                            };
                            if protect {
                                let (v, served) =
                                    call_or_fallback(&h2, &ws, item, send, |_| (1, true)).await;
                                Ok((v.0, v.1 || served == Served::Fallback))
                            } else {
                                call(&h2, &ws, item, send).await.map_err(internal)
                            }
                        };
                        wp.blocking(&h, work)
                            .await
                            .unwrap_or_else(|| Err(internal("cancelled")))
                    }
                })
        }
    });

    let seen = Rc::new(RefCell::new(Seen {
        core: Windows::new(Duration::from_millis(500)),
        stock: Windows::new(Duration::from_millis(500)),
        stock_primary: Windows::new(Duration::from_millis(500)),
    }));
    let users = 4u64;
    for u in 0..users {
        let seen = seen.clone();
        sim.client(&format!("user-{u}"), move |h| async move {
            let conn = Rc::new(
                RpcClient::connect(&h, web, testbed_protocols::rpc::CodecId::Binary)
                    .await
                    .map_err(|e| e.to_string())?,
            );
            let mut rng = h.rng();
            let gap_mean_ns = 1_000_000_000 * users / rate;
            let mut tasks = Vec::new();
            let mut i = 0u64;
            while h.now().since_epoch() < END {
                let gap = Duration::from_nanos(rng.range_inclusive(0, 2 * gap_mean_ns));
                h.sleep(gap).await;
                i += 1;
                let (h2, conn, seen) = (h.clone(), conn.clone(), seen.clone());
                let core = rng.chance(0.5);
                tasks.push(h.spawn(async move {
                    let t0 = h2.now();
                    if core {
                        let r = conn.call::<WebCore, _>(&h2, &i, user_timeout).await;
                        seen.borrow_mut().core.record(t0, r.is_ok());
                    } else {
                        let r = conn.call::<WebStock, _>(&h2, &i, user_timeout).await;
                        let mut s = seen.borrow_mut();
                        s.stock.record(t0, r.is_ok());
                        s.stock_primary.record(t0, matches!(r, Ok((_, false))));
                    }
                }));
            }
            for t in tasks {
                let _ = t.await;
            }
            Ok(())
        });
    }
    let run = sim.run();
    let hash = sim.trace_hash();
    let seen = std::mem::take(&mut *seen.borrow_mut());
    Variant {
        seen,
        web_peak: web_pool.peak(),
        order_peak: order_pool.peak(),
        web_core,
        web_stock,
        order_inventory,
        run,
        hash,
    }
}

fn internal<E: std::fmt::Display>(e: E) -> testbed_protocols::rpc::ServerError {
    testbed_protocols::rpc::ServerError {
        code: testbed_protocols::rpc::ErrorCode::Internal,
        message: e.to_string(),
    }
}

fn at(d: Duration) -> Instant {
    Instant::ZERO + d
}

/// Rates measured in one variant.
struct Rates {
    core_fault: f64,
    stock_fault: f64,
    stock_primary_fault: f64,
    core_after: f64,
    stock_primary_after: f64,
}

fn rates(s: &Seen) -> Rates {
    let (f0, f1) = (at(SLOW_AT), at(HEAL_AT));
    let live = at(HEAL_AT + WAIT_IN_OPEN + Duration::from_secs(1));
    Rates {
        core_fault: s.core.rate(f0, f1),
        stock_fault: s.stock.rate(f0, f1),
        stock_primary_fault: s.stock_primary.rate(f0, f1),
        core_after: s.core.rate(live, at(END)),
        stock_primary_after: s.stock_primary.rate(live, at(END)),
    }
}

fn variant_metrics(v: &Variant, r: &Rates, workers: u32) -> Map<String, serde_json::Value> {
    let mut m = Map::new();
    m.insert("core_success_fault".into(), round4(r.core_fault).into());
    m.insert("stock_answered_fault".into(), round4(r.stock_fault).into());
    m.insert(
        "stock_from_inventory_fault".into(),
        round4(r.stock_primary_fault).into(),
    );
    m.insert("core_success_after".into(), round4(r.core_after).into());
    m.insert(
        "stock_from_inventory_after".into(),
        round4(r.stock_primary_after).into(),
    );
    m.insert(
        "core_success_overall".into(),
        round4(v.seen.core.rate(at(Duration::ZERO), at(END))).into(),
    );
    m.insert("web_workers_peak".into(), v.web_peak.into());
    m.insert("order_workers_peak".into(), v.order_peak.into());
    m.insert("workers".into(), workers.into());
    m.insert("core_series".into(), v.seen.core.series());
    m.insert("stock_answered_series".into(), v.seen.stock.series());
    m.insert(
        "stock_from_inventory_series".into(),
        v.seen.stock_primary.series(),
    );
    m.insert(
        "client_web_order_core".into(),
        metrics_json(v.web_core.borrow().metrics()),
    );
    m.insert(
        "client_web_order_stock".into(),
        metrics_json(v.web_stock.borrow().metrics()),
    );
    m.insert(
        "client_order_inventory".into(),
        metrics_json(v.order_inventory.borrow().metrics()),
    );
    m
}

impl Scenario for Avalanche {
    fn name(&self) -> &'static str {
        "avalanche"
    }
    fn summary(&self) -> &'static str {
        "web → order → inventory, inventory turns slow: without protection every endpoint collapses; with deadlines, breakers, bulkheads and fallbacks the core endpoint stays ≥ 95%"
    }
    fn params(&self) -> &'static [ParamSpec] {
        PARAMS
    }
    fn backends(&self) -> &'static [Backend] {
        &[Backend::Sim]
    }
    fn run(&self, ctx: &RunCtx<'_>) -> Result<Outcome, RunError> {
        let mut out = Outcome::start(self.name(), ctx);
        let workers = ctx.params.int("workers") as u32;
        let mode = ctx.params.choice("protect");
        let mut runs = Vec::new();
        let mut measured: Vec<(bool, Rates)> = Vec::new();
        let mut web_peaks = Vec::new();
        let mut timelines = None;
        for (name, protect) in [("unprotected", false), ("protected", true)] {
            if mode == "both" || mode == protect.to_string() {
                let v = run_variant(ctx, protect);
                let r = rates(&v.seen);
                let metrics = variant_metrics(&v, &r, workers);
                web_peaks.push(v.web_peak);
                if protect {
                    timelines = Some(json!({
                        "order->inventory": breaker_timeline_ms(v.order_inventory.borrow().metrics()),
                        "web->order (stock)": breaker_timeline_ms(v.web_stock.borrow().metrics()),
                        "web->order (core)": breaker_timeline_ms(v.web_core.borrow().metrics()),
                    }));
                }
                runs.push(VariantRun {
                    name,
                    run: v.run,
                    hash: v.hash,
                    metrics,
                });
                measured.push((protect, r));
            }
        }
        record_variants(&mut out, runs);
        if let Some(t) = timelines {
            // The protected run's breakers, for the report's plot: [[t_ms, state], ...].
            out.metric("breaker_timeline", t);
        }
        for (protect, r) in &measured {
            if *protect {
                out.invariants.push(Invariant::check(
                    "protected_core_at_least_95pct",
                    r.core_fault >= 0.95,
                    format!(
                        "core endpoint success {:.3} while inventory was slow",
                        r.core_fault
                    ),
                ));
                out.invariants.push(Invariant::check(
                    "protected_stock_degrades_to_fallback",
                    r.stock_fault >= 0.95 && r.stock_primary_fault <= 0.5,
                    format!(
                        "stock answered {:.3}, of which from inventory {:.3} (the rest fallback data)",
                        r.stock_fault, r.stock_primary_fault
                    ),
                ));
                out.invariants.push(Invariant::check(
                    "protected_recovers_within_bound",
                    r.core_after >= 0.95 && r.stock_primary_after >= 0.95,
                    format!(
                        "from heal + {:?} on: core {:.3}, stock from inventory {:.3}",
                        WAIT_IN_OPEN + Duration::from_secs(1),
                        r.core_after,
                        r.stock_primary_after
                    ),
                ));
            } else {
                out.invariants.push(Invariant::check(
                    "unprotected_collapses_for_every_endpoint",
                    r.core_fault < 0.5 && r.stock_fault < 0.5,
                    format!(
                        "while inventory was slow: core {:.3}, stock {:.3}",
                        r.core_fault, r.stock_fault
                    ),
                ));
            }
        }
        if let [(false, u), (true, p)] = &measured[..] {
            let (uw, pw) = (web_peaks[0], web_peaks[1]);
            out.metric(
                "claims",
                json!([
                    claim(
                        "avalanche.cascade",
                        "4.5 Q2",
                        "a slow inventory service ties up order's threads, then web's, and every request fails",
                        "the whole system fails",
                        format!("core {:.3}, stock {:.3}; web workers peak {uw}/{workers}", u.core_fault, u.stock_fault),
                        "success rate while inventory is slow, without protection",
                        u.core_fault < 0.5 && u.stock_fault < 0.5 && uw == workers,
                        "thread-per-request servers; users give up after user_timeout".into(),
                    ),
                    claim(
                        "avalanche.protection",
                        "4.5 Q2",
                        "breakers, timeouts, isolation (a few threads per dependency) and fallbacks keep the main flow available",
                        "main flow available",
                        format!("core {:.3} (unprotected {:.3}); stock answered {:.3}, from inventory {:.3}; web workers peak {pw}/{workers}", p.core_fault, u.core_fault, p.stock_fault, p.stock_primary_fault),
                        "success rate while inventory is slow, with protection",
                        p.core_fault >= 0.95 && p.stock_fault >= 0.95,
                        "stock answered with fallback data while the breaker is open".into(),
                    ),
                ]),
            );
            out.metric(
                "core_success_fault",
                json!({"unprotected": round4(u.core_fault), "protected": round4(p.core_fault)}),
            );
            out.invariants.push(Invariant::check(
                "protection_makes_the_difference",
                p.core_fault - u.core_fault >= 0.45,
                format!(
                    "core success {:.3} protected vs {:.3} unprotected",
                    p.core_fault, u.core_fault
                ),
            ));
        }
        Ok(out)
    }
}
