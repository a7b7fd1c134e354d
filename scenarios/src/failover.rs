//! `failover`: instances of a service register with the simulated registry; clients resolve
//! and watch it and call the instances round robin over the RPC framework. Safety phase:
//! one instance crashes (discovery must drop it within TTL + one reaper tick, and client
//! success must recover within that bound), it restarts, then another instance is
//! partitioned from the registry but not from the clients. Liveness phase: faults stop and
//! every client must list every instance and succeed on every call within a recovery bound.
//!
//! Each run simulates the same seeded schedule twice, with Eureka-style self-preservation
//! off and on, to show its trade-off: off, the partitioned (healthy, serving) instance is
//! removed; on, it stays listed — and so does the crashed one, whose calls keep failing
//! until it restarts.

mod analysis;
mod plan;
mod workload;

use crate::ddos_common::{record_variants, VariantRun};
use crate::outcome::{Invariant, Outcome};
use crate::params::{Kind, ParamError, ParamSpec, Params};
use crate::scenario::{Backend, RunCtx, RunError, Scenario};
use analysis::{all_listed_since, first_unlisted, phases, rate, served_by, unlisted_for};
pub use plan::Plan;
use serde_json::{json, Map};
use std::cell::RefCell;
use std::net::SocketAddr;
use std::rc::Rc;
use testbed_distributed::discovery::{
    serve, AgentStats, ClientConfig, Registration, RegistryClient, RegistryConfig, RegistryServer,
    RegistryStats, SelfPreservation, ServerConfig,
};
use testbed_model::{Duration, Net, Runtime};
use testbed_sim::{Host, Latency, LinkConfig, Sim, SimConfig};
use workload::{ClientCfg, ClientLog};

/// The scenario.
pub struct Failover;

const PARAMS: &[ParamSpec] = &[
    ParamSpec {
        name: "instances",
        default: "3",
        kind: Kind::Int { min: 2, max: 32 },
        help: "service instances",
    },
    ParamSpec {
        name: "clients",
        default: "2",
        kind: Kind::Int { min: 1, max: 32 },
        help: "client hosts",
    },
    ParamSpec {
        name: "ttl",
        default: "2s",
        kind: Kind::Duration,
        help: "lease TTL of each instance",
    },
    ParamSpec {
        name: "tick",
        default: "100ms",
        kind: Kind::Duration,
        help: "registry reaper period",
    },
    ParamSpec {
        name: "keepalive",
        default: "500ms",
        kind: Kind::Duration,
        help: "instances renew their lease this often",
    },
    ParamSpec {
        name: "interval",
        default: "20ms",
        kind: Kind::Duration,
        help: "pause between a client's calls",
    },
    ParamSpec {
        name: "call_timeout",
        default: "200ms",
        kind: Kind::Duration,
        help: "deadline of one call (connect included)",
    },
    ParamSpec {
        name: "sp_window",
        default: "1s",
        kind: Kind::Duration,
        help: "self-preservation: a lease renewed within this counts as fresh",
    },
    ParamSpec {
        name: "sp_threshold",
        default: "0.85",
        kind: Kind::Real { min: 0.0, max: 1.0 },
        help: "self-preservation: protect when fewer leases than this fraction are fresh",
    },
    ParamSpec {
        name: "removal_slack",
        default: "10ms",
        kind: Kind::Duration,
        help: "added to TTL + tick for the removal bound (link latency to the registry and back)",
    },
    ParamSpec {
        name: "recovery_bound",
        default: "3s",
        kind: Kind::Duration,
        help: "after the last fault, all instances listed and every call succeeding within this",
    },
    ParamSpec {
        name: "liveness",
        default: "5s",
        kind: Kind::Duration,
        help: "length of the liveness phase",
    },
    ParamSpec {
        name: "latency",
        default: "1ms",
        kind: Kind::Duration,
        help: "one-way link latency",
    },
];

const REGISTRY_PORT: u16 = 2379;

struct Cfg {
    instances: usize,
    clients: u64,
    reg: Registration,
    registry: RegistryConfig,
    client: ClientCfg,
    bound: Duration,
    recovery: Duration,
    latency: Duration,
}

