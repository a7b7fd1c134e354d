//! 网络编程进阶主题 §4.3 / §4.5 Q3: how many keys move when nodes are added, per hashing scheme, computed
//! directly from `distributed::balance` and `distributed::hash`: start from 3 nodes (the seed's
//! example) and add one node at a time up to 10.

use super::claim::{Claim, Verdict};
use super::plot::Series;
use testbed_distributed::balance::{
    jump_hash, Balancer, BoundedLoadRing, HashRing, Maglev, NodeId, Pick,
};
use testbed_distributed::hash::hash_u64;
use testbed_model::{Instant, SeededRng};

/// Nodes before the first addition (the seed's 3 → 4 example).
pub const START_NODES: u32 = 3;
/// Nodes after the last addition.
pub const END_NODES: u32 = 10;
/// Virtual nodes per node on the ring (the seed: "150-200 per physical node").
pub const VNODES: u32 = 160;

/// A hashing scheme's owner of each key, for `n` nodes (ids `0..n`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scheme {
    /// `hash % n`.
    Modulo,
    /// Consistent hash ring with [`VNODES`] virtual nodes per node.
    Ring,
    /// The same ring with a single point per node.
    RingOneVnode,
    /// Bounded-load consistent hashing (ε = 0.25), keys placed in order.
    BoundedLoad,
    /// Maglev, table of 65,537.
    Maglev,
    /// Jump consistent hash.
    Jump,
}

impl Scheme {
    /// Every scheme, in plot order.
    pub const ALL: [Scheme; 6] = [
        Scheme::Modulo,
        Scheme::Ring,
        Scheme::RingOneVnode,
        Scheme::BoundedLoad,
        Scheme::Maglev,
        Scheme::Jump,
    ];

    /// Name as plotted.
    pub fn name(self) -> &'static str {
        match self {
            Scheme::Modulo => "modulo (hash % n)",
            Scheme::Ring => "ring, 160 vnodes",
            Scheme::RingOneVnode => "ring, 1 vnode",
            Scheme::BoundedLoad => "bounded-load ring (ε 0.25)",
            Scheme::Maglev => "Maglev (M 65537)",
            Scheme::Jump => "jump hash",
        }
    }

    /// The owner of every key in `keys` with nodes `0..n`.
    pub fn assign(self, keys: &[u64], n: u32) -> Vec<NodeId> {
        let mut rng = SeededRng::new(0);
        let mut via = |b: &mut dyn Balancer, record_load: bool| -> Vec<NodeId> {
            for node in 0..n {
                b.add(node, 1);
            }
            keys.iter()
                .map(|&key| {
                    let mut p = Pick {
                        now: Instant::from_nanos(0),
                        key,
                        rng: &mut rng,
                    };
                    let node = b.pick(&mut p).unwrap_or(NodeId::MAX);
                    if record_load {
                        b.on_start(node, Instant::from_nanos(0));
                    }
                    node
                })
                .collect()
        };
        match self {
            Scheme::Modulo => keys.iter().map(|&k| (k % u64::from(n)) as NodeId).collect(),
            Scheme::Jump => keys.iter().map(|&k| jump_hash(k, n)).collect(),
            Scheme::Ring => via(&mut HashRing::new(VNODES), false),
            Scheme::RingOneVnode => via(&mut HashRing::new(1), false),
            Scheme::BoundedLoad => via(&mut BoundedLoadRing::new(VNODES, 250), true),
            Scheme::Maglev => via(&mut Maglev::default(), false),
        }
    }
}

/// The keys: `hash_u64(i)` for `i` in `0..count`.
pub fn keys(count: u64) -> Vec<u64> {
    (0..count).map(hash_u64).collect()
}

/// One addition step: from `n - 1` to `n` nodes.
#[derive(Clone, Debug, PartialEq)]
pub struct Step {
    /// Nodes after the addition.
    pub nodes: u32,
    /// Fraction of keys whose owner changed.
    pub moved: f64,
    /// Fraction of keys that moved to a node other than the new one.
    pub moved_elsewhere: f64,
}

/// Adds nodes one at a time from [`START_NODES`] to [`END_NODES`].
pub fn steps(scheme: Scheme, keys: &[u64]) -> Vec<Step> {
    let mut prev = scheme.assign(keys, START_NODES);
    let mut out = Vec::new();
    for n in START_NODES + 1..=END_NODES {
        let cur = scheme.assign(keys, n);
        let new_node = n - 1;
        let (mut moved, mut elsewhere) = (0u64, 0u64);
        for (a, b) in prev.iter().zip(&cur) {
            if a != b {
                moved += 1;
                if *b != new_node {
                    elsewhere += 1;
                }
            }
        }
        let total = keys.len().max(1) as f64;
        out.push(Step {
            nodes: n,
            moved: moved as f64 / total,
            moved_elsewhere: elsewhere as f64 / total,
        });
        prev = cur;
    }
    out
}

/// Load of the busiest node over the mean.
pub fn max_over_mean(owners: &[NodeId], n: u32) -> f64 {
    let mut load = vec![0u64; n as usize];
    for &o in owners {
        if let Some(l) = load.get_mut(o as usize) {
            *l += 1;
        }
    }
    let mean = owners.len() as f64 / f64::from(n);
    load.iter().copied().max().unwrap_or(0) as f64 / mean.max(f64::MIN_POSITIVE)
}

