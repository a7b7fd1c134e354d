//! `degrade` (网络编程进阶主题 §5.4): a product-detail service with a core part (product info, served
//! locally) and two optional dependencies — reviews and recommendations — under rising load
//! and then dependency errors. The service's level follows the seed's rule: **critical** when
//! CPU > 90% or errors > 50%, **degraded** when CPU > 70% or errors > 20%, else **normal**
//! (CPU here is offered load ÷ capacity; errors are the dependencies' failure rate, both over
//! the last second). Entering uses the seed's thresholds; leaving needs signals below 90% of
//! them and a 300 ms hold (hysteresis, so noise cannot flap the level).
//!
//! Per the seed's table: reviews answer "Loading..." once degraded; recommendations answer
//! cached hot products when degraded and are not called when critical; product info is
//! never degraded. While a dependency is not called for real, half of the requests still
//! probe it (answer discarded) so its error rate stays observable.
//!
//! Phases: 40% load; 80% (degraded); 100% (critical); 40% with 70% dependency errors
//! (critical); 40% healthy, where the level must be back to normal within 1.5 s.

use crate::client_common::{claim, metrics_json, round4, Conns};
use crate::outcome::{Invariant, Outcome};
use crate::params::{Kind, ParamSpec, Params};
use crate::scenario::{Backend, RunCtx, RunError, Scenario};
use serde_json::json;
use std::cell::RefCell;
use std::collections::{BTreeMap, VecDeque};
use std::net::SocketAddr;
use std::rc::Rc;
use testbed_distributed::balance::RoundRobin;
use testbed_distributed::client::{
    call, Action, FeaturePolicy, Instance, Stack, StackConfig, StaticResolve,
};
use testbed_distributed::degrade::{Degrader, Level, Signals, Thresholds};
use testbed_model::{Duration, Instant, Net, Rng, Runtime};
use testbed_protocols::rpc::{serve, ErrorCode, Method, RpcClient, RpcServer, ServerError};
use testbed_sim::{Latency, LinkConfig, Sim, SimConfig};

/// The scenario.
pub struct Degrade;

const PORT: u16 = 7000;
const SEC: Duration = Duration::from_secs(1);
/// (start, load fraction, dependency error rate) of each phase.
const PHASES: [(u64, f64, f64); 5] = [
    (0, 0.4, 0.0),
    (2, 0.8, 0.0),
    (4, 1.0, 0.0),
    (6, 0.4, 0.7),
    (8, 0.4, 0.0),
];
const END: Duration = Duration::from_secs(11);
/// Liveness: normal again this long after the faults stop.
const BOUND: Duration = Duration::from_millis(1500);
/// Signals are computed over this window.
const WINDOW: Duration = Duration::from_secs(1);
/// Fraction of requests that probe a dependency that is not being called.
const PROBE: f64 = 0.5;

const PARAMS: &[ParamSpec] = &[ParamSpec {
    name: "capacity",
    default: "400",
    kind: Kind::Int { min: 10, max: 5000 },
    help: "requests per second the product service counts as 100% CPU",
}];

fn phase(t: Duration) -> (f64, f64) {
    let (_, load, err) = PHASES
        .iter()
        .rev()
        .find(|p| t >= Duration::from_secs(p.0))
        .copied()
        .unwrap_or(PHASES[0]);
    (load, err)
}

/// 网络编程进阶主题 §5.4's thresholds: `cpu` in percent (carried in `in_flight`), errors per thousand.
fn thresholds(cpu: u32, err_pct: u32) -> Thresholds {
    Thresholds {
        error_rate_milli: err_pct * 10 + 1,
        latency: Duration::from_secs(3600),
        in_flight: cpu + 1,
        open_breakers: u32::MAX,
    }
}

const REVIEWS: FeaturePolicy = FeaturePolicy::FALLBACK_WHEN_DEGRADED;
const RECS: FeaturePolicy = FeaturePolicy::FALLBACK_THEN_SHED;
const CORE: FeaturePolicy = FeaturePolicy::CORE;

/// One product page (sent as a tuple: see [`Page::wire`]).
#[derive(Clone, Debug)]
struct Page {
    core: String,
    reviews: Option<String>,
    reviews_action: u8,
    recs: Option<String>,
    recs_action: u8,
    level: u8,
}

/// Core, reviews, reviews' action, recommendations, their action, level.
type WirePage = (String, Option<String>, u8, Option<String>, u8, u8);