impl Cfg {
    fn from(p: &Params) -> Result<Cfg, ParamError> {
        let (ttl, keepalive, window) = (
            p.duration("ttl"),
            p.duration("keepalive"),
            p.duration("sp_window"),
        );
        let registry = RegistryConfig {
            tick: p.duration("tick"),
            ..RegistryConfig::default()
        };
        if registry.limits.check_ttl(ttl).is_err() {
            return Err(ParamError::Constraint(format!(
                "ttl must be in {:?}..={:?}",
                registry.limits.ttl_min, registry.limits.ttl_max
            )));
        }
        if keepalive.is_zero()
            || keepalive * 2 > ttl
            || window >= ttl
            || window < keepalive
            || registry.tick.is_zero()
        {
            return Err(ParamError::Constraint(
                "need 0 < keepalive <= ttl/2, keepalive <= sp_window < ttl, tick > 0".into(),
            ));
        }
        Ok(Cfg {
            instances: p.int("instances") as usize,
            clients: p.int("clients"),
            reg: Registration {
                ttl,
                every: keepalive,
                retry: Duration::from_millis(200),
            },
            registry,
            client: ClientCfg {
                interval: p.duration("interval").max(Duration::from_millis(1)),
                call_timeout: p.duration("call_timeout"),
                retry: Duration::from_millis(200),
            },
            bound: ttl + p.duration("tick") + p.duration("removal_slack"),
            recovery: p.duration("recovery_bound"),
            latency: p.duration("latency"),
        })
    }
}

/// One simulated variant's raw results.
struct Variant {
    run: VariantRun,
    logs: Vec<ClientLog>,
    registry: RegistryStats,
    agents: Vec<AgentStats>,
}

fn registry_client(h: &Host) -> RegistryClient<Host> {
    let addr = SocketAddr::new(h.lookup("registry").expect("registry host"), REGISTRY_PORT);
    RegistryClient::new(h.clone(), addr, ClientConfig::default())
}

fn simulate(
    ctx: &RunCtx<'_>,
    cfg: &Cfg,
    plan: &Plan,
    sp: Option<SelfPreservation>,
    name: &'static str,
) -> Variant {
    let sim_cfg = SimConfig {
        default_link: LinkConfig {
            latency: Latency::Fixed(cfg.latency),
            ..LinkConfig::default()
        },
        time_limit: Duration::from_secs(3600),
        ..ctx.sim_config()
    };
    let mut sim = Sim::new(sim_cfg);
    let server_cfg = ServerConfig {
        registry: RegistryConfig {
            self_preservation: sp,
            ..cfg.registry.clone()
        },
        ..ServerConfig::default()
    };
    let server: Rc<RefCell<Option<Rc<RegistryServer>>>> = Rc::default();
    let s2 = server.clone();
    sim.host("registry", move |h| {
        let (server_cfg, slot) = (server_cfg.clone(), s2.clone());
        async move {
            let l = h
                .listen(([0, 0, 0, 0], REGISTRY_PORT).into())
                .expect("fresh host");
            let s = RegistryServer::new(h.now(), server_cfg);
            *slot.borrow_mut() = Some(s.clone());
            serve(h, l, s).await
        }
    });
    let mut agents = Vec::new();
    for i in 0..cfg.instances {
        let stats = Rc::new(RefCell::new(AgentStats::default()));
        agents.push(stats.clone());
        let reg = cfg.reg;
        sim.host(&format!("inst-{i}"), move |h| {
            let d = registry_client(&h);
            workload::instance(h, d, format!("inst-{i}"), reg, stats.clone())
        });
    }
    let logs: Rc<RefCell<Vec<(u64, ClientLog)>>> = Rc::default();
    for c in 0..cfg.clients {
        let (logs, ccfg, start, end) = (logs.clone(), cfg.client, plan.warmup, plan.end);
        sim.client(&format!("client-{c}"), move |h| async move {
            let d = registry_client(&h);
            let log = workload::client(h, d, ccfg, start, end).await;
            logs.borrow_mut().push((c, log));
            Ok(())
        });
    }
    let (victim, cut) = (
        format!("inst-{}", plan.victim),
        format!("inst-{}", plan.cut),
    );
    let v2 = victim.clone();
    sim.at(plan.crash_at, move |c| c.crash(&victim));
    sim.at(plan.restart_at, move |c| c.restart(&v2));
    let c2 = cut.clone();
    sim.at(plan.partition_at, move |c| c.partition(&cut, "registry"));
    sim.at(plan.heal_at, move |c| c.repair(&c2, "registry"));
    let run = sim.run();
    let hash = sim.trace_hash();
    let mut logs = std::mem::take(&mut *logs.borrow_mut());
    logs.sort_by_key(|(c, _)| *c);
    let registry = server
        .borrow()
        .as_ref()
        .map(|s| s.registry().stats())
        .unwrap_or_default();
    Variant {
        run: VariantRun {
            name,
            run,
            hash,
            metrics: Map::new(),
        },
        logs: logs.into_iter().map(|(_, l)| l).collect(),
        registry,
        agents: agents.iter().map(|a| *a.borrow()).collect(),
    }
}

