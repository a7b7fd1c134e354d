//! `ddos-xdp` (网络编程进阶主题 §2.3, §5.2): the XDP filter as the DDoS fast path. Legitimate clients
//! send paced UDP requests while a flood arrives from spoofed sources: a blocklisted /24, one
//! source far over the per-source rate, and one SYN flood. The filter must pass every
//! legitimate datagram, drop every blocklisted one, and hold the other two to their limits.
//!
//! `--backend xdp`: the real eBPF filter in driver mode on a veth whose inner end (with the
//! server's socket) sits in a namespace this run creates; legitimate clients are real UDP
//! sockets on extra addresses of the outer end; the flood comes from the live-frames
//! generator. `--backend sim`: the filter's model (`distributed::xdp::XdpFilter`) at the
//! server's ingress in packet fidelity, clients as hosts, the flood as raw frames. Both must
//! put every flow in the same class: passed, limited or dropped.

use crate::outcome::{Invariant, Outcome};
use crate::params::{Kind, ParamSpec};
use crate::scenario::{Backend, RunCtx, RunError, Scenario};
use serde_json::json;
use std::net::Ipv4Addr;
use testbed_distributed::xdp::FilterLimits;

/// The scenario.
pub struct DdosXdp;

const PARAMS: &[ParamSpec] = &[
    ParamSpec {
        name: "clients",
        default: "4",
        kind: Kind::Int { min: 1, max: 50 },
        help: "legitimate clients (one source address each)",
    },
    ParamSpec {
        name: "requests",
        default: "200",
        kind: Kind::Int {
            min: 10,
            max: 10_000,
        },
        help: "datagrams per legitimate client, 10 every 20 ms (500/s)",
    },
    ParamSpec {
        name: "flood",
        default: "20000",
        kind: Kind::Int {
            min: 1000,
            max: 10_000_000,
        },
        help: "packets per flood source",
    },
];

/// The server's UDP port; the flood aims elsewhere (9001) and at TCP 80.
pub(crate) const PORT: u16 = 9000;
/// Per-source limits: 1,000 packets/s (burst 100), 50 SYNs/s (burst 10).
pub(crate) fn limits() -> FilterLimits {
    FilterLimits::per_second(1000, 100, 50, 10)
}
/// The blocklisted network.
pub(crate) const BLOCKED: (Ipv4Addr, u8) = (Ipv4Addr::new(10, 82, 66, 0), 24);

/// What a flow is, and the class the filter must put it in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kind2 {
    /// Paced UDP requests from a client: every one must pass.
    Legit,
    /// A blocklisted source: none may pass.
    Blocked,
    /// One source far over its rate: held to burst + rate × duration.
    Flood,
    /// SYNs from one source: held to the SYN limit.
    SynFlood,
}

/// A flow of the run: a source, what it sent, what the filter passed.
#[derive(Clone, Debug)]
pub(crate) struct Flow {
    pub name: String,
    pub src: Ipv4Addr,
    pub kind: Kind2,
    pub sent: u64,
    pub passed: u64,
    /// Legit only: datagrams the server's socket received.
    pub received: Option<u64>,
}

/// The flood's spoofed sources.
pub(crate) fn flood_sources() -> Vec<(String, Ipv4Addr, Kind2)> {
    let mut v: Vec<(String, Ipv4Addr, Kind2)> = (1..=4u8)
        .map(|i| {
            (
                format!("blocked-{i}"),
                Ipv4Addr::new(10, 82, 66, i * 50),
                Kind2::Blocked,
            )
        })
        .collect();
    v.push(("flood".into(), Ipv4Addr::new(10, 82, 7, 7), Kind2::Flood));
    v.push((
        "syn-flood".into(),
        Ipv4Addr::new(10, 82, 8, 8),
        Kind2::SynFlood,
    ));
    v
}

/// The class a flow landed in.
fn class(f: &Flow) -> &'static str {
    match f.passed {
        0 => "dropped",
        p if p == f.sent => "passed",
        _ => "limited",
    }
}

fn expected(k: Kind2) -> &'static str {
    match k {
        Kind2::Legit => "passed",
        Kind2::Blocked => "dropped",
        Kind2::Flood | Kind2::SynFlood => "limited",
    }
}

/// Checks every flow's class (and that legit datagrams arrived) and records the flows.
pub(crate) fn judge(out: &mut Outcome, flows: &[Flow], duration_s: f64) {
    let l = limits();
    let mut wrong = Vec::new();
    for f in flows {
        if class(f) != expected(f.kind) {
            wrong.push(format!(
                "{} ({}): {} of {} passed: {}, expected {}",
                f.name,
                f.src,
                f.passed,
                f.sent,
                class(f),
                expected(f.kind)
            ));
        }
        // Limited flows may not pass more than their bucket allows over the run.
        let bound = |cost: u64, cap: u64| cap / cost + (duration_s * 1e9 / cost as f64) as u64 + 1;
        let allowed = match f.kind {
            Kind2::Flood => Some(bound(l.cost_ns, l.cap_ns)),
            Kind2::SynFlood => Some(bound(l.syn_cost_ns, l.syn_cap_ns)),
            _ => None,
        };
        if let Some(a) = allowed.filter(|a| f.passed > *a) {
            wrong.push(format!(
                "{}: {} passed, more than its limit allows ({a})",
                f.name, f.passed
            ));
        }
        if let Some(r) = f.received.filter(|r| *r != f.sent) {
            wrong.push(format!("{}: the server received {r} of {}", f.name, f.sent));
        }
    }
    out.invariants.push(Invariant::no_errors(
        "every_flow_in_its_class",
        &wrong,
        "legitimate flows passed and arrived, blocklisted dropped, floods held to their limits",
    ));
    let legit: u64 = flows
        .iter()
        .filter(|f| f.kind == Kind2::Legit)
        .map(|f| f.sent)
        .sum();
    let flood: u64 = flows
        .iter()
        .filter(|f| f.kind != Kind2::Legit)
        .map(|f| f.sent)
        .sum();
    let flood_passed: u64 = flows
        .iter()
        .filter(|f| f.kind != Kind2::Legit)
        .map(|f| f.passed)
        .sum();
    out.metric("legit_sent", legit);
    out.metric("flood_sent", flood);
    out.metric("flood_passed", flood_passed);
    out.metric(
        "flows",
        json!(flows
            .iter()
            .map(|f| json!({"flow": f.name, "src": f.src.to_string(), "sent": f.sent, "passed": f.passed, "received": f.received, "class": class(f)}))
            .collect::<Vec<_>>()),
    );
}

impl Scenario for DdosXdp {
    fn name(&self) -> &'static str {
        "ddos-xdp"
    }
    fn summary(&self) -> &'static str {
        "the XDP filter as DDoS fast path: legit clients pass, blocklisted and flooding sources are dropped or limited (sim: the model; xdp: real eBPF on a veth)"
    }
    fn params(&self) -> &'static [ParamSpec] {
        PARAMS
    }
    fn backends(&self) -> &'static [Backend] {
        &[Backend::Sim, Backend::Xdp]
    }
    fn run(&self, ctx: &RunCtx<'_>) -> Result<Outcome, RunError> {
        let mut out = Outcome::start(self.name(), ctx);
        let p = &ctx.params;
        let (clients, requests, flood) = (p.int("clients"), p.int("requests"), p.int("flood"));
        match ctx.backend {
            Backend::Sim => crate::ddos_xdp_sim::run(ctx, &mut out, clients, requests, flood),
            _ => crate::ddos_xdp_real::run(&mut out, clients, requests, flood)?,
        }
        Ok(out)
    }
}
