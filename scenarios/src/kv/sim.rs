//! `kv` on the simulator: the registry, two replicas, client hosts; the schedule's faults;
//! then the history checked and the invariants recorded.

use super::client::{self, ClientTally, SERVICE};
use super::replica::{Durable, Replica, ReplicaStats};
use super::{Cfg, REPLICAS};
use crate::faults::FaultSchedule;
use crate::outcome::{Invariant, Outcome};
use crate::scenario::RunCtx;
use std::cell::RefCell;
use std::cmp::max;
use std::net::SocketAddr;
use std::rc::Rc;
use testbed_distributed::discovery::{
    keep_registered, serve, AgentStats, ClientConfig, Instance, Registration, RegistryClient,
    RegistryConfig, RegistryServer, ServerConfig,
};
use testbed_distributed::history::models::{KvInput, KvModel, KvOutput};
use testbed_distributed::history::{
    check, counterexample_svg, CheckOptions, History, Recorder, Verdict,
};
use testbed_model::{Duration, Instant, Net, Runtime};
use testbed_sim::{Host, Latency, LinkConfig, Sim, SimConfig};

const REGISTRY_PORT: u16 = 2379;
const KV_PORT: u16 = 7000;
/// Model steps the checker may spend on one run's history.
const CHECK_STEPS: u64 = 50_000_000;
/// Operations one run may record.
const OPS_MAX: usize = 200_000;
/// Operations the counterexample's SVG draws.
const SVG_OPS: usize = 40;

fn registry_client(h: &Host) -> RegistryClient<Host> {
    let addr = SocketAddr::new(h.lookup("registry").expect("registry host"), REGISTRY_PORT);
    RegistryClient::new(h.clone(), addr, ClientConfig::default())
}

/// Runs the scenario once on the simulator with `schedule`, filling `out`.
pub(super) fn run(ctx: &RunCtx<'_>, cfg: &Cfg, schedule: &FaultSchedule, out: &mut Outcome) {
    let link = LinkConfig {
        latency: Latency::Fixed(cfg.latency),
        ..LinkConfig::default()
    };
    let mut sim = Sim::new(SimConfig {
        default_link: link.clone(),
        time_limit: Duration::from_secs(3600),
        ..ctx.sim_config()
    });
    sim.host("registry", |h| async move {
        let l = h
            .listen(([0, 0, 0, 0], REGISTRY_PORT).into())
            .expect("fresh host");
        let s = RegistryServer::new(
            h.now(),
            ServerConfig {
                registry: RegistryConfig {
                    tick: Duration::from_millis(100),
                    ..RegistryConfig::default()
                },
                ..ServerConfig::default()
            },
        );
        serve(h, l, s).await
    });
    let reg = Registration {
        ttl: Duration::from_secs(1),
        every: Duration::from_millis(250),
        retry: Duration::from_millis(100),
    };
    let mut stats = Vec::new();
    for (i, name) in REPLICAS.iter().enumerate() {
        let durable = Rc::new(RefCell::new(Durable::initial(i)));
        let st = Rc::new(RefCell::new(ReplicaStats::default()));
        stats.push((durable.clone(), st.clone()));
        let rcfg = cfg.replica;
        let peer_name = REPLICAS[1 - i];
        sim.host(name, move |h| {
            let (durable, st) = (durable.clone(), st.clone());
            async move {
                let me = SocketAddr::new(h.local_ip(), KV_PORT);
                let peer = SocketAddr::new(h.lookup(peer_name).expect("peer host"), KV_PORT);
                let l = h.listen(me).expect("fresh host");
                let r = Replica::new(h.clone(), rcfg, peer, durable, st);
                let server = Rc::new(r.server());
                let _serve = h.spawn(testbed_protocols::rpc::serve(h.clone(), l, server));
                let _hb = h.spawn(r.clone().heartbeat_loop());
                let _promote = h.spawn(r.clone().promotion_loop());
                let d = registry_client(&h);
                let agent = RefCell::new(AgentStats::default());
                keep_registered(&d, &h, &Instance::new(SERVICE, name, me), reg, &agent).await;
            }
        });
    }
    let rec: Recorder<KvInput, KvOutput> = Recorder::new(OPS_MAX);
    let start = Instant::ZERO + Duration::from_millis(100);
    let heal = Instant::ZERO + schedule.end();
    let until = max(heal, start) + cfg.liveness;
    let tallies: Rc<RefCell<Vec<ClientTally>>> = Rc::default();
    for c in 0..cfg.clients {
        let (rec, tallies, ccfg) = (rec.clone(), tallies.clone(), cfg.client.clone());
        sim.client(&format!("client-{c}"), move |h| async move {
            let d = registry_client(&h);
            let t = client::client(h, d, c as u32, ccfg, rec, start, until).await;
            tallies.borrow_mut().push(t);
            Ok(())
        });
    }
    schedule.apply(&sim, &link);
    out.schedule = Some(schedule.to_json());
    out.metric("fault_events", schedule.events.len() as u64);
    out.metric("heal_at_s", schedule.end().as_secs_f64());
    let result = sim.run();
    out.sim_run(&result, sim.trace_hash());

    let history = rec.history();
    let mut total = ClientTally::default();
    for t in tallies.borrow().iter() {
        total.ok += t.ok;
        total.failed += t.failed;
        total.indeterminate += t.indeterminate;
    }
    verdict(out, &history, total, heal + cfg.liveness / 2);
    let mut sum = ReplicaStats::default();
    for (_, s) in &stats {
        let s = *s.borrow();
        sum.promotions += s.promotions;
        sum.step_downs += s.step_downs;
        sum.syncs += s.syncs;
        sum.refused += s.refused;
    }
    out.metric(
        "final_epoch",
        stats
            .iter()
            .map(|(d, _)| d.borrow().epoch)
            .max()
            .unwrap_or(0),
    );
    out.metric("promotions", sum.promotions);
    out.metric("step_downs", sum.step_downs);
    out.metric("syncs", sum.syncs);
    out.metric("refused", sum.refused);
    out.metric("end_s", sim.now().since_epoch().as_secs_f64());
}