/// The experiment's results.
pub struct Remap {
    /// Keys placed.
    pub keys: u64,
    /// Per scheme, its steps.
    pub steps: Vec<(Scheme, Vec<Step>)>,
    /// Busiest/mean with 3 nodes: one point per node, and [`VNODES`] per node.
    pub balance_3: (f64, f64),
}

/// Runs the experiment on `count` keys.
pub fn run(count: u64) -> Remap {
    let ks = keys(count);
    let steps = Scheme::ALL.iter().map(|&s| (s, steps(s, &ks))).collect();
    let one = max_over_mean(&Scheme::RingOneVnode.assign(&ks, START_NODES), START_NODES);
    let many = max_over_mean(&Scheme::Ring.assign(&ks, START_NODES), START_NODES);
    Remap {
        keys: count,
        steps,
        balance_3: (one, many),
    }
}

/// The plot's series: percent of keys moved per step, plus the minimum (1/n).
pub fn series(r: &Remap) -> Vec<Series> {
    let mut s: Vec<Series> = r
        .steps
        .iter()
        .map(|(scheme, steps)| Series {
            name: scheme.name().to_string(),
            points: steps
                .iter()
                .map(|st| (f64::from(st.nodes - START_NODES), st.moved * 100.0))
                .collect(),
        })
        .collect();
    s.push(Series {
        name: "fair share of the new node (1/n)".into(),
        points: (START_NODES + 1..=END_NODES)
            .map(|n| (f64::from(n - START_NODES), 100.0 / f64::from(n)))
            .collect(),
    });
    s
}

fn first(r: &Remap, s: Scheme) -> Option<&Step> {
    r.steps
        .iter()
        .find(|(x, _)| *x == s)
        .and_then(|(_, st)| st.first())
}

/// The seed's hashing claims, measured on `r`.
pub fn claims(r: &Remap) -> Vec<Claim> {
    let src = format!(
        "ran here: distributed::balance on {} keys (hash_u64 of 0..{}), nodes added one at a time from {START_NODES} to {END_NODES}",
        r.keys, r.keys
    );
    let pct = |x: f64| format!("{:.1}%", x * 100.0);
    let mk = |id: &str,
              claim: &str,
              seed_value: &str,
              measured: String,
              unit: &str,
              verdict,
              detail: String| Claim {
        id: id.into(),
        section: "4.3".into(),
        claim: claim.into(),
        seed_value: seed_value.into(),
        measured,
        unit: unit.into(),
        backend: "in-process".into(),
        verdict,
        detail,
        source: src.clone(),
    };
    let ideal = 1.0 / f64::from(START_NODES + 1);
    let mut out = Vec::new();
    if let (Some(m), Some(ring), Some(mg)) = (
        first(r, Scheme::Modulo),
        first(r, Scheme::Ring),
        first(r, Scheme::Maglev),
    ) {
        out.push(mk(
            "hash.modulo-remap",
            "hash % n: adding a node (3 → 4) remaps most keys",
            "most keys move",
            pct(m.moved),
            "keys whose node changed, 3 → 4 nodes",
            Verdict::from_bool(m.moved > 0.5),
            format!("the new node's fair share is {}", pct(ideal)),
        ));
        out.push(mk(
            "hash.ring-remap",
            "Consistent hashing: adding a node moves only the keys the new node takes over",
            "only the new node's share (1/4 for 3 → 4)",
            pct(ring.moved),
            "keys whose node changed, 3 → 4 nodes, 160 vnodes",
            Verdict::from_bool(ring.moved_elsewhere == 0.0 && ring.moved < 2.0 * ideal),
            format!(
                "{} moved to a node other than the new one; fair share {}; Maglev moves {} ({} elsewhere)",
                pct(ring.moved_elsewhere),
                pct(ideal),
                pct(mg.moved),
                pct(mg.moved_elsewhere)
            ),
        ));
    }
    let (one, many) = r.balance_3;
    out.push(mk(
        "hash.vnodes-balance",
        "With few nodes and one point each the ring is uneven; 150-200 virtual nodes per node even it out",
        "uneven without, even with 150-200 vnodes",
        format!("{one:.2} vs {many:.2}"),
        "busiest node's load / mean, 3 nodes: 1 point vs 160 vnodes each",
        Verdict::from_bool(one > many && many <= 1.1),
        "a perfectly even split is 1.00; 'even' is taken as within 10%".into(),
    ));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ring_moves_keys_only_to_the_new_node_and_modulo_moves_most() {
        let r = run(4000);
        let ring = first(&r, Scheme::Ring).expect("ring step");
        assert_eq!(ring.moved_elsewhere, 0.0);
        assert!(ring.moved > 0.1 && ring.moved < 0.4, "{ring:?}");
        let jump = first(&r, Scheme::Jump).expect("jump step");
        assert_eq!(jump.moved_elsewhere, 0.0);
        assert!(first(&r, Scheme::Modulo).expect("modulo").moved > 0.5);
        assert_eq!(r.steps[0].1.len(), (END_NODES - START_NODES) as usize);
    }

    #[test]
    fn balance_ratio() {
        assert_eq!(max_over_mean(&[0, 0, 1, 1], 2), 1.0);
        assert_eq!(max_over_mean(&[0, 0, 0, 1], 2), 1.5);
    }
}
