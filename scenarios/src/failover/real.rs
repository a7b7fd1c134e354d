//! `failover` on `--backend kernel`: the same clients, balancer and analysis as on the
//! simulator, over loopback sockets, with a real etcd (started by the run) as the registry.
//!
//! Faults on one machine: a crash aborts an instance's tasks (its listener closes, so new
//! connections are refused; its open connections go silent, like a vanished host) and a
//! restart starts it again on the same port. Loopback cannot cut the path between one
//! instance and etcd while keeping its clients, so the partition is injected in the
//! instance's discovery client (every call fails `Unavailable` while cut), which is what a
//! partition looks like from the instance. etcd has no self-preservation: only the "off"
//! behaviour is shown. etcd's lessor reaps every 500 ms and revokes through raft, so the
//! removal bound is TTL + 500 ms + 1 s of slack on wall time.

use super::plan::Plan;
use super::verdict::{check, measure};
use super::workload::{self, ClientLog, SERVICE};
use super::Cfg;
use crate::discovery_etcd::EtcdDiscovery;
use crate::etcd_server::EtcdServer;
use crate::outcome::Outcome;
use crate::scenario::{RunCtx, RunError};
use serde_json::{json, Map};
use std::cell::{Cell, RefCell};
use std::net::SocketAddr;
use std::rc::Rc;
use testbed_distributed::discovery::{
    keep_registered, AgentStats, Discovery, DiscoveryError, Instance, Lease, LeaseId, Registration,
    Resolved, Revision,
};
use testbed_kernel::Worker;
use testbed_model::{Duration, Instant, JoinHandle, Listener, Net, Runtime};
use testbed_protocols::rpc::{example, RpcServer};

const PREFIX: &str = "/testbed/failover";
const ETCD_TTL_MIN: Duration = Duration::from_secs(2);

/// A discovery client that can be cut off from the registry (an injected partition).
struct Cut<D> {
    inner: D,
    cut: Rc<Cell<bool>>,
}

impl<D: Discovery> Cut<D> {
    fn check(&self) -> Result<(), DiscoveryError> {
        if self.cut.get() {
            return Err(DiscoveryError::Unavailable(
                "cut off from the registry (injected partition)".into(),
            ));
        }
        Ok(())
    }
}

impl<D: Discovery> Discovery for Cut<D> {
    type Watch = D::Watch;
    async fn register(&self, i: &Instance, ttl: Duration) -> Result<Lease, DiscoveryError> {
        self.check()?;
        self.inner.register(i, ttl).await
    }
    async fn keepalive(&self, lease: LeaseId) -> Result<Duration, DiscoveryError> {
        self.check()?;
        self.inner.keepalive(lease).await
    }
    async fn deregister(&self, service: &str, id: &str) -> Result<Revision, DiscoveryError> {
        self.check()?;
        self.inner.deregister(service, id).await
    }
    async fn revoke(&self, lease: LeaseId) -> Result<Revision, DiscoveryError> {
        self.check()?;
        self.inner.revoke(lease).await
    }
    async fn resolve(&self, service: &str) -> Result<Resolved, DiscoveryError> {
        self.check()?;
        self.inner.resolve(service).await
    }
    async fn watch(&self, service: &str, after: Revision) -> Result<D::Watch, DiscoveryError> {
        self.check()?;
        self.inner.watch(service, after).await
    }
}

/// One instance's tasks (aborted together by a crash).
#[derive(Default)]
struct Tasks(RefCell<Vec<JoinHandle<()>>>);

impl Tasks {
    fn crash(&self) {
        for t in self.0.borrow_mut().drain(..) {
            t.abort();
        }
    }
}

struct InstanceCtx {
    id: String,
    addr: SocketAddr,
    endpoint: String,
    reg: Registration,
    stats: Rc<RefCell<AgentStats>>,
    cut: Rc<Cell<bool>>,
    tasks: Rc<Tasks>,
}

/// Starts (or restarts) an instance on its address.
fn start(w: &Worker, i: &Rc<InstanceCtx>) -> Result<(), String> {
    let listener = w
        .listen(i.addr)
        .map_err(|e| format!("{} listen {}: {e}", i.id, i.addr))?;
    let server = Rc::new(example::server());
    let (w2, tasks) = (w.clone(), i.tasks.clone());
    let accept = w.spawn(async move {
        let gate = testbed_protocols::bounded::ConnGate::new(
            testbed_protocols::bounded::ServerLimits::default().max_connections,
        );
        while let Ok((s, _)) = listener.accept().await {
            let Some(permit) = gate.try_enter() else {
                continue; // over the cap: closed at once
            };
            let c = RpcServer::serve_conn(server.clone(), w2.clone(), s);
            let conn = w2.spawn(async move {
                c.await;
                drop(permit);
            });
            tasks.0.borrow_mut().push(conn);
        }
    });
    let (w2, i2) = (w.clone(), i.clone());
    let agent = w.spawn(async move {
        let endpoints = std::slice::from_ref(&i2.endpoint);
        let connected = EtcdDiscovery::connect(w2.clone(), endpoints, PREFIX, ETCD_TTL_MIN).await;
        let Ok(d) = connected else {
            return;
        };
        let d = Cut {
            inner: d,
            cut: i2.cut.clone(),
        };
        let me = Instance::new(SERVICE, &i2.id, i2.addr);
        keep_registered(&d, &w2, &me, i2.reg, &i2.stats).await
    });
    i.tasks.0.borrow_mut().extend([accept, agent]);
    Ok(())
}

