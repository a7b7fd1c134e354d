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
//!
//! On `--backend kernel` the registry is a real etcd started by the run (see `real`), with
//! self-preservation unavailable: one variant, the "off" invariants.

mod analysis;
mod plan;
#[cfg(feature = "etcd")]
mod real;
mod sim;
mod verdict;
mod workload;

use crate::ddos_common::record_variants;
use crate::outcome::Outcome;
use crate::params::{Kind, ParamError, ParamSpec, Params};
use crate::scenario::{Backend, RunCtx, RunError, Scenario};
pub use plan::Plan;
use testbed_distributed::discovery::{Registration, RegistryConfig, SelfPreservation};
use testbed_model::Duration;
use workload::ClientCfg;

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

pub(crate) struct Cfg {
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
        if p.duration("liveness") <= p.duration("recovery_bound") {
            return Err(ParamError::Constraint(
                "liveness must be longer than recovery_bound (calls are checked after it)".into(),
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
        let mut off = sim::simulate(ctx, &cfg, &plan, None, "self_preservation_off");
        let mut on = sim::simulate(ctx, &cfg, &plan, Some(sp), "self_preservation_on");
        let m_off = verdict::measure(&off.logs, &cfg, &plan, &mut off.run.metrics);
        let m_on = verdict::measure(&on.logs, &cfg, &plan, &mut on.run.metrics);
        for v in [&mut off, &mut on] {
            v.record_stats();
        }
        verdict::check(out, "sp_off", &m_off, &cfg, false);
        verdict::check(out, "sp_on", &m_on, &cfg, true);
        verdict::tradeoff(out, &m_on, &m_off);
        out.metric("removal_bound_s", cfg.bound.as_secs_f64());
        out.metric("plan", plan.to_json());
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
        &[Backend::Sim, Backend::Kernel]
    }
    fn run(&self, ctx: &RunCtx<'_>) -> Result<Outcome, RunError> {
        let mut out = Outcome::start(self.name(), ctx);
        match ctx.backend {
            Backend::Sim => self.run_sim(ctx, &mut out)?,
            #[cfg(feature = "etcd")]
            _ => {
                let cfg = Cfg::from(&ctx.params)?;
                real::run(ctx, cfg, ctx.params.duration("liveness"), &mut out)?
            }
            #[cfg(not(feature = "etcd"))]
            other => {
                return Err(RunError::NeedsFeature {
                    what: format!("failover on --backend {other} (a real etcd as the registry)"),
                    feature: "etcd",
                    needs: "protoc to build: apt-get install protobuf-compiler; etcd to run: apt-get install etcd-server",
                })
            }
        }
        Ok(out)
    }
}
