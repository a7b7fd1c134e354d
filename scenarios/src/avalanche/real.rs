//! `avalanche` on `--backend kernel`: the same servers, client stacks and users as on the
//! simulator, over loopback sockets on one kernel worker, with a real etcd (started by the
//! run) as service discovery. Inventory and order register themselves in etcd under a lease
//! (`keep_registered`); order follows inventory and web follows order (`follow`), and their
//! client stacks resolve through that view (`DiscoveredResolve`). The load starts once both
//! views list their instance. Phases are shortened to keep the run short (slow from 1 s to
//! 5 s, end at 8 s); each variant gets a fresh runtime and its own key prefix in etcd.

use super::workload::{self, Client, Load, Phases};
use super::{configs, load, rates, stack, variant_metrics, Seen, Variant};
use crate::client_common::Workers;
use crate::discovery_etcd::EtcdDiscovery;
use crate::etcd_server::EtcdServer;
use crate::outcome::Outcome;
use crate::scenario::{RunCtx, RunError};
use serde_json::json;
use std::cell::RefCell;
use std::net::SocketAddr;
use std::rc::Rc;
use testbed_distributed::client::DiscoveredResolve;
use testbed_distributed::discovery::{
    follow, keep_registered, AgentStats, Instance, Registration, ServiceView,
};
use testbed_kernel::Worker;
use testbed_model::{Duration, Instant, Listener, Net, Runtime};
use testbed_protocols::rpc::{serve, RpcServer};

const PREFIX: &str = "/testbed/avalanche";
const ETCD_TTL_MIN: Duration = Duration::from_secs(2);
/// Slow from 1 s to 5 s, end at 8 s: the recovery window (heal + wait_in_open + 1 s .. end)
/// keeps one second of calls.
const SLOW_AT: Duration = Duration::from_secs(1);
const HEAL_AT: Duration = Duration::from_secs(5);
const END: Duration = Duration::from_secs(8);
/// Instances' lease in etcd.
const REG: Registration = Registration {
    ttl: ETCD_TTL_MIN,
    every: Duration::from_millis(500),
    retry: Duration::from_millis(200),
};
/// How long the callers may take to see their dependency in etcd before the run gives up.
const DISCOVERY_WAIT: Duration = Duration::from_secs(10);

struct Cfg {
    endpoint: String,
    prefix: String,
    protect: bool,
    workers: u32,
    slow_latency: Duration,
    load: Load,
    seed: u64,
}

async fn connect(w: &Worker, cfg: &Cfg) -> Result<EtcdDiscovery<Worker>, String> {
    EtcdDiscovery::connect(
        w.clone(),
        std::slice::from_ref(&cfg.endpoint),
        &cfg.prefix,
        ETCD_TTL_MIN,
    )
    .await
    .map_err(|e| format!("connect to etcd at {}: {e}", cfg.endpoint))
}

/// Registers `service`/`id` at `addr` and keeps it registered.
async fn register(
    w: &Worker,
    cfg: &Cfg,
    service: &str,
    id: &str,
    addr: SocketAddr,
) -> Result<(), String> {
    let d = connect(w, cfg).await?;
    let me = Instance::new(service, id, addr);
    let w2 = w.clone();
    drop(w.spawn(async move {
        let stats = RefCell::new(AgentStats::default());
        keep_registered(&d, &w2, &me, REG, &stats).await
    }));
    Ok(())
}

/// Follows `service`; the returned view is what the caller's stack resolves from.
async fn follow_service(
    w: &Worker,
    cfg: &Cfg,
    service: &'static str,
) -> Result<Rc<RefCell<ServiceView>>, String> {
    let d = connect(w, cfg).await?;
    let view = Rc::new(RefCell::new(ServiceView::default()));
    let (w2, v2) = (w.clone(), view.clone());
    drop(w.spawn(async move { follow(&d, &w2, service, REG.retry, &v2, |_| {}).await }));
    Ok(view)
}

fn bind(w: &Worker) -> Result<(SocketAddr, <Worker as Net>::Listener), String> {
    let l = w
        .listen(SocketAddr::from(([127, 0, 0, 1], 0)))
        .map_err(|e| format!("listen on loopback: {e}"))?;
    Ok((l.local_addr(), l))
}

/// What one variant measured, and which addresses discovery gave the callers.
struct Ran {
    variant: Variant,
    resolved: serde_json::Value,
}

