//! `rebalance` (网络编程进阶主题 §4.5 Q3): a cache tier behind consistent hashing while nodes are added
//! and removed.
//!
//! 1. **Keys moved** (computed over `keys` seeded keys): for n = 3..=10 nodes, the fraction
//!    of keys whose node changes when node n+1 joins, and when one leaves, for a hash ring
//!    (150 virtual nodes each), bounded-load consistent hashing (ε = 0.25), Maglev and the
//!    modulo hashing the seed starts from. Consistent schemes move ≈ 1/(n+1); modulo moves
//!    most keys (≈ n/(n+1)).
//! 2. **Hit rate dip** (simulated): a client per scheme reads keys through the client stack
//!    from cache hosts (a miss costs a database read and fills the cache); the instance set
//!    comes from a watch that adds a node, then removes one. Hit rate per 250 ms window shows
//!    the dip and the recovery; the liveness bound is 1.5 s after the last change (hit rate ≥ 0.9 again).

use crate::client_common::{claim, round4, Conns, Windows};
use crate::outcome::{Invariant, Outcome};
use crate::params::{Kind, ParamSpec, Params};
use crate::scenario::{Backend, RunCtx, RunError, Scenario};
use serde_json::{json, Value as Json};
use std::cell::RefCell;
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::rc::Rc;
use testbed_distributed::balance::{
    Balancer, BoundedLoadRing, HashRing, Maglev, Members, NodeId, Pick,
};
use testbed_distributed::client::{call, Change, Instance, Stack, StackConfig, WatchResolve};
use testbed_distributed::hash::hash_bytes;
use testbed_model::{Duration, Instant, Net, Rng, Runtime, SeededRng};
use testbed_protocols::rpc::{serve, Method, RpcServer};
use testbed_sim::{Latency, LinkConfig, Sim, SimConfig};

/// The scenario.
pub struct Rebalance;

const PORT: u16 = 7000;
const ADD_AT: Duration = Duration::from_millis(2000);
const REMOVE_AT: Duration = Duration::from_millis(3500);
const END: Duration = Duration::from_millis(6000);
/// Liveness: the hit rate is back this long after the last membership change.
const BOUND: Duration = Duration::from_millis(1500);

const PARAMS: &[ParamSpec] = &[
    ParamSpec {
        name: "nodes",
        default: "4",
        kind: Kind::Int { min: 2, max: 16 },
        help: "cache nodes before one is added (simulated part)",
    },
    ParamSpec {
        name: "keys",
        default: "10000",
        kind: Kind::Int {
            min: 100,
            max: 1_000_000,
        },
        help: "keys placed when counting moves",
    },
    ParamSpec {
        name: "hot_keys",
        default: "200",
        kind: Kind::Int {
            min: 10,
            max: 100_000,
        },
        help: "distinct keys the simulated clients read",
    },
    ParamSpec {
        name: "rate",
        default: "500",
        kind: Kind::Int {
            min: 10,
            max: 10_000,
        },
        help: "reads per second per scheme (simulated part)",
    },
];

/// Modulo hashing, the baseline: `hash % n` over the active nodes in id order.
#[derive(Default)]
struct Modulo {
    members: Members,
}

impl Balancer for Modulo {
    fn add(&mut self, node: NodeId, weight: u32) {
        self.members.add(node, weight);
    }
    fn remove(&mut self, node: NodeId) {
        self.members.remove(node);
    }
    fn eject(&mut self, node: NodeId) {
        self.members.set_ejected(node, true);
    }
    fn uneject(&mut self, node: NodeId) {
        self.members.set_ejected(node, false);
    }
    fn pick(&mut self, p: &mut Pick<'_>) -> Option<NodeId> {
        let a = self.members.active();
        (!a.is_empty()).then(|| a[(p.key % a.len() as u64) as usize].0)
    }
}

/// Maglev's table size: a prime > 100 × the most nodes here (11). Smaller than the default
/// 65 537 because every membership change rebuilds the table and this scenario makes ~200.
const MAGLEV_TABLE: u64 = 4099;

const SCHEMES: [&str; 4] = ["ring", "bounded", "maglev", "modulo"];

fn balancer(scheme: &str) -> Box<dyn Balancer> {
    match scheme {
        "ring" => Box::new(HashRing::new(150)),
        "bounded" => Box::new(BoundedLoadRing::new(150, 250)),
        "maglev" => Box::new(Maglev::new(MAGLEV_TABLE)),
        _ => Box::new(Modulo::default()),
    }
}

