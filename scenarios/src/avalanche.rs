//! `avalanche` (网络编程进阶主题 §4.5 Q2): users → web → order → inventory over the RPC framework;
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
//!
//! The servers and users are generic over model's runtime (`workload`). On `--backend kernel`
//! (feature `etcd`) they run on loopback sockets with a real etcd as service discovery and
//! shortened phases (see `real`); the same invariants apply.

use crate::client_common::{
    breaker_timeline_ms_since, claim, metrics_json_since, round4, Windows, Workers,
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
use testbed_distributed::client::{Instance, Metrics, Resolve, Stack, StackConfig, StaticResolve};
use testbed_distributed::retry::{Backoff, Growth, Jitter};
use testbed_model::{Duration, Instant, Net};
use testbed_protocols::rpc::{serve, Method, RpcServer};
use testbed_sim::{Host, Latency, LinkConfig, Sim, SimConfig};
use workload::{Client, Load, Phases};

#[cfg(feature = "etcd")]
mod real;
mod workload;

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
/// The simulator's phases (time starts at the load's start).
const SIM_PHASES: Phases = Phases {
    origin: Instant::ZERO,
    slow_at: SLOW_AT,
    heal_at: HEAL_AT,
    end: END,
};
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

fn stack<R: Resolve>(cfg: StackConfig, r: R, seed: u64) -> Client<R> {
    Rc::new(RefCell::new(Stack::new(cfg, r, RoundRobin::new(), seed)))
}

fn static_stack(cfg: StackConfig, addr: SocketAddr, seed: u64) -> Client<StaticResolve> {
    let r = StaticResolve::new([Instance {
        id: 1,
        addr,
        weight: 1,
    }]);
    stack(cfg, r, seed)
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

impl Seen {
    /// Tallies in 500 ms windows.
    fn new() -> Seen {
        let w = || Windows::new(Duration::from_millis(500));
        Seen {
            core: w(),
            stock: w(),
            stock_primary: w(),
        }
    }
}

struct Variant {
    seen: Seen,
    web_peak: u32,
    order_peak: u32,
    web_core: Metrics,
    web_stock: Metrics,
    order_inventory: Metrics,
    /// The load's start on the runtime's clock (breaker timelines are shown relative to it).
    origin: Instant,
}

impl Variant {
    fn new<R: Resolve>(
        seen: Seen,
        pools: (&Workers, &Workers),
        clients: [&Client<R>; 3],
        origin: Instant,
    ) -> Variant {
        let m = |c: &Client<R>| c.borrow().metrics().clone();
        Variant {
            seen,
            web_peak: pools.0.peak(),
            order_peak: pools.1.peak(),
            web_core: m(clients[0]),
            web_stock: m(clients[1]),
            order_inventory: m(clients[2]),
            origin,
        }
    }

    fn timelines(&self) -> serde_json::Value {
        json!({
            "order->inventory": breaker_timeline_ms_since(&self.order_inventory, self.origin),
            "web->order (stock)": breaker_timeline_ms_since(&self.web_stock, self.origin),
            "web->order (core)": breaker_timeline_ms_since(&self.web_core, self.origin),
        })
    }
}

/// The client configurations (web → order core, web → order stock, order → inventory).
fn configs(protect: bool) -> (StackConfig, StackConfig, StackConfig) {
    if protect {
        protected()
    } else {
        let none = StackConfig::PASSTHROUGH;
        (none, none, none)
    }
}

fn load(p: &Params) -> Load {
    Load {
        users: 4,
        rate: p.int("rate"),
        user_timeout: p.duration("user_timeout"),
    }
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

fn run_variant(ctx: &RunCtx<'_>, protect: bool) -> (Variant, VariantRun) {
    let p: &Params = &ctx.params;
    let workers = p.int("workers") as u32;
    let slow_latency = p.duration("slow_latency");
    let cfg = SimConfig {
        default_link: LinkConfig {
            latency: Latency::Fixed(Duration::from_micros(500)),
            ..LinkConfig::default()
        },
        time_limit: Duration::from_secs(600),
        ..ctx.sim_config()
    };
    let mut sim = Sim::new(cfg);
    let (core_cfg, stock_cfg, inv_cfg) = configs(protect);
    let seed = |label: &str| testbed_model::rng::derive_seed(ctx.seed, label);
    let ph = SIM_PHASES;

    let inventory = server_on(&mut sim, "inventory", move |h| async move {
        workload::inventory(h, ph, slow_latency)
    });

    let order_inventory = static_stack(inv_cfg, inventory, seed("order->inventory"));
    let order_pool = Workers::new(workers);
    let (oi, op) = (order_inventory.clone(), order_pool.clone());
    let order = server_on(&mut sim, "order", move |h| {
        let (oi, op) = (oi.clone(), op.clone());
        async move { workload::order(h, oi, op, protect) }
    });

    let web_core = static_stack(core_cfg, order, seed("web->order:core"));
    let web_stock = static_stack(stock_cfg, order, seed("web->order:stock"));
    let web_pool = Workers::new(workers);
    let (wc, ws, wp) = (web_core.clone(), web_stock.clone(), web_pool.clone());
    let web = server_on(&mut sim, "web", move |h| {
        let (wc, ws, wp) = (wc.clone(), ws.clone(), wp.clone());
        async move { workload::web(h, wc, ws, wp, protect) }
    });

    let seen = Rc::new(RefCell::new(Seen::new()));
    let load = load(p);
    for u in 0..load.users {
        let seen = seen.clone();
        sim.client(&format!("user-{u}"), move |h| async move {
            Ok(workload::user(h, web, load, ph, seen).await?)
        });
    }
    let run = sim.run();
    let hash = sim.trace_hash();
    let seen = std::mem::take(&mut *seen.borrow_mut());
    let v = Variant::new(
        seen,
        (&web_pool, &order_pool),
        [&web_core, &web_stock, &order_inventory],
        Instant::ZERO,
    );
    let run = VariantRun {
        name: if protect { "protected" } else { "unprotected" },
        run,
        hash,
        metrics: variant_metrics(&v, &rates(&v.seen, &ph), &ph, workers),
    };
    (v, run)
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

fn rates(s: &Seen, ph: &Phases) -> Rates {
    let (f0, f1) = (at(ph.slow_at), at(ph.heal_at));
    let live = at(ph.heal_at + WAIT_IN_OPEN + Duration::from_secs(1));
    Rates {
        core_fault: s.core.rate(f0, f1),
        stock_fault: s.stock.rate(f0, f1),
        stock_primary_fault: s.stock_primary.rate(f0, f1),
        core_after: s.core.rate(live, at(ph.end)),
        stock_primary_after: s.stock_primary.rate(live, at(ph.end)),
    }
}

fn variant_metrics(
    v: &Variant,
    r: &Rates,
    ph: &Phases,
    workers: u32,
) -> Map<String, serde_json::Value> {
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
        round4(v.seen.core.rate(at(Duration::ZERO), at(ph.end))).into(),
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
        metrics_json_since(&v.web_core, v.origin),
    );
    m.insert(
        "client_web_order_stock".into(),
        metrics_json_since(&v.web_stock, v.origin),
    );
    m.insert(
        "client_order_inventory".into(),
        metrics_json_since(&v.order_inventory, v.origin),
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
        &[Backend::Sim, Backend::Kernel]
    }
    fn run(&self, ctx: &RunCtx<'_>) -> Result<Outcome, RunError> {
        let mut out = Outcome::start(self.name(), ctx);
        let workers = ctx.params.int("workers") as u32;
        let mode = ctx.params.choice("protect");
        let protects: Vec<bool> = [false, true]
            .into_iter()
            .filter(|p| mode == "both" || mode == p.to_string())
            .collect();
        let (variants, ph): (Vec<(bool, Variant)>, Phases) = match ctx.backend {
            Backend::Sim => {
                let mut runs = Vec::new();
                let mut variants = Vec::new();
                for protect in protects {
                    let (v, run) = run_variant(ctx, protect);
                    runs.push(run);
                    variants.push((protect, v));
                }
                record_variants(&mut out, runs);
                (variants, SIM_PHASES)
            }
            #[cfg(feature = "etcd")]
            _ => real::run(ctx, &protects, &mut out)?,
            #[cfg(not(feature = "etcd"))]
            other => {
                return Err(RunError::NeedsFeature {
                    what: format!(
                        "avalanche on --backend {other} (a real etcd for service discovery)"
                    ),
                    feature: "etcd",
                    needs: "protoc to build: apt-get install protobuf-compiler; etcd to run: apt-get install etcd-server",
                })
            }
        };
        let mut measured: Vec<(bool, Rates)> = Vec::new();
        let mut web_peaks = Vec::new();
        for (protect, v) in &variants {
            web_peaks.push(v.web_peak);
            if *protect {
                // The protected run's breakers, for the report's plot: [[t_ms, state], ...].
                out.metric("breaker_timeline", v.timelines());
            }
            measured.push((*protect, rates(&v.seen, &ph)));
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
            let mut claims = json!([
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
                ]);
            if !matches!(ctx.backend, Backend::Sim) {
                for c in claims.as_array_mut().into_iter().flatten() {
                    c["backend"] = ctx.backend.to_string().into();
                }
            }
            out.metric("claims", claims);
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
