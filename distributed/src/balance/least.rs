//! Load-aware balancers: least connections, power of two choices on in-flight requests, and
//! power of two choices on Peak-EWMA latency × load (Finagle's / linkerd's policy).

use super::{membership_via, Balancer, Members, NodeId, Pick};
use std::collections::BTreeMap;
use testbed_model::{Duration, Instant};

#[derive(Clone, Copy, Debug, Default)]
struct Load {
    in_flight: u64,
    ewma_ns: u64,
    updated: Instant,
}

#[derive(Clone, Debug, Default)]
struct Loads(BTreeMap<NodeId, Load>);

impl Loads {
    fn get(&self, n: NodeId) -> Load {
        self.0.get(&n).copied().unwrap_or_default()
    }
    fn start(&mut self, n: NodeId) {
        self.0.entry(n).or_default().in_flight += 1;
    }
    fn end(&mut self, n: NodeId) -> &mut Load {
        let l = self.0.entry(n).or_default();
        l.in_flight = l.in_flight.saturating_sub(1);
        l
    }
    fn retain(&mut self, m: &Members) {
        self.0.retain(|n, _| m.is_active(*n));
    }
}

/// The node with the fewest requests in flight; ties go round robin.
#[derive(Clone, Debug, Default)]
pub struct LeastConnections {
    members: Members,
    loads: Loads,
    rotate: usize,
}

impl LeastConnections {
    /// Empty.
    pub fn new() -> Self {
        Self::default()
    }
    fn changed(&mut self) {
        self.loads.retain(&self.members);
    }
    /// Requests in flight on `node`.
    pub fn in_flight(&self, node: NodeId) -> u64 {
        self.loads.get(node).in_flight
    }
}

impl Balancer for LeastConnections {
    membership_via!(members);
    fn pick(&mut self, _p: &mut Pick<'_>) -> Option<NodeId> {
        let a = self.members.active();
        if a.is_empty() {
            return None;
        }
        let start = self.rotate % a.len();
        self.rotate = self.rotate.wrapping_add(1);
        (0..a.len())
            .map(|k| a[(start + k) % a.len()].0)
            .min_by_key(|n| self.loads.get(*n).in_flight)
    }
    fn on_start(&mut self, node: NodeId, _now: Instant) {
        self.loads.start(node);
    }
    fn on_end(&mut self, node: NodeId, _now: Instant, _latency: Duration) {
        self.loads.end(node);
    }
}

/// Two distinct random candidates (`rng`); the one with lower cost wins, the first on ties.
fn two_choices(
    p: &mut Pick<'_>,
    a: &[(NodeId, u32)],
    cost: impl Fn(NodeId) -> u128,
) -> Option<NodeId> {
    match a.len() {
        0 => None,
        1 => Some(a[0].0),
        n => {
            let i = p.rng.below(n as u64) as usize;
            let mut j = p.rng.below(n as u64 - 1) as usize;
            if j >= i {
                j += 1;
            }
            let (x, y) = (a[i].0, a[j].0);
            Some(if cost(y) < cost(x) { y } else { x })
        }
    }
}

/// Power of two choices on requests in flight.
#[derive(Clone, Debug, Default)]
pub struct PowerOfTwo {
    members: Members,
    loads: Loads,
}

impl PowerOfTwo {
    /// Empty.
    pub fn new() -> Self {
        Self::default()
    }
    fn changed(&mut self) {
        self.loads.retain(&self.members);
    }
}

impl Balancer for PowerOfTwo {
    membership_via!(members);
    fn pick(&mut self, p: &mut Pick<'_>) -> Option<NodeId> {
        let loads = &self.loads;
        two_choices(p, self.members.active(), |n| loads.get(n).in_flight as u128)
    }
    fn on_start(&mut self, node: NodeId, _now: Instant) {
        self.loads.start(node);
    }
    fn on_end(&mut self, node: NodeId, _now: Instant, _latency: Duration) {
        self.loads.end(node);
    }
}

/// Power of two choices on Peak-EWMA cost: `(ewma latency) × (in flight + 1)`. A latency
/// above the average replaces it at once (the peak); below, it decays in with weight
/// `elapsed / (tau + elapsed)` (a rational stand-in for `1 − e^(−elapsed/tau)`, so results
/// are identical on every machine). Nodes with no sample yet cost `default_rtt`.
#[derive(Clone, Debug)]
pub struct PeakEwma {
    members: Members,
    loads: Loads,
    tau: Duration,
    default_rtt: Duration,
}

impl PeakEwma {
    /// With decay time `tau` (e.g. 10 s) and the latency assumed for fresh nodes.
    pub fn new(tau: Duration, default_rtt: Duration) -> Self {
        PeakEwma {
            members: Members::default(),
            loads: Loads::default(),
            tau,
            default_rtt,
        }
    }
    fn changed(&mut self) {
        self.loads.retain(&self.members);
    }
    /// The current latency estimate of `node`.
    pub fn ewma(&self, node: NodeId) -> Duration {
        Duration::from_nanos(self.loads.get(node).ewma_ns)
    }
}

impl Balancer for PeakEwma {
    membership_via!(members);
    fn pick(&mut self, p: &mut Pick<'_>) -> Option<NodeId> {
        let (loads, default) = (&self.loads, self.default_rtt.as_nanos());
        two_choices(p, self.members.active(), |n| {
            let l = loads.get(n);
            let ewma = if l.ewma_ns == 0 {
                default
            } else {
                l.ewma_ns as u128
            };
            ewma * (l.in_flight as u128 + 1)
        })
    }
    fn on_start(&mut self, node: NodeId, _now: Instant) {
        self.loads.start(node);
    }
    fn on_end(&mut self, node: NodeId, now: Instant, latency: Duration) {
        let tau = self.tau.as_nanos();
        let l = self.loads.end(node);
        let rtt = latency.as_nanos();
        if l.ewma_ns == 0 || rtt > l.ewma_ns as u128 {
            l.ewma_ns = rtt as u64;
        } else {
            let elapsed = (now - l.updated).as_nanos();
            let keep = l.ewma_ns as u128 * tau + rtt * elapsed;
            l.ewma_ns = (keep / (tau + elapsed).max(1)) as u64;
        }
        l.updated = now;
    }
}