/// Where every key goes on `nodes`. Bounded-load placement counts each placed key as load,
/// so no node takes more than ⌈1.25 × average⌉ keys.
fn place(scheme: &str, nodes: &[NodeId], keys: &[u64]) -> Vec<NodeId> {
    let mut b = balancer(scheme);
    for n in nodes {
        b.add(*n, 1);
    }
    let mut rng = SeededRng::new(0);
    keys.iter()
        .map(|k| {
            let mut p = Pick {
                now: Instant::ZERO,
                key: *k,
                rng: &mut rng,
            };
            let n = b.pick(&mut p).expect("nodes");
            b.on_start(n, Instant::ZERO);
            n
        })
        .collect()
}

fn moved(a: &[NodeId], b: &[NodeId]) -> f64 {
    a.iter().zip(b).filter(|(x, y)| x != y).count() as f64 / a.len() as f64
}

/// Keys moved per scheme: `{scheme: {"add": [[n, fraction]...], "remove": [...]}}`, plus
/// whether the ring moved keys only onto the added node.
struct MoveTable {
    add: BTreeMap<&'static str, Vec<(u64, f64)>>,
    remove: BTreeMap<&'static str, Vec<(u64, f64)>>,
    ring_only_to_new: bool,
}

fn keys_moved(keys: &[u64]) -> MoveTable {
    let mut t = MoveTable {
        add: BTreeMap::new(),
        remove: BTreeMap::new(),
        ring_only_to_new: true,
    };
    for scheme in SCHEMES {
        for n in 3..=10u32 {
            let before: Vec<NodeId> = (0..n).collect();
            let after: Vec<NodeId> = (0..=n).collect();
            let (pa, pb) = (place(scheme, &before, keys), place(scheme, &after, keys));
            t.add
                .entry(scheme)
                .or_default()
                .push((n as u64, moved(&pa, &pb)));
            if scheme == "ring" {
                t.ring_only_to_new &= pa.iter().zip(&pb).all(|(x, y)| x == y || *y == n);
            }
            let without: Vec<NodeId> = (1..=n).collect(); // node 0 leaves n+1 nodes
            let pc = place(scheme, &without, keys);
            t.remove
                .entry(scheme)
                .or_default()
                .push((n as u64 + 1, moved(&pb, &pc)));
        }
    }
    t
}

/// Largest node share ÷ mean share on `n` nodes of a ring with `vnodes` points each.
fn imbalance(vnodes: u32, n: u32, keys: &[u64]) -> f64 {
    let mut r = HashRing::new(vnodes);
    for i in 0..n {
        r.add(i, 1);
    }
    let mut counts = vec![0u64; n as usize];
    for k in keys {
        counts[r.lookup(*k).expect("nodes") as usize] += 1;
    }
    *counts.iter().max().expect("n > 0") as f64 * n as f64 / keys.len() as f64
}

struct Get;
impl Method for Get {
    const ID: u32 = 40;
    const NAME: &'static str = "cache.get";
    type Req = String;
    type Resp = Option<String>;
}
struct Put;
impl Method for Put {
    const ID: u32 = 41;
    const NAME: &'static str = "cache.put";
    type Req = (String, String);
    type Resp = ();
}

fn cache_server() -> RpcServer {
    let store: Rc<RefCell<BTreeMap<String, String>>> = Rc::default();
    let s2 = store.clone();
    RpcServer::new()
        .register::<Get, _, _>(move |k: String| {
            let v = store.borrow().get(&k).cloned();
            async move { Ok(v) }
        })
        .register::<Put, _, _>(move |(k, v): (String, String)| {
            s2.borrow_mut().insert(k, v);
            async move { Ok(()) }
        })
}

type HitWindows = Rc<RefCell<BTreeMap<&'static str, Windows>>>;

