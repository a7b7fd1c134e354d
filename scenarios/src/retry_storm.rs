//! `retry-storm` (网络编程进阶主题 §4.5 Q2 step 6, "limit retries"): clients call a service of a few
//! instances, each with a finite CPU. During a partial outage every backend request fails
//! with probability `fail_rate`. Two variants per seed:
//!
//! - **naive**: up to `max_attempts` attempts, retried at once, no budget: every failure
//!   becomes another request, load on the backend multiplies (measured as backend requests /
//!   client calls over the outage) and the extra load queues on the CPUs;
//! - **budget**: the same attempts with jittered exponential backoff under a retry budget
//!   (10% of calls plus 1 retry/s): amplification stays ≤ 1.2×.
//!
//! Liveness: after the outage ends, the budgeted clients' success rate is back ≥ 99% within
//! one second (the bound), and stays there to the end.

use crate::client_common::{claim, metrics_json, round4, Conns, Windows};
use crate::ddos_common::{record_variants, Cpu, VariantRun};
use crate::outcome::{Invariant, Outcome};
use crate::params::{Kind, ParamSpec, Params};
use crate::scenario::{Backend, RunCtx, RunError, Scenario};
use serde_json::{json, Map};
use std::cell::RefCell;
use std::net::SocketAddr;
use std::rc::Rc;
use testbed_distributed::balance::PowerOfTwo;
use testbed_distributed::client::{call, Instance, RetryConfig, Stack, StackConfig, StaticResolve};
use testbed_distributed::retry::{Backoff, Growth, Jitter};
use testbed_model::{Duration, Instant, Net, Rng, Runtime};
use testbed_protocols::rpc::{serve, ErrorCode, Method, RpcServer, ServerError};
use testbed_sim::{Latency, LinkConfig, Sim, SimConfig};

/// The scenario.
pub struct RetryStorm;

const PORT: u16 = 7000;
const OUTAGE_AT: Duration = Duration::from_secs(2);
const HEAL_AT: Duration = Duration::from_secs(6);
const END: Duration = Duration::from_secs(9);
/// Liveness bound: success is back this long after the outage ends.
const BOUND: Duration = Duration::from_secs(1);

const PARAMS: &[ParamSpec] = &[
    ParamSpec {
        name: "retries",
        default: "both",
        kind: Kind::Choice(&["both", "naive", "budget"]),
        help: "which retry policy to run (both: compare)",
    },
    ParamSpec {
        name: "rate",
        default: "200",
        kind: Kind::Int { min: 1, max: 5000 },
        help: "client calls per second (all clients)",
    },
    ParamSpec {
        name: "instances",
        default: "3",
        kind: Kind::Int { min: 1, max: 32 },
        help: "backend instances",
    },
    ParamSpec {
        name: "fail_rate",
        default: "0.8",
        kind: Kind::Real { min: 0.0, max: 1.0 },
        help: "probability a backend request fails during the outage",
    },
    ParamSpec {
        name: "max_attempts",
        default: "10",
        kind: Kind::Int { min: 1, max: 100 },
        help: "attempts per call, the first included",
    },
    ParamSpec {
        name: "cost",
        default: "2ms",
        kind: Kind::Duration,
        help: "backend CPU time per request (one at a time per instance)",
    },
];

struct Work;
impl Method for Work {
    const ID: u32 = 30;
    const NAME: &'static str = "work";
    type Req = u64;
    type Resp = u64;
}

fn config(budget: bool, max_attempts: u32) -> StackConfig {
    let backoff = if budget {
        Backoff {
            base: Duration::from_millis(5),
            cap: Duration::from_millis(100),
            growth: Growth::Exponential,
            jitter: Jitter::Full,
        }
    } else {
        Backoff {
            base: Duration::ZERO,
            cap: Duration::ZERO,
            growth: Growth::Constant,
            jitter: Jitter::None,
        }
    };
    StackConfig {
        deadline: Some(Duration::from_secs(2)),
        attempt_timeout: Some(Duration::from_millis(500)),
        retry: Some(RetryConfig {
            max_attempts,
            backoff,
            budget: budget.then_some((100, 1, Duration::from_secs(10))),
        }),
        ..StackConfig::PASSTHROUGH
    }
}