impl Page {
    fn wire(self) -> WirePage {
        (
            self.core,
            self.reviews,
            self.reviews_action,
            self.recs,
            self.recs_action,
            self.level,
        )
    }
    fn from_wire(w: WirePage) -> Page {
        Page {
            core: w.0,
            reviews: w.1,
            reviews_action: w.2,
            recs: w.3,
            recs_action: w.4,
            level: w.5,
        }
    }
}

fn action_code(a: Action) -> u8 {
    match a {
        Action::Full => 0,
        Action::Fallback => 1,
        Action::Shed => 2,
    }
}

fn level_code(l: Level) -> u8 {
    match l {
        Level::Normal => 0,
        Level::Degraded => 1,
        Level::Critical => 2,
    }
}

const LEVEL_NAMES: [&str; 3] = ["normal", "degraded", "critical"];

struct Detail;
impl Method for Detail {
    const ID: u32 = 50;
    const NAME: &'static str = "product.detail";
    type Req = u64;
    type Resp = WirePage;
}
struct Dep;
impl Method for Dep {
    const ID: u32 = 51;
    const NAME: &'static str = "dependency.get";
    type Req = u64;
    type Resp = String;
}

/// What the product service observes.
#[derive(Default)]
struct Telemetry {
    arrivals: VecDeque<Instant>,
    deps: VecDeque<(Instant, bool)>,
}

impl Telemetry {
    fn signals(&mut self, now: Instant, capacity: u64) -> Signals {
        let from = now.saturating_sub(WINDOW);
        while self.arrivals.front().is_some_and(|t| *t < from) {
            self.arrivals.pop_front();
        }
        while self.deps.front().is_some_and(|d| d.0 < from) {
            self.deps.pop_front();
        }
        let failed = self.deps.iter().filter(|d| !d.1).count() as u64;
        Signals {
            error_rate_milli: (failed * 1000 / (self.deps.len() as u64).max(1)) as u32,
            in_flight: (self.arrivals.len() as u64 * 100 / capacity) as u32,
            ..Signals::default()
        }
    }
}

type Client = Rc<RefCell<Stack<RoundRobin, StaticResolve>>>;

fn dep_stack(addr: SocketAddr, seed: u64) -> Client {
    let cfg = StackConfig {
        deadline: Some(Duration::from_millis(100)),
        ..StackConfig::PASSTHROUGH
    };
    let r = StaticResolve::new([Instance {
        id: 1,
        addr,
        weight: 1,
    }]);
    Rc::new(RefCell::new(Stack::new(cfg, r, RoundRobin::new(), seed)))
}

/// The product service's state.
struct Product {
    level: RefCell<Level>,
    telemetry: RefCell<Telemetry>,
    timeline: RefCell<Vec<(Instant, Level)>>,
    observations: RefCell<Vec<(Instant, Level)>>,
    reviews: Client,
    recs: Client,
}

/// An optional feature: its dependency's client, its policy and its fallback answer.
struct Feature<'a> {
    stack: &'a Client,
    policy: FeaturePolicy,
    fallback: &'static str,
}

/// Calls the feature's dependency per its policy at `level` (or as a `probe`); returns the
/// text shown and the action.
async fn feature<H: Net + Runtime>(
    h: &H,
    p: &Product,
    conns: &Conns,
    f: Feature<'_>,
    level: Level,
    probe: bool,
) -> (Option<String>, Action) {
    let Feature {
        stack,
        policy,
        fallback,
    } = f;
    let action = policy.at(level);
    if action != Action::Full && !probe {
        let shown = (action == Action::Fallback).then(|| fallback.to_string());
        return (shown, action);
    }
    let send = |_, addr, dl| {
        let (h, conns) = (h.clone(), conns.clone());
        async move { conns.call::<Dep, _>(&h, addr, &7, dl).await }
    };
    let r = call(h, stack, 0, send).await;
    p.telemetry
        .borrow_mut()
        .deps
        .push_back((h.now(), r.is_ok()));
    match action {
        Action::Full => {
            let shown = match r {
                Ok(v) => v,
                Err(_) => {
                    stack.borrow_mut().count_fallback();
                    fallback.to_string()
                }
            };
            (Some(shown), Action::Full)
        }
        Action::Fallback => (Some(fallback.to_string()), action),
        Action::Shed => (None, action),
    }
}