/// Runs the cache tier; returns hit-rate windows per scheme.
fn simulate(ctx: &RunCtx<'_>, out: &mut Outcome) -> BTreeMap<&'static str, Windows> {
    let p: &Params = &ctx.params;
    let (n, hot, rate) = (p.int("nodes") as u32, p.int("hot_keys"), p.int("rate"));
    let seed = ctx.seed;
    let cfg = SimConfig {
        default_link: LinkConfig {
            latency: Latency::Fixed(Duration::from_micros(200)),
            ..LinkConfig::default()
        },
        time_limit: Duration::from_secs(600),
        ..ctx.sim_config()
    };
    let mut sim = Sim::new(cfg);
    let mut nodes = Vec::new();
    for i in 0..=n {
        let h = sim.host(&format!("cache-{i}"), |h| async move {
            let l = h
                .listen(SocketAddr::from(([0, 0, 0, 0], PORT)))
                .expect("fresh host");
            serve(h, l, Rc::new(cache_server())).await
        });
        nodes.push(Instance {
            id: i,
            addr: SocketAddr::new(h.ip(), PORT),
            weight: 1,
        });
    }
    let hits: HitWindows = Rc::default();
    for scheme in SCHEMES {
        let (hits, nodes) = (hits.clone(), nodes.clone());
        hits.borrow_mut()
            .insert(scheme, Windows::new(Duration::from_millis(250)));
        sim.client(&format!("client-{scheme}"), move |h| async move {
            let watch = Rc::new(RefCell::new(WatchResolve::new()));
            for (rev, i) in nodes.iter().take(n as usize).enumerate() {
                watch
                    .borrow_mut()
                    .apply(rev as u64 + 1, Change::Put(*i))
                    .expect("increasing revisions");
            }
            let cfg = StackConfig {
                attempt_timeout: Some(Duration::from_millis(100)),
                ..StackConfig::PASSTHROUGH
            };
            let stack = Rc::new(RefCell::new(Stack::new(
                cfg,
                watch.clone(),
                balancer(scheme),
                0,
            )));
            let (conns, mut rng) = (Conns::default(), h.rng());
            let gap_mean_ns = 1_000_000_000 / rate;
            let mut changes = vec![
                (ADD_AT, Change::Put(nodes[n as usize])),
                (REMOVE_AT, Change::Delete(nodes[0].id)),
            ];
            changes.reverse();
            let mut rev = 100;
            let mut tasks = Vec::new();
            while h.now().since_epoch() < END {
                if changes.last().is_some_and(|c| h.now().since_epoch() >= c.0) {
                    let (_, c) = changes.pop().expect("checked");
                    rev += 1;
                    watch.borrow_mut().apply(rev, c).expect("increasing");
                }
                h.sleep(Duration::from_nanos(
                    rng.range_inclusive(0, 2 * gap_mean_ns),
                ))
                .await;
                let key = format!("{scheme}:{seed}:{}", rng.below(hot));
                let (h2, conns, stack, hits) =
                    (h.clone(), conns.clone(), stack.clone(), hits.clone());
                tasks.push(h.spawn(async move {
                    let t0 = h2.now();
                    let send = |_, addr, dl| {
                        let (h, conns, key) = (h2.clone(), conns.clone(), key.clone());
                        async move {
                            let v = conns.call::<Get, _>(&h, addr, &key, dl).await?;
                            if v.is_none() {
                                h.sleep(Duration::from_millis(5)).await; // the database read
                                let put = (key.clone(), format!("value of {key}"));
                                conns.call::<Put, _>(&h, addr, &put, dl).await?;
                            }
                            Ok::<bool, testbed_protocols::rpc::CallError>(v.is_some())
                        }
                    };
                    let hit = call(&h2, &stack, hash_bytes(key.as_bytes()), send).await;
                    hits.borrow_mut()
                        .get_mut(scheme)
                        .expect("inserted")
                        .record(t0, hit == Ok(true));
                }));
            }
            for t in tasks {
                let _ = t.await;
            }
            Ok(())
        });
    }
    let run = sim.run();
    out.sim_run(&run, sim.trace_hash());
    let taken = std::mem::take(&mut *hits.borrow_mut());
    taken
}

fn at(d: Duration) -> Instant {
    Instant::ZERO + d
}

fn series(v: &[(u64, f64)]) -> Json {
    Json::Array(v.iter().map(|(n, f)| json!([n, round4(*f)])).collect())
}

impl Scenario for Rebalance {
    fn name(&self) -> &'static str {
        "rebalance"
    }
    fn summary(&self) -> &'static str {
        "cache tier behind ring, bounded-load and Maglev hashing vs modulo: keys moved per node added/removed and the hit-rate dip"
    }
    fn params(&self) -> &'static [ParamSpec] {
        PARAMS
    }
    fn backends(&self) -> &'static [Backend] {
        &[Backend::Sim]
    }
    fn run(&self, ctx: &RunCtx<'_>) -> Result<Outcome, RunError> {
        let mut out = Outcome::start(self.name(), ctx);
        let mut rng = SeededRng::new(testbed_model::rng::derive_seed(ctx.seed, "rebalance:keys"));
        let keys: Vec<u64> = (0..ctx.params.int("keys"))
            .map(|_| rng.next_u64())
            .collect();
        let t = keys_moved(&keys);
        let table = |m: &BTreeMap<&str, Vec<(u64, f64)>>| {
            Json::Object(m.iter().map(|(k, v)| (k.to_string(), series(v))).collect())
        };
        out.metric("keys_moved_add", table(&t.add));
        out.metric("keys_moved_remove", table(&t.remove));
        let mut bad = Vec::new();
        for (scheme, rows) in &t.add {
            for (n, f) in rows {
                let ideal = 1.0 / (*n as f64 + 1.0);
                let ok = match *scheme {
                    "ring" | "maglev" => (0.6 * ideal..=1.5 * ideal).contains(f),
                    "bounded" => *f < 0.5,
                    _ => *f >= 0.6,
                };
                if !ok {
                    bad.push(format!(
                        "{scheme} {n}→{}: moved {f:.3} (1/(n+1) = {ideal:.3})",
                        n + 1
                    ));
                }
            }
        }
        out.invariants.push(Invariant::no_errors(
            "keys_moved_as_expected",
            &bad,
            "ring and Maglev move 0.6–1.5 × 1/(n+1), bounded-load < 0.5, modulo ≥ 0.6 for n = 3..10",
        ));
        out.invariants.push(Invariant::check(
            "ring_moves_keys_only_onto_the_new_node",
            t.ring_only_to_new,
            "every key that moved went to the added node",
        ));

        let hits = simulate(ctx, &mut out);
        let mut dips = serde_json::Map::new();
        let mut recovered = Vec::new();
        let mut dip_of = BTreeMap::new();
        for (scheme, w) in &hits {
            let before = w.rate(at(ADD_AT - Duration::from_millis(500)), at(ADD_AT));
            let after_add = w.rate(at(ADD_AT), at(ADD_AT + Duration::from_millis(250)));
            let after_remove = w.rate(at(REMOVE_AT), at(REMOVE_AT + Duration::from_millis(250)));
            let last = w.rate(at(REMOVE_AT + BOUND), at(END));
            dip_of.insert(*scheme, before - after_add);
            dips.insert(
                scheme.to_string(),
                json!({
                    "hit_rate_before": round4(before),
                    "hit_rate_after_add": round4(after_add),
                    "hit_rate_after_remove": round4(after_remove),
                    "hit_rate_end": round4(last),
                    "series": w.series(),
                }),
            );
            if last < 0.9 {
                recovered.push(format!(
                    "{scheme}: hit rate {last:.3} from {BOUND:?} after the last change"
                ));
            }
        }
        out.metric("hit_rate", Json::Object(dips));
        out.invariants.push(Invariant::no_errors(
            "hit_rate_recovers_within_bound",
            &recovered,
            "every scheme's hit rate ≥ 0.9 from 1.5 s after the last change",
        ));
        let modulo_dip = dip_of["modulo"];
        out.invariants.push(Invariant::check(
            "consistent_hashing_dips_less_than_modulo",
            ["ring", "maglev"].iter().all(|s| dip_of[s] < modulo_dip),
            format!(
                "hit-rate dip on adding a node: ring {:.3}, maglev {:.3}, bounded {:.3}, modulo {:.3}",
                dip_of["ring"], dip_of["maglev"], dip_of["bounded"], modulo_dip
            ),
        ));
        let (one, many) = (imbalance(1, 3, &keys), imbalance(150, 3, &keys));
        let at3 = |s: &str| t.add[s].iter().find(|r| r.0 == 3).map_or(0.0, |r| r.1);
        out.metric(
            "claims",
            json!([
                claim(
                    "consistent-hashing.modulo-moves-most",
                    "4.5 Q3",
                    "with hash % n, adding a node (3 → 4) remaps most keys",
                    "most keys",
                    format!("{:.3}", at3("modulo")),
                    "fraction of keys moved, 3 → 4 nodes",
                    at3("modulo") > 0.5,
                    format!("{} keys; ideal n/(n+1) = 0.75", keys.len()),
                ),
                claim(
                    "consistent-hashing.ring-moves-few",
                    "4.5 Q3",
                    "with a hash ring, adding a node only moves keys of its neighbours",
                    "≈ 1/(n+1) (0.25 for 3 → 4)",
                    format!("{:.3}", at3("ring")),
                    "fraction of keys moved, 3 → 4 nodes",
                    t.ring_only_to_new && (0.15..=0.35).contains(&at3("ring")),
                    format!(
                        "150 virtual nodes per node; every moved key went to the new node: {}",
                        t.ring_only_to_new
                    ),
                ),
                claim(
                    "consistent-hashing.vnodes-balance",
                    "4.5 Q3",
                    "150–200 virtual nodes per node even out the load",
                    "balanced",
                    format!("{many:.3} (1 vnode: {one:.3})"),
                    "largest node's share ÷ mean share, 3 nodes",
                    many < 1.15 && many < one,
                    "max/mean of keys per node; 1.0 is perfect".into(),
                ),
            ]),
        );
        Ok(out)
    }
}