type Client = Rc<RefCell<Stack<PowerOfTwo, StaticResolve>>>;

struct Variant {
    backend: Windows,
    calls: Windows,
    stack: Client,
    run: Result<testbed_sim::Report, testbed_sim::SimError>,
    hash: u64,
}

fn run_variant(ctx: &RunCtx<'_>, budget: bool) -> Variant {
    let p: &Params = &ctx.params;
    let (rate, n) = (p.int("rate"), p.int("instances") as u32);
    let (fail_rate, cost) = (p.real("fail_rate"), p.duration("cost"));
    let cfg = SimConfig {
        default_link: LinkConfig {
            latency: Latency::Fixed(Duration::from_micros(500)),
            ..LinkConfig::default()
        },
        time_limit: Duration::from_secs(600),
        ..ctx.sim_config()
    };
    let mut sim = Sim::new(cfg);
    let window = Duration::from_millis(250);
    let backend = Rc::new(RefCell::new(Windows::new(window)));
    let mut instances = Vec::new();
    for i in 0..n {
        let backend = backend.clone();
        let h = sim.host(&format!("backend-{i}"), move |h| {
            let (cpu, backend) = (Cpu::default(), backend.clone());
            async move {
                let l = h
                    .listen(SocketAddr::from(([0, 0, 0, 0], PORT)))
                    .expect("fresh host");
                let rng = RefCell::new(h.rng());
                let h2 = h.clone();
                let server = RpcServer::new().register::<Work, _, _>(move |x: u64| {
                    let (h, cpu) = (h2.clone(), cpu.clone());
                    let now = h.now();
                    let outage = (OUTAGE_AT..HEAL_AT).contains(&now.since_epoch());
                    let fail = outage && rng.borrow_mut().chance(fail_rate);
                    backend.borrow_mut().record(now, !fail);
                    async move {
                        cpu.work(&h, cost).await;
                        if fail {
                            Err(ServerError {
                                code: ErrorCode::Other(503),
                                message: "dependency unavailable".into(),
                            })
                        } else {
                            Ok(x)
                        }
                    }
                });
                serve(h, l, Rc::new(server)).await
            }
        });
        instances.push(Instance {
            id: i,
            addr: SocketAddr::new(h.ip(), PORT),
            weight: 1,
        });
    }
    let stack: Client = Rc::new(RefCell::new(Stack::new(
        config(budget, p.int("max_attempts") as u32),
        StaticResolve::new(instances),
        PowerOfTwo::new(),
        testbed_model::rng::derive_seed(ctx.seed, "retry-storm:client"),
    )));
    let calls = Rc::new(RefCell::new(Windows::new(window)));
    let clients = 4u64;
    for c in 0..clients {
        let (stack, calls) = (stack.clone(), calls.clone());
        sim.client(&format!("client-{c}"), move |h| async move {
            let (conns, mut rng) = (Conns::default(), h.rng());
            let gap_mean_ns = 1_000_000_000 * clients / rate;
            let mut tasks = Vec::new();
            let mut i = 0;
            while h.now().since_epoch() < END {
                h.sleep(Duration::from_nanos(
                    rng.range_inclusive(0, 2 * gap_mean_ns),
                ))
                .await;
                i += 1;
                let (h2, stack, calls, conns) =
                    (h.clone(), stack.clone(), calls.clone(), conns.clone());
                tasks.push(h.spawn(async move {
                    let t0 = h2.now();
                    let send = |_, addr, dl| {
                        let (h, conns) = (h2.clone(), conns.clone());
                        async move { conns.call::<Work, _>(&h, addr, &i, dl).await }
                    };
                    let r = call(&h2, &stack, i, send).await;
                    calls.borrow_mut().record(t0, r == Ok(i));
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
    let backend = std::mem::take(&mut *backend.borrow_mut());
    let calls = std::mem::take(&mut *calls.borrow_mut());
    Variant {
        backend,
        calls,
        stack,
        run,
        hash,
    }
}

fn at(d: Duration) -> Instant {
    Instant::ZERO + d
}

struct Measured {
    amplification: f64,
    amplification_before: f64,
    success_outage: f64,
    success_after: f64,
}

fn measure(v: &Variant) -> Measured {
    let amp = |from, to| {
        let (_, backend) = v.backend.between(at(from), at(to));
        let (_, calls) = v.calls.between(at(from), at(to));
        backend as f64 / calls.max(1) as f64
    };
    Measured {
        amplification: amp(OUTAGE_AT, HEAL_AT),
        amplification_before: amp(Duration::ZERO, OUTAGE_AT),
        success_outage: v.calls.rate(at(OUTAGE_AT), at(HEAL_AT)),
        success_after: v.calls.rate(at(HEAL_AT + BOUND), at(END)),
    }
}

impl Scenario for RetryStorm {
    fn name(&self) -> &'static str {
        "retry-storm"
    }
    fn summary(&self) -> &'static str {
        "a partial outage: naive retries multiply backend load; a retry budget keeps amplification ≤ 1.2× and the system recovers"
    }
    fn params(&self) -> &'static [ParamSpec] {
        PARAMS
    }
    fn backends(&self) -> &'static [Backend] {
        &[Backend::Sim]
    }
    fn run(&self, ctx: &RunCtx<'_>) -> Result<Outcome, RunError> {
        let mut out = Outcome::start(self.name(), ctx);
        let mode = ctx.params.choice("retries");
        let mut runs = Vec::new();
        let mut measured = Vec::new();
        for (name, budget) in [("naive", false), ("budget", true)] {
            if mode != "both" && mode != name {
                continue;
            }
            let v = run_variant(ctx, budget);
            let m = measure(&v);
            let mut metrics = Map::new();
            metrics.insert("amplification".into(), round4(m.amplification).into());
            metrics.insert(
                "amplification_before_outage".into(),
                round4(m.amplification_before).into(),
            );
            metrics.insert("success_outage".into(), round4(m.success_outage).into());
            metrics.insert("success_after".into(), round4(m.success_after).into());
            metrics.insert("backend_series".into(), v.backend.series());
            metrics.insert("client_success_series".into(), v.calls.series());
            metrics.insert("client".into(), metrics_json(v.stack.borrow().metrics()));
            runs.push(VariantRun {
                name,
                run: v.run,
                hash: v.hash,
                metrics,
            });
            measured.push((budget, m));
        }
        record_variants(&mut out, runs);
        for (budget, m) in &measured {
            if *budget {
                out.invariants.push(Invariant::check(
                    "budget_amplification_at_most_1_2",
                    m.amplification <= 1.2,
                    format!(
                        "backend requests / client calls during the outage: {:.3}",
                        m.amplification
                    ),
                ));
                out.invariants.push(Invariant::check(
                    "budget_recovers_within_bound",
                    m.success_after >= 0.99,
                    format!(
                        "success {:.4} from {:?} after the outage to the end",
                        m.success_after, BOUND
                    ),
                ));
            } else {
                out.invariants.push(Invariant::check(
                    "naive_retries_amplify",
                    m.amplification >= 2.0,
                    format!(
                        "backend requests / client calls during the outage: {:.3}",
                        m.amplification
                    ),
                ));
            }
        }
        if let [(false, n), (true, b)] = &measured[..] {
            out.metric(
                "claims",
                json!([claim(
                    "retry.unbounded-amplifies",
                    "4.5 Q2",
                    "unbounded retries make an avalanche worse (more requests); limit the retries",
                    "more requests",
                    format!("{:.2}x naive vs {:.2}x with a retry budget", n.amplification, b.amplification),
                    "backend requests ÷ client calls during the outage",
                    n.amplification >= 2.0 && b.amplification <= 1.2,
                    format!("{} attempts at most per call in both; the budget allows 10% of calls plus 1 retry/s", ctx.params.int("max_attempts")),
                )]),
            );
            out.metric(
                "amplification",
                json!({"naive": round4(n.amplification), "budget": round4(b.amplification)}),
            );
        }
        Ok(out)
    }
}