async fn variant(w: Worker, cfg: Cfg) -> Result<Ran, String> {
    let (inv_addr, inv_l) = bind(&w)?;
    let (ord_addr, ord_l) = bind(&w)?;
    let (web_addr, web_l) = bind(&w)?;
    register(&w, &cfg, "inventory", "inventory-0", inv_addr).await?;
    register(&w, &cfg, "order", "order-0", ord_addr).await?;
    let inv_view = follow_service(&w, &cfg, "inventory").await?;
    let ord_view = follow_service(&w, &cfg, "order").await?;
    let give_up = w.now() + DISCOVERY_WAIT;
    while inv_view.borrow().instances().next().is_none()
        || ord_view.borrow().instances().next().is_none()
    {
        if w.now() >= give_up {
            return Err(format!(
                "order and inventory not listed in etcd within {DISCOVERY_WAIT:?}"
            ));
        }
        w.sleep(Duration::from_millis(10)).await;
    }
    let addrs = |v: &Rc<RefCell<ServiceView>>| -> Vec<String> {
        v.borrow().instances().map(|i| i.addr.to_string()).collect()
    };
    let resolved = json!({
        "inventory": {"registered": inv_addr.to_string(), "order_sees": addrs(&inv_view)},
        "order": {"registered": ord_addr.to_string(), "web_sees": addrs(&ord_view)},
    });

    let ph = Phases {
        origin: w.now(),
        slow_at: SLOW_AT,
        heal_at: HEAL_AT,
        end: END,
    };
    let (core_cfg, stock_cfg, inv_cfg) = configs(cfg.protect);
    let seed = |label: &str| testbed_model::rng::derive_seed(cfg.seed, label);
    let resolve = |v: &Rc<RefCell<ServiceView>>| DiscoveredResolve::new(v.clone());
    let order_inventory: Client<DiscoveredResolve> =
        stack(inv_cfg, resolve(&inv_view), seed("order->inventory"));
    let web_core = stack(core_cfg, resolve(&ord_view), seed("web->order:core"));
    let web_stock = stack(stock_cfg, resolve(&ord_view), seed("web->order:stock"));
    let (order_pool, web_pool) = (Workers::new(cfg.workers), Workers::new(cfg.workers));

    let servers: [(<Worker as Net>::Listener, RpcServer); 3] = [
        (inv_l, workload::inventory(w.clone(), ph, cfg.slow_latency)),
        (
            ord_l,
            workload::order(
                w.clone(),
                order_inventory.clone(),
                order_pool.clone(),
                cfg.protect,
            ),
        ),
        (
            web_l,
            workload::web(
                w.clone(),
                web_core.clone(),
                web_stock.clone(),
                web_pool.clone(),
                cfg.protect,
            ),
        ),
    ];
    for (l, s) in servers {
        drop(w.spawn(serve(w.clone(), l, Rc::new(s))));
    }

    let seen = Rc::new(RefCell::new(Seen::new()));
    let users: Vec<_> = (0..cfg.load.users)
        .map(|_| {
            w.spawn(workload::user(
                w.clone(),
                web_addr,
                cfg.load,
                ph,
                seen.clone(),
            ))
        })
        .collect();
    for u in users {
        u.await.map_err(|e| format!("user task: {e}"))??;
    }
    let seen = std::mem::take(&mut *seen.borrow_mut());
    Ok(Ran {
        variant: Variant::new(
            seen,
            (&web_pool, &order_pool),
            [&web_core, &web_stock, &order_inventory],
            ph.origin,
        ),
        resolved,
    })
}

/// Runs the `protects` variants on the kernel backend against a fresh etcd; records their
/// metrics in `out` and returns them with the phases (relative to each variant's origin).
pub(super) fn run(
    ctx: &RunCtx<'_>,
    protects: &[bool],
    out: &mut Outcome,
) -> Result<(Vec<(bool, Variant)>, Phases), RunError> {
    let p = &ctx.params;
    let workers = p.int("workers") as u32;
    let etcd = EtcdServer::start().map_err(|e| RunError::Setup(format!("etcd: {e}")))?;
    let wall0 = (ctx.wall)();
    let ph = Phases {
        origin: Instant::ZERO,
        slow_at: SLOW_AT,
        heal_at: HEAL_AT,
        end: END,
    };
    let mut variants = Vec::new();
    let mut discovery = serde_json::Map::new();
    for &protect in protects {
        let name = if protect { "protected" } else { "unprotected" };
        let cfg = Cfg {
            endpoint: etcd.endpoint(),
            prefix: format!("{PREFIX}/{name}"),
            protect,
            workers,
            slow_latency: p.duration("slow_latency"),
            load: load(p),
            seed: ctx.seed,
        };
        let ran = testbed_kernel::block_on(ctx.seed, |w| variant(w, cfg))
            .map_err(|e| RunError::Setup(format!("{name}: {e}")))?;
        let v = ran.variant;
        out.metric(
            name,
            serde_json::Value::Object(variant_metrics(&v, &rates(&v.seen, &ph), &ph, workers)),
        );
        discovery.insert(name.into(), ran.resolved);
        variants.push((protect, v));
    }
    drop(etcd);
    out.metric("discovery_etcd", serde_json::Value::Object(discovery));
    out.metric(
        "phases_s",
        json!({"slow_at": SLOW_AT.as_secs_f64(), "heal_at": HEAL_AT.as_secs_f64(), "end": END.as_secs_f64()}),
    );
    out.metric("wall_s", ((ctx.wall)() - wall0).as_secs_f64());
    Ok((variants, ph))
}
