//! What runs on the hosts of `failover`, generic over model's `Net` and `Runtime`: an
//! instance (the example RPC service plus its registration agent) and a client (follows the
//! service through discovery, balances calls round robin over the instances it sees, one call
//! at a time, no retries, so every stale entry shows up as a failure).

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::rc::Rc;
use testbed_distributed::balance::{Balancer, NodeId, Pick, RoundRobin};
use testbed_distributed::discovery::{
    follow, keep_registered, AgentStats, Discovery, Instance, Registration, ServiceView,
};
use testbed_model::{timeout, Duration, Instant, Net, Runtime};
use testbed_protocols::rpc::example::{self, Add, Pair};
use testbed_protocols::rpc::{self, CodecId, RpcClient};

/// The service's name in the registry.
pub const SERVICE: &str = "adder";
/// The port instances serve RPC on.
pub const RPC_PORT: u16 = 9000;

/// Runs an instance: serves the example RPC service on `RPC_PORT` and keeps itself
/// registered as `id` through `d`.
pub async fn instance<H: Net + Runtime, D: Discovery>(
    h: H,
    d: D,
    id: String,
    reg: Registration,
    stats: Rc<RefCell<AgentStats>>,
) {
    let listener = h
        .listen(SocketAddr::new(h.local_ip(), RPC_PORT))
        .expect("instance port free");
    let addr = SocketAddr::new(h.local_ip(), RPC_PORT);
    let server = h.spawn(rpc::serve(h.clone(), listener, Rc::new(example::server())));
    let me = Instance::new(SERVICE, &id, addr);
    keep_registered(&d, &h, &me, reg, &stats).await;
    server.abort();
}

/// One call a client made.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Call {
    /// When it started.
    pub start: Instant,
    /// The instance (index in the view's id order at first sight) it went to, if any.
    pub node: Option<NodeId>,
    /// Whether it succeeded with the right answer.
    pub ok: bool,
    /// Whether an answer came back wrong (never expected).
    pub wrong: bool,
}

/// What a client saw and did.
#[derive(Clone, Debug, Default)]
pub struct ClientLog {
    /// Every call, in order.
    pub calls: Vec<Call>,
    /// Every change of the client's view: when, and the instance ids listed.
    pub views: Vec<(Instant, Vec<String>)>,
    /// Instance id → node id.
    pub nodes: BTreeMap<String, NodeId>,
}

/// Client timing.
#[derive(Clone, Copy, Debug)]
pub struct ClientCfg {
    /// Pause between calls.
    pub interval: Duration,
    /// Deadline of one call, connect included.
    pub call_timeout: Duration,
    /// Wait before retrying discovery.
    pub retry: Duration,
}

struct State {
    balancer: RoundRobin,
    addrs: BTreeMap<NodeId, SocketAddr>,
    conns: BTreeMap<NodeId, Rc<RpcClient>>,
    log: ClientLog,
}

impl State {
    fn update(&mut self, now: Instant, v: &ServiceView) {
        let listed: BTreeMap<NodeId, SocketAddr> = v
            .instances()
            .map(|i| {
                let next = self.log.nodes.len() as NodeId;
                (*self.log.nodes.entry(i.id.clone()).or_insert(next), i.addr)
            })
            .collect();
        for n in self.addrs.keys().copied().collect::<Vec<_>>() {
            if !listed.contains_key(&n) {
                self.balancer.remove(n);
                self.conns.remove(&n);
            }
        }
        for (n, a) in &listed {
            if self.addrs.get(n) != Some(a) {
                self.conns.remove(n);
            }
            self.balancer.add(*n, 1);
        }
        self.addrs = listed;
        self.log
            .views
            .push((now, v.instances().map(|i| i.id.clone()).collect()));
    }
}

/// Runs a client until `until`: follows the service through `d`, calls `add` on the
/// instances round robin every `cfg.interval`.
pub async fn client<H: Net + Runtime, D: Discovery + 'static>(
    h: H,
    d: D,
    cfg: ClientCfg,
    start: Instant,
    until: Instant,
) -> ClientLog {
    let state = Rc::new(RefCell::new(State {
        balancer: RoundRobin::new(),
        addrs: BTreeMap::new(),
        conns: BTreeMap::new(),
        log: ClientLog::default(),
    }));
    let (s2, h2) = (state.clone(), h.clone());
    let follower = h.spawn(async move {
        let view = RefCell::new(ServiceView::default());
        follow(&d, &h2, SERVICE, cfg.retry, &view, |v| {
            s2.borrow_mut().update(h2.now(), v)
        })
        .await
    });
    let mut rng = h.rng();
    h.sleep_until(start).await;
    let mut k = 0i64;
    while h.now() < until {
        let t0 = h.now();
        let picked = {
            let mut s = state.borrow_mut();
            let mut p = Pick {
                now: t0,
                key: 0,
                rng: &mut rng,
            };
            s.balancer
                .pick(&mut p)
                .map(|n| (n, s.addrs[&n], s.conns.get(&n).cloned()))
        };
        let mut call = Call {
            start: t0,
            node: picked.as_ref().map(|p| p.0),
            ok: false,
            wrong: false,
        };
        if let Some((node, addr, conn)) = picked {
            k += 1;
            let req = Pair { a: k, b: 1 };
            let attempt = async {
                let c = match conn {
                    Some(c) => c,
                    None => Rc::new(RpcClient::connect(&h, addr, CodecId::Binary).await.ok()?),
                };
                let r = c.call::<Add, _>(&h, &req, cfg.call_timeout).await;
                Some((c, r))
            };
            match timeout(&h, cfg.call_timeout, attempt).await {
                Ok(Some((c, Ok(sum)))) => {
                    call.ok = sum == k + 1;
                    call.wrong = !call.ok;
                    let mut s = state.borrow_mut();
                    if s.addrs.get(&node) == Some(&addr) {
                        s.conns.insert(node, c);
                    }
                }
                _ => {
                    state.borrow_mut().conns.remove(&node);
                }
            }
        }
        state.borrow_mut().log.calls.push(call);
        h.sleep_until(t0 + cfg.interval).await;
    }
    follower.abort();
    let log = std::mem::take(&mut state.borrow_mut().log);
    log
}
