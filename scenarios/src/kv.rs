//! `kv`: a replicated key-value store checked for linearizability. Two replicas (primary and
//! backup) serve get and put over the RPC framework; the primary stores each put on the
//! backup before acknowledging it and serves only under a lease the backup grants; when the
//! primary is cut off or crashes, the backup promotes itself in a higher epoch once the lease
//! has surely run out. Replicas register with the simulated registry; clients follow it,
//! move to the other replica when refused or unreachable, and record every operation with
//! simulated times (a timeout is indeterminate). Invariants: the history is linearizable
//! for the key-value model (checked per key), and clients made progress, also after the
//! last fault. `bug=stale-read` plants the classic bug: an ex-primary keeps serving reads
//! from its local store after losing its lease.

mod client;
mod replica;
mod sim;

use crate::faults::{Fault, FaultEvent, FaultKind, FaultSchedule, SwarmSpec};
use crate::outcome::Outcome;
use crate::params::{Kind, ParamError, ParamSpec, Params};
use crate::scenario::{Backend, RunCtx, RunError, Scenario};
pub use client::ClientCfg;
pub use replica::ReplicaCfg;
use testbed_model::Duration;

/// The scenario.
pub struct Kv;

const PARAMS: &[ParamSpec] = &[
    ParamSpec {
        name: "clients",
        default: "5",
        kind: Kind::Int { min: 1, max: 32 },
        help: "client hosts",
    },
    ParamSpec {
        name: "keys",
        default: "3",
        kind: Kind::Int { min: 1, max: 64 },
        help: "distinct keys the clients read and write",
    },
    ParamSpec {
        name: "interval",
        default: "20ms",
        kind: Kind::Duration,
        help: "pause between a client's operations",
    },
    ParamSpec {
        name: "op_timeout",
        default: "300ms",
        kind: Kind::Duration,
        help: "deadline of one attempt of an operation (connect included)",
    },
    ParamSpec {
        name: "lease",
        default: "500ms",
        kind: Kind::Duration,
        help: "a paired primary serves until this long after its last acknowledged message",
    },
    ParamSpec {
        name: "promise",
        default: "600ms",
        kind: Kind::Duration,
        help: "a backup promotes after this long without a message (above lease + drift)",
    },
    ParamSpec {
        name: "heartbeat",
        default: "100ms",
        kind: Kind::Duration,
        help: "primary → backup heartbeat period",
    },
    ParamSpec {
        name: "liveness",
        default: "2s",
        kind: Kind::Duration,
        help: "clients keep going this long after the last fault; some operation must succeed in its second half",
    },
    ParamSpec {
        name: "latency",
        default: "1ms",
        kind: Kind::Duration,
        help: "one-way link latency",
    },
    ParamSpec {
        name: "faults",
        default: "plan",
        kind: Kind::Choice(&["plan", "swarm"]),
        help: "plan: partition the primary, then crash the new one; swarm: partitions, crashes, latency, skew drawn per seed",
    },
    ParamSpec {
        name: "bug",
        default: "none",
        kind: Kind::Choice(&["none", "stale-read"]),
        help: "stale-read: an ex-primary keeps serving gets from its local store after losing its lease",
    },
];

/// Host names.
pub(crate) const REPLICAS: [&str; 2] = ["kv-0", "kv-1"];

/// Swarm ranges: partitions between the replicas, replica–client and replica–registry
/// (0.1–1.5 s), replica crashes, extra latency up to 200 ms, clock skew ±100 ms and drift
/// ±1000 ppm; up to 6 faults in the first 2 s.
fn swarm_spec(clients: u64) -> SwarmSpec {
    let names: Vec<String> = (0..clients).map(|c| format!("client-{c}")).collect();
    let mut hosts = vec!["registry".to_string()];
    hosts.extend(REPLICAS.iter().map(|r| r.to_string()));
    hosts.extend(names.iter().cloned());
    let mut links = vec![
        (REPLICAS[0].to_string(), REPLICAS[1].to_string()),
        (REPLICAS[0].to_string(), "registry".to_string()),
        (REPLICAS[1].to_string(), "registry".to_string()),
    ];
    for r in REPLICAS {
        links.extend(names.iter().map(|c| (r.to_string(), c.clone())));
    }
    SwarmSpec {
        hosts: hosts.clone(),
        links,
        crashable: REPLICAS.iter().map(|r| r.to_string()).collect(),
        skewable: hosts,
        kinds: vec![
            FaultKind::Partition,
            FaultKind::Crash,
            FaultKind::Latency,
            FaultKind::ClockSkew,
        ],
        events_max: 6,
        start_max_ms: 2000,
        for_ms: (100, 1500),
        loss_max: 0.0,
        latency_max_ms: 200,
        skew_max_ms: 100,
        drift_max_ppm: 1000,
    }
}