fn dependency(sim: &mut Sim, name: &str) -> SocketAddr {
    let h = sim.host(name, |h| async move {
        let l = h
            .listen(SocketAddr::from(([0, 0, 0, 0], PORT)))
            .expect("fresh host");
        let rng = RefCell::new(h.rng());
        let h2 = h.clone();
        let server = RpcServer::new().register::<Dep, _, _>(move |_: u64| {
            let h = h2.clone();
            let (_, err) = phase(h.now().since_epoch());
            let fail = rng.borrow_mut().chance(err);
            async move {
                h.sleep(Duration::from_millis(4)).await;
                if fail {
                    Err(ServerError {
                        code: ErrorCode::Internal,
                        message: "dependency error".into(),
                    })
                } else {
                    Ok("real data".to_string())
                }
            }
        });
        serve(h, l, Rc::new(server)).await
    });
    SocketAddr::new(h.ip(), PORT)
}

struct Seen {
    pages: Vec<(Instant, Page)>,
    failed: u64,
}

impl Scenario for Degrade {
    fn name(&self) -> &'static str {
        "degrade"
    }
    fn summary(&self) -> &'static str {
        "网络编程进阶主题 §5.4's levels under rising load and dependency errors: optional features fall back, then shed; the core path is never degraded"
    }
    fn params(&self) -> &'static [ParamSpec] {
        PARAMS
    }
    fn backends(&self) -> &'static [Backend] {
        &[Backend::Sim]
    }
    fn run(&self, ctx: &RunCtx<'_>) -> Result<Outcome, RunError> {
        let mut out = Outcome::start(self.name(), ctx);
        let p: &Params = &ctx.params;
        let capacity = p.int("capacity");
        let cfg = SimConfig {
            default_link: LinkConfig {
                latency: Latency::Fixed(Duration::from_micros(500)),
                ..LinkConfig::default()
            },
            time_limit: Duration::from_secs(600),
            ..ctx.sim_config()
        };
        let mut sim = Sim::new(cfg);
        let (reviews, recs) = (
            dependency(&mut sim, "reviews"),
            dependency(&mut sim, "recommendations"),
        );
        let seed = |l: &str| testbed_model::rng::derive_seed(ctx.seed, l);
        let product = Rc::new(Product {
            level: RefCell::new(Level::Normal),
            telemetry: RefCell::default(),
            timeline: RefCell::default(),
            observations: RefCell::default(),
            reviews: dep_stack(reviews, seed("reviews")),
            recs: dep_stack(recs, seed("recs")),
        });
        let pr = product.clone();
        let ph = sim.host("product", move |h| {
            let pr = pr.clone();
            async move {
                let l = h
                    .listen(SocketAddr::from(([0, 0, 0, 0], PORT)))
                    .expect("fresh host");
                // The degrader: observes every 100 ms.
                let (h2, pr2) = (h.clone(), pr.clone());
                drop(h.spawn(async move {
                    let mut d = Degrader::new(
                        thresholds(70, 20),
                        thresholds(90, 50),
                        900,
                        Duration::from_millis(300),
                    );
                    loop {
                        h2.sleep(Duration::from_millis(100)).await;
                        let now = h2.now();
                        let s = pr2.telemetry.borrow_mut().signals(now, capacity);
                        let level = d.observe(now, &s);
                        if level != *pr2.level.borrow() {
                            pr2.timeline.borrow_mut().push((now, level));
                        }
                        pr2.observations.borrow_mut().push((now, level));
                        *pr2.level.borrow_mut() = level;
                    }
                }));
                let (conns, rng) = (Conns::default(), Rc::new(RefCell::new(h.rng())));
                let h3 = h.clone();
                let server = RpcServer::new().register::<Detail, _, _>(move |id: u64| {
                    let (h, pr, conns, rng) = (h3.clone(), pr.clone(), conns.clone(), rng.clone());
                    pr.telemetry.borrow_mut().arrivals.push_back(h.now());
                    async move {
                        let level = *pr.level.borrow();
                        assert_eq!(CORE.at(level), Action::Full, "core is never degraded");
                        h.sleep(Duration::from_millis(2)).await;
                        let core = format!("product {id}: name, price");
                        let (p1, p2) = {
                            let mut r = rng.borrow_mut();
                            (r.chance(PROBE), r.chance(PROBE))
                        };
                        let (reviews, ra) = feature(
                            &h,
                            &pr,
                            &conns,
                            Feature {
                                stack: &pr.reviews,
                                policy: REVIEWS,
                                fallback: "Loading...",
                            },
                            level,
                            p1,
                        )
                        .await;
                        let (recs, ca) = feature(
                            &h,
                            &pr,
                            &conns,
                            Feature {
                                stack: &pr.recs,
                                policy: RECS,
                                fallback: "hot products",
                            },
                            level,
                            p2,
                        )
                        .await;
                        Ok(Page {
                            core,
                            reviews,
                            reviews_action: action_code(ra),
                            recs,
                            recs_action: action_code(ca),
                            level: level_code(level),
                        }
                        .wire())
                    }
                });
                serve(h, l, Rc::new(server)).await
            }
        });
        let product_addr = SocketAddr::new(ph.ip(), PORT);
        let seen = Rc::new(RefCell::new(Seen {
            pages: Vec::new(),
            failed: 0,
        }));
        let s2 = seen.clone();
        sim.client("users", move |h| async move {
            let conn = Rc::new(
                RpcClient::connect(&h, product_addr, testbed_protocols::rpc::CodecId::Binary)
                    .await
                    .map_err(|e| e.to_string())?,
            );
            let mut rng = h.rng();
            let mut tasks = Vec::new();
            let mut i = 0;
            while h.now().since_epoch() < END {
                let (load, _) = phase(h.now().since_epoch());
                let mean_ns = (1e9 / (load * capacity as f64)) as u64;
                let gap = rng.range_inclusive(mean_ns / 2, mean_ns + mean_ns / 2);
                h.sleep(Duration::from_nanos(gap)).await;
                i += 1;
                let (h2, conn, seen) = (h.clone(), conn.clone(), s2.clone());
                tasks.push(h.spawn(async move {
                    let t0 = h2.now();
                    match conn.call::<Detail, _>(&h2, &i, SEC).await {
                        Ok(page) => seen.borrow_mut().pages.push((t0, Page::from_wire(page))),
                        Err(_) => seen.borrow_mut().failed += 1,
                    }
                }));
            }
            for t in tasks {
                let _ = t.await;
            }
            Ok(())
        });
        let run = sim.run();
        out.sim_run(&run, sim.trace_hash());
        let seen = std::mem::replace(
            &mut *seen.borrow_mut(),
            Seen {
                pages: Vec::new(),
                failed: 0,
            },
        );
        self.check(&mut out, &product, &seen);
        Ok(out)
    }
}