/// What one variant measured (seconds; `None`: did not happen).
struct Measured {
    removal_s: Option<f64>,
    cut_unlisted_s: f64,
    served_while_cut: u64,
    recovered_s: Option<f64>,
    rates: Vec<(&'static str, analysis::Rate)>,
    victim_down_rate: analysis::Rate,
    wrong: u64,
}

fn measure(v: &mut Variant, cfg: &Cfg, plan: &Plan) -> Measured {
    let (victim, cut) = (
        format!("inst-{}", plan.victim),
        format!("inst-{}", plan.cut),
    );
    let removal = v
        .logs
        .iter()
        .map(|l| {
            first_unlisted(l, &victim, plan.crash_at, plan.restart_at).map(|t| t - plan.crash_at)
        })
        .collect::<Option<Vec<_>>>()
        .and_then(|d| d.into_iter().max());
    let cut_unlisted = v
        .logs
        .iter()
        .map(|l| unlisted_for(l, &cut, plan.partition_at, plan.heal_at))
        .max()
        .unwrap_or_default();
    let all: Vec<String> = (0..cfg.instances).map(|i| format!("inst-{i}")).collect();
    let recovered = all_listed_since(&v.logs, &all, plan.heal_at, plan.end)
        .map(|t| (t - plan.heal_at).as_secs_f64());
    let rates: Vec<_> = phases(plan, cfg.bound, cfg.recovery, cfg.client.call_timeout)
        .iter()
        .map(|(n, a, b)| (*n, rate(&v.logs, *a, *b)))
        .collect();
    let m = Measured {
        removal_s: removal.map(|d| d.as_secs_f64()),
        cut_unlisted_s: cut_unlisted.as_secs_f64(),
        served_while_cut: served_by(&v.logs, &cut, plan.partition_at, plan.heal_at),
        recovered_s: recovered,
        victim_down_rate: rate(&v.logs, plan.crash_at, plan.restart_at),
        rates,
        wrong: v
            .logs
            .iter()
            .flat_map(|l| &l.calls)
            .filter(|c| c.wrong)
            .count() as u64,
    };
    let mx = &mut v.run.metrics;
    mx.insert("crash_removal_s".into(), json!(m.removal_s));
    mx.insert("partitioned_unlisted_s".into(), json!(m.cut_unlisted_s));
    mx.insert("partitioned_served_calls".into(), json!(m.served_while_cut));
    mx.insert("recovery_s".into(), json!(m.recovered_s));
    mx.insert(
        "success_while_victim_down".into(),
        json!(m.victim_down_rate.ratio()),
    );
    for (n, r) in &m.rates {
        mx.insert(format!("success_{n}"), json!(r.ratio()));
        mx.insert(format!("calls_{n}"), json!(r.total));
    }
    mx.insert("registry_expired".into(), json!(v.registry.expired));
    mx.insert(
        "registry_protected_ticks".into(),
        json!(v.registry.protected_ticks),
    );
    mx.insert(
        "registry_expiries_suspended".into(),
        json!(v.registry.expiries_suspended),
    );
    mx.insert(
        "re_registrations".into(),
        json!(v.agents.iter().map(|a| a.leases_lost).sum::<u64>()),
    );
    m
}

fn check(out: &mut Outcome, name: &str, m: &Measured, cfg: &Cfg, sp: bool) {
    let inv = |n: &str| format!("{n}_{name}");
    let bound = cfg.bound.as_secs_f64();
    let rate_of = |p: &str| {
        m.rates
            .iter()
            .find(|(n, _)| *n == p)
            .map(|(_, r)| *r)
            .unwrap_or_default()
    };
    out.invariants.push(Invariant::check(
        &inv("no_wrong_answers"),
        m.wrong == 0,
        format!("{} wrong answers", m.wrong),
    ));
    if sp {
        out.invariants.push(Invariant::check(
            &inv("crashed_instance_kept_listed"),
            m.removal_s.is_none(),
            format!("self-preservation kept the crashed instance listed until its restart (removal: {:?} s)", m.removal_s),
        ));
        out.invariants.push(Invariant::check(
            &inv("partitioned_instance_kept_listed"),
            m.cut_unlisted_s == 0.0 && m.served_while_cut > 0,
            format!(
                "unlisted {:.3} s during the partition; it served {} calls",
                m.cut_unlisted_s, m.served_while_cut
            ),
        ));
    } else {
        out.invariants.push(Invariant::check(
            &inv("crashed_instance_removed_within_bound"),
            m.removal_s.is_some_and(|r| r <= bound),
            format!("removed from every client's view {:?} s after the crash (bound ttl + tick + slack = {bound:.3} s)", m.removal_s),
        ));
        let after = rate_of("after_crash");
        out.invariants.push(Invariant::check(
            &inv("success_recovers_after_crash"),
            after.total > 0 && after.ok == after.total,
            format!(
                "{} of {} calls started from crash + {bound:.3} s until the partition succeeded",
                after.ok, after.total
            ),
        ));
        out.invariants.push(Invariant::check(
            &inv("partitioned_instance_removed_while_serving"),
            m.cut_unlisted_s > 0.0 && m.served_while_cut > 0,
            format!(
                "unlisted {:.3} s during the partition while it served {} calls",
                m.cut_unlisted_s, m.served_while_cut
            ),
        ));
    }
    let live = rate_of("liveness");
    out.invariants.push(Invariant::check(
        &inv("liveness_after_heal"),
        m.recovered_s.is_some_and(|r| r <= cfg.recovery.as_secs_f64()) && live.total > 0 && live.ok == live.total,
        format!(
            "all instances listed {:?} s after the heal (bound {:?}); {} of {} liveness calls succeeded",
            m.recovered_s, cfg.recovery, live.ok, live.total
        ),
    ));
}

impl Failover {
    fn run_sim(&self, ctx: &RunCtx<'_>, out: &mut Outcome) -> Result<(), RunError> {
        let cfg = Cfg::from(&ctx.params)?;
        let plan = Plan::draw(
            ctx.seed,
            cfg.instances,
            cfg.bound,
            ctx.params.duration("liveness"),
        );
        let sp = SelfPreservation {
            window: ctx.params.duration("sp_window"),
            threshold: ctx.params.real("sp_threshold"),
            leases_min: 2,
        };
        let mut off = simulate(ctx, &cfg, &plan, None, "self_preservation_off");
        let mut on = simulate(ctx, &cfg, &plan, Some(sp), "self_preservation_on");
        let (m_off, m_on) = (
            measure(&mut off, &cfg, &plan),
            measure(&mut on, &cfg, &plan),
        );
        check(out, "sp_off", &m_off, &cfg, false);
        check(out, "sp_on", &m_on, &cfg, true);
        out.invariants.push(Invariant::check(
            "self_preservation_tradeoff",
            m_on.cut_unlisted_s < m_off.cut_unlisted_s && m_on.victim_down_rate.ratio() < m_off.victim_down_rate.ratio(),
            format!(
                "partitioned instance unlisted {:.3} s (on) vs {:.3} s (off); success while the crashed instance was down {:.4} (on) vs {:.4} (off)",
                m_on.cut_unlisted_s, m_off.cut_unlisted_s, m_on.victim_down_rate.ratio(), m_off.victim_down_rate.ratio()
            ),
        ));
        out.metric("removal_bound_s", cfg.bound.as_secs_f64());
        out.metric("plan", json!({
            "victim": plan.victim, "crash_at_s": plan.crash_at.since_epoch().as_secs_f64(),
            "restart_at_s": plan.restart_at.since_epoch().as_secs_f64(), "partitioned": plan.cut,
            "partition_at_s": plan.partition_at.since_epoch().as_secs_f64(),
            "heal_at_s": plan.heal_at.since_epoch().as_secs_f64(), "end_s": plan.end.since_epoch().as_secs_f64(),
        }));
        record_variants(out, vec![off.run, on.run]);
        Ok(())
    }
}

impl Scenario for Failover {
    fn name(&self) -> &'static str {
        "failover"
    }
    fn summary(&self) -> &'static str {
        "discovery drops a crashed instance within TTL + tick and clients recover; self-preservation's partition trade-off"
    }
    fn params(&self) -> &'static [ParamSpec] {
        PARAMS
    }
    fn backends(&self) -> &'static [Backend] {
        &[Backend::Sim]
    }
    fn run(&self, ctx: &RunCtx<'_>) -> Result<Outcome, RunError> {
        let mut out = Outcome::start(self.name(), ctx);
        self.run_sim(ctx, &mut out)?;
        Ok(out)
    }
}