/// The plan: the primary cut off from its backup and the registry at 1 s for 1.5 s (the
/// backup takes over), then the new primary crashes at 3.5 s for 1 s (the old one takes over
/// again).
fn plan() -> FaultSchedule {
    let cut = |b: &str| FaultEvent {
        at_ms: 1000,
        for_ms: 1500,
        fault: Fault::Partition {
            a: REPLICAS[0].into(),
            b: b.into(),
        },
    };
    FaultSchedule {
        events: vec![
            cut(REPLICAS[1]),
            cut("registry"),
            FaultEvent {
                at_ms: 3500,
                for_ms: 1000,
                fault: Fault::Crash {
                    host: REPLICAS[1].into(),
                },
            },
        ],
        buggify_mask: None,
    }
}

/// Settings of one run.
pub(crate) struct Cfg {
    clients: u64,
    client: ClientCfg,
    replica: ReplicaCfg,
    liveness: Duration,
    latency: Duration,
}

impl Cfg {
    fn from(p: &Params) -> Result<Cfg, ParamError> {
        let (lease, promise, heartbeat) = (
            p.duration("lease"),
            p.duration("promise"),
            p.duration("heartbeat"),
        );
        // Drift is at most ±1000 ppm per clock in swarm schedules: keep a 1% margin.
        if heartbeat.is_zero() || heartbeat >= lease || promise <= lease + lease / 100 {
            return Err(ParamError::Constraint(
                "need 0 < heartbeat < lease and promise > lease × 1.01".into(),
            ));
        }
        if p.duration("liveness") < Duration::from_millis(500) + promise {
            return Err(ParamError::Constraint(
                "liveness must exceed promise + 500ms (time to fail over after the last fault)"
                    .into(),
            ));
        }
        Ok(Cfg {
            clients: p.int("clients"),
            client: ClientCfg {
                keys: (0..p.int("keys")).map(|k| format!("k{k}")).collect(),
                interval: p.duration("interval").max(Duration::from_millis(1)),
                op_timeout: p.duration("op_timeout"),
                attempts: 3,
                retry: Duration::from_millis(200),
            },
            replica: ReplicaCfg {
                lease,
                promise,
                heartbeat,
                peer_timeout: heartbeat,
                stale_read_bug: p.choice("bug") == "stale-read",
            },
            liveness: p.duration("liveness"),
            latency: p.duration("latency"),
        })
    }
}

impl Scenario for Kv {
    fn name(&self) -> &'static str {
        "kv"
    }
    fn summary(&self) -> &'static str {
        "primary/backup key-value store with leases and failover through discovery; client histories checked for linearizability"
    }
    fn params(&self) -> &'static [ParamSpec] {
        PARAMS
    }
    fn backends(&self) -> &'static [Backend] {
        &[Backend::Sim]
    }
    fn run(&self, ctx: &RunCtx<'_>) -> Result<Outcome, RunError> {
        let schedule = self
            .fault_schedule(ctx.seed, &ctx.params)
            .expect("kv has a schedule");
        self.run_with_schedule(ctx, &schedule)
    }
    fn swarm(&self, params: &Params) -> Option<SwarmSpec> {
        Some(swarm_spec(params.int("clients")))
    }
    fn fault_schedule(&self, seed: u64, params: &Params) -> Option<FaultSchedule> {
        Some(match params.choice("faults") {
            "plan" => plan(),
            _ => swarm_spec(params.int("clients")).draw(seed),
        })
    }
    fn run_with_schedule(
        &self,
        ctx: &RunCtx<'_>,
        schedule: &FaultSchedule,
    ) -> Result<Outcome, RunError> {
        if ctx.backend != Backend::Sim {
            return Err(RunError::no_schedule(format!(
                "{} on --backend {}",
                self.name(),
                ctx.backend
            )));
        }
        let cfg = Cfg::from(&ctx.params)?;
        schedule.validate(&swarm_spec(cfg.clients))?;
        let mut out = Outcome::start(self.name(), ctx);
        sim::run(ctx, &cfg, schedule, &mut out);
        Ok(out)
    }
}