/// The linearizability and progress invariants, and the counterexample when there is one.
fn verdict(out: &mut Outcome, history: &History<KvInput, KvOutput>, t: ClientTally, late: Instant) {
    out.metric("ops", history.len() as u64);
    out.metric("ops_ok", t.ok);
    out.metric("ops_failed", t.failed);
    out.metric("ops_indeterminate", t.indeterminate);
    let opts = CheckOptions {
        max_steps: CHECK_STEPS,
        ..CheckOptions::default()
    };
    let (passed, detail) = match check(&KvModel, history, &opts) {
        Err(e) => (false, format!("history not checkable: {e}")),
        Ok(report) => {
            out.metric("check_steps", report.steps);
            match &report.verdict {
                Verdict::Linearizable => (
                    true,
                    format!(
                        "{} operations on {} keys are linearizable",
                        history.len(),
                        report.partitions
                    ),
                ),
                Verdict::NotLinearizable(cx) => {
                    out.metric("counterexample", cx.to_string());
                    out.metric(
                        "counterexample_svg",
                        counterexample_svg(&KvModel, history, cx, SVG_OPS),
                    );
                    (false, cx.to_string())
                }
                other => (
                    false,
                    format!("checker gave up ({other:?}) after {} steps", report.steps),
                ),
            }
        }
    };
    out.invariants
        .push(Invariant::check("linearizable", passed, detail));
    out.invariants.push(Invariant::check(
        "progress",
        t.ok > 0,
        format!("{} of {} operations answered", t.ok, history.len()),
    ));
    let late_ok = history
        .ops
        .iter()
        .filter(|o| o.output.is_some() && o.call >= late)
        .count();
    out.invariants.push(Invariant::check(
        "progress_after_faults",
        late_ok > 0,
        format!(
            "{late_ok} operations invoked at or after {:?} (faults over + half the liveness phase) answered",
            late.since_epoch()
        ),
    ));
}