async fn drive(
    w: Worker,
    cfg: ClientsCfg,
    plan: Plan,
) -> Result<(Vec<ClientLog>, Vec<AgentStats>), String> {
    let mut instances = Vec::new();
    for n in 0..cfg.instances {
        // A free loopback port, kept for restarts (SO_REUSEPORT lets the restart bind it).
        let l = w
            .listen("127.0.0.1:0".parse().expect("literal"))
            .map_err(|e| e.to_string())?;
        let addr = l.local_addr();
        drop(l);
        let i = Rc::new(InstanceCtx {
            id: format!("inst-{n}"),
            addr,
            endpoint: cfg.endpoint.clone(),
            reg: cfg.reg,
            stats: Rc::default(),
            cut: Rc::default(),
            tasks: Rc::default(),
        });
        start(&w, &i)?;
        instances.push(i);
    }
    let mut clients = Vec::new();
    for _ in 0..cfg.clients {
        let d = EtcdDiscovery::connect(
            w.clone(),
            std::slice::from_ref(&cfg.endpoint),
            PREFIX,
            ETCD_TTL_MIN,
        )
        .await
        .map_err(|e| format!("client connect to etcd: {e}"))?;
        clients.push(w.spawn(workload::client(
            w.clone(),
            d,
            cfg.client,
            plan.warmup,
            plan.end,
        )));
    }
    w.sleep_until(plan.crash_at).await;
    instances[plan.victim].tasks.crash();
    w.sleep_until(plan.restart_at).await;
    start(&w, &instances[plan.victim])?;
    w.sleep_until(plan.partition_at).await;
    instances[plan.cut].cut.set(true);
    w.sleep_until(plan.heal_at).await;
    instances[plan.cut].cut.set(false);
    let mut logs = Vec::new();
    for c in clients {
        logs.push(c.await.map_err(|e| format!("client task: {e}"))?);
    }
    for i in &instances {
        i.tasks.crash();
    }
    Ok((logs, instances.iter().map(|i| *i.stats.borrow()).collect()))
}

struct ClientsCfg {
    instances: usize,
    clients: u64,
    endpoint: String,
    reg: Registration,
    client: workload::ClientCfg,
}

fn shift(p: &Plan, t0: Instant) -> Plan {
    let s = |t: Instant| t0 + t.since_epoch();
    Plan {
        warmup: s(p.warmup),
        crash_at: s(p.crash_at),
        restart_at: s(p.restart_at),
        partition_at: s(p.partition_at),
        heal_at: s(p.heal_at),
        end: s(p.end),
        ..p.clone()
    }
}

/// Runs `failover` on the kernel backend against a fresh etcd.
pub(super) fn run(
    ctx: &RunCtx<'_>,
    mut cfg: Cfg,
    liveness: Duration,
    out: &mut Outcome,
) -> Result<(), RunError> {
    if cfg.reg.ttl < ETCD_TTL_MIN {
        return Err(RunError::Setup(format!(
            "etcd's minimum lease TTL is {ETCD_TTL_MIN:?}; set ttl accordingly"
        )));
    }
    cfg.bound = cfg.reg.ttl + Duration::from_millis(500) + Duration::from_secs(1);
    let etcd = EtcdServer::start().map_err(|e| RunError::Setup(format!("etcd: {e}")))?;
    let wall0 = (ctx.wall)();
    let plan = Plan::draw(ctx.seed, cfg.instances, cfg.bound, liveness);
    out.metric("plan", plan.to_json());
    let ccfg = ClientsCfg {
        instances: cfg.instances,
        clients: cfg.clients,
        endpoint: etcd.endpoint(),
        reg: cfg.reg,
        client: cfg.client,
    };
    let result = testbed_kernel::block_on(ctx.seed, |w| async move {
        let t0 = w.now();
        let plan = shift(&plan, t0);
        drive(w, ccfg, plan.clone()).await.map(|r| (r, plan))
    });
    drop(etcd);
    let ((logs, agents), plan) = result.map_err(RunError::Setup)?;
    let mut mx = Map::new();
    let m = measure(&logs, &cfg, &plan, &mut mx);
    mx.insert(
        "re_registrations".into(),
        json!(agents.iter().map(|a| a.leases_lost).sum::<u64>()),
    );
    check(out, "etcd", &m, &cfg, false);
    out.metric("etcd", serde_json::Value::Object(mx));
    out.metric("self_preservation", "not available on etcd");
    out.metric("removal_bound_s", cfg.bound.as_secs_f64());
    out.metric("wall_s", ((ctx.wall)() - wall0).as_secs_f64());
    Ok(())
}