fn at(d: Duration) -> Instant {
    Instant::ZERO + d
}

impl Degrade {
    fn check(&self, out: &mut Outcome, product: &Product, seen: &Seen) {
        let total = seen.pages.len() as u64 + seen.failed;
        let mut bad_core = Vec::new();
        let mut off_table = Vec::new();
        let mut per_level = [0u64; 3];
        for (t, page) in &seen.pages {
            per_level[page.level as usize] += 1;
            if !page.core.starts_with("product ") {
                bad_core.push(format!("page at {t} had no core part"));
            }
            let level = [Level::Normal, Level::Degraded, Level::Critical][page.level as usize];
            let (ra, ca) = (action_code(REVIEWS.at(level)), action_code(RECS.at(level)));
            let shown_ok = match ra {
                0 | 1 => page.reviews.is_some(),
                _ => page.reviews.is_none(),
            } && match ca {
                0 | 1 => page.recs.is_some(),
                _ => page.recs.is_none(),
            };
            if page.reviews_action != ra || page.recs_action != ca || !shown_ok {
                off_table.push(format!(
                    "page at {t} at level {}",
                    LEVEL_NAMES[page.level as usize]
                ));
            }
        }
        out.invariants.push(Invariant::check(
            "core_never_degraded",
            bad_core.is_empty() && seen.failed * 100 <= total,
            format!(
                "{} of {total} pages answered with the core part ({} failed){}",
                seen.pages.len(),
                seen.failed,
                bad_core
                    .first()
                    .map(|s| format!("; {s}"))
                    .unwrap_or_default()
            ),
        ));
        off_table.truncate(5);
        out.invariants.push(Invariant::no_errors(
            "features_follow_the_seed_table",
            &off_table,
            "every page's reviews and recommendations match 网络编程进阶主题 §5.4 for its level",
        ));
        let obs = product.observations.borrow();
        let levels_in = |from: Duration, to: Duration| -> Vec<Level> {
            obs.iter()
                .filter(|(t, _)| *t >= at(from) && *t < at(to))
                .map(|o| o.1)
                .collect()
        };
        let settle = Duration::from_millis(1200);
        let expect = [
            ("normal_at_40pct_load", 0, 2, Level::Normal, 1.0),
            ("degraded_at_80pct_load", 2, 4, Level::Degraded, 1.0),
            ("critical_at_100pct_load", 4, 6, Level::Critical, 1.0),
            ("critical_at_70pct_errors", 6, 8, Level::Critical, 0.8),
        ];
        let mut phases = serde_json::Map::new();
        for (name, from, to, want, share) in expect {
            let from = Duration::from_secs(from) + if from == 0 { Duration::ZERO } else { settle };
            let ls = levels_in(from, Duration::from_secs(to));
            let hit = ls.iter().filter(|l| **l == want).count();
            let never_below = ls.iter().all(|l| *l >= want.min(Level::Degraded));
            let ok = !ls.is_empty() && hit as f64 >= share * ls.len() as f64 && never_below;
            out.invariants.push(Invariant::check(
                name,
                ok,
                format!(
                    "{hit} of {} observations from {from:?} to {to}s at {want:?}",
                    ls.len()
                ),
            ));
            phases.insert(
                name.into(),
                json!(round4(hit as f64 / ls.len().max(1) as f64)),
            );
        }
        let heal = Duration::from_secs(PHASES[4].0);
        let after = levels_in(heal + BOUND, END);
        let normal_after = !after.is_empty() && after.iter().all(|l| *l == Level::Normal);
        let full_after = seen
            .pages
            .iter()
            .filter(|(t, _)| *t >= at(heal + BOUND))
            .collect::<Vec<_>>();
        let full = full_after
            .iter()
            .filter(|(_, p)| {
                p.reviews.as_deref() == Some("real data") && p.recs.as_deref() == Some("real data")
            })
            .count();
        out.invariants.push(Invariant::check(
            "back_to_normal_within_bound",
            normal_after && full as f64 >= 0.95 * full_after.len() as f64,
            format!(
                "from {BOUND:?} after the errors stop: {} observations all normal: {normal_after}; {full} of {} pages with real reviews and recommendations",
                after.len(),
                full_after.len()
            ),
        ));
        let levels_ok = out.invariants.iter().all(|i| i.passed);
        out.metric(
            "claims",
            json!([claim(
                "degrade.levels",
                "5.4",
                "CPU > 70% or errors > 20% → degraded (fallback reviews, cached recommendations); CPU > 90% or errors > 50% → critical (recommendations off); product info never degraded",
                "levels by threshold; core never degraded",
                format!("{} of {total} pages with product info; per level {per_level:?} (normal, degraded, critical)", seen.pages.len()),
                "pages",
                levels_ok,
                "CPU is offered load ÷ capacity; leaving a level needs 90% of its thresholds and a 300 ms hold".into(),
            )]),
        );
        out.metric("pages", seen.pages.len());
        out.metric("pages_failed", seen.failed);
        out.metric(
            "pages_per_level",
            json!({"normal": per_level[0], "degraded": per_level[1], "critical": per_level[2]}),
        );
        out.metric("share_at_expected_level", serde_json::Value::Object(phases));
        out.metric(
            "level_timeline",
            serde_json::Value::Array(
                product
                    .timeline
                    .borrow()
                    .iter()
                    .map(|(t, l)| {
                        json!([
                            round4(t.since_epoch().as_secs_f64()),
                            LEVEL_NAMES[level_code(*l) as usize]
                        ])
                    })
                    .collect(),
            ),
        );
        let table: BTreeMap<&str, serde_json::Value> = [("core", CORE), ("reviews", REVIEWS), ("recommendations", RECS)]
            .into_iter()
            .map(|(n, f)| {
                (n, json!({"degraded": format!("{:?}", f.degraded), "critical": format!("{:?}", f.critical)}))
            })
            .collect();
        out.metric("feature_table", json!(table));
        out.metric(
            "client_reviews",
            metrics_json(product.reviews.borrow().metrics()),
        );
        out.metric(
            "client_recommendations",
            metrics_json(product.recs.borrow().metrics()),
        );
    }
}
