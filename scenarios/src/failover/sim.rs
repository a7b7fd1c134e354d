//! `failover` on the simulator: a registry host, instance hosts, client hosts; the plan's
//! crash, restart, partition and repair as fault verbs.

use super::plan::Plan;
use super::workload::{self, ClientLog};
use super::Cfg;
use crate::ddos_common::VariantRun;
use crate::scenario::RunCtx;
use serde_json::{json, Map};
use std::cell::RefCell;
use std::net::SocketAddr;
use std::rc::Rc;
use testbed_distributed::discovery::{
    serve, AgentStats, ClientConfig, RegistryClient, RegistryConfig, RegistryServer, RegistryStats,
    SelfPreservation, ServerConfig,
};
use testbed_model::{Duration, Net, Runtime};
use testbed_sim::{Host, Latency, LinkConfig, Sim, SimConfig};

const REGISTRY_PORT: u16 = 2379;

/// One simulated variant's raw results.
pub(super) struct Variant {
    pub run: VariantRun,
    pub logs: Vec<ClientLog>,
    pub registry: RegistryStats,
    pub agents: Vec<AgentStats>,
}

fn registry_client(h: &Host) -> RegistryClient<Host> {
    let addr = SocketAddr::new(h.lookup("registry").expect("registry host"), REGISTRY_PORT);
    RegistryClient::new(h.clone(), addr, ClientConfig::default())
}

pub(super) fn simulate(
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
impl Variant {
    /// Adds the registry's and agents' counters to the variant's metrics.
    pub(super) fn record_stats(&mut self) {
        let mx = &mut self.run.metrics;
        mx.insert("registry_expired".into(), json!(self.registry.expired));
        mx.insert(
            "registry_protected_ticks".into(),
            json!(self.registry.protected_ticks),
        );
        mx.insert(
            "registry_expiries_suspended".into(),
            json!(self.registry.expiries_suspended),
        );
        mx.insert(
            "re_registrations".into(),
            json!(self.agents.iter().map(|a| a.leases_lost).sum::<u64>()),
        );
    }
}
